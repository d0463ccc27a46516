"""Notebook 05's part of the classic-mistake catalogue (see classic_mistakes.py): mistakes beyond the
end-to-end sample listed there, and valid alternatives."""

from __future__ import annotations

from classic_mistakes import Alternative, Mistake

MISTAKES: list[Mistake] = [
    # -- sample_episodes (seven more in classic_mistakes.py) ------------------------------------------
    Mistake("rejects_all_drawings", "sample_episodes", "test_sample_episodes",
            "k_shot + k_query > n_drawings", "k_shot + k_query >= n_drawings",
            "an episode may not use every drawing of a class: K + Q = D is refused although it fits"),
    Mistake("accepts_zero_shot", "sample_episodes", "test_sample_episodes",
            "k_shot < 1", "k_shot < 0",
            "k_shot = 0 accepted: an episode without a support set is not an error"),
    # -- build_sequence ----------------------------------------------------------------------------------
    Mistake("one_hot_width_from_labels", "build_sequence", "test_build_sequence",
            "F.one_hot(episodes.support_y, n_way)", "F.one_hot(episodes.support_y)",
            "one_hot without num_classes: the label slot is as wide as the largest label + 1, not n_way"),
    Mistake("one_order_for_the_batch", "build_sequence", "test_build_sequence",
            "order = torch.rand(b, n_query, device=episodes.query_y.device).argsort(dim=1)",
            "order = torch.randperm(n_query, device=episodes.query_y.device).expand(b, n_query)",
            "one random permutation shared by every episode of the batch"),
    Mistake("reseeds_inside", "build_sequence", "test_build_sequence",
            "    order = torch.rand(", "    torch.manual_seed(0)\n    order = torch.rand(",
            "the function seeds torch itself for reproducibility: every call shuffles the queries the same "
            "way"),
    Mistake("label_slot_first", "build_sequence", "test_build_sequence",
            "torch.cat([support_x, F.one_hot(episodes.support_y, n_way).to(support_x)], dim=-1)",
            "torch.cat([F.one_hot(episodes.support_y, n_way).to(support_x), support_x], dim=-1)",
            "the one-hot label put before the image instead of after it"),
    Mistake("queries_first", "build_sequence", "test_build_sequence",
            "torch.cat([support, query], dim=1)", "torch.cat([query, support], dim=1)",
            "the query rows placed before the support rows: the learner must predict before seeing labels"),
    # -- lstm_learner -----------------------------------------------------------------------------------
    Mistake("second_lstm_skipped", "lstm_learner", "test_lstm_learner",
            "h2, _ = self.lstm2(h1)", "h2 = h1",
            "only the first LSTM is used: the second one is built but never applied"),
    Mistake("readout_last_position_only", "lstm_learner", "test_lstm_learner",
            "return self.readout(h2)", "return self.readout(h2[:, -1])",
            "a prediction for the last position only, as in sequence classification"),
    Mistake("final_state_instead_of_outputs", "lstm_learner", "test_lstm_learner",
            "h2, _ = self.lstm2(h1)", "_, (h2, _) = self.lstm2(h1)",
            "the second element of the LSTM's return (the final state) taken for the outputs"),
    Mistake("returns_probabilities", "lstm_learner", "test_lstm_learner",
            "return self.readout(h2)", "return self.readout(h2).softmax(dim=-1)",
            "forward returns softmax probabilities, but the loss expects logits"),
    Mistake("final_state_of_lstm1_into_lstm2", "lstm_learner", "test_lstm_learner",
            "h1, _ = self.lstm1(sequence)          # (B, T, hidden)\n        h2, _ = self.lstm2(h1)",
            "h1, state = self.lstm1(sequence)\n        h2, _ = self.lstm2(h1, state)",
            "the first LSTM's final state handed to the second as its initial state: the future leaks back"),
    Mistake("time_major_confusion", "lstm_learner", "test_lstm_learner",
            "h1, _ = self.lstm1(sequence)          # (B, T, hidden)\n        h2, _ = self.lstm2(h1)"
            "                # (B, T, hidden)\n        return self.readout(h2)",
            "h1, _ = self.lstm1(sequence.transpose(0, 1))\n        h2, _ = self.lstm2(h1)\n"
            "        return self.readout(h2).transpose(0, 1)",
            "the sequence transposed to (T, B, F) for an LSTM built with batch_first=True: the recurrence "
            "runs over the episodes"),
    # -- query_loss -------------------------------------------------------------------------------------
    Mistake("sum_over_queries", "query_loss", "test_query_loss",
            "query_y.reshape(-1))", "query_y.reshape(-1), reduction=\"sum\")",
            "the cross-entropy summed over the B*M queries instead of averaged"),
    Mistake("shifted_by_one", "query_loss", "test_query_loss",
            "query_logits = logits[:, -n_query:]", "query_logits = logits[:, -n_query - 1:-1]",
            "the next-token habit: query m's prediction read at the position before it"),
    Mistake("nll_on_logits", "query_loss", "test_query_loss",
            "return F.cross_entropy(", "return F.nll_loss(",
            "nll_loss applied to raw logits: it expects log-probabilities"),
    Mistake("hard_coded_n_way", "query_loss", "test_query_loss",
            "query_logits.reshape(-1, logits.shape[-1])", "query_logits.reshape(-1, 3)",
            "the number of classes hard-coded to the experiment's 3 instead of read from the logits"),
    # -- accuracy_by_position ---------------------------------------------------------------------------
    Mistake("mean_over_positions", "accuracy_by_position", "test_accuracy_by_position",
            ".float().mean(dim=0)", ".float().mean(dim=1)",
            "the mean taken over the queries of each episode (one accuracy per episode) instead of over "
            "the batch"),
    Mistake("first_positions", "accuracy_by_position", "test_accuracy_by_position",
            "logits[:, -query_y.shape[1]:]", "logits[:, :query_y.shape[1]]",
            "the first M positions, which are support examples, taken for the queries"),
    Mistake("argmax_over_positions", "accuracy_by_position", "test_accuracy_by_position",
            ".argmax(dim=-1)", ".argmax(dim=1)",
            "argmax over the sequence dimension instead of over the classes"),
    Mistake("counts_not_fractions", "accuracy_by_position", "test_accuracy_by_position",
            ".float().mean(dim=0)", ".sum(dim=0)",
            "the number of right answers per position instead of the fraction"),
    Mistake("accuracy_shifted_by_one", "accuracy_by_position", "test_accuracy_by_position",
            "logits[:, -query_y.shape[1]:]", "logits[:, -query_y.shape[1] - 1:-1]",
            "the next-token habit: query m's prediction read at the position before it"),
    # -- causal_mask ------------------------------------------------------------------------------------
    Mistake("mask_ignores_device", "causal_mask", "test_causal_mask",
            ", device=device)", ")",
            "the device argument ignored: the mask is always built on the CPU"),
    Mistake("mask_true_means_attend", "causal_mask", "test_causal_mask",
            ".triu(diagonal=1)", ".tril()",
            "True taken to mean 'may attend' (the convention of some other APIs) instead of 'masked out'"),
    Mistake("float_mask", "causal_mask", "test_causal_mask",
            "torch.ones(length, length, dtype=torch.bool, device=device).triu(diagonal=1)",
            "torch.ones(length, length, device=device).triu(diagonal=1)",
            "a float mask of 0s and 1s: attention adds it to the scores instead of masking"),
    Mistake("mask_hides_the_past", "causal_mask", "test_causal_mask",
            ".triu(diagonal=1)", ".tril(diagonal=-1)",
            "the mask hides the earlier positions instead of the later ones"),
    Mistake("mask_of_fixed_length", "causal_mask", "test_causal_mask",
            "torch.ones(length, length,", "torch.ones(3, 3,",
            "the size of the visible example hard-coded instead of the length argument"),
    # -- meta_training_step -----------------------------------------------------------------------------
    Mistake("gradients_never_cleared", "meta_training_step", "test_meta_training_step",
            "    optimizer.zero_grad()\n", "",
            "no zero_grad: every step adds its gradient to all the previous ones"),
    Mistake("gradients_cleared_after_backward", "meta_training_step", "test_meta_training_step",
            "    optimizer.zero_grad()\n    loss.backward()\n",
            "    loss.backward()\n    optimizer.zero_grad()\n",
            "zero_grad between backward and step: the new gradients are thrown away before they are used"),
    Mistake("step_before_backward", "meta_training_step", "test_meta_training_step",
            "    loss.backward()\n    optimizer.step()\n", "    optimizer.step()\n    loss.backward()\n",
            "the optimiser steps before backward: it applies the gradients of the previous step"),
    Mistake("loss_on_the_support_positions", "meta_training_step", "test_meta_training_step",
            "loss = query_loss(logits, query_y)", "loss = query_loss(logits[:, :query_y.shape[1]], query_y)",
            "the loss taken on the first M positions, which are support rows"),
    Mistake("graph_returned", "meta_training_step", "test_meta_training_step",
            "return loss.detach(), logits.detach()", "return loss, logits",
            "the loss and logits returned with their graph: every step's activations stay alive"),
    Mistake("logits_after_the_step", "meta_training_step", "test_meta_training_step",
            "return loss.detach(), logits.detach()", "return loss.detach(), model(sequence).detach()",
            "the logits recomputed after the step instead of the ones the loss was computed from"),
]

ALTERNATIVES: list[Alternative] = [
    # -- sample_episodes --------------------------------------------------------------------------------
    Alternative("classes_by_multinomial", "sample_episodes", "test_sample_episodes",
                "classes = torch.rand(b, n_classes, device=device).argsort(dim=1)[:, :n]",
                "classes = torch.multinomial(torch.ones(b, n_classes, device=device), n)",
                "multinomial without replacement over uniform weights: N distinct classes in random order"),
    Alternative("index_select_and_view", "sample_episodes", "test_sample_episodes",
                "    return Episodes(support_x=flat[support_index], ",
                "    rest = images.shape[2:]\n"
                "    return Episodes(support_x=flat.index_select(0, support_index.flatten())"
                ".view(b, -1, *rest), ",
                "index_select on the flat rows and a view back to (B, N*K, ...) instead of advanced "
                "indexing"),
    Alternative("labels_by_expand", "sample_episodes", "test_sample_episodes",
                "support_y=labels.repeat_interleave(k_shot).repeat(b, 1)",
                "support_y=labels.view(1, n, 1).expand(b, n, k_shot).reshape(b, n * k_shot)",
                "class-major labels built by broadcasting a (1, N, 1) tensor"),
    # -- build_sequence ---------------------------------------------------------------------------------
    Alternative("advanced_indexing", "build_sequence", "test_build_sequence",
                "query_x = query_x.gather(1, order.unsqueeze(-1).expand_as(query_x))",
                "query_x = query_x[torch.arange(b, device=order.device).unsqueeze(1), order]",
                "the rows permuted by advanced indexing with a batch index instead of gather"),
    Alternative("pad_label_slot", "build_sequence", "test_build_sequence",
                "query = torch.cat([query_x, query_x.new_zeros(b, n_query, n_way)], dim=-1)",
                "query = F.pad(query_x, (0, n_way))",
                "the empty label slot added by padding the last dimension with zeros"),
    Alternative("fill_a_zero_tensor", "build_sequence", "test_build_sequence",
                "    return torch.cat([support, query], dim=1), query_y ",
                "    sequence = support.new_zeros(b, n_support + n_query, support.shape[-1])\n"
                "    sequence[:, :n_support] = support\n"
                "    sequence[:, n_support:, :query_x.shape[-1]] = query_x\n"
                "    return sequence, query_y ",
                "the sequence allocated as zeros and filled by slices"),
    # -- lstm_learner -----------------------------------------------------------------------------------
    Alternative("one_expression", "lstm_learner", "test_lstm_learner",
                "h1, _ = self.lstm1(sequence)          # (B, T, hidden)\n        h2, _ = self.lstm2(h1)"
                "                # (B, T, hidden)\n        return self.readout(h2)",
                "return self.readout(self.lstm2(self.lstm1(sequence)[0])[0])",
                "the three modules chained in one expression"),
    Alternative("explicit_zero_state", "lstm_learner", "test_lstm_learner",
                "h1, _ = self.lstm1(sequence)          # (B, T, hidden)\n        h2, _ = self.lstm2(h1)",
                "zero = sequence.new_zeros(1, sequence.shape[0], self.lstm1.hidden_size)\n"
                "        h1, _ = self.lstm1(sequence, (zero, zero))\n"
                "        h2, _ = self.lstm2(h1, (zero, zero))",
                "the initial states passed explicitly as zeros, which is the default"),
    Alternative("step_by_step", "lstm_learner", "test_lstm_learner",
                "h1, _ = self.lstm1(sequence)          # (B, T, hidden)\n        h2, _ = self.lstm2(h1)",
                "s1 = s2 = None\n        outs = []\n"
                "        for t in range(sequence.shape[1]):\n"
                "            o1, s1 = self.lstm1(sequence[:, t:t + 1], s1)\n"
                "            o2, s2 = self.lstm2(o1, s2)\n"
                "            outs.append(o2)\n"
                "        h2 = torch.cat(outs, dim=1)",
                "the two LSTMs stepped one position at a time, carrying their states"),
    # -- query_loss -------------------------------------------------------------------------------------
    Alternative("classes_in_dim_one", "query_loss", "test_query_loss",
                "return F.cross_entropy(query_logits.reshape(-1, logits.shape[-1]), query_y.reshape(-1))",
                "return F.cross_entropy(query_logits.transpose(1, 2), query_y)",
                "cross_entropy on (B, N, M) logits against (B, M) labels, no flattening"),
    Alternative("log_softmax_gather", "query_loss", "test_query_loss",
                "return F.cross_entropy(query_logits.reshape(-1, logits.shape[-1]), query_y.reshape(-1))",
                "return -query_logits.log_softmax(dim=-1).gather(-1, query_y.unsqueeze(-1)).mean()",
                "the negative log-likelihood written out with log_softmax and gather"),
    # -- accuracy_by_position ---------------------------------------------------------------------------
    Alternative("sum_over_batch_size", "accuracy_by_position", "test_accuracy_by_position",
                "return (predictions == query_y).float().mean(dim=0)",
                "return (predictions == query_y).sum(dim=0) / query_y.shape[0]",
                "counts divided by the batch size (true division gives a float tensor)"),
    Alternative("loop_over_positions", "accuracy_by_position", "test_accuracy_by_position",
                "return (predictions == query_y).float().mean(dim=0)",
                "return torch.stack([(predictions[:, m] == query_y[:, m]).float().mean()\n"
                "                        for m in range(query_y.shape[1])])",
                "a loop over the query positions, stacked"),
    # -- causal_mask ------------------------------------------------------------------------------------
    Alternative("arange_comparison", "causal_mask", "test_causal_mask",
                "return torch.ones(length, length, dtype=torch.bool, device=device).triu(diagonal=1)",
                "position = torch.arange(length, device=device)\n"
                "    return position.unsqueeze(0) > position.unsqueeze(1)",
                "key index greater than query index, by broadcasting"),
    Alternative("not_lower_triangle", "causal_mask", "test_causal_mask",
                "return torch.ones(length, length, dtype=torch.bool, device=device).triu(diagonal=1)",
                "return ~torch.ones(length, length, dtype=torch.bool, device=device).tril()",
                "the complement of the lower triangle"),
    Alternative("float_triu_then_bool", "causal_mask", "test_causal_mask",
                "return torch.ones(length, length, dtype=torch.bool, device=device).triu(diagonal=1)",
                "return torch.triu(torch.ones(length, length, device=device), diagonal=1).bool()",
                "a float upper triangle turned into booleans"),
    # -- meta_training_step -----------------------------------------------------------------------------
    Alternative("model_zero_grad_first", "meta_training_step", "test_meta_training_step",
                "    logits = model(sequence)                  # (B, S+M, C)\n"
                "    loss = query_loss(logits, query_y)\n    optimizer.zero_grad()\n",
                "    model.zero_grad()\n    logits = model(sequence)\n"
                "    loss = query_loss(logits, query_y)\n",
                "the model's gradients cleared first, before the forward pass (the optimiser holds exactly "
                "them)"),
    Alternative("zero_grad_keeps_tensors", "meta_training_step", "test_meta_training_step",
                "optimizer.zero_grad()", "optimizer.zero_grad(set_to_none=False)",
                "gradients zeroed in place instead of set to None"),
    Alternative("copies_under_no_grad", "meta_training_step", "test_meta_training_step",
                "return loss.detach(), logits.detach()",
                "with torch.no_grad():\n        return loss.clone(), logits.clone()",
                "copies made under no_grad, which carry no graph either"),
]
