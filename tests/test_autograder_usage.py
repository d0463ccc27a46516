"""Bad inputs to ``python -m autograder``: one clear message, exit code 2, nothing written.

These run in-process and start no kernel, so they are fast.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from autograder import COURSE_ROOT
from autograder.cli import main
from autograder.course import graded_cells, list_assignments, load_notebook

LAYOUT = "<student_id>/<assignment>/<assignment>.ipynb"


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    """Run the command line in-process; returns the exit code and stdout + stderr."""
    try:
        code = main(list(argv))
    except SystemExit as exit_:  # argparse's own usage errors
        code = int(exit_.code or 0)
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_help_explains_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    code, text = run_cli(capsys, "--help")
    assert code == 0
    for command in ("release", "check", "grade"):
        assert command in text
    code, text = run_cli(capsys, "grade", "--help")
    assert code == 0
    assert "--cell-timeout" in text and "--student-timeout" in text and "--jobs" in text


def test_check_and_the_shipped_course_interrupt_cells_after_the_same_time() -> None:
    from traitlets.config.loader import PyFileConfigLoader

    from autograder.check import DEFAULT_CELL_TIMEOUT

    config = PyFileConfigLoader("nbgrader_config.py", path=str(COURSE_ROOT)).load_config()
    assert config.Execute.timeout == DEFAULT_CELL_TIMEOUT, "keep check's default equal to grading's"


def test_check_missing_path(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    missing = tmp_path / "nope.ipynb"
    code, text = run_cli(capsys, "check", str(missing))
    assert code == 2
    assert str(missing) in text and "expected" in text


@pytest.mark.parametrize(
    "content, complaint",
    [("this is not json", "not valid JSON"), ('{"cells": "x"}', "no cell list"), ("[1, 2]", "no cell list")],
)
def test_check_not_a_notebook(capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str,
                              complaint: str) -> None:
    path = tmp_path / "bad.ipynb"
    path.write_text(content)
    code, text = run_cli(capsys, "check", str(path))
    assert code == 2
    assert str(path) in text and complaint in text
    assert path.read_text() == content


def test_check_notebook_without_tests(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "plain.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")]), path)
    code, text = run_cli(capsys, "check", str(path))
    assert code == 2
    assert "no test cells" in text


@pytest.mark.parametrize("make", ["missing", "empty", "file", "flat_notebooks", "no_notebook_folder"])
def test_grade_bad_layout(capsys: pytest.CaptureFixture[str], tmp_path: Path, make: str) -> None:
    root = tmp_path / "submitted"
    if make == "empty":
        root.mkdir()
    elif make == "file":
        root.write_text("x")
    elif make == "flat_notebooks":  # notebooks directly in the folder, no student/assignment folders
        root.mkdir()
        (root / "alice.ipynb").write_text("{}")
    elif make == "no_notebook_folder":  # student folders, but no assignment folder inside
        (root / "alice").mkdir(parents=True)
        (root / "alice" / "work.ipynb").write_text("{}")
    out = tmp_path / "grades.csv"
    code, text = run_cli(capsys, "grade", str(root), "--out", str(out))
    assert code == 2
    assert LAYOUT in text and str(root) in text
    assert str(root / "alice") in text  # the example path
    assert not out.exists()
    if make == "flat_notebooks":
        assert "alice.ipynb" in text  # says what it found


def test_grade_unknown_assignment(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "sub" / "alice" / "99_nope").mkdir(parents=True)
    code, text = run_cli(capsys, "grade", str(tmp_path / "sub"), "--assignment", "99_nope")
    assert code == 2
    assert "Unknown assignment '99_nope'" in text
    for known in list_assignments(COURSE_ROOT):
        assert known in text


def test_grade_submissions_for_an_assignment_the_course_lacks(capsys: pytest.CaptureFixture[str],
                                                              tmp_path: Path) -> None:
    folder = tmp_path / "sub" / "alice" / "99_nope"
    folder.mkdir(parents=True)
    (folder / "99_nope.ipynb").write_text(json.dumps(new_notebook()))
    code, text = run_cli(capsys, "grade", str(tmp_path / "sub"))
    assert code == 2
    assert "99_nope" in text and "--assignment" in text


def test_grade_out_in_missing_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assignments = list_assignments(COURSE_ROOT)
    assert assignments, "no instructor notebooks under autograder/source"
    folder = tmp_path / "sub" / "alice" / assignments[0]
    folder.mkdir(parents=True)
    (folder / f"{assignments[0]}.ipynb").write_text(json.dumps(new_notebook()))
    out = tmp_path / "no" / "such" / "grades.csv"
    code, text = run_cli(capsys, "grade", str(tmp_path / "sub"), "--out", str(out))
    assert code == 2
    assert str(out) in text


@pytest.mark.parametrize("option", ["--jobs", "--cell-timeout", "--student-timeout"])
def test_grade_rejects_non_positive_numbers(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                            option: str) -> None:
    code, text = run_cli(capsys, "grade", str(tmp_path), option, "0")
    assert code == 2
    assert option in text


def test_release_unknown_assignment(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, text = run_cli(capsys, "release", "99_nope", "--out-dir", str(tmp_path))
    assert code == 2
    assert "Unknown assignment '99_nope'" in text
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["parent_is_a_file", "unwritable_folder", "fifo"])
def test_grade_out_not_writable_is_refused_before_grading(capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                          where: str) -> None:
    assignments = list_assignments(COURSE_ROOT)
    assert assignments, "no instructor notebooks under autograder/source"
    folder = tmp_path / "sub" / "alice" / assignments[0]
    folder.mkdir(parents=True)
    (folder / f"{assignments[0]}.ipynb").write_text(json.dumps(new_notebook()))
    if where == "parent_is_a_file":
        (tmp_path / "results").write_text("x")
        out = tmp_path / "results" / "grades.csv"
    elif where == "unwritable_folder":  # nobody, root included, can create a file in /proc
        if not Path("/proc").is_dir():
            pytest.skip("no /proc on this system")
        out = Path("/proc") / "grades.csv"
    else:  # an existing named pipe: the grades would replace it, or block a reader
        out = tmp_path / "grades.csv"
        os.mkfifo(out)
    started = time.monotonic()
    code, text = run_cli(capsys, "grade", str(tmp_path / "sub"), "--out", str(out))
    assert code == 2, text
    assert f"Cannot write the grades to '{out}'" in text and "nothing was graded" in text
    assert "Preparing the gradebook" not in text  # refused before any grading work
    assert time.monotonic() - started < 10
    assert where != "fifo" or out.is_fifo()


def test_the_only_notebook_of_a_folder_is_graded_under_the_assignments_name(tmp_path: Path) -> None:
    from autograder.submissions import find_submissions, submission_files

    name = "01_task_definition"
    for student, notebooks in {"al": [f"{name} (1).ipynb"], "bo": ["a.ipynb", "b.ipynb"], "cy": [],
                               "di": [f"{name}.ipynb", "copy.ipynb"]}.items():
        folder = tmp_path / student / name
        folder.mkdir(parents=True)
        (folder / "notes.txt").write_text("mine")
        for notebook in notebooks:
            (folder / notebook).write_text(f"{student} {notebook}")
    found = {s.student_id: s for s in find_submissions(tmp_path, COURSE_ROOT, name)}
    assert {k: s.renamed_from for k, s in found.items()} == {
        "al": f"{name} (1).ipynb", "bo": None, "cy": None, "di": None}
    assert submission_files(found["al"]) == {f"{name}.ipynb": f"al {name} (1).ipynb".encode(),
                                             "notes.txt": b"mine"}
    assert f"{name}.ipynb" not in submission_files(found["bo"])  # which of two? none: it scores 0
    assert submission_files(found["di"])[f"{name}.ipynb"] == f"di {name}.ipynb".encode()


def test_check_refuses_another_assignments_notebook_under_this_name(capsys: pytest.CaptureFixture[str],
                                                                    tmp_path: Path) -> None:
    wrong = tmp_path / "01_task_definition.ipynb"
    shutil.copy(COURSE_ROOT.parent / "notebooks" / "02_mtl_conditioning.ipynb", wrong)
    code, text = run_cli(capsys, "check", str(wrong))
    assert code == 2, text
    assert "it holds the tests of 02_mtl_conditioning" in text and "not 01_task_definition's" in text, text
    assert "Graded as 01_task_definition it would score 0" in text and "PASS" not in text


def test_a_notebook_holding_another_assignments_tests_is_named_so() -> None:
    from autograder.course import not_this_assignment

    nb = load_notebook(COURSE_ROOT.parent / "notebooks" / "02_mtl_conditioning.ipynb")
    released = COURSE_ROOT.parent / "notebooks"
    tests_of = {name: {c.grade_id for c in graded_cells(load_notebook(released / f"{name}.ipynb"))
                       if c.is_test} for name in ("01_task_definition", "02_mtl_conditioning")}
    assert "the tests of 02_mtl_conditioning" in not_this_assignment(nb.cells, "01_task_definition", tests_of)
    assert not_this_assignment(nb.cells, "02_mtl_conditioning", tests_of) is None
    only_01 = {"01_task_definition": tests_of["01_task_definition"]}
    assert "is one of 01_task_definition's" in not_this_assignment(nb.cells, "01_task_definition", only_01)
    no_tests = [c for c in nb.cells if not c.get("metadata", {}).get("nbgrader", {}).get("grade")]
    assert not_this_assignment(no_tests, "01_task_definition", tests_of) is None  # nbgrader restores them


def test_grading_processes_do_not_build_the_iri_parsers_and_still_validate_notebooks() -> None:
    """Every grading process imports nbformat; ``autograder`` keeps jsonschema from importing
    ``rfc3987_syntax`` (0.8 s of parser building per process, for two formats no Jupyter schema uses), and
    notebooks are validated as before."""
    code = (
        "import sys, autograder, nbformat, nbgrader.apps, jsonschema\n"
        "from nbformat.v4 import new_notebook\n"
        "print(sys.modules.get('rfc3987_syntax', 'absent'))\n"
        "nbformat.validate(new_notebook())\n"
        "bad = new_notebook(); bad.cells = [{'cell_type': 'code'}]\n"
        "try:\n    nbformat.validate(bad)\nexcept nbformat.ValidationError:\n    print('invalid refused')\n"
        "checker = jsonschema.FormatChecker()\n"
        "print(checker.conforms('2026-12-03', 'date'), checker.conforms('not a date', 'date'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=COURSE_ROOT.parent, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split("\n")[:3] == ["None", "invalid refused", "True False"], out.stdout


def test_new_gradebooks_are_stamped_with_alembics_head_without_running_alembic(tmp_path: Path) -> None:
    """nbgrader stamps a new gradebook with ``alembic heads`` run in a new process (1.6 CPU-seconds per grade
    run); the course reads the head from nbgrader's migration scripts instead. In a fresh interpreter whose
    PATH has no ``alembic`` (nbgrader's own way then fails), a gradebook is created and carries alembic's
    own answer."""
    alembic = shutil.which("alembic", path=str(Path(sys.executable).parent))
    assert alembic, "alembic is installed with nbgrader"
    code = ("from pathlib import Path\n"
            "from autograder.course import nbgrader_api\n"
            f"nbgrader_api(Path({str(COURSE_ROOT)!r}))\n"
            "import os\n"
            "os.environ['PATH'] = '/usr/bin:/bin'  # nbgrader_api put the venv's bin first\n"
            "from nbgrader.api import Gradebook\n"
            "from sqlalchemy import text\n"
            f"with Gradebook('sqlite:///{tmp_path}/gradebook.db') as gb:\n"
            "    print(gb.db.execute(text('SELECT version_num FROM alembic_version')).scalar())\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    from nbgrader.dbutil import _temp_alembic_ini

    with _temp_alembic_ini(f"sqlite:///{tmp_path}/other.db") as ini:
        heads = subprocess.run([alembic, "-c", ini, "heads"], capture_output=True, text=True,
                               check=True).stdout
    assert heads.split()[0] == done.stdout.strip(), (heads, done.stdout)
