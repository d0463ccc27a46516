"""Many small multi-task regressors trained at once, for the sweeps of notebook 03.

A sweep over task similarity ``p`` trains three architectures for every ``p`` and every seed. One
model at a time, that is hundreds of tiny training runs whose Python overhead dominates on a laptop.
Here every weight carries a leading *member* dimension ``M``: member ``i`` is an independent model
(its own initialisation, its own data), and one batched matrix product trains all of them per step.

The architectures of the MMoE paper (Ma et al., 2018), all for ``T`` regression tasks:

* ``"separate"``: one MLP per task, nothing shared (``theta_shared`` is empty); with ``coupling > 0`` the
  bottoms are tied softly by ``coupling * sum_{i<j} ||theta^i - theta^j||^2`` (soft parameter sharing);
* ``"shared_bottom"``: a shared hidden layer (``theta_shared``) and one tower per task (``theta_task``);
* ``"omoe"``: ``n_experts`` shared experts mixed by **one** softmax gate for all tasks, a tower per task;
* ``"mmoe"``: ``n_experts`` shared experts, and per task a softmax gate over the experts and a tower.

Inputs are either shared by the tasks, ``x`` of shape ``(M, n, d)`` (every example labelled for every task,
as in the MMoE paper), or the tasks' own, ``x`` of shape ``(M, T, n, d)`` (row ``t`` labelled for task ``t``
only: sharing then pools examples that a separate network never sees). :func:`count_parameters` and
:func:`width_for_budget` size the architectures so that they compare at the same number of parameters.

These are infrastructure, written for throughput (one einsum per layer for all members); notebook 02
builds the same ideas one readable ``nn.Module`` at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn as nn

from mtml_utils.training import History, run_training

KINDS = ("separate", "shared_bottom", "omoe", "mmoe")
MIXTURES = ("omoe", "mmoe")


class GroupLinear(nn.Module):
    """Independent linear layers for a grid of groups: ``weight`` is ``(*groups, in, out)``.

    ``forward(x)`` with ``x`` of shape ``(*groups', n, in)``, where ``groups'`` broadcasts against
    ``groups`` (e.g. ``(M, 1)`` against ``(M, T)``), returns ``(*groups, n, out)``. Each group is
    initialised like ``nn.Linear`` (uniform in ``±1/sqrt(in)``), member by member from ``generators``
    so that member ``i`` gets the same weights whatever the number of members.
    """

    def __init__(self, generators: list[torch.Generator], groups: tuple[int, ...], in_features: int,
                 out_features: int):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)

        def draw(*shape: int) -> torch.Tensor:
            per_member = [(torch.rand(*shape, generator=g) * 2 - 1) * bound for g in generators]
            return torch.stack(per_member)  # (M, *shape)

        self.weight = nn.Parameter(draw(*groups, in_features, out_features))  # (M, *groups, in, out)
        self.bias = nn.Parameter(draw(*groups, 1, out_features))  # (M, *groups, 1, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.matmul(x, self.weight) + self.bias


class TaskModels(nn.Module):
    """``n_members`` independent multi-task regressors of one architecture (see the module docstring).

    Args:
        kind: ``"separate"``, ``"shared_bottom"``, ``"omoe"`` or ``"mmoe"``.
        n_members: number of independent models (e.g. one per seed).
        in_features: input dimension ``d``.
        n_tasks: number of regression tasks ``T`` (one output each).
        hidden: width of the shared bottom, of each separate network's hidden layer, and the total width of
            the experts of OMoE and MMoE (``hidden // n_experts`` units each). Use :func:`width_for_budget`
            to compare kinds at the same number of parameters.
        tower_hidden: width of each task tower's hidden layer.
        n_experts: experts of OMoE and MMoE (ignored by the other kinds).
        seeds: one initialisation seed per member (default ``0 … n_members-1``).

    ``forward(x)`` takes shared inputs ``(M, n, d)`` or per-task inputs ``(M, T, n, d)`` and returns
    ``(M, n, T)`` (column ``t`` is task ``t``'s prediction for its own row of ``x``);
    ``forward(x, return_gates=True)`` (OMoE, MMoE) also returns the gate weights ``(M, T, n, n_experts)``.

    Example:
        >>> models = TaskModels("mmoe", n_members=3, in_features=10, n_tasks=2)
        >>> models(torch.randn(3, 5, 10)).shape
        torch.Size([3, 5, 2])
    """

    def __init__(self, kind: str, n_members: int, in_features: int, n_tasks: int = 2, *, hidden: int = 32,
                 tower_hidden: int = 8, n_experts: int = 4, seeds: list[int] | None = None):
        super().__init__()
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r}.")
        seeds = list(range(n_members)) if seeds is None else list(seeds)
        if len(seeds) != n_members or n_members < 1:
            raise ValueError(f"need n_members >= 1 and one seed per member; got {n_members} members, "
                             f"{len(seeds)} seeds.")
        if kind in MIXTURES and hidden % n_experts:
            raise ValueError(f"hidden={hidden} must split evenly into n_experts={n_experts} experts.")
        gens = [torch.Generator().manual_seed(s) for s in seeds]
        self.kind, self.n_tasks, self.n_experts = kind, n_tasks, n_experts
        if kind == "separate":
            self.bottom = GroupLinear(gens, (n_tasks,), in_features, hidden)  # one bottom per task
            width = hidden
        elif kind == "shared_bottom":
            self.bottom = GroupLinear(gens, (1,), in_features, hidden)
            width = hidden
        else:
            width = hidden // n_experts
            # All experts in one layer (and all gates in another): one matrix product each per step.
            self.experts = GroupLinear(gens, (1,), in_features, n_experts * width)
            n_gates = n_tasks if kind == "mmoe" else 1  # OMoE: one gate shared by every task
            self.gates = GroupLinear(gens, (1,), in_features, n_gates * n_experts)
        self.tower = GroupLinear(gens, (n_tasks,), width, tower_hidden)
        self.head = GroupLinear(gens, (n_tasks,), tower_hidden, 1)

    def shared_parameters(self) -> list[nn.Parameter]:
        """``theta_shared``: what every task's loss moves (empty for separate networks)."""
        if self.kind == "separate":
            return []
        if self.kind == "shared_bottom":
            return list(self.bottom.parameters())
        gates = list(self.gates.parameters()) if self.kind == "omoe" else []  # OMoE's one gate serves all
        return list(self.experts.parameters()) + gates

    def task_parameters(self) -> list[nn.Parameter]:
        """``theta_task``: parameters indexed by task (bottoms of separate networks, gates, towers)."""
        shared = {id(p) for p in self.shared_parameters()}
        return [p for p in self.parameters() if id(p) not in shared]

    def forward(self, x: torch.Tensor, return_gates: bool = False):
        per_task = x.dim() == 4  # (M, T, n, d): each task reads its own inputs
        if per_task and x.shape[1] != self.n_tasks:
            raise ValueError(f"per-task inputs must be (M, T={self.n_tasks}, n, d); got {tuple(x.shape)}.")
        x = x if per_task else x.unsqueeze(1)  # (M, T or 1, n, d): broadcasts over tasks
        gates = None
        if self.kind in MIXTURES:
            m, g, n, _ = x.shape
            experts = torch.relu(self.experts(x)).view(m, g, n, self.n_experts, -1)  # (M, T|1, n, E, width)
            logits = self.gates(x).view(m, g, n, -1, self.n_experts)  # (M, T or 1, n, gates, E)
            if self.kind == "omoe":
                logits = logits[:, :, :, 0].expand(m, self.n_tasks, n, self.n_experts)  # (M, T, n, E)
            elif g == 1:
                logits = logits[:, 0].transpose(1, 2)  # (M, T, n, E): gate t on the shared inputs
            else:  # gate t on task t's own inputs: the diagonal of (input row, gate)
                logits = logits.diagonal(dim1=1, dim2=3).permute(0, 3, 1, 2)  # (M, T, n, E)
            gates = torch.softmax(logits, dim=-1)  # a distribution over the experts, per task and example
            # sum_e gate_e * expert_e, as broadcast products (cheaper than an einsum over tiny matrices)
            h = (gates.unsqueeze(-1) * experts).sum(dim=3)  # (M, T, n, width)
        else:
            h = torch.relu(self.bottom(x))  # (M, T or 1, n, hidden)
        out = self.head(torch.relu(self.tower(h)))  # (M, T, n, 1)
        out = out.squeeze(-1).transpose(1, 2)  # (M, n, T)
        if return_gates:
            if gates is None:
                raise ValueError(f"only OMoE and MMoE have gates; this is {self.kind!r}.")
            return out, gates
        return out

    def coupling_penalty(self) -> torch.Tensor:
        """``sum_{i<j} ||theta^i - theta^j||^2`` over the separate bottoms, per member: ``(M,)``.

        Soft parameter sharing adds ``coupling *`` this to the loss: 0 leaves the networks separate, a large
        coupling pulls every task's bottom onto one (a hard-shared bottom of the same width). Uses
        ``sum_{i<j} ||a_i - a_j||^2 = T sum_i ||a_i - mean(a)||^2``.
        """
        if self.kind != "separate":
            raise ValueError(f"soft sharing couples separate networks; this is {self.kind!r}.")
        total = 0
        for w in (self.bottom.weight, self.bottom.bias):  # (M, T, a, b)
            spread = (w - w.mean(dim=1, keepdim=True)).pow(2).sum(dim=(1, 2, 3))  # (M,)
            total = total + self.n_tasks * spread
        return total


def count_parameters(kind: str, in_features: int, n_tasks: int = 2, *, hidden: int = 32,
                     tower_hidden: int = 8, n_experts: int = 4) -> int:
    """Parameters of one member of :class:`TaskModels` (all tasks together).

    Example:
        >>> count_parameters("shared_bottom", 20, hidden=8, tower_hidden=8)  # 168 + 2 * (72 + 9)
        330
    """
    layer = lambda i, o: i * o + o  # noqa: E731  (weights and bias of one linear layer)
    towers = n_tasks * (layer(hidden // n_experts if kind in MIXTURES else hidden, tower_hidden)
                        + layer(tower_hidden, 1))
    if kind == "separate":
        return n_tasks * layer(in_features, hidden) + towers
    if kind == "shared_bottom":
        return layer(in_features, hidden) + towers
    n_gates = n_tasks if kind == "mmoe" else 1
    return layer(in_features, hidden) + layer(in_features, n_gates * n_experts) + towers


def width_for_budget(kind: str, n_params: int, in_features: int, n_tasks: int = 2, *, tower_hidden: int = 8,
                     n_experts: int = 4) -> int:
    """The ``hidden`` width whose :func:`count_parameters` is closest to ``n_params`` (a multiple of
    ``n_experts`` for the mixtures), so that architectures compare at the same size.

    Example:
        >>> width_for_budget("separate", 330, 20, tower_hidden=8)  # 2 * 105 + 2 * (48 + 9) = 324
        5
    """
    step = n_experts if kind in MIXTURES else 1
    widths = range(step, 64 * step + 1, step)
    return min(widths, key=lambda h: abs(count_parameters(kind, in_features, n_tasks, hidden=h,
                                                          tower_hidden=tower_hidden, n_experts=n_experts)
                                         - n_params))


@dataclass
class TrainedTaskModels:
    """What :func:`train_task_models` returns."""

    models: TaskModels
    """The trained members (in eval mode)."""
    history: History
    """Training loss (sum over tasks of the mean squared error, averaged over members) per step."""
    test_mse: torch.Tensor
    """``(M, T)`` test mean squared error of each member on each task, in units of the variance of that task's
    training targets (1.0 = no better than predicting their mean; CPU, float), at the evaluation with
    the lowest validation loss when validation data was given (early stopping), else after the last step."""
    best_step: torch.Tensor
    """``(M,)`` the step whose evaluation ``test_mse`` comes from."""


def train_task_models(
    kind: str,
    train_x: torch.Tensor,
    train_y: torch.Tensor,
    test_x: torch.Tensor,
    test_y: torch.Tensor,
    *,
    n_steps: int = 500,
    lr: float = 1e-2,
    batch_size: int = 128,
    val_x: torch.Tensor | None = None,
    val_y: torch.Tensor | None = None,
    eval_every: int = 50,
    seeds: list[int] | None = None,
    coupling: float | torch.Tensor = 0.0,
    progress: bool = True,
    **model_kwargs,
) -> TrainedTaskModels:
    """Train ``M`` independent models of one architecture with Adam on the plain sum of task MSEs.

    Targets are standardised per member and task with the training mean and standard deviation, so the
    losses are comparable across tasks and the reported test MSE is relative to the target variance.

    Args:
        kind: one of :data:`KINDS`.
        train_x, train_y: ``(M, n, d)`` (inputs shared by the tasks) or ``(M, T, n, d)`` (each task its own
            inputs), and ``(M, n, T)``: member ``i`` trains on its own data set.
        test_x, test_y: ``(M, n_test, d)`` or ``(M, T, n_test, d)``, and ``(M, n_test, T)``.
        n_steps: Adam steps; each samples ``batch_size`` examples (the same indices for every member).
        lr: Adam learning rate.
        batch_size: mini-batch size (capped at ``n``; equal to ``n`` means full batch).
        val_x, val_y: optional validation data shaped like the test data. When given, every member is
            evaluated every ``eval_every`` steps and reports the test MSE of its evaluation with the lowest
            validation loss (early stopping, without keeping copies of the weights).
        eval_every: evaluation period in steps (used only with validation data).
        seeds: initialisation seed per member (default ``0 … M-1``); mini-batches follow ``seeds[0]``.
        coupling: soft parameter sharing (``"separate"`` only): a number, or one per member ``(M,)``,
            multiplying :meth:`TaskModels.coupling_penalty` in the training loss. When any coupling is
            non-zero, every member's task bottoms start equal (members with coupling 0 too, so that a sweep
            over the coupling compares runs from the same start).
        progress: show a progress bar.
        **model_kwargs: passed to :class:`TaskModels` (``hidden``, ``tower_hidden``, ``n_experts``).

    Returns:
        :class:`TrainedTaskModels` with the models, the loss history and the test MSE ``(M, T)``.

    Example:
        >>> x, y = torch.randn(2, 64, 5), torch.randn(2, 64, 2)
        >>> out = train_task_models("shared_bottom", x, y, x, y, n_steps=5, progress=False)
        >>> out.test_mse.shape
        torch.Size([2, 2])
    """
    per_task = train_x.dim() == 4
    if train_x.dim() not in (3, 4) or train_y.dim() != 3 or train_x.shape[0] != train_y.shape[0] \
            or train_x.shape[-2] != train_y.shape[1] or (per_task and train_x.shape[1] != train_y.shape[-1]):
        raise ValueError(f"train_x must be (M, n, d) or (M, T, n, d) and train_y (M, n, T) with the same M, "
                         f"n and T; got {tuple(train_x.shape)} and {tuple(train_y.shape)}.")
    if test_x.shape[0] != train_x.shape[0] or test_y.shape[-1] != train_y.shape[-1] \
            or test_x.dim() != train_x.dim():
        raise ValueError(f"test data must have the same members, tasks and layout as the training data; got "
                         f"{tuple(test_x.shape)}, {tuple(test_y.shape)} for {tuple(train_x.shape)}.")
    if (val_x is None) != (val_y is None):
        raise ValueError("give both val_x and val_y (early stopping) or neither.")
    coupling = torch.as_tensor(coupling, dtype=train_x.dtype, device=train_x.device)
    soft = bool((coupling != 0).any())
    if soft and kind != "separate":
        raise ValueError(f"coupling (soft parameter sharing) ties separate networks; kind is {kind!r}.")
    n_members, n, d = train_x.shape[0], train_x.shape[-2], train_x.shape[-1]
    # Targets in units of their training spread, per member and task: the losses of both tasks start on the
    # same scale whatever c, m and the noise are, and MSE 1.0 means "no better than predicting the mean".
    mean, std = train_y.mean(dim=1, keepdim=True), train_y.std(dim=1, keepdim=True).clamp_min(1e-8)
    train_y, test_y = (train_y - mean) / std, (test_y - mean) / std
    if val_y is not None:
        val_y = (val_y - mean) / std
    seeds = list(range(n_members)) if seeds is None else list(seeds)
    models = TaskModels(kind, n_members, d, train_y.shape[-1], seeds=seeds, **model_kwargs).to(train_x.device)
    optimizer = torch.optim.Adam(models.parameters(), lr=lr)
    batch = min(batch_size, n)
    gen = torch.Generator(device=train_x.device).manual_seed(seeds[0])
    if soft:  # every task's bottom starts from task 0's: the penalty starts at 0, and a huge coupling is
        with torch.no_grad():  # exactly a hard-shared bottom instead of a fight between two random inits
            for w in (models.bottom.weight, models.bottom.bias):  # (M, T, a, b)
                w.copy_(w[:, :1].expand_as(w))

    def step(_: int) -> dict[str, torch.Tensor]:
        idx = (torch.randperm(n, generator=gen, device=train_x.device)[:batch] if batch < n
               else slice(None))
        inputs = train_x[:, :, idx] if per_task else train_x[:, idx]  # (M, [T,] batch, d)
        err = models(inputs) - train_y[:, idx]  # (M, batch, T)
        loss = err.pow(2).mean(dim=1).sum(dim=-1)  # (M,): sum over tasks of each member's MSE
        objective = loss + coupling * models.coupling_penalty() if soft else loss
        optimizer.zero_grad(set_to_none=True)
        objective.sum().backward()  # members are independent: the sum gives each its own gradient
        optimizer.step()
        return {"loss": loss.detach().mean()}

    val_losses: list[torch.Tensor] = []  # (M,) per evaluation, only with validation data
    test_mses: list[torch.Tensor] = []  # (M, T) per evaluation

    def evaluate() -> dict[str, torch.Tensor]:
        test_mses.append((models(test_x) - test_y).pow(2).mean(dim=1))
        if val_x is not None:
            val_losses.append((models(val_x) - val_y).pow(2).mean(dim=1).sum(dim=-1))
        return {"test_mse": test_mses[-1].mean()}

    history = run_training(step, n_steps, desc=f"{kind} x{n_members}", progress=progress, eval_fn=evaluate,
                           eval_every=eval_every if val_x is not None else 0)
    models.eval()
    steps = torch.tensor(history.steps("test_mse"))  # (n_evals,)
    if val_losses:
        best = torch.stack(val_losses).argmin(dim=0).cpu()  # (M,) each member's best evaluation
    else:
        best = torch.full((n_members,), len(test_mses) - 1)  # the last one
    all_test = torch.stack(test_mses).float().cpu()  # (n_evals, M, T)
    test_mse = all_test[best, torch.arange(n_members)]  # (M, T)
    return TrainedTaskModels(models=models, history=history, test_mse=test_mse, best_step=steps[best])
