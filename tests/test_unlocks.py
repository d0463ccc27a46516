"""A blank notebook's experiments say which exercise they wait for (autograder/unlocks.py), in a real IPython
shell run cell by cell with cell ids, as JupyterLab runs it; tests/test_browser.py checks every notebook in
a real JupyterLab."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pytest
from IPython.core.interactiveshell import InteractiveShell

from autograder.unlocks import exercises_needed, install

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _cell(cell_id: str, source: str, role: str = "other") -> dict:
    meta = {"answer": {"solution": True, "grade": False, "grade_id": cell_id},
            "test": {"solution": False, "grade": True, "grade_id": cell_id, "points": 1}}.get(role)
    return {"cell_type": "code", "id": cell_id, "source": source, "outputs": [], "execution_count": None,
            "metadata": {"nbgrader": meta} if meta else {}}


CELLS = [
    _cell("setup", "import math"),
    _cell("double", "def double(x):\n    raise NotImplementedError()", "answer"),
    _cell("test_double", "assert double(2) == 4", "test"),
    _cell("halve", "def halve(x):\n    raise NotImplementedError()", "answer"),
    _cell("run", "results = {}\nresults['two'] = double(1)"),
    _cell("plot", "print(results['two'] + math.pi)"),
    _cell("both", "print(halve(results['two']))"),
    _cell("typo", "print(resluts)"),
    _cell("bug", "print(double(1) + 'a')"),
]


@pytest.fixture
def notebook(tmp_path: Path) -> Path:
    path = tmp_path / "mine.ipynb"
    path.write_text(json.dumps({"cells": CELLS, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    return path


def _run(shell: InteractiveShell, capsys: pytest.CaptureFixture[str], cell_id: str, source: str = "") -> str:
    source = source or next(c["source"] for c in CELLS if c["id"] == cell_id)
    shell.run_cell(source, cell_id=cell_id)
    return capsys.readouterr().out.strip()


def test_experiments_name_the_exercise_they_wait_for_and_only_they(
        notebook: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shell = InteractiveShell.instance()
    shell.user_ns.clear()
    shell.user_ns["__session__"] = str(notebook)  # what ipykernel sets from JupyterLab's session
    assert install(shell) is install(shell), "installed once per shell"
    for cell_id in ("setup", "double", "halve"):
        assert _run(shell, capsys, cell_id) == ""
    test = _run(shell, capsys, "test_double")
    assert "Traceback" in test and "NotImplementedError" in test, "a test cell keeps its full traceback"
    assert _run(shell, capsys, "run") == ("This cell needs Exercise 1 (`double`), not done yet: solve it "
                                          "above, run its test, then run this cell again.")
    assert _run(shell, capsys, "plot").startswith("This cell needs Exercise 1 (`double`), not done"), \
        "a cell that reads the results of a failed experiment names the same exercise"
    assert _run(shell, capsys, "both").startswith(
        "This cell needs Exercise 1 (`double`) and Exercise 2 (`halve`), not done yet: solve them above")
    typo = _run(shell, capsys, "typo")
    assert "Traceback" in typo and "resluts" in typo, "a name no exercise would bind is a real bug"
    # Exercise 1 answered: its experiments run; what still fails is a real bug and shows in full.
    _run(shell, capsys, "double", "def double(x):\n    return 2 * x")
    assert _run(shell, capsys, "run") == ""
    assert _run(shell, capsys, "plot") == str(2 + __import__("math").pi)
    assert _run(shell, capsys, "both").startswith("This cell needs Exercise 2 (`halve`), not done yet")
    bug = _run(shell, capsys, "bug")
    assert "Traceback" in bug and "TypeError" in bug
    syntax = _run(shell, capsys, "both", "print(halve(1)")  # IPython's own syntax error, before anything runs
    assert "SyntaxError" in syntax and "This cell needs" not in syntax
    # No cell id (a console, nbclient in check and grading): the full traceback, as before.
    shell.run_cell("print(halve(1))")
    assert "Traceback" in capsys.readouterr().out


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_every_experiment_that_calls_an_exercise_waits_for_it(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    needed = exercises_needed(nb)
    answers = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
               if c.metadata.get("nbgrader", {}).get("solution") and not c.metadata["nbgrader"].get("grade")}
    calls = {cell.id: {e for e in answers if f"{e}(" in cell.source} for cell in nb.cells
             if cell.id in needed}
    missed = {cell: sorted(calls[cell] - set(needed[cell])) for cell in calls
              if calls[cell] - set(needed[cell])}
    assert not missed, f"{path.stem}: cells call exercises the analysis does not see: {missed}"
    assert sum(bool(v) for v in needed.values()) >= 5, f"{path.stem}: too few experiments depend on exercises"


def test_a_failed_visible_check_shows_the_test_line_not_the_helpers_frames(
        notebook: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shell = InteractiveShell.instance()
    shell.user_ns.clear()
    shell.user_ns["__session__"] = str(notebook)
    install(shell)
    failing = "from mtml_utils import checks\nchecks.check_equal('double(2)', 5, 4)"
    out = re.sub(r"\x1b\[[0-9;]*m", "", _run(shell, capsys, "test_double", failing))
    assert "CheckFailed" in out and "double(2)" in out and "checks.check_equal('double(2)', 5, 4)" in out, out
    assert "checks.py" not in out, f"the helper's own frames are shown:\n{out}"
    other = re.sub(r"\x1b\[[0-9;]*m", "", _run(shell, capsys, "test_double",
                                                "def inner():\n    raise AssertionError('mine')\ninner()"))
    assert "inner()" in other and "raise AssertionError('mine')" in other, "other frames stay"
