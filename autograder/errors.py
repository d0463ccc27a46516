"""The one error type the command line turns into a message and exit code 2."""

from __future__ import annotations


class UsageError(Exception):
    """A bad input from the user: the message is one paragraph saying what is wrong,
    what was expected and what to do. Raised before anything is changed on disk.

    Example:
        >>> str(UsageError("No notebook at 'x.ipynb': expected a path to a .ipynb file."))
        "No notebook at 'x.ipynb': expected a path to a .ipynb file."
    """
