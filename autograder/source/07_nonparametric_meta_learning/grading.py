"""Hidden tests of 07_nonparametric_meta_learning, run by the grader outside the student's kernel.

Each ``test_*`` function is named after a test cell's ``grade_id``. ``t.run(code, **inputs)`` runs
``code`` in the student's kernel and returns what it assigns to ``result``; every reference value and
every comparison stays here (see ``autograder/hidden.py``).
"""


import torch
import torch.nn.functional as F

from autograder.hidden import with_reference


def shuffled_labels(b, n, s, g):
    """(b, s) labels 0 … n-1 in a random order per episode, every label at least once, unbalanced."""
    rows = []
    for _ in range(b):
        labels = torch.cat([torch.arange(n), torch.randint(0, n, (s - n,), generator=g)])
        rows.append(labels[torch.randperm(s, generator=g)])
    return torch.stack(rows)


def reference_prototypes(z, y, n):
    return torch.stack([torch.stack([z[b][y[b] == k].mean(0) for k in range(n)]) for b in range(len(z))])


def reference_logits(q, c):
    return -((q.unsqueeze(2) - c.unsqueeze(1)) ** 2).sum(-1)


#: (B, S, D, N, dtype): shuffled unbalanced labels; 20-way one-shot in a random order; float64; one class.
PROTOTYPE_CONFIGS = [(5, 9, 4, 3, torch.float32), (2, 20, 7, 20, torch.float32), (3, 10, 2, 2, torch.float64),
                     (2, 6, 3, 1, torch.float32)]


def test_prototypes(t):
    g = torch.Generator().manual_seed(7)
    cases = []
    for b, s, d, n, dtype in PROTOTYPE_CONFIGS:
        z = torch.randn(b, s, d, generator=g).to(dtype)
        cases.append({"z": z, "y": shuffled_labels(b, n, s, g), "n": n,
                      "w": torch.randn(b, n, d, generator=g).to(dtype)})
    out = t.run(
        """
        result = []
        for case in inputs["cases"]:
            z = case["z"].clone().requires_grad_()
            c = prototypes(z, case["y"].clone(), case["n"])
            (c * case["w"]).sum().backward()
            result.append({"c": c.detach(), "grad": z.grad, "z_after": z.detach()})
        """,
        cases=cases,
    )
    for (b, s, d, n, dtype), case, got in zip(PROTOTYPE_CONFIGS, cases, out, strict=True):
        where = f" (B={b}, S={s}, D={d}, N={n}, {dtype})"
        z, y = case["z"].clone().requires_grad_(), case["y"]
        expected = reference_prototypes(z, y, n)
        (expected * case["w"]).sum().backward()
        assert got["c"].shape == (b, n, d), \
            f"prototypes must have shape (B, N, D), got {tuple(got['c'].shape)}" + where
        assert got["c"].dtype == dtype, f"the prototypes must keep the embeddings' dtype {dtype}" + where
        assert torch.allclose(got["c"], expected.detach(), atol=1e-5), \
            "row k of episode b must be the mean of that episode's support embeddings labelled k " \
            "(labels in any order, classes of different sizes)" + where
        assert got["grad"] is not None and torch.allclose(got["grad"], z.grad, atol=1e-5), \
            "the gradient must reach each embedding with weight 1 / (size of its class)" + where
        assert torch.equal(got["z_after"], case["z"]), "prototypes must not change its input" + where


#: (B, M, N, D, dtype, scale): batches of several episodes, one query, one class, float64, larger values.
LOGIT_CONFIGS = [(4, 6, 5, 3, torch.float32, 1.0), (1, 1, 7, 8, torch.float32, 1.0),
                 (3, 4, 1, 2, torch.float64, 1.0), (2, 5, 3, 16, torch.float32, 4.0)]


def test_prototypical_logits(t):
    g = torch.Generator().manual_seed(11)
    cases = [{"q": (scale * torch.randn(b, m, d, generator=g)).to(dtype),
              "c": (scale * torch.randn(b, n, d, generator=g)).to(dtype)}
             for b, m, n, d, dtype, scale in LOGIT_CONFIGS]
    out = t.run(
        """
        result = []
        for case in inputs["cases"]:
            q = case["q"].clone().requires_grad_()
            logits = prototypical_logits(q, case["c"])
            logits.sum().backward()
            result.append({"logits": logits.detach(), "grad": q.grad})
        """,
        cases=cases,
    )
    for (b, m, n, d, dtype, _), case, got in zip(LOGIT_CONFIGS, cases, out, strict=True):
        where = f" (B={b}, M={m}, N={n}, D={d}, {dtype})"
        q = case["q"].clone().requires_grad_()
        expected = reference_logits(q, case["c"])
        expected.sum().backward()
        assert got["logits"].shape == (b, m, n), \
            f"the logits must have shape (B, M, N), got {tuple(got['logits'].shape)}" + where
        assert got["logits"].dtype == dtype, f"the logits must keep the dtype {dtype}" + where
        scale = float(expected.detach().abs().max()) + 1.0
        assert torch.allclose(got["logits"], expected.detach(), atol=1e-4 * scale, rtol=1e-4), \
            "entry [b, m, k] must be minus the squared Euclidean distance from query m to prototype k of " \
            "the same episode" + where
        assert got["grad"] is not None and \
            torch.allclose(got["grad"], q.grad, atol=1e-3 * scale, rtol=1e-3), \
            "the logits must be differentiable with respect to the queries (meta-training needs it)" + where


LINEAR_HEAD_SHAPES = [(3, 5, 4, torch.float32), (1, 20, 2, torch.float32), (2, 1, 6, torch.float64)]


def test_linear_head(t):
    g = torch.Generator().manual_seed(13)
    cases = [{"c": torch.randn(b, n, d, generator=g).to(dtype),
              "z": torch.randn(b, 7, d, generator=g).to(dtype)} for b, n, d, dtype in LINEAR_HEAD_SHAPES]
    out = t.run(
        """
        result = [dict(zip(("weight", "bias"), linear_head(case["c"].clone()))) for case in inputs["cases"]]
        """,
        cases=cases,
    )
    for (b, n, d, dtype), case, got in zip(LINEAR_HEAD_SHAPES, cases, out, strict=True):
        where = f" (B={b}, N={n}, D={d}, {dtype})"
        weight, bias, c = got["weight"], got["bias"], case["c"]
        assert weight.shape == (b, n, d), \
            f"weight must have shape (B, N, D), got {tuple(weight.shape)}" + where
        assert bias.shape == (b, n), f"bias must have shape (B, N), got {tuple(bias.shape)}" + where
        assert weight.dtype == dtype and bias.dtype == dtype, \
            f"weight and bias must keep the dtype {dtype}" + where
        assert torch.allclose(weight, 2 * c, atol=1e-5), "row k of the weights must be 2 c_k" + where
        assert torch.allclose(bias, -(c ** 2).sum(-1), atol=1e-5), "bias k must be -||c_k||^2" + where
        head = case["z"] @ weight.transpose(1, 2) + bias.unsqueeze(1)  # (B, 7, N)
        assert torch.allclose(head.softmax(-1), reference_logits(case["z"], c).softmax(-1), atol=1e-5), \
            "the head must give the prototypical network's probabilities" + where


# Correct prototypes and prototypical_logits, in place of the student's while proto_loss is probed (a mistake
# there costs the points of their own tests, not proto_loss's).
REFERENCE_PROTOTYPES = """
def prototypes(support_z, support_y, n_way):
    one_hot = F.one_hot(support_y, n_way).to(support_z.dtype)
    return one_hot.transpose(1, 2) @ support_z / one_hot.sum(dim=1).unsqueeze(-1)
def prototypical_logits(query_z, prototypes):
    return -((query_z.unsqueeze(2) - prototypes.unsqueeze(1)) ** 2).sum(dim=-1)
"""


#: (B, N, K, Q, D): a batch; 20-way one-shot with one query; one episode with five shots.
LOSS_CONFIGS = [(6, 4, 2, 3, 5), (2, 20, 1, 1, 3), (1, 2, 5, 2, 4)]
SIDE = 3  # images of 3x3 pixels


def reference_loss(weight, bias, e, n):
    b, m = e["query_y"].shape
    sz = (e["support_x"].flatten(2) @ weight.T + bias)  # (B, S, D)
    qz = (e["query_x"].flatten(2) @ weight.T + bias)    # (B, M, D)
    logits = reference_logits(qz, reference_prototypes(sz, e["support_y"], n))
    loss = F.cross_entropy(logits.reshape(b * m, n), e["query_y"].reshape(-1))
    accuracy = (logits.argmax(-1) == e["query_y"]).double().mean()
    return loss, accuracy


def test_proto_loss(t):
    g = torch.Generator().manual_seed(17)
    cases = []
    for b, n, k, q, d in LOSS_CONFIGS:
        labels = torch.arange(n)
        cases.append({
            "support_x": torch.rand(b, n * k, 1, SIDE, SIDE, generator=g),
            "query_x": torch.rand(b, n * q, 1, SIDE, SIDE, generator=g),
            "support_y": labels.repeat_interleave(k).expand(b, -1).clone(),
            "query_y": labels.repeat_interleave(q).expand(b, -1).clone(),
            "classes": torch.stack([torch.randperm(50, generator=g)[:n] for _ in range(b)]),
            "weight": torch.randn(d, SIDE * SIDE, generator=g), "bias": torch.randn(d, generator=g),
        })
    out = t.run(
        with_reference(REFERENCE_PROTOTYPES, """
        result = []
        for case in inputs["cases"]:
            embed = nn.Sequential(nn.Flatten(), nn.Linear(case["weight"].shape[1], case["weight"].shape[0]))
            with torch.no_grad():
                embed[1].weight.copy_(case["weight"])
                embed[1].bias.copy_(case["bias"])
            b, s = case["support_y"].shape
            episodes = Episodes(support_x=case["support_x"], support_y=case["support_y"],
                                query_x=case["query_x"], query_y=case["query_y"], classes=case["classes"],
                                support_index=torch.zeros_like(case["support_y"]),
                                query_index=torch.zeros_like(case["query_y"]))
            loss, accuracy = proto_loss(embed, episodes)
            loss.backward()
            result.append({"loss": loss.detach(), "accuracy": accuracy, "grad_w": embed[1].weight.grad,
                           "grad_b": embed[1].bias.grad})
        """),
        cases=cases,
    )
    for (b, n, k, q, _), case, got in zip(LOSS_CONFIGS, cases, out, strict=True):
        where = f" ({b} episodes, {n}-way {k}-shot, {q} queries per class)"
        weight = case["weight"].clone().requires_grad_()
        bias = case["bias"].clone().requires_grad_()
        expected_loss, expected_accuracy = reference_loss(weight, bias, case, n)
        expected_loss.backward()
        assert got["loss"].dim() == 0 and got["accuracy"].dim() == 0, \
            "the loss and the accuracy must be scalars (0-dimensional tensors)" + where
        assert got["accuracy"].dtype.is_floating_point, \
            f"the accuracy must be a fraction in a float tensor, got {got['accuracy'].dtype}" + where
        assert torch.allclose(got["loss"], expected_loss.detach(), atol=1e-4), \
            "the loss must be the mean cross-entropy of the prototypical logits of every query of every " \
            "episode, with prototypes from the support set" + where
        assert abs(float(got["accuracy"]) - float(expected_accuracy)) < 1e-6, \
            "the accuracy must be the fraction of queries whose largest logit is their label" + where
        assert got["grad_w"] is not None and torch.allclose(got["grad_w"], weight.grad, atol=1e-4) and \
            torch.allclose(got["grad_b"], bias.grad, atol=1e-4), \
            "the loss's gradient must reach embed's parameters through the support and the query embeddings" \
            + where
