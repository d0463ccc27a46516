"""``python -m autograder release``: regenerate the student notebooks from the instructor sources.

nbgrader's ``generate_assignment`` runs in a temporary copy of the course (config + sources), so a
stale gradebook or release folder in the real course can neither break it nor leak into the result,
and the same sources always give byte-identical student notebooks.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import nbformat

from autograder import COURSE_ROOT
from autograder.course import copy_course, list_assignments, nbgrader_api, source_notebook
from autograder.errors import UsageError

#: Where student notebooks go by default: ``notebooks/`` beside the course root.
DEFAULT_NOTEBOOKS_DIR = COURSE_ROOT.parent / "notebooks"
#: JupyterLab's cell tag for "an error here is expected, keep running". Every code cell of a student
#: notebook carries it, so Run All goes on past the exercises not done yet (``NotImplementedError``) and
#: reaches the "Check my work" button at the end. ``check`` and grading run every cell anyway.
KEEP_RUNNING_TAG = "raises-exception"


class ReleaseError(RuntimeError):
    """nbgrader could not generate a student version (e.g. invalid nbgrader metadata in a source)."""


def release_notebooks(
    course_root: Path = COURSE_ROOT,
    out_dir: Path = DEFAULT_NOTEBOOKS_DIR,
    assignments: list[str] | None = None,
) -> list[Path]:
    """Write ``out_dir/<assignment>.ipynb`` for each assignment (default: all) and return the paths.

    Student notebooks keep their nbgrader metadata (``check`` and ``grade`` rely on it); solutions
    become ``# YOUR CODE HERE`` and hidden tests are gone.

    Example:
        >>> release_notebooks(COURSE_ROOT, Path("notebooks"))  # doctest: +SKIP
        [PosixPath('notebooks/01_task_definition.ipynb'), ...]
    """
    course_root = Path(course_root)
    if assignments is None:
        assignments = list_assignments(course_root)
        if not assignments:
            raise UsageError(
                f"Nothing to release: no instructor notebooks under {course_root / 'source'}. Expected "
                f"source/<assignment>/<assignment>.ipynb, e.g. "
                f"{course_root / 'source' / '01_task_definition' / '01_task_definition.ipynb'}."
            )
    for assignment in assignments:
        source_notebook(course_root, assignment)  # fails with the list of known names
    student_versions = {}
    with tempfile.TemporaryDirectory(prefix="mtml-release-") as tmp:
        course = copy_course(course_root, Path(tmp) / "course", assignments)
        api = nbgrader_api(course)
        for assignment in assignments:
            result = api.generate_assignment(assignment, force=True, create=True)
            if not result["success"]:
                raise ReleaseError(
                    f"nbgrader could not generate the student version of {assignment!r}:\n"
                    f"{result.get('log', '')}{result.get('error', '')}"
                )
            released = course / "release" / assignment / f"{assignment}.ipynb"
            student_versions[assignment] = keep_running_after_errors(nbformat.read(released, as_version=4))
    # Written only once every assignment generated, so a failure leaves notebooks/ as it was.
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for assignment, nb in student_versions.items():
        path = out_dir / f"{assignment}.ipynb"
        path.write_text(notebook_text(nb), encoding="utf-8")
        written.append(path)
    return written


def keep_running_after_errors(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Tag every code cell with :data:`KEEP_RUNNING_TAG` (once); returns the same notebook.

    Example:
        >>> from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell
        >>> nb = new_notebook(cells=[new_code_cell("1 / 0"), new_markdown_cell("x")])
        >>> nb = keep_running_after_errors(nb)
        >>> [cell.metadata.get("tags") for cell in nb.cells]
        [['raises-exception'], None]
    """
    for cell in nb.cells:
        if cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            if KEEP_RUNNING_TAG not in tags:
                tags.append(KEEP_RUNNING_TAG)
    return nb


def notebook_text(nb: nbformat.NotebookNode) -> str:
    """The canonical text of a notebook (nbformat's sorted, indented JSON with a final newline).

    Example:
        >>> from nbformat.v4 import new_notebook
        >>> notebook_text(new_notebook()).endswith("}\\n")
        True
    """
    text = nbformat.writes(nb)
    return text if text.endswith("\n") else text + "\n"
