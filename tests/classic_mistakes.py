"""The classic-mistake catalogue: mistakes made in a copy of an instructor notebook's solution, which its
hidden tests must catch, and valid alternatives, which must keep full marks.

Each :class:`Mistake` (or :class:`Alternative`) replaces one substring of one answer cell.
``test_mistake_catalogue.py`` tries every variant in one kernel per notebook and checks that a mistake
loses exactly the points of ``test_id`` and keeps every other point (the hidden tests are strict where
learners slip, and a mistake in one exercise costs nothing elsewhere), and that an alternative keeps them
all. The mistakes listed in this file are also graded end to end as submissions by
``test_autograder_grade.py`` (:data:`END_TO_END`): the sample that shows both paths agree. The rest of
the catalogue lives in ``catalogue_<notebook>.py``, one module per notebook.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Mistake:
    name: str
    """Short identifier, used as the student id ``mistake_<name>``."""
    answer_id: str
    """grade_id of the answer cell that gets the mistake."""
    test_id: str
    """grade_id of the test cell that must lose all its points."""
    old: str
    """Substring of the solution (occurring exactly once in the answer cell)..."""
    new: str
    """...and what replaces it."""
    why: str
    """The misconception, in a learner's words."""


@dataclass(frozen=True)
class Alternative:
    """A valid other way to write part of a solution: it must keep full marks (hidden and visible tests)."""

    name: str
    """Short identifier."""
    answer_id: str
    """grade_id of the answer cell that is rewritten."""
    test_id: str
    """grade_id of the test cell of that exercise (its visible test must pass too)."""
    old: str
    """Substring of the solution (occurring exactly once in the answer cell)..."""
    new: str
    """...and the equivalent code that replaces it."""
    why: str
    """What makes it a different but correct answer."""



MISTAKES: dict[str, list[Mistake]] = {}
"""Per assignment (notebook name), the mistakes its hidden tests must catch."""

MISTAKES["01_task_definition"] = [
    Mistake("mean_of_task_losses", "multitask_loss", "test_multitask_loss",
            "return (weights.to(task_losses) * task_losses).sum()",
            "return (weights.to(task_losses) * task_losses).mean()",
            "the multi-task objective averages the weighted task losses instead of summing them"),
    Mistake("weights_sum_to_one", "inverse_loss_weights", "test_inverse_loss_weights",
            "return len(losses) * inverse / inverse.sum()",
            "return inverse / inverse.sum()",
            "inverse-loss weights normalised to sum to one instead of to the number of tasks"),
]

MISTAKES["02_mtl_conditioning"] = [
    Mistake("film_wrong_order", "film", "test_film",
            "return self.gamma(z) * h + self.beta(z)",
            "return self.gamma(z) * (h + self.beta(z))",
            "FiLM shifts before it scales: gamma * (h + beta) instead of gamma * h + beta"),
    Mistake("gates_softmax_over_batch", "mmoe", "test_mmoe",
            "F.softmax(g(x), dim=-1)", "F.softmax(g(x), dim=0)",
            "MMoE gates normalised over the examples of the batch instead of over the experts"),
    Mistake("gates_sigmoid", "mmoe", "test_mmoe",
            "F.softmax(g(x), dim=-1)", "torch.sigmoid(g(x))",
            "MMoE gates as independent sigmoids, not a distribution over the experts"),
    Mistake("gates_unnormalised", "mmoe", "test_mmoe",
            "F.softmax(g(x), dim=-1)", "g(x)",
            "MMoE gate logits used as weights without a softmax"),
    Mistake("concat_order", "concat_conditioning", "test_concat_conditioning",
            "torch.cat([x, z], dim=-1)", "torch.cat([z, x], dim=-1)",
            "z concatenated before x, against the documented layout of the weight matrix"),
    Mistake("one_head_for_all_tasks", "multi_head_model", "test_multi_head_model",
            "[nn.Linear(hidden, 1) for _ in range(n_tasks)]", "[nn.Linear(hidden, 1)] * n_tasks",
            "one head module repeated for every task: the heads share their parameters"),
]

MISTAKES["03_negative_transfer"] = [
    Mistake("pcgrad_projects_without_conflict", "pcgrad", "test_pcgrad",
            "if dot < 0:", "if dot != 0:",
            "PCGrad projects every pair of gradients, also those that do not conflict"),
    Mistake("pcgrad_averages", "pcgrad", "test_pcgrad",
            "return projected.sum(dim=0)", "return projected.mean(dim=0)",
            "PCGrad averages the projected gradients instead of summing them"),
    Mistake("pcgrad_projects_task_heads", "pcgrad_backward", "test_pcgrad_backward",
            "params = list(shared_parameters)", "params = list(shared_parameters) + heads",
            "gradient surgery applied over the task-specific heads as well as the shared parameters"),
    Mistake("cosine_not_normalised", "gradient_cosine", "test_gradient_cosine",
            "unit @ unit.T", "grads @ grads.T",
            "dot products of the task gradients taken for their cosine"),
    Mistake("uncertainty_without_regulariser", "uncertainty_weighted_loss", "test_uncertainty_weighted_loss",
            "torch.exp(-log_variances) * task_losses + log_variances",
            "torch.exp(-log_variances) * task_losses",
            "uncertainty weighting without the + s_i term: the weights can shrink to zero"),
    Mistake("sweep_members_seed_major", "sweep_data", "test_sweep_data",
            "for p in p_values for s in range(n_seeds)", "for s in range(n_seeds) for p in p_values",
            "sweep members ordered seed-major instead of p-major"),
]

MISTAKES["04_fine_tuning"] = [
    Mistake("freeze_keeps_batchnorm_training", "set_trainable", "test_set_trainable",
            "    module.train(trainable)\n", "",
            "freezing only turns off requires_grad: BatchNorm layers in train mode keep updating their "
            "statistics"),
    Mistake("freeze_weights_only", "set_trainable", "test_set_trainable",
            "    for parameter in module.parameters():\n        parameter.requires_grad_(trainable)",
            "    for name, parameter in module.named_parameters():\n"
            "        if name.endswith(\"weight\"):\n            parameter.requires_grad_(trainable)",
            "freezing the weights but not the biases (nor BatchNorm's shift)"),
    Mistake("groups_from_all_modules", "layerwise_lr_groups", "test_layerwise_lr_groups",
            "model.named_children()", "list(model.named_modules())[1:]",
            "parameter groups built from every sub-module: nested parameters land in several groups"),
    Mistake("groups_drop_biases", "layerwise_lr_groups", "test_layerwise_lr_groups",
            "params = [p for p in child.parameters() if p.requires_grad]",
            "params = [p for p in child.parameters() if p.requires_grad and p.dim() > 1]",
            "parameter groups of the weight matrices only: biases and BatchNorm parameters never train"),
    Mistake("probe_features_in_train_mode", "linear_probe", "test_linear_probe",
            "    for name, child in model.named_children():\n        if name != \"head\":",
            "    with torch.no_grad():\n        model.features(x)  # a look at the features before freezing\n"
            "    for name, child in model.named_children():\n        if name != \"head\":",
            "the encoder run in train mode before it is frozen: BatchNorm statistics drift during probing"),
    Mistake("lpft_resets_the_probed_head", "lp_ft", "test_lp_ft",
            "    set_trainable(model, True)\n",
            "    set_trainable(model, True)\n    model.head.reset_parameters()\n",
            "the head re-initialised between the probe and fine-tuning, throwing the probe away"),
]

MISTAKES["05_blackbox_meta_learning"] = [
    Mistake("classes_with_replacement", "sample_episodes", "test_sample_episodes",
            "classes = torch.rand(b, n_classes, device=device).argsort(dim=1)[:, :n]",
            "classes = torch.randint(n_classes, (b, n), device=device)",
            "the classes of an episode drawn with replacement: one class can appear under two labels"),
    Mistake("one_class_draw_for_the_batch", "sample_episodes", "test_sample_episodes",
            "classes = torch.rand(b, n_classes, device=device).argsort(dim=1)[:, :n]",
            "classes = torch.rand(1, n_classes, device=device).argsort(dim=1)[:, :n].expand(b, n)",
            "one draw of classes shared by every episode of the batch"),
    Mistake("classes_sorted", "sample_episodes", "test_sample_episodes",
            "classes = torch.rand(b, n_classes, device=device).argsort(dim=1)[:, :n]",
            "classes = torch.rand(b, n_classes, device=device).argsort(dim=1)[:, :n].sort(dim=1).values",
            "the classes sorted after drawing: label 0 is always the episode's smallest class id"),
    Mistake("query_overlaps_support", "sample_episodes", "test_sample_episodes",
            "query_index = index[..., k_shot:].reshape(b, n * k_query)",
            "query_index = index[..., :k_query].reshape(b, n * k_query)",
            "the query drawings taken from the start of the same draw: they repeat support drawings"),
    Mistake("first_drawings_only", "sample_episodes", "test_sample_episodes",
            "drawings = torch.rand(b, n, n_drawings, device=device).argsort(dim=2)[..., :d]",
            "drawings = torch.arange(d, device=device).expand(b, n, d)",
            "always the first K + Q drawings of each class instead of random ones"),
    Mistake("labels_interleaved", "sample_episodes", "test_sample_episodes",
            "support_y=labels.repeat_interleave(k_shot).repeat(b, 1)",
            "support_y=labels.repeat(k_shot).repeat(b, 1)",
            "support labels [0, 1, 2, 0, 1, 2] beside class-major images: labels and images misaligned"),
    Mistake("row_stride_of_classes", "sample_episodes", "test_sample_episodes",
            "index = classes.unsqueeze(-1) * n_drawings + drawings",
            "index = classes.unsqueeze(-1) * n_classes + drawings",
            "the flat row of (class c, drawing d) computed with the number of classes as the stride"),
    Mistake("query_labels_leak", "build_sequence", "test_build_sequence",
            "query_x.new_zeros(b, n_query, n_way)", "F.one_hot(query_y, n_way).to(query_x)",
            "the query rows carry their own one-hot label: the learner reads the answer from its input"),
    Mistake("query_not_shuffled", "build_sequence", "test_build_sequence",
            "order = torch.rand(b, n_query, device=episodes.query_y.device).argsort(dim=1)",
            "order = torch.arange(n_query, device=episodes.query_y.device).expand(b, n_query)",
            "queries left class-major: the position of a query gives its label away"),
    Mistake("labels_not_shuffled_with_images", "build_sequence", "test_build_sequence",
            "query_y = episodes.query_y.gather(1, order)", "query_y = episodes.query_y",
            "the query images are shuffled but the labels keep the old order: images and labels misaligned"),
    Mistake("loss_over_support_positions", "query_loss", "test_query_loss",
            "query_logits = logits[:, -n_query:]", "query_logits = logits[:, :n_query]",
            "the loss is taken over the first positions of the sequence, which are the support examples"),
    Mistake("mask_hides_the_diagonal", "causal_mask", "test_causal_mask",
            ".triu(diagonal=1)", ".triu(diagonal=0)",
            "the causal mask also hides each position from itself"),
]

MISTAKES["06_maml_hessian"] = [
    Mistake("inner_loop_detaches", "inner_adapt", "test_inner_adapt",
            "phi = {name: p - inner_lr * g for (name, p), g in zip(phi.items(), grads)}",
            "phi = {name: (p - inner_lr * g).detach().requires_grad_()\n"
            "               for (name, p), g in zip(phi.items(), grads)}",
            "each inner step detached (and made a new leaf): the meta-gradient stops at the last step"),
    Mistake("inner_loop_forgets_create_graph", "inner_adapt", "test_inner_adapt",
            "create_graph=create_graph)", "create_graph=False)",
            "the inner gradients taken without a graph: the Hessian term silently disappears"),
    Mistake("inner_loop_mutates_the_model", "inner_adapt", "test_inner_adapt",
            "        phi = {name: p - inner_lr * g for (name, p), g in zip(phi.items(), grads)}\n",
            "        with torch.no_grad():\n            for p, g in zip(phi.values(), grads):\n"
            "                p -= inner_lr * g\n",
            "an optimizer-style in-place update: the model's own parameters change during the inner loop"),
    Mistake("meta_gradient_without_create_graph", "maml_meta_gradient", "test_maml_meta_gradient",
            "n_steps=n_steps, create_graph=True)", "n_steps=n_steps, create_graph=False)",
            "the second-order meta-gradient computed through an inner loop without a graph (first order)"),
    Mistake("hessian_missing_factor_two", "linear_regression_meta_gradient",
            "test_linear_regression_meta_gradient",
            "hessian = 2 / n_tr * x_tr.T @ x_tr", "hessian = 1 / n_tr * x_tr.T @ x_tr",
            "the Hessian of the mean squared error without its factor 2"),
    Mistake("hvp_without_create_graph", "hessian_vector_product", "test_hessian_vector_product",
            "torch.autograd.grad(loss, params, create_graph=True)", "torch.autograd.grad(loss, params)",
            "the first gradient taken without a graph: it cannot be differentiated a second time"),
    Mistake("first_order_gradient_at_theta", "first_order_meta_gradient", "test_first_order_meta_gradient",
            "phi = {name: p.detach().requires_grad_() for name, p in phi.items()}",
            "phi = {name: p.detach().requires_grad_() for name, p in theta.items()}",
            "the first-order meta-gradient evaluated at theta instead of at the adapted parameters"),
]

MISTAKES["07_nonparametric_meta_learning"] = [
    Mistake("class_major_reshape", "prototypes", "test_prototypes",
            "return sums / counts",
            "return support_z.view(support_z.shape[0], n_way, -1, support_z.shape[-1]).mean(dim=2)",
            "the support set assumed class-major and balanced: a reshape to (B, N, K, D) and a mean over K"),
    Mistake("distance_not_squared", "prototypical_logits", "test_prototypical_logits",
            "return -(differences ** 2).sum(dim=-1)", "return -(differences ** 2).sum(dim=-1).sqrt()",
            "the Euclidean distance instead of its square: no longer a linear classifier, another softmax"),
    Mistake("episodes_mixed_by_the_reshape", "proto_loss", "test_proto_loss",
            ".view(b, s, -1)  # (B*S", ".view(s, b, -1).transpose(0, 1)  # (B*S",
            "the embeddings reshaped as (S, B, D), but flatten(0, 1) put the episodes first: episodes mix"),
]


#: The mistakes graded end to end as submissions (test_autograder_grade.py): those listed above.
END_TO_END: frozenset[str] = frozenset(m.name for mistakes in MISTAKES.values() for m in mistakes)

ALTERNATIVES: dict[str, list[Alternative]] = {}
"""Per assignment, valid alternatives that must keep full marks."""

for _assignment in ["01_task_definition", "02_mtl_conditioning", "03_negative_transfer", "04_fine_tuning",
                    "05_blackbox_meta_learning", "06_maml_hessian",
                    "07_nonparametric_meta_learning"]:
    _extra = importlib.import_module(f"catalogue_{_assignment[:2]}")
    MISTAKES.setdefault(_assignment, []).extend(_extra.MISTAKES)
    ALTERNATIVES.setdefault(_assignment, []).extend(_extra.ALTERNATIVES)
