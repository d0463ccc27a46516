"""``python -m autograder grade``: autograde a folder of submissions, hidden tests included.

Every run builds a fresh temporary course (config + the needed instructor sources), fills a new
gradebook with ``generate_assignment``, copies the submissions into its ``submitted/`` and
autogrades each student in a process of its own, so the same submission always gets the same
score and one hostile or broken submission cannot stop the batch.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from autograder import COURSE_ROOT
from autograder.course import (
    GradedCell,
    copy_course,
    graded_cells,
    isolated_environment,
    load_notebook,
    nbgrader_api,
    source_notebook,
)
from autograder.errors import UsageError
from autograder.results import GradeRow, format_table, read_gradebook_row, write_csv
from autograder.submissions import Submission, copy_submission, find_submissions

DEFAULT_STUDENT_TIMEOUT = 1800


class GraderError(RuntimeError):
    """The grader itself failed (not a student's submission): exit code 1."""


class RunningGraders:
    """The grading processes of a batch that are still running.

    They run in sessions of their own (so a timeout can kill each as a group), which also means a
    Ctrl-C in the terminal does not reach them: an interrupted batch kills them through this list.

    Example:
        >>> running = RunningGraders()
        >>> running.kill_all(); running.start(["true"]) is None
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: set[subprocess.Popen] = set()
        self.stopping = False

    def start(self, command: list[str], **popen: Any) -> subprocess.Popen | None:
        """Start a grading process in a new session, or return ``None`` once the batch is stopping."""
        with self._lock:
            if self.stopping:
                return None
            proc = subprocess.Popen(command, start_new_session=True, **popen)
            self._procs.add(proc)
            return proc

    def finished(self, proc: subprocess.Popen) -> None:
        with self._lock:
            self._procs.discard(proc)

    def kill_all(self) -> None:
        """Stop starting new processes and kill every running one with all it started."""
        with self._lock:
            self.stopping = True
            procs = list(self._procs)
        for proc in procs:
            kill_process_tree(proc)


def grade_submissions(
    submissions_root: Path,
    out: Path | None = Path("grades.csv"),
    course_root: Path = COURSE_ROOT,
    assignment: str | None = None,
    jobs: int = 1,
    cell_timeout: int | None = None,
    student_timeout: float = DEFAULT_STUDENT_TIMEOUT,
    profile: str = "smoke",
    logs_dir: Path | None = None,
    echo: Callable[[str], None] = print,
) -> list[GradeRow]:
    """Grade every submission under ``submissions_root``, write ``out`` (CSV) and return the rows.

    Rows come sorted by student, then assignment. A submission that breaks grading gets 0 on every
    graded cell and a reason in ``status``; the batch goes on. With ``logs_dir``, each student's
    nbgrader log (``<student>.<assignment>.log``, hidden-test tracebacks included) is kept there.

    Example:
        >>> rows = grade_submissions(Path("submitted"), Path("grades.csv"), jobs=4)  # doctest: +SKIP
        >>> rows[0].student_id, rows[0].score, rows[0].status  # doctest: +SKIP
        ('alice', 10.0, 'ok')
    """
    submissions = find_submissions(submissions_root, course_root, assignment)
    if out is not None:
        out = Path(out)
        if out.is_dir() or not out.parent.is_dir():
            raise UsageError(
                f"Cannot write the grades to '{out}': expected a file path in an existing folder, "
                f"found {'a folder' if out.is_dir() else 'no folder ' + str(out.parent)}. "
                "Pass --out path/to/grades.csv with an existing parent folder."
            )
    if logs_dir is not None and Path(logs_dir).exists() and not Path(logs_dir).is_dir():
        raise UsageError(f"--logs '{logs_dir}' is a file: expected a folder for the grading logs (it is "
                         "created if missing). Pass another path.")
    assignments = sorted({s.assignment for s in submissions})
    cells = {a: graded_cells_of(course_root, a) for a in assignments}

    with tempfile.TemporaryDirectory(prefix="mtml-grade-") as tmp:
        course = copy_course(course_root, Path(tmp) / "course", assignments)
        env = {**os.environ, **isolated_environment(Path(tmp) / "env", profile)}
        echo(f"Preparing the gradebook for {', '.join(assignments)} ...")
        api = nbgrader_api(course, cell_timeout)
        for name in assignments:
            result = api.generate_assignment(name, force=True, create=True)
            if not result["success"]:
                raise GraderError(f"generate_assignment failed for {name!r}:\n{result.get('error', '')}")
        db_url = f"sqlite:///{course / 'gradebook.db'}"
        logs = Path(tmp) / "logs"
        logs.mkdir()

        running = RunningGraders()

        def grade_one(sub: Submission) -> GradeRow:
            if sub.notebook.is_symlink():
                return GradeRow.zero(sub.student_id, sub.assignment, cells[sub.assignment],
                                     "the submitted notebook is a symbolic link, not a file")
            if not sub.notebook.is_file():
                return GradeRow.zero(sub.student_id, sub.assignment, cells[sub.assignment],
                                     f"no {sub.assignment}.ipynb in the submission folder")
            copy_submission(sub, course / "submitted" / sub.student_id / sub.assignment)
            ok, reason = run_autograde(course, sub, logs, env, cell_timeout, student_timeout, running)
            if not ok:
                return GradeRow.zero(sub.student_id, sub.assignment, cells[sub.assignment], reason)
            return read_gradebook_row(db_url, sub.student_id, sub.assignment, cells[sub.assignment])

        rows: dict[tuple[str, str], GradeRow] = {}
        started = time.monotonic()
        echo(f"Grading {len(submissions)} submission(s) with {jobs} parallel job(s) ...")
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(grade_one, sub): sub for sub in submissions}
            try:
                for done, future in enumerate(as_completed(futures), start=1):
                    sub = futures[future]
                    row = future.result()
                    rows[(sub.student_id, sub.assignment)] = row
                    echo(f"[{done}/{len(submissions)}] {sub.student_id} {sub.assignment}: "
                         f"{row.score:g}/{row.max_score:g} {row.status}")
            except BaseException:  # Ctrl-C or a grader bug: leave no grading process behind
                running.kill_all()
                pool.shutdown(wait=True, cancel_futures=True)
                raise
        echo(f"Graded in {time.monotonic() - started:.1f} s.")
        if logs_dir is not None:
            Path(logs_dir).mkdir(parents=True, exist_ok=True)
            for log in sorted(logs.glob("*.log")):
                shutil.copyfile(log, Path(logs_dir) / log.name)
            echo(f"Grading logs in {logs_dir}")

    ordered = [rows[key] for key in sorted(rows)]
    echo(format_table(ordered))
    if out is not None:
        write_csv(ordered, out)
        echo(f"Wrote {out}")
    return ordered


def run_autograde(
    course: Path,
    sub: Submission,
    logs: Path,
    env: dict[str, str],
    cell_timeout: int | None,
    student_timeout: float,
    running: RunningGraders,
) -> tuple[bool, str]:
    """Autograde one submission in its own process group; ``(succeeded, reason if not)``.

    Past ``student_timeout`` seconds the process, the kernel it started (which runs in a session
    of its own) and everything they spawned are killed.

    Example:
        >>> run_autograde(course, sub, logs, env, None, 1800, RunningGraders())  # doctest: +SKIP
        (True, '')
    """
    result_file = logs / f"{sub.student_id}.{sub.assignment}.json"
    command = [sys.executable, "-m", "autograder._autograde_one",
               str(course), sub.assignment, sub.student_id, str(result_file)]
    if cell_timeout is not None:
        command += ["--cell-timeout", str(cell_timeout)]
    with open(logs / f"{sub.student_id}.{sub.assignment}.log", "wb") as log:
        proc = running.start(command, cwd=course, env=env, stdout=log, stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL)
        if proc is None:
            return False, "grading was interrupted"
        try:
            proc.wait(timeout=student_timeout)
        except subprocess.TimeoutExpired:
            kill_process_tree(proc)
            return False, f"grading took longer than {student_timeout:g} s for the whole notebook"
        finally:
            running.finished(proc)
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, f"the grading process crashed (exit code {proc.returncode})"
    return bool(result["success"]), str(result.get("reason", ""))


def kill_process_tree(proc: subprocess.Popen) -> None:
    """Kill a process started with ``start_new_session=True``, all its descendants and their groups.

    Jupyter kernels start in a session of their own, so killing the grading process's group alone
    would leave the kernel (and whatever it runs) alive.

    Example:
        >>> kill_process_tree(subprocess.Popen(["sleep", "60"], start_new_session=True))
    """
    import psutil

    try:
        descendants = psutil.Process(proc.pid).children(recursive=True)
    except psutil.NoSuchProcess:
        descendants = []
    groups = {proc.pid}
    for child in descendants:
        try:
            groups.add(os.getpgid(child.pid))
        except ProcessLookupError:
            pass
    groups.discard(os.getpgrp())  # never our own group
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    for child in descendants:
        try:
            child.kill()
        except psutil.NoSuchProcess:
            pass
    proc.wait()


def graded_cells_of(course_root: Path, assignment: str) -> list[GradedCell]:
    """The graded cells of an assignment's instructor notebook, in order.

    Example:
        >>> [c.grade_id for c in graded_cells_of(COURSE_ROOT, "01_task_definition")]  # doctest: +SKIP
        ['test_one_hot_descriptors', ...]
    """
    return graded_cells(load_notebook(source_notebook(course_root, assignment)))
