"""Autograde one student's submission of one assignment; run by ``grade`` in its own process.

Usage: ``python -m autograder._autograde_one COURSE_DIR ASSIGNMENT STUDENT RESULT_JSON [--cell-timeout S]``

The course folder must already hold a gradebook (``generate_assignment`` ran) and
``submitted/STUDENT/ASSIGNMENT/``. Writes ``{"success": bool, "reason": str}`` to RESULT_JSON; the
scores themselves are in the gradebook. One process per student keeps a crashing or hanging
submission from taking any other student's grading with it; nothing the kernel started survives it.
"""

from __future__ import annotations

import argparse
import json
import re
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


def main(argv: list[str] | None = None) -> int:
    """Run nbgrader's autograde for one student, write the result file, return 0 iff it succeeded.

    Example:
        >>> main(["course", "01_task_definition", "alice", "alice.json"])  # doctest: +SKIP
        0
    """
    parser = argparse.ArgumentParser(prog="python -m autograder._autograde_one")
    parser.add_argument("course", type=Path)
    parser.add_argument("assignment")
    parser.add_argument("student")
    parser.add_argument("result", type=Path)
    parser.add_argument("--cell-timeout", type=int, default=None)
    args = parser.parse_args(argv)

    from autograder.course import nbgrader_api
    from autograder.processes import become_subreaper, kill_descendants

    # Orphans of the kernel (a background process it started) are re-parented here, not to init,
    # and die before this process exits, whatever the submission did.
    become_subreaper()
    try:
        api = nbgrader_api(args.course, cell_timeout=args.cell_timeout)
        result = api.autograde(args.assignment, args.student, force=True, create=True)
    finally:
        kill_descendants()
    log = result.get("log", "") + result.get("error", "")
    print(log)  # goes to this student's log file
    # nbgrader reports some per-notebook failures only in its log while still returning success.
    failed = not result["success"] or "There was an error processing assignment" in log
    reason = failure_reason(log) if failed else ""
    args.result.write_text(json.dumps({"success": not failed, "reason": reason}), encoding="utf-8")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
