"""Validation of a credit model from plain arrays: what a model-risk team measures.

Discrimination (AUC, KS, Gini with bootstrap confidence intervals, the ROC and KS
curves), calibration (a reliability table, the Hosmer–Lemeshow test, the Brier score),
stability (PSI of the score and CSI of each feature between a development and a later
sample), the score distribution, the gains/lift table, and a champion against a
challenger (the swap set, and DeLong's test of their AUCs on the same rows).

Conventions, the same in every function:

- ``y`` is the observed outcome, 1 = bad (defaulted), 0 = good.
- A score is read as *higher = lower risk* (scorecard points) unless
  ``higher_is_riskier=True`` (a probability of default). AUC is the probability that a
  random bad looks riskier than a random good, ties counting one half, so a useful model
  has AUC above 0.5 under either convention.
- Gains tables list the riskiest group first; approving "the top share" means the
  safest share.

Everything here is a pure function of its arguments: no I/O, no model classes, no global
random state (bootstraps take a seed). Bad input raises ``InvalidValidationInput``
listing every problem at once. Rendering lives in ``lendguard.risk.report``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Literal, TypeGuard

import numpy as np
import numpy.typing as npt
from scipy import stats

from lendguard.errors import InvalidValidationInput

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

Reading = Literal["stable", "watch", "shifted"]

PSI_STABLE: Final = 0.10
"""PSI below this reads "stable": no action."""
PSI_SHIFTED: Final = 0.25
"""PSI above this reads "shifted": the population moved; investigate before relying on the
model. In between reads "watch"."""

PSI_EPSILON: Final = 1e-4
"""The share given to a bin that is empty in one sample, so PSI stays finite: an empty bin
contributes (a − ε)·ln(a/ε) instead of infinity. Shares are not renormalised, so the
bias is at most a few ε per empty bin."""

_BOOTSTRAP_CELLS: Final = 1_000_000
"""Resampled rows (or count cells) held in memory at once during a bootstrap."""

_PERCENTILES: Final = (("min", 0.0), ("p1", 1.0), ("p5", 5.0), ("p25", 25.0),
                       ("p50", 50.0), ("p75", 75.0), ("p95", 95.0), ("p99", 99.0),
                       ("max", 100.0))
_MISSING: Final = "missing"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Estimate:
    """A statistic on the full sample and its bootstrap percentile interval.

    Attributes:
      value: the statistic on the sample as given.
      low, high: the interval's bounds (NaN when no resamples were drawn).
      confidence: the interval's level, e.g. 0.95.
    """

    value: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True)
class Discrimination:
    """How well a score separates bads from goods.

    Attributes:
      auc: area under the ROC curve (see the module docstring for the convention).
      gini: 2·AUC − 1, its interval from the same resamples.
      ks: the largest distance between the score's distributions of bads and of goods
        (two-sided, as ``scipy.stats.ks_2samp``).
      ks_score: the score at which that distance is reached: the two distributions differ
        most between "score ≤ ks_score" and "score > ks_score".
      n, n_bad: rows and bads.
      n_bootstrap, seed: how the intervals were drawn.
      higher_is_riskier: the score's convention.
    """

    auc: Estimate
    gini: Estimate
    ks: Estimate
    ks_score: float
    n: int
    n_bad: int
    n_bootstrap: int
    seed: int
    higher_is_riskier: bool


@dataclass(frozen=True)
class RocCurve:
    """The ROC curve, from the riskiest score down: at each point, the share of goods
    (``false_positive_rate``) and of bads (``true_positive_rate``) at or above that risk.
    Both start at 0 and end at 1."""

    false_positive_rate: Floats
    true_positive_rate: Floats


@dataclass(frozen=True)
class KsCurve:
    """The cumulative share of bads and of goods with score ≤ each distinct ``score``
    (ascending). KS is the largest gap between the two."""

    score: Floats
    cum_bad_share: Floats
    cum_good_share: Floats


@dataclass(frozen=True)
class CalibrationBin:
    """One group of the reliability table.

    Attributes:
      pd_low, pd_high: the smallest and largest predicted PD in the group.
      count: rows in the group.
      mean_pd: the mean predicted PD.
      observed_rate: the share of bads observed.
      expected_bads: count × mean_pd.
      observed_bads: bads observed.
    """

    pd_low: float
    pd_high: float
    count: int
    mean_pd: float
    observed_rate: float
    expected_bads: float
    observed_bads: int


@dataclass(frozen=True)
class Calibration:
    """Whether predicted PDs match observed default rates.

    Attributes:
      bins: the reliability table, rows ranked by predicted PD into groups of equal count.
      hosmer_lemeshow: Σ (observed − expected)² / (count · mean_pd · (1 − mean_pd)).
      degrees_of_freedom: groups − 2.
      p_value: of ``hosmer_lemeshow`` under χ²(degrees_of_freedom); small means the PDs
        do not fit the outcomes.
      brier: mean squared difference between PD and outcome (0 is perfect).
      mean_pd, observed_rate: over the whole sample.
    """

    bins: tuple[CalibrationBin, ...]
    hosmer_lemeshow: float
    degrees_of_freedom: int
    p_value: float
    brier: float
    mean_pd: float
    observed_rate: float


@dataclass(frozen=True)
class StabilityBin:
    """One bin of a PSI table.

    Attributes:
      label: the bin's range (numeric), category, or ``missing``.
      expected_count, actual_count: rows of each sample in the bin.
      expected_share, actual_share: the counts as shares of each sample (before ε).
      contribution: (a − e)·ln(a/e) with empty shares replaced by ε.
    """

    label: str
    expected_count: int
    actual_count: int
    expected_share: float
    actual_share: float
    contribution: float


@dataclass(frozen=True)
class Stability:
    """The population stability index between an expected and an actual sample.

    Attributes:
      value: PSI, the sum of the bins' contributions.
      reading: ``stable`` (< 0.1), ``watch`` (0.1–0.25) or ``shifted`` (> 0.25).
      bins: the table.
      categorical: whether bins are categories rather than quantile ranges.
      epsilon: the share given to empty bins.
    """

    value: float
    reading: Reading
    bins: tuple[StabilityBin, ...]
    categorical: bool
    epsilon: float


@dataclass(frozen=True)
class ScoreDistribution:
    """A histogram of scores and their summary.

    Attributes:
      edges: bin edges, ascending (``len(counts) + 1`` of them); the outer bins also hold
        anything beyond them.
      counts, shares: rows per bin and as a share of all rows.
      bad_counts: bads per bin when outcomes were given, else ``None``.
      mean, std: of the scores.
      percentiles: min, p1, p5, p25, p50, p75, p95, p99, max.
    """

    edges: tuple[float, ...]
    counts: tuple[int, ...]
    shares: tuple[float, ...]
    bad_counts: tuple[int, ...] | None
    mean: float
    std: float
    percentiles: Mapping[str, float]


@dataclass(frozen=True)
class GainsRow:
    """One group of a gains table (riskiest group first).

    Attributes:
      group: 1 for the riskiest group.
      score_low, score_high: the score range of the group.
      count, bads, goods: rows in the group.
      bad_rate: bads / count.
      cum_bads_share, cum_goods_share: bads (goods) in this and riskier groups as a share
        of all bads (goods); both reach 1 in the last row.
      ks: cum_bads_share − cum_goods_share.
      lift: bad_rate / the overall bad rate.
      cum_lift: the bad rate of this and riskier groups / the overall bad rate.
    """

    group: int
    score_low: float
    score_high: float
    count: int
    bads: int
    goods: int
    bad_rate: float
    cum_bads_share: float
    cum_goods_share: float
    ks: float
    lift: float
    cum_lift: float


@dataclass(frozen=True)
class GainsTable:
    """Rows ranked by score into groups of (about) equal count, riskiest first. Equal
    scores always share a group, so a group can be larger than n / groups and there can
    be fewer groups than asked for."""

    rows: tuple[GainsRow, ...]
    n: int
    n_bad: int
    bad_rate: float
    higher_is_riskier: bool


@dataclass(frozen=True)
class AucComparison:
    """Two models' AUCs on the same rows and whether they differ (DeLong's test).

    Attributes:
      auc_a, auc_b: each model's AUC.
      difference: ``auc_b - auc_a`` with its interval at ``confidence`` (normal, from
        DeLong's variance of the difference, which counts that both models scored the
        same rows).
      z, p_value: the test of "the two AUCs are equal" (two-sided).
    """

    auc_a: float
    auc_b: float
    difference: Estimate
    z: float
    p_value: float


@dataclass(frozen=True)
class SwapCell:
    """Rows in one cell of a swap set, their bads and bad rate (NaN when empty)."""

    count: int
    bads: int
    bad_rate: float


@dataclass(frozen=True)
class SwapSet:
    """Champion against challenger when each approves the safest ``cutoff_rate`` share.

    Attributes:
      cutoff_rate, n_approved: the share approved and how many rows that is (the same
        for both models, ties at the cutoff broken by row order).
      kept_in: approved by both.
      swap_out: approved by the champion, declined by the challenger.
      swap_in: approved by the challenger, declined by the champion.
      kept_out: declined by both.
      champion_approved, challenger_approved: each model's approvals.
    The four cells add up to every row; ``swap_in.count == swap_out.count``.
    """

    cutoff_rate: float
    n_approved: int
    kept_in: SwapCell
    swap_out: SwapCell
    swap_in: SwapCell
    kept_out: SwapCell
    champion_approved: SwapCell
    challenger_approved: SwapCell


# --------------------------------------------------------------------------- discrimination


def discrimination(y: npt.ArrayLike, score: npt.ArrayLike, *, higher_is_riskier: bool = False,
                   n_bootstrap: int = 1_000, confidence: float = 0.95,
                   seed: int = 0) -> Discrimination:
    """AUC, Gini and KS of ``score`` against outcomes ``y``, each with a percentile
    bootstrap interval from ``n_bootstrap`` resamples of the rows (0: no interval).

    The bootstrap is vectorised: every resample is reduced to bad and good counts per
    distinct score, from which AUC and KS follow by cumulative sums, so 1,000 resamples
    of 100,000 rows take seconds. The same ``seed`` gives the same intervals.
    """
    problems = _bootstrap_problems(n_bootstrap, confidence, seed)
    labels, scores = _checked_pair(y, score, problems)
    levels, level_of_row = np.unique(scores, return_inverse=True)
    goods, bads = _counts_by_level(labels, level_of_row, len(levels))
    auc = float(_auc(goods, bads, higher_is_riskier))
    gaps, scale = _ks_gaps(goods, bads)
    ks_at = int(np.argmax(np.abs(gaps)))
    auc_draws, ks_draws = _bootstrap(labels, level_of_row, len(levels), higher_is_riskier,
                                     n_bootstrap, np.random.default_rng(seed))
    auc_low, auc_high = _interval(auc_draws, confidence)
    ks_low, ks_high = _interval(ks_draws, confidence)
    return Discrimination(
        auc=Estimate(auc, auc_low, auc_high, confidence),
        gini=Estimate(2 * auc - 1, 2 * auc_low - 1, 2 * auc_high - 1, confidence),
        ks=Estimate(float(abs(gaps[ks_at]) / scale), ks_low, ks_high, confidence),
        ks_score=float(levels[ks_at]),
        n=len(labels), n_bad=int(labels.sum()), n_bootstrap=n_bootstrap, seed=seed,
        higher_is_riskier=higher_is_riskier)


def roc_curve(y: npt.ArrayLike, score: npt.ArrayLike, *,
              higher_is_riskier: bool = False) -> RocCurve:
    """The ROC curve of ``score``, one point per distinct score (see ``RocCurve``)."""
    labels, scores = _checked_pair(y, score, [])
    levels, level_of_row = np.unique(scores, return_inverse=True)
    goods, bads = _counts_by_level(labels, level_of_row, len(levels))
    if higher_is_riskier:
        goods, bads = goods[::-1], bads[::-1]
    fpr = np.concatenate([[0.0], np.cumsum(goods) / goods.sum()])
    tpr = np.concatenate([[0.0], np.cumsum(bads) / bads.sum()])
    return RocCurve(false_positive_rate=fpr, true_positive_rate=tpr)


def ks_curve(y: npt.ArrayLike, score: npt.ArrayLike) -> KsCurve:
    """The cumulative distributions of bads and goods over the distinct scores."""
    labels, scores = _checked_pair(y, score, [])
    levels, level_of_row = np.unique(scores, return_inverse=True)
    goods, bads = _counts_by_level(labels, level_of_row, len(levels))
    return KsCurve(score=levels.astype(np.float64),
                   cum_bad_share=np.cumsum(bads) / bads.sum(),
                   cum_good_share=np.cumsum(goods) / goods.sum())


def _counts_by_level(labels: Ints, level_of_row: Ints, n_levels: int) -> tuple[Ints, Ints]:
    counts = np.bincount(level_of_row * 2 + labels, minlength=2 * n_levels)
    by_level = counts.reshape(n_levels, 2)
    return by_level[:, 0], by_level[:, 1]


def _auc(goods: Ints, bads: Ints, higher_is_riskier: bool) -> Floats:
    """AUC from counts per distinct score (ascending) along the last axis.

    With the score read as risk, a bad at a level beats every good below it and ties
    with the goods at its level (Mann–Whitney): Σ bads·(goods below + goods at / 2),
    counted in halves to stay in integers. Read the other way, AUC is the complement,
    because P(above) + P(tie)/2 and P(below) + P(tie)/2 add up to one.
    """
    cum_goods = np.cumsum(goods, axis=-1)
    half_wins = (2 * np.einsum("...i,...i->...", bads, cum_goods)
                 - np.einsum("...i,...i->...", bads, goods))
    pairs = cum_goods[..., -1] * bads.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        riskier_auc: Floats = half_wins / (2.0 * pairs)
    return riskier_auc if higher_is_riskier else 1.0 - riskier_auc


def _ks_gaps(goods: Ints, bads: Ints) -> tuple[Ints, Ints]:
    """The gaps between the cumulative shares of bads and of goods at each level, scaled
    by n_bad·n_good to stay exact in integers, and that scale."""
    cum_goods = np.cumsum(goods, axis=-1)
    cum_bads = np.cumsum(bads, axis=-1)
    n_good = cum_goods[..., -1:].copy()
    n_bad = cum_bads[..., -1:].copy()
    cum_bads *= n_good
    cum_goods *= n_bad
    cum_bads -= cum_goods
    return cum_bads, (n_good * n_bad)[..., 0]


def _bootstrap(labels: Ints, level_of_row: Ints, n_levels: int, higher_is_riskier: bool,
               n_resamples: int, rng: np.random.Generator) -> tuple[Floats, Floats]:
    auc_parts: list[Floats] = []
    ks_parts: list[Floats] = []
    for goods, bads in _resampled_counts(labels, level_of_row, n_levels, n_resamples, rng):
        auc_parts.append(_auc(goods, bads, higher_is_riskier))
        gaps, scale = _ks_gaps(goods, bads)
        with np.errstate(invalid="ignore", divide="ignore"):
            ks_parts.append(np.maximum(gaps.max(axis=-1), -gaps.min(axis=-1)) / scale)
    if not auc_parts:
        return np.empty(0), np.empty(0)
    return np.concatenate(auc_parts), np.concatenate(ks_parts)


def _resampled_counts(labels: Ints, level_of_row: Ints, n_levels: int, n_resamples: int,
                      rng: np.random.Generator) -> Iterator[tuple[Ints, Ints]]:
    """Bad and good counts per level for each resample, a chunk of resamples at a time.

    One ``bincount`` counts a whole chunk: each resample's cells are offset by its
    position in the chunk, so no Python loop runs per resample.
    """
    n = len(labels)
    cell_of_row = level_of_row * 2 + labels
    cells = 2 * n_levels
    per_chunk = max(1, _BOOTSTRAP_CELLS // max(n, cells))
    for first in range(0, n_resamples, per_chunk):
        size = min(per_chunk, n_resamples - first)
        rows = rng.integers(0, n, size=(size, n))
        offset = np.arange(size, dtype=np.int64)[:, None] * cells
        counts = np.bincount((cell_of_row[rows] + offset).ravel(), minlength=size * cells)
        by_level = counts.reshape(size, n_levels, 2)
        yield by_level[..., 0], by_level[..., 1]


def _interval(draws: Floats, confidence: float) -> tuple[float, float]:
    # A resample without bads or without goods has no AUC; it is left out.
    finite = draws[np.isfinite(draws)]
    if finite.size == 0:
        return math.nan, math.nan
    tail = (1.0 - confidence) / 2 * 100
    low, high = np.percentile(finite, [tail, 100 - tail])
    return float(low), float(high)


# --------------------------------------------------------------------------- calibration


def calibration(y: npt.ArrayLike, pd: npt.ArrayLike, *, groups: int = 10) -> Calibration:
    """Reliability table, Hosmer–Lemeshow test and Brier score of predicted PDs.

    Rows are ranked by PD and split into ``groups`` of equal count (the "deciles of
    risk"; equal PDs may straddle two groups). A group whose PDs are all 0 or all 1
    contributes 0 to the statistic when it matches the outcomes exactly, infinity
    otherwise. On very large samples the test rejects small, harmless misfits: read the
    p-value together with the reliability table.
    """
    problems = []
    if not _is_int(groups) or groups < 3:
        problems.append(f"groups: need at least 3 (degrees of freedom = groups − 2), "
                        f"got {groups!r}")
    labels, (pds,) = _outcomes_and_scores(y, {"pd": pd}, problems)
    out_of_range = int(np.count_nonzero((pds < 0) | (pds > 1)))
    if out_of_range:
        problems.append(f"pd: {out_of_range} value(s) outside [0, 1]")
    if not problems and len(labels) < groups:
        problems.append(f"y: {len(labels)} rows cannot fill {groups} groups")
    if problems:
        raise InvalidValidationInput(problems)
    order = np.argsort(pds, kind="stable")
    bins = tuple(_calibration_bin(labels[rows], pds[rows])
                 for rows in np.array_split(order, groups))
    statistic = sum(_hosmer_lemeshow_term(b) for b in bins)
    dof = groups - 2
    return Calibration(
        bins=bins, hosmer_lemeshow=statistic, degrees_of_freedom=dof,
        p_value=float(stats.chi2.sf(statistic, dof)),
        brier=float(np.mean((pds - labels) ** 2)),
        mean_pd=float(pds.mean()), observed_rate=float(labels.mean()))


def _calibration_bin(labels: Ints, pds: Floats) -> CalibrationBin:
    mean_pd = float(pds.mean())
    return CalibrationBin(
        pd_low=float(pds.min()), pd_high=float(pds.max()), count=len(labels),
        mean_pd=mean_pd, observed_rate=float(labels.mean()),
        expected_bads=len(labels) * mean_pd, observed_bads=int(labels.sum()))


def _hosmer_lemeshow_term(group: CalibrationBin) -> float:
    gap = group.observed_bads - group.expected_bads
    variance = group.expected_bads * (1.0 - group.mean_pd)
    if variance == 0:
        return 0.0 if abs(gap) < 1e-9 else math.inf
    return gap * gap / variance


# --------------------------------------------------------------------------- stability


def read_psi(value: float, *, stable: float = PSI_STABLE,
             shifted: float = PSI_SHIFTED) -> Reading:
    """The usual reading of a PSI: below ``stable`` "stable", above ``shifted``
    "shifted", in between "watch"."""
    if value < stable:
        return "stable"
    return "shifted" if value > shifted else "watch"


def psi(expected: npt.ArrayLike, actual: npt.ArrayLike, bins: int = 10, *,
        categorical: bool | None = None, epsilon: float = PSI_EPSILON) -> Stability:
    """Population stability index of ``actual`` against ``expected`` (the development
    sample): Σ (a − e)·ln(a/e) over bins, a and e the shares of each sample.

    Numeric values are binned at the expected sample's quantiles into at most ``bins``
    right-closed ranges (fewer when quantiles coincide); the outer ranges are open, so
    later values beyond the development range still count. Categorical values (strings,
    booleans, objects, or ``categorical=True``) get one bin per expected category, plus
    one for categories seen only in ``actual``. Missing values (NaN, None) get their own
    bin. Empty bins take the share ``epsilon`` (see ``PSI_EPSILON``).
    """
    problems = []
    if not _is_int(bins) or bins < 2:
        problems.append(f"bins: need at least 2, got {bins!r}")
    if not 0 < epsilon < 0.01:
        problems.append(f"epsilon: must be in (0, 0.01), got {epsilon!r}")
    dev = _column(expected, "expected", problems)
    later = _column(actual, "actual", problems)
    if problems:
        raise InvalidValidationInput(problems)
    as_categories = categorical if categorical is not None else not _is_numeric(dev)
    if not as_categories and not _is_numeric(later):
        raise InvalidValidationInput(["actual: numeric expected values but non-numeric "
                                      "actual values; pass categorical=True"])
    labels, dev_bin, later_bin = (_category_bins(dev, later) if as_categories
                                  else _quantile_bins(dev, later, bins))
    return _stability(labels, dev_bin, later_bin, as_categories, epsilon)


def csi(development: Mapping[str, npt.ArrayLike], later: Mapping[str, npt.ArrayLike],
        bins: int = 10, *, epsilon: float = PSI_EPSILON) -> dict[str, Stability]:
    """Characteristic stability index: the PSI of each development feature between the
    development and the later sample, in the development sample's feature order."""
    absent = [name for name in development if name not in later]
    if absent:
        raise InvalidValidationInput([f"later: has no column {name!r}" for name in absent])
    return {name: psi(values, later[name], bins, epsilon=epsilon)
            for name, values in development.items()}


def _stability(labels: Sequence[str], dev_bin: Ints, later_bin: Ints, categorical: bool,
               epsilon: float) -> Stability:
    dev_counts = np.bincount(dev_bin, minlength=len(labels))
    later_counts = np.bincount(later_bin, minlength=len(labels))
    dev_share = dev_counts / max(len(dev_bin), 1)
    later_share = later_counts / max(len(later_bin), 1)
    e = np.where(dev_share == 0, epsilon, dev_share)
    a = np.where(later_share == 0, epsilon, later_share)
    contributions = (a - e) * np.log(a / e)
    table = tuple(
        StabilityBin(label=label, expected_count=int(dev_counts[i]),
                     actual_count=int(later_counts[i]), expected_share=float(dev_share[i]),
                     actual_share=float(later_share[i]), contribution=float(contributions[i]))
        for i, label in enumerate(labels))
    value = float(contributions.sum())
    return Stability(value=value, reading=read_psi(value), bins=table,
                     categorical=categorical, epsilon=epsilon)


def _quantile_bins(dev: npt.NDArray[np.generic], later: npt.NDArray[np.generic],
                   bins: int) -> tuple[list[str], Ints, Ints]:
    dev_values = dev.astype(np.float64)
    later_values = later.astype(np.float64)
    present = dev_values[~np.isnan(dev_values)]
    edges = np.empty(0)
    if present.size:
        quantiles = np.unique(np.quantile(present, np.arange(1, bins) / bins))
        # A cut at the maximum would leave the top range empty in development.
        edges = quantiles[quantiles < present.max()]
    labels = _range_labels(edges)
    missing = len(labels)
    if np.isnan(dev_values).any() or np.isnan(later_values).any():
        labels.append(_MISSING)

    def bin_of(values: Floats) -> Ints:
        found = np.searchsorted(edges, values, side="left").astype(np.int64)
        return np.where(np.isnan(values), missing, found)

    return labels, bin_of(dev_values), bin_of(later_values)


def _range_labels(edges: Floats) -> list[str]:
    if edges.size == 0:
        return ["all values"]
    cuts = [f"{edge:.6g}" for edge in edges]
    middle = [f"({low}, {high}]" for low, high in itertools.pairwise(cuts)]
    return [f"≤ {cuts[0]}", *middle, f"> {cuts[-1]}"]


def _category_bins(dev: npt.NDArray[np.generic],
                   later: npt.NDArray[np.generic]) -> tuple[list[str], Ints, Ints]:
    dev_names = [_category_name(value) for value in dev.tolist()]
    later_names = [_category_name(value) for value in later.tolist()]
    labels = sorted(set(dev_names))
    unseen = "(not in development)"
    if set(later_names) - set(labels):
        labels.append(unseen)
    index = {label: i for i, label in enumerate(labels)}
    return (labels, np.array([index[name] for name in dev_names], dtype=np.int64),
            np.array([index.get(name, index.get(unseen, 0)) for name in later_names],
                     dtype=np.int64))


def _category_name(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return _MISSING
    return str(value)


def _is_numeric(values: npt.NDArray[np.generic]) -> bool:
    return values.dtype.kind in "iuf"


# --------------------------------------------------------------------------- distributions


def score_distribution(score: npt.ArrayLike, bins: int | Sequence[float] = 20, *,
                       y: npt.ArrayLike | None = None) -> ScoreDistribution:
    """Histogram of ``score``: ``bins`` equal-width bins over its range, or the given
    ascending edges (pass the development sample's edges to compare a later sample on
    the same bins). With ``y``, also the bads per bin."""
    problems: list[str] = []
    if isinstance(bins, int):
        if bins < 1:
            problems.append(f"bins: need at least 1, got {bins}")
    elif len(bins) < 2 or np.any(np.diff(np.asarray(bins, dtype=np.float64)) <= 0):
        problems.append("bins: edges must be at least two strictly ascending numbers")
    labels = None
    if y is None:
        scores = _scores(score, "score", problems)
    else:
        labels, (scores,) = _outcomes_and_scores(y, {"score": score}, problems)
    if problems:
        raise InvalidValidationInput(problems)
    edges = (np.histogram_bin_edges(scores, bins) if isinstance(bins, int)
             else np.asarray(bins, dtype=np.float64))
    # Clipping puts values beyond the edges into the outer bins, as documented.
    inner = np.clip(scores, edges[0], edges[-1])
    counts, _ = np.histogram(inner, edges)
    bad_counts = None
    if labels is not None:
        bad_counts = tuple(int(c) for c in np.histogram(inner[labels == 1], edges)[0])
    return ScoreDistribution(
        edges=tuple(float(e) for e in edges), counts=tuple(int(c) for c in counts),
        shares=tuple(float(c) / len(scores) for c in counts), bad_counts=bad_counts,
        mean=float(scores.mean()), std=float(scores.std()),
        percentiles={name: float(np.percentile(scores, q)) for name, q in _PERCENTILES})


def gains_table(y: npt.ArrayLike, score: npt.ArrayLike, groups: int = 10, *,
                higher_is_riskier: bool = False) -> GainsTable:
    """Gains and lift by groups of about equal count, riskiest first (see
    ``GainsTable``); the last row's cumulative shares are 1."""
    problems = []
    if not _is_int(groups) or groups < 1:
        problems.append(f"groups: need at least 1, got {groups!r}")
    labels, scores = _checked_pair(y, score, problems)
    if problems:
        raise InvalidValidationInput(problems)
    risk = scores if higher_is_riskier else -scores
    n = len(labels)
    # Rows strictly riskier than a row decide its group, so equal scores share one.
    riskier_rows = n - np.searchsorted(np.sort(risk), risk, side="right")
    group_of_row = riskier_rows * groups // n
    n_bad = int(labels.sum())
    rows: list[GainsRow] = []
    cum_count = cum_bads = 0
    for group in np.unique(group_of_row):
        in_group = group_of_row == group
        count, bads = int(in_group.sum()), int(labels[in_group].sum())
        cum_count, cum_bads = cum_count + count, cum_bads + bads
        rows.append(_gains_row(len(rows) + 1, scores[in_group], count, bads, cum_count,
                               cum_bads, n, n_bad))
    return GainsTable(rows=tuple(rows), n=n, n_bad=n_bad, bad_rate=n_bad / n,
                      higher_is_riskier=higher_is_riskier)


def _gains_row(group: int, scores: Floats, count: int, bads: int, cum_count: int,
               cum_bads: int, n: int, n_bad: int) -> GainsRow:
    overall = n_bad / n
    cum_bads_share = cum_bads / n_bad
    cum_goods_share = (cum_count - cum_bads) / (n - n_bad)
    return GainsRow(
        group=group, score_low=float(scores.min()), score_high=float(scores.max()),
        count=count, bads=bads, goods=count - bads, bad_rate=bads / count,
        cum_bads_share=cum_bads_share, cum_goods_share=cum_goods_share,
        ks=cum_bads_share - cum_goods_share, lift=bads / count / overall,
        cum_lift=cum_bads / cum_count / overall)


def swap_set(y: npt.ArrayLike, champion_score: npt.ArrayLike,
             challenger_score: npt.ArrayLike, cutoff_rate: float, *,
             champion_higher_is_riskier: bool = False,
             challenger_higher_is_riskier: bool = False) -> SwapSet:
    """Who each model would approve at the same approval rate, and how those borrowers
    turned out (see ``SwapSet``). Each model approves its safest
    round(cutoff_rate × n) rows."""
    problems = []
    if not 0 < cutoff_rate < 1:
        problems.append(f"cutoff_rate: must be strictly between 0 and 1, got {cutoff_rate!r}")
    labels, (champion, challenger) = _outcomes_and_scores(
        y, {"champion_score": champion_score, "challenger_score": challenger_score},
        problems)
    if problems:
        raise InvalidValidationInput(problems)
    n_approved = math.floor(cutoff_rate * len(labels) + 0.5)
    by_champion = _approved(champion, champion_higher_is_riskier, n_approved)
    by_challenger = _approved(challenger, challenger_higher_is_riskier, n_approved)
    return SwapSet(
        cutoff_rate=cutoff_rate, n_approved=n_approved,
        kept_in=_cell(labels, by_champion & by_challenger),
        swap_out=_cell(labels, by_champion & ~by_challenger),
        swap_in=_cell(labels, ~by_champion & by_challenger),
        kept_out=_cell(labels, ~by_champion & ~by_challenger),
        champion_approved=_cell(labels, by_champion),
        challenger_approved=_cell(labels, by_challenger))


def compare_auc(y: npt.ArrayLike, score_a: npt.ArrayLike, score_b: npt.ArrayLike, *,
                a_higher_is_riskier: bool = False, b_higher_is_riskier: bool = False,
                confidence: float = 0.95) -> AucComparison:
    """DeLong's test of two AUCs on the same rows (DeLong, DeLong and Clarke-Pearson
    1988, in Sun and Xu's O(n log n) form): the AUCs, ``b − a`` with its interval and
    the two-sided p-value of "equal". Two models judged on the same rows are correlated,
    so their difference is far more precise than the two separate intervals suggest."""
    problems = _confidence_problems(confidence)
    labels, (a, b) = _outcomes_and_scores(y, {"score_a": score_a, "score_b": score_b},
                                          problems)
    if problems:
        raise InvalidValidationInput(problems)
    bad = labels == 1
    m, n = int(bad.sum()), int((~bad).sum())
    if m < 2 or n < 2:
        raise InvalidValidationInput([f"y: needs at least 2 bads and 2 goods, got {m} and {n}"])
    # riskier = larger, so AUC is P(a bad's value > a good's)
    risky = np.vstack([a if a_higher_is_riskier else -a, b if b_higher_is_riskier else -b])
    bads, goods = risky[:, bad], risky[:, ~bad]
    rank_all = stats.rankdata(np.hstack([bads, goods]), axis=1)
    rank_bads = stats.rankdata(bads, axis=1)
    rank_goods = stats.rankdata(goods, axis=1)
    aucs = (rank_all[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v_bads = (rank_all[:, :m] - rank_bads) / n          # structural components
    v_goods = 1.0 - (rank_all[:, m:] - rank_goods) / m
    covariance = np.cov(v_bads) / m + np.cov(v_goods) / n
    difference = float(aucs[1] - aucs[0])
    variance = float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1])
    if variance <= 0:   # no spread: the difference is what it is on any resample
        return AucComparison(float(aucs[0]), float(aucs[1]),
                             Estimate(difference, difference, difference, confidence),
                             0.0 if difference == 0 else math.copysign(math.inf, difference),
                             1.0 if difference == 0 else 0.0)
    sd = math.sqrt(variance)
    half = float(stats.norm.ppf(0.5 + confidence / 2)) * sd
    z = difference / sd
    return AucComparison(float(aucs[0]), float(aucs[1]),
                         Estimate(difference, difference - half, difference + half,
                                  confidence),
                         z, float(2 * stats.norm.sf(abs(z))))


def _approved(scores: Floats, higher_is_riskier: bool,
              n_approved: int) -> npt.NDArray[np.bool_]:
    risk = scores if higher_is_riskier else -scores
    approved = np.zeros(len(scores), dtype=np.bool_)
    approved[np.argsort(risk, kind="stable")[:n_approved]] = True
    return approved


def _cell(labels: Ints, rows: npt.NDArray[np.bool_]) -> SwapCell:
    count, bads = int(rows.sum()), int(labels[rows].sum())
    return SwapCell(count=count, bads=bads, bad_rate=bads / count if count else math.nan)


# --------------------------------------------------------------------------- input checks


def _checked_pair(y: npt.ArrayLike, score: npt.ArrayLike, problems: list[str], *,
                  score_name: str = "score") -> tuple[Ints, Floats]:
    """Outcomes and scores as arrays, or ``InvalidValidationInput`` listing every
    problem found here and in ``problems`` (which the caller has already collected)."""
    labels, (scores,) = _outcomes_and_scores(y, {score_name: score}, problems)
    if problems:
        raise InvalidValidationInput(problems)
    return labels, scores


def _outcomes_and_scores(y: npt.ArrayLike, scores: Mapping[str, npt.ArrayLike],
                         problems: list[str]) -> tuple[Ints, list[Floats]]:
    """Outcomes and each named score as arrays, adding whatever is wrong to
    ``problems``."""
    labels = _labels(y, problems)
    checked = []
    for name, values in scores.items():
        checked.append(_scores(values, name, problems))
        if len(checked[-1]) != len(labels):
            problems.append(f"{name}: has {len(checked[-1])} values but y has {len(labels)}")
    return labels, checked


def _labels(y: npt.ArrayLike, problems: list[str]) -> Ints:
    values = _column(y, "y", problems)
    if values.size == 0:
        return np.empty(0, dtype=np.int64)
    if not _is_numeric(values) and values.dtype.kind != "b":
        problems.append(f"y: must be 0/1 (1 = bad), got values of type {values.dtype}")
        return np.zeros(values.size, dtype=np.int64)
    as_float = values.astype(np.float64)
    missing = int(np.isnan(as_float).sum())
    if missing:
        problems.append(f"y: {missing} missing value(s)")
    others = np.unique(as_float[~np.isnan(as_float) & (as_float != 0) & (as_float != 1)])
    if others.size:
        shown = ", ".join(f"{v:g}" for v in others[:5])
        problems.append(f"y: must be 0/1 (1 = bad), also found {shown}")
    labels = np.where(as_float == 1, 1, 0).astype(np.int64)
    if not missing and not others.size and labels.min() == labels.max():
        kind = "bad" if labels[0] else "good"
        problems.append(f"y: every row is {kind} ({int(labels[0])}); AUC, KS and "
                        "calibration need both goods and bads")
    return labels


def _scores(score: npt.ArrayLike, name: str, problems: list[str]) -> Floats:
    values = _column(score, name, problems)
    if values.size and not _is_numeric(values):
        problems.append(f"{name}: must be numeric, got values of type {values.dtype}")
        return np.zeros(values.size)
    scores = values.astype(np.float64)
    nan_rows = np.flatnonzero(np.isnan(scores))
    if nan_rows.size:
        first = ", ".join(str(i) for i in nan_rows[:5])
        more = " …" if nan_rows.size > 5 else ""
        problems.append(f"{name}: {nan_rows.size} NaN value(s), at rows {first}{more}")
    infinite = int(np.isinf(scores).sum())
    if infinite:
        problems.append(f"{name}: {infinite} infinite value(s)")
    return scores


def _column(values: npt.ArrayLike, name: str,
            problems: list[str]) -> npt.NDArray[np.generic]:
    array = np.asarray(values)
    if array.ndim != 1:
        problems.append(f"{name}: must be one-dimensional, got shape {array.shape}")
        return np.empty(0)
    if array.size == 0:
        problems.append(f"{name}: is empty")
    return array


def _bootstrap_problems(n_bootstrap: object, confidence: object, seed: object) -> list[str]:
    problems = []
    if not _is_int(n_bootstrap) or n_bootstrap < 0:
        problems.append(f"n_bootstrap: must be a whole number ≥ 0, got {n_bootstrap!r}")
    problems += _confidence_problems(confidence)
    if not _is_int(seed) or seed < 0:
        problems.append(f"seed: must be an integer ≥ 0, got {seed!r}")
    return problems


def _confidence_problems(confidence: object) -> list[str]:
    if not isinstance(confidence, float) or not 0 < confidence < 1:
        return [f"confidence: must be strictly between 0 and 1, got {confidence!r}"]
    return []


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)
