"""Notebook 02's part of the classic-mistake catalogue (see classic_mistakes.py): mistakes beyond the
end-to-end sample listed there, and valid alternatives."""

from __future__ import annotations

from classic_mistakes import Alternative, Mistake

_CONCAT_LINEAR = "self.linear = nn.Linear(in_features + n_tasks, out_features)"
_FILM_INIT = """        with torch.no_grad():
            self.gamma.weight.zero_()
            self.gamma.bias.fill_(1.0)
            self.beta.weight.zero_()
            self.beta.bias.zero_()
"""
_EXPERTS = """[nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())
                                      for _ in range(n_experts)]"""
_MIXED = 'mixed = torch.einsum("tne,neh->tnh", gates, expert_out)'
_PREDICTIONS = "torch.cat([tower(mixed[i]) for i, tower in enumerate(self.towers)], dim=1)"

MISTAKES: list[Mistake] = [
    # -- concat_conditioning ---------------------------------------------------------------------------
    Mistake("concat_batch_dim", "concat_conditioning", "test_concat_conditioning",
            "torch.cat([x, z], dim=-1)", "torch.cat([x, z], dim=0)",
            "x and z concatenated along the batch dimension instead of the feature dimension"),
    Mistake("concat_no_bias", "concat_conditioning", "test_concat_conditioning",
            _CONCAT_LINEAR, "self.linear = nn.Linear(in_features + n_tasks, out_features, bias=False)",
            "the bias left out because a one-hot z already gives each task its own offset"),
    Mistake("concat_linear_sizes_swapped", "concat_conditioning", "test_concat_conditioning",
            _CONCAT_LINEAR, "self.linear = nn.Linear(out_features, in_features + n_tasks)",
            "nn.Linear's arguments in the order of its weight's shape (out, in) instead of (in, out)"),
    Mistake("concat_wrong_input_size", "concat_conditioning", "test_concat_conditioning",
            _CONCAT_LINEAR, "self.linear = nn.Linear(in_features + out_features, out_features)",
            "the layer's input size built from out_features instead of n_tasks"),
    Mistake("concat_extra_relu", "concat_conditioning", "test_concat_conditioning",
            "return self.linear(xz)", "return torch.relu(self.linear(xz))",
            "a ReLU added after the linear layer: the conditioning layer is meant to be linear"),
    # -- additive_conditioning -------------------------------------------------------------------------
    Mistake("additive_second_bias", "additive_conditioning", "test_additive_conditioning",
            "self.linear_z = nn.Linear(n_tasks, out_features, bias=False)",
            "self.linear_z = nn.Linear(n_tasks, out_features)",
            "linear_z keeps its default bias: two biases where one is shared"),
    Mistake("additive_z_layer_in_features", "additive_conditioning", "test_additive_conditioning",
            "self.linear_z = nn.Linear(n_tasks, out_features, bias=False)",
            "self.linear_z = nn.Linear(in_features, out_features, bias=False)",
            "linear_z copied from linear_x: its input size is in_features instead of n_tasks"),
    Mistake("additive_product", "additive_conditioning", "test_additive_conditioning",
            "return self.linear_x(x) + self.linear_z(z)", "return self.linear_x(x) * self.linear_z(z)",
            "the task term multiplies the features' term instead of shifting it"),
    Mistake("additive_z_layer_on_x", "additive_conditioning", "test_additive_conditioning",
            "self.linear_z(z)", "self.linear_z(x)",
            "linear_z applied to the features x instead of the task descriptor z"),
    Mistake("additive_no_bias", "additive_conditioning", "test_additive_conditioning",
            "self.linear_x = nn.Linear(in_features, out_features)",
            "self.linear_x = nn.Linear(in_features, out_features, bias=False)",
            "no bias anywhere, although linear_x holds the shared bias b"),
    # -- film --------------------------------------------------------------------------------------------
    Mistake("film_gamma_init_zero", "film", "test_film",
            "self.gamma.bias.fill_(1.0)", "self.gamma.bias.zero_()",
            "gamma initialised to zero like beta, so a fresh layer outputs zeros instead of h"),
    Mistake("film_weights_not_zeroed", "film", "test_film",
            "            self.gamma.weight.zero_()\n", "",
            "only the biases initialised: gamma's random weights make a fresh layer differ from identity"),
    Mistake("film_init_weight_not_bias", "film", "test_film",
            "            self.gamma.weight.zero_()\n            self.gamma.bias.fill_(1.0)\n",
            "            self.gamma.weight.fill_(1.0)\n            self.gamma.bias.zero_()\n",
            "gamma's weight set to one instead of its bias: the identity only for a one-hot z"),
    Mistake("film_gamma_beta_swapped", "film", "test_film",
            "return self.gamma(z) * h + self.beta(z)", "return self.beta(z) * h + self.gamma(z)",
            "beta used as the scale and gamma as the shift"),
    Mistake("film_residual_scale", "film", "test_film",
            "return self.gamma(z) * h + self.beta(z)", "return (1 + self.gamma(z)) * h + self.beta(z)",
            "the residual form (1 + gamma) * h, although gamma already starts at one"),
    Mistake("film_linear_sizes_swapped", "film", "test_film",
            "self.gamma = nn.Linear(n_tasks, features)", "self.gamma = nn.Linear(features, n_tasks)",
            "gamma maps features to n_tasks instead of the task descriptor to one scale per feature"),
    # -- multi_head_model ------------------------------------------------------------------------------
    Mistake("trunk_without_last_relu", "multi_head_model", "test_multi_head_model",
            "nn.Linear(hidden, hidden), nn.ReLU())\n", "nn.Linear(hidden, hidden))\n",
            "the trunk ends on a linear layer: the last ReLU is left out"),
    Mistake("heads_plain_list", "multi_head_model", "test_multi_head_model",
            "nn.ModuleList([nn.Linear(hidden, 1) for _ in range(n_tasks)])",
            "[nn.Linear(hidden, 1) for _ in range(n_tasks)]",
            "the heads kept in a plain list: they are not registered as submodules"),
    Mistake("task_columns_indexed", "multi_head_model", "test_multi_head_model",
            "out.gather(1, task_id[:, None])[:, 0]", "out[:, task_id]",
            "indexing the columns with task_id gives every example every listed task: (n, n)"),
    Mistake("task_gather_not_squeezed", "multi_head_model", "test_multi_head_model",
            "out.gather(1, task_id[:, None])[:, 0]", "out.gather(1, task_id[:, None])",
            "the gathered column is returned as (n, 1) instead of (n,)"),
    Mistake("task_gather_dim0", "multi_head_model", "test_multi_head_model",
            "out.gather(1, task_id[:, None])", "out.gather(0, task_id[:, None])",
            "gather along the batch dimension: each example reads another example's first head"),
    # -- mmoe ----------------------------------------------------------------------------------------------
    Mistake("experts_shared", "mmoe", "test_mmoe",
            _EXPERTS, "[nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU())] * n_experts",
            "one expert module repeated n_experts times: all experts share their parameters"),
    Mistake("gate_shared", "mmoe", "test_mmoe",
            "nn.ModuleList([nn.Linear(in_features, n_experts) for _ in range(n_tasks)])",
            "nn.ModuleList([nn.Linear(in_features, n_experts)] * n_tasks)",
            "one gate shared by every task: a mixture of experts with a single gate, not multi-gate"),
    Mistake("experts_averaged", "mmoe", "test_mmoe",
            _MIXED, "mixed = expert_out.mean(dim=1).expand(len(self.gates), -1, -1)",
            "the experts averaged uniformly: the gate weights are computed but not used"),
    Mistake("towers_on_first_mixture", "mmoe", "test_mmoe",
            "tower(mixed[i])", "tower(mixed[0])",
            "every tower reads task 0's mixture instead of its own task's"),
    Mistake("return_gates_ignored", "mmoe", "test_mmoe",
            "return (predictions, gates) if return_gates else predictions", "return predictions, gates",
            "the return_gates flag ignored: the gates are always returned"),
]

ALTERNATIVES: list[Alternative] = [
    # -- concat_conditioning ---------------------------------------------------------------------------
    Alternative("concat_dim1", "concat_conditioning", "test_concat_conditioning",
                "torch.cat([x, z], dim=-1)", "torch.cat((x, z), dim=1)",
                "dim=1 is the feature dimension of the 2-D inputs"),
    Alternative("concat_hstack", "concat_conditioning", "test_concat_conditioning",
                "torch.cat([x, z], dim=-1)", "torch.hstack([x, z])",
                "torch.hstack concatenates 2-D tensors along the columns"),
    Alternative("concat_functional_linear", "concat_conditioning", "test_concat_conditioning",
                "return self.linear(xz)", "return F.linear(xz, self.linear.weight, self.linear.bias)",
                "the layer's weight and bias applied with F.linear"),
    # -- additive_conditioning -------------------------------------------------------------------------
    Alternative("additive_sum_swapped", "additive_conditioning", "test_additive_conditioning",
                "return self.linear_x(x) + self.linear_z(z)",
                "return torch.add(self.linear_z(z), self.linear_x(x))",
                "the two terms added in the other order with torch.add"),
    Alternative("additive_z_matmul", "additive_conditioning", "test_additive_conditioning",
                "self.linear_z(z)", "z @ self.linear_z.weight.T",
                "the bias-free linear_z written as a matrix product with its weight"),
    # -- film --------------------------------------------------------------------------------------------
    Alternative("film_nn_init", "film", "test_film", _FILM_INIT,
                "        nn.init.zeros_(self.gamma.weight)\n        nn.init.ones_(self.gamma.bias)\n"
                "        nn.init.zeros_(self.beta.weight)\n        nn.init.zeros_(self.beta.bias)\n",
                "torch.nn.init functions, which already work without recording gradients"),
    Alternative("film_addcmul", "film", "test_film",
                "return self.gamma(z) * h + self.beta(z)",
                "return torch.addcmul(self.beta(z), self.gamma(z), h)",
                "torch.addcmul computes beta + gamma * h in one call"),
    Alternative("film_h_first", "film", "test_film",
                "return self.gamma(z) * h + self.beta(z)", "return h * self.gamma(z) + self.beta(z)",
                "the elementwise product written with h first"),
    # -- multi_head_model ------------------------------------------------------------------------------
    Alternative("heads_stack", "multi_head_model", "test_multi_head_model",
                "torch.cat([head(h) for head in self.heads], dim=1)",
                "torch.stack([head(h)[:, 0] for head in self.heads], dim=1)",
                "each head's column squeezed, then stacked along a new task dimension"),
    Alternative("task_advanced_indexing", "multi_head_model", "test_multi_head_model",
                "out.gather(1, task_id[:, None])[:, 0]",
                "out[torch.arange(len(task_id), device=out.device), task_id]",
                "advanced indexing by (row, task) pairs instead of gather"),
    Alternative("task_one_hot_mask", "multi_head_model", "test_multi_head_model",
                "out.gather(1, task_id[:, None])[:, 0]",
                "(out * F.one_hot(task_id, out.shape[1]).to(out)).sum(dim=1)",
                "a one-hot mask of the task columns, summed over the tasks"),
    # -- mmoe ----------------------------------------------------------------------------------------------
    Alternative("mmoe_broadcast_mixture", "mmoe", "test_mmoe",
                _MIXED, "mixed = (gates[:, :, :, None] * expert_out[None]).sum(dim=2)",
                "the gate-weighted sum by broadcasting instead of einsum"),
    Alternative("mmoe_bmm_mixture", "mmoe", "test_mmoe",
                _MIXED, "mixed = torch.stack([torch.bmm(gi[:, None, :], expert_out)[:, 0] for gi in gates])",
                "one batched matrix product per task"),
    Alternative("mmoe_stack_predictions", "mmoe", "test_mmoe",
                _PREDICTIONS,
                "torch.stack([tower(mixed[i])[:, 0] for i, tower in enumerate(self.towers)], dim=1)",
                "the towers' columns squeezed and stacked"),
    Alternative("mmoe_log_softmax_exp", "mmoe", "test_mmoe",
                "F.softmax(g(x), dim=-1)", "torch.exp(F.log_softmax(g(x), dim=1))",
                "the softmax as the exponential of log_softmax, over dim 1 of the 2-D logits"),
]
