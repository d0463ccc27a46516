"""The student's own copy of the notebooks, in ``work/``, so that a course update never collides with it.

``make lab`` opens ``work/``, not ``notebooks/``. The first time, every released notebook is copied there;
``work/`` is ignored by git, so ``git pull`` of a course update always goes through. When a released
notebook changed since its copy was made, ``make lab`` says so once and offers the update::

    make update NB=03_negative_transfer        # or: python -m mtml_utils.workcopy update 03_negative_transfer

The update writes the new release with the student's answers carried over: every answer cell (the cells
marked ``# YOUR CODE HERE``) the student changed is matched by its cell id in the new version and keeps the
student's code. Before anything is written the old copy is saved in ``work/backups/``, so what cannot be
carried over (an exercise the update removed, cells the student added) is kept there, never lost.

State lives in ``work/.released/``: the release each copy started from, which tells a changed release from
a student's own edits (an answer cell still equal to its release was never started, and takes the new
version's starting code).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autograder.course import is_answer_cell

COURSE_ROOT = Path(__file__).resolve().parents[1]
#: The released notebooks; ``MTML_NOTEBOOKS_DIR`` points elsewhere (a course folder shared on a hub).
NOTEBOOKS_DIR = Path(os.environ.get("MTML_NOTEBOOKS_DIR") or COURSE_ROOT / "notebooks")
#: The student's copies; ``MTML_WORK_DIR`` moves them (a hub's persistent home folder).
WORK_DIR = Path(os.environ.get("MTML_WORK_DIR") or COURSE_ROOT / "work")
BASE_DIR_NAME = ".released"  # work/.released/<name>.ipynb: the release the copy started from
TOLD_NAME = ".told.json"  # work/.released/.told.json: {name: digest of the release already told about}
BACKUP_DIR_NAME = "backups"


@dataclass
class Update:
    """What :func:`update` did to one notebook: answers carried over, what was not, where the backup is."""

    name: str
    backup: Path
    carried: list[str] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)
    own_cells: int = 0
    restarted: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """A few lines for the terminal."""
        lines = [f"{self.name}: updated; your answers carried over: {', '.join(self.carried) or 'none'}."]
        if self.restarted:
            lines.append(f"  The starting code of {', '.join(self.restarted)} changed in this update and you "
                         "had edited it: your version is kept; compare it with the new docstring.")
        if self.not_carried or self.own_cells:
            lost = ", ".join(self.not_carried) or "none"
            lines.append(f"  Not carried over (no such exercise in the new version: {lost}; cells you added: "
                         f"{self.own_cells}): they are in the backup.")
        lines.append(f"  Your previous copy: {self.backup}")
        return "\n".join(lines)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _answer_cells(nb: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """``{cell id: cell}`` of the answer cells (nbgrader ``solution`` cells that are not tests)."""
    return {str(cell.get("id") or cell["metadata"]["nbgrader"].get("grade_id")): cell
            for cell in nb.get("cells", []) if is_answer_cell(cell)}


def _text(source: Any) -> str:
    return source if isinstance(source, str) else "".join(source)


def pending_updates(notebooks_dir: Path = NOTEBOOKS_DIR, work_dir: Path = WORK_DIR) -> list[str]:
    """Names of the notebooks whose release changed since their work copy was made (or last updated).

    Example:
        >>> import tempfile
        >>> pending_updates(Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()))
        []
    """
    base = work_dir / BASE_DIR_NAME
    return [released.stem for released in sorted(notebooks_dir.glob("*.ipynb"))
            if (work_dir / released.name).exists() and (base / released.name).exists()
            and (base / released.name).read_bytes() != released.read_bytes()]


def prepare(notebooks_dir: Path = NOTEBOOKS_DIR, work_dir: Path = WORK_DIR, echo: Any = print) -> list[str]:
    """Copy every released notebook that has no work copy yet; tell once about changed releases.

    Returns the names copied. A notebook whose release changed is reported the first time only (until the
    release changes again); nothing in ``work/`` is overwritten here.

    Example:
        >>> import tempfile
        >>> released, work = Path(tempfile.mkdtemp()), Path(tempfile.mkdtemp()) / "work"
        >>> _ = (released / "01_a.ipynb").write_text('{"cells": []}')
        >>> prepare(released, work, echo=lambda line: None), prepare(released, work, echo=lambda line: None)
        (['01_a'], [])
    """
    base = work_dir / BASE_DIR_NAME
    base.mkdir(parents=True, exist_ok=True)
    copied = []
    for released in sorted(notebooks_dir.glob("*.ipynb")):
        if not (work_dir / released.name).exists():
            shutil.copyfile(released, work_dir / released.name)
            shutil.copyfile(released, base / released.name)
            copied.append(released.stem)
    if copied:
        echo(f"Your own copies of {', '.join(copied)} are in {work_dir} (git never touches that folder).")
    told_path = base / TOLD_NAME
    told = _read(told_path) if told_path.exists() else {}
    fresh = [name for name in pending_updates(notebooks_dir, work_dir)
             if told.get(name) != _digest(notebooks_dir / f"{name}.ipynb")]
    if fresh:
        echo(f"The course updated {', '.join(fresh)} since you copied {'it' if len(fresh) == 1 else 'them'}. "
             f"To get the new version with your answers carried over (your current copy is backed up "
             f"first): make update NB={fresh[0]}" + (" (one at a time, or `make update` for all)."
                                                      if len(fresh) > 1 else "."))
        told.update({name: _digest(notebooks_dir / f"{name}.ipynb") for name in fresh})
        told_path.write_text(json.dumps(told), encoding="utf-8")
    return copied


def update(name: str, notebooks_dir: Path = NOTEBOOKS_DIR, work_dir: Path = WORK_DIR) -> Update:
    """Replace ``work/<name>.ipynb`` by its new release with the student's answers carried over.

    The old copy is first saved as ``work/backups/<name>-<time>.ipynb``. An answer cell the student
    changed (it differs from the release the copy started from) keeps the student's code in the new version
    when the new version has a cell with the same id; an answer cell never started takes the new version's
    code. Outputs of carried cells are dropped (they belong to the old code's run).

    Raises:
        FileNotFoundError: no such released notebook or no work copy of it.
    """
    released, mine = notebooks_dir / f"{name}.ipynb", work_dir / f"{name}.ipynb"
    if not released.exists():
        known = ", ".join(p.stem for p in sorted(notebooks_dir.glob("*.ipynb")))
        raise FileNotFoundError(f"No released notebook {name!r} in {notebooks_dir}; there are: {known}")
    if not mine.exists():
        raise FileNotFoundError(f"No copy of {name} in {work_dir} yet: `make lab` makes it.")
    base_path = work_dir / BASE_DIR_NAME / f"{name}.ipynb"
    backups = work_dir / BACKUP_DIR_NAME
    backups.mkdir(parents=True, exist_ok=True)
    backup = backups / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.ipynb"
    counter = 1
    while backup.exists():
        backup = backups / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}-{counter}.ipynb"
        counter += 1
    shutil.copyfile(mine, backup)
    old, new = _read(mine), _read(released)
    start = _answer_cells(_read(base_path)) if base_path.exists() else {}
    theirs, fresh = _answer_cells(old), _answer_cells(new)
    report = Update(name, backup)
    for cell_id, cell in theirs.items():
        untouched = cell_id in start and _text(start[cell_id]["source"]) == _text(cell["source"])
        if untouched:
            continue
        if cell_id not in fresh:
            report.not_carried.append(cell_id)
            continue
        target = fresh[cell_id]
        if cell_id in start and _text(start[cell_id]["source"]) != _text(target["source"]):
            report.restarted.append(cell_id)
        target["source"] = cell["source"]
        if target.get("cell_type") == "code":
            target["outputs"], target["execution_count"] = [], None
        report.carried.append(cell_id)
    if base_path.exists():  # cells of the copy that its release did not have: the student's own
        released_ids = {str(c.get("id")) for c in _read(base_path).get("cells", [])}
        report.own_cells = sum(str(c.get("id")) not in released_ids for c in old.get("cells", []))
    mine.write_text(json.dumps(new, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    shutil.copyfile(released, base_path)
    return report


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m mtml_utils.workcopy update [NAME ...]`` (every pending notebook without a name)."""
    parser = argparse.ArgumentParser(prog="python -m mtml_utils.workcopy",
                                     description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("update", help="bring work/ copies up to date with the release, keeping answers")
    up.add_argument("names", nargs="*", metavar="NAME",
                    help="e.g. 03_negative_transfer (default: every notebook the course changed)")
    args = parser.parse_args(argv)
    names = [Path(n).stem for n in args.names] or pending_updates()
    if not names:
        print("Every copy in work/ is up to date with the course.")
        return 0
    try:
        for name in names:
            print(update(name).summary())
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
