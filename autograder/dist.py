"""``python -m autograder dist OUT``: the student distribution, the folder a class clones.

It holds what students run and nothing an instructor keeps to themselves:

* the released notebooks (``notebooks/*.ipynb``), ``mtml_utils/``, ``data/README.md`` (no data),
  ``Makefile``, ``pyproject.toml``, ``constraints.txt``, ``environment.yml``, ``.gitignore``,
  ``tests/run_all.py`` (what ``make test`` runs);
* the modules of ``autograder/`` (``check`` and the Check my work button import them), but never
  ``autograder/source/`` (solutions, and ``grading.py``: the hidden tests) nor the instructor README;
* ``README.md`` and ``tests/`` for students, from the templates in ``autograder/student/``;
* ``.student-dist``, a note naming the commit it was built from (``--force`` only replaces a folder
  holding one).

Files are taken from ``git ls-files`` (tracked files, as they are in the working tree after
``make release``), so virtual environments, caches, data, benchmark results and instructor scratch files
never travel. Before anything is written, every shipped file is searched for the lines of every solution
and hidden test (:func:`find_leaks`); a hit stops the command with exit code 1 and writes nothing.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path, PurePosixPath

from autograder import COURSE_ROOT
from autograder.course import SOURCE_DIR
from autograder.errors import UsageError

#: Files shipped as they are, by path relative to the repository root.
TOP_FILES = ("Makefile", "pyproject.toml", "constraints.txt", "environment.yml", ".gitignore",
             "data/README.md", "tests/run_all.py")
#: The templates of the student README and test suite (relative to the course root).
TEMPLATE_DIR = "student"
#: Written into every distribution; ``--force`` replaces only a folder that holds it.
MARKER = ".student-dist"
#: A solution or hidden-test line shorter than this is too generic to count as a leak (``return out``).
MIN_LEAK_CHARS = 20
#: Lines of hidden tests that are plain PyTorch idioms, not answers; ``mtml_utils`` uses them too.
COMMON_LINES = frozenset({"with torch.random.fork_rng(devices=[]):"})
SOLUTION_BLOCK = re.compile(r"### BEGIN (SOLUTION|HIDDEN TESTS)\n(.*?)### END \1", re.S)


class DistError(RuntimeError):
    """The distribution would contain a solution or hidden-test line; nothing was written."""


def is_shipped(path: str) -> bool:
    """Whether a tracked file (posix path relative to the repository root) goes to students.

    Example:
        >>> [is_shipped(p) for p in ("mtml_utils/maml.py", "autograder/check.py", "notebooks/01_a.ipynb")]
        [True, True, True]
        >>> [is_shipped(p) for p in ("autograder/source/01_a/grading.py", "autograder/README.md", "x.py")]
        [False, False, False]
    """
    parts = PurePosixPath(path).parts
    if PurePosixPath(path).name == "grading.py" or SOURCE_DIR in parts[1:2]:
        return False
    return (
        path in TOP_FILES
        or parts[0] == "mtml_utils"
        or (len(parts) == 2 and parts[0] == "notebooks" and path.endswith(".ipynb"))
        or (len(parts) == 2 and parts[0] == "autograder" and path.endswith(".py"))
    )


def _significant(line: str) -> str | None:
    """The stripped line when it could only come from a solution, else ``None`` (short, comment, import)."""
    text = line.strip()
    if len(text) < MIN_LEAK_CHARS or text.startswith(("#", "import ", "from ")):
        return None
    return text


def _cell_text(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def notebook_lines(data: bytes) -> list[str]:
    """The lines of a notebook's cells and of their text outputs (what a reader of the file sees)."""
    lines = []
    for cell in json.loads(data)["cells"]:
        lines += _cell_text(cell).splitlines()
        for output in cell.get("outputs", []):
            for text in (output.get("text", ""), output.get("data", {}).get("text/plain", "")):
                lines += ("".join(text) if isinstance(text, list) else text).splitlines()
    return lines


def secret_lines(course_root: Path) -> set[str]:
    """The significant lines of every solution block, written answer, hidden-test block and ``grading.py``
    of a course, less those the instructor notebooks also hold outside such blocks (students get those).

    Example:
        >>> len(secret_lines(COURSE_ROOT)) > 100  # doctest: +SKIP
        True
    """
    secret: set[str] = set()
    given: set[str] = set()
    for notebook in sorted((Path(course_root) / SOURCE_DIR).glob("*/*.ipynb")):
        for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
            source = _cell_text(cell)
            if cell["cell_type"] != "code" and cell.get("metadata", {}).get("nbgrader", {}).get("solution"):
                secret.update(filter(None, map(_significant, source.splitlines())))  # a written answer
                continue
            for _, body in SOLUTION_BLOCK.findall(source):
                secret.update(filter(None, map(_significant, body.splitlines())))
            given.update(line.strip() for line in SOLUTION_BLOCK.sub("", source).splitlines())
    for grading in sorted((Path(course_root) / SOURCE_DIR).glob("*/grading.py")):
        secret.update(filter(None, map(_significant, grading.read_text(encoding="utf-8").splitlines())))
    return secret - given - COMMON_LINES


def find_leaks(files: dict[str, bytes], secrets: set[str]) -> list[str]:
    """``path: line`` for every line of ``files`` (a notebook: its cells and outputs) that is a secret.

    Example:
        >>> line = "return torch.cat([a, b], dim=1)"
        >>> find_leaks({"a.py": f"x = 1\\n    {line}\\n".encode()}, {line})
        ['a.py: return torch.cat([a, b], dim=1)']
    """
    leaks = []
    for path, data in sorted(files.items()):
        if path.endswith(".ipynb"):
            lines = notebook_lines(data)
        else:
            lines = data.decode("utf-8", errors="replace").splitlines()
        leaks += [f"{path}: {line.strip()}" for line in lines if line.strip() in secrets]
    return leaks


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        raise UsageError(
            f"The student distribution is built from the files git tracks, but `git {' '.join(args)}` failed "
            f"in {root} ({err}). Run it in a git checkout of the instructor repository."
        ) from err
    return done.stdout


def collect(course_root: Path = COURSE_ROOT) -> dict[str, bytes]:
    """The distribution's files, ``{posix path: content}``: shipped tracked files, then the templates."""
    course_root = Path(course_root).resolve()
    root = course_root.parent
    if not (course_root / SOURCE_DIR).is_dir():
        raise UsageError(f"No instructor sources at {course_root / SOURCE_DIR}: `dist` runs in the "
                         "instructor repository, which holds autograder/source/.")
    tracked = [p for p in _git(root, "ls-files", "-z").split("\0") if p and is_shipped(p)]
    files = {path: (root / path).read_bytes() for path in tracked if (root / path).is_file()}
    templates = course_root / TEMPLATE_DIR
    files["README.md"] = (templates / "README.md").read_bytes()
    for test in sorted((templates / "tests").glob("*.py")):
        files[f"tests/{test.name}"] = test.read_bytes()
    return files


def _check_out(out: Path, root: Path, force: bool) -> None:
    """Refuse an OUT that is the checkout, inside it or above it, a file, or a non-empty folder (unless
    ``force`` and it holds a previous distribution)."""
    if out == root or root in out.parents or out in root.parents:
        raise UsageError(
            f"OUT ({out}) is inside (or above) the instructor checkout {root}: the distribution must live "
            "outside it, e.g. in a clone of the student repository next to it (../mtml-course-student)."
        )
    if out.exists() and not out.is_dir():
        raise UsageError(f"OUT ({out}) is a file: expected a folder (new, empty or a previous distribution).")
    contents = [p.name for p in out.iterdir() if p.name != ".git"] if out.is_dir() else []
    if contents and not force:
        raise UsageError(
            f"OUT ({out}) is not empty. Pass --force (make student-dist ... FORCE=1) to replace a previous "
            "distribution (its .git folder is kept), or choose an empty folder."
        )
    if contents and not (out / MARKER).is_file():
        raise UsageError(
            f"OUT ({out}) holds files but no {MARKER}: it is not a student distribution, so --force will not "
            "delete it. Choose an empty folder or a clone of the student repository."
        )


def build(out: Path, course_root: Path = COURSE_ROOT, force: bool = False) -> list[str]:
    """Write the student distribution into ``out``; returns the paths written (relative, sorted).

    With ``force`` a previous distribution in ``out`` is replaced: every entry but ``.git`` is removed
    first, so files the course no longer ships disappear and the student repository's history stays.

    Example:
        >>> build(Path("../mtml-course-student"))[:2]  # doctest: +SKIP
        ['.gitignore', '.student-dist']
    """
    course_root = Path(course_root).resolve()
    root = course_root.parent
    out = Path(out).expanduser().resolve()
    _check_out(out, root, force)
    files = collect(course_root)
    leaks = find_leaks(files, secret_lines(course_root))
    if leaks:
        shown = "\n  ".join(leaks[:10])
        raise DistError(f"{len(leaks)} solution or hidden-test line(s) would ship; nothing was written:"
                        f"\n  {shown}")
    commit = _git(root, "rev-parse", "HEAD").strip()
    dirty = _git(root, "status", "--porcelain", "--", *[p for p in files if (root / p).exists()]).strip()
    files[MARKER] = (
        f"Student distribution of the course, written by `python -m autograder dist` from commit {commit}"
        f"{' plus uncommitted changes' if dirty else ''}.\n"
        "Do not edit it here: it is regenerated from the instructor repository.\n"
    ).encode()
    if out.is_dir():
        for entry in out.iterdir():
            if entry.name != ".git":
                shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink()
    for path, data in files.items():
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if (root / path).is_file():
            shutil.copymode(root / path, target)
    return sorted(files)
