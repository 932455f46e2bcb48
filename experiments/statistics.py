"""Paired statistics for a table's claims: each seed trains both cells of a claim on the
same labeled subset and initial weights, so the claim is judged on the per-seed
differences, not on two cells' means and spreads.

For a claim "A beats B" on a metric, a seed's *gain* is how much A beats B on it (B - A
for an error, A - B for a correlation), so a positive gain is the claimed direction.
Over the seeds both cells ran:

- the paired t-test (scipy.stats.ttest_1samp on the gains, i.e. ttest_rel) with its 95 %
  confidence interval of the mean gain;
- the exact sign-flip p-value: the share of the 2^n ways of flipping the gains' signs
  whose |mean| is at least the observed |mean| (no normality assumed);
- Holm's step-down adjustment of the t-test p-values over a table's claims.

Verdicts (`judge`), on the Holm-adjusted p and the 95 % interval, with at least
MIN_SEEDS seeds:

    supported        p < 0.05 and the interval lies above 0
    contradicted     p < 0.05 and the interval lies below 0
    paper-sized effect excluded
                     not significant, and the interval's upper end is below the gain
                     the paper reports (its relative gain times B's mean)
    inconclusive     none of these (the n is part of the verdict's text)
    too few seeds    fewer than MIN_SEEDS paired seeds: the numbers are shown, no verdict

A "matches" claim ("A is no worse than B") is a non-inferiority test with a margin the
table declares (a share of B's mean): supported when the one-sided 95 % bound (the
lower end of the 90 % interval) of the gain is above -margin, contradicted when the
95 % interval lies entirely below -margin.
"""

from __future__ import annotations

import dataclasses
import enum
import itertools
import math

import numpy as np
from scipy import stats

MIN_SEEDS = 6
ALPHA = 0.05


class Verdict(str, enum.Enum):
    SUPPORTED = "supported"
    CONTRADICTED = "contradicted"
    PAPER_SIZED_EXCLUDED = "paper-sized effect excluded"
    INCONCLUSIVE = "inconclusive"
    TOO_FEW_SEEDS = "too few seeds"
    NOT_RUN = "not run yet"


@dataclasses.dataclass(frozen=True)
class Paired:
    """Gains of A over B per seed (positive: the claimed direction) and their tests."""
    seeds: tuple[int, ...]
    gains: tuple[float, ...]
    mean: float
    ci95: tuple[float, float]
    ci90: tuple[float, float]
    t_p: float                 # two-sided paired t-test
    sign_flip_p: float         # exact two-sided sign-flip test

    @property
    def n(self) -> int:
        return len(self.seeds)


def paired(a: dict[int, float], b: dict[int, float], higher_is_better: bool) -> Paired | None:
    """A against B ({seed: metric}) on the seeds both have; None with fewer than 2.

    >>> p = paired({0: 10.0, 1: 12.0, 2: 11.0}, {0: 12.0, 1: 13.0, 2: 14.0}, False)
    >>> p.gains, round(p.mean, 4)  # B - A: A's error is lower by 2, 1, 3
    ((2.0, 1.0, 3.0), 2.0)
    >>> round(p.t_p, 4), p.sign_flip_p  # t = 2 / (1 / sqrt 3) = 3.464, 2 df; flips: 2 of 8
    (0.0742, 0.25)
    """
    seeds = tuple(sorted(set(a) & set(b)))
    if len(seeds) < 2:
        return None
    sign = 1.0 if higher_is_better else -1.0
    gains = np.array([sign * (a[s] - b[s]) for s in seeds], np.float64)
    mean = float(gains.mean())
    if np.ptp(gains) == 0:  # identical gains: no spread to test against
        p = 1.0 if mean == 0 else 0.0
        ci95 = ci90 = (mean, mean)
    else:
        test = stats.ttest_1samp(gains, 0.0)
        p = float(test.pvalue)
        ci95 = tuple(float(x) for x in test.confidence_interval(0.95))
        ci90 = tuple(float(x) for x in test.confidence_interval(0.90))
    return Paired(seeds, tuple(float(g) for g in gains), mean, ci95, ci90, p,
                  sign_flip_p(gains))


def sign_flip_p(gains) -> float:
    """Exact two-sided sign-flip (paired permutation) p-value of the mean gain: the share
    of all 2^n sign patterns whose |sum| is at least the observed |sum|.

    >>> sign_flip_p([1.0, 2.0, 3.0])  # only the all-plus and all-minus patterns: 2 of 8
    0.25
    >>> sign_flip_p([1.0, -1.0])      # every pattern is as extreme: 4 of 4
    1.0
    """
    gains = np.asarray(gains, np.float64)
    observed = abs(gains.sum())
    signs = np.array(list(itertools.product((1.0, -1.0), repeat=len(gains))))
    sums = np.abs(signs @ gains)
    return float(np.mean(sums >= observed - 1e-12 * max(1.0, observed)))


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values (family-wise error over a table's claims);
    NaN (an untested claim) stays NaN and does not count.

    >>> holm([0.01, 0.04, 0.03])  # sorted 0.01 x3, 0.03 x2, 0.04 x1, kept monotone
    [0.03, 0.06, 0.06]
    """
    tested = [(p, i) for i, p in enumerate(p_values) if not math.isnan(p)]
    out = [float("nan")] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(sorted(tested)):
        running = max(running, min(1.0, (len(tested) - rank) * p))
        out[i] = round(running, 12)
    return out


def judge(result: Paired | None, adjusted_p: float, paper_gain: float | None = None,
          matches_margin: float | None = None, min_seeds: int = MIN_SEEDS) -> Verdict:
    """The verdict of one claim (see the module's docstring). `paper_gain` and
    `matches_margin` are in the metric's units (a relative number times B's mean)."""
    if result is None:
        return Verdict.NOT_RUN
    if result.n < min_seeds:
        return Verdict.TOO_FEW_SEEDS
    low, high = result.ci95
    if matches_margin is not None:
        if result.ci90[0] > -matches_margin:
            return Verdict.SUPPORTED
        if high < -matches_margin:
            return Verdict.CONTRADICTED
        return Verdict.INCONCLUSIVE
    if adjusted_p < ALPHA and low > 0:
        return Verdict.SUPPORTED
    if adjusted_p < ALPHA and high < 0:
        return Verdict.CONTRADICTED
    if paper_gain is not None and paper_gain > 0 and high < paper_gain:
        return Verdict.PAPER_SIZED_EXCLUDED
    return Verdict.INCONCLUSIVE
