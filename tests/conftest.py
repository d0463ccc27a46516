"""Fixtures shared by the test suite.

Real Omniglot files live beside the checkout in ``../shared/data/omniglot`` (read-only; a clean clone in
CI sits beside ``../shared`` too). Tests never write there nor into the repository's ``data/``: anything
that writes gets a temporary data folder whose ``omniglot/`` holds symlinks to the shared zips.
"""

from __future__ import annotations

import http.server
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:  # imported lazily below: collecting unrelated tests should not pay for torch
    from mtml_utils.data import CharacterImages

SHARED_OMNIGLOT = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot"
OMNIGLOT_TEST_FILES = ("images_background_small1.zip", "images_background_small2.zip", "all_runs.zip")


@pytest.fixture(scope="session")
def omniglot_dir() -> Path:
    """The read-only folder with the real Omniglot zips; skips the test when they are not there."""
    missing = [name for name in OMNIGLOT_TEST_FILES if not (SHARED_OMNIGLOT / name).is_file()]
    if missing:
        pytest.skip(f"real Omniglot files not found at {SHARED_OMNIGLOT}: missing {', '.join(missing)}")
    return SHARED_OMNIGLOT


def link_omniglot(omniglot_dir: Path, data_dir: Path, names: tuple[str, ...] = OMNIGLOT_TEST_FILES) -> Path:
    """Make ``data_dir/omniglot/<name>`` symlinks to the shared zips; return ``data_dir``."""
    (data_dir / "omniglot").mkdir(parents=True, exist_ok=True)
    for name in names:
        (data_dir / "omniglot" / name).symlink_to(omniglot_dir / name)
    return data_dir


@pytest.fixture
def link_omniglot_files(omniglot_dir: Path) -> Callable[..., Path]:
    """``link_omniglot_files(data_dir, names=...)``: a data folder whose ``omniglot/`` links the real zips."""
    return partial(link_omniglot, omniglot_dir)


@pytest.fixture(scope="session")
def omniglot_data_dir(omniglot_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A writable data folder (shared by the session, so its cache is built once) linking the real zips."""
    return link_omniglot(omniglot_dir, tmp_path_factory.mktemp("omniglot_data"))


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str]

    def log_message(self, fmt: str, *args: object) -> None:
        type(self).requests.append(self.path)


@pytest.fixture
def serve_dir() -> Iterator[Callable[[Path], tuple[str, list[str]]]]:
    """Serve a folder over HTTP on 127.0.0.1: ``base_url, requested_paths = serve_dir(folder)``.

    A real server in a thread, stopped when the test ends; ``requested_paths`` lists the paths fetched.
    """
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path) -> tuple[str, list[str]]:
        handler = type("Handler", (_QuietHandler,), {"requests": []})
        serve = partial(handler, directory=os.fspath(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), serve)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}", handler.requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class DefaultGlyphs:
    """The default glyph set (20 alphabets x 20 characters x 20 drawers), generated once per session."""

    data_dir: Path  # a data folder whose cache/ holds the set (and that has no Omniglot files)
    chars: CharacterImages
    generation_s: float  # wall-clock seconds the first (uncached) generation took


@pytest.fixture(scope="session")
def default_glyphs(tmp_path_factory: pytest.TempPathFactory) -> DefaultGlyphs:
    """Generate the default glyph alphabets into a session temp data folder and time it."""
    from mtml_utils.data import load_glyph_alphabets

    folder = tmp_path_factory.mktemp("glyph_data")
    start = time.perf_counter()
    chars = load_glyph_alphabets(data_dir=folder)
    return DefaultGlyphs(folder, chars, time.perf_counter() - start)
