"""mtml_utils.episodes: N-way K-shot episodes by tensor indexing, split by alphabet, reproducible by seed."""

from __future__ import annotations

import pytest
import torch

from mtml_utils.episodes import EpisodeSampler, split_by_alphabet


@pytest.fixture(scope="module")
def chars(default_glyphs):
    return default_glyphs.chars


def _character_of_rows(sampler: EpisodeSampler) -> torch.Tensor:
    """For every row of sampler.images, the sampler's character it belongs to (from the table)."""
    owner = torch.full((len(sampler.images),), -1)
    for c, rows in enumerate(sampler.table.tolist()):
        owner[rows] = c
    return owner


def test_layout_shapes_and_class_major_labels(chars):
    sampler = EpisodeSampler(chars, ["Glyph01", "Glyph02"], seed=0)
    e = sampler.sample(n_way=3, k_shot=2, k_query=4, meta_batch_size=5)
    assert e.support_x.shape == (5, 6, 1, 28, 28) and e.query_x.shape == (5, 12, 1, 28, 28)
    assert e.support_x.dtype == torch.float32 and 0 <= e.support_x.min() and e.support_x.max() <= 1
    assert e.support_y.tolist() == [[0, 0, 1, 1, 2, 2]] * 5
    assert e.query_y.tolist() == [[0] * 4 + [1] * 4 + [2] * 4] * 5
    assert e.classes.shape == (5, 3) and e.support_index.shape == (5, 6) and e.query_index.shape == (5, 12)


def test_images_match_their_labels_and_drawings_do_not_repeat(chars):
    sampler = EpisodeSampler(chars, [0, 3, 7], seed=1)
    e = sampler.sample(n_way=5, k_shot=3, k_query=2, meta_batch_size=20)
    owner = _character_of_rows(sampler)
    assert torch.equal(e.support_x[:, :, 0], sampler.images[e.support_index].float() / 255)
    assert torch.equal(e.query_x[:, :, 0], sampler.images[e.query_index].float() / 255)
    for b in range(20):
        assert len(set(e.classes[b].tolist())) == 5, "classes are distinct within an episode"
        for j in range(5):
            shots = e.support_index[b, e.support_y[b] == j].tolist()
            queries = e.query_index[b, e.query_y[b] == j].tolist()
            assert len(set(shots + queries)) == 5, "the drawings of a class are distinct"
            assert set(owner[shots + queries].tolist()) == {int(e.classes[b, j])}, "label j: classes[b, j]"


def test_every_class_and_drawing_gets_drawn(chars):
    sampler = EpisodeSampler(chars, ["Glyph05"], seed=2)
    e = sampler.sample(n_way=4, k_shot=1, k_query=1, meta_batch_size=400)
    assert set(e.classes.flatten().tolist()) == set(range(sampler.n_classes))
    drawn = torch.cat([e.support_index, e.query_index], 1).flatten().tolist()
    assert set(drawn) == set(range(len(sampler.images)))


def test_rotation_augmentation_turns_each_class_by_its_quarter(chars):
    sampler = EpisodeSampler(chars, ["Glyph01"], rotations=True, seed=3)
    assert sampler.n_classes == 4 * sampler.n_characters
    e = sampler.sample(n_way=6, k_shot=2, k_query=0, meta_batch_size=30)
    turns = set()
    for b in range(30):
        for j in range(6):
            cls = int(e.classes[b, j])
            rows = e.support_index[b, 2 * j: 2 * j + 2]
            expected = torch.rot90(sampler.images[rows], cls % 4, dims=(-2, -1)).float() / 255
            assert torch.equal(e.support_x[b, 2 * j: 2 * j + 2, 0], expected)
            assert int(_character_of_rows(sampler)[rows[0]]) == cls // 4
            turns.add(cls % 4)
    assert turns == {0, 1, 2, 3}


def test_same_seed_same_episodes_other_seed_other_episodes(chars):
    def draw(seed):
        return EpisodeSampler(chars, [0, 1], seed=seed).sample(3, 1, 1, meta_batch_size=8)

    a, b, c = draw(0), draw(0), draw(1)
    assert torch.equal(a.support_index, b.support_index) and torch.equal(a.classes, b.classes)
    assert not torch.equal(a.classes, c.classes)


def test_asking_for_more_than_there_is_says_what_there_is(chars):
    sampler = EpisodeSampler(chars, ["Glyph01"])
    with pytest.raises(ValueError, match="it has 20 classes of 20 drawings"):
        sampler.sample(n_way=21, k_shot=1)
    with pytest.raises(ValueError, match="it has 20 classes of 20 drawings"):
        sampler.sample(n_way=2, k_shot=15, k_query=6)
    with pytest.raises(ValueError, match="n_way >= 1"):
        sampler.sample(n_way=0, k_shot=1)


def test_split_by_alphabet_keeps_the_three_sets_apart(chars):
    samplers = split_by_alphabet(chars, val_alphabets=["Glyph19"], test_alphabets=["Glyph20", 0])
    train, val, test = samplers["meta_train"], samplers["meta_val"], samplers["meta_test"]
    assert val.alphabet_names == ("Glyph19",)
    assert test.alphabet_names == ("Glyph20", "Glyph01")  # in the order given
    assert len(train.alphabet_names) == 17
    assert not {"Glyph01", "Glyph19", "Glyph20"} & set(train.alphabet_names)
    assert train.rotations and not val.rotations and not test.rotations
    assert train.n_classes == 4 * 17 * 20
    with pytest.raises(ValueError, match="No alphabet 'Klingon'"):
        split_by_alphabet(chars, val_alphabets=["Klingon"], test_alphabets=[1])
    with pytest.raises(ValueError, match="both a meta-validation and a meta-test"):
        split_by_alphabet(chars, val_alphabets=[1], test_alphabets=[1])
