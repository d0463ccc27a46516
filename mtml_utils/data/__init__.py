"""Character data for the course: real Omniglot, generated glyph alphabets, the one-shot benchmark.

Everything comes as :class:`CharacterImages` (uint8 images with ink = 255 plus alphabet, character and
drawer labels), preprocessed once and cached as an array so notebooks move it to the device and sample
episodes by indexing. Data files live in ``MTML_DATA_DIR`` (default: ``data/`` of the checkout).

Example:
    >>> from mtml_utils.data import load_characters
    >>> chars = load_characters(prefer="glyphs")  # doctest: +SKIP
    >>> x = chars.to_tensor("cpu")  # doctest: +SKIP
"""

from .characters import CharacterImages
from .fetch import ensure_omniglot_files
from .files import OMNIGLOT_FILES, ChecksumError, DataUnavailableError, data_dir
from .glyphs import load_glyph_alphabets
from .omniglot import SPLITS, load_omniglot
from .one_shot import OneShotResult, OneShotRun, evaluate_one_shot, load_one_shot_runs
from .sources import load_characters

__all__ = [
    "OMNIGLOT_FILES",
    "SPLITS",
    "CharacterImages",
    "ChecksumError",
    "DataUnavailableError",
    "OneShotResult",
    "OneShotRun",
    "data_dir",
    "ensure_omniglot_files",
    "evaluate_one_shot",
    "load_characters",
    "load_glyph_alphabets",
    "load_omniglot",
    "load_one_shot_runs",
]
