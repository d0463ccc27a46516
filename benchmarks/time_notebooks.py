"""Time every course notebook top to bottom in a fresh kernel, per profile, against its time budget.

    python benchmarks/time_notebooks.py                          # every notebook in notebooks/
    python benchmarks/time_notebooks.py 01_task_definition --profiles smoke --repeats 1

It runs the instructor SOURCE notebook (``autograder/source/<name>/<name>.ipynb``: it holds the
solutions, so it runs to the end where a student notebook would stop at the first exercise) with
nbclient, from the notebooks/ folder, with ``MTML_PROFILE`` set to each profile and ``MPLBACKEND=Agg``.
``MTML_DATA_DIR`` and every other environment variable pass through to the kernel.

Each run's wall time includes starting and stopping the kernel (about 2 s), as "Restart and run all" does.
Writes JSON (default ``benchmarks/results/notebook_times.json``), prints a table, and exits 1 when a
notebook errors or its median misses the budget, 2 on bad input. Measurements of notebooks and profiles
not timed in this run are kept from the file (each with the machine and date it was measured on), so
timing one notebook does not throw away the others; ``--fresh`` starts from an empty file.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

from machine import machine_info  # benchmarks/machine.py (this folder is on sys.path)

# Light imports (no nbformat, no torch): the course's own assignment discovery and usage error.
from autograder.course import list_assignments
from autograder.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS_DIR = ROOT / "notebooks"
COURSE_DIR = ROOT / "autograder"
SOURCE_DIR = COURSE_DIR / "source"
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "notebook_times.json"
PROFILES = ("smoke", "laptop", "full")

# Seconds for one top-to-bottom run (the median of the repeats), kernel start included, on the
# project's 2-core CPU machines. Add an entry with each new notebook; a notebook without one fails.
BUDGETS_S: dict[str, dict[str, float]] = {
    "01_task_definition": {"smoke": 30, "laptop": 120},
    "02_mtl_conditioning": {"smoke": 30, "laptop": 180},
    "03_negative_transfer": {"smoke": 30, "laptop": 180},
    "04_fine_tuning": {"smoke": 30, "laptop": 240},  # laptop: the first run, pre-training included
    "05_blackbox_meta_learning": {"smoke": 45, "laptop": 300},
    "06_maml_hessian": {"smoke": 30, "laptop": 240},
    "07_nonparametric_meta_learning": {"smoke": 45, "laptop": 300},
}

# A single cell may take at most this multiple of the whole notebook's budget before it is stopped:
# far over budget already, and a hung cell must not hang the benchmark.
CELL_TIMEOUT_FACTOR = 3
CELL_TIMEOUT_WITHOUT_BUDGET_S = 1800
SLOWEST_CELLS = 3  # reported per notebook and profile, to show where the time goes


@dataclass
class Timing:
    """The runs of one notebook in one profile."""

    runs_s: list[float] = field(default_factory=list)
    """Wall seconds of each completed run, in order."""
    median_s: float | None = None
    """Median of ``runs_s``; None when no run completed."""
    budget_s: float | None = None
    """The budget from BUDGETS_S; None when the notebook has none for this profile."""
    within_budget: bool | None = None
    """median_s <= budget_s; None when there is no median or no budget."""
    error: str | None = None
    """Why a run failed (the failing cell's error), if one did."""
    slowest_cells: list[dict[str, object]] = field(default_factory=list)
    """The slowest code cells of the last completed run: index, seconds, first source line."""

    @property
    def ok(self) -> bool:
        return self.error is None and self.within_budget is True


def discover(names: Sequence[str]) -> list[str]:
    """Notebook names to time: those given (``01_task_definition``, ``01`` or a path), else all of notebooks/.

    Example:
        >>> discover(["notebooks/01_task_definition.ipynb"])
        ['01_task_definition']
    """
    sources = list_assignments(COURSE_DIR)
    if not names:
        found = sorted(p.stem for p in NOTEBOOKS_DIR.glob("*.ipynb"))
        if not found:
            hint = ""
            if sources:
                hint = (
                    f" The instructor sources present are: {', '.join(sources)}; run `make release` to "
                    f"generate notebooks/, or name them here."
                )
            raise UsageError(f"No notebooks found in {NOTEBOOKS_DIR}, so there is nothing to time.{hint}")
        names = found
    chosen = []
    for raw in names:
        stem = Path(raw).stem
        matches = [s for s in sources if s == stem or s.split("_", 1)[0] == stem]
        if len(matches) != 1:
            raise UsageError(
                f"{raw!r} names no instructor source notebook (looked for "
                f"{SOURCE_DIR.relative_to(ROOT)}/<name>/<name>.ipynb). "
                f"Available: {', '.join(sources) or 'none'}. "
                f"Give a name such as 01_task_definition or 01; nothing was run."
            )
        if matches[0] not in chosen:
            chosen.append(matches[0])
    return chosen


def cell_seconds(nb: dict) -> list[dict[str, object]]:
    """Per code cell: its index, seconds (from the timestamps nbclient records) and first source line."""
    out = []
    for index, cell in enumerate(nb["cells"]):
        stamps = cell.get("metadata", {}).get("execution", {})
        begin, end = stamps.get("iopub.execute_input"), stamps.get("shell.execute_reply")
        if cell["cell_type"] != "code" or not (begin and end):
            continue
        seconds = (dt.datetime.fromisoformat(end.rstrip("Z")) - dt.datetime.fromisoformat(begin.rstrip("Z")))
        first_line = next((line for line in cell["source"].splitlines() if line.strip()), "")
        out.append({"cell": index, "seconds": round(seconds.total_seconds(), 3), "source": first_line[:80]})
    return out


def cold_data_dir(folder: Path) -> Path:
    """Make ``folder`` a data folder with nothing cached: its ``omniglot/`` links the zips of the current one.

    A run pointed at it decodes Omniglot, draws the glyphs and pre-trains networks from nothing, as a
    student's first run does.
    """
    from mtml_utils.data import data_dir

    zips = sorted((data_dir() / "omniglot").glob("*.zip"))
    (folder / "omniglot").mkdir(parents=True, exist_ok=True)
    for path in zips:
        (folder / "omniglot" / path.name).symlink_to(path.resolve())
    return folder


def run_once(
    name: str, profile: str, cell_timeout: float, cold: bool = False
) -> tuple[float, list[dict[str, object]]]:
    """Execute the source notebook once in a fresh kernel; return its wall seconds and per-cell seconds.

    With ``cold``, the kernel gets an empty cache (see :func:`cold_data_dir`): the time of a first run.

    Raises nbclient's CellExecutionError (or CellTimeoutError, DeadKernelError) when a cell fails.

    Example:
        >>> seconds, cells = run_once("01_task_definition", "smoke", cell_timeout=90)  # doctest: +SKIP
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(SOURCE_DIR / name / f"{name}.ipynb", as_version=4)
    env = dict(os.environ, MTML_PROFILE=profile, MPLBACKEND="Agg")
    scratch = tempfile.TemporaryDirectory(prefix="mtml-cold-") if cold else None
    if scratch is not None:
        env["MTML_DATA_DIR"] = str(cold_data_dir(Path(scratch.name)))
    client = NotebookClient(
        nb, timeout=cell_timeout, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS_DIR)}}
    )
    outcome: dict[str, object] = {}

    def execute() -> None:
        start = time.perf_counter()
        try:
            client.execute(env=env)  # env reaches the kernel process; a fresh kernel per call
            outcome["seconds"] = time.perf_counter() - start
        except BaseException as exc:  # handed to the main thread below
            outcome["error"] = exc

    # In a worker thread nbclient installs no SIGINT/SIGTERM handlers of its own (those only kill the
    # kernel and let the benchmark carry on), so Ctrl-C stops the whole benchmark. The kernel is then
    # shut down by nbclient's exit hook, or exits by itself when it sees its parent gone.
    worker = threading.Thread(target=execute, name=f"run {name} {profile}", daemon=True)
    worker.start()
    while worker.is_alive():
        worker.join(0.2)
    if scratch is not None:
        scratch.cleanup()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return float(outcome["seconds"]), cell_seconds(nb)  # type: ignore[arg-type]


def time_notebook(name: str, profile: str, repeats: int, cold: bool = False) -> Timing:
    """Run one notebook ``repeats`` times in one profile (each with an empty cache if ``cold``); stop at the
    first error."""
    budget = BUDGETS_S.get(name, {}).get(profile)
    timing = Timing(budget_s=budget)
    cell_timeout = budget * CELL_TIMEOUT_FACTOR if budget else CELL_TIMEOUT_WITHOUT_BUDGET_S
    for i in range(repeats):
        print(f"  {name} [{profile}] run {i + 1}/{repeats} ...", end=" ", flush=True)
        try:
            seconds, cells = run_once(name, profile, cell_timeout, cold)
        except Exception as exc:  # any failure of the notebook is a result to report, not a crash
            print("ERROR", flush=True)
            timing.error = f"{type(exc).__name__}: {exc}"
            print(f"\n{name} failed in profile {profile}:\n{timing.error}\n", file=sys.stderr, flush=True)
            break
        print(f"{seconds:.1f} s", flush=True)
        timing.runs_s.append(round(seconds, 3))
        timing.slowest_cells = sorted(cells, key=lambda c: -float(c["seconds"]))[:SLOWEST_CELLS]
    if timing.runs_s and timing.error is None:
        timing.median_s = round(statistics.median(timing.runs_s), 3)
        if budget is not None:
            timing.within_budget = timing.median_s <= budget
    return timing




def verdict(t: Timing) -> str:
    if t.error is not None:
        return "ERROR"
    if t.budget_s is None:
        return "NO BUDGET (add it to BUDGETS_S)"
    return "ok" if t.within_budget else "OVER BUDGET"


def render_table(results: dict[str, dict[str, Timing]]) -> str:
    """A fixed-width table: notebook, profile, median, budget, every run, verdict."""

    def sec(value: float | None) -> str:
        return "-" if value is None else f"{value:.1f} s"

    rows = [("notebook", "profile", "median", "budget", "runs (s)", "verdict")]
    for name, by_profile in results.items():
        for profile, t in by_profile.items():
            runs = " ".join(f"{r:.1f}" for r in t.runs_s) or "-"
            rows.append((name, profile, sec(t.median_s), sec(t.budget_s), runs, verdict(t)))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows)
    return "\n".join(lines)


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="names (01_task_definition or 01); default: all")
    parser.add_argument("--profiles", nargs="+", choices=PROFILES, default=["smoke", "laptop"])
    parser.add_argument("--repeats", type=int, default=3, help="runs per notebook and profile (median kept)")
    parser.add_argument("--cold", action="store_true",
                        help="give every run an empty cache (Omniglot decoded, networks pre-trained afresh): "
                             "the time of a student's first run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="JSON file to write")
    parser.add_argument("--fresh", action="store_true",
                        help="drop the measurements already in --out instead of keeping the ones not re-run")
    return parser.parse_args(argv)


def _earlier_measurements(path: Path) -> dict[str, dict[str, dict]]:
    """The ``notebooks`` section of an earlier report, entries without their own ``measured`` stamp getting
    the report's machine; empty when there is no readable report."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    settings = earlier.get("settings", {})
    stamp = {"machine": earlier.get("machine"), "repeats": settings.get("repeats"),
             "cold": settings.get("cold")}
    return {name: {profile: {"measured": stamp, **timing} for profile, timing in by_profile.items()}
            for name, by_profile in earlier.get("notebooks", {}).items()}


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        if args.repeats < 1:
            raise UsageError(f"--repeats must be at least 1 (got {args.repeats}); nothing was run.")
        names = discover(args.notebooks)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    machine = machine_info()
    print(f"Timing {', '.join(names)} in profiles {', '.join(args.profiles)}, {args.repeats} run(s) each, "
          f"on {machine['cpu_count']} CPUs, torch {machine['torch']}, device {machine['device']}")
    results: dict[str, dict[str, Timing]] = {}
    try:
        for name in names:
            results[name] = {
                profile: time_notebook(name, profile, args.repeats, args.cold) for profile in args.profiles
            }
    except KeyboardInterrupt:
        print(f"\ninterrupted: nothing written to {args.out}", file=sys.stderr)
        return 130

    ok = all(t.ok for by_profile in results.values() for t in by_profile.values())
    measured = {"machine": machine, "repeats": args.repeats, "cold": args.cold}
    notebooks = {} if args.fresh else _earlier_measurements(args.out)
    for n, bp in results.items():
        for p, t in bp.items():
            notebooks.setdefault(n, {})[p] = {**asdict(t), "measured": measured}
    report = {
        "machine": machine,
        "settings": {"profiles": args.profiles, "repeats": args.repeats, "cold": args.cold},
        "notebooks": dict(sorted(notebooks.items())),
        "ok": ok,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(render_table(results))
    for name, by_profile in results.items():
        for profile, t in by_profile.items():
            slow = ", ".join(f"cell {c['cell']} {c['seconds']:.1f} s" for c in t.slowest_cells)
            if slow:
                print(f"slowest cells of {name} [{profile}]: {slow}")
    print(f"\nwrote {args.out}")
    if not ok:
        print("FAILED: a notebook errored, missed its budget or has none (see the table).", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
