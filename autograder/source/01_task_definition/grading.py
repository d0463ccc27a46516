"""Hidden tests of 01_task_definition, run by the grader outside the student's kernel.

Each ``test_*`` function is named after a test cell's ``grade_id``. ``t.run(code, **inputs)`` runs
``code`` in the student's kernel and returns what it assigns to ``result``; every reference value and
every comparison stays here (see ``autograder/hidden.py``).
"""

import torch

TASK_DATA = "TaskData(inputs['x'][i], inputs['y'][i], str(i)) for i in range(len(inputs['x']))"
# Validation is checked on valid and invalid inputs mixed, through `raises` (which runs in the kernel): a
# kernel that patches `raises` to answer "ValueError" without validating fails on the valid ones.


def test_one_hot_descriptors(t):
    g = torch.Generator().manual_seed(1234)
    sizes = [1, 5, 17, 9]
    # the last batch only uses ids 0..3 of 9 tasks: the width must come from n_tasks, not from the ids
    ids = [torch.randint(0, n, (50,), generator=g) for n in sizes[:3]]
    ids.append(torch.randint(0, 4, (50,), generator=g))
    out = t.run(
        """
        result = {
            "z": [one_hot_descriptors(i, n) for i, n in zip(inputs["ids"], inputs["sizes"])],
            "empty": one_hot_descriptors(torch.zeros(0, dtype=torch.long), 4),
            "checked": [raises(one_hot_descriptors, b, 3) for b in inputs["checked"]],
        }
        """,
        ids=ids, sizes=sizes,
        checked=[torch.tensor([0, 3]), torch.tensor([2, 0, 1]), torch.tensor([-1, 0]), torch.tensor([1, 1])],
    )
    for n, i, z in zip(sizes, ids, out["z"], strict=True):
        assert z.shape == (50, n) and z.dtype == torch.float32, "z must be float32 of shape (batch, n_tasks)"
        assert torch.equal(z, torch.eye(n)[i]), "rows must be rows of the identity matrix"
    assert out["empty"].shape == (0, 4), "an empty batch must give a (0, n_tasks) tensor"
    assert out["checked"] == ["ValueError", None, "ValueError", None], \
        f"ids [0, 3], [2, 0, 1], [-1, 0], [1, 1] with n_tasks=3: expected ValueError exactly for those " \
        f"with an index outside 0..2, got {out['checked']}"


def test_split_per_class(t):
    y = torch.randint(0, 7, (300,), generator=torch.Generator().manual_seed(7))
    out = t.run(
        """
        y = inputs["y"]
        split = lambda seed: split_per_class(y, 5, torch.Generator().manual_seed(seed))
        result = {
            "first": split(1), "again": split(1), "others": [split(s)[0] for s in range(2, 6)],
            "checked": [raises(split_per_class, c, n, torch.Generator().manual_seed(0))
                        for c, n in inputs["checked"]],
            "sparse": split_per_class(inputs["sparse"], 2, torch.Generator().manual_seed(0)),
        }
        """,
        y=y, sparse=3 * y[:60] + 2,
        checked=[(torch.tensor([0, 0, 1]), 1), (torch.tensor([0, 0, 1, 1]), 1),
                 (torch.tensor([2, 2, 2, 5, 5]), 2), (torch.tensor([2, 2, 2, 5, 5, 5]), 2)],
    )
    train, test = out["first"]
    assert train.dtype == torch.long and test.dtype == torch.long, "indices must be int64"
    everything = torch.cat([train, test]).sort().values
    assert torch.equal(everything, torch.arange(300)), "must cover every index once"
    assert torch.equal(torch.bincount(y[train], minlength=7), torch.full((7,), 5)), "exactly n per class"
    assert torch.equal(train, train.sort().values) and torch.equal(test, test.sort().values), "indices sorted"
    assert torch.equal(train, out["again"][0]), "same generator seed, same split"
    assert any(not torch.equal(train, other) for other in out["others"]), "the split must be random"
    assert out["checked"] == ["ValueError", None, "ValueError", None], \
        f"labels [0, 0, 1] and [2, 2, 2, 5, 5] with n_train_per_class 1 and 2 must raise ValueError (a " \
        f"class has n or fewer examples), [0, 0, 1, 1] and [2, 2, 2, 5, 5, 5] must not; got {out['checked']}"
    sparse = 3 * y[:60] + 2
    train, test = out["sparse"]
    assert torch.equal(torch.cat([train, test]).sort().values, torch.arange(60)) and torch.equal(
        torch.bincount(sparse[train], minlength=21)[2::3], torch.full((7,), 2)), \
        "labels 2, 5, .., 20 (not 0..C-1): the classes are the labels that occur, n per class"


def test_sample_task_batch(t):
    sizes = [3, 8, 12, 20, 50]
    xs = [torch.arange(n).float().view(n, 1, 1, 1) + 1000 * i for i, n in enumerate(sizes)]
    ys = [torch.arange(n) + 1000 * i for i, n in enumerate(sizes)]
    out = t.run(
        f"""
        toy = [{TASK_DATA}]
        g = torch.Generator().manual_seed(3)
        many = [sample_task_batch(toy, 2, 6, g) for _ in range(400)]
        g = torch.Generator().manual_seed(4)
        last = [sample_task_batch(toy[4:], 1, 6, g) for _ in range(60)]
        again = []
        for seed in range(9, 14):
            first = sample_task_batch(toy, 3, 4, torch.Generator().manual_seed(seed))
            torch.rand(7)  # the global random state moves on; the generator alone decides the batch
            again.append((first, sample_task_batch(toy, 3, 4, torch.Generator().manual_seed(seed))))
        result = {{"many": many, "last": last, "again": again}}
        """,
        x=xs, y=ys,
    )
    counts = torch.zeros(5)
    for batch in out["many"]:
        assert len(batch) == 2 and batch[0][0] != batch[1][0], "meta_batch_size distinct tasks"
        for task_id, x, y in batch:
            assert type(task_id) is int, "task ids must be Python ints"
            counts[task_id] += 1
            assert len(y) == min(6, sizes[task_id]), "batch_size examples, or all of a small task"
            assert len(set(y.tolist())) == len(y), "examples are sampled without replacement"
            assert bool((y // 1000 == task_id).all()), "examples must come from the chosen task"
            assert torch.equal(x.view(-1), y.float()), "x and y must stay paired"
    assert float(counts.min()) > 120, f"tasks must be sampled uniformly (160 each), got {counts.tolist()}"
    seen = {int(v) for batch in out["last"] for _, _, y in batch for v in y}
    assert len(seen) == 50, f"examples must be drawn at random from the whole task, saw {len(seen)} of 50"
    for first, second in out["again"]:
        pairs = zip(first, second, strict=True)
        same = all(t1 == t2 and torch.equal(y1, y2) for (t1, _, y1), (t2, _, y2) in pairs)
        assert same, "the same generator seed must give the same batch (tasks and examples)"


def test_multitask_loss(t):
    g = torch.Generator().manual_seed(11)
    losses = torch.rand(7, generator=g, dtype=torch.float64)
    weights = torch.rand(7, generator=g, dtype=torch.float64)
    weights[2] = 0.0  # non-negative: a weight of zero is valid
    zero = t.run("result = raises(multitask_loss, torch.ones(3), torch.tensor([1.0, 0.0, 2.0]))")
    assert zero is None, f"a weight of zero is valid (non-negative) and must not raise, got {zero}"
    out = t.run(
        """
        losses = inputs["losses"].clone().requires_grad_()
        total = multitask_loss(losses, inputs["weights"])
        total.backward()
        result = {
            "total": total, "grad": losses.grad, "unweighted": multitask_loss(torch.ones(3)),
            "bad": [raises(multitask_loss, torch.ones(3), w) for w in inputs["bad"]],
        }
        """,
        losses=losses, weights=weights, bad=[torch.ones(2), torch.ones(1), torch.tensor([1.0, -1.0, 1.0])],
    )
    assert out["total"].dim() == 0, "the loss must be a scalar (0-dimensional tensor)"
    assert torch.allclose(out["total"], torch.dot(losses, weights)), "the loss must be sum_i w_i * L_i"
    assert out["grad"] is not None and torch.allclose(out["grad"], weights), "d loss / d L_i must be w_i"
    assert float(out["unweighted"]) == 3.0, "without weights every task weighs 1"
    assert out["bad"] == ["ValueError"] * 3, \
        f"weights of shape (2,) or (1,) for 3 losses, or a negative weight, must raise ValueError, " \
        f"got {out['bad']}"


def test_union_of_datasets(t):
    g = torch.Generator().manual_seed(5)
    sizes = [4, 1, 7, 3]
    xs = [torch.randn(n, 1, 3, 3, generator=g) for n in sizes]
    ys = [torch.randint(0, 9, (n,), generator=g) for n in sizes]
    out = t.run(
        f"""
        toy = [{TASK_DATA}]
        result = {{"all": union_of_datasets(toy), "one": union_of_datasets(toy[:1])}}
        """,
        x=xs, y=ys,
    )
    x, y, task_id = out["all"]
    assert torch.equal(x, torch.cat(xs)) and torch.equal(y, torch.cat(ys)), \
        "examples must be concatenated in task order"
    expected_ids = torch.repeat_interleave(torch.arange(4), torch.tensor(sizes))
    assert task_id.dtype == torch.long and torch.equal(task_id, expected_ids), \
        "task_id must be int64 and hold the index of each example's task"
    assert torch.equal(out["one"][2], torch.zeros(4, dtype=torch.long)), "one task: every task_id is 0"


def test_inverse_loss_weights(t):
    losses = torch.tensor([0.5, 3.0, 40.0, 1.0], dtype=torch.float64)
    out = t.run(
        """
        result = {
            "w": inverse_loss_weights(inputs["losses"].clone().requires_grad_()),
            "equal": inverse_loss_weights(torch.full((3,), 7.0)),
            "checked": [raises(inverse_loss_weights, losses) for losses in inputs["checked"]],
        }
        """,
        losses=losses,
        checked=[torch.tensor([1.0, 0.0]), torch.tensor([2.0, 0.5]), torch.tensor([-1.0, 2.0]),
                 torch.tensor([3.0])],
    )
    w = out["w"]
    assert not w.requires_grad, "weights must be detached"
    assert w.dtype == torch.float64, "weights keep the dtype of the losses"
    assert torch.allclose(w * losses, (w * losses)[0].expand(4)), "w_i * L_i must be equal for all tasks"
    assert torch.allclose(w.sum(), torch.tensor(4.0, dtype=torch.float64)), \
        "weights must sum to the number of tasks"
    assert torch.allclose(out["equal"], torch.ones(3)), "equal losses give weights of one"
    assert out["checked"] == ["ValueError", None, "ValueError", None], \
        f"losses [1, 0] and [-1, 2] must raise ValueError (a loss that is not positive), [2, 0.5] and [3] " \
        f"must not; got {out['checked']}"
