"""Finding submissions in nbgrader's ``submitted/`` layout and copying them safely.

Layout: ``SUBMISSIONS/<student_id>/<assignment>/<assignment>.ipynb`` (plus any files the student
handed in beside it). Validation happens before anything is graded or written.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autograder.course import list_assignments, source_notebook
from autograder.errors import UsageError

IGNORED_NAMES = {".ipynb_checkpoints", "__pycache__"}


@dataclass(frozen=True)
class Submission:
    """One student's folder for one assignment.

    Example:
        >>> Submission("alice", "01_x", Path("sub/alice/01_x")).notebook
        PosixPath('sub/alice/01_x/01_x.ipynb')
    """

    student_id: str
    assignment: str
    folder: Path
    renamed_from: str | None = None
    """The name of the folder's only notebook when it is not ``<assignment>.ipynb`` (an LMS or a browser
    download renamed it, e.g. ``01_x (1).ipynb``): it is graded as ``<assignment>.ipynb``."""

    @property
    def notebook(self) -> Path:
        """The notebook nbgrader grades: ``<folder>/<assignment>.ipynb`` (or the renamed one)."""
        return self.folder / (self.renamed_from or f"{self.assignment}.ipynb")


def renamed_notebook(folder: Path, assignment: str) -> str | None:
    """The name of ``folder``'s only notebook when ``<assignment>.ipynb`` is missing, else ``None``.

    Example:
        >>> renamed_notebook(Path("submitted/bob/01_x"), "01_x")  # doctest: +SKIP
        '01_x (1).ipynb'
    """
    if (folder / f"{assignment}.ipynb").exists():
        return None
    notebooks = [p for p in folder.glob("*.ipynb") if p.is_file() and not p.is_symlink() and not _hidden(p)]
    return notebooks[0].name if len(notebooks) == 1 else None


def expected_layout(root: Path, assignment: str | None) -> str:
    """The sentence describing the layout ``grade`` expects, with an example path.

    Example:
        >>> expected_layout(Path("sub"), "01_x").split(", e.g. ")[1]
        'sub/alice/01_x/01_x.ipynb'
    """
    example = assignment or "01_task_definition"
    return (
        f"nbgrader's submitted/ layout, {root}/<student_id>/<assignment>/<assignment>.ipynb, "
        f"e.g. {root / 'alice' / example / (example + '.ipynb')}"
    )


def _visible_dirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not _hidden(p))


def _hidden(path: Path) -> bool:
    return path.name.startswith(".") or path.name in IGNORED_NAMES


def _describe(root: Path, limit: int = 6) -> str:
    """What is in a folder, for the error message: a few entries, two levels deep."""
    entries = sorted(p for p in root.iterdir() if not _hidden(p))
    if not entries:
        return "an empty folder"
    shown = []
    for entry in entries[:limit]:
        if entry.is_dir():
            inner = sorted(p.name + ("/" if p.is_dir() else "") for p in entry.iterdir() if not _hidden(p))
            listing = ", ".join(inner[:4]) + (", ..." if len(inner) > 4 else "")
            shown.append(f"{entry.name}/ ({listing or 'empty'})")
        else:
            shown.append(entry.name)
    more = f" and {len(entries) - limit} more" if len(entries) > limit else ""
    count = f"{len(entries)} {'entry' if len(entries) == 1 else 'entries'}"
    return f"{count}: {'; '.join(shown)}{more}"


def find_submissions(root: Path, course_root: Path, assignment: str | None = None) -> list[Submission]:
    """Every ``<student_id>/<assignment>/`` folder under ``root`` (sorted by student, then assignment).

    A student folder for a known assignment without its notebook is still returned (it scores 0); one whose
    only notebook has another name is returned with ``renamed_from`` set (graded under the right name).
    Raises :class:`UsageError` for a missing or empty folder, a layout with no match, an unknown
    ``assignment``, or notebooks for assignments the course does not have.

    Example:
        >>> find_submissions(Path("submitted"), COURSE_ROOT, "01_task_definition")  # doctest: +SKIP
        [Submission(student_id='alice', assignment='01_task_definition', folder=...)]
    """
    root = Path(root)
    if assignment is not None:
        source_notebook(course_root, assignment)  # unknown name: clear error listing the known ones
    layout = expected_layout(root, assignment)
    if not root.is_dir():
        what = "a file" if root.exists() else "nothing"
        raise UsageError(
            f"Submissions folder '{root}' does not exist (found {what} there). "
            f"Expected a folder in {layout}. "
            "Pass the folder that holds one sub-folder per student."
        )
    known = set(list_assignments(course_root))
    found: list[Submission] = []
    unknown: set[str] = set()
    for student in _visible_dirs(root):
        for folder in _visible_dirs(student):
            name = folder.name
            if assignment is not None and name != assignment:
                continue
            if name in known:
                found.append(Submission(student.name, name, folder, renamed_notebook(folder, name)))
            elif (folder / f"{name}.ipynb").is_file():
                unknown.add(name)
    if unknown:
        raise UsageError(
            f"Submissions in '{root}' are for assignments this course does not have: "
            f"{', '.join(sorted(unknown))} (no instructor notebook under {Path(course_root) / 'source'}). "
            f"Known assignments: {', '.join(sorted(known)) or 'none'}. Use --assignment to grade one "
            "assignment only, or add the missing instructor notebook."
        )
    if not found:
        raise UsageError(
            f"No submissions found in '{root}': expected {layout}. Found {_describe(root)}. "
            "Point SUBMISSIONS at the folder that holds the student folders"
            + (", and check the assignment name." if assignment else ".")
        )
    return found


def submission_files(submission: Submission, limit_mb: int = 64) -> dict[str, bytes]:
    """The submission folder's regular files as ``{relative POSIX path: bytes}``.

    Symbolic links are dropped (a link could make the grader read files outside the submission, such as
    the instructor notebook), and so are hidden folders, checkpoints and anything past ``limit_mb`` MB
    in all.

    Example:
        >>> sorted(submission_files(sub))  # doctest: +SKIP
        ['01_task_definition.ipynb', 'my_notes.txt']
    """
    files: dict[str, bytes] = {}
    budget = limit_mb * 2**20
    for path in sorted(submission.folder.rglob("*")):
        rel = path.relative_to(submission.folder)
        if any(_hidden(Path(part)) for part in rel.parts) or path.is_symlink() or not path.is_file():
            continue
        if any(parent.is_symlink() for parent in path.parents if submission.folder in parent.parents):
            continue
        size = path.stat().st_size
        if size <= budget:
            files[rel.as_posix()] = path.read_bytes()
            budget -= size
    if submission.renamed_from in files:
        files[f"{submission.assignment}.ipynb"] = files.pop(submission.renamed_from)
    return files
