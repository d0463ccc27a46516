"""mtml_utils.costs: the memory and time measurements behind notebook 07's cost columns."""

from __future__ import annotations

import pytest
import torch

from mtml_utils.costs import peak_saved_bytes, seconds_per_call


def test_a_tensor_saved_by_one_operation_counts_its_bytes() -> None:
    w = torch.zeros(1000, requires_grad=True)
    assert peak_saved_bytes(lambda: (w * w).sum()) == 4000  # float32: w saved once for both factors


def test_saved_activations_grow_with_the_batch() -> None:
    layer = torch.nn.Linear(100, 100)
    small = peak_saved_bytes(lambda: layer(torch.zeros(64, 100)).relu().sum())
    large = peak_saved_bytes(lambda: layer(torch.zeros(128, 100)).relu().sum())
    assert large == 2 * small > 0


def test_graphs_freed_on_the_way_stop_counting() -> None:
    """A first-order inner loop frees each inner graph; a second-order one keeps them for the backward."""
    w = torch.randn(10_000, requires_grad=True)

    def inner_loop(create_graph: bool) -> torch.Tensor:
        p = w
        for _ in range(4):
            (g,) = torch.autograd.grad(((p * 2).tanh() ** 2).sum(), p, create_graph=create_graph)
            p = p - 0.1 * (g if create_graph else g.detach())
        return (p * p).sum()

    first, second = peak_saved_bytes(lambda: inner_loop(False)), peak_saved_bytes(lambda: inner_loop(True))
    assert second > 3 * first


def test_backward_fills_the_gradients_unless_asked_not_to() -> None:
    w = torch.ones(3, requires_grad=True)
    peak_saved_bytes(lambda: (w * w).sum())
    assert torch.equal(w.grad, 2 * torch.ones(3))
    v = torch.ones(3, requires_grad=True)
    peak_saved_bytes(lambda: (v * v).sum(), backward=False)
    assert v.grad is None


def test_seconds_per_call_runs_warmup_and_repeats_and_returns_a_median() -> None:
    calls = []
    seconds = seconds_per_call(lambda: calls.append(1), repeats=4, warmup=2)
    assert len(calls) == 6 and 0 <= seconds < 1


def test_seconds_per_call_needs_a_repeat() -> None:
    with pytest.raises(ValueError, match="repeats"):
        seconds_per_call(lambda: None, repeats=0)
