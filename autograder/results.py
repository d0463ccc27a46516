"""Grades of a batch: reading them from the gradebook, the printed table and ``grades.csv``."""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass, field
from pathlib import Path

from autograder.course import GradedCell, format_points

FIXED_COLUMNS = ["student_id", "assignment", "score", "max_score"]


@dataclass
class GradeRow:
    """One student's result for one assignment.

    ``scores`` maps each graded cell's ``grade_id`` to its points, or ``None`` while a manually graded
    cell (a free-response answer) waits for the instructor. ``status`` is ``"ok"`` or why the
    submission scored 0 (or, when its kernel stopped answering, why its cells from there on did).

    Example:
        >>> cells = [GradedCell("test_a", 2.0, True)]
        >>> row = GradeRow("alice", "01_x", cells, {"test_a": 2.0})
        >>> row.score, row.max_score
        (2.0, 2.0)
    """

    student_id: str
    assignment: str
    cells: list[GradedCell]
    scores: dict[str, float | None] = field(default_factory=dict)
    status: str = "ok"

    @property
    def score(self) -> float:
        return sum(v for v in self.scores.values() if v is not None)

    @property
    def max_score(self) -> float:
        return sum(cell.points for cell in self.cells)

    @classmethod
    def zero(cls, student_id: str, assignment: str, cells: list[GradedCell], reason: str) -> GradeRow:
        """A submission that could not be graded: 0 on every graded cell, with the reason.

        Example:
            >>> GradeRow.zero("bob", "01_x", [GradedCell("t", 1.0, True)], "not JSON").scores
            {'t': 0.0}
        """
        return cls(student_id, assignment, cells, {c.grade_id: 0.0 for c in cells}, reason)


def read_gradebook_row(db_url: str, student_id: str, assignment: str, cells: list[GradedCell]) -> GradeRow:
    """The scores nbgrader saved for one graded submission.

    A test cell that nbgrader left without a score means its autograde did not really finish, so the
    whole submission gets 0 (as for any grading failure) rather than a partial score that could
    change from one run to the next.

    Example:
        >>> read_gradebook_row("sqlite:///course/gradebook.db", "alice", "01_x", cells)  # doctest: +SKIP
        GradeRow(student_id='alice', ..., status='ok')
    """
    from nbgrader.api import Gradebook

    with Gradebook(db_url) as gb:
        notebook = gb.find_submission_notebook(assignment, assignment, student_id)
        saved = {g.name: None if g.needs_manual_grade else g.score for g in notebook.grades}
    unscored_tests = [c.grade_id for c in cells if c.is_test and saved.get(c.grade_id) is None]
    if unscored_tests:
        reason = f"autograde left test cells unscored ({', '.join(unscored_tests)})"
        return GradeRow.zero(student_id, assignment, cells, reason)
    scores = {c.grade_id: None if saved.get(c.grade_id) is None else float(saved[c.grade_id]) for c in cells}
    manual = [grade_id for grade_id, value in scores.items() if value is None]
    status = "ok" if not manual else f"ok; needs manual grading: {', '.join(manual)}"
    return GradeRow(student_id, assignment, cells, scores, status)


def csv_columns(rows: list[GradeRow]) -> list[str]:
    """``student_id,assignment,score,max_score``, every graded cell's ``grade_id`` (notebook order,
    assignments in order of appearance, each name once) and ``status``.

    Example:
        >>> csv_columns([GradeRow("a", "x", [GradedCell("t1", 1.0, True), GradedCell("t2", 1.0, True)])])
        ['student_id', 'assignment', 'score', 'max_score', 't1', 't2', 'status']
    """
    cell_columns: dict[str, None] = {}
    for row in rows:
        for cell in row.cells:
            cell_columns.setdefault(cell.grade_id, None)
    return [*FIXED_COLUMNS, *cell_columns, "status"]


def _record(row: GradeRow) -> dict[str, str]:
    """One CSV row: the fixed columns, each graded cell's points ("" while waiting for manual grading)."""
    record = {
        "student_id": row.student_id,
        "assignment": row.assignment,
        "score": format_points(row.score),
        "max_score": format_points(row.max_score),
        "status": row.status,
    }
    for grade_id, value in row.scores.items():
        record[grade_id] = "" if value is None else format_points(value)
    return record


def _write_records(columns: list[str], records: list[dict[str, str]], out: Path) -> None:
    """Write a CSV through a temporary file, so a crash never leaves half a file."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    tmp = Path(out).with_name(Path(out).name + ".partial")
    tmp.write_text(buffer.getvalue(), encoding="utf-8")
    os.replace(tmp, out)


def write_csv(rows: list[GradeRow], out: Path) -> None:
    """Write ``grades.csv`` (through a temporary file, so a crash never leaves half a file).

    Cells of another assignment and cells waiting for manual grading are left empty.

    Example:
        >>> write_csv(rows, Path("grades.csv"))  # doctest: +SKIP
    """
    _write_records(csv_columns(rows), [_record(row) for row in rows], out)


def read_grades_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of a ``grades.csv`` this grader wrote; ``ValueError`` saying what is wrong for
    any other file.

    Example:
        >>> columns, rows = read_grades_csv(Path("grades.csv"))  # doctest: +SKIP
        >>> columns[:4], columns[-1]  # doctest: +SKIP
        (['student_id', 'assignment', 'score', 'max_score'], 'status')
    """
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ValueError(f"cannot read it ({err})") from err
    if columns[: len(FIXED_COLUMNS)] != FIXED_COLUMNS or columns[-1:] != ["status"]:
        raise ValueError(f"its header is not a grades file's ({', '.join(FIXED_COLUMNS)}, ..., status): "
                         f"{', '.join(columns[:6]) or 'empty'}")
    if any(None in row or None in row.values() for row in rows):
        raise ValueError("a row has more or fewer fields than the header")
    return columns, rows


def merge_csv(rows: list[GradeRow], out: Path) -> None:
    """Write ``rows`` into the existing grades file ``out``: each replaces the row of the same student and
    assignment (or is added), every other row stays exactly as it was. Rows are sorted by student, then
    assignment, as ``grade`` writes them; a graded cell new to the file gets a column (empty elsewhere).

    Example:
        >>> merge_csv([regraded_alice], Path("grades.csv"))  # doctest: +SKIP
    """
    columns, records = read_grades_csv(out)
    merged = {(r["student_id"], r["assignment"]): r for r in records}
    merged.update({(row.student_id, row.assignment): _record(row) for row in rows})
    cells = columns[len(FIXED_COLUMNS):-1]
    cells += [c for c in csv_columns(rows)[len(FIXED_COLUMNS):-1] if c not in cells]
    _write_records([*FIXED_COLUMNS, *cells, "status"], [merged[key] for key in sorted(merged)], out)


def format_table(rows: list[GradeRow]) -> str:
    """The summary table printed after grading.

    Example:
        >>> print(format_table([GradeRow("alice", "01_x", [GradedCell("t", 2.0, True)], {"t": 2.0})]))
        student  assignment  score  status
        alice    01_x        2/2    ok
    """
    header = ["student", "assignment", "score", "status"]
    body = [
        [r.student_id, r.assignment, f"{format_points(r.score)}/{format_points(r.max_score)}", r.status]
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header) - 1)]
    lines = []
    for line in [header, *body]:
        padded = [text.ljust(width) for text, width in zip(line[:-1], widths, strict=True)]
        lines.append("  ".join([*padded, line[-1]]))
    return "\n".join(lines)
