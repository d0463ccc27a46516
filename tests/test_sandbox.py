"""The sandbox launcher on its own (``autograder/sandbox.py``), without a kernel: quick cases of its setup.

Grading and checking exercise it end to end (tests/test_autograder_*.py); these pin down set-ups that
once made the launcher itself fail, so that every kernel of a ``check`` died before it started.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autograder import COURSE_ROOT
from autograder.sandbox import is_root, kernel_argv, sandbox_policy


def _run_sandboxed(code: str, policy_dir: Path, cwd: Path) -> subprocess.CompletedProcess:
    policy = sandbox_policy(hide=[COURSE_ROOT / "source"])
    if not policy.namespaces:
        pytest.skip(f"namespaces are not available here: {policy.unavailable}")
    policy_file = policy_dir / "policy.json"
    policy_file.write_text(json.dumps(dataclasses.asdict(policy)))
    argv = kernel_argv(policy_file, [sys.executable, "-c", code])
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=60)


def test_data_folder_below_closed_nested_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Grading as root with MTML_DATA_DIR below two folders only root may enter (pytest's own temporary
    folders are such): both are hidden, and hiding the outer one must not make hiding the inner one fail."""
    if not is_root():
        pytest.skip("closed ancestor folders are hidden only when grading as root")
    outer = tmp_path / "closed"
    data = outer / "inner" / "data"
    data.mkdir(parents=True)
    for folder in (outer, outer / "inner"):
        folder.chmod(0o700)
    monkeypatch.setenv("MTML_DATA_DIR", str(data))
    work = tmp_path / "work"
    work.mkdir()
    sources = str(COURSE_ROOT / "source")
    code = f"import os; print(os.getuid() != 0, os.path.isdir({sources!r}), os.listdir({sources!r}))"
    done = _run_sandboxed(code, tmp_path, work)
    assert done.returncode == 0, done.stderr[-2000:]
    # Another user than root, and the instructor sources are an empty folder.
    assert done.stdout.split() == ["True", "True", "[]"]
    assert os.listdir(COURSE_ROOT / "source"), "the sources are still there outside the sandbox"
