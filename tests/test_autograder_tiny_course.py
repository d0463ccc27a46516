"""The grading rules on a tiny generated course (two answers, two tests), with real nbgrader and kernels:
a warning does not cost a passing test its points, an error scores 0, a whole-notebook timeout
scores 0 and leaves no kernel behind.
"""

from __future__ import annotations

import csv
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import psutil
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

from autograder import COURSE_ROOT
from autograder.course import isolated_environment
from autograder.grade import kill_process_tree
from autograder.preprocessors import stderr_to_stdout

ASSIGNMENT = "tiny"
ADD_TEST = (
    "# Checks add on small integers; the warning below must not cost the points.\n"
    "warnings.warn('a harmless warning from the test')\n"
    "assert add(1, 2) == 3\n"
    "### BEGIN HIDDEN TESTS\n"
    "assert add(-1, 1) == 0\n"
    "### END HIDDEN TESTS"
)


def _meta(**fields: object) -> dict:
    return {"nbgrader": {"schema_version": 3, "grade": False, "solution": False, "locked": False, **fields}}


def make_course(root: Path) -> Path:
    """A course root with the real nbgrader_config.py and one assignment, ``tiny``."""
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(COURSE_ROOT / "nbgrader_config.py", root / "nbgrader_config.py")
    cells = [
        new_code_cell("import warnings", metadata=_meta(locked=True, grade_id="setup")),
        new_code_cell("def add(a, b):\n    ### BEGIN SOLUTION\n    return a + b\n    ### END SOLUTION",
                      metadata=_meta(solution=True, grade_id="add")),
        new_code_cell(ADD_TEST, metadata=_meta(grade=True, locked=True, grade_id="test_add", points=2)),
        new_code_cell("def mul(a, b):\n    ### BEGIN SOLUTION\n    return a * b\n    ### END SOLUTION",
                      metadata=_meta(solution=True, grade_id="mul")),
        new_code_cell("# Checks mul on one product.\nassert mul(2, 3) == 6",
                      metadata=_meta(grade=True, locked=True, grade_id="test_mul", points=3)),
    ]
    kernelspec = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(new_notebook(cells=cells, metadata={"kernelspec": kernelspec}),
                   root / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    return root


def submit(submissions: Path, student: str, nb: nbformat.NotebookNode, answer_index: int | None = None,
           answer: str | None = None) -> None:
    """Put a copy of ``nb`` (with cell ``answer_index`` replaced by ``answer``) in the submitted layout."""
    nb = nbformat.from_dict(nb)
    if answer_index is not None:
        nb.cells[answer_index].source = answer
    folder = submissions / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{ASSIGNMENT}.ipynb")


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    """Environment of the grader subprocess: Jupyter, IPython and matplotlib folders in tmp_path."""
    return {**os.environ, **isolated_environment(tmp_path / "home", "smoke")}


def grade(env: dict[str, str], course: Path, submissions: Path, out: Path, *options: str) -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", "grade", str(submissions), "--course", str(course),
         "--out", str(out), *options],
        env=env, capture_output=True, text=True, timeout=600,
    )
    return proc.returncode, proc.stdout + proc.stderr


def gone(pid: int) -> bool:
    """Whether a process has exited (a zombie waiting for its parent counts as exited)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def read_rows(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {row["student_id"]: row for row in csv.DictReader(f)}


@pytest.mark.slow
def test_a_warning_keeps_the_points_and_an_error_scores_zero(tmp_path: Path, env: dict[str, str]) -> None:
    course = make_course(tmp_path / "course")
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    submissions = tmp_path / "submitted"
    submit(submissions, "good", source)
    submit(submissions, "wrong_add", source, 1, "def add(a, b):\n    return a - b")
    out = tmp_path / "grades.csv"
    code, text = grade(env, course, submissions, out, "--jobs", "2", "--logs", str(tmp_path / "logs"))
    assert code == 0, text
    assert sorted(p.name for p in (tmp_path / "logs").iterdir()) == ["good.tiny.log", "wrong_add.tiny.log"]
    rows = read_rows(out)
    assert (rows["good"]["test_add"], rows["good"]["test_mul"], rows["good"]["score"]) == ("2", "3", "5")
    assert (rows["wrong_add"]["test_add"], rows["wrong_add"]["test_mul"], rows["wrong_add"]["score"]) == (
        "0", "3", "3")
    assert rows["good"]["status"] == rows["wrong_add"]["status"] == "ok"


@pytest.mark.slow
def test_check_passes_a_test_that_only_warns(tmp_path: Path, env: dict[str, str]) -> None:
    course = make_course(tmp_path / "course")
    notebook = course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    before = notebook.read_bytes()
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(notebook)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "PASS  test_add  2/2" in proc.stdout
    assert "Visible tests: 5/5 points" in proc.stdout
    assert notebook.read_bytes() == before


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer_index, answer, add_line, mul_line",
    [
        (1, "while True:\n    pass", "FAIL  test_add  0/2  NameError", "PASS  test_mul  3/3"),
        (3, "import os\nos._exit(1)", "PASS  test_add  2/2", "FAIL  test_mul  0/3  the kernel died"),
    ],
    ids=["endless_cell_is_interrupted", "dead_kernel"],
)
def test_check_survives_endless_cells_and_dead_kernels(tmp_path: Path, env: dict[str, str], answer_index: int,
                                                       answer: str, add_line: str, mul_line: str) -> None:
    course = make_course(tmp_path / "course")
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    submit(tmp_path / "student", "me", source, answer_index, answer)
    notebook = tmp_path / "student" / "me" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"
    proc = subprocess.run([sys.executable, "-m", "autograder", "check", str(notebook), "--cell-timeout", "5"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert add_line in proc.stdout and mul_line in proc.stdout, proc.stdout


def submit_sleeper(tmp_path: Path) -> tuple[Path, Path]:
    """A course and a student "sleepy" whose first answer writes its kernel's PID, then sleeps 10 min."""
    course = make_course(tmp_path / "course")
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    pid_file = tmp_path / "kernel.pid"
    sleeper = f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)"
    submit(tmp_path / "submitted", "sleepy", source, 1, sleeper)
    return course, pid_file


@pytest.mark.slow
def test_whole_notebook_timeout_scores_zero_and_kills_the_kernel(tmp_path: Path, env: dict[str, str]) -> None:
    course, pid_file = submit_sleeper(tmp_path)
    out = tmp_path / "grades.csv"
    code, text = grade(env, course, tmp_path / "submitted", out, "--student-timeout", "10")
    assert code == 0, text
    row = read_rows(out)["sleepy"]
    assert (row["score"], row["test_add"], row["test_mul"]) == ("0", "0", "0")
    assert "longer than 10 s" in row["status"]
    kernel_pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not gone(kernel_pid):
        assert time.monotonic() < deadline, "the timed-out student's kernel is still running"
        time.sleep(0.2)


@pytest.mark.slow
def test_ctrl_c_stops_the_batch_and_its_kernels(tmp_path: Path, env: dict[str, str]) -> None:
    course, pid_file = submit_sleeper(tmp_path)
    out = tmp_path / "grades.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(tmp_path / "submitted"), "--course", str(course),
         "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and proc.poll() is None, "the sleeper never started"
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output and not out.exists()
    kernel_pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while not gone(kernel_pid):
        assert time.monotonic() < deadline, "the interrupted student's kernel is still running"
        time.sleep(0.2)


def test_kill_process_tree_reaches_a_child_in_its_own_session(tmp_path: Path) -> None:
    # Jupyter starts kernels with start_new_session=True, out of reach of a process-group kill.
    pid_file = tmp_path / "child.pid"
    script = (
        "import subprocess, sys, time\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)'],\n"
        "                         start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    child = psutil.Process(int(pid_file.read_text()))
    kill_process_tree(proc)
    assert proc.returncode is not None
    deadline = time.monotonic() + 10
    while not gone(child.pid):
        assert time.monotonic() < deadline, "the grandchild in its own session survived"
        time.sleep(0.1)


def test_stderr_of_a_failed_or_ungraded_cell_is_left_alone() -> None:
    graded = {"nbgrader": {"grade": True, "points": 1}}
    failed = new_code_cell("", metadata=graded)
    failed.outputs = [new_output("stream", name="stderr", text="warn\n"),
                      new_output("error", ename="AssertionError", evalue="", traceback=[])]
    assert not stderr_to_stdout(failed) and failed.outputs[0].name == "stderr"
    plain = new_code_cell("")
    plain.outputs = [new_output("stream", name="stderr", text="warn\n")]
    assert not stderr_to_stdout(plain) and plain.outputs[0].name == "stderr"


# A student id so long that the grader's own per-student log file name exceeds the 255-byte file name
# limit: grading that student raises inside the grader (an OSError that root cannot bypass).
LONG_ID = "d" + "x" * 249
CORRECT_ADD = "def add(a, b):\n    return a + b\n"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """One batch, graded in order (--jobs 1): ``a_sleeper`` leaves a background process in a session of
    its own, ``b_planter`` plants an ``autograder`` package in the temporary course, ``c_victim`` is
    correct, the student with a very long id breaks the grader."""
    tmp = tmp_path_factory.mktemp("hostile")
    course = make_course(tmp / "course")
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    marker, planted, pid_file = tmp / "hijacked", tmp / "planted", tmp / "sleeper.pid"
    fake = f"open({str(marker)!r}, 'w').write('hijacked')\nraise SystemExit(0)\n"
    plant = (
        "import pathlib\n"
        "course = pathlib.Path.cwd().parents[2]  # the kernel's cwd: <course>/submitted/<student>/<a>\n"
        "(course / 'autograder').mkdir(exist_ok=True)\n"
        "(course / 'autograder' / '__init__.py').write_text('')\n"
        f"(course / 'autograder' / '_autograde_one.py').write_text({fake!r})\n"
        f"open({str(planted)!r}, 'w').write(str(course))\n" + CORRECT_ADD
    )
    sleeper = (
        "import subprocess\n"
        "child = subprocess.Popen(['sleep', '300'], start_new_session=True)\n"
        f"open({str(pid_file)!r}, 'w').write(str(child.pid))\n" + CORRECT_ADD
    )
    submissions = tmp / "submitted"
    submit(submissions, "a_sleeper", source, 1, sleeper)
    submit(submissions, "b_planter", source, 1, plant)
    submit(submissions, "c_victim", source)
    submit(submissions, LONG_ID, source)
    env = {**os.environ, **isolated_environment(tmp / "home", "smoke")}
    out = tmp / "grades.csv"
    code, text = grade(env, course, submissions, out, "--jobs", "1")
    return {"code": code, "text": text, "rows": read_rows(out) if out.exists() else {}, "marker": marker,
            "planted": planted, "pid_file": pid_file}


@pytest.mark.slow
def test_a_background_process_dies_with_its_students_grading(hostile: dict) -> None:
    assert hostile["pid_file"].exists(), hostile["text"]
    pid = int(hostile["pid_file"].read_text())
    deadline = time.monotonic() + 10
    while not gone(pid):
        assert time.monotonic() < deadline, "the sleeper started by a_sleeper outlived the batch"
        time.sleep(0.2)
    assert hostile["rows"]["a_sleeper"]["score"] == "5", hostile["text"]


@pytest.mark.slow
def test_an_autograder_package_planted_in_the_course_grades_nobody(hostile: dict) -> None:
    assert hostile["planted"].exists(), "the planter's answer cell did not run: " + hostile["text"]
    assert not hostile["marker"].exists(), "the planted autograder/_autograde_one.py graded a later student"
    victim = hostile["rows"]["c_victim"]
    assert (victim["score"], victim["status"]) == ("5", "ok"), hostile["text"]


@pytest.mark.slow
def test_a_grader_error_on_one_student_gives_a_zero_row_and_the_batch_goes_on(hostile: dict) -> None:
    assert hostile["code"] == 0, hostile["text"]
    rows = hostile["rows"]
    assert sorted(rows) == ["a_sleeper", "b_planter", "c_victim", LONG_ID]
    broken = rows[LONG_ID]
    assert (broken["score"], broken["test_add"], broken["test_mul"]) == ("0", "0", "0")
    assert broken["status"].startswith("grader error: ") and "\n" not in broken["status"]
    assert "File name too long" in broken["status"]
    assert rows["b_planter"]["score"] == rows["c_victim"]["score"] == "5"
