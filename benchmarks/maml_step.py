"""MAML meta-step time: all tasks at once with torch.func.vmap against a Python loop over tasks, in one run.

    python benchmarks/maml_step.py                    # sinusoid MLP 1-40-40-1, 25 tasks, K = 10, 1 inner step
    python benchmarks/maml_step.py --inner-steps 5 --repeats 31

Both implementations compute the same loss (``mtml_utils.maml.maml_loss`` and
``maml_loss_per_task_loop``; the tests check that their meta-gradients agree to 1e-6) and are timed on the
same batches for a whole meta-step: zero the gradients, the meta-loss, ``backward()``, an Adam step. The
repeats alternate between the two so that a change in the machine's load hits both alike. Second- and
first-order MAML are timed separately. Writes JSON (default ``benchmarks/results/maml_step.json``) with the
median milliseconds per meta-step and the ratios; exits 1 when a ratio is below ``--target``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch
from machine import machine_info  # benchmarks/machine.py (this folder is on sys.path)

from mtml_utils.core import choose_cpu_threads, get_device
from mtml_utils.maml import maml_loss, maml_loss_per_task_loop, sinusoid_mlp, sinusoid_tasks

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "maml_step.json"


def meta_step_seconds(loss_fn, model, optimizer, tasks, device: torch.device, **kwargs) -> float:
    """Wall time of one meta-step (zero_grad, loss, backward, optimizer step)."""
    start = time.perf_counter()
    optimizer.zero_grad()
    loss_fn(model, tasks, **kwargs).backward()
    optimizer.step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=25, help="meta-batch size")
    parser.add_argument("--k-shot", type=int, default=10)
    parser.add_argument("--k-query", type=int, default=10)
    parser.add_argument("--inner-steps", type=int, default=1)
    parser.add_argument("--inner-lr", type=float, default=0.01)
    parser.add_argument("--repeats", type=int, default=21, help="timed meta-steps of each (median kept)")
    parser.add_argument("--target", type=float, default=4.0, help="the speed-up vmap must reach")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    torch.set_num_threads(choose_cpu_threads())  # as the notebooks' setup() does
    device = get_device()
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    batches = [sinusoid_tasks(args.tasks, args.k_shot, args.k_query, generator=generator, device=device)
               for _ in range(args.repeats + 1)]
    timings: dict[str, dict[str, list[float]]] = {}
    for order in ("second", "first"):
        kwargs = dict(inner_lr=args.inner_lr, inner_steps=args.inner_steps, first_order=order == "first")
        runs = {"vmap": maml_loss, "loop": maml_loss_per_task_loop}
        models = {name: sinusoid_mlp().to(device) for name in runs}
        optimizers = {name: torch.optim.Adam(m.parameters(), lr=1e-3) for name, m in models.items()}
        times: dict[str, list[float]] = {name: [] for name in runs}
        for i, tasks in enumerate(batches):
            for name, fn in runs.items():
                seconds = meta_step_seconds(fn, models[name], optimizers[name], tasks, device, **kwargs)
                if i > 0:  # the first batch is a warm-up
                    times[name].append(seconds)
        timings[order] = times

    result: dict[str, object] = {"settings": vars(args) | {"out": str(args.out)}, "device": str(device)}
    ok = True
    print(f"MAML meta-step, MLP 1-40-40-1, {args.tasks} tasks, K={args.k_shot}, "
          f"{args.inner_steps} inner step(s), on {device}:")
    for order, times in timings.items():
        vmap_ms, loop_ms = (1e3 * statistics.median(times[n]) for n in ("vmap", "loop"))
        ratio = loop_ms / vmap_ms
        ok &= ratio >= args.target
        result[f"{order}_order"] = {"vmap_ms": [round(1e3 * t, 3) for t in times["vmap"]],
                                    "loop_ms": [round(1e3 * t, 3) for t in times["loop"]],
                                    "vmap_median_ms": round(vmap_ms, 3), "loop_median_ms": round(loop_ms, 3),
                                    "ratio": round(ratio, 2), "meets_target": ratio >= args.target}
        print(f"  {order:6s}-order: loop {loop_ms:7.2f} ms, vmap {vmap_ms:7.2f} ms, "
              f"ratio {ratio:.1f}x (target {args.target:.0f}x)")
    result["machine"] = machine_info()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"{'ok' if ok else 'MISSED'}; wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
