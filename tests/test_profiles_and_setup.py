"""Profiles and the first cell of every notebook: `setup(seed)`."""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
import torch

import mtml_utils as mtml
from mtml_utils.profiles import PROFILES, ProfileError, by_profile, get_profile


def test_default_profile_is_laptop(monkeypatch):
    monkeypatch.delenv("MTML_PROFILE", raising=False)
    assert get_profile() == "laptop"
    monkeypatch.setenv("MTML_PROFILE", "")
    assert get_profile() == "laptop"


@pytest.mark.parametrize("raw, expected", [("smoke", "smoke"), (" FULL ", "full"), ("Laptop", "laptop")])
def test_profile_is_read_case_insensitively(monkeypatch, raw, expected):
    monkeypatch.setenv("MTML_PROFILE", raw)
    assert get_profile() == expected


def test_unknown_profile_is_an_error_listing_the_valid_ones(monkeypatch):
    monkeypatch.setenv("MTML_PROFILE", "fast")
    with pytest.raises(ProfileError) as err:
        get_profile()
    message = str(err.value)
    assert "'fast'" in message
    for name in PROFILES:
        assert name in message
    assert "\n" not in message  # one paragraph


def test_setup_refuses_an_unknown_profile_before_seeding(monkeypatch, capsys):
    monkeypatch.setenv("MTML_PROFILE", "turbo")
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    with pytest.raises(ProfileError):
        mtml.setup(seed=0)
    assert torch.equal(torch.rand(1), before), "a failed setup must not have re-seeded torch"
    assert capsys.readouterr().out == ""


def test_by_profile_picks_the_value_of_the_active_profile(monkeypatch):
    monkeypatch.setenv("MTML_PROFILE", "smoke")
    assert by_profile(smoke=1, laptop=2, full=3) == 1
    assert by_profile(smoke=1, laptop=2, full=3, profile="full") == 3
    with pytest.raises(ProfileError):
        by_profile(smoke=1, laptop=2, full=3, profile="huge")  # type: ignore[arg-type]


def test_setup_seeds_everything_and_prints_one_line(monkeypatch, capsys):
    monkeypatch.setenv("MTML_PROFILE", "smoke")
    device = mtml.setup(seed=7)
    first = (random.random(), np.random.rand(), torch.rand(1).item())
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert f"torch {torch.__version__}" in out and "profile smoke" in out and f"device {device.type}" in out
    mtml.setup(seed=7)
    assert (random.random(), np.random.rand(), torch.rand(1).item()) == first
    mtml.setup(seed=8)
    assert torch.rand(1).item() != first[2]


def test_setup_gives_every_notebook_the_course_plot_style(monkeypatch, capsys):
    import matplotlib.pyplot as plt

    from mtml_utils.plotting import COURSE_STYLE

    monkeypatch.setenv("MTML_PROFILE", "smoke")
    with plt.rc_context({"axes.spines.top": True, "figure.dpi": 72.0, "legend.frameon": True}):
        mtml.setup(seed=0)
        assert plt.rcParams["axes.spines.top"] is False
        assert plt.rcParams["figure.dpi"] == COURSE_STYLE["figure.dpi"]
        assert plt.rcParams["legend.frameon"] is False
        fig, ax = plt.subplots()
        assert tuple(fig.get_size_inches()) == COURSE_STYLE["figure.figsize"]
        plt.close(fig)


def test_device_preference_order(monkeypatch):
    monkeypatch.delenv("MTML_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "mps" if torch.backends.mps.is_available() else "cpu"
    assert mtml.get_device().type == expected
    assert mtml.get_device("cpu").type == "cpu"
    monkeypatch.setenv("MTML_DEVICE", "cpu")
    assert mtml.get_device().type == "cpu"


def test_asking_for_an_unknown_device_says_so(monkeypatch):
    monkeypatch.delenv("MTML_DEVICE", raising=False)
    with pytest.raises(RuntimeError, match="Unknown device"):
        mtml.get_device("tpu")


def test_asking_for_a_missing_device_says_so(monkeypatch):
    monkeypatch.delenv("MTML_DEVICE", raising=False)
    available = {"cuda": torch.cuda.is_available(), "mps": torch.backends.mps.is_available()}
    missing = [d for d, ok in available.items() if not ok]
    if not missing:
        pytest.skip("this machine has both CUDA and MPS: no missing device to ask for")
    with pytest.raises(RuntimeError, match="not available"):
        mtml.get_device(missing[0])


def test_cpu_threads_leave_a_core_free_unless_told(monkeypatch, capsys):
    monkeypatch.setenv("MTML_PROFILE", "smoke")
    monkeypatch.setenv("MTML_THREADS", "1")
    before = torch.get_num_threads()
    try:
        if mtml.setup(seed=0).type == "cpu":
            assert torch.get_num_threads() == 1
            assert "(1 thread)" in capsys.readouterr().out
        monkeypatch.delenv("MTML_THREADS")
        cores = len(os.sched_getaffinity(0))
        assert mtml.core.choose_cpu_threads() == max(1, cores - 1)
        monkeypatch.setenv("MTML_THREADS", "many")
        with pytest.raises(ValueError, match="positive whole number"):
            mtml.core.choose_cpu_threads()
    finally:
        torch.set_num_threads(before)
