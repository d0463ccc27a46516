"""The "Check my work" button at the end of every notebook: the visible tests, run in the live kernel.

    import mtml_utils as mtml
    mtml.check_my_work()        # the last code cell of every notebook

Pressing the button runs every visible test cell of the notebook again, in the kernel the student is
working in, and shows a table inside the notebook: each test, its points, PASS or FAIL and a one-line
reason, worded as ``python -m autograder check`` words it. It sees the code the student has *run*: an
edit that was typed but not run is not seen, and a cell never run leaves its names undefined. After
Run ▸ Run All Cells it agrees with ``python -m autograder check`` on the saved notebook, which runs the
notebook from the top in a fresh, sandboxed kernel; the table says which of the two it did.

It takes the test cells from the notebook file the kernel belongs to (JupyterLab tells the kernel its
path); test cells are read-only, so the saved file has the same tests as the open one. Nothing is written,
and hidden tests never run here: they are added when the notebook is graded.
"""

from __future__ import annotations

import html
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder.check import TestOutcome, error_summary, summary_line
from autograder.course import format_points, is_test_cell, load_notebook
from autograder.errors import UsageError
from autograder.hints import Hint, exercise_labels, hints_by_test, progressive_html

#: What the table says about how it checked (the issue of "which work did it see").
HOW_LIVE = (
    "Checked in this kernel: the visible tests ran on the code you have run so far (edits you have not "
    "run are not seen). Run ▸ Run All Cells first and this table matches "
    "<code>make check NB=&lt;this notebook&gt;</code> in the course folder, which runs the saved notebook "
    "from the top in a fresh kernel."
)
CSS_CLASS = "mtml-check-my-work"


@dataclass(frozen=True)
class VisibleTest:
    """One read-only test cell of a notebook: its ``grade_id``, points, code and its exercise's hints.

    Example:
        >>> VisibleTest("test_shapes", 1.0, "assert True").points
        1.0
    """

    grade_id: str
    points: float
    source: str
    hints: tuple[Hint, ...] = ()
    exercise: str = ""  # where its exercise is: "exercise f, section 2 · Title" (autograder.hints)


def notebook_path(user_ns: dict[str, Any] | None = None) -> Path | None:
    """The notebook file this kernel was started for, or ``None`` when the front end did not say.

    JupyterLab (jupyter_server 2) passes the path in ``JPY_SESSION_NAME`` and ipykernel copies it to the
    ``__session__`` variable; other front ends (VS Code, a console) may set neither.

    Example:
        >>> import tempfile
        >>> nb = Path(tempfile.mkdtemp()) / "01_task_definition.ipynb"; _ = nb.write_text("{}")
        >>> notebook_path({"__session__": str(nb)}) == nb
        True
        >>> notebook_path({"__session__": "console-1"}) is None
        True
    """
    name = (user_ns or {}).get("__session__") or os.environ.get("JPY_SESSION_NAME")
    if not name:
        return None
    path = Path(str(name))
    return path if path.suffix == ".ipynb" and path.is_file() else None


def visible_tests(path: Path) -> list[VisibleTest]:
    """The test cells of a notebook file, in order; :class:`UsageError` when it has none.

    Example:
        >>> [t.grade_id for t in visible_tests(Path("notebooks/01_task_definition.ipynb"))][:1]
        ['test_one_hot_descriptors']
    """
    nb = load_notebook(Path(path))
    hints, where = hints_by_test(nb), exercise_labels(nb)
    tests = [
        VisibleTest(grade_id := str(cell.metadata["nbgrader"].get("grade_id", "?")),
                    float(cell.metadata["nbgrader"].get("points", 0)), cell.source,
                    tuple(hints.get(grade_id, ())), where.get(grade_id, ""))
        for cell in nb.cells
        if is_test_cell(cell)
    ]
    if not tests:
        raise UsageError(f"{path} has no test cells (cells with nbgrader metadata grade: true); "
                         "is it a notebook of this course?")
    return tests


def run_visible_tests(tests: list[VisibleTest], shell: Any = None) -> list[TestOutcome]:
    """Run each test's code with the variables of the IPython ``shell`` (default: this kernel's).

    A test passes when its code raises nothing, as in ``check`` and in grading. What it prints, displays
    or plots is captured and dropped, and so is its traceback: the table gives the one-line reason.
    After an interrupt (the stop button) the remaining tests are not run and fail.

    Args:
        tests: what :func:`visible_tests` returned.
        shell: the IPython shell whose variables (``user_ns``) the tests see and may change, as they
            would when run as cells.

    Example:
        >>> from types import SimpleNamespace
        >>> shell = SimpleNamespace(user_ns={"x": 2}, transform_cell=lambda source: source)
        >>> tests = [VisibleTest("t1", 1.0, "assert x == 2"), VisibleTest("t2", 2.0, "assert x > 2, 'small'")]
        >>> [o.line() for o in run_visible_tests(tests, shell)]
        ['PASS  t1  1/1', 'FAIL  t2  0/2  AssertionError: small']
    """
    if shell is None:
        from IPython import get_ipython

        shell = get_ipython()
    if shell is None:
        raise UsageError("The self-check runs inside a Jupyter kernel; outside one, run `make check "
                         "NB=NOTEBOOK` in the course folder (`python -m autograder check NOTEBOOK`).")
    outcomes: list[TestOutcome] = []
    interrupted = False
    for test in tests:
        if interrupted:
            outcomes.append(TestOutcome(test.grade_id, test.points, False, "not run: the check was stopped"))
            continue
        error = _run_quietly(test, shell)
        interrupted = isinstance(error, KeyboardInterrupt)
        detail = "" if error is None else error_summary(type(error).__name__, str(error))
        outcomes.append(TestOutcome(test.grade_id, test.points, error is None, detail))
    return outcomes


def _run_quietly(test: VisibleTest, shell: Any) -> BaseException | None:
    """Execute one test cell's code in the shell's namespace; the exception it raised, if any.

    ``exec`` rather than ``shell.run_cell``: a cell run by IPython sends its traceback straight to the
    front end, which would flood the notebook with the tracebacks the table summarises in one line.
    Figures the test opens are closed, so they do not appear under the next cell the student runs.
    """
    from IPython.utils.capture import capture_output

    plt = sys.modules.get("matplotlib.pyplot")
    figures_before = set(plt.get_fignums()) if plt else set()
    try:
        with capture_output(display=True):
            code = compile(shell.transform_cell(test.source), f"<visible test {test.grade_id}>", "exec")
            exec(code, shell.user_ns)  # noqa: S102 (the student's own notebook code, in their own kernel)
    except (Exception, KeyboardInterrupt, SystemExit) as exc:
        return exc
    finally:
        plt = sys.modules.get("matplotlib.pyplot")  # the test may have imported it
        for number in set(plt.get_fignums()) - figures_before if plt else ():
            plt.close(number)
    return None


def report_html(outcomes: list[TestOutcome], path: Path, how: str = HOW_LIVE,
                hints: dict[str, tuple[Hint, ...]] | None = None, where: dict[str, str] | None = None) -> str:
    """The table the button shows: summary, one row per test (``data-grade-id``, ``data-result``), how.

    Under each test's id, where its exercise is (``where``: ``{grade_id: "exercise f, section 2 · ..."}``).
    A failing test whose exercise has hints offers them in its last column, one at a time (nested
    disclosures: the next hint opens inside the previous one); a passing test offers none.

    Example:
        >>> hints = {"test_a": (Hint("Hint 1 · the idea", "compare x with y"),)}
        >>> text = report_html([TestOutcome("test_a", 1.0, False, "x < y")], Path("01.ipynb"), hints=hints,
        ...                    where={"test_a": "exercise a, section 1 · Start"})
        >>> 'data-grade-id="test_a" data-result="FAIL"' in text, "x &lt; y" in text, "Show a hint" in text
        (True, True, True)
        >>> '<small class="mtml-exercise">exercise a, section 1 · Start</small>' in text
        True
    """
    hints, where = hints or {}, where or {}
    rows = []
    for o in outcomes:
        verdict = "PASS" if o.passed else "FAIL"
        colour = "var(--jp-success-color1, #388e3c)" if o.passed else "var(--jp-error-color1, #d32f2f)"
        earned = format_points(o.points if o.passed else 0.0)
        rows.append(
            f'<tr data-grade-id="{html.escape(o.grade_id)}" data-result="{verdict}">'
            f"<td><code>{html.escape(o.grade_id)}</code>{exercise_note(where.get(o.grade_id, ''))}</td>"
            f"<td>{earned}/{format_points(o.points)}</td>"
            f'<td style="color:{colour};font-weight:bold">{verdict}</td><td>{html.escape(o.detail)}</td>'
            f"<td>{'' if o.passed else progressive_html(list(hints.get(o.grade_id, ())))}</td></tr>"
        )
    return (
        f'<div class="mtml-check-report"><p><b>{html.escape(summary_line(outcomes))}</b></p>'
        '<table style="border-collapse:collapse;text-align:left">'
        "<thead><tr><th>test</th><th>points</th><th>result</th><th>reason</th><th>stuck?</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
        f"<p><small>{how} Notebook: <code>{html.escape(Path(path).name)}</code>.</small></p></div>"
    )


def exercise_note(where: str) -> str:
    """The small line under a test's id that says where its exercise is (empty when unknown).

    Example:
        >>> exercise_note("exercise a, section 1 · A < B")
        '<br><small class="mtml-exercise">exercise a, section 1 · A &lt; B</small>'
    """
    return f'<br><small class="mtml-exercise">{html.escape(where)}</small>' if where else ""


def check_my_work(notebook: str | Path | None = None) -> Any:
    """A "Check my work" button; pressing it runs the notebook's visible tests here and shows the table.

    Args:
        notebook: the notebook file whose test cells to run (default: the one this kernel belongs to, as
            JupyterLab says; pass it where the front end does not).

    Returns:
        An ipywidgets ``VBox`` (the button, then the report); a cell that ends with it shows it.

    Example:
        >>> box = check_my_work("notebooks/01_task_definition.ipynb")
        >>> box.children[0].description
        'Check my work'
    """
    import ipywidgets as widgets
    from IPython import get_ipython

    shell = get_ipython()
    button = widgets.Button(description="Check my work", icon="check", button_style="primary",
                            tooltip="Run this notebook's visible tests on what you have run so far",
                            layout=widgets.Layout(width="auto"))
    report = widgets.HTMLMath()  # hints may hold $math$

    def on_click(_: Any) -> None:
        button.disabled, button.description = True, "Checking…"
        try:
            path = Path(notebook) if notebook else notebook_path(shell.user_ns if shell else None)
            if path is None:
                raise UsageError("This front end did not tell the kernel which notebook it runs; call "
                                 "mtml.check_my_work('path/to/this_notebook.ipynb') instead.")
            tests = visible_tests(path)
            report.value = report_html(run_visible_tests(tests, shell), path,
                                       hints={test.grade_id: test.hints for test in tests},
                                       where={test.grade_id: test.exercise for test in tests})
        except Exception as exc:  # a callback's exception would only reach a log students never open
            reason = str(exc) if isinstance(exc, UsageError) else f"{type(exc).__name__}: {exc}"
            report.value = f'<p class="mtml-check-error">Could not check: {html.escape(reason)}</p>'
        finally:
            button.disabled, button.description = False, "Check my work"

    button.on_click(on_click)
    box = widgets.VBox([button, report])
    box.add_class(CSS_CLASS)
    return box
