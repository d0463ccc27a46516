"""Where a benchmark's numbers were measured, for the JSON every script in ``benchmarks/`` writes."""

from __future__ import annotations

import datetime as dt
import os
import platform


def machine_info() -> dict[str, object]:
    """CPU count, how busy the machine was, Python and torch versions, torch threads, the device, the date."""
    import torch

    from mtml_utils.core import describe_device, get_device

    return {
        "cpu_count": os.cpu_count(),
        # Other work on the machine inflates every timing; this says how busy it was.
        "load_average_1m_at_start": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "device": describe_device(get_device()),
        "mtml_data_dir": os.environ.get("MTML_DATA_DIR"),
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
