"""mtml_utils.recommendation: seeds trained as one batch, gate dropout."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from mtml_utils.recommendation import GateDropout, train_seeds


def test_gate_dropout_zeroes_about_p_of_the_weights_and_renormalises() -> None:
    torch.manual_seed(0)
    layer = GateDropout(0.1)
    weights = torch.softmax(layer(torch.zeros(20000, 4)), dim=-1)                # (n, 4)
    torch.testing.assert_close(weights.sum(dim=-1), torch.ones(20000))
    assert (weights == 0).float().mean().item() == pytest.approx(0.1, abs=0.01)
    kept = weights[weights > 0]
    assert kept.min() >= 0.25 - 1e-6   # the survivors share the dropped weight
    layer.eval()
    logits = torch.randn(5, 4)
    assert torch.equal(layer(logits), logits)


def test_gate_dropout_never_drops_every_expert() -> None:
    torch.manual_seed(1)
    weights = torch.softmax(GateDropout(0.9)(torch.zeros(5000, 2)), dim=-1)
    assert torch.isfinite(weights).all() and torch.allclose(weights.sum(dim=-1), torch.ones(5000))
    with pytest.raises(ValueError, match="p must be in"):
        GateDropout(1.0)


def test_train_seeds_equals_separate_runs() -> None:
    torch.manual_seed(0)
    x, y = torch.randn(3, 40, 5), torch.randn(3, 40, 1)                           # (S, n, 5), (S, n, 1)
    models = [nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1)) for _ in range(3)]
    alone = [nn.Sequential(nn.Linear(5, 8), nn.ReLU(), nn.Linear(8, 1)) for _ in range(3)]
    for a, m in zip(alone, models, strict=True):
        a.load_state_dict(m.state_dict())
    history = train_seeds(models, x, lambda out: ((out - y) ** 2).mean(dim=(1, 2)), 30, lr=0.01,
                          lr_factors={"2.": 3.0}, progress=False)
    assert len(history) == 30
    for s, a in enumerate(alone):
        groups = [{"params": a[0].parameters()}, {"params": a[2].parameters(), "lr": 0.03}]
        optimizer = torch.optim.Adam(groups, lr=0.01)
        for _ in range(30):
            optimizer.zero_grad()
            ((a(x[s]) - y[s]) ** 2).mean().backward()
            optimizer.step()
        for p, q in zip(a.parameters(), models[s].parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)


def test_train_seeds_checks_its_inputs() -> None:
    with pytest.raises(ValueError, match="one row per model"):
        train_seeds([nn.Linear(2, 1)], torch.zeros(2, 5, 2), lambda out: out.mean(dim=(1, 2)), 1,
                    progress=False)
