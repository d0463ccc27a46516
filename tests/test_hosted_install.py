"""The first cell of every notebook installs the course on a hosted Jupyter (Colab, a JupyterHub) and does
nothing where the course is installed (``make lab``, Binder, grading).

The slow tests take that cell from a released notebook of the student distribution (what a hosted Jupyter
opens) and run it in a fresh virtual environment that does not have the course: the environment sees this
one's packages (torch included) through a ``.pth`` file naming a folder of links to them, the course's own
files left out, and pip runs offline (no index, no build isolation), so the test downloads nothing and
fails if pip wanted anything the environment lacks. Afterwards ``import mtml_utils`` and ``setup(seed=0)``
work in that kernel, and a new process finds the installed course.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
import time
import venv
from pathlib import Path

import nbformat
import pytest

from autograder.dist import collect
from autograder.release import ReleaseError, configured_install_url, fill_install_url

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOURCES = sorted((ROOT / "autograder" / "source").glob("*/*.ipynb"))
# Entries of this environment's site-packages that belong to the course itself (an editable install, or a
# regular one): the fresh environment must not see them.
COURSE_ENTRIES = ("mtml_course", "__editable__", "mtml_utils", "autograder")


def install_cell(path: Path) -> str:
    """The source of a notebook's first code cell."""
    nb = nbformat.read(path, as_version=4)
    return next(cell.source for cell in nb.cells if cell.cell_type == "code")


def test_every_notebook_starts_with_the_same_install_cell() -> None:
    assert len(NOTEBOOKS) >= 6 and len(SOURCES) == len(NOTEBOOKS)
    released = {path.stem: install_cell(path) for path in NOTEBOOKS}
    assert len(set(released.values())) == 1, f"the install cells differ: {sorted(released)}"
    for source in SOURCES:  # the same cell in every source; release changes only its COURSE_URL line
        nb = nbformat.read(source, as_version=4)
        filled = fill_install_url(nb, configured_install_url()).cells
        assert next(c.source for c in filled if c.cell_type == "code") == released[source.stem], source.name


def test_the_course_url_comes_from_pyproject_toml_through_release(tmp_path: Path) -> None:
    """One place: ``[tool.mtml-course] install-url``; release writes it into the one COURSE_URL line."""
    cell = install_cell(NOTEBOOKS[0])
    url_lines = [line for line in cell.splitlines() if "COURSE_URL =" in line]
    assert len(url_lines) == 1
    assert url_lines[0].strip().startswith(f"COURSE_URL = {json.dumps(configured_install_url())}  #")
    assert "MTML_COURSE_URL" in cell  # the override for a student or a hub
    (tmp_path / "pyproject.toml").write_text('[tool.mtml-course]\ninstall-url = "git+https://example.org/c"\n')
    url = configured_install_url(tmp_path)
    assert url == "git+https://example.org/c"
    nb = fill_install_url(nbformat.read(NOTEBOOKS[0], as_version=4), url)
    assert f'COURSE_URL = "{url}"  #' in next(c.source for c in nb.cells if c.cell_type == "code")
    (tmp_path / "pyproject.toml").write_text("[tool.mtml-course]\ninstall-url = 'x\" + 1 #'\n")
    with pytest.raises(ReleaseError, match="without quotes"):  # it could not break the cell's code
        configured_install_url(tmp_path)
    assert 'install-url = "' in (ROOT / "pyproject.toml").read_text(encoding="utf-8")  # the one place


def _forbid_subprocesses(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"the install cell started a process: {args}")

    for name in ("run", "Popen", "call", "check_call", "check_output"):
        monkeypatch.setattr(subprocess, name, refuse)


def test_the_install_cell_does_nothing_where_the_course_imports(monkeypatch: pytest.MonkeyPatch) -> None:
    _forbid_subprocesses(monkeypatch)
    namespace: dict[str, object] = {}
    code = compile(install_cell(NOTEBOOKS[0]), "install cell", "exec")
    started = time.perf_counter()
    exec(code, namespace)
    elapsed = time.perf_counter() - started
    assert sorted(set(namespace) - {"__builtins__"}) == ["importlib"]  # the guard's import, nothing else
    assert elapsed < 0.2, f"the install cell took {elapsed:.3f} s where the course is installed"


def test_without_a_copy_of_the_course_or_a_url_the_install_cell_says_what_to_do(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mtml_utils" else find_spec(name, *a))
    monkeypatch.delenv("MTML_COURSE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no pyproject.toml of the course here or above
    _forbid_subprocesses(monkeypatch)
    cell = fill_install_url(nbformat.read(NOTEBOOKS[0], as_version=4), "")  # as before an instructor sets it
    with pytest.raises(RuntimeError, match="MTML_COURSE_URL=git\\+https://") as error:
        exec(next(c.source for c in cell.cells if c.cell_type == "code"), {})
    assert "clone of the course" in str(error.value)


# --- a fresh virtual environment without the course ----------------------------------------------------


def _fresh_env(tmp_path: Path) -> tuple[Path, Path, dict[str, str]]:
    """A new venv that sees this environment's packages but not the course: (python, its site-packages,
    the environment variables for running it offline)."""
    own = Path(sysconfig.get_paths()["purelib"])
    links = tmp_path / "site-links"
    links.mkdir()
    for entry in own.iterdir():
        if not entry.name.startswith(COURSE_ENTRIES) and entry.suffix != ".pth":
            (links / entry.name).symlink_to(entry)
    venv.EnvBuilder(with_pip=False).create(tmp_path / "venv")
    python = tmp_path / "venv" / "bin" / "python"
    where = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    site_packages = Path(subprocess.run([python, "-c", where], capture_output=True, text=True,
                                        check=True).stdout.strip())
    (site_packages / "course-dependencies.pth").write_text(f"{links}\n")
    dropped = ("PIP_", "PYTHON", "VIRTUAL_ENV", "MTML_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(dropped)}
    env.update({
        "PIP_NO_INDEX": "1",  # nothing is downloaded: every dependency must be there already
        "PIP_NO_BUILD_ISOLATION": "0",  # "0" turns isolation off (pip reads this switch inverted): the
        # build uses the setuptools at hand instead of downloading one
        "PIP_CONFIG_FILE": os.devnull,  # no find-links or index from the machine's pip configuration
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "PIP_CACHE_DIR": str(tmp_path / "pip-cache"),
        "PYTHONNOUSERSITE": "1",
        "MTML_OFFLINE": "1",
        "MTML_DATA_DIR": str(tmp_path / "data"),
        "MPLCONFIGDIR": str(tmp_path / "mpl"),
    })
    return python, site_packages, env


def _student_copy(folder: Path) -> Path:
    """The student distribution (what a hosted Jupyter opens), written to ``folder``."""
    for path, data in collect().items():
        (folder / path).parent.mkdir(parents=True, exist_ok=True)
        (folder / path).write_bytes(data)
    return folder


# Runs in the fresh environment: the install cell of a notebook (argv[1]), recording each pip it starts and
# the constraints it gives it, then the next cell's import and setup; writes what it saw to argv[2].
KERNEL = """
import importlib.util, json, subprocess, sys
before = importlib.util.find_spec("mtml_utils")
calls, real_run = [], subprocess.run
def recording_run(args, *rest, **kwargs):
    args = [str(a) for a in args]
    if args[1:3] == ["-m", "pip"]:  # not matplotlib's fc-list
        calls.append({"args": args, "constraints": open(args[args.index("-c") + 1]).read()})
    return real_run(args, *rest, **kwargs)
subprocess.run = recording_run
nb = json.load(open(sys.argv[1], encoding="utf-8"))
cell = "".join(next(c["source"] for c in nb["cells"] if c["cell_type"] == "code"))
exec(compile(cell, "install cell", "exec"), {"__name__": "__main__"})
import mtml_utils
device = mtml_utils.setup(seed=0)
json.dump({"before": before is not None, "calls": calls, "module": mtml_utils.__file__,
           "device": str(device)}, open(sys.argv[2], "w"))
"""
# A new kernel of the fresh environment after the install: the install cell again, with no process allowed,
# then where mtml_utils is found (without importing it: that would import torch, seconds).
NEW_KERNEL = """
import importlib.util, json, subprocess, sys
def refuse(*args, **kwargs):
    raise AssertionError(f"the install cell started a process: {args}")
subprocess.run = subprocess.Popen = refuse
nb = json.load(open(sys.argv[1], encoding="utf-8"))
exec("".join(next(c["source"] for c in nb["cells"] if c["cell_type"] == "code")), {})
print(importlib.util.find_spec("mtml_utils").origin)
"""


def _run(python: Path, code: str, *args: object, cwd: Path, env: dict[str, str]) -> str:
    """Run ``code`` in the fresh environment; its standard output."""
    done = subprocess.run([python, "-c", code, *map(str, args)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _run_install_cell(python: Path, notebook: Path, cwd: Path, env: dict[str, str], tmp_path: Path) -> dict:
    """The install cell, then ``import mtml_utils`` and ``setup(seed=0)``, in one process (a kernel)."""
    report = tmp_path / "report.json"
    assert "mtml_utils: device" in _run(python, KERNEL, notebook, report, cwd=cwd, env=env)
    return json.loads(report.read_text())


def _torch_pin() -> str:
    from importlib import metadata

    return f"torch=={metadata.version('torch')}\n"


def _assert_only_the_course_was_installed(site_packages: Path) -> None:
    installed = [p.name for p in site_packages.glob("*.dist-info")]
    assert len(installed) == 1 and installed[0].startswith("mtml_course-"), installed  # the rest was there


@pytest.mark.slow
def test_install_cell_installs_the_copy_of_the_course_it_sits_in(tmp_path: Path) -> None:
    """A clone on a JupyterHub (nbgitpuller) or a Binder without the install: ``pip install -e`` the copy."""
    python, site_packages, env = _fresh_env(tmp_path)
    course = _student_copy(tmp_path / "mtml-course-student").resolve()
    notebook = course / "notebooks" / "01_task_definition.ipynb"
    report = _run_install_cell(python, notebook, notebook.parent, env, tmp_path)
    assert report["before"] is False  # the fresh environment did not have the course
    (call,) = report["calls"]  # one pip run, in the kernel's own environment, editable from the copy
    assert call["args"][:6] == [str(python), "-m", "pip", "install", "-q", "-c"]
    assert call["args"][7:] == ["-e", str(course)]
    assert call["constraints"] == _torch_pin()  # the torch already there stays
    assert report["module"] == str(course / "mtml_utils" / "__init__.py")
    _assert_only_the_course_was_installed(site_packages)
    # A new kernel: the cell does nothing, and the editable install finds the copy.
    found = _run(python, NEW_KERNEL, notebook, cwd=notebook.parent, env=env).strip()
    assert found == str(course / "mtml_utils" / "__init__.py")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("git") is None, reason="needs git (the course URL is a git+file:// URL)")
def test_install_cell_installs_from_the_course_url_outside_a_copy(tmp_path: Path) -> None:
    """Colab: the notebook is not in a copy of the course, so pip installs the course's URL (here the
    MTML_COURSE_URL override, a git+file:// URL to a student repository; the released constant is tested
    above)."""
    python, site_packages, env = _fresh_env(tmp_path)
    repo = _student_copy(tmp_path / "student-repo").resolve()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", "-c", "init.defaultBranch=main"]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "course"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    url = f"git+file://{repo}"
    colab = tmp_path / "content"  # a folder with no course in it or above it
    colab.mkdir()
    notebook = repo / "notebooks" / "01_task_definition.ipynb"
    report = _run_install_cell(python, notebook, colab, {**env, "MTML_COURSE_URL": url}, tmp_path)
    assert report["before"] is False
    (call,) = report["calls"]
    assert call["args"][:6] == [str(python), "-m", "pip", "install", "-q", "-c"] and call["args"][7:] == [url]
    assert call["constraints"] == _torch_pin()
    assert Path(report["module"]).parent == site_packages / "mtml_utils"  # a regular install, as on Colab
    _assert_only_the_course_was_installed(site_packages)
    found = _run(python, NEW_KERNEL, notebook, cwd=colab, env=env).strip()
    assert Path(found).parent == site_packages / "mtml_utils"
