"""Effects measured over seeds: is an ordering a phenomenon, or noise?

A notebook claims an effect ("MMoE beats the shared bottom when the tasks differ") only when its own run
shows it beyond the seed spread: the ordering holds on **every** seed, or the mean of the paired
differences exceeds **twice its standard error**. :func:`compare` computes both from per-seed results, and
:meth:`Effect.line` prints the effect with its spread in one line that the course's tests read back
(``tests/test_notebooks_execute.py`` asserts that every effect a notebook prints holds in ``laptop``).

Example:
    >>> import torch
    >>> e = compare("MMoE beats shared-bottom", torch.tensor([0.30, 0.32, 0.29]),
    ...             "<", torch.tensor([0.50, 0.41, 0.60]))
    >>> e.wins, e.n, e.holds
    (3, 3, True)
    >>> print(e.line())
    effect | MMoE beats shared-bottom | 0.303 < 0.503 | diff +0.200 ± 0.064 SE | 3/3 seeds | holds
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

#: Every effect line starts with this word, so a test can find the lines among the other output.
EFFECT_PREFIX = "effect |"
#: A comparison printed for information, not claimed (e.g. a paper's effect that does not appear here).
COMPARISON_PREFIX = "comparison |"


@dataclass(frozen=True)
class Effect:
    """A claimed ordering ``a op b`` measured on ``n`` seeds (see :func:`compare`)."""

    name: str
    """What the effect says, in words (one line, no ``|``)."""
    a_mean: float
    """Mean of the left-hand side over seeds."""
    op: str
    """``"<"`` or ``">"``: the ordering claimed."""
    b_mean: float
    """Mean of the right-hand side over seeds."""
    diffs: tuple[float, ...]
    """Per-seed differences in the direction of the claim (positive = the claim holds on that seed)."""

    @property
    def n(self) -> int:
        """Number of seeds (paired) or of the smaller group (unpaired)."""
        return len(self.diffs)

    @property
    def mean(self) -> float:
        """Mean difference in the direction of the claim."""
        return sum(self.diffs) / self.n

    @property
    def se(self) -> float:
        """Standard error of :attr:`mean` (sample standard deviation / sqrt(n)); 0 with one seed."""
        if self.n < 2:
            return 0.0
        var = sum((d - self.mean) ** 2 for d in self.diffs) / (self.n - 1)
        return math.sqrt(var / self.n)

    @property
    def wins(self) -> int:
        """Seeds on which the ordering holds."""
        return sum(d > 0 for d in self.diffs)

    @property
    def holds(self) -> bool:
        """The course's rule: the ordering holds on every seed, or the mean difference exceeds 2 SE."""
        return self.n > 0 and (self.wins == self.n or self.mean > 2 * self.se)

    @property
    def reversed(self) -> bool:
        """The opposite ordering holds: on every seed, or the mean beyond 2 SE the other way."""
        return self.n > 0 and (all(d < 0 for d in self.diffs) or -self.mean > 2 * self.se)

    @property
    def verdict(self) -> str:
        """Where a measured ordering stands against the seed spread, in words for a sentence.

        Example:
            >>> compare("x", [0.1, 0.2, 0.3], ">", 0.0).verdict
            'beyond the seed spread'
            >>> compare("x", [-0.1, 0.2, -0.3], ">", 0.0).verdict
            'within the seed spread'
        """
        return ("beyond the seed spread" if self.holds else
                "the other way, beyond the seed spread" if self.reversed else "within the seed spread")

    def spread(self, digits: int = 3) -> str:
        """The difference with its spread, for a sentence of a generated conclusion.

        Example:
            >>> compare("x", [0.71, 0.74, 0.69], ">", [0.5, 0.55, 0.52]).spread(2)
            '+0.19 ± 0.01 SE, 3 of 3 seeds'
        """
        return f"{self.mean:+.{digits}f} ± {self.se:.{digits}f} SE, {self.wins} of {self.n} seeds"

    def line(self, claimed: bool = True) -> str:
        """One printable line: ``effect | name | a op b | diff mean ± SE | wins/n seeds | holds``.

        ``claimed=False`` prints ``comparison | ...`` instead: a measured ordering the notebook reports
        without claiming it (the tests check only claimed effects), with its :attr:`verdict`: beyond the seed
        spread, the other way (the opposite ordering holds), or within the seed spread."""
        verdict = ("holds" if self.holds else "NOT SHOWN") if claimed else self.verdict
        prefix = EFFECT_PREFIX if claimed else COMPARISON_PREFIX
        return (f"{prefix} {self.name} | {self.a_mean:.3g} {self.op} {self.b_mean:.3g} | "
                f"diff {self.mean:+.3f} ± {self.se:.3f} SE | {self.wins}/{self.n} seeds | {verdict}")


def _values(x: torch.Tensor | Sequence[float]) -> list[float]:
    return [float(v) for v in torch.as_tensor(x, dtype=torch.float64).reshape(-1)]


def compare(name: str, a: torch.Tensor | Sequence[float], op: str, b: torch.Tensor | Sequence[float] | float,
            *, log: bool = False) -> Effect:
    """Measure the claim ``a op b`` seed by seed.

    Args:
        name: the effect in words, printed by :meth:`Effect.line` (no ``|``).
        a: per-seed values of the left-hand side, shape ``(n,)``.
        op: ``"<"`` or ``">"``.
        b: per-seed values of the right-hand side, paired with ``a`` (seed ``s`` of both came from the
            same data and initialisation), or one number (a threshold).
        log: compare ``log a`` with ``log b`` (for ratios and errors spread over orders of magnitude).

    Returns:
        :class:`Effect` whose ``diffs`` are ``b - a`` for ``"<"`` and ``a - b`` for ``">"`` (in log space when
        ``log``): positive means the claim holds on that seed.

    Example:
        >>> compare("error below chance", [0.2, 0.25], "<", 0.5).holds
        True
    """
    if op not in ("<", ">"):
        raise ValueError(f"op must be '<' or '>'; got {op!r}.")
    if "|" in name:
        raise ValueError(f"the effect's name must not contain '|' (it separates the printed fields); "
                         f"got {name!r}.")
    xa = _values(a)
    xb = _values(b) if not isinstance(b, (int, float)) else [float(b)] * len(xa)
    if len(xa) != len(xb) or not xa:
        raise ValueError(f"a and b must hold the same number (>= 1) of per-seed values; got {len(xa)} and "
                         f"{len(xb)}.")
    if log and min(xa + xb) <= 0:
        raise ValueError("log=True needs positive values.")
    ta, tb = ([math.log(v) for v in xa], [math.log(v) for v in xb]) if log else (xa, xb)
    diffs = tuple(vb - va if op == "<" else va - vb for va, vb in zip(ta, tb, strict=True))
    return Effect(name=name, a_mean=sum(xa) / len(xa), op=op, b_mean=sum(xb) / len(xb), diffs=diffs)


def parse_line(line: str) -> dict[str, object] | None:
    """Read back a line printed by :meth:`Effect.line`: ``{"name", "mean", "se", "wins", "n", "holds"}``, or
    ``None`` when the line is not an effect line.

    Example:
        >>> parse_line(compare("x", [1.0, 2.0], ">", 0.0).line())["holds"]
        True
    """
    line = line.strip()
    if not line.startswith(EFFECT_PREFIX):
        return None
    fields = [f.strip() for f in line[len(EFFECT_PREFIX):].split("|")]
    if len(fields) != 5:
        return None
    name, _, diff, seeds, verdict = fields
    mean_text, se_text = diff.removeprefix("diff ").removesuffix(" SE").split(" ± ")
    wins, n = seeds.removesuffix(" seeds").split("/")
    return {"name": name, "mean": float(mean_text), "se": float(se_text), "wins": int(wins), "n": int(n),
            "holds": verdict == "holds"}
