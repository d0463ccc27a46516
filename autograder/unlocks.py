"""What a blank notebook says when Run All reaches an experiment whose exercise is not done yet.

A fresh student notebook has every exercise unanswered, so Run All used to end every experiment cell in a
``NotImplementedError`` (the exercise, called) or ``NameError`` (a result an earlier failed cell would have
made) traceback, and nothing said which exercise unlocks which experiment. :func:`install` (called by
``mtml.setup``) replaces such a traceback with one line::

    This cell needs Exercise 3 (`sample_task_batch`), not done yet: solve it above, run its test, then run
    this cell again.

Only there: the exercises' own cells (answers and tests) still fail loudly, and an error in a cell whose
exercises are all done keeps its full traceback (it is a real bug to fix). Which exercises a cell needs is
read from the notebook file (JupyterLab tells the kernel its path and, with each execution, the cell's id):
a cell needs the exercises whose answer cells define a name it uses, directly or through the results of
earlier cells (:func:`exercises_needed`); a ``NotImplementedError`` names the exercise it was raised in.
Under ``check`` and grading no cell id is sent, so nothing changes there.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

from autograder.course import is_answer_cell, is_test_cell

#: Methods that change their receiver: ``results.append(run(...))`` makes ``results`` depend on ``run``.
MUTATORS = frozenset({"append", "extend", "update", "setdefault", "add", "insert", "__setitem__"})
#: The errors looked at: an error of a cell that needs an exercise still open is put down to it (its
#: ``NotImplementedError``, a name or a key its failed experiment never set, ...). Not ``SyntaxError``
#: (IPython shows it before running anything, in its own form) nor errors of the system (``OSError``,
#: ``ImportError``, ``MemoryError``): these never come from an unanswered exercise.
HANDLED_ERRORS = (RuntimeError, NameError, LookupError, AttributeError, TypeError, ValueError, AssertionError,
                  ArithmeticError)


def _source(cell: dict) -> str:
    return cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])


def _role(cell: dict) -> str:
    return "test" if is_test_cell(cell) else "answer" if is_answer_cell(cell) else "other"


def names_used_and_changed(source: str) -> tuple[set[str], set[str]]:
    """``(names read, names bound or changed)`` by a cell's code, function bodies included.

    Changed are names assigned, defined or imported, and the roots of item or attribute assignments and of
    calls to :data:`MUTATORS`.

    Example:
        >>> used, changed = names_used_and_changed("acc[k] = run(f)\\nlog.append(acc)\\ndef g(): return h()")
        >>> sorted(used), sorted(changed)
        (['acc', 'f', 'h', 'k', 'log', 'run'], ['acc', 'g', 'log'])
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set(), set()
    used: set[str] = set()
    changed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            (used if isinstance(node.ctx, ast.Load) else changed).add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            changed.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            changed.update((alias.asname or alias.name).split(".")[0] for alias in node.names)
        elif isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, ast.Store):
            changed.update(_root(node))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and node.func.attr in MUTATORS):
            changed.update(_root(node.func.value))
    return used, changed


def _root(node: ast.AST) -> set[str]:
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return {node.id} if isinstance(node, ast.Name) else set()


def exercises_needed(nb: dict) -> dict[str, list[str]]:
    """``{cell id: grade_ids of the exercises it needs}`` for every code cell that is neither an answer
    nor a test, in the order the exercises appear.

    Example:
        >>> answer = {"cell_type": "code", "id": "a", "source": "def f(x): raise NotImplementedError",
        ...           "metadata": {"nbgrader": {"solution": True, "grade": False, "grade_id": "f"}}}
        >>> run = {"cell_type": "code", "id": "r", "source": "out = [f(1)]", "metadata": {}}
        >>> plot = {"cell_type": "code", "id": "p", "source": "print(out, len([]))", "metadata": {}}
        >>> exercises_needed({"cells": [answer, run, plot]})
        {'r': ['f'], 'p': ['f']}
    """
    order = list(exercise_numbers(nb))
    origin: dict[str, set[str]] = {}  # name in the notebook's namespace -> exercises its value needs
    needed: dict[str, list[str]] = {}
    # A function defined above an exercise may call it (resolved when called): a name only an answer cell
    # binds stands for its exercise wherever it is used.
    defined_by: dict[str, set[str]] = {}
    for cell in nb["cells"]:
        if cell.get("cell_type") == "code" and _role(cell) == "answer":
            exercise = str(cell["metadata"]["nbgrader"].get("grade_id"))
            for name in names_used_and_changed(_source(cell))[1]:
                defined_by.setdefault(name, set()).add(exercise)
    for cell in nb["cells"]:
        if cell.get("cell_type") != "code":
            continue
        used, changed = names_used_and_changed(_source(cell))
        role = _role(cell)
        if role == "answer":
            exercise = str(cell["metadata"]["nbgrader"].get("grade_id"))
            for name in changed:
                origin[name] = {exercise}
        elif role == "other":
            needs = set().union(*(origin.get(name, defined_by.get(name, set())) for name in used | changed))
            for name in changed:
                origin[name] = needs | (origin.get(name, set()) if name in used else set())
            needed[str(cell.get("id"))] = [e for e in order if e in needs]
    return needed


def exercise_numbers(nb: dict) -> dict[str, int]:
    """``{grade_id: its number}``: exercises are numbered by the order of their answer cells, from 1."""
    answers = [c for c in nb["cells"] if c.get("cell_type") == "code" and _role(c) == "answer"]
    return {str(c["metadata"]["nbgrader"].get("grade_id")): i for i, c in enumerate(answers, start=1)}


def unanswered(exercise_names: set[str], namespace: dict[str, Any]) -> bool:
    """Whether an exercise is still open in the kernel: a name its answer cell binds is missing, or is a
    function (or a class with a method) whose code still raises ``NotImplementedError``.

    Example:
        >>> def open_one(): raise NotImplementedError()
        >>> unanswered({"open_one"}, {"open_one": open_one}), unanswered({"len"}, {"len": len})
        (True, False)
    """
    for name in exercise_names:
        if name not in namespace:
            return True
        value = namespace[name]
        functions = [value] if callable(value) and hasattr(value, "__code__") else []
        if isinstance(value, type):
            functions = [f for f in vars(value).values() if hasattr(f, "__code__")]
        if any("NotImplementedError" in f.__code__.co_names for f in functions):
            return True
    return False


def message(needed: list[str], numbers: dict[str, int]) -> str:
    """The one line shown in place of the traceback.

    Example:
        >>> message(["split", "loss"], {"split": 2, "loss": 4})
        'This cell needs Exercise 2 (`split`) and Exercise 4 (`loss`), not done yet: solve them above, run their tests, then run this cell again.'
    """  # noqa: E501
    names = [f"Exercise {numbers.get(e, '?')} (`{e}`)" for e in needed]
    listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + f" and {names[-1]}"
    them, their = ("it", "its test") if len(names) == 1 else ("them", "their tests")
    return (f"This cell needs {listed}, not done yet: solve {them} above, run {their}, "
            "then run this cell again.")


class UnlockMessages:
    """The kernel side: remembers the running cell's id and turns an unanswered exercise's error into a line.

    ``install`` registers one instance per shell; see the module docstring.
    """

    def __init__(self, shell: Any) -> None:
        self.shell = shell
        self.cell_id: str | None = None
        self._cache: tuple[Path, float, dict, dict] | None = None

    def pre_run_cell(self, info: Any) -> None:
        self.cell_id = getattr(info, "cell_id", None)

    def _notebook(self) -> tuple[dict[str, list[str]], dict[str, int], dict[str, set[str]]] | None:
        from autograder.selfcheck import notebook_path

        path = notebook_path(self.shell.user_ns)
        if path is None:
            return None
        mtime = path.stat().st_mtime
        if self._cache is None or self._cache[:2] != (path, mtime):
            nb = json.loads(path.read_text(encoding="utf-8"))
            bound = {str(c["metadata"]["nbgrader"].get("grade_id")): names_used_and_changed(_source(c))[1]
                     for c in nb["cells"] if c.get("cell_type") == "code" and _role(c) == "answer"}
            self._cache = (path, mtime, {"needed": exercises_needed(nb), "numbers": exercise_numbers(nb)},
                           bound)
        _, _, found, bound = self._cache
        return found["needed"], found["numbers"], bound

    def line_for(self, error: BaseException) -> str | None:
        """The one line for this error in the running cell, or ``None`` to show the full traceback."""
        if not isinstance(error, HANDLED_ERRORS) or not self.cell_id:
            return None
        try:
            found = self._notebook()
        except (OSError, ValueError, KeyError):
            return None
        if found is None:
            return None
        needed, numbers, bound = found
        still_open = [e for e in needed.get(self.cell_id, [])
                      if unanswered(bound.get(e, set()), self.shell.user_ns)]
        if isinstance(error, NotImplementedError):  # the exercise it was raised in, when one of them
            frames, tb = set(), error.__traceback__
            while tb is not None:
                frames.add(tb.tb_frame.f_code.co_name)
                tb = tb.tb_next
            still_open = [e for e in still_open if bound.get(e, set()) & frames] or still_open
        return message(still_open, numbers) if still_open else None

    def __call__(self, shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None):
        line = self.line_for(value)
        if line is None:  # what IPython shows without this handler, less the check helpers' own frames
            shell.showtraceback((etype, value, without_check_frames(tb)), tb_offset=tb_offset,
                                running_compiled_code=True)
            return []
        shell._showtraceback(etype, value, [line])
        return [line]


#: The visible tests' helpers: a failed check is about the student's value, not about the helper's code.
CHECK_HELPERS = str(Path("mtml_utils") / "checks.py")


def without_check_frames(tb: Any) -> Any:
    """``tb`` less its trailing frames inside the course's check helpers (``mtml_utils/checks.py``), so a
    failed visible check shows the test line and the message, not the helper that raised it.

    Example:
        >>> without_check_frames(None) is None
        True
    """
    frames = []
    while tb is not None:
        frames.append(tb)
        tb = tb.tb_next
    keep = len(frames)
    while keep > 1 and frames[keep - 1].tb_frame.f_code.co_filename.endswith(CHECK_HELPERS):
        keep -= 1
    if frames and keep < len(frames):
        frames[keep - 1].tb_next = None
    return frames[0] if frames else None


def install(shell: Any = None) -> UnlockMessages | None:
    """Show one line instead of a traceback where an experiment needs an unanswered exercise (once per shell).

    Returns the handler, or ``None`` outside IPython.

    Example:
        >>> from IPython.core.interactiveshell import InteractiveShell
        >>> shell = InteractiveShell.instance()
        >>> install(shell) is install(shell)  # the second call finds the first
        True
    """
    if shell is None:
        try:
            from IPython import get_ipython
        except ImportError:
            return None
        shell = get_ipython()
    if shell is None:
        return None
    existing = getattr(shell, "_mtml_unlock_messages", None)
    if existing is not None:
        return existing
    handler = UnlockMessages(shell)
    shell.events.register("pre_run_cell", handler.pre_run_cell)
    shell.set_custom_exc(HANDLED_ERRORS, handler)
    shell._mtml_unlock_messages = handler
    return handler
