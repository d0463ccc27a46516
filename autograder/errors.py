"""The errors the command line turns into a message and an exit code: a usage error (2), a stop by a
signal (128 + the signal, as a shell reports it)."""

from __future__ import annotations


class UsageError(Exception):
    """A bad input from the user: the message is one paragraph saying what is wrong,
    what was expected and what to do. Raised before anything is changed on disk.

    Example:
        >>> str(UsageError("No notebook at 'x.ipynb': expected a path to a .ipynb file."))
        "No notebook at 'x.ipynb': expected a path to a .ipynb file."
    """


class Stopped(KeyboardInterrupt):
    """The command was asked to stop by a signal (SIGTERM, SIGHUP; Ctrl-C raises a plain
    ``KeyboardInterrupt``): it stops as on Ctrl-C, and exits with ``128 + signum``.

    Example:
        >>> import signal
        >>> Stopped(signal.SIGTERM).signum == signal.SIGTERM
        True
    """

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by signal {signum}")
        self.signum = signum
