"""Start-up of every notebook: seed everything, pick the device, say what was chosen."""

from __future__ import annotations

import os
import random

import numpy as np
import torch

from mtml_utils.profiles import get_profile


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (CPU and every CUDA device).

    Example:
        >>> seed_everything(0); a = torch.rand(1); seed_everything(0)
        >>> bool(torch.equal(a, torch.rand(1)))
        True
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device


def get_device(prefer: str | None = None) -> torch.device:
    """Return the best available device: ``cuda`` > ``mps`` > ``cpu``.

    Args:
        prefer: force a device (``"cpu"``, ``"cuda"``, ``"mps"``); the ``MTML_DEVICE`` environment
            variable does the same. A device that is not available raises ``RuntimeError``.

    Example:
        >>> get_device("cpu")
        device(type='cpu')
    """
    wanted = prefer or os.environ.get("MTML_DEVICE", "").strip().lower() or None
    if wanted is not None:
        available = {
            "cpu": True,
            "cuda": torch.cuda.is_available(),
            "mps": torch.backends.mps.is_available(),
        }
        if wanted not in available:
            raise RuntimeError(f"Unknown device {wanted!r}: choose one of cpu, cuda, mps.")
        if not available[wanted]:
            raise RuntimeError(
                f"Device {wanted!r} was asked for (argument or MTML_DEVICE) but is not available here; "
                "unset MTML_DEVICE to let the course pick cuda > mps > cpu."
            )
        return torch.device(wanted)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def choose_cpu_threads() -> int:
    """How many threads torch should use for CPU work: ``MTML_THREADS`` if set, else all cores but one.

    The course's models are small: on a 2-core laptop, two OpenMP threads fight the Jupyter server, the
    browser and each other, and a training step gets several times slower than with one thread (measured:
    a 4-block conv net step went from 0.09 s to 0.25-0.65 s with the second core busy). Leaving one core
    free keeps the notebook responsive; on many-core machines the difference is small.

    Example:
        >>> choose_cpu_threads() >= 1
        True
    """
    raw = os.environ.get("MTML_THREADS", "").strip()
    if raw:
        if not raw.isdigit() or int(raw) < 1:
            raise ValueError(f"MTML_THREADS={raw!r} must be a positive whole number (e.g. 1 or 4).")
        return int(raw)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, cores - 1)


def describe_device(device: torch.device) -> str:
    """A short human-readable name of ``device`` (the GPU's model for CUDA)."""
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    if device.type == "mps":
        return "mps (Apple GPU)"
    return "cpu (no GPU found)" if not torch.cuda.is_available() else "cpu"


def setup(seed: int = 0, device: str | None = None) -> torch.device:
    """First call of every notebook: seed everything, pick the device, set the course's plot style, print
    one line, return the device.

    On the CPU it also sets how many threads torch uses (see :func:`choose_cpu_threads`). In a notebook,
    an experiment that fails because an exercise it needs is not done yet shows one line naming that
    exercise instead of a traceback (see :mod:`autograder.unlocks`).

    Args:
        seed: seed for Python, NumPy and torch, so that a notebook re-run gives the same numbers.
        device: force a device instead of picking ``cuda`` > ``mps`` > ``cpu``.

    Returns:
        The ``torch.device`` to put models and data on.

    Raises:
        ProfileError: ``MTML_PROFILE`` holds an unknown value (checked first, so nothing runs in a
            profile nobody asked for).

    Example:
        >>> device = setup(seed=0)  # doctest: +ELLIPSIS
        mtml_utils: device cpu... | torch ... | profile ... | seed 0
    """
    profile = get_profile()
    seed_everything(seed)
    from mtml_utils.plotting import use_course_style  # matplotlib only once a notebook starts

    use_course_style()
    from autograder.unlocks import install  # in a notebook: say which exercise an experiment waits for

    install()
    chosen = get_device(device)
    threads = ""
    if chosen.type == "cpu":
        torch.set_num_threads(choose_cpu_threads())
        n = torch.get_num_threads()
        threads = f" ({n} thread{'s' if n != 1 else ''})"
    print(f"mtml_utils: device {describe_device(chosen)}{threads} | torch {torch.__version__} | "
          f"profile {profile} | seed {seed}")
    return chosen
