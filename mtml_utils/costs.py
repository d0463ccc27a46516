"""What a learner costs: memory kept for the backward pass, and wall-clock time per call.

Notebook 07 compares meta-learners on accuracy *and* on cost. Two measurements that mean the same on a CPU
and on a GPU:

- :func:`peak_saved_bytes`: the most bytes of tensors that autograd keeps alive for the backward pass at
  any moment while a function runs (the activations; parameters and inputs count once, at their size).
  This is the memory that grows with the batch, the number of inner steps and the order of the
  meta-gradient, measured without the allocator of any one device.
- :func:`seconds_per_call`: the median wall-clock time of a function over a few repeats, synchronising a
  GPU so that queued kernels are counted.

Example:
    >>> layer = torch.nn.Linear(100, 100)
    >>> x = torch.zeros(64, 100)
    >>> peak_saved_bytes(lambda: layer(x).relu().sum()) > 0
    True
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch


class _Meter:
    """Counts the bytes of saved tensors that are alive, and remembers the most seen at once."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.seen: dict[tuple[int, int], int] = {}  # (storage address, size) -> holders alive

    def pack(self, tensor: torch.Tensor) -> _Held:
        return _Held(self, tensor)


class _Held:
    """A saved tensor as autograd keeps it; freeing it (after backward, or with its graph) uncounts it."""

    __slots__ = ("meter", "tensor", "key")

    def __init__(self, meter: _Meter, tensor: torch.Tensor) -> None:
        self.meter, self.tensor = meter, tensor
        storage = tensor.untyped_storage()
        # A tensor saved by several operations (a weight, an input) shares one storage: count it once.
        self.key = (storage.data_ptr(), storage.nbytes())
        holders = meter.seen.get(self.key, 0)
        if holders == 0:
            meter.live += self.key[1]
            meter.peak = max(meter.peak, meter.live)
        meter.seen[self.key] = holders + 1

    def __del__(self) -> None:
        holders = self.meter.seen[self.key] - 1
        if holders == 0:
            del self.meter.seen[self.key]
            self.meter.live -= self.key[1]
        else:
            self.meter.seen[self.key] = holders


def peak_saved_bytes(step: Callable[[], torch.Tensor], *, backward: bool = True) -> int:
    """Run ``step()`` (which returns a loss) and, by default, its backward pass; return the most bytes of
    tensors held for the backward pass at any moment.

    Args:
        step: builds the computation to measure and returns a scalar loss.
        backward: also call ``loss.backward()`` (so that ``.grad`` fields fill as in training).

    Raises:
        RuntimeError: ``step`` uses :mod:`torch.func` gradient transforms (``grad``, ``vjp``), which do not
            support saved-tensor hooks; measure an equivalent written with ``torch.autograd.grad``.

    Example:
        >>> w = torch.zeros(1000, requires_grad=True)
        >>> peak_saved_bytes(lambda: (w * w).sum())  # w is saved (once) to differentiate w * w
        4000
    """
    meter = _Meter()
    with torch.autograd.graph.saved_tensors_hooks(meter.pack, lambda held: held.tensor):
        loss = step()
        if backward:
            loss.backward()
    del loss
    return meter.peak


def seconds_per_call(fn: Callable[[], object], *, repeats: int = 5, warmup: int = 1) -> float:
    """Median wall-clock seconds of ``fn()`` over ``repeats`` calls after ``warmup`` calls.

    On a GPU the device is synchronised before and after each call, so the time includes the work queued.

    Example:
        >>> seconds_per_call(lambda: sum(range(1000)), repeats=3) < 1.0
        True
    """
    if repeats < 1:
        raise ValueError(f"repeats must be at least 1, got {repeats}.")
    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
