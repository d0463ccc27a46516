"""Forgery families: a missing check hidden behind a patch of the kernel-side code that hidden tests use.

Every probe names the exception a call raised with ``autograder.wire.raises``, which runs in the student's
kernel, so a submission can replace it before the probes run. Such a patch must never rescue a missing
check: the hidden tests send valid and invalid inputs mixed (only the grader knows which is which) or check
what the call did by values the grader compares itself. ``test_mistake_catalogue.py`` runs each
:class:`Forgery` in the catalogue's kernel: the exercise whose check is missing must still lose its points.
``test_autograder_adversarial.py`` grades notebook 01's family end to end as a submission.
"""

from __future__ import annotations

from dataclasses import dataclass

#: A cell that makes every probe's raises() answer "ValueError", as if every bad input were rejected.
RAISES_ALWAYS_VALUE_ERROR = ("import autograder.wire as _wire\n"
                             "_wire.raises = lambda f, *a, **k: 'ValueError'\n")
#: A cell that makes every probe's raises() answer None, as if every call had worked.
RAISES_NEVER = "import autograder.wire as _wire\n_wire.raises = lambda f, *a, **k: None\n"


@dataclass(frozen=True)
class Forgery:
    """A mistake (``old`` replaced by ``new`` in the answer cell) plus ``patch``, run first in that cell."""

    name: str
    """Short identifier."""
    answer_id: str
    """grade_id of the answer cell that gets the mistake and the patch."""
    test_id: str
    """grade_id of the test that must still lose its points."""
    old: str
    """Substring of the solution (occurring exactly once in the answer cell)..."""
    new: str
    """...and what replaces it: the check that goes missing."""
    patch: str
    """Code run at the top of the answer cell, before the function is defined: the forgery."""
    why: str
    """What the forger hopes for."""


FORGERIES: dict[str, list[Forgery]] = {
    "01_task_definition": [
        Forgery("unvalidated_ids_raises_forged", "one_hot_descriptors", "test_one_hot_descriptors",
                "    if task_ids.numel() and (task_ids.min() < 0 or task_ids.max() >= n_tasks):\n",
                "    if False:\n", RAISES_ALWAYS_VALUE_ERROR,
                "ids outside 0..n_tasks-1 are not rejected, and raises() claims they are"),
    ],
    "03_negative_transfer": [
        Forgery("graph_freed_raises_forged", "task_gradients", "test_task_gradients",
                "    for loss in task_losses:\n        grads = torch.autograd.grad(loss, shared_parameters, "
                "retain_graph=True, allow_unused=True)",
                "    task_losses = list(task_losses)\n    for i, loss in enumerate(task_losses):\n"
                "        grads = torch.autograd.grad(loss, shared_parameters, "
                "retain_graph=i < len(task_losses) - 1, allow_unused=True)",
                RAISES_NEVER,
                "the graph is kept between the tasks but freed after the last one, and raises() claims "
                "backpropagating the losses afterwards still works"),
    ],
    "05_blackbox_meta_learning": [
        Forgery("unvalidated_sizes_raises_forged", "sample_episodes", "test_sample_episodes",
                '        raise ValueError(f"need 1 <= n_way <= {n_classes}',
                '        pass\n    if False:\n        raise ValueError(f"need 1 <= n_way <= {n_classes}',
                RAISES_ALWAYS_VALUE_ERROR,
                "episodes that do not fit are not rejected, and raises() claims they are"),
    ],
}
"""Per assignment, the forgeries its hidden tests must see through."""
