"""Getting the Omniglot zips: downloads from a local HTTP server, checksums, corrupt and racing files."""

from __future__ import annotations

import shutil
import socket
import threading
from pathlib import Path

import pytest
from omniglot_helpers import SMALL, npz_files, sha256

import mtml_utils.data as data
from mtml_utils.data import fetch as data_fetch
from mtml_utils.data import files as data_files
from mtml_utils.data import omniglot as omniglot_module

pytestmark = pytest.mark.usefixtures("offline_data_env")


def test_offline_without_files_says_what_to_put_where(tmp_path: Path) -> None:
    folder = tmp_path / "data"
    with pytest.raises(data.DataUnavailableError) as info:
        data.load_omniglot("small", data_dir=folder)
    message = str(info.value)
    for needed in (
        *SMALL,
        str(folder / "omniglot"),
        "MTML_DATA_DIR",
        "MTML_OFFLINE=1",
        'load_characters(prefer="glyphs")',
        "load_glyph_alphabets()",
        "https://github.com/brendenlake/omniglot/raw/master/python/images_background_small2.zip",
    ):
        assert needed in message
    assert "\n" not in message
    assert not folder.exists()  # the error changed nothing


def test_missing_files_are_downloaded_verified_and_loaded(
    tmp_path: Path, omniglot_dir: Path, serve_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for name in SMALL:
        shutil.copyfile(omniglot_dir / name, mirror / name)
    base, requests = serve_dir(mirror)
    monkeypatch.setenv("MTML_OMNIGLOT_URL", base)
    monkeypatch.delenv("MTML_OFFLINE")
    folder = tmp_path / "data"
    chars = data.load_omniglot("small", data_dir=folder)
    assert chars.n_characters == 242
    assert sorted(requests) == [f"/{name}" for name in SMALL]
    for name in SMALL:
        assert sha256(folder / "omniglot" / name) == data_files.OMNIGLOT_FILES[name].digest
    assert not list(folder.rglob("*.part")) and not list(folder.rglob("*.corrupt"))
    data.load_omniglot("small", data_dir=folder)
    assert len(requests) == 2  # present files are not downloaded again


def test_truncated_download_is_kept_aside_and_nothing_is_put_in_place(
    tmp_path: Path, omniglot_dir: Path, serve_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    good = (omniglot_dir / "all_runs.zip").read_bytes()
    (mirror / "all_runs.zip").write_bytes(good[: len(good) // 2])
    base, _ = serve_dir(mirror)
    monkeypatch.setenv("MTML_OMNIGLOT_URL", base)
    monkeypatch.delenv("MTML_OFFLINE")
    folder = tmp_path / "data"
    with pytest.raises(data.ChecksumError) as info:
        data.load_one_shot_runs(data_dir=folder)
    message = str(info.value)
    expected = data_files.OMNIGLOT_FILES["all_runs.zip"].digest
    assert "all_runs.zip" in message and expected in message and sha256(mirror / "all_runs.zip") in message
    assert (folder / "omniglot" / "all_runs.zip.corrupt").read_bytes() == good[: len(good) // 2]
    assert not (folder / "omniglot" / "all_runs.zip").exists()
    assert not list(folder.rglob("*.part")) and not npz_files(folder)
    # what the message says to do: run again once the source is good
    (mirror / "all_runs.zip").write_bytes(good)
    assert len(data.load_one_shot_runs(data_dir=folder)) == 20


def test_corrupt_zip_already_in_the_data_dir_is_moved_aside(
    tmp_path: Path, omniglot_dir: Path, link_omniglot_files
) -> None:
    folder = link_omniglot_files(tmp_path / "data", names=(SMALL[1],))
    bad = folder / "omniglot" / SMALL[0]
    bad.write_bytes((omniglot_dir / SMALL[0]).read_bytes()[:100_000])
    actual = sha256(bad)
    with pytest.raises(data.ChecksumError) as info:
        data.load_omniglot("small", data_dir=folder)
    message = str(info.value)
    assert "sha256" in message and actual in message and data_files.OMNIGLOT_FILES[SMALL[0]].digest in message
    assert not bad.exists() and (folder / "omniglot" / (SMALL[0] + ".corrupt")).exists()
    assert not npz_files(folder)
    # offline, the next call now reports the file as missing rather than loading anything broken
    with pytest.raises(data.DataUnavailableError, match=SMALL[0]):
        data.load_omniglot("small", data_dir=folder)


def test_unreadable_zip_is_reported_and_moved_aside(tmp_path: Path) -> None:
    junk = tmp_path / "all_runs.zip"
    junk.write_bytes(b"not a zip archive at all")
    with pytest.raises(data.ChecksumError, match="cannot be read as a zip archive"):
        omniglot_module.read_zip(junk)
    assert not junk.exists() and (tmp_path / "all_runs.zip.corrupt").exists()


def test_download_false_never_touches_the_network(
    tmp_path: Path, omniglot_dir: Path, serve_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, requests = serve_dir(omniglot_dir)
    monkeypatch.setenv("MTML_OMNIGLOT_URL", base)
    monkeypatch.delenv("MTML_OFFLINE")
    with pytest.raises(data.DataUnavailableError, match="download=False"):
        data.ensure_omniglot_files(["all_runs.zip"], data_dir=tmp_path, download=False)
    assert requests == []


def test_network_failure_is_data_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as s:  # a port nobody listens on once closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MTML_OMNIGLOT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("MTML_OFFLINE")
    with pytest.raises(data.DataUnavailableError, match="download failed") as info:
        data.ensure_omniglot_files(["all_runs.zip"], data_dir=tmp_path / "new" / "data")
    assert f"http://127.0.0.1:{port}/all_runs.zip" in str(info.value)
    assert list(tmp_path.iterdir()) == []  # no .part, not even the omniglot/ folder


def download_from(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MTML_OMNIGLOT_URL", url)
    monkeypatch.delenv("MTML_OFFLINE")


def test_two_simultaneous_downloads_of_one_file_both_succeed(
    tmp_path: Path, omniglot_dir: Path, serve_dir, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two kernels (here: threads) that find the same file missing download it at the same time.
    (tmp_path / "mirror").mkdir()
    shutil.copyfile(omniglot_dir / "all_runs.zip", tmp_path / "mirror" / "all_runs.zip")
    base, requests = serve_dir(tmp_path / "mirror", together=2)  # the two downloads surely overlap
    download_from(base, monkeypatch)
    folder, results, errors = tmp_path / "data", [], []

    def download() -> None:
        try:
            results.append(data.ensure_omniglot_files(["all_runs.zip"], data_dir=folder))
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=download) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == [] and results == [[folder / "omniglot" / "all_runs.zip"]] * 2
    assert requests == ["/all_runs.zip"] * 2
    assert sha256(folder / "omniglot" / "all_runs.zip") == data_files.OMNIGLOT_FILES["all_runs.zip"].digest
    left = sorted(p.name for p in (folder / "omniglot").iterdir())
    assert left == ["all_runs.zip", "all_runs.zip.verified"]  # one intact file, no .part


@pytest.mark.parametrize(
    "broken", ["mirror.example.org/omniglot", "http://[::1", "notascheme://x", "cut off", "cut off chunked"]
)
def test_broken_download_is_data_unavailable_and_load_characters_falls_back(
    broken: str,
    tmp_path: Path,
    default_glyphs,
    serve_cut_off,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # A malformed MTML_OMNIGLOT_URL, or a server that closes the connection before the whole body came.
    url = serve_cut_off(b"PK" + bytes(5000), chunked="chunked" in broken) if "cut" in broken else broken
    download_from(url, monkeypatch)
    with pytest.raises(data.DataUnavailableError, match="download failed") as info:
        data.ensure_omniglot_files(["all_runs.zip"], data_dir=tmp_path / "data")
    assert type(info.value) is data.DataUnavailableError  # a broken transfer, not a corrupt file
    message = str(info.value)
    assert f"{url}/all_runs.zip" in message and "MTML_OMNIGLOT_URL" in message and "\n" not in message
    assert list(tmp_path.iterdir()) == []  # no .part, no .corrupt, not even the new data folder
    shutil.copytree(default_glyphs.data_dir / "cache", tmp_path / "data" / "cache")  # no drawing again
    chars = data.load_characters(data_dir=tmp_path / "data")
    (line,) = capsys.readouterr().out.splitlines()
    assert chars.source == "glyphs (seed 0)" and chars.n_alphabets == 20
    assert "download failed" in line and "using generated glyph alphabets (same interface)" in line
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["cache"]


def test_file_that_another_process_finished_meanwhile_counts_as_downloaded(
    tmp_path: Path, omniglot_dir: Path, serve_cut_off, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "data" / "omniglot" / "all_runs.zip"

    def other_process_finishes() -> None:  # while our own download breaks off
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(omniglot_dir / "all_runs.zip", target)

    download_from(serve_cut_off(b"PK", on_request=other_process_finishes), monkeypatch)
    assert data.ensure_omniglot_files(["all_runs.zip"], data_dir=tmp_path / "data") == [target]
    assert sha256(target) == data_files.OMNIGLOT_FILES["all_runs.zip"].digest
    assert sorted(p.name for p in target.parent.iterdir()) == ["all_runs.zip", "all_runs.zip.verified"]


def test_verification_is_remembered_by_size_and_mtime(
    tmp_path: Path, link_omniglot_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = link_omniglot_files(tmp_path / "data", names=("all_runs.zip",))
    (path,) = data.ensure_omniglot_files(["all_runs.zip"], data_dir=folder)
    sidecar = path.with_name("all_runs.zip.verified")
    assert sidecar.exists()
    monkeypatch.setattr(data_fetch, "_verified_here", set())  # forget this process's memory

    def no_hashing(*args: object) -> str:
        raise AssertionError("hashed again")

    monkeypatch.setattr(data_fetch, "file_digest", no_hashing)
    assert data.ensure_omniglot_files(["all_runs.zip"], data_dir=folder) == [path]
    sidecar.write_text(sidecar.read_text().replace('"size": ', '"size": 1'))  # another file version
    with pytest.raises(AssertionError, match="hashed again"):
        data.ensure_omniglot_files(["all_runs.zip"], data_dir=folder)


def test_unknown_file_name_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="all_runs.zip"):
        data.ensure_omniglot_files(["omniglot.tar"], data_dir=tmp_path)
