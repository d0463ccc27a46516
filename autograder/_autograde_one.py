"""Autograde one student's submission of one assignment; run by ``grade`` in its own process.

Usage: ``python -m autograder._autograde_one COURSE_DIR ASSIGNMENT STUDENT RESULT_JSON [--cell-timeout S]
[--interrupt-grace S]``, or ``python -m autograder._autograde_one COURSE_DIR --serve [...]`` to grade the
students sent on stdin one after another (what ``grade`` runs: one such process per parallel job). A
grading process dies with the thread of the grader that started it, however the grader ends
(:mod:`autograder.lifeline`).

The course folder must already hold a gradebook (``generate_assignment`` ran) and
``submitted/STUDENT/ASSIGNMENT/``. Writes ``{"success": bool, "reason": str, "log": str, "note": str}``
to RESULT_JSON (``note``: why a graded notebook's later cells scored 0, when its kernel stopped
answering); the scores themselves are in the gradebook. One process per student keeps a crashing or hanging
submission from taking any other student's grading with it; nothing the kernel started survives it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

# Exceptions nbgrader reports when a whole submission could not be graded, and what to tell the student.
KNOWN_FAILURES = {
    "DeadKernelError": "the kernel died while running the notebook (os._exit, a crash or out of memory)",
    "NotJSONError": "the submitted file is not valid notebook JSON",
    "NBFormatError": "the submitted file is not a valid notebook",
    "UnresponsiveKernelError": "the kernel stopped responding",
    "TimeoutError": "a cell ran past the timeout and the kernel could not be interrupted",
    "CellTimeoutError": "a cell ran past the timeout and the kernel could not be interrupted",
}


def failure_reason(text: str) -> str:
    """One line saying why autograding failed, from nbgrader's log and traceback.

    Example:
        >>> failure_reason("... nbformat.reader.NotJSONError: Notebook does not appear to be JSON")
        'the submitted file is not valid notebook JSON'
    """
    for name, reason in KNOWN_FAILURES.items():
        if re.search(rf"\b{name}\b", text):
            return reason
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # The last exception line of the first traceback names the actual cause; nbgrader's own
    # "Please see the above traceback" wrapper comes after it.
    causes = [line for line in lines if re.match(r"^[\w.]+(Error|Exception)\b", line)]
    last = causes[0] if causes else (lines[-1] if lines else "unknown error")
    return "autograde failed: " + last[:200]


def autograde_one(
    course: Path, assignment: str, student: str, result: Path, cell_timeout: int | None,
    interrupt_grace: int | None = None,
) -> bool:
    """Run nbgrader's autograde for one student and write ``{"success", "reason", "log", "note"}`` to
    ``result``; returns whether it succeeded. Whatever the kernel left running is killed before this
    returns."""
    from autograder.course import nbgrader_api
    from autograder.preprocessors import take_notes
    from autograder.processes import kill_descendants

    take_notes()  # nothing from an earlier student
    try:
        api = nbgrader_api(course, cell_timeout=cell_timeout, interrupt_grace=interrupt_grace)
        outcome = api.autograde(assignment, student, force=True, create=True)
    finally:
        kill_descendants()
    log = outcome.get("log", "") + outcome.get("error", "")
    # nbgrader reports some per-notebook failures only in its log while still returning success.
    failed = not outcome["success"] or "There was an error processing assignment" in log
    reason = failure_reason(log) if failed else ""
    note = "; ".join(take_notes())
    result.write_text(json.dumps({"success": not failed, "reason": reason, "log": log, "note": note}),
                      encoding="utf-8")
    return not failed


def serve(course: Path, cell_timeout: int | None, interrupt_grace: int | None = None) -> int:
    """Grade students one after another: one JSON job per line on stdin (``assignment``, ``student``,
    ``result``), answered by the line ``DONE_LINE`` on stdout once its result file is written.

    nbgrader, the course's hidden tests and torch are imported once, not once per student; each
    student still gets a fresh kernel in its own sandbox. The grader kills this process (and starts
    another) when a student runs past the whole-notebook timeout.
    """
    import nbgrader.apps  # noqa: F401 (imported once, for every student)
    import torch  # noqa: F401 (the hidden tests use it)

    for line in sys.stdin:
        job = json.loads(line)
        autograde_one(course, job["assignment"], job["student"], Path(job["result"]), cell_timeout,
                      interrupt_grace)
        print(DONE_LINE, flush=True)
    return 0


#: What :func:`serve` prints after each student.
DONE_LINE = "MTML-AUTOGRADE-DONE"


def main(argv: list[str] | None = None) -> int:
    """Autograde one student (``COURSE ASSIGNMENT STUDENT RESULT_JSON``), or with ``--serve COURSE`` every
    student sent on stdin; returns 0 iff the (last) autograde succeeded.

    Example:
        >>> main(["course", "01_task_definition", "alice", "alice.json"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(prog="python -m autograder._autograde_one")
    parser.add_argument("course", type=Path)
    parser.add_argument("assignment", nargs="?")
    parser.add_argument("student", nargs="?")
    parser.add_argument("result", type=Path, nargs="?")
    parser.add_argument("--cell-timeout", type=int, default=None)
    parser.add_argument("--interrupt-grace", type=int, default=None)
    parser.add_argument("--serve", action="store_true", help="grade the students sent on stdin, one per line")
    args = parser.parse_args(argv)

    from autograder.lifeline import PARENT_VARIABLE, die_with_parent
    from autograder.processes import become_subreaper

    if not die_with_parent():
        return 1  # the grader that started this process is already gone
    os.environ[PARENT_VARIABLE] = str(os.getpid())  # the kernels started here check for this process
    # Orphans of the kernel (a background process it started) are re-parented here, not to init,
    # and die before the next student starts, whatever the submission did.
    become_subreaper()
    if args.serve:
        return serve(args.course, args.cell_timeout, args.interrupt_grace)
    if args.result is None:
        parser.error("COURSE ASSIGNMENT STUDENT RESULT_JSON, or --serve COURSE")
    succeeded = autograde_one(args.course, args.assignment, args.student, args.result, args.cell_timeout,
                              args.interrupt_grace)
    return 0 if succeeded else 1


if __name__ == "__main__":
    raise SystemExit(main())
