"""Binning: every trend holds, missing and special values get their own bins, tiny bins
merge, WOE and IV follow their definitions, and categorical values group by default rate."""

from __future__ import annotations

import itertools
import math
from dataclasses import replace

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import chi2_contingency

from lendguard.risk.binning import (
    BinningOptions,
    FeatureBinning,
    Resolution,
    _blocks_iv,
    _Grid,
    _grid,
    _merge_to_max,
    _merged,
    fit_feature,
    trend_p_value,
)
from lendguard.risk.datasets import Dataset
from lendguard.risk.features import Feature, Kind, numeric_array
from lendguard.risk.selection import bins_p_value


def sample(shape: str, n: int = 20_000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """x uniform on [0, 1); default probability shaped like ``shape`` along x."""
    rng = np.random.default_rng(seed)
    x = rng.random(n)
    p = {"ascending": 0.05 + 0.4 * x, "descending": 0.45 - 0.4 * x,
         "peak": 0.45 - 0.8 * np.abs(x - 0.5), "valley": 0.05 + 0.8 * np.abs(x - 0.5)}[shape]
    return x, (rng.random(n) < p).astype(np.int64)


def regular_rates(binning: FeatureBinning) -> list[float]:
    return [b.event_rate for b in binning.bins[:binning.n_regular]]


def follows(rates: list[float], trend: str) -> bool:
    steps = np.sign(np.diff(rates))
    if trend == "ascending":
        return bool((steps > 0).all())
    if trend == "descending":
        return bool((steps < 0).all())
    turn = int(np.argmax(rates) if trend == "peak" else np.argmin(rates))
    up, down = steps[:turn], steps[turn:]
    if trend == "valley":
        up, down = -up, -down
    return bool((up > 0).all() and (down < 0).all())


@pytest.mark.parametrize("trend", ["ascending", "descending", "peak", "valley"])
def test_each_trend_holds_on_data_of_any_shape(trend: str) -> None:
    for shape in ("ascending", "descending", "peak", "valley"):
        x, y = sample(shape)
        binning = fit_feature(Feature("x", Kind.NUMERIC, trend=trend), x, y)
        assert binning.trend == trend
        assert follows(regular_rates(binning), trend), (shape, regular_rates(binning))


@pytest.mark.parametrize("shape", ["ascending", "descending", "peak", "valley"])
def test_auto_finds_the_shape_of_the_data(shape: str) -> None:
    x, y = sample(shape)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y)
    assert binning.trend == shape
    assert binning.n_regular >= 3


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), trend=st.sampled_from(["ascending", "descending"]),
       n=st.integers(200, 3000))
def test_monotone_trends_hold_on_noise(seed: int, trend: str, n: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n).round(2)
    y = (rng.random(n) < 0.3).astype(np.int64)
    binning = fit_feature(Feature("x", Kind.NUMERIC, trend=trend), x, y)
    assert follows(regular_rates(binning), trend)
    assert sum(b.count for b in binning.bins) == n


def test_missing_and_special_values_get_bins_of_their_own() -> None:
    x, y = sample("ascending", 5000)
    x[:300] = np.nan
    x[300:500] = -1.0
    x[500:550] = -2.0
    feature = Feature("bureau_score", Kind.NUMERIC,
                      special_values={-1: "no bureau file", -2: "file frozen"})
    binning = fit_feature(feature, x, y)
    special, frozen, missing = binning.bins[-3:]
    assert (missing.label, missing.count, missing.events) == ("missing", 300, int(y[:300].sum()))
    assert (special.label, special.count) == ("-1 no bureau file", 200)
    assert (frozen.label, frozen.count) == ("-2 file frozen", 50)
    # the special codes never enter a regular bin, so the regular bins start above them
    assert binning.splits[0] > 0
    index = binning.bin_indices(np.array([np.nan, -1.0, -2.0, 0.99]))
    assert index.tolist() == [binning.missing_index, binning.n_regular,
                              binning.n_regular + 1, binning.n_regular - 1]


def test_a_missing_bin_that_saw_no_data_is_neutral() -> None:
    x, y = sample("ascending", 2000)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y)
    assert binning.bins[-1].count == 0
    assert binning.bins[-1].woe == 0.0
    assert binning.transform(np.array([np.nan]))[0] == 0.0


def test_tiny_bins_merge_into_a_neighbour() -> None:
    x, y = sample("ascending", 10_000)
    options = BinningOptions(min_bin_size=0.15, min_prebin_size=0.01, max_prebins=40)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y, options)
    counts = [b.count for b in binning.bins[:binning.n_regular]]
    assert min(counts) >= 0.15 * 10_000
    assert len(counts) <= 6


def test_a_bin_without_defaults_merges() -> None:
    # a safe tail: nobody above 0.9 defaults, and it is 10% of the rows
    x = np.linspace(0, 1, 2000, endpoint=False)
    y = ((x < 0.9) & (np.arange(2000) % 3 == 0)).astype(np.int64)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y)
    assert all(0 < b.events < b.count for b in binning.bins[:binning.n_regular])


def test_max_bins_is_respected() -> None:
    x, y = sample("ascending", 50_000)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y, BinningOptions(max_bins=4))
    assert binning.n_regular == 4


def test_woe_and_iv_follow_their_definitions() -> None:
    # two values: x=0 holds 80 repayers and 20 defaulters, x=1 holds 60 and 40
    x = np.array([0.0] * 100 + [1.0] * 100)
    y = np.array([1] * 20 + [0] * 80 + [1] * 40 + [0] * 60, dtype=np.int64)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y,
                          BinningOptions(min_prebin_size=0.1))
    low, high = binning.bins[:2]
    # WOE = ln(share of repayers / share of defaulters): ln((80/140) / (20/60))
    assert low.woe == pytest.approx(math.log((80 / 140) / (20 / 60)))
    assert high.woe == pytest.approx(math.log((60 / 140) / (40 / 60)))
    iv = (80 / 140 - 20 / 60) * low.woe + (60 / 140 - 40 / 60) * high.woe
    assert binning.iv == pytest.approx(iv)
    table = binning.table()
    assert table["bin"].to_list() == ["[-inf, 1)", "[1, inf)", "missing", "total"]
    assert table["iv"][-1] == pytest.approx(iv)


def test_the_trend_p_value_is_the_g_test_of_the_regular_bins() -> None:
    # x=0: 20 of 100 default, x=1: 40 of 100; a missing row is left out of the test
    x = np.array([0.0] * 100 + [1.0] * 100 + [np.nan])
    y = np.array([1] * 20 + [0] * 80 + [1] * 40 + [0] * 60 + [1], dtype=np.int64)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y,
                          BinningOptions(min_prebin_size=0.1))
    table = [[20, 80], [40, 60]]
    expected = chi2_contingency(table, correction=False, lambda_="log-likelihood").pvalue
    assert trend_p_value(binning) == pytest.approx(expected)
    assert trend_p_value(binning) < 0.01   # 20% against 40% on 100 rows each is no chance


def test_a_difference_chance_explains_has_a_large_p_value() -> None:
    # 30 of 100 against 32 of 100: a "trend", but one rate fits as well
    x = np.array([0.0] * 100 + [1.0] * 100)
    y = np.array([1] * 30 + [0] * 70 + [1] * 32 + [0] * 68, dtype=np.int64)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y,
                          BinningOptions(min_prebin_size=0.1))
    assert binning.trend == "ascending" and binning.n_regular == 2
    assert trend_p_value(binning) > 0.5


def test_one_regular_bin_has_no_trend_to_test() -> None:
    x = np.zeros(100)
    y = np.array([1] * 30 + [0] * 70, dtype=np.int64)
    assert trend_p_value(fit_feature(Feature("x", Kind.NUMERIC), x, y)) == 1.0


def test_categorical_values_group_by_default_rate(german: Dataset) -> None:
    frame, y = german.frame, german.frame["creditability"].to_numpy()
    purpose = german.feature_set.get("purpose")
    values = np.asarray(frame["purpose"].to_list(), dtype=object)
    binning = fit_feature(purpose, values, y)
    grouped = [v for group in binning.groups for v in group]
    assert sorted(grouped) == sorted(set(values))
    rates = regular_rates(binning)
    assert rates == sorted(rates)
    assert all(b.count >= 0.02 * 1000 for b in binning.bins[:binning.n_regular])
    # retraining, domestic appliances and others (9-12 rows each) are pooled; a purpose
    # never seen is rarer still and goes with them, a missing one to the missing bin
    pool = binning.bin_indices(np.array(["retraining"], dtype=object))[0]
    assert binning.unseen == pool
    assert {"retraining", "domestic appliances", "others"} <= set(binning.groups[pool])
    unseen = binning.bin_indices(np.array(["a spaceship", None], dtype=object))
    assert unseen.tolist() == [pool, binning.missing_index]
    housing = fit_feature(german.feature_set.get("housing"), frame["housing"], y)
    assert housing.unseen is None        # no category under 20 rows: nothing pooled
    unseen = housing.bin_indices(np.array(["a spaceship", None], dtype=object))
    assert unseen.tolist() == [housing.missing_index, housing.missing_index]


def test_an_identifier_or_a_date_is_no_feature_however_the_sample_falls() -> None:
    """Thousands of categories of a row or three each: ordered by the rate the sample gave
    them they would separate defaulters perfectly (IV in the tens); pooled, they are one
    bin with no information."""
    rng = np.random.default_rng(3)
    n = 3000
    y = (rng.random(n) < 0.3).astype(np.int64)
    ids = np.array([f"C{i:05d}" for i in rng.permutation(n)], dtype=object)
    days = np.array([f"2024-{m:02d}-{d:02d}" for m, d in zip(rng.integers(1, 13, n),
                                                            rng.integers(1, 29, n),
                                                            strict=True)], dtype=object)
    for values in (ids, days):
        binning = fit_feature(Feature("c", Kind.CATEGORICAL), values, y)
        assert binning.n_regular == 1
        assert binning.iv == 0.0
        assert binning.association_p_value == 1.0
        assert sorted(binning.groups[0]) == sorted(set(values))
        assert binning.bins[0].label.endswith(f"… and {len(set(values)) - 5} more")


def test_rare_categories_are_pooled_before_any_is_ordered_by_its_rate() -> None:
    rng = np.random.default_rng(8)
    big = {"city": 600, "town": 600, "village": 600}
    rare = {f"hamlet{i}": 8 for i in range(25)}              # 200 rows: 8 each < 20
    values = np.array([v for v, k in {**big, **rare}.items() for _ in range(k)], dtype=object)
    rate = np.where(values == "city", 0.1, np.where(values == "town", 0.3, 0.5))
    y = (rng.random(values.size) < rate).astype(np.int64)
    y[np.flatnonzero(values == "hamlet0")] = 1   # a rare category all defaulters ...
    y[np.flatnonzero(values == "hamlet1")] = 0   # ... and one without: pooled all the same
    binning = fit_feature(Feature("place", Kind.CATEGORICAL), values, y)
    pool = next(g for g in binning.groups if "hamlet0" in g)
    assert set(rare) <= set(pool)
    assert binning.bin_indices(np.array(["hamlet0"], dtype=object))[0] == \
        binning.bin_indices(np.array(["hamlet1"], dtype=object))[0]
    assert regular_rates(binning) == sorted(regular_rates(binning))
    reordered = fit_feature(Feature("place", Kind.CATEGORICAL), values[::-1], y[::-1])
    assert reordered.groups == binning.groups
    own = fit_feature(Feature("place", Kind.CATEGORICAL), values, y,
                      BinningOptions(min_category_size=0.001))
    placed = own.bin_indices(np.array(["hamlet0", "hamlet1"], dtype=object))
    assert placed[0] != placed[1]   # each by its own rate: the one fitted to the sample


def test_optbinning_method_finds_bins_scored_the_same_way(german: Dataset) -> None:
    y = german.frame["creditability"].to_numpy()
    feature = Feature("duration_in_month", Kind.NUMERIC, trend="ascending")
    values = numeric_array(german.frame["duration_in_month"])
    ours = fit_feature(feature, values, y)
    theirs = fit_feature(feature, values, y, BinningOptions(method="optbinning"))
    assert follows(regular_rates(theirs), "ascending")
    assert follows(regular_rates(ours), "ascending")
    # quality must not drop against optbinning on the same feature
    assert ours.iv >= 0.95 * theirs.iv


# ---------------------------------------------------------------------------- the fast paths
# Each fast path against the plain way of doing the same thing, row by row.

def counted_row_by_row(x: np.ndarray, y: np.ndarray, grid_size: int
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The grid as it reads in its definition: numpy's quantiles of the values, every row
    looked up in the cut points, then counted."""
    unique = np.unique(x)
    if x.size <= 4 * grid_size and unique.size <= grid_size:
        cuts = unique[1:]
    else:
        qs = np.linspace(0.0, 1.0, grid_size + 1)[1:-1]
        cuts = np.unique(np.quantile(x, qs, method="inverted_cdf"))
        cuts = cuts[cuts > x.min()]
    cells = np.searchsorted(cuts, x, side="right")
    return (cuts, np.bincount(cells, weights=y, minlength=cuts.size + 1),
            np.bincount(cells, minlength=cuts.size + 1).astype(float))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), n=st.integers(1, 5000),
       rounding=st.sampled_from([None, 0, 1, 2]), grid_size=st.sampled_from([10, 100]))
def test_the_grid_from_sorted_values_counts_what_a_pass_over_the_rows_counts(
        seed: int, n: int, rounding: int | None, grid_size: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.lognormal(size=n)
    if rounding is not None:   # ties, down to a handful of distinct values
        x = x.round(rounding)
    y = (rng.random(n) < 0.2).astype(np.int64)
    cuts, grid = _grid(np.sort(x), np.sort(x[y == 1]), grid_size)
    want_cuts, want_events, want_totals = counted_row_by_row(x, y, grid_size)
    np.testing.assert_array_equal(cuts, want_cuts)
    np.testing.assert_array_equal(grid.events, want_events)
    np.testing.assert_array_equal(grid.totals, want_totals)


def test_missing_and_special_counts_come_from_the_sorted_values_exactly() -> None:
    x, y = sample("descending", 30_000, seed=4)
    x[::7] = np.nan
    x[3::11] = -1.0
    x[5::13] = 2.5      # a special value above the regular ones
    feature = Feature("x", Kind.NUMERIC, special_values={-1: "no file", 2.5: "capped"})
    binning = fit_feature(feature, x, y)
    index = binning.bin_indices(x)
    for i, b in enumerate(binning.bins):
        assert (b.count, b.events) == (int((index == i).sum()), int(y[index == i].sum()))
    assert binning.bins[-1].count == int(np.isnan(x).sum())


def test_bin_codes_are_one_byte_and_agree_with_a_binary_search() -> None:
    x, y = sample("ascending", 20_000, seed=5)
    x[:100] = np.nan
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y)
    codes = binning.bin_codes(x)
    assert codes.dtype == np.uint8
    searched = np.searchsorted(np.array(binning.splits), x, side="right")
    searched[np.isnan(x)] = binning.missing_index
    np.testing.assert_array_equal(codes, searched)
    np.testing.assert_array_equal(binning.bin_indices(x), searched)
    assert binning.bin_indices(x).dtype == np.int64
    np.testing.assert_array_equal(binning.transform(x), binning.woe[searched])


def test_categorical_codes_map_unseen_values_to_the_rare_pool_and_missing_apart(
        german: Dataset) -> None:
    y = german.frame["creditability"].to_numpy()
    purpose = german.feature_set.get("purpose")
    binning = fit_feature(purpose, german.frame["purpose"], y)
    codes = binning.bin_codes(pl.Series(["a spaceship", None, german.frame["purpose"][0]]))
    assert codes.dtype == np.uint8
    assert codes.tolist()[:2] == [binning.unseen, binning.missing_index]
    assert codes[2] == binning.bin_indices(german.frame["purpose"][:1])[0]


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), cells=st.integers(2, 30), max_bins=st.integers(1, 8))
def test_merging_down_to_max_bins_loses_the_least_iv_each_time(seed: int, cells: int,
                                                                max_bins: int) -> None:
    rng = np.random.default_rng(seed)
    totals = rng.integers(1, 500, cells).astype(float)
    events = rng.binomial(totals.astype(int), rng.uniform(0.05, 0.5, cells)).astype(float)
    grid = _Grid.of(events, totals)
    blocks = [(i, i + 1) for i in range(cells)]
    # row by row of the definition: try every merge, keep the one with the most IV left
    expected = list(blocks)
    while len(expected) > max_bins:
        merges = [_merged(expected, k) for k in range(len(expected) - 1)]
        expected = max(merges, key=lambda merged: _blocks_iv(grid, merged))
    got = _merge_to_max(grid, blocks, max_bins)
    assert len(got) == min(cells, max_bins)
    assert _blocks_iv(grid, got) == pytest.approx(_blocks_iv(grid, expected), abs=1e-12)


def test_a_million_rows_bin_exactly_not_from_a_sample() -> None:
    # the grid's quantiles are read off all the sorted values, however many there are
    rng = np.random.default_rng(6)
    x = rng.lognormal(size=1_000_000)
    y = (rng.random(x.size) < 0.05 + 0.1 * (x > 2)).astype(np.int64)
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, y)
    index = binning.bin_indices(x)
    counts = np.bincount(index, minlength=len(binning.bins))
    assert counts.tolist() == [b.count for b in binning.bins]
    assert follows(regular_rates(binning), binning.trend)


# ---------------------------------------------------------------------------- resolution

@given(rows=st.integers(1, 10_000_000), rate=st.floats(0.0, 1.0))
def test_the_bins_are_as_fine_as_the_rows_support_within_the_customary_limits(
        rows: int, rate: float) -> None:
    events = round(rows * rate)
    sizes = BinningOptions().resolved(rows, events)
    rarer = min(events, rows - events)
    for share, support, coarsest in ((sizes.min_prebin_size, 15.0, 0.05),
                                     (sizes.min_bin_size, 6.0, 0.02)):
        assert 0.005 <= share <= coarsest
        if 0.005 < share < coarsest:  # neither limit binds: just the support asked for
            assert share * rarer == pytest.approx(support)
    assert sizes.grid_size * sizes.min_prebin_size >= 0.999


def test_a_thousand_applications_get_the_customary_bins_and_a_million_finer_ones() -> None:
    german = BinningOptions().resolved(800, 240)        # a training fold of German credit
    assert (german.min_prebin_size, german.min_bin_size, german.grid_size) == (0.05, 0.02, 100)
    large = BinningOptions().resolved(1_000_000, 35_000)
    assert (large.min_prebin_size, large.min_bin_size, large.grid_size) == (0.005, 0.005, 200)
    asked = BinningOptions(min_prebin_size=0.1, min_bin_size=0.07, grid_size=50,
                           min_category_size=0.01)
    assert asked.resolved(1_000_000, 35_000) == Resolution(0.1, 0.07, 50, 0.01)


def test_a_category_is_placed_by_its_own_rate_when_it_holds_six_of_the_rarer_outcome() -> None:
    assert BinningOptions().resolved(800, 240).min_category_size == pytest.approx(6 / 240)
    assert BinningOptions().resolved(1_000_000, 35_000).min_category_size == pytest.approx(
        6 / 35_000)
    assert BinningOptions().resolved(1_000, 980).min_category_size == pytest.approx(6 / 20)


def test_finer_bins_on_more_rows_find_more_of_a_smooth_trend() -> None:
    x, y = sample("ascending", 400_000)
    feature = Feature("x", Kind.NUMERIC)
    fine = fit_feature(feature, x, y)
    customary = fit_feature(feature, x, y, BinningOptions(min_prebin_size=0.05,
                                                          min_bin_size=0.02))
    assert fine.n_regular > customary.n_regular
    assert fine.iv > customary.iv
    assert min(b.count for b in fine.bins[:fine.n_regular]) >= 0.005 * 400_000
    rates = regular_rates(fine)
    assert all(a < b for a, b in itertools.pairwise(rates))


# ---------------------------------------------------------------------------- association

def test_the_association_p_value_is_honest_for_a_feature_of_pure_noise() -> None:
    """Over many pure-noise features, p ≤ 5% about 5% of the time; the test on the fitted
    bins (placed where this sample's rates differ most) says it far more often."""
    rng = np.random.default_rng(11)
    honest, on_bins = [], []
    for _ in range(400):
        x = rng.normal(size=5000)
        x[rng.random(5000) < 0.1] = np.nan
        y = (rng.random(5000) < 0.2).astype(np.int64)
        binning = fit_feature(Feature("noise", Kind.NUMERIC), x, y)
        honest.append(binning.association_p_value)
        on_bins.append(bins_p_value(replace(binning, association_p_value=math.nan)))
    honest_rate = np.mean(np.asarray(honest) <= 0.05)
    assert 0.02 <= honest_rate <= 0.09   # 5% ± about 3 standard errors of 400 draws
    assert np.mean(np.asarray(on_bins) <= 0.05) > 2 * honest_rate


def test_the_association_p_value_sees_a_real_but_weak_trend_and_every_category() -> None:
    rng = np.random.default_rng(4)
    x = rng.random(200_000)
    weak = (rng.random(200_000) < 0.18 + 0.04 * x).astype(np.int64)   # IV about 0.005
    binning = fit_feature(Feature("x", Kind.NUMERIC), x, weak)
    assert binning.iv < 0.02 and binning.association_p_value < 1e-6
    values = rng.choice(["a", "b", "c", "d"], size=20_000)
    y = (rng.random(20_000) < np.where(values == "d", 0.3, 0.2)).astype(np.int64)
    categorical = fit_feature(Feature("c", Kind.CATEGORICAL), values, y)
    assert categorical.association_p_value < 1e-6
    noise = fit_feature(Feature("c", Kind.CATEGORICAL), values, rng.permutation(y))
    assert noise.association_p_value > 1e-3
