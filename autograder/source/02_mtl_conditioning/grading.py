"""Hidden tests of 02_mtl_conditioning, run by the grader outside the student's kernel.

Each ``test_*`` function is named after a test cell's ``grade_id``. ``t.run(code, **inputs)`` runs
``code`` in the student's kernel and returns what it assigns to ``result``; every reference value and
every comparison stays here (see ``autograder/hidden.py``). The weights are drawn here and copied into
the student's layers, so the references below never use the student's modules.
"""

import textwrap

import torch
import torch.nn.functional as F

# Copies inputs["w"] (a list of (weight, bias) pairs, bias None for a layer without one) into `layers`.
LOAD = """
def load(layers, weights):
    with torch.no_grad():
        for layer, (w, b) in zip(layers, weights):
            layer.weight.copy_(w)
            if b is not None:
                layer.bias.copy_(b)
"""
# The nn.Linear layers inside a module, in registration order (a module shared twice counts once).
LINEARS = "linears = lambda m: [layer for layer in m.modules() if isinstance(layer, nn.Linear)]"


def probe(*parts):
    """The probe code made of ``parts`` (each dedented on its own, so they can be joined)."""
    return "\n".join(textwrap.dedent(part).strip("\n") for part in parts)


def randn(g, *shape, scale=1.0):
    return scale * torch.randn(*shape, generator=g, dtype=torch.float64)


def linear_weights(g, shapes, scale=1.0):
    """Random (weight, bias) float64 pairs of nn.Linear layers of the given (out, in) weight shapes."""
    return [(randn(g, o, i, scale=scale), randn(g, o, scale=scale)) for o, i in shapes]


def test_concat_conditioning(t):
    g = torch.Generator().manual_seed(2)
    sizes = [(7, 3, 5), (1, 4, 2)]
    layout = t.run(
        """
        layers = [ConcatConditioning(*s).double() for s in inputs["sizes"]]
        result = [{
            "linear": isinstance(layer.linear, nn.Linear),
            "bias": getattr(layer.linear, "bias", None) is not None,
            "numel": sum(p.numel() for p in layer.parameters()),
        } for layer in layers]
        """,
        sizes=sizes,
    )
    for (d, n_tasks, o), seen in zip(sizes, layout, strict=True):
        assert seen["linear"] and seen["bias"], "linear must be an nn.Linear with a bias"
        assert seen["numel"] == (d + n_tasks) * o + o, \
            "only the one linear layer Linear(in_features + n_tasks, out_features)"
    weights = [(randn(g, o, d + n_tasks), randn(g, o)) for d, n_tasks, o in sizes]
    xs = [randn(g, 9, d) for d, _, _ in sizes]
    zs = [randn(g, 9, n_tasks) for _, n_tasks, _ in sizes]
    out = t.run(
        probe(LOAD, """
        result = []
        for s, w, x, z in zip(inputs["sizes"], inputs["w"], inputs["x"], inputs["z"]):
            layer = ConcatConditioning(*s).double()
            load([layer.linear], [w])
            y = layer(x, z)
            y.sum().backward()
            result.append({"y": y, "grad": layer.linear.weight.grad})
        """),
        sizes=sizes, w=weights, x=xs, z=zs,
    )
    for (d, _, o), (w, b), x, z, seen in zip(sizes, weights, xs, zs, out, strict=True):
        ref = x @ w[:, :d].T + z @ w[:, d:].T + b
        assert seen["y"].shape == (9, o), "the output must have shape (n, out_features)"
        assert torch.allclose(seen["y"], ref, atol=1e-10), \
            "expected linear applied to [x, z] (x's entries first, then z's), with nothing after it"
        grad = seen["grad"]
        assert grad is not None and grad.shape == w.shape and grad[:, d:].abs().sum() > 0, \
            "the gradient must reach the weights that multiply z"


def test_additive_conditioning(t):
    g = torch.Generator().manual_seed(3)
    layout = t.run(
        """
        layer = AdditiveConditioning(6, 3, 4).double()
        result = {
            "x": tuple(layer.linear_x.weight.shape), "z": tuple(layer.linear_z.weight.shape),
            "numel": sum(p.numel() for p in layer.parameters()),
        }
        """
    )
    assert layout["x"] == (4, 6) and layout["z"] == (4, 3), \
        "linear_x must be Linear(in_features, out_features) and linear_z Linear(n_tasks, out_features)"
    assert layout["numel"] == 6 * 4 + 4 + 3 * 4, \
        "only linear_x (with its bias) and linear_z (without a bias) hold parameters"
    (wx, bx), wz = linear_weights(g, [(4, 6)])[0], randn(g, 4, 3)
    x, z = randn(g, 8, 6), randn(g, 8, 3)
    out = t.run(
        probe(LOAD, """
        layer = AdditiveConditioning(6, 3, 4).double()
        load([layer.linear_x, layer.linear_z], inputs["w"])
        result = layer(inputs["x"], inputs["z"])
        """),
        w=[(wx, bx), (wz, None)], x=x, z=z,
    )
    ref = x @ wx.T + bx + z @ wz.T
    assert out.shape == (8, 4) and torch.allclose(out, ref, atol=1e-10), "expected linear_x(x) + linear_z(z)"


def test_film(t):
    g = torch.Generator().manual_seed(4)
    layout = t.run(
        """
        film = FiLM(5, 3).double()
        result = {
            "numel": sum(p.numel() for p in film.parameters()),
            "shapes": [(tuple(m.weight.shape), m.bias is not None) for m in (film.gamma, film.beta)],
        }
        """
    )
    assert layout["numel"] == 2 * (3 * 5 + 5), "gamma and beta: Linear(n_tasks, features) each"
    assert layout["shapes"] == [((5, 3), True)] * 2, \
        "gamma and beta must be Linear(n_tasks, features) with a bias"
    h, z = randn(g, 7, 5), randn(g, 7, 3)
    weights = linear_weights(g, [(5, 3), (5, 3)], scale=1.5)
    onehot = F.one_hot(torch.tensor([2, 0, 1]), 3).double()
    h3 = randn(g, 3, 5)
    out = t.run(
        probe(LOAD, """
        film = FiLM(5, 3).double()
        fresh = film(inputs["h"], inputs["z"])
        load([film.gamma, film.beta], inputs["w"])
        y = film(inputs["h"], inputs["z"])
        result = {"fresh": fresh, "y": y, "onehot": film(inputs["h3"], inputs["onehot"])}
        """),
        h=h, z=z, w=weights, h3=h3, onehot=onehot,
    )
    (wg, bg), (wb, bb) = weights
    assert torch.allclose(out["fresh"], h), "FiLM must start as the identity (gamma = 1, beta = 0)"
    assert out["y"].shape == (7, 5), "the output must have the shape of h"
    ref = (z @ wg.T + bg) * h + z @ wb.T + bb
    assert torch.allclose(out["y"], ref, atol=1e-10), \
        "expected gamma(z) * h + beta(z): scale first, then shift"
    rows = [2, 0, 1]
    assert torch.allclose(out["onehot"], (wg.T[rows] + bg) * h3 + wb.T[rows] + bb), \
        "with a one-hot z, task i must use column i of the gamma and beta weights"


def test_multi_head_model(t):
    g = torch.Generator().manual_seed(5)
    layout = t.run(
        """
        model = MultiHeadModel(6, 4, 5).double()
        heads = list(model.heads)
        result = {
            "heads": len(heads), "distinct": len({id(m) for m in heads}),
            "head_params": len(list(model.heads.parameters())),
            "trunk_numel": sum(p.numel() for p in model.trunk.parameters()),
            "numel": sum(p.numel() for p in model.parameters()),
            "trunk_linears": [tuple(m.weight.shape) for m in model.trunk if isinstance(m, nn.Linear)],
            "head_shapes": [tuple(m.weight.shape) for m in heads],
        }
        """
    )
    trunk_numel = 6 * 5 + 5 + 5 * 5 + 5
    assert layout["heads"] == 4 and layout["distinct"] == 4, "each task needs its own head module"
    assert layout["head_params"] == 8, "the heads must not share parameters"
    assert layout["trunk_numel"] == trunk_numel, \
        "the trunk must be Linear(in_features, hidden), ReLU, Linear(hidden, hidden), ReLU"
    assert layout["numel"] == trunk_numel + 4 * (5 + 1), "only the trunk and the heads hold parameters"
    assert layout["trunk_linears"] == [(5, 6), (5, 5)], "the trunk must hold two nn.Linear layers"
    assert layout["head_shapes"] == [(1, 5)] * 4, "every head must be Linear(hidden, 1)"
    trunk = linear_weights(g, [(5, 6), (5, 5)])
    heads = linear_weights(g, [(1, 5)] * 4)
    x = randn(g, 9, 6)
    ids = torch.randint(0, 4, (9,), generator=g)
    out = t.run(
        probe(LOAD, """
        model = MultiHeadModel(6, 4, 5).double()
        trunk = [m for m in model.trunk if isinstance(m, nn.Linear)]
        load(trunk + list(model.heads), inputs["w"])
        result = {"all": model(inputs["x"]), "own": model(inputs["x"], inputs["ids"])}
        """),
        w=trunk + heads, x=x, ids=ids,
    )
    (w1, b1), (w2, b2) = trunk
    hidden = torch.relu(torch.relu(x @ w1.T + b1) @ w2.T + b2)
    ref = torch.cat([hidden @ w.T + b for w, b in heads], dim=1)
    assert out["all"].shape == (9, 4), "model(x) must have shape (n, n_tasks)"
    assert torch.allclose(out["all"], ref, atol=1e-10), "column i of model(x) must be heads[i](trunk(x))"
    assert (out["all"][:, 0] - out["all"][:, 1]).abs().max() > 1e-3, "each task must have its own head"
    assert out["own"].shape == (9,), "model(x, task_id) must have shape (n,)"
    assert torch.allclose(out["own"], ref[torch.arange(9), ids]), "each example reads its task's head"


def test_mmoe(t):
    g = torch.Generator().manual_seed(6)
    n, d, n_tasks, n_experts, hidden, tower_hidden = 7, 5, 3, 4, 6, 3
    build = f"model = MMoE({d}, {n_tasks}, {n_experts}, {hidden}, {tower_hidden}).double()"
    layout = t.run(
        probe(build, LINEARS, """
        result = {
            "gates": [isinstance(m, nn.Linear) and tuple(m.weight.shape) for m in model.gates],
            "experts": [[tuple(m.weight.shape) for m in linears(e)] for e in model.experts],
            "towers": [[tuple(m.weight.shape) for m in linears(e)] for e in model.towers],
            "linears": [len(linears(model.experts)), len(linears(model.towers))],
        }
        """)
    )
    assert layout["gates"] == [(n_experts, d)] * n_tasks, \
        "gates must hold n_tasks nn.Linear(in_features, n_experts) layers"
    assert layout["experts"] == [[(hidden, d)]] * n_experts and layout["linears"][0] == n_experts, \
        "experts must hold n_experts distinct Sequential(Linear(in_features, hidden), ReLU)"
    assert layout["towers"] == [[(tower_hidden, hidden), (1, tower_hidden)]] * n_tasks \
        and layout["linears"][1] == 2 * n_tasks, \
        "towers must hold n_tasks distinct Sequential(Linear(hidden, tower_hidden), ReLU, " \
        "Linear(tower_hidden, 1))"
    experts = linear_weights(g, [(hidden, d)] * n_experts)
    gates = linear_weights(g, [(n_experts, d)] * n_tasks)
    towers = linear_weights(g, [(tower_hidden, hidden), (1, tower_hidden)] * n_tasks)
    x = randn(g, n, d)
    out = t.run(
        probe(build, LINEARS, LOAD, """
        load(linears(model.experts) + list(model.gates) + linears(model.towers), inputs["w"])
        result = {"both": model(inputs["x"], return_gates=True), "plain": model(inputs["x"])}
        """),
        w=experts + gates + towers, x=x,
    )
    assert torch.is_tensor(out["plain"]), \
        "model(x) without return_gates must return the predictions tensor only"
    pred, gate = out["both"]
    assert pred.shape == (n, n_tasks), "the predictions must have shape (n, n_tasks)"
    assert gate.shape == (n_tasks, n, n_experts), "the gates must have shape (n_tasks, n, n_experts)"
    assert torch.allclose(out["plain"], pred), "the predictions must not depend on return_gates"
    expert_out = torch.stack([torch.relu(x @ w.T + b) for w, b in experts], dim=1)  # (n, E, hidden)
    ref_gates = torch.stack([torch.softmax(x @ w.T + b, dim=-1) for w, b in gates])  # (T, n, E)
    ref_pred = torch.empty(n, n_tasks, dtype=torch.float64)
    for i in range(n_tasks):
        mixed = (ref_gates[i][:, :, None] * expert_out).sum(dim=1)  # (n, hidden)
        (w1, b1), (w2, b2) = towers[2 * i], towers[2 * i + 1]
        ref_pred[:, i] = (torch.relu(mixed @ w1.T + b1) @ w2.T + b2)[:, 0]
    assert torch.allclose(gate.sum(dim=-1), torch.ones(n_tasks, n, dtype=torch.float64)), \
        "gates: softmax over the experts"
    assert torch.allclose(gate, ref_gates, atol=1e-8), "gate i must be softmax(gates[i](x)) over the experts"
    assert torch.allclose(pred, ref_pred, atol=1e-8), \
        "task i: tower i on the gate-weighted sum of the expert outputs"
