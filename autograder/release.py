"""``python -m autograder release``: regenerate the student notebooks from the instructor sources.

nbgrader's ``generate_assignment`` runs in a temporary copy of the course (config + sources), so a
stale gradebook or release folder in the real course can neither break it nor leak into the result,
and the same sources always give byte-identical student notebooks.
"""

from __future__ import annotations

import json
import re
import tempfile
from pathlib import Path

try:
    import tomllib
except ImportError:  # pragma: no cover - Python 3.10: jupyterlab depends on tomli there
    import tomli as tomllib

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
#: The one place the instructor sets the course's pip address for hosted Jupyters (Colab): the
#: ``install-url`` of ``[tool.mtml-course]`` in the repository's ``pyproject.toml``, e.g.
#: ``"git+https://github.com/ORG/mtml-course-student"``. Empty: not set.
INSTALL_URL_TABLE, INSTALL_URL_KEY = "mtml-course", "install-url"
#: The line of every notebook's install cell (its first code cell) that release fills with that address.
COURSE_URL_LINE = re.compile(r'^(?P<assign>[ \t]*COURSE_URL = )"[^"\n]*"', re.M)


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
    url = configured_install_url(course_root.parent)
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
            student = keep_running_after_errors(nbformat.read(released, as_version=4))
            student_versions[assignment] = fill_install_url(student, url)
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


def configured_install_url(repo_root: Path = COURSE_ROOT.parent) -> str:
    """The course's pip address set in ``repo_root/pyproject.toml`` (``[tool.mtml-course] install-url``),
    or ``""`` when it is not set.

    Raises:
        ReleaseError: the value is not a one-line string without quotes or backslashes.

    Example:
        >>> configured_install_url(Path("/nowhere"))
        ''
    """
    path = Path(repo_root) / "pyproject.toml"
    if not path.is_file():
        return ""
    table = tomllib.loads(path.read_text(encoding="utf-8")).get("tool", {}).get(INSTALL_URL_TABLE, {})
    url = table.get(INSTALL_URL_KEY, "")
    if not isinstance(url, str) or url != url.strip() or any(c in url for c in '"\\\n'):
        raise ReleaseError(
            f"{path}: [tool.{INSTALL_URL_TABLE}] {INSTALL_URL_KEY} must be what `pip install` is given on a "
            f"hosted Jupyter, one string without quotes or backslashes (e.g. "
            f'"git+https://github.com/ORG/REPO"), or "" for none; got {url!r}'
        )
    return url


def fill_install_url(nb: nbformat.NotebookNode, url: str) -> nbformat.NotebookNode:
    """Write ``url`` into the ``COURSE_URL = "..."`` line of the notebook's install cell; returns the
    same notebook (one without that line is left as it is).

    Example:
        >>> from nbformat.v4 import new_notebook, new_code_cell
        >>> nb = new_notebook(cells=[new_code_cell('if x:\\n    COURSE_URL = ""  # set by release')])
        >>> fill_install_url(nb, "git+https://example.org/course.git").cells[0].source.splitlines()[1]
        '    COURSE_URL = "git+https://example.org/course.git"  # set by release'
    """
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = COURSE_URL_LINE.sub(lambda m: m["assign"] + json.dumps(url), cell.source)
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
