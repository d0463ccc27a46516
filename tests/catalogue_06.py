"""Notebook 06's part of the classic-mistake catalogue (see classic_mistakes.py): mistakes beyond the
end-to-end sample listed there, and valid alternatives."""

from __future__ import annotations

from classic_mistakes import Alternative, Mistake

MISTAKES: list[Mistake] = [
    # -- inner_adapt (three more in classic_mistakes.py) ------------------------------------------------
    Mistake("inner_lr_hard_coded", "inner_adapt", "test_inner_adapt",
            "p - inner_lr * g", "p - 0.1 * g",
            "the step size of the example (0.1) written in instead of the inner_lr argument"),
    Mistake("steps_counted_from_one", "inner_adapt", "test_inner_adapt",
            "range(n_steps)", "range(1, n_steps)",
            "the steps counted from 1 with range(1, n_steps): one step too few"),
    Mistake("support_loss_at_the_model", "inner_adapt", "test_inner_adapt",
            "functional_call(model, phi, (x,))", "model(x)",
            "model(x) evaluates the model's own parameters, not phi: fine for one step, wrong after"),
    Mistake("create_graph_always_on", "inner_adapt", "test_inner_adapt",
            "create_graph=create_graph)", "create_graph=True)",
            "create_graph ignored and always on: with False the inner gradients must be constants"),
    Mistake("gradient_ascent", "inner_adapt", "test_inner_adapt",
            "p - inner_lr * g", "p + inner_lr * g",
            "the inner step goes up the gradient instead of down"),
    Mistake("gradient_with_respect_to_the_start", "inner_adapt", "test_inner_adapt",
            "list(phi.values())", "list(params.values())",
            "every inner gradient taken with respect to the starting parameters instead of the current phi"),
    # -- maml_meta_gradient -----------------------------------------------------------------------------
    Mistake("meta_n_steps_hard_coded", "maml_meta_gradient", "test_maml_meta_gradient",
            "n_steps=n_steps, create_graph=True)", "n_steps=1, create_graph=True)",
            "one inner step hard-coded instead of the n_steps argument"),
    Mistake("meta_inner_lr_hard_coded", "maml_meta_gradient", "test_maml_meta_gradient",
            "inner_lr=inner_lr, n_steps", "inner_lr=0.1, n_steps",
            "the example's step size 0.1 written in instead of the inner_lr argument"),
    Mistake("meta_gradient_with_respect_to_phi", "maml_meta_gradient", "test_maml_meta_gradient",
            "grads = torch.autograd.grad(query_loss, list(theta.values()))",
            "grads = torch.autograd.grad(query_loss, list(phi.values()))",
            "the query loss differentiated with respect to the adapted parameters instead of theta"),
    Mistake("meta_query_loss_on_support", "maml_meta_gradient", "test_maml_meta_gradient",
            "(query[0],)), query[1])", "(support[0],)), support[1])",
            "the adapted parameters evaluated on the support set instead of the query set"),
    Mistake("meta_query_at_theta", "maml_meta_gradient", "test_maml_meta_gradient",
            "functional_call(model, phi, (query[0],))", "model(query[0])",
            "model(x) evaluates theta, not phi: the inner loop is run but never used"),
    Mistake("meta_gradient_by_backward", "maml_meta_gradient", "test_maml_meta_gradient",
            "grads = torch.autograd.grad(query_loss, list(theta.values()))",
            "query_loss.backward()\n    grads = [p.grad for p in theta.values()]",
            ".backward() fills the model's .grad, which the caller did not ask for (and accumulates)"),
    # -- linear_regression_meta_gradient ----------------------------------------------------------------
    Mistake("hessian_over_query_size", "linear_regression_meta_gradient",
            "test_linear_regression_meta_gradient",
            "hessian = 2 / n_tr", "hessian = 2 / n_ts",
            "the Hessian averaged over the number of query examples instead of support examples"),
    Mistake("query_gradient_at_theta", "linear_regression_meta_gradient",
            "test_linear_regression_meta_gradient",
            "(x_ts @ phi - y_ts)", "(x_ts @ w - y_ts)",
            "the query gradient taken at theta instead of at the adapted phi"),
    Mistake("plus_hessian", "linear_regression_meta_gradient", "test_linear_regression_meta_gradient",
            "(eye - alpha * hessian)", "(eye + alpha * hessian)",
            "the Jacobian of phi written I + alpha H: the sign of the inner step lost"),
    Mistake("identity_on_the_cpu", "linear_regression_meta_gradient", "test_linear_regression_meta_gradient",
            "torch.eye(len(w), dtype=w.dtype, device=w.device)", "torch.eye(len(w), dtype=w.dtype)",
            "torch.eye without device=: the identity stays on the CPU when the inputs live elsewhere"),
    Mistake("inner_step_ascent", "linear_regression_meta_gradient", "test_linear_regression_meta_gradient",
            "phi = w - alpha * 2", "phi = w + alpha * 2",
            "the inner step goes up the support gradient instead of down"),
    # -- hessian_vector_product -------------------------------------------------------------------------
    Mistake("hvp_first_parameter_only", "hessian_vector_product", "test_hessian_vector_product",
            "dot = sum((g * v).sum() for g, v in zip(grads, vector))", "dot = (grads[0] * vector[0]).sum()",
            "the dot product of the example with one parameter: the other parameters' blocks are dropped"),
    Mistake("gradient_times_vector", "hessian_vector_product", "test_hessian_vector_product",
            "return list(torch.autograd.grad(dot, params))", "return [g * v for g, v in zip(grads, vector)]",
            "the gradient multiplied by the vector elementwise, no second derivative"),
    Mistake("hessian_row_sums_times_vector", "hessian_vector_product", "test_hessian_vector_product",
            "return list(torch.autograd.grad(dot, params))",
            "rows = torch.autograd.grad(sum(g.sum() for g in grads), params)\n"
            "    return [r * v for r, v in zip(rows, vector)]",
            "the gradient of the summed gradient (H times ones) multiplied by v elementwise, not H v"),
    Mistake("hessian_by_rows", "hessian_vector_product", "test_hessian_vector_product",
            "dot = sum((g * v).sum() for g, v in zip(grads, vector))\n"
            "    return list(torch.autograd.grad(dot, params))",
            "flat = torch.cat([g.reshape(-1) for g in grads])\n"
            "    rows = [torch.cat([h.reshape(-1) for h in torch.autograd.grad(\n"
            "        gi, params, retain_graph=True, materialize_grads=True)]) for gi in flat]\n"
            "    hv = torch.stack(rows) @ torch.cat([v.reshape(-1) for v in vector])\n"
            "    return [c.view_as(p) for c, p in zip(hv.split([p.numel() for p in params]), params)]",
            "the Hessian formed row by row (one gradient per entry of the gradient), then multiplied by v: "
            "right numbers, P times the cost"),
    Mistake("hvp_detached_gradient", "hessian_vector_product", "test_hessian_vector_product",
            "(g * v).sum()", "(g.detach() * v).sum()",
            "the gradient detached before the dot product, so it cannot be differentiated again"),
    # -- first_order_meta_gradient ----------------------------------------------------------------------
    Mistake("first_order_n_steps_hard_coded", "first_order_meta_gradient", "test_first_order_meta_gradient",
            "n_steps=n_steps, create_graph=False)", "n_steps=1, create_graph=False)",
            "one inner step hard-coded instead of the n_steps argument"),
    Mistake("first_order_inner_lr_hard_coded", "first_order_meta_gradient",
            "test_first_order_meta_gradient",
            "inner_lr=inner_lr, n_steps", "inner_lr=0.1, n_steps",
            "the example's step size 0.1 written in instead of the inner_lr argument"),
    Mistake("first_order_query_loss_on_support", "first_order_meta_gradient",
            "test_first_order_meta_gradient",
            "(query[0],)), query[1])", "(support[0],)), support[1])",
            "the gradient of the support loss at phi instead of the query loss"),
    Mistake("detach_without_requires_grad", "first_order_meta_gradient", "test_first_order_meta_gradient",
            "p.detach().requires_grad_()", "p.detach()",
            "phi detached but not made a leaf that requires grad: nothing to differentiate"),
    Mistake("first_order_is_second_order", "first_order_meta_gradient", "test_first_order_meta_gradient",
            "create_graph=False)\n    phi = {name: p.detach().requires_grad_() for name, p in phi.items()}\n"
            "    query_loss = F.mse_loss(functional_call(model, phi, (query[0],)), query[1])\n"
            "    grads = torch.autograd.grad(query_loss, list(phi.values()))",
            "create_graph=True)\n"
            "    query_loss = F.mse_loss(functional_call(model, phi, (query[0],)), query[1])\n"
            "    grads = torch.autograd.grad(query_loss, list(theta.values()))",
            "the full second-order gradient through the inner loop, under the first-order name"),
]

ALTERNATIVES: list[Alternative] = [
    # -- inner_adapt ------------------------------------------------------------------------------------
    Alternative("mean_square_by_hand", "inner_adapt", "test_inner_adapt",
                "loss = F.mse_loss(functional_call(model, phi, (x,)), y)",
                "loss = ((functional_call(model, phi, (x,)) - y) ** 2).mean()",
                "the mean squared error written out"),
    Alternative("torch_func_grad", "inner_adapt", "test_inner_adapt",
                "grads = torch.autograd.grad(loss, list(phi.values()), create_graph=create_graph)",
                "grads = list(torch.func.grad(lambda q: F.mse_loss(functional_call(model, q, (x,)), y))(phi)"
                ".values())\n"
                "        grads = grads if create_graph else [g.detach() for g in grads]",
                "torch.func.grad of the support loss as a function of the parameter dict (differentiable "
                "by torch.autograd), detached when no graph is asked for"),
    Alternative("update_by_name", "inner_adapt", "test_inner_adapt",
                "phi = {name: p - inner_lr * g for (name, p), g in zip(phi.items(), grads)}",
                "phi = {name: phi[name] - inner_lr * g for name, g in zip(list(phi), grads)}",
                "the update looked up by name"),
    # -- maml_meta_gradient -----------------------------------------------------------------------------
    Alternative("detached_leaf_copies", "maml_meta_gradient", "test_maml_meta_gradient",
                "    theta = dict(model.named_parameters())\n",
                "    theta = {k: p.detach().requires_grad_() for k, p in model.named_parameters()}\n",
                "theta as fresh leaves that share the model's values: the model's own tensors are not "
                "touched"),
    Alternative("names_and_parameter_tuple", "maml_meta_gradient", "test_maml_meta_gradient",
                "grads = torch.autograd.grad(query_loss, list(theta.values()))\n"
                "    return dict(zip(theta, grads))",
                "names, params = zip(*theta.items())\n"
                "    grads = torch.autograd.grad(query_loss, params)\n"
                "    return {k: g for k, g in zip(names, grads)}",
                "names and parameters unzipped into tuples"),
    Alternative("query_mse_by_hand", "maml_meta_gradient", "test_maml_meta_gradient",
                "F.mse_loss(functional_call(model, phi, (query[0],)), query[1])",
                "((functional_call(model, phi, (query[0],)) - query[1]) ** 2).mean()",
                "the query mean squared error written out"),
    # -- linear_regression_meta_gradient ----------------------------------------------------------------
    Alternative("hessian_by_einsum", "linear_regression_meta_gradient",
                "test_linear_regression_meta_gradient",
                "hessian = 2 / n_tr * x_tr.T @ x_tr",
                "hessian = 2 / n_tr * torch.einsum(\"ni,nj->ij\", x_tr, x_tr)",
                "X^T X by einsum"),
    Alternative("without_identity", "linear_regression_meta_gradient", "test_linear_regression_meta_gradient",
                "return (eye - alpha * hessian) @ query_gradient, hessian",
                "return query_gradient - alpha * hessian @ query_gradient, hessian",
                "(I - alpha H) g distributed: g - alpha H g, no identity matrix"),
    Alternative("phi_from_hessian", "linear_regression_meta_gradient", "test_linear_regression_meta_gradient",
                "phi = w - alpha * 2 / n_tr * x_tr.T @ (x_tr @ w - y_tr)",
                "phi = w - alpha * (hessian @ w - 2 / n_tr * x_tr.T @ y_tr)",
                "the support gradient written H w - 2/n X^T y, reusing the Hessian"),
    # -- hessian_vector_product -------------------------------------------------------------------------
    Alternative("grad_outputs", "hessian_vector_product", "test_hessian_vector_product",
                "dot = sum((g * v).sum() for g, v in zip(grads, vector))\n"
                "    return list(torch.autograd.grad(dot, params))",
                "return list(torch.autograd.grad(grads, params, grad_outputs=vector))",
                "the vector passed as grad_outputs: a vector-Jacobian product of the gradient"),
    Alternative("flat_dot", "hessian_vector_product", "test_hessian_vector_product",
                "dot = sum((g * v).sum() for g, v in zip(grads, vector))",
                "dot = torch.cat([g.flatten() for g in grads]) @ torch.cat([v.flatten() for v in vector])",
                "the dot product of the flattened, concatenated gradient and vector"),
    # -- first_order_meta_gradient ----------------------------------------------------------------------
    Alternative("with_respect_to_theta_without_graph", "first_order_meta_gradient",
                "test_first_order_meta_gradient",
                "    phi = {name: p.detach().requires_grad_() for name, p in phi.items()}\n"
                "    query_loss = F.mse_loss(functional_call(model, phi, (query[0],)), query[1])\n"
                "    grads = torch.autograd.grad(query_loss, list(phi.values()))",
                "    query_loss = F.mse_loss(functional_call(model, phi, (query[0],)), query[1])\n"
                "    grads = torch.autograd.grad(query_loss, list(theta.values()))",
                "without create_graph the Jacobian of phi in theta is the identity: d/dtheta equals d/dphi"),
    Alternative("backward_on_detached_leaves", "first_order_meta_gradient", "test_first_order_meta_gradient",
                "grads = torch.autograd.grad(query_loss, list(phi.values()))",
                "query_loss.backward()\n    grads = [p.grad for p in phi.values()]",
                ".backward() into the detached copies' .grad: the model's own .grad is not touched"),
    Alternative("graph_then_detach", "first_order_meta_gradient", "test_first_order_meta_gradient",
                "create_graph=False)", "create_graph=True)",
                "an inner loop with a graph, detached afterwards: wasteful but the same gradient"),
]
