"""A synthetic borrower population: application attributes, behaviour segment and the
hidden drivers that the simulation engine will turn into events.

``generate`` yields the population as polars DataFrames of at most ``chunk_size`` rows, so
memory stays flat however many borrowers are asked for. ``applications`` keeps only what a
lender sees at application time; ``ground_truth`` keeps the truth the engine realises
(segment, fraud type and its start month). Labels that depend on what happens later
(``defaulted_12m``: 90+ days past due within 12 months of application; when a fraud was
actually carried out) are produced by the engine, not here.

Determinism: borrower ``i`` is drawn from block ``i // BLOCK_SIZE``, whose random stream is
``PCG64(SeedSequence(seed, spawn_key=(block,)))`` (the block-th child of
``SeedSequence(seed).spawn``). A borrower's row therefore depends only on the
configuration, the seed and ``i``: the same population comes out whatever ``chunk_size``
is, and the first ``n`` borrowers of a larger population are the population of ``n``.
Changing ``BLOCK_SIZE`` or the order of the draws changes every population: bump
``GENERATOR_VERSION`` when doing so, and record it with the seed and
``SimulationConfig.config_hash()`` in a run manifest.

How attributes are drawn and correlated is documented in ``docs/simulation.md``. Nothing
here does I/O or reads a clock.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Final, TypeGuard

import numpy as np
import numpy.typing as npt
import polars as pl

from lendguard.errors import InvalidConfiguration
from lendguard.sim.config import (
    FRAUD_TYPE_BY_SEGMENT,
    MAX_AGE,
    YOUNG_MAX_AGE,
    Channel,
    Device,
    Employment,
    FraudType,
    Segment,
    SegmentConfig,
    SimulationConfig,
)

GENERATOR_VERSION: Final = 1
BLOCK_SIZE: Final = 2_048
CUSTOMER_ID_DIGITS: Final = 7
_MAX_DEBT_PER_LENDER_MONTHS = 24.0

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_SEGMENTS = tuple(Segment)
_EMPLOYMENTS = tuple(Employment)
_CHANNELS = tuple(Channel)
_DEVICES = (Device.IOS, Device.ANDROID)
_FRAUD_TYPES = tuple(FraudType)
_TIERS = ("tier_1", "tier_2", "tier_3", "tier_4")


def _enum(values: tuple[str, ...]) -> pl.Enum:
    return pl.Enum([str(value) for value in values])


BORROWER_SCHEMA: Final[Mapping[str, pl.DataType]] = {
    "customer_id": pl.String(),
    "application_date": pl.Date(),
    "age": pl.Int32(),
    "city_tier": pl.Int32(),
    "employment": _enum(_EMPLOYMENTS),
    "monthly_income_fen": pl.Int64(),
    "existing_debt_fen": pl.Int64(),
    "inquiries_6m": pl.Int32(),
    "lenders_count": pl.Int32(),
    "has_bureau_file": pl.Boolean(),
    "device": _enum(_DEVICES),
    "device_age_days": pl.Int32(),
    "phone_tenure_months": pl.Int32(),
    "channel": _enum(_CHANNELS),
    "segment": _enum(_SEGMENTS),
    "income_volatility": pl.Float64(),
    "risk_propensity": pl.Float64(),
    "spend_share_of_income": pl.Float64(),
    "late_night_share": pl.Float64(),
    "shock_month": pl.Int32(),
    "post_shock_monthly_income_fen": pl.Int64(),
    "fraud_type": _enum(_FRAUD_TYPES),
    "fraud_start_month": pl.Int32(),
}
"""Every column ``generate`` yields, in order, with its dtype."""

APPLICATION_COLUMNS: Final = (
    "customer_id", "application_date", "age", "city_tier", "employment",
    "monthly_income_fen", "existing_debt_fen", "inquiries_6m", "lenders_count",
    "has_bureau_file", "device", "device_age_days", "phone_tenure_months", "channel",
)
"""What a lender sees when the borrower applies. ``monthly_income_fen`` is the declared
income before any later shock; the bureau fields (``existing_debt_fen``, ``inquiries_6m``,
``lenders_count``) are -1 when ``has_bureau_file`` is false."""

GROUND_TRUTH_COLUMNS: Final = ("customer_id", "segment", "fraud_type", "fraud_start_month")
"""The truth kept apart from applications. ``fraud_type`` (null for honest borrowers) and
``fraud_start_month`` (months after ``start``) follow from the segment. The engine adds
``defaulted_12m`` once it has simulated the months."""

HIDDEN_DRIVER_COLUMNS: Final = (
    "segment", "income_volatility", "risk_propensity", "spend_share_of_income",
    "late_night_share", "shock_month", "post_shock_monthly_income_fen", "fraud_type",
    "fraud_start_month",
)
"""What drives the engine and must never reach a model: ``income_volatility`` (CV of
month-to-month income), ``risk_propensity`` (log default-hazard multiplier, about 0 on
average), the borrower's own ``spend_share_of_income`` and ``late_night_share``,
``shock_month`` and ``post_shock_monthly_income_fen`` (income-shock segment only, else
null), and the fraud truth."""


def generate(config: SimulationConfig, n: int, seed: int,
             chunk_size: int = 10_000) -> Iterator[pl.DataFrame]:
    """The first ``n`` borrowers of the population of ``seed``, ``chunk_size`` rows a frame.

    Output is identical for the same configuration and seed whatever ``chunk_size`` is,
    and the first ``n`` rows never depend on ``n`` (see the module docstring). Arguments
    are checked before the first frame is drawn; ``InvalidConfiguration`` lists every
    problem.
    """
    problems = _argument_problems(config, n, seed, chunk_size)
    if problems:
        raise InvalidConfiguration(problems)
    return _chunks(_Tables.of(config), n, seed, chunk_size)


def block(config: SimulationConfig, n: int, seed: int, index: int) -> pl.DataFrame:
    """Block ``index`` of the first ``n`` borrowers (rows ``index × BLOCK_SIZE`` …, at
    most ``BLOCK_SIZE`` of them): the same rows ``generate`` gives, drawn alone, so
    blocks can be simulated in separate processes."""
    problems = _argument_problems(config, n, seed, 1)
    if not _is_int(index) or index < 0 or index * BLOCK_SIZE >= n:
        problems.append(f"index: must be a block of the first {n} borrowers, got {index!r}")
    if problems:
        raise InvalidConfiguration(problems)
    tables = _Tables.of(config)
    first = index * BLOCK_SIZE
    rows = min(BLOCK_SIZE, n - first)
    columns = _draw_block(tables, seed, index)
    return _frame({name: values[:rows] for name, values in columns.items()}, first,
                  tables.start)


def applications(borrowers: pl.DataFrame) -> pl.DataFrame:
    """Only what a lender sees at application time (``APPLICATION_COLUMNS``)."""
    return borrowers.select(APPLICATION_COLUMNS)


def ground_truth(borrowers: pl.DataFrame) -> pl.DataFrame:
    """The truth kept apart from applications (``GROUND_TRUTH_COLUMNS``)."""
    return borrowers.select(GROUND_TRUTH_COLUMNS)


def _argument_problems(config: object, n: object, seed: object,
                       chunk_size: object) -> list[str]:
    problems = []
    if not isinstance(config, SimulationConfig):
        problems.append(f"config: must be a SimulationConfig, got {type(config).__name__}")
    if not _is_int(n) or n < 0:
        problems.append(f"n: must be a whole number of borrowers ≥ 0, got {n!r}")
    if not _is_int(seed) or seed < 0:
        problems.append(f"seed: must be an integer ≥ 0, got {seed!r}")
    if not _is_int(chunk_size) or chunk_size < 1:
        problems.append(f"chunk_size: must be an integer ≥ 1, got {chunk_size!r}")
    return problems


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _chunks(tables: _Tables, n: int, seed: int, chunk_size: int) -> Iterator[pl.DataFrame]:
    block_of = _LastBlock(lambda index: _draw_block(tables, seed, index))
    for first in range(0, n, chunk_size):
        stop = min(first + chunk_size, n)
        pieces = []
        for block in range(first // BLOCK_SIZE, (stop - 1) // BLOCK_SIZE + 1):
            offset = block * BLOCK_SIZE
            rows = slice(max(first, offset) - offset, min(stop, offset + BLOCK_SIZE) - offset)
            pieces.append({name: values[rows] for name, values in block_of(block).items()})
        columns = {name: np.concatenate([piece[name] for piece in pieces])
                   for name in pieces[0]}
        yield _frame(columns, first, tables.start)


class _LastBlock:
    """Remembers the last block drawn: consecutive chunks usually share one."""

    def __init__(self, draw: Callable[[int], dict[str, npt.NDArray[np.generic]]]) -> None:
        self._draw = draw
        self._index = -1
        self._columns: dict[str, npt.NDArray[np.generic]] = {}

    def __call__(self, index: int) -> dict[str, npt.NDArray[np.generic]]:
        if index != self._index:
            self._index, self._columns = index, self._draw(index)
        return self._columns


@dataclass(frozen=True)
class _SegmentTable:
    """Per-segment parameters as arrays indexed by segment code (``_SEGMENTS`` order).

    Segments absent from the configuration have share 0 and neutral parameters. NaN in an
    override means "use the population's value"; onset -1 means "no onset".
    """

    share: Floats
    age_offset: Floats
    income_multiplier: Floats
    inquiries_multiplier: Floats
    lenders_multiplier: Floats
    debt_multiplier: Floats
    bureau_file_probability: Floats
    new_device_probability: Floats
    new_phone_probability: Floats
    employment_shares: Floats  # segments × employments, NaN rows: no override
    channel_shares: Floats  # segments × channels, NaN rows: no override
    spend_share_of_income: Floats
    late_night_share: Floats
    onset_earliest: Ints
    onset_latest: Ints
    income_after_shock: Floats
    fraud_type: Ints  # code in _FRAUD_TYPES, -1 for honest segments

    @classmethod
    def of(cls, segments: Mapping[str, SegmentConfig]) -> _SegmentTable:
        configs = [segments.get(segment) for segment in _SEGMENTS]

        def column(read: Callable[[SegmentConfig], float | None], absent: float) -> Floats:
            values = [absent if c is None else read(c) for c in configs]
            return np.array([math.nan if v is None else v for v in values], dtype=np.float64)

        def matrix(read: Callable[[SegmentConfig], Mapping[str, float] | None],
                   keys: tuple[str, ...]) -> Floats:
            rows = [None if c is None else read(c) for c in configs]
            return np.array([[math.nan] * len(keys) if row is None else
                             [row[key] for key in keys] for row in rows], dtype=np.float64)

        def month(read: Callable[[SegmentConfig], int]) -> Ints:
            return np.array([-1 if c is None or c.onset is None else read(c) for c in configs],
                            dtype=np.int64)

        return cls(
            share=column(lambda c: c.share, 0.0),
            age_offset=column(lambda c: c.age_offset_years, 0.0),
            income_multiplier=column(lambda c: c.income_multiplier, 1.0),
            inquiries_multiplier=column(lambda c: c.inquiries_multiplier, 1.0),
            lenders_multiplier=column(lambda c: c.lenders_multiplier, 1.0),
            debt_multiplier=column(lambda c: c.debt_multiplier, 1.0),
            bureau_file_probability=column(lambda c: c.bureau_file_probability, math.nan),
            new_device_probability=column(lambda c: c.new_device_probability, math.nan),
            new_phone_probability=column(lambda c: c.new_phone_probability, math.nan),
            employment_shares=matrix(
                lambda c: None if c.employment_shares is None else c.employment_shares
                .model_dump(), _EMPLOYMENTS),
            channel_shares=matrix(
                lambda c: None if c.channel_shares is None else c.channel_shares.model_dump(),
                _CHANNELS),
            spend_share_of_income=column(lambda c: c.spend_share_of_income, 0.0),
            late_night_share=column(lambda c: c.late_night_share, 0.0),
            onset_earliest=month(lambda c: c.onset.earliest if c.onset else -1),
            onset_latest=month(lambda c: c.onset.latest if c.onset else -1),
            income_after_shock=column(lambda c: c.income_after_shock, math.nan),
            fraud_type=np.array([_FRAUD_TYPES.index(FRAUD_TYPE_BY_SEGMENT[segment])
                                 if segment in FRAUD_TYPE_BY_SEGMENT else -1
                                 for segment in _SEGMENTS], dtype=np.int64),
        )


@dataclass(frozen=True)
class _Tables:
    """The configuration turned into arrays once, before any block is drawn."""

    config: SimulationConfig
    segments: _SegmentTable
    band_min: Ints
    band_max: Ints
    band_share: Floats
    band_income_multiplier: Floats
    tier_share: Floats
    tier_median_yuan: Floats
    ios_share: Floats
    employment_young: Floats
    employment_older: Floats
    employment_income_multiplier: Floats
    employment_volatility: Floats
    channel_share: Floats

    @property
    def start(self) -> date:
        return self.config.start

    @classmethod
    def of(cls, config: SimulationConfig) -> _Tables:
        population = config.population
        employment = population.employment
        bands = population.age_bands

        def by_tier(values: Mapping[str, float]) -> Floats:
            return np.array([values[tier] for tier in _TIERS], dtype=np.float64)

        def by_employment(values: Mapping[str, float]) -> Floats:
            return np.array([values[kind] for kind in _EMPLOYMENTS], dtype=np.float64)

        return cls(
            config=config,
            segments=_SegmentTable.of(config.segments),
            band_min=np.array([band.min_age for band in bands], dtype=np.int64),
            band_max=np.array([band.max_age for band in bands], dtype=np.int64),
            band_share=np.array([band.share for band in bands], dtype=np.float64),
            band_income_multiplier=np.array([band.income_multiplier for band in bands],
                                            dtype=np.float64),
            tier_share=by_tier(population.city_tier_shares.model_dump()),
            tier_median_yuan=by_tier(population.income.median_monthly_yuan.model_dump()),
            ios_share=by_tier(population.device.ios_share.model_dump()),
            employment_young=by_employment(employment.shares_18_to_24.model_dump()),
            employment_older=by_employment(employment.shares_25_plus.model_dump()),
            employment_income_multiplier=by_employment(employment.income_multiplier
                                                       .model_dump()),
            employment_volatility=by_employment(employment.income_volatility.model_dump()),
            channel_share=np.array([population.channel_shares.model_dump()[channel]
                                    for channel in _CHANNELS], dtype=np.float64),
        )


def _draw_block(tables: _Tables, seed: int, block: int) -> dict[str, npt.NDArray[np.generic]]:
    """All columns of borrowers ``block * BLOCK_SIZE`` … ``+ BLOCK_SIZE - 1``, as arrays.

    The order of the draws below is part of the determinism contract.
    """
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=(block,))))
    segment = _choose(rng, tables.segments.share, BLOCK_SIZE)
    age, band = _draw_age(rng, tables, segment)
    tier = _choose(rng, tables.tier_share, BLOCK_SIZE)
    employment = _draw_employment(rng, tables, segment, age)
    income_yuan = _draw_income(rng, tables, segment, band, tier, employment)
    volatility = _vary_mean(rng, tables.employment_volatility[employment],
                            tables.config.individual_variation)
    bureau = _draw_bureau(rng, tables, segment, age, income_yuan)
    device = _draw_device(rng, tables, segment, tier, age, income_yuan)
    channel = _draw_categorical(rng, _rows_with_override(
        tables.channel_share, tables.segments.channel_shares, segment))
    application_day = rng.integers(0, tables.config.acquisition_days, size=BLOCK_SIZE)
    risk = _draw_risk_propensity(rng, tables, age, tier, income_yuan, volatility, bureau)
    behaviour = _draw_behaviour(rng, tables, segment)
    onset = _draw_onset(rng, tables, segment, income_yuan)
    return {
        "segment": segment, "age": age, "city_tier": tier + 1, "employment": employment,
        "monthly_income_fen": _fen(income_yuan), "income_volatility": volatility,
        "application_day": application_day, "channel": channel, "risk_propensity": risk,
        **bureau.observed(), **device, **behaviour, **onset,
    }


def _choose(rng: np.random.Generator, shares: Floats, size: int) -> Ints:
    """Codes drawn from one categorical distribution."""
    cumulative = np.cumsum(shares)
    cumulative /= cumulative[-1]  # the last edge exactly 1: u < 1 never falls past it
    return np.searchsorted(cumulative, rng.random(size), side="right").astype(np.int64)


def _draw_categorical(rng: np.random.Generator, shares: Floats) -> Ints:
    """One code per row of ``shares`` (rows × categories), each from its own row."""
    cumulative = np.cumsum(shares, axis=1)
    cumulative /= cumulative[:, -1:]
    draws = rng.random(len(shares))
    passed: Bools = draws[:, None] >= cumulative  # edges at or below the draw
    codes: Ints = passed.sum(axis=1, dtype=np.int64)
    return codes


def _rows_with_override(population: Floats, by_segment: Floats, segment: Ints) -> Floats:
    """Each row's distribution: its segment's override, else the population's."""
    override = by_segment[segment]
    return np.where(np.isnan(override[:, :1]), population[None, :], override)


def _with_default(by_segment: Floats, segment: Ints, population: Floats | float) -> Floats:
    override = by_segment[segment]
    return np.where(np.isnan(override), population, override)


def _draw_age(rng: np.random.Generator, tables: _Tables, segment: Ints) -> tuple[Ints, Ints]:
    """Age (uniform within a band, shifted by the segment) and the band it ends up in."""
    band = _choose(rng, tables.band_share, BLOCK_SIZE)
    age = rng.integers(tables.band_min[band], tables.band_max[band] + 1)
    shifted = age + np.rint(tables.segments.age_offset[segment]).astype(np.int64)
    age = np.clip(shifted, tables.band_min[0], min(int(tables.band_max[-1]), MAX_AGE))
    final_band = np.searchsorted(tables.band_min, age, side="right") - 1
    return age.astype(np.int64), final_band.astype(np.int64)


def _draw_employment(rng: np.random.Generator, tables: _Tables, segment: Ints,
                     age: Ints) -> Ints:
    young = (age <= YOUNG_MAX_AGE)[:, None]
    by_age = np.where(young, tables.employment_young[None, :],
                      tables.employment_older[None, :])
    override = tables.segments.employment_shares[segment]
    return _draw_categorical(rng, np.where(np.isnan(override[:, :1]), by_age, override))


def _draw_income(rng: np.random.Generator, tables: _Tables, segment: Ints, band: Ints,
                 tier: Ints, employment: Ints) -> Floats:
    """Declared monthly income in whole yuan (as floats)."""
    income = tables.config.population.income
    median = (tables.tier_median_yuan[tier] * tables.band_income_multiplier[band]
              * tables.employment_income_multiplier[employment]
              * tables.segments.income_multiplier[segment])
    drawn = median * np.exp(income.log_sd * rng.standard_normal(BLOCK_SIZE))
    return np.rint(np.clip(drawn, income.floor_monthly_yuan, income.cap_monthly_yuan))


@dataclass(frozen=True)
class _Bureau:
    """True bureau attributes (what drives risk) and whether a lender can see them."""

    has_file: Bools
    lenders: Ints
    inquiries: Ints
    debt_yuan: Floats

    def observed(self) -> dict[str, npt.NDArray[np.generic]]:
        """The bureau columns, -1 where there is no bureau file."""
        def seen(values: Ints) -> Ints:
            return np.where(self.has_file, values, -1)
        return {"has_bureau_file": self.has_file, "lenders_count": seen(self.lenders),
                "inquiries_6m": seen(self.inquiries),
                "existing_debt_fen": seen(_fen(self.debt_yuan))}


def _draw_bureau(rng: np.random.Generator, tables: _Tables, segment: Ints, age: Ints,
                 income_yuan: Floats) -> _Bureau:
    bureau = tables.config.population.bureau
    by_segment = tables.segments
    lenders = rng.poisson(bureau.lenders_mean * by_segment.lenders_multiplier[segment])
    # Months of income owed to each lender; no lender lends more than two years' income.
    per_lender = np.minimum(rng.lognormal(math.log(bureau.debt_per_lender_months_of_income),
                                          bureau.debt_log_sd, BLOCK_SIZE),
                            _MAX_DEBT_PER_LENDER_MONTHS)
    debt_yuan = np.rint(lenders * income_yuan * per_lender * by_segment.debt_multiplier[segment])
    # Inquiries: negative binomial as a gamma–Poisson mixture; lenders bring inquiries.
    mean = ((bureau.inquiries_base_mean + bureau.inquiries_per_lender * lenders)
            * by_segment.inquiries_multiplier[segment])
    shape = bureau.inquiries_dispersion
    inquiries = rng.poisson(rng.gamma(shape, mean / shape))
    file_probability = np.where(age <= YOUNG_MAX_AGE, bureau.file_probability_under_25,
                                bureau.file_probability)
    has_file = rng.random(BLOCK_SIZE) < _with_default(by_segment.bureau_file_probability,
                                                       segment, file_probability)
    return _Bureau(has_file=has_file, lenders=lenders.astype(np.int64),
                   inquiries=inquiries.astype(np.int64), debt_yuan=debt_yuan)


def _draw_device(rng: np.random.Generator, tables: _Tables, segment: Ints, tier: Ints,
                 age: Ints, income_yuan: Floats) -> dict[str, npt.NDArray[np.generic]]:
    device = tables.config.population.device
    by_segment = tables.segments
    # iOS: the tier's share, tilted up for incomes above the tier's median.
    share = np.clip(tables.ios_share[tier], 1e-9, 1 - 1e-9)  # 0 and 1 have no logit
    logit = (np.log(share / (1 - share))
             + device.ios_income_tilt * np.log(income_yuan / tables.tier_median_yuan[tier]))
    ios = rng.random(BLOCK_SIZE) < 1 / (1 + np.exp(-logit))
    new_device = rng.random(BLOCK_SIZE) < _with_default(
        by_segment.new_device_probability, segment, device.new_device_probability)
    settled_days = np.clip(rng.lognormal(math.log(device.device_age_median_days), 0.8,
                                         BLOCK_SIZE), 30, 3_650)
    device_age = np.where(new_device, rng.integers(0, 30, BLOCK_SIZE), settled_days)
    new_phone = rng.random(BLOCK_SIZE) < _with_default(
        by_segment.new_phone_probability, segment, device.new_phone_probability)
    longest_tenure = np.maximum(6, (age - 14) * 12)  # a first phone number at about 14
    settled_months = np.clip(rng.lognormal(math.log(device.phone_tenure_median_months), 0.7,
                                           BLOCK_SIZE), 6, longest_tenure)
    tenure = np.where(new_phone, rng.integers(0, 6, BLOCK_SIZE), settled_months)
    return {"device": np.where(ios, 0, 1).astype(np.int64),
            "device_age_days": device_age.astype(np.int64),
            "phone_tenure_months": tenure.astype(np.int64)}


def _draw_risk_propensity(rng: np.random.Generator, tables: _Tables, age: Ints, tier: Ints,
                          income_yuan: Floats, volatility: Floats, bureau: _Bureau) -> Floats:
    """A log multiplier of the default hazard, about 0 on average.

    Each term is measured against the population's typical value, so a typical borrower
    scores about 0; the true bureau values count even where the lender cannot see them.
    """
    weights = tables.config.population.risk_propensity
    reference = tables.config.population.bureau
    typical_lenders = reference.lenders_mean
    typical_inquiries = reference.inquiries_base_mean + reference.inquiries_per_lender \
        * typical_lenders
    typical_debt_to_income = typical_lenders * reference.debt_per_lender_months_of_income / 12
    debt_to_income = bureau.debt_yuan / (12 * income_yuan)
    young = (age <= YOUNG_MAX_AGE).astype(np.float64)
    return (weights.inquiries * (np.log1p(bureau.inquiries) - math.log1p(typical_inquiries))
            + weights.lenders * (np.log1p(bureau.lenders) - math.log1p(typical_lenders))
            + weights.debt_to_income * (np.log1p(debt_to_income)
                                        - math.log1p(typical_debt_to_income))
            - weights.low_income * np.log(income_yuan / tables.tier_median_yuan[tier])
            + weights.income_volatility * (volatility - 0.2)
            + weights.youth * (young - 0.2)
            + weights.noise_sd * rng.standard_normal(BLOCK_SIZE))


def _draw_behaviour(rng: np.random.Generator, tables: _Tables,
                    segment: Ints) -> dict[str, npt.NDArray[np.generic]]:
    """Each borrower's own spend share and late-night share around the segment's."""
    variation = tables.config.individual_variation
    spend = _vary_mean(rng, tables.segments.spend_share_of_income[segment], variation)
    late_night = _vary_share(rng, tables.segments.late_night_share[segment], variation)
    return {"spend_share_of_income": spend, "late_night_share": late_night}


def _vary_mean(rng: np.random.Generator, mean: Floats, variation: float) -> Floats:
    """Gamma-distributed around ``mean`` with coefficient of variation ``variation``."""
    if variation == 0:
        return mean.astype(np.float64)
    shape = 1 / variation**2
    return rng.gamma(shape, mean / shape)


def _vary_share(rng: np.random.Generator, mean: Floats, variation: float) -> Floats:
    """Beta-distributed around ``mean`` (concentration 1/variation²); 0 and 1 stay put."""
    if variation == 0:
        return mean.astype(np.float64)
    concentration = 1 / variation**2
    inside = (mean > 0) & (mean < 1)
    safe = np.where(inside, mean, 0.5)
    drawn = rng.beta(safe * concentration, (1 - safe) * concentration)
    return np.where(inside, drawn, mean)


def _draw_onset(rng: np.random.Generator, tables: _Tables, segment: Ints,
                income_yuan: Floats) -> dict[str, npt.NDArray[np.generic]]:
    """The month the income shock or the fraud starts (-1: none) and income after it."""
    by_segment = tables.segments
    earliest, latest = by_segment.onset_earliest[segment], by_segment.onset_latest[segment]
    month = earliest + np.floor(rng.random(BLOCK_SIZE) * (latest - earliest + 1)).astype(
        np.int64)
    month = np.where(earliest >= 0, month, -1)
    fraud_type = by_segment.fraud_type[segment]
    shocked = segment == _SEGMENTS.index(Segment.INCOME_SHOCK)
    after_shock = np.rint(income_yuan * np.nan_to_num(by_segment.income_after_shock[segment]))
    return {"shock_month": np.where(shocked, month, -1),
            "post_shock_monthly_income_fen": np.where(shocked, _fen(after_shock), -1),
            "fraud_type": fraud_type,
            "fraud_start_month": np.where(fraud_type >= 0, month, -1)}


def _fen(yuan: Floats) -> Ints:
    return (np.rint(yuan).astype(np.int64)) * 100


_NULLABLE = ("shock_month", "post_shock_monthly_income_fen", "fraud_start_month")
_CATEGORIES: Mapping[str, tuple[str, ...]] = {
    "segment": _SEGMENTS, "employment": _EMPLOYMENTS, "device": _DEVICES,
    "channel": _CHANNELS, "fraud_type": _FRAUD_TYPES,
}


def _frame(columns: dict[str, npt.NDArray[np.generic]], first: int,
           start: date) -> pl.DataFrame:
    """The chunk of borrowers ``first`` … as a DataFrame in ``BORROWER_SCHEMA``."""
    rows = len(columns["age"])
    data: dict[str, pl.Series] = {}
    for name, dtype in BORROWER_SCHEMA.items():
        if name == "customer_id":
            data[name] = _customer_ids(first, rows)
        elif name == "application_date":
            days = columns["application_day"].astype("timedelta64[D]")
            data[name] = pl.Series(name, np.datetime64(start, "D") + days)
        elif name in _CATEGORIES:
            # Code -1 picks the trailing None: a null (only fraud_type has any).
            labels = np.array([*map(str, _CATEGORIES[name]), None], dtype=object)
            data[name] = pl.Series(name, labels[columns[name]].tolist(), dtype=dtype)
        else:
            data[name] = pl.Series(name, columns[name]).cast(dtype)
    frame = pl.DataFrame(data)
    return frame.with_columns(pl.when(pl.col(name) >= 0).then(pl.col(name)).alias(name)
                              for name in _NULLABLE)


def _customer_ids(first: int, rows: int) -> pl.Series:
    numbers = pl.int_range(first + 1, first + rows + 1, eager=True)
    return pl.select(pl.format("C-{}", numbers.cast(pl.String).str.zfill(CUSTOMER_ID_DIGITS))
                     ).to_series().alias("customer_id")
