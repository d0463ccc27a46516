"""nbconvert preprocessors the course adds to nbgrader's autograde pipeline."""

from __future__ import annotations

from typing import Any

from nbconvert.preprocessors import Preprocessor
from nbformat import NotebookNode
from traitlets import Bool

from autograder.course import is_test_cell


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
    """Apply :func:`stderr_to_stdout` to every cell; inserted right after nbgrader's ``Execute``.

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
