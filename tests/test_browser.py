"""The course as students meet it: every notebook opened in a real JupyterLab, in a real browser.

For each notebook, the blank student version (``notebooks/``) and a solved one (the instructor source)
are opened in one JupyterLab server started as ``make lab`` starts it, run with Run ▸ Run All Cells in
the ``smoke`` profile, saved, and checked with the "Check my work" button at their end. The tests
assert what a student would see: no error but the ``NotImplementedError`` of exercises not done yet;
every figure rendered as an image; the widget controls rendered and reacting to input; progress bars
rendered; the button's table failing the blank notebook, passing the solved one, and agreeing test by
test with ``python -m autograder check`` on the saved file. A screenshot of each run is kept in
``test-artifacts/browser/`` (``MTML_TEST_ARTIFACTS`` moves it). The sessions start up front, two browsers
side by side on the one server (see ``sessions``); each test asserts on what its own session saw.

Chromium: Debian's package, installed by the first browser test when missing and the tests run as root;
otherwise these tests are skipped with the reason (see ``tests/lab_browser.py``).
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from check_cache import CheckVerdicts
from conftest import selected_tests
from lab_browser import (
    JS_DOM_COUNTS,
    LabServer,
    find_or_install_chromium,
    move_sliders_and_redraw,
    open_and_run_all,
    pages_side_by_side,
    press_check_my_work,
    saved_run,
)
from run_all import artifacts_folder

from autograder.check import check_notebook
from autograder.course import source_notebook

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(path.stem for path in (ROOT / "notebooks").glob("*.ipynb"))
ARTIFACTS = artifacts_folder() / "browser"

#: After Run All of the solved notebook in the smoke profile: figures drawn, and widget controls
#: (sliders; buttons besides "Check my work"). A notebook that gains or loses a figure updates this line.
EXPECTED: dict[str, dict[str, int]] = {
    "01_task_definition": {"images": 5, "sliders": 0, "buttons": 0},
    "02_mtl_conditioning": {"images": 9, "sliders": 0, "buttons": 0},
    "03_negative_transfer": {"images": 7, "sliders": 2, "buttons": 1},
    "04_fine_tuning": {"images": 6, "sliders": 0, "buttons": 0},
    "05_blackbox_meta_learning": {"images": 7, "sliders": 0, "buttons": 0},
    "06_maml_hessian": {"images": 4, "sliders": 0, "buttons": 0},
    "07_nonparametric_meta_learning": {"images": 3, "sliders": 0, "buttons": 0},
}

pytestmark = pytest.mark.slow


def test_every_notebook_has_its_expected_counts() -> None:
    assert sorted(EXPECTED) == NOTEBOOKS, "each notebook needs its line in EXPECTED"


@pytest.fixture(scope="module")
def chromium() -> str:
    path, reason = find_or_install_chromium()
    if path is None:
        pytest.skip(f"browser tests skipped: {reason}")
    return path


@pytest.fixture(scope="module")
def lab_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``student/<nb>.ipynb`` (the released, blank notebooks) and ``solved/<nb>.ipynb`` (the sources)."""
    root = tmp_path_factory.mktemp("lab_root")
    (root / "student").mkdir()
    (root / "solved").mkdir()
    for name in NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", root / "student" / f"{name}.ipynb")
        shutil.copy(source_notebook(ROOT / "autograder", name), root / "solved" / f"{name}.ipynb")
    return root


@pytest.fixture(scope="module")
def server(lab_root: Path, omniglot_data_dir: Path, tmp_path_factory: pytest.TempPathFactory,
           chromium: str) -> Iterator[LabServer]:
    env = {"MTML_PROFILE": "smoke", "MTML_DATA_DIR": str(omniglot_data_dir), "MTML_OFFLINE": "1"}
    lab = LabServer(lab_root, tmp_path_factory.mktemp("lab_state"), env).start()
    try:
        yield lab
    finally:
        lab.stop()
    assert lab.proc is not None and lab.proc.returncode is not None, "the JupyterLab server is still running"


#: Browser lanes side by side (see pages_side_by_side): on the 2-core reference machine one lane kept the CPU
#: 62 % busy (257 s for the module alone); two kept it 95 % busy until the last session ended (195 s).
LANES = 2


def _press_and_keep(page: Any, screenshot: str) -> tuple[dict[str, str], list[str]]:
    """Press Check my work and keep a screenshot of the table; the table and each row's exercise note."""
    table = press_check_my_work(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{screenshot}.png"))
    notes = page.locator(".mtml-check-my-work tr[data-grade-id] .mtml-exercise").all_text_contents()
    return table, notes


def run_blank(page: Any, server: LabServer, name: str) -> dict[str, Any]:
    """A student's first look at the blank notebook: Run All, save, Check my work, open the first hint of
    the first failing row. Returns what the page showed (the test asserts on it and on the saved file)."""
    notebook = f"student/{name}.ipynb"
    try:
        open_and_run_all(page, server, notebook)
        table, notes = _press_and_keep(page, f"{name}_student")
        seen: dict[str, Any] = {"table": table, "notes": notes}
        failing = page.locator('.mtml-check-my-work tr[data-result="FAIL"]')
        seen["failing_rows"] = failing.count()
        if seen["failing_rows"]:
            first = failing.first.locator("details.mtml-hint").first
            first.locator("summary").first.click()
            seen["first_hint_open"] = first.evaluate("d => d.open")
            seen["first_hint_text"] = first.inner_text()
            seen["failing_hints"] = failing.locator("details.mtml-hint").count()
        seen["counts"] = page.evaluate(JS_DOM_COUNTS)
        return seen
    finally:
        server.shut_down_kernel_of(notebook)


def run_solved(page: Any, server: LabServer, name: str) -> dict[str, Any]:
    """The solved notebook: Run All, save, count what is shown, move the sliders of its interactive
    figures, Check my work. Returns what the page showed."""
    notebook = f"solved/{name}.ipynb"
    try:
        open_and_run_all(page, server, notebook)
        seen: dict[str, Any] = {"counts": page.evaluate(JS_DOM_COUNTS)}
        if EXPECTED[name]["sliders"]:
            seen["sliders_moved"] = move_sliders_and_redraw(page)
        seen["table"], seen["notes"] = _press_and_keep(page, f"{name}_solved")
        seen["hints"] = page.locator(".mtml-check-my-work details.mtml-hint").count()
        return seen
    finally:
        server.shut_down_kernel_of(notebook)


def wanted_sessions(items: list[pytest.Item]) -> list[tuple[str, str]]:
    """The browser sessions ``items`` (tests of this module) read, ``("solved" | "student", notebook)``,
    in the order they start: the solved notebooks first, later notebooks first (the longer runs)."""
    kinds = {"test_solved_notebook": "solved", "test_blank_student_notebook": "student"}
    wanted = {(kinds[item.originalname], item.callspec.params["name"]) for item in items
              if item.originalname in kinds}
    return sorted(sorted(wanted, reverse=True), key=lambda key: key[0] != "solved")


@pytest.fixture(scope="module")
def sessions(request: pytest.FixtureRequest, chromium: str, server: LabServer) -> Iterator[dict]:
    """Every browser session the selected tests read, started up front, LANES at a time; each test waits
    for its own session only."""
    calls = {(kind, name): partial(run_solved if kind == "solved" else run_blank, server=server, name=name)
             for kind, name in wanted_sessions(selected_tests(request))}
    with pages_side_by_side(chromium, calls, LANES) as futures:
        yield futures


def _check_in_terminal(path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                       known: CheckVerdicts) -> dict[str, str]:
    """What ``python -m autograder check`` says about the saved notebook, as ``{grade_id: PASS | FAIL}``:
    what it said about the same code earlier in the session (test_check_reports_visible_tests checks the
    same two notebooks on the command line), else a check run now.

    ``data_dir`` is the read-only shared Omniglot folder, as in grading: the sandboxed kernel runs as a
    user of its own and could not read a pytest folder only root may enter.
    """
    if (verdicts := known.get(path)) is not None:
        return verdicts
    monkeypatch.setenv("MTML_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MTML_OFFLINE", "1")
    outcomes = check_notebook(path, profile="smoke", cell_timeout=120, echo=lambda line: None)
    return {o.grade_id: "PASS" if o.passed else "FAIL" for o in outcomes}


def _assert_table_agrees(seen: dict[str, Any], server: LabServer, notebook: str, data_dir: Path,
                         monkeypatch: pytest.MonkeyPatch, known: CheckVerdicts) -> dict[str, str]:
    """Assert that the button's table says what ``python -m autograder check`` says about the saved
    notebook, test by test, and that every row names its exercise; returns the table."""
    table, notes = seen["table"], seen["notes"]
    assert table == _check_in_terminal(server.root_dir / notebook, data_dir, monkeypatch, known)
    assert len(notes) == len(table) and all(n.startswith("exercise ") and ", section " in n for n in notes), \
        f"every row says which exercise and section it checks: {notes}"
    return table


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_blank_student_notebook(name: str, server: LabServer, sessions: dict, omniglot_dir: Path,
                                monkeypatch: pytest.MonkeyPatch, check_verdicts: CheckVerdicts) -> None:
    notebook = f"student/{name}.ipynb"
    seen = sessions[("student", name)].result()
    saved = saved_run(server.root_dir / notebook)
    assert any(ename == "NotImplementedError" for _, ename, _ in saved.errors), (
        f"{name}: no exercise raised NotImplementedError in the blank notebook")
    assert saved.unexplained_errors() == [], (
        f"{name}: errors not caused by an unanswered exercise (cell index, name, message)")
    # Experiments waiting for an exercise say which, in one line; the exercises' own cells fail loudly.
    unlock = saved.unlock_lines()
    assert unlock, f"{name}: no experiment names the exercise it waits for"
    loud = {i for i, _, _ in saved.errors if saved.roles[i] != "other"}
    assert loud and all(len(saved.tracebacks[i]) > 1 for i in loud), f"{name}: a test cell lost its traceback"
    tracebacks = {i for i, _ in saved.tracebacks.items() if saved.roles[i] == "other" and i not in unlock}
    assert not tracebacks, f"{name}: experiment cells still end in a traceback: {sorted(tracebacks)}"
    table = _assert_table_agrees(seen, server, notebook, omniglot_dir, monkeypatch, check_verdicts)
    assert "FAIL" in table.values(), f"{name}: the blank notebook passes every visible test: {table}"
    # Each failing row offers its exercise's first hint; opening it offers the next one.
    assert seen["failing_rows"] == list(table.values()).count("FAIL")
    assert seen["first_hint_open"] and "Hint 1" in seen["first_hint_text"]
    assert "Next hint (2 of" in seen["first_hint_text"], f"{name}: the first hint does not offer the next one"
    assert seen["failing_hints"] >= 2 * seen["failing_rows"], f"{name}: rows without hints"
    assert seen["counts"]["widget_errors"] == 0


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_solved_notebook(name: str, server: LabServer, sessions: dict, omniglot_dir: Path,
                         monkeypatch: pytest.MonkeyPatch, check_verdicts: CheckVerdicts) -> None:
    notebook = f"solved/{name}.ipynb"
    seen = sessions[("solved", name)].result()
    saved = saved_run(server.root_dir / notebook)
    assert saved.errors == [], f"{name}: the solved notebook shows errors (cell index, name): {saved.errors}"
    counts = seen["counts"]
    assert counts["images"] == saved.images + counts["widget_images"], (
        f"{name}: {saved.images} saved, {counts['widget_images']} in widgets, {counts['images']} shown")
    expected = EXPECTED[name]
    assert {key: counts[key] for key in expected} == expected
    assert counts["widget_errors"] == 0, f"{name}: a widget failed to render"
    assert counts["check_buttons"] == 1, f"{name}: the Check my work button is not shown"
    assert counts["progress_bars_seen"] > 0, f"{name}: no progress bar was rendered during Run All"
    if expected["sliders"]:
        assert seen["sliders_moved"] >= 1, f"{name}: its sliders are in no interactive widget"
    table = _assert_table_agrees(seen, server, notebook, omniglot_dir, monkeypatch, check_verdicts)
    assert set(table.values()) == {"PASS"}, f"{name}: visible tests fail on the solved notebook: {table}"
    assert seen["hints"] == 0, "hints offered on passes"
