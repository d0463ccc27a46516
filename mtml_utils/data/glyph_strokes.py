"""Geometry of the generated glyph alphabets: stroke primitives, alphabet styles, characters, drawers.

Everything here works on control points in a character box of ``[-1, 1]^2`` (y down, as in images);
:mod:`mtml_utils.data.glyphs` turns them into pixels. See that module for the overall design.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

KINDS = ("line", "zigzag", "bezier", "arc", "loop")
_ROTATION_SETS = (np.arange(4) * np.pi / 2, np.arange(8) * np.pi / 4, None)  # None: any angle

Stroke = tuple[str, np.ndarray]  # (how to trace it: "poly" | "bezier" | "spline" | "closed", points)


@dataclass(frozen=True)
class _AlphabetStyle:
    primitives: tuple[Stroke, ...]
    weights: np.ndarray  # how often each primitive is used
    rotations: np.ndarray | None
    n_strokes: tuple[int, int]
    connect: float  # probability that a stroke starts where the previous one ended
    dot: float  # probability that a character gets a dot
    aspect: float
    slant: float
    width: float  # stroke width as a fraction of the canvas


def _primitive(kind: str, rng: np.random.Generator) -> Stroke:
    """One stroke shape in a local frame of about unit size, centred on the origin."""
    if kind == "line":
        return "poly", np.array([[-0.5, 0.0], [0.5, rng.uniform(-0.1, 0.1)]])
    if kind == "zigzag":
        n = int(rng.integers(3, 5))
        xs = np.linspace(-0.5, 0.5, n)
        ys = np.where(np.arange(n) % 2 == 0, 0.0, rng.uniform(0.3, 0.6)) + rng.normal(0, 0.05, n)
        return "poly", np.stack([xs, ys], axis=1)
    if kind == "bezier":
        n_inner = int(rng.integers(1, 3))  # quadratic or cubic
        inner = rng.uniform(-0.7, 0.7, (n_inner, 2))
        return "bezier", np.vstack([[-0.5, 0.0], inner, [0.5, rng.uniform(-0.3, 0.3)]])
    start, span = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.6) * np.pi
    ratio = rng.uniform(0.55, 1.0)
    if kind == "loop":
        angles = np.linspace(0, 2 * np.pi, 7, endpoint=False) + start
        return "closed", 0.4 * np.stack([np.cos(angles), ratio * np.sin(angles)], axis=1)
    angles = np.linspace(start, start + span, 6)
    return "spline", 0.5 * np.stack([np.cos(angles), ratio * np.sin(angles)], axis=1)


def _alphabet_style(seed: int, alphabet: int) -> _AlphabetStyle:
    rng = np.random.default_rng([seed, 1, alphabet])
    kind_weights = rng.dirichlet(np.full(len(KINDS), 0.5))  # a low concentration gives distinct scripts
    kinds = rng.choice(KINDS, size=int(rng.integers(4, 8)), p=kind_weights)
    low = int(rng.integers(2, 4))
    return _AlphabetStyle(
        primitives=tuple(_primitive(str(kind), rng) for kind in kinds),
        weights=rng.dirichlet(np.full(len(kinds), 2.0)),
        rotations=_ROTATION_SETS[int(rng.integers(0, 3))],
        n_strokes=(low, min(4, low + int(rng.integers(0, 2)))),
        connect=float(rng.uniform(0.2, 0.9)),
        dot=float(rng.choice([0.0, 0.0, 0.3, 0.6])),
        aspect=float(rng.uniform(0.65, 1.15)),
        slant=float(rng.uniform(-0.3, 0.3)),
        width=float(rng.uniform(0.035, 0.075)),
    )


def _bernstein(degree: int, n: int) -> np.ndarray:
    """``(n, degree + 1)`` weights that turn Bezier control points into ``n`` points along the curve."""
    t = np.linspace(0, 1, n)[:, None]
    i = np.arange(degree + 1)
    binomial = np.array([math.comb(degree, k) for k in i])
    return binomial * t**i * (1 - t) ** (degree - i)


_BEZIER = {degree: _bernstein(degree, 16) for degree in (1, 2, 3)}


def _trace(stroke: Stroke) -> np.ndarray:
    """Dense polyline along a stroke's control points (a linear map of them, see :class:`_Character`)."""
    how, pts = stroke
    if how == "bezier":
        return _BEZIER[len(pts) - 1] @ pts
    if how in ("spline", "closed"):
        # Chaikin corner cutting: a smooth curve hugging the control polygon, stable under point noise.
        path = np.vstack([pts, pts[:1]]) if how == "closed" else pts
        for _ in range(2):
            inner = np.empty((2 * len(path) - 2, path.shape[1]))
            inner[0::2] = 0.75 * path[:-1] + 0.25 * path[1:]
            inner[1::2] = 0.25 * path[:-1] + 0.75 * path[1:]
            path = (
                np.vstack([inner, inner[:1]]) if how == "closed" else np.vstack([path[:1], inner, path[-1:]])
            )
        return path
    return pts


def _transform(points: np.ndarray, angle: float, scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return (points * scale) @ np.array([[c, s], [-s, c]]) + shift


def _compose(style: _AlphabetStyle, rng: np.random.Generator) -> list[Stroke]:
    """A character: 2-4 placed primitives (plus maybe a dot), fitted to the box [-1, 1]^2."""
    strokes: list[Stroke] = []
    for i in range(int(rng.integers(style.n_strokes[0], style.n_strokes[1] + 1))):
        how, pts = style.primitives[rng.choice(len(style.primitives), p=style.weights)]
        if style.rotations is None:
            angle = rng.uniform(0, 2 * np.pi)
        else:
            angle = rng.choice(style.rotations) + rng.normal(0, 0.05)
        flip = np.array([1.0, rng.choice([-1.0, 1.0])])
        placed = _transform(pts, angle, rng.uniform(0.8, 1.6) * flip, np.zeros(2))
        if i > 0 and rng.random() < style.connect:
            # Start at the end (or start) of the previous stroke, as a pen that was not lifted.
            anchor = strokes[-1][1][-1] if rng.random() < 0.7 else strokes[-1][1][0]
            placed = placed - _trace((how, placed))[0] + anchor
        else:
            placed = placed + rng.uniform(-0.7, 0.7, 2)
        strokes.append((how, placed))
    dense = np.vstack([_trace(s) for s in strokes])
    low, high = dense.min(axis=0), dense.max(axis=0)
    fit = 1.8 / max(float((high - low).max()), 1e-6)
    strokes = [(how, (pts - (low + high) / 2) * fit) for how, pts in strokes]
    if rng.random() < style.dot:
        spot = np.array([rng.uniform(-0.8, 0.8), rng.choice([-1.15, 1.15])])
        strokes.append(("poly", np.stack([spot, spot + 0.04])))
    return [
        (how, pts * np.array([style.aspect, 1.0]) @ np.array([[1, 0], [style.slant, 1]]))
        for how, pts in strokes
    ]


@dataclass(frozen=True)
class _Character:
    """A character's strokes flattened once, so that each of its drawings is a few batched array ops.

    Tracing a stroke (Bezier weights, corner cutting) is a fixed linear map of its control points, so
    the whole character is traced by one matrix product: ``trace @ points``.
    """

    kinds: tuple[str, ...]
    points: np.ndarray  # all control points, stroke after stroke
    owner: np.ndarray  # stroke index of each control point
    centres: np.ndarray  # centre of each control point's stroke
    trace: np.ndarray  # (n traced points, n control points)
    bounds: tuple[tuple[int, int], ...]  # each stroke's rows in ``trace @ points``

    @staticmethod
    def of(strokes: list[Stroke]) -> _Character:
        sizes = [len(pts) for _, pts in strokes]
        blocks = [_trace((how, np.eye(len(pts)))) for how, pts in strokes]
        trace = np.zeros((sum(len(b) for b in blocks), sum(sizes)))
        row = col = 0
        bounds = []
        for block in blocks:
            trace[row : row + len(block), col : col + block.shape[1]] = block
            bounds.append((row, row + len(block)))
            row, col = row + len(block), col + block.shape[1]
        owner = np.repeat(np.arange(len(strokes)), sizes)
        return _Character(
            kinds=tuple(how for how, _ in strokes),
            points=np.concatenate([pts for _, pts in strokes]),
            owner=owner,
            centres=np.array([pts.mean(axis=0) for _, pts in strokes])[owner],
            trace=trace,
            bounds=tuple(bounds),
        )


@dataclass(frozen=True)
class _Hands:
    """Simulated people's consistent habits (one entry per drawer), shared by everything they draw."""

    slant: np.ndarray
    size: np.ndarray
    thickness: np.ndarray
    shake: np.ndarray  # control-point noise

    @staticmethod
    def of(seed: int, n_drawers: int) -> _Hands:
        # One generator per drawer, so drawer d's hand does not depend on how many drawers there are.
        rngs = [np.random.default_rng([seed, 4, d]) for d in range(n_drawers)]
        habits = [
            (r.normal(0, 0.08), r.uniform(0.85, 1.05), r.uniform(0.8, 1.25), r.uniform(0.04, 0.08))
            for r in rngs
        ]
        habits = np.array(habits).reshape(n_drawers, 4)
        return _Hands(*habits.T)


def _draw_variations(
    char: _Character, hands: _Hands, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Every drawer's drawing of a character: ``(n_drawers, n_points, 2)`` control points and the
    ``(n_drawers,)`` stroke-width factors. Each hand's habits, then per-stroke and whole-image jitter.

    All drawers and strokes are transformed in one batch: a Python loop of tiny NumPy calls would
    dominate the generation time. The random numbers are drawn drawer by drawer (one row each), so
    drawer ``d``'s drawing does not depend on how many drawers there are.
    """
    n_drawers, n_strokes, n_points = len(hands.size), len(char.kinds), len(char.points)
    z = rng.standard_normal((n_drawers, 5 * n_strokes + 2 * n_points + 7))
    # per stroke: angle, 2 scales, 2 shifts, repeated over the stroke's points
    per_stroke = z[:, : 5 * n_strokes].reshape(n_drawers, n_strokes, 5)[:, char.owner]
    noise = z[:, 5 * n_strokes : 5 * n_strokes + 2 * n_points].reshape(n_drawers, n_points, 2)
    angle, scale, shift, shear, width = z[:, -7], z[:, -6:-4], z[:, -4:-2], z[:, -2], z[:, -1]
    # People get the parts of a character slightly wrong relative to each other, not just the whole.
    local = (char.points - char.centres) * (1 + 0.07 * per_stroke[..., 1:3])
    parts = _rotate(local, 0.08 * per_stroke[..., 0]) + char.centres + 0.07 * per_stroke[..., 3:5]
    parts = parts + hands.shake[:, None, None] * noise
    parts[..., 0] += (hands.slant + 0.05 * shear)[:, None] * parts[..., 1]
    parts = parts * (hands.size[:, None] * (1 + 0.06 * scale))[:, None, :]
    whole = _rotate(parts, 0.1 * angle[:, None]) + 0.06 * shift[:, None, :]
    return whole, hands.thickness * (1 + 0.08 * width)


def _rotate(points: np.ndarray, angle: np.ndarray) -> np.ndarray:
    """Rotate ``(..., 2)`` points by angles that broadcast against ``points[..., 0]``."""
    c, s = np.cos(angle), np.sin(angle)
    x, y = points[..., 0], points[..., 1]
    return np.stack([c * x - s * y, s * x + c * y], axis=-1)
