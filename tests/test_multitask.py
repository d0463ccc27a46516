"""mtml_utils.multitask: many independent multi-task regressors trained at once (notebook 03's sweeps)."""

from __future__ import annotations

import pytest
import torch

import mtml_utils as mtml
from mtml_utils.multitask import KINDS, TaskModels, count_parameters, train_task_models, width_for_budget


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
    with pytest.raises(ValueError, match="only OMoE and MMoE"):
        TaskModels("shared_bottom", 1, 7)(x[:1], return_gates=True)


def test_shared_and_task_parameters_split_the_model():
    sep, sb, omoe, mmoe = (TaskModels(k, 1, 7) for k in KINDS)
    assert sep.shared_parameters() == []
    assert any(p is omoe.gates.weight for p in omoe.shared_parameters()), "OMoE's one gate serves every task"
    assert all(p is not mmoe.gates.weight for p in mmoe.shared_parameters())
    for models in (sep, sb, omoe, mmoe):
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


@pytest.mark.parametrize("kind", KINDS)
def test_count_parameters_matches_the_model(kind):
    for hidden in (4, 8, 16):
        models = TaskModels(kind, 1, 11, n_tasks=3, hidden=hidden, tower_hidden=5, n_experts=4)
        expected = sum(p.numel() for p in models.parameters())
        assert count_parameters(kind, 11, 3, hidden=hidden, tower_hidden=5, n_experts=4) == expected


def test_width_for_budget_picks_the_closest_size():
    for kind in KINDS:
        h = width_for_budget(kind, 600, 20)
        best = count_parameters(kind, 20, hidden=h)
        step = 4 if kind in ("omoe", "mmoe") else 1
        for other in (h - step, h + step):
            if other >= step:
                assert abs(best - 600) <= abs(count_parameters(kind, 20, hidden=other) - 600)


def test_omoe_gives_every_task_the_same_gate_mmoe_one_each():
    x = torch.randn(2, 5, 7)
    _, omoe_gates = TaskModels("omoe", 2, 7, n_tasks=3, hidden=8)(x, return_gates=True)
    _, mmoe_gates = TaskModels("mmoe", 2, 7, n_tasks=3, hidden=8)(x, return_gates=True)
    assert omoe_gates.shape == mmoe_gates.shape == (2, 3, 5, 4)
    assert torch.equal(omoe_gates[:, 0], omoe_gates[:, 2])
    assert not torch.allclose(mmoe_gates[:, 0], mmoe_gates[:, 2])


@pytest.mark.parametrize("kind", KINDS)
def test_per_task_inputs_give_task_t_the_prediction_for_its_own_row(kind):
    """(M, T, n, d) inputs: column t of the output equals the shared-input output on row t's inputs."""
    models = TaskModels(kind, 2, 7, n_tasks=3, hidden=8)
    x = torch.randn(2, 3, 5, 7)
    out = models(x)
    assert out.shape == (2, 5, 3)
    for t in range(3):
        assert torch.allclose(out[..., t], models(x[:, t])[..., t], atol=1e-6)
    with pytest.raises(ValueError, match="per-task inputs"):
        models(torch.randn(2, 2, 5, 7))


def test_coupling_penalty_is_the_sum_of_pairwise_squared_distances():
    models = TaskModels("separate", 2, 4, n_tasks=3, hidden=5)
    w, b = models.bottom.weight, models.bottom.bias  # (M, T, in, out), (M, T, 1, out)
    expected = sum((w[:, i] - w[:, j]).pow(2).sum(dim=(1, 2)) + (b[:, i] - b[:, j]).pow(2).sum(dim=(1, 2))
                   for i in range(3) for j in range(i + 1, 3))
    assert torch.allclose(models.coupling_penalty(), expected, rtol=1e-5)
    with pytest.raises(ValueError, match="soft sharing couples separate networks"):
        TaskModels("shared_bottom", 1, 4).coupling_penalty()


def test_a_strong_coupling_keeps_separate_bottoms_equal_and_zero_lets_them_apart():
    x = torch.randn(2, 2, 64, 5)  # per-task inputs
    y = torch.randn(2, 64, 2)
    run = train_task_models("separate", x, y, x, y, n_steps=100, coupling=torch.tensor([0.0, 100.0]),
                            hidden=6, progress=False)
    w = run.models.bottom.weight.detach()  # (M, T, 5, 6)
    apart, tied = ((w[m, 0] - w[m, 1]).abs().max() for m in (0, 1))
    assert tied < 0.05 * apart, f"coupling 100 should tie the bottoms: {tied:.4f} vs {apart:.4f} apart"
    with pytest.raises(ValueError, match="coupling"):
        train_task_models("shared_bottom", x, y, x, y, n_steps=1, coupling=1.0, progress=False)


def test_the_docstring_examples_run():
    import doctest

    import mtml_utils.multitask

    assert doctest.testmod(mtml_utils.multitask).failed == 0
