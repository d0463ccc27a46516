"""Notebook 04's part of the classic-mistake catalogue (see classic_mistakes.py): mistakes beyond the
end-to-end sample listed there, and valid alternatives."""

from __future__ import annotations

from classic_mistakes import Alternative, Mistake

_GROUPS_LOOP = (
    "    groups = []\n"
    "    for position, (name, child) in enumerate(layers):\n"
    "        params = [p for p in child.parameters() if p.requires_grad]\n"
    "        if params:\n"
    "            groups.append({\"name\": name, \"params\": params, \"lr\": "
    "head_lr * decay ** (len(layers) - 1 - position)})\n"
)

MISTAKES: list[Mistake] = [
    # set_trainable
    Mistake("freeze_ignores_flag", "set_trainable", "test_set_trainable",
            "parameter.requires_grad_(trainable)", "parameter.requires_grad_(False)",
            "requires_grad always switched off: unfreezing leaves the parameters frozen"),
    Mistake("freeze_mode_of_the_top_module_only", "set_trainable", "test_set_trainable",
            "    module.train(trainable)\n", "    module.training = trainable\n",
            "setting module.training flips the flag of the outer module only, not of its BatchNorm layers"),
    Mistake("freeze_forgets_return", "set_trainable", "test_set_trainable",
            "    return module\n", "",
            "the function changes the module in place and forgets to return it"),
    Mistake("freeze_module_attribute", "set_trainable", "test_set_trainable",
            "    for parameter in module.parameters():\n        parameter.requires_grad_(trainable)",
            "    module.requires_grad = trainable",
            "requires_grad set as an attribute of the module: no parameter sees it"),
    Mistake("freeze_always_eval", "set_trainable", "test_set_trainable",
            "module.train(trainable)", "module.eval()",
            "the module put in eval mode whatever the flag: unfreezing leaves BatchNorm in eval mode"),
    # new_head
    Mistake("head_reads_out_features", "new_head", "test_new_head",
            "nn.Linear(old.in_features, n_classes", "nn.Linear(old.out_features, n_classes",
            "the new head's input size taken from the old head's number of outputs"),
    Mistake("head_ignores_dtype", "new_head", "test_new_head",
            ", dtype=old.weight.dtype)", ")",
            "the new head created in the default float32, whatever the model's dtype"),
    Mistake("head_zero_init", "new_head", "test_new_head",
            "    return model\n",
            "    nn.init.zeros_(model.head.weight)\n    nn.init.zeros_(model.head.bias)\n    return model\n",
            "the new head initialised at zero instead of nn.Linear's default random initialisation"),
    Mistake("head_fixed_seed", "new_head", "test_new_head",
            "    old = model.head\n",
            "    torch.manual_seed(0)  # reproducible heads\n    old = model.head\n",
            "a fixed seed inside the function: every new head starts from the same weights"),
    Mistake("head_returned_instead_of_model", "new_head", "test_new_head",
            "    return model\n", "    return model.head\n",
            "the new head returned instead of the model"),
    Mistake("head_without_bias", "new_head", "test_new_head",
            "n_classes, device=", "n_classes, bias=False, device=",
            "the new head built without a bias"),
    # layerwise_lr_groups
    Mistake("groups_exponent_off_by_one", "layerwise_lr_groups", "test_layerwise_lr_groups",
            "len(layers) - 1 - position", "len(layers) - position",
            "the head already gets one factor of decay: off by one in the exponent"),
    Mistake("groups_positions_of_trainable_children", "layerwise_lr_groups", "test_layerwise_lr_groups",
            "if any(True for _ in child.parameters())",
            "if any(p.requires_grad for p in child.parameters())",
            "positions counted over the trainable children only: a frozen child in the middle shifts the "
            "rest"),
    Mistake("groups_count_parameterless_children", "layerwise_lr_groups", "test_layerwise_lr_groups",
            "layers = [(name, child) for name, child in model.named_children() "
            "if any(True for _ in child.parameters())]",
            "layers = list(model.named_children())",
            "children without parameters (ReLU, pooling) counted as layers for the decay"),
    Mistake("groups_hard_coded_head_lr", "layerwise_lr_groups", "test_layerwise_lr_groups",
            "head_lr * decay **", "0.01 * decay **",
            "the head's learning rate hard-coded from the example instead of the argument"),
    Mistake("groups_include_frozen", "layerwise_lr_groups", "test_layerwise_lr_groups",
            "params = [p for p in child.parameters() if p.requires_grad]",
            "params = list(child.parameters())",
            "frozen parameters handed to the optimizer as well"),
    Mistake("groups_decay_from_the_input", "layerwise_lr_groups", "test_layerwise_lr_groups",
            "decay ** (len(layers) - 1 - position)", "decay ** position",
            "the learning rate decays from the input towards the head instead of from the head down"),
    # linear_probe
    Mistake("probe_hard_coded_steps", "linear_probe", "test_linear_probe",
            "optimizer, n_steps,", "optimizer, 30,",
            "the number of steps hard-coded from the example instead of n_steps"),
    Mistake("probe_hard_coded_lr", "linear_probe", "test_linear_probe",
            "lr=lr)", "lr=0.05)",
            "the probe's learning rate hard-coded from the example instead of lr"),
    Mistake("probe_forgets_to_freeze", "linear_probe", "test_linear_probe",
            "    for name, child in model.named_children():\n        if name != \"head\":\n"
            "            set_trainable(child, False)\n",
            "",
            "no need to freeze since the features are computed under no_grad: but the encoder stays in train "
            "mode and its BatchNorm statistics move"),
    Mistake("probe_head_left_frozen", "linear_probe", "test_linear_probe",
            "    set_trainable(model.head, True)\n", "",
            "the head assumed trainable: a head frozen earlier is never unfrozen"),
    Mistake("probe_with_sgd", "linear_probe", "test_linear_probe",
            "torch.optim.Adam(model.head.parameters()", "torch.optim.SGD(model.head.parameters()",
            "plain SGD where the exercise asks for Adam"),
    # lp_ft
    Mistake("lpft_forgets_to_unfreeze", "lp_ft", "test_lp_ft",
            "    set_trainable(model, True)\n", "",
            "stage 2 starts without unfreezing: the encoder stays frozen after the probe"),
    Mistake("lpft_unfreeze_requires_grad_only", "lp_ft", "test_lp_ft",
            "set_trainable(model, True)", "model.requires_grad_(True)",
            "unfreezing with requires_grad only: the blocks stay in eval mode"),
    Mistake("lpft_optimizer_before_unfreezing", "lp_ft", "test_lp_ft",
            "    set_trainable(model, True)\n"
            "    optimizer = torch.optim.Adam(layerwise_lr_groups(model, head_lr, decay))\n",
            "    optimizer = torch.optim.Adam(layerwise_lr_groups(model, head_lr, decay))\n"
            "    set_trainable(model, True)\n",
            "the parameter groups built before unfreezing: they hold the head only"),
    Mistake("lpft_single_learning_rate", "lp_ft", "test_lp_ft",
            "torch.optim.Adam(layerwise_lr_groups(model, head_lr, decay))",
            "torch.optim.Adam(model.parameters(), lr=head_lr)",
            "one learning rate for the whole model: decay ignored"),
    Mistake("lpft_ignores_seed", "lp_ft", "test_lp_ft",
            "batch_size=batch_size, seed=seed,", "batch_size=batch_size,",
            "the seed argument not passed on to train_classifier"),
    Mistake("lpft_probe_with_head_lr", "lp_ft", "test_lp_ft",
            "= linear_probe(model, x, y, probe_steps, probe_lr)",
            "= linear_probe(model, x, y, probe_steps, head_lr)",
            "the probe trained with the fine-tuning learning rate instead of probe_lr"),
    Mistake("lpft_finetune_with_probe_steps", "lp_ft", "test_lp_ft",
            "x, y, finetune_steps,", "x, y, probe_steps,",
            "fine-tuning run for probe_steps steps instead of finetune_steps"),
]

ALTERNATIVES: list[Alternative] = [
    Alternative("freeze_module_requires_grad", "set_trainable", "test_set_trainable",
                "    for parameter in module.parameters():\n        parameter.requires_grad_(trainable)",
                "    module.requires_grad_(trainable)",
                "nn.Module.requires_grad_ sets the flag on every parameter itself"),
    Alternative("freeze_train_or_eval", "set_trainable", "test_set_trainable",
                "    module.train(trainable)\n", "    if trainable:\n        module.train()\n    else:\n"
                "        module.eval()\n",
                "train() or eval() chosen by the flag"),
    Alternative("freeze_modes_by_hand", "set_trainable", "test_set_trainable",
                "    module.train(trainable)\n",
                "    for sub in module.modules():\n        sub.training = trainable\n",
                "the training flag set on every sub-module by hand"),
    Alternative("head_to_like_old", "new_head", "test_new_head",
                "model.head = nn.Linear(old.in_features, n_classes, device=old.weight.device, "
                "dtype=old.weight.dtype)",
                "model.head = nn.Linear(model.feature_dim, n_classes).to(old.weight)",
                "built on the CPU in float32, then moved to the old weight's device and dtype"),
    Alternative("head_factory_kwargs", "new_head", "test_new_head",
                "model.head = nn.Linear(old.in_features, n_classes, device=old.weight.device, "
                "dtype=old.weight.dtype)",
                "factory = {\"device\": old.weight.device, \"dtype\": old.weight.dtype}\n"
                "    model.head = nn.Linear(old.weight.shape[1], n_classes, **factory)",
                "input size read from the weight's shape, device and dtype passed as factory kwargs"),
    Alternative("groups_from_the_head_down", "layerwise_lr_groups", "test_layerwise_lr_groups",
                _GROUPS_LOOP,
                "    groups, lr = [], head_lr\n"
                "    for name, child in reversed(layers):\n"
                "        params = [p for p in child.parameters() if p.requires_grad]\n"
                "        if params:\n"
                "            groups.insert(0, {\"name\": name, \"params\": params, \"lr\": lr})\n"
                "        lr *= decay\n",
                "walking from the head down, multiplying the learning rate by decay at each layer"),
    Alternative("groups_len_of_list", "layerwise_lr_groups", "test_layerwise_lr_groups",
                "if any(True for _ in child.parameters())", "if len(list(child.parameters())) > 0",
                "children with parameters found by counting them"),
    Alternative("probe_recomputes_features", "linear_probe", "test_linear_probe",
                "F.cross_entropy(model.head(features), y)", "F.cross_entropy(model(x), y)",
                "the frozen encoder (in eval mode) run at every step: slower, same result"),
    Alternative("probe_freeze_all_then_head", "linear_probe", "test_linear_probe",
                "    for name, child in model.named_children():\n        if name != \"head\":\n"
                "            set_trainable(child, False)\n",
                "    set_trainable(model, False)\n",
                "freeze the whole model, then unfreeze the head"),
    Alternative("lpft_keyword_arguments", "lp_ft", "test_lp_ft",
                "= linear_probe(model, x, y, probe_steps, probe_lr)",
                "= linear_probe(model, x, y, n_steps=probe_steps, lr=probe_lr)",
                "the probe's arguments passed by keyword"),
    Alternative("lpft_unfreeze_by_children", "lp_ft", "test_lp_ft",
                "    set_trainable(model, True)\n",
                "    for child in model.children():\n"
                "        set_trainable(child, True)\n    model.train()\n",
                "every child unfrozen in turn, then the model itself put in train mode"),
]
