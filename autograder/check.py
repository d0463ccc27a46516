"""``python -m autograder check``: self-check a student notebook against its visible tests.

The notebook runs top to bottom in a fresh kernel (this interpreter, the notebook's folder as
working directory, the same environment as grading) and is never written back. A test cell passes
when it ends without an error; stderr output such as a warning is not a failure, as in grading.
"""

from __future__ import annotations

import os
import re
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder import COURSE_ROOT
from autograder.course import (
    format_points,
    graded_cells,
    is_test_cell,
    isolated_environment,
    kernel_connection,
    load_notebook,
    not_this_assignment,
)
from autograder.errors import UsageError
from autograder.sandbox import describe, sandbox_policy

if TYPE_CHECKING:  # nbformat is slow to import; the command line reads DEFAULT_CELL_TIMEOUT from here
    import nbformat

#: Seconds before ``check`` interrupts a cell; keep it equal to ``c.Execute.timeout`` in nbgrader_config.py
#: (a test checks), so a notebook that passes the self-check is not cut short by grading.
DEFAULT_CELL_TIMEOUT = 300
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


@dataclass(frozen=True)
class TestOutcome:
    """The result of one visible test cell.

    Example:
        >>> TestOutcome("test_add", 2.0, False, "AssertionError: wrong sum").line()
        'FAIL  test_add  0/2  AssertionError: wrong sum'
    """

    grade_id: str
    points: float
    passed: bool
    detail: str = ""

    def line(self) -> str:
        """The line printed for this test."""
        earned = self.points if self.passed else 0.0
        verdict = "PASS" if self.passed else "FAIL"
        text = f"{verdict}  {self.grade_id}  {format_points(earned)}/{format_points(self.points)}"
        return f"{text}  {self.detail}" if self.detail else text


def error_line(cell: nbformat.NotebookNode) -> str | None:
    """The last line of a cell's error (``AssertionError: ...``), or ``None`` when it has none.

    Example:
        >>> from nbformat.v4 import new_code_cell, new_output
        >>> cell = new_code_cell("")
        >>> cell.outputs = [new_output("error", ename="ValueError", evalue="bad k_shot", traceback=[])]
        >>> error_line(cell)
        'ValueError: bad k_shot'
    """
    errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if not errors:
        return None
    # The last error is the one that ended the cell (a timeout comes after the KeyboardInterrupt).
    return error_summary(errors[-1].get("ename", "Error"), errors[-1].get("evalue", ""))


_CELL_FILE = re.compile(r"\(\d+\.py, line (\d+)\)")  # IPython names a cell's code after a temporary file


def answer_cell_error(cell: nbformat.NotebookNode) -> str | None:
    """Why an answer cell that raised leaves later tests failing, or ``None`` for any other cell.

    A syntax or indentation error in an answer cell defines nothing, so its test then reports only a
    ``NameError``; this line names the cause (graded and self-checked notebooks both say it).

    Example:
        >>> from nbformat.v4 import new_code_cell, new_output
        >>> cell = new_code_cell("x = (", metadata={"nbgrader": {"solution": True, "grade_id": "f"}})
        >>> cell.outputs = [new_output("error", ename="SyntaxError", evalue="bad (3.py, line 1)",
        ...                            traceback=[])]
        >>> answer_cell_error(cell)
        'the answer cell f raised SyntaxError: bad (line 1 of the cell), so nothing in it is defined'
    """
    meta = cell.get("metadata", {}).get("nbgrader", {})
    line = error_line(cell) if cell.get("cell_type") == "code" and meta.get("solution") else None
    if line is None:
        return None
    line = _CELL_FILE.sub(r"(line \1 of the cell)", line)
    return f"the answer cell {meta.get('grade_id', '?')} raised {line}, so nothing in it is defined"


def with_cause(causes: list[str], reason: str) -> str:
    """A failing test's reason, after the errors of the answer cells above it that explain it.

    Example:
        >>> with_cause(["the answer cell f raised SyntaxError"], "NameError: name 'f' is not defined")
        "the answer cell f raised SyntaxError; then: NameError: name 'f' is not defined"
        >>> with_cause([], "wrong sum")
        'wrong sum'
    """
    return "; ".join([*causes, f"then: {reason}"]) if causes else reason


def error_summary(ename: str, evalue: str) -> str:
    """One line for an error: ``ename: evalue``'s last line, without terminal colours, at most 200 characters.

    The self-check button (:mod:`autograder.selfcheck`) words its reasons with it too, so both agree.

    Example:
        >>> error_summary("AssertionError", "shapes differ\\n\\x1b[31mexpected (3, 4)\\x1b[0m")
        'expected (3, 4)'
        >>> error_summary("NotImplementedError", "")
        'NotImplementedError'
    """
    text = f"{ename}: {evalue}".strip().rstrip(":")
    lines = ANSI.sub("", text).strip().splitlines()
    return (lines[-1] if lines else "error")[:200]


def check_notebook(
    path: Path,
    profile: str = "smoke",
    cell_timeout: int = DEFAULT_CELL_TIMEOUT,
    echo: Callable[[str], None] = print,
    hints: bool = False,
) -> list[TestOutcome]:
    """Run a notebook and report its visible tests; returns one outcome per test cell.

    Each failing test is followed by where its exercise is (``in: exercise f, section 2 · ...``) and, with
    ``hints``, by that exercise's hints (see :mod:`autograder.hints`), indented, from the idea to the API.

    Example:
        >>> outcomes = check_notebook(Path("notebooks/01_task_definition.ipynb"))  # doctest: +SKIP
        PASS  test_one_hot_descriptors  1/1
        ...
        >>> all(o.passed for o in outcomes)  # doctest: +SKIP
        True
    """
    path = Path(path)
    nb = load_notebook(path)
    tests = [cell for cell in nb.cells if is_test_cell(cell)]
    if not tests:
        raise UsageError(
            f"'{path}' has no test cells: expected a course notebook whose test cells carry nbgrader "
            "metadata (grade: true). Check a notebook from the course's notebooks/ folder; if the cells "
            "lost their metadata, start again from a fresh copy and paste your answers in."
        )
    if (wrong := _another_assignments_notebook(path, nb)) is not None:
        raise UsageError(wrong)
    from autograder.hints import exercise_labels, hints_by_test

    hints_of = hints_by_test(nb) if hints else {}
    where = exercise_labels(nb)
    echo(f"Checking {path} (profile {profile}, up to {cell_timeout} s per cell) ...")
    outcomes: list[TestOutcome] = []
    with tempfile.TemporaryDirectory(prefix="mtml-check-") as tmp:
        causes: list[str] = []  # errors of the answer cells since the previous test
        for cell, stopped in _execute(nb, path.resolve().parent, Path(tmp), profile, cell_timeout):
            if not is_test_cell(cell):
                if (cause := None if stopped else answer_cell_error(cell)) is not None:
                    causes.append(cause)
                continue
            meta = cell.metadata["nbgrader"]
            error = stopped or error_line(cell)
            outcome = TestOutcome(str(meta.get("grade_id", "?")), float(meta.get("points", 0)), error is None,
                                  "" if error is None else with_cause(causes, error))
            causes = []
            outcomes.append(outcome)
            echo(outcome.line())
            if not outcome.passed and outcome.grade_id in where:
                echo(f"      in: {where[outcome.grade_id]}")
            for hint in [] if outcome.passed else hints_of.get(outcome.grade_id, []):
                echo(f"      {hint.plain()}")
    echo(summary_line(outcomes))
    return outcomes


def _another_assignments_notebook(path: Path, nb: nbformat.NotebookNode) -> str | None:
    """What to tell a student whose notebook is named after one assignment of the course (as its copy in
    ``work/``) but holds another's tests: graded under that name it would score 0, so it is not checked."""
    released = {p.stem: p for p in (COURSE_ROOT.parent / "notebooks").glob("*.ipynb")}  # the course's own

    def tests_in(name: str) -> set[str]:
        return {c.grade_id for c in graded_cells(load_notebook(released[name])) if c.is_test}

    if path.stem not in released:
        return None
    if not_this_assignment(nb.cells, path.stem, {path.stem: tests_in(path.stem)}) is None:
        return None  # its own notebook's tests (the usual case): no other notebook is read
    wrong = not_this_assignment(nb.cells, path.stem, {name: tests_in(name) for name in released})
    if wrong is None:
        return None
    return (f"'{path}' is not checked: {wrong}. Graded as {path.stem} it would score 0. Put your answers "
            f"into your copy of {path.stem}.ipynb (make lab makes one in work/), and check that one.")


def summary_line(outcomes: list[TestOutcome]) -> str:
    """The closing line of a check: points earned and tests passed (the self-check button shows it too).

    Example:
        >>> summary_line([TestOutcome("a", 1.0, True), TestOutcome("b", 2.0, False, "x")])
        'Visible tests: 1/3 points, 1 of 2 tests pass. Hidden tests are added when the notebook is graded.'
    """
    earned = sum(o.points for o in outcomes if o.passed)
    total = sum(o.points for o in outcomes)
    passed = sum(o.passed for o in outcomes)
    return (f"Visible tests: {format_points(earned)}/{format_points(total)} points, {passed} of "
            f"{len(outcomes)} tests pass. Hidden tests are added when the notebook is graded.")


def _execute(nb: nbformat.NotebookNode, cwd: Path, tmp: Path, profile: str, cell_timeout: int) -> Any:
    """Run the cells one by one, yielding ``(cell, reason it did not run or None)`` in order.

    After the kernel dies every remaining cell is yielded with the reason, so tests further down
    are reported as failures instead of silently vanishing.
    """
    from jupyter_client.kernelspec import KernelSpecManager
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    policy = sandbox_policy(hide=[COURSE_ROOT / "source"])
    if not policy.namespaces:
        print(describe(policy), file=sys.stderr)
    env = {**os.environ, **isolated_environment(tmp, profile, policy)}
    client = NotebookClient(
        nb,
        timeout=cell_timeout,
        interrupt_on_timeout=True,
        error_on_timeout={
            "ename": "CellTimeoutError",
            "evalue": f"the cell ran longer than {cell_timeout} s and was interrupted",
            "traceback": [],
        },
        allow_errors=True,
        kernel_name="python3",
        on_cell_executed=_record_reply_error,
    )
    client.km = client.create_kernel_manager()
    for name, value in kernel_connection(tmp / "jupyter_runtime").items():
        setattr(client.km, name, value)
    # Only the kernelspec written for this run, so a user-level "python3" cannot run another Python.
    client.km.kernel_spec_manager = KernelSpecManager(kernel_dirs=[str(tmp / "jupyter_path" / "kernels")])
    stopped: str | None = None
    # The kernel's own start-up chatter (not cell output) would clutter the report.
    kernel_log = open(tmp / "kernel.log", "wb")  # closed by the with statement below
    with kernel_log, client.setup_kernel(env=env, cwd=str(cwd), stdout=kernel_log, stderr=kernel_log):
        for index, cell in enumerate(nb.cells):
            if stopped is None:
                try:
                    client.execute_cell(cell, index)
                except DeadKernelError:
                    stopped = "the kernel died in this or an earlier cell (os._exit, a crash, out of memory)"
                    yield cell, stopped
                    continue
            yield cell, stopped


def _record_reply_error(cell: nbformat.NotebookNode, cell_index: int, execute_reply: dict) -> None:
    """Give a cell an error output when the kernel replied with an error it did not print
    (a timeout), as nbgrader's ``Execute`` does, so the cell counts as failed."""
    content = execute_reply.get("content", {})
    if content.get("status") != "error":
        return
    if any(o.get("output_type") == "error" and o.get("ename") == content.get("ename") for o in cell.outputs):
        return
    from nbformat.v4 import new_output

    cell.outputs.append(new_output("error", ename=content.get("ename", "Error"),
                                   evalue=content.get("evalue", ""), traceback=[]))
