"""The course at a glance: one table of every benchmark's latest figures, written into benchmarks/README.md.

    python benchmarks/course_table.py             # after any of the other benchmark scripts

It reads the JSON the other scripts wrote in ``benchmarks/results/`` — ``notebook_times.json``
(each notebook's median in ``smoke`` and ``laptop``, and ``full`` where a GPU run exists),
``grading.json`` (seconds per student, students per minute, the sandbox's overhead),
``episode_sampling.json`` and ``maml_step.json`` (the speed-ups notebooks 05 and 06 rely on) — and
replaces the block between the ``course-table`` markers of ``benchmarks/README.md`` with the tables,
each figure with the date it was measured. A figure whose JSON is missing shows as "not measured".
Also writes ``benchmarks/results/course_table.json``. Nothing is run or timed here.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
README = ROOT / "benchmarks" / "README.md"
BEGIN = "<!-- course-table:begin (written by benchmarks/course_table.py from benchmarks/results/) -->"
END = "<!-- course-table:end -->"
MISSING = "not measured"


def _load(name: str) -> dict:
    try:
        return json.loads((RESULTS / f"{name}.json").read_text())
    except (OSError, ValueError):
        return {}


def _date(report: dict) -> str:
    return str((report.get("machine") or {}).get("date", ""))[:10] or "?"


def _seconds(value: float | None) -> str:
    return MISSING if value is None else f"{value:.1f} s"


def notebook_rows(times: dict, grading: dict, notebooks: list[str]) -> list[list[str]]:
    """One row per notebook: smoke, laptop (with its budget), full on a GPU, grading seconds per student.

    Example:
        >>> times = {"notebooks": {"01_x": {"smoke": {"median_s": 6.04, "budget_s": 30,
        ...          "measured": {"machine": {"date": "2026-11-30T01:00", "device": "cpu"}}}}}}
        >>> notebook_rows(times, {}, ["01_x"])[0][:3]
        ['`01_x`', '6.0 s (2026-11-30, ? runs)', 'not measured']
    """
    per_student = (grading.get("overhead") or {}).get("per_assignment", {})
    rows = []
    for name in notebooks:
        by_profile = (times.get("notebooks") or {}).get(name, {})
        cells = []
        for profile in ("smoke", "laptop", "full"):
            t = by_profile.get(profile)
            if not t or t.get("median_s") is None:
                cells.append(MISSING)
                continue
            measured = t.get("measured") or {"machine": times.get("machine", {})}
            budget = f" / {t['budget_s']:g} s" if t.get("budget_s") and profile != "smoke" else ""
            device = (measured.get("machine") or {}).get("device", "")
            where = f", {device.split(' ')[0]}" if profile == "full" and device else ""
            runs = len(t.get("runs_s") or []) or measured.get("repeats") or "?"
            plural = "" if runs == 1 else "s"
            cells.append(f"{t['median_s']:.1f} s{budget} ({_date(measured)}{where}, {runs} run{plural})")
        grade = per_student.get(name, {}).get("sandboxed_jobs1_s_per_student")
        rows.append([f"`{name}`", *cells, _seconds(grade)])
    return rows


def ratio_rows(grading: dict, episodes: dict, maml: dict) -> list[list[str]]:
    """The measured ratios and rates: what, value, target, script, date."""
    rows = []
    if episodes:
        rows.append(["episodes per second: on-device sampler / PNG loader (05)", f"{episodes['ratio']:.1f}x",
                     f">= {episodes['settings']['target']:g}x", "episode_sampling.py", _date(episodes)])
    for order in ("second_order", "first_order"):
        if order in maml:
            target = f">= {maml['settings']['target']:g}x"
            rows.append([f"MAML meta-batch, {order.replace('_', '-')}: vmap / loop over tasks (06)",
                         f"{maml[order]['ratio']:.2f}x", target, "maml_step.py", _date(maml)])
    if grading:
        backends = grading.get("backends", {})
        rates = " / ".join(f"{b['students_per_min']:.1f}" for b in backends.values())
        n = grading.get("n_submissions", "?")
        what = f"students graded per minute: {' / '.join(backends)} ({n} submissions)"
        rows.append([what, rates, "", "grading.py", _date(grading)])
        overhead = grading.get("overhead", {})
        if "ratio" in overhead:
            rows.append(["grading time: sandboxed / plain nbgrader autograde", f"{overhead['ratio']:.2f}x",
                         f"<= {overhead['target']:g}x", "grading.py", _date(grading)])
    return rows


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def render(notebooks: list[str]) -> tuple[str, dict]:
    """The README block (markdown between the markers) and the JSON of the same figures."""
    times, grading = _load("notebook_times"), _load("grading")
    episodes, maml = _load("episode_sampling"), _load("maml_step")
    machine = (times.get("machine") or grading.get("machine") or {})
    nb_rows = notebook_rows(times, grading, notebooks)
    r_rows = ratio_rows(grading, episodes, maml)
    text = "\n\n".join([
        BEGIN,
        f"Machine: {machine.get('cpu_count', '?')} CPUs, torch {machine.get('torch', '?')}, "
        f"{machine.get('device', '?')}. Times are medians, kernel start included; laptop cells show the "
        "budget after the slash; grading is seconds per student with the sandbox, one job.",
        _table(["notebook", "`smoke`", "`laptop` / budget", "`full` (GPU)", "grading per student"], nb_rows),
        _table(["measured", "value", "target", "script", "date"], r_rows),
        END,
    ])
    return text, {"notebooks": nb_rows, "ratios": r_rows, "machine": machine}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readme", type=Path, default=README, help="markdown file holding the markers")
    args = parser.parse_args(argv)
    notebooks = sorted(p.stem for p in (ROOT / "notebooks").glob("*.ipynb"))
    text, figures = render(notebooks)
    readme = args.readme.read_text()
    pattern = re.compile(re.escape(BEGIN.split(" (")[0]) + r".*?" + re.escape(END), re.S)
    if not pattern.search(readme):
        print(f"error: {args.readme} has no course-table markers ({BEGIN} ... {END})", file=sys.stderr)
        return 2
    args.readme.write_text(pattern.sub(lambda _: text, readme, count=1))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "course_table.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(text)
    print(f"\nwrote {args.readme} and {RESULTS / 'course_table.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
