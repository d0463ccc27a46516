"""Per-student HTML feedback: each test with its points, pass or fail, and a one-line reason.

The page is built from the grading result alone (the scores and the reasons the grader wrote), never
from the autograded notebook, so it cannot show a hidden test's code, a traceback through it, or a
reference value: there is none of that in what it reads.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from autograder.course import format_points

if TYPE_CHECKING:
    from autograder.worker import GradeResult

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 52rem; margin: 2rem auto; color: #222; }
table { border-collapse: collapse; width: 100%; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; vertical-align: top; }
.pass { color: #1a7f37; font-weight: 600; } .fail { color: #cf222e; font-weight: 600; }
.wait { color: #9a6700; font-weight: 600; } .note { color: #555; }
"""


def feedback_html(result: GradeResult, where: dict[str, str] | None = None) -> str:
    """The feedback page of one submission; ``where`` says under each test where its exercise is
    (``{grade_id: "exercise f, section 2 · Title"}``, from :func:`autograder.hints.exercise_labels`).

    Example:
        >>> from autograder.results import GradeRow
        >>> from autograder.course import GradedCell
        >>> from autograder.worker import GradeResult
        >>> row = GradeRow("alice", "01_x", [GradedCell("test_a", 2.0, True)], {"test_a": 0.0})
        >>> page = feedback_html(GradeResult(row, {"test_a": "x must be positive"}),
        ...                      {"test_a": "exercise a, section 1 · Start"})
        >>> "must be positive" in page, "exercise a, section 1 · Start" in page
        (True, True)
    """
    row, where = result.row, where or {}
    lines = []
    for cell in row.cells:
        earned = row.scores.get(cell.grade_id)
        if earned is None:
            verdict, css, reason = "to grade", "wait", "graded by your instructor"
        elif earned >= cell.points:
            verdict, css, reason = "PASS", "pass", ""
        else:
            verdict, css = "FAIL", "fail"
            reason = result.reasons.get(cell.grade_id) or (row.status if row.status != "ok" else "")
        earned_text = "–" if earned is None else format_points(earned)
        lines.append(
            f"<tr><td><code>{html.escape(cell.grade_id)}</code>"
            f"{_exercise_note(where.get(cell.grade_id, ''))}</td>"
            f"<td>{earned_text}/{format_points(cell.points)}</td>"
            f'<td class="{css}">{verdict}</td><td>{html.escape(reason)}</td></tr>'
        )
    status = "" if row.status == "ok" else f'<p class="note">{html.escape(row.status)}</p>'
    title = f"{html.escape(row.assignment)}: feedback for {html.escape(row.student_id)}"
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
        f"<p><strong>Score: {format_points(row.score)} / {format_points(row.max_score)}</strong></p>"
        f"{status}\n"
        "<table><thead><tr><th>test</th><th>points</th><th>result</th><th>why</th></tr></thead><tbody>\n"
        + "\n".join(lines)
        + '\n</tbody></table>\n<p class="note">Hidden tests check your functions on inputs you have not '
        "seen; run <code>make check NB=&lt;your notebook&gt;</code> in the course folder for the visible "
        "ones.</p>\n"
        "</body></html>\n"
    )


def _exercise_note(where: str) -> str:
    return f'<br><span class="note">{html.escape(where)}</span>' if where else ""


def write_feedback(results: list[GradeResult], folder: Path,
                   where: dict[str, dict[str, str]] | None = None) -> list[Path]:
    """Write ``folder/<student_id>/<assignment>.html`` for every result; returns the paths.

    ``where`` maps an assignment to ``{test grade_id: where its exercise is}`` (see :func:`feedback_html`).

    Example:
        >>> write_feedback(results, Path("feedback"))  # doctest: +SKIP
        [PosixPath('feedback/alice/01_task_definition.html'), ...]
    """
    written = []
    for result in results:
        path = Path(folder) / result.row.student_id / f"{result.row.assignment}.html"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(feedback_html(result, (where or {}).get(result.row.assignment)), encoding="utf-8")
        written.append(path)
    return written
