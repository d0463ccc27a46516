"""Hidden tests that decide a verdict in the grader process, never in the student's kernel.

Anything that runs in the student's kernel can be patched by the student: ``torch.allclose``,
``assert`` helpers, ``sys.excepthook``, the checks module, even the test cell's own code. So a test
cell's verdict comes from a *hidden test*: a Python function in ``source/<assignment>/grading.py``
(instructors only; never copied into a release, hidden from the sandbox) named like the test cell's
``grade_id``. It runs in the grader. Whenever it needs the student's code, it sends a short *probe* to
the kernel with :meth:`HiddenTest.run`: inputs go in and outputs come back as plain data through
:mod:`autograder.wire` (JSON and ``.npy``, no pickle). The references and the comparisons stay here.

To pass, a kernel must send back the right numbers for inputs it only sees while it is graded, which
takes a correct answer; nothing the kernel patches reaches this process. See ``autograder/README.md``.

Example ``grading.py``::

    import torch

    def test_add(t):
        out = t.run("result = add(inputs['a'], inputs['b'])", a=torch.arange(3), b=torch.ones(3))
        assert torch.equal(out, torch.arange(3) + 1), "add must add elementwise"
"""

from __future__ import annotations

import ast
import importlib.util
import random
import sys
import textwrap
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autograder import wire

#: The file of an assignment's hidden tests, beside its instructor notebook.
GRADING_MODULE = "grading.py"
#: Longest one-line reason shown to a student.
REASON_LIMIT = 200

ExecuteInKernel = Callable[[str], list[dict[str, Any]]]
"""Runs source code in the student's kernel and returns the outputs it produced (nbformat dicts)."""


class StudentCodeError(Exception):
    """The student's code raised an exception (or timed out) while a probe ran in the kernel."""

    def __init__(self, ename: str, evalue: str) -> None:
        super().__init__(f"{ename}: {evalue}")
        self.ename, self.evalue = ename, evalue


@dataclass(frozen=True)
class Verdict:
    """The outcome of one test cell: passed or not, and a one-line reason shown to the student.

    Example:
        >>> Verdict(False, "rows must be rows of the identity matrix").passed
        False
    """

    passed: bool
    reason: str = ""


class HiddenTest:
    """What a hidden test function receives: :meth:`run` executes a probe in the student's kernel.

    Args:
        grade_id: the test cell's ``grade_id`` (seeds are derived from it).
        execute: runs source code in the student's kernel, returning that code's outputs.
    """

    def __init__(self, grade_id: str, execute: ExecuteInKernel) -> None:
        self.grade_id = grade_id
        self._execute = execute
        self._calls = 0

    def run(self, code: str, **inputs: Any) -> Any:
        """Run ``code`` in the student's kernel and return the value it assigns to ``result``.

        ``code`` sees the notebook's names (the student's functions, the given imports), a dict
        ``inputs`` holding the keyword arguments (sent as data, see :mod:`autograder.wire`) and
        ``raises(f, *args)``, which names the exception ``f(*args)`` raised (or ``None``). The global
        torch seed is fixed before ``code`` runs, so the same submission always gets the same result.

        Raises:
            StudentCodeError: the student's code raised (the test fails with that error's line).
            wire.WireError: the kernel sent back something that is not a valid result.

        Example:
            >>> code = "result = one_hot_descriptors(inputs['ids'], 3)"
            >>> t.run(code, ids=torch.tensor([2]))  # doctest: +SKIP
            tensor([[0., 0., 1.]])
        """
        self._calls += 1
        source = probe_source(code, wire.dumps(inputs), seed_of(self.grade_id, self._calls))
        return read_probe_result(self._execute(source))


def seed_of(grade_id: str, call: int = 0) -> int:
    """A fixed seed per test (and per probe of that test).

    Example:
        >>> seed_of("test_add") == seed_of("test_add")
        True
    """
    return zlib.crc32(f"{grade_id}/{call}".encode()) & 0x7FFFFFFF


def probe_source(code: str, inputs_json: str, seed: int) -> str:
    """The cell source that runs ``code`` inside a function (so it never overwrites the student's
    names) and displays ``result`` as a :data:`wire.MIME` output.

    Example:
        >>> "def _mtml_probe" in probe_source("result = 1", "{}", 0)
        True
    """
    body = textwrap.indent(textwrap.dedent(code).strip("\n"), " " * 4)
    return (
        "def _mtml_probe():\n"
        "    import torch\n"
        "    from autograder import wire\n"
        f"    inputs = wire.loads({inputs_json!r})\n"
        "    raises = wire.raises\n"
        f"    torch.manual_seed({seed})\n"
        "    result = None\n"
        f"{body}\n"
        "    return wire.dumps(result)\n"
        "try:\n"
        f"    __import__('IPython.display').display.display({{{wire.MIME!r}: {{'payload': _mtml_probe()}}}},"
        " raw=True)\n"
        "finally:\n"
        "    del _mtml_probe\n"
    )


def with_reference(definitions: str, calls: str) -> str:
    """Probe code that runs ``calls`` while the functions that ``definitions`` defines replace the student's
    functions of the same names in the kernel, and puts the student's back afterwards (or removes the name
    when the student had none), even when ``calls`` raises.

    An exercise whose function calls an earlier exercise's (a loss calling the student's own helper, say) is
    graded with a correct helper in place, so a mistake in the helper costs the points of the helper's test
    only. Both arguments are code text, indented as they like.

    Example:
        >>> print(with_reference("def double(x):\\n    return 2 * x", "result = quadruple(3)"))
        global double
        _students = {k: v for k, v in globals().items() if k in ('double',)}
        def double(x):
            return 2 * x
        try:
            result = quadruple(3)
        finally:
            for _name in ('double',):
                globals().pop(_name, None)
            globals().update(_students)
    """
    definitions = textwrap.dedent(definitions).strip("\n")
    names = tuple(node.name for node in ast.parse(definitions).body if isinstance(node, ast.FunctionDef))
    if not names:
        raise ValueError("definitions must define at least one function")
    return "\n".join([
        f"global {', '.join(names)}",
        f"_students = {{k: v for k, v in globals().items() if k in {names!r}}}",
        definitions,
        "try:",
        textwrap.indent(textwrap.dedent(calls).strip("\n"), "    "),
        "finally:",
        f"    for _name in {names!r}:",
        "        globals().pop(_name, None)",
        "    globals().update(_students)",
    ])


def read_probe_result(outputs: list[dict[str, Any]]) -> Any:
    """The decoded result among a probe's outputs.

    Raises:
        StudentCodeError: the outputs hold an error (the student's code raised or timed out).
        wire.WireError: no result, several results, or a malformed one.

    Example:
        >>> read_probe_result([{"output_type": "display_data", "data": {wire.MIME: {"payload": "3"}}}])
        3
    """
    errors = [o for o in outputs if o.get("output_type") == "error"]
    if errors:
        raise StudentCodeError(str(errors[-1].get("ename", "Error")), str(errors[-1].get("evalue", "")))
    payloads = [o["data"][wire.MIME] for o in outputs
                if o.get("output_type") == "display_data" and wire.MIME in o.get("data", {})]
    if len(payloads) != 1 or not isinstance(payloads[0], dict):
        raise wire.WireError(f"expected one result from the notebook, got {len(payloads)}")
    return wire.loads(payloads[0].get("payload"))


def load_hidden_tests(path: Path) -> dict[str, Callable[[HiddenTest], None]]:
    """The hidden test functions of a ``grading.py`` (every top-level ``test_*`` function), by name.

    A missing file means no hidden tests. The module gets a private name, so two assignments'
    modules never collide.

    Example:
        >>> load_hidden_tests(Path("/nonexistent/grading.py"))
        {}
    """
    path = Path(path)
    if not path.is_file():
        return {}
    name = f"_mtml_grading_{path.parent.name}_{zlib.crc32(str(path).encode()):x}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return {key: value for key, value in vars(module).items() if key.startswith("test_") and callable(value)}


def one_line(text: BaseException | str, limit: int = REASON_LIMIT) -> str:
    """``text`` (or ``ExceptionType: message``) on one line, at most ``limit`` characters.

    Example:
        >>> one_line("a\\n  b"), one_line(OSError("disk\\nfull"))
        ('a b', 'OSError: disk full')
    """
    text = text if isinstance(text, str) else f"{type(text).__name__}: {text}"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def run_hidden_test(test: Callable[[HiddenTest], None], grade_id: str, execute: ExecuteInKernel) -> Verdict:
    """Run one hidden test function with fixed seeds and turn its outcome into a :class:`Verdict`.

    An ``AssertionError`` fails the test with its message; an exception raised by the student's code
    in the kernel fails it with that exception's line; anything else the comparison raises (a result
    of the wrong shape or type, say) fails it with its own line.

    Example:
        >>> def test_x(t):
        ...     assert False, "x must be positive"
        >>> run_hidden_test(test_x, "test_x", execute=lambda source: [])
        Verdict(passed=False, reason='x must be positive')
    """
    seed = seed_of(grade_id)
    random.seed(seed)
    try:
        import numpy as np
        import torch

        np.random.seed(seed)
        torch.manual_seed(seed)
    except ImportError:  # a course without torch still gets seeded hidden tests
        pass
    try:
        test(HiddenTest(grade_id, execute))
    except AssertionError as err:
        return Verdict(False, one_line(str(err) or "a hidden check failed"))
    except StudentCodeError as err:
        return Verdict(False, one_line(f"on the hidden test inputs your code raised {err}"))
    except wire.WireError as err:
        return Verdict(False, one_line(f"the notebook's result could not be read: {err}"))
    except Exception as err:  # the comparison choked on a result of the wrong form
        return Verdict(False, one_line(f"a result has the wrong form ({type(err).__name__}: {err})"))
    return Verdict(True)
