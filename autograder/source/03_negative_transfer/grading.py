"""Hidden tests of 03_negative_transfer, run by the grader outside the student's kernel.

Each ``test_*`` function is named after a test cell's ``grade_id``. ``t.run(code, **inputs)`` runs
``code`` in the student's kernel and returns what it assigns to ``result``; every reference value and
every comparison stays here (see ``autograder/hidden.py``).
"""

import itertools

import torch

import mtml_utils as mtml

F64 = torch.float64


def test_sweep_data(t):
    ps, n_seeds, n, d, c = [0.3, -0.2, 0.9], 2, 7, 6, 0.5
    out = t.run(
        """
        args = (inputs["ps"], inputs["n_seeds"], inputs["n"])
        kwargs = {"d": inputs["d"], "c": inputs["c"]}
        result = {seed: sweep_data(*args, data_seed=int(seed), **kwargs) for seed in ("40", "41")}
        """,
        ps=ps, n_seeds=n_seeds, n=n, d=d, c=c,
    )
    x, y = out["40"]
    assert x.shape == (6, n, d) and y.shape == (6, n, 2), \
        "x must have shape (len(p_values) * n_seeds, n_examples, d) and y (..., n_examples, 2)"
    assert x.dtype == torch.float32 and y.dtype == torch.float32, "x and y must be float32"
    for i, p in enumerate(ps):
        for s in range(n_seeds):
            ref = mtml.correlated_regression_tasks(p, n, d=d, c=c, seed=s, data_seed=40 + s)
            member = i * n_seeds + s
            assert torch.allclose(x[member], ref.x) and torch.allclose(y[member], ref.y), \
                f"member {member} must hold the tasks of p={p} drawn with seed {s} (p-major order)"
    assert torch.equal(out["41"][0][0], x[1]), "member (p, s) must draw its examples with data_seed + s"


def test_task_gradients(t):
    g = torch.Generator().manual_seed(3)
    w1 = torch.randn(3, 4, generator=g, dtype=F64)
    w2 = torch.randn(4, generator=g, dtype=F64)
    x = torch.randn(5, 3, generator=g, dtype=F64)
    out = t.run(
        """
        w1 = inputs["w1"].clone().requires_grad_()
        w2 = inputs["w2"].clone().requires_grad_()
        h = torch.tanh(inputs["x"] @ w1)
        losses = torch.stack([(h @ w2).pow(2).mean(), h.sum() * 0.5, (h[:, 0] - 1).pow(2).sum()])
        rows = task_gradients(losses, [w1, w2])
        untouched = w1.grad is None and w2.grad is None
        h2 = torch.tanh(inputs["x"] @ w1)
        separate = [(h2 @ w2).pow(2).mean(), h2.sum() * 0.5, (h2[:, 0] - 1).pow(2).sum()]  # a list, no stack
        listed = task_gradients(separate, [w1, w2])
        result = {"rows": rows, "untouched": untouched, "backward": raises(lambda: losses.sum().backward()),
                  "grad": w1.grad, "listed": listed}
        """,
        w1=w1, w2=w2, x=x,
    )
    w1, w2 = w1.clone().requires_grad_(), w2.clone().requires_grad_()
    h = torch.tanh(x @ w1)
    losses = [(h @ w2).pow(2).mean(), h.sum() * 0.5, (h[:, 0] - 1).pow(2).sum()]
    expected = []
    for loss in losses:
        ga, gb = torch.autograd.grad(loss, [w1, w2], retain_graph=True, allow_unused=True)
        expected.append(torch.cat([ga.flatten(), torch.zeros(4, dtype=F64) if gb is None else gb]))
    rows = out["rows"]
    assert rows.shape == (3, 16), "one row per task, the shared parameters flattened and concatenated"
    for i, (row, ref) in enumerate(zip(rows, expected, strict=True)):
        assert torch.allclose(row, ref), \
            f"row {i} must be dL_{i} / d theta_shared (zeros for parameters the loss does not use)"
    listed = out["listed"]
    assert listed.shape == (3, 16), \
        "losses given as a list, one not using a parameter: still one row of P numbers per task"
    for i, (row, ref) in enumerate(zip(listed, expected, strict=True)):
        assert torch.allclose(row, ref), \
            f"losses given as a list: row {i} must be dL_{i} / d theta_shared (zeros for unused parameters)"
    assert out["untouched"], "the parameters' .grad must be left untouched"
    assert out["backward"] is None, "the graph must be kept so that the losses can still be backpropagated"
    assert out["grad"] is not None and torch.allclose(out["grad"], sum(expected)[:12].view(3, 4)), \
        "after task_gradients, backpropagating the sum must give the ordinary gradient"


def test_gradient_cosine(t):
    g = torch.Generator().manual_seed(5)
    scales = torch.tensor([[0.01], [1.0], [50.0], [3.0]], dtype=F64)
    grads = torch.randn(4, 9, generator=g, dtype=F64) * scales
    zero = torch.tensor([[0.0, 0.0], [1.0, 2.0]])
    out = t.run(
        "result = {'c': gradient_cosine(inputs['grads']), 'zero': gradient_cosine(inputs['zero'])}",
        grads=grads, zero=zero,
    )
    c = out["c"]
    assert c.shape == (4, 4), "the cosine matrix must have shape (T, T)"
    for i in range(4):
        for j in range(4):
            ref = float(grads[i] @ grads[j]) / (float(grads[i].norm()) * float(grads[j].norm()))
            assert abs(float(c[i, j]) - ref) < 1e-9, \
                f"entry ({i}, {j}) must be g_i . g_j / (|g_i| |g_j|), whatever the gradients' norms"
    z = out["zero"]
    assert bool(torch.isfinite(z).all()) and float(z[0, 1]) == 0.0, \
        "a zero gradient must have cosine 0 with everything (no division by zero)"


def _reference_two_tasks(grads):
    """PCGrad of two gradients: the order does not matter; explicit formulas in float64."""
    g1, g2 = grads[0].double(), grads[1].double()
    p1 = g1 - min(0.0, float(g1 @ g2)) / float(g2 @ g2) * g2
    p2 = g2 - min(0.0, float(g2 @ g1)) / float(g1 @ g1) * g1
    return p1 + p2


def _pcgrad_in_order(grads, orders):
    """PCGrad where task i visits the other tasks in the order ``orders[i]``."""
    out = grads.clone()
    for i, order in enumerate(orders):
        for j in order:
            dot = float(out[i] @ grads[j])
            if dot < 0:
                out[i] = out[i] - dot / float(grads[j] @ grads[j]) * grads[j]
    return out.sum(0)


def _pcgrad_every_order(grads):
    """PCGrad's result for every choice of the orders in which the tasks visit the others."""
    n = len(grads)
    per_task = [list(itertools.permutations([j for j in range(n) if j != i])) for i in range(n)]
    return [_pcgrad_in_order(grads, orders) for orders in itertools.product(*per_task)]


#: Three tasks, every pair in conflict: each g_i^PC is projected twice, and the order matters.
ALL_CONFLICT = torch.tensor([[2.0, 1.0, 0.0, 0.5], [-1.0, 1.5, 0.3, 0.0], [-0.5, -2.0, 1.0, 0.2]], dtype=F64)


def test_pcgrad(t):
    g = torch.Generator().manual_seed(7)
    pairs = [torch.randn(2, 6, generator=g, dtype=F64) * torch.tensor([[1.0], [20.0]], dtype=F64)
             for _ in range(20)]
    # Only non-conflicting pairs among three tasks: exactly the sum (nothing projected, nothing averaged).
    agree = torch.tensor([[1.0, 0.2, 0.0], [0.5, 1.0, 0.1], [0.1, 0.3, 2.0]], dtype=F64)
    # Three tasks, one conflicting pair (0, 1), task 2 orthogonal to both: the order cannot matter.
    one_conflict = torch.tensor([[1.0, 0.0, 0.0], [-1.0, 2.0, 0.0], [0.0, 0.0, 3.0]], dtype=F64)
    out = t.run(
        """
        pairs = [p.clone() for p in inputs["pairs"]]
        result = {
            "pairs": [pcgrad(p) for p in pairs], "pairs_after": pairs,
            "agree": pcgrad(inputs["agree"]),
            "one_conflict": [pcgrad(inputs["one_conflict"], generator=torch.Generator().manual_seed(s))
                             for s in range(5)],
            "all_conflict": [[pcgrad(inputs["all_conflict"], generator=torch.Generator().manual_seed(s))
                              for _ in range(2)] for s in range(6)],
        }
        """,
        pairs=pairs, agree=agree, one_conflict=one_conflict, all_conflict=ALL_CONFLICT,
    )
    for pair, combined, after in zip(pairs, out["pairs"], out["pairs_after"], strict=True):
        assert combined.shape == (6,), "pcgrad must return one combined gradient of shape (P,)"
        assert torch.allclose(combined.double(), _reference_two_tasks(pair), atol=1e-9), \
            "two random gradients: each must be projected only if it conflicts with the other, then summed"
        assert torch.equal(after, pair), "pcgrad must not modify its input"
    assert torch.allclose(out["agree"].double(), agree.sum(0)), \
        "without any conflict PCGrad must be the plain sum of the gradients"
    g0, g1, g2 = one_conflict
    expected = (g0 - (g0 @ g1) / (g1 @ g1) * g1) + (g1 - (g1 @ g0) / (g0 @ g0) * g0) + g2
    for combined in out["one_conflict"]:
        assert torch.allclose(combined.double(), expected, atol=1e-9), \
            "three tasks with one conflicting pair: project that pair only, then sum all three"
    valid = _pcgrad_every_order(ALL_CONFLICT)
    for first, second in out["all_conflict"]:
        assert any(torch.allclose(first.double(), v, atol=1e-9) for v in valid), \
            "three tasks that all conflict: each g_i^PC must be tested and projected as it already is " \
            "(after the earlier projections), against the original g_j, then summed"
        assert torch.equal(first, second), "the same generator (same seed) must give the same result"
    assert len({tuple(first.tolist()) for first, _ in out["all_conflict"]}) > 1, \
        "the order in which each task visits the others must be random, drawn with `generator`"


# pcgrad_backward is graded on its own: stand-ins for pcgrad and task_gradients replace the student's
# versions during the call (so a mistake there costs nothing here), and are put back afterwards.
PCGRAD_BACKWARD = """
def stand_in_task_gradients(losses, params):
    params = list(params)
    rows = []
    for loss in losses:
        gs = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        flat = [(torch.zeros_like(q) if g is None else g).flatten() for g, q in zip(gs, params)]
        rows.append(torch.cat(flat))
    return torch.stack(rows)

def stand_in_pcgrad(grads, generator=None):
    generators.append(generator)
    out = grads.clone()
    for i in range(len(grads)):
        for j in range(len(grads)):
            if j != i and float(out[i] @ grads[j]) < 0:
                out[i] = out[i] - (out[i] @ grads[j]) / (grads[j] @ grads[j]) * grads[j]
    return out.sum(0)

W, B, V, U = (inputs[k].clone().requires_grad_() for k in ("W", "B", "V", "U"))
h = torch.tanh(inputs["x"] @ W.T + B)
losses = [((h @ V[0]) - inputs["t"]).pow(2).mean(), ((h @ V[1]) + 3 * inputs["t"]).pow(2).mean()]
for p in (W, B, V, U):
    p.grad = torch.full_like(p, 123.0)
generators = []
generator = torch.Generator().manual_seed(inputs["seed"])
names = globals()
learners = {k: names[k] for k in ("pcgrad", "task_gradients") if k in names}
names.update(pcgrad=stand_in_pcgrad, task_gradients=stand_in_task_gradients)
try:
    pcgrad_backward(losses, [W, B], [V, U], generator)
finally:
    names.update(learners)
result = {"W": W.grad, "B": B.grad, "V": V.grad, "U": U.grad,
          "generator": [g is generator for g in generators]}
"""


def test_pcgrad_backward(t):
    g = torch.Generator().manual_seed(2)
    inputs = {
        "W": torch.randn(5, 3, generator=g, dtype=F64),  # shared
        "V": torch.randn(2, 5, generator=g, dtype=F64),  # one row per task head
        "U": torch.randn(4, generator=g, dtype=F64),  # used by no loss
        "x": torch.randn(16, 3, generator=g, dtype=F64),
        "t": torch.randn(16, generator=g, dtype=F64),  # task 2's target is the negated one: conflict
        "B": torch.randn(5, generator=g, dtype=F64) * 0.1,  # shared too (after W)
        "seed": 1234,
    }
    out = t.run(PCGRAD_BACKWARD, **inputs)
    W, B, V = (inputs[k].clone().requires_grad_() for k in ("W", "B", "V"))
    h = torch.tanh(inputs["x"] @ W.T + B)
    losses = [((h @ V[0]) - inputs["t"]).pow(2).mean(), ((h @ V[1]) + 3 * inputs["t"]).pow(2).mean()]
    g1, g2 = (torch.cat([g.flatten() for g in torch.autograd.grad(loss, [W, B], retain_graph=True)])
              for loss in losses)
    head_grad = torch.autograd.grad(losses[0] + losses[1], V)[0]
    assert float(g1 @ g2) < 0, "test setup: the two tasks conflict on the shared layer"
    shared_grad = (g1 - (g1 @ g2) / (g2 @ g2) * g2) + (g2 - (g2 @ g1) / (g1 @ g1) * g1)
    for name in ("W", "B", "V", "U"):
        assert out[name] is not None, "every parameter's .grad must be set"
        assert out[name].shape == inputs[name].shape, ".grad must have the shape of its parameter"
    assert torch.allclose(out["V"], head_grad), \
        "task-specific parameters must get the ordinary gradient of the summed loss, no surgery"
    assert torch.allclose(torch.cat([out["W"].flatten(), out["B"]]), shared_grad), \
        "shared parameters must get the PCGrad sum, each its own slice in order (overwritten, not added)"
    assert out["generator"] == [True], \
        "pcgrad must be called once, with the generator given to pcgrad_backward"
    assert torch.equal(out["U"], torch.zeros(4, dtype=F64)), \
        "a parameter no loss depends on must get zeros (overwritten, not accumulated)"


def test_uncertainty_weighted_loss(t):
    g = torch.Generator().manual_seed(9)
    losses = torch.rand(4, 3, generator=g, dtype=F64) * 10
    s = torch.randn(3, generator=g, dtype=F64)
    fixed = torch.tensor([0.5, 4.0], dtype=F64)
    out = t.run(
        """
        losses = inputs["losses"].clone().requires_grad_()
        s = inputs["s"].clone().requires_grad_()
        total = uncertainty_weighted_loss(losses, s)
        total.sum().backward()
        learned = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        optimizer = torch.optim.SGD([learned], lr=0.1)
        for _ in range(500):
            optimizer.zero_grad()
            uncertainty_weighted_loss(inputs["fixed"], learned).backward()
            optimizer.step()
        result = {"total": total, "losses_grad": losses.grad, "s_grad": s.grad, "learned": learned}
        """,
        losses=losses, s=s, fixed=fixed,
    )
    assert out["total"].shape == (4,), "the loss must sum over the last dimension only: shape (...)"
    ref = sum(torch.exp(-s[k]) * losses[:, k] + s[k] for k in range(3))
    assert torch.allclose(out["total"].double(), ref), "the loss must be sum_i exp(-s_i) * L_i + s_i"
    s_grad, losses_grad = out["s_grad"], out["losses_grad"]
    assert s_grad is not None and torch.allclose(s_grad, 4 - (torch.exp(-s) * losses).sum(0)), \
        "d loss / d s_i must be the sum over rows of 1 - exp(-s_i) * L_i"
    assert losses_grad is not None and torch.allclose(losses_grad, torch.exp(-s).expand(4, 3)), \
        "d loss / d L_i must be exp(-s_i)"
    assert torch.allclose(out["learned"].detach(), fixed.log(), atol=1e-3), \
        "minimising over s must reach s_i = log L_i (weights 1 / L_i), not run off to infinity"
