"""``grade`` and ``check`` end to end on every real instructor notebook, with real nbgrader and kernels.

One batch per assignment (graded once, shared by the tests of this module; the batches and the ``check`` runs
of the module's tests start up front, side by side: see ``runs``) holds six students:
``correct`` (the instructor notebook itself), ``blank`` (the untouched student notebook),
``broken_json`` (not JSON), ``endless`` (the last answer cell replaced by an endless loop that waits),
``dead`` (the first answer cell kills its kernel with ``os._exit``) and, for notebook 01, ``tamper``
(answers that only fool the visible checks, an edited and a deleted test cell: see tamper_notebook).
The classic mistakes of ``classic_mistakes.py``'s end-to-end sample are made in as few students
as possible, ``mistakes_<k>``: each one the solution with several mistakes in *different* exercises, each
checked by a different test (see mistake_groups). Hidden tests decide in the grader on inputs of its own,
so one exercise's mistake cannot cost another exercise's points; the check is exact anyway: the student
loses the points of the tests its mistakes target and keeps every other point, so a mistake that spilled
over onto another exercise's test would still fail it. Grading a notebook is the expensive part (every
cell runs), so grouping grades the 39 mistakes in 18 notebooks instead of 39.
"""

from __future__ import annotations

import csv
import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import nbformat
import pytest
from check_cache import CheckVerdicts
from classic_mistakes import END_TO_END, MISTAKES, Mistake
from conftest import selected_tests, side_by_side

from autograder import COURSE_ROOT
from autograder.course import graded_cells, isolated_environment, list_assignments, source_notebook
from autograder.hints import exercise_labels, hints_by_test

ASSIGNMENTS = list_assignments(COURSE_ROOT)
PARAMS = ASSIGNMENTS or ["<no instructor notebook under autograder/source>"]
NOTEBOOKS_DIR = COURSE_ROOT.parent / "notebooks"
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"
# Long enough for every smoke-profile cell on a busy 2-core machine (the slowest, in 07, takes 4.2 s alone on
# the 2-core reference machine), short enough for the endless loop, which waits for all of it.
CELL_TIMEOUT = 30
# The endless answer waits (sleeps) instead of spinning: what is checked is that the timeout costs only the
# tests that depend on that answer, and a spinning loop would burn one core for CELL_TIMEOUT in every batch.
# The busy loop itself is graded in test_autograder_adversarial.py (endless_loop), with one that swallows
# the interrupt.
ENDLESS = "import time\nwhile True:\n    time.sleep(1)"
# The seven grading runs and the fourteen check runs go RUNS_AT_ONCE at a time, each grading one student at a
# time (GRADE_JOBS): a kernel runs its cells one after another on one torch thread, so one run keeps about one
# core busy, and a third run fills the cores while another waits out its endless student. On the 2-core
# reference machine this module took 268 s (425 CPU-seconds) so, against 348 s (647) with two runs at a time
# and a spinning endless loop, and 580 s with the batches graded one after another, two jobs each; the tests
# of test_autograder_adversarial.py grade with --jobs 2.
RUNS_AT_ONCE = 3
GRADE_JOBS = 1
STUDENTS = ["blank", "broken_json", "correct", "dead", "endless"]
# The tamper student of notebook 01, built from the instructor notebook at test time:
TAMPER_ASSIGNMENT = "01_task_definition"
# passes the visible check (the example [2, 200]) but no hidden one -> 0 for test_inverse_loss_weights
HARD_CODED_WEIGHTS = ("def inverse_loss_weights(initial_losses):\n"
                      "    return torch.tensor([2 * 100 / 101, 2 * 1 / 101])")
# wrong, and its (locked) test cell is replaced by `pass` -> restored from the gradebook, so 0
ZERO_ONE_HOT = "def one_hot_descriptors(task_ids, n_tasks):\n    return torch.zeros(len(task_ids), n_tasks)"
# correct answer, but the test cell test_union_of_datasets is deleted -> added back, full points
TAMPER_ZEROED = ("test_inverse_loss_weights", "test_one_hot_descriptors")


def environment(home: Path) -> dict[str, str]:
    """Child environment: Jupyter/IPython/matplotlib folders in ``home``, smoke profile, local data."""
    env = {**os.environ, **isolated_environment(home, "smoke")}
    if DATA_DIR.is_dir():
        env["MTML_DATA_DIR"] = str(DATA_DIR)
    return env


def answer_cells(nb: nbformat.NotebookNode) -> list[int]:
    return [i for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution", False)]


def cell_with_id(nb: nbformat.NotebookNode, grade_id: str) -> nbformat.NotebookNode:
    """The cell whose nbgrader ``grade_id`` is ``grade_id`` (the test fails when there is none)."""
    found = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
    assert len(found) == 1, f"expected one cell {grade_id!r} in the instructor notebook, found {len(found)}"
    return found[0]


def with_mistakes(source: nbformat.NotebookNode, *mistakes: Mistake) -> nbformat.NotebookNode:
    """The instructor notebook with each of ``mistakes`` made in its answer cell."""
    nb = nbformat.from_dict(source)
    for mistake in mistakes:
        cell = cell_with_id(nb, mistake.answer_id)
        assert cell.metadata["nbgrader"].get("solution"), f"{mistake.answer_id} is not an answer cell"
        count = cell.source.count(mistake.old)
        assert count == 1, f"{mistake.name}: {mistake.old!r} occurs {count} times in {mistake.answer_id}"
        cell.source = cell.source.replace(mistake.old, mistake.new)
    return nb


def end_to_end_mistakes(assignment: str) -> list[Mistake]:
    """The assignment's mistakes graded here, as submissions: the sample of the catalogue listed in
    classic_mistakes.py itself (test_mistake_catalogue.py tries the whole catalogue in one kernel)."""
    return [m for m in MISTAKES.get(assignment, []) if m.name in END_TO_END]


def mistake_groups(assignment: str) -> dict[str, list[Mistake]]:
    """The assignment's classic mistakes in students ``mistakes_<k>``: each mistake goes to the first student
    that has no mistake yet in the same answer cell and none checked by the same test (so every mistake of a
    student must be caught by a test of its own)."""
    groups: list[list[Mistake]] = []
    for mistake in end_to_end_mistakes(assignment):
        apart = (g for g in groups if all(mistake.answer_id != m.answer_id and mistake.test_id != m.test_id
                                          for m in g))
        home = next(apart, None)
        if home is None:
            groups.append(home := [])
        home.append(mistake)
    return {f"mistakes_{k}": group for k, group in enumerate(groups, start=1)}


def students(assignment: str) -> list[str]:
    """Every student id of the assignment's batch."""
    extra = ["tamper", "wrong_assignment"] * (assignment == TAMPER_ASSIGNMENT)
    return sorted(STUDENTS + extra + list(mistake_groups(assignment)))


def tamper_notebook(source: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The instructor notebook with the answers and test cells described at TAMPER."""
    nb = nbformat.from_dict(source)
    cell_with_id(nb, "inverse_loss_weights").source = HARD_CODED_WEIGHTS
    cell_with_id(nb, "one_hot_descriptors").source = ZERO_ONE_HOT
    cell_with_id(nb, "test_one_hot_descriptors").source = "pass"
    nb.cells.remove(cell_with_id(nb, "test_union_of_datasets"))
    return nb


@dataclass
class Batch:
    assignment: str
    returncode: int
    output: str
    rows: dict[str, dict[str, str]]
    columns: list[str]
    seconds: float
    source: nbformat.NotebookNode


def grade_batch(assignment: str, tmp: Path) -> Batch:
    """Hand in the assignment's students (see the module's docstring) and grade them as instructors do."""
    source = nbformat.read(source_notebook(COURSE_ROOT, assignment), as_version=4)
    answers = answer_cells(source)
    assert answers, f"{assignment} has no answer cells"

    def submit(student: str, nb: nbformat.NotebookNode | None = None, text: str | None = None) -> None:
        folder = tmp / "submitted" / student / assignment
        folder.mkdir(parents=True)
        path = folder / f"{assignment}.ipynb"
        path.write_text(text if text is not None else nbformat.writes(nb), encoding="utf-8")

    submit("correct", source)
    submit("blank", text=(NOTEBOOKS_DIR / f"{assignment}.ipynb").read_text(encoding="utf-8"))
    submit("broken_json", text='{"cells": [ this is not JSON')
    endless = nbformat.from_dict(source)
    endless.cells[answers[-1]].source = ENDLESS
    submit("endless", endless)
    dead = nbformat.from_dict(source)
    dead.cells[answers[0]].source = "import os\nos._exit(1)"
    submit("dead", dead)
    if assignment == TAMPER_ASSIGNMENT:
        submit("tamper", tamper_notebook(source))
        # Another assignment's solved notebook under this one's name: refused before it runs.
        other = next(a for a in ASSIGNMENTS if a != assignment)
        submit("wrong_assignment", text=source_notebook(COURSE_ROOT, other).read_text(encoding="utf-8"))
    for student, group in mistake_groups(assignment).items():
        submit(student, with_mistakes(source, *group))

    out = tmp / "grades.csv"
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(tmp / "submitted"), "--assignment", assignment,
         "--jobs", str(GRADE_JOBS), "--out", str(out), "--cell-timeout", str(CELL_TIMEOUT)],
        env=environment(tmp / "home"), capture_output=True, text=True, timeout=1200,
    )
    seconds = time.monotonic() - started
    rows, columns = {}, []
    if out.exists():
        with open(out, newline="") as f:
            reader = csv.DictReader(f)
            columns = list(reader.fieldnames or [])
            rows = {row["student_id"]: row for row in reader}
    print(f"graded {len(rows)} submissions of {assignment} in {seconds:.1f} s")
    return Batch(assignment, proc.returncode, proc.stdout + proc.stderr, rows, columns, seconds, source)


@dataclass
class CheckRun:
    """``python -m autograder check --hints`` on a notebook, as a student runs it."""

    path: Path
    proc: subprocess.CompletedProcess
    unchanged: bool
    """Whether the checked notebook's bytes were the same after the check as before."""


def check_path(assignment: str, which: str) -> Path:
    """The solved (instructor) or blank (released) notebook of ``assignment``."""
    return source_notebook(COURSE_ROOT, assignment) if which == "correct" else \
        NOTEBOOKS_DIR / f"{assignment}.ipynb"


def run_check(assignment: str, which: str, home: Path) -> CheckRun:
    path = check_path(assignment, which)
    before = path.read_bytes()
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(path), "--hints"],
                          env=environment(home), capture_output=True, text=True, timeout=900)
    print(f"check {which} {assignment}: {time.monotonic() - started:.1f} s")
    return CheckRun(path, proc, path.read_bytes() == before)


def wanted_runs(items: list[pytest.Item]) -> list[tuple[str, ...]]:
    """The grading and check runs ``items`` (tests of this module) read, longest first (the batches with
    the most students, then the checks): ``("grade", assignment)`` and ``("check", assignment, which)``.
    (Checks spread between the batches, to start the batches some seconds apart, ended 17 s later: the
    last batch then ran alone, waiting out its endless student.)"""
    wanted: set[tuple[str, ...]] = set()
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if params.get("batch") in ASSIGNMENTS:
            wanted.add(("grade", params["batch"]))
        checks = item.originalname == "test_check_reports_visible_tests"
        if checks and params.get("assignment") in ASSIGNMENTS:
            wanted.add(("check", params["assignment"], params["which"]))
    return sorted(wanted, key=lambda key: (key[0] != "grade", -len(students(key[1])), key))


@pytest.fixture(scope="module")
def runs(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """Every grading and check run the selected tests read, started up front, RUNS_AT_ONCE at a time;
    each test waits for the runs it reads only (``runs[key].result()``)."""
    calls = {}
    for key in wanted_runs(selected_tests(request)):
        tmp = tmp_path_factory.mktemp("-".join(key))
        calls[key] = (partial(grade_batch, key[1], tmp) if key[0] == "grade"
                      else partial(run_check, key[1], key[2], tmp))
    with side_by_side(calls, RUNS_AT_ONCE) as futures:
        yield futures


@pytest.fixture(scope="module", params=PARAMS)
def batch(request: pytest.FixtureRequest, runs: dict) -> Batch:
    if request.param not in ASSIGNMENTS:
        pytest.fail(f"no instructor notebooks under {COURSE_ROOT / 'source'}: nothing to grade")
    return runs[("grade", request.param)].result()


def points(value: str) -> float:
    return float(value)


@pytest.mark.slow
def test_grading_ran_and_wrote_one_row_per_student(batch: Batch) -> None:
    assert batch.returncode == 0, batch.output
    grade_ids = [cell.grade_id for cell in graded_cells(batch.source)]
    assert batch.columns == ["student_id", "assignment", "score", "max_score", *grade_ids, "status"]
    expected = students(batch.assignment)
    assert sorted(batch.rows) == expected
    max_score = sum(cell.points for cell in graded_cells(batch.source))
    for student in expected:
        assert batch.rows[student]["assignment"] == batch.assignment
        assert points(batch.rows[student]["max_score"]) == max_score
        assert student in batch.output  # the printed table
    assert "score" in batch.output and "status" in batch.output


@pytest.mark.slow
def test_correct_notebook_gets_full_marks(batch: Batch) -> None:
    row = batch.rows["correct"]
    tests = [cell for cell in graded_cells(batch.source) if cell.is_test]
    assert row["status"] == "ok", batch.output
    assert {c.grade_id: points(row[c.grade_id]) for c in tests} == {c.grade_id: c.points for c in tests}
    assert points(row["score"]) == sum(c.points for c in tests)


@pytest.mark.slow
@pytest.mark.parametrize("student", ["blank", "broken_json", "dead"])
def test_blank_broken_and_dead_score_zero_on_every_cell(batch: Batch, student: str) -> None:
    row = batch.rows[student]
    assert points(row["score"]) == 0
    for cell in graded_cells(batch.source):
        assert row[cell.grade_id] in ("0", ""), (student, cell.grade_id, row[cell.grade_id])
    expected_status = {"blank": "ok", "broken_json": "not valid notebook JSON", "dead": "kernel died"}
    assert expected_status[student] in row["status"]


@pytest.mark.slow
@pytest.mark.parametrize("batch", [TAMPER_ASSIGNMENT], indirect=True)  # the student exists there only
def test_another_assignments_notebook_scores_zero_and_says_so(batch: Batch) -> None:
    row = batch.rows["wrong_assignment"]
    assert points(row["score"]) == 0
    assert "wrong notebook: none of its tests" in row["status"] and f"{batch.assignment}'s" in row["status"]


@pytest.mark.slow
@pytest.mark.parametrize("batch", [TAMPER_ASSIGNMENT], indirect=True)  # the tamper student exists there only
def test_hidden_tests_run_and_tampered_test_cells_gain_nothing(batch: Batch) -> None:
    row = batch.rows["tamper"]
    tests = [cell for cell in graded_cells(batch.source) if cell.is_test]
    expected = {c.grade_id: 0.0 if c.grade_id in TAMPER_ZEROED else c.points for c in tests}
    assert {c.grade_id: points(row[c.grade_id]) for c in tests} == expected, batch.output
    max_score = sum(cell.points for cell in graded_cells(batch.source))
    lost = sum(c.points for c in tests if c.grade_id in TAMPER_ZEROED)
    assert points(row["score"]) == max_score - lost
    assert row["status"] == "ok"


@pytest.mark.slow
def test_each_classic_mistake_loses_exactly_the_points_of_its_test(batch: Batch) -> None:
    groups = mistake_groups(batch.assignment)
    assert groups, f"tests/classic_mistakes.py lists no classic mistake for {batch.assignment}"
    tests = [cell for cell in graded_cells(batch.source) if cell.is_test]
    for student, group in groups.items():
        row = batch.rows[student]
        targeted = {mistake.test_id: mistake for mistake in group}
        expected = {c.grade_id: 0.0 if c.grade_id in targeted else c.points for c in tests}
        got = {c.grade_id: points(row[c.grade_id]) for c in tests}
        kept = {f"{targeted[t].name!r} ({targeted[t].why})" for t in targeted if got[t] != 0.0}
        assert not kept, f"{student}: mistakes that keep their points: {sorted(kept)}\n{batch.output}"
        names = [m.name for m in group]
        assert got == expected, f"{student} {names}: lost points elsewhere: {got}\n{batch.output}"
        assert row["status"] == "ok"


def test_mistakes_are_grouped_one_per_exercise_and_test_and_none_is_lost() -> None:
    for assignment in MISTAKES:
        mistakes = end_to_end_mistakes(assignment)
        groups = mistake_groups(assignment)
        assert sorted(m.name for g in groups.values() for m in g) == sorted(m.name for m in mistakes)
        for group in groups.values():
            assert len({m.answer_id for m in group}) == len({m.test_id for m in group}) == len(group)
        # as few students as the busiest exercise (or test) allows
        busiest = max(max(Counter(m.answer_id for m in mistakes).values()),
                      max(Counter(m.test_id for m in mistakes).values()))
        assert len(groups) == busiest, (assignment, {k: [m.name for m in g] for k, g in groups.items()})


@pytest.mark.parametrize("assignment", sorted(MISTAKES))
def test_classic_mistakes_name_real_cells_and_change_the_solution(assignment: str) -> None:
    assert assignment in ASSIGNMENTS, f"classic_mistakes.py names {assignment}, not an instructor notebook"
    source = nbformat.read(source_notebook(COURSE_ROOT, assignment), as_version=4)
    for mistake in MISTAKES[assignment]:
        assert cell_with_id(source, mistake.test_id).metadata["nbgrader"].get("grade")
        before = cell_with_id(source, mistake.answer_id).source
        assert cell_with_id(with_mistakes(source, mistake), mistake.answer_id).source != before


@pytest.mark.slow
def test_endless_answer_loses_only_the_tests_that_depend_on_it(batch: Batch) -> None:
    answers = answer_cells(batch.source)
    last = answers[-1]
    cells = batch.source.cells
    lost = []
    for cell in cells[last + 1:]:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution", False):
            break
        if cell.cell_type == "code" and meta.get("grade", False):
            lost.append(meta["grade_id"])
    assert lost, "the last answer cell should be followed by a test cell"
    row = batch.rows["endless"]
    tests = [cell for cell in graded_cells(batch.source) if cell.is_test]
    expected = {c.grade_id: 0.0 if c.grade_id in lost else c.points for c in tests}
    assert {c.grade_id: points(row[c.grade_id]) for c in tests} == expected, batch.output
    assert row["status"] == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("assignment", PARAMS)
@pytest.mark.parametrize("which", ["correct", "blank"])
def test_check_reports_visible_tests(assignment: str, which: str, runs: dict,
                                     check_verdicts: CheckVerdicts) -> None:
    if assignment not in ASSIGNMENTS:
        pytest.fail("no instructor notebooks under autograder/source")
    student_version = NOTEBOOKS_DIR / f"{assignment}.ipynb"
    checked: CheckRun = runs[("check", assignment, which)].result()
    path, proc = checked.path, checked.proc
    released = nbformat.read(student_version, as_version=4)
    visible = [c for c in graded_cells(released) if c.is_test]
    hints, where = hints_by_test(released), exercise_labels(released)
    verdict = "PASS" if which == "correct" else "FAIL"
    for cell in visible:
        earned = cell.points if which == "correct" else 0
        line = f"{verdict}  {cell.grade_id}  {earned:g}/{cell.points:g}"
        assert line in proc.stdout, proc.stdout + proc.stderr
        # A failing test is followed by where its exercise is, then (--hints) its hints in order; a passing
        # one by neither.
        after = proc.stdout.split(line, 1)[1].splitlines()[1:]
        if which == "blank":
            assert after[0].strip() == f"in: {where[cell.grade_id]}", proc.stdout
            shown = [text.strip() for text in after[1: 1 + len(hints[cell.grade_id])]]
            assert shown == [hint.plain() for hint in hints[cell.grade_id]], proc.stdout
    if which == "correct":
        assert "Hint 1" not in proc.stdout and "in: exercise" not in proc.stdout, "for failing tests only"
    assert (proc.returncode == 0) == (which == "correct"), proc.stdout + proc.stderr
    assert checked.unchanged, f"check changed {path}"
    lines = re.finditer(r"^(?P<verdict>PASS|FAIL)  (?P<id>\S+)  ", proc.stdout, re.MULTILINE)
    verdicts = {m["id"]: m["verdict"] for m in lines}
    assert sorted(verdicts) == sorted(c.grade_id for c in visible)
    check_verdicts.record(path, verdicts)  # the browser tests run this same code in JupyterLab


def test_check_verdicts_are_shared_only_between_notebooks_with_the_same_code(tmp_path: Path) -> None:
    """The browser tests reuse the CLI check's verdicts for the notebook JupyterLab saved: outputs, markdown
    and cell ids may differ, code or a test's points may not."""
    source = nbformat.read(NOTEBOOKS_DIR / f"{ASSIGNMENTS[0]}.ipynb", as_version=4)
    known = CheckVerdicts()
    known.record(NOTEBOOKS_DIR / f"{ASSIGNMENTS[0]}.ipynb", {"test_x": "FAIL"})
    ran = nbformat.from_dict(source)
    code = [c for c in ran.cells if c.cell_type == "code"]
    code[0].outputs = [nbformat.v4.new_output("stream", name="stdout", text="ran\n")]
    code[0].execution_count = 1
    next(c for c in ran.cells if c.cell_type == "markdown").source += "\nedited text"
    for cell in ran.cells:
        cell.id = f"x{cell.id}"[:64]
    nbformat.write(ran, tmp_path / "ran.ipynb")
    assert known.get(tmp_path / "ran.ipynb") == {"test_x": "FAIL"}
    graded = next(c for c in code if c.metadata.get("nbgrader", {}).get("grade"))
    for change in ("source", "points"):
        other = nbformat.from_dict(ran)
        cell = next(c for c in other.cells if c.id == graded.id)
        if change == "source":
            cell.source += "\nx = 1"
        else:
            cell.metadata["nbgrader"]["points"] += 1
        nbformat.write(other, tmp_path / f"{change}.ipynb")
        assert known.get(tmp_path / f"{change}.ipynb") is None, change
