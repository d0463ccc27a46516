"""MAML on a whole meta-batch at once with ``torch.func``, and the sinusoid tasks of Finn et al. (2017).

The inner loop is written for **one task**, functionally: parameters are a dict passed explicitly, the
model is run with :func:`torch.func.functional_call`, and each inner step is ``phi - lr * grad`` with
:func:`torch.func.grad`. :func:`torch.func.vmap` then runs it on every task of the meta-batch in one go
(no Python loop over tasks), and ordinary autograd differentiates the mean query loss with respect to the
model's parameters: through the inner gradients (second-order MAML, the Hessian term included) or, with
``first_order=True``, treating them as constants (first-order MAML).

:func:`maml_loss_per_task_loop` computes the same loss with a Python loop over tasks and
``torch.autograd.grad(create_graph=True)``: the plain reference the fast version is tested against, and
the baseline of ``benchmarks/maml_step.py``.

Example:
    >>> torch.manual_seed(0)  # doctest: +SKIP
    >>> model = sinusoid_mlp()
    >>> tasks = sinusoid_tasks(25, k_shot=10, k_query=10)
    >>> loss = maml_loss(model, tasks, inner_lr=0.01, inner_steps=1)
    >>> loss.backward()  # model's .grad now holds the second-order meta-gradient
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, grad, vmap

Params = dict[str, torch.Tensor]
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

AMPLITUDE_RANGE = (0.1, 5.0)  # Finn et al. (2017), section 5.1
PHASE_RANGE = (0.0, math.pi)
INPUT_RANGE = (-5.0, 5.0)


class TaskBatch(Protocol):
    """Any batch of tasks with support and query tensors whose first dimension is the task: the sinusoid
    :class:`RegressionTasks`, or the Omniglot :class:`mtml_utils.episodes.Episodes` (with a classification
    ``loss_fn`` such as ``F.cross_entropy``)."""

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor


@dataclass(frozen=True)
class RegressionTasks:
    """A batch of ``T`` regression tasks, each with its own support and query sets.

    Shapes: ``support_x``, ``support_y`` ``(T, K, 1)``; ``query_x``, ``query_y`` ``(T, Q, 1)``.
    ``amplitude`` and ``phase`` ``(T,)`` describe the sinusoid behind each task.
    """

    support_x: torch.Tensor
    support_y: torch.Tensor
    query_x: torch.Tensor
    query_y: torch.Tensor
    amplitude: torch.Tensor
    phase: torch.Tensor

    def __len__(self) -> int:
        return self.support_x.shape[0]


def sinusoid(x: torch.Tensor, amplitude: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
    """``amplitude * sin(x - phase)``, broadcasting ``(T,)`` task parameters over ``x`` ``(T, n, 1)``."""
    return amplitude.view(-1, 1, 1) * torch.sin(x - phase.view(-1, 1, 1))


def sinusoid_tasks(
    n_tasks: int,
    k_shot: int,
    k_query: int,
    *,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> RegressionTasks:
    """Sample sinusoid regression tasks: amplitude ~ U[0.1, 5], phase ~ U[0, pi], inputs ~ U[-5, 5].

    Args:
        n_tasks: tasks in the batch (the meta-batch size, e.g. 25).
        k_shot: support points per task (K = 5 or 10 in the paper).
        k_query: query points per task.
        generator: a CPU generator for reproducible tasks (default: torch's global one).
        device: where the returned tensors live (drawn on the CPU, so every device sees the same tasks).

    Example:
        >>> tasks = sinusoid_tasks(3, k_shot=5, k_query=10, generator=torch.Generator().manual_seed(0))
        >>> tuple(tasks.support_x.shape), tuple(tasks.query_y.shape)
        ((3, 5, 1), (3, 10, 1))
    """
    if n_tasks < 1 or k_shot < 1 or k_query < 1:
        raise ValueError(f"Need n_tasks, k_shot, k_query >= 1; got {n_tasks}, {k_shot}, {k_query}.")

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=generator)

    amplitude, phase = uniform(*AMPLITUDE_RANGE, n_tasks), uniform(*PHASE_RANGE, n_tasks)
    support_x = uniform(*INPUT_RANGE, n_tasks, k_shot, 1)
    query_x = uniform(*INPUT_RANGE, n_tasks, k_query, 1)
    tensors = (support_x, sinusoid(support_x, amplitude, phase), query_x, sinusoid(query_x, amplitude, phase),
               amplitude, phase)
    return RegressionTasks(*(t.to(device) for t in tensors))


def sinusoid_mlp(hidden: int = 40) -> nn.Sequential:
    """The paper's regressor: 1 -> hidden -> hidden -> 1 with ReLU (``hidden = 40``)."""
    return nn.Sequential(nn.Linear(1, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 1))


def adapt(
    model: nn.Module,
    params: Params,
    x: torch.Tensor,
    y: torch.Tensor,
    *,
    inner_lr: float,
    inner_steps: int,
    first_order: bool = False,
    loss_fn: LossFn = F.mse_loss,
) -> Params:
    """Inner loop for one task: ``inner_steps`` gradient steps from ``params`` on ``(x, y)``, functionally.

    Args:
        model: only its architecture is used (its own parameters are not read or changed).
        params: the starting point, ``{name: tensor}`` (e.g. ``dict(model.named_parameters())``).
        x, y: the task's support set.
        inner_lr: step size alpha.
        inner_steps: number of steps (0 returns ``params``).
        first_order: treat the inner gradients as constants (no Hessian term in the meta-gradient).
        loss_fn: the task loss (mean squared error by default).

    Returns:
        The adapted parameters phi, differentiable with respect to ``params`` (except through the inner
        gradients when ``first_order``). Works under :func:`torch.func.vmap`.
    """

    def support_loss(p: Params) -> torch.Tensor:
        return loss_fn(functional_call(model, p, (x,)), y)

    phi = params
    for _ in range(inner_steps):
        g = grad(support_loss)(phi)
        if first_order:
            g = {k: v.detach() for k, v in g.items()}
        phi = {k: phi[k] - inner_lr * g[k] for k in phi}
    return phi


def maml_loss(
    model: nn.Module,
    tasks: TaskBatch,
    *,
    inner_lr: float,
    inner_steps: int = 1,
    first_order: bool = False,
    loss_fn: LossFn = F.mse_loss,
) -> torch.Tensor:
    """Mean query loss after adaptation over a batch of tasks, all tasks at once (``vmap``).

    Call ``.backward()`` on it to get the MAML meta-gradient in the model's ``.grad``: second order by
    default, first order with ``first_order=True``. Arguments as in :func:`adapt`.

    Example:
        >>> model, tasks = sinusoid_mlp(), sinusoid_tasks(4, 5, 5)
        >>> maml_loss(model, tasks, inner_lr=0.01).shape
        torch.Size([])
    """
    params = dict(model.named_parameters())

    def task_loss(sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor) -> torch.Tensor:
        phi = adapt(model, params, sx, sy, inner_lr=inner_lr, inner_steps=inner_steps,
                    first_order=first_order, loss_fn=loss_fn)
        return loss_fn(functional_call(model, phi, (qx,)), qy)

    losses = vmap(task_loss)(tasks.support_x, tasks.support_y, tasks.query_x, tasks.query_y)  # (T,)
    return losses.mean()


def maml_loss_per_task_loop(
    model: nn.Module,
    tasks: TaskBatch,
    *,
    inner_lr: float,
    inner_steps: int = 1,
    first_order: bool = False,
    loss_fn: LossFn = F.mse_loss,
) -> torch.Tensor:
    """The same loss as :func:`maml_loss`, one task at a time with ``torch.autograd.grad``: the reference.

    The inner gradients are taken with ``create_graph=not first_order``, so that the meta-gradient
    flows through them in second-order MAML.
    """
    names, theta = zip(*model.named_parameters(), strict=True)

    def run(phi: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(model, dict(zip(names, phi, strict=True)), (x,))

    losses = []
    for t in range(len(tasks.support_x)):
        phi = list(theta)
        for _ in range(inner_steps):
            support = loss_fn(run(phi, tasks.support_x[t]), tasks.support_y[t])
            grads = torch.autograd.grad(support, phi, create_graph=not first_order)
            phi = [p - inner_lr * g for p, g in zip(phi, grads, strict=True)]
        losses.append(loss_fn(run(phi, tasks.query_x[t]), tasks.query_y[t]))
    return torch.stack(losses).mean()


@torch.no_grad()
def loss_after_steps(
    model: nn.Module,
    tasks: TaskBatch,
    *,
    inner_lr: float,
    steps: list[int],
    loss_fn: LossFn = F.mse_loss,
    score_fn: LossFn | None = None,
) -> torch.Tensor:
    """Query loss of every task after each number of fine-tuning steps in ``steps``: ``(len(steps), T)``.

    Plain gradient descent with ``loss_fn`` on each task's support set from the model's parameters (how a
    meta-learned or a pre-trained model is evaluated on held-out tasks), all tasks at once. The query set
    is scored with ``score_fn(prediction, target)`` (default: ``loss_fn``; e.g. an accuracy).

    Example:
        >>> loss_after_steps(sinusoid_mlp(), sinusoid_tasks(8, 5, 20), inner_lr=0.01, steps=[0, 1, 10]).shape
        torch.Size([3, 8])
    """
    if sorted(steps) != list(steps) or (steps and steps[0] < 0):
        raise ValueError(f"steps must be non-negative and increasing, got {steps}.")
    params = {k: v.detach() for k, v in model.named_parameters()}

    def curve(sx: torch.Tensor, sy: torch.Tensor, qx: torch.Tensor, qy: torch.Tensor) -> torch.Tensor:
        phi, done, out = params, 0, []
        for n in steps:
            with torch.enable_grad():  # grad() below needs autograd on, even though nothing here is kept
                phi = adapt(model, phi, sx, sy, inner_lr=inner_lr, inner_steps=n - done, first_order=True,
                            loss_fn=loss_fn)
            done = n
            out.append((score_fn or loss_fn)(functional_call(model, phi, (qx,)), qy))
        return torch.stack(out)

    return vmap(curve)(tasks.support_x, tasks.support_y, tasks.query_x, tasks.query_y).T  # (T, S) -> (S, T)
