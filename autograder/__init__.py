"""The course's autograder: an nbgrader course root plus the ``python -m autograder`` command line.

The folder holding this file is the nbgrader course root: ``nbgrader_config.py`` sits here and the
instructor notebooks live in ``source/<assignment>/<assignment>.ipynb``. The commands are
``release`` (regenerate ``notebooks/``), ``check`` (self-check one student notebook) and ``grade``
(autograde a folder of submissions); see ``python -m autograder --help``.

nbgrader itself is imported lazily, inside the functions that need it, so that ``--help`` and
input validation answer at once.
"""

from pathlib import Path

#: The default nbgrader course root (the folder of this package).
COURSE_ROOT = Path(__file__).resolve().parent

__all__ = ["COURSE_ROOT"]
