"""No grading process outlives the one that started it, however that one ends (SIGKILL included).

On Linux a process can ask to be killed when the thread that started it ends (``PR_SET_PDEATHSIG``). The
grader's grading servers ask for it as they start (:func:`die_with_parent`), and every kernel they start
is launched through ``python -I -m autograder.lifeline -- COMMAND...``, which asks for it too before
running the sandbox. A killed grader therefore takes its servers with it, a killed server its kernel, and
a kernel in the sandbox its whole PID namespace. Each process also checks that the parent it expects
(:data:`PARENT_VARIABLE`) is still its parent, so one whose parent died while it was starting ends too.

Elsewhere (macOS, Windows) there is no such request: the grader still kills everything it started when
it stops on its own, on Ctrl-C, SIGTERM or SIGHUP, but a SIGKILL of the grader leaves its servers running
until they finish the student at hand (they read their work from the grader and stop when it is gone).

This module uses the standard library only (it runs before the sandbox, under ``python -I``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys

#: Environment variable holding the process id a grading process expects as its parent.
PARENT_VARIABLE = "MTML_LIFELINE_PARENT"
_PR_SET_PDEATHSIG = 1
_SIGKILL = int(getattr(signal, "SIGKILL", 9))  # Windows has no SIGKILL (nor the request)


def die_with_parent(sig: int = _SIGKILL, check_parent: bool = True) -> bool:
    """Have this process get ``sig`` when the thread that started it ends (Linux), and say whether its
    parent is still the one named in :data:`PARENT_VARIABLE` (``True`` when none is named, or without
    ``check_parent``: the first process of a PID namespace sees no parent).

    ``False`` means the parent died before the request was made: the caller should exit at once.
    A change of user (``setuid``) cancels the request, so a process that changes user asks again after.

    Example:
        >>> die_with_parent()  # doctest: +SKIP
        True
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
        except (OSError, AttributeError):
            pass
    expected = os.environ.get(PARENT_VARIABLE, "")
    return not check_parent or not expected.isdigit() or os.getppid() == int(expected)


def launcher(command: list[str]) -> list[str]:
    """``command`` run through this module, so that it dies with the process that starts it.

    Example:
        >>> launcher(["unshare", "true"])[-3:]
        ['--', 'unshare', 'true']
    """
    return [sys.executable, "-I", "-m", "autograder.lifeline", "--", *command]


def main(argv: list[str] | None = None) -> None:
    """``-- COMMAND...``: ask to die with the parent, then become ``COMMAND`` (exit 1 if the parent is
    already gone)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if len(argv) < 2 or argv[0] != "--":
        raise SystemExit("usage: python -I -m autograder.lifeline -- COMMAND...")
    if not die_with_parent():
        raise SystemExit(1)
    os.execvp(argv[1], argv[1:])


if __name__ == "__main__":
    main()
