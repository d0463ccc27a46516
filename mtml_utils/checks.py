"""Checks for the visible tests: when one fails, it says what was expected and what came.

Every check names the value it looks at, so a failure reads like
``one_hot_descriptors(...): expected shape (4, 3), got (3, 4)`` instead of a bare ``AssertionError``.
The hidden tests do not use these helpers: they compare against independent references.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch


class CheckFailed(AssertionError):
    """A visible check failed; the message says what was expected and what came."""


def _describe(value: Any) -> str:
    if value is None:
        return "None (did the function forget to `return` its result?)"
    if torch.is_tensor(value):
        return f"tensor of shape {tuple(value.shape)}, dtype {value.dtype}, on {value.device}"
    if isinstance(value, np.ndarray):
        return f"array of shape {value.shape}, dtype {value.dtype}"
    return f"{type(value).__name__} {value!r}"[:200]


def _as_tensor(name: str, value: Any) -> torch.Tensor:
    if torch.is_tensor(value):
        return value
    if isinstance(value, (np.ndarray, int, float, bool, list, tuple)):
        return torch.as_tensor(np.asarray(value))
    raise CheckFailed(f"{name}: expected a tensor, got {_describe(value)}.")


def check_type(name: str, value: Any, expected: type | tuple[type, ...]) -> None:
    """Fail unless ``isinstance(value, expected)``.

    Example:
        >>> check_type("z", torch.zeros(2), torch.Tensor)
    """
    if not isinstance(value, expected):
        names = expected.__name__ if isinstance(expected, type) else " or ".join(t.__name__ for t in expected)
        raise CheckFailed(f"{name}: expected a {names}, got {_describe(value)}.")


def check_shape(name: str, value: Any, expected: Sequence[int | None]) -> None:
    """Fail unless ``value`` (tensor or array) has shape ``expected``; ``None`` matches any size.

    Example:
        >>> check_shape("logits", torch.zeros(8, 5), (None, 5))
    """
    shape = tuple(_as_tensor(name, value).shape)
    ok = len(shape) == len(expected) and all(
        e is None or e == s for s, e in zip(shape, expected, strict=False)
    )
    if not ok:
        want = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        raise CheckFailed(f"{name}: expected shape {want}, got {shape}.")


def check_dtype(name: str, value: Any, expected: torch.dtype) -> None:
    """Fail unless the tensor ``value`` has dtype ``expected``.

    Example:
        >>> check_dtype("labels", torch.zeros(3, dtype=torch.long), torch.long)
    """
    tensor = _as_tensor(name, value)
    if tensor.dtype != expected:
        raise CheckFailed(f"{name}: expected dtype {expected}, got {tensor.dtype}.")


def _offenders(bad: torch.Tensor, actual: torch.Tensor, expected: torch.Tensor, limit: int = 5) -> str:
    index = bad.nonzero()[:limit].tolist()
    parts = [f"at {tuple(i)}: got {actual[tuple(i)].item():.6g}, expected {expected[tuple(i)].item():.6g}"
             for i in index]
    return "; ".join(parts)


def check_close(name: str, actual: Any, expected: Any, *, atol: float = 1e-5, rtol: float = 1e-4) -> None:
    """Fail unless ``actual`` has ``expected``'s shape and is elementwise close to it.

    The message gives the number of offending elements, the largest difference and the first few
    offending indices with both values.

    Example:
        >>> check_close("loss", torch.tensor(0.5), 0.5)
    """
    got = _as_tensor(name, actual).detach().cpu()
    want = (expected if torch.is_tensor(expected) else torch.as_tensor(expected)).detach().cpu()
    if tuple(got.shape) != tuple(want.shape):
        raise CheckFailed(f"{name}: expected shape {tuple(want.shape)}, got {_describe(actual)}.")
    got64, want64 = got.double(), want.double()
    bad = ~torch.isclose(got64, want64, atol=atol, rtol=rtol, equal_nan=False)
    if bad.any():
        diff = (got64 - want64).abs().nan_to_num(nan=float("inf"))
        where = "" if got.dim() == 0 else " First offending values " + _offenders(bad, got64, want64) + "."
        raise CheckFailed(
            f"{name}: {int(bad.sum())} of {got.numel()} values differ from the expected ones "
            f"(atol={atol:g}, rtol={rtol:g}; largest difference {diff.max().item():.3g})."
            + (f" Got {got64.item():.6g}, expected {want64.item():.6g}." if got.dim() == 0 else where)
        )


def check_equal(name: str, actual: Any, expected: Any) -> None:
    """Fail unless ``actual`` equals ``expected`` exactly (tensors, arrays, numbers or plain values).

    Example:
        >>> check_equal("n_tasks", 3, 3)
    """
    if any(torch.is_tensor(v) or isinstance(v, np.ndarray) for v in (actual, expected)):
        got = _as_tensor(name, actual).detach().cpu()
        want = _as_tensor("expected value", expected).detach().cpu()
        if tuple(got.shape) != tuple(want.shape):
            raise CheckFailed(f"{name}: expected shape {tuple(want.shape)}, got {_describe(actual)}.")
        bad = got != want.to(got.dtype) if got.dtype == want.dtype else got.double() != want.double()
        if bad.any():
            raise CheckFailed(f"{name}: {int(bad.sum())} of {got.numel()} values differ: "
                              + _offenders(bad, got.double(), want.double()) + ".")
    elif actual != expected:
        raise CheckFailed(f"{name}: expected {expected!r}, got {_describe(actual)}.")


def check_true(condition: bool, message: str) -> None:
    """Fail with ``message`` unless ``condition`` holds (for properties the other checks do not cover).

    Raises:
        TypeError: ``condition`` is a string: the arguments were swapped, and a non-empty message would
            otherwise make the check pass whatever it was meant to test.

    Example:
        >>> check_true(1 + 1 == 2, "arithmetic")
    """
    if isinstance(condition, str):
        raise TypeError(
            f"check_true(condition, message) got the text {condition!r} as its condition: "
            f"pass the condition first and the message second."
        )
    if not condition:
        raise CheckFailed(message)
