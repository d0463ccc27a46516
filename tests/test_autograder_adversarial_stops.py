"""Hostile submissions that cost time instead of points, on the tiny course with real nbgrader, kernels and
signals: a kernel that stops answering (it ignores the interrupt) costs one cell timeout and the interrupt
grace, then the rest of its notebook scores 0 and the batch moves on; SIGTERM and SIGHUP stop a batch as
Ctrl-C does, and no grading process or kernel outlives the grader, however it ends (SIGKILL included).
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell
from test_autograder_tiny_course import (
    ASSIGNMENT,
    MARK_VARIABLE,
    env,  # noqa: F401 (fixture)
    grade,
    grade_a_sleeper,
    make_course,
    read_rows,
    submit,
    wait_until_gone,
)

#: Hidden tests of the tiny course, with a third test cell: each probes the student's kernel.
GRADING = (
    "def test_add(t):\n"
    "    assert t.run(\"result = add(inputs['a'], inputs['b'])\", a=2, b=5) == 7, 'add must add'\n"
    "def test_mul(t):\n"
    "    assert t.run(\"result = mul(inputs['a'], inputs['b'])\", a=4, b=3) == 12, 'mul must multiply'\n"
    "def test_mul_zero(t):\n"
    "    assert t.run(\"result = mul(inputs['a'], 0)\", a=7) == 0, 'zero times anything is zero'\n"
)
#: A correct ``mul`` whose cell redefines the builtin ``__import__``: the grader's probe (which imports
#: ``autograder``) then waits forever, swallowing every interrupt, without using any CPU.
HANGING_IMPORT = (
    "import builtins, time\n"
    "_real_import = builtins.__import__\n"
    "def _hang(name, *args, **kwargs):\n"
    "    if name == 'autograder':\n"
    "        while True:\n"
    "            try:\n"
    "                time.sleep(3600)\n"
    "            except KeyboardInterrupt:\n"
    "                pass\n"
    "    return _real_import(name, *args, **kwargs)\n"
    "builtins.__import__ = _hang\n"
    "def mul(a, b):\n"
    "    return a * b\n"
)
SWALLOWS_INTERRUPT = (
    "import time\nwhile True:\n    try:\n        time.sleep(1)\n    except KeyboardInterrupt:\n        pass"
)


@pytest.mark.slow
def test_a_kernel_that_stops_answering_costs_one_timeout_and_the_rest_scores_zero(
    tmp_path: Path, env: dict[str, str]  # noqa: F811
) -> None:
    course = make_course(tmp_path / "course")
    folder = course / "source" / ASSIGNMENT
    (folder / "grading.py").write_text(GRADING, encoding="utf-8")
    source = nbformat.read(folder / f"{ASSIGNMENT}.ipynb", as_version=4)
    meta = {"nbgrader": {**source.cells[4].metadata["nbgrader"], "grade_id": "test_mul_zero", "points": 1}}
    source.cells.append(new_code_cell("assert mul(0, 5) == 0", metadata=meta))
    nbformat.write(source, folder / f"{ASSIGNMENT}.ipynb")
    submissions = tmp_path / "submitted"
    submit(submissions, "a_hangs_in_probe", source, 3, HANGING_IMPORT)
    submit(submissions, "b_stuck_cell", source, 1, SWALLOWS_INTERRUPT)
    submit(submissions, "c_good", source)
    out, logs = tmp_path / "grades.csv", tmp_path / "logs"
    started = time.monotonic()
    code, text = grade(env, course, submissions, out, "--jobs", "1", "--cell-timeout", "3",
                       "--interrupt-grace", "3", "--student-timeout", "600", "--logs", str(logs))
    elapsed = time.monotonic() - started
    assert code == 0, text
    rows = read_rows(out)
    hangs, stuck, good = rows["a_hangs_in_probe"], rows["b_stuck_cell"], rows["c_good"]
    # The test before the wedge keeps its points; the wedged test and everything after score 0.
    columns = ("test_add", "test_mul", "test_mul_zero", "score")
    assert [hangs[k] for k in columns] == ["2", "0", "0", "2"], text
    assert "the kernel stopped answering" in hangs["status"] and "cell 5" in hangs["status"], hangs["status"]
    assert [stuck[k] for k in columns] == ["0", "0", "0", "0"], text
    assert "the kernel stopped answering" in stuck["status"] and "cell 2" in stuck["status"], stuck["status"]
    assert (good["score"], good["status"]) == ("6", "ok"), text
    # One cell timeout per wedged notebook: the kernel is given up, never asked again.
    for student in ("a_hangs_in_probe", "b_stuck_cell"):
        log = (logs / f"{student}.{ASSIGNMENT}.log").read_text(encoding="utf-8")
        assert log.count("Timeout waiting for execute reply") == 1, log
    print(f"graded 3 students, two of them wedged, in {elapsed:.1f} s")


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP, signal.SIGKILL], ids=lambda s: s.name)
def test_a_signal_stops_the_batch_and_leaves_nothing_running(
    tmp_path: Path, env: dict[str, str], sig: signal.Signals  # noqa: F811
) -> None:
    proc, marker, out = grade_a_sleeper(tmp_path, env)
    proc.send_signal(sig)
    output, _ = proc.communicate(timeout=60)
    if sig == signal.SIGKILL:
        assert proc.returncode == -signal.SIGKILL
    else:
        assert proc.returncode == 128 + sig, output
        assert f"interrupted ({sig.name})" in output, output
    assert not out.exists()
    what = f"after {sig.name}, the grading server, the kernel or its sleeper"
    wait_until_gone(marker, env[MARK_VARIABLE], what)
