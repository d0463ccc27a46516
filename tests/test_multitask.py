"""mtml_utils.multitask: many independent multi-task regressors trained at once (notebook 03's sweeps)."""

from __future__ import annotations

import pytest
import torch

import mtml_utils as mtml
from mtml_utils.multitask import KINDS, TaskModels, train_task_models


@pytest.mark.parametrize("kind", KINDS)
def test_models_map_members_examples_to_one_output_per_task(kind):
    models = TaskModels(kind, n_members=3, in_features=7, n_tasks=2, hidden=8, n_experts=4)
    assert models(torch.randn(3, 5, 7)).shape == (3, 5, 2)


@pytest.mark.parametrize("kind", KINDS)
def test_a_member_is_the_same_model_whatever_the_number_of_members(kind):
    x = torch.randn(1, 6, 7)
    alone = TaskModels(kind, 1, 7, seeds=[5])
    among = TaskModels(kind, 3, 7, seeds=[4, 5, 6])
    assert torch.allclose(alone(x)[0], among(x.expand(3, -1, -1))[1], atol=1e-6)
    assert not torch.allclose(among(x.expand(3, -1, -1))[0], among(x.expand(3, -1, -1))[1])


def test_mmoe_gates_are_a_softmax_over_experts_and_mix_them():
    models = TaskModels("mmoe", 2, 7, n_tasks=3, hidden=8, n_experts=4)
    x = torch.randn(2, 5, 7)
    out, gates = models(x, return_gates=True)
    assert gates.shape == (2, 3, 5, 4)
    assert torch.all(gates >= 0) and torch.allclose(gates.sum(-1), torch.ones(2, 3, 5))
    # Independent recomputation of member 1, task 2, example 4 from the weights.
    m, t, i = 1, 2, 4
    w_e, b_e = models.experts.weight[m, 0], models.experts.bias[m, 0, 0]
    experts = torch.relu(x[m, i] @ w_e + b_e).view(4, 2)  # 4 experts of width 8 / 4
    logits = (x[m, i] @ models.gates.weight[m, 0] + models.gates.bias[m, 0, 0]).view(3, 4)[t]
    mixed = torch.softmax(logits, 0) @ experts
    hidden = torch.relu(mixed @ models.tower.weight[m, t] + models.tower.bias[m, t, 0])
    expected = hidden @ models.head.weight[m, t, :, 0] + models.head.bias[m, t, 0, 0]
    assert torch.allclose(out[m, i, t], expected, atol=1e-5)
    with pytest.raises(ValueError, match="only MMoE"):
        TaskModels("shared_bottom", 1, 7)(x[:1], return_gates=True)


def test_shared_and_task_parameters_split_the_model():
    sep, sb, mmoe = (TaskModels(k, 1, 7) for k in KINDS)
    assert sep.shared_parameters() == []
    for models in (sep, sb, mmoe):
        both = models.shared_parameters() + models.task_parameters()
        assert sorted(map(id, both)) == sorted(map(id, models.parameters()))
    # Task 0's loss reaches the shared bottom but not task 1's tower.
    sb(torch.randn(1, 4, 7))[..., 0].sum().backward()
    assert sb.bottom.weight.grad.abs().sum() > 0
    assert sb.tower.weight.grad[0, 1].abs().sum() == 0 and sb.tower.weight.grad[0, 0].abs().sum() > 0


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="kind must be one of"):
        TaskModels("cross_stitch", 1, 7)
    with pytest.raises(ValueError, match="n_experts"):
        TaskModels("mmoe", 1, 7, hidden=10, n_experts=4)
    x, y = torch.randn(2, 8, 3), torch.randn(2, 8, 2)
    with pytest.raises(ValueError, match="train_x must be"):
        train_task_models("separate", x[0], y[0], x, y)
    with pytest.raises(ValueError, match="val_x and val_y"):
        train_task_models("separate", x, y, x, y, val_x=x, progress=False)


def _tasks(p_values, n, seeds, data_seed):
    sets = [mtml.correlated_regression_tasks(p, n, d=20, c=1.0, seed=s, data_seed=data_seed + s)
            for p in p_values for s in seeds]
    return torch.stack([t.x for t in sets]), torch.stack([t.y for t in sets])


def test_members_train_independently():
    x, y = _tasks([0.5, 1.0], 64, [0], 0)
    together = train_task_models("shared_bottom", x, y, x, y, n_steps=20, batch_size=64, seeds=[0, 1],
                                 progress=False)
    second = train_task_models("shared_bottom", x[1:], y[1:], x[1:], y[1:], n_steps=20, batch_size=64,
                               seeds=[1], progress=False)
    assert torch.allclose(together.test_mse[1], second.test_mse[0], atol=1e-5)


def test_training_learns_and_early_stopping_reports_the_best_validation_step():
    x, y = _tasks([0.8], 2000, [0, 1], 0)
    vx, vy = _tasks([0.8], 500, [0, 1], 10_000)
    tx, ty = _tasks([0.8], 500, [0, 1], 20_000)
    out = train_task_models("shared_bottom", x, y, tx, ty, val_x=vx, val_y=vy, n_steps=300, eval_every=50,
                            hidden=16, progress=False)
    assert out.test_mse.shape == (2, 2)
    assert torch.all(out.test_mse < 0.5), "targets are standardised: 1.0 is the mean predictor"
    assert set(out.best_step.tolist()) <= {49, 99, 149, 199, 249, 299}
    assert len(out.history["loss"]) == 300 and out.history["loss"][-1] < out.history["loss"][0]


SWEEP = dict(n_steps=800, lr=5e-3, batch_size=256, hidden=4, n_experts=4, eval_every=50, progress=False)


def _relative_loss(p_values, n, kinds, seeds=range(5)):
    """Test MSE of each kind relative to separate models, mean over tasks: (len(p_values), n_seeds)."""
    x, y = _tasks(p_values, n, seeds, 0)
    vx, vy = _tasks(p_values, 1000, seeds, 10_000)
    tx, ty = _tasks(p_values, 2000, seeds, 20_000)
    member_seeds = [s for _ in p_values for s in seeds]
    mse = {k: train_task_models(k, x, y, tx, ty, val_x=vx, val_y=vy, seeds=member_seeds,
                                **{**SWEEP, "hidden": 16 if k == "mmoe" else 4}).test_mse
           for k in ("separate", *kinds)}
    return {k: (mse[k] / mse["separate"]).mean(-1).view(len(p_values), -1) for k in kinds}


def _geometric_mean(ratios: torch.Tensor) -> torch.Tensor:
    """Average of ratios over seeds (last dim) in log space: one failed seed cannot dominate it."""
    return ratios.log().mean(dim=-1).exp()


@pytest.mark.slow
def test_similarity_sweep_orders_the_architectures_as_notebook_03_says():
    """Notebook 03's conclusion, at p in {0, 1} with its laptop sizes: shared-bottom suffers negative transfer
    on dissimilar tasks and much less on identical ones; MMoE stays close to separate models at both."""
    ratios = _relative_loss([0.0, 1.0], 5000, ["shared_bottom", "mmoe"])
    rel = {k: _geometric_mean(v) for k, v in ratios.items()}
    sb, mmoe = rel["shared_bottom"], rel["mmoe"]
    assert sb[0] > 1.5, f"shared-bottom at p=0 should be clearly worse than separate models, got {sb[0]:.2f}"
    assert sb[1] < 0.5 * sb[0], f"shared-bottom: p=1 {sb[1]:.2f} should be far below p=0 {sb[0]:.2f}"
    assert torch.all((mmoe > 0.8) & (mmoe < 1.25)), f"MMoE should stay close to separate models, got {mmoe}"


@pytest.mark.slow
def test_data_sweep_shows_sharing_wins_with_little_data_and_loses_with_much():
    small = _geometric_mean(_relative_loss([0.0], 50, ["shared_bottom"])["shared_bottom"][0])
    large = _geometric_mean(_relative_loss([0.0], 5000, ["shared_bottom"])["shared_bottom"][0])
    assert small < 1.0 < 1.5 < large, f"shared-bottom / separate at p=0: n=50 {small:.2f}, n=5000 {large:.2f}"
