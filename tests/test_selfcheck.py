"""The "Check my work" button's logic (autograder/selfcheck.py) in a real IPython shell, without a browser.

tests/test_browser.py presses the real button in JupyterLab; these cases pin down what it reports.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from IPython.core.interactiveshell import InteractiveShell

from autograder.check import TestOutcome as Outcome  # (not collected as a test class)
from autograder.errors import UsageError
from autograder.selfcheck import (
    HOW_LIVE,
    VisibleTest,
    check_my_work,
    notebook_path,
    report_html,
    run_visible_tests,
    visible_tests,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def shell() -> InteractiveShell:
    shell = InteractiveShell.instance()
    shell.user_ns.clear()
    return shell


def test_tests_see_and_change_the_students_variables(shell: InteractiveShell,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    shell.user_ns["double"] = lambda x: 2 * x
    outcomes = run_visible_tests([
        VisibleTest("test_double", 2.0, "print('checking'); assert double(3) == 6\nchecked = True"),
        VisibleTest("test_wrong", 1.0, "assert double(2) == 5, 'double(2) should be 5'"),
        VisibleTest("test_missing", 1.0, "triple(2)"),
        VisibleTest("test_syntax", 1.0, "def broken(:"),
    ], shell)
    assert [o.line() for o in outcomes] == [
        "PASS  test_double  2/2",
        "FAIL  test_wrong  0/1  AssertionError: double(2) should be 5",
        "FAIL  test_missing  0/1  NameError: name 'triple' is not defined",
        "FAIL  test_syntax  0/1  SyntaxError: invalid syntax (<visible test test_syntax>, line 1)",
    ]
    assert shell.user_ns["checked"] is True, "a test cell's assignments stay, as when the cell is run"
    printed = capsys.readouterr()
    assert "checking" not in printed.out and "Traceback" not in printed.out + printed.err


def test_an_interrupt_stops_the_check(shell: InteractiveShell) -> None:
    outcomes = run_visible_tests([VisibleTest("a", 1.0, "raise KeyboardInterrupt"),
                                  VisibleTest("b", 1.0, "ran_b = True")], shell)
    assert [(o.passed, o.detail) for o in outcomes] == [(False, "KeyboardInterrupt"),
                                                        (False, "not run: the check was stopped")]
    assert "ran_b" not in shell.user_ns


def test_figures_a_test_opens_are_closed(shell: InteractiveShell) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kept = plt.figure()
    run_visible_tests([VisibleTest("plots", 1.0, "import matplotlib.pyplot as plt; plt.plot([1, 2])")], shell)
    assert plt.get_fignums() == [kept.number]
    plt.close(kept)


def test_tests_come_from_the_notebook_file_in_order(tmp_path: Path) -> None:
    tests = visible_tests(ROOT / "notebooks" / "01_task_definition.ipynb")
    assert [t.grade_id for t in tests] == ["test_one_hot_descriptors", "test_split_per_class",
                                          "test_sample_task_batch", "test_multitask_loss",
                                          "test_union_of_datasets", "test_inverse_loss_weights"]
    assert sum(t.points for t in tests) == 12
    assert tests[0].exercise == "exercise one_hot_descriptors, section 2 · What is a task?"
    assert tests[-1].exercise == ("exercise inverse_loss_weights, section 7 · Different losses on different "
                                  "scales")
    empty = tmp_path / "empty.ipynb"
    empty.write_text('{"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}')
    with pytest.raises(UsageError, match="no test cells"):
        visible_tests(empty)


def test_the_notebook_is_the_one_jupyterlab_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nb = tmp_path / "mine.ipynb"
    nb.write_text("{}")
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert notebook_path({}) is None
    monkeypatch.setenv("JPY_SESSION_NAME", str(nb))
    assert notebook_path({}) == nb
    assert notebook_path({"__session__": str(tmp_path / "gone.ipynb")}) is None


def test_the_table_says_how_it_checked_and_escapes_reasons() -> None:
    text = report_html([Outcome("test_a", 2.0, True), Outcome("test_b", 1.0, False, "<b>x</b> & y")],
                       Path("/somewhere/01_task_definition.ipynb"),
                       where={"test_b": "exercise b, section 2 · <B>"})
    note = '<br><small class="mtml-exercise">exercise b, section 2 · &lt;B&gt;</small>'
    assert f"<code>test_b</code>{note}" in text
    assert "Visible tests: 2/3 points, 1 of 2 tests pass." in text
    assert '<tr data-grade-id="test_b" data-result="FAIL">' in text and "&lt;b&gt;x&lt;/b&gt; &amp; y" in text
    assert HOW_LIVE in text and "01_task_definition.ipynb" in text and "/somewhere" not in text


def test_the_button_reports_a_notebook_it_cannot_find() -> None:
    box = check_my_work("/nowhere/at/all.ipynb")
    button, report = box.children
    button.click()
    assert report.value.startswith('<p class="mtml-check-error">Could not check:'), report.value
    assert button.description == "Check my work" and not button.disabled


def test_failing_tests_offer_their_exercises_hints_one_at_a_time(shell: InteractiveShell) -> None:
    tests = visible_tests(ROOT / "notebooks" / "01_task_definition.ipynb")
    assert all(len(t.hints) >= 2 for t in tests), "every visible test carries its exercise's hints"
    shell.user_ns["one_hot_descriptors"] = lambda *args: (_ for _ in ()).throw(NotImplementedError())
    first = tests[0]
    outcomes = run_visible_tests([first, VisibleTest("test_fine", 1.0, "assert True")], shell)
    text = report_html(outcomes, Path("01_task_definition.ipynb"),
                       hints={first.grade_id: first.hints, "test_fine": first.hints})
    failing, passing = text.split('data-grade-id="test_fine"')
    assert f"Show a hint (1 of {len(first.hints)})" in failing and "Show a hint" not in passing
    shown = [failing.index(hint.html()) for hint in first.hints]
    assert shown == sorted(shown), "hints appear in order, each inside the disclosure of the one before"
