"""Plots for the notebooks. Every function takes an optional ``ax``, draws on it and returns it.

Nothing here calls ``plt.show()`` or needs a display: the same calls work in JupyterLab, in tests and
in headless grading (matplotlib's Agg backend).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes

from mtml_utils.training import History

#: The course's one plot style, applied by :func:`mtml_utils.setup`: light axes (no top/right frame),
#: titles a little larger than labels, legends without a box, figures at the same size and
#: resolution in every notebook, on a white background that stays readable in JupyterLab's dark theme.
COURSE_STYLE: dict[str, object] = {
    "figure.figsize": (5.0, 3.5),
    "figure.dpi": 100,
    "figure.facecolor": "white",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": plt.cycler(color=plt.get_cmap("tab10").colors),
    "image.cmap": "viridis",
    "legend.frameon": False,
    "legend.fontsize": 9,
    "lines.linewidth": 1.6,
}


def use_course_style() -> None:
    """Apply :data:`COURSE_STYLE` to matplotlib (every figure drawn afterwards uses it).

    Example:
        >>> use_course_style(); plt.rcParams["axes.spines.top"]
        False
    """
    plt.rcParams.update(COURSE_STYLE)


def _axes(ax: Axes | None, figsize: tuple[float, float] = (5.0, 3.5)) -> Axes:
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def smooth(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing moving average over ``window`` points (``window <= 1`` returns the values unchanged).

    Example:
        >>> smooth([1.0, 3.0, 5.0], 2).tolist()
        [1.0, 2.0, 4.0]
    """
    x = np.asarray(values, dtype=float)
    if window <= 1 or x.size == 0:
        return x
    c = np.cumsum(np.insert(x, 0, 0.0))
    out = np.empty_like(x)
    for i in range(x.size):  # short series: clarity over vectorised tricks
        lo = max(0, i + 1 - window)
        out[i] = (c[i + 1] - c[lo]) / (i + 1 - lo)
    return out


def plot_history(
    history: History,
    keys: Sequence[str] = ("loss",),
    *,
    ax: Axes | None = None,
    labels: Sequence[str] | None = None,
    window: int = 1,
    logy: bool = False,
    title: str | None = None,
) -> Axes:
    """Plot metrics of a :class:`History` against the step.

    Args:
        history: what a training loop returned.
        keys: the metrics to draw, one line each.
        ax: axes to draw on (a new figure when ``None``).
        labels: legend labels (default: the keys).
        window: moving-average window to smooth noisy mini-batch losses.
        logy: logarithmic y axis (useful for losses on different scales).
        title: axes title.

    Example:
        >>> h = History([{"step": 0, "loss": 1.0}, {"step": 1, "loss": 0.5}])
        >>> ax = plot_history(h)
    """
    ax = _axes(ax)
    for key, label in zip(keys, labels or keys, strict=True):
        ax.plot(history.steps(key), smooth(history[key], window), label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(keys[0] if len(keys) == 1 else "value")
    if logy:
        ax.set_yscale("log")
    if len(keys) > 1:
        ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_image_grid(
    images: torch.Tensor | np.ndarray,
    *,
    ax: Axes | None = None,
    row_labels: Sequence[str] | None = None,
    title: str | None = None,
) -> Axes:
    """Show a grid of grey images as one mosaic on one axes.

    Args:
        images: ``(rows, cols, H, W)`` (or ``(n, H, W)``, shown as one row); uint8 or float, any range.
        ax: axes to draw on.
        row_labels: one label per row, written on the left.
        title: axes title.

    Example:
        >>> ax = plot_image_grid(np.zeros((2, 5, 28, 28), dtype=np.uint8), row_labels=["a", "b"])
    """
    arr = images.detach().float().cpu().numpy() if torch.is_tensor(images) else np.asarray(images, float)
    if arr.ndim == 3:
        arr = arr[None]  # (n, H, W) -> (1, n, H, W)
    if arr.ndim == 5 and arr.shape[2] == 1:
        arr = arr[:, :, 0]  # (rows, cols, 1, H, W) -> (rows, cols, H, W)
    if arr.ndim != 4:
        raise ValueError(f"plot_image_grid: expected (rows, cols, H, W) or (n, H, W), got shape {arr.shape}.")
    rows, cols, h, w = arr.shape
    pad = 2
    mosaic = np.full((rows * (h + pad) - pad, cols * (w + pad) - pad), np.nan)
    for r in range(rows):
        for c in range(cols):
            mosaic[r * (h + pad): r * (h + pad) + h, c * (w + pad): c * (w + pad) + w] = arr[r, c]
    ax = _axes(ax, figsize=(max(3.0, cols * 0.6), max(1.5, rows * 0.6)))
    ax.imshow(mosaic, cmap="gray_r", interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * (h + pad) + h / 2 for r in range(rows)] if row_labels else [])
    if row_labels:
        ax.set_yticklabels(row_labels)
    for spine in ax.spines.values():
        spine.set_visible(False)
    if title:
        ax.set_title(title)
    return ax


def plot_bars(
    values: Mapping[str, float],
    *,
    errors: Mapping[str, float] | None = None,
    ax: Axes | None = None,
    ylabel: str = "",
    title: str | None = None,
    reference: float | None = None,
) -> Axes:
    """Bar chart of named values (with optional error bars and a dashed reference line, e.g. chance).

    Example:
        >>> ax = plot_bars({"separate": 0.9, "shared": 0.8}, ylabel="accuracy", reference=0.5)
    """
    ax = _axes(ax)
    names = list(values)
    err = [errors[n] for n in names] if errors else None
    bars = ax.bar(names, [values[n] for n in names], yerr=err, capsize=4, color="tab:blue", alpha=0.8)
    # with error bars the value goes inside the bar, where the whisker cannot cover it
    ax.bar_label(bars, fmt="%.3g", padding=2, label_type="center" if err else "edge")
    ax.margins(y=0.12)  # room for the labels above the tallest bar
    if reference is not None:
        ax.axhline(reference, color="gray", linestyle="--", linewidth=1)
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", labelrotation=20)
    if title:
        ax.set_title(title)
    return ax


def plot_curves(
    x: Sequence[float],
    curves: Mapping[str, Sequence[float]],
    *,
    spreads: Mapping[str, Sequence[float]] | None = None,
    ax: Axes | None = None,
    xlabel: str = "",
    ylabel: str = "",
    title: str | None = None,
    logx: bool = False,
) -> Axes:
    """Lines of ``y`` against ``x``, one per named curve, with an optional shaded spread (e.g. ± std).

    Example:
        >>> ax = plot_curves([1, 2, 3], {"scratch": [0.2, 0.4, 0.6]}, xlabel="examples per class")
    """
    ax = _axes(ax)
    for name, ys in curves.items():
        ys = np.asarray(ys, dtype=float)
        (line,) = ax.plot(x, ys, marker="o", label=name)
        if spreads and name in spreads:
            s = np.asarray(spreads[name], dtype=float)
            ax.fill_between(x, ys - s, ys + s, color=line.get_color(), alpha=0.2)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logx:
        ax.set_xscale("log")
    ax.legend()
    if title:
        ax.set_title(title)
    return ax


def plot_heatmap(
    values: Sequence[Sequence[float]] | np.ndarray,
    *,
    row_labels: Sequence[str],
    col_labels: Sequence[str],
    ax: Axes | None = None,
    title: str | None = None,
    colorbar_label: str = "",
    fmt: str = "{:.2f}",
    vmin: float | None = None,
    vmax: float | None = None,
) -> Axes:
    """A table of numbers as coloured cells, each written in its cell (e.g. accuracy per shift and block).

    Example:
        >>> ax = plot_heatmap([[0.1, 0.9], [0.8, 0.2]], row_labels=["a", "b"], col_labels=["x", "y"])
    """
    arr = np.asarray(values, dtype=float)
    if arr.shape != (len(row_labels), len(col_labels)):
        raise ValueError(
            f"plot_heatmap: values of shape {arr.shape} need {arr.shape[0]} row labels and "
            f"{arr.shape[1] if arr.ndim == 2 else '?'} column labels, "
            f"got {len(row_labels)} and {len(col_labels)}."
        )
    ax = _axes(ax, figsize=(max(4.0, 0.9 * len(col_labels) + 2), max(2.0, 0.5 * len(row_labels) + 1)))
    image = ax.imshow(arr, cmap="viridis", aspect="auto", vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(col_labels)), labels=list(col_labels))
    ax.set_yticks(range(len(row_labels)), labels=list(row_labels))
    middle = np.nanmean(arr) if vmin is None or vmax is None else (vmin + vmax) / 2
    for (r, c), v in np.ndenumerate(arr):
        ax.text(c, r, fmt.format(v), ha="center", va="center", color="black" if v > middle else "white")
    ax.figure.colorbar(image, ax=ax, label=colorbar_label)
    if title:
        ax.set_title(title)
    return ax
