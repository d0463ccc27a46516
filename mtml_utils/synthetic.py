"""Synthetic multi-task data sets with a knob for how related the tasks are.

Two generators, used by notebooks 02 (conditioning, MMoE) and 03 (negative transfer):

* :func:`correlated_regression_tasks` — the two regression tasks of the MMoE paper (Ma et al., 2018,
  section 3.2), whose similarity is the cosine ``p`` of their weight vectors;
* :func:`recommendation_data` — user-item interactions with an engagement (click) and a satisfaction
  (rating) objective, in the spirit of YouTube's "what to watch next" case study.

Both are deterministic by seed and never touch the global random state: the *tasks* (weights, users,
items) come from a generator seeded with ``seed`` and the *examples* from a second one seeded with
``data_seed``, so a train and a test set of the same tasks are two calls that differ only in
``data_seed``. Everything is drawn and computed on the CPU in float64 and only then moved to
``device``/``dtype``, so CPU and GPU runs see the same numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Added to ``seed`` when no ``data_seed`` is given: the examples then come from a stream other than
# the one that drew the tasks, yet still depend on ``seed`` alone.
_DATA_SEED_OFFSET = 1_000_003
_POPULARITY_STD = 1.0  # standard deviation of the per-item popularity logit (engagement only)


def _generators(seed: int, data_seed: int | None) -> tuple[torch.Generator, torch.Generator]:
    """One CPU generator for the tasks, one for the examples (so ``n_examples`` never changes the tasks)."""
    task_gen = torch.Generator(device="cpu").manual_seed(seed)
    data_gen = torch.Generator(device="cpu").manual_seed(seed + _DATA_SEED_OFFSET if data_seed is None
                                                         else data_seed)
    return task_gen, data_gen


def _normal(gen: torch.Generator, *shape: int) -> torch.Tensor:
    # float64 on the CPU: the same values whatever the final device and dtype.
    return torch.randn(*shape, generator=gen, dtype=torch.float64)


def _population(gen: torch.Generator, n: int, k: int) -> torch.Tensor:
    """``n`` feature vectors ~ N(0, I_k) rescaled so that their mean of ``f f^T`` is exactly ``I_k``.

    A few hundred plain Gaussian draws have a second moment off ``I`` by ~1/sqrt(n), enough to move the
    scores' correlation by up to ~0.1; ``sqrt(n)`` times an orthonormal basis (QR of a Gaussian matrix,
    still rotation-invariant) removes that error."""
    f = _normal(gen, n, k)
    if n < k:  # too few vectors to span R^k: keep the plain draws
        return f
    q, _ = torch.linalg.qr(f)
    return math.sqrt(n) * q


def _feature_split(k: int, shared: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """0/1 masks ``(k,)`` of the features that engagement and satisfaction read: engagement's own features
    first, then the ``shared`` ones, then satisfaction's own (``None``: all ``k`` features are shared)."""
    shared = k if shared is None else shared
    own_e = (k - shared) // 2  # an odd remainder goes to satisfaction
    index = torch.arange(k)
    return (index < own_e + shared).double(), (index >= own_e).double()


def _objective_masks(du: int, dv: int, shared: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(du, dv)`` 0/1 masks of the entries of ``A_e`` and of ``A_perp``: user feature times item feature,
    both read by the objective (see :func:`_feature_split`)."""
    (ue, us), (ve, vs) = _feature_split(du, shared), _feature_split(dv, shared)
    return torch.outer(ue, ve), torch.outer(us, vs)


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


@dataclass(frozen=True)
class CorrelatedRegressionTasks:
    """Two synthetic regression tasks with controlled similarity (Ma et al., 2018, MMoE, section 3.2)."""

    x: torch.Tensor
    """``(n_examples, d)`` inputs, ``x ~ N(0, I)``."""
    y: torch.Tensor
    """``(n_examples, 2)`` targets: column ``k`` is task ``k + 1``."""
    w: torch.Tensor
    """``(2, d)`` the task weight vectors ``w_1``, ``w_2`` (rows), each of norm ``c``."""
    alpha: torch.Tensor
    """``(m,)`` frequencies of the sine terms, shared by both tasks."""
    beta: torch.Tensor
    """``(m,)`` phases of the sine terms, shared by both tasks."""
    p: float
    """Cosine similarity of ``w_1`` and ``w_2``: 1 = same task (up to noise), 0 = unrelated directions."""


def correlated_regression_tasks(
    p: float,
    n_examples: int,
    *,
    d: int = 100,
    m: int = 5,
    c: float = 0.3,
    noise_std: float = 0.1,
    seed: int = 0,
    data_seed: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> CorrelatedRegressionTasks:
    """Draw ``n_examples`` examples of the two MMoE regression tasks whose weights have cosine ``p``.

    ``u_1, u_2`` are orthonormal in ``R^d``; ``w_1 = c u_1``, ``w_2 = c (p u_1 + sqrt(1 - p^2) u_2)``;
    ``y_k = w_k^T x + sum_i sin(alpha_i w_k^T x + beta_i) + eps_k`` with ``eps_k ~ N(0, noise_std^2)``
    independent per task (``noise_std=0.1`` is the paper's variance 0.01).

    Args:
        p: task similarity, the cosine of ``w_1`` and ``w_2``, in ``[-1, 1]``.
        n_examples: number of examples (rows of ``x`` and ``y``).
        d: input dimension (at least 2, to hold two orthogonal directions).
        m: number of sine terms (0 gives two linear tasks).
        c: norm of each weight vector (> 0).
        noise_std: standard deviation of the label noise (>= 0).
        seed: fixes the tasks: ``w``, ``alpha``, ``beta`` depend on ``(seed, d, m, c, p)`` only.
        data_seed: fixes the examples; ``None`` derives it from ``seed``. Change it (or ``n_examples``)
            to draw new examples of the same tasks, e.g. a test set.
        device, dtype: where and in which precision the tensors are returned.

    Example:
        >>> train = correlated_regression_tasks(0.5, 1000, seed=3)
        >>> test = correlated_regression_tasks(0.5, 200, seed=3, data_seed=99)
        >>> train.x.shape, train.y.shape, bool(torch.equal(train.w, test.w))
        (torch.Size([1000, 100]), torch.Size([1000, 2]), True)
    """
    _check(-1.0 <= p <= 1.0, f"p must be in [-1, 1]: it is the cosine similarity of the two task weight "
                             f"vectors (1 = same task, 0 = unrelated, -1 = opposite); got p={p!r}.")
    _check(n_examples >= 1, f"n_examples must be >= 1 (the number of examples to draw); got {n_examples!r}.")
    _check(d >= 2, f"d must be >= 2: the input dimension has to hold two orthonormal directions u_1, u_2; "
                   f"got d={d!r}.")
    _check(m >= 0, f"m must be >= 0 (the number of sine terms; 0 gives linear tasks); got m={m!r}.")
    _check(c > 0, f"c must be > 0 (the norm of each task weight vector); got c={c!r}.")
    _check(noise_std >= 0, f"noise_std must be >= 0 (the standard deviation of the label noise); "
                           f"got noise_std={noise_std!r}.")
    task_gen, data_gen = _generators(seed, data_seed)

    # The tasks first, from their own generator, so that they do not depend on n_examples.
    u, _ = torch.linalg.qr(_normal(task_gen, d, 2))  # reduced QR: two orthonormal columns
    u1, u2 = u[:, 0], u[:, 1]
    w = c * torch.stack([u1, p * u1 + math.sqrt(max(0.0, 1.0 - p * p)) * u2])
    alpha, beta = _normal(task_gen, m), _normal(task_gen, m)

    x = _normal(data_gen, n_examples, d)
    eps = noise_std * _normal(data_gen, n_examples, 2)  # independent per task
    z = x @ w.T  # (n, 2): w_k^T x
    # Same alpha, beta for both tasks: the tasks differ only through w_k, i.e. through p.
    y = z + torch.sin(z[:, :, None] * alpha + beta).sum(dim=-1) + eps

    def out(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype)

    return CorrelatedRegressionTasks(x=out(x), y=out(y), w=out(w), alpha=out(alpha), beta=out(beta),
                                     p=float(p))


@dataclass(frozen=True)
class RecommendationData:
    """Synthetic user-item interactions with two objectives: engagement (click) and satisfaction (rating)."""

    x: torch.Tensor
    """``(n, n_user_features + n_item_features)`` the shared input features of each (user, item) pair."""
    engagement: torch.Tensor
    """``(n,)`` float 0/1: did the user click (binary objective)."""
    satisfaction: torch.Tensor
    """``(n,)`` float: how much the user liked it (regression objective)."""
    user: torch.Tensor
    """``(n,)`` int64 user index in ``[0, n_users)``."""
    item: torch.Tensor
    """``(n,)`` int64 item index in ``[0, n_items)``."""
    correlation: float
    """The correlation asked for between the two latent objective scores."""
    engagement_score: torch.Tensor
    """``(n,)`` latent engagement score ``s_e = u^T A_e v`` (unit variance, popularity not included)."""
    satisfaction_score: torch.Tensor
    """``(n,)`` latent satisfaction score ``s_s = u^T A_s v`` (unit variance, noise not included)."""


def recommendation_data(
    n_examples: int,
    *,
    correlation: float = 0.5,
    n_users: int = 200,
    n_items: int = 100,
    n_user_features: int = 8,
    n_item_features: int = 8,
    noise_std: float = 0.3,
    shared_features: int | None = None,
    seed: int = 0,
    data_seed: int | None = None,
    device: str | torch.device = "cpu",
    dtype: torch.dtype = torch.float32,
) -> RecommendationData:
    """Draw ``n_examples`` (user, item) interactions with a click and a rating whose scores correlate.

    Users ``u`` and items ``v`` have features ``~ N(0, I)`` (whitened over the population); the input is
    ``concat(u, v)``. Latent scores ``s_e = u^T A_e v``, ``s_s = u^T A_s v``, ``A_s = r A_e + sqrt(1 - r^2)
    A_perp``, with ``A_e``, ``A_perp`` Gaussian matrices made orthogonal and of unit Frobenius norm: both
    scores have unit variance and ``corr(s_e, s_s) = r`` over the population. A per-item popularity
    logit (clickbait: clicked whatever its quality) enters engagement only, so the two objectives still
    differ at ``correlation=1``.
    ``engagement ~ Bernoulli(sigmoid(2 s_e + popularity))``, ``satisfaction = s_s + N(0, noise_std^2)``.

    ``shared_features`` splits the feature subspaces the objectives read. With ``s = shared_features`` and
    ``k`` user (item) features, engagement reads the first ``(k - s) // 2 + s`` of them and ``A_perp`` the
    last ``k - (k - s) // 2``, so both read the ``s`` in the middle: ``A_e`` is zero outside engagement's
    block and ``A_perp`` (before it is made orthogonal to ``A_e``) outside satisfaction's. With
    ``shared_features=0`` and ``correlation=0`` the objectives depend on disjoint features; the
    correlation still mixes ``A_e`` into ``A_s`` as above. ``None`` (the default): both read every feature.

    Args:
        n_examples: number of interactions; pairs (user, item) are drawn uniformly with replacement.
        correlation: ``r`` in ``[-1, 1]``, correlation of the two latent scores.
        n_users, n_items: sizes of the user and item populations (>= 1).
        n_user_features, n_item_features: feature dimensions (>= 1).
        noise_std: standard deviation of the rating noise (>= 0).
        shared_features: number of user (and of item) features both objectives read, in
            ``[0, min(n_user_features, n_item_features)]``; ``None`` = all of them.
        seed: fixes users, items, ``A_e``, ``A_s`` and popularity.
        data_seed: fixes the sampled interactions; ``None`` derives it from ``seed``.
        device, dtype: where the tensors go; ``dtype`` for the float ones, ``user``/``item`` are int64.

    Example:
        >>> data = recommendation_data(1000, correlation=0.8, seed=0)
        >>> data.x.shape, sorted(data.engagement.unique().tolist())
        (torch.Size([1000, 16]), [0.0, 1.0])
        >>> split = recommendation_data(1000, correlation=0.0, shared_features=0, seed=0)
        >>> split.x.shape  # engagement reads features 0-3 of u and v, satisfaction 4-7
        torch.Size([1000, 16])
    """
    _check(-1.0 <= correlation <= 1.0, f"correlation must be in [-1, 1] (the correlation of the engagement "
                                       f"and satisfaction scores); got correlation={correlation!r}.")
    sizes = {"n_examples": n_examples, "n_users": n_users, "n_items": n_items,
             "n_user_features": n_user_features, "n_item_features": n_item_features}
    for name, value in sizes.items():
        _check(value >= 1, f"{name} must be >= 1 (a positive size); got {name}={value!r}.")
    _check(noise_std >= 0, f"noise_std must be >= 0 (the standard deviation of the rating noise); "
                           f"got noise_std={noise_std!r}.")
    if shared_features is not None:
        smallest = min(n_user_features, n_item_features)
        _check(0 <= shared_features <= smallest and (shared_features >= 1 or smallest >= 2),
               f"shared_features must be in [0, {smallest}] (the features both objectives read, at most "
               f"min(n_user_features, n_item_features)), and >= 1 when that minimum is 1 (each objective "
               f"needs a feature); got shared_features={shared_features!r}.")
    task_gen, data_gen = _generators(seed, data_seed)

    users = _population(task_gen, n_users, n_user_features)
    items = _population(task_gen, n_items, n_item_features)
    mask_e, mask_s = _objective_masks(n_user_features, n_item_features, shared_features)
    a_e = _normal(task_gen, n_user_features, n_item_features) * mask_e
    b = _normal(task_gen, n_user_features, n_item_features) * mask_s
    popularity = _POPULARITY_STD * _normal(task_gen, n_items)
    # E[(u^T A v)^2] = ||A||_F^2 for independent u, v ~ N(0, I) and E[(u^T A v)(u^T B v)] = <A, B>_F.
    # Unit-norm, orthogonal A_e and A_perp therefore give unit-variance scores with correlation exactly r
    # (independent Gaussian matrices scaled by 1/sqrt(du*dv) would only be so on average over A).
    a_e = a_e / a_e.norm()
    if a_e.numel() > 1:
        a_perp = b - (b * a_e).sum() * a_e  # Gram-Schmidt in the Frobenius inner product
        a_perp = a_perp / a_perp.norm()
    else:
        a_perp = torch.zeros_like(a_e)  # 1 x 1: no orthogonal direction, the scores can only be +-s_e
    a_s = correlation * a_e + math.sqrt(max(0.0, 1.0 - correlation**2)) * a_perp

    user = torch.randint(n_users, (n_examples,), generator=data_gen)
    item = torch.randint(n_items, (n_examples,), generator=data_gen)
    u, v = users[user], items[item]
    s_e = torch.einsum("ni,ij,nj->n", u, a_e, v)
    s_s = torch.einsum("ni,ij,nj->n", u, a_s, v)
    # Bernoulli by comparing with uniforms drawn on the CPU: same clicks on every device.
    click_prob = torch.sigmoid(2.0 * s_e + popularity[item])
    engagement = (torch.rand(n_examples, generator=data_gen, dtype=torch.float64) < click_prob).double()
    satisfaction = s_s + noise_std * _normal(data_gen, n_examples)

    def out(t: torch.Tensor) -> torch.Tensor:
        return t.to(device=device, dtype=dtype)

    return RecommendationData(
        x=out(torch.cat([u, v], dim=1)), engagement=out(engagement), satisfaction=out(satisfaction),
        user=user.to(device), item=item.to(device), correlation=float(correlation),
        engagement_score=out(s_e), satisfaction_score=out(s_s),
    )
