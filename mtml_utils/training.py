"""Training loops that return a plain history and show a progress bar.

The loops know nothing about models or tasks: the notebook passes a function that does one step
(and, in exercises, the student's own loss), the loop calls it ``n_steps`` times, records what it
returns and shows progress with ``tqdm.auto`` (a widget in JupyterLab, text elsewhere). The same loop
runs on CPU and CUDA: values are kept as tensors and copied to the host in batches, so a GPU is not
forced to synchronise on every step.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import torch
from tqdm.auto import tqdm

Metrics = Mapping[str, "float | torch.Tensor"]


@dataclass
class History:
    """What a training loop recorded: one plain dict per logged step (``{"step": 3, "loss": 0.7}``).

    Plotting functions only read histories; ``history["loss"]`` gives that metric's values in order.
    """

    records: list[dict[str, float]] = field(default_factory=list)

    def __getitem__(self, key: str) -> list[float]:
        """Values of metric ``key`` in step order (records without it are skipped)."""
        values = [r[key] for r in self.records if key in r]
        if not values:
            raise KeyError(f"No metric {key!r} in this history; it has {sorted(self.keys())}.")
        return values

    def steps(self, key: str) -> list[int]:
        """The step numbers at which metric ``key`` was recorded."""
        return [int(r["step"]) for r in self.records if key in r]

    def last(self, key: str) -> float:
        """The latest recorded value of ``key``."""
        return self[key][-1]

    def keys(self) -> set[str]:
        """Every metric name recorded at least once (``step`` included)."""
        return {k for r in self.records for k in r}

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self.records)


def _to_floats(pending: list[dict[str, float | torch.Tensor]]) -> list[dict[str, float]]:
    """Copy a batch of recorded tensors to the host at once (one synchronisation per batch)."""
    tensors = [v.detach().float().reshape(()) for r in pending for v in r.values() if torch.is_tensor(v)]
    host = iter(torch.stack(tensors).cpu().tolist()) if tensors else iter(())
    return [{k: (next(host) if torch.is_tensor(v) else float(v)) for k, v in r.items()} for r in pending]


def run_training(
    step_fn: Callable[[int], Metrics],
    n_steps: int,
    *,
    desc: str = "training",
    eval_fn: Callable[[], Metrics] | None = None,
    eval_every: int = 0,
    progress: bool = True,
) -> History:
    """Call ``step_fn(step)`` for ``step = 0 … n_steps-1`` and record what it returns.

    Args:
        step_fn: does one training step and returns its metrics, e.g. ``{"loss": loss.detach()}``;
            tensors are fine (they are copied to the host in batches).
        n_steps: how many steps to run.
        desc: label of the progress bar.
        eval_fn: optional evaluation (e.g. test accuracy) run every ``eval_every`` steps and after the
            last step; its metrics are added to that step's record.
        eval_every: evaluation period in steps (``0``: only after the last step).
        progress: show a ``tqdm.auto`` progress bar.

    Returns:
        A :class:`History` with one record per step: ``{"step": i, **metrics}``.

    Example:
        >>> h = run_training(lambda i: {"loss": 1.0 / (i + 1)}, 3, progress=False)
        >>> h["loss"]
        [1.0, 0.5, 0.3333333333333333]
    """
    if n_steps < 1:
        raise ValueError(f"n_steps must be at least 1, got {n_steps}.")
    history = History()
    pending: list[dict[str, float | torch.Tensor]] = []
    flush_every = max(1, n_steps // 50)
    bar = tqdm(range(n_steps), desc=desc, disable=not progress, leave=False, mininterval=0.5)
    for step in bar:
        record: dict[str, float | torch.Tensor] = {"step": step, **step_fn(step)}
        last = step == n_steps - 1
        if eval_fn is not None and (last or (eval_every > 0 and (step + 1) % eval_every == 0)):
            with torch.no_grad():
                record.update(eval_fn())
        pending.append(record)
        if last or len(pending) >= flush_every:
            history.records.extend(_to_floats(pending))
            pending.clear()
            shown = {k: f"{v:.4g}" for k, v in history.records[-1].items() if k != "step"}
            bar.set_postfix(shown, refresh=False)
    bar.close()
    return history


def fit(
    loss_fn: Callable[[int], torch.Tensor | tuple[torch.Tensor, Metrics]],
    optimizer: torch.optim.Optimizer,
    n_steps: int,
    *,
    desc: str = "training",
    eval_fn: Callable[[], Metrics] | None = None,
    eval_every: int = 0,
    progress: bool = True,
) -> History:
    """Minimise ``loss_fn`` with ``optimizer``: zero the gradients, backpropagate, step; ``n_steps`` times.

    Args:
        loss_fn: given the step number, returns the loss to minimise, or ``(loss, extra_metrics)``
            to record more than the loss (e.g. each task's loss).
        optimizer: any ``torch.optim`` optimizer over the parameters the loss depends on.
        n_steps, desc, eval_fn, eval_every, progress: as in :func:`run_training`.

    Returns:
        A :class:`History` with ``loss`` (and the extra metrics) at every step.

    Example:
        >>> w = torch.zeros(1, requires_grad=True)
        >>> h = fit(lambda i: ((w - 3) ** 2).sum(), torch.optim.SGD([w], lr=0.1), 50, progress=False)
        >>> round(w.item(), 2)
        3.0
    """

    def step(i: int) -> Metrics:
        optimizer.zero_grad(set_to_none=True)
        out = loss_fn(i)
        loss, extra = (out, {}) if torch.is_tensor(out) else out
        loss.backward()
        optimizer.step()
        extra = {k: (v.detach() if torch.is_tensor(v) else v) for k, v in extra.items()}
        return {"loss": loss.detach(), **extra}

    return run_training(step, n_steps, desc=desc, eval_fn=eval_fn, eval_every=eval_every, progress=progress)


@torch.no_grad()
def accuracy(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max matches ``labels``, as a 0-d tensor (no host synchronisation).

    Example:
        >>> accuracy(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])).item()
        0.5
    """
    return (logits.argmax(dim=-1) == labels).float().mean()
