"""The whole classic-mistake catalogue, graded in one kernel per notebook (see catalogue_kernel.py).

For every variant of ``tests/classic_mistakes.py``: a mistake must fail its own hidden test and no other
(it loses exactly that test's points), a valid alternative must pass every hidden test and its visible
test (full marks). The share of mistakes that the *visible* tests already catch — what a student sees with
Check my work before submitting — is printed per notebook and over the catalogue, and may not fall below
75 %. ``test_autograder_grade.py`` grades a sample of the same mistakes end to end, as submissions
(``mistakes_<k>`` students, the :data:`classic_mistakes.END_TO_END` sample), and holds them to the same
verdict (exactly the target test's points lost): the shortcut taken here and real grading agree on them.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import nbformat
import pytest
from catalogue_kernel import Outcome, try_catalogue
from classic_mistakes import ALTERNATIVES, MISTAKES
from forgeries import FORGERIES

from autograder import COURSE_ROOT
from autograder.course import list_assignments, source_notebook

ASSIGNMENTS = list_assignments(COURSE_ROOT)
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"
# Every notebook's visible tests must catch at least this share of its catalogued mistakes (a student who
# passes Check my work has then ruled out most of the mistakes the hidden tests look for).
VISIBLE_CATCH_FLOOR = 0.75
# Every exercise (answer cell) has at least this many catalogued mistakes and valid alternatives.
MIN_MISTAKES, MIN_ALTERNATIVES = 5, 2
# Kernels run side by side by the catalogue fixture (one per notebook, each on one core).
KERNELS_AT_ONCE = 2
VARIANT_LISTS = (MISTAKES, ALTERNATIVES, FORGERIES)


class Catalogue:
    """Every variant's :class:`Outcome`, per assignment, and what the untouched solution got."""

    def __init__(self) -> None:
        self.setup_errors: dict[str, dict[int, str]] = {}
        self.baseline: dict[str, dict[str, str]] = {}
        self.mistakes: dict[str, dict[str, Outcome]] = {}
        self.alternatives: dict[str, dict[str, Outcome]] = {}
        self.forgeries: dict[str, dict[str, Outcome]] = {}


@pytest.fixture(scope="module")
def catalogue(tmp_path_factory: pytest.TempPathFactory) -> Catalogue:
    found = Catalogue()
    # Two kernels at a time: each runs torch on one thread (the notebooks' setup() on 2 cores) and its cells
    # one after another, so one kernel keeps one core busy (measured: 103 % CPU in one at a time, 146 s).
    # Each in a process of its own, as the grader runs each student's hidden tests: they seed and draw from
    # the process's global random generators (autograder.hidden.run_hidden_test), which two assignments'
    # tests in threads of one process would share (a reference model drawn from the other's stream).
    spawn = multiprocessing.get_context("spawn")  # a fresh interpreter: nothing of pytest's torch state
    with ProcessPoolExecutor(max_workers=KERNELS_AT_ONCE, mp_context=spawn) as pool:
        # The notebooks with the most variants first, so that no kernel ends alone with a long list.
        most_first = sorted(ASSIGNMENTS, key=lambda a: -sum(len(v.get(a, [])) for v in VARIANT_LISTS))
        futures = {a: pool.submit(try_catalogue, a, tmp_path_factory.mktemp(f"catalogue-{a}"), DATA_DIR)
                   for a in most_first}
        for assignment, future in futures.items():
            (found.setup_errors[assignment], found.baseline[assignment], found.mistakes[assignment],
             found.alternatives[assignment], found.forgeries[assignment]) = future.result()
    return found


@pytest.mark.slow
def test_every_solution_runs_and_passes_its_hidden_tests_in_one_kernel(catalogue: Catalogue) -> None:
    assert ASSIGNMENTS, "no instructor notebooks to run"
    for assignment in ASSIGNMENTS:
        assert catalogue.setup_errors[assignment] == {}, (assignment, catalogue.setup_errors[assignment])
        assert catalogue.baseline[assignment] == {}, (assignment, catalogue.baseline[assignment])


@pytest.mark.slow
def test_each_mistake_fails_its_own_hidden_test_and_no_other(catalogue: Catalogue) -> None:
    wrong = []
    for assignment, outcomes in catalogue.mistakes.items():
        for mistake in MISTAKES.get(assignment, []):
            failed = outcomes[mistake.name].hidden_failed
            if set(failed) != {mistake.test_id}:
                wrong.append(f"{assignment} {mistake.name!r} ({mistake.why}): hidden tests failed {failed}, "
                             f"expected only {mistake.test_id}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_each_valid_alternative_keeps_full_marks(catalogue: Catalogue) -> None:
    assert any(ALTERNATIVES.values()), "tests/classic_mistakes.py lists no valid alternative"
    wrong = []
    for assignment, outcomes in catalogue.alternatives.items():
        for alternative in ALTERNATIVES.get(assignment, []):
            outcome = outcomes[alternative.name]
            if outcome.answer_error or outcome.hidden_failed or outcome.visible_failed:
                wrong.append(f"{assignment} {alternative.name!r} ({alternative.why}): {outcome}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.slow
def test_a_patched_raises_never_rescues_a_missing_check(catalogue: Catalogue) -> None:
    """tests/forgeries.py: the exercise whose check is missing loses its points although the kernel's
    raises() was patched to report the check as done."""
    assert any(FORGERIES.values()), "tests/forgeries.py lists no forgery"
    rescued = []
    for assignment, forgeries in FORGERIES.items():
        for forgery in forgeries:
            outcome = catalogue.forgeries[assignment][forgery.name]
            if outcome.answer_error or forgery.test_id not in outcome.hidden_failed:
                rescued.append(f"{assignment} {forgery.name!r} ({forgery.why}): {outcome}")
    assert not rescued, "\n".join(rescued)


@pytest.mark.slow
def test_visible_tests_catch_rate_is_printed_and_kept(catalogue: Catalogue) -> None:
    caught_total = total = 0
    below = []
    for assignment in ASSIGNMENTS:
        mistakes = MISTAKES.get(assignment, [])
        outcomes = catalogue.mistakes[assignment]
        caught = [m.name for m in mistakes if m.test_id in outcomes[m.name].visible_failed]
        rate = len(caught) / len(mistakes) if mistakes else 1.0
        print(f"{assignment}: the visible tests catch {len(caught)} of {len(mistakes)} classic mistakes "
              f"({rate:.0%}); missed: {sorted(set(m.name for m in mistakes) - set(caught))}")
        caught_total, total = caught_total + len(caught), total + len(mistakes)
        if rate < VISIBLE_CATCH_FLOOR:
            below.append(f"{assignment}: {rate:.0%} < {VISIBLE_CATCH_FLOOR:.0%}")
    print(f"over the catalogue: {caught_total} of {total} ({caught_total / max(total, 1):.0%})")
    assert not below, below


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_exercise_has_five_mistakes_and_two_alternatives(assignment: str) -> None:
    nb = nbformat.read(source_notebook(COURSE_ROOT, assignment), as_version=4)
    answers = [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    assert answers, f"{assignment} has no exercise"
    mistakes, alternatives = MISTAKES.get(assignment, []), ALTERNATIVES.get(assignment, [])
    thin = {a: (sum(m.answer_id == a for m in mistakes), sum(v.answer_id == a for v in alternatives))
            for a in answers}
    thin = {a: n for a, n in thin.items() if n[0] < MIN_MISTAKES or n[1] < MIN_ALTERNATIVES}
    assert not thin, (f"exercises with fewer than {MIN_MISTAKES} mistakes or {MIN_ALTERNATIVES} alternatives "
                      f"(mistakes, alternatives): {thin}")
    names = [v.name for v in [*mistakes, *alternatives]]
    assert len(names) == len(set(names)), "variant names must be unique within a notebook"
    unknown = {v.answer_id for v in [*mistakes, *alternatives]} - set(answers)
    assert not unknown, f"variants of cells that are not answer cells: {unknown}"
