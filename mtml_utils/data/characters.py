"""The one container every character data set in the course comes in: :class:`CharacterImages`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

ARRAY_FIELDS = ("images", "alphabet", "character", "drawer")


def _is_index(value: object) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


@dataclass(frozen=True, eq=False)  # eq=False: comparing NumPy arrays with == has no single truth value
class CharacterImages:
    """Handwritten-character images with labels (real Omniglot or generated glyph alphabets).

    Attributes:
        images: ``(n_images, size, size)`` uint8, ink = 255, background = 0.
        alphabet: ``(n_images,)`` int64 index into ``alphabet_names``.
        character: ``(n_images,)`` int64 global character index ``0..n_characters-1``, unique across
            alphabets and grouped by alphabet (all characters of alphabet 0 come first).
        drawer: ``(n_images,)`` int64 index of the person (or simulated person) who drew the image.
        alphabet_names: one name per alphabet, e.g. ``"Greek"``.
        character_names: one name per character, e.g. ``"Greek/character01"``.
        source: where the images came from, e.g. ``"glyphs (seed 0)"``.

    Example:
        >>> chars = CharacterImages(
        ...     images=np.zeros((2, 28, 28), np.uint8), alphabet=np.array([0, 0]),
        ...     character=np.array([0, 1]), drawer=np.array([0, 0]), alphabet_names=("A",),
        ...     character_names=("A/character01", "A/character02"), source="example")
        >>> chars.summary()
        '1 alphabets, 2 characters, 2 images of 28x28 from example'
    """

    images: np.ndarray
    alphabet: np.ndarray
    character: np.ndarray
    drawer: np.ndarray
    alphabet_names: tuple[str, ...]
    character_names: tuple[str, ...]
    source: str

    def __post_init__(self) -> None:
        # Accept lists/int32 labels from callers but store exactly one layout, so that everything
        # downstream (episode samplers, caches) can rely on it.
        for name in ARRAY_FIELDS[1:]:
            value = np.asarray(getattr(self, name))
            if value.dtype.kind not in "iu":
                raise ValueError(
                    f"CharacterImages.{name} must hold integers, got dtype {value.dtype}. "
                    f"Pass integer label arrays (they are stored as int64)."
                )
            object.__setattr__(self, name, value.astype(np.int64, copy=False))
        object.__setattr__(self, "alphabet_names", tuple(str(n) for n in self.alphabet_names))
        object.__setattr__(self, "character_names", tuple(str(n) for n in self.character_names))
        images = np.asarray(self.images)
        if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1] != images.shape[2]:
            raise ValueError(
                f"CharacterImages.images must be a uint8 array of shape (n_images, size, size), got "
                f"dtype {images.dtype} and shape {images.shape}. Convert with "
                f"np.clip(x * 255, 0, 255).astype(np.uint8) and keep the images square."
            )
        object.__setattr__(self, "images", images)
        n = images.shape[0]
        for name in ARRAY_FIELDS[1:]:
            shape = getattr(self, name).shape
            if shape != (n,):
                raise ValueError(
                    f"CharacterImages.{name} must have shape ({n},), one label per image, got {shape}. "
                    f"Give every image its alphabet, character and drawer."
                )
        for name, names in (("alphabet", self.alphabet_names), ("character", self.character_names)):
            labels = getattr(self, name)
            if n and (labels.min() < 0 or labels.max() >= len(names)):
                raise ValueError(
                    f"CharacterImages.{name} values must lie in 0..{len(names) - 1} (one per entry of "
                    f"{name}_names), got {labels.min()}..{labels.max()}. Re-index the labels or add names."
                )

    @property
    def n_images(self) -> int:
        """Number of images. Example: ``chars.n_images`` → ``4840`` for Omniglot's small split."""
        return int(self.images.shape[0])

    @property
    def n_alphabets(self) -> int:
        """Number of alphabets. Example: ``chars.n_alphabets`` → ``8`` for Omniglot's small split."""
        return len(self.alphabet_names)

    @property
    def n_characters(self) -> int:
        """Number of characters (classes). Example: ``chars.n_characters`` → ``242``."""
        return len(self.character_names)

    @property
    def n_drawers(self) -> int:
        """Number of distinct drawers. Example: ``chars.n_drawers`` → ``20``."""
        return int(np.unique(self.drawer).size)

    @property
    def image_size(self) -> int:
        """Side length of the square images in pixels. Example: ``chars.image_size`` → ``28``."""
        return int(self.images.shape[1])

    def select_alphabets(self, names_or_indices: Sequence[str | int] | str | int) -> CharacterImages:
        """Return only the given alphabets, re-indexed in the given order.

        Alphabets become ``0..k-1`` in the order given; characters are re-numbered ``0..`` grouped by
        that order; images are reordered to match (stable within an alphabet). Drawers are unchanged.

        Example:
            >>> small = chars.select_alphabets(["Latin", "Greek"])  # doctest: +SKIP
            >>> small.alphabet_names, small.n_characters  # doctest: +SKIP
            (('Latin', 'Greek'), 50)
        """
        wanted = [names_or_indices] if isinstance(names_or_indices, (str, int)) else list(names_or_indices)
        indices: list[int] = []
        for item in wanted:
            if isinstance(item, str) and item in self.alphabet_names:
                indices.append(self.alphabet_names.index(item))
            elif _is_index(item) and 0 <= item < self.n_alphabets:
                indices.append(int(item))
            else:
                raise ValueError(
                    f"select_alphabets got {item!r}, which is neither an alphabet name nor an index "
                    f"0..{self.n_alphabets - 1}. The alphabets are: {', '.join(self.alphabet_names)}."
                )
        if len(set(indices)) != len(indices) or not indices:
            raise ValueError(
                f"select_alphabets needs a non-empty list of distinct alphabets, got {wanted!r}. "
                f"Name each alphabet once."
            )
        keep = np.concatenate([np.flatnonzero(self.alphabet == a) for a in indices])
        old_chars = [c for a in indices for c in np.unique(self.character[self.alphabet == a])]
        char_map = np.full(self.n_characters, -1, dtype=np.int64)
        char_map[old_chars] = np.arange(len(old_chars))
        alpha_map = np.full(self.n_alphabets, -1, dtype=np.int64)
        alpha_map[indices] = np.arange(len(indices))
        return CharacterImages(
            images=self.images[keep],
            alphabet=alpha_map[self.alphabet[keep]],
            character=char_map[self.character[keep]],
            drawer=self.drawer[keep],
            alphabet_names=tuple(self.alphabet_names[a] for a in indices),
            character_names=tuple(self.character_names[c] for c in old_chars),
            source=self.source,
        )

    def first_drawings(self, alphabet: int, n_characters: int = 8) -> np.ndarray:
        """The first drawing of each of the first ``n_characters`` characters of one alphabet, for a look.

        Returns:
            ``(n_characters, size, size)`` uint8 (fewer rows if the alphabet has fewer characters).

        Example:
            >>> chars.first_drawings(0, 5).shape  # doctest: +SKIP
            (5, 28, 28)
        """
        if not 0 <= alphabet < self.n_alphabets:
            raise ValueError(f"alphabet must be an index 0..{self.n_alphabets - 1}, got {alphabet}.")
        characters = np.unique(self.character[self.alphabet == alphabet])[:n_characters]
        first = [np.flatnonzero(self.character == c)[0] for c in characters]  # first image of each character
        return self.images[first]

    def to_tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        """Return all images as a float32 tensor ``(n_images, 1, size, size)`` in ``[0, 1]`` (ink = 1).

        The uint8 array is moved first and converted on the device (4x less to copy to a GPU).

        Example:
            >>> chars.to_tensor("cpu").shape  # doctest: +SKIP
            torch.Size([4840, 1, 28, 28])
        """
        return uint8_to_float(self.images, device)

    def summary(self) -> str:
        """One line describing the set.

        Example:
            >>> chars.summary()  # doctest: +SKIP
            '8 alphabets, 242 characters, 4840 images of 28x28 from omniglot (...)'
        """
        size = self.image_size
        return (
            f"{self.n_alphabets} alphabets, {self.n_characters} characters, {self.n_images} images of "
            f"{size}x{size} from {self.source}"
        )

    def __repr__(self) -> str:
        return f"CharacterImages({self.summary()})"


def uint8_to_float(images: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """Turn uint8 images ``(n, H, W)`` into a float32 tensor ``(n, 1, H, W)`` in ``[0, 1]`` on ``device``.

    The uint8 array is moved first and converted on the device (4x less to copy to a GPU). A read-only
    array is copied first: ``torch.from_numpy`` would warn on stderr, which fails a graded notebook cell.

    Example:
        >>> uint8_to_float(np.full((2, 3, 3), 255, np.uint8)).shape
        torch.Size([2, 1, 3, 3])
    """
    array = np.ascontiguousarray(images)
    if not array.flags.writeable:
        array = array.copy()
    return torch.from_numpy(array).to(device).unsqueeze(1).to(torch.float32).div_(255.0)


def to_arrays(chars: CharacterImages) -> dict[str, np.ndarray]:
    """Flatten a :class:`CharacterImages` into plain arrays for an ``.npz`` cache (no pickling).

    Example:
        >>> sorted(to_arrays(chars))  # doctest: +SKIP
        ['alphabet', 'alphabet_names', 'character', 'character_names', 'drawer', 'images', 'source']
    """
    arrays = {name: getattr(chars, name) for name in ARRAY_FIELDS}
    arrays["alphabet_names"] = np.array(chars.alphabet_names, dtype=str)
    arrays["character_names"] = np.array(chars.character_names, dtype=str)
    arrays["source"] = np.array(chars.source)
    return arrays


def from_arrays(arrays: dict[str, np.ndarray]) -> CharacterImages:
    """Rebuild a :class:`CharacterImages` from :func:`to_arrays` output.

    Example:
        >>> from_arrays(to_arrays(chars)).n_images == chars.n_images  # doctest: +SKIP
        True
    """
    return CharacterImages(
        **{name: arrays[name] for name in ARRAY_FIELDS},
        alphabet_names=tuple(arrays["alphabet_names"].tolist()),
        character_names=tuple(arrays["character_names"].tolist()),
        source=str(arrays["source"]),
    )
