"""N-way K-shot episodes sampled on the device by tensor indexing.

The images of a split live once on the device as a uint8 tensor, with a table ``(n_classes, n_drawings)``
of image indices per class. Sampling a batch of episodes is then a handful of tensor operations — random
keys sorted per row pick classes and drawings without replacement, one gather fetches the images — with no
PNG decoding and no Python loop over episodes or images. Turning an episode into a model's input sequence
(labels concatenated, query order shuffled) is left to the notebooks.

Layout of a batch of ``B`` episodes (``N = n_way``, ``K = k_shot``, ``Q = k_query``):

- ``support_x``: ``(B, N*K, 1, H, W)`` float in ``[0, 1]``; ``support_y``: ``(B, N*K)`` labels ``0 … N-1``,
  class-major: ``[0]*K + [1]*K + … + [N-1]*K``.
- ``query_x``: ``(B, N*Q, 1, H, W)``; ``query_y``: ``(B, N*Q)``, class-major as well (not shuffled).
- ``classes``: ``(B, N)`` which class of the sampler each label stands for (label ``j`` of episode ``b`` is
  class ``classes[b, j]``); ``support_index`` / ``query_index``: the drawn rows of the sampler's images.

Example:
    >>> samplers = split_by_alphabet(  # doctest: +SKIP
    ...     chars, val_alphabets=["Korean"], test_alphabets=["Tagalog"])
    >>> episodes = samplers["meta_train"].sample(  # doctest: +SKIP
    ...     n_way=3, k_shot=1, k_query=2, meta_batch_size=16)
    >>> episodes.support_x.shape, episodes.query_y.shape  # doctest: +SKIP
    (torch.Size([16, 3, 1, 28, 28]), torch.Size([16, 6]))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mtml_utils.data.characters import CharacterImages

ROTATIONS = 4  # with rotation augmentation, character c turned by r * 90 degrees is class c * 4 + r


@dataclass(frozen=True)
class Episodes:
    """A batch of episodes on the sampler's device (layout in the module docstring)."""

    support_x: torch.Tensor
    """``(B, N*K, 1, H, W)`` float in [0, 1], class-major."""
    support_y: torch.Tensor
    """``(B, N*K)`` int64 labels 0 … N-1."""
    query_x: torch.Tensor
    """``(B, N*Q, 1, H, W)`` float in [0, 1], class-major."""
    query_y: torch.Tensor
    """``(B, N*Q)`` int64 labels 0 … N-1."""
    classes: torch.Tensor
    """``(B, N)`` the sampler's class id behind each label."""
    support_index: torch.Tensor
    """``(B, N*K)`` rows of the sampler's ``images`` drawn for the support set."""
    query_index: torch.Tensor
    """``(B, N*Q)`` rows of the sampler's ``images`` drawn for the query set."""


class EpisodeSampler:
    """Samples batches of N-way K-shot episodes from a fixed set of characters, on one device.

    Args:
        chars: the character images; only the given alphabets are used.
        alphabets: names or indices of the alphabets whose characters are the classes (``None``: all).
        device: where the images live and episodes are built.
        rotations: augment the classes with 90° rotations: every character gives four classes (used for
            meta-training, where more classes mean less overfitting).
        seed: seed of the sampler's own random generator (same seed, same episodes).

    Example:
        >>> sampler = EpisodeSampler(chars, ["Latin", "Greek"], device="cpu", seed=0)  # doctest: +SKIP
        >>> sampler.n_classes, sampler.n_drawings  # doctest: +SKIP
        (50, 20)
    """

    def __init__(
        self,
        chars: CharacterImages,
        alphabets: Sequence[str | int] | None = None,
        *,
        device: torch.device | str = "cpu",
        rotations: bool = False,
        seed: int = 0,
    ) -> None:
        subset = chars if alphabets is None else chars.select_alphabets(list(alphabets))
        counts = np.bincount(subset.character, minlength=subset.n_characters)
        if subset.n_characters == 0 or counts.min() == 0:
            raise ValueError("EpisodeSampler needs at least one character, each with at least one drawing.")
        self.n_drawings = int(counts.min())  # Omniglot and the glyphs have 20 per character
        order = np.lexsort((subset.drawer, subset.character))  # by character, then drawer
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
        table = starts[:, None] + np.arange(self.n_drawings)[None, :]  # (n_characters, n_drawings)
        self.device = torch.device(device)
        images = np.ascontiguousarray(subset.images[order])  # (n, H, W), grouped by character
        self.images = torch.from_numpy(images).to(self.device)
        self.table = torch.as_tensor(table, device=self.device)
        self.rotations = rotations
        # With rotations, every image is kept in its four quarter turns (4x the uint8 memory, a few MB for
        # Omniglot), so that a batch is still one gather: row i turned k times is _turned[i * 4 + k].
        turned = [torch.rot90(self.images, k, dims=(-2, -1)) for k in range(ROTATIONS)] if rotations else []
        self._turned = torch.stack(turned, dim=1).flatten(0, 1) if rotations else None  # (n * 4, H, W)
        self.n_characters = subset.n_characters
        self.n_classes = self.n_characters * (ROTATIONS if rotations else 1)
        self.alphabet_names = subset.alphabet_names
        self.generator = torch.Generator(device=self.device).manual_seed(seed)

    def __repr__(self) -> str:
        aug = " x 4 rotations" if self.rotations else ""
        return (
            f"EpisodeSampler({len(self.alphabet_names)} alphabets, {self.n_characters} characters{aug}, "
            f"{self.n_drawings} drawings each, on {self.device})"
        )

    def _distinct(self, rows: int, cols: int, pick: int) -> torch.Tensor:
        """``pick`` distinct values of ``0 … cols-1`` per row, in random order: ``(rows, pick)``.

        The indices of the ``pick`` largest of ``cols`` uniform keys: a uniformly random ordered subset.
        ``topk`` costs O(cols) per row where a full ``argsort`` would cost O(cols log cols).
        """
        keys = torch.rand(rows, cols, generator=self.generator, device=self.device)
        return keys.topk(pick, dim=1, sorted=True).indices

    def sample(
        self, n_way: int, k_shot: int, k_query: int = 1, meta_batch_size: int = 1
    ) -> Episodes:
        """Draw ``meta_batch_size`` episodes of ``n_way`` classes with ``k_shot`` + ``k_query`` drawings each.

        Classes are distinct within an episode and drawings distinct within a class; label ``j`` is given to
        the episode's ``j``-th class, which is random, so labels carry no meaning across episodes.

        Raises:
            ValueError: more classes or drawings asked for than the sampler has.

        Example:
            >>> e = sampler.sample(n_way=5, k_shot=1, k_query=1, meta_batch_size=32)  # doctest: +SKIP
            >>> e.support_y[0].tolist()  # doctest: +SKIP
            [0, 1, 2, 3, 4]
        """
        if n_way < 1 or k_shot < 0 or k_query < 0 or k_shot + k_query < 1 or meta_batch_size < 1:
            raise ValueError(
                f"Need n_way >= 1, k_shot, k_query >= 0 with at least one drawing per class, meta_batch_size "
                f">= 1; got n_way={n_way}, k_shot={k_shot}, k_query={k_query}, "
                f"meta_batch_size={meta_batch_size}."
            )
        if n_way > self.n_classes or k_shot + k_query > self.n_drawings:
            raise ValueError(
                f"{n_way}-way episodes with {k_shot} + {k_query} drawings per class do not fit this sampler: "
                f"it has {self.n_classes} classes of {self.n_drawings} drawings."
            )
        b, n, d = meta_batch_size, n_way, k_shot + k_query
        classes = self._distinct(b, self.n_classes, n)  # (B, N)
        drawings = self._distinct(b * n, self.n_drawings, d).view(b, n, d)  # (B*N, d) -> (B, N, d)
        character = classes // ROTATIONS if self.rotations else classes
        index = self.table[character.unsqueeze(-1), drawings]  # (B, N, d) rows of self.images
        support_index = index[:, :, :k_shot].reshape(b, n * k_shot)
        query_index = index[:, :, k_shot:].reshape(b, n * k_query)
        turns = (classes % ROTATIONS) if self.rotations else None
        labels = torch.arange(n, device=self.device).view(1, n, 1)
        return Episodes(
            support_x=self._images(support_index, turns, k_shot),
            support_y=labels.expand(b, n, k_shot).reshape(b, n * k_shot),
            query_x=self._images(query_index, turns, k_query),
            query_y=labels.expand(b, n, k_query).reshape(b, n * k_query),
            classes=classes,
            support_index=support_index,
            query_index=query_index,
        )

    def _images(self, index: torch.Tensor, turns: torch.Tensor | None, per_class: int) -> torch.Tensor:
        """Rows ``index`` ``(B, M)`` of the images as float ``(B, M, 1, H, W)`` in [0, 1], each turned by its
        class's quarter turns ``turns`` ``(B, N)`` when rotations are on (one gather from the turned
        copies)."""
        b, m = index.shape
        if turns is None:
            images = self.images.index_select(0, index.flatten())  # (B*M, H, W) uint8
        else:
            turns = turns.repeat_interleave(per_class, dim=1)  # (B, N) -> (B, M): its class's turn
            images = self._turned.index_select(0, (index * ROTATIONS + turns).flatten())
        h, w = images.shape[-2:]
        return images.view(b, m, 1, h, w).to(torch.float32).div_(255.0)


def split_by_alphabet(
    chars: CharacterImages,
    *,
    val_alphabets: Sequence[str | int],
    test_alphabets: Sequence[str | int],
    device: torch.device | str = "cpu",
    rotate_train: bool = True,
    seed: int = 0,
) -> dict[str, EpisodeSampler]:
    """Samplers for meta-training, meta-validation and meta-testing on disjoint sets of alphabets.

    Every alphabet not named in ``val_alphabets`` or ``test_alphabets`` is a meta-training alphabet; only
    meta-training augments its classes with rotations (``rotate_train``). Each sampler gets its own seed.

    Example:
        >>> s = split_by_alphabet(  # doctest: +SKIP
        ...     chars, val_alphabets=["Korean"], test_alphabets=["Tagalog"])
        >>> sorted(s)  # doctest: +SKIP
        ['meta_test', 'meta_train', 'meta_val']
    """

    def index(name: str | int) -> int:
        if isinstance(name, str):
            if name not in chars.alphabet_names:
                known = ", ".join(chars.alphabet_names)
                raise ValueError(f"No alphabet {name!r}; the alphabets are: {known}.")
            return chars.alphabet_names.index(name)
        return int(name)

    val, test = [index(a) for a in val_alphabets], [index(a) for a in test_alphabets]
    if set(val) & set(test):
        raise ValueError("An alphabet cannot be both a meta-validation and a meta-test alphabet.")
    train = [a for a in range(chars.n_alphabets) if a not in val and a not in test]
    if not train or not val or not test:
        raise ValueError("Meta-training, meta-validation and meta-test each need at least one alphabet.")
    return {
        "meta_train": EpisodeSampler(chars, train, device=device, rotations=rotate_train, seed=seed),
        "meta_val": EpisodeSampler(chars, val, device=device, seed=seed + 1),
        "meta_test": EpisodeSampler(chars, test, device=device, seed=seed + 2),
    }
