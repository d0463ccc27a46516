"""mtml_utils.effects: the course's rule for claiming an effect (every seed, or mean difference > 2 SE)."""

from __future__ import annotations

import math

import pytest
import torch

from mtml_utils.effects import compare, parse_line


def test_an_ordering_on_every_seed_holds_even_with_a_large_spread():
    e = compare("a below b", [0.1, 0.5, 0.2], "<", [0.11, 0.9, 0.21])
    assert (e.wins, e.n) == (3, 3) and e.holds
    assert e.mean < 2 * e.se  # it holds by the every-seed rule alone


def test_a_mean_beyond_two_standard_errors_holds_with_one_seed_against_it():
    diffs = [1.0, 1.1, 0.9, 1.05, -0.1]
    e = compare("a above b", diffs, ">", [0.0] * 5)
    assert e.wins == 4 and e.mean > 2 * e.se and e.holds


def test_an_ordering_inside_the_seed_spread_is_not_shown():
    e = compare("noise", [0.58, 1.1, 0.05], "<", [0.49, 1.12, 0.10])
    assert e.wins == 2 and not e.holds
    assert "NOT SHOWN" in e.line()


def test_standard_error_is_the_sample_standard_deviation_over_sqrt_n():
    e = compare("x", [3.0, 5.0, 7.0], ">", [1.0, 2.0, 3.0])  # diffs 2, 3, 4
    assert e.mean == pytest.approx(3.0)
    assert e.se == pytest.approx(1.0 / math.sqrt(3))


def test_log_compares_ratios_and_rejects_non_positive_values():
    e = compare("ratio", [2.0, 4.0], ">", [1.0, 1.0], log=True)
    assert e.mean == pytest.approx((math.log(2) + math.log(4)) / 2)
    with pytest.raises(ValueError, match="positive"):
        compare("ratio", [0.0, 1.0], ">", 1.0, log=True)


def test_a_threshold_and_a_tensor_are_accepted_and_lines_round_trip():
    e = compare("error below chance", torch.tensor([0.2, 0.3, 0.25]), "<", 0.5)
    parsed = parse_line(e.line())
    assert parsed == {"name": "error below chance", "mean": round(e.mean, 3), "se": round(e.se, 3), "wins": 3,
                      "n": 3, "holds": True}
    assert parse_line("a line that is not an effect") is None


@pytest.mark.parametrize(("a", "op", "b", "match"), [
    ([1.0], "<=", [2.0], "op"),
    ([1.0, 2.0], "<", [2.0], "same number"),
    ([], "<", [], "same number"),
])
def test_bad_input_is_refused_with_the_reason(a, op, b, match):
    with pytest.raises(ValueError, match=match):
        compare("x", a, op, b)


def test_a_name_with_the_field_separator_is_refused():
    with pytest.raises(ValueError, match=r"\|"):
        compare("a | b", [1.0], "<", [2.0])


def test_the_docstring_examples_run():
    import doctest

    import mtml_utils.effects

    assert doctest.testmod(mtml_utils.effects).failed == 0


def test_an_unclaimed_comparison_is_not_read_as_an_effect():
    e = compare("paper's effect", [0.5, 0.4], "<", [0.45, 0.5])
    line = e.line(claimed=False)
    assert line.startswith("comparison |") and "within the seed spread" in line
    assert parse_line(line) is None


def test_a_comparison_that_goes_the_other_way_says_so():
    e = compare("transformer above LSTM", [0.70, 0.72, 0.71], ">", [0.80, 0.79, 0.83])
    assert not e.holds and e.reversed
    assert e.line(claimed=False).endswith("| the other way, beyond the seed spread")
    mixed = compare("transformer above LSTM", [0.70, 0.82, 0.71], ">", [0.80, 0.79, 0.83])
    assert not mixed.holds and not mixed.reversed
    assert mixed.line(claimed=False).endswith("| within the seed spread")


def test_a_conclusion_sentence_reads_the_spread_and_verdict_of_the_printed_line():
    e = compare("transformer above LSTM", [0.70, 0.72, 0.71], ">", [0.80, 0.79, 0.83])
    assert e.spread(2) == "-0.10 ± 0.01 SE, 0 of 3 seeds" and e.spread() == "-0.097 ± 0.015 SE, 0 of 3 seeds"
    assert e.verdict == "the other way, beyond the seed spread" and e.line(claimed=False).endswith(e.verdict)
    held = compare("proto above MAML", [0.86, 0.85, 0.87], ">", [0.73, 0.75, 0.72])
    assert held.verdict == "beyond the seed spread" and held.spread(2).endswith("3 of 3 seeds")
