"""The student distribution (``python -m autograder dist OUT``, ``make student-dist OUT=...``): what a class
clones holds no solution and no hidden test, refuses to clobber what it should not, and works on its own.

The leak check here is written independently of :mod:`autograder.dist` (which runs its own before writing):
it reads every solution body (``### BEGIN SOLUTION`` ... ``### END SOLUTION``, and the whole text of a
free-response answer) of ``autograder/source/*/*.ipynb`` and every line of every ``grading.py``, and looks
for each significant line in every file of the distribution. A line is significant unless it is shorter than
20 characters, a comment or an import, one of :data:`GENERIC`, or also in a released notebook of this
checkout's ``notebooks/`` (students are given those lines anyway).
"""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lab_browser import free_port  # tests/lab_browser.py
from test_lab import TOKEN, _get, _jupyter_env, _stop_group  # tests/test_lab.py: make lab's own test

from autograder import COURSE_ROOT
from autograder.cli import main

ROOT = COURSE_ROOT.parent
SOURCES = COURSE_ROOT / "source"
BLOCK = re.compile(r"### BEGIN (?:SOLUTION|HIDDEN TESTS)\n(.*?)### END (?:SOLUTION|HIDDEN TESTS)", re.S)
#: A hidden test's PyTorch idiom that mtml_utils uses as well; it reveals nothing.
GENERIC = {"with torch.random.fork_rng(devices=[]):"}
TOP_LEVEL = {".gitignore", ".student-dist", "Makefile", "README.md", "autograder", "constraints.txt", "data",
             "environment.yml", "mtml_utils", "notebooks", "pyproject.toml", "tests"}


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _significant(line: str) -> bool:
    text = line.strip()
    return len(text) >= 20 and not text.startswith(("#", "import ", "from ")) and text not in GENERIC


def secret_lines() -> dict[str, str]:
    """``{stripped line: where it comes from}`` for every significant solution and hidden-test line."""
    given = {line.strip() for path in (ROOT / "notebooks").glob("*.ipynb")
             for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]
             for line in _source(cell).splitlines()}
    secrets: dict[str, str] = {}
    for path in sorted(SOURCES.glob("*/*.ipynb")):
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if not meta.get("solution"):
                continue
            bodies = BLOCK.findall(_source(cell)) if cell["cell_type"] == "code" else [_source(cell)]
            for line in "\n".join(bodies).splitlines():
                secrets.setdefault(line.strip(), f"{path.name} solution {meta.get('grade_id')}")
    for path in sorted(SOURCES.glob("*/grading.py")):
        for line in path.read_text(encoding="utf-8").splitlines():
            secrets.setdefault(line.strip(), f"{path.parent.name}/grading.py")
    return {line: origin for line, origin in secrets.items() if _significant(line) and line not in given}


def leaks(folder: Path, secrets: dict[str, str]) -> list[str]:
    """Every line of every file under ``folder`` (a notebook: also its cells' lines) that is a secret."""
    found = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and ".git" not in p.parts):
        text = path.read_bytes().decode("utf-8", errors="replace")
        lines = text.splitlines()
        if path.suffix == ".ipynb":
            for cell in json.loads(text)["cells"]:
                lines += _source(cell).splitlines()
                for output in cell.get("outputs", []):
                    lines += "".join(output.get("text", "")).splitlines()
        found += [f"{path.relative_to(folder)}: {line.strip()} (from {secrets[line.strip()]})"
                  for line in lines if line.strip() in secrets]
    return found


def write_dist(capsys: pytest.CaptureFixture[str], out: Path, *extra: str) -> tuple[int, str]:
    code = main(["dist", str(out), *extra])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The distribution of this checkout, written once by the command line."""
    out = tmp_path_factory.mktemp("student") / "mtml-course-student"
    assert main(["dist", str(out)]) == 0
    return out


def test_secret_lines_cover_every_notebook_and_grading_module() -> None:
    origins = set(secret_lines().values())
    for notebook in sorted(SOURCES.glob("*/*.ipynb")):
        assert any(o.startswith(notebook.name) for o in origins), f"no solution read from {notebook.name}"
        assert f"{notebook.parent.name}/grading.py" in origins


def test_no_solution_or_hidden_test_line_ships(dist: Path) -> None:
    found = leaks(dist, secret_lines())
    assert not found, "solution or hidden-test lines in the student distribution:\n" + "\n".join(found[:20])


def test_a_planted_solution_line_is_found(dist: Path, tmp_path: Path) -> None:
    secrets = secret_lines()
    solution = next(line for line, origin in secrets.items() if "solution inner_adapt" in origin)
    hidden = next(line for line, origin in secrets.items() if origin.endswith("grading.py"))
    copy = tmp_path / "copy"
    shutil.copytree(dist, copy)
    with (copy / "mtml_utils" / "maml.py").open("a") as f:
        f.write(f"\n\ndef _planted(model, params, x, y, inner_lr, n_steps, create_graph):\n    {solution}\n")
    notebook = copy / "notebooks" / "01_task_definition.ipynb"
    nb = json.loads(notebook.read_text(encoding="utf-8"))
    nb["cells"][-1]["source"] = [f"    {hidden}\n"]
    notebook.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    found = leaks(copy, secrets)
    assert any(f.startswith(f"mtml_utils/maml.py: {solution}") for f in found), found
    assert any(f.startswith(f"notebooks/01_task_definition.ipynb: {hidden}") for f in found), found


def test_the_distribution_holds_what_students_need_and_nothing_else(dist: Path) -> None:
    assert {p.name for p in dist.iterdir()} == TOP_LEVEL
    files = {p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file()}
    assert not [f for f in files if f.startswith("autograder/source") or f.endswith("grading.py")]
    assert not [f for f in files if "__pycache__" in f or f.startswith((".venv", "benchmarks", "test-"))]
    assert [f for f in files if f.startswith("data/")] == ["data/README.md"]
    tracked = subprocess.run(["git", "ls-files", "autograder"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    modules = sorted(f for f in tracked if f.count("/") == 1 and f.endswith(".py"))
    assert sorted(f for f in files if f.startswith("autograder/")) == modules
    released = sorted(p.name for p in (ROOT / "notebooks").glob("*.ipynb"))
    assert sorted(f.split("/")[1] for f in files if f.startswith("notebooks/")) == released
    assert (dist / "README.md").read_bytes() == (COURSE_ROOT / "student" / "README.md").read_bytes()
    assert sorted(f for f in files if f.startswith("tests/")) == ["tests/run_all.py", "tests/test_course.py"]
    assert "from commit" in (dist / ".student-dist").read_text()


def test_refusals_change_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    inside = ROOT / "student-dist-test-output"
    code, text = write_dist(capsys, inside)
    assert code == 2 and "inside (or above) the instructor checkout" in text and not inside.exists()
    code, text = write_dist(capsys, ROOT.parent, "--force")
    assert code == 2 and "inside (or above)" in text

    unrelated = tmp_path / "unrelated"
    unrelated.mkdir()
    (unrelated / "thesis.tex").write_text("mine")
    code, text = write_dist(capsys, unrelated)
    assert code == 2 and "not empty" in text and "--force" in text
    code, text = write_dist(capsys, unrelated, "--force")
    assert code == 2 and ".student-dist" in text
    assert [p.name for p in unrelated.iterdir()] == ["thesis.tex"]

    code, text = write_dist(capsys, unrelated / "thesis.tex")
    assert code == 2 and "is a file" in text

    students_course = tmp_path / "copy" / "autograder"  # a students' copy: no source/
    students_course.mkdir(parents=True)
    code, text = write_dist(capsys, tmp_path / "out", "--course", str(students_course))
    assert code == 2 and "No instructor sources" in text and not (tmp_path / "out").exists()


def test_force_replaces_a_previous_distribution_and_keeps_its_git_history(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "student-repo"
    assert write_dist(capsys, out)[0] == 0
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    (out / "notebooks" / "00_removed_from_the_course.ipynb").write_text("{}")
    code, text = write_dist(capsys, out, "--force")
    assert code == 0, text
    assert (out / ".git" / "HEAD").read_text() == "ref: refs/heads/main\n"
    assert not (out / "notebooks" / "00_removed_from_the_course.ipynb").exists()
    assert (out / "notebooks" / "01_task_definition.ipynb").is_file()


def test_dist_refuses_to_write_when_a_solution_line_would_ship(capsys: pytest.CaptureFixture[str],
                                                               tmp_path: Path) -> None:
    """A course whose helper package carries a solution line: ``dist`` exits 1 and writes nothing."""
    repo = tmp_path / "course"
    paths = ["Makefile", "pyproject.toml", "mtml_utils", "notebooks", "autograder/*.py", "autograder/source"]
    tracked = subprocess.run(["git", "ls-files", *paths], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    for name in [*tracked, "autograder/student/README.md", "autograder/student/tests/test_course.py"]:
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, repo / name)
    solution = next(line for line, origin in secret_lines().items() if "maml_meta_gradient" in origin)
    with (repo / "mtml_utils" / "maml.py").open("a") as f:
        f.write(f"\n\ndef _planted(model, support, query, inner_lr, n_steps):\n    {solution}\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    subprocess.run(["git", "add", "."], cwd=repo, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "course"], cwd=repo, check=True)
    out = tmp_path / "out"
    code = main(["dist", str(out), "--course", str(repo / "autograder")])
    err = capsys.readouterr().err
    assert code == 1 and "nothing was written" in err and f"mtml_utils/maml.py: {solution}" in err
    assert not out.exists()


def _fake_make_project(root: Path) -> Path:
    """The build files and a venv whose python records its arguments (as tests/test_makefile.py does)."""
    for name in ("Makefile", "pyproject.toml", "constraints.txt"):
        shutil.copy2(ROOT / name, root / name)
    python = root / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text('#!/bin/sh\nprintf "%s\\n" "$*" >> "$(dirname "$0")/../calls.log"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    return root / "venv" / "calls.log"


def _make(cwd: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"OUT", "FORCE", "NB", "MAKEFLAGS", "MAKELEVEL"}}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=cwd, env={**base, **(env or {})},
                          capture_output=True, text=True, timeout=600)


@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_student_dist_needs_out_and_passes_force(tmp_path: Path) -> None:
    calls = _fake_make_project(tmp_path)
    result = _make(tmp_path, "student-dist", "VENV=venv")
    assert result.returncode == 2 and "usage: make student-dist OUT=" in result.stdout
    assert "autograder dist" not in calls.read_text()
    assert _make(tmp_path, "student-dist", "VENV=venv", "OUT=../student", "FORCE=1").returncode == 0
    assert calls.read_text().splitlines()[-1] == "-m autograder dist ../student --force"
    assert _make(tmp_path, "student-dist", "VENV=venv", env={"OUT": "../s"}).returncode == 0
    assert calls.read_text().splitlines()[-1] == "-m autograder dist ../s"


def _fresh_clone(dist: Path, tmp_path: Path) -> Path:
    """Commit the distribution to a new student repository and clone it, as a student would."""
    repo, clone = tmp_path / "student-repo", tmp_path / "student"
    shutil.copytree(dist, repo)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "Course release"]):
        subprocess.run([*git, *args], cwd=repo, check=True)
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True)
    files = sorted(p.relative_to(dist).as_posix() for p in dist.rglob("*") if p.is_file())
    cloned = sorted(p.relative_to(clone).as_posix() for p in clone.rglob("*") if p.is_file() and ".git" not in
                    p.relative_to(clone).parts)
    assert cloned == files, "the student repository's .gitignore drops files of the distribution"
    return clone


def _student_venv(dist: Path, tmp_path: Path) -> Path:
    """A venv for the distribution's Makefile that is already "installed": its python is this interpreter
    (it refuses to run pip, so a make that wanted to reinstall fails instead of touching this venv)."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\ncase "$1 $2" in "-m pip") echo "refusing to install" >&2; exit 3;; esac\n'
                      f'exec "{sys.executable}" "$@"\n')
    python.chmod(python.stat().st_mode | stat.S_IXUSR)
    (venv / ".torch-choice").write_text("torch==2.13.0 \n")
    now = time.time()
    for path, age in ((dist / "pyproject.toml", 60), (dist / "constraints.txt", 60),
                      (venv / ".torch-choice", 60), (venv / ".installed", 30)):
        path.touch()
        os.utime(path, (now - age, now - age))
    return venv


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")
def test_make_check_and_the_student_tests_run_in_a_fresh_copy(dist: Path, tmp_path: Path) -> None:
    """``make check`` on a blank released notebook, then ``make test`` (the student suite), in a clone of the
    student repository (its own modules first on the path; the sandbox launcher comes from the installed
    package, as it would after the student's own ``make setup``)."""
    copy = _fresh_clone(dist, tmp_path)
    venv = _student_venv(copy, tmp_path)
    env = {"PYTHONPATH": str(copy), "MTML_DATA_DIR": str(tmp_path / "data")}
    result = _make(copy, "check", "NB=notebooks/01_task_definition.ipynb", f"VENV={venv}", env=env)
    output = result.stdout + result.stderr
    assert result.returncode == 2 and "check] Error 1" in output, output  # make's code for a failed recipe
    assert "refusing to install" not in output
    assert "FAIL  test_one_hot_descriptors  0/" in output and "Visible tests: 0/" in output, output
    result = _make(copy, "test", f"VENV={venv}", env=env)  # as the student README says, whole
    assert result.returncode == 0, result.stdout + result.stderr
    assert " passed" in result.stdout and "failed" not in result.stdout
    assert "no laptop-profile notebook run was selected" in result.stdout  # the copy has none: no failure


@pytest.mark.slow
@pytest.mark.skipif(os.name != "posix" or shutil.which("make") is None, reason="uses process groups and make")
def test_make_lab_serves_the_copys_notebooks(dist: Path, tmp_path: Path) -> None:
    copy = _fresh_clone(dist, tmp_path)
    venv = _student_venv(copy, tmp_path)
    port = free_port()
    # The copy's own work/ folder, as for a student (make lab's own test moves it with MTML_WORK_DIR).
    env = {k: v for k, v in _jupyter_env(tmp_path).items() if k != "MTML_WORK_DIR"}
    env["PYTHONPATH"] = str(copy)
    log_path = tmp_path / "lab.log"
    # A terminal as stdin, as a student has (and as make lab's own test gives it): the server then handles
    # Ctrl-C itself. Without one it would keep the SIGINT disposition it inherits, which is "ignored" when
    # the suite runs as a background job of a non-interactive shell: Ctrl-C then did nothing and stopping
    # fell through to SIGTERM 30 s later.
    terminal, terminal_side = pty.openpty()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(["make", "lab", f"VENV={venv}", f"PORT={port}"], cwd=copy, env=env,
                                stdin=terminal_side, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)  # its own process group, stopped as a whole
    os.close(terminal_side)
    try:
        deadline, status, body = time.monotonic() + 90, None, b""
        while time.monotonic() < deadline and status != 200:
            assert proc.poll() is None, f"make lab exited with {proc.returncode}:\n{log_path.read_text()}"
            time.sleep(0.5)
            try:
                status, body = _get(f"http://127.0.0.1:{port}/api/contents/?token={TOKEN}")
            except OSError:
                status = None  # not listening yet
        assert status == 200, f"make lab did not answer within 90 s:\n{log_path.read_text()}"
        listed = sorted(item["name"] for item in json.loads(body)["content"] if item["type"] == "notebook")
        released = sorted(p.name for p in (copy / "notebooks").glob("*.ipynb"))
        assert listed == released, "make lab serves the student's own copy of every released notebook"
        assert f"Starting JupyterLab on {copy / 'work'}" in log_path.read_text()
        assert all((copy / "work" / n).read_bytes() == (copy / "notebooks" / n).read_bytes()
                   for n in released)
        untracked = subprocess.run(["git", "status", "--porcelain"], cwd=copy, capture_output=True, text=True)
        assert untracked.stdout == "", f"the student's work/ shows up in git: {untracked.stdout}"
        assert _get(f"http://127.0.0.1:{port}/lab?token={TOKEN}")[0] == 200
    finally:
        stopped_by = _stop_group(proc)
        os.close(terminal)
    assert stopped_by == signal.SIGINT, f"Ctrl-C did not stop make lab:\n{log_path.read_text()}"
