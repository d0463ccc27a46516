"""``python -m autograder grade``: autograde a folder of submissions, hidden tests included.

Every run builds a fresh temporary course (config + the needed instructor sources), fills a new
gradebook with ``generate_assignment``, copies the submissions into its ``submitted/`` and
autogrades each student in a process of its own, so the same submission always gets the same
score and one hostile or broken submission cannot stop the batch.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

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
from autograder.processes import TAG_VARIABLE, RunningGraders, kill_process_tree, wait_unreaped
from autograder.results import GradeRow, format_table, read_gradebook_row, write_csv
from autograder.sandbox import describe, sandbox_policy
from autograder.submissions import Submission, copy_submission, find_submissions

DEFAULT_STUDENT_TIMEOUT = 1800
#: The folder that holds the ``autograder`` package: the working directory of every grading process.
#: ``python -m`` puts the working directory first on ``sys.path``; a submission can write into the
#: temporary course (its kernel runs there), so grading there would import whatever it planted.
#: Here the first ``autograder`` on the path is this very package. (``PYTHONSAFEPATH=1`` is not used:
#: the kernel would inherit it and IPython would then drop the notebook's folder from ``sys.path``.)
PACKAGE_PARENT = Path(__file__).resolve().parents[1]


class GraderError(RuntimeError):
    """The grader itself failed (not a student's submission): exit code 1."""


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
        check_writable(out)
    if logs_dir is not None and Path(logs_dir).exists() and not Path(logs_dir).is_dir():
        raise UsageError(f"--logs '{logs_dir}' is a file: expected a folder for the grading logs (it is "
                         "created if missing). Pass another path.")
    assignments = sorted({s.assignment for s in submissions})
    cells = {a: graded_cells_of(course_root, a) for a in assignments}

    # A kernel may leave files the cleanup cannot delete; the grades are written before it anyway.
    with tempfile.TemporaryDirectory(prefix="mtml-grade-", ignore_cleanup_errors=True) as tmp:
        course = copy_course(course_root, Path(tmp) / "course", assignments)
        hidden = [Path(course_root) / "source", submissions_root, course, Path(tmp) / "logs"]
        hidden += [p for p in (out, logs_dir) if p is not None and Path(p).exists()]
        policy = sandbox_policy(hidden, cpu_s=max(3600, int(2 * student_timeout)))
        echo(describe(policy))
        env = {**os.environ, **isolated_environment(Path(tmp) / "env", profile, policy)}
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
            zero = functools.partial(GradeRow.zero, sub.student_id, sub.assignment, cells[sub.assignment])
            try:
                if sub.notebook.is_symlink():
                    return zero("the submitted notebook is a symbolic link, not a file")
                if not sub.notebook.is_file():
                    return zero(f"no {sub.assignment}.ipynb in the submission folder")
                copy_submission(sub, course / "submitted" / sub.student_id / sub.assignment)
                ok, reason = run_autograde(course, sub, logs, env, cell_timeout, student_timeout, running)
                if not ok:
                    return zero(reason)
                return read_gradebook_row(db_url, sub.student_id, sub.assignment, cells[sub.assignment])
            except Exception as err:  # one student's trouble, whatever it is, must not end the batch
                return zero(f"grader error: {one_line(err)}")

        rows: dict[tuple[str, str], GradeRow] = {}
        started = time.monotonic()
        echo(f"Grading {len(submissions)} submission(s) with {jobs} parallel job(s) ...")
        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(grade_one, sub): sub for sub in submissions}
            try:
                for done, future in enumerate(_completed_or_interrupted(futures), start=1):
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
        ordered = [rows[key] for key in sorted(rows)]
        echo(format_table(ordered))
        if out is not None:
            try:
                write_csv(ordered, out)
            except OSError as err:
                raise GraderError(f"could not write the grades to '{out}': {one_line(err)}") from err
            echo(f"Wrote {out}")
        if logs_dir is not None:
            Path(logs_dir).mkdir(parents=True, exist_ok=True)
            for log in sorted(logs.glob("*.log")):
                shutil.copyfile(log, Path(logs_dir) / log.name)
            echo(f"Grading logs in {logs_dir}")
    return ordered


def _completed_or_interrupted(futures: Iterable[Future]) -> Iterator[Future]:
    """The futures as they complete, like ``as_completed``; Ctrl-C is turned into KeyboardInterrupt only
    between waits. Raised inside ``concurrent.futures``' own waiting, it can leave a future's lock held,
    and the pool's shutdown then waits forever for a worker blocked on that lock."""
    interrupted = threading.Event()
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGINT, lambda *_: interrupted.set()) if in_main else None
    try:
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            yield from done
            if interrupted.is_set():
                raise KeyboardInterrupt
    finally:
        if in_main:
            signal.signal(signal.SIGINT, previous)


def check_writable(out: Path) -> None:
    """Raise :class:`UsageError` unless the grades can be written to ``out`` (tried with a probe file).

    Checked before grading starts, so a long batch never ends without its CSV.

    Example:
        >>> check_writable(Path("/nonexistent/grades.csv"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        autograder.errors.UsageError: Cannot write the grades to '/nonexistent/grades.csv': ...
    """
    problem = None
    parent = out.parent
    if out.is_dir():
        problem = "that is a folder"
    elif out.exists() and not stat.S_ISREG(out.stat().st_mode):
        problem = "that is not a regular file (a device, a pipe or a socket)"
    elif not parent.is_dir():
        problem = f"{parent} is a file, not a folder" if parent.exists() else f"there is no folder {parent}"
    else:
        try:
            with tempfile.NamedTemporaryFile(dir=parent, prefix=f".{out.name}.", suffix=".probe"):
                pass
        except OSError as err:
            problem = f"no file can be created in {parent} ({err.strerror or one_line(err)})"
    if problem is not None:
        raise UsageError(
            f"Cannot write the grades to '{out}': {problem}. Expected the path of a CSV file in an existing, "
            "writable folder; nothing was graded. Pass --out path/to/grades.csv."
        )


def one_line(err: BaseException, limit: int = 200) -> str:
    """``ExceptionType: message`` on one line, at most ``limit`` characters.

    Example:
        >>> one_line(OSError("disk\nfull"))
        'OSError: disk full'
    """
    text = " ".join(f"{type(err).__name__}: {err}".split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_autograde(
    course: Path,
    sub: Submission,
    logs: Path,
    env: dict[str, str],
    cell_timeout: int | None,
    student_timeout: float,
    running: RunningGraders,
) -> tuple[bool, str]:
    """Autograde one submission in its own process session; ``(succeeded, reason if not)``.

    However it ends, the process, the kernel it started (which runs in a session of its own) and
    everything they spawned are killed afterwards: nothing a submission starts outlives its grading.
    Past ``student_timeout`` seconds that happens at once and the submission scores 0.

    Example:
        >>> run_autograde(course, sub, logs, env, None, 1800, RunningGraders())  # doctest: +SKIP
        (True, '')
    """
    result_file = logs / f"{sub.student_id}.{sub.assignment}.json"
    command = [sys.executable, "-m", "autograder._autograde_one",
               str(course), sub.assignment, sub.student_id, str(result_file)]
    if cell_timeout is not None:
        command += ["--cell-timeout", str(cell_timeout)]
    tag = uuid.uuid4().hex
    with open(logs / f"{sub.student_id}.{sub.assignment}.log", "wb") as log:
        proc = running.start(command, tag, cwd=PACKAGE_PARENT, env={**env, TAG_VARIABLE: tag}, stdout=log,
                             stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        if proc is None:
            return False, "grading was interrupted"
        try:
            finished = wait_unreaped(proc, student_timeout)
        finally:
            kill_process_tree(proc, tag)
            running.finished(proc)
    if not finished:
        return False, f"grading took longer than {student_timeout:g} s for the whole notebook"
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False, f"the grading process crashed (exit code {proc.returncode})"
    return bool(result["success"]), str(result.get("reason", ""))


def graded_cells_of(course_root: Path, assignment: str) -> list[GradedCell]:
    """The graded cells of an assignment's instructor notebook, in order.

    Example:
        >>> [c.grade_id for c in graded_cells_of(COURSE_ROOT, "01_task_definition")]  # doctest: +SKIP
        ['test_one_hot_descriptors', ...]
    """
    return graded_cells(load_notebook(source_notebook(course_root, assignment)))
