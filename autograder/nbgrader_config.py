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

# A deleted or de-tagged test cell must score 0, not silently become "needs manual grade".
c.OverwriteCells.add_missing_cells = True

# nbgrader zeroes a test cell that writes anything to stderr, so a harmless warning would cost the
# student the cell. Right after execution, stderr of graded cells without an error is moved to stdout.
c.Autograde.autograde_preprocessors = [
    "nbgrader.preprocessors.Execute",
    "autograder.preprocessors.StderrToStdout",
    "nbgrader.preprocessors.IgnorePattern",
    "nbconvert.preprocessors.ClearMetadataPreprocessor",
    "nbgrader.preprocessors.LimitOutput",
    "nbgrader.preprocessors.SaveAutoGrades",
    "nbgrader.preprocessors.AssignLatePenalties",
    "nbgrader.preprocessors.CheckCellMetadata",
]
