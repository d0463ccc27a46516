"""``make test``'s two parts (tests/run_all.py), on a small suite of its own: the laptop part runs beside the
other tests at the lowest priority, its report comes after theirs, a failure of either fails the run, a
selection without laptop runs is no failure, and stopping the run stops both parts.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from run_all import LOWEST_PRIORITY, yield_cpu

RUN_ALL = Path(__file__).resolve().parent / "run_all.py"
AUTOGROUP = Path("/proc/self/autogroup")

# Each test records when it ran and at what priority, in the folder named by the environment.
SUITE = '''
import json, os, time
from pathlib import Path

import pytest


def record(name, **more):
    group = Path("/proc/self/autogroup")
    facts = {"nice": os.getpriority(os.PRIO_PROCESS, 0), "pid": os.getpid(),
             "autogroup": group.read_text() if group.exists() else None, **more}
    Path(os.environ["RECORDS"], name + ".json").write_text(json.dumps(facts))


def run(name, seconds):
    start = time.time()
    record(name, start=start)
    time.sleep(seconds)
    record(name, start=start, end=time.time())
    assert os.environ.get("FAIL") != name


@pytest.mark.long
def test_laptop_run():
    run("laptop", float(os.environ.get("LAPTOP_SECONDS", "3")))


def test_other():
    if os.environ.get("WAIT_FOR_LAPTOP"):  # once started, the laptop test has 3 s to go
        deadline = time.time() + 60
        while not Path(os.environ["RECORDS"], "laptop.json").exists() and time.time() < deadline:
            time.sleep(0.05)
    run("other", 2)
'''


@pytest.fixture
def suite(tmp_path: Path) -> Path:
    """A project with the two kinds of test; RECORDS (below it) receives what each test saw."""
    (tmp_path / "pytest.ini").write_text("[pytest]\nmarkers =\n    long: a laptop-profile run\n")
    (tmp_path / "test_suite.py").write_text(SUITE)
    (tmp_path / "records").mkdir()
    return tmp_path


def _as_from_a_terminal() -> None:
    """SIGINT back to its default, as for a command typed in a terminal: this suite may itself run where it
    is inherited ignored (a background job of a non-interactive shell), and Python then keeps ignoring it."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def run_all(suite: Path, *args: str, **env: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(RUN_ALL), "--long-jobs", "0", "--test-jobs", "0", "-p", "no:cacheprovider",
         *args],
        cwd=suite, env={**os.environ, "RECORDS": str(suite / "records"),
                        "MTML_TEST_ARTIFACTS": str(suite / "artifacts"), **env},  # not the course's reports
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=_as_from_a_terminal)


def records(suite: Path) -> dict[str, dict]:
    return {p.stem: json.loads(p.read_text()) for p in (suite / "records").glob("*.json")}


def test_the_laptop_part_runs_beside_the_others_at_the_lowest_priority_and_reports_after_them(suite: Path):
    (suite / "tmp").mkdir()
    # -v: each test's name in its part's report. The other test waits (60 s at most) for the laptop test to
    # start, whose pytest may take a while to get the CPU at its priority on a busy machine.
    proc = run_all(suite, "-v", TMPDIR=str(suite / "tmp"), WAIT_FOR_LAPTOP="1")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    seen = records(suite)
    assert seen["laptop"]["nice"] == LOWEST_PRIORITY, out
    assert seen["other"]["nice"] == os.getpriority(os.PRIO_PROCESS, 0), "the other tests keep their priority"
    if seen["laptop"]["autogroup"] is not None:  # Linux with autogroup scheduling
        assert f"nice {LOWEST_PRIORITY}" in seen["laptop"]["autogroup"], seen["laptop"]["autogroup"]
    laptop, other = seen["laptop"], seen["other"]
    assert max(laptop["start"], other["start"]) < min(laptop["end"], other["end"]), "they ran side by side"
    assert out.index("test_other") < out.index("test_laptop_run"), "the laptop report comes last"
    assert out.count(" 1 passed") == 2, out
    assert out.rstrip().endswith("laptop-profile notebooks: pytest exit 0; the other tests: pytest exit 0")
    assert "mtml-laptop-tests-" in out.splitlines()[0], "the first line names the laptop part's log"
    log = Path(out.splitlines()[0].split("tail -f ")[1].rstrip(")"))
    assert not log.exists(), "the log is removed once printed"
    # The slowest tests of both parts together come after both reports, slowest first.
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if "slowest tests of both parts" in line)
    assert start > max(i for i, line in enumerate(lines) if "passed" in line), out
    slowest = {test: float(seconds) for seconds, test in (line.split() for line in lines[start + 1:-1])}
    assert set(slowest) == {"test_suite::test_laptop_run", "test_suite::test_other"}, out
    assert list(slowest.values()) == sorted(slowest.values(), reverse=True), out
    assert slowest["test_suite::test_laptop_run"] >= 3 and slowest["test_suite::test_other"] >= 2, out
    assert not list((suite / "tmp").iterdir()), "nothing is left in the temporary folder"
    kept = {p.name: p.read_text() for p in (suite / "artifacts" / "junit").iterdir()}
    assert sorted(kept) == ["laptop.xml", "other.xml"], "each part's JUnit XML report is kept"
    assert "test_laptop_run" in kept["laptop.xml"] and "test_other" in kept["other.xml"]


@pytest.mark.parametrize("failing", ["laptop", "other"])
def test_either_part_failing_fails_the_run_and_both_still_run(suite: Path, failing: str):
    proc = run_all(suite, FAIL=failing)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1, out
    assert set(records(suite)) == {"laptop", "other"}, "both parts ran"
    codes = {"laptop": 1 if failing == "laptop" else 0, "other": 1 if failing == "other" else 0}
    assert (f"laptop-profile notebooks: pytest exit {codes['laptop']}; the other tests: pytest exit "
            f"{codes['other']}") in out


def test_a_selection_without_laptop_runs_is_no_failure(suite: Path):
    proc = run_all(suite, "-k", "test_other")
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 0, out
    assert "no laptop-profile notebook run was selected" in out and set(records(suite)) == {"other"}


@pytest.mark.skipif(os.name != "posix", reason="process groups")
@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGINT])
def test_stopping_the_run_stops_the_laptop_part(suite: Path, how: signal.Signals):
    proc = run_all(suite, LAPTOP_SECONDS="300")
    laptop_pid = None
    try:
        deadline = time.monotonic() + 60
        while set(records(suite)) != {"laptop", "other"}:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()[0]
            time.sleep(0.1)
        laptop_pid = records(suite)["laptop"]["pid"]
        proc.send_signal(how)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode != 0, out
        with pytest.raises(ProcessLookupError):
            os.kill(laptop_pid, 0)  # the laptop test's process is gone (reaped: not even a zombie)
    finally:  # a failure here must not leave the 300-s laptop part behind
        for pid in (proc.pid, laptop_pid):
            with contextlib.suppress(ProcessLookupError, TypeError):
                os.kill(pid, signal.SIGKILL)
        proc.wait()


def test_yield_cpu_lowers_a_session_leader_and_its_group():
    """What the laptop kernels get (tests/test_notebooks_execute.py): they lead sessions of their own."""
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"], start_new_session=True)
    try:
        yield_cpu(child.pid)
        assert os.getpriority(os.PRIO_PROCESS, child.pid) == LOWEST_PRIORITY
        group = Path(f"/proc/{child.pid}/autogroup")
        if AUTOGROUP.exists():
            assert f"nice {LOWEST_PRIORITY}" in group.read_text()
            assert f"nice {LOWEST_PRIORITY}" not in AUTOGROUP.read_text(), "only the child's group"
    finally:
        child.kill()
        child.wait()
