"""Training loops: a plain history, a progress bar, the same code on CPU and CUDA."""

from __future__ import annotations

import pytest
import torch

from mtml_utils.training import History, accuracy, fit, run_training

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def test_run_training_records_every_step_in_order():
    seen = []
    history = run_training(lambda i: seen.append(i) or {"loss": torch.tensor(10.0 - i)}, 7, progress=False)
    assert seen == list(range(7))
    assert history.steps("loss") == list(range(7))
    assert history["loss"] == [10.0 - i for i in range(7)]
    assert all(isinstance(v, float) for r in history for v in r.values())


def test_evaluation_runs_periodically_and_after_the_last_step():
    calls = []
    history = run_training(lambda i: {"loss": 1.0}, 10, eval_fn=lambda: calls.append(1) or {"acc": 0.5},
                           eval_every=4, progress=False)
    assert history.steps("acc") == [3, 7, 9]
    assert len(calls) == 3
    assert history.last("acc") == 0.5


def test_history_explains_a_missing_metric():
    with pytest.raises(KeyError, match="has \\['loss', 'step'\\]"):
        History([{"step": 0, "loss": 1.0}])["accuracy"]


def test_zero_steps_is_refused():
    with pytest.raises(ValueError, match="at least 1"):
        run_training(lambda i: {}, 0)


@pytest.mark.parametrize("device", DEVICES)
def test_fit_minimises_a_regression_loss_and_returns_extra_metrics(device):
    torch.manual_seed(0)
    x = torch.randn(64, 3, device=device)
    y = x @ torch.tensor([1.0, -2.0, 0.5], device=device)
    model = torch.nn.Linear(3, 1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=0.05)

    def loss_fn(step):
        err = model(x).squeeze(1) - y
        return (err**2).mean(), {"max_error": err.abs().max()}

    history = fit(loss_fn, opt, 300, progress=False)
    assert history["loss"][-1] < 1e-3 < history["loss"][0]
    assert history.keys() == {"step", "loss", "max_error"}


def test_progress_bar_is_shown_with_its_description(capsys):
    run_training(lambda i: {"loss": 1.0}, 3, desc="warm-up")
    assert "warm-up" in capsys.readouterr().err


def test_accuracy():
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    assert accuracy(logits, torch.tensor([0, 1, 2, 2])).item() == 0.75
