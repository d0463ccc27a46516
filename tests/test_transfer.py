"""mtml_utils.transfer: the classifier, its training loop, evaluation, and cache-or-train pre-training."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import mtml_utils as mtml
from mtml_utils.transfer import (
    ConvClassifier,
    PretrainConfig,
    eval_mode,
    evaluate_accuracy,
    pretrain_classifier,
    train_classifier,
)


def _separable(n_per_class: int = 8, n_classes: int = 3, size: int = 20, seed: int = 0):
    """Images whose class is which third of the picture is bright: any small conv net learns it."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n_classes).repeat_interleave(n_per_class)
    x = 0.1 * torch.rand(len(y), 1, size, size, generator=g)
    band = size // n_classes
    for i, label in enumerate(y.tolist()):
        x[i, 0, :, label * band: (label + 1) * band] += 0.9
    return x, y


def test_classifier_children_are_named_blocks_then_the_head():
    model = ConvClassifier(7, channels=8, image_size=28)
    assert [name for name, _ in model.named_children()] == ["block1", "block2", "block3", "block4", "head"]
    assert model.block_names == ("block1", "block2", "block3", "block4")
    assert model.feature_dim == 8  # 28 -> 14 -> 7 -> 3 -> 1
    assert model.features(torch.rand(2, 1, 28, 28)).shape == (2, 8)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 7)
    assert ConvClassifier(3, channels=4, n_blocks=2, image_size=20).feature_dim == 4 * 5 * 5


def test_classifier_rejects_more_blocks_than_the_image_allows():
    with pytest.raises(ValueError, match="at most 3 for this image size"):
        ConvClassifier(2, n_blocks=4, image_size=8)


def test_eval_mode_restores_each_modules_own_mode():
    model = ConvClassifier(3, channels=4).train()
    model.block2.eval()
    with eval_mode(model):
        assert not any(m.training for m in model.modules())
    assert model.training and model.block1.training and model.head.training
    assert not any(m.training for m in model.block2.modules())


def test_evaluate_accuracy_counts_correct_rows_in_batches_and_keeps_modes():
    class Echo(nn.Module):  # predicts the label stored in the first pixel
        def forward(self, x):
            return nn.functional.one_hot(x[:, 0, 0, 0].long(), 3).float()

    x = torch.zeros(7, 1, 2, 2)
    x[:, 0, 0, 0] = torch.tensor([0, 1, 2, 0, 1, 2, 0], dtype=torch.float32)
    y = torch.tensor([0, 1, 2, 0, 1, 1, 1])  # five right
    model = Echo().train()
    assert evaluate_accuracy(model, x, y, batch_size=3) == pytest.approx(5 / 7)
    assert model.training
    with pytest.raises(ValueError, match="as many labels as images"):
        evaluate_accuracy(model, x, y[:3])


def test_train_classifier_learns_and_records_every_step():
    torch.manual_seed(0)
    x, y = _separable()
    model = ConvClassifier(3, channels=8).train()
    history = train_classifier(model, torch.optim.Adam(model.parameters(), lr=1e-2), x, y, 40, batch_size=12,
                               progress=False)
    assert len(history) == 40 and {"loss", "accuracy"} <= history.keys()
    assert np.mean(history["loss"][-5:]) < 0.5 * np.mean(history["loss"][:5])
    assert evaluate_accuracy(model, x, y) == 1.0


def test_train_classifier_is_reproducible_with_the_same_seed():
    x, y = _separable()
    states = []
    for _ in range(2):
        torch.manual_seed(1)
        model = ConvClassifier(3, channels=4).train()
        train_classifier(model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, 5, batch_size=5, seed=7,
                         progress=False)
        states.append(model.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_train_classifier_leaves_a_frozen_block_in_eval_mode():
    x, y = _separable()
    model = ConvClassifier(3, channels=4).train()
    model.block1.requires_grad_(False).eval()
    stats = model.block1[1].running_mean.clone()
    weight = model.block1[0].weight.clone()
    train_classifier(model, torch.optim.Adam(model.parameters(), lr=0.1), x, y, 3, progress=False)
    assert not model.block1.training and model.block2.training
    assert torch.equal(model.block1[1].running_mean, stats) and torch.equal(model.block1[0].weight, weight)
    assert not torch.equal(model.block2[1].running_mean, torch.zeros(4))


def test_pretraining_is_cached_by_configuration_and_data(tmp_path):
    x, y = _separable()
    config = PretrainConfig(channels=4, n_steps=6, batch_size=8)
    first = pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False)
    second = pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False)
    assert not first.from_cache and second.from_cache and first.path == second.path
    assert first.path.parent == tmp_path / "cache"
    assert all(torch.equal(v, second.model.state_dict()[k]) for k, v in first.model.state_dict().items())
    assert second.history.records == first.history.records

    changed_config = pretrain_classifier(x, y, PretrainConfig(channels=4, n_steps=7, batch_size=8),
                                         cache_root=tmp_path, progress=False)
    changed_data = pretrain_classifier(x.flip(-1), y, config, cache_root=tmp_path, progress=False)
    assert not changed_config.from_cache and not changed_data.from_cache
    assert len({first.path, changed_config.path, changed_data.path}) == 3


@pytest.mark.parametrize("cached", [False, True], ids=["training", "loading"])
def test_pretraining_leaves_the_global_random_stream_alone(tmp_path, cached):
    """Later cells draw the same random numbers whether the network was trained or loaded."""
    x, y = _separable()
    config = PretrainConfig(channels=4, n_steps=3, batch_size=8)
    if cached:
        pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False)
    torch.manual_seed(0)
    assert pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False).from_cache == cached
    after = torch.rand(3)
    torch.manual_seed(0)
    assert torch.equal(after, torch.rand(3))


def test_a_damaged_cache_file_is_retrained_not_trusted(tmp_path):
    x, y = _separable()
    config = PretrainConfig(channels=4, n_steps=3, batch_size=8)
    first = pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False)
    first.path.write_bytes(b"not a checkpoint")
    again = pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False)
    assert not again.from_cache
    assert pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False).from_cache


def test_loading_from_the_cache_says_so(tmp_path, capsys):
    x, y = _separable()
    config = PretrainConfig(channels=4, n_steps=3, batch_size=8)
    pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False)
    assert "Pre-trained ConvClassifier (3 classes)" in capsys.readouterr().out
    pretrain_classifier(x, y, config, cache_root=tmp_path, progress=False)
    assert "Loaded the pre-trained ConvClassifier (3 classes) from" in capsys.readouterr().out


def _fine_tune(pretrained: ConvClassifier | None, x, y, n_classes: int, seed: int) -> ConvClassifier:
    """Scratch (pretrained=None) or full fine-tuning with a new head and per-block learning rates."""
    torch.manual_seed(seed)
    if pretrained is None:
        model = ConvClassifier(n_classes)
        groups = [{"params": model.parameters(), "lr": 3e-3}]
    else:
        model = ConvClassifier(n_classes)
        model.load_state_dict({k: v for k, v in pretrained.state_dict().items() if not k.startswith("head")},
                              strict=False)
        names = [*model.block_names, "head"]
        groups = [{"params": getattr(model, n).parameters(), "lr": 1e-2 * 0.5 ** (len(names) - 1 - i)}
                  for i, n in enumerate(names)]
    model.train()
    train_classifier(model, torch.optim.Adam(groups), x, y, 60, batch_size=64, seed=seed, progress=False)
    return model


@pytest.mark.slow
def test_pretraining_beats_scratch_most_when_target_data_is_scarce(omniglot_data_dir, tmp_path):
    """Notebook 04's main result at reduced size on real Omniglot: pre-train on five alphabets, fine-tune
    10-way tasks of the three others; fine-tuning beats scratch at 1 and 5 examples per class and the gap
    narrows by 15."""
    chars = mtml.load_omniglot("small", 20, data_dir=omniglot_data_dir, download=False)
    x_all = chars.to_tensor()
    targets = [5, 6, 7]
    source = np.flatnonzero(~np.isin(chars.alphabet, targets))
    labels = {c: i for i, c in enumerate(np.unique(chars.character[source]))}
    pre = pretrain_classifier(x_all[source], torch.tensor([labels[c] for c in chars.character[source]]),
                              PretrainConfig(n_steps=120), cache_root=tmp_path, progress=False).model
    gaps = {}
    for k in (1, 5, 15):
        scratch, tuned = [], []
        for task, alphabet in enumerate(targets):
            rng = np.random.default_rng(task)
            characters = rng.choice(np.unique(chars.character[chars.alphabet == alphabet]), 10, replace=False)
            order = [rng.permutation(np.flatnonzero(chars.character == c)) for c in characters]
            train = np.concatenate([o[:k] for o in order])
            test = np.concatenate([o[k:] for o in order])
            train_y = torch.arange(10).repeat_interleave(k)
            test_x, test_y = x_all[test], torch.arange(10).repeat_interleave(20 - k)
            for start, accuracies in ((None, scratch), (pre, tuned)):
                model = _fine_tune(start, x_all[train], train_y, 10, task)
                accuracies.append(evaluate_accuracy(model, test_x, test_y))
        gaps[k] = float(np.mean(tuned) - np.mean(scratch))
    print("fine-tuning minus scratch by examples per class:", gaps)
    assert gaps[1] > 0.05 and gaps[5] > 0.05, gaps
    assert gaps[15] < gaps[1] and gaps[15] < gaps[5], gaps
