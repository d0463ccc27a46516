"""Data in and out of a student's kernel as JSON text, never pickle.

The grader sends hidden-test inputs into the kernel and reads the student's outputs back with
:func:`dumps` / :func:`loads`. Only plain data crosses: ``None``, ``bool``, ``int``, ``float``, ``str``,
lists, tuples, dicts with string keys, NumPy arrays and torch tensors (as ``.npy`` bytes read with
``allow_pickle=False``, plus dtype, ``requires_grad`` and device type). Reading builds fresh objects of
exactly those types, so nothing the kernel sends can run code in the grader or carry a forged
``__eq__``: a tensor subclass, an object that claims to equal everything or a patched ``numpy`` in the
kernel all arrive as plain numbers, or not at all.

Example:
    >>> import torch
    >>> loads(dumps({"z": torch.eye(2), "k": (1, "a")}))["k"]
    (1, 'a')
"""

from __future__ import annotations

import base64
import io
import json
import math
from typing import Any

import numpy as np

#: MIME type of the display output that carries a probe's result out of the kernel.
MIME = "application/vnd.mtml.probe+json"
#: Largest payload read back from a kernel (characters of JSON text).
MAX_PAYLOAD = 64 * 2**20
#: Deepest nesting of lists, tuples and dicts accepted.
MAX_DEPTH = 32
_TORCH_DTYPES = ("float64", "float32", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
                 "bool", "complex64", "complex128")
_NUMPY_KINDS = "biufc"  # bool, signed, unsigned, float, complex: never object, void or strings


class WireError(ValueError):
    """The text is not a payload this module writes (malformed, too big, or a type it never sends)."""


def _npy(array: np.ndarray) -> str:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, order="C"), allow_pickle=False)  # keeps 0-d arrays 0-d
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _from_npy(text: Any) -> np.ndarray:
    if not isinstance(text, str):
        raise WireError("array data must be base64 text")
    try:
        array = np.load(io.BytesIO(base64.b64decode(text, validate=True)), allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise WireError(f"unreadable array data ({err})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in _NUMPY_KINDS:
        raise WireError("arrays must hold numbers or booleans")
    return array


def encode(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON-ready data (see the module docstring for what is accepted).

    Raises:
        TypeError: for any other type, naming it (the probe then fails with that message).

    Example:
        >>> encode((1.5, None))
        {'__tuple__': [1.5, None]}
    """
    if depth > MAX_DEPTH:
        raise TypeError(f"data nested deeper than {MAX_DEPTH} levels")
    if value is None or type(value) in (bool, str):
        return value
    if type(value) is int:
        return value if abs(value) < 2**63 else {"__int__": str(value)}
    if type(value) is float:
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, np.generic) and value.dtype.kind in _NUMPY_KINDS:
        return encode(value.item(), depth + 1)
    if type(value) is np.ndarray:
        if value.dtype.kind not in _NUMPY_KINDS:
            raise TypeError(f"an array of dtype {value.dtype} cannot be sent (numbers and booleans only)")
        return {"__ndarray__": _npy(value)}
    if type(value) in (list, tuple):
        items = [encode(item, depth + 1) for item in value]
        return items if type(value) is list else {"__tuple__": items}
    if type(value) is dict:
        if not all(type(key) is str for key in value):
            raise TypeError("only dicts with string keys can be sent")
        return {"__dict__": {key: encode(item, depth + 1) for key, item in value.items()}}
    tensor = _as_tensor(value)
    if tensor is not None:
        return tensor
    raise TypeError(f"an object of type {type(value).__name__} cannot be sent to the grader")


def _as_tensor(value: Any) -> dict[str, Any] | None:
    import sys

    torch = sys.modules.get("torch")
    if torch is None or not isinstance(value, torch.Tensor):
        return None
    dtype = str(value.dtype).removeprefix("torch.")
    if dtype not in _TORCH_DTYPES:
        raise TypeError(f"a tensor of dtype {value.dtype} cannot be sent")
    # Only the numbers travel: whatever a tensor subclass overrides stays in the kernel.
    data = value.detach().cpu()
    if dtype == "bfloat16":
        data = data.float()
    return {"__tensor__": _npy(data.resolve_conj().resolve_neg().numpy()), "dtype": dtype,
            "requires_grad": bool(value.requires_grad), "device": str(value.device.type)}


def dumps(value: Any) -> str:
    """JSON text of ``value`` (see :func:`encode`).

    Example:
        >>> dumps([1, "a"])
        '[1, "a"]'
    """
    return json.dumps(encode(value), allow_nan=False)


def decode(data: Any, depth: int = 0) -> Any:
    """Rebuild what :func:`encode` wrote, checking every field; :class:`WireError` on anything else.

    Example:
        >>> decode({"__tuple__": [1, {"__float__": "nan"}]})
        (1, nan)
    """
    if depth > MAX_DEPTH:
        raise WireError(f"data nested deeper than {MAX_DEPTH} levels")
    if data is None or type(data) in (bool, int, float, str):
        return data
    if type(data) is list:
        return [decode(item, depth + 1) for item in data]
    if type(data) is not dict or len(data) == 0:
        raise WireError(f"unexpected {type(data).__name__} in the payload")
    if set(data) == {"__tuple__"} and type(data["__tuple__"]) is list:
        return tuple(decode(item, depth + 1) for item in data["__tuple__"])
    if set(data) == {"__dict__"} and type(data["__dict__"]) is dict:
        return {str(key): decode(item, depth + 1) for key, item in data["__dict__"].items()}
    if set(data) == {"__int__"} and type(data["__int__"]) is str and data["__int__"].lstrip("-").isdigit():
        return int(data["__int__"])
    if set(data) == {"__float__"} and data["__float__"] in ("nan", "inf", "-inf"):
        return float(data["__float__"])
    if set(data) == {"__ndarray__"}:
        return _from_npy(data["__ndarray__"])
    if set(data) == {"__tensor__", "dtype", "requires_grad", "device"}:
        return _tensor(data)
    raise WireError(f"unexpected fields {sorted(data)[:4]} in the payload")


def _tensor(data: dict[str, Any]) -> Any:
    import torch

    dtype, requires_grad, device = data["dtype"], data["requires_grad"], data["device"]
    if dtype not in _TORCH_DTYPES or type(requires_grad) is not bool or type(device) is not str:
        raise WireError("malformed tensor fields")
    tensor = torch.from_numpy(_from_npy(data["__tensor__"]).copy()).to(getattr(torch, dtype))
    tensor.requires_grad_(requires_grad and (tensor.is_floating_point() or tensor.is_complex()))
    # Where the student's tensor lived, for checks such as "same device as the input".
    tensor.wire_device = device
    return tensor


def loads(text: Any) -> Any:
    """Read a payload written by :func:`dumps`; :class:`WireError` if it is anything else.

    Example:
        >>> loads('{"__dict__": {"a": [true, 2]}}')
        {'a': [True, 2]}
    """
    if type(text) is not str:
        raise WireError("the payload must be text")
    if len(text) > MAX_PAYLOAD:
        raise WireError(f"the payload is larger than {MAX_PAYLOAD // 2**20} MB")
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as err:
        raise WireError(f"the payload is not valid JSON ({str(err)[:100]})") from None
    try:
        return decode(data)
    except RecursionError:
        raise WireError("the payload is nested too deeply") from None


def _reject_constant(name: str) -> None:
    raise WireError(f"bare {name} in the payload")


def raises(function: Any, *args: Any, **kwargs: Any) -> str | None:
    """Call ``function``; the name of the exception type it raised, or ``None`` when it returned.

    Used inside probes, for hidden tests that expect an error on bad input.

    Example:
        >>> raises(int, "x"), raises(int, "1")
        ('ValueError', None)
    """
    try:
        function(*args, **kwargs)
    except Exception as err:  # the student's code may raise anything; the test names what it expects
        return type(err).__name__
    return None
