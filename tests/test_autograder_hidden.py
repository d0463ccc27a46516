"""Hidden tests that decide in the grader: every course test cell has one, the wire format carries only
plain data, verdicts and feedback say why a test failed without leaking anything."""

from __future__ import annotations

import base64
import io
import json
import pickle
import tempfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from autograder import COURSE_ROOT, wire
from autograder.course import copy_course, graded_cells, list_assignments, load_notebook, nbgrader_api
from autograder.feedback import feedback_html
from autograder.hidden import (
    GRADING_MODULE,
    load_hidden_tests,
    probe_source,
    read_probe_result,
    run_hidden_test,
    with_reference,
)
from autograder.hints import exercise_labels
from autograder.results import GradeRow
from autograder.worker import GradeResult

ASSIGNMENTS = list_assignments(COURSE_ROOT)


@pytest.mark.parametrize("assignment", ASSIGNMENTS)
def test_every_test_cell_has_a_hidden_test_and_no_test_runs_in_the_kernel(assignment: str) -> None:
    folder = COURSE_ROOT / "source" / assignment
    tests = load_hidden_tests(folder / GRADING_MODULE)
    nb = load_notebook(folder / f"{assignment}.ipynb")
    cells = [c.grade_id for c in graded_cells(nb) if c.is_test]
    assert sorted(tests) == sorted(cells), f"{assignment}: grading.py functions differ from the test cells"
    assert not [c for c in nb.cells if "BEGIN HIDDEN TESTS" in c.source], \
        f"{assignment}: a hidden block in a test cell would run in the student's kernel"


def test_hidden_tests_never_reach_a_release() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        course = copy_course(COURSE_ROOT, Path(tmp) / "course", ["01_task_definition"])
        result = nbgrader_api(course).generate_assignment("01_task_definition", force=True, create=True)
        assert result["success"]
        released = sorted(p.name for p in (course / "release" / "01_task_definition").iterdir())
    assert released == ["01_task_definition.ipynb"]


def test_wire_round_trips_plain_data_and_tensors() -> None:
    value = {"t": torch.arange(6, dtype=torch.int64).view(2, 3), "g": torch.ones(2, requires_grad=True),
             "h": torch.tensor(1.5, dtype=torch.bfloat16), "a": np.eye(2), "k": (1, "x", None, [True]),
             "nan": float("nan"), "big": 2**70}
    back = wire.loads(wire.dumps(value))
    assert torch.equal(back["t"], value["t"]) and back["t"].dtype == torch.int64
    assert back["g"].requires_grad and back["h"].dtype == torch.bfloat16 and back["h"].dim() == 0
    assert np.array_equal(back["a"], np.eye(2)) and back["k"] == (1, "x", None, [True])
    assert np.isnan(back["nan"]) and back["big"] == 2**70


def test_wire_sends_only_numbers_of_a_tensor_subclass_and_refuses_other_objects() -> None:
    class Fake(torch.Tensor):
        def __eq__(self, other):  # noqa: D105 - the trick under test
            return True

    back = wire.loads(wire.dumps(torch.zeros(2).as_subclass(Fake)))
    assert type(back) is torch.Tensor and not torch.equal(back, torch.ones(2))

    class Anything:
        def __eq__(self, other):
            return True

    with pytest.raises(TypeError, match="Anything"):
        wire.dumps([Anything()])
    with pytest.raises(TypeError):
        wire.dumps(np.array([Anything()], dtype=object))


@pytest.mark.parametrize("payload", [
    json.dumps({"__ndarray__": base64.b64encode(pickle.dumps([1, 2])).decode()}),
    json.dumps({"__evil__": 1}),
    json.dumps({"__tensor__": "", "dtype": "object", "requires_grad": False, "device": "cpu"}),
    "[" * 100_000 + "]" * 100_000,
    "NaN",
    json.dumps(list(range(3))) * 2,
])
def test_wire_refuses_anything_it_does_not_write(payload: str) -> None:
    with pytest.raises(wire.WireError):
        wire.loads(payload)


def test_object_arrays_never_load() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(wire.WireError):
        wire.loads(json.dumps({"__ndarray__": base64.b64encode(buffer.getvalue()).decode()}))


def test_a_probe_runs_as_a_function_and_its_result_is_read_back() -> None:
    namespace: dict = {}
    outputs = []

    def fake_display(data, raw=True):  # stands in for IPython's display in this process
        outputs.append({"output_type": "display_data", "data": data})

    import IPython.display

    original = IPython.display.display
    IPython.display.display = fake_display
    try:
        code = probe_source("result = {'twice': inputs['x'] * 2}", wire.dumps({"x": torch.ones(2)}), 0)
        exec(code, namespace)
    finally:
        IPython.display.display = original
    assert "_mtml_probe" not in namespace and "result" not in namespace
    assert torch.equal(read_probe_result(outputs)["twice"], torch.full((2,), 2.0))


def test_verdicts_say_why_in_one_line() -> None:
    def failing(t):
        t.run("result = 1")
        raise AssertionError("weights must be\ndetached")

    def raising_in_kernel(t):
        t.run("result = f()")

    ok = [{"output_type": "display_data", "data": {wire.MIME: {"payload": "1"}}}]
    error = [{"output_type": "error", "ename": "NotImplementedError", "evalue": "",
              "traceback": ["secret line"]}]
    assert run_hidden_test(failing, "t1", lambda source: ok).reason == "weights must be detached"
    verdict = run_hidden_test(raising_in_kernel, "t2", lambda source: error)
    assert not verdict.passed and "NotImplementedError" in verdict.reason and "secret" not in verdict.reason
    assert run_hidden_test(lambda t: t.run("result = 1"), "t3", lambda source: []).passed is False


def test_feedback_shows_reasons_escaped_and_no_code() -> None:
    nb = load_notebook(COURSE_ROOT / "source" / "01_task_definition" / "01_task_definition.ipynb")
    cells = graded_cells(nb)
    row = GradeRow("alice", "01_task_definition", cells, {c.grade_id: 0.0 for c in cells})
    page = feedback_html(GradeResult(row, {cells[0].grade_id: "rows must be <rows> of the identity"}),
                         exercise_labels(nb))
    assert "rows must be &lt;rows&gt; of the identity" in page and "0 / 12" in page
    assert "exercise one_hot_descriptors, section 2 · What is a task?" in page, "where to look, for each test"
    source = (COURSE_ROOT / "source" / "01_task_definition" / GRADING_MODULE).read_text()
    assert "torch.eye" in source and "torch.eye" not in page and "def test_" not in page


def test_a_merged_grades_file_keeps_other_rows_and_adds_new_columns(tmp_path: Path) -> None:
    from autograder.course import GradedCell
    from autograder.results import merge_csv, read_grades_csv, write_csv

    one = [GradedCell("t1", 1.0, True)]
    out = tmp_path / "grades.csv"
    write_csv([GradeRow("bo", "a1", one, {"t1": 0.0}), GradeRow("cy", "a1", one, {"t1": 1.0})], out)
    cy = out.read_text().splitlines()[2]
    two = [GradedCell("t2", 2.0, True)]
    merge_csv([GradeRow("bo", "a1", one, {"t1": 1.0}), GradeRow("al", "a2", two, {"t2": 2.0}, "ok")], out)
    columns, rows = read_grades_csv(out)
    assert columns == ["student_id", "assignment", "score", "max_score", "t1", "t2", "status"]
    assert [(r["student_id"], r["score"], r["t1"], r["t2"]) for r in rows] == [
        ("al", "2", "", "2"), ("bo", "1", "1", ""), ("cy", "1", "1", "")]
    assert out.read_text().splitlines()[3] == cy.replace(",ok", ",,ok")  # cy as before, t2 empty
    (tmp_path / "other.csv").write_text("student,points\nal,3\n")
    with pytest.raises(ValueError, match="not a grades file"):
        read_grades_csv(tmp_path / "other.csv")


def test_a_reference_function_stands_in_during_the_calls_and_the_students_comes_back() -> None:
    """A probe of an exercise that calls an earlier one runs with a correct earlier function; afterwards (even
    when the calls raise) the kernel holds the student's function again."""
    namespace: dict = {}
    exec("def double(x):\n    return x + 1\ndef quadruple(x):\n    return double(double(x))", namespace)
    students = namespace["double"]
    definitions = "def double(x):\n    return 2 * x\ndef unused():\n    pass"
    for calls, raised in [("result = quadruple(3)", None),
                          ("result = quadruple(3)\nraise KeyError(result)", KeyError)]:
        body = textwrap.indent(with_reference(definitions, calls), "    ")
        probe = f"def probe():\n    result = None\n{body}\n    return result"
        exec(probe, namespace)
        if raised is None:
            assert namespace["probe"]() == 12, "quadruple ran with the reference double"
        else:
            with pytest.raises(raised, match="12"):
                namespace["probe"]()
        assert namespace["double"] is students and "unused" not in namespace and "_students" not in namespace
    with pytest.raises(ValueError, match="at least one function"):
        with_reference("x = 1", "result = x")
