"""Generated glyph alphabets: an Omniglot-like data set that needs no download.

The generator mimics how Omniglot is structured, so that the same meta-learning code works on both:

- An **alphabet** has its own small set of stroke primitives (straight or zig-zag lines, Bezier curves,
  open arcs, loops) and a style: which primitives it favours, the rotations it allows (a square script
  keeps to multiples of 90 degrees), width/aspect, slant, stroke thickness, how often strokes join and
  whether it uses dots. Characters of one alphabet therefore share a look, unlike those of another.
- A **character** composes 2-4 of its alphabet's primitives, scaled, rotated and placed (often starting
  where the previous stroke ended, as a pen would), then fitted to the character box. A new character
  that looks too much like an earlier one of its alphabet is drawn again.
- A **drawer** is a simulated person with a consistent hand (slant, size, stroke width, shakiness); each
  image adds its own small affine jitter and control-point noise.

Images are drawn with PIL at 4x the target size and box-filtered down, which anti-aliases the strokes the
same way Omniglot's 105x105 bitmaps are downsampled. Everything is seeded per (seed, alphabet,
character, drawer), so a character looks the same whatever the requested set sizes are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .cache import cache_dir, cache_key, load_arrays, save_arrays
from .characters import CharacterImages, from_arrays, to_arrays
from .files import resolve_data_dir
from .omniglot import check_image_size

GLYPH_VERSION = 1  # bump whenever the drawings change, so old caches are not reused
OVERSAMPLE = 4
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
    binomial = np.array([np.prod(range(degree - k + 1, degree + 1)) / np.prod(range(1, k + 1)) for k in i])
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


def _render(char: _Character, drawings: list[tuple[np.ndarray, float]], image_size: int) -> np.ndarray:
    """Draw ``(control points, width)`` variants of a character into ``(n, size, size)`` uint8, ink = 255.

    All drawings go side by side on one canvas, one tile each with a tile's width of empty margin
    between them (so a stroke that strays out of its box is clipped, never drawn into a neighbour), and
    the canvas is box-filtered down in a single call: the tiles are whole multiples of the oversampling
    factor, so this equals downsampling every tile on its own, at a fraction of the per-image cost.
    """
    side = image_size * OVERSAMPLE
    stride = 2 * side
    canvas = Image.new("L", (stride * len(drawings), side), 0)
    draw = ImageDraw.Draw(canvas)
    for k, (points, width) in enumerate(drawings):
        w = max(1, round(width * side))
        r = w / 2
        # The box [-1, 1] fills the middle 72 % of the tile, like Omniglot's characters.
        xy = (char.trace @ points * 0.36 + 0.5) * side + (k * stride, 0)
        xy = np.clip(xy, (k * stride, 0), (k * stride + side - 1, side - 1)).tolist()
        for how, (start, end) in zip(char.kinds, char.bounds, strict=True):
            # Rounded joints cost a pie slice per vertex in PIL; smooth curves turn so little between their
            # dense points that plain joints leave no visible gaps, so only corners of straight strokes pay.
            line = xy[start:end]
            draw.line([tuple(p) for p in line], fill=255, width=w, joint="curve" if how == "poly" else None)
            for x, y in (line[0], line[-1]):  # round pen tips
                draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    small = np.asarray(canvas.resize((canvas.width // OVERSAMPLE, image_size), Image.Resampling.BOX))
    tiles = small.reshape(image_size, len(drawings), 2, image_size)[:, :, 0, :]
    return np.ascontiguousarray(tiles.transpose(1, 0, 2))


def _distinct_character(
    style: _AlphabetStyle, rng: np.random.Generator, earlier: list[np.ndarray]
) -> _Character:
    """Compose characters until one does not look like an earlier one of the same alphabet."""
    for _ in range(12):
        char = _Character.of(_compose(style, rng))
        thumb = _render(char, [(char.points, style.width)], 16)[0].astype(np.float64).ravel()
        thumb = (thumb - thumb.mean()) / (thumb.std() + 1e-9)
        if all(float(thumb @ other) / thumb.size < 0.75 for other in earlier):
            break
    earlier.append(thumb)
    return char


@dataclass(frozen=True)
class _Hand:
    """A simulated person's consistent habits, shared by everything they draw."""

    slant: float
    size: float
    thickness: float
    shake: float  # control-point noise

    @staticmethod
    def of(seed: int, drawer: int) -> _Hand:
        rng = np.random.default_rng([seed, 4, drawer])
        return _Hand(
            rng.normal(0, 0.08), rng.uniform(0.85, 1.05), rng.uniform(0.8, 1.25), rng.uniform(0.04, 0.08)
        )


def _draw_variation(char: _Character, hand: _Hand, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """One drawing of a character (its control points and stroke width): the hand's habits, then
    per-stroke and whole-image jitter.

    All control points are transformed in one batch (stroke ``i``'s parameters repeated over its
    points): a Python loop of tiny NumPy calls per stroke would dominate the generation time.
    """
    z = rng.standard_normal((len(char.kinds), 5))[char.owner]  # per stroke: angle, 2 scales, 2 shifts
    noise = rng.standard_normal((len(char.points) + 1, 2))
    g = rng.standard_normal(6)  # whole image: angle, 2 scales, 2 shifts, shear
    # People get the parts of a character slightly wrong relative to each other, not just the whole.
    local = (char.points - char.centres) * (1 + 0.07 * z[:, 1:3])
    c, s = np.cos(0.08 * z[:, 0]), np.sin(0.08 * z[:, 0])
    local = np.stack([c * local[:, 0] - s * local[:, 1], s * local[:, 0] + c * local[:, 1]], axis=1)
    parts = local + char.centres + 0.07 * z[:, 3:5] + hand.shake * noise[:-1]
    sheared = parts @ np.array([[1, 0], [hand.slant + 0.05 * g[5], 1]])
    whole = _transform(sheared, 0.1 * g[0], hand.size * (1 + 0.06 * g[1:3]), 0.06 * g[3:5])
    return whole, hand.thickness * (1 + 0.08 * noise[-1, 0])


def _generate(
    n_alphabets: int, n_characters: int, n_drawers: int, image_size: int, seed: int
) -> CharacterImages:
    images, alphabet, character, drawer, names = [], [], [], [], []
    hands = [_Hand.of(seed, d) for d in range(n_drawers)]
    for a in range(n_alphabets):
        style = _alphabet_style(seed, a)
        char_rng = np.random.default_rng([seed, 2, a])
        earlier: list[np.ndarray] = []
        for c in range(n_characters):
            char = _distinct_character(style, char_rng, earlier)
            names.append(f"Glyph{a + 1:02d}/character{c + 1:02d}")
            drawings = []
            for d in range(n_drawers):
                points, thickness = _draw_variation(char, hands[d], np.random.default_rng([seed, 3, a, c, d]))
                drawings.append((points, style.width * thickness))
            images.append(_render(char, drawings, image_size))
            alphabet += [a] * n_drawers
            character += [len(names) - 1] * n_drawers
            drawer += range(n_drawers)
    return CharacterImages(
        images=np.concatenate(images),
        alphabet=np.array(alphabet),
        character=np.array(character),
        drawer=np.array(drawer),
        alphabet_names=tuple(f"Glyph{a + 1:02d}" for a in range(n_alphabets)),
        character_names=tuple(names),
        source=f"glyphs (seed {seed})",
    )


def load_glyph_alphabets(
    n_alphabets: int = 20,
    n_characters: int = 20,
    n_drawers: int = 20,
    image_size: int = 28,
    seed: int = 0,
    *,
    data_dir: Path | str | None = None,
) -> CharacterImages:
    """Generate (or load from the cache) an Omniglot-like set of glyph alphabets; works offline.

    Args:
        n_alphabets: number of alphabets (scripts with a shared style).
        n_characters: characters per alphabet.
        n_drawers: drawings of every character (simulated people with their own hand).
        image_size: side of the square images; ink = 255 on 0 like Omniglot.
        seed: the same seed gives identical images; character ``c`` of alphabet ``a`` drawn by ``d`` does
            not depend on the requested counts.
        data_dir: the data folder whose ``cache/`` keeps the generated array.

    Example:
        >>> glyphs = load_glyph_alphabets(n_alphabets=5, n_characters=10, n_drawers=4)
        >>> glyphs.summary()
        '5 alphabets, 50 characters, 200 images of 28x28 from glyphs (seed 0)'
    """
    for name, value, top in (
        ("n_alphabets", n_alphabets, 200),
        ("n_characters", n_characters, 200),
        ("n_drawers", n_drawers, 200),
    ):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or not 1 <= value <= top:
            raise ValueError(
                f"{name} must be an integer between 1 and {top}, got {value!r}. The default set is "
                f"load_glyph_alphabets(n_alphabets=20, n_characters=20, n_drawers=20)."
            )
    image_size = check_image_size(image_size)
    counts = (int(n_alphabets), int(n_characters), int(n_drawers))
    folder = cache_dir(resolve_data_dir(data_dir))
    key = cache_key("glyphs", counts, image_size, int(seed), GLYPH_VERSION)
    shape = "x".join(map(str, counts))
    cache_file = None if folder is None else folder / f"glyphs_{shape}_{image_size}px_seed{seed}_{key}.npz"
    cached = load_arrays(cache_file)
    if cached is not None:
        return from_arrays(cached)
    chars = _generate(*counts, image_size, int(seed))
    save_arrays(cache_file, to_arrays(chars))
    return chars
