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
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pytest
from check_cache import CheckVerdicts

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
    together: threading.Barrier | None = None  # set: every response waits halfway for the others

    def log_message(self, fmt: str, *args: object) -> None:
        type(self).requests.append(self.path)

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:
        if self.together is None:
            super().copyfile(source, outputfile)
            return
        body = source.read()
        outputfile.write(body[: len(body) // 2])
        outputfile.flush()
        self.together.wait(timeout=20)  # every client has its first half before any gets the rest
        time.sleep(0.2)
        outputfile.write(body[len(body) // 2 :])


def _serve(handler: type[http.server.BaseHTTPRequestHandler], servers: list) -> str:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers.append(server)
    return f"http://127.0.0.1:{server.server_address[1]}"


@pytest.fixture
def serve_dir() -> Iterator[Callable[..., tuple[str, list[str]]]]:
    """Serve a folder over HTTP on 127.0.0.1: ``base_url, requested_paths = serve_dir(folder)``.

    A real server in a thread, stopped when the test ends; ``requested_paths`` lists the paths fetched.
    ``serve_dir(folder, together=n)`` sends each file in two halves and holds back every second half until
    ``n`` requests are being answered, so ``n`` downloads of the same file surely overlap.
    """
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(folder: Path, *, together: int = 1) -> tuple[str, list[str]]:
        barrier = threading.Barrier(together) if together > 1 else None
        handler = type("Handler", (_QuietHandler,), {"requests": [], "together": barrier})
        return _serve(partial(handler, directory=os.fspath(folder)), servers), handler.requests

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def serve_cut_off() -> Iterator[Callable[..., str]]:
    """A server whose every response breaks off mid-body: ``base_url = serve_cut_off(body)``.

    Each GET gets ``Content-Length: 2 * len(body) + 1`` and only ``body`` before the connection closes;
    with ``chunked=True`` it gets ``body`` as one chunk, then a chunk header announcing more that never
    comes. ``on_request()``, if given, runs before the connection closes (e.g. to play another process).
    """
    servers: list[http.server.ThreadingHTTPServer] = []

    def start(body: bytes, *, chunked: bool = False, on_request: Callable[[], None] | None = None) -> str:
        class CutOff(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                self.send_response(200)
                if chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    self.send_header("Content-Length", str(2 * len(body) + 1))
                self.end_headers()
                self.wfile.write(b"%x\r\n%s\r\nffff\r\nab" % (len(body), body) if chunked else body)
                self.wfile.flush()
                if on_request is not None:
                    on_request()
                self.close_connection = True

            def log_message(self, fmt: str, *args: object) -> None:
                pass

        return _serve(CutOff, servers)

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


@pytest.fixture(scope="session")
def check_verdicts() -> CheckVerdicts:
    """Verdicts of ``check`` shared by the session (see CheckVerdicts)."""
    return CheckVerdicts()


@pytest.fixture
def offline_data_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Nothing downloads unless a test serves the files itself; nothing lands in the repo's data/."""
    monkeypatch.setenv("MTML_OFFLINE", "1")
    monkeypatch.delenv("MTML_OMNIGLOT_URL", raising=False)
    monkeypatch.setenv("MTML_DATA_DIR", str(tmp_path / "unused_default_data_dir"))


def selected_tests(request: pytest.FixtureRequest) -> list[pytest.Item]:
    """The tests of the requesting fixture's module that this session runs (all of them in ``make test``)."""
    return [item for item in request.session.items if getattr(item, "module", None) is request.module]


@contextmanager
def side_by_side(calls: dict[Any, Callable[[], Any]], at_once: int) -> Iterator[dict[Any, Future]]:
    """Start every call now, in the order given, ``at_once`` at a time in threads; yield ``key -> Future``.

    For the expensive runs of a module fixture (a grading batch, a notebook run: each a kernel on one
    core), so each test waits only for the runs it reads. On leaving, the calls not started are cancelled
    and those running are waited for.

    Example:
        >>> with side_by_side({"a": lambda: 1, "b": lambda: 2}, at_once=2) as runs:
        ...     runs["b"].result()
        2
    """
    pool = ThreadPoolExecutor(max_workers=at_once)
    try:
        yield {key: pool.submit(call) for key, call in calls.items()}
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _shared_fixture_instances(item: pytest.Item) -> list[str]:
    """The module-scoped fixture instances ``item`` uses (name, with its parameter when it has one)."""
    definitions = getattr(item, "_fixtureinfo", None)
    if definitions is None:
        return []
    shared = []
    for name in item.fixturenames:
        fixturedefs = definitions.name2fixturedefs.get(name)
        if fixturedefs and fixturedefs[-1].scope == "module":
            params = getattr(getattr(item, "callspec", None), "params", {})
            shared.append(f"{item.module.__name__}:{name}={params[name]}" if name in params
                          else f"{item.module.__name__}:{name}")
    return shared


def _shared_fixture_groups(items: list[pytest.Item]) -> dict[pytest.Item, str]:
    """The group of every test that shares a module-scoped fixture instance with another: tests connected
    through shared instances, directly or through other tests, form one group.

    ``make test`` runs pytest-xdist with ``--dist loadgroup``: tests in one group run on one worker, so an
    expensive module fixture (a graded batch, a JupyterLab server, a student distribution) is built once,
    not once per worker that happens to get one of its tests. Connected, not just equal: the batches of
    ``test_autograder_grade.py`` (one parameter each) all come from one unparametrized fixture that grades
    them side by side, and must stay on the worker that builds it.
    """
    parent: dict[str, str] = {}

    def root(key: str) -> str:
        while parent.setdefault(key, key) != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    uses = {item: _shared_fixture_instances(item) for item in items}
    for keys in uses.values():
        for key in keys:
            parent[root(key)] = root(keys[0])
    label: dict[str, str] = {}  # a group's name: the first of its instances in sorted order
    for key in sorted(parent):
        label.setdefault(root(key), key)
    return {item: f"group[{label[root(keys[0])]}]" for item, keys in uses.items() if keys}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Group tests that share a module fixture (see above) and run the longest first: notebooks in the
    laptop profile (``long``: minutes each; make test keeps this order with ``--no-loadscope-reorder``),
    then the other ``slow`` tests, then the rest, each in collection order. With parallel workers, the
    longest first keeps one worker from ending alone with a long test while the others sit idle."""
    for item, group in _shared_fixture_groups(items).items():
        if not item.get_closest_marker("xdist_group"):
            item.add_marker(pytest.mark.xdist_group(group))

    def rank(indexed: tuple[int, pytest.Item]) -> tuple[int, int]:
        index, item = indexed
        if item.get_closest_marker("long"):
            return 0, -index  # later notebooks are the longer ones: 06 and 05 first
        return (1 if item.get_closest_marker("slow") else 2), index

    items[:] = [item for _, item in sorted(enumerate(items), key=rank)]

