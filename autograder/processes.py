"""The processes a grading run starts, and making sure none of them outlives its student.

A submission runs arbitrary code in its kernel: it can start background processes, put them in
sessions of their own (out of reach of a process-group kill) and let them be re-parented when the
kernel exits. Three things find them:

- every grading process gets a tag in its environment (:data:`TAG_VARIABLE`), which the kernel and
  everything it starts inherit, so they can be found wherever they were re-parented;
- on Linux the grading process is a child subreaper (:func:`become_subreaper`), so orphans of the
  kernel stay its descendants, and it kills them before it exits (:func:`kill_descendants`);
- :func:`kill_process_tree` kills a grading process's descendants, its process group and every
  process with its tag, after each student.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from typing import Any

#: Environment variable holding the tag of one student's grading run.
TAG_VARIABLE = "MTML_GRADING_RUN"
#: Environment variable holding the identifier of a whole grading batch (every student's processes).
BATCH_VARIABLE = "MTML_GRADING_BATCH"
#: Rounds of killing: a process may fork while the previous round kills its parent.
KILL_ROUNDS = 5
_PR_SET_CHILD_SUBREAPER = 36


class RunningGraders:
    """The grading processes of a batch that are still running, each with its tag.

    They run in sessions of their own (so a timeout can kill each as a group), which also means a
    Ctrl-C in the terminal does not reach them: an interrupted batch kills them through this list.

    Example:
        >>> running = RunningGraders()
        >>> running.kill_all(); running.start(["true"], tag="t") is None
        True
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._procs: dict[subprocess.Popen, str] = {}
        self.stopping = False

    def start(self, command: list[str], tag: str, **popen: Any) -> subprocess.Popen | None:
        """Start a grading process in a new session, or return ``None`` once the batch is stopping. It
        learns this process's id (:data:`~autograder.lifeline.PARENT_VARIABLE`), so it can die with it."""
        from autograder.lifeline import PARENT_VARIABLE

        popen["env"] = {**popen.get("env", os.environ), PARENT_VARIABLE: str(os.getpid())}
        with self._lock:
            if self.stopping:
                return None
            proc = subprocess.Popen(command, start_new_session=True, **popen)
            self._procs[proc] = tag
            return proc

    def finished(self, proc: subprocess.Popen) -> None:
        """Forget a grading process (it has been waited for and killed)."""
        with self._lock:
            self._procs.pop(proc, None)

    def kill_all(self) -> None:
        """Stop starting new processes and kill every running one with all it started."""
        with self._lock:
            self.stopping = True
            procs = list(self._procs.items())
        for proc, tag in procs:
            kill_process_tree(proc, tag)


def tagged_processes(tag: str, variable: str = TAG_VARIABLE) -> list[Any]:
    """Every process (as ``psutil.Process``) whose environment holds ``variable=tag``.

    Processes this user may not inspect are skipped.

    Example:
        >>> tagged_processes("no-such-tag")
        []
    """
    import psutil

    found = []
    for process in psutil.process_iter():
        try:
            if process.pid != os.getpid() and process.environ().get(variable) == tag:
                found.append(process)
        except (psutil.Error, OSError):
            pass
    return found


def _kill(processes: list[Any], groups: set[int]) -> None:
    """SIGKILL the process groups ``groups`` (never our own) and then each of ``processes``."""
    import psutil

    for process in processes:
        try:
            groups.add(os.getpgid(process.pid))
        except OSError:
            pass
    groups.discard(os.getpgrp())
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
    for process in processes:
        try:
            process.kill()
        except psutil.Error:
            pass


def kill_process_tree(proc: subprocess.Popen, tag: str | None = None) -> None:
    """Kill a process started with ``start_new_session=True``, all its descendants, their process
    groups and (with ``tag``) every process carrying that grading tag, then reap ``proc``.

    Jupyter kernels start in a session of their own, so killing the grading process's group alone
    would leave the kernel (and whatever it runs) alive. Also for a process that has exited but was
    not reaped yet: what it left behind is found through its group
    (whose id cannot be reused before ``proc`` is reaped) and its tag.

    Example:
        >>> kill_process_tree(subprocess.Popen(["sleep", "60"], start_new_session=True))
    """
    import psutil

    for _ in range(KILL_ROUNDS):
        try:
            victims = psutil.Process(proc.pid).children(recursive=True) if proc.returncode is None else []
        except psutil.NoSuchProcess:
            victims = []
        if tag is not None:
            known = {p.pid for p in victims}
            victims += [p for p in tagged_processes(tag) if p.pid not in known]
        # proc leads its own group; once Popen has reaped it, its id may belong to another process.
        _kill(victims, {proc.pid} if proc.returncode is None else set())
        if not victims:
            break
        psutil.wait_procs(victims, timeout=1)
    proc.wait()


def kill_batch(batch: str) -> None:
    """Kill every process of this machine that carries the batch identifier ``batch`` (an interrupted
    batch, or the end of one graded by a local Dask cluster whose workers were stopped mid-task).

    Example:
        >>> kill_batch("no-such-batch")
    """
    import psutil

    for _ in range(KILL_ROUNDS):
        victims = tagged_processes(batch, BATCH_VARIABLE)
        if not victims:
            return
        _kill(victims, set())
        psutil.wait_procs(victims, timeout=1)


def become_subreaper() -> bool:
    """Make this process the one orphaned descendants are re-parented to (Linux only).

    A kernel's background process then stays a descendant of the grading process after the kernel
    exits, instead of moving to init, so :func:`kill_descendants` finds it. Returns whether it worked.

    Example:
        >>> become_subreaper()  # doctest: +SKIP
        True
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def kill_descendants() -> None:
    """Kill every descendant of this process (and their process groups), then reap the dead.

    Example:
        >>> kill_descendants()  # doctest: +SKIP
    """
    import psutil

    me = psutil.Process()
    for _ in range(KILL_ROUNDS):
        victims = me.children(recursive=True)
        if not victims:
            break
        _kill(victims, set())
        psutil.wait_procs(victims, timeout=1)
    while True:  # orphans re-parented to a subreaper become its zombies
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
