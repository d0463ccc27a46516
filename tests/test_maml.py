"""mtml_utils.maml: the vmap MAML equals the per-task autograd loop, its two orders differ as they should,
the meta-gradient is the derivative of the post-adaptation loss, and the sinusoid tasks are the paper's."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.func import functional_call

from mtml_utils.maml import (
    adapt,
    loss_after_steps,
    maml_loss,
    maml_loss_per_task_loop,
    sinusoid,
    sinusoid_mlp,
    sinusoid_tasks,
)


def _tasks(n=25, k=10, q=10, seed=0, dtype=torch.float32):
    tasks = sinusoid_tasks(n, k, q, generator=torch.Generator().manual_seed(seed))
    return type(tasks)(*(t.to(dtype) for t in vars(tasks).values()))


def _meta_gradient(meta_loss, model, tasks, **kwargs) -> torch.Tensor:
    model.zero_grad()
    meta_loss(model, tasks, **kwargs).backward()
    return torch.cat([p.grad.flatten() for p in model.parameters()])


@pytest.mark.parametrize("first_order", [False, True], ids=["second-order", "first-order"])
@pytest.mark.parametrize("inner_steps", [1, 3])
def test_vmap_matches_the_per_task_loop_to_1e_6(first_order, inner_steps):
    torch.manual_seed(0)
    model, tasks = sinusoid_mlp(), _tasks()
    kwargs = dict(inner_lr=0.01, inner_steps=inner_steps, first_order=first_order)
    fast = _meta_gradient(maml_loss, model, tasks, **kwargs)
    plain = _meta_gradient(maml_loss_per_task_loop, model, tasks, **kwargs)
    assert fast.abs().max() > 0.01, "a meta-gradient worth comparing"
    assert (fast - plain).abs().max() < 1e-6
    assert torch.allclose(maml_loss(model, tasks, **kwargs), maml_loss_per_task_loop(model, tasks, **kwargs),
                          atol=1e-6)


def test_second_and_first_order_differ_far_beyond_rounding_in_float64():
    torch.manual_seed(1)
    model, tasks = sinusoid_mlp().double(), _tasks(dtype=torch.float64)
    second = _meta_gradient(maml_loss, model, tasks, inner_lr=0.01, first_order=False)
    first = _meta_gradient(maml_loss, model, tasks, inner_lr=0.01, first_order=True)
    assert (second - first).abs().max() > 1e-4 > 1e-10 * second.abs().max()


def test_meta_gradient_is_the_derivative_of_the_loss_after_adaptation_by_finite_differences():
    """Second order: d/dtheta of L_query(theta - alpha * grad L_support(theta)), along a random direction."""
    torch.manual_seed(2)
    model, tasks = sinusoid_mlp().double(), _tasks(n=4, dtype=torch.float64)
    kwargs = dict(inner_lr=0.05, inner_steps=2)
    meta_grad = _meta_gradient(maml_loss, model, tasks, **kwargs)
    direction = torch.randn_like(meta_grad)
    theta = torch.nn.utils.parameters_to_vector(model.parameters()).detach()
    eps, losses = 1e-6, []
    for sign in (1, -1):
        torch.nn.utils.vector_to_parameters(theta + sign * eps * direction, model.parameters())
        losses.append(float(maml_loss(model, tasks, **kwargs).detach()))
    numeric = (losses[0] - losses[1]) / (2 * eps)
    assert math.isclose(float(meta_grad @ direction), numeric, rel_tol=1e-6)


def test_first_order_gradient_is_the_query_gradient_at_the_adapted_parameters():
    torch.manual_seed(3)
    model, tasks = sinusoid_mlp().double(), _tasks(n=1, dtype=torch.float64)
    meta_grad = _meta_gradient(maml_loss, model, tasks, inner_lr=0.1, first_order=True)
    params = {k: v.detach() for k, v in model.named_parameters()}
    phi = adapt(model, params, tasks.support_x[0], tasks.support_y[0], inner_lr=0.1, inner_steps=1)
    phi = {k: v.detach().requires_grad_() for k, v in phi.items()}
    F.mse_loss(functional_call(model, phi, (tasks.query_x[0],)), tasks.query_y[0]).backward()
    expected = torch.cat([phi[k].grad.flatten() for k, _ in model.named_parameters()])
    assert torch.allclose(meta_grad, expected, atol=1e-12)


def test_adapt_is_functional_and_steps_downhill():
    torch.manual_seed(4)
    model, tasks = sinusoid_mlp(), _tasks(n=1, k=20)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    x, y = tasks.support_x[0], tasks.support_y[0]
    phi = adapt(model, dict(model.named_parameters()), x, y, inner_lr=0.01, inner_steps=5)
    for k, v in model.named_parameters():
        assert torch.equal(v, before[k]), f"adapt changed the model's own parameter {k}"
    loss = lambda p: F.mse_loss(functional_call(model, p, (x,)), y).item()  # noqa: E731
    assert loss(phi) < loss(before)
    assert adapt(model, before, x, y, inner_lr=0.01, inner_steps=0) is before


def test_loss_after_steps_matches_sequential_fine_tuning():
    torch.manual_seed(5)
    model, tasks = sinusoid_mlp(), _tasks(n=6, k=5, q=20)
    curves = loss_after_steps(model, tasks, inner_lr=0.02, steps=[0, 1, 4])
    assert curves.shape == (3, 6)
    params = {k: v.detach() for k, v in model.named_parameters()}
    for t in range(6):
        x, y, qx, qy = tasks.support_x[t], tasks.support_y[t], tasks.query_x[t], tasks.query_y[t]
        for row, n in enumerate([0, 1, 4]):
            phi = adapt(model, params, x, y, inner_lr=0.02, inner_steps=n)
            expected = F.mse_loss(functional_call(model, phi, (qx,)), qy)
            assert torch.allclose(curves[row, t], expected, atol=1e-5)
    with pytest.raises(ValueError, match="increasing"):
        loss_after_steps(model, tasks, inner_lr=0.02, steps=[5, 1])


def test_sinusoid_tasks_follow_the_paper_and_are_reproducible():
    tasks = sinusoid_tasks(2000, 5, 7, generator=torch.Generator().manual_seed(0))
    assert tasks.support_x.shape == (2000, 5, 1) and tasks.query_y.shape == (2000, 7, 1)
    assert len(tasks) == 2000
    assert 0.1 <= tasks.amplitude.min() and tasks.amplitude.max() <= 5.0
    assert 0.0 <= tasks.phase.min() and tasks.phase.max() <= math.pi
    assert -5.0 <= tasks.query_x.min() and tasks.query_x.max() <= 5.0
    assert tasks.amplitude.mean().sub(2.55).abs() < 0.1, "amplitudes uniform on [0.1, 5]"
    expected = tasks.amplitude.view(-1, 1, 1) * torch.sin(tasks.support_x - tasks.phase.view(-1, 1, 1))
    assert torch.allclose(tasks.support_y, expected)
    assert torch.equal(sinusoid(tasks.query_x, tasks.amplitude, tasks.phase), tasks.query_y)
    again = sinusoid_tasks(2000, 5, 7, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again.query_y, tasks.query_y)
    with pytest.raises(ValueError, match="k_shot"):
        sinusoid_tasks(3, 0, 5)


def test_a_few_hundred_maml_steps_make_one_step_of_adaptation_pay():
    """Meta-training lowers the held-out loss after one inner step well below its starting value."""
    torch.manual_seed(6)
    model = sinusoid_mlp()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(6)
    held_out = sinusoid_tasks(200, 10, 20, generator=torch.Generator().manual_seed(99))
    start = loss_after_steps(model, held_out, inner_lr=0.01, steps=[1]).mean()
    for _ in range(300):
        optimizer.zero_grad()
        maml_loss(model, sinusoid_tasks(25, 10, 10, generator=generator), inner_lr=0.01).backward()
        optimizer.step()
    after = loss_after_steps(model, held_out, inner_lr=0.01, steps=[1]).mean()
    assert after < 0.6 * start


def test_classification_episodes_with_cross_entropy_and_an_accuracy_score():
    """maml_loss and loss_after_steps take any batch with support/query fields, e.g. Omniglot episodes."""
    from mtml_utils.episodes import Episodes

    torch.manual_seed(7)
    b, n, k, q = 3, 4, 2, 5
    labels = lambda m: torch.arange(n).repeat_interleave(m).expand(b, n * m).clone()  # noqa: E731
    centres = torch.randn(b, n, 6)
    episodes = Episodes(support_x=centres.repeat_interleave(k, 1) + 0.05 * torch.randn(b, n * k, 6),
                        support_y=labels(k),
                        query_x=centres.repeat_interleave(q, 1) + 0.05 * torch.randn(b, n * q, 6),
                        query_y=labels(q), classes=torch.zeros(b, n, dtype=torch.long),
                        support_index=torch.zeros(b, n * k, dtype=torch.long),
                        query_index=torch.zeros(b, n * q, dtype=torch.long))
    model = torch.nn.Linear(6, n)
    kwargs = dict(inner_lr=0.5, inner_steps=2, loss_fn=F.cross_entropy)
    fast = _meta_gradient(maml_loss, model, episodes, **kwargs)
    plain = _meta_gradient(maml_loss_per_task_loop, model, episodes, **kwargs)
    assert (fast - plain).abs().max() < 1e-6
    accuracy = lambda logits, y: (logits.argmax(-1) == y).float().mean()  # noqa: E731
    scores = loss_after_steps(model, episodes, inner_lr=1.0, steps=[0, 20], loss_fn=F.cross_entropy,
                              score_fn=accuracy)
    assert scores.shape == (2, b)
    assert (scores[1] == 1.0).all() and scores[0].mean() < 0.9, "fine-tuning on the support separates them"
