"""What a grading process pays before it grades: importing nbformat, with and without the course's guard, and
creating its gradebook, with nbgrader's ``alembic heads`` subprocess and with the course's stamp.

    python benchmarks/process_start.py             # 7 repeats of each
    python benchmarks/process_start.py --repeats 15

Every process of the grader imports nbformat (through nbgrader and nbclient): one per ``grade`` and ``check``
run, one per parallel job, and the test suite starts hundreds of them. nbformat imports jsonschema, whose
format checkers import ``rfc3987_syntax`` where it is installed (jupyter-events pulls it in), and its
version 1.1.0 builds about 39 parsers at import. ``autograder/__init__.py`` marks that module absent, so
jsonschema skips its two "iri" checkers (no Jupyter schema uses them). This script times, side by side in
one run (the variants alternate, repeat after repeat), fresh interpreters that import

- ``nbformat`` alone (what plain nbgrader or any other Jupyter process pays),
- ``autograder`` then ``nbformat`` (what the course's grading processes pay),
- ``autograder`` then ``nbgrader.apps`` (the grading process's own import),
- a new gradebook as nbgrader makes it (it runs ``alembic heads`` in a new process, which imports alembic, for
  the schema revision to stamp it with: every ``grade`` and ``feedback`` run creates one),
- a new gradebook stamped as the course does (``autograder.course.stamp_gradebooks_in_process``: the revision
  read from nbgrader's migration scripts),

and reports the median wall time of each and the ratios plain / guarded and nbgrader's / the course's.
Writes JSON (default ``benchmarks/results/process_start.json``); exits 1 when the guarded import still loads
``rfc3987_syntax``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from machine import machine_info  # benchmarks/machine.py (this folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "process_start.json"
REPORT = "import sys; print('rfc3987_syntax' in sys.modules and sys.modules['rfc3987_syntax'] is not None)"
# The venv's bin folder first on PATH (where nbgrader finds `alembic`), a gradebook in a new folder.
NEW_GRADEBOOK = ("import autograder, os, sys, tempfile; "
                 "os.environ['PATH'] = os.path.dirname(sys.executable) + os.pathsep + os.environ['PATH']; "
                 "{stamp}from nbgrader.api import Gradebook; "
                 "Gradebook('sqlite:///' + tempfile.mkdtemp() + '/g.db').close(); ")
STAMP = "from autograder.course import stamp_gradebooks_in_process; stamp_gradebooks_in_process(); "
VARIANTS = {
    "nbformat": "import nbformat; " + REPORT,
    "autograder + nbformat": "import autograder, nbformat; " + REPORT,
    "autograder + nbgrader.apps": "import autograder, nbgrader.apps; " + REPORT,
    "new gradebook, alembic heads": NEW_GRADEBOOK.format(stamp="") + REPORT,
    "new gradebook, course's stamp": NEW_GRADEBOOK.format(stamp=STAMP) + REPORT,
}


def timed_import(code: str) -> tuple[float, bool]:
    """Wall seconds of a fresh interpreter running ``code`` in the repository root, and whether it ended
    with ``rfc3987_syntax`` loaded.

    Example:
        >>> seconds, loaded = timed_import("import nbformat; " + REPORT)  # doctest: +SKIP
    """
    started = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return time.perf_counter() - started, out.stdout.strip() == "True"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    times: dict[str, list[float]] = {name: [] for name in VARIANTS}
    loaded: dict[str, bool] = {}
    for _ in range(args.repeats):
        for name, code in VARIANTS.items():  # alternating, so a slower moment of the machine hits them all
            seconds, loaded[name] = timed_import(code)
            times[name].append(seconds)
    medians = {name: statistics.median(values) for name, values in times.items()}
    ratio = medians["nbformat"] / medians["autograder + nbformat"]
    for name in VARIANTS:
        print(f"{name:28s} median {medians[name]:.2f} s over {args.repeats}; "
              f"rfc3987_syntax loaded: {loaded[name]}")
    print(f"import nbformat, plain / with the course's guard: {ratio:.2f}x")
    stamp_ratio = medians["new gradebook, alembic heads"] / medians["new gradebook, course's stamp"]
    print(f"new gradebook, nbgrader's alembic heads / the course's stamp: {stamp_ratio:.2f}x")

    result = {
        "machine": machine_info(),
        "date": time.strftime("%Y-%m-%d"),
        "repeats": args.repeats,
        "median_s": medians,
        "all_s": times,
        "rfc3987_syntax_loaded": loaded,
        "ratio_plain_over_guarded": ratio,
        "ratio_alembic_heads_over_stamp": stamp_ratio,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"Wrote {args.out}")
    guarded_ok = not loaded["autograder + nbformat"] and not loaded["autograder + nbgrader.apps"]
    return 0 if guarded_ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
