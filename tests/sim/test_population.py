"""The synthetic population: its shape, determinism by seed, the segment mix, the wall
between what a lender sees and the truth, the correlations docs/simulation.md promises,
and flat memory as the population grows."""

from __future__ import annotations

import functools
import math
import time
import tracemalloc
import warnings
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lendguard.errors import InvalidConfiguration
from lendguard.sim import (
    APPLICATION_COLUMNS,
    BORROWER_SCHEMA,
    GROUND_TRUTH_COLUMNS,
    HIDDEN_DRIVER_COLUMNS,
    Segment,
    SimulationConfig,
    applications,
    default_config_data,
    generate,
    ground_truth,
    load_config,
    parse_config,
)
from lendguard.sim.config import FRAUD_TYPE_BY_SEGMENT
from lendguard.sim.population import BLOCK_SIZE

SEED = 2026
N_LARGE = 50_000


@pytest.fixture(scope="module")
def config() -> SimulationConfig:
    return load_config()


@pytest.fixture(scope="module")
def borrowers(config: SimulationConfig) -> pl.DataFrame:
    return population(config, N_LARGE, SEED)


def population(config: SimulationConfig, n: int, seed: int, chunk_size: int = 10_000
               ) -> pl.DataFrame:
    frames = list(generate(config, n, seed, chunk_size))
    return pl.concat(frames) if frames else pl.DataFrame(schema=BORROWER_SCHEMA)


def of(borrowers: pl.DataFrame, segment: Segment) -> pl.DataFrame:
    return borrowers.filter(pl.col("segment") == segment.value)


def with_bureau_file(borrowers: pl.DataFrame) -> pl.DataFrame:
    return borrowers.filter(pl.col("has_bureau_file"))


# --- shape -------------------------------------------------------------------------------

def test_frames_have_the_documented_columns_and_types(borrowers: pl.DataFrame) -> None:
    assert dict(borrowers.schema) == dict(BORROWER_SCHEMA)
    assert borrowers.height == N_LARGE


def test_customer_ids_are_numbered_from_one_in_order(borrowers: pl.DataFrame) -> None:
    ids = borrowers["customer_id"]
    assert ids[:3].to_list() == ["C-0000001", "C-0000002", "C-0000003"]
    assert ids[-1] == f"C-{N_LARGE:07d}"
    assert ids.n_unique() == N_LARGE


def test_attributes_stay_in_their_domains(borrowers: pl.DataFrame,
                                          config: SimulationConfig) -> None:
    row = borrowers.select(
        age_ok=pl.col("age").is_between(18, 70).all(),
        tier_ok=pl.col("city_tier").is_between(1, 4).all(),
        # Declared incomes are whole yuan, within the configured floor and cap.
        whole_yuan=(pl.col("monthly_income_fen") % 100 == 0).all(),
        income_min=pl.col("monthly_income_fen").min(),
        income_max=pl.col("monthly_income_fen").max(),
        dates_ok=(pl.col("application_date") - pl.lit(config.start)).dt.total_days()
        .is_between(0, config.acquisition_days - 1).all(),
        behaviour_ok=(pl.col("late_night_share").is_between(0, 1)
                      & (pl.col("spend_share_of_income") >= 0)
                      & (pl.col("income_volatility") >= 0)).all(),
    ).row(0, named=True)
    income = config.population.income
    assert row["income_min"] >= income.floor_monthly_yuan * 100
    assert row["income_max"] <= income.cap_monthly_yuan * 100
    assert all(value for key, value in row.items() if key.endswith("_ok") or key == "whole_yuan")


def test_a_missing_bureau_file_shows_minus_one_in_every_bureau_field(borrowers: pl.DataFrame
                                                                     ) -> None:
    bureau = pl.col("existing_debt_fen"), pl.col("inquiries_6m"), pl.col("lenders_count")
    without = borrowers.filter(~pl.col("has_bureau_file"))
    assert without.height > 0
    assert without.select(pl.all_horizontal(c == -1 for c in bureau).all()).item()
    assert with_bureau_file(borrowers).select(
        pl.all_horizontal(c >= 0 for c in bureau).all()).item()


def test_debt_is_owed_exactly_when_there_is_a_lender(borrowers: pl.DataFrame) -> None:
    seen = with_bureau_file(borrowers)
    assert ((seen["existing_debt_fen"] > 0) == (seen["lenders_count"] > 0)).all()


# --- determinism -------------------------------------------------------------------------

def test_the_same_seed_gives_identical_frames(config: SimulationConfig) -> None:
    first = list(generate(config, 25_000, 11))
    again = list(generate(config, 25_000, 11))
    assert len(first) == len(again) == 3
    assert all(a.equals(b) for a, b in zip(first, again, strict=True))


def test_a_different_seed_gives_a_different_population(config: SimulationConfig) -> None:
    one, other = population(config, 5_000, 11), population(config, 5_000, 12)
    assert not one.equals(other)
    assert one["customer_id"].equals(other["customer_id"])  # ids are positions, not draws
    assert (one["monthly_income_fen"] != other["monthly_income_fen"]).mean() > 0.9


@pytest.mark.parametrize("chunk_size", [1_000, BLOCK_SIZE, 7_777, 10_000, 30_000])
def test_the_population_does_not_depend_on_the_chunk_size(config: SimulationConfig,
                                                          chunk_size: int) -> None:
    reference = population(config, 23_456, 5)
    frames = list(generate(config, 23_456, 5, chunk_size))
    assert [frame.height for frame in frames[:-1]] == [chunk_size] * (len(frames) - 1)
    assert len(frames) == math.ceil(23_456 / chunk_size)
    assert pl.concat(frames).equals(reference)


def test_a_smaller_population_is_the_start_of_a_larger_one(config: SimulationConfig) -> None:
    larger = population(config, 9_000, 5)
    assert population(config, 3_001, 5).equals(larger.head(3_001))


@functools.cache
def reference_population() -> pl.DataFrame:
    return population(load_config(), 5_000, 99)


# Up to 60 chunks an example: a frame per borrower would only test polars' speed.
chunkings = st.integers(min_value=1, max_value=3_000).flatmap(
    lambda chunk_size: st.tuples(st.integers(0, min(5_000, 60 * chunk_size)),
                                 st.just(chunk_size)))


@settings(max_examples=25, deadline=None)
@given(chunking=chunkings)
def test_any_chunking_of_any_prefix_gives_the_same_rows(chunking: tuple[int, int]) -> None:
    n, chunk_size = chunking
    frames = list(generate(load_config(), n, 99, chunk_size))
    assert all(0 < frame.height <= chunk_size for frame in frames)
    assert sum(frame.height for frame in frames) == n
    if n:
        assert pl.concat(frames).equals(reference_population().head(n))


def test_the_macro_shock_switch_leaves_the_borrowers_unchanged() -> None:
    # The switch acts on hazards in the engine: both scenarios run on the same people.
    data = default_config_data()
    calm = parse_config(data)
    shocked = parse_config({**data, "macro_shock": True})
    assert calm.config_hash() != shocked.config_hash()
    assert population(calm, 3_000, 8).equals(population(shocked, 3_000, 8))


# --- the segment mix ---------------------------------------------------------------------

def test_segment_shares_are_realised_within_sampling_tolerance(borrowers: pl.DataFrame,
                                                               config: SimulationConfig
                                                               ) -> None:
    counts = dict(borrowers["segment"].value_counts().iter_rows())
    for segment, share in config.shares().items():
        realised = counts.get(segment.value, 0) / N_LARGE
        tolerance = 4.5 * math.sqrt(share * (1 - share) / N_LARGE) + 1e-4
        assert abs(realised - share) <= tolerance, (segment, realised, share)


def test_a_segment_left_out_never_appears() -> None:
    data = default_config_data()
    takeover = data["segments"].pop("fraud_takeover")
    data["segments"]["prudent"]["share"] += takeover["share"]
    drawn = population(parse_config(data), 20_000, 3)
    assert of(drawn, Segment.FRAUD_TAKEOVER).height == 0
    assert drawn["fraud_type"].drop_nulls().n_unique() == 2


# --- what a lender sees, and the truth kept apart ----------------------------------------

def test_applications_show_only_application_time_attributes(borrowers: pl.DataFrame) -> None:
    seen = applications(borrowers)
    assert seen.columns == list(APPLICATION_COLUMNS)
    assert not set(seen.columns) & set(HIDDEN_DRIVER_COLUMNS)
    assert not {"segment", "risk_propensity", "shock_month", "fraud_type",
                "fraud_start_month"} & set(seen.columns)


def test_every_column_is_either_seen_at_application_or_hidden() -> None:
    seen, hidden = set(APPLICATION_COLUMNS), set(HIDDEN_DRIVER_COLUMNS)
    assert seen | hidden == set(BORROWER_SCHEMA)
    assert set(GROUND_TRUTH_COLUMNS) - {"customer_id"} <= hidden
    assert set(GROUND_TRUTH_COLUMNS) & seen == {"customer_id"}


def test_the_income_shown_is_the_income_before_the_shock(borrowers: pl.DataFrame,
                                                         config: SimulationConfig) -> None:
    shocked = of(borrowers, Segment.INCOME_SHOCK)
    kept = config.segments[Segment.INCOME_SHOCK].income_after_shock
    assert kept is not None
    ratio = shocked["post_shock_monthly_income_fen"] / shocked["monthly_income_fen"]
    assert ratio.is_between(kept - 0.01, kept + 0.01).all()
    assert applications(shocked)["monthly_income_fen"].equals(shocked["monthly_income_fen"])


def test_ground_truth_names_the_fraud_and_when_it_starts(borrowers: pl.DataFrame,
                                                         config: SimulationConfig) -> None:
    truth = ground_truth(borrowers)
    assert truth.columns == list(GROUND_TRUTH_COLUMNS)
    honest = truth.filter(~pl.col("segment").is_in([s.value for s in FRAUD_TYPE_BY_SEGMENT]))
    assert honest["fraud_type"].null_count() == honest.height
    assert honest["fraud_start_month"].null_count() == honest.height
    for segment, fraud_type in FRAUD_TYPE_BY_SEGMENT.items():
        onset = config.segments[segment].onset
        assert onset is not None
        fraudsters = of(truth, segment)
        assert (fraudsters["fraud_type"] == fraud_type.value).all()
        months = fraudsters["fraud_start_month"]
        assert months.null_count() == 0
        assert set(months.unique()) == set(range(onset.earliest, onset.latest + 1))


def test_only_the_income_shock_segment_has_a_shock_month(borrowers: pl.DataFrame,
                                                         config: SimulationConfig) -> None:
    onset = config.segments[Segment.INCOME_SHOCK].onset
    assert onset is not None
    shocked = of(borrowers, Segment.INCOME_SHOCK)
    assert set(shocked["shock_month"].unique()) == set(range(onset.earliest, onset.latest + 1))
    others = borrowers.filter(pl.col("segment") != Segment.INCOME_SHOCK.value)
    assert others["shock_month"].null_count() == others.height
    assert others["post_shock_monthly_income_fen"].null_count() == others.height


# --- correlations promised in docs/simulation.md -----------------------------------------

def median_income_by_tier(borrowers: pl.DataFrame) -> list[float]:
    by_tier = borrowers.group_by("city_tier").agg(pl.col("monthly_income_fen").median())
    return by_tier.sort("city_tier")["monthly_income_fen"].to_list()


def test_income_falls_from_tier_1_to_tier_4(borrowers: pl.DataFrame) -> None:
    medians = median_income_by_tier(borrowers)
    assert medians == sorted(medians, reverse=True)
    assert medians[0] > 1.8 * medians[3]


def test_income_rises_from_the_youngest_to_the_thirties(borrowers: pl.DataFrame) -> None:
    def median(low: int, high: int) -> Any:
        return borrowers.filter(pl.col("age").is_between(low, high))[
            "monthly_income_fen"].median()
    assert median(18, 22) < median(23, 29) < median(30, 39)


def test_over_borrowers_have_more_inquiries_lenders_and_debt_than_prudent_payers(
        borrowers: pl.DataFrame) -> None:
    def means(segment: Segment) -> dict[str, Any]:
        return with_bureau_file(of(borrowers, segment)).select(
            pl.col("inquiries_6m", "lenders_count").mean(),
            debt_months=(pl.col("existing_debt_fen") / pl.col("monthly_income_fen")).mean(),
        ).row(0, named=True)
    prudent, over = means(Segment.PRUDENT), means(Segment.OVER_BORROWER)
    assert over["inquiries_6m"] > 2 * prudent["inquiries_6m"]
    assert over["lenders_count"] > 2 * prudent["lenders_count"]
    assert over["debt_months"] > 2 * prudent["debt_months"]


def test_synthetic_identities_have_thin_files_new_devices_and_new_numbers(
        borrowers: pl.DataFrame) -> None:
    def shares(segment: Segment) -> dict[str, Any]:
        return of(borrowers, segment).select(
            bureau_file=pl.col("has_bureau_file").mean(),
            new_device=(pl.col("device_age_days") < 30).mean(),
            new_number=(pl.col("phone_tenure_months") < 6).mean(),
            partner=(pl.col("channel") == "partner").mean(),
        ).row(0, named=True)
    synthetic, prudent = shares(Segment.FRAUD_SYNTHETIC), shares(Segment.PRUDENT)
    assert synthetic["bureau_file"] < 0.3 < prudent["bureau_file"]
    assert synthetic["new_device"] > 0.6 > 0.15 > prudent["new_device"]
    assert synthetic["new_number"] > 0.5 > 0.1 > prudent["new_number"]
    assert synthetic["partner"] > 2 * prudent["partner"]


def test_impulse_spenders_spend_late_at_night_and_are_younger(borrowers: pl.DataFrame) -> None:
    impulse, prudent = of(borrowers, Segment.IMPULSE), of(borrowers, Segment.PRUDENT)
    assert impulse["late_night_share"].mean() > 4 * prudent["late_night_share"].mean()
    assert impulse["age"].mean() < prudent["age"].mean()


def test_ios_is_commoner_in_tier_1_than_tier_4(borrowers: pl.DataFrame) -> None:
    ios = borrowers.group_by("city_tier").agg((pl.col("device") == "ios").mean())
    by_tier = dict(ios.iter_rows())
    assert by_tier[1] > 2 * by_tier[4]


def test_risk_propensity_is_centred_and_higher_for_riskier_profiles(borrowers: pl.DataFrame
                                                                    ) -> None:
    risk = borrowers["risk_propensity"]
    assert abs(risk.mean()) < 0.15
    mean_risk = {segment: of(borrowers, segment)["risk_propensity"].mean()
                 for segment in (Segment.PRUDENT, Segment.REVOLVER, Segment.OVER_BORROWER)}
    assert (mean_risk[Segment.PRUDENT] < mean_risk[Segment.REVOLVER]
            < mean_risk[Segment.OVER_BORROWER])


def test_students_are_young(borrowers: pl.DataFrame) -> None:
    students = borrowers.filter(pl.col("employment") == "student")
    assert students.height > 0
    assert students["age"].max() <= 24


# --- arguments, memory and time ----------------------------------------------------------

def test_bad_arguments_are_refused_all_at_once_before_any_draw(config: SimulationConfig
                                                               ) -> None:
    with pytest.raises(InvalidConfiguration) as refused:
        generate(config, -1, -5, chunk_size=0)  # not iterated: refused at the call
    assert [problem.split(":")[0] for problem in refused.value.problems] == [
        "n", "seed", "chunk_size"]


def test_generation_is_lazy_one_chunk_at_a_time(config: SimulationConfig) -> None:
    started = time.perf_counter()
    first = next(generate(config, 10**9, 1))
    assert first.height == 10_000
    assert time.perf_counter() - started < 2


def peak_traced_bytes(config: SimulationConfig, n: int) -> int:
    tracemalloc.start()
    try:
        for _frame in generate(config, n, 4):
            pass
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_as_the_population_grows(config: SimulationConfig) -> None:
    small, large = peak_traced_bytes(config, 20_000), peak_traced_bytes(config, 200_000)
    assert large < 1.5 * small


def test_100_000_borrowers_take_less_than_10_seconds(config: SimulationConfig) -> None:
    started = time.perf_counter()
    rows = sum(frame.height for frame in generate(config, 100_000, 6))
    assert rows == 100_000
    assert time.perf_counter() - started < 10


def test_degenerate_but_valid_settings_draw_cleanly() -> None:
    # Zero spreads, certain or impossible iOS, no lenders, all-night spenders, one age band.
    data = default_config_data()
    data.update(individual_variation=0)
    data["population"]["income"]["log_sd"] = 0
    data["population"]["device"]["ios_share"] = {"tier_1": 1.0, "tier_2": 0.0,
                                                 "tier_3": 0.5, "tier_4": 0.5}
    data["population"]["age_bands"] = [
        {"min_age": 18, "max_age": 70, "share": 1.0, "income_multiplier": 1.0}]
    for segment in data["segments"].values():
        segment.update(inquiries_multiplier=0, lenders_multiplier=0, late_night_share=1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no division by zero, no invalid values
        drawn = population(parse_config(data), 3_000, 1, chunk_size=999)
    with_file = with_bureau_file(drawn)
    assert (with_file["lenders_count"] == 0).all()
    assert (with_file["inquiries_6m"] == 0).all()
    assert (drawn["late_night_share"] == 1.0).all()
    ios_by_tier = dict(drawn.group_by("city_tier").agg((pl.col("device") == "ios").mean())
                       .iter_rows())
    assert ios_by_tier[1] == 1.0
    assert ios_by_tier[2] == 0.0
