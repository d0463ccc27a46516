"""``make test``: the laptop-profile notebook runs at low priority beside every other test, then one report.

    python tests/run_all.py [--long-jobs 2] [--test-jobs 0] [PYTEST ARGS ...]

The suite has two parts. The laptop-profile notebook runs (tests marked ``long``) are minutes of pure
computation each. The other tests are many short waits (kernels starting, cell and notebook timeouts,
servers, browsers) between bursts of work, and several of them have time limits that a loaded machine
breaks. Run one after the other, the cores sit idle through those waits; run side by side as equals, the
laptop runs slow the others down. So the laptop part runs in the background at the lowest CPU priority
(its pytest, its workers and every kernel they start: :func:`yield_cpu`), soaking up only what the other
tests leave idle, and the other tests run in the foreground as if alone. Its output goes to a log file
(named at the start, to follow with ``tail -f``) and is printed once the other tests are done; the run fails
when either part fails. Each part prints its own slowest tests; the run ends with the slowest of the two
together (:func:`slowest_tests`), read from each part's JUnit XML report, which is kept in
``test-artifacts/junit/`` (``MTML_TEST_ARTIFACTS`` moves it) for CI services and editors that read the
format. Ctrl-C or a termination stops both parts, kernels included.

Extra arguments go to both pytest runs. Only the standard library is used: the students' copy of the
course ships this file with its own tests (where no test is marked ``long``, which is no failure).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

#: pytest's exit code when no test was selected: the students' copy has no laptop-profile runs.
NO_TESTS_COLLECTED = 5
#: Seconds the stopped laptop part gets to end its workers before they are killed.
STOP_GRACE_S = 10
LOWEST_PRIORITY = 19
#: How many of the slowest tests of the whole run are listed at its end.
SLOWEST = 25


def artifacts_folder() -> Path:
    """The folder where tests keep what they leave for people to look at: ``MTML_TEST_ARTIFACTS``, by default
    the course's ``test-artifacts/`` (git-ignored): each part's JUnit XML report (``junit/``), the browser
    tests' screenshots (``browser/``).

    Example:
        >>> (artifacts_folder() / "junit").name
        'junit'
    """
    course = Path(__file__).resolve().parents[1]
    return Path(os.environ.get("MTML_TEST_ARTIFACTS") or course / "test-artifacts")


def yield_cpu(pid: int) -> None:
    """Give process ``pid`` (and the session it leads, if it leads one) the lowest CPU priority.

    On Linux with autogroup scheduling (most desktop and CI kernels), every session is scheduled as one group
    and a process's own nice value only ranks it inside its session: a Jupyter kernel leads a session of
    its own, so its group's nice value (``/proc/PID/autogroup``) is what makes it yield to other work. Both
    are set where they exist; anything refused is left as it was (a lower priority is never required for
    correctness, only for speed).

    Example:
        >>> yield_cpu(os.getpid())  # doctest: +SKIP
    """
    with contextlib.suppress(OSError):
        os.setpriority(os.PRIO_PROCESS, pid, LOWEST_PRIORITY)
    with contextlib.suppress(OSError):
        Path(f"/proc/{pid}/autogroup").write_text(f"{LOWEST_PRIORITY}\n")


def slowest_tests(reports: Sequence[Path], count: int = SLOWEST) -> list[tuple[float, str]]:
    """The ``count`` slowest tests in the JUnit XML ``reports`` (pytest's ``--junitxml``), slowest first, as
    ``(seconds, test)``; a test's seconds are its setup, call and teardown together (pytest's default
    ``junit_duration_report``), so a module fixture's setup counts for the test that started it. A report
    that is missing or unreadable (a part stopped early) adds nothing.

    Example:
        >>> slowest_tests([Path("no-such-report.xml")])
        []
    """
    found = []
    for report in reports:
        with contextlib.suppress(OSError, ElementTree.ParseError):
            for case in ElementTree.parse(report).iter("testcase"):
                found.append((float(case.get("time") or 0), f"{case.get('classname')}::{case.get('name')}"))
    return sorted(found, key=lambda item: -item[0])[:count]


def _pytest(marker: str, jobs: str, extra: Sequence[str]) -> list[str]:
    return [sys.executable, "-m", "pytest", "-m", marker, "-n", jobs, "--dist", "loadgroup",
            "--no-loadscope-reorder", *extra]


def _stop(proc: subprocess.Popen, group: bool) -> None:
    """Terminate ``proc`` (its whole process group when ``group``), then kill it after STOP_GRACE_S."""
    if proc.poll() is not None:
        return
    send = (lambda sig: os.killpg(proc.pid, sig)) if group else proc.send_signal
    with contextlib.suppress(ProcessLookupError):
        send(signal.SIGTERM)
        try:
            proc.wait(STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            send(signal.SIGKILL)
            proc.wait()


def run(long_jobs: str = "2", test_jobs: str = "0", extra: Sequence[str] = ()) -> int:
    """Both parts of the suite as described above; returns the exit code for ``make test`` (0: both
    passed)."""
    reports = {part: artifacts_folder() / "junit" / f"{part}.xml" for part in ("laptop", "other")}
    for report in reports.values():
        report.parent.mkdir(parents=True, exist_ok=True)
        report.unlink(missing_ok=True)  # a part that writes none adds nothing stale
    junit = {part: [f"--junitxml={report}", *extra] for part, report in reports.items()}  # theirs win
    handle, name = tempfile.mkstemp(prefix="mtml-laptop-tests-", suffix=".log")
    os.close(handle)  # reopened below for the laptop part
    log = Path(name)
    print(f"make test: the laptop-profile notebooks run at low priority beside the other tests; their report "
          f"follows them (to watch: tail -f {log})", flush=True)
    with log.open("wb") as out:
        # A session of its own: its workers (and their kernels, which yield_cpu themselves) can be stopped as
        # one group, and Ctrl-C in the terminal reaches only the foreground part (stopped below).
        laptop = subprocess.Popen(_pytest("long", long_jobs, junit["laptop"]), stdout=out,
                                  stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    yield_cpu(laptop.pid)
    started = time.monotonic()
    rest = None
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        rest = subprocess.Popen(_pytest("not long", test_jobs, junit["other"]))
        rest_code = rest.wait()
        if laptop.poll() is None:
            print(f"make test: waiting for the laptop-profile notebooks (running for "
                  f"{time.monotonic() - started:.0f} s)", flush=True)
        laptop_code = laptop.wait()
    except KeyboardInterrupt:
        print(f"make test: interrupted; stopping both parts (the laptop part's output so far: {log})",
              flush=True)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        _stop(laptop, group=True)
        if rest is not None:
            _stop(rest, group=False)
    sys.stdout.flush()
    sys.stdout.buffer.write(log.read_bytes())
    log.unlink()
    if slowest := slowest_tests(list(reports.values())):
        print(f"make test: the {len(slowest)} slowest tests of both parts (seconds of setup, call and "
              "teardown):")
        for seconds, test in slowest:
            print(f"{seconds:9.2f}  {test}")
    if laptop_code == NO_TESTS_COLLECTED:
        print("make test: no laptop-profile notebook run was selected (the students' copy has none)")
        laptop_code = 0
    print(f"make test: laptop-profile notebooks: pytest exit {laptop_code}; the other tests: pytest exit "
          f"{rest_code}", flush=True)
    return 0 if laptop_code == 0 and rest_code == 0 else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-jobs", default="2", help="pytest-xdist workers of the laptop part (0: none)")
    parser.add_argument("--test-jobs", default="0",
                        help="pytest-xdist workers of the other tests (auto: one per core)")
    args, extra = parser.parse_known_args(argv)
    return run(args.long_jobs, args.test_jobs, extra)


if __name__ == "__main__":
    sys.exit(main())
