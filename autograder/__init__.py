"""The course's autograder: an nbgrader course root plus the ``python -m autograder`` command line.

The folder holding this file is the nbgrader course root: ``nbgrader_config.py`` sits here and the
instructor notebooks live in ``source/<assignment>/<assignment>.ipynb``. The commands are
``release`` (regenerate ``notebooks/``), ``check`` (self-check one student notebook) and ``grade``
(autograde a folder of submissions); see ``python -m autograder --help``.

nbgrader itself is imported lazily, inside the functions that need it, so that ``--help`` and
input validation answer at once.
"""

import sys
from pathlib import Path

# Every grading process imports nbformat (through nbgrader and nbclient), and nbformat imports jsonschema,
# whose format checkers import ``rfc3987_syntax`` when it is installed (jupyter-events pulls it in):
# version 1.1.0 builds ~39 Earley parsers at import: 0.8 s in every process (benchmarks/process_start.py;
# python-jsonschema/jsonschema#1428). It serves only the "iri" formats, which no Jupyter schema
# uses, and nbformat validates with fastjsonschema anyway. Marking the module absent makes jsonschema skip
# those two checkers, as it does where the package is not installed.
sys.modules.setdefault("rfc3987_syntax", None)  # type: ignore[arg-type]

#: The default nbgrader course root (the folder of this package).
COURSE_ROOT = Path(__file__).resolve().parent

__all__ = ["COURSE_ROOT"]
