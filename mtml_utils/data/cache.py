"""Preprocessed arrays cached as uncompressed ``.npz`` files, written atomically.

Decoding thousands of PNGs (or drawing thousands of glyphs) takes seconds; loading the same arrays from
an uncompressed ``.npz`` takes milliseconds. A cache file is written to a temporary name in the same
folder and then renamed into place, so readers (several notebook kernels, parallel graders) only ever see
a missing file or a complete one. An unreadable cache file is ignored and rebuilt, never trusted.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np

from .files import is_writable


def cache_dir(root: Path) -> Path | None:
    """Return a writable cache folder: ``<root>/cache`` if possible, else a per-user or temp folder.

    A read-only data folder (e.g. a shared copy of the zips) still gets a cache elsewhere; ``None``
    means nothing is writable and callers just keep the arrays in memory.

    Example:
        >>> cache_dir(Path("/tmp/mtml-data"))
        PosixPath('/tmp/mtml-data/cache')
    """
    candidates = [
        root / "cache",
        Path.home() / ".cache" / "mtml_course" / "cache",
        Path(tempfile.gettempdir()) / "mtml_course_cache",
    ]
    for folder in candidates:
        if not is_writable(folder):
            continue
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError:
            continue
        if os.access(folder, os.W_OK | os.X_OK):
            return folder
    return None


def cache_key(*parts: object) -> str:
    """Return a short stable hex key for the given parts (split, size, digests, generator version...).

    Example:
        >>> len(cache_key("small", 28, "f38eb80f"))
        16
    """
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def load_arrays(path: Path | None) -> dict[str, np.ndarray] | None:
    """Return the arrays stored at ``path``, or ``None`` if it is missing or unreadable.

    Example:
        >>> load_arrays(Path("/nonexistent.npz")) is None
        True
    """
    if path is None or not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as stored:
            return {key: stored[key] for key in stored.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None  # a damaged cache is rebuilt, not trusted


def save_arrays(path: Path | None, arrays: Mapping[str, np.ndarray]) -> None:
    """Write arrays to ``path`` atomically (temp file in the same folder, then ``os.replace``).

    Failing to write (disk full, read-only) is not an error: the data was built and is returned anyway.

    Example:
        >>> save_arrays(Path("/tmp/example.npz"), {"x": np.arange(3)})
        >>> load_arrays(Path("/tmp/example.npz"))["x"]
        array([0, 1, 2])
    """
    if path is None:
        return
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # uncompressed: loading is a plain read
        os.chmod(tmp_name, 0o644)  # mkstemp makes it private; other users of a shared data folder read it
        os.replace(tmp_name, path)
    except OSError:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


def cached_arrays(
    root: Path, name: str, key: str, build: Callable[[], Mapping[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Return the arrays cached as ``<cache folder>/<name>_<key>.npz``, building and saving them if needed.

    The cache folder is :func:`cache_dir` of the data folder ``root``. A missing or unreadable cache file
    means ``build()`` is called and its arrays are saved atomically (when some folder is writable; if none
    is, they are only returned). Put everything the arrays depend on into ``key`` (see :func:`cache_key`).

    Example:
        >>> build = lambda: {"x": np.arange(3)}
        >>> cached_arrays(Path("/tmp/mtml-data"), "example", cache_key("example", 1), build)["x"]
        array([0, 1, 2])
    """
    folder = cache_dir(root)
    path = None if folder is None else folder / f"{name}_{key}.npz"
    arrays = load_arrays(path)
    if arrays is None:
        arrays = dict(build())
        save_arrays(path, arrays)
    return arrays
