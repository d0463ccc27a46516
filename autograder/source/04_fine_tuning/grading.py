"""Hidden tests of 04_fine_tuning, run by the grader outside the student's kernel.

Each ``test_*`` function is named after a test cell's ``grade_id``. ``t.run(code, **inputs)`` runs
``code`` in the student's kernel and returns what it assigns to ``result``; every reference value and
every comparison stays here (see ``autograder/hidden.py``).

The models are built here from fixed seeds and their weights sent into the kernel, so the grader knows
every weight before the student's code runs and computes the reference results itself.
"""

import math

import torch
import torch.nn.functional as F
from torch import nn

from mtml_utils.transfer import ConvClassifier, train_classifier


def small_model(seed, n_classes):
    """A ConvClassifier with 4 channels on 20px images (feature_dim 4), in train mode, from ``seed``."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return ConvClassifier(n_classes, channels=4, image_size=20).train()


def state_of(model):
    """A copy of the model's state_dict as a plain dict (what can be sent to the kernel)."""
    return {name: value.detach().clone() for name, value in model.state_dict().items()}


def probe_data(seed, n, n_classes):
    """Images (n, 1, 20, 20) and labels 0, 1, …, n_classes-1, 0, 1, …"""
    x = torch.rand(n, 1, 20, 20, generator=torch.Generator().manual_seed(seed))
    return x, torch.arange(n) % n_classes


def reference_linear_probe(model, x, y, n_steps, lr):
    """Freeze the blocks (eval mode), compute the features once, full-batch Adam on the head."""
    for name, child in model.named_children():
        child.requires_grad_(name == "head").train(name == "head")
    with torch.no_grad():
        features = model.features(x)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=lr)
    for _ in range(n_steps):
        optimizer.zero_grad()
        F.cross_entropy(model.head(features), y).backward()
        optimizer.step()
    return model


def test_set_trainable(t):
    model = small_model(0, 5)
    g = torch.Generator().manual_seed(10)
    batches = [torch.rand(8, 1, 20, 20, generator=g) for _ in range(3)]
    out = t.run(
        """
        m = ConvClassifier(5, channels=4, image_size=20)
        m.load_state_dict(inputs["state"])
        m.train()
        set_trainable(m.block2, False)
        frozen = {"requires_grad": [p.requires_grad for p in m.block2.parameters()],
                  "training": [module.training for module in m.block2.modules()]}
        optimizer = torch.optim.Adam(m.parameters(), lr=0.1)
        for x in inputs["batches"]:
            optimizer.zero_grad()
            F.cross_entropy(m(x), torch.arange(8) % 5).backward()
            optimizer.step()
        seq = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4),
                            nn.Sequential(nn.Linear(4, 2), nn.Dropout(0.5)))
        flags = lambda: {"requires_grad": [p.requires_grad for p in seq.parameters()],
                         "training": [module.training for module in seq.modules()]}
        returned = [set_trainable(seq, False) is seq]
        off = flags()
        returned.append(set_trainable(seq, True) is seq)
        result = {"frozen": frozen, "state": dict(m.state_dict()), "off": off, "on": flags(),
                  "returned": returned}
        """,
        state=state_of(model), batches=batches,
    )
    before, after = state_of(model), out["state"]
    assert not any(out["frozen"]["requires_grad"]), \
        "freezing must set requires_grad=False on every parameter: weights, biases, BatchNorm scale and shift"
    assert not any(out["frozen"]["training"]), "every sub-module of a frozen block must be in eval mode"
    for name in before:
        if name.startswith("block2."):
            assert torch.equal(after[name], before[name]), \
                f"frozen parameter or BatchNorm statistic {name} changed during training"
    assert not torch.equal(after["block3.1.running_mean"], before["block3.1.running_mean"]), \
        "blocks that are not frozen must keep training (their BatchNorm statistics too)"
    assert not any(out["off"]["requires_grad"]) and not any(out["off"]["training"]), \
        "freezing a nested module must freeze every parameter and put every sub-module in eval mode"
    assert all(out["on"]["requires_grad"]) and all(out["on"]["training"]), \
        "unfreezing must make every parameter trainable and put every sub-module back in train mode"
    assert out["returned"] == [True, True], "set_trainable must return the module it was given"


def test_new_head(t):
    out = t.run(
        """
        m = ConvClassifier(5, channels=4, image_size=20).double()
        old = m.head
        old.requires_grad_(False)
        new_head(m, 3)
        heads = [new_head(ConvClassifier(5, channels=4, image_size=20), 3).head.weight for _ in range(2)]
        result = {"new": m.head is not old, "linear": isinstance(m.head, nn.Linear),
                  "weight": m.head.weight, "bias": m.head.bias, "heads": heads}
        """,
    )
    feature_dim = small_model(0, 5).feature_dim
    assert out["bias"] is not None, "the new head must have a bias, as nn.Linear has by default"
    weight, bias = out["weight"].detach(), out["bias"].detach()
    assert out["new"] and out["linear"], "the head must be replaced by a new nn.Linear"
    assert weight.shape == (3, feature_dim) and bias.shape == (3,), \
        "the new head must read feature_dim inputs and have n_classes outputs"
    assert weight.dtype == torch.float64 and bias.dtype == torch.float64, \
        "the new head must have the same dtype as the old one"
    assert out["weight"].requires_grad and out["bias"].requires_grad, "the new head must be trainable"
    bound = 1 / feature_dim**0.5
    within = float(weight.abs().max()) <= bound + 1e-12 and float(bias.abs().max()) <= bound + 1e-12
    assert within and float(weight.std()) > 0.2 * bound, \
        "the new head must use nn.Linear's default initialisation"
    assert not torch.equal(*out["heads"]), "every new head must be freshly (randomly) initialised"


LAYERWISE_LR_GROUPS = """
def described(groups, model):
    names = {id(p): name for name, p in model.named_parameters()}
    return [{"name": g["name"], "lr": g["lr"], "params": [names.get(id(p), "?") for p in g["params"]]}
            for g in groups]

m = ConvClassifier(5, channels=4, image_size=20)
every = described(layerwise_lr_groups(m, 0.01, 0.5), m)
m.block1.requires_grad_(False)
m.block3[0].bias.requires_grad_(False)
frozen = described(layerwise_lr_groups(m, 1.0, 0.1), m)
m = ConvClassifier(5, channels=4, image_size=20)
m.block3.requires_grad_(False)
middle = described(layerwise_lr_groups(m, 0.2, 0.3), m)
seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)),
                    nn.Linear(4, 2))
result = {"every": every, "frozen": frozen, "middle": middle,
          "nested": described(layerwise_lr_groups(seq, 0.3, 0.5), seq)}
"""


def check_groups(groups, names, lrs, params, message):
    assert [g["name"] for g in groups] == names, message
    for g in groups:
        assert all(p.split(".")[0] == g["name"] for p in g["params"]), \
            "each group must hold the parameters of its own child, and only those"
    got = [float(g["lr"]) for g in groups]
    assert all(math.isclose(a, b, rel_tol=1e-9) for a, b in zip(got, lrs, strict=True)), \
        "the learning rates must decay by `decay` per position, counting frozen children too"
    listed = sorted(p for g in groups for p in g["params"])
    assert listed == sorted(params), \
        "every trainable parameter must be in exactly one group: none dropped, repeated or frozen"


def test_layerwise_lr_groups(t):
    out = t.run(LAYERWISE_LR_GROUPS)
    model = small_model(0, 5)
    names = [name for name, _ in model.named_parameters()]
    blocks = ["block1", "block2", "block3", "block4", "head"]
    check_groups(out["every"], blocks, [0.01 * 0.5**k for k in (4, 3, 2, 1, 0)], names,
                 "one group per child, in the order of the children")
    trainable = [n for n in names if not n.startswith("block1.") and n != "block3.0.bias"]
    check_groups(out["frozen"], blocks[1:], [0.001, 0.01, 0.1, 1.0], trainable,
                 "a child whose parameters are all frozen must get no group")
    check_groups(out["middle"], ["block1", "block2", "block4", "head"], [0.2 * 0.3**k for k in (4, 3, 1, 0)],
                 [n for n in names if not n.startswith("block3.")],
                 "a frozen child in the middle gets no group but still counts for the positions")
    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)),
                        nn.Linear(4, 2))
    check_groups(out["nested"], ["0", "2", "3"], [0.075, 0.15, 0.3], [n for n, _ in seq.named_parameters()],
                 "children without parameters must be skipped")


#: A correct set_trainable for the probes below, so a mistake in the student's costs only its own test.
STAND_IN_SET_TRAINABLE = """
def stand_in_set_trainable(module, trainable):
    for p in module.parameters():
        p.requires_grad_(trainable)
    module.train(trainable)
    return module
"""


# linear_probe is graded on its own: a stand-in set_trainable replaces the student's during the call
# (so a mistake there costs nothing here), and is put back afterwards.
LINEAR_PROBE = STAND_IN_SET_TRAINABLE + """
m = ConvClassifier(4, channels=4, image_size=20)
m.load_state_dict(inputs["state"])
m.train()
m.head.requires_grad_(False)  # frozen earlier: the probe must unfreeze it
names = globals()
learners = {k: names[k] for k in ("set_trainable",) if k in names}
names.update(set_trainable=stand_in_set_trainable)
try:
    history = linear_probe(m, inputs["x"], inputs["y"], n_steps=20, lr=0.02)
finally:
    names.update(learners)
result = {"records": len(history), "state": dict(m.state_dict()),
          "training": [module.training for name in m.block_names for module in getattr(m, name).modules()]}
"""


def test_linear_probe(t):
    model = small_model(3, 4)
    x, y = probe_data(3, 24, 4)
    out = t.run(LINEAR_PROBE, state=state_of(model), x=x, y=y)
    before, after = state_of(model), out["state"]
    reference = state_of(reference_linear_probe(model, x, y, n_steps=20, lr=0.02))
    assert out["records"] == 20, "the history must have one record per step"
    for name in before:
        if not name.startswith("head."):
            assert torch.equal(after[name], before[name]), \
                f"the encoder must not change while probing (its BatchNorm statistics neither): {name} did"
    assert not any(out["training"]), "the frozen blocks must be in eval mode"
    for name in ("head.weight", "head.bias"):
        assert torch.allclose(after[name], reference[name], atol=1e-5), \
            "the head (even if frozen before) must be trained with full-batch Adam, the given lr, on the " \
            "cross-entropy of the frozen features"


# lp_ft is graded on its own: stand-ins for set_trainable, linear_probe and layerwise_lr_groups replace
# the student's versions during the calls, and are put back afterwards.
LP_FT = STAND_IN_SET_TRAINABLE + """
def stand_in_linear_probe(model, x, y, n_steps, lr):
    for name, child in model.named_children():
        stand_in_set_trainable(child, name == "head")
    with torch.no_grad():
        features = model.features(x)
    optimizer = torch.optim.Adam(model.head.parameters(), lr=lr)
    return mtml.fit(lambda step: F.cross_entropy(model.head(features), y), optimizer, n_steps, progress=False)

def stand_in_layerwise_lr_groups(model, head_lr, decay):
    layers = [child for _, child in model.named_children()]
    return [{"params": [p for p in child.parameters() if p.requires_grad],
             "lr": head_lr * decay ** (len(layers) - 1 - i)}
            for i, child in enumerate(layers) if any(p.requires_grad for p in child.parameters())]

m = ConvClassifier(4, channels=4, image_size=20)
m.load_state_dict(inputs["state"])
m.train()
x, y = inputs["x"], inputs["y"]
names = globals()
learners = {k: names[k] for k in ("set_trainable", "linear_probe", "layerwise_lr_groups") if k in names}
names.update(set_trainable=stand_in_set_trainable, linear_probe=stand_in_linear_probe,
             layerwise_lr_groups=stand_in_layerwise_lr_groups)
try:
    lp_ft(m, x, y, probe_steps=15, probe_lr=0.05, finetune_steps=3, head_lr=0.0, decay=0.5, batch_size=8,
          seed=3)
    probed = {k: v.detach().clone() for k, v in m.state_dict().items()}
    lp_ft(m, x, y, probe_steps=2, probe_lr=0.03, finetune_steps=3, head_lr=0.02, decay=0.3, batch_size=8,
          seed=5)
finally:
    names.update(learners)
result = {"probed": probed, "tuned": dict(m.state_dict()),
          "training": [module.training for module in m.modules()],
          "requires_grad": [p.requires_grad for p in m.parameters()]}
"""


def reference_lp_ft(model, x, y):
    """The two calls of lp_ft in :data:`LP_FT`, with the reference probe and layer-wise groups."""
    calls = [dict(probe_steps=15, probe_lr=0.05, head_lr=0.0, decay=0.5, seed=3),
             dict(probe_steps=2, probe_lr=0.03, head_lr=0.02, decay=0.3, seed=5)]
    for call in calls:
        reference_linear_probe(model, x, y, n_steps=call["probe_steps"], lr=call["probe_lr"])
        model.requires_grad_(True).train()
        children = list(model.children())
        groups = [{"params": list(child.parameters()),
                   "lr": call["head_lr"] * call["decay"] ** (len(children) - 1 - i)}
                  for i, child in enumerate(children)]
        train_classifier(model, torch.optim.Adam(groups), x, y, 3, batch_size=8, seed=call["seed"],
                         progress=False)
    return model


def test_lp_ft(t):
    model = small_model(4, 4)
    x, y = probe_data(4, 24, 4)
    out = t.run(LP_FT, state=state_of(model), x=x, y=y)
    before = state_of(model)
    reference = state_of(reference_linear_probe(model, x, y, n_steps=15, lr=0.05))
    for name in ("head.weight", "head.bias"):
        assert torch.allclose(out["probed"][name], reference[name], atol=1e-6), \
            "fine-tuning must start from the probed head (with zero learning rates the head must stay probed)"
    assert not torch.equal(out["tuned"]["block1.0.weight"], before["block1.0.weight"]), \
        "stage 2 must fine-tune the encoder too"
    tuned = reference_lp_ft(small_model(4, 4), x, y)
    # Weights only: a conv bias before BatchNorm has a zero gradient up to rounding, which Adam blows up to
    # steps of size lr whose sign depends on the number of threads (and so do the running means).
    for name, value in state_of(tuned).items():
        if name.endswith(".0.bias") or ".running_" in name or name.endswith("num_batches_tracked"):
            continue
        assert torch.allclose(out["tuned"][name].to(value.dtype), value, atol=1e-4), \
            "stage 2 must be train_classifier with Adam over layerwise_lr_groups(model, head_lr, decay), " \
            "finetune_steps, batch_size and seed as given, after a probe with probe_steps and probe_lr"
    assert all(out["training"]), "after lp_ft every module must be back in train mode"
    assert all(out["requires_grad"]), "after lp_ft every parameter must be trainable"
