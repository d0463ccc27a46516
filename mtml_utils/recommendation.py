"""Infrastructure for notebook 02's recommendation case study: many seeds trained as one batch, gate dropout.

* :func:`train_seeds` trains ``S`` copies of one architecture (one per seed, each on its own data) at once:
  their parameters are stacked and the forward pass is vectorised over the seeds with ``torch.func.vmap``.
  Adam is element-wise, so this is exactly ``S`` independent runs, in one loop instead of ``S``.
* :class:`GateDropout` is the fix Zhao et al. (2019) apply to MMoE gates that polarise: during training each
  expert's gate weight is set to zero with probability ``p`` and the remaining weights are renormalised.

Neither contains an exercise's solution: the models trained here are the ones the notebook's exercises build.

Example:
    >>> import torch, torch.nn as nn
    >>> models = [nn.Linear(3, 1) for _ in range(4)]                  # one model per seed
    >>> x = torch.randn(4, 50, 3)                                      # (S, n, 3): each seed's inputs
    >>> y = x.sum(dim=-1, keepdim=True)                                # (S, n, 1)
    >>> history = train_seeds(models, x, lambda out: ((out - y) ** 2).mean(dim=(1, 2)), 300,
    ...                       lr=0.05, progress=False)
    >>> history.last("seed loss") < 1e-3, models[2].weight.shape
    (True, torch.Size([1, 3]))
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call, stack_module_state, vmap

from mtml_utils.training import History, fit


class GateDropout(nn.Module):
    """Dropout on a softmax gate's outputs, as in Zhao et al. (2019): in training mode each expert's weight is
    set to 0 with probability ``p`` and the others are renormalised to sum to 1.

    Placed after a gate's linear layer it acts on the *logits*: setting a logit to ``-inf`` before the softmax
    is the same as zeroing that expert's weight after it and renormalising. When every expert of an example
    would be dropped, none is (the weights must stay a distribution). In evaluation mode it is the identity.

    Example:
        >>> gate = nn.Sequential(nn.Linear(16, 4), GateDropout(0.1))   # logits of 4 experts
        >>> weights = torch.softmax(gate(torch.randn(8, 16)), dim=-1)   # (8, 4), some entries exactly 0
        >>> torch.allclose(weights.sum(dim=-1), torch.ones(8))
        True
    """

    def __init__(self, p: float = 0.1):
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"p must be in [0, 1) (the probability of dropping an expert); got p={p!r}.")
        self.p = p

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        """``logits`` ``(..., E)`` -> the same logits with the dropped experts' set to ``-inf``."""
        if not self.training or self.p == 0.0:
            return logits
        drop = torch.rand_like(logits) < self.p                          # (..., E) True = dropped
        drop = drop & ~drop.all(dim=-1, keepdim=True)                    # never drop every expert
        return logits.masked_fill(drop, float("-inf"))

    def extra_repr(self) -> str:
        return f"p={self.p}"


def train_seeds(
    models: Sequence[nn.Module],
    inputs: torch.Tensor,
    loss_fn: Callable[[torch.Tensor], torch.Tensor],
    n_steps: int,
    *,
    lr: float = 3e-3,
    lr_factors: dict[str, float] | None = None,
    desc: str = "training seeds",
    progress: bool = True,
) -> History:
    """Full-batch Adam on ``S`` models of one architecture at once, then copy the trained weights back.

    Args:
        models: ``S`` modules with the same parameter names and shapes (one per seed, any initialisation).
        inputs: ``(S, n, ...)`` tensor; ``models[s]`` is trained on ``inputs[s]``.
        loss_fn: maps the stacked outputs ``(S, n, ...)`` to the ``(S,)`` losses of the seeds; their sum is
            minimised (the seeds do not interact: each loss depends on its own model only).
        n_steps: Adam steps.
        lr: learning rate of every parameter ...
        lr_factors: ... except those whose name starts with a key of this dict, which train with
            ``lr * factor`` (e.g. ``{"gates.": 10.0}`` for faster MMoE gates).
        desc, progress: progress bar text, and whether to show it.

    Returns:
        The :class:`~mtml_utils.training.History`: ``loss`` (the sum over the seeds) and ``seed loss`` (their
        mean) at every step.
        Modules with randomness in their forward pass (dropout, :class:`GateDropout`) draw it independently
        per seed. The models are left in training mode.
    """
    if not models:
        raise ValueError("models must hold at least one module (one per seed).")
    if inputs.shape[0] != len(models):
        raise ValueError(f"inputs must have one row per model along dim 0: {len(models)} models, "
                         f"inputs of shape {tuple(inputs.shape)}.")
    for model in models:
        model.train()
    params, buffers = stack_module_state(list(models))                  # name -> (S, *shape)
    params = {name: p.detach().clone().requires_grad_() for name, p in params.items()}
    skeleton = copy.deepcopy(models[0]).to("meta")                      # the architecture, no storage

    def one(p: dict, b: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(skeleton, (p, b), (x,))

    forward = vmap(one, randomness="different")
    factors = lr_factors or {}
    groups: dict[float, list[torch.Tensor]] = {}
    for name, p in params.items():
        factor = next((f for prefix, f in factors.items() if name.startswith(prefix)), 1.0)
        groups.setdefault(factor, []).append(p)
    optimizer = torch.optim.Adam([{"params": ps, "lr": lr * f} for f, ps in groups.items()], lr=lr)
    def step(i: int) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        losses = loss_fn(forward(params, buffers, inputs))                # (S,)
        # The sum: each seed's parameters get exactly the gradient of its own loss, as if trained alone.
        return losses.sum(), {"seed loss": losses.mean()}

    history = fit(step, optimizer, n_steps, desc=desc, progress=progress)
    with torch.no_grad():
        for s, model in enumerate(models):
            for name, p in model.named_parameters():
                p.copy_(params[name][s])
    return history
