"""``python -m autograder collect``: an LMS download of a class's notebooks into the layout ``grade`` reads.

Canvas, Moodle and Gradescope hand an instructor one zip per assignment with each student's file renamed
after the student: ``doejane_12345_67890_01_task_definition.ipynb`` (Canvas puts the student first in the
file name) or ``Jane Doe_12345_assignsubmission_file_/01_task_definition (1).ipynb`` (Moodle, a folder per
student). :func:`collect_zip` finds the student in each path with a regular expression (by default:
everything before the first underscore of the first path part that has one), and writes
``OUT/<student_id>/<assignment>/<assignment>.ipynb``, as nbgrader's ``zip_collect`` does. It never guesses:
a file it cannot place is reported with the reason, and nothing already in ``OUT`` is replaced unless asked.

Example:
    >>> result = collect_zip(Path("canvas.zip"), "01_task_definition", Path("submitted"))  # doctest: +SKIP
    >>> result.placed  # doctest: +SKIP
    {'doejane': 'doejane_12345_67890_01_task_definition.ipynb'}
"""

from __future__ import annotations

import re
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from autograder.errors import UsageError

#: The student id is what comes before the first underscore (Canvas file names, Moodle folder names).
DEFAULT_PATTERN = r"^(?P<student_id>[^_]+)_"
#: Largest notebook taken from an archive; a bigger one is reported, not unpacked (a zip bomb stays packed).
MAX_NOTEBOOK_BYTES = 64 * 2**20
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Collected:
    """What :func:`collect_zip` did: the notebooks placed, and every file of the archive it left out."""

    placed: dict[str, str] = field(default_factory=dict)
    """student_id -> the archive member written as that student's notebook."""
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(archive member, why it was not placed), in archive order."""

    def report(self) -> str:
        """The lines ``collect`` prints: one per placed student, then one per file left out."""
        lines = [f"placed  {student}  <- {member}" for student, member in sorted(self.placed.items())]
        lines += [f"SKIPPED {member}: {why}" for member, why in self.skipped]
        lines.append(f"{len(self.placed)} notebook(s) placed, {len(self.skipped)} file(s) left out.")
        return "\n".join(lines)


def student_id_of(member: str, pattern: re.Pattern[str], assignment: str = "") -> str | None:
    """The student id in an archive path: the first path part (top folder first) the pattern matches,
    made safe as a folder name (other characters become ``_``); ``None`` when no part matches. A part that
    starts with the assignment's name is the file itself, never a student (``01_task_definition.ipynb``
    would otherwise be student ``01``).

    Example:
        >>> p = re.compile(DEFAULT_PATTERN)
        >>> student_id_of("doejane_123_456_01_task_definition.ipynb", p)
        'doejane'
        >>> student_id_of("Jane Doe_123_assignsubmission_file_/hw.ipynb", p)
        'Jane_Doe'
        >>> student_id_of("01_x.ipynb", p, assignment="01_x") is None
        True
    """
    for part in PurePosixPath(member).parts:
        if assignment and part.startswith(assignment):
            continue
        match = pattern.search(part)
        if match:
            found = _UNSAFE.sub("_", match.group("student_id").strip()).strip("._")
            return found or None
    return None


def collect_zip(archive: Path, assignment: str, out: Path, pattern: str = DEFAULT_PATTERN,
                force: bool = False) -> Collected:
    """Unpack the students' notebooks of an LMS download into ``out/<student_id>/<assignment>/``.

    Args:
        archive: the zip the LMS exported.
        assignment: the assignment the notebooks belong to (each is saved as ``<assignment>.ipynb``).
        out: the submissions folder to fill (created when missing).
        pattern: regular expression with a ``student_id`` group, searched in each path part.
        force: replace a student's notebook already in ``out`` (otherwise it is kept and reported).

    Returns:
        :class:`Collected`. A student with several notebooks in the archive gets none (all reported).

    Raises:
        UsageError: the archive is not a zip, or the pattern is not a regular expression with a
            ``student_id`` group.
    """
    try:
        compiled = re.compile(pattern)
    except re.error as err:
        raise UsageError(f"--pattern {pattern!r} is not a regular expression: {err}.") from None
    if "student_id" not in compiled.groupindex:
        raise UsageError(f"--pattern {pattern!r} has no (?P<student_id>...) group: it must say which part "
                         "of a file's path is the student.")
    if not zipfile.is_zipfile(archive):
        raise UsageError(f"'{archive}' is not a zip archive: expected the file your LMS exported (Canvas: "
                         "Download Submissions; Moodle: Download all submissions).")
    result = Collected()
    by_student: dict[str, list[zipfile.ZipInfo]] = defaultdict(list)
    with zipfile.ZipFile(archive) as zf:
        for info in zf.infolist():
            name = info.filename
            if info.is_dir() or name.startswith("__MACOSX/") or PurePosixPath(name).name.startswith("."):
                continue
            if not name.endswith(".ipynb"):
                result.skipped.append((name, "not a notebook (.ipynb)"))
            elif info.file_size > MAX_NOTEBOOK_BYTES:
                result.skipped.append((name, f"larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB"))
            elif (student := student_id_of(name, compiled, assignment)) is None:
                result.skipped.append((name, f"no student id in its path (pattern {pattern!r})"))
            else:
                by_student[student].append(info)
        for student, infos in by_student.items():
            if len(infos) > 1:
                names = ", ".join(i.filename for i in infos)
                why = f"{student} has {len(infos)} notebooks ({names}): none placed, put the right one in " \
                      "by hand"
                result.skipped += [(i.filename, why) for i in infos]
                continue
            target = out / student / assignment / f"{assignment}.ipynb"
            if target.exists() and not force:
                result.skipped.append((infos[0].filename, f"{target} is already there (--force replaces it)"))
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(infos[0]))
            result.placed[student] = infos[0].filename
    return result
