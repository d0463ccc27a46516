"""``python -m autograder grade``: autograde a folder of submissions, hidden tests included.

Each submission becomes a :class:`~autograder.worker.GradeJob` (plain data). With ``--jobs N`` the jobs
run in N threads of this process, each student's notebook in a process and a sandboxed kernel of its
own; with ``--scheduler`` they go to a Dask cluster (a local one by default), whose workers do the
same. Either way every worker grades against a fresh private copy of the course, so the same
submission always gets the same score and one hostile or broken submission cannot stop the batch.
"""

from __future__ import annotations

import hashlib
import os
import signal
import stat
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from pathlib import Path

from autograder import COURSE_ROOT, lastrun
from autograder.course import graded_cells, load_notebook, source_notebook
from autograder.errors import Stopped, UsageError
from autograder.feedback import write_feedback
from autograder.hidden import one_line
from autograder.hints import exercise_labels
from autograder.processes import kill_batch, kill_process_tree  # noqa: F401 (kill_process_tree: re-export)
from autograder.results import GradeRow, format_table, merge_csv, read_grades_csv, write_csv
from autograder.sandbox import describe, sandbox_policy
from autograder.submissions import Submission, find_submissions, submission_files
from autograder.worker import (
    GradeJob,
    GradeOptions,
    GradeResult,
    course_files,
    grade_job,
    release_courses,
    stop_all,
)

DEFAULT_STUDENT_TIMEOUT = 1800
DEFAULT_MEMORY_MB = 4096
#: Signals that stop a batch as Ctrl-C does (nothing written, nothing left running): what ``timeout``, a
#: batch scheduler or a closed terminal send.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP")
                     if hasattr(signal, name))


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
    interrupt_grace: int | None = None,
    profile: str = "smoke",
    logs_dir: Path | None = None,
    echo: Callable[[str], None] = print,
    scheduler: str | None = None,
    memory_mb: int = DEFAULT_MEMORY_MB,
    feedback_dir: Path | None = None,
    students: list[str] | None = None,
    reuse: bool = False,
) -> list[GradeRow]:
    """Grade every submission under ``submissions_root``, write ``out`` (CSV) and return the rows.

    Rows come sorted by student, then assignment. A submission that breaks grading gets 0 on every
    graded cell and a reason in ``status``; the batch goes on. ``scheduler`` sends the work to a Dask
    cluster (``"local"``: one started here with ``jobs`` workers). With ``logs_dir``, each student's
    nbgrader log (hidden-test names and grader messages, for instructors) is kept there; with
    ``feedback_dir``, each student's HTML feedback (:mod:`autograder.feedback`). With ``students``, only
    their submissions are graded and, when ``out`` already exists, their rows replace theirs in it and
    every other row is kept as it was (a regrade). Every run with ``out`` records what it graded beside it
    (:mod:`autograder.lastrun`); with ``reuse``, a submission unchanged since (same files, course and
    options) keeps its row and reasons from there instead of being graded again. SIGTERM and SIGHUP
    stop the batch as Ctrl-C does (:class:`~autograder.errors.Stopped`, a ``KeyboardInterrupt``):
    every grading process and kernel is killed and nothing is written.

    Example:
        >>> rows = grade_submissions(Path("submitted"), Path("grades.csv"), jobs=4)  # doctest: +SKIP
        >>> rows[0].student_id, rows[0].score, rows[0].status  # doctest: +SKIP
        ('alice', 10.0, 'ok')
    """
    submissions = find_submissions(submissions_root, course_root, assignment)
    merge = False
    if students:
        submissions = only_students(submissions, students, submissions_root)
    if out is not None:
        out = Path(out)
        check_writable(out)
        merge = bool(students) and out.is_file()
        if merge:
            try:
                read_grades_csv(out)
            except ValueError as err:
                raise UsageError(f"--student merges the new rows into '{out}', but {err}. Pass the grades "
                                 "file of an earlier run, or another --out.") from err
    for folder, option in ((logs_dir, "--logs"), (feedback_dir, "--feedback")):
        if folder is not None and Path(folder).exists() and not Path(folder).is_dir():
            raise UsageError(f"{option} '{folder}' is a file: expected a folder (it is created if missing). "
                             "Pass another path.")
    assignments = sorted({s.assignment for s in submissions})
    sources = {a: load_notebook(source_notebook(course_root, a)) for a in assignments}  # read once
    cells = {a: graded_cells(nb) for a, nb in sources.items()}
    hide = [Path(course_root) / "source", submissions_root,
            *(p for p in (out, logs_dir, feedback_dir) if p is not None and Path(p).exists())]
    options = GradeOptions(batch=uuid.uuid4().hex, cell_timeout=cell_timeout, interrupt_grace=interrupt_grace,
                           student_timeout=student_timeout,
                           profile=profile, memory_mb=memory_mb, data_dir=os.environ.get("MTML_DATA_DIR", ""),
                           hide=tuple(str(Path(p).resolve()) for p in hide))
    for sub in submissions:
        if sub.renamed_from is not None:
            echo(f"warning: {sub.student_id}/{sub.assignment}: no {sub.assignment}.ipynb; grading its only "
                 f"notebook, '{sub.renamed_from}', as that")
    echo(describe(sandbox_policy([], memory_mb=memory_mb)))
    files = course_files(course_root, assignments)
    results: dict[tuple[str, str], GradeResult] = {}
    pending: list[GradeJob] = []
    options_key = (profile, cell_timeout, interrupt_grace, student_timeout, memory_mb)
    setting = lastrun.setting_digest(files, options_key)  # once per batch, not once per student
    digests: dict[tuple[str, str], str] = {}
    for sub in submissions:
        if sub.notebook.is_symlink():
            row = GradeRow.zero(sub.student_id, sub.assignment, cells[sub.assignment],
                                "the submitted notebook is a symbolic link, not a file")
            results[(sub.student_id, sub.assignment)] = GradeResult(row)
        else:
            job = GradeJob(sub.student_id, sub.assignment, submission_files(sub))
            digests[(sub.student_id, sub.assignment)] = lastrun.digest_of(job.files, setting)
            pending.append(job)
    reused: dict[tuple[str, str], GradeResult] = {}
    if reuse and out is not None and out.is_file():
        reused = lastrun.reusable(out, digests, cells)
        merge = merge or bool(reused)  # the rows of students not found this time stay too
        results.update(reused)
        pending = [job for job in pending if (job.student_id, job.assignment) not in reused]
        echo(f"Reusing {len(reused)} submission(s) unchanged since they were graded into {out}; grading "
             f"{len(pending)}.")

    started = time.monotonic()
    where = f"the Dask cluster at {scheduler}" if scheduler not in (None, "local") else (
        f"a local Dask cluster of {jobs} worker(s)" if scheduler == "local" else f"{jobs} parallel job(s)")
    echo(f"Grading {len(submissions)} submission(s) of {', '.join(assignments)} with {where} ...")
    progress = _progress(len(submissions), len(results))
    with StopSignals() as stop:
        try:
            run = _dask_results if scheduler is not None else _thread_results
            for job, result in run(pending, files, options, jobs, scheduler, stop):
                results[(job.student_id, job.assignment)] = result
                row = result.row
                progress.update(1)
                progress.write(f"[{len(results)}/{len(submissions)}] {row.student_id} {row.assignment}: "
                               f"{row.score:g}/{row.max_score:g} {row.status}", echo)
        finally:
            stop.cleaning = True  # a second signal must not cut the cleanup short
            progress.close()
            kill_batch(options.batch)  # whatever a worker could not clean up (an interrupted batch)
            release_courses()
    echo(f"Graded in {time.monotonic() - started:.1f} s.")
    ordered = [results[key].row for key in sorted(results)]
    echo(format_table(ordered))
    if out is not None:
        try:
            (merge_csv if merge else write_csv)(ordered, out)
            lastrun.save(out, {k: r for k, r in results.items() if k not in reused}, digests, keep=merge)
        except (OSError, ValueError) as err:
            raise GraderError(f"could not write the grades to '{out}': {one_line(err)}") from err
        echo(f"Updated {len(ordered)} row(s) of {out}; the other rows are as they were" if merge
             else f"Wrote {out}")
    if logs_dir is not None:
        Path(logs_dir).mkdir(parents=True, exist_ok=True)
        for (student, name), result in sorted(results.items()):
            (Path(logs_dir) / log_name(student, name)).write_text(result.log, encoding="utf-8")
        echo(f"Grading logs in {logs_dir}")
    if feedback_dir is not None:
        where = {a: exercise_labels(nb) for a, nb in sources.items()}
        written = write_feedback([results[key] for key in sorted(results)], Path(feedback_dir), where)
        echo(f"Feedback for {len(written)} submission(s) in {feedback_dir}")
    return ordered


def log_name(student_id: str, assignment: str) -> str:
    """``<student_id>.<assignment>.log``, shortened with a digest when too long for a file name.

    Example:
        >>> log_name("alice", "01_x"), len(log_name("x" * 300, "01_x"))
        ('alice.01_x.log', 119)
    """
    name = f"{student_id}.{assignment}.log"
    if len(name) <= 120:
        return name
    digest = hashlib.sha256(student_id.encode()).hexdigest()[:12]
    return f"{student_id[: 120 - len(assignment) - len(digest) - 7]}-{digest}.{assignment}.log"


class _progress:
    """A progress bar over students on a terminal (tqdm), plain lines otherwise."""

    def __init__(self, total: int, done: int) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, initial=done, desc="Grading", unit="student", disable=None)

    def update(self, n: int) -> None:
        self.bar.update(n)

    def write(self, line: str, echo: Callable[[str], None]) -> None:
        if self.bar.disable:
            echo(line)
        else:
            self.bar.write(line)

    def close(self) -> None:
        self.bar.close()


class StopSignals:
    """While active (in the main thread), Ctrl-C, SIGTERM and SIGHUP stop the batch: the first one raises
    :class:`~autograder.errors.Stopped` (a ``KeyboardInterrupt``), at once or, while :attr:`deferred`,
    at the next :meth:`check`; once :attr:`cleaning`, they are ignored, so that killing what the batch
    started always completes. The previous handlers come back on exit.

    Example:
        >>> with StopSignals() as stop:
        ...     stop.check()
    """

    def __init__(self) -> None:
        self.signum: int | None = None
        self.deferred = False
        self.cleaning = False
        self._raised = False
        self._previous: dict[int, object] = {}

    def __enter__(self) -> StopSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {sig: signal.signal(sig, self._handle) for sig in STOP_SIGNALS}
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]

    def _handle(self, signum: int, frame: object) -> None:
        if self.signum is not None or self.cleaning:
            return
        self.signum = signum
        if not self.deferred:
            self.check()

    def check(self) -> None:
        """Raise :class:`~autograder.errors.Stopped` if a stop signal came and was not raised yet."""
        if self.signum is not None and not self._raised:
            self._raised = True
            raise Stopped(self.signum)


def _thread_results(jobs: list[GradeJob], files: dict[str, bytes], options: GradeOptions, workers: int,
                    scheduler: str | None, stop: StopSignals) -> Iterator[tuple[GradeJob, GradeResult]]:
    """Grade in ``workers`` threads of this process, yielding results as they come."""
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {pool.submit(grade_job, job, files, options): job for job in jobs}
        try:
            for future in _completed_or_stopped(futures, stop):
                yield futures[future], future.result()
        except BaseException:  # Ctrl-C, SIGTERM, SIGHUP or a grader bug: leave no grading process behind
            stop_all()
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _dask_results(jobs: list[GradeJob], files: dict[str, bytes], options: GradeOptions, workers: int,
                  scheduler: str | None, stop: StopSignals) -> Iterator[tuple[GradeJob, GradeResult]]:
    """Grade on a Dask cluster: ``scheduler`` is its address, or ``"local"`` for one started here with
    ``workers`` single-threaded worker processes."""
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler == "local":
        cluster = LocalCluster(n_workers=max(1, workers), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout=30)
        except OSError as err:
            message = f"could not reach the Dask scheduler at {scheduler!r}: {one_line(err)}"
            raise GraderError(message) from err
    try:
        shared = client.scatter(files, broadcast=True)
        futures = {client.submit(grade_job, job, shared, options, pure=False): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _completed_or_stopped(futures: Iterable[Future], stop: StopSignals) -> Iterator[Future]:
    """The futures as they complete, like ``as_completed``; a stop signal (Ctrl-C, SIGTERM, SIGHUP) is
    raised only between waits. Raised inside ``concurrent.futures``' own waiting, it can leave a
    future's lock held, and the pool's shutdown then waits forever for a worker blocked on that lock."""
    stop.deferred = True
    try:
        pending = set(futures)
        while pending:
            stop.check()
            done, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            yield from done
        stop.check()
    finally:
        stop.deferred = False


def only_students(submissions: list[Submission], students: list[str], root: Path) -> list[Submission]:
    """The submissions of ``students``; :class:`UsageError` naming any student without one.

    Example:
        >>> only_students(find_submissions(Path("submitted"), COURSE_ROOT), ["alice"], Path("submitted"))
        ...  # doctest: +SKIP
        [Submission(student_id='alice', ...)]
    """
    wanted, found = set(students), {s.student_id for s in submissions}
    missing = [student for student in dict.fromkeys(students) if student not in found]
    if missing:
        known = sorted(found)
        shown = ", ".join(known[:10]) + (f" and {len(known) - 10} more" if len(known) > 10 else "")
        raise UsageError(f"No submission in '{root}' for --student {', '.join(missing)}. Students found: "
                         f"{shown}.")
    return [s for s in submissions if s.student_id in wanted]


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
