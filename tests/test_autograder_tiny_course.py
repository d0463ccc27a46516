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
from autograder.worker import GradeJob, GradeOptions, course_files, grade_job, release_courses

ASSIGNMENT = "tiny"
#: Set in the grader's environment by each test; the kernels inherit it, so the test finds what is left.
MARK_VARIABLE = "MTML_TEST_RUN"
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
    return {**os.environ, **isolated_environment(tmp_path / "home", "smoke"), MARK_VARIABLE: str(tmp_path)}


def grade(env: dict[str, str], course: Path, submissions: Path, out: Path, *options: str,
          command: str = "grade") -> tuple[int, str]:
    proc = subprocess.run(
        [sys.executable, "-m", "autograder", command, str(submissions), "--course", str(course),
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


@pytest.fixture(scope="module")
def class_of_three(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The tiny course graded once for three students: ann and cy correct, bob's ``add`` wrong; cy's
    notebook came back from the LMS renamed ``tiny (1).ipynb``."""
    tmp = tmp_path_factory.mktemp("class_of_three")
    course = make_course(tmp / "course")
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    submissions = tmp / "submitted"
    submit(submissions, "ann", source)
    submit(submissions, "bob", source, 1, "def add(a, b):\n    return a - b")
    submit(submissions, "cy", source)
    (submissions / "cy" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").rename(
        submissions / "cy" / ASSIGNMENT / f"{ASSIGNMENT} (1).ipynb")
    environment = {**os.environ, **isolated_environment(tmp / "home", "smoke"), MARK_VARIABLE: str(tmp)}
    code, text = grade(environment, course, submissions, tmp / "grades.csv", "--jobs", "2", "--logs",
                       str(tmp / "logs"))
    return {"code": code, "text": text, "tmp": tmp, "course": course, "source": source}


@pytest.mark.slow
def test_a_warning_keeps_the_points_and_an_error_scores_zero(class_of_three: dict[str, object]) -> None:
    tmp = class_of_three["tmp"]
    assert class_of_three["code"] == 0, class_of_three["text"]
    assert sorted(p.name for p in (tmp / "logs").iterdir()) == ["ann.tiny.log", "bob.tiny.log", "cy.tiny.log"]
    rows = read_rows(tmp / "grades.csv")
    assert (rows["ann"]["test_add"], rows["ann"]["test_mul"], rows["ann"]["score"]) == ("2", "3", "5")
    assert (rows["bob"]["test_add"], rows["bob"]["test_mul"], rows["bob"]["score"]) == ("0", "3", "3")
    assert rows["ann"]["status"] == rows["bob"]["status"] == "ok"


@pytest.mark.slow
def test_a_renamed_notebook_is_graded_with_a_warning(class_of_three: dict[str, object]) -> None:
    """The only notebook of a submission folder, under another name, is graded as the assignment's."""
    rows = read_rows(class_of_three["tmp"] / "grades.csv")
    assert (rows["cy"]["score"], rows["cy"]["status"]) == ("5", "ok")
    warning = "warning: cy/tiny: no tiny.ipynb; grading its only notebook, 'tiny (1).ipynb', as that"
    assert warning in class_of_three["text"]
    assert class_of_three["text"].count("warning: ") == 1, class_of_three["text"]


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


#: What a test says when its answer cell did not even parse: the cause, then the error the test met.
SYNTAX_ERROR_CAUSE = ("FAIL  test_add  0/2  the answer cell add raised SyntaxError: invalid syntax (line 2 "
                      "of the cell), so nothing in it is defined; then: NameError: name 'add' is not defined")


@pytest.mark.slow
@pytest.mark.parametrize(
    "answer_index, answer, add_line, mul_line",
    [
        (1, "while True:\n    pass", "FAIL  test_add  0/2  the answer cell add raised",
         "PASS  test_mul  3/3"),
        (3, "import os\nos._exit(1)", "PASS  test_add  2/2", "FAIL  test_mul  0/3  the kernel died"),
        (1, "def add(a, b):\n    return a +", SYNTAX_ERROR_CAUSE, "PASS  test_mul  3/3"),
    ],
    ids=["endless_cell_is_interrupted", "dead_kernel", "syntax_error_is_named_as_the_cause"],
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


def sleeping(marker: str) -> list[psutil.Process]:
    """Processes running ``sleep <marker>``: a kernel in the sandbox cannot write anywhere the test can
    read, so a sleeper shows that it started, and later that it is gone, by the process it runs."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        if process.info["cmdline"] == ["sleep", marker] and not gone(process.pid):
            found.append(process)
    return found


def leftover_kernels(run: str) -> list[psutil.Process]:
    """Processes of this test's grading run (their environment holds ``MARK_VARIABLE=run``) still running."""
    found = []
    for process in psutil.process_iter():
        try:
            if process.environ().get(MARK_VARIABLE) == run and not gone(process.pid):
                found.append(process)
        except (psutil.Error, OSError):
            pass
    return found


def submit_sleeper(tmp_path: Path) -> tuple[Path, str]:
    """A course and a student "sleepy" whose first answer waits ten minutes for ``sleep <marker>``."""
    course = make_course(tmp_path / "course")
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    marker = f"{600 + os.getpid() % 1000}.{time.time_ns() % 997}"
    sleeper = f"import subprocess\nsubprocess.run(['sleep', {marker!r}])"
    submit(tmp_path / "submitted", "sleepy", source, 1, sleeper)
    return course, marker


def grade_a_sleeper(tmp_path: Path, env: dict[str, str]) -> tuple[subprocess.Popen, str, Path]:
    """Start ``grade`` on :func:`submit_sleeper`'s course and return once the student's sleeper runs:
    the grader's process, the sleeper's marker and the grades file it would write."""
    course, marker = submit_sleeper(tmp_path)
    out = tmp_path / "grades.csv"
    proc = subprocess.Popen(
        [sys.executable, "-m", "autograder", "grade", str(tmp_path / "submitted"), "--course", str(course),
         "--out", str(out)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    deadline = time.monotonic() + 120
    while not sleeping(marker):
        assert time.monotonic() < deadline and proc.poll() is None, "the sleeper never started"
        time.sleep(0.2)
    return proc, marker, out


def wait_until_gone(marker: str, run: str, what: str) -> None:
    deadline = time.monotonic() + 10
    while sleeping(marker) or leftover_kernels(run):
        assert time.monotonic() < deadline, f"{what}: {sleeping(marker) + leftover_kernels(run)} running"
        time.sleep(0.2)


@pytest.mark.slow
def test_whole_notebook_timeout_scores_zero_and_kills_the_kernel(tmp_path: Path, env: dict[str, str]) -> None:
    course, marker = submit_sleeper(tmp_path)
    out = tmp_path / "grades.csv"
    code, text = grade(env, course, tmp_path / "submitted", out, "--student-timeout", "10")
    assert code == 0, text
    row = read_rows(out)["sleepy"]
    assert (row["score"], row["test_add"], row["test_mul"]) == ("0", "0", "0")
    assert "longer than 10 s" in row["status"]
    wait_until_gone(marker, env[MARK_VARIABLE], "the timed-out student's kernel or its sleeper")


@pytest.mark.slow
def test_ctrl_c_stops_the_batch_and_its_kernels(tmp_path: Path, env: dict[str, str]) -> None:
    proc, marker, out = grade_a_sleeper(tmp_path, env)
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output and not out.exists()
    wait_until_gone(marker, env[MARK_VARIABLE], "the interrupted student's kernel or its sleeper")


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
    its own, ``b_planter`` tries to plant an ``autograder`` package where the grader would import it (its
    answer is right only if every attempt fails), ``c_victim`` is correct, the student with a very long
    id breaks the grader."""
    tmp = tmp_path_factory.mktemp("hostile")
    course = make_course(tmp / "course")
    source = nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)
    marker = tmp / "hijacked"
    sleep_marker = f"{300 + os.getpid() % 1000}.{time.time_ns() % 991}"
    fake = f"open({str(marker)!r}, 'w').write('hijacked')\nraise SystemExit(0)\n"
    plant = (
        "import pathlib, autograder\n"
        "planted = 0\n"
        "# its own working directory is a scratch copy, writable and harmless; these are not\n"
        f"for where in [pathlib.Path({str(course)!r}), *pathlib.Path(autograder.__file__).parents[:2]]:\n"
        "    try:\n"
        "        (where / 'autograder').mkdir(exist_ok=True)\n"
        f"        (where / 'autograder' / '_autograde_one.py').write_text({fake!r})\n"
        "        planted += 1\n"
        "    except OSError:\n"
        "        pass\n"
        "def add(a, b):\n    return a + b + planted\n"
    )
    sleeper = ("import subprocess\n"
               f"subprocess.Popen(['sleep', {sleep_marker!r}], start_new_session=True)\n" + CORRECT_ADD)
    submissions = tmp / "submitted"
    submit(submissions, "a_sleeper", source, 1, sleeper)
    submit(submissions, "b_planter", source, 1, plant)
    submit(submissions, "c_victim", source)
    submit(submissions, LONG_ID, source)
    env = {**os.environ, **isolated_environment(tmp / "home", "smoke"), MARK_VARIABLE: str(tmp)}
    out = tmp / "grades.csv"
    code, text = grade(env, course, submissions, out, "--jobs", "1")
    return {"code": code, "text": text, "rows": read_rows(out) if out.exists() else {}, "marker": marker,
            "sleep_marker": sleep_marker, "run": env[MARK_VARIABLE]}


@pytest.mark.slow
def test_a_background_process_dies_with_its_students_grading(hostile: dict) -> None:
    wait_until_gone(hostile["sleep_marker"], hostile["run"], "a_sleeper's background process")
    assert hostile["rows"]["a_sleeper"]["score"] == "5", hostile["text"]


@pytest.mark.slow
def test_no_autograder_package_can_be_planted_where_the_grader_imports(hostile: dict) -> None:
    assert hostile["rows"]["b_planter"]["test_add"] == "2", "a plant succeeded somewhere: " + hostile["text"]
    assert not hostile["marker"].exists(), "the planted autograder/_autograde_one.py graded a later student"
    victim = hostile["rows"]["c_victim"]
    assert (victim["score"], victim["status"]) == ("5", "ok"), hostile["text"]


@pytest.mark.slow
def test_a_student_id_of_250_characters_is_graded_like_any_other(hostile: dict) -> None:
    assert hostile["code"] == 0, hostile["text"]
    rows = hostile["rows"]
    assert sorted(rows) == ["a_sleeper", "b_planter", "c_victim", LONG_ID]
    assert (rows[LONG_ID]["score"], rows[LONG_ID]["status"]) == ("5", "ok"), hostile["text"]


@pytest.mark.slow
def test_a_grader_error_on_one_student_gives_a_zero_row(tmp_path: Path, env: dict[str, str]) -> None:
    course = make_course(tmp_path / "course")
    options = GradeOptions(batch="test-grader-error")
    files = course_files(course, [ASSIGNMENT])
    notebook = (course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb").read_bytes()
    try:
        # A job naming a file outside its folder (a forged job on a cluster) is refused, not written.
        result = grade_job(GradeJob("mallory", ASSIGNMENT, {f"{ASSIGNMENT}.ipynb": notebook, "../x.py": b""}),
                           files, options)
        good = grade_job(GradeJob("alice", ASSIGNMENT, {f"{ASSIGNMENT}.ipynb": notebook}), files, options)
    finally:
        release_courses()
    assert result.row.status.startswith("grader error: ") and "refusing the file name" in result.row.status
    assert result.row.score == 0 and set(result.row.scores.values()) == {0.0}
    assert (good.row.score, good.row.status) == (5.0, "ok")


@pytest.mark.slow
def test_a_regrade_of_one_student_replaces_only_their_row(class_of_three: dict[str, object], tmp_path: Path,
                                                          env: dict[str, str]) -> None:
    """``grade --student ID`` after a student's late fix: their row is regraded in place, the others' bytes
    stay; a student without a submission, or an --out that is no grades file, stops before grading."""
    course, source = class_of_three["course"], class_of_three["source"]
    assert class_of_three["code"] == 0, class_of_three["text"]
    submissions, out = tmp_path / "submitted", tmp_path / "grades.csv"
    shutil.copytree(class_of_three["tmp"] / "submitted", submissions)
    shutil.copy(class_of_three["tmp"] / "grades.csv", out)
    before = out.read_text().splitlines()
    assert [line.split(",")[:3] for line in before[1:]] == [["ann", "tiny", "5"], ["bob", "tiny", "3"],
                                                             ["cy", "tiny", "5"]]
    # bob hands in a fix; cy's notebook breaks meanwhile: a regrade of bob alone must not touch cy's row
    (submissions / "cy" / ASSIGNMENT / f"{ASSIGNMENT} (1).ipynb").write_text("not json", encoding="utf-8")
    nbformat.write(source, submissions / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    code, text = grade(env, course, submissions, out, "--student", "bob")
    assert code == 0, text
    assert "Grading 1 submission(s)" in text and "Updated 1 row(s)" in text
    after = out.read_text().splitlines()
    assert (after[0], after[1], after[3]) == (before[0], before[1], before[3])
    assert after[2].split(",")[:5] == ["bob", "tiny", "5", "5", "2"]
    notes = tmp_path / "notes.csv"
    notes.write_text("name,mark\nbob,A\n")
    for options, message in (
        (["--student", "bob", "--student", "dan"], "No submission in"),
        (["--student", "bob", "--out", str(notes)], "is not a grades file"),
    ):
        code, text = grade(env, course, submissions, out, *options)
        assert code == 2 and message in text, text
        assert "Grading" not in text, f"{options}: it must stop before grading"
        if "dan" in options:
            assert "--student dan" in text and "ann, bob, cy" in text, text
    assert out.read_text().splitlines() == after and notes.read_text() == "name,mark\nbob,A\n"


#: Hidden tests of the tiny course, graded outside the kernel as the course's grading.py files are.
TINY_GRADING = """
def test_add(t):
    assert t.run("result = add(2, 5)") == 7, "add(2, 5) must be 7"


def test_mul(t):
    assert t.run("result = mul(4, 5)") == 20, "mul(4, 5) must be 20"
"""


def feedback(env: dict[str, str], course: Path, submissions: Path, out: Path,
             *options: str) -> tuple[int, str]:
    return grade(env, course, submissions, out, "--feedback", str(out.parent / "feedback"), *options,
                 command="feedback")


def graded_course(root: Path) -> tuple[Path, nbformat.NotebookNode]:
    """:func:`make_course` with hidden tests in a grading.py (TINY_GRADING), and its instructor notebook."""
    course = make_course(root)
    (course / "source" / ASSIGNMENT / "grading.py").write_text(TINY_GRADING)
    return course, nbformat.read(course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb", as_version=4)


@pytest.mark.slow
def test_feedback_names_the_syntax_error_behind_a_failing_hidden_test(tmp_path: Path,
                                                                      env: dict[str, str]) -> None:
    course, source = graded_course(tmp_path / "course")
    submit(tmp_path / "submitted", "dee", source, 1, "def add(a, b):\n    return a +")
    code, text = grade(env, course, tmp_path / "submitted", tmp_path / "grades.csv", "--feedback",
                       str(tmp_path / "feedback"))
    assert code == 0, text
    row = read_rows(tmp_path / "grades.csv")["dee"]
    assert (row["test_add"], row["test_mul"], row["status"]) == ("0", "3", "ok")
    page = (tmp_path / "feedback" / "dee" / f"{ASSIGNMENT}.html").read_text()
    assert ("the answer cell add raised SyntaxError: invalid syntax (line 2 of the cell), so nothing in it "
            "is defined; then: on the hidden test inputs your code raised NameError") in page, page
    assert page.count("the answer cell add raised") == 1, "the cause belongs to the test right after the cell"
    assert "<code>test_add</code><br><span class=\"note\">exercise add</span>" in page, "its exercise"


@pytest.mark.slow
def test_feedback_reuses_the_last_grading_run_and_regrades_only_what_changed(tmp_path: Path,
                                                                              env: dict[str, str]) -> None:
    course, source = graded_course(tmp_path / "course")
    submitted, out = tmp_path / "submitted", tmp_path / "grades.csv"
    submit(submitted, "ann", source)
    submit(submitted, "bob", source, 1, "def add(a, b):\n    return a - b")
    code, text = grade(env, course, submitted, out)
    assert code == 0 and out.with_name("grades.csv.run.json").is_file(), text
    graded = out.read_text()
    # Nothing changed since: no submission is graded again, the pages still say why bob's test failed.
    code, text = feedback(env, course, submitted, out)
    assert code == 0 and "Reusing 2 submission(s) unchanged" in text and "grading 0." in text, text
    assert out.read_text() == graded
    page = (tmp_path / "feedback" / "bob" / f"{ASSIGNMENT}.html").read_text()
    assert "add(2, 5) must be 7" in page and "0/2" in page
    # Bob fixes his answer: only he is graded again; ann's row stays byte for byte.
    submit_again = nbformat.from_dict(source)
    nbformat.write(submit_again, submitted / "bob" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb")
    code, text = feedback(env, course, submitted, out)
    assert code == 0 and "Reusing 1 submission(s) unchanged" in text and "grading 1." in text, text
    rows = read_rows(out)
    assert (rows["bob"]["score"], rows["ann"]["score"]) == ("5", "5")
    assert graded.splitlines()[1] == out.read_text().splitlines()[1], "ann's row as it was"
    assert "add(2, 5) must be 7" not in (tmp_path / "feedback" / "bob" / f"{ASSIGNMENT}.html").read_text()
    # A changed hidden test invalidates every result; --regrade grades everything whatever changed.
    (course / "source" / ASSIGNMENT / "grading.py").write_text(TINY_GRADING + "\n# stricter now\n")
    code, text = feedback(env, course, submitted, out)
    assert code == 0 and "Reusing 0 submission(s) unchanged" in text and "grading 2." in text, text
    code, text = feedback(env, course, submitted, out, "--regrade")
    assert code == 0 and "Reusing" not in text and "Grading 2 submission(s)" in text, text
