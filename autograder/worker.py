"""Grading one student: the unit of work that ``grade`` runs in a thread pool (``--jobs``) or on a Dask
cluster (``--scheduler``).

A :class:`GradeJob` is plain data (the submission's files as bytes, the options), so it can travel to any
machine; the course (config, instructor notebooks, hidden tests) travels once per worker as a dict of
files. Each worker process prepares a private copy of the course with its own gradebook the first time it
sees that course, then autogrades every student it is given against it, each in a process of its own
(``python -m autograder._autograde_one``) whose kernel runs in the sandbox.
"""

from __future__ import annotations

import hashlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder import COURSE_ROOT
from autograder._autograde_one import DONE_LINE
from autograder.course import (
    GradedCell,
    graded_cells,
    isolated_environment,
    load_notebook,
    nbgrader_api,
    not_this_assignment,
    stamp_gradebooks_in_process,
)
from autograder.hidden import one_line
from autograder.processes import (
    BATCH_VARIABLE,
    TAG_VARIABLE,
    RunningGraders,
    kill_process_tree,
)
from autograder.results import GradeRow, read_gradebook_row
from autograder.sandbox import sandbox_policy

#: The folder that holds the ``autograder`` package: the working directory of every grading process.
#: ``python -m`` puts the working directory first on ``sys.path``; here the first ``autograder`` on the
#: path is this very package, whatever a submission left elsewhere.
PACKAGE_PARENT = Path(__file__).resolve().parents[1]

CourseFiles = dict[str, bytes]
"""A course as data: paths relative to the course root (``nbgrader_config.py``, ``source/...``) -> bytes."""


@dataclass(frozen=True)
class GradeOptions:
    """How a batch is graded; the same for every student of the batch."""

    batch: str
    """Identifier of the batch (every process it starts carries it, so none outlives the batch)."""
    cell_timeout: int | None = None
    """Seconds before a running cell is interrupted (``None``: the course's ``c.Execute.timeout``)."""
    interrupt_grace: int | None = None
    """Seconds an interrupted cell gets to answer before its kernel is killed as wedged and the rest of
    the notebook scores 0 (``None``: the course's ``c.TrustedExecute.interrupt_grace``)."""
    student_timeout: float = 1800
    """Seconds for one student's whole notebook."""
    profile: str = "smoke"
    """``MTML_PROFILE`` of the kernels."""
    memory_mb: int = 4096
    """Memory limit of each kernel process (sandbox)."""
    data_dir: str = ""
    """``MTML_DATA_DIR`` for the kernels (empty: the default data folder)."""
    hide: tuple[str, ...] = ()
    """More folders or files the kernels must not see (the submissions, earlier grades), where they exist."""


@dataclass(frozen=True)
class GradeJob:
    """One student's submission of one assignment, as data."""

    student_id: str
    assignment: str
    files: dict[str, bytes] = field(default_factory=dict)
    """The submission folder's regular files (relative POSIX paths); the notebook may be missing."""


@dataclass
class GradeResult:
    """What grading one submission gives back: the row, each test's one-line reason, the nbgrader log."""

    row: GradeRow
    reasons: dict[str, str] = field(default_factory=dict)
    """Why each failed test failed (``grade_id`` -> reason); passed tests are absent."""
    log: str = ""


def course_files(course_root: Path, assignments: list[str]) -> CourseFiles:
    """Read the course's config and the sources of ``assignments`` (notebooks, hidden tests, data files).

    Example:
        >>> sorted(course_files(COURSE_ROOT, ["01_task_definition"]))[0]  # doctest: +SKIP
        'nbgrader_config.py'
    """
    files = {"nbgrader_config.py": (Path(course_root) / "nbgrader_config.py").read_bytes()}
    for assignment in assignments:
        folder = Path(course_root) / "source" / assignment
        for path in sorted(folder.rglob("*")):
            rel = path.relative_to(folder)
            if path.is_file() and not any(p in ("__pycache__", ".ipynb_checkpoints") for p in rel.parts):
                files[f"source/{assignment}/{rel.as_posix()}"] = path.read_bytes()
    return files


def _write_files(root: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` under ``root``, refusing any path that would leave it."""
    for name, data in files.items():
        rel = PurePosixPath(name)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise ValueError(f"refusing the file name {name!r}")
        path = root.joinpath(*rel.parts)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


@dataclass
class _Course:
    root: Path
    env: dict[str, str]
    logs: Path
    cells: dict[str, list[GradedCell]]
    students: set[str] = field(default_factory=set)
    """Students already in the gradebook."""


def _ensure_student(course: _Course, student_id: str) -> None:
    """Add the student to the gradebook before grading: nbgrader's autograde creates the row itself, so
    two assignments of one student graded at once would both try to, and one would fail."""
    with _courses_lock:
        if student_id in course.students:
            return
        from nbgrader.api import Gradebook

        stamp_gradebooks_in_process()  # the gradebook may be new
        with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
            gradebook.update_or_create_student(student_id)
        course.students.add(student_id)


_courses: dict[str, _Course] = {}
_courses_lock = threading.Lock()
_running = RunningGraders()


def _prepared(files: CourseFiles, options: GradeOptions) -> _Course:
    """This process's copy of the course with a gradebook for every assignment (made once per batch)."""
    key = hashlib.sha256(
        repr(sorted((k, hashlib.sha256(v).hexdigest()) for k, v in files.items())).encode()
        + options.batch.encode()
    ).hexdigest()[:16]
    with _courses_lock:
        if key in _courses:
            return _courses[key]
        tmp = Path(tempfile.mkdtemp(prefix="mtml-grade-"))
        course, logs = tmp / "course", tmp / "logs"
        _write_files(course, files)
        logs.mkdir()
        hidden = [course, logs, COURSE_ROOT / "source", *map(Path, options.hide)]
        policy = sandbox_policy(
            hidden, memory_mb=options.memory_mb, cpu_s=max(3600, int(2 * options.student_timeout))
        )
        env = {
            **os.environ,
            **isolated_environment(tmp / "env", options.profile, policy),
            BATCH_VARIABLE: options.batch,
        }
        if options.data_dir:
            env["MTML_DATA_DIR"] = options.data_dir
        api = nbgrader_api(course)
        assignments = sorted({name.split("/")[1] for name in files if name.startswith("source/")})
        cells = {}
        for name in assignments:
            result = api.generate_assignment(name, force=True, create=True)
            if not result["success"]:
                raise RuntimeError(
                    f"generate_assignment failed for {name!r}: {result.get('error', '')[-500:]}"
                )
            cells[name] = graded_cells(load_notebook(course / "source" / name / f"{name}.ipynb"))
        _courses[key] = _Course(course, env, logs, cells)
        return _courses[key]


def release_courses() -> None:
    """Stop this process's grading servers and delete its prepared courses (the end of a batch)."""
    with _courses_lock:
        servers = list(_all_servers)
        _all_servers.clear()
    for server in servers:
        server.stop()
    _running.stopping = False  # a later batch in this process may start grading processes again
    with _courses_lock:
        for course in _courses.values():
            shutil.rmtree(course.root.parent, ignore_errors=True)
        _courses.clear()


def stop_all() -> None:
    """Kill every grading process this process started and start no more (an interrupted batch)."""
    _running.kill_all()


def grade_job(job: GradeJob, files: CourseFiles, options: GradeOptions) -> GradeResult:
    """Grade one submission; never raises for a problem of the submission (it scores 0 with a reason).

    Example:
        >>> job = GradeJob("alice", "01_task_definition", {"01_task_definition.ipynb": b"..."})
        >>> grade_job(job, files, options).row.score  # doctest: +SKIP
        12.0
    """
    course = _prepared(files, options)
    cells = course.cells[job.assignment]
    notebook = f"{job.assignment}.ipynb"
    try:
        if notebook not in job.files:
            return GradeResult(
                GradeRow.zero(
                    job.student_id, job.assignment, cells, f"no {notebook} in the submission folder"
                )
            )
        if (wrong := _another_assignments_notebook(job, course)) is not None:
            return GradeResult(GradeRow.zero(job.student_id, job.assignment, cells,
                                             f"wrong notebook: {wrong}"))
        folder = course.root / "submitted" / job.student_id / job.assignment
        shutil.rmtree(folder, ignore_errors=True)
        _write_files(folder, job.files)
        _ensure_student(course, job.student_id)
        ok, reason, log, note = run_autograde(course, job, options)
        if not ok:
            return GradeResult(GradeRow.zero(job.student_id, job.assignment, cells, reason), log=log)
        db_url = f"sqlite:///{course.root / 'gradebook.db'}"
        row = read_gradebook_row(db_url, job.student_id, job.assignment, cells)
        graded = course.root / "autograded" / job.student_id / job.assignment / notebook
        reasons = failure_reasons(graded) if row.status.startswith("ok") else {}
        if note:  # a kernel that stopped answering: the cells from there on scored 0
            row.status = note if row.status == "ok" else f"{note}; {row.status}"
        return GradeResult(row, reasons, log)
    except Exception as err:  # one student's trouble, whatever it is, must not end the batch
        return GradeResult(
            GradeRow.zero(job.student_id, job.assignment, cells, f"grader error: {one_line(err)}")
        )


def _another_assignments_notebook(job: GradeJob, course: _Course) -> str | None:
    """:func:`not_this_assignment` for the submitted notebook (``None`` too when it is not JSON at all:
    grading then says what is wrong with it)."""
    try:
        cells = json.loads(job.files[f"{job.assignment}.ipynb"]).get("cells", [])
        tests_of = {a: {c.grade_id for c in graded if c.is_test} for a, graded in course.cells.items()}
        return not_this_assignment([c for c in cells if isinstance(c, dict)], job.assignment, tests_of)
    except (ValueError, AttributeError, TypeError, KeyError):
        return None


def failure_reasons(autograded: Path) -> dict[str, str]:
    """Each failed test cell's one-line reason, read from the autograded notebook.

    The reason is the verdict the grader wrote (``TestFailed: ...``) or, for a cell graded the plain
    nbgrader way, the last line of its error; never a traceback, so never a hidden test's code.

    Example:
        >>> failure_reasons(Path("autograded/alice/01_x/01_x.ipynb"))  # doctest: +SKIP
        {'test_one_hot_descriptors': 'rows must be rows of the identity matrix'}
    """
    from autograder.check import error_line
    from autograder.course import is_test_cell

    reasons = {}
    for cell in load_notebook(autograded).cells:
        if is_test_cell(cell):
            errors = [o for o in cell.get("outputs", []) if o.get("output_type") == "error"]
            if errors:
                verdict = errors[-1]
                text = (
                    verdict.get("evalue", "") if verdict.get("ename") == "TestFailed" else error_line(cell)
                )
                reasons[str(cell.metadata["nbgrader"].get("grade_id", ""))] = one_line(text or "failed")
    return reasons


class _Server:
    """One ``python -m autograder._autograde_one --serve`` process: it grades the students of one thread
    one after another, so nbgrader and torch are imported once per thread, not once per student."""

    def __init__(self, course: _Course, options: GradeOptions) -> None:
        self.tag = uuid.uuid4().hex
        command = [sys.executable, "-m", "autograder._autograde_one", str(course.root), "--serve"]
        if options.cell_timeout is not None:
            command += ["--cell-timeout", str(options.cell_timeout)]
        if options.interrupt_grace is not None:
            command += ["--interrupt-grace", str(options.interrupt_grace)]
        self.errors = open(course.logs / f"server.{self.tag[:8]}.log", "wb")  # noqa: SIM115 (closed in stop)
        env = {**course.env, TAG_VARIABLE: self.tag}
        self.course = course
        self.proc = _running.start(command, self.tag, cwd=PACKAGE_PARENT, env=env, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, stderr=self.errors)

    def grade(self, job: GradeJob, result_file: Path, timeout: float) -> bool | None:
        """Send one student; ``True`` when its result file is written, ``False`` past ``timeout``
        seconds, ``None`` when the process died."""
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        line = json.dumps({"assignment": job.assignment, "student": job.student_id,
                           "result": str(result_file)})
        try:
            self.proc.stdin.write(line.encode() + b"\n")
            self.proc.stdin.flush()
        except OSError:
            return None
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            ready, _, _ = select.select([self.proc.stdout], [], [], min(remaining, 1.0))
            if ready:
                answer = self.proc.stdout.readline()
                if not answer:
                    return None
                if answer.strip() == DONE_LINE.encode():
                    return True

    def stop(self) -> None:
        """Kill the process and everything it started."""
        if self.proc is not None:
            kill_process_tree(self.proc, self.tag)
            _running.finished(self.proc)
            self.proc = None
        self.errors.close()


_servers = threading.local()
_all_servers: list[_Server] = []


def _server_for(course: _Course, options: GradeOptions) -> _Server | None:
    """This thread's grading server for ``course`` (started when missing or dead); ``None`` once the
    batch is stopping."""
    server = getattr(_servers, "server", None)
    if server is not None and (server.proc is None or server.proc.poll() is not None
                               or server.course is not course):
        server.stop()
        server = None
    if server is None:
        server = _Server(course, options)
        if server.proc is None:
            return None
        _servers.server = server
        with _courses_lock:
            _all_servers.append(server)
    return server


def run_autograde(course: _Course, job: GradeJob, options: GradeOptions) -> tuple[bool, str, str, str]:
    """Autograde one submission: ``(succeeded, reason if not, nbgrader's log, note)``; the note says why
    the later cells of a graded notebook scored 0 (its kernel stopped answering), or is empty.

    The student's kernel runs in its own sandbox and dies with its grading; past ``student_timeout``
    seconds the grading process is killed with everything it started (the next student gets a new one)
    and the submission scores 0.
    """
    result_file = course.logs / f"{uuid.uuid4().hex}.json"
    server = _server_for(course, options)
    if server is None:
        return False, "grading was interrupted", "", ""
    try:
        finished = server.grade(job, result_file, options.student_timeout)
        if finished is False:
            server.stop()
            reason = f"grading took longer than {options.student_timeout:g} s for the whole notebook"
            return False, reason, "", ""
        try:
            result = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            code = server.proc.poll() if server.proc is not None else None
            server.stop()
            return False, f"the grading process crashed (exit code {code})", "", ""
        return (bool(result["success"]), str(result.get("reason", "")), str(result.get("log", "")),
                str(result.get("note", "")))
    finally:
        result_file.unlink(missing_ok=True)
