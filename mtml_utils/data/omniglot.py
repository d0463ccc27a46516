"""Real Omniglot (Lake et al., 2015) from the official zip files, preprocessed once into a cached array.

Omniglot images are 105x105 1-bit PNGs with black strokes on white. They are inverted (ink = 255, as in
every data set of the course), resized with PIL's box filter (a plain average over each source block,
which keeps thin strokes visible as grey instead of dropping them) and stored as uint8.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

from .cache import cache_key, cached_arrays
from .characters import CharacterImages, from_arrays, to_arrays
from .fetch import corrupt_file_error, ensure_omniglot_files, set_aside
from .files import OMNIGLOT_FILES, resolve_data_dir

SPLITS: dict[str, tuple[str, ...]] = {
    "small": ("images_background_small1.zip", "images_background_small2.zip"),
    "background": ("images_background.zip",),
    "evaluation": ("images_evaluation.zip",),
}
SPLIT_HELP = {
    "small": "8 alphabets, 242 characters (the two 'minimal' background sets, Greek and Latin merged)",
    "background": "30 alphabets, 964 characters",
    "evaluation": "20 alphabets, 659 characters",
}
PREPROCESS_VERSION = 1  # bump when decoding changes, so old caches are not reused
_DRAWING = re.compile(r"^\d+_(\d+)\.png$")  # "<character id>_<drawer>.png", drawer 01..20


def check_image_size(image_size: int) -> int:
    """Return ``image_size`` if it is a usable side length (4..420 pixels), else raise ``ValueError``.

    Example:
        >>> check_image_size(28)
        28
    """
    is_int = isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool)
    if not is_int or not 4 <= image_size <= 420:
        raise ValueError(
            f"image_size must be an integer number of pixels between 4 and 420, got {image_size!r}. "
            f"Use 28 (the usual meta-learning size) or e.g. 64 or 105 (the original resolution)."
        )
    return int(image_size)


def decode_png(data: bytes, image_size: int) -> np.ndarray:
    """Decode one Omniglot PNG into a ``(image_size, image_size)`` uint8 array with ink = 255.

    Example:
        >>> decode_png(png_bytes, 28).shape  # doctest: +SKIP
        (28, 28)
    """
    with Image.open(io.BytesIO(data)) as im:
        gray = im.convert("L")  # 1-bit -> 0/255, so the box filter averages real intensities
    if gray.size != (image_size, image_size):
        gray = gray.resize((image_size, image_size), Image.Resampling.BOX)
    return 255 - np.asarray(gray, dtype=np.uint8)


def read_zip(path: Path) -> dict[str, bytes]:
    """Return every file in an official Omniglot zip as ``{member name: bytes}`` (the zips are small).

    A zip that cannot be read is moved aside to ``<name>.corrupt`` and reported as corrupt, so a broken
    file is never read twice and nothing is cached from it.

    Example:
        >>> members = read_zip(Path("data/omniglot/all_runs.zip"))  # doctest: +SKIP
        >>> members["run01/class_labels.txt"][:21]  # doctest: +SKIP
        b'run01/test/item01.png'
    """
    try:
        with zipfile.ZipFile(path) as zf:
            return {info.filename: zf.read(info) for info in zf.infolist() if not info.is_dir()}
    except (zipfile.BadZipFile, EOFError) as exc:
        raise corrupt_file_error(path, OMNIGLOT_FILES[path.name], None, set_aside(path)) from exc


def _build(paths: list[Path], image_size: int, source: str) -> CharacterImages:
    # (alphabet, character) -> {drawer: png bytes}. The first zip that has a character wins, which merges
    # the Greek and Latin alphabets that appear, identically, in both "small" zips.
    drawings: dict[tuple[str, str], dict[int, bytes]] = {}
    for path in paths:
        from_this_zip: dict[tuple[str, str], dict[int, bytes]] = {}
        for name, data in read_zip(path).items():
            parts = name.split("/")
            match = _DRAWING.match(parts[-1]) if len(parts) >= 3 else None
            if match is not None:  # skips anything that is not "<alphabet>/<character>/<id>_<drawer>.png"
                from_this_zip.setdefault((parts[-3], parts[-2]), {})[int(match.group(1)) - 1] = data
        for key, by_drawer in from_this_zip.items():
            drawings.setdefault(key, by_drawer)
    keys = sorted(drawings)
    alphabet_names = tuple(sorted({alphabet for alphabet, _ in keys}))
    images, alphabet, character, drawer = [], [], [], []
    for char_index, key in enumerate(keys):
        for d, data in sorted(drawings[key].items()):
            images.append(decode_png(data, image_size))
            alphabet.append(alphabet_names.index(key[0]))
            character.append(char_index)
            drawer.append(d)
    return CharacterImages(
        images=np.stack(images),
        alphabet=np.array(alphabet),
        character=np.array(character),
        drawer=np.array(drawer),
        alphabet_names=alphabet_names,
        character_names=tuple(f"{a}/{c}" for a, c in keys),
        source=source,
    )


def load_omniglot(
    split: str = "small",
    image_size: int = 28,
    *,
    data_dir: Path | str | None = None,
    download: bool | None = None,
) -> CharacterImages:
    """Load an Omniglot split as :class:`CharacterImages` (decoded once, then read from a cache).

    Args:
        split: ``"small"`` (images_background_small1 + small2: 8 alphabets, 242 characters, 20 drawings
            each), ``"background"`` (30 alphabets, 964 characters) or ``"evaluation"`` (20 alphabets,
            659 characters).
        image_size: side length of the returned square images (Omniglot's own is 105).
        data_dir: the data folder (default: ``MTML_DATA_DIR`` or the checkout's ``data/``); the zips are
            looked for in its ``omniglot/`` sub-folder, the cache goes to its ``cache/`` sub-folder.
        download: ``False`` never downloads; the default downloads missing zips unless ``MTML_OFFLINE=1``.

    Raises:
        ValueError: unknown split or bad image size.
        DataUnavailableError: the zips are missing and cannot be downloaded (the message says what to
            put where); ``ChecksumError`` (a subclass) when a zip is corrupt.

    Example:
        >>> chars = load_omniglot("small", 28)  # doctest: +SKIP
        >>> chars.summary()  # doctest: +SKIP
        '8 alphabets, 242 characters, 4840 images of 28x28 from omniglot (images_background_small1 + ...)'
    """
    if split not in SPLITS:
        valid = "; ".join(f"{name!r} ({SPLIT_HELP[name]})" for name in SPLITS)
        raise ValueError(f"Unknown Omniglot split {split!r}. Valid splits are: {valid}. Pass one of these.")
    image_size = check_image_size(image_size)
    names = SPLITS[split]
    paths = ensure_omniglot_files(names, data_dir=data_dir, download=download)
    digests = [OMNIGLOT_FILES[name].digest for name in names]
    key = cache_key("omniglot", split, image_size, digests, PREPROCESS_VERSION)
    source = "omniglot (" + " + ".join(name.removesuffix(".zip") for name in names) + ")"
    arrays = cached_arrays(
        resolve_data_dir(data_dir),
        f"omniglot_{split}_{image_size}px",
        key,
        lambda: to_arrays(_build(paths, image_size, source)),
    )
    return from_arrays(arrays)
