"""A Gradescope autograder for one assignment: ``python -m autograder gradescope ASSIGNMENT --out ZIP``.

The zip holds what Gradescope asks for at its root (its documented layout): ``setup.sh``, run once when it
builds the autograder's image (a virtual environment with the course, torch pinned as in
``constraints.txt``), and ``run_autograder``, run for every submission. Beside them travels the course as
git tracks it: ``mtml_utils/``, the grader (``autograder/``) and this assignment's instructor notebook and
hidden tests (``autograder/source/<assignment>/``; the zip goes to Gradescope, never to students).

``run_autograder`` calls :func:`run`: it grades the notebook the student uploaded (to
``/autograder/submission/``) with this grader, exactly as ``grade`` does (hidden tests decided outside the
student's kernel, the sandbox where the machine allows it), and writes
``/autograder/results/results.json`` in Gradescope's schema: the score, and one test per graded cell with
its name, score, max_score, status and the one-line reason a failing test gives (never a hidden test's
code or reference values). ``GRADESCOPE_ROOT`` replaces ``/autograder`` (the course's test runs it so).

Example:
    >>> build_bundle("01_task_definition", Path("autograder.zip"))  # doctest: +SKIP
    ['autograder/__init__.py', ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from autograder import COURSE_ROOT, lastrun
from autograder.course import SOURCE_DIR, list_assignments, load_notebook, source_notebook
from autograder.errors import UsageError
from autograder.hints import exercise_labels

SETUP_SH = """#!/usr/bin/env bash
# Gradescope runs this once, in /autograder/source, when it builds the autograder image.
set -euo pipefail
cd /autograder/source
if ! python3 -m venv --help >/dev/null 2>&1; then apt-get update && apt-get install -y python3-venv; fi
python3 -m venv /autograder/venv
TORCH="$(grep '^torch==' constraints.txt || echo torch)"
/autograder/venv/bin/pip install --disable-pip-version-check -q "$TORCH" \\
    --index-url https://download.pytorch.org/whl/cpu
/autograder/venv/bin/pip install --disable-pip-version-check -q -c constraints.txt -e .
"""

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission: it grades the notebook in $ROOT/submission and writes
# $ROOT/results/results.json. GRADESCOPE_ROOT and MTML_PYTHON override the root and the interpreter.
set -uo pipefail
ROOT="${{GRADESCOPE_ROOT:-/autograder}}"
PYTHON="${{MTML_PYTHON:-$ROOT/venv/bin/python}}"
cd "$(dirname "$0")"
exec "$PYTHON" -m autograder.gradescope --root "$ROOT" --assignment {assignment}
"""

#: The student id the one submission is graded under.
STUDENT = "gradescope"


def bundle_files(assignment: str, course_root: Path = COURSE_ROOT) -> list[str]:
    """The tracked files the bundle carries (paths relative to the repository root): the course package,
    the grader, its configuration and this assignment's sources, and the files ``pip install`` needs."""
    from autograder.dist import _git

    repo = Path(course_root).parent
    tracked = [p for p in _git(repo, "ls-files", "-z").split("\0") if p]
    course = Path(course_root).name
    wanted = []
    for path in tracked:
        parts = path.split("/")
        if parts[0] == "mtml_utils" or path in ("pyproject.toml", "constraints.txt", "README.md"):
            wanted.append(path)
        elif parts[0] == course and len(parts) == 2 and (path.endswith(".py")):
            wanted.append(path)  # the grader's modules and nbgrader_config.py
        elif parts[:3] == [course, SOURCE_DIR, assignment]:
            wanted.append(path)
    return wanted


def build_bundle(assignment: str, out: Path, course_root: Path = COURSE_ROOT) -> list[str]:
    """Write the Gradescope autograder zip for ``assignment``; returns the course files it holds."""
    if assignment not in list_assignments(course_root):
        raise UsageError(f"No assignment {assignment!r} in the course; it has: "
                         f"{', '.join(list_assignments(course_root))}.")
    if out.suffix != ".zip":
        raise UsageError(f"--out '{out}' must name a .zip file (Gradescope uploads a zip).")
    files = bundle_files(assignment, course_root)
    repo = Path(course_root).parent
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        scripts = (("setup.sh", SETUP_SH), ("run_autograder", RUN_AUTOGRADER.format(assignment=assignment)))
        for name, text in scripts:
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16  # executable, as Gradescope runs them
            zf.writestr(info, text)
        for path in files:
            zf.write(repo / path, path)
    return files


def results_json(rows: list, reasons: dict[str, str], note: str = "",
                 where: dict[str, str] | None = None) -> dict:
    """Gradescope's results for one graded submission (``rows``: its one GradeRow, or none); each test is
    named by its id and, from ``where`` (:func:`autograder.hints.exercise_labels`), where its exercise is."""
    where = where or {}
    if not rows:
        return {"score": 0, "output": note or "No notebook was graded.", "tests": []}
    row = rows[0]
    tests = []
    for cell in row.cells:
        earned = row.scores.get(cell.grade_id)
        passed = earned is not None and earned >= cell.points
        name = f"{cell.grade_id} ({where[cell.grade_id]})" if cell.grade_id in where else cell.grade_id
        tests.append({"name": name, "score": earned or 0.0, "max_score": cell.points,
                      "status": "passed" if passed else "failed", "visibility": "visible",
                      "output": "" if passed else reasons.get(cell.grade_id) or (
                          row.status if row.status != "ok" else "")})
    output = "Graded by the course's autograder (hidden tests included)."
    if row.status != "ok":
        output += f" Status: {row.status}"
    return {"score": row.score, "output": " ".join(filter(None, [note, output])), "tests": tests,
            "visibility": "visible", "stdout_visibility": "hidden"}


def run(root: Path, assignment: str, course_root: Path = COURSE_ROOT) -> dict:
    """Grade ``root/submission``'s notebook and write ``root/results/results.json``; returns the results."""
    from autograder.grade import GraderError, grade_submissions

    notebooks = sorted((root / "submission").rglob("*.ipynb"))
    named = [p for p in notebooks if p.name == f"{assignment}.ipynb"]
    chosen = named[:1] or (notebooks if len(notebooks) == 1 else [])
    rows, reasons, note = [], {}, ""
    if not chosen:
        found = ", ".join(p.name for p in notebooks) or "none"
        note = f"Upload your {assignment}.ipynb (notebooks found: {found})."
    else:
        if chosen[0].name != f"{assignment}.ipynb":
            note = f"Graded {chosen[0].name} as {assignment}.ipynb."
        with tempfile.TemporaryDirectory(prefix="mtml-gradescope-") as tmp:
            folder = Path(tmp) / "submitted" / STUDENT / assignment
            folder.mkdir(parents=True)
            shutil.copyfile(chosen[0], folder / f"{assignment}.ipynb")
            out = Path(tmp) / "grades.csv"
            try:
                rows = grade_submissions(Path(tmp) / "submitted", out=out, course_root=course_root,
                                         assignment=assignment)
                reasons = lastrun.load(out).get(f"{STUDENT}/{assignment}", {}).get("reasons", {})
            except (GraderError, UsageError) as err:
                note = f"The autograder failed ({err}); ask your instructor."
    where = exercise_labels(load_notebook(source_notebook(course_root, assignment)))
    results = results_json(rows, reasons, note, where)
    (root / "results").mkdir(parents=True, exist_ok=True)
    (root / "results" / "results.json").write_text(json.dumps(results, indent=1), encoding="utf-8")
    return results


def main(argv: list[str] | None = None) -> int:
    """``run_autograder``'s entry point: ``python -m autograder.gradescope --root R --assignment A``."""
    parser = argparse.ArgumentParser(prog="python -m autograder.gradescope", description=run.__doc__)
    parser.add_argument("--root", type=Path, default=Path("/autograder"))
    parser.add_argument("--assignment", required=True)
    args = parser.parse_args(argv)
    results = run(args.root, args.assignment)
    print(f"score {results['score']:g}; results in {args.root / 'results' / 'results.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
