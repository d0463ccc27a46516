"""Getting the official Omniglot zip files into the data folder intact.

Files are looked up in ``<data_dir>/omniglot/`` (then directly in ``<data_dir>/``). A missing file is
downloaded only when downloading is allowed (``download`` is not ``False`` and ``MTML_OFFLINE`` is not
``"1"``), into a temporary file of its own (``<name>.<random>.part``, so several kernels may download the
same file at once); it is moved into place only after its checksum matched, so a file with the final
name is always complete. Every way a download can fail becomes a :class:`DataUnavailableError`.
Checksums are verified once per file version and remembered in a small ``<name>.verified`` sidecar
(keyed by size and modification time) so later loads stay fast. Nothing is ever written into a
read-only folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

from tqdm.auto import tqdm

from .files import (
    DATA_DIR_ENV,
    OFFICIAL_URL,
    OFFLINE_DEFAULT,
    OFFLINE_ENV,
    OMNIGLOT_FILES,
    URL_ENV,
    ChecksumError,
    DataUnavailableError,
    FileSpec,
    download_allowed,
    is_writable,
    omniglot_url,
    resolve_data_dir,
)


def file_digest(path: Path, algorithm: str) -> str:
    """Return the hex digest of a file, read in 1 MiB blocks.

    Example:
        >>> p = Path("/tmp/_digest_example"); _ = p.write_bytes(b"abc")
        >>> file_digest(p, "md5")
        '900150983cd24fb0d6963f7d28e17f72'
    """
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# Versions already verified in this process, for folders where no sidecar can be written.
_verified_here: set[tuple[str, int, int]] = set()


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return (str(path.resolve()), st.st_size, st.st_mtime_ns)


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".verified")


def _already_verified(path: Path, spec: FileSpec) -> bool:
    stamp = _stamp(path)
    if stamp in _verified_here:
        return True
    try:
        record = json.loads(_sidecar(path).read_text())
    except (OSError, ValueError):
        return False
    return record == {"size": stamp[1], "mtime_ns": stamp[2], spec.algorithm: spec.digest}


def _remember_verified(path: Path, spec: FileSpec) -> None:
    stamp = _stamp(path)
    _verified_here.add(stamp)
    record = {"size": stamp[1], "mtime_ns": stamp[2], spec.algorithm: spec.digest}
    if not is_writable(path.parent):
        return  # a read-only folder: the in-process memory above still saves repeated hashing
    try:
        _sidecar(path).write_text(json.dumps(record))
    except OSError:
        pass  # a read-only folder: the in-process memory above still saves repeated hashing


def set_aside(path: Path) -> Path | None:
    """Move a bad file to ``<name>.corrupt`` (replacing an older one); return where it went, or ``None``.

    ``None`` means the folder is read-only and the file stayed where it was.

    Example:
        >>> p = Path("/tmp/_bad.zip"); _ = p.write_bytes(b"x")
        >>> set_aside(p).name
        '_bad.zip.corrupt'
    """
    target = path.with_name(path.name + ".corrupt")
    if not is_writable(path.parent):
        return None
    try:
        os.replace(path, target)
    except OSError:
        return None
    _sidecar(path).unlink(missing_ok=True)
    return target


def corrupt_file_error(
    path: Path, spec: FileSpec, actual: str | None, moved_to: Path | None
) -> ChecksumError:
    """Build the one-paragraph error for a present file that is corrupt or truncated.

    ``actual`` is the digest found (``None`` when the file has the right digest but cannot be read as a
    zip archive).

    Example:
        >>> spec = OMNIGLOT_FILES["all_runs.zip"]
        >>> "expected sha256" in str(corrupt_file_error(Path("all_runs.zip"), spec, "00", None))
        True
    """
    found = f"its {spec.algorithm} is {actual}" if actual else "it cannot be read as a zip archive"
    where = f"It was moved aside to {moved_to}" if moved_to else "It stays in place (read-only folder)"
    return ChecksumError(
        f"{spec.name} in {path.parent} is corrupt or truncated: {found}, expected {spec.algorithm} "
        f"{spec.digest}. {where}, and nothing was cached from it. Run the same call again to download a "
        f"fresh copy from {omniglot_url(spec.name)}, or put a good copy at {path}.",
        reason=f"{spec.name} in {path.parent} is corrupt ({spec.algorithm} mismatch)",
    )


def _find(name: str, root: Path) -> Path | None:
    for candidate in (root / "omniglot" / name, root / name):
        if candidate.is_file():
            return candidate
    return None


def _verify_present(path: Path, spec: FileSpec) -> None:
    if _already_verified(path, spec):
        return
    actual = file_digest(path, spec.algorithm)
    if actual != spec.digest:
        raise corrupt_file_error(path, spec, actual, set_aside(path))
    _remember_verified(path, spec)


def _unavailable(missing: Sequence[str], root: Path, why: str, hint: str = "") -> DataUnavailableError:
    """The one-paragraph error for missing files; ``why`` says why they were not downloaded.

    ``hint`` (a sentence) goes into the message only, not into the short ``reason``.
    """
    folder = root / "omniglot"
    urls = ", ".join(omniglot_url(name) for name in missing)
    return DataUnavailableError(
        f"Omniglot file(s) {', '.join(missing)} not found in {folder} and not downloaded: {why}. {hint}"
        f"Download them from {urls} and put them in {folder} (or point the {DATA_DIR_ENV} "
        f"environment variable at a folder that holds them, directly or in an omniglot/ sub-folder). "
        f"Without them, the generated glyph alphabets always work offline with the same interface: "
        f"{OFFLINE_DEFAULT}.",
        reason=f"Omniglot files not found in {folder} and {why}",
        fix=f"for Omniglot, put {', '.join(missing)} (from {omniglot_url(missing[0]).rsplit('/', 1)[0]}) in "
            f"{folder}, or let it download them (MTML_OFFLINE unset, network on)",
    )


def _fetch(url: str, spec: FileSpec, out: BinaryIO) -> str:
    """Write the body at ``url`` to ``out``; return its digest. Raises if the transfer breaks off."""
    h = hashlib.new(spec.algorithm)
    received = 0
    with urllib.request.urlopen(url, timeout=30) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        with tqdm(total=total, unit="B", unit_scale=True, desc=spec.name, leave=False) as bar:
            for block in iter(lambda: response.read(1 << 16), b""):
                out.write(block)
                h.update(block)
                bar.update(len(block))
                received += len(block)
    if total is not None and received < total:  # urllib returns a short body without complaint
        raise ConnectionError(f"the connection closed after {received} of {total} bytes")
    return h.hexdigest()


def _done_elsewhere(final: Path, spec: FileSpec) -> bool:
    """Whether ``final`` is in place and intact (another kernel downloaded it meanwhile)."""
    try:
        if not final.is_file():
            return False
        if not _already_verified(final, spec):
            if file_digest(final, spec.algorithm) != spec.digest:
                return False
            _remember_verified(final, spec)
    except OSError:
        return False
    return True


def _download_failed(spec: FileSpec, folder: Path, exc: BaseException) -> DataUnavailableError:
    why = " ".join(f"{type(exc).__name__}: {exc}".split())  # one line, whatever the exception says
    mirror = os.environ.get(URL_ENV, "").strip()
    hint = (
        f"The URL comes from {URL_ENV}={mirror!r}: check that it is the full http(s) address of a mirror "
        f"folder, or unset it to download from the official repository ({OFFICIAL_URL}/{spec.name}). "
        if mirror
        else "Check the network connection and run the same call again. "
    )
    return _unavailable([spec.name], folder.parent, f"the download failed ({why})", hint)


def _download(spec: FileSpec, folder: Path) -> Path:
    """Download one file into a temporary file of its own, check it, then move it into place atomically.

    The temporary file is removed whatever happens. When the download fails but meanwhile another
    process has put an intact copy in place, that copy is returned.
    """
    url = omniglot_url(spec.name)
    final = folder / spec.name
    new_folders = [p for p in (folder, *folder.parents) if not p.exists()]  # deepest first
    part: Path | None = None
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, part_name = tempfile.mkstemp(dir=folder, prefix=spec.name + ".", suffix=".part")
        part = Path(part_name)
        with os.fdopen(fd, "wb") as out:
            actual = _fetch(url, spec, out)
        if actual != spec.digest:
            if _done_elsewhere(final, spec):
                return final
            bad = folder / (spec.name + ".corrupt")
            os.replace(part, bad)
            raise ChecksumError(
                f"The download of {spec.name} from {url} is corrupt or truncated: its {spec.algorithm} is "
                f"{actual}, expected {spec.digest}. The bytes were kept aside as {bad} and nothing was put "
                f"in place. Run the same call again to retry (set {URL_ENV} to use a mirror), or download "
                f"the file yourself and put it at {final}.",
                reason=f"the download of {spec.name} was corrupt ({spec.algorithm} mismatch)",
            )
        os.chmod(part, 0o644)  # mkstemp makes it private; other users of a shared data folder read it
        os.replace(part, final)  # atomic; a copy another process put there meanwhile is just as good
        _remember_verified(final, spec)
        return final
    except ChecksumError:
        raise
    except Exception as exc:  # OSError, ValueError (malformed URL), http.client.HTTPException, ...
        if part is not None:
            part.unlink(missing_ok=True)
        if _done_elsewhere(final, spec):
            return final
        for new in new_folders:  # a failed download leaves the data folder as it was
            try:
                new.rmdir()
            except OSError:
                break
        raise _download_failed(spec, folder, exc) from exc
    finally:  # also on KeyboardInterrupt; a no-op once the file was moved into place or aside
        if part is not None:
            part.unlink(missing_ok=True)


def ensure_omniglot_files(
    names: Sequence[str], *, data_dir: Path | str | None = None, download: bool | None = None
) -> list[Path]:
    """Return verified local paths of official Omniglot files, downloading missing ones if allowed.

    Args:
        names: file names from :data:`OMNIGLOT_FILES`, e.g. ``["all_runs.zip"]``.
        data_dir: the data folder (default :func:`data_dir`); files are looked up in its ``omniglot/``
            sub-folder and then in the folder itself, and downloaded into ``omniglot/``.
        download: ``False`` never downloads; ``None`` (default) or ``True`` downloads unless
            ``MTML_OFFLINE=1``.

    Raises:
        ValueError: an unknown file name.
        ChecksumError: a present or downloaded file is corrupt (it is moved aside to ``<name>.corrupt``).
        DataUnavailableError: files are missing and cannot be downloaded; the message says what to put where.

    Example:
        >>> ensure_omniglot_files(["all_runs.zip"], download=False)  # doctest: +SKIP
        [PosixPath('.../data/omniglot/all_runs.zip')]
    """
    unknown = [name for name in names if name not in OMNIGLOT_FILES]
    if unknown:
        raise ValueError(
            f"Unknown Omniglot file(s) {unknown}: the files this course knows are "
            f"{', '.join(OMNIGLOT_FILES)}. Pass some of these names."
        )
    root = resolve_data_dir(data_dir)
    found: dict[str, Path] = {}
    for name in names:
        path = _find(name, root)
        if path is not None:
            _verify_present(path, OMNIGLOT_FILES[name])
            found[name] = path
    missing = [name for name in names if name not in found]
    if missing and not download_allowed(download):
        why = (
            "downloading is off (download=False)" if download is False else f"{OFFLINE_ENV}=1 (downloads off)"
        )
        raise _unavailable(missing, root, why)
    if missing and not is_writable(root / "omniglot"):
        raise _unavailable(
            missing, root, f"{root / 'omniglot'} is read-only, so nothing can be downloaded there"
        )
    for name in missing:
        found[name] = _download(OMNIGLOT_FILES[name], root / "omniglot")
    return [found[name] for name in names]
