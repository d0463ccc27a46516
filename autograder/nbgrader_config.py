"""nbgrader configuration of the course (the course root is the folder holding this file).

Read by the nbgrader command line when run from this folder and by ``python -m autograder``,
which copies this file together with ``source/`` into a temporary course for every release
and grading run, so ``root`` follows the copy.
"""

import os

c = get_config()  # noqa: F821 (injected by traitlets' config loader)

c.CourseDirectory.root = os.path.dirname(os.path.abspath(__file__))
c.CourseDirectory.source_directory = "source"

# Smoke-profile cells take seconds, but a laptop-profile training cell can take minutes; an endless
# loop is interrupted after this many seconds and the rest of the notebook still runs.
# `python -m autograder grade/check --cell-timeout S` overrides it.
c.Execute.timeout = 300
# An interrupted cell gets this many seconds to answer; a kernel that does not (it ignores the interrupt,
# or stopped answering altogether) is killed, and that cell and the rest of the notebook score 0.
# `python -m autograder grade --interrupt-grace S` overrides it.
c.TrustedExecute.interrupt_grace = 30

# A deleted or de-tagged test cell must score 0, not silently become "needs manual grade".
c.OverwriteCells.add_missing_cells = True

# A duplicated test cell is dropped by DeduplicateIds; the next step removes the empty metadata it leaves,
# on which OverwriteCells would fail.
c.Autograde.sanitize_preprocessors = [
    "nbgrader.preprocessors.ClearOutput",
    "nbgrader.preprocessors.DeduplicateIds",
    "autograder.preprocessors.DropEmptyNbgraderMetadata",
    "nbgrader.preprocessors.OverwriteKernelspec",
    "nbgrader.preprocessors.OverwriteCells",
    "nbgrader.preprocessors.CheckCellMetadata",
]

# Each assignment's hidden tests (source/<assignment>/grading.py) run in the grader, never in a
# student's kernel, and must never be copied into a release.
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", "grading.py"]

# TrustedExecute runs the notebook like nbgrader's Execute, then decides each test cell in the grader
# process from the hidden tests and writes the outputs nbgrader scores from (a warning on stderr
# costs nothing; only a failed check does).
c.Autograde.autograde_preprocessors = [
    "autograder.preprocessors.TrustedExecute",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
