"""Hidden tests of 05_blackbox_meta_learning, run by the grader outside the student's kernel.

Each ``test_*`` function is named after a test cell's ``grade_id``. ``t.run(code, **inputs)`` runs
``code`` in the student's kernel and returns what it assigns to ``result``; every reference value and
every comparison stays here (see ``autograder/hidden.py``).
"""


import torch
import torch.nn.functional as F
from torch import nn

from autograder.hidden import with_reference


def class_major_labels(b, n, m):
    """Labels 0 … n-1, each repeated m times, for b episodes: (b, n*m) int64."""
    return torch.arange(n).repeat_interleave(m).expand(b, n * m).clone()


def test_build_sequence(t):
    b, n, k, q, p, width = 400, 4, 1, 3, 5, 6
    g = torch.Generator().manual_seed(0)
    # random, all distinct images: every query row of the sequence can be traced back
    support_x = torch.rand(b, n * k, 1, p, p, generator=g)
    query_x = torch.rand(b, n * q, 1, p, p, generator=g)
    support_y, query_y = class_major_labels(b, n, k), class_major_labels(b, n, q)
    out = t.run(
        """
        zeros = lambda *shape: torch.zeros(*shape, dtype=torch.long)
        b, s = inputs["support_y"].shape
        m, n = inputs["query_y"].shape[1], inputs["n"]
        episodes = Episodes(support_x=inputs["support_x"], support_y=inputs["support_y"],
                            query_x=inputs["query_x"], query_y=inputs["query_y"], classes=zeros(b, n),
                            support_index=zeros(b, s), query_index=zeros(b, m))
        result = (*build_sequence(episodes, n_way=inputs["width"]),
                  build_sequence(episodes, n_way=inputs["width"])[1])
        """,
        support_x=support_x, support_y=support_y, query_x=query_x, query_y=query_y, n=n, width=width,
    )
    seq, qy, qy_again = out
    s, m, pixels = n * k, n * q, p * p
    assert seq.shape == (b, s + m, pixels + width) and seq.dtype == torch.float32, \
        "the sequence must be float of shape (B, S+M, H*W+n_way)"
    assert qy.shape == (b, m) and qy.dtype == torch.int64, "query_y must be int64 of shape (B, M)"
    assert bool((seq[:, s:, pixels:] == 0).all()), \
        "query labels leak into the input: the query label slot must be all zeros"
    assert torch.equal(seq[:, :s, pixels:], F.one_hot(support_y, width).float()), \
        "support label slots must hold the one-hot of the label, of width n_way"
    assert torch.equal(seq[:, :s, :pixels], support_x.flatten(2)), \
        "support rows must be the flattened support images, in the given order"
    # Trace every query row back to the query image it shows: images and labels must move together.
    distances = torch.cdist(seq[:, s:, :pixels], query_x.flatten(2))  # (B, M, M)
    source = distances.argmin(dim=-1)  # (B, M)
    assert torch.allclose(distances.amin(dim=-1), torch.zeros(())), \
        "query rows must be the episode's own query images, flattened"
    assert bool((source.sort(dim=1).values == torch.arange(m)).all()), \
        "every query image must appear exactly once"
    assert torch.equal(query_y.gather(1, source), qy), "labels and images are misaligned after shuffling"
    assert float((source != torch.arange(m)).any(dim=1).float().mean()) > 0.9, \
        "the query order must be shuffled"
    assert len({tuple(row) for row in source.tolist()}) > 300, "every episode must get its own query order"
    assert not torch.equal(qy, qy_again), \
        "two calls must shuffle the queries differently (torch's global generator, not a fixed seed)"
    first = torch.bincount(qy[:, 0], minlength=n).float() / b  # label at query position 0
    assert float((first - 1 / n).abs().max()) < 0.1, \
        "the position of a query must carry no information on its label"


def reference_lstm_learner(input_dim, n_way, hidden, g):
    """lstm1, lstm2 and readout as in LSTMLearner, with weights drawn from ``g``."""
    modules = {"lstm1": nn.LSTM(input_dim, hidden, batch_first=True),
               "lstm2": nn.LSTM(hidden, hidden, batch_first=True), "readout": nn.Linear(hidden, n_way)}
    with torch.no_grad():
        for module in modules.values():
            for parameter in module.parameters():
                parameter.copy_(torch.rand(parameter.shape, generator=g) - 0.5)
    return modules


def test_lstm_learner(t):
    g = torch.Generator().manual_seed(3)
    ref = reference_lstm_learner(11, 4, 9, g)
    state = {f"{name}.{key}": value.clone()
             for name, module in ref.items() for key, value in module.state_dict().items()}
    x = torch.randn(6, 8, 11, generator=g)
    out = t.run(
        """
        model = LSTMLearner(input_dim=11, n_way=4, hidden=9)
        model.load_state_dict(inputs["state"])
        with torch.no_grad():
            result = {"all": model(inputs["x"]), "one": model(inputs["x"][:1])}
        """,
        state=state, x=x,
    )
    with torch.no_grad():
        h, _ = ref["lstm1"](x)
        h, _ = ref["lstm2"](h)
        expected = ref["readout"](h)
    assert out["all"].shape == (6, 8, 4), "the logits must have shape (B, T, n_way)"
    assert torch.allclose(out["all"], expected, atol=1e-6), \
        "forward must apply lstm1, then lstm2 on its outputs, then the readout at every position"
    assert out["one"].shape == (1, 8, 4), "forward must work for any batch size"
    assert torch.allclose(out["one"], expected[:1], atol=1e-6), "forward must work for any batch size"


def test_query_loss(t):
    g = torch.Generator().manual_seed(5)
    logits = torch.randn(7, 9, 4, generator=g)
    y = torch.randint(0, 4, (7, 3), generator=g)
    out = t.run(
        """
        logits = inputs["logits"].clone().requires_grad_()
        loss = query_loss(logits, inputs["y"])
        loss.backward()
        result = {"loss": loss, "grad": logits.grad}
        """,
        logits=logits, y=y,
    )
    assert out["loss"].dim() == 0, "the loss must be a scalar (0-dimensional tensor)"
    expected = F.cross_entropy(logits[:, -3:].reshape(-1, 4), y.reshape(-1))
    assert torch.allclose(out["loss"], expected, atol=1e-6), \
        "the loss must be the mean cross-entropy over the last M positions"
    assert out["grad"] is not None and bool((out["grad"][:, :-3] == 0).all()), \
        "the support positions must not enter the loss"


def test_accuracy_by_position(t):
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(50, 11, 5, generator=g)
    y = torch.randint(0, 5, (50, 6), generator=g)
    acc = t.run("result = accuracy_by_position(inputs['logits'], inputs['y'])", logits=logits, y=y)
    assert acc.shape == (6,), "there must be one accuracy per query position"
    assert acc.dtype.is_floating_point, f"the accuracies must be fractions in a float tensor, got {acc.dtype}"
    expected = (logits[:, -6:].argmax(-1) == y).float().mean(0)
    assert torch.allclose(acc, expected), \
        "entry m must be the mean over episodes of (argmax of the m-th query's logits == its label)"


def test_causal_mask(t):
    lengths = [1, 2, 7]
    masks, on_meta = t.run(
        """
        on_meta = causal_mask(5, device="meta")
        result = [causal_mask(n) for n in inputs['lengths']], [str(on_meta.device), tuple(on_meta.shape)]
        """,
        lengths=lengths,
    )
    assert on_meta == ["meta", (5, 5)], f"causal_mask(5, device='meta') must be (5, 5) on meta, got {on_meta}"
    for n, mask in zip(lengths, masks, strict=True):
        assert mask.dtype == torch.bool and mask.shape == (n, n), \
            "the mask must be boolean of shape (length, length)"
        query, key = torch.meshgrid(torch.arange(n), torch.arange(n), indexing="ij")
        assert torch.equal(mask, key > query), \
            "the mask must be True exactly where the key comes after the query"


def id_images(n_classes, n_drawings, dtype=torch.float32):
    """Images (C, D, 1, 2, 3) whose every pixel holds the image's own flat row c * D + d."""
    rows = torch.arange(n_classes * n_drawings, dtype=dtype).view(n_classes, n_drawings, 1, 1, 1)
    return rows.expand(n_classes, n_drawings, 1, 2, 3).clone()


#: (n_way, k_shot, k_query, meta_batch_size) on 6 classes of 5 drawings, and the exception expected: the
#: largest episodes that fit, N > C, K + Q > D, K = 0, no query set, B = 0.
SIZE_CHECKS = [([6, 1, 4, 5], None), ([7, 1, 1, 5], "ValueError"), ([1, 5, 0, 1], None),
               ([2, 3, 3, 5], "ValueError"), ([2, 0, 1, 5], "ValueError"), ([3, 2, 0, 2], None),
               ([2, 1, 1, 0], "ValueError")]


def test_sample_episodes(t):
    # (C, D, N, K, Q, B): typical; every class and every drawing used (N = C, K + Q = D); no query set;
    # one class per episode. Float64 images must keep their dtype.
    configs = [(12, 7, 5, 1, 2, 3000), (6, 5, 6, 2, 3, 400), (20, 4, 3, 3, 0, 300), (9, 9, 1, 4, 4, 200)]
    images = [id_images(c, d, torch.float64 if i == 1 else torch.float32)
              for i, (c, d, *_) in enumerate(configs)]
    out = t.run(
        """
        e = [sample_episodes(im, n, k, q, b)
             for im, (c, d, n, k, q, b) in zip(inputs["images"], inputs["configs"])]
        fields = ("support_x", "support_y", "query_x", "query_y", "classes", "support_index", "query_index")
        torch.manual_seed(123)
        again = sample_episodes(inputs["images"][0], 5, 1, 2, 50).classes
        torch.manual_seed(123)
        result = {
            "episodes": [{f: getattr(x, f) for f in fields} for x in e],
            "same_seed": [again, sample_episodes(inputs["images"][0], 5, 1, 2, 50).classes],
            "checked": [raises(sample_episodes, inputs["images"][1], *a) for a in inputs["checked"]],
            "good": [sample_episodes(inputs["images"][1], *a).support_y.shape[1] for a in inputs["good"]],
        }
        """,
        images=images, configs=configs,
        # Valid and invalid arguments mixed (6 classes of 5 drawings): only the grader knows which is which,
        # so a kernel whose raises() always answers the same cannot pass for a missing check.
        checked=[args for args, _ in SIZE_CHECKS],
        good=[[6, 1, 4, 5], [1, 5, 0, 1]],  # the largest N and K + Q that fit
    )
    for (c, d, n, k, q, b), im, e in zip(configs, images, out["episodes"], strict=True):
        where = f" ({n}-way {k}-shot, {q} queries, {c} classes of {d} drawings)"
        sx, sy, qx, qy, classes = e["support_x"], e["support_y"], e["query_x"], e["query_y"], e["classes"]
        assert sx.shape == (b, n * k, 1, 2, 3) and qx.shape == (b, n * q, 1, 2, 3), \
            "support_x must be (B, N*K, 1, H, W) and query_x (B, N*Q, 1, H, W)" + where
        assert sx.dtype == im.dtype and qx.dtype == im.dtype, \
            "the images must keep the dtype of `images`" + where
        assert sy.dtype == torch.int64 and qy.dtype == torch.int64 and classes.dtype == torch.int64, \
            "labels and classes must be int64" + where
        labels = torch.arange(n)
        assert torch.equal(sy, labels.repeat_interleave(k).expand(b, -1)) and \
            torch.equal(qy, labels.repeat_interleave(q).expand(b, -1)), \
            "labels must be class-major: [0]*K + [1]*K + ... (support), [0]*Q + ... (query)" + where
        # The images themselves say which row of images.flatten(0, 1) they are.
        s_rows = sx[:, :, 0, 0, 0].round().long()  # (B, N*K)
        q_rows = qx[:, :, 0, 0, 0].round().long()  # (B, N*Q)
        assert torch.equal(e["support_index"], s_rows) and torch.equal(e["query_index"], q_rows), \
            "support_index / query_index must name the rows c * D + d of the images returned" + where
        assert bool((sx == sx[..., :1, :1, :1]).all()), \
            "each image must be one whole image of `images`" + where
        rows = torch.cat([s_rows.view(b, n, k), q_rows.view(b, n, q)], dim=2)  # (B, N, K+Q)
        assert torch.equal(rows // d, classes.unsqueeze(-1).expand(b, n, k + q)), \
            "every image of label j must be a drawing of class classes[:, j]" + where
        assert bool((classes.sort(dim=1).values.diff(dim=1) > 0).all()), \
            "the classes of an episode must be distinct (drawn without replacement)" + where
        assert bool((rows.sort(dim=2).values.diff(dim=2) > 0).all()), \
            "the drawings of a class must be distinct: no drawing twice, none both support and query" + where
        # Distributions, over many episodes: classes, the class called 0, drawings, support vs query.
        tolerance = 4 * (1 / b) ** 0.5
        class_freq = torch.bincount(classes.flatten(), minlength=c).double() / b  # P(class in the episode)
        assert float((class_freq - n / c).abs().max()) < tolerance + 0.02, \
            "every class must be equally likely to appear in an episode" + where
        first = torch.bincount(classes[:, 0], minlength=c).double() / b
        assert float((first - 1 / c).abs().max()) < tolerance, \
            "which class gets label 0 must be uniformly random (a new order in every episode)" + where
        drawing = rows % d  # (B, N, K+Q)
        drawn = torch.bincount(drawing.flatten(), minlength=d).double() / (b * n)  # P(drawing used)
        assert float((drawn - (k + q) / d).abs().max()) < tolerance + 0.02, \
            "every drawing of a class must be equally likely to be used" + where
        if q > 0 and k + q < d:
            support_share = torch.bincount(drawing[..., :k].flatten(), minlength=d).double() / (b * n)
            assert float((support_share - k / d).abs().max()) < tolerance + 0.02, \
                "every drawing must be equally likely to be a support drawing" + where
    assert torch.equal(*out["same_seed"]), "the same torch seed must give the same episodes"
    for (args, expected), got in zip(SIZE_CHECKS, out["checked"], strict=True):
        call = "sample_episodes(images of 6 classes x 5 drawings, n_way={}, k_shot={}, k_query={}, " \
            "meta_batch_size={})".format(*args)
        assert got == expected, (f"{call} must raise ValueError (got {got or 'no error'})" if expected
                                 else f"{call} fits and must not raise (got {got})")
    assert out["good"] == [6, 5], "the largest episodes that fit (N = C, K + Q = D) must be accepted"


# A correct query_loss, in place of the student's while meta_training_step is probed (a mistake there costs
# the points of its own test, not meta_training_step's).
REFERENCE_QUERY_LOSS = """
def query_loss(logits, query_y):
    m = query_y.shape[1]
    return F.cross_entropy(logits[:, -m:].reshape(-1, logits.shape[-1]), query_y.reshape(-1))
"""

STEP_OPTIMIZERS = {"SGD with momentum": (torch.optim.SGD, {"lr": 0.1, "momentum": 0.9}),
                   "Adam": (torch.optim.Adam, {"lr": 0.01})}


def step_learner(state):
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4)).double()
    model.load_state_dict(state)
    return model


def test_meta_training_step(t):
    g = torch.Generator().manual_seed(8)
    shapes = {"0.weight": (8, 6), "0.bias": (8,), "2.weight": (4, 8), "2.bias": (4,)}
    state = {k: 0.5 * torch.randn(shape, generator=g, dtype=torch.float64) for k, shape in shapes.items()}
    # Two consecutive steps on different batches (sequence lengths and numbers of queries differ), starting
    # from stale gradients that a correct step clears first.
    batches = [(torch.randn(b, length, 6, generator=g, dtype=torch.float64),
                torch.randint(0, 4, (b, m), generator=g)) for b, length, m in [(5, 7, 3), (3, 9, 5)]]
    code = """
        result = {}
        for name, (make, kwargs) in inputs["optimizers"].items():
            model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 4)).double()
            model.load_state_dict(inputs["state"])
            optimizer = getattr(torch.optim, make)(model.parameters(), **kwargs)
            for p in model.parameters():
                p.grad = torch.full_like(p, 50.0)
            steps = []
            for sequence, query_y in inputs["batches"]:
                loss, logits = meta_training_step(model, optimizer, sequence, query_y)
                steps.append({"loss": loss.detach(), "logits": logits.detach(),
                              "graph": bool(loss.requires_grad or logits.requires_grad),
                              "state": {k: v.detach().clone() for k, v in model.state_dict().items()}})
            result[name] = steps
        """
    out = t.run(with_reference(REFERENCE_QUERY_LOSS, code), state=state, batches=batches,
                optimizers={name: (make.__name__, kw) for name, (make, kw) in STEP_OPTIMIZERS.items()})
    for name, (make, kwargs) in STEP_OPTIMIZERS.items():
        model = step_learner(state)
        optimizer = make(model.parameters(), **kwargs)
        for i, ((sequence, query_y), got) in enumerate(zip(batches, out[name], strict=True)):
            where = f" ({name}, step {i + 1})"
            logits = model(sequence)
            m = query_y.shape[1]
            loss = F.cross_entropy(logits[:, -m:].reshape(-1, 4), query_y.reshape(-1))
            assert not got["graph"], "return the loss and the logits without their graph (.detach())" + where
            assert torch.allclose(got["loss"], loss.detach(), atol=1e-10), \
                "the loss returned must be the query loss before the step" + where
            assert torch.allclose(got["logits"], logits.detach(), atol=1e-10), \
                "the logits returned must be the learner's, before the step" + where
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            stepped = all(torch.allclose(got["state"][k], v, atol=1e-10)
                          for k, v in model.state_dict().items())
            assert stepped, "after the step the parameters must be one optimiser step on the query loss's " \
                "gradient, the previous gradients cleared first" + where
