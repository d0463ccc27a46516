"""The Makefile installs once, reinstalls only when an input changed, and wires targets to the CLIs.

Nothing is really installed: the Makefile, pyproject.toml and constraints.txt are copied into a temp
folder and VENV points at a fake environment whose ``bin/python`` only records how it was called.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CUDA_INDEX = "https://download.pytorch.org/whl/cu128"

BUILD_FILES = ("Makefile", "pyproject.toml", "constraints.txt")

pytestmark = pytest.mark.skipif(shutil.which("make") is None, reason="needs GNU make")

# Stands in for the venv's interpreter: appends its arguments to calls.log and succeeds.
FAKE_PYTHON = '#!/bin/sh\nprintf "%s\\n" "$*" >> "$(dirname "$0")/../calls.log"\n'

# Variables the Makefile reads with `?=`, and make's own: an outer `make test TORCH_INDEX=...` must not
# leak into these runs.
MAKE_VARS = ("TORCH_SPEC", "TORCH_INDEX", "CONSTRAINTS", "PORT", "NB", "SUBMISSIONS", "ASSIGNMENT", "OUT")
MAKE_VARS += ("JOBS", "PYTEST_ARGS", "TEST_JOBS", "LONG_JOBS")
MAKE_VARS += ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")


class Project:
    """A copy of the build files with a fake VENV, and helpers to run make in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in BUILD_FILES:
            shutil.copy2(ROOT / name, root / name)
        self.venv = root / "venv"
        python = self.venv / "bin" / "python"
        python.parent.mkdir(parents=True)
        python.write_text(FAKE_PYTHON)
        python.chmod(python.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
        self.log = self.venv / "calls.log"

    def make(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if k not in MAKE_VARS}
        return subprocess.run(
            ["make", "--no-print-directory", *args, "VENV=venv"],
            cwd=self.root, env=env, capture_output=True, text=True, timeout=60,
        )

    def calls(self) -> list[str]:
        """What the fake python was asked to do since the last call, then forget it."""
        lines = self.log.read_text().splitlines() if self.log.exists() else []
        self.log.unlink(missing_ok=True)
        return lines

    def installs(self, *args: str) -> list[str]:
        """Run ``make setup`` and return its pip install command lines."""
        result = self.make("setup", *args)
        assert result.returncode == 0, result.stdout + result.stderr
        return [call for call in self.calls() if "pip install" in call]

    def edit(self, name: str) -> None:
        """Make ``name`` newer than the install stamp, as an edit would, without sleeping for coarse clocks.

        The stamp is moved into the past (not the file into the future) so that a reinstall's fresh stamp
        is newer than the file again.
        """
        now = time.time()
        ages = {self.root / other: 40 for other in BUILD_FILES}
        ages.update({self.venv / ".torch-choice": 40, self.venv / ".installed": 20, self.root / name: 10})
        for path, age in ages.items():
            os.utime(path, (now - age, now - age))


@pytest.fixture
def project(tmp_path: Path) -> Project:
    """A project whose fake venv is installed and up to date, as after a first `make setup`."""
    proj = Project(tmp_path)
    assert proj.installs(), "the first `make setup` installed nothing"
    return proj


def test_first_setup_installs_torch_first_then_the_project_under_constraints(tmp_path: Path) -> None:
    installs = Project(tmp_path).installs()
    assert len(installs) == 2, installs
    assert installs[0].endswith("torch==2.13.0") and "-e" not in installs[0].split()
    assert "-c constraints.txt" in installs[1] and installs[1].endswith("-e .[dev]")


def test_second_setup_installs_nothing(project: Project) -> None:
    assert project.installs() == []
    assert project.installs() == []


@pytest.mark.parametrize("changed", ["pyproject.toml", "constraints.txt"])
def test_changed_input_file_reinstalls_once(project: Project, changed: str) -> None:
    project.edit(changed)
    assert len(project.installs()) == 2, f"editing {changed} did not reinstall"
    assert project.installs() == []


def test_changed_torch_spec_reinstalls_with_that_spec(project: Project) -> None:
    installs = project.installs("TORCH_SPEC=torch==2.12.0")
    assert installs and installs[0].endswith('torch==2.12.0'), installs
    assert project.installs("TORCH_SPEC=torch==2.12.0") == []
    # Going back to the default is a change too.
    assert project.installs()[0].endswith("torch==2.13.0")


def test_cuda_index_goes_on_the_torch_line_only(project: Project) -> None:
    installs = project.installs(f"TORCH_INDEX={CUDA_INDEX}")
    assert len(installs) == 2, "switching to a CUDA index did not reinstall"
    assert f"--index-url {CUDA_INDEX}" in installs[0] and installs[0].endswith("torch==2.13.0")
    assert "--index-url" not in installs[1], "the project's other packages must still come from PyPI"
    assert project.installs(f"TORCH_INDEX={CUDA_INDEX}") == []


def test_dry_run_shows_the_cuda_torch_line(project: Project) -> None:
    result = project.make("-n", "setup", f"TORCH_INDEX={CUDA_INDEX}")
    assert result.returncode == 0, result.stderr
    torch_lines = [line for line in result.stdout.splitlines() if "pip install" in line and "torch==" in line]
    assert torch_lines and f"--index-url {CUDA_INDEX}" in torch_lines[0], result.stdout
    assert project.calls() == [], "make -n ran something"


@pytest.mark.parametrize(
    ("target", "usage"),
    [("check", "usage: make check NB="), ("grade", "usage: make grade SUBMISSIONS=")],
)
def test_target_without_its_argument_prints_usage_and_fails(
    project: Project, target: str, usage: str
) -> None:
    result = project.make(target)
    assert result.returncode != 0
    assert usage in result.stdout + result.stderr
    assert project.calls() == [], f"make {target} ran python (or reinstalled) without its argument"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["check", "NB=notebooks/01.ipynb"], "-m autograder check notebooks/01.ipynb"),
        (["check", "NB=notebooks/01.ipynb", "HINTS=1"], "-m autograder check notebooks/01.ipynb --hints"),
        (["grade", "SUBMISSIONS=subs"], "-m autograder grade subs --jobs 1 --out grades.csv"),
        (
            ["grade", "SUBMISSIONS=subs", "ASSIGNMENT=01_task_definition", "JOBS=4", "OUT=g.csv"],
            "-m autograder grade subs --assignment 01_task_definition --jobs 4 --out g.csv",
        ),
        (["lab"], "-m mtml_utils.lab --port 8888"),
        (["lab", "PORT=8890"], "-m mtml_utils.lab --port 8890"),
        (["test", "PYTEST_ARGS=tests/test_hints.py"],
         "-m pytest -n 0 --dist loadgroup --no-loadscope-reorder tests/test_hints.py"),
        (["test", "TEST_JOBS=auto", "PYTEST_ARGS=-k hints"],
         "-m pytest -n auto --dist loadgroup --no-loadscope-reorder -k hints"),
        (["release"], "-m autograder release"),
    ],
)
def test_targets_call_the_right_command_without_reinstalling(
    project: Project, args: list[str], expected: str
) -> None:
    result = project.make(*args)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [call.strip() for call in project.calls()] == [expected]


def test_make_test_runs_both_parts_through_run_all(project: Project) -> None:
    """The two parts, their priorities, report and exit code: tests/test_run_all.py."""
    result = project.make("test")
    assert result.returncode == 0, result.stdout + result.stderr
    assert [call.strip() for call in project.calls()] == ["tests/run_all.py --long-jobs 2 --test-jobs 0"]
    result = project.make("test", "LONG_JOBS=1", "TEST_JOBS=auto")
    assert result.returncode == 0
    assert [call.strip() for call in project.calls()] == ["tests/run_all.py --long-jobs 1 --test-jobs auto"]


def test_make_test_fails_when_the_suite_fails(project: Project) -> None:
    (project.venv / "bin" / "python").write_text(FAKE_PYTHON + "exit 1\n")
    result = project.make("test")
    assert result.returncode != 0 and len(project.calls()) == 1


def test_ci_runs_make_test() -> None:
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK), ".ci/run must be executable"
    commands = [line.strip() for line in script.read_text().splitlines() if not line.lstrip().startswith("#")]
    assert "make test" in commands, ".ci/run must run the README's test command, `make test`"
