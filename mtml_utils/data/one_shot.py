"""The official Omniglot 20-way one-shot classification benchmark (Lake et al., 2015).

``all_runs.zip`` holds 20 runs drawn from the evaluation alphabets. Each run is a 20-way, within-alphabet
task: 20 training images (one per class, ``training/class01..20.png``), 20 test images
(``test/item01..20.png``) and ``class_labels.txt`` giving the right class of each test image. People make
4.5 % errors on it; Bayesian Program Learning (BPL) 3.3 %.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from .cache import cache_key, cached_arrays
from .characters import uint8_to_float
from .fetch import ensure_omniglot_files
from .files import OMNIGLOT_FILES, resolve_data_dir
from .omniglot import PREPROCESS_VERSION, check_image_size, decode_png, read_zip

RUNS_FILE = "all_runs.zip"
N_RUNS, N_WAY = 20, 20
PEOPLE_ERROR, BPL_ERROR = 0.045, 0.033  # Lake, Salakhutdinov & Tenenbaum (2015), Science 350(6266)
_ANSWER = re.compile(r"test/item(\d+)\.png\s+\S*training/class(\d+)\.png")


@dataclass(frozen=True, eq=False)  # eq=False: comparing NumPy arrays with == has no single truth value
class OneShotRun:
    """One official 20-way within-alphabet one-shot run.

    Attributes:
        run: the run number, 1..20.
        support_x: ``(20, size, size)`` uint8, ink = 255: ``training/class01..class20``.
        support_y: ``(20,)`` int64, ``0..19`` (support image ``i`` is the only example of class ``i``).
        query_x: ``(20, size, size)`` uint8: ``test/item01..item20``.
        query_y: ``(20,)`` int64: the right class (0..19) of each query, from ``class_labels.txt``.

    Example:
        >>> run = load_one_shot_runs()[0]  # doctest: +SKIP
        >>> run.run, run.support_x.shape, run.query_y[:3]  # doctest: +SKIP
        (1, (20, 28, 28), array([7, 8, 1]))
    """

    run: int
    support_x: np.ndarray
    support_y: np.ndarray
    query_x: np.ndarray
    query_y: np.ndarray


def _build_runs(path: Path, image_size: int) -> dict[str, np.ndarray]:
    members = read_zip(path)
    support, query, answers = [], [], []
    for r in range(1, N_RUNS + 1):
        prefix, numbers = f"run{r:02d}/", range(1, N_WAY + 1)
        support.append(
            [decode_png(members[f"{prefix}training/class{n:02d}.png"], image_size) for n in numbers]
        )
        query.append([decode_png(members[f"{prefix}test/item{n:02d}.png"], image_size) for n in numbers])
        labels = dict(
            (int(item) - 1, int(cls) - 1)
            for item, cls in _ANSWER.findall(members[f"{prefix}class_labels.txt"].decode())
        )
        answers.append([labels[i] for i in range(N_WAY)])
    return {"support_x": np.array(support), "query_x": np.array(query), "query_y": np.array(answers)}


def load_one_shot_runs(
    image_size: int = 28, *, data_dir: Path | str | None = None, download: bool | None = None
) -> list[OneShotRun]:
    """Load the 20 official one-shot runs from ``all_runs.zip`` (decoded once, then cached).

    Args:
        image_size: side length of the returned images (the originals are 105x105).
        data_dir: the data folder (default: ``MTML_DATA_DIR`` or the checkout's ``data/``).
        download: ``False`` never downloads; the default downloads ``all_runs.zip`` if missing unless
            ``MTML_OFFLINE=1``.

    Raises:
        DataUnavailableError: ``all_runs.zip`` is missing and cannot be downloaded (there is no generated
            substitute for the official benchmark); ``ChecksumError`` when it is corrupt.

    Example:
        >>> runs = load_one_shot_runs(28)  # doctest: +SKIP
        >>> len(runs), runs[0].query_x.shape  # doctest: +SKIP
        (20, (20, 28, 28))
    """
    image_size = check_image_size(image_size)
    (path,) = ensure_omniglot_files([RUNS_FILE], data_dir=data_dir, download=download)
    key = cache_key("one_shot", image_size, OMNIGLOT_FILES[RUNS_FILE].digest, PREPROCESS_VERSION)
    name = f"omniglot_runs_{image_size}px"
    arrays = cached_arrays(resolve_data_dir(data_dir), name, key, lambda: _build_runs(path, image_size))
    return [
        OneShotRun(
            run=r + 1,
            support_x=arrays["support_x"][r],
            support_y=np.arange(N_WAY, dtype=np.int64),
            query_x=arrays["query_x"][r],
            query_y=arrays["query_y"][r].astype(np.int64),
        )
        for r in range(len(arrays["query_y"]))
    ]


@dataclass
class OneShotResult:
    """Accuracy of a classifier on the one-shot runs. All rates are fractions in ``[0, 1]``.

    Attributes:
        accuracy_per_run: fraction of the 20 queries classified right, one entry per run.
        mean_accuracy: mean of ``accuracy_per_run``.
        error_rate: ``1 - mean_accuracy`` (the number the paper reports, printed as a percentage).

    Example:
        >>> print(OneShotResult([0.6, 0.65]))
        20-way one-shot over 2 runs: error 37.5 % (people 4.5 %, BPL 3.3 %)
    """

    accuracy_per_run: list[float]
    mean_accuracy: float = field(init=False)
    error_rate: float = field(init=False)

    def __post_init__(self) -> None:
        self.mean_accuracy = float(np.mean(self.accuracy_per_run))
        self.error_rate = 1.0 - self.mean_accuracy

    def __str__(self) -> str:
        return (
            f"{N_WAY}-way one-shot over {len(self.accuracy_per_run)} runs: "
            f"error {100 * self.error_rate:.1f} % "
            f"(people {100 * PEOPLE_ERROR:.1f} %, BPL {100 * BPL_ERROR:.1f} %)"
        )


def _as_predictions(output: object, n_query: int, n_way: int) -> torch.Tensor:
    """Turn what a classifier returned into ``(n_query,)`` class indices, or explain what is wrong."""
    expected = (
        f"classify(support_x, support_y, query_x) must return either {n_query} predicted class indices "
        f"(shape ({n_query},), integers in 0..{n_way - 1}) or logits of shape ({n_query}, {n_way}) "
        f"(one row per query image, one column per support class)"
    )
    try:
        pred = torch.as_tensor(output).detach()
    except (TypeError, ValueError, RuntimeError) as exc:
        raise TypeError(f"{expected}, but it returned a {type(output).__name__}. Return a tensor.") from exc
    if pred.shape == (n_query, n_way):
        return pred.argmax(dim=1).cpu()
    if pred.shape != (n_query,):
        raise ValueError(
            f"{expected}, but it returned shape {tuple(pred.shape)}. Check which dimension holds the queries "
            f"and that you predict for query_x, not support_x."
        )
    if pred.is_floating_point() and not torch.equal(pred, pred.round()):
        raise ValueError(f"{expected}, but it returned non-integer values such as {pred[0].item()}.")
    pred = pred.long().cpu()
    if pred.min() < 0 or pred.max() >= n_way:
        raise ValueError(
            f"{expected}, but it returned values {pred.min().item()}..{pred.max().item()}. Predict the index "
            f"of the support class (0..{n_way - 1}), not another label."
        )
    return pred


def evaluate_one_shot(
    classify: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    runs: Sequence[OneShotRun],
    device: torch.device | str = "cpu",
) -> OneShotResult:
    """Score a one-shot classifier on the official runs.

    ``classify(support_x, support_y, query_x)`` receives float32 images ``(20, 1, H, W)`` in ``[0, 1]``
    (ink = 1) and int64 labels ``(20,)``, all on ``device``, and returns predicted class indices ``(20,)``
    or logits ``(20, 20)`` (the argmax is taken). Gradients stay enabled, so a classifier may fine-tune.

    Example:
        >>> def nearest(sx, sy, qx):
        ...     return sy[torch.cdist(qx.flatten(1), sx.flatten(1)).argmin(dim=1)]
        >>> print(evaluate_one_shot(nearest, load_one_shot_runs()))  # doctest: +SKIP
        20-way one-shot over 20 runs: error 74.0 % (people 4.5 %, BPL 3.3 %)
    """
    if len(runs) == 0:
        raise ValueError("evaluate_one_shot got no runs. Pass the list returned by load_one_shot_runs().")
    accuracies = []
    for run in runs:
        support_x, query_x = uint8_to_float(run.support_x, device), uint8_to_float(run.query_x, device)
        support_y = torch.as_tensor(run.support_y, dtype=torch.int64, device=device)
        pred = _as_predictions(classify(support_x, support_y, query_x), len(run.query_y), len(run.support_y))
        accuracies.append(float((pred.numpy() == run.query_y).mean()))
    return OneShotResult(accuracies)
