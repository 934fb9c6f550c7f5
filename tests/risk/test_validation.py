"""Model validation from plain arrays: known answers checked against scipy and
scikit-learn, worked examples computed by hand, properties of AUC, and bad input named."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from sklearn.metrics import roc_auc_score

from lendguard.errors import InvalidValidationInput
from lendguard.risk.validation import (
    PSI_EPSILON,
    calibration,
    compare_auc,
    csi,
    discrimination,
    gains_table,
    ks_curve,
    psi,
    read_psi,
    roc_curve,
    score_distribution,
    swap_set,
)


def sample(n: int, separation: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Outcomes with a 20% bad rate and a PD-like score that is ``separation`` higher
    for bads."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.int64)
    return y, rng.normal(size=n) + separation * y


# ---------------------------------------------------------------- discrimination


def test_perfect_separation_has_auc_and_ks_of_one() -> None:
    y = np.array([1, 1, 1, 0, 0, 0, 0])
    points = np.array([500, 510, 520, 600, 610, 620, 630])  # bads score lowest

    result = discrimination(y, points, n_bootstrap=200)

    assert result.auc.value == 1.0
    assert result.gini.value == 1.0
    assert result.ks.value == 1.0
    # Every bad at or below 520, every good above it.
    assert result.ks_score == 520
    assert result.auc.low == 1.0 and result.auc.high == 1.0


def test_a_random_score_has_auc_near_one_half_with_an_interval_covering_it() -> None:
    rng = np.random.default_rng(7)
    y = (rng.random(5_000) < 0.3).astype(int)
    result = discrimination(y, rng.random(5_000))

    assert abs(result.auc.value - 0.5) < 0.03
    assert result.auc.low < 0.5 < result.auc.high
    assert result.gini.low < 0 < result.gini.high


def test_auc_equals_scikit_learn_and_ks_equals_scipy() -> None:
    y, pd_like = sample(3_000, 0.7, seed=1)
    points = np.round(600 - 40 * pd_like)  # scorecard-like, with many ties

    as_pd = discrimination(y, pd_like, higher_is_riskier=True, n_bootstrap=0)
    as_points = discrimination(y, points, n_bootstrap=0)

    assert as_pd.auc.value == pytest.approx(roc_auc_score(y, pd_like), abs=1e-12)
    assert as_points.auc.value == pytest.approx(roc_auc_score(y, -points), abs=1e-12)
    for result, score in ((as_pd, pd_like), (as_points, points)):
        ks = stats.ks_2samp(score[y == 1], score[y == 0]).statistic
        assert result.ks.value == pytest.approx(ks, abs=1e-12)
        assert result.gini.value == pytest.approx(2 * result.auc.value - 1)


def test_ks_is_reached_at_the_reported_score() -> None:
    y, score = sample(2_000, 1.0, seed=2)
    result = discrimination(y, score, higher_is_riskier=True, n_bootstrap=0)
    at = result.ks_score
    gap = abs(np.mean(score[y == 1] <= at) - np.mean(score[y == 0] <= at))
    assert gap == pytest.approx(result.ks.value)


def test_the_bootstrap_is_seeded_and_its_interval_holds_the_estimate() -> None:
    y, score = sample(2_000, 0.5, seed=3)
    first = discrimination(y, score, higher_is_riskier=True, n_bootstrap=300, seed=11)
    again = discrimination(y, score, higher_is_riskier=True, n_bootstrap=300, seed=11)
    other = discrimination(y, score, higher_is_riskier=True, n_bootstrap=300, seed=12)

    assert first == again
    assert first.auc != other.auc
    for estimate in (first.auc, first.ks, first.gini):
        assert estimate.low < estimate.value < estimate.high
    # 2·AUC − 1 maps the AUC interval onto the Gini interval.
    assert first.gini.low == pytest.approx(2 * first.auc.low - 1)


def test_the_bootstrap_standard_error_matches_the_analytic_one() -> None:
    # Hanley & McNeil (1982): SE(AUC) from AUC and the class sizes.
    y, score = sample(4_000, 0.8, seed=4)
    result = discrimination(y, score, higher_is_riskier=True, n_bootstrap=1_000)
    auc, n_bad, n_good = result.auc.value, int(y.sum()), int((1 - y).sum())
    q1, q2 = auc / (2 - auc), 2 * auc**2 / (1 + auc)
    se = math.sqrt((auc * (1 - auc) + (n_bad - 1) * (q1 - auc**2)
                    + (n_good - 1) * (q2 - auc**2)) / (n_bad * n_good))
    width = result.auc.high - result.auc.low
    assert width == pytest.approx(2 * 1.96 * se, rel=0.15)


def test_a_hundred_thousand_rows_bootstrap_in_seconds() -> None:
    y, score = sample(100_000, 0.5, seed=5)
    points = np.round(600 - 40 * score)
    started = time.perf_counter()
    discrimination(y, points, n_bootstrap=1_000)
    assert time.perf_counter() - started < 30


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(-50, 50)), min_size=2, max_size=60)
       .filter(lambda rows: len({bad for bad, _ in rows}) == 2))
def test_auc_is_invariant_to_monotone_transforms_and_flips_with_the_sign(
        rows: list[tuple[bool, int]]) -> None:
    y = np.array([int(bad) for bad, _ in rows])
    score = np.array([float(value) for _, value in rows])

    auc = discrimination(y, score, n_bootstrap=0).auc.value
    transformed = discrimination(y, np.exp(score / 10) + 3 * score, n_bootstrap=0).auc.value
    negated = discrimination(y, -score, n_bootstrap=0).auc.value

    assert transformed == pytest.approx(auc, abs=1e-12)
    assert negated == pytest.approx(1 - auc, abs=1e-12)
    assert discrimination(y, score, higher_is_riskier=True,
                          n_bootstrap=0).auc.value == pytest.approx(negated, abs=1e-12)


outcomes_and_two_scores = st.lists(
    st.tuples(st.booleans(), st.integers(0, 20), st.floats(0, 1)), min_size=2, max_size=80,
).filter(lambda rows: len({bad for bad, _, _ in rows}) == 2)


@settings(max_examples=40, deadline=None)
@given(outcomes_and_two_scores, st.floats(0.05, 0.95))
def test_swap_sets_and_gains_tables_always_add_up(rows: list[tuple[bool, int, float]],
                                                  cutoff_rate: float) -> None:
    y = np.array([int(bad) for bad, _, _ in rows])
    points = np.array([float(p) for _, p, _ in rows])
    pd = np.array([p for _, _, p in rows])

    swap = swap_set(y, points, pd, cutoff_rate, challenger_higher_is_riskier=True)
    table = gains_table(y, points, groups=5)

    cells = (swap.kept_in, swap.swap_out, swap.swap_in, swap.kept_out)
    assert sum(cell.count for cell in cells) == len(y)
    assert sum(cell.bads for cell in cells) == y.sum()
    assert swap.swap_in.count == swap.swap_out.count
    assert sum(row.count for row in table.rows) == len(y)
    assert table.rows[-1].cum_bads_share == pytest.approx(1)
    assert table.rows[-1].cum_goods_share == pytest.approx(1)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6) | st.just(math.nan), min_size=1, max_size=60),
       st.lists(st.floats(-1e6, 1e6) | st.just(math.nan), min_size=1, max_size=60))
def test_psi_is_never_negative_and_zero_on_the_same_sample(expected: list[float],
                                                           actual: list[float]) -> None:
    assert psi(expected, actual, bins=4).value >= 0
    assert psi(expected, expected, bins=4).value == 0


def test_roc_and_ks_curves_run_from_nothing_to_everything() -> None:
    y, score = sample(500, 1.0, seed=6)
    roc = roc_curve(y, score, higher_is_riskier=True)
    assert roc.false_positive_rate[0] == 0 and roc.true_positive_rate[-1] == 1
    assert np.trapezoid(roc.true_positive_rate, roc.false_positive_rate) == pytest.approx(
        roc_auc_score(y, score))
    ks = ks_curve(y, score)
    assert np.all(np.diff(ks.score) > 0)
    assert ks.cum_bad_share[-1] == ks.cum_good_share[-1] == pytest.approx(1)


# ---------------------------------------------------------------- calibration


def test_hosmer_lemeshow_on_a_case_computed_by_hand() -> None:
    # Three groups of four: PD 0.25, 0.5, 0.75, two bads in each.
    # (2 − 1)²/(4·0.25·0.75) + (2 − 2)²/(4·0.5·0.5) + (2 − 3)²/(4·0.75·0.25) = 8/3
    pd = np.repeat([0.25, 0.5, 0.75], 4)
    y = np.array([1, 1, 0, 0] * 3)

    result = calibration(y, pd, groups=3)

    assert result.hosmer_lemeshow == pytest.approx(8 / 3)
    assert result.degrees_of_freedom == 1
    assert result.p_value == pytest.approx(stats.chi2.sf(8 / 3, 1))
    assert [b.expected_bads for b in result.bins] == [1.0, 2.0, 3.0]
    assert [b.observed_bads for b in result.bins] == [2, 2, 2]
    # Brier: 4 rows at each PD, half bads: mean of ½(p² + (1 − p)²) over the PDs.
    brier = np.mean([0.5 * (p**2 + (1 - p) ** 2) for p in (0.25, 0.5, 0.75)])
    assert result.brier == pytest.approx(brier)


def test_a_calibrated_pd_passes_and_a_doubled_one_fails() -> None:
    rng = np.random.default_rng(8)
    pd = rng.uniform(0.01, 0.3, 20_000)
    y = (rng.random(20_000) < pd).astype(int)

    calibrated = calibration(y, pd)
    doubled = calibration(y, np.minimum(2 * pd, 1))

    assert len(calibrated.bins) == 10
    assert sum(b.count for b in calibrated.bins) == 20_000
    assert calibrated.p_value > 0.01
    assert doubled.p_value < 1e-10
    assert calibrated.brier < doubled.brier


# ---------------------------------------------------------------- stability


def test_identical_samples_have_zero_psi() -> None:
    values = np.random.default_rng(9).normal(size=1_000)
    result = psi(values, values.copy())
    assert result.value == 0
    assert result.reading == "stable"
    assert len(result.bins) == 10


def test_psi_on_two_bins_computed_by_hand() -> None:
    # Development splits at its median 1.5: shares ½, ½. Later: 4 of 5 at or below.
    # (0.8 − 0.5)·ln(0.8/0.5) + (0.2 − 0.5)·ln(0.2/0.5) = 0.3·ln 1.6 + 0.3·ln 2.5 ≈ 0.4159
    result = psi([1, 1, 2, 2], [1, 1, 1, 1, 2], bins=2)

    assert [b.label for b in result.bins] == ["≤ 1.5", "> 1.5"]
    assert [b.actual_share for b in result.bins] == [0.8, 0.2]
    assert result.value == pytest.approx(0.3 * math.log(1.6) + 0.3 * math.log(2.5))
    assert result.reading == "shifted"


def test_an_empty_bin_takes_epsilon_and_missing_values_get_their_own_bin() -> None:
    result = psi([1.0, 1.0, 2.0, 2.0], [1.0, 1.0, np.nan, np.nan], bins=2)

    assert [b.label for b in result.bins] == ["≤ 1.5", "> 1.5", "missing"]
    # ½ → ½; ½ → ε; ε → ½
    expected = (PSI_EPSILON - 0.5) * math.log(PSI_EPSILON / 0.5) + (
        0.5 - PSI_EPSILON) * math.log(0.5 / PSI_EPSILON)
    assert result.value == pytest.approx(expected)


def test_categorical_psi_bins_by_category_and_names_the_unseen() -> None:
    result = psi(["app", "app", "web", "web"], ["app", "web", "web", "agent"])

    assert result.categorical
    assert [b.label for b in result.bins] == ["app", "web", "(not in development)"]
    assert [b.actual_count for b in result.bins] == [1, 2, 1]


def test_psi_readings() -> None:
    assert [read_psi(v) for v in (0.0, 0.099, 0.1, 0.25, 0.2501)] == [
        "stable", "stable", "watch", "watch", "shifted"]


def test_csi_per_feature_flags_the_one_that_moved() -> None:
    rng = np.random.default_rng(10)
    development = {"age": rng.integers(20, 60, 5_000), "income": rng.lognormal(9, 0.5, 5_000),
                   "channel": rng.choice(["app", "web"], 5_000)}
    later = {"age": rng.integers(20, 60, 5_000), "income": rng.lognormal(9.4, 0.5, 5_000),
             "channel": rng.choice(["app", "web"], 5_000)}

    result = csi(development, later)

    assert list(result) == ["age", "income", "channel"]
    assert result["age"].reading == "stable"
    assert result["channel"].reading == "stable"
    assert result["income"].reading == "shifted"


def test_csi_names_every_feature_missing_from_the_later_sample() -> None:
    with pytest.raises(InvalidValidationInput) as raised:
        csi({"age": [1, 2], "income": [3, 4], "tier": [1, 2]}, {"tier": [1, 2]})
    assert raised.value.problems == ["later: has no column 'age'",
                                     "later: has no column 'income'"]


# ---------------------------------------------------------------- tables


def test_gains_table_cumulative_columns_end_at_one_hundred_percent() -> None:
    y, score = sample(10_000, 0.8, seed=11)
    points = np.round(600 - 40 * score)

    table = gains_table(y, points)

    last = table.rows[-1]
    assert last.cum_bads_share == pytest.approx(1) and last.cum_goods_share == pytest.approx(1)
    assert last.cum_lift == pytest.approx(1)
    assert sum(row.count for row in table.rows) == 10_000
    assert sum(row.bads for row in table.rows) == y.sum()
    # Riskiest first: the lowest points in group 1, bad rates falling.
    assert table.rows[0].score_high < table.rows[-1].score_low
    assert table.rows[0].bad_rate > table.rows[-1].bad_rate
    assert max(row.ks for row in table.rows) <= discrimination(
        y, points, n_bootstrap=0).ks.value + 1e-12


def test_gains_table_keeps_equal_scores_in_one_group() -> None:
    # 10 rows, 5 groups asked; six rows share the score 1, so they fill one group.
    y = [1, 0, 1, 0, 0, 0, 1, 0, 0, 0]
    score = [1, 1, 1, 1, 1, 1, 2, 3, 4, 5]
    table = gains_table(y, score, groups=5)
    assert [row.count for row in table.rows] == [6, 2, 2]
    assert [(row.score_low, row.score_high) for row in table.rows] == [
        (1, 1), (2, 3), (4, 5)]


def test_swap_set_counts_add_up() -> None:
    y, pd = sample(5_000, 0.8, seed=12)
    challenger = pd + np.random.default_rng(13).normal(scale=0.5, size=5_000)
    points = np.round(600 - 40 * pd)

    swap = swap_set(y, points, challenger, 0.7, challenger_higher_is_riskier=True)

    cells = (swap.kept_in, swap.swap_out, swap.swap_in, swap.kept_out)
    assert sum(cell.count for cell in cells) == 5_000
    assert sum(cell.bads for cell in cells) == y.sum()
    assert swap.n_approved == 3_500
    assert swap.champion_approved.count == swap.challenger_approved.count == 3_500
    assert swap.swap_in.count == swap.swap_out.count > 0
    assert swap.kept_in.count + swap.swap_out.count == swap.champion_approved.count
    assert swap.champion_approved.bads == swap.kept_in.bads + swap.swap_out.bads


def test_the_same_score_swaps_nobody() -> None:
    y, pd = sample(1_000, 0.8, seed=14)
    swap = swap_set(y, pd, pd, 0.5, champion_higher_is_riskier=True,
                    challenger_higher_is_riskier=True)
    assert swap.swap_in.count == swap.swap_out.count == 0
    assert math.isnan(swap.swap_in.bad_rate)


def test_score_distribution_on_development_edges() -> None:
    development = np.arange(100.0)
    later = np.arange(50.0, 150.0)
    dev = score_distribution(development, 4, y=np.arange(100) % 2)
    shifted = score_distribution(later, dev.edges)

    assert dev.counts == (25, 25, 25, 25)
    assert dev.bad_counts == (12, 13, 12, 13)
    assert dev.percentiles["p50"] == pytest.approx(49.5)
    # Beyond the development range counts in the top bin.
    assert shifted.counts == (0, 0, 25, 75)
    assert sum(shifted.shares) == pytest.approx(1)


# ---------------------------------------------------------------- bad input


def test_every_problem_is_named_at_once() -> None:
    with pytest.raises(InvalidValidationInput) as raised:
        discrimination([0, 1, 2, 1], [0.1, np.nan, 0.3], n_bootstrap=-1)
    problems = raised.value.problems
    assert problems == [
        "n_bootstrap: must be a whole number ≥ 0, got -1",
        "y: must be 0/1 (1 = bad), also found 2",
        "score: 1 NaN value(s), at rows 1",
        "score: has 3 values but y has 4",
    ]
    assert raised.value.code == "invalid_validation_input"


@pytest.mark.parametrize(("y", "score", "message"), [
    ([0, 0, 0], [1, 2, 3], "y: every row is good (0)"),
    ([1, 1], [1, 2], "y: every row is bad (1)"),
    ([0, 1, 1], [1, 2], "score: has 2 values but y has 3"),  # swap_set: champion_score: …
    (["good", "bad"], [1, 2], "y: must be 0/1 (1 = bad), got values of type <U4"),
    ([0, 1, np.nan], [1, 2, 3], "y: 1 missing value(s)"),
    ([0, 1], [1, np.inf], "score: 1 infinite value(s)"),
    ([], [], "y: is empty"),
])
def test_bad_input_is_refused_with_what_is_wrong(y: object, score: object,
                                                 message: str) -> None:
    for measure in (lambda: discrimination(y, score),  # type: ignore[arg-type]
                    lambda: gains_table(y, score),  # type: ignore[arg-type]
                    lambda: swap_set(y, score, score, 0.5)):  # type: ignore[arg-type]
        with pytest.raises(InvalidValidationInput) as raised:
            measure()
        assert any(message in problem for problem in raised.value.problems), (
            raised.value.problems)


def test_calibration_refuses_pds_outside_zero_one_and_too_few_groups() -> None:
    with pytest.raises(InvalidValidationInput) as raised:
        calibration([0, 1, 0], [0.2, 1.5, -0.1], groups=2)
    assert raised.value.problems == [
        "groups: need at least 3 (degrees of freedom = groups − 2), got 2",
        "pd: 2 value(s) outside [0, 1]",
    ]


def test_swap_set_refuses_a_cutoff_outside_zero_one() -> None:
    with pytest.raises(InvalidValidationInput, match="cutoff_rate"):
        swap_set([0, 1], [1, 2], [1, 2], 1.0)


# ---------------------------------------------------------------- champion against challenger AUC


def test_delong_matches_sklearn_aucs_and_a_paired_bootstrap() -> None:
    rng = np.random.default_rng(8)
    y, a = sample(4000, 0.8, seed=8)
    b = a + rng.normal(scale=0.7, size=a.size)      # a noisier copy: correlated, worse
    result = compare_auc(y, a, b, a_higher_is_riskier=True, b_higher_is_riskier=True)
    assert result.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert result.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert result.difference.value == pytest.approx(result.auc_b - result.auc_a)
    draws = []
    for _ in range(400):
        rows = rng.integers(0, y.size, y.size)
        draws.append(roc_auc_score(y[rows], b[rows]) - roc_auc_score(y[rows], a[rows]))
    half_width = (result.difference.high - result.difference.low) / 2
    assert half_width / 1.96 == pytest.approx(np.std(draws), rel=0.15)
    assert result.difference.high < 0 and result.p_value < 0.05
    # separately, the two intervals overlap: only the paired test sees the difference
    assert abs(result.difference.value) < 2 * 1.96 * math.sqrt(
        result.auc_a * (1 - result.auc_a) / (0.2 * y.size))


def test_delong_reads_orientation_and_finds_no_difference_in_the_same_ranking() -> None:
    y, risk = sample(2000, 0.5, seed=9)
    points = 600 - 20 * risk                         # a scorecard's reading: higher is safer
    same = compare_auc(y, risk, np.exp(risk), a_higher_is_riskier=True,
                       b_higher_is_riskier=True)
    assert same.difference.value == 0 and same.p_value == 1.0
    flipped = compare_auc(y, risk, points, a_higher_is_riskier=True)
    assert flipped.auc_a == pytest.approx(flipped.auc_b) and flipped.p_value == 1.0
    random = np.random.default_rng(9).random(y.size)
    versus_random = compare_auc(y, random, points)
    assert versus_random.auc_b > 0.6 and versus_random.p_value < 1e-6


def test_delong_names_bad_input() -> None:
    with pytest.raises(InvalidValidationInput) as error:
        compare_auc([0, 1, 0], [0.1, 0.2], [0.3, 0.4, 0.5], confidence=1.5)
    text = str(error.value)
    assert "score_a" in text and "confidence" in text
    with pytest.raises(InvalidValidationInput, match="2 bads"):
        compare_auc([0, 0, 0, 1], [1, 2, 3, 4], [1, 2, 3, 4])


@settings(max_examples=60, deadline=None)
@given(data=st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 6)),
                     min_size=6, max_size=80))
def test_delong_aucs_equal_sklearn_with_ties_and_swapping_negates(
        data: list[tuple[int, int, int]]) -> None:
    y = np.array([row[0] for row in data])
    if y.sum() < 2 or (1 - y).sum() < 2:
        return
    a = np.array([row[1] for row in data], dtype=float)
    b = np.array([row[2] for row in data], dtype=float)
    ab = compare_auc(y, a, b, a_higher_is_riskier=True, b_higher_is_riskier=True)
    assert ab.auc_a == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert ab.auc_b == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    ba = compare_auc(y, b, a, a_higher_is_riskier=True, b_higher_is_riskier=True)
    assert ba.difference.value == pytest.approx(-ab.difference.value, abs=1e-12)
    assert ba.p_value == pytest.approx(ab.p_value, abs=1e-9)
    assert 0.0 <= ab.p_value <= 1.0
