"""Progressive hints for the exercises: where they live in a notebook and how they are shown.

Every exercise has one hints cell, a markdown cell just before its answer cell, written in the instructor
source and released unchanged with the student notebook. Its metadata names the exercise
(``{"mtml": {"hints_for": "<grade_id of the answer cell>"}}``) and it holds two or three disclosures that
a student opens one at a time, from the idea to the shape of the computation to the API or the pitfall::

    <details><summary>Hint 1 · the idea</summary>

    A one-hot descriptor has a single 1, at the task's index.

    </details>

The same hints reach students three ways: in the notebook (the disclosures), in the Check my work table
(the next hint beside each failing test) and from ``python -m autograder check NOTEBOOK --hints``. A hint
is text, inline ``code``, ``**bold**`` and ``$math$``; it never contains a line of the solution (a test
compares every hint with every solution line).
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from typing import Any

from autograder.course import is_answer_cell, is_test_cell

#: Metadata key of a hints cell: ``cell.metadata["mtml"]["hints_for"]`` is its exercise's ``grade_id``.
HINTS_KEY = "hints_for"
HINT_BLOCK = re.compile(r"<details>\s*<summary>(?P<title>.*?)</summary>\s*(?P<body>.*?)\s*</details>", re.S)
INLINE_CODE = re.compile(r"`([^`]+)`")
BOLD = re.compile(r"\*\*(.+?)\*\*")


@dataclass(frozen=True)
class Hint:
    """One hint: its title (``Hint 1 · the idea``) and its text (restricted markdown).

    Example:
        >>> Hint("Hint 1 · the idea", "Use `torch.eye`.").html()
        '<b>Hint 1 · the idea.</b> Use <code>torch.eye</code>.'
    """

    title: str
    text: str

    def html(self) -> str:
        """The hint as HTML for the Check my work table (``$math$`` is left to MathJax)."""
        body = INLINE_CODE.sub(r"<code>\1</code>", html.escape(self.text, quote=False))
        body = BOLD.sub(r"<b>\1</b>", body)
        return f"<b>{html.escape(self.title)}.</b> {' '.join(body.split())}"

    def plain(self) -> str:
        """The hint as one line of terminal text (for ``check --hints``)."""
        return f"{self.title}: {' '.join(self.text.split())}"


def is_hints_cell(cell: Any) -> bool:
    """Whether a notebook cell is an exercise's hints cell (see the module docstring)."""
    return cell.get("cell_type") == "markdown" and HINTS_KEY in cell.get("metadata", {}).get("mtml", {})


def parse_hints(markdown: str) -> list[Hint]:
    """The hints of a hints cell's markdown, in order.

    Example:
        >>> cell = "<details><summary>Hint 1 · the idea</summary>\\n\\nOne 1 per row.\\n</details>"
        >>> parse_hints(cell)
        [Hint(title='Hint 1 · the idea', text='One 1 per row.')]
    """
    return [Hint(" ".join(m["title"].split()), m["body"].strip()) for m in HINT_BLOCK.finditer(markdown)]


def exercise_hints(nb: Any) -> dict[str, list[Hint]]:
    """``{exercise grade_id: its hints}`` for every hints cell of a notebook (an nbformat node or JSON dict).

    Example:
        >>> from nbformat.v4 import new_notebook, new_markdown_cell
        >>> cell = new_markdown_cell("<details><summary>Hint 1</summary>x</details>")
        >>> cell.metadata["mtml"] = {"hints_for": "add"}
        >>> exercise_hints(new_notebook(cells=[cell]))
        {'add': [Hint(title='Hint 1', text='x')]}
    """
    hints: dict[str, list[Hint]] = {}
    for cell in nb["cells"]:
        if is_hints_cell(cell):
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            hints[str(cell["metadata"]["mtml"][HINTS_KEY])] = parse_hints(source)
    return hints


def exercise_of_tests(nb: Any) -> dict[str, str]:
    """``{test grade_id: grade_id of the exercise it tests}``: the nearest answer cell above each test cell.

    Example:
        >>> from nbformat.v4 import new_notebook, new_code_cell
        >>> answer, test = new_code_cell("def add(): ..."), new_code_cell("assert add()")
        >>> answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "add"}
        >>> test.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": "test_add"}
        >>> exercise_of_tests(new_notebook(cells=[answer, test]))
        {'test_add': 'add'}
    """
    tested: dict[str, str] = {}
    exercise = None
    for cell in nb["cells"]:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if is_answer_cell(cell):
            exercise = str(meta.get("grade_id"))
        elif is_test_cell(cell) and exercise is not None:
            tested[str(meta.get("grade_id"))] = exercise
    return tested


def exercise_labels(nb: Any) -> dict[str, str]:
    """``{test grade_id: where its exercise is}``: the exercise's name and the numbered section (the nearest
    ``## `` heading above its answer cell), so a student reading a report finds the cell to fix.

    Example:
        >>> from nbformat.v4 import new_notebook, new_code_cell, new_markdown_cell
        >>> answer, test = new_code_cell("def add(): ..."), new_code_cell("assert add()")
        >>> answer.metadata["nbgrader"] = {"solution": True, "grade": False, "grade_id": "add"}
        >>> test.metadata["nbgrader"] = {"solution": False, "grade": True, "grade_id": "test_add"}
        >>> heading = new_markdown_cell("## 2 · Adding\\n\\nText.\\n### A subsection")
        >>> exercise_labels(new_notebook(cells=[heading, answer, test]))
        {'test_add': 'exercise add, section 2 · Adding'}
    """
    section = None
    sections: dict[str, str | None] = {}
    for cell in nb["cells"]:
        if cell.get("cell_type") == "markdown":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            for line in source.splitlines():
                if line.startswith("## "):
                    section = " ".join(line[3:].split())
        elif is_answer_cell(cell):
            sections[str(cell["metadata"]["nbgrader"].get("grade_id"))] = section
    return {test: f"exercise {name}" + (f", section {sections[name]}" if sections.get(name) else "")
            for test, name in exercise_of_tests(nb).items()}


def hints_by_test(nb: Any) -> dict[str, list[Hint]]:
    """``{test grade_id: the hints of the exercise it tests}`` (``[]`` for an exercise without hints)."""
    hints = exercise_hints(nb)
    return {test: hints.get(exercise, []) for test, exercise in exercise_of_tests(nb).items()}


def progressive_html(hints: list[Hint]) -> str:
    """Nested disclosures: the first hint's summary opens it, and inside it the offer of the next one.

    Example:
        >>> text = progressive_html([Hint("Hint 1", "a"), Hint("Hint 2", "b")])
        >>> text.count('<details class="mtml-hint">'), text.index("Hint 1") < text.index("Hint 2")
        (2, True)
    """
    inner = ""
    for number, hint in reversed(list(enumerate(hints, start=1))):
        offer = "Show a hint" if number == 1 else "Still stuck? Next hint"
        inner = (f'<details class="mtml-hint"><summary>{offer} ({number} of {len(hints)})</summary>'
                 f"<div>{hint.html()}</div>{inner}</details>")
    return inner


def solution_lines(source: str) -> list[str]:
    """The lines of an answer cell's solution worth protecting: between ``### BEGIN SOLUTION`` and
    ``### END SOLUTION``, whitespace collapsed, without comments, blank lines and very short lines.

    Example:
        >>> solution_lines("def f(x):\\n    ### BEGIN SOLUTION\\n    y = x + 1  # one\\n    return y\\n"
        ...                "    ### END SOLUTION")
        ['y = x + 1', 'return y']
    """
    lines, inside = [], False
    for raw in source.splitlines():
        if "BEGIN SOLUTION" in raw:
            inside = True
        elif "END SOLUTION" in raw:
            inside = False
        elif inside:
            code = " ".join(raw.split("#", 1)[0].split())
            if len(code) >= 8:
                lines.append(code)
    return lines
