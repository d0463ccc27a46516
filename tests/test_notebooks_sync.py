"""The student notebooks in notebooks/ are exactly what ``python -m autograder release`` makes of the
instructor sources, and the sources are saved clean with valid nbgrader metadata."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest

from autograder import COURSE_ROOT
from autograder.cli import main
from autograder.course import is_test_cell, list_assignments, source_notebook

NOTEBOOKS_DIR = COURSE_ROOT.parent / "notebooks"
ASSIGNMENTS = list_assignments(COURSE_ROOT)
# With no source notebook the parametrized tests must fail, not vanish as "empty parameter set".
PARAMS = ASSIGNMENTS or ["<no instructor notebook under autograder/source>"]


def source(assignment: str) -> Path:
    if assignment not in ASSIGNMENTS:
        pytest.fail(f"no instructor notebook: expected autograder/source/<a>/<a>.ipynb, found {ASSIGNMENTS}")
    return source_notebook(COURSE_ROOT, assignment)


def test_there_are_source_notebooks() -> None:
    assert ASSIGNMENTS, f"no instructor notebooks under {COURSE_ROOT / 'source'}"


def test_notebooks_folder_has_exactly_the_released_assignments() -> None:
    students = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))
    assert students == ASSIGNMENTS, "notebooks/ must hold one generated notebook per source: `make release`"


def test_notebooks_are_in_sync_with_sources(tmp_path: Path) -> None:
    assert ASSIGNMENTS, "no instructor notebooks to release"
    assert main(["release", "--out-dir", str(tmp_path)]) == 0  # what `make release` runs
    stale = [a for a in ASSIGNMENTS
             if not (NOTEBOOKS_DIR / f"{a}.ipynb").is_file()
             or (tmp_path / f"{a}.ipynb").read_bytes() != (NOTEBOOKS_DIR / f"{a}.ipynb").read_bytes()]
    assert not stale, f"notebooks/ is out of date for {stale}: run `python -m autograder release`"


@pytest.mark.parametrize("assignment", PARAMS)
def test_source_is_saved_without_outputs(assignment: str) -> None:
    nb = json.loads(source(assignment).read_text(encoding="utf-8"))
    code = [(i, cell) for i, cell in enumerate(nb["cells"]) if cell["cell_type"] == "code"]
    dirty = [i for i, cell in code if cell.get("outputs") or cell.get("execution_count") is not None]
    assert not dirty, f"{assignment}: cells {dirty} were saved with outputs or execution counts; clear them"


@pytest.mark.parametrize("assignment", PARAMS)
def test_source_metadata_is_valid_for_nbgrader(assignment: str) -> None:
    from nbgrader.nbgraderformat import MetadataValidator

    MetadataValidator().validate_nb(nbformat.read(source(assignment), as_version=4))


@pytest.mark.parametrize("assignment", PARAMS)
def test_student_notebook_hides_solutions_and_hidden_tests(assignment: str) -> None:
    source(assignment)
    text = (NOTEBOOKS_DIR / f"{assignment}.ipynb").read_text(encoding="utf-8")
    for marker in ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"):
        assert marker not in text, f"notebooks/{assignment}.ipynb contains {marker!r}"


@pytest.mark.parametrize("assignment", PARAMS)
def test_every_test_cell_says_what_it_checks(assignment: str) -> None:
    nb = json.loads(source(assignment).read_text(encoding="utf-8"))
    tests = [cell for cell in nb["cells"] if is_test_cell(cell)]
    assert tests, f"{assignment} has no graded test cells"
    for cell in tests:
        first = "".join(cell["source"]).splitlines()[0] if cell["source"] else ""
        grade_id = cell["metadata"]["nbgrader"]["grade_id"]
        # A comment of a few words, not an nbgrader marker such as "### BEGIN HIDDEN TESTS".
        assert re.match(r"^#\s*\w+(\W+\w+){2,}", first) and "BEGIN" not in first, (
            f"{assignment}/{grade_id}: the first line must be a comment saying what it checks, got {first!r}"
        )
