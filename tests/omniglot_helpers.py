"""Constants and small helpers shared by the Omniglot test modules."""

from __future__ import annotations

import hashlib
from pathlib import Path

SMALL = ("images_background_small1.zip", "images_background_small2.zip")
SMALL_ALPHABETS = {
    "Balinese",
    "Early_Aramaic",
    "Greek",
    "Japanese_(katakana)",
    "Korean",
    "Latin",
    "Sanskrit",
    "Tagalog",
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def npz_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.npz"))
