"""The sandbox launcher on its own (``autograder/sandbox.py``), without a kernel: quick cases of its setup.

Grading and checking exercise it end to end (tests/test_autograder_*.py); these pin down set-ups that
once made the launcher itself fail, so that every kernel of a ``check`` died before it started.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import venv
from collections.abc import Iterator
from pathlib import Path

import pytest

from autograder import COURSE_ROOT
from autograder.sandbox import _outside_root, is_root, kernel_argv, sandbox_policy


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


#: Run in the sandbox as its kernel: what it sees, as JSON (standard library only).
VIEW_CHECK = r"""
import json, os, socket, sys

args = json.loads(sys.argv[-1])


def folder(path):
    seen = {}
    try:
        seen["entries"] = sorted(os.listdir(path))
    except OSError as err:
        seen["entries"] = f"{type(err).__name__}: {err}"
    probe = os.path.join(path, f".probe-{os.getpid()}")
    try:
        with open(probe, "w") as f:
            f.write("x")
        os.remove(probe)
        seen["writable"] = True
    except OSError:
        seen["writable"] = False
    return seen


def readable(path):
    try:
        with open(path, "rb") as f:
            return len(f.read()) > 0
    except OSError as err:
        return f"{type(err).__name__}: {err}"


def reaches_network():
    try:
        socket.create_connection(("1.1.1.1", 53), timeout=2).close()
        return True
    except OSError:
        return False


readonly = {**args["readonly"], "python": sys.prefix, "base python": sys.base_prefix}
files = {**args["files"], "python's os.py": os.__file__, "pyvenv.cfg": os.path.join(sys.prefix, "pyvenv.cfg")}
print(json.dumps({
    "uid": os.getuid(),
    "cwd": os.getcwd(),
    "cwd entries": sorted(os.listdir(".")),
    "hidden": {name: folder(path) for name, path in args["hidden"].items()},
    "readonly": {name: folder(path) for name, path in readonly.items()},
    "files": {name: readable(path) for name, path in files.items()},
    "tmp": folder("/tmp"),
    "outside /tmp visible": os.path.exists(args["marker"]),
    "runtime": folder(args["runtime"]),
    "interfaces": sorted(name for _, name in socket.if_nameindex()),
    "network": reaches_network(),
}))
"""

#: Run by the scenario's Python, from the scenario's checkout: the sandbox's policy and kernel command there.
DRIVER = r"""
import json, sys
from autograder.sandbox import kernel_argv, sandbox_policy

args = json.loads(sys.argv[1])
policy = sandbox_policy(hide=args["hide"])
policy.write(args["policy"])
kernel = [sys.executable, "-c", args["check"], "-f", args["connection"], json.dumps(args)]
print(json.dumps({"namespaces": policy.namespaces, "unavailable": policy.unavailable,
                  "argv": kernel_argv(args["policy"], kernel)}))
"""

#: Where the checkout, its virtual environment and MTML_DATA_DIR lie in each scenario: ``tmp/...`` below
#: /tmp, ``home/...`` below the home folder; ``closed`` is a folder only its owner (root) may enter.
#: ``None``: the venv in ``<checkout>/.venv``, the data in ``<checkout>/data`` (MTML_DATA_DIR unset);
#: ``"this"`` checkout: this very checkout, not a copy (with a venv and a data folder of its own).
VIEW_SCENARIOS = {
    "checkout under /tmp": ("tmp/course", None, None),
    "checkout under home": ("home/course", None, None),
    "checkout under a closed folder": ("tmp/closed/course", None, None),
    "checkout on a path with spaces": ("tmp/with spaces/my course", None, None),
    "venv and data under /tmp": ("this", "tmp/venv", "tmp/data"),
    "venv and data under home": ("this", "home/venv", "home/data"),
    "venv and data under closed folders": ("this", "tmp/closed/venv", "tmp/closed/inner/data"),
    "venv and data on paths with spaces": ("this", "tmp/with spaces/venv", "home/with spaces/data"),
    "all apart": ("home/with spaces/course", "tmp/closed/venv", "tmp/with spaces/data"),
}


@pytest.fixture
def places() -> Iterator[dict[str, Path]]:
    """Two fresh open folders, one directly below /tmp and one in the home folder (``None`` when that is
    not writable); both are removed afterwards."""
    made = {"tmp": Path(tempfile.mkdtemp(prefix="mtml-view-", dir="/tmp"))}
    home = Path.home()
    if home != Path("/") and os.access(home, os.W_OK):
        made["home"] = Path(tempfile.mkdtemp(prefix=".mtml-view-", dir=home))
    for folder in made.values():
        folder.chmod(0o755)
    try:
        yield made
    finally:
        for folder in made.values():
            shutil.rmtree(folder, ignore_errors=True)


def _place(places: dict[str, Path], spec: str) -> Path:
    base, *parts = spec.split("/")
    if base not in places:
        pytest.skip(f"no writable {base} folder here")
    path = places[base].joinpath(*parts)
    path.mkdir(parents=True, exist_ok=True)
    for folder in [path, *path.parents]:
        if folder.name == "closed":
            folder.chmod(0o700)
    return path


def _copy_course(checkout: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("autograder", "mtml_utils"):
        shutil.copytree(COURSE_ROOT.parent / package, checkout / package, ignore=ignore, dirs_exist_ok=True)


@pytest.mark.parametrize("scenario", list(VIEW_SCENARIOS))
def test_same_view_wherever_the_course_lies(scenario: str, places: dict[str, Path]) -> None:
    """The sandbox lays out the same view whether the checkout, the venv or MTML_DATA_DIR lies under /tmp
    (which it replaces by a private one), under the home folder (which it hides), below a folder only root
    may enter (hidden when grading as root) or on a path with spaces: hidden folders are empty and
    unwritable, Python, the checkout and the data readable and unwritable, /tmp private and writable, the
    runtime folder writable, no network."""
    checkout_spec, venv_spec, data_spec = VIEW_SCENARIOS[scenario]
    if checkout_spec == "this":
        checkout = COURSE_ROOT.parent
    else:
        checkout = _place(places, checkout_spec)
        _copy_course(checkout)
    venv_dir = checkout / ".venv" if venv_spec is None else _place(places, venv_spec)
    venv.create(venv_dir, with_pip=False, symlinks=True)
    site_packages = Path(sysconfig.get_path("purelib", vars={"base": str(venv_dir)}))
    # The venv finds the checkout's packages first, inside the sandbox too (``python -I``).
    (site_packages / "course_checkout.pth").write_text(f"{checkout}\n", encoding="utf-8")
    python = venv_dir / "bin" / "python"
    data = checkout / "data" if data_spec is None else _place(places, data_spec)
    data.mkdir(exist_ok=True)
    (data / "probe.txt").write_text("data\n", encoding="utf-8")

    grading = _place(places, "tmp/mtml-grade-x")  # the grader's temporary course, as in worker.py
    gradebook, logs, runtime = grading / "course", grading / "logs", grading / "env" / "jupyter_runtime"
    work = gradebook / "submitted" / "alice" / "01_task_definition"
    for folder in (work, logs, runtime):
        folder.mkdir(parents=True)
    (gradebook / "gradebook.db").write_text("grades\n", encoding="utf-8")
    (logs / "alice.log").write_text("log\n", encoding="utf-8")
    (work / "01_task_definition.ipynb").write_text("{}\n", encoding="utf-8")
    submissions = _place(places, "tmp/submitted/alice/01_task_definition").parents[1]
    (submissions / "alice" / "01_task_definition" / "01_task_definition.ipynb").write_text("{}\n")
    marker = Path(tempfile.mkstemp(prefix="mtml-view-marker-", dir="/tmp")[1])
    sources = checkout / "autograder" / "source"
    assert os.listdir(sources)
    args = {
        "hide": [str(p) for p in (sources, submissions, gradebook, logs)],
        "hidden": {"instructor sources": str(sources), "submissions": str(submissions),
                   "gradebook": str(gradebook), "grading logs": str(logs)},
        "readonly": {"checkout": str(checkout), "data": str(data)},
        "files": {"checkout's sandbox.py": str(checkout / "autograder" / "sandbox.py"),
                  "data file": str(data / "probe.txt")},
        "policy": str(grading / "env" / "sandbox.json"), "connection": str(runtime / "kernel-1.json"),
        "runtime": str(runtime), "marker": str(marker), "check": VIEW_CHECK,
    }
    env = {k: v for k, v in os.environ.items() if k not in ("MTML_DATA_DIR", "PYTHONPATH")}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    if data_spec is not None:
        env["MTML_DATA_DIR"] = str(data)
    try:
        driver = subprocess.run([str(python), "-c", DRIVER, json.dumps(args)], cwd=work, env=env,
                                capture_output=True, text=True, timeout=60)
        assert driver.returncode == 0, driver.stderr[-2000:]
        launch = json.loads(driver.stdout)
        if not launch["namespaces"]:
            pytest.skip(f"namespaces are not available here: {launch['unavailable']}")
        done = subprocess.run(launch["argv"], cwd=work, env=env, capture_output=True, text=True, timeout=60)
    finally:
        marker.unlink()
    assert done.returncode == 0, done.stderr[-2000:]
    view = json.loads(done.stdout)

    empty = {"entries": [], "writable": False}
    assert view["hidden"] == dict.fromkeys(args["hidden"], empty), view["hidden"]
    for name, seen in view["readonly"].items():
        assert isinstance(seen["entries"], list) and seen["entries"], (name, seen)
        assert not seen["writable"], f"{name} is writable inside the sandbox"
    assert "autograder" in view["readonly"]["checkout"]["entries"]
    assert "probe.txt" in view["readonly"]["data"]["entries"]
    assert view["files"] == dict.fromkeys(view["files"], True), view["files"]
    assert view["tmp"]["writable"] and not view["outside /tmp visible"], "/tmp is not private"
    assert view["cwd"] == "/tmp/work" and view["cwd entries"] == ["01_task_definition.ipynb"]
    assert view["runtime"]["writable"], "the kernel's runtime folder is not writable"
    assert view["interfaces"] == ["lo"] and not view["network"], "the sandbox reaches the network"
    if is_root() and _outside_root():  # in a user namespace the kernel's capabilities are dropped instead
        assert view["uid"] != 0, "the kernel runs as root"
    assert os.listdir(sources) and (gradebook / "gradebook.db").is_file(), "hidden files gone outside"
