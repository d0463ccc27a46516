"""What the last grading run saw, kept beside ``grades.csv``, so that ``feedback`` regrades only what changed.

``grade`` writes ``<out>.run.json`` next to its grades file: for every submission it graded, a digest of
what decided its grade (the submitted files, the course's files, the grading options) and the one-line
reason of each failed test. ``feedback`` then takes a submission's row from ``grades.csv`` and its reasons
from here when the digest still matches, and grades only the submissions that are new or changed (or all of
them after the course or the options changed): writing feedback after a grading run costs no second run.

Example:
    >>> setting = setting_digest({"cfg.py": b""}, ("smoke",))
    >>> digest_of({"a.ipynb": b"{}"}, setting) == digest_of({"a.ipynb": b"{}"}, setting)
    True
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path

from autograder.course import GradedCell
from autograder.results import GradeRow, read_grades_csv
from autograder.worker import GradeResult

#: Format of the file; another version is ignored (everything is graded again).
VERSION = 1


def run_file(out: Path) -> Path:
    """The file kept beside a grades file.

    Example:
        >>> run_file(Path("grades.csv"))
        PosixPath('grades.csv.run.json')
    """
    return Path(out).with_name(Path(out).name + ".run.json")


def _files_digest(files: dict[str, bytes]) -> str:
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


def setting_digest(course: dict[str, bytes], options: tuple) -> str:
    """A digest of what decides every grade of a batch: the course's files (notebooks, hidden tests,
    configuration) and the grading options. Computed once per batch."""
    return hashlib.sha256(f"{_files_digest(course)}\1{options!r}".encode()).hexdigest()


def digest_of(files: dict[str, bytes], setting: str) -> str:
    """A digest of everything that decides a submission's grade: its files and the batch's
    :func:`setting_digest`."""
    return hashlib.sha256(f"{_files_digest(files)}\1{setting}".encode()).hexdigest()


def load(out: Path) -> dict[str, dict]:
    """``{"student/assignment": {"digest": ..., "reasons": {...}}}`` of the last run, or ``{}``."""
    try:
        data = json.loads(run_file(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict) or data.get("version") != VERSION:
        return {}
    if not isinstance(data.get("graded"), dict):
        return {}
    return data["graded"]


def save(out: Path, results: dict[tuple[str, str], GradeResult], digests: dict[tuple[str, str], str],
         keep: bool) -> None:
    """Record the graded submissions (``keep``: on top of the last run's, as a merged grades file is)."""
    graded = load(out) if keep else {}
    for (student, assignment), result in results.items():
        if (student, assignment) in digests:
            graded[f"{student}/{assignment}"] = {"digest": digests[(student, assignment)],
                                                 "reasons": result.reasons}
    path = run_file(out)
    fd, tmp = tempfile.mkstemp(prefix=".run-", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"version": VERSION, "graded": graded}, f, indent=1, sort_keys=True)
    os.replace(tmp, path)


def reusable(out: Path, digests: dict[tuple[str, str], str],
             cells: dict[str, list[GradedCell]]) -> dict[tuple[str, str], GradeResult]:
    """The results of the last run that still hold: the submissions whose digest is unchanged and whose row
    is in ``out``."""
    graded = load(out)
    try:
        _, records = read_grades_csv(out)
    except ValueError:
        return {}
    rows = {(r["student_id"], r["assignment"]): r for r in records}
    found = {}
    for key, digest in digests.items():
        entry, record = graded.get(f"{key[0]}/{key[1]}"), rows.get(key)
        if entry is None or record is None or entry.get("digest") != digest or key[1] not in cells:
            continue
        try:
            scores = {c.grade_id: float(record[c.grade_id]) if record.get(c.grade_id) else None
                      for c in cells[key[1]]}
        except ValueError:
            continue
        row = GradeRow(key[0], key[1], cells[key[1]], scores, record["status"])
        found[key] = GradeResult(row, {str(k): str(v) for k, v in entry.get("reasons", {}).items()})
    return found
