"""The course on disk: assignments, notebooks and their graded cells, temporary course copies,
and the environment every notebook is run in by ``check`` and ``grade``.

Nothing here imports nbgrader at module level, so commands can validate their inputs quickly.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autograder import COURSE_ROOT
from autograder.errors import UsageError
from autograder.sandbox import Policy, kernel_argv

if TYPE_CHECKING:  # nbformat pulls in jsonschema (seconds on a busy machine): imported when used
    import nbformat

SOURCE_DIR = "source"
CONFIG_FILE = "nbgrader_config.py"


@dataclass(frozen=True)
class GradedCell:
    """One nbgrader ``grade: true`` cell: a test cell (code, not an answer) or a manually graded answer.

    Example:
        >>> GradedCell("test_add", 2.0, is_test=True).grade_id
        'test_add'
    """

    grade_id: str
    points: float
    is_test: bool


def list_assignments(course_root: Path = COURSE_ROOT) -> list[str]:
    """Assignments of a course: folders ``source/<a>/`` that hold ``<a>.ipynb``, sorted by name.

    Example:
        >>> list_assignments(Path("/nonexistent"))
        []
    """
    source = Path(course_root) / SOURCE_DIR
    if not source.is_dir():
        return []
    return sorted(d.name for d in source.iterdir() if (d / f"{d.name}.ipynb").is_file())


def source_notebook(course_root: Path, assignment: str) -> Path:
    """Path of an assignment's instructor notebook; a clear :class:`UsageError` when there is none.

    Example:
        >>> source_notebook(COURSE_ROOT, "01_task_definition").name  # doctest: +SKIP
        '01_task_definition.ipynb'
    """
    path = Path(course_root) / SOURCE_DIR / assignment / f"{assignment}.ipynb"
    if not path.is_file():
        known = ", ".join(list_assignments(course_root)) or "none"
        raise UsageError(
            f"Unknown assignment {assignment!r}: there is no instructor notebook {path}. "
            f"Assignments of this course: {known}. Use one of those names (the folder name under "
            f"{Path(course_root) / SOURCE_DIR})."
        )
    return path


def load_notebook(path: Path) -> nbformat.NotebookNode:
    """Read a notebook, refusing anything that is not an nbformat v4 ``.ipynb`` with a clear message.

    Example:
        >>> load_notebook(Path("missing.ipynb"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        autograder.errors.UsageError: No notebook at 'missing.ipynb': expected ... found nothing there. ...
    """
    path = Path(path)
    expected = "expected the path of a Jupyter notebook (.ipynb, nbformat version 4)"
    if not path.is_file():
        what = "a folder" if path.is_dir() else "nothing"
        raise UsageError(f"No notebook at '{path}': {expected}, found {what} there. Check the path.")
    try:
        text = path.read_text(encoding="utf-8")
        raw: Any = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(
            f"'{path}' is not a notebook: {expected}, but the file is not valid JSON ({err}). "
            "Open it in JupyterLab to repair it, or pass the right file."
        ) from None
    if not isinstance(raw, dict) or raw.get("nbformat") != 4 or not isinstance(raw.get("cells"), list):
        found = f"nbformat {raw.get('nbformat')!r}" if isinstance(raw, dict) else type(raw).__name__
        raise UsageError(
            f"'{path}' is not a notebook: {expected}, found JSON with {found} and no cell list. "
            "Pass a notebook saved by Jupyter (File > Save Notebook)."
        )
    import nbformat

    # nbformat.reads joins multi-line sources and upgrades minor versions, which from_dict does not.
    return nbformat.reads(text, as_version=4)


def is_test_cell(cell: dict[str, Any]) -> bool:
    """An nbgrader test cell: a graded (``grade: true``) code cell that is not an answer cell.

    Works on a notebook's cells as nbformat reads them and on plain JSON dicts.

    Example:
        >>> from nbformat.v4 import new_code_cell
        >>> is_test_cell(new_code_cell("assert 1", metadata={"nbgrader": {"grade": True, "points": 1}}))
        True
    """
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("grade")) and not meta.get("solution", False)


def is_answer_cell(cell: dict[str, Any]) -> bool:
    """An nbgrader answer cell: a code cell marked ``solution: true`` that is not graded (not a test).

    Works on a notebook's cells as nbformat reads them and on plain JSON dicts.

    Example:
        >>> from nbformat.v4 import new_code_cell
        >>> is_answer_cell(new_code_cell("def f(): ...", metadata={"nbgrader": {"solution": True}}))
        True
    """
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return cell.get("cell_type") == "code" and bool(meta.get("solution")) and not meta.get("grade", False)


def graded_cells(nb: nbformat.NotebookNode) -> list[GradedCell]:
    """The nbgrader graded cells of a notebook, in notebook order.

    Example:
        >>> from nbformat.v4 import new_notebook, new_code_cell
        >>> meta = {"nbgrader": {"grade": True, "solution": False, "grade_id": "t", "points": 1}}
        >>> graded_cells(new_notebook(cells=[new_code_cell("assert 1", metadata=meta)]))
        [GradedCell(grade_id='t', points=1.0, is_test=True)]
    """
    found = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if meta.get("grade"):
            grade_id, points = str(meta.get("grade_id", "")), float(meta.get("points", 0))
            found.append(GradedCell(grade_id, points, is_test_cell(cell)))
    return found


def not_this_assignment(cells: list[dict[str, Any]], assignment: str,
                        tests_of: dict[str, set[str]]) -> str | None:
    """Why a notebook is another assignment's, or ``None``: it has test cells and none of them is one of
    ``assignment``'s (``tests_of`` maps assignments to their test cells' grade_ids, ``assignment`` included).

    Graded as it is, such a notebook scores 0 test by test with reasons that hide the cause (nbgrader puts
    the right test cells back and nothing the notebook defines fits them), and checked it would pass its own
    tests: both say this instead.

    Example:
        >>> meta = {"nbgrader": {"grade": True, "grade_id": "test_b1", "points": 1}}
        >>> not_this_assignment([{"cell_type": "code", "metadata": meta}], "a",
        ...                     {"a": {"test_a1"}, "b": {"test_b1", "test_b2"}})
        "it holds the tests of b (test_b1), not a's: another assignment's notebook under a's name"
    """
    found = [str(c["metadata"]["nbgrader"].get("grade_id", "")) for c in cells if is_test_cell(c)]
    expected = tests_of.get(assignment, set())
    if not found or not expected or set(found) & expected:
        return None
    owners = [a for a, ids in tests_of.items() if a != assignment and set(found) & ids]
    shown = ", ".join(found[:3]) + (", ..." if len(found) > 3 else "")
    if owners:
        return f"it holds the tests of {owners[0]} ({shown}), not {assignment}'s: another assignment's " \
               f"notebook under {assignment}'s name"
    return f"none of its tests ({shown}) is one of {assignment}'s: another assignment's notebook?"


def format_points(points: float) -> str:
    """Points without a useless ``.0``.

    Example:
        >>> format_points(3.0), format_points(2.5)
        ('3', '2.5')
    """
    return f"{points:g}"


def copy_course(course_root: Path, dest: Path, assignments: list[str]) -> Path:
    """Copy the course's ``nbgrader_config.py`` and the sources of ``assignments`` into ``dest``.

    Release and grading run there, so no gradebook, release or submitted folder left in the real
    course can change their result, and nothing in the real course is written.

    Example:
        >>> copy_course(COURSE_ROOT, Path(tmp), ["01_task_definition"])  # doctest: +SKIP
    """
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(Path(course_root) / CONFIG_FILE, dest / CONFIG_FILE)
    for assignment in assignments:
        shutil.copytree(
            Path(course_root) / SOURCE_DIR / assignment,
            dest / SOURCE_DIR / assignment,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
    return dest


def isolated_environment(
    workdir: Path, profile: str = "smoke", sandbox: Policy | None = None
) -> dict[str, str]:
    """Environment variables for a grading or checking kernel, with every Jupyter, IPython and
    matplotlib folder inside ``workdir`` and a ``python3`` kernel bound to this interpreter (its
    kernelspec is written to ``workdir/jupyter_path/kernels/python3``). With ``sandbox``, that kernel
    runs in the sandbox (:mod:`autograder.sandbox`).

    Profiles only change sizes, so ``smoke`` grades the same code paths in seconds; nothing may
    download (``MTML_OFFLINE=1``) and plots render off screen. Returns only the variables to set;
    merge them into ``os.environ`` for a child process.

    Example:
        >>> env = isolated_environment(Path(tmp))  # doctest: +SKIP
        >>> env["MTML_PROFILE"], env["MTML_OFFLINE"]  # doctest: +SKIP
        ('smoke', '1')
    """
    workdir = Path(workdir)
    dirs = {
        "JUPYTER_CONFIG_DIR": workdir / "jupyter_config",
        "JUPYTER_DATA_DIR": workdir / "jupyter_data",
        "JUPYTER_RUNTIME_DIR": workdir / "jupyter_runtime",
        "IPYTHONDIR": workdir / "ipython",
        "MPLCONFIGDIR": workdir / "matplotlib",
    }
    for folder in dirs.values():
        folder.mkdir(parents=True, exist_ok=True)
    policy_file = None if sandbox is None else sandbox.write(workdir / "sandbox.json")
    kernels = write_kernelspec(workdir / "jupyter_path", policy_file)
    env = {name: str(folder) for name, folder in dirs.items()}
    # JUPYTER_PATH is searched first, so a user's own "python3" kernel cannot point elsewhere.
    env["JUPYTER_PATH"] = os.pathsep.join(filter(None, [str(kernels.parent), os.environ.get("JUPYTER_PATH")]))
    env["PATH"] = path_with_interpreter_bin(os.environ.get("PATH", ""))
    env.update(MTML_PROFILE=profile, MTML_OFFLINE="1", MPLBACKEND="Agg", PYTHONDONTWRITEBYTECODE="1")
    return env


def path_with_interpreter_bin(path: str) -> str:
    """``path`` with this interpreter's ``bin`` folder first (where the venv's scripts are).

    Example:
        >>> path_with_interpreter_bin("/usr/bin").endswith("/usr/bin")
        True
    """
    bin_dir = str(Path(sys.executable).parent)
    parts = [p for p in path.split(os.pathsep) if p and p != bin_dir]
    return os.pathsep.join([bin_dir, *parts])


def write_kernelspec(jupyter_path: Path, sandbox_policy: Path | None = None) -> Path:
    """Write a ``python3`` kernelspec running this interpreter under ``jupyter_path/kernels``
    (inside the sandbox described by the policy file ``sandbox_policy``, when given).

    Example:
        >>> write_kernelspec(Path(tmp)).name  # doctest: +SKIP
        'kernels'
    """
    spec_dir = Path(jupyter_path) / "kernels" / "python3"
    spec_dir.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"]
    spec = {
        "argv": argv if sandbox_policy is None else kernel_argv(sandbox_policy, argv),
        "display_name": "Python 3 (ipykernel)",
        "language": "python",
    }
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1) + "\n", encoding="utf-8")
    return spec_dir.parent


def gradebook_schema_head() -> str:
    """The newest revision of nbgrader's gradebook schema, read from its migration scripts.

    nbgrader stamps every new gradebook with it, and asks for it by running ``alembic heads`` in a new
    process, which costs about 1.6 CPU-seconds (importing alembic) for one string; every ``grade`` and
    ``feedback`` run creates a gradebook. The scripts name their ``revision`` and ``down_revision``: the head
    is the one revision no other revises. :func:`nbgrader_api` uses this instead (a test compares it with
    ``alembic heads``); with no single head it asks alembic as nbgrader does.

    Example:
        >>> len(gradebook_schema_head())
        12
    """
    from nbgrader import api, dbutil

    revisions, revised = set(), set()
    for script in (Path(dbutil.ALEMBIC_DIR) / "versions").glob("*.py"):
        for node in ast.parse(script.read_text(encoding="utf-8")).body:
            names = [getattr(t, "id", None) for t in node.targets] if isinstance(node, ast.Assign) else []
            if names == ["revision"]:
                revisions.add(ast.literal_eval(node.value))
            elif names == ["down_revision"]:
                down = ast.literal_eval(node.value)
                revised.update(down if isinstance(down, (tuple, list)) else [down])
    heads = revisions - revised
    if len(heads) == 1:
        return heads.pop()
    return getattr(api, "_alembic_heads_by_subprocess", api.get_alembic_version)()  # nbgrader's own way


def stamp_gradebooks_in_process() -> None:
    """Make nbgrader's new gradebooks take their schema revision from :func:`gradebook_schema_head`."""
    from nbgrader import api

    if not hasattr(api, "_alembic_heads_by_subprocess"):
        api._alembic_heads_by_subprocess = api.get_alembic_version
        api.get_alembic_version = gradebook_schema_head


def nbgrader_api(course_dir: Path, cell_timeout: int | None = None,
                 interrupt_grace: int | None = None) -> Any:
    """An in-process ``NbGraderAPI`` for a course folder, configured from its ``nbgrader_config.py``
    (the API does not read that file itself), with optional overrides of the per-cell timeout and of
    the seconds an interrupted cell gets before its kernel counts as wedged.

    Example:
        >>> api = nbgrader_api(Path(tmp_course))  # doctest: +SKIP
        >>> api.generate_assignment("01_task_definition")["success"]  # doctest: +SKIP
        True
    """
    from nbgrader.apps import NbGraderAPI
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config.loader import PyFileConfigLoader

    # nbgrader's Gradebook runs the `alembic` script from PATH, which lacks the venv's bin folder when
    # the venv's python is called directly (as `make` does).
    os.environ["PATH"] = path_with_interpreter_bin(os.environ.get("PATH", ""))
    stamp_gradebooks_in_process()
    config = PyFileConfigLoader(CONFIG_FILE, path=str(course_dir)).load_config()
    # The copied config already points root at its own folder; pinning it guards against edits.
    config.CourseDirectory.root = str(Path(course_dir).resolve())
    if cell_timeout is not None:
        config.Execute.timeout = int(cell_timeout)
    if interrupt_grace is not None:
        config.TrustedExecute.interrupt_grace = int(interrupt_grace)
    for name, value in kernel_connection().items():
        setattr(config.KernelManager, name, value)
    return NbGraderAPI(coursedir=CourseDirectory(config=config), config=config)


def kernel_connection(runtime_dir: Path | None = None) -> dict[str, str]:
    """How this process talks to its kernels: Unix sockets in ``runtime_dir`` (default
    ``JUPYTER_RUNTIME_DIR``; a sandboxed kernel has no network, so TCP cannot reach it), in a folder of
    this process's own, as each runs one kernel at a time (the sandbox makes that folder the kernel's);
    empty off POSIX.

    Example:
        >>> kernel_connection()["transport"]  # doctest: +SKIP
        'ipc'
    """
    if os.name != "posix":
        return {}
    if runtime_dir is None:
        from jupyter_core.paths import jupyter_runtime_dir

        runtime_dir = Path(jupyter_runtime_dir())
    folder = Path(runtime_dir) / f"k{os.getpid()}"
    folder.mkdir(parents=True, exist_ok=True)
    return {"transport": "ipc", "ip": str(folder / "s"), "connection_file": str(folder / "kernel.json")}
