"""The student's copy in work/ (mtml_utils/workcopy.py): made once, never clobbered by a course update,
updated on request with the answers carried over and the old copy backed up.

The last test does it as a class does: a course repository, a student's clone, a real ``git pull`` of a
changed release, then ``make update``'s command.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mtml_utils.workcopy import pending_updates, prepare, update

ROOT = Path(__file__).resolve().parents[1]
RELEASED = ROOT / "notebooks" / "01_task_definition.ipynb"
NAME = RELEASED.stem


def _nb(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def _write(path: Path, nb: dict) -> None:
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _answer(nb: dict, grade_id: str) -> dict:
    return next(c for c in nb["cells"] if c["metadata"].get("nbgrader", {}).get("grade_id") == grade_id)


def _answer_it(path: Path, grade_id: str, code: str) -> None:
    nb = _nb(path)
    _answer(nb, grade_id)["source"] = code
    _write(path, nb)


def _change_release(path: Path) -> None:
    """A course fix: a reworded explanation, a new starting code for one exercise, one exercise removed."""
    nb = _nb(path)
    first_text = next(c for c in nb["cells"] if c["cell_type"] == "markdown")
    first_text["source"] = "# 01 · What is a task? (fixed)\n"
    _answer(nb, "split_per_class")["source"] = "def split_per_class(y, n_train, seed=0):\n    ...\n"
    nb["cells"].remove(_answer(nb, "inverse_loss_weights"))
    _write(path, nb)


@pytest.fixture
def course(tmp_path: Path) -> tuple[Path, Path]:
    released, work = tmp_path / "notebooks", tmp_path / "work"
    released.mkdir()
    shutil.copy(RELEASED, released / RELEASED.name)
    return released, work


def test_first_run_copies_and_later_runs_never_overwrite(course: tuple[Path, Path]) -> None:
    released, work = course
    said: list[str] = []
    assert prepare(released, work, echo=said.append) == [NAME]
    assert (work / RELEASED.name).read_bytes() == RELEASED.read_bytes() and "Your own copies" in said[0]
    _answer_it(work / RELEASED.name, "one_hot_descriptors", "def one_hot_descriptors(i, n): return 'mine'")
    mine = (work / RELEASED.name).read_bytes()
    assert prepare(released, work, echo=said.append) == [] and len(said) == 1, "nothing to say, nothing done"
    assert (work / RELEASED.name).read_bytes() == mine and pending_updates(released, work) == []


def test_a_changed_release_is_told_once_and_updated_with_the_answers(course: tuple[Path, Path]) -> None:
    released, work = course
    prepare(released, work, echo=lambda line: None)
    mine = work / RELEASED.name
    _answer_it(mine, "one_hot_descriptors", "def one_hot_descriptors(i, n):\n    return 'mine'\n")
    _answer_it(mine, "split_per_class", "def split_per_class(y, n_train, seed=0):\n    return 'split'\n")
    _answer_it(mine, "inverse_loss_weights", "def inverse_loss_weights(l):\n    return 'weights'\n")
    scratch = _nb(mine)
    scratch["cells"].append({"cell_type": "code", "id": "my-scratch", "metadata": {}, "outputs": [],
                             "execution_count": None, "source": "print('my notes')"})
    _write(mine, scratch)
    before = mine.read_bytes()
    _change_release(released / RELEASED.name)

    said: list[str] = []
    prepare(released, work, echo=said.append)
    prepare(released, work, echo=said.append)
    assert len(said) == 1 and f"make update NB={NAME}" in said[0], "told once, with the command"
    assert mine.read_bytes() == before, "telling changes nothing"

    report = update(NAME, released, work)
    new = _nb(mine)
    assert new["cells"][0]["source"] == "# 01 · What is a task? (fixed)\n", "the update's text is in"
    assert "'mine'" in "".join(_answer(new, "one_hot_descriptors")["source"])
    assert "'split'" in "".join(_answer(new, "split_per_class")["source"])
    untouched = _answer(_nb(released / RELEASED.name), "sample_task_batch")["source"]
    assert _answer(new, "sample_task_batch")["source"] == untouched, "not started: takes the new code"
    assert report.not_carried == ["cell-051"] and report.own_cells == 1
    assert report.restarted == ["cell-018"], "the starting code changed under an answer: said so"
    assert report.backup.read_bytes() == before, "the old copy, scratch cell and removed answer, is kept"
    assert "backup" in report.summary() and pending_updates(released, work) == []


@pytest.mark.slow
def test_git_pull_of_a_changed_release_never_conflicts_and_update_keeps_answers(tmp_path: Path) -> None:
    git = shutil.which("git")
    if git is None:
        pytest.skip("git is not installed")

    def run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
        env = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.org", "GIT_COMMITTER_NAME": "t",
               "GIT_COMMITTER_EMAIL": "t@example.org", "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
        return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, check=False)

    upstream = tmp_path / "course"
    (upstream / "notebooks").mkdir(parents=True)
    shutil.copy(RELEASED, upstream / "notebooks" / RELEASED.name)
    shutil.copy(ROOT / ".gitignore", upstream / ".gitignore")
    for step in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "release"]):
        assert run(git, *step, cwd=upstream).returncode == 0
    student = tmp_path / "student"
    assert run(git, "clone", "-q", str(upstream), str(student), cwd=tmp_path).returncode == 0

    # What `make lab` does before starting the server, with the student's clone as the course.
    env = {**os.environ, "MTML_WORK_DIR": str(student / "work"),
           "MTML_NOTEBOOKS_DIR": str(student / "notebooks")}
    command = [sys.executable, "-c", "from mtml_utils import workcopy; workcopy.prepare()"]
    made = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert "Your own copies" in made.stdout
    _answer_it(student / "work" / RELEASED.name, "one_hot_descriptors", "def one_hot_descriptors(i, n): 1")
    assert run(git, "status", "--porcelain", cwd=student).stdout == "", "work/ is ignored by git"

    _change_release(upstream / "notebooks" / RELEASED.name)
    assert run(git, "commit", "-q", "-am", "fix 01", cwd=upstream).returncode == 0
    pulled = run(git, "pull", "-q", "--ff-only", cwd=student)
    assert pulled.returncode == 0, pulled.stderr

    told = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    assert f"make update NB={NAME}" in told.stdout
    updated = subprocess.run([sys.executable, "-m", "mtml_utils.workcopy", "update"], env=env,
                             capture_output=True, text=True, check=False)
    assert updated.returncode == 0, updated.stdout + updated.stderr
    assert "carried over: cell-014" in updated.stdout
    new = _nb(student / "work" / RELEASED.name)
    assert "".join(_answer(new, "one_hot_descriptors")["source"]) == "def one_hot_descriptors(i, n): 1"
    assert new["cells"][0]["source"] == "# 01 · What is a task? (fixed)\n"
    assert len(list((student / "work" / "backups").glob(f"{NAME}-*.ipynb"))) == 1

