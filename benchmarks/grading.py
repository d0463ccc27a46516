"""Grading throughput of ``grade_submissions`` per back end, and the sandbox's cost against plain nbgrader.

    python benchmarks/grading.py --students 3                     # a quick look (6 assignments x 3)
    python benchmarks/grading.py                                  # the full size: 20 students per assignment
    python benchmarks/grading.py --assignments 01 06 --students 8

K submissions (``--students``, default 20) of every assignment under ``autograder/source`` are written once
in nbgrader's ``submitted/`` layout; per assignment they cycle through the instructor notebook (a correct
submission), the blank student notebook ``notebooks/<a>.ipynb`` and each classic mistake of
``tests/classic_mistakes.py`` (the solution with one substring of one answer cell replaced), then again.

1. Throughput: the same submissions are graded by :func:`autograder.grade.grade_submissions` three times,
   with ``jobs=1``, ``jobs=2`` and a local Dask cluster of 2 workers; the wall time of each call (course
   preparation and cluster start included) gives students per minute, and the three ``grades.csv`` must be
   identical byte for byte.
2. Sandbox overhead: plain ``nbgrader autograde <a> --force`` (one process per assignment, all its
   students) in a temporary copy of the course whose config is the shipped one but with nbgrader's default
   ``autograde_preprocessors`` (``Execute`` instead of ``TrustedExecute``) and a kernelspec without the
   sandbox; ratio = the ``jobs=1`` wall time / the plain autograde wall time (target <= 1.3). The plain run's
   ``generate_assignment`` is timed apart and left out of that ratio (a second ratio includes it).
   The hidden tests live in ``source/<a>/grading.py``, not in the notebooks, so plain nbgrader runs only
   the visible checks: it does less work, its time is a lower bound and the ratio an upper bound. Its
   kernels get a fresh empty ``HOME``, so they start with no cached data but keep what they cache from one
   student to the next, which sandboxed kernels (read-only data, a private /tmp each) cannot.

The submissions use the smoke profile, offline, with ``MTML_DATA_DIR=/work/shared/data/omniglot`` when that
folder exists (as the tests do) and a cell timeout of ``--cell-timeout`` seconds. Per-student seconds of
the ``jobs=1`` run come from the times of its progress lines (the first one includes preparing the course).
Writes JSON (default ``benchmarks/results/grading.json``); exits 1 when the CSVs differ, a plain autograde
failed, or the ratio is above ``--target``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from machine import machine_info  # benchmarks/machine.py (this folder is on sys.path)

from autograder import COURSE_ROOT
from autograder.course import copy_course, isolated_environment, list_assignments, source_notebook
from autograder.grade import grade_submissions

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "benchmarks" / "results" / "grading.json"
DATA_DIR = ROOT.parent / "shared" / "data" / "omniglot"
sys.path.insert(0, str(ROOT / "tests"))
from classic_mistakes import MISTAKES  # noqa: E402 (tests/ is put on the path just above)

BACKENDS = {"jobs=1": dict(jobs=1), "jobs=2": dict(jobs=2),
            "dask local, 2 workers": dict(jobs=2, scheduler="local")}


def write_submissions(root: Path, assignments: list[str], k: int) -> dict[str, list[str]]:
    """Write ``root/s<i>/<a>/<a>.ipynb`` for i < k; return each assignment's kinds in student order."""
    kinds = {}
    for a in assignments:
        source = nbformat.read(source_notebook(COURSE_ROOT, a), as_version=4)
        blank = (ROOT / "notebooks" / f"{a}.ipynb").read_text(encoding="utf-8")
        cycle = ["correct", "blank", *(f"mistake_{m.name}" for m in MISTAKES.get(a, []))]
        kinds[a] = [cycle[i % len(cycle)] for i in range(k)]
        for i, kind in enumerate(kinds[a]):
            if kind == "blank":
                text = blank
            else:
                nb = nbformat.from_dict(source)
                for m in MISTAKES.get(a, []):
                    if kind == f"mistake_{m.name}":
                        cell = next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id")
                                    == m.answer_id)
                        assert cell.source.count(m.old) == 1, f"{a}: mistake {m.name} does not apply"
                        cell.source = cell.source.replace(m.old, m.new)
                text = nbformat.writes(nb)
            folder = root / f"s{i:02d}" / a
            folder.mkdir(parents=True)
            (folder / f"{a}.ipynb").write_text(text, encoding="utf-8")
    return kinds


def timed_grading(submitted: Path, out: Path, cell_timeout: int, **backend) -> dict[str, object]:
    """One ``grade_submissions`` call: wall time, the sandbox line, each student's seconds (from the
    times of the progress lines; meaningful with one job only), the statuses that are not ``ok``."""
    lines: list[tuple[float, str]] = []

    def echo(line: str) -> None:
        lines.append((time.monotonic(), line))
        if line.startswith("["):
            print(f"    {line}", flush=True)

    start = time.monotonic()
    rows = grade_submissions(submitted, out, jobs=backend.get("jobs", 1), scheduler=backend.get("scheduler"),
                             cell_timeout=cell_timeout, profile="smoke", echo=echo)
    wall = time.monotonic() - start
    per_student, previous = {}, None
    for t, line in lines:
        if line.startswith("Grading "):
            previous = t
        elif (match := re.match(r"\[\d+/\d+\] (\S+) (\S+): ", line)) and previous is not None:
            per_student[f"{match[1]}/{match[2]}"], previous = round(t - previous, 2), t
    return {"wall_s": round(wall, 2), "students_per_min": round(60 * len(rows) / wall, 2),
            "s_per_student": round(wall / len(rows), 2), "sandbox": lines[0][1] if lines else "",
            "not_ok": {f"{r.student_id}/{r.assignment}": r.status for r in rows if r.status != "ok"},
            "per_student_s": per_student}


def plain_preprocessors() -> list[str]:
    """nbgrader's own default ``Autograde.autograde_preprocessors``, as import paths for a config file."""
    from nbgrader.converters import Autograde

    defaults = Autograde.class_traits()["autograde_preprocessors"].default()
    return [f"{cls.__module__}.{cls.__name__}" for cls in defaults]


def plain_nbgrader(work: Path, submitted: Path, assignments: list[str], cell_timeout: int) -> dict:
    """``nbgrader generate_assignment`` then ``nbgrader autograde <a> --force`` per assignment, timed, in a
    course copy with nbgrader's default preprocessors and a kernel without the sandbox."""
    course = copy_course(COURSE_ROOT, work / "course", assignments)
    with open(course / "nbgrader_config.py", "a", encoding="utf-8") as config:
        config.write(f"\n# benchmarks/grading.py: plain nbgrader\nc.Autograde.autograde_preprocessors = "
                     f"{plain_preprocessors()!r}\nc.Execute.timeout = {cell_timeout}\n")
    shutil.copytree(submitted, course / "submitted")
    (work / "home").mkdir()
    env = {**os.environ, **isolated_environment(work / "env", "smoke"), "HOME": str(work / "home")}
    nbgrader = str(Path(sys.executable).parent / "nbgrader")

    def run(*args: str) -> tuple[float, int, str]:
        start = time.monotonic()
        proc = subprocess.run([nbgrader, *args], cwd=course, env=env, capture_output=True, text=True)
        return time.monotonic() - start, proc.returncode, proc.stdout + proc.stderr

    generate_s, failures, per_assignment = 0.0, {}, {}
    for a in assignments:
        seconds, rc, log = run("generate_assignment", a, "--force", "--create")
        generate_s += seconds
        if rc != 0:
            failures[f"generate {a}"] = log[-1000:]
    for a in assignments:
        seconds, rc, log = run("autograde", a, "--force")
        graded = len(list((course / "autograded").glob(f"*/{a}/{a}.ipynb")))
        per_assignment[a] = {"seconds": round(seconds, 2), "autograded_notebooks": graded}
        print(f"    plain nbgrader autograde {a}: {seconds:.1f} s, {graded} notebooks", flush=True)
        if rc != 0 or "There was an error processing assignment" in log:
            failures[f"autograde {a}"] = log[-1000:]
    autograde_s = sum(p["seconds"] for p in per_assignment.values())
    return {"autograde_s": round(autograde_s, 2), "generate_assignment_s": round(generate_s, 2),
            "per_assignment": per_assignment, "failures": failures}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--students", type=int, default=20, help="submissions per assignment (K)")
    parser.add_argument("--assignments", nargs="+", help="names or prefixes (default: every assignment)")
    parser.add_argument("--cell-timeout", type=int, default=120)
    parser.add_argument("--target", type=float, default=1.3, help="the largest acceptable overhead ratio")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)

    known = list_assignments(COURSE_ROOT)
    chosen = [a for a in known if not args.assignments or any(a.startswith(p) for p in args.assignments)]
    if not chosen or args.students < 1:
        parser.error(f"nothing to grade: --assignments must name some of {', '.join(known)}, --students >= 1")
    if DATA_DIR.is_dir():
        os.environ.setdefault("MTML_DATA_DIR", str(DATA_DIR))
    n = len(chosen) * args.students
    print(f"Grading {n} submissions ({len(chosen)} assignment(s) x {args.students}), smoke profile, "
          f"cell timeout {args.cell_timeout} s", flush=True)
    started = time.monotonic()
    machine = machine_info()  # the load average before grading starts
    result: dict[str, object] = {"settings": vars(args) | {"out": str(args.out), "assignments": chosen}}
    with tempfile.TemporaryDirectory(prefix="mtml-bench-grading-") as tmp:
        tmp = Path(tmp)
        result["submissions"] = write_submissions(tmp / "submitted", chosen, args.students)
        runs, csvs = {}, {}
        # jobs=1 first, then plain nbgrader right after it, then the parallel back ends.
        for name in ["jobs=1", "plain", *list(BACKENDS)[1:]]:
            print(f"  {name} ...", flush=True)
            if name == "plain":
                runs[name] = plain_nbgrader(tmp / "plain", tmp / "submitted", chosen, args.cell_timeout)
                continue
            out = tmp / f"grades_{len(csvs)}.csv"
            runs[name] = timed_grading(tmp / "submitted", out, args.cell_timeout, **BACKENDS[name])
            csvs[name] = out.read_bytes()
            if name != "jobs=1":  # with parallel workers the progress lines say nothing per student
                del runs[name]["per_student_s"]
        result["grades_csv"] = csvs["jobs=1"].decode()
    plain = runs.pop("plain")
    identical = len(set(csvs.values())) == 1
    result["sandbox"] = {name: r.pop("sandbox") for name, r in runs.items()}["jobs=1"]
    ratio = runs["jobs=1"]["wall_s"] / plain["autograde_s"]
    ratio_generate = runs["jobs=1"]["wall_s"] / (plain["autograde_s"] + plain["generate_assignment_s"])
    ours = {a: sum(s for key, s in runs["jobs=1"]["per_student_s"].items() if key.endswith(f"/{a}"))
            for a in chosen}
    plain_s = {a: plain["per_assignment"][a]["seconds"] for a in chosen}
    per_assignment = {a: {"sandboxed_jobs1_s_per_student": round(ours[a] / args.students, 2),
                          "plain_s_per_student": round(plain_s[a] / args.students, 2)} for a in chosen}
    result |= {
        "n_submissions": n,
        "backends": runs,
        "grades_csv_identical": identical,
        "grades_csv_sha256": {k: hashlib.sha256(v).hexdigest() for k, v in csvs.items()},
        "plain_nbgrader": plain | {"students_per_min": round(60 * n / plain["autograde_s"], 2),
                                   "s_per_student": round(plain["autograde_s"] / n, 2),
                                   "note": "no sandbox, nbgrader's Execute; only the visible checks run "
                                           "(the hidden tests are in grading.py): a lower bound on time"},
        "overhead": {"ratio": round(ratio, 2), "ratio_with_plain_generate": round(ratio_generate, 2),
                     "target": args.target, "meets_target": ratio <= args.target,
                     "note": "jobs=1 wall time / plain autograde wall time; an upper bound "
                             "(see plain_nbgrader)",
                     "per_assignment": per_assignment},
        "total_run_s": round(time.monotonic() - started, 1),
        "machine": machine,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")

    print(f"\n{'back end':37s} {'wall s':>8s} {'students/min':>13s} {'s/student':>10s}")
    plain_row = ("plain nbgrader (no sandbox, visible)", result["plain_nbgrader"])
    for name, r in [*runs.items(), plain_row]:
        wall = r.get("wall_s", r.get("autograde_s"))
        print(f"{name:37s} {wall:8.1f} {r['students_per_min']:13.2f} {r['s_per_student']:10.2f}")
    print(f"grades.csv identical across back ends: {'yes' if identical else 'NO'}")
    for a, p in per_assignment.items():
        print(f"  {a:28s} s/student: sandboxed {p['sandboxed_jobs1_s_per_student']:6.2f}, "
              f"plain {p['plain_s_per_student']:6.2f}")
    ok = identical and not plain["failures"] and ratio <= args.target
    print(f"sandbox overhead ratio (jobs=1 / plain autograde) {ratio:.2f} (target <= {args.target:g}), "
          f"{ratio_generate:.2f} counting plain generate_assignment; "
          f"{'ok' if ok else 'MISSED' if identical and not plain['failures'] else 'FAILED'}")
    print(f"total {time.monotonic() - started:.0f} s; wrote {args.out}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
