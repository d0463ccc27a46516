"""Hidden tests of 06_maml_hessian, run by the grader outside the student's kernel.

Each ``test_*`` function is named after a test cell's ``grade_id``. ``t.run(code, **inputs)`` runs
``code`` in the student's kernel and returns what it assigns to ``result``; every reference value and
every comparison stays here (see ``autograder/hidden.py``).

The meta-gradient tests grade ``maml_meta_gradient`` and ``first_order_meta_gradient`` alone: while
their probes run, the kernel's ``inner_adapt`` is a correct inner loop, so a mistake in the student's
``inner_adapt`` costs the points of ``test_inner_adapt`` only.
"""

import textwrap
from itertools import pairwise

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

from autograder.hidden import with_reference

F64 = torch.float64

# Builds the same multilayer perceptron in the kernel as mlp() below: Linear layers joined by Tanh.
BUILD_MLP = """
def build(sizes, state):
    layers = [m for a, b in zip(sizes, sizes[1:]) for m in (nn.Linear(a, b), nn.Tanh())][:-1]
    model = nn.Sequential(*layers).double()
    model.load_state_dict(state)
    return model
"""

# A correct inner loop, in place of the student's inner_adapt while the meta-gradients are probed.
REFERENCE_INNER_ADAPT = """
def inner_adapt(model, params, x, y, inner_lr, n_steps, create_graph=True):
    phi = dict(params)
    for _ in range(n_steps):
        loss = F.mse_loss(functional_call(model, phi, (x,)), y)
        grads = torch.autograd.grad(loss, list(phi.values()), create_graph=create_graph)
        phi = {k: p - inner_lr * gk for (k, p), gk in zip(phi.items(), grads)}
    return phi
"""


def probe(*parts):
    """Probe code made of ``parts`` (code texts, each indented as it likes), one after the other."""
    return "\n".join(textwrap.dedent(part).strip("\n") for part in parts)


def with_reference_inner_adapt(calls):
    """Probe code that runs ``calls`` (code text) while ``inner_adapt`` is a correct inner loop."""
    return with_reference(REFERENCE_INNER_ADAPT, calls)


def mlp_state(sizes, g):
    """Random float64 weights of the perceptron ``sizes`` (PyTorch's default uniform scale)."""
    state = {}
    for i, (n_in, n_out) in enumerate(pairwise(sizes)):
        bound = n_in ** -0.5
        state[f"{2 * i}.weight"] = (2 * torch.rand(n_out, n_in, generator=g, dtype=F64) - 1) * bound
        state[f"{2 * i}.bias"] = (2 * torch.rand(n_out, generator=g, dtype=F64) - 1) * bound
    return state


def mlp(sizes, state):
    layers = [m for a, b in pairwise(sizes) for m in (nn.Linear(a, b), nn.Tanh())][:-1]
    model = nn.Sequential(*layers).double()
    model.load_state_dict(state)
    return model


def reference_inner_adapt(model, params, x, y, inner_lr, n_steps, create_graph=True):
    phi = dict(params)
    for _ in range(n_steps):
        loss = F.mse_loss(functional_call(model, phi, (x,)), y)
        grads = torch.autograd.grad(loss, list(phi.values()), create_graph=create_graph)
        phi = {k: p - inner_lr * gk for (k, p), gk in zip(phi.items(), grads, strict=True)}
    return phi


def query_loss(model, phi, query):
    return F.mse_loss(functional_call(model, phi, (query[0],)), query[1])


def randn(g, *shape):
    return torch.randn(*shape, generator=g, dtype=F64)


def test_inner_adapt(t):
    g = torch.Generator().manual_seed(2)
    sizes = [1, 5, 5, 1]
    state = mlp_state(sizes, g)
    x, y, xq, yq = randn(g, 8, 1), randn(g, 8, 1), randn(g, 8, 1), randn(g, 8, 1)
    out = t.run(
        probe(BUILD_MLP, """
        model = build(inputs["sizes"], inputs["state"])
        theta = dict(model.named_parameters())
        leaves = list(theta.values())
        phi = dict(inner_adapt(model, theta, inputs["x"], inputs["y"], inner_lr=0.05, n_steps=3))
        loss = F.mse_loss(functional_call(model, phi, (inputs["xq"],)), inputs["yq"])
        meta = list(torch.autograd.grad(loss, leaves, allow_unused=True)) if loss.requires_grad else None
        # Without a graph: other step size and number of steps; the gradients must be constants.
        phi_const = dict(inner_adapt(model, theta, inputs["x"], inputs["y"], inner_lr=0.2, n_steps=2,
                                     create_graph=False))
        loss = F.mse_loss(functional_call(model, phi_const, (inputs["xq"],)), inputs["yq"])
        meta_const = (list(torch.autograd.grad(loss, leaves, allow_unused=True)) if loss.requires_grad
                      else None)
        result = {
            "phi": phi, "theta": dict(theta), "model": dict(model.named_parameters()), "meta": meta,
            "phi_const": phi_const, "meta_const": meta_const,
            "phi0": dict(inner_adapt(model, theta, inputs["x"], inputs["y"], inner_lr=0.05, n_steps=0)),
        }
        """),
        sizes=sizes, state=state, x=x, y=y, xq=xq, yq=yq,
    )
    model = mlp(sizes, state)
    theta = dict(model.named_parameters())
    ref = reference_inner_adapt(model, theta, x, y, 0.05, 3)
    second = torch.autograd.grad(query_loss(model, ref, (xq, yq)), list(theta.values()))
    first_phi = reference_inner_adapt(model, theta, x, y, 0.05, 3, create_graph=False)
    first = torch.autograd.grad(query_loss(model, first_phi, (xq, yq)), list(theta.values()))
    assert max((a - b).abs().max() for a, b in zip(second, first, strict=True)) > 1e-6, \
        "(the test's own sanity check)"
    assert sorted(out["phi"]) == sorted(state), "phi must have one entry per parameter name"
    for k in state:
        assert torch.allclose(out["phi"][k], ref[k].detach(), atol=1e-12), \
            f"three steps of gradient descent: {k} differs"
        assert torch.equal(out["theta"][k], state[k]), \
            "the inner loop must not modify the parameters it starts from"
        assert torch.equal(out["model"][k], state[k]), "the inner loop must not modify the model"
    meta = out["meta"]
    assert meta is not None and all(m is not None for m in meta) and all(
        torch.allclose(m, s, atol=1e-10) for m, s in zip(meta, second, strict=True)), \
        "differentiating through inner_adapt must give the second-order meta-gradient " \
        "(create_graph=True, no detach)"
    const = reference_inner_adapt(model, theta, x, y, 0.2, 2, create_graph=False)
    assert sorted(out["phi_const"]) == sorted(state) and all(
        torch.allclose(out["phi_const"][k], const[k].detach(), atol=1e-12) for k in state), \
        "with inner_lr=0.2, n_steps=2, create_graph=False: two steps of gradient descent, phi differs"
    at_phi = torch.autograd.grad(query_loss(model, const, (xq, yq)), list(const.values()))
    meta_const = out["meta_const"]
    assert meta_const is not None and all(m is not None for m in meta_const) and all(
        torch.allclose(m, a, atol=1e-10) for m, a in zip(meta_const, at_phi, strict=True)), \
        "with create_graph=False the inner gradients must be constants: d/dtheta must equal d/dphi"
    assert sorted(out["phi0"]) == sorted(state) and all(
        torch.equal(out["phi0"][k], state[k]) for k in state), "n_steps=0 returns the starting point"


def meta_gradient_case(seed):
    """Inputs of the two meta-gradient tests: linear regression (w, X, Y, Xq, Yq) and a small MLP
    (sizes, state) with a support and a query set (s, q)."""
    g = torch.Generator().manual_seed(seed)
    w = randn(g, 3, 1)
    X, Xq, Y, Yq = randn(g, 10, 3), randn(g, 7, 3), randn(g, 10, 1), randn(g, 7, 1)
    sizes = [1, 8, 1]
    state = mlp_state(sizes, g)
    s, q = (randn(g, 5, 1), randn(g, 5, 1)), (randn(g, 5, 1), randn(g, 5, 1))
    return dict(w=w, X=X, Y=Y, Xq=Xq, Yq=Yq, sizes=sizes, state=state, s=s, q=q)


#: Probe lines building the two models of :func:`meta_gradient_case` in the kernel.
BUILD_CASE_MODELS = """
        lin = nn.Linear(3, 1, bias=False).double()
        with torch.no_grad():
            lin.weight.copy_(inputs["w"].T)
        model = build(inputs["sizes"], inputs["state"])
        """


def test_maml_meta_gradient(t):
    case = meta_gradient_case(4)
    w, X, Y, Xq, Yq, sizes, state, s, q = case.values()
    out = t.run(
        probe(BUILD_MLP, BUILD_CASE_MODELS, with_reference_inner_adapt("""
        linear = dict(maml_meta_gradient(lin, (inputs["X"], inputs["Y"]), (inputs["Xq"], inputs["Yq"]),
                                         inner_lr=0.1, n_steps=1))
        two = dict(maml_meta_gradient(model, inputs["s"], inputs["q"], inner_lr=0.2, n_steps=2))
        """), """
        result = {"linear": linear, "two": two,
                  "grad": [p.grad is None for p in [*lin.parameters(), *model.parameters()]]}
        """),
        **case,
    )
    # The closed form of section 5 on linear regression, one inner step.
    hessian = 2 / 10 * X.T @ X
    phi = w - 0.1 * 2 / 10 * X.T @ (X @ w - Y)
    expected = (torch.eye(3, dtype=F64) - 0.1 * hessian) @ (2 / 7 * Xq.T @ (Xq @ phi - Yq))
    assert list(out["linear"]) == ["weight"], "one meta-gradient per parameter name"
    assert torch.allclose(out["linear"]["weight"], expected.T, atol=1e-10), \
        "second order: (I - alpha H) grad_phi, Hessian term included"
    model = mlp(sizes, state)
    theta = dict(model.named_parameters())
    ref = torch.autograd.grad(query_loss(model, reference_inner_adapt(model, theta, *s, 0.2, 2), q),
                              list(theta.values()))
    assert sorted(out["two"]) == sorted(theta), "one meta-gradient per parameter name"
    assert all(torch.allclose(out["two"][k], r, atol=1e-10) for k, r in zip(theta, ref, strict=True)), \
        "inner_lr=0.2, two inner steps, differentiated through both"
    assert all(out["grad"]), "use torch.autograd.grad, not .backward(): the model's .grad stays None"


def test_linear_regression_meta_gradient(t):
    g = torch.Generator().manual_seed(5)
    X, Xq, Y, Yq = randn(g, 12, 4), randn(g, 9, 4), randn(g, 12, 1), randn(g, 9, 1)
    w = randn(g, 4, 1)
    out = t.run(
        """
        i = inputs
        result = linear_regression_meta_gradient(i["w"], i["X"], i["Y"], i["Xq"], i["Yq"], alpha=0.07)
        on_meta = linear_regression_meta_gradient(*(i[k].to("meta") for k in ["w", "X", "Y", "Xq", "Yq"]),
                                                  alpha=0.07)
        result = (*result, [(str(v.device), tuple(v.shape)) for v in on_meta])
        """,
        w=w, X=X, Y=Y, Xq=Xq, Yq=Yq,
    )
    meta_gradient, hessian, on_meta = out

    def support_loss(v):
        return ((X @ v - Y) ** 2).mean()

    h_ref = torch.autograd.functional.hessian(lambda v: support_loss(v.view(4, 1)), w.view(4))
    leaf = w.clone().requires_grad_()
    phi = leaf - 0.07 * torch.autograd.grad(support_loss(leaf), leaf, create_graph=True)[0]
    mg_ref = torch.autograd.grad(((Xq @ phi - Yq) ** 2).mean(), leaf)[0]
    assert hessian.shape == (4, 4) and torch.allclose(hessian, h_ref, atol=1e-10), \
        "the Hessian of the mean squared error is 2/n X^T X"
    assert meta_gradient.shape == (4, 1) and torch.allclose(meta_gradient, mg_ref, atol=1e-10), \
        "meta-gradient against autograd through one step"
    assert on_meta == [("meta", (4, 1)), ("meta", (4, 4))], \
        f"inputs on the meta device must give (4, 1) and (4, 4) tensors on it, got {on_meta}"


def test_hessian_vector_product(t):
    g = torch.Generator().manual_seed(6)
    sizes = [3, 6, 2]
    state = mlp_state(sizes, g)
    x, y = randn(g, 11, 3), randn(g, 11, 2)
    model = mlp(sizes, state)
    params = list(model.parameters())
    v = [torch.randn(p.shape, generator=g, dtype=F64) for p in params]
    # Two more calls vary the loss, the parameters and the vector: a cross-entropy with respect to the
    # first layer only, and a non-quadratic function of one tensor whose Hessian is diagonal and known.
    labels = torch.randint(0, 2, (11,), generator=g)
    v_first = [torch.randn(p.shape, generator=g, dtype=F64) for p in params[:2]]
    w, u = randn(g, 4, 5), randn(g, 4, 5)
    out = t.run(
        probe(BUILD_MLP, """
        import torch.autograd.functional as taf
        import torch.func as tf
        model = build(inputs["sizes"], inputs["state"])
        params = list(model.parameters())
        loss = F.mse_loss(model(inputs["x"]), inputs["y"])
        # How many times the engine computes a gradient with respect to each parameter, however it is
        # called: twice for H v (the gradient, then the gradient of its dot with v), once per row and more
        # when the Hessian is formed row by row.
        passes = [0] * len(params)
        hooks = [p.register_hook(lambda g, i=i: passes.__setitem__(i, passes[i] + 1))
                 for i, p in enumerate(params)]
        formed = []
        def no_hessian(*args, **kwargs):
            formed.append(True)
            raise AssertionError("a Hessian-vector product must not form the Hessian or a Jacobian")
        saved = (taf.hessian, taf.jacobian, tf.hessian, tf.jacrev, tf.jacfwd)
        taf.hessian = taf.jacobian = tf.hessian = tf.jacrev = tf.jacfwd = no_hessian
        hv = first_layer = cubic = None
        try:
            hv = list(hessian_vector_product(loss, params, inputs["v"]))
            for hook in hooks:
                hook.remove()
            ce = F.cross_entropy(model(inputs["x"]), inputs["labels"])
            first_layer = list(hessian_vector_product(ce, params[:2], inputs["v_first"]))
            w = inputs["w"].clone().requires_grad_()
            cubic = list(hessian_vector_product((w ** 3).sum() + (w.sin() * w).sum(), [w], [inputs["u"]]))
        except Exception:
            if not formed:
                raise
        finally:
            taf.hessian, taf.jacobian, tf.hessian, tf.jacrev, tf.jacfwd = saved
            for hook in hooks:
                hook.remove()
        result = {"hv": hv, "formed": bool(formed), "passes": passes, "first_layer": first_layer,
                  "cubic": cubic}
        """),
        sizes=sizes, state=state, x=x, y=y, v=v, labels=labels, v_first=v_first, w=w, u=u,
    )
    assert not out["formed"], "a Hessian-vector product must not form the Hessian or a Jacobian"
    most = max(out["passes"])
    assert min(out["passes"]) >= 1 and most <= 2, \
        "H v needs two gradient computations with respect to the parameters (the gradient, then the " \
        f"gradient of its dot product with v); yours made {most}: the Hessian must not be formed, row by " \
        "row or otherwise"
    names = [k for k, _ in model.named_parameters()]

    def loss_of(vec):
        chunks = vec.split([p.numel() for p in params])
        weights = {k: c.view_as(p) for k, c, p in zip(names, chunks, params, strict=True)}
        return F.mse_loss(functional_call(model, weights, (x,)), y)

    hessian = torch.autograd.functional.hessian(loss_of, torch.cat([p.detach().flatten() for p in params]))
    expected = hessian @ torch.cat([u.flatten() for u in v])
    hv = out["hv"]
    assert len(hv) == len(params) and all(h.shape == p.shape for h, p in zip(hv, params, strict=True)), \
        "one tensor per parameter, with its shape"
    assert torch.allclose(torch.cat([h.flatten() for h in hv]), expected, atol=1e-10), \
        "H v against the explicit Hessian"

    def first_layer_loss(vec):
        chunks = vec.split([p.numel() for p in params[:2]])
        weights = dict(zip(names, (p.detach() for p in params), strict=True))
        weights.update({k: c.view_as(p) for k, c, p in zip(names[:2], chunks, params[:2], strict=True)})
        return F.cross_entropy(functional_call(model, weights, (x,)), labels)

    hessian = torch.autograd.functional.hessian(first_layer_loss,
                                                torch.cat([p.detach().flatten() for p in params[:2]]))
    expected = hessian @ torch.cat([u_.flatten() for u_ in v_first])
    got = out["first_layer"]
    assert got is not None and len(got) == 2 and \
        all(h.shape == p.shape for h, p in zip(got, params[:2], strict=True)), \
        "with the first layer's weight and bias as params (another loss, another vector): one tensor " \
        "per parameter, with its shape"
    assert torch.allclose(torch.cat([h.flatten() for h in got]), expected, atol=1e-10), \
        "H v with respect to the first layer only, for a cross-entropy loss, against the explicit Hessian"
    cubic = out["cubic"]
    expected = (6 * w + 2 * w.cos() - w * w.sin()) * u  # the Hessian of sum(w^3 + w sin w) is diagonal
    assert cubic is not None and len(cubic) == 1 and cubic[0].shape == w.shape, \
        "for one parameter tensor, a list of one tensor of its shape"
    assert torch.allclose(cubic[0], expected, atol=1e-10), \
        "H v of sum(w**3 + w * sin(w)) must be (6 w + 2 cos w - w sin w) * v, elementwise"


def test_first_order_meta_gradient(t):
    case = meta_gradient_case(8)
    w, X, Y, Xq, Yq, sizes, state, s, q = case.values()
    out = t.run(
        probe(BUILD_MLP, BUILD_CASE_MODELS, with_reference_inner_adapt("""
        linear = dict(first_order_meta_gradient(lin, (inputs["X"], inputs["Y"]), (inputs["Xq"], inputs["Yq"]),
                                                inner_lr=0.1, n_steps=1))
        three = dict(first_order_meta_gradient(model, inputs["s"], inputs["q"], inner_lr=0.2, n_steps=3))
        """), """
        result = {"linear": linear, "three": three}
        """),
        **case,
    )
    phi = w - 0.1 * 2 / 10 * X.T @ (X @ w - Y)
    expected = 2 / 7 * Xq.T @ (Xq @ phi - Yq)          # the query gradient at phi, no Hessian term
    assert list(out["linear"]) == ["weight"], "one meta-gradient per parameter name"
    assert torch.allclose(out["linear"]["weight"], expected.T, atol=1e-10), \
        "first order: the query gradient at phi (not at theta, no Hessian term)"
    model = mlp(sizes, state)
    phi3 = reference_inner_adapt(model, dict(model.named_parameters()), *s, 0.2, 3, create_graph=False)
    phi3 = {k: p.detach().requires_grad_() for k, p in phi3.items()}
    ref = torch.autograd.grad(query_loss(model, phi3, q), list(phi3.values()))
    assert sorted(out["three"]) == sorted(phi3), "one meta-gradient per parameter name"
    assert all(torch.allclose(out["three"][k], r, atol=1e-10) for k, r in zip(phi3, ref, strict=True)), \
        "inner_lr=0.2, three inner steps: the query gradient at phi_3"
