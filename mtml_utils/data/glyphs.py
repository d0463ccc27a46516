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

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from .cache import cache_key, cached_arrays
from .characters import CharacterImages, from_arrays, to_arrays
from .files import resolve_data_dir
from .glyph_strokes import _alphabet_style, _AlphabetStyle, _Character, _compose, _draw_variations, _Hands
from .omniglot import check_image_size

GLYPH_VERSION = 2  # bump whenever the drawings change, so old caches are not reused
OVERSAMPLE = 4


def _render(char: _Character, points: np.ndarray, widths: np.ndarray, image_size: int) -> np.ndarray:
    """Draw variants of a character, given as control points ``(n, n_points, 2)`` and stroke widths
    ``(n,)``, into ``(n, image_size, image_size)`` uint8 images with ink = 255.

    All drawings go side by side on one canvas, one tile each with a tile's width of empty margin
    between them (so a stroke that strays out of its box is clipped, never drawn into a neighbour), and
    the canvas is box-filtered down in a single call: the tiles are whole multiples of the oversampling
    factor, so this equals downsampling every tile on its own, at a fraction of the per-image cost.
    """
    n, side = len(points), image_size * OVERSAMPLE
    stride = 2 * side
    canvas = Image.new("L", (stride * n, side), 0)
    draw = ImageDraw.Draw(canvas)
    # The box [-1, 1] fills the middle 72 % of a tile, like Omniglot's characters.
    origin = np.stack([np.arange(n) * stride, np.zeros(n)], axis=1)[:, None, :]
    xy = np.clip((char.trace @ points * 0.36 + 0.5) * side, 0, side - 1) + origin
    pen = np.maximum(1, np.round(widths * side)).astype(int).tolist()
    for tile, w in zip(xy.tolist(), pen, strict=True):
        r = w / 2
        for how, (start, end) in zip(char.kinds, char.bounds, strict=True):
            # Rounded joints cost a pie slice per vertex in PIL; smooth curves turn so little between their
            # dense points that plain joints leave no visible gaps, so only corners of straight strokes pay.
            line = tile[start:end]
            draw.line([tuple(p) for p in line], fill=255, width=w, joint="curve" if how == "poly" else None)
            for x, y in (line[0], line[-1]):  # round pen tips
                draw.ellipse((x - r, y - r, x + r, y + r), fill=255)
    small = np.asarray(canvas.resize((canvas.width // OVERSAMPLE, image_size), Image.Resampling.BOX))
    tiles = small.reshape(image_size, n, 2, image_size)[:, :, 0, :]
    return np.ascontiguousarray(tiles.transpose(1, 0, 2))


def _distinct_character(
    style: _AlphabetStyle, rng: np.random.Generator, earlier: list[np.ndarray]
) -> _Character:
    """Compose characters until one does not look like an earlier one of the same alphabet."""
    for _ in range(12):
        char = _Character.of(_compose(style, rng))
        thumb = _render(char, char.points[None], np.array([style.width]), 16)[0].astype(np.float64).ravel()
        thumb = (thumb - thumb.mean()) / (thumb.std() + 1e-9)
        if all(float(thumb @ other) / thumb.size < 0.75 for other in earlier):
            break
    earlier.append(thumb)
    return char


def _generate(
    n_alphabets: int, n_characters: int, n_drawers: int, image_size: int, seed: int
) -> CharacterImages:
    images, names = [], []
    hands = _Hands.of(seed, n_drawers)
    for a in range(n_alphabets):
        style = _alphabet_style(seed, a)
        char_rng = np.random.default_rng([seed, 2, a])
        earlier: list[np.ndarray] = []
        for c in range(n_characters):
            char = _distinct_character(style, char_rng, earlier)
            names.append(f"Glyph{a + 1:02d}/character{c + 1:02d}")
            points, thickness = _draw_variations(char, hands, np.random.default_rng([seed, 3, a, c]))
            images.append(_render(char, points, style.width * thickness, image_size))
    n_chars = n_alphabets * n_characters
    return CharacterImages(
        images=np.concatenate(images),
        alphabet=np.repeat(np.arange(n_alphabets), n_characters * n_drawers),
        character=np.repeat(np.arange(n_chars), n_drawers),
        drawer=np.tile(np.arange(n_drawers), n_chars),
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
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}. Use e.g. seed=0.")
    image_size = check_image_size(image_size)
    counts = (int(n_alphabets), int(n_characters), int(n_drawers))
    key = cache_key("glyphs", counts, image_size, int(seed), GLYPH_VERSION)
    shape = "x".join(map(str, counts))
    arrays = cached_arrays(
        resolve_data_dir(data_dir),
        f"glyphs_{shape}_{image_size}px_seed{seed}",
        key,
        lambda: to_arrays(_generate(*counts, image_size, int(seed))),
    )
    return from_arrays(arrays)
