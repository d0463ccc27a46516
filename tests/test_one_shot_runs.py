"""The official 20-way one-shot runs (all_runs.zip) and the evaluation helper."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

import mtml_utils.data as data


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MTML_OFFLINE", "1")
    monkeypatch.setenv("MTML_DATA_DIR", str(tmp_path / "unused_default_data_dir"))


@pytest.fixture(scope="module")
def runs(omniglot_data_dir: Path) -> list[data.OneShotRun]:
    return data.load_one_shot_runs(data_dir=omniglot_data_dir)


def nearest_neighbour(
    support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor
) -> torch.Tensor:
    return support_y[torch.cdist(query_x.flatten(1), support_x.flatten(1)).argmin(dim=1)]


def test_twenty_runs_of_twenty_support_and_twenty_query_images(runs: list[data.OneShotRun]) -> None:
    assert [run.run for run in runs] == list(range(1, 21))
    for run in runs:
        assert run.support_x.shape == (20, 28, 28) and run.query_x.shape == (20, 28, 28)
        assert run.support_x.dtype == np.uint8 and run.query_x.dtype == np.uint8
        assert run.support_y.tolist() == list(range(20)) and run.support_y.dtype == np.int64
        assert run.query_y.dtype == np.int64 and set(run.query_y.tolist()) <= set(range(20))
        assert run.support_x.mean() < 60 and run.query_x.mean() < 60  # ink = 255 on 0
    assert not np.array_equal(runs[0].support_x, runs[1].support_x)


def test_answers_match_class_labels_txt(runs: list[data.OneShotRun], omniglot_dir: Path) -> None:
    with zipfile.ZipFile(omniglot_dir / "all_runs.zip") as zf:
        text = zf.read("run01/class_labels.txt").decode()
    answers = dict(re.findall(r"run01/test/item(\d+)\.png run01/training/class(\d+)\.png", text))
    # the first line reads "run01/test/item01.png run01/training/class08.png"
    assert answers["01"] == "08" and runs[0].query_y[0] == 7
    for item in ("02", "13", "20"):
        assert runs[0].query_y[int(item) - 1] == int(answers[item]) - 1


def test_query_images_come_in_item_order(runs: list[data.OneShotRun], omniglot_dir: Path) -> None:
    from mtml_utils.data.omniglot import decode_png

    with zipfile.ZipFile(omniglot_dir / "all_runs.zip") as zf:
        item05 = decode_png(zf.read("run03/test/item05.png"), 28)
        class11 = decode_png(zf.read("run03/training/class11.png"), 28)
    assert np.array_equal(runs[2].query_x[4], item05) and np.array_equal(runs[2].support_x[10], class11)


def test_oracle_scores_100_percent(runs: list[data.OneShotRun]) -> None:
    answers = iter([torch.from_numpy(run.query_y) for run in runs])
    result = data.evaluate_one_shot(lambda sx, sy, qx: next(answers), runs)
    assert result.mean_accuracy == 1.0 and result.error_rate == 0.0
    assert result.accuracy_per_run == [1.0] * 20


def test_pixel_nearest_neighbour_beats_chance(runs: list[data.OneShotRun]) -> None:
    result = data.evaluate_one_shot(nearest_neighbour, runs)
    assert 0.05 < result.mean_accuracy < 0.9 and len(result.accuracy_per_run) == 20
    assert result.error_rate == pytest.approx(1 - result.mean_accuracy)
    # logits (queries x classes) are scored by their argmax: the same classifier as logits scores the same
    logits = data.evaluate_one_shot(
        lambda sx, sy, qx: -torch.cdist(qx.flatten(1), sx.flatten(1)), runs, device=torch.device("cpu")
    )
    assert logits.accuracy_per_run == result.accuracy_per_run


def test_classifier_gets_floats_in_0_1_on_the_device(runs: list[data.OneShotRun]) -> None:
    seen = {}

    def spy(support_x: torch.Tensor, support_y: torch.Tensor, query_x: torch.Tensor) -> torch.Tensor:
        seen.update(sx=support_x, sy=support_y, qx=query_x)
        return support_y

    data.evaluate_one_shot(spy, runs[:1])
    assert seen["sx"].shape == (20, 1, 28, 28) and seen["qx"].shape == (20, 1, 28, 28)
    assert seen["sx"].dtype == torch.float32 and 0 <= seen["sx"].min() and seen["sx"].max() == 1
    assert seen["sy"].dtype == torch.int64 and seen["sy"].tolist() == list(range(20))


def test_result_prints_error_with_human_and_bpl_baselines() -> None:
    result = data.OneShotResult([0.6, 0.65])
    assert result.mean_accuracy == pytest.approx(0.625) and result.error_rate == pytest.approx(0.375)
    assert str(result) == "20-way one-shot over 2 runs: error 37.5 % (people 4.5 %, BPL 3.3 %)"


@pytest.mark.parametrize(
    ("output", "complaint"),
    [
        (torch.zeros(20, 5), r"returned shape \(20, 5\)"),
        (torch.zeros(19, dtype=torch.long), r"returned shape \(19,\)"),
        (torch.full((20,), 25), r"values 25\.\.25"),
        (torch.full((20,), 0.5), "non-integer values"),
        ("cat", "returned a str"),
    ],
)
def test_wrong_classifier_output_gets_a_clear_error(
    runs: list[data.OneShotRun], output: object, complaint: str
) -> None:
    with pytest.raises((ValueError, TypeError), match=complaint) as info:
        data.evaluate_one_shot(lambda sx, sy, qx: output, runs)
    assert r"(20,)" in str(info.value) and "(20, 20)" in str(info.value)


def test_no_runs_is_an_error() -> None:
    with pytest.raises(ValueError, match="load_one_shot_runs"):
        data.evaluate_one_shot(nearest_neighbour, [])


def test_other_image_size_and_cached_reload(omniglot_data_dir: Path) -> None:
    runs = data.load_one_shot_runs(image_size=64, data_dir=omniglot_data_dir)
    assert runs[0].support_x.shape == (20, 64, 64)
    assert list((omniglot_data_dir / "cache").glob("omniglot_runs_64px_*.npz"))
    again = data.load_one_shot_runs(image_size=64, data_dir=omniglot_data_dir)
    assert all(np.array_equal(a.query_x, b.query_x) for a, b in zip(runs, again, strict=True))


def test_offline_without_all_runs_zip_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(data.DataUnavailableError, match="all_runs.zip.*MTML_DATA_DIR"):
        data.load_one_shot_runs(data_dir=tmp_path)
