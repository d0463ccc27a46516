"""Run profiles: one environment variable picks the sizes every notebook uses.

``MTML_PROFILE`` is one of

- ``smoke``: CI and grading. Seconds per notebook, tiny sizes; shows that the code runs, not that it learns.
- ``laptop`` (default): minutes on a 2-core CPU; results that still show each phenomenon.
- ``full``: GPU, paper-scale settings.

Profiles change sizes and iteration counts, never code paths: a notebook asks
``by_profile(smoke=..., laptop=..., full=...)`` for each size and runs the same code in every profile.
"""

from __future__ import annotations

import os
from typing import Literal, TypeVar, get_args

Profile = Literal["smoke", "laptop", "full"]
PROFILES: tuple[Profile, ...] = get_args(Profile)
DEFAULT_PROFILE: Profile = "laptop"
PROFILE_ENV_VAR = "MTML_PROFILE"

_DESCRIPTIONS = {
    "smoke": "CI and grading: seconds, tiny sizes",
    "laptop": "the default: minutes on a laptop CPU",
    "full": "GPU, paper-scale settings",
}

T = TypeVar("T")


class ProfileError(ValueError):
    """Raised when ``MTML_PROFILE`` names no known profile."""


def get_profile() -> Profile:
    """Return the active profile, read from ``MTML_PROFILE`` (default ``"laptop"``).

    The value is case-insensitive and surrounding spaces are ignored; an empty value means the default.

    Raises:
        ProfileError: the variable holds something else; the message lists the valid profiles.

    Example:
        >>> import os
        >>> os.environ["MTML_PROFILE"] = "smoke"
        >>> get_profile()
        'smoke'
    """
    raw = os.environ.get(PROFILE_ENV_VAR, "")
    value = raw.strip().lower() or DEFAULT_PROFILE
    if value not in PROFILES:
        valid = "; ".join(f"{name} ({_DESCRIPTIONS[name]})" for name in PROFILES)
        raise ProfileError(
            f"{PROFILE_ENV_VAR}={raw!r} is not a known profile. Valid profiles are: {valid}. "
            f"Set it before starting Jupyter or Python (for example `MTML_PROFILE=smoke make lab`), "
            f"or unset it to get the default ({DEFAULT_PROFILE}). Nothing was run."
        )
    return value  # type: ignore[return-value]


def by_profile(*, smoke: T, laptop: T, full: T, profile: Profile | None = None) -> T:
    """Pick the value for the active profile (or for ``profile`` when given).

    Args:
        smoke: value used in the ``smoke`` profile (tiny: CI and grading).
        laptop: value used in the ``laptop`` profile (the default).
        full: value used in the ``full`` profile (GPU, paper scale).
        profile: override the profile read from ``MTML_PROFILE``.

    Example:
        >>> by_profile(smoke=10, laptop=500, full=5000, profile="laptop")
        500
    """
    chosen = profile if profile is not None else get_profile()
    if chosen not in PROFILES:
        raise ProfileError(f"profile={chosen!r} is not one of {', '.join(PROFILES)}.")
    return {"smoke": smoke, "laptop": laptop, "full": full}[chosen]
