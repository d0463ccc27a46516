"""Helpers for the course on deep multi-task and meta-learning.

Set-up, profiles, data, training loops, plots and checks.

Infrastructure only: students call these functions, they never find an exercise's solution here.
Import the package once under one alias::

    import mtml_utils as mtml
    device = mtml.setup(seed=0)
"""

from autograder.selfcheck import check_my_work
from mtml_utils import checks, effects, episodes, maml, multitask, plotting, transfer
from mtml_utils.core import describe_device, get_device, seed_everything, setup
from mtml_utils.data import (
    CharacterImages,
    DataUnavailableError,
    OneShotRun,
    evaluate_one_shot,
    load_characters,
    load_glyph_alphabets,
    load_omniglot,
    load_one_shot_runs,
)
from mtml_utils.profiles import PROFILES, Profile, ProfileError, by_profile, get_profile
from mtml_utils.synthetic import (
    CorrelatedRegressionTasks,
    RecommendationData,
    correlated_regression_tasks,
    recommendation_data,
)
from mtml_utils.training import History, accuracy, fit, run_training

__all__ = [
    "CorrelatedRegressionTasks",
    "RecommendationData",
    "correlated_regression_tasks",
    "recommendation_data",
    "CharacterImages",
    "DataUnavailableError",
    "OneShotRun",
    "evaluate_one_shot",
    "load_characters",
    "load_glyph_alphabets",
    "load_omniglot",
    "load_one_shot_runs",
    "PROFILES",
    "History",
    "Profile",
    "ProfileError",
    "accuracy",
    "by_profile",
    "checks",
    "effects",
    "check_my_work",
    "episodes",
    "maml",
    "multitask",
    "transfer",
    "describe_device",
    "fit",
    "get_device",
    "get_profile",
    "plotting",
    "run_training",
    "seed_everything",
    "setup",
]
