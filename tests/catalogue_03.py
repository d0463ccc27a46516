"""Notebook 03's part of the classic-mistake catalogue (see classic_mistakes.py): mistakes beyond the
end-to-end sample listed there, and valid alternatives."""

from __future__ import annotations

from classic_mistakes import Alternative, Mistake

MISTAKES: list[Mistake] = [
    # sweep_data
    Mistake("sweep_same_data_seed", "sweep_data", "test_sweep_data",
            "data_seed=data_seed + s,", "data_seed=data_seed,",
            "every seed of a similarity draws its examples with the same data_seed"),
    Mistake("sweep_hard_coded_d", "sweep_data", "test_sweep_data",
            "(p, n_examples, d=d, c=c", "(p, n_examples, d=cfg.d, c=c",
            "the input dimension taken from the config instead of the argument d"),
    Mistake("sweep_ignores_c", "sweep_data", "test_sweep_data",
            "c=c, seed=s, data_seed=data_seed + s,", "seed=s, data_seed=data_seed + s,",
            "the weight norm c not passed on: the generator's default is used"),
    Mistake("sweep_seeds_from_one", "sweep_data", "test_sweep_data",
            "range(n_seeds)", "range(1, n_seeds + 1)",
            "seeds counted from 1 to n_seeds instead of from 0"),
    Mistake("sweep_cat_not_stack", "sweep_data", "test_sweep_data",
            "y = torch.stack([t.y for t in sets])", "y = torch.cat([t.y for t in sets])",
            "the members concatenated along the examples instead of stacked in a new dimension"),
    # task_gradients
    Mistake("grads_without_retain_graph", "task_gradients", "test_task_gradients",
            "retain_graph=True, allow_unused=True)", "allow_unused=True)",
            "the graph is not kept between the tasks' gradients: it is freed after the first one"),
    Mistake("grads_without_allow_unused", "task_gradients", "test_task_gradients",
            "retain_graph=True, allow_unused=True)", "retain_graph=True)",
            "every loss is assumed to depend on every shared parameter"),
    Mistake("grads_via_backward", "task_gradients", "test_task_gradients",
            "grads = torch.autograd.grad(loss, shared_parameters, retain_graph=True, allow_unused=True)",
            "loss.backward(retain_graph=True)\n        grads = [p.grad for p in shared_parameters]",
            "the task gradients read from .grad after backward: they accumulate from task to task"),
    Mistake("grads_of_the_total_loss", "task_gradients", "test_task_gradients",
            "torch.autograd.grad(loss, shared_parameters,",
            "torch.autograd.grad(sum(task_losses), shared_parameters,",
            "each row is the gradient of the summed loss instead of the task's own loss"),
    Mistake("grads_scalar_zero_for_unused", "task_gradients", "test_task_gradients",
            "torch.zeros_like(p) if g is None", "torch.zeros(1) if g is None",
            "a parameter a loss does not use contributes one zero instead of one zero per number"),
    Mistake("grads_cat_not_stack", "task_gradients", "test_task_gradients",
            "return torch.stack(rows)", "return torch.cat(rows)",
            "the rows concatenated into one long vector instead of stacked into a (T, P) matrix"),
    # gradient_cosine
    Mistake("cosine_norm_over_tasks", "gradient_cosine", "test_gradient_cosine",
            "grads.norm(dim=1, keepdim=True)", "grads.norm(dim=0, keepdim=True)",
            "the norms taken over the tasks (dim 0) instead of over each gradient"),
    Mistake("cosine_no_zero_guard", "gradient_cosine", "test_gradient_cosine",
            ".clamp_min(1e-12)", "",
            "no guard against a zero gradient: 0 / 0 gives NaN"),
    Mistake("cosine_squared_norm", "gradient_cosine", "test_gradient_cosine",
            "grads.norm(dim=1, keepdim=True)", "grads.pow(2).sum(dim=1, keepdim=True)",
            "each gradient divided by its squared norm, as in the projection formula"),
    Mistake("cosine_frobenius_norm", "gradient_cosine", "test_gradient_cosine",
            "grads.norm(dim=1, keepdim=True)", "grads.norm()",
            "all gradients divided by the norm of the whole matrix"),
    Mistake("cosine_wrong_transpose", "gradient_cosine", "test_gradient_cosine",
            "unit @ unit.T", "unit.T @ unit",
            "the product taken over the tasks: a (P, P) matrix instead of (T, T)"),
    # pcgrad
    Mistake("pcgrad_conflict_of_the_original", "pcgrad", "test_pcgrad",
            "dot = projected[i] @ grads[j]", "dot = grads[i] @ grads[j]",
            "conflicts tested (and projected) with the original g_i instead of the already-projected one"),
    Mistake("pcgrad_restarts_from_the_original", "pcgrad", "test_pcgrad",
            "projected[i] = projected[i] - dot", "projected[i] = grads[i] - dot",
            "each projection starts again from the original g_i: only the last one counts"),
    Mistake("pcgrad_in_place", "pcgrad", "test_pcgrad",
            "projected = grads.clone()", "projected = grads",
            "the gradients projected in place: the input changes and later tasks see projected g_j"),
    Mistake("pcgrad_norm_not_squared", "pcgrad", "test_pcgrad",
            "grads[j].pow(2).sum().clamp_min(1e-20)", "grads[j].norm().clamp_min(1e-20)",
            "the projection divides by |g_j| instead of |g_j|^2"),
    Mistake("pcgrad_adds_the_component", "pcgrad", "test_pcgrad",
            "projected[i] = projected[i] - dot", "projected[i] = projected[i] + dot",
            "the conflicting component added instead of removed"),
    Mistake("pcgrad_fixed_order", "pcgrad", "test_pcgrad",
            "torch.randperm(n_tasks, generator=generator).tolist()", "range(n_tasks)",
            "the other tasks always visited in the same order: no random order"),
    Mistake("pcgrad_ignores_generator", "pcgrad", "test_pcgrad",
            "torch.randperm(n_tasks, generator=generator)", "torch.randperm(n_tasks)",
            "the generator argument ignored: the order cannot be reproduced"),
    # pcgrad_backward
    Mistake("pcgrad_backward_accumulates_heads", "pcgrad_backward", "test_pcgrad_backward",
            "    for p, g in zip(heads, torch.autograd.grad(total, heads, retain_graph=True, "
            "allow_unused=True)):\n"
            "        p.grad = torch.zeros_like(p) if g is None else g\n",
            "    total.backward(retain_graph=True)\n",
            "the heads' gradient set with backward(): it adds to the old .grad instead of overwriting it"),
    Mistake("pcgrad_backward_offset_not_advanced", "pcgrad_backward", "test_pcgrad_backward",
            "        offset += p.numel()\n", "",
            "every shared parameter reads the start of the combined vector"),
    Mistake("pcgrad_backward_ignores_generator", "pcgrad_backward", "test_pcgrad_backward",
            "pcgrad(task_gradients(task_losses, params), generator)",
            "pcgrad(task_gradients(task_losses, params))",
            "the generator argument not passed on to pcgrad"),
    Mistake("pcgrad_backward_mean_for_heads", "pcgrad_backward", "test_pcgrad_backward",
            "total = sum(task_losses)", "total = sum(task_losses) / len(task_losses)",
            "the heads get the gradient of the mean loss instead of the sum"),
    Mistake("pcgrad_backward_not_reshaped", "pcgrad_backward", "test_pcgrad_backward",
            ".view_as(p).clone()", ".clone()",
            "the flat slice assigned to .grad without reshaping it to the parameter's shape"),
    # uncertainty_weighted_loss
    Mistake("uncertainty_exp_plus", "uncertainty_weighted_loss", "test_uncertainty_weighted_loss",
            "torch.exp(-log_variances)", "torch.exp(log_variances)",
            "the losses weighted by sigma^2 instead of 1 / sigma^2"),
    Mistake("uncertainty_sum_everything", "uncertainty_weighted_loss", "test_uncertainty_weighted_loss",
            ".sum(dim=-1)", ".sum()",
            "the sum taken over every dimension, also the leading ones"),
    Mistake("uncertainty_mean_over_tasks", "uncertainty_weighted_loss", "test_uncertainty_weighted_loss",
            ".sum(dim=-1)", ".mean(dim=-1)",
            "the weighted task losses averaged instead of summed"),
    Mistake("uncertainty_detached_weights", "uncertainty_weighted_loss", "test_uncertainty_weighted_loss",
            "torch.exp(-log_variances)", "torch.exp(-log_variances.detach())",
            "the weights detached: the log-variances only learn from the + s_i term"),
    Mistake("uncertainty_half_weights", "uncertainty_weighted_loss", "test_uncertainty_weighted_loss",
            "torch.exp(-log_variances) * task_losses", "0.5 * torch.exp(-log_variances) * task_losses",
            "the regression form 1 / (2 sigma^2) used where the exercise asks for exp(-s_i)"),
]

ALTERNATIVES: list[Alternative] = [
    Alternative("sweep_explicit_loops", "sweep_data", "test_sweep_data",
                "    sets = [mtml.correlated_regression_tasks(p, n_examples, d=d, c=c, seed=s, "
                "data_seed=data_seed + s,\n"
                "                                             device=device)\n"
                "            for p in p_values for s in range(n_seeds)]\n",
                "    sets = []\n    for p in p_values:\n        for s in range(n_seeds):\n"
                "            sets.append(mtml.correlated_regression_tasks(p, n_examples, d=d, c=c, seed=s,\n"
                "                                                         data_seed=data_seed + s, "
                "device=device))\n",
                "nested loops with append instead of a comprehension"),
    Alternative("sweep_zip_stack", "sweep_data", "test_sweep_data",
                "    x = torch.stack([t.x for t in sets])  # (P * S, n, d)\n"
                "    y = torch.stack([t.y for t in sets])  # (P * S, n, 2)\n",
                "    x, y = (torch.stack(parts) for parts in zip(*[(t.x, t.y) for t in sets]))\n",
                "x and y stacked in one go from the zipped pairs"),
    Alternative("grads_materialize", "task_gradients", "test_task_gradients",
                "retain_graph=True, allow_unused=True)",
                "retain_graph=True, allow_unused=True, materialize_grads=True)",
                "autograd fills the unused parameters' gradients with zeros itself"),
    Alternative("grads_parameters_to_vector", "task_gradients", "test_task_gradients",
                "rows.append(torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1)\n"
                "                               for g, p in zip(grads, shared_parameters)]))",
                "rows.append(torch.nn.utils.parameters_to_vector(\n"
                "            [torch.zeros_like(p) if g is None else g\n"
                "             for g, p in zip(grads, shared_parameters)]))",
                "flattening with torch.nn.utils.parameters_to_vector"),
    Alternative("cosine_normalize", "gradient_cosine", "test_gradient_cosine",
                "unit = grads / grads.norm(dim=1, keepdim=True).clamp_min(1e-12)",
                "unit = torch.nn.functional.normalize(grads, dim=1)",
                "F.normalize divides each row by its norm, with its own guard against zero"),
    Alternative("cosine_similarity_broadcast", "gradient_cosine", "test_gradient_cosine",
                "return unit @ unit.T",
                "return torch.nn.functional.cosine_similarity(grads[:, None], grads[None], dim=-1)",
                "torch's cosine_similarity, broadcast over all pairs"),
    Alternative("cosine_float64_inside", "gradient_cosine", "test_gradient_cosine",
                "return unit @ unit.T", "return (unit.double() @ unit.double().T).to(grads.dtype)",
                "the products taken in float64 and cast back"),
    Alternative("pcgrad_copy_into_empty", "pcgrad", "test_pcgrad",
                "projected = grads.clone()", "projected = torch.empty_like(grads).copy_(grads)",
                "a fresh tensor filled with a copy of the input instead of clone()"),
    Alternative("pcgrad_float_dot", "pcgrad", "test_pcgrad",
                "            if dot < 0:", "            if float(dot) < 0.0:",
                "the conflict test done on a Python float"),
    Alternative("pcgrad_torch_dot", "pcgrad", "test_pcgrad",
                "dot = projected[i] @ grads[j]", "dot = torch.dot(projected[i], grads[j])",
                "torch.dot instead of the @ operator"),
    Alternative("pcgrad_backward_split", "pcgrad_backward", "test_pcgrad_backward",
                "    offset = 0\n    for p in params:\n"
                "        p.grad = combined[offset:offset + p.numel()].view_as(p).clone()\n"
                "        offset += p.numel()\n",
                "    for p, piece in zip(params, combined.split([p.numel() for p in params])):\n"
                "        p.grad = piece.reshape(p.shape).clone()\n",
                "the combined vector split with torch.split instead of by hand"),
    Alternative("pcgrad_backward_vector_to_parameters", "pcgrad_backward", "test_pcgrad_backward",
                "    offset = 0\n    for p in params:\n"
                "        p.grad = combined[offset:offset + p.numel()].view_as(p).clone()\n"
                "        offset += p.numel()\n",
                "    grads = [torch.empty_like(p) for p in params]\n"
                "    torch.nn.utils.vector_to_parameters(combined, grads)\n"
                "    for p, g in zip(params, grads):\n        p.grad = g\n",
                "the combined vector unflattened with torch.nn.utils.vector_to_parameters"),
    Alternative("uncertainty_divide", "uncertainty_weighted_loss", "test_uncertainty_weighted_loss",
                "torch.exp(-log_variances) * task_losses", "task_losses / torch.exp(log_variances)",
                "dividing by sigma^2 instead of multiplying by exp(-s)"),
    Alternative("uncertainty_two_sums", "uncertainty_weighted_loss", "test_uncertainty_weighted_loss",
                "return (torch.exp(-log_variances) * task_losses + log_variances).sum(dim=-1)",
                "weighted = task_losses * (-log_variances).exp()\n"
                "    return weighted.sum(-1) + log_variances.expand_as(task_losses).sum(-1)",
                "the weighted losses and the regulariser summed separately"),
]
