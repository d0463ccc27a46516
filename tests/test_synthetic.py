"""Tests of the synthetic multi-task data sets (MMoE regression tasks, recommendation data)."""

from __future__ import annotations

import math

import pytest
import torch

from mtml_utils.synthetic import correlated_regression_tasks, recommendation_data

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return torch.corrcoef(torch.stack([a.double(), b.double()]))[0, 1].item()


# --- correlated regression tasks -------------------------------------------------------------------


@pytest.mark.parametrize("p", [-1.0, -0.5, 0.0, 0.3, 0.9, 1.0])
def test_weights_have_cosine_p_and_norm_c(p: float) -> None:
    t = correlated_regression_tasks(p, 50, d=20, m=4, c=0.7, seed=1)
    w1, w2 = t.w.double()
    assert t.w.shape == (2, 20)
    assert torch.dot(w1, w2).item() / (w1.norm() * w2.norm()).item() == pytest.approx(p, abs=1e-5)
    assert w1.norm().item() == pytest.approx(0.7, abs=1e-5)
    assert w2.norm().item() == pytest.approx(0.7, abs=1e-5)
    assert t.alpha.shape == (4,) and t.beta.shape == (4,)
    assert t.x.shape == (50, 20) and t.y.shape == (50, 2)
    assert t.p == p and t.x.dtype == torch.float32


def test_targets_follow_the_formula() -> None:
    t = correlated_regression_tasks(0.4, 500, d=10, m=5, noise_std=0.0, seed=2)
    z = t.x @ t.w.T
    columns = [z[:, k] + sum(torch.sin(t.alpha[i] * z[:, k] + t.beta[i]) for i in range(5)) for k in range(2)]
    expected = torch.stack(columns, dim=1)
    torch.testing.assert_close(t.y, expected, atol=1e-5, rtol=0)
    # m = 0: purely linear tasks
    lin = correlated_regression_tasks(0.4, 100, d=10, m=0, noise_std=0.0, seed=2)
    torch.testing.assert_close(lin.y, lin.x @ lin.w.T, atol=1e-5, rtol=0)


def test_noise_has_the_asked_std() -> None:
    clean = correlated_regression_tasks(0.5, 20000, d=10, noise_std=0.0, seed=4)
    noisy = correlated_regression_tasks(0.5, 20000, d=10, noise_std=0.1, seed=4)
    torch.testing.assert_close(noisy.x, clean.x)  # same inputs: noise is drawn after x
    residual = noisy.y - clean.y
    for k in range(2):
        assert residual[:, k].std().item() == pytest.approx(0.1, rel=0.1)
    assert abs(_corr(residual[:, 0], residual[:, 1])) < 0.05  # independent per task


def test_same_seed_same_tensors_and_different_seed_different_tasks() -> None:
    a = correlated_regression_tasks(0.5, 200, seed=7)
    b = correlated_regression_tasks(0.5, 200, seed=7)
    for name in ("x", "y", "w", "alpha", "beta"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    c = correlated_regression_tasks(0.5, 200, seed=8)
    assert not torch.allclose(a.w, c.w)
    assert not torch.allclose(a.x, c.x)


def test_tasks_do_not_depend_on_n_examples_or_data_seed() -> None:
    train = correlated_regression_tasks(0.5, 1000, seed=3)
    for other in (correlated_regression_tasks(0.5, 37, seed=3),
                  correlated_regression_tasks(0.5, 1000, seed=3, data_seed=99)):
        assert torch.equal(train.w, other.w)
        assert torch.equal(train.alpha, other.alpha) and torch.equal(train.beta, other.beta)
    test = correlated_regression_tasks(0.5, 1000, seed=3, data_seed=99)
    assert not torch.allclose(train.x, test.x)
    assert test.x.shape == (1000, 100) and test.y.shape == (1000, 2)


@pytest.mark.parametrize("device", DEVICES)
def test_device_and_dtype(device: str) -> None:
    ref = correlated_regression_tasks(0.3, 300, d=16, seed=5, dtype=torch.float64)
    t = correlated_regression_tasks(0.3, 300, d=16, seed=5, device=device, dtype=torch.float64)
    for name in ("x", "y", "w", "alpha", "beta"):
        value = getattr(t, name)
        assert value.dtype == torch.float64 and value.device.type == device
        assert torch.equal(value.cpu(), getattr(ref, name)), name
    f32 = correlated_regression_tasks(0.3, 300, d=16, seed=5, device=device)
    assert f32.y.dtype == torch.float32
    torch.testing.assert_close(f32.y.cpu(), ref.y.float())


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"p": 1.5}, r"p must be in \[-1, 1\]"),
        ({"p": -1.01}, r"p must be in \[-1, 1\]"),
        ({"p": math.nan}, r"p must be in \[-1, 1\]"),
        ({"n_examples": 0}, r"n_examples must be >= 1"),
        ({"d": 1}, r"d must be >= 2"),
        ({"m": -1}, r"m must be >= 0"),
        ({"c": 0.0}, r"c must be > 0"),
        ({"noise_std": -0.1}, r"noise_std must be >= 0"),
    ],
)
def test_regression_bad_arguments(kwargs: dict, pattern: str) -> None:
    args = {"p": 0.5, "n_examples": 10} | kwargs
    with pytest.raises(ValueError, match=pattern):
        correlated_regression_tasks(args.pop("p"), args.pop("n_examples"), **args)


# --- recommendation data ----------------------------------------------------------------------------


def test_recommendation_shapes_dtypes_and_ranges() -> None:
    r = recommendation_data(3000, n_users=50, n_items=30, n_user_features=4, n_item_features=6, seed=1)
    assert r.x.shape == (3000, 10) and r.x.dtype == torch.float32
    for name in ("engagement", "satisfaction", "engagement_score", "satisfaction_score"):
        value = getattr(r, name)
        assert value.shape == (3000,) and value.dtype == torch.float32, name
    assert set(r.engagement.unique().tolist()) == {0.0, 1.0}
    assert r.user.dtype == torch.int64 and r.item.dtype == torch.int64
    assert 0 <= r.user.min() and r.user.max() < 50 and 0 <= r.item.min() and r.item.max() < 30
    assert len(r.user.unique()) == 50 and len(r.item.unique()) == 30  # uniform sampling reaches them all
    assert r.correlation == 0.5
    # x is the concatenation of the user's and the item's features: same user -> same first 4 columns
    first = r.user == r.user[0]
    assert torch.equal(r.x[first, :4], r.x[first, :4][:1].expand(int(first.sum()), 4))


@pytest.mark.parametrize("correlation", [0.0, 0.5, 0.9, -0.7])
def test_latent_scores_have_the_asked_correlation(correlation: float) -> None:
    r = recommendation_data(20000, correlation=correlation, seed=2)
    assert _corr(r.engagement_score, r.satisfaction_score) == pytest.approx(correlation, abs=0.05)
    assert r.engagement_score.std().item() == pytest.approx(1.0, abs=0.1)
    assert r.satisfaction_score.std().item() == pytest.approx(1.0, abs=0.1)
    # satisfaction = score + noise of the asked std
    assert (r.satisfaction - r.satisfaction_score).std().item() == pytest.approx(0.3, rel=0.1)


def test_higher_correlation_gives_more_related_objectives() -> None:
    observed = [_corr((d := recommendation_data(20000, correlation=c, seed=3)).engagement, d.satisfaction)
                for c in (0.0, 0.5, 0.9)]
    assert observed[0] < observed[1] < observed[2]
    assert abs(observed[0]) < 0.05 and observed[2] > 0.3


def test_recommendation_determinism_and_data_seed() -> None:
    a = recommendation_data(500, seed=4)
    b = recommendation_data(500, seed=4)
    for name in ("x", "engagement", "satisfaction", "user", "item", "engagement_score"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.equal(a.x, recommendation_data(500, seed=5).x)
    # new interactions of the same users and items: identical features for the same (user, item) index
    c = recommendation_data(500, seed=4, data_seed=11)
    assert not torch.equal(a.user, c.user)
    for index, cols in (("user", slice(0, 8)), ("item", slice(8, 16))):
        seen = {k: a.x[n, cols] for n, k in enumerate(getattr(a, index).tolist())}
        again = [(k, c.x[n, cols]) for n, k in enumerate(getattr(c, index).tolist()) if k in seen]
        assert again and all(torch.equal(seen[k], row) for k, row in again), index


@pytest.mark.parametrize("device", DEVICES)
def test_recommendation_device_and_dtype(device: str) -> None:
    ref = recommendation_data(400, seed=6, dtype=torch.float64)
    r = recommendation_data(400, seed=6, device=device, dtype=torch.float64)
    for name in ("x", "engagement", "satisfaction", "user", "item", "engagement_score", "satisfaction_score"):
        value = getattr(r, name)
        assert value.device.type == device
        assert torch.equal(value.cpu(), getattr(ref, name)), name
    assert r.x.dtype == torch.float64 and r.user.dtype == torch.int64


@pytest.mark.parametrize(
    ("kwargs", "pattern"),
    [
        ({"correlation": 1.2}, r"correlation must be in \[-1, 1\]"),
        ({"n_examples": 0}, r"n_examples must be >= 1"),
        ({"n_users": 0}, r"n_users must be >= 1"),
        ({"n_items": -3}, r"n_items must be >= 1"),
        ({"n_user_features": 0}, r"n_user_features must be >= 1"),
        ({"n_item_features": 0}, r"n_item_features must be >= 1"),
        ({"noise_std": -1.0}, r"noise_std must be >= 0"),
    ],
)
def test_recommendation_bad_arguments(kwargs: dict, pattern: str) -> None:
    args = {"n_examples": 10} | kwargs
    with pytest.raises(ValueError, match=pattern):
        recommendation_data(args.pop("n_examples"), **args)


def test_recommendation_small_populations_still_work() -> None:
    # fewer users than features (no whitening) and 1 x 1 bilinear forms must not crash
    r = recommendation_data(100, n_users=3, n_items=2, n_user_features=1, n_item_features=1, correlation=1.0)
    torch.testing.assert_close(r.engagement_score, r.satisfaction_score)
    r = recommendation_data(100, n_users=2, n_items=2, n_user_features=5, n_item_features=5, seed=1)
    assert r.x.shape == (100, 10) and torch.isfinite(r.x).all()


def test_shared_features_split_the_objectives_subspaces() -> None:
    # shared_features=0: engagement reads features 0-3 of u and v, satisfaction 4-7 (correlation 0)
    r = recommendation_data(4000, correlation=0.0, shared_features=0, seed=7)
    u, v = r.x[:, :8].double(), r.x[:, 8:].double()
    products = torch.einsum("ni,nj->nij", u, v).reshape(len(u), 64)          # (n, 8, 8) -> (n, 64)
    for score, rows in ((r.engagement_score, slice(0, 4)), (r.satisfaction_score, slice(4, 8))):
        a = torch.linalg.lstsq(products, score.double()[:, None]).solution.view(8, 8)   # (64, 1) -> (8, 8)
        inside = torch.zeros(8, 8, dtype=torch.bool)
        inside[rows, rows] = True
        assert a[~inside].abs().max() < 1e-6 and a[inside].abs().max() > 0.01
    assert _corr(r.engagement_score, r.satisfaction_score) == pytest.approx(0.0, abs=0.05)
    assert r.engagement_score.std().item() == pytest.approx(1.0, abs=0.1)
    assert r.satisfaction_score.std().item() == pytest.approx(1.0, abs=0.1)


def test_shared_features_none_or_all_is_the_default() -> None:
    a = recommendation_data(300, seed=8)
    for shared in (None, 8):
        b = recommendation_data(300, seed=8, shared_features=shared)
        torch.testing.assert_close(a.satisfaction_score, b.satisfaction_score, rtol=0, atol=1e-6)
        assert torch.equal(a.engagement, b.engagement)


@pytest.mark.parametrize("shared", [-1, 9])
def test_shared_features_bad_values(shared: int) -> None:
    with pytest.raises(ValueError, match=r"shared_features must be in \[0, 8\]"):
        recommendation_data(10, shared_features=shared)
    with pytest.raises(ValueError, match=r"shared_features must be in \[0, 1\]"):
        recommendation_data(10, n_user_features=1, shared_features=0)
