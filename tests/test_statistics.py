"""The claims' statistics against hand-worked paired data."""

import math

import numpy as np
import pytest

from experiments import statistics
from experiments.statistics import Verdict

SEEDS = range(6)


def cells(a, b):
    return dict(zip(SEEDS, a)), dict(zip(SEEDS, b))


def unpaired_rule(a, b):
    """The rule the tables used before: A beats B when the difference of the cells'
    means (B - A, errors) exceeds the larger of their seed standard deviations."""
    a, b = np.array(list(a.values())), np.array(list(b.values()))
    return b.mean() - a.mean() > max(a.std(ddof=1), b.std(ddof=1))


def test_unpaired_rule_says_yes_where_the_paired_test_cannot_decide():
    # Errors whose seeds move in opposite directions: B - A = 3.2, -0.8, ... mean 1.2,
    # sd 2.191 (ddof 1), t = 1.2 / (2.191 / sqrt 6) = 1.342 on 5 df, p = 0.237.
    a, b = cells([10, 12] * 3, [13.2, 11.2] * 3)
    assert unpaired_rule(a, b)  # 1.2 > 1.095: "reproduced" before
    result = statistics.paired(a, b, higher_is_better=False)
    assert result.mean == pytest.approx(1.2)
    assert result.t_p == pytest.approx(0.2373, abs=1e-3)
    # |sum| >= 7.2 only when all three 3.2s share a sign (any signs of the 0.8s): 16 of 64
    assert result.sign_flip_p == pytest.approx(0.25)
    assert result.ci95[0] < 0 < result.ci95[1]
    assert statistics.judge(result, result.t_p) is Verdict.INCONCLUSIVE


def test_paired_test_decides_where_the_unpaired_rule_cannot():
    # Seeds differ a lot (sd 18.7) but B is worse by 0.8 to 1.2 in every seed: the
    # spread between seeds hides a consistent paired gain.
    base = [10, 20, 30, 40, 50, 60]
    a, b = cells(base, [x + d for x, d in zip(base, [1.0, 1.2, 0.8, 1.1, 0.9, 1.0])])
    assert not unpaired_rule(a, b)
    result = statistics.paired(a, b, higher_is_better=False)
    # gains 1.0, 1.2, 0.8, 1.1, 0.9, 1.0: mean 1.0, sd 0.1414, t = 17.32, CI 1 +- 0.148
    assert result.ci95 == pytest.approx((1.0 - 2.5706 * 0.1414 / math.sqrt(6),
                                         1.0 + 2.5706 * 0.1414 / math.sqrt(6)), abs=1e-3)
    assert result.sign_flip_p == pytest.approx(2 / 64)  # only all-plus and all-minus
    assert statistics.judge(result, result.t_p) is Verdict.SUPPORTED
    # The same numbers with B the better one contradict the claim "A beats B".
    reverse = statistics.paired(b, a, higher_is_better=False)
    assert statistics.judge(reverse, reverse.t_p) is Verdict.CONTRADICTED


def test_higher_is_better_turns_the_gain_around():
    a, b = cells([0.5, 0.6, 0.7, 0.5, 0.6, 0.7], [0.4, 0.5, 0.6, 0.4, 0.5, 0.6])
    assert statistics.paired(a, b, higher_is_better=True).mean == pytest.approx(0.1)
    assert statistics.paired(a, b, higher_is_better=False).mean == pytest.approx(-0.1)


def test_a_paper_sized_effect_can_be_excluded_without_a_significant_difference():
    # Gains around zero with a narrow interval: -0.2 .. 0.2, mean 0, sd 0.1414, 95 % CI
    # +- 0.148. The paper's gain of 1.0 lies far above it; a gain of 0.1 does not.
    a, b = cells([10.0] * 6, [10.2, 9.8, 10.1, 9.9, 10.0, 10.0])
    result = statistics.paired(a, b, higher_is_better=False)
    assert result.t_p == pytest.approx(1.0)
    assert statistics.judge(result, result.t_p, paper_gain=1.0) is Verdict.PAPER_SIZED_EXCLUDED
    assert statistics.judge(result, result.t_p, paper_gain=0.1) is Verdict.INCONCLUSIVE


def test_matches_is_a_non_inferiority_test_with_the_declared_margin():
    # A is worse than B by 0.1 on average (errors): gains -0.2, 0, -0.1, -0.15, -0.05,
    # -0.1: mean -0.1, sd 0.0707, 90 % CI -0.1 +- 2.015 * 0.0289 = (-0.158, -0.042).
    a, b = cells([10.2, 10.0, 10.1, 10.15, 10.05, 10.1], [10.0] * 6)
    result = statistics.paired(a, b, higher_is_better=False)
    assert result.ci90 == pytest.approx((-0.1582, -0.0418), abs=1e-3)
    # Margin 0.5 (5 % of B's mean 10): within it, supported.
    assert statistics.judge(result, result.t_p, matches_margin=0.5) is Verdict.SUPPORTED
    # Margin 0.01: the 95 % interval (-0.174, -0.026) lies below -0.01: contradicted.
    assert statistics.judge(result, result.t_p, matches_margin=0.01) is Verdict.CONTRADICTED
    # Margin 0.1: neither.
    assert statistics.judge(result, result.t_p, matches_margin=0.1) is Verdict.INCONCLUSIVE


def test_holm_adjusts_over_the_claims_of_a_table():
    # Three claims with p 0.02, 0.04, 0.30: adjusted 0.06, 0.08, 0.30 (3x, 2x, 1x, kept
    # monotone). A claim that was not tested (NaN) does not count.
    assert statistics.holm([0.04, 0.02, 0.30]) == pytest.approx([0.08, 0.06, 0.30])
    adjusted = statistics.holm([0.04, float("nan"), 0.02])
    assert adjusted[0] == pytest.approx(0.04) and adjusted[2] == pytest.approx(0.04)
    assert math.isnan(adjusted[1])
    # Significant alone (p 0.02 < 0.05) but not after Holm (0.06): no longer supported.
    gains = [1.0, 2.0, 0.5, 1.5, -0.3, 1.2]
    a, b = cells([10 - g for g in gains], [10.0] * 6)
    result = statistics.paired(a, b, higher_is_better=False)
    assert result.t_p < 0.05
    assert statistics.judge(result, result.t_p) is Verdict.SUPPORTED
    assert statistics.judge(result, statistics.holm([result.t_p, 0.5, 0.6])[0]) \
        is Verdict.INCONCLUSIVE


def test_fewer_than_six_seeds_give_numbers_but_no_verdict():
    a = {0: 10.0, 1: 11.0, 2: 12.0}
    b = {0: 12.0, 1: 13.0, 2: 14.5}
    result = statistics.paired(a, b, higher_is_better=False)
    assert result.n == 3 and result.mean == pytest.approx(2.1667, abs=1e-4)
    assert statistics.judge(result, result.t_p) is Verdict.TOO_FEW_SEEDS
    assert statistics.paired({0: 1.0}, {0: 2.0}, False) is None
    assert statistics.judge(None, float("nan")) is Verdict.NOT_RUN


def test_identical_gains_have_no_spread_to_test():
    a, b = cells([10.0] * 6, [11.0] * 6)
    result = statistics.paired(a, b, higher_is_better=False)
    assert result.ci95 == (1.0, 1.0) and result.t_p == 0.0
    assert statistics.judge(result, result.t_p) is Verdict.SUPPORTED
