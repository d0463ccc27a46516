"""Every exercise has two or three progressive hints, released with the student notebook, and no hint gives
a line of the solution away (see autograder/hints.py for where hints live and how they are shown)."""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from autograder.hints import (
    exercise_hints,
    exercise_labels,
    exercise_of_tests,
    hints_by_test,
    is_hints_cell,
    parse_hints,
    progressive_html,
    solution_lines,
)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = sorted((ROOT / "autograder" / "source").glob("*/*.ipynb"))
TITLE = re.compile(r"Hint (\d) · \S.*")
#: Markdown a hint may use: it is also shown as HTML in the Check my work table and as terminal text.
NOT_IN_HINTS = re.compile(r"```|^\s*[-*+] |^\s*\d+\. |^#|\]\(|<(?!/?(details|summary)>)", re.M)


def _answer_cells(nb: nbformat.NotebookNode) -> list[tuple[int, nbformat.NotebookNode]]:
    return [(i, c) for i, c in enumerate(nb.cells) if c.cell_type == "code"
            and c.metadata.get("nbgrader", {}).get("solution") and not c.metadata["nbgrader"].get("grade")]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_exercise_has_two_or_three_hints_just_above_its_answer_cell(source: Path) -> None:
    nb = nbformat.read(source, as_version=4)
    hints = exercise_hints(nb)
    answers = _answer_cells(nb)
    exercises = [cell.metadata["nbgrader"]["grade_id"] for _, cell in answers]
    assert sorted(hints) == sorted(exercises), f"{source.stem}: {sorted(hints)} vs {exercises}"
    for index, cell in answers:
        grade_id = cell.metadata["nbgrader"]["grade_id"]
        above = nb.cells[index - 1]
        assert is_hints_cell(above) and above.metadata["mtml"]["hints_for"] == grade_id, (
            f"{source.stem}: the cell above the answer cell of {grade_id} is not its hints cell")
        assert above.id == f"hints-{grade_id}"
        found = hints[grade_id]
        assert 2 <= len(found) <= 3, f"{grade_id}: {len(found)} hints (two or three: the idea ... the API)"
        numbers = [int(m.group(1)) if (m := TITLE.fullmatch(h.title)) else None for h in found]
        assert numbers == list(range(1, len(found) + 1)), f"{grade_id}: titles {[h.title for h in found]}"
        assert above.source.count("<details>") == len(found), f"{grade_id}: a disclosure the parser missed"
        for hint in found:
            assert len(hint.text.split()) >= 8, f"{grade_id}: {hint.title} says too little to help"
            assert not NOT_IN_HINTS.search(hint.text), (
                f"{grade_id}: {hint.title} uses markdown the table cannot show (lists, headings, links, "
                "code blocks, HTML); use text, `code`, **bold** and $math$")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_no_hint_contains_a_line_of_any_solution(source: Path) -> None:
    nb = nbformat.read(source, as_version=4)
    lines = [(c.metadata["nbgrader"]["grade_id"], line) for _, c in _answer_cells(nb)
             for line in solution_lines(c.source)]
    assert len(lines) >= len(_answer_cells(nb)), "every answer cell has solution lines to protect"
    for exercise, hints in exercise_hints(nb).items():
        for hint in hints:
            squeezed = "".join(hint.text.replace("`", "").split())  # spacing and code marks hide no line
            leaked = [(owner, line) for owner, line in lines if "".join(line.split()) in squeezed]
            assert not leaked, f"{exercise}: {hint.title} contains solution lines {leaked}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_released_notebook_keeps_the_hints_and_maps_each_test_to_them(source: Path) -> None:
    released = nbformat.read(ROOT / "notebooks" / source.name, as_version=4)
    assert exercise_hints(released) == exercise_hints(nbformat.read(source, as_version=4))
    by_test = hints_by_test(released)
    assert by_test and all(by_test.values()), \
        f"tests without hints: {[t for t, h in by_test.items() if not h]}"
    assert set(exercise_of_tests(released).values()) == set(exercise_hints(released))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_every_test_says_which_exercise_and_section_it_checks(source: Path) -> None:
    released = nbformat.read(ROOT / "notebooks" / source.name, as_version=4)
    headings = [line[3:].strip() for cell in released.cells if cell.cell_type == "markdown"
                for line in cell.source.splitlines() if line.startswith("## ")]
    labels = exercise_labels(released)
    assert set(labels) == set(exercise_of_tests(released))
    for test, exercise in exercise_of_tests(released).items():
        name, section = labels[test].split(", section ")
        assert name == f"exercise {exercise}"
        assert section in headings and section.split(" · ")[0].isdigit(), (test, section)


def test_hints_parse_render_and_nest_in_order() -> None:
    cell = ("**Stuck?** Open one at a time.\n\n<details><summary>Hint 1 · the idea</summary>\n\nUse $x^2$ "
            "and `a < b`.\n\n</details>\n<details><summary>Hint 2 · the API</summary>\n\n**Not** "
            "`torch.sum`.\n\n</details>\n")
    hints = parse_hints(cell)
    assert [h.title for h in hints] == ["Hint 1 · the idea", "Hint 2 · the API"]
    assert hints[0].html() == "<b>Hint 1 · the idea.</b> Use $x^2$ and <code>a &lt; b</code>."
    assert hints[1].plain() == "Hint 2 · the API: **Not** `torch.sum`."
    nested = progressive_html(hints)
    first, second = nested.index("Show a hint (1 of 2)"), nested.index("Still stuck? Next hint (2 of 2)")
    assert first < nested.index("Use $x^2$") < second < nested.index("<b>Not</b>")
    assert nested.endswith("</details></details>"), "the second hint opens only inside the first"
    assert progressive_html([]) == ""
