"""Generated glyph alphabets: shapes, determinism, and that they behave like handwritten alphabets."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

import mtml_utils.data as data
from mtml_utils.data import glyphs as glyphs_module


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MTML_OFFLINE", "1")
    monkeypatch.setenv("MTML_DATA_DIR", str(tmp_path / "unused_default_data_dir"))


def standardized(images: np.ndarray) -> np.ndarray:
    """Each image as a zero-mean, unit-variance vector, so ``a @ b / n`` is their pixel correlation."""
    x = images.reshape(len(images), -1).astype(np.float64)
    return (x - x.mean(axis=1, keepdims=True)) / (x.std(axis=1, keepdims=True) + 1e-9)


def style_features(images: np.ndarray) -> np.ndarray:
    """Stroke-style features that do not depend on which character it is: orientation histogram,
    ink amount, edge-per-ink (stroke thinness) and width/height spread."""
    x = images.astype(np.float64) / 255
    gy, gx = np.gradient(x, axis=(1, 2))
    magnitude = np.hypot(gx, gy)
    bins = np.minimum((np.mod(np.arctan2(gy, gx), np.pi) / np.pi * 8).astype(int), 7)
    hist = np.stack([(magnitude * (bins == b)).sum(axis=(1, 2)) for b in range(8)], axis=1)
    hist /= hist.sum(axis=1, keepdims=True) + 1e-9
    ink = x.sum(axis=(1, 2))

    def spread(profile: np.ndarray) -> np.ndarray:
        p = profile / (profile.sum(axis=1, keepdims=True) + 1e-9)
        i = np.arange(p.shape[1])
        mean = (p * i).sum(axis=1, keepdims=True)
        return np.sqrt((p * (i - mean) ** 2).sum(axis=1))

    aspect = spread(x.sum(axis=1)) / (spread(x.sum(axis=2)) + 1e-9)
    return np.column_stack([hist, ink / x[0].size, magnitude.sum(axis=(1, 2)) / (ink + 1e-9), aspect])


def test_default_set_shapes_labels_and_names(default_glyphs) -> None:
    chars = default_glyphs.chars
    assert chars.images.shape == (8000, 28, 28) and chars.images.dtype == np.uint8
    assert (chars.n_alphabets, chars.n_characters, chars.n_drawers) == (20, 400, 20)
    assert np.bincount(chars.character).tolist() == [20] * 400
    assert np.bincount(chars.alphabet).tolist() == [400] * 20
    assert np.unique(chars.character * 20 + chars.drawer).size == 8000
    assert np.array_equal(chars.alphabet, chars.character // 20)  # grouped by alphabet
    assert chars.alphabet_names[2] == "Glyph03" and chars.character_names[2 * 20 + 6] == "Glyph03/character07"
    assert chars.source == "glyphs (seed 0)"
    assert chars.summary() == "20 alphabets, 400 characters, 8000 images of 28x28 from glyphs (seed 0)"


def test_first_drawings_shows_one_image_per_character_of_an_alphabet(default_glyphs) -> None:
    chars = default_glyphs.chars
    shown = chars.first_drawings(2, 5)
    assert shown.shape == (5, 28, 28)
    for row, character in zip(shown, range(40, 45), strict=True):  # Glyph03's characters are 40..59
        first = np.flatnonzero(chars.character == character)[0]
        assert np.array_equal(row, chars.images[first])
    assert chars.first_drawings(0, 100).shape == (20, 28, 28), "at most the characters the alphabet has"
    with pytest.raises(ValueError, match="alphabet must be an index 0..19"):
        chars.first_drawings(20)


def test_glyphs_are_ink_on_black_like_omniglot(default_glyphs) -> None:
    images = default_glyphs.chars.images
    assert 5 < images.mean() < 60 and np.median(images) == 0
    per_image_max = images.reshape(len(images), -1).max(axis=1)
    assert (per_image_max > 150).all()  # no blank or faint image
    border = np.concatenate([images[:, :1].ravel(), images[:, -1:].ravel(), images[:, :, :1].ravel()])
    assert border.mean() < 5


def test_generation_is_quick_and_the_cache_reload_quicker(default_glyphs) -> None:
    # Generous bounds: this checks that the cache works, not how fast this machine is.
    assert default_glyphs.generation_s < 60
    start = time.perf_counter()
    again = data.load_glyph_alphabets(data_dir=default_glyphs.data_dir)
    seconds = time.perf_counter() - start
    assert seconds < 1.0, f"cached glyph load took {seconds:.2f} s"
    assert seconds < default_glyphs.generation_s / 3
    assert np.array_equal(again.images, default_glyphs.chars.images)
    assert again.character_names == default_glyphs.chars.character_names


def test_same_seed_same_images_other_seed_other_images(tmp_path: Path) -> None:
    sizes = dict(n_alphabets=3, n_characters=4, n_drawers=3)
    a = data.load_glyph_alphabets(**sizes, seed=7, data_dir=tmp_path / "a")
    b = data.load_glyph_alphabets(**sizes, seed=7, data_dir=tmp_path / "b")  # generated anew, no shared cache
    c = data.load_glyph_alphabets(**sizes, seed=8, data_dir=tmp_path / "a")
    assert np.array_equal(a.images, b.images) and np.array_equal(a.character, b.character)
    assert not np.array_equal(a.images, c.images)
    assert c.source == "glyphs (seed 8)"


def test_a_character_does_not_depend_on_the_requested_counts(tmp_path: Path) -> None:
    small = data.load_glyph_alphabets(2, 3, 2, data_dir=tmp_path)
    big = data.load_glyph_alphabets(3, 5, 4, data_dir=tmp_path)
    for name in small.character_names:
        for d in range(2):
            mine = small.images[(small.character == small.character_names.index(name)) & (small.drawer == d)]
            theirs = big.images[(big.character == big.character_names.index(name)) & (big.drawer == d)]
            assert np.array_equal(mine, theirs), name


def test_drawers_of_a_character_agree_more_than_other_alphabets(default_glyphs) -> None:
    chars = default_glyphs.chars
    keep = (chars.character % 20 < 10) & (chars.drawer < 10)  # 2000 images keep the pair matrix small
    x = standardized(chars.images[keep])
    corr = x @ x.T / x.shape[1]
    char, alpha = chars.character[keep], chars.alphabet[keep]
    same_char = (char[:, None] == char[None]) & ~np.eye(len(x), dtype=bool)
    other_alphabet = alpha[:, None] != alpha[None]
    within, between = corr[same_char].mean(), corr[other_alphabet].mean()
    assert within > between + 0.15, (within, between)


def test_alphabets_have_a_style_that_carries_over_to_unseen_characters(default_glyphs) -> None:
    # Learn each alphabet's style from half of its characters, recognise the alphabet of the other half:
    # far above chance means alphabets differ in style, not just in which characters they hold.
    chars = default_glyphs.chars
    f = style_features(chars.images)
    f = (f - f.mean(axis=0)) / (f.std(axis=0) + 1e-9)
    seen = chars.character % 20 < 10
    centroids = np.stack([f[seen & (chars.alphabet == a)].mean(axis=0) for a in range(chars.n_alphabets)])
    guess = ((f[~seen][:, None] - centroids[None]) ** 2).sum(axis=-1).argmin(axis=1)
    accuracy = (guess == chars.alphabet[~seen]).mean()
    assert accuracy > 3 / chars.n_alphabets, accuracy


def test_one_shot_on_glyphs_is_learnable_but_not_trivial(default_glyphs) -> None:
    # 20-way within-alphabet one-shot with a pixel nearest neighbour, as on Omniglot's official runs.
    chars = default_glyphs.chars
    x = standardized(chars.images)
    hits = []
    for a in range(chars.n_alphabets):
        for support_drawer, query_drawer in ((0, 1), (2, 3)):
            support = x[(chars.alphabet == a) & (chars.drawer == support_drawer)]
            query = x[(chars.alphabet == a) & (chars.drawer == query_drawer)]
            hits.append((query @ support.T).argmax(axis=1) == np.arange(20))
    accuracy = float(np.mean(hits))
    assert 0.2 < accuracy < 0.9, accuracy  # chance is 0.05; drawers must vary enough to make it a task


def test_other_image_sizes(tmp_path: Path) -> None:
    chars = data.load_glyph_alphabets(2, 2, 2, image_size=64, data_dir=tmp_path)
    assert chars.images.shape == (8, 64, 64) and chars.images.mean() < 60


@pytest.mark.parametrize(
    ("kwargs", "complaint"),
    [
        (dict(n_alphabets=0), "n_alphabets must be an integer between 1"),
        (dict(n_drawers=2.5), "n_drawers must be an integer"),
        (dict(image_size=2), "image_size must be an integer number of pixels"),
    ],
)
def test_bad_arguments_are_explained(kwargs: dict, complaint: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=complaint):
        data.load_glyph_alphabets(**kwargs, data_dir=tmp_path)
    assert not (tmp_path / "cache").exists() or not list((tmp_path / "cache").iterdir())


def test_unreadable_cache_is_rebuilt(tmp_path: Path) -> None:
    first = data.load_glyph_alphabets(2, 2, 2, data_dir=tmp_path)
    (cache_file,) = (tmp_path / "cache").glob("glyphs_*.npz")
    cache_file.write_bytes(b"garbage")
    again = data.load_glyph_alphabets(2, 2, 2, data_dir=tmp_path)
    assert np.array_equal(first.images, again.images)
    assert cache_file.stat().st_size > 100  # replaced by a good one


def test_load_characters_prefer_glyphs_skips_omniglot(
    default_glyphs, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_omniglot(*args: object, **kwargs: object) -> None:
        raise AssertionError("prefer='glyphs' must not look for Omniglot")

    monkeypatch.setattr("mtml_utils.data.sources.load_omniglot", no_omniglot)
    chars = data.load_characters(prefer="glyphs", data_dir=default_glyphs.data_dir)
    (line,) = capsys.readouterr().out.splitlines()
    assert chars.source == "glyphs (seed 0)" and 'prefer="glyphs"' in line
    with pytest.raises(ValueError, match="prefer='omniglot'"):
        data.load_characters(prefer="mnist")


def test_generator_version_is_part_of_the_cache_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data.load_glyph_alphabets(1, 1, 1, data_dir=tmp_path)
    monkeypatch.setattr(glyphs_module, "GLYPH_VERSION", glyphs_module.GLYPH_VERSION + 1)
    data.load_glyph_alphabets(1, 1, 1, data_dir=tmp_path)
    assert len(list((tmp_path / "cache").glob("glyphs_*.npz"))) == 2


def test_cached_arrays_builds_once_then_loads(tmp_path: Path) -> None:
    from mtml_utils.data.cache import cache_key, cached_arrays

    calls: list[int] = []

    def build() -> dict[str, np.ndarray]:
        calls.append(1)
        return {"x": np.arange(5, dtype=np.uint8)}

    key = cache_key("test", 5)
    first = cached_arrays(tmp_path, "numbers", key, build)
    again = cached_arrays(tmp_path, "numbers", key, build)
    assert len(calls) == 1 and np.array_equal(first["x"], again["x"]) and again["x"].dtype == np.uint8
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [f"numbers_{key}.npz"]
    cached_arrays(tmp_path, "numbers", cache_key("test", 6), build)  # another key: built again
    assert len(calls) == 2
