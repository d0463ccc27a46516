"""The Gradescope bundle: ``python -m autograder gradescope`` writes Gradescope's layout, and its
``run_autograder``, run against a folder laid out as Gradescope lays out ``/autograder``, grades the uploaded
notebook with this grader and writes ``results/results.json`` in Gradescope's schema."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest
from classic_mistakes import MISTAKES

from autograder import COURSE_ROOT
from autograder.cli import main
from autograder.course import graded_cells, isolated_environment, source_notebook
from autograder.hints import exercise_labels

ASSIGNMENT = "01_task_definition"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_the_bundle_has_gradescopes_layout_and_only_this_assignments_hidden_tests(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "autograder.zip"
    assert main(["gradescope", ASSIGNMENT, "--out", str(out)]) == 0, capsys.readouterr().err
    assert "keep it to instructors" in capsys.readouterr().out
    with zipfile.ZipFile(out) as zf:
        names = set(zf.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in zf.infolist()}
    assert {"setup.sh", "run_autograder", "pyproject.toml", "constraints.txt"} <= names
    assert all(modes[s] & stat.S_IXUSR for s in ("setup.sh", "run_autograder")), "Gradescope runs them"
    assert f"autograder/source/{ASSIGNMENT}/grading.py" in names and "autograder/nbgrader_config.py" in names
    assert "mtml_utils/__init__.py" in names and "autograder/grade.py" in names
    assert not [n for n in names if n.startswith("autograder/source/") and f"/{ASSIGNMENT}/" not in n], \
        "another assignment's solutions or hidden tests"
    assert not [n for n in names if n.startswith(("notebooks/", "tests/", ".venv", "data/"))]
    assert main(["gradescope", "99_nope", "--out", str(out)]) == 2
    assert main(["gradescope", ASSIGNMENT, "--out", str(tmp_path / "autograder.tar")]) == 2


@pytest.mark.slow
def test_run_autograder_grades_the_upload_and_writes_gradescopes_results(tmp_path: Path) -> None:
    bundle = tmp_path / "autograder.zip"
    assert main(["gradescope", ASSIGNMENT, "--out", str(bundle)]) == 0
    root = tmp_path / "autograder"  # as Gradescope lays it out: source/ (the bundle), submission/, results/
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(root / "source")
    mistake = MISTAKES[ASSIGNMENT][0]
    nb = nbformat.read(source_notebook(COURSE_ROOT, ASSIGNMENT), as_version=4)
    cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == mistake.answer_id)
    cell.source = cell.source.replace(mistake.old, mistake.new)
    (root / "submission").mkdir()
    nbformat.write(nb, root / "submission" / f"{ASSIGNMENT} (2).ipynb")  # renamed by an upload
    env = {**os.environ, **isolated_environment(tmp_path / "home", "smoke"), "GRADESCOPE_ROOT": str(root),
           "MTML_PYTHON": sys.executable}
    if DATA_DIR.is_dir():
        env["MTML_DATA_DIR"] = str(DATA_DIR)
    proc = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    cells = graded_cells(nb)
    tests = {t["name"].split(" ", 1)[0]: t for t in results["tests"]}
    assert set(tests) == {c.grade_id for c in cells}
    where = exercise_labels(nb)  # each test named with where its exercise is, as students read it
    assert [t["name"] for t in results["tests"]] == [f"{c.grade_id} ({where[c.grade_id]})" for c in cells]
    for test in results["tests"]:
        assert set(test) == {"name", "score", "max_score", "status", "output", "visibility"}
    failed = tests[mistake.test_id]
    assert failed["status"] == "failed" and failed["score"] == 0 and failed["output"], failed
    assert all(t["status"] == "passed" and t["score"] == t["max_score"] for n, t in tests.items()
               if n != mistake.test_id)
    assert results["score"] == sum(c.points for c in cells) - failed["max_score"]
    assert f"Graded {ASSIGNMENT} (2).ipynb as {ASSIGNMENT}.ipynb" in results["output"]
    assert "def test_" not in json.dumps(results) and "torch.eye" not in json.dumps(results)
