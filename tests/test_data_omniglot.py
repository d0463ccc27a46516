"""Omniglot loading: real files, the cache, the fallback to glyphs, malformed arrays, read-only folders.

Downloads and checksums are tested in test_data_fetch.py.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
import torch
from omniglot_helpers import SMALL_ALPHABETS, npz_files

import mtml_utils.data as data
from mtml_utils.data import omniglot as omniglot_module

pytestmark = pytest.mark.usefixtures("offline_data_env")


def test_small_split_has_8_alphabets_242_characters_of_20_drawings(omniglot_data_dir: Path) -> None:
    chars = data.load_omniglot("small", data_dir=omniglot_data_dir)
    assert chars.images.shape == (4840, 28, 28) and chars.images.dtype == np.uint8
    assert set(chars.alphabet_names) == SMALL_ALPHABETS and chars.n_alphabets == 8
    assert chars.n_characters == 242 and chars.n_images == 4840 and chars.image_size == 28
    assert np.bincount(chars.character).tolist() == [20] * 242
    # every character has each of the 20 drawers exactly once
    assert np.unique(chars.character * 20 + chars.drawer).size == 4840 and chars.drawer.max() == 19
    # characters are grouped by alphabet and named after it
    assert np.all(np.diff(chars.alphabet[np.argsort(chars.character, kind="stable")]) >= 0)
    first = chars.character_names[chars.character[0]]
    assert first.startswith(chars.alphabet_names[chars.alphabet[0]] + "/character")
    assert chars.summary() == (
        "8 alphabets, 242 characters, 4840 images of 28x28 from omniglot "
        "(images_background_small1 + images_background_small2)"
    )


def test_images_are_ink_on_black(omniglot_data_dir: Path) -> None:
    images = data.load_omniglot("small", data_dir=omniglot_data_dir).images
    border = np.concatenate([images[:, :2].ravel(), images[:, -2:].ravel()])
    assert images.mean() < 60 and np.median(images) == 0 and images.max() == 255
    assert border.mean() < 5  # the white paper became 0: strokes, not background, are bright
    assert (images.reshape(len(images), -1).max(axis=1) > 100).all()  # no blank image


def test_second_load_comes_from_the_cache_in_well_under_a_second(
    omniglot_data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = data.load_omniglot("small", data_dir=omniglot_data_dir)
    assert [p.parent.name for p in npz_files(omniglot_data_dir)].count("cache") >= 1

    def no_decoding(*args: object) -> None:
        raise AssertionError("a cached load must not decode PNGs again")

    monkeypatch.setattr(omniglot_module, "decode_png", no_decoding)
    start = time.perf_counter()
    again = data.load_omniglot("small", data_dir=omniglot_data_dir)
    seconds = time.perf_counter() - start
    assert seconds < 1.0, f"cached load took {seconds:.2f} s"
    assert np.array_equal(first.images, again.images) and np.array_equal(first.character, again.character)
    assert first.character_names == again.character_names and first.source == again.source


def test_image_size_64(omniglot_data_dir: Path) -> None:
    chars = data.load_omniglot("small", image_size=64, data_dir=omniglot_data_dir)
    assert chars.images.shape == (4840, 64, 64) and chars.images.dtype == np.uint8
    assert chars.images.mean() < 60


def test_select_alphabets_and_to_tensor(omniglot_data_dir: Path) -> None:
    chars = data.load_omniglot("small", data_dir=omniglot_data_dir)
    two = chars.select_alphabets(["Latin", "Greek"])
    assert two.alphabet_names == ("Latin", "Greek") and two.n_characters == 26 + 24
    assert two.character_names[0] == "Latin/character01" and two.character_names[26] == "Greek/character01"
    assert set(two.alphabet.tolist()) == {0, 1} and sorted(set(two.character.tolist())) == list(range(50))
    latin_a = chars.images[chars.character == chars.character_names.index("Latin/character01")]
    assert np.array_equal(two.images[two.character == 0], latin_a)
    x = two.to_tensor("cpu")
    assert x.dtype == torch.float32 and x.shape == (two.n_images, 1, 28, 28)
    assert torch.allclose(x[:, 0], torch.from_numpy(two.images).float() / 255)
    with pytest.raises(ValueError, match="Balinese, Early_Aramaic"):
        chars.select_alphabets(["Klingon"])


def test_unknown_split_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'small'.*'background'.*'evaluation'"):
        data.load_omniglot("train", data_dir=tmp_path / "data")
    assert not (tmp_path / "data").exists()


def test_data_dir_follows_the_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MTML_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path
    monkeypatch.delenv("MTML_DATA_DIR")
    assert data.data_dir() == Path(__file__).resolve().parents[1] / "data"


def test_load_characters_uses_omniglot_when_present(
    omniglot_data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    chars = data.load_characters(data_dir=omniglot_data_dir)
    lines = capsys.readouterr().out.splitlines()
    assert chars.n_characters == 242 and chars.source.startswith("omniglot")
    assert len(lines) == 1 and lines[0].startswith("Using Omniglot: 8 alphabets")


def test_load_characters_falls_back_to_glyphs_offline(
    default_glyphs, capsys: pytest.CaptureFixture[str]
) -> None:
    chars = data.load_characters(data_dir=default_glyphs.data_dir)
    lines = capsys.readouterr().out.splitlines()
    assert chars.source == "glyphs (seed 0)" and chars.n_alphabets == 20
    assert len(lines) == 1
    assert "not found" in lines[0] and "MTML_OFFLINE=1" in lines[0]
    assert "using generated glyph alphabets (same interface)" in lines[0]
    folder = default_glyphs.data_dir / "omniglot"
    assert f"(for Omniglot, put images_background_small1.zip, images_background_small2.zip (from " \
           f"https://github.com/brendenlake/omniglot/raw/master/python) in {folder}, or let it download " \
           "them (MTML_OFFLINE unset, network on))." in lines[0], "the notice says how to get the real data"


def test_character_images_reject_malformed_arrays() -> None:
    good = dict(
        images=np.zeros((2, 8, 8), np.uint8),
        alphabet=np.array([0, 0]),
        character=np.array([0, 1]),
        drawer=np.array([0, 0]),
        alphabet_names=("A",),
        character_names=("A/character01", "A/character02"),
        source="test",
    )
    assert data.CharacterImages(**good).n_images == 2
    with pytest.raises(ValueError, match="uint8"):
        data.CharacterImages(**{**good, "images": np.zeros((2, 8, 8), np.float32)})
    with pytest.raises(ValueError, match="one label per image"):
        data.CharacterImages(**{**good, "drawer": np.array([0])})
    with pytest.raises(ValueError, match="0..1"):
        data.CharacterImages(**{**good, "character": np.array([0, 2])})


def test_read_only_data_folder_is_left_untouched(
    tmp_path: Path, link_omniglot_files, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Like pointing MTML_DATA_DIR at a shared copy of the zips: no sidecar, no cache, nothing moved there,
    # even for root (who could write anyway); the cache goes to the per-user folder instead.
    folder = link_omniglot_files(tmp_path / "shared")
    before = sorted(p.name for p in folder.rglob("*"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    for locked in (folder / "omniglot", folder):
        locked.chmod(0o555)
    try:
        chars = data.load_omniglot("small", data_dir=folder)
        assert chars.n_characters == 242
        assert sorted(p.name for p in folder.rglob("*")) == before
        assert npz_files(tmp_path / "home" / ".cache" / "mtml_course")
        monkeypatch.delenv("MTML_OFFLINE")
        with pytest.raises(data.DataUnavailableError, match="read-only"):
            data.ensure_omniglot_files(["images_background.zip"], data_dir=folder, download=True)
    finally:
        for locked in (folder, folder / "omniglot"):
            locked.chmod(0o755)
