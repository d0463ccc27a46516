"""Where the data lives: the data folder, the official Omniglot files and their checksums, the errors.

Getting the files there intact (download, verification) is :mod:`mtml_utils.data.fetch`.

Environment variables:
    ``MTML_DATA_DIR``: the data folder (default: ``data/`` in the course checkout).
    ``MTML_OFFLINE=1``: never download (tests and grading set it).
    ``MTML_OMNIGLOT_URL``: base URL to download from instead of the official repository (a mirror);
    each file is fetched from ``<base>/<name>``.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

DATA_DIR_ENV = "MTML_DATA_DIR"
OFFLINE_ENV = "MTML_OFFLINE"
URL_ENV = "MTML_OMNIGLOT_URL"
OFFICIAL_URL = "https://github.com/brendenlake/omniglot/raw/master/python"
OFFLINE_DEFAULT = 'mtml.load_characters(prefer="glyphs") or mtml_utils.data.load_glyph_alphabets()'


@dataclass(frozen=True)
class FileSpec:
    """One official Omniglot file and the digest it must have."""

    name: str
    algorithm: str  # a hashlib name: "sha256" or "md5"
    digest: str


OMNIGLOT_FILES: dict[str, FileSpec] = {
    spec.name: spec
    for spec in (
        FileSpec(
            "images_background_small1.zip",
            "sha256",
            "f38eb80f801274ac2b4dff5b24289016bfaba4a7d5bb50deebf27104ad6cb8a4",
        ),
        FileSpec(
            "images_background_small2.zip",
            "sha256",
            "3ccaa407515a8778e5d0861875af38b17e418f301ad5bb3b5a6b65d901a41c7f",
        ),
        FileSpec(
            "all_runs.zip",
            "sha256",
            "437c1eeab0af8484112e1b4cc0f3d541ec727f7c47b9b202da738af9dfd6c325",
        ),
        FileSpec("images_background.zip", "md5", "68d2efa1b9178cc56df9314c21c6e718"),
        FileSpec("images_evaluation.zip", "md5", "6b91aef0f799c5bb55b94e3f2daec811"),
    )
}


class DataUnavailableError(RuntimeError):
    """Data files are missing and could not be downloaded (offline, network error, no permission).

    ``str(error)`` is the full explanation; ``error.reason`` is a short clause for one-line notices, and
    ``error.fix`` a short clause saying how to get the files (empty when the message has none).
    """

    def __init__(self, message: str, reason: str | None = None, fix: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message
        self.fix = fix


class ChecksumError(DataUnavailableError):
    """A data file (present or just downloaded) does not have its published checksum."""


def data_dir() -> Path:
    """Return the data folder: ``MTML_DATA_DIR`` if set, else ``data/`` of the course checkout.

    The checkout's ``data/`` is used when the folder above the ``mtml_utils`` package holds
    ``pyproject.toml`` (an editable install or a plain clone); an installed copy of the package falls
    back to ``~/.cache/mtml_course/data``. The folder is not created here.

    Example:
        >>> import os; os.environ["MTML_DATA_DIR"] = "/tmp/mtml-data"
        >>> data_dir()
        PosixPath('/tmp/mtml-data')
    """
    configured = os.environ.get(DATA_DIR_ENV, "").strip()
    if configured:
        return Path(configured).expanduser()
    repo_root = Path(__file__).resolve().parents[2]
    if (repo_root / "pyproject.toml").is_file():
        return repo_root / "data"
    return Path.home() / ".cache" / "mtml_course" / "data"


def resolve_data_dir(given: Path | str | None) -> Path:
    """Return ``given`` as a ``Path``, or :func:`data_dir` when it is ``None``.

    Example:
        >>> resolve_data_dir("/tmp/x")
        PosixPath('/tmp/x')
    """
    return data_dir() if given is None else Path(given).expanduser()


def download_allowed(download: bool | None) -> bool:
    """Whether a missing file may be downloaded: ``download`` is not ``False`` and ``MTML_OFFLINE != "1"``.

    Example:
        >>> import os; os.environ["MTML_OFFLINE"] = "1"
        >>> download_allowed(None), download_allowed(True)
        (False, False)
    """
    return download is not False and os.environ.get(OFFLINE_ENV, "").strip() != "1"


def omniglot_url(name: str) -> str:
    """Return the URL a file is downloaded from (``MTML_OMNIGLOT_URL`` overrides the official base).

    Example:
        >>> omniglot_url("all_runs.zip")  # doctest: +SKIP
        'https://github.com/brendenlake/omniglot/raw/master/python/all_runs.zip'
    """
    base = os.environ.get(URL_ENV, "").strip() or OFFICIAL_URL
    return f"{base.rstrip('/')}/{name}"


def is_writable(folder: Path) -> bool:
    """Whether files may be created in ``folder`` (or, if it does not exist yet, in its nearest parent).

    A folder whose permission bits grant nobody write access counts as read-only even for root, who
    could write anyway: a shared, read-only copy of the data must stay untouched (no sidecars, no cache).

    Example:
        >>> is_writable(Path("/tmp/some/new/folder"))
        True
    """
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        mode = existing.stat().st_mode
    except OSError:
        return False
    return bool(stat.S_IMODE(mode) & 0o222) and os.access(existing, os.W_OK | os.X_OK)
