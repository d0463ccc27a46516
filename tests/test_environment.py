"""environment.yml (conda) must install the same packages as pyproject.toml (pip).

conda itself is not available in CI, so the file is checked structurally: every pip dependency
(runtime and dev) has a conda entry with the same version bound, nothing extra sneaks into the conda
file, python is 3.11, and PyTorch is pinned to exactly the version in constraints.txt.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: pytest depends on tomli there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]

# pip distribution name -> conda-forge package name, where they differ.
PIP_TO_CONDA = {"torch": "pytorch", "playwright": "playwright-python"}  # conda-forge names
# Conda-only entries that have no pip counterpart (the interpreter and the installer itself).
CONDA_ONLY = {"python", "pip"}

_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*?)\s*$")


def _split(requirement: str) -> tuple[str, str]:
    """Split ``"numpy >= 1.24"`` into ``("numpy", ">=1.24")`` with a normalised name and spec."""
    match = _REQUIREMENT.match(requirement)
    assert match, f"cannot parse requirement {requirement!r}"
    name = re.sub(r"[-_.]+", "-", match.group(1)).lower()
    return name, match.group(2).replace(" ", "")


def _pyproject_requirements() -> dict[str, str]:
    """Runtime and dev requirements of pyproject.toml, keyed by their conda name."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    out: dict[str, str] = {}
    for requirement in requirements:
        name, spec = _split(requirement.split(";")[0])  # drop environment markers
        out[PIP_TO_CONDA.get(name, name)] = spec
    return out


def _environment() -> dict:
    return yaml.safe_load((ROOT / "environment.yml").read_text())


def _conda_requirements() -> dict[str, str]:
    """The conda (non-pip) entries of environment.yml: name -> spec."""
    out: dict[str, str] = {}
    for entry in _environment()["dependencies"]:
        if isinstance(entry, str):
            name, spec = _split(entry)
            assert name not in out, f"environment.yml lists {name!r} twice"
            out[name] = spec
    return out


def _pip_section() -> list[str]:
    sections = [e["pip"] for e in _environment()["dependencies"] if isinstance(e, dict) and "pip" in e]
    assert len(sections) == 1, "environment.yml needs exactly one `- pip:` section (it installs the project)"
    return [line.strip() for line in sections[0]]


def _torch_pin() -> str:
    """The exact torch version of constraints.txt (``torch==X.Y.Z``)."""
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        match = re.match(r"^\s*torch\s*==\s*([0-9][^\s;#]*)", line)
        if match:
            return match.group(1)
    raise AssertionError("constraints.txt has no `torch==X.Y.Z` line")


def test_environment_has_the_course_name_and_channels() -> None:
    env = _environment()
    assert env["name"] == "mtml-course"
    assert env["channels"] == ["pytorch", "conda-forge"]


def test_python_is_3_11() -> None:
    assert _conda_requirements().get("python") == "=3.11", "environment.yml must pin `python=3.11`"


@pytest.mark.parametrize("name", sorted(_pyproject_requirements()))
def test_every_pyproject_dependency_is_in_environment_yml(name: str) -> None:
    conda = _conda_requirements()
    assert name in conda, f"{name} is a dependency in pyproject.toml but missing from environment.yml"
    if name == "pytorch":
        return  # torch is pinned exactly in environment.yml; checked against constraints.txt below
    wanted = _pyproject_requirements()[name]
    assert conda[name] == wanted, (
        f"{name}: environment.yml asks for {conda[name] or 'any version'!r}, "
        f"pyproject.toml for {wanted or 'any version'!r}; make them the same"
    )


def test_environment_yml_has_nothing_pyproject_lacks() -> None:
    extra = set(_conda_requirements()) - set(_pyproject_requirements()) - CONDA_ONLY
    assert not extra, f"environment.yml lists {sorted(extra)} which pyproject.toml does not depend on"


def test_torch_version_matches_constraints() -> None:
    pin = _torch_pin()
    assert _conda_requirements()["pytorch"] in (f"=={pin}", f"={pin}"), (
        f"environment.yml pins pytorch to {_conda_requirements()['pytorch']!r}, constraints.txt to {pin}"
    )
    # ...and that pin satisfies pyproject's lower bound (e.g. torch>=2.3).
    bound = _pyproject_requirements()["pytorch"]
    match = re.fullmatch(r">=([0-9.]+)", bound)
    assert match, f"pyproject.toml's torch requirement {bound!r} is not a plain `>=` bound"

    def as_tuple(version: str) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", version)[:3])

    assert as_tuple(pin) >= as_tuple(match.group(1)), f"torch=={pin} does not satisfy pyproject's {bound}"


def test_pip_section_installs_the_project_under_the_constraints() -> None:
    pip = _pip_section()
    assert "-e ." in pip, "environment.yml's pip section must install the project itself (`-e .`)"
    assert "-c constraints.txt" in pip, "the pip section must use `-c constraints.txt` so torch stays put"
    assert (ROOT / "constraints.txt").is_file()
