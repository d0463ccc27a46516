"""Notebook 07's part of the classic-mistake catalogue (see classic_mistakes.py): mistakes beyond the
end-to-end sample listed there, and valid alternatives."""

from __future__ import annotations

from classic_mistakes import Alternative, Mistake

MISTAKES: list[Mistake] = [
    # -- prototypes (one more in classic_mistakes.py) ---------------------------------------------------
    Mistake("sum_not_mean", "prototypes", "test_prototypes",
            "return sums / counts", "return sums",
            "the prototype as the sum of the class's embeddings: a class with more shots sits farther out"),
    Mistake("divided_by_support_size", "prototypes", "test_prototypes",
            "return sums / counts", "return sums / support_z.shape[1]",
            "every class's sum divided by the size of the whole support set instead of the class's"),
    Mistake("counts_over_the_batch", "prototypes", "test_prototypes",
            "counts = one_hot.sum(dim=1).unsqueeze(-1)",
            "counts = one_hot.sum(dim=(0, 1)).view(1, -1, 1) / one_hot.shape[0]",
            "the class sizes averaged over the batch instead of counted in each episode"),
    Mistake("prototypes_detached", "prototypes", "test_prototypes",
            "sums = one_hot.transpose(1, 2) @ support_z",
            "sums = one_hot.transpose(1, 2) @ support_z.detach()",
            "the prototypes detached, as fixed targets: meta-training cannot move the support embeddings"),
    Mistake("mean_of_the_whole_support", "prototypes", "test_prototypes",
            "return sums / counts",
            "return support_z.mean(dim=1, keepdim=True).expand(-1, n_way, -1)",
            "every prototype is the mean of the whole support set"),
    # -- prototypical_logits (one more in classic_mistakes.py) ------------------------------------------
    Mistake("distances_as_logits", "prototypical_logits", "test_prototypical_logits",
            "return -(differences ** 2).sum(dim=-1)", "return (differences ** 2).sum(dim=-1)",
            "the squared distances returned without their minus sign: the farthest prototype wins"),
    Mistake("mean_over_features", "prototypical_logits", "test_prototypical_logits",
            "return -(differences ** 2).sum(dim=-1)", "return -(differences ** 2).mean(dim=-1)",
            "the mean over the features instead of the sum: the logits shrink by D and the softmax flattens"),
    Mistake("probabilities", "prototypical_logits", "test_prototypical_logits",
            "return -(differences ** 2).sum(dim=-1)",
            "return (-(differences ** 2).sum(dim=-1)).softmax(dim=-1)",
            "softmax probabilities returned instead of logits"),
    Mistake("dot_product", "prototypical_logits", "test_prototypical_logits",
            "return -(differences ** 2).sum(dim=-1)", "return query_z @ prototypes.transpose(1, 2)",
            "the dot product of query and prototype taken for a similarity: it ignores their norms"),
    Mistake("expansion_without_prototype_norms", "prototypical_logits", "test_prototypical_logits",
            "return -(differences ** 2).sum(dim=-1)",
            "return 2 * query_z @ prototypes.transpose(1, 2) - (query_z ** 2).sum(-1, keepdim=True)",
            "the expanded distance without the prototypes' squared norms"),
    Mistake("episodes_flattened_together", "prototypical_logits", "test_prototypical_logits",
            "return -(differences ** 2).sum(dim=-1)",
            "return -torch.cdist(query_z.flatten(0, 1), prototypes.flatten(0, 1)).pow(2).view(\n"
            "        query_z.shape[0], query_z.shape[1], -1)[:, :, :prototypes.shape[1]]",
            "the episodes flattened into one before cdist: queries meet the prototypes of other episodes"),
    # -- linear_head ------------------------------------------------------------------------------------
    Mistake("weight_without_two", "linear_head", "test_linear_head",
            "weight = 2 * prototypes", "weight = prototypes",
            "the weights taken to be the prototypes, without the factor 2 of the expansion"),
    Mistake("bias_positive", "linear_head", "test_linear_head",
            "bias = -(prototypes ** 2).sum(dim=-1)", "bias = (prototypes ** 2).sum(dim=-1)",
            "the bias's sign flipped"),
    Mistake("bias_norm_not_squared", "linear_head", "test_linear_head",
            "bias = -(prototypes ** 2).sum(dim=-1)", "bias = -prototypes.norm(dim=-1)",
            "minus the norm instead of minus the squared norm"),
    Mistake("bias_with_two", "linear_head", "test_linear_head",
            "bias = -(prototypes ** 2).sum(dim=-1)", "bias = -2 * (prototypes ** 2).sum(dim=-1)",
            "the factor 2 put on the bias as well"),
    Mistake("bias_dropped", "linear_head", "test_linear_head",
            "bias = -(prototypes ** 2).sum(dim=-1)", "bias = prototypes.new_zeros(prototypes.shape[:2])",
            "the bias dropped as 'the same for every class', which only the query's norm is"),
    Mistake("bias_over_classes", "linear_head", "test_linear_head",
            "bias = -(prototypes ** 2).sum(dim=-1)", "bias = -(prototypes ** 2).sum(dim=1)",
            "the squares summed over the classes instead of the features"),
    # -- proto_loss (one more in classic_mistakes.py) ---------------------------------------------------
    Mistake("prototypes_from_queries", "proto_loss", "test_proto_loss",
            "prototypes(support_z, episodes.support_y, n_way)",
            "prototypes(query_z, episodes.query_y, n_way)",
            "the prototypes built from the queries, which are then classified against themselves"),
    Mistake("loss_summed", "proto_loss", "test_proto_loss",
            "episodes.query_y.flatten())", "episodes.query_y.flatten(), reduction=\"sum\")",
            "the cross-entropy summed over the queries instead of averaged"),
    Mistake("nll_on_logits", "proto_loss", "test_proto_loss",
            "loss = F.cross_entropy(", "loss = F.nll_loss(",
            "nll_loss applied to the logits: it expects log-probabilities"),
    Mistake("five_way_hard_coded", "proto_loss", "test_proto_loss",
            "m, n_way = episodes.query_y.shape[1], episodes.classes.shape[1]",
            "m, n_way = episodes.query_y.shape[1], 5",
            "N hard-coded to the example's 5 instead of read from the episodes"),
    Mistake("accuracy_as_count", "proto_loss", "test_proto_loss",
            ".float().mean()", ".float().sum()",
            "the number of correct queries returned instead of the fraction"),
    Mistake("distances_maximised", "proto_loss", "test_proto_loss",
            "logits = prototypical_logits(", "logits = -prototypical_logits(",
            "the logits negated once more, as if prototypical_logits returned distances"),
    Mistake("support_embedded_without_grad", "proto_loss", "test_proto_loss",
            "    support_z = embed(episodes.support_x.flatten(0, 1)).view(b, s, -1)",
            "    with torch.no_grad():\n"
            "        support_z = embed(episodes.support_x.flatten(0, 1)).view(b, s, -1)",
            "the support embedded under no_grad, as fixed anchors: no gradient through the prototypes"),
]

ALTERNATIVES: list[Alternative] = [
    # -- prototypes -------------------------------------------------------------------------------------
    Alternative("scatter_add", "prototypes", "test_prototypes",
                "sums = one_hot.transpose(1, 2) @ support_z",
                "sums = support_z.new_zeros(support_z.shape[0], n_way, support_z.shape[-1]).scatter_add(\n"
                "        1, support_y.unsqueeze(-1).expand_as(support_z), support_z)",
                "the class sums with scatter_add instead of a one-hot product"),
    Alternative("loop_over_classes", "prototypes", "test_prototypes",
                "return sums / counts",
                "return torch.stack([torch.stack([support_z[b][support_y[b] == k].mean(0)\n"
                "                                  for k in range(n_way)])\n"
                "                     for b in range(len(support_z))])",
                "a boolean mask per episode and class, and a Python loop: slow, but the same means"),
    Alternative("einsum", "prototypes", "test_prototypes",
                "sums = one_hot.transpose(1, 2) @ support_z",
                "sums = torch.einsum('bsn,bsd->bnd', one_hot, support_z)",
                "the class sums with einsum"),
    # -- prototypical_logits ----------------------------------------------------------------------------
    Alternative("cdist_squared", "prototypical_logits", "test_prototypical_logits",
                "return -(differences ** 2).sum(dim=-1)", "return -torch.cdist(query_z, prototypes) ** 2",
                "batched torch.cdist, squared"),
    Alternative("expanded_distance", "prototypical_logits", "test_prototypical_logits",
                "return -(differences ** 2).sum(dim=-1)",
                "return (2 * query_z @ prototypes.transpose(1, 2) - (query_z ** 2).sum(-1, keepdim=True)\n"
                "            - (prototypes ** 2).sum(-1).unsqueeze(1))",
                "the squared distance expanded into norms and a dot product (section 1's identity)"),
    Alternative("einsum_of_differences", "prototypical_logits", "test_prototypical_logits",
                "return -(differences ** 2).sum(dim=-1)",
                "return -torch.einsum('bmnd,bmnd->bmn', differences, differences)",
                "the squared norms of the differences with einsum"),
    # -- linear_head ------------------------------------------------------------------------------------
    Alternative("vector_norm_squared", "linear_head", "test_linear_head",
                "bias = -(prototypes ** 2).sum(dim=-1)",
                "bias = -torch.linalg.vector_norm(prototypes, dim=-1) ** 2",
                "the squared norm from torch.linalg.vector_norm"),
    Alternative("einsum_bias", "linear_head", "test_linear_head",
                "bias = -(prototypes ** 2).sum(dim=-1)",
                "bias = -torch.einsum('bnd,bnd->bn', prototypes, prototypes)",
                "the squared norm as an einsum of the prototypes with themselves"),
    # -- proto_loss -------------------------------------------------------------------------------------
    Alternative("one_embedding_call", "proto_loss", "test_proto_loss",
                "    support_z = embed(episodes.support_x.flatten(0, 1)).view(b, s, -1)"
                "  # (B*S, D) -> (B, S, D)\n"
                "    query_z = embed(episodes.query_x.flatten(0, 1)).view(b, m, -1)"
                "      # (B*M, D) -> (B, M, D)",
                "    images = torch.cat([episodes.support_x, episodes.query_x], dim=1)  # (B, S+M, 1, H, W)\n"
                "    z = embed(images.flatten(0, 1)).view(b, s + m, -1)                # (B, S+M, D)\n"
                "    support_z, query_z = z[:, :s], z[:, s:]",
                "support and query embedded in one call and split afterwards"),
    Alternative("cross_entropy_classes_in_dim_one", "proto_loss", "test_proto_loss",
                "loss = F.cross_entropy(logits.flatten(0, 1), episodes.query_y.flatten())",
                "loss = F.cross_entropy(logits.transpose(1, 2), episodes.query_y)",
                "cross_entropy on (B, N, M) logits against (B, M) labels, no flattening"),
    Alternative("n_way_from_the_labels", "proto_loss", "test_proto_loss",
                "episodes.classes.shape[1]", "int(episodes.support_y.max()) + 1",
                "N read from the support labels, every one of which appears in the support set"),
]
