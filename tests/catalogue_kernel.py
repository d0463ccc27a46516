"""The classic-mistake catalogue graded in one kernel per notebook, with the grader's own hidden tests.

Grading a variant as its own submission runs every cell of its notebook again (tens of seconds each);
with a catalogue of a few hundred variants that is half an hour. Instead, :class:`CatalogueKernel`
executes the instructor notebook once (``smoke`` profile) and then, for each variant:

1. executes the variant's answer cell (the solution with one substring replaced) and the cells between
   it and its test cell, as a student who fixed or broke that answer and ran on would;
2. runs the *visible* test cell of the variant's exercise in the kernel (what ``make check`` and the
   Check my work button report): it catches the variant when the cell raises;
3. runs *every* hidden test of the notebook through :func:`autograder.hidden.run_hidden_test`, the very
   function the grader calls, probing the same kernel;
4. puts the solution back (the answer cell and the cells after it again).

The verdicts are the grader's, but the path is shorter than grading, so ``test_mistake_catalogue.py``
also keeps a sample of variants graded end to end and checks that both paths agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient

from autograder import COURSE_ROOT
from autograder.course import source_notebook
from autograder.hidden import GRADING_MODULE, load_hidden_tests, run_hidden_test

NOTEBOOKS_DIR = COURSE_ROOT.parent / "notebooks"


@dataclass
class Outcome:
    """What the visible and hidden tests said about one variant."""

    answer_error: str = ""
    """The error the variant's answer cell itself raised ("" when it ran)."""
    visible_failed: set[str] = field(default_factory=set)
    """Test cells (grade_id) whose visible code raised after the variant; only the variant's own is run."""
    hidden_failed: dict[str, str] = field(default_factory=dict)
    """Hidden tests that failed (grade_id -> the one-line reason a student would read)."""


def _error_of(outputs: list[dict[str, Any]]) -> str:
    errors = [o for o in outputs if o.get("output_type") == "error"]
    return f"{errors[-1].get('ename', 'Error')}: {errors[-1].get('evalue', '')}" if errors else ""


class CatalogueKernel:
    """One kernel running an instructor notebook, in which variants of its answers are tried in turn.

    Use as a context manager; ``env`` is merged into the kernel's environment (profile, data, folders).

    Example:
        >>> with CatalogueKernel("01_task_definition", env) as kernel:  # doctest: +SKIP
        ...     kernel.try_variant("multitask_loss", ".sum()", ".mean()", "test_multitask_loss").hidden_failed
        {'test_multitask_loss': 'multitask_loss must return the weighted *sum* ...'}
    """

    def __init__(self, assignment: str, env: dict[str, str], timeout: int = 120) -> None:
        self.assignment = assignment
        self.nb = nbformat.read(source_notebook(COURSE_ROOT, assignment), as_version=4)
        self.hidden = load_hidden_tests(COURSE_ROOT / "source" / assignment / GRADING_MODULE)
        self.cells = list(self.nb.cells)            # the notebook as written; nb.cells gets a scratch cell
        self.nb.cells.append(nbformat.v4.new_code_cell(""))
        self._scratch = len(self.nb.cells) - 1
        self._env = {**os.environ, **env}
        self._client = NotebookClient(self.nb, timeout=timeout, kernel_name="python3", allow_errors=True,
                                      resources={"metadata": {"path": str(NOTEBOOKS_DIR)}})
        self._context: Any = None
        self.setup_errors: dict[int, str] = {}
        """Cells of the instructor notebook that raised when it ran (index -> error): there must be none."""

    # -- the kernel ------------------------------------------------------------------------------------
    def __enter__(self) -> CatalogueKernel:
        self._context = self._client.setup_kernel(env=self._env)
        self._context.__enter__()
        for index, cell in enumerate(self.cells):
            if cell.cell_type == "code" and (error := self.execute_error(cell.source)):
                self.setup_errors[index] = error
        return self

    def __exit__(self, *exc: object) -> None:
        self._context.__exit__(*exc)

    def execute(self, source: str) -> list[dict[str, Any]]:
        """Run ``source`` in the kernel (as the scratch cell) and return its outputs."""
        cell = nbformat.v4.new_code_cell(source)
        self._client.execute_cell(cell, self._scratch, store_history=False)
        return list(cell.outputs)

    def execute_error(self, source: str) -> str:
        return _error_of(self.execute(source))

    # -- cells -----------------------------------------------------------------------------------------
    def index_of(self, grade_id: str) -> int:
        found = [i for i, c in enumerate(self.cells)
                 if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id]
        assert len(found) == 1, f"{self.assignment}: expected one cell {grade_id!r}, found {len(found)}"
        return found[0]

    def test_ids(self) -> list[str]:
        """grade_ids of the notebook's test cells, in order."""
        return [c.metadata["nbgrader"]["grade_id"] for c in self.cells
                if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
                and not c.metadata["nbgrader"].get("solution")]

    def _run_from(self, answer: int, test: int, answer_source: str) -> str:
        """Execute ``answer_source`` as the answer cell, then the code cells after it up to (not including)
        ``test``; the answer cell's own error."""
        error = self.execute_error(answer_source)
        for cell in self.cells[answer + 1:test]:
            if cell.cell_type == "code" and not cell.metadata.get("nbgrader", {}).get("grade"):
                self.execute(cell.source)
        return error

    # -- variants --------------------------------------------------------------------------------------
    def hidden_verdicts(self) -> dict[str, str]:
        """Run every hidden test against the kernel as it is: failing grade_id -> reason."""
        failed = {}
        for grade_id in self.test_ids():
            test = self.hidden.get(grade_id)
            if test is None:
                continue
            verdict = run_hidden_test(test, grade_id, self.execute)
            if not verdict.passed:
                failed[grade_id] = verdict.reason
        return failed

    def try_variant(self, answer_id: str, old: str, new: str, test_id: str, prefix: str = "") -> Outcome:
        """Replace ``old`` by ``new`` (exactly one occurrence) in the answer cell ``answer_id`` and put
        ``prefix`` before it, run the tests, then restore the solution (what ``prefix`` changed elsewhere in
        the kernel stays changed)."""
        answer, test = self.index_of(answer_id), self.index_of(test_id)
        solution = self.cells[answer].source
        count = solution.count(old)
        assert count == 1, f"{answer_id}: {old!r} occurs {count} times in the solution"
        outcome = Outcome()
        try:
            outcome.answer_error = self._run_from(answer, test, prefix + solution.replace(old, new))
            if self.execute_error(self.cells[test].source):
                outcome.visible_failed.add(test_id)
            outcome.hidden_failed = self.hidden_verdicts()
        finally:
            self._run_from(answer, test, solution)
        return outcome


def catalogue_environment(home: Path, data_dir: Path | None) -> dict[str, str]:
    """The grader's kernel environment (smoke profile, private Jupyter folders), with the data folder."""
    from autograder.course import isolated_environment

    env = isolated_environment(home, "smoke")
    if data_dir is not None and data_dir.is_dir():
        env["MTML_DATA_DIR"] = str(data_dir)
    return env


def try_catalogue(assignment: str, home: Path, data_dir: Path | None
                  ) -> tuple[dict[int, str], dict[str, str], dict[str, Outcome], dict[str, Outcome],
                             dict[str, Outcome]]:
    """One kernel running ``assignment``'s solution: its setup errors, the solution's hidden failures, and the
    :class:`Outcome` of every mistake, alternative and forgery of the catalogue (by name), in this order.

    The hidden tests run in this process and draw from its global random generators (as in the grader, one
    process per student): call it for one assignment at a time per process."""
    from classic_mistakes import ALTERNATIVES, MISTAKES
    from forgeries import FORGERIES

    with CatalogueKernel(assignment, catalogue_environment(home, data_dir)) as kernel:
        baseline = kernel.hidden_verdicts()
        mistakes = {m.name: kernel.try_variant(m.answer_id, m.old, m.new, m.test_id)
                    for m in MISTAKES.get(assignment, [])}
        alternatives = {a.name: kernel.try_variant(a.answer_id, a.old, a.new, a.test_id)
                        for a in ALTERNATIVES.get(assignment, [])}
        # Last, as a forgery patches the kernel: the true raises() is put back after each one.
        kernel.execute("import autograder.wire as _mtml_wire\n_mtml_raises = _mtml_wire.raises")
        forgeries = {}
        for f in FORGERIES.get(assignment, []):
            forgeries[f.name] = kernel.try_variant(f.answer_id, f.old, f.new, f.test_id, prefix=f.patch)
            kernel.execute("_mtml_wire.raises = _mtml_raises")
        return kernel.setup_errors, baseline, mistakes, alternatives, forgeries


def main(argv: list[str]) -> int:
    """``python tests/catalogue_kernel.py [ASSIGNMENT ...]``: try the catalogue's variants (mistakes, valid
    alternatives, forgeries) of the given assignments (default: all) and print one line per variant; exit 1
    when a variant does not behave."""
    import tempfile

    from classic_mistakes import ALTERNATIVES, MISTAKES
    from forgeries import FORGERIES

    from autograder.course import list_assignments

    data_dir = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"
    bad = 0
    for assignment in argv or list_assignments(COURSE_ROOT):
        with tempfile.TemporaryDirectory() as home:
            setup_errors, baseline, mistakes, alternatives, forgeries = try_catalogue(assignment, Path(home),
                                                                                      data_dir)
        print(f"== {assignment}: setup errors {setup_errors or 'none'}; "
              f"the solution's hidden failures {baseline or 'none'}")
        for m in MISTAKES.get(assignment, []):
            out = mistakes[m.name]
            ok = set(out.hidden_failed) == {m.test_id}
            bad += not ok
            seen = "caught" if out.visible_failed else "missed"
            print(f"{'ok ' if ok else 'BAD'} mistake {m.name}: hidden failed "
                  f"{out.hidden_failed or 'nothing'}; visible {seen}"
                  f"{'; answer cell raised ' + out.answer_error if out.answer_error else ''}")
        for a in ALTERNATIVES.get(assignment, []):
            out = alternatives[a.name]
            ok = not (out.answer_error or out.hidden_failed or out.visible_failed)
            bad += not ok
            print(f"{'ok ' if ok else 'BAD'} alternative {a.name}: {out}")
        for f in FORGERIES.get(assignment, []):
            out = forgeries[f.name]
            ok = not out.answer_error and f.test_id in out.hidden_failed
            bad += not ok
            print(f"{'ok ' if ok else 'BAD'} forgery {f.name}: hidden failed "
                  f"{out.hidden_failed or 'nothing'}")
    return 1 if bad else 0


if __name__ == "__main__":
    import sys

    sys.exit(main(sys.argv[1:]))
