"""A small convolutional classifier, a mini-batch loop for it, and cache-or-train pre-training.

Notebook 04 pre-trains :class:`ConvClassifier` on the source alphabets once and fine-tunes copies of it;
the fine-tuning *recipes* (freezing, per-layer learning rates, linear probing, LP-FT) are the exercises and
live in the notebook. Everything here is plumbing the notebook only calls:

- :class:`ConvClassifier`: ``block1 … blockN`` (conv 3x3 → BatchNorm → ReLU → max-pool 2) then ``head``.
  Its children are named so that "freeze ``block1``" or "a new ``head``" mean one attribute each.
- :func:`train_classifier`: cross-entropy on mini-batches drawn on the data's device. It never calls
  ``model.train()`` or ``model.eval()``: frozen blocks stay in the mode the caller put them in.
- :func:`evaluate_accuracy` and :func:`eval_mode`: evaluate in eval mode and restore every module's mode.
- :func:`pretrain_classifier`: train once, save to the data folder's cache keyed by the configuration and a
  digest of the data; a second call with the same inputs loads in a fraction of a second.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mtml_utils.data.cache import cache_dir, cache_key
from mtml_utils.data.files import resolve_data_dir
from mtml_utils.training import History, Metrics, accuracy, fit

CACHE_VERSION = 1  # bump when ConvClassifier or the pre-training loop changes what a configuration means


def conv_block(in_channels: int, channels: int) -> nn.Sequential:
    """Conv 3x3 (padding 1) → BatchNorm → ReLU → max-pool 2: halves the image side.

    Example:
        >>> conv_block(1, 32)(torch.zeros(2, 1, 20, 20)).shape
        torch.Size([2, 32, 10, 10])
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, kernel_size=3, padding=1),
        nn.BatchNorm2d(channels),
        nn.ReLU(),
        nn.MaxPool2d(2),
    )


class ConvClassifier(nn.Module):
    """The course's image classifier: ``n_blocks`` conv blocks (the encoder) and a linear ``head``.

    Children, in order: ``block1``, …, ``block<n_blocks>``, ``head``. The encoder maps an image
    ``(n, in_channels, image_size, image_size)`` to a feature vector ``(n, feature_dim)``; the head maps
    features to ``n_classes`` logits. Weights are stored channels-last, which makes the convolutions about
    1.5x faster on CPUs.

    Args:
        n_classes: number of outputs of the head.
        channels: feature maps per conv block.
        n_blocks: conv blocks; each halves the image side (rounding down), which must stay ≥ 1.
        image_size: side of the square input images.
        in_channels: channels of the input images (1 for characters).

    Example:
        >>> model = ConvClassifier(n_classes=5, image_size=20)
        >>> [name for name, _ in model.named_children()]
        ['block1', 'block2', 'block3', 'block4', 'head']
        >>> model(torch.zeros(3, 1, 20, 20)).shape
        torch.Size([3, 5])
    """

    def __init__(
        self,
        n_classes: int,
        *,
        channels: int = 32,
        n_blocks: int = 4,
        image_size: int = 20,
        in_channels: int = 1,
    ) -> None:
        super().__init__()
        side = image_size
        for _ in range(n_blocks):
            side //= 2
        if n_blocks < 1 or side < 1:
            raise ValueError(
                f"ConvClassifier: {n_blocks} blocks halve a {image_size}px image to {side}px. "
                f"Use at least one "
                f"block and at most {max(1, image_size.bit_length() - 1)} for this image size."
            )
        self.block_names = tuple(f"block{i + 1}" for i in range(n_blocks))
        for i, name in enumerate(self.block_names):
            self.add_module(name, conv_block(in_channels if i == 0 else channels, channels))
        self.feature_dim = channels * side * side
        self.head = nn.Linear(self.feature_dim, n_classes)
        self.to(memory_format=torch.channels_last)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Encoder output ``(n, feature_dim)`` for images ``(n, in_channels, H, W)``."""
        for name in self.block_names:
            x = getattr(self, name)(x)
        return x.flatten(1)  # (n, channels, side, side) -> (n, feature_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits ``(n, n_classes)``."""
        return self.head(self.features(x))


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Put every module of ``model`` in eval mode, and give each its own mode back afterwards.

    ``model.train()`` after an evaluation would wake up frozen BatchNorm layers; this restores exactly
    what was there (frozen blocks in eval, the rest in train).

    Example:
        >>> model = ConvClassifier(3)
        >>> _ = model.block1.eval()
        >>> with eval_mode(model):
        ...     pass
        >>> model.training, model.block1.training
        (True, False)
    """
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield model
    finally:
        for module, training in modes:
            module.training = training


@torch.no_grad()
def evaluate_accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, batch_size: int = 500) -> float:
    """Accuracy of ``model`` on ``(x, y)`` in eval mode, in batches; every module's mode is restored.

    Example:
        >>> model = ConvClassifier(2)
        >>> 0.0 <= evaluate_accuracy(model, torch.rand(4, 1, 20, 20), torch.tensor([0, 1, 0, 1])) <= 1.0
        True
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"evaluate_accuracy needs as many labels as images (at least one): {len(x)} vs {len(y)}."
        )
    with eval_mode(model):
        correct = sum(
            accuracy(model(x[i: i + batch_size]), y[i: i + batch_size]) * len(y[i: i + batch_size])
            for i in range(0, len(x), batch_size)
        )
    return float(correct) / len(x)


def train_classifier(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: torch.Tensor,
    y: torch.Tensor,
    n_steps: int,
    *,
    batch_size: int = 64,
    seed: int = 0,
    desc: str = "fine-tuning",
    eval_fn: Callable[[], Metrics] | None = None,
    eval_every: int = 0,
    progress: bool = True,
) -> History:
    """Minimise cross-entropy of ``model(x)`` against ``y`` for ``n_steps`` optimizer steps.

    Each step uses ``batch_size`` examples drawn without replacement (all of them when there are fewer),
    drawn on the data's device from a generator seeded with ``seed``. Modes are left alone: call
    ``model.train()`` *before* freezing anything, since frozen blocks must stay in eval mode.

    Args:
        model: any module mapping ``x`` to logits.
        optimizer: over the parameters to train (param groups welcome).
        x: inputs ``(n, ...)``; y: integer labels ``(n,)`` on the same device.
        n_steps: optimizer steps.
        batch_size: examples per step.
        seed: seed of the batch sampler (the same seed gives the same batches).
        desc, eval_fn, eval_every, progress: as in :func:`mtml_utils.training.run_training`.

    Returns:
        A :class:`~mtml_utils.training.History` with ``loss`` and batch ``accuracy`` at every step.

    Example:
        >>> model = ConvClassifier(2)
        >>> opt = torch.optim.Adam(model.parameters(), lr=1e-2)
        >>> h = train_classifier(model, opt, torch.rand(8, 1, 20, 20), torch.arange(8) % 2, 5, progress=False)
        >>> len(h)
        5
    """
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(
            f"train_classifier needs as many labels as inputs (at least one): {len(x)} vs {len(y)}."
        )
    generator = torch.Generator(device=x.device).manual_seed(seed)
    n_batch = min(batch_size, len(x))

    def loss_fn(step: int) -> tuple[torch.Tensor, Metrics]:
        index = torch.randperm(len(x), generator=generator, device=x.device)[:n_batch]
        logits = model(x[index])
        return F.cross_entropy(logits, y[index]), {"accuracy": accuracy(logits, y[index])}

    return fit(
        loss_fn, optimizer, n_steps, desc=desc, eval_fn=eval_fn, eval_every=eval_every, progress=progress
    )


@dataclass(frozen=True)
class PretrainConfig:
    """How the source classifier is pre-trained; every field is part of the cache key."""

    channels: int = 32
    """Feature maps per conv block."""
    n_blocks: int = 4
    """Conv blocks of the encoder."""
    n_steps: int = 300
    """Adam steps on mini-batches of the source images."""
    batch_size: int = 128
    """Source images per step."""
    lr: float = 3e-3
    """Adam learning rate."""
    seed: int = 0
    """Seed of the initial weights and of the batch sampler."""


@dataclass
class Pretrained:
    """What :func:`pretrain_classifier` returns."""

    model: ConvClassifier
    """The trained classifier (in train mode, on the device of the source images)."""
    history: History
    """The pre-training loss and batch accuracy per step (stored with the weights)."""
    from_cache: bool
    """Whether the weights were loaded rather than trained."""
    path: Path | None
    """The cache file (``None`` when no folder was writable)."""
    seconds: float
    """Time spent training or loading."""


def _digest(t: torch.Tensor) -> str:
    return hashlib.sha256(t.detach().cpu().contiguous().numpy().tobytes()).hexdigest()[:16]


def _load(path: Path | None, device: torch.device) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        return torch.load(path, map_location=device, weights_only=True)
    except Exception:  # a damaged or foreign cache file is retrained, never trusted
        return None


def _save(obj: dict, path: Path | None) -> None:
    if path is None:
        return
    tmp_name = None
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        with os.fdopen(fd, "wb") as f:
            torch.save(obj, f)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)  # readers see no file or a whole one
    except OSError:
        if tmp_name is not None:
            Path(tmp_name).unlink(missing_ok=True)


def pretrain_classifier(
    x: torch.Tensor,
    y: torch.Tensor,
    config: PretrainConfig = PretrainConfig(),
    *,
    cache_root: Path | str | None = None,
    progress: bool = True,
) -> Pretrained:
    """Train a :class:`ConvClassifier` on ``(x, y)``, or load the one trained earlier with the same inputs.

    The cache file is ``pretrained_<key>.pt`` in the data folder's ``cache/`` (see
    :func:`mtml_utils.data.cache.cache_dir`); the key covers the configuration, the image shape and a
    SHA-256 digest of ``x`` and ``y``, so changing any of them retrains. Training uses its own seeded
    random streams: loading and training leave the global random state in the same place. Prints one line
    saying which happened and how long it took.

    Args:
        x: source images ``(n, channels, size, size)``; y: labels ``0 … n_classes-1``, same device.
        config: architecture and optimisation settings.
        cache_root: data folder whose cache is used (default: ``MTML_DATA_DIR`` or the checkout's ``data/``).
        progress: show a progress bar while training.

    Example:
        >>> pre = pretrain_classifier(x_source, y_source, PretrainConfig(n_steps=300))  # doctest: +SKIP
        Pre-trained ConvClassifier (157 classes) in 18.4 s; cached as .../pretrained_3f0c….pt
    """
    n_classes = int(y.max()) + 1
    key = cache_key("pretrain", CACHE_VERSION, asdict(config), tuple(x.shape), _digest(x), _digest(y))
    folder = cache_dir(resolve_data_dir(cache_root))
    path = None if folder is None else folder / f"pretrained_{key}.pt"
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)  # the same initial weights whatever ran before
        model = ConvClassifier(
            n_classes, channels=config.channels, n_blocks=config.n_blocks, image_size=x.shape[-1],
            in_channels=x.shape[1],
        ).to(x.device)
    stored = _load(path, x.device)
    if stored is not None:
        model.load_state_dict(stored["state_dict"])
        seconds = time.perf_counter() - start
        print(f"Loaded the pre-trained ConvClassifier ({n_classes} classes) from {path} in {seconds:.2f} s")
        return Pretrained(model, History(stored["history"]), True, path, seconds)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    history = train_classifier(
        model, optimizer, x, y, config.n_steps, batch_size=config.batch_size, seed=config.seed,
        desc="pre-training", progress=progress,
    )
    _save({"state_dict": model.state_dict(), "history": history.records}, path)
    seconds = time.perf_counter() - start
    where = f"cached as {path}" if path is not None else "not cached (no writable folder)"
    print(f"Pre-trained ConvClassifier ({n_classes} classes) in {seconds:.1f} s; {where}")
    return Pretrained(model, history, False, path, seconds)
