"""Verdicts of ``python -m autograder check`` kept for a test session (see CheckVerdicts)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


class CheckVerdicts:
    """What ``python -m autograder check`` said about a notebook's code, ``{grade_id: "PASS" | "FAIL"}``, kept
    for the session so tests that check the same code (the CLI test, then the browser test on the file
    JupyterLab saved) run the notebook once. The key is every code cell's source and nbgrader metadata, all
    that check reads: outputs, markdown and cell ids do not change its verdicts."""

    def __init__(self) -> None:
        self._verdicts: dict[str, dict[str, str]] = {}

    @staticmethod
    def key(path: Path) -> str:
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        code = [["".join(c["source"]), c.get("metadata", {}).get("nbgrader")]
                for c in cells if c["cell_type"] == "code"]
        return hashlib.sha256(json.dumps(code, sort_keys=True).encode()).hexdigest()

    def record(self, path: Path, verdicts: dict[str, str]) -> None:
        self._verdicts[self.key(path)] = dict(verdicts)

    def get(self, path: Path) -> dict[str, str] | None:
        """The verdicts recorded for code equal to ``path``'s, or None when none were."""
        return self._verdicts.get(self.key(path))
