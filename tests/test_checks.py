"""Visible-test checks: they pass on right answers and say what was expected and what came otherwise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mtml_utils import checks


def test_checks_pass_on_right_values():
    checks.check_shape("z", torch.zeros(4, 3), (4, None))
    checks.check_dtype("z", torch.zeros(2), torch.float32)
    checks.check_close("z", torch.tensor([1.0, 2.0]), [1.0, 2.0 + 1e-7])
    checks.check_equal("ids", torch.tensor([1, 2]), np.array([1, 2]))
    checks.check_equal("n", 3, 3)
    checks.check_equal("ids", torch.tensor([1, 2]), [1, 2])  # a plain list as the expected value
    checks.check_equal("ids", [1, 2], torch.tensor([1, 2]))
    checks.check_type("z", torch.zeros(1), torch.Tensor)
    checks.check_true(True, "never shown")


def test_shape_failure_names_both_shapes():
    with pytest.raises(checks.CheckFailed, match=r"z: expected shape \(4, any\), got \(3, 4\)"):
        checks.check_shape("z", torch.zeros(3, 4), (4, None))


def test_dtype_failure_names_both_dtypes():
    with pytest.raises(checks.CheckFailed, match="expected dtype torch.int64, got torch.float32"):
        checks.check_dtype("labels", torch.zeros(3), torch.long)


def test_close_failure_lists_offending_values():
    got = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
    want = torch.tensor([[1.0, 2.5], [3.0, 4.0]])
    with pytest.raises(checks.CheckFailed) as err:
        checks.check_close("weights", got, want)
    message = str(err.value)
    assert message.startswith("weights:")
    assert "1 of 4 values" in message and "at (0, 1): got 2, expected 2.5" in message


def test_close_failure_on_shape_and_none():
    with pytest.raises(checks.CheckFailed, match="expected shape \\(2,\\)"):
        checks.check_close("v", torch.zeros(3), torch.zeros(2))
    with pytest.raises(checks.CheckFailed, match="forget to `return`"):
        checks.check_close("v", None, 1.0)


def test_close_treats_nan_as_a_failure():
    with pytest.raises(checks.CheckFailed, match="1 of 2"):
        checks.check_close("v", torch.tensor([1.0, float("nan")]), torch.tensor([1.0, 1.0]))


def test_equal_failure_lists_offending_values():
    with pytest.raises(checks.CheckFailed, match=r"at \(2,\): got 3, expected 4"):
        checks.check_equal("ids", torch.tensor([1, 2, 3]), torch.tensor([1, 2, 4]))
    with pytest.raises(checks.CheckFailed, match="expected 3, got int 4"):
        checks.check_equal("n", 4, 3)


def test_type_and_true_failures():
    with pytest.raises(checks.CheckFailed, match="expected a Tensor, got list"):
        checks.check_type("z", [1, 2], torch.Tensor)
    with pytest.raises(checks.CheckFailed, match="task ids must be distinct"):
        checks.check_true(False, "task ids must be distinct")


def test_check_true_refuses_a_message_in_place_of_the_condition():
    """Swapped arguments would make the check pass whatever it tests: a non-empty string is truthy."""
    with pytest.raises(TypeError, match="pass the condition first"):
        checks.check_true("the blocks are frozen", False)  # type: ignore[arg-type]
