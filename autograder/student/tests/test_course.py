"""Your copy of the course works: every notebook's exercises are blank, its visible tests are found and
compile, the Check my work button builds, and ``python -m autograder check`` reports a blank notebook.

``make test`` runs this file (a minute at most on a laptop); ``make test PYTEST_ARGS='-m "not slow"'``
skips the run of a notebook.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_course_has_its_notebooks() -> None:
    assert len(NOTEBOOKS) >= 6, f"expected the six notebooks in {ROOT / 'notebooks'}, found {NOTEBOOKS}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_exercises_are_blank_and_visible_tests_compile(path: Path) -> None:
    from IPython.core.inputtransformer2 import TransformerManager

    from autograder.course import load_notebook
    from autograder.selfcheck import visible_tests

    nb = load_notebook(path)
    answers = [c for c in nb.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    assert answers, f"{path.name} has no exercise cells"
    for cell in answers:
        assert "raise NotImplementedError()" in cell.source, f"an exercise of {path.name} is not blank"
    tests = visible_tests(path)
    assert tests and all(t.points > 0 for t in tests)
    for test in tests:
        compile(TransformerManager().transform_cell(test.source), test.grade_id, "exec")
    last_code = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert "check_my_work()" in last_code.source, f"{path.name} ends without the Check my work button"


def test_check_my_work_button_builds() -> None:
    import mtml_utils as mtml

    box = mtml.check_my_work(NOTEBOOKS[0])
    assert box.children[0].description == "Check my work"


@pytest.mark.slow
def test_check_reports_every_visible_test_of_a_blank_notebook(tmp_path: Path) -> None:
    from autograder.selfcheck import visible_tests

    path = ROOT / "notebooks" / "01_task_definition.ipynb"
    env = {**os.environ, "MTML_DATA_DIR": str(tmp_path / "data"), "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "autograder", "check", str(path)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 1, done.stdout + done.stderr  # blank exercises fail their tests
    for test in visible_tests(path):
        assert f"FAIL  {test.grade_id}  0/" in done.stdout, done.stdout
    assert "Visible tests: 0/" in done.stdout
