"""Plots take and return an axes and work headless."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from mtml_utils import plotting  # noqa: E402
from mtml_utils.training import History  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_plot_history_draws_one_line_per_metric_on_the_given_axes():
    history = History([{"step": i, "loss": 1 / (i + 1), "acc": i / 10} for i in range(10)])
    _, ax = plt.subplots()
    assert plotting.plot_history(history, ("loss", "acc"), ax=ax, window=3, logy=True) is ax
    assert len(ax.lines) == 2
    assert ax.get_yscale() == "log"
    assert list(ax.lines[0].get_xdata()) == list(range(10))


def test_smooth_is_a_trailing_average():
    assert plotting.smooth([1.0, 3.0, 5.0, 7.0], 2).tolist() == [1.0, 2.0, 4.0, 6.0]
    assert plotting.smooth([1.0, 2.0], 1).tolist() == [1.0, 2.0]


def test_image_grid_builds_one_mosaic():
    images = torch.zeros(2, 3, 1, 28, 28)
    images[1, 2] = 1.0
    ax = plotting.plot_image_grid(images, row_labels=["a", "b"])
    mosaic = ax.images[0].get_array()
    assert mosaic.shape == (2 * 30 - 2, 3 * 30 - 2)
    assert np.nanmax(mosaic[30:, 60:]) == 1.0 and np.nanmax(mosaic[:28, :28]) == 0.0
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]


def test_image_grid_rejects_a_wrong_shape():
    with pytest.raises(ValueError, match="expected \\(rows, cols, H, W\\)"):
        plotting.plot_image_grid(np.zeros((28, 28)))


def test_bars_and_curves_return_their_axes():
    _, (a, b) = plt.subplots(1, 2)
    assert plotting.plot_bars({"x": 0.5, "y": 0.7}, errors={"x": 0.1, "y": 0.1}, ax=a, reference=0.5) is a
    assert len(a.patches) == 2
    assert plotting.plot_curves([1, 2, 3], {"s": [0.1, 0.2, 0.3]}, spreads={"s": [0.01] * 3}, ax=b) is b
    assert len(b.lines) == 1 and len(b.collections) == 1


def test_heatmap_writes_every_value_in_its_cell():
    _, ax = plt.subplots()
    values = [[0.1, 0.9, 0.5], [0.8, 0.2, 0.4]]
    assert plotting.plot_heatmap(values, row_labels=["a", "b"], col_labels=["x", "y", "z"], ax=ax) is ax
    assert [t.get_text() for t in ax.texts] == ["0.10", "0.90", "0.50", "0.80", "0.20", "0.40"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a", "b"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "z"]


def test_heatmap_rejects_labels_that_do_not_fit():
    with pytest.raises(ValueError, match="need 2 row labels and 3 column labels"):
        plotting.plot_heatmap(np.zeros((2, 3)), row_labels=["a"], col_labels=["x", "y", "z"])
