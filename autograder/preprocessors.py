"""nbconvert preprocessors the course adds to nbgrader's autograde pipeline.

:class:`TrustedExecute` replaces nbgrader's ``Execute``: it runs the notebook in the (sandboxed)
kernel as usual, then decides every test cell's verdict in the grader process with the
assignment's hidden tests (:mod:`autograder.hidden`) and writes the outputs nbgrader scores from:
one error output with a one-line reason when the test failed, none when it passed.

A kernel that stops answering (no reply to a cell within the cell timeout, none after the interrupt
either, within :attr:`TrustedExecute.interrupt_grace` seconds) is killed at once: that cell and every
later one score 0 without running (:func:`take_notes` tells the grader why), the earlier ones keep
their points, and the notebook costs at most one cell timeout plus the grace.
"""

from __future__ import annotations

import time
from pathlib import Path
from queue import Empty
from typing import Any

from nbclient.exceptions import CellTimeoutError
from nbclient.util import ensure_async
from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from nbformat.v4 import new_code_cell, new_output
from nbgrader.preprocessors import Execute
from traitlets import Bool, Integer

from autograder import wire
from autograder.check import answer_cell_error, with_cause
from autograder.course import is_test_cell
from autograder.hidden import (
    GRADING_MODULE,
    StudentCodeError,
    Verdict,
    load_hidden_tests,
    one_line,
    run_hidden_test,
)

#: Seconds an interrupted kernel gets to answer before it counts as wedged (``--interrupt-grace``).
DEFAULT_INTERRUPT_GRACE = 30
#: What happened to this process's last notebook that its scores alone do not tell (see :func:`take_notes`).
_notes: list[str] = []


def take_notes() -> list[str]:
    """The notes left by the notebooks executed since the last call (a wedged kernel), and forget them.

    Example:
        >>> take_notes()
        []
    """
    notes = list(_notes)
    _notes.clear()
    return notes


class KernelWedged(CellTimeoutError):
    """The kernel answered neither a cell within its timeout nor the interrupt that followed."""


def stderr_to_stdout(cell: NotebookNode) -> bool:
    """Turn the stderr stream outputs of a test cell into stdout when the cell has no error.

    nbgrader gives 0 to a test cell with any stderr output, so a ``warnings.warn`` from a library
    would zero a passing test. Moving the text to stdout keeps it visible in the feedback while only
    real errors cost points. Returns whether the cell was changed.

    Example:
        >>> from nbformat.v4 import new_code_cell, new_output
        >>> cell = new_code_cell("", metadata={"nbgrader": {"grade": True}})
        >>> cell.outputs = [new_output("stream", name="stderr", text="UserWarning: x\\n")]
        >>> stderr_to_stdout(cell), cell.outputs[0].name
        (True, 'stdout')
    """
    if not is_test_cell(cell):
        return False
    outputs = cell.get("outputs", [])
    if any(output.get("output_type") == "error" for output in outputs):
        return False
    changed = False
    for output in outputs:
        if output.get("output_type") == "stream" and output.get("name") == "stderr":
            output["name"] = "stdout"
            changed = True
    return changed


class StderrToStdout(Preprocessor):
    """Apply :func:`stderr_to_stdout` to every cell (for courses that keep nbgrader's own ``Execute``).

    Example (in ``nbgrader_config.py``)::

        c.Autograde.autograde_preprocessors = [
            "nbgrader.preprocessors.Execute", "autograder.preprocessors.StderrToStdout", ...]
    """

    # nbconvert preprocessors are off unless enabled; registering this one means it should run.
    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        for cell in nb.cells:
            stderr_to_stdout(cell)
        return nb, resources


class DropEmptyNbgraderMetadata(Preprocessor):
    """Remove the empty ``nbgrader`` metadata that nbgrader's ``DeduplicateIds`` leaves on a duplicated
    graded cell; nbgrader's ``OverwriteCells`` would otherwise fail on it (KeyError ``grade_id``) and the
    whole submission would score 0 for a copy of a test cell."""

    enabled = Bool(True).tag(config=True)

    def preprocess(self, nb: NotebookNode, resources: dict[str, Any]) -> tuple[NotebookNode, dict[str, Any]]:
        for cell in nb.cells:
            if "nbgrader" in cell.get("metadata", {}) and not cell.metadata["nbgrader"]:
                del cell.metadata["nbgrader"]
        return nb, resources


def verdict_outputs(cell: NotebookNode, verdict: Verdict) -> list[NotebookNode]:
    """The outputs nbgrader scores a test cell from: the kernel's own output as plain text or displays
    (never an error, stderr or an ``execute_result``, which nbgrader would read as a score), then one
    error output carrying the reason when the test failed.

    Example:
        >>> cell = new_code_cell("")
        >>> cell.outputs = [new_output("error", ename="AssertionError", evalue="", traceback=[])]
        >>> [o.output_type for o in verdict_outputs(cell, Verdict(True))]
        []
    """
    kept = []
    for output in cell.get("outputs", []):
        kind = output.get("output_type")
        if kind == "stream":
            kept.append(new_output("stream", name="stdout", text=output.get("text", "")))
        elif kind in ("display_data", "execute_result"):
            data, metadata = output.get("data", {}), output.get("metadata", {})
            kept.append(new_output("display_data", data=data, metadata=metadata))
    if not verdict.passed:
        kept.append(new_output("error", ename="TestFailed", evalue=verdict.reason,
                               traceback=[f"Test failed: {verdict.reason}"]))
    return kept


class TrustedExecute(Execute):
    """nbgrader's ``Execute``, with every test cell's verdict decided outside the kernel.

    For a test cell whose ``grade_id`` has a hidden test in ``source/<assignment>/grading.py``, the
    verdict is that hidden test's, decided in this process; the cell's visible code still runs in the
    kernel (later cells may use what it defines), but nothing it prints or raises counts, since the
    student's kernel could fake either. The hidden test repeats what the visible checks ask, on inputs
    the student has not seen, so it is stricter; and a mistake in one exercise that breaks another
    exercise's visible example costs only the points of its own test. A test cell without a hidden test
    keeps nbgrader's rule (no error output), which a kernel can forge: the course's own assignments have a
    hidden test for every test cell (a test checks).
    """

    max_output_chars = Integer(
        200_000, help="characters of text output kept per cell; the rest of an output flood is dropped",
    ).tag(config=True)

    interrupt_grace = Integer(
        DEFAULT_INTERRUPT_GRACE,
        help="seconds an interrupted cell gets to answer; past them the kernel is killed as wedged, and that "
             "cell and the rest of the notebook score 0",
    ).tag(config=True)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._hidden: dict[str, dict] = {}
        self._chars: dict[int, int] = {}
        self.wedged: str = ""
        """Why the kernel was given up (empty while it answers)."""
        self._causes: list[str] = []
        """Errors of the answer cells run since the last test cell (see :func:`answer_cell_error`)."""

    def preprocess(self, nb: NotebookNode, resources: Any = None, km: Any = None) -> tuple[NotebookNode, Any]:
        self.wedged = ""
        self._causes = []
        return super().preprocess(nb, resources, km=km)

    async def _async_handle_timeout(
        self, timeout: int, cell: NotebookNode | None = None
    ) -> dict[str, Any] | None:
        """Interrupt the kernel and wait :attr:`interrupt_grace` seconds for the cell's reply (the only
        request in flight); without one, kill the kernel and raise :class:`KernelWedged`."""
        self.log.error("Timeout waiting for execute reply (%is): interrupting the kernel", timeout)
        assert self.km is not None and self.kc is not None
        await ensure_async(self.km.interrupt_kernel())
        deadline = time.monotonic() + self.interrupt_grace  # other messages must not extend the grace
        try:
            while (left := deadline - time.monotonic()) > 0:
                msg = await ensure_async(self.kc.shell_channel.get_msg(timeout=left))
                if msg.get("msg_type") == "execute_reply":
                    return msg
        except Empty:
            pass
        self.wedged = (f"the kernel stopped answering (no reply within the {timeout} s cell timeout, "
                       f"none {self.interrupt_grace} s after the interrupt)")
        self.log.error("%s: killing it", self.wedged)
        await ensure_async(self.km.shutdown_kernel(now=True))
        raise KernelWedged(self.wedged)

    def hidden_tests(self, assignment: str) -> dict:
        """The hidden tests of ``assignment`` from the course root's ``source/`` (cached)."""
        if assignment not in self._hidden:
            root = Path(self.config.CourseDirectory.get("root", "."))
            source = str(self.config.CourseDirectory.get("source_directory", "source"))
            self._hidden[assignment] = load_hidden_tests(root / source / assignment / GRADING_MODULE)
        return self._hidden[assignment]

    def preprocess_cell(self, cell: NotebookNode, resources: Any, index: int) -> tuple[NotebookNode, Any]:
        if cell.cell_type == "code" and not self.wedged:
            try:
                cell, resources = super().preprocess_cell(cell, resources, index)
            except KernelWedged:
                self._note(index)
        if self.wedged and cell.cell_type == "code":  # this cell, or one after the kernel was given up
            cell.outputs = [new_output("error", ename="KernelWedged", evalue=self.wedged,
                                       traceback=[self.wedged])]
            if is_test_cell(cell):
                cell.outputs = verdict_outputs(cell, Verdict(False, self.wedged))
            return cell, resources
        if not is_test_cell(cell):
            if (cause := answer_cell_error(cell)) is not None:
                self._causes.append(cause)
            return cell, resources
        causes, self._causes = self._causes, []
        grade_id = cell.metadata["nbgrader"].get("grade_id", "")
        assignment = (resources or {}).get("nbgrader", {}).get("assignment", "")
        test = self.hidden_tests(assignment).get(grade_id)
        if test is None:
            stderr_to_stdout(cell)
            return cell, resources
        verdict = run_hidden_test(test, grade_id, lambda source: self._run_probe(source, index))
        if not verdict.passed and causes:
            verdict = Verdict(False, one_line(with_cause(causes, verdict.reason)))
        cell.outputs = verdict_outputs(cell, verdict)
        # Later update_display messages must not rewrite the verdict written here.
        self.clear_display_id_mapping(index)
        return cell, resources

    def _note(self, index: int) -> None:
        _notes.append(f"{self.wedged} in cell {index + 1}: it and the rest of the notebook scored 0")

    def _run_probe(self, source: str, index: int) -> list[dict[str, Any]]:
        if self.wedged:
            raise StudentCodeError("KernelWedged", self.wedged)
        probe = new_code_cell(source)
        test_cell = self.nb.cells[index]
        try:
            self.execute_cell(probe, index, store_history=False)
        except KernelWedged as err:
            self._note(index)
            raise StudentCodeError("KernelWedged", self.wedged) from err
        finally:  # nbclient stores the executed cell at its index: put the test cell back
            self.nb.cells[index] = test_cell
        return probe.outputs

    def output(self, outs: list, msg: dict, display_id: str | None, cell_index: int) -> NotebookNode | None:
        """Keep at most :attr:`max_output_chars` of text per cell, so an output flood cannot fill the
        grader's memory (a probe's result is exempt: :mod:`autograder.wire` caps its size)."""
        content = msg.get("content", {})
        if msg.get("msg_type") == "display_data" and wire.MIME in content.get("data", {}):
            return super().output(outs, msg, display_id, cell_index)
        size = len(str(content.get("text", ""))) + len(str(content.get("data", "")))
        used = self._chars.get(cell_index, 0)
        self._chars[cell_index] = used + size
        if used + size > self.max_output_chars:
            if used <= self.max_output_chars:
                note = "\n... output truncated by the grader ...\n"
                outs.append(new_output("stream", name="stdout", text=note))
            return None
        return super().output(outs, msg, display_id, cell_index)
