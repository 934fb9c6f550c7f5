"""The data of the scoring benchmark: German credit as shipped, and simulated applications.

Simulated applications are the population of ``lendguard.sim.generate`` with the packaged
default configuration: the columns a lender sees (``applications``), ratio features derived
from them only, and three pure-noise columns to reach 30 features. The label is drawn from
the simulator's own 12-month default hazard and the hidden drivers (segment and
``risk_propensity``), the same hazard the engine uses before its month-by-month behaviour:

    h = -ln(1 - base_default_rate_12m) / 12
    p = 1 - exp(-12 · h · segment multiplier · exp(risk_propensity))
    defaulted = Bernoulli(p), with a fixed seed.

It is *not* an engine run (no repayments, no income shocks, no fraud timing), which would
take hours for a million borrowers; it is what the engine's hazard says. The hidden drivers
are dropped before the frame is returned, so no model sees them.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl

from lendguard.risk.features import Feature, FeatureSet, Kind
from lendguard.sim import applications, generate, load_config
from lendguard.sim.config import Segment

TARGET = "defaulted_12m"
NOISE_COLUMNS = ("noise_normal", "noise_uniform", "noise_integer")


def _num(name: str, description: str) -> Feature:
    return Feature(name, Kind.NUMERIC, description)


def _cat(name: str, description: str) -> Feature:
    return Feature(name, Kind.CATEGORICAL, description)


# -1 in a bureau field (and in what is derived from one) means "no bureau file".
NO_FILE = {-1.0: "no bureau file"}

def _bureau(name: str, description: str) -> Feature:
    """A numeric feature from (or derived from) a bureau field: -1 means no file."""
    return Feature(name, Kind.NUMERIC, description, special_values=NO_FILE)


SIMULATED_FEATURES = (
    # application columns as the lender sees them (11 features)
    _num("age", "age"),
    _num("city_tier", "city tier"),
    _cat("employment", "employment"),
    _num("monthly_income_fen", "declared monthly income"),
    _bureau("existing_debt_fen", "existing debt"),
    _bureau("inquiries_6m", "credit inquiries in 6 months"),
    _bureau("lenders_count", "lenders with open credit"),
    _cat("device", "device"),
    _num("device_age_days", "device age in days"),
    _num("phone_tenure_months", "phone number tenure in months"),
    _cat("channel", "application channel"),
    # derived from application columns only (16 features)
    _bureau("debt_to_income", "debt to annual income"),
    _bureau("debt_to_monthly_income", "debt to monthly income"),
    _bureau("income_per_lender", "income per lender"),
    _bureau("debt_per_lender", "debt per lender"),
    _bureau("inquiries_per_lender", "inquiries per lender"),
    _bureau("log_debt", "log of existing debt"),
    _num("log_income", "log of monthly income"),
    _num("income_to_tier_median", "income against the median of its city tier"),
    _num("income_per_year_of_age", "income per year of age"),
    _num("young", "aged 25 or under"),
    _num("device_age_to_phone_tenure", "device age against phone tenure"),
    _num("phone_tenure_share_of_life", "phone tenure as a share of adult life"),
    _num("new_device", "device younger than 90 days"),
    _num("application_weekday", "weekday of application"),
    _num("application_day", "day of month of application"),
    _num("has_bureau_file", "has a bureau file"),
    # pure noise (3 features): what a real data set always has a few of
    _num("noise_normal", "noise (normal)"),
    _num("noise_uniform", "noise (uniform)"),
    _num("noise_integer", "noise (integer 0-9)"),
)
SIMULATED = FeatureSet(TARGET, SIMULATED_FEATURES)


def simulated(n: int, seed: int = 20260101, chunk_size: int = 250_000) -> pl.DataFrame:
    """``n`` simulated applications with 30 features and ``defaulted_12m``."""
    config = load_config()
    hazard = -math.log(1.0 - config.base_default_rate_12m) / 12.0
    multiplier = {s.value: config.default_hazard_multiplier(s, 0) for s in Segment}
    frames = []
    label_rng = np.random.default_rng(seed + 1)
    for chunk in generate(config, n, seed, chunk_size):
        segment_multiplier = chunk["segment"].cast(pl.String).replace_strict(
            multiplier, return_dtype=pl.Float64).to_numpy()
        propensity = chunk["risk_propensity"].to_numpy()
        p = 1.0 - np.exp(-12.0 * hazard * segment_multiplier * np.exp(propensity))
        label = (label_rng.random(chunk.height) < p).astype(np.int64)
        frames.append(_features(applications(chunk)).with_columns(
            pl.Series(TARGET, label)))
    frame = pl.concat(frames)
    noise = np.random.default_rng(seed + 2)
    return frame.with_columns(
        pl.Series("noise_normal", noise.normal(size=n)),
        pl.Series("noise_uniform", noise.random(n)),
        pl.Series("noise_integer", noise.integers(0, 10, n).astype(np.float64)),
    ).select([*SIMULATED.names, TARGET])


def _features(apps: pl.DataFrame) -> pl.DataFrame:
    income = pl.col("monthly_income_fen").cast(pl.Float64)
    debt = pl.col("existing_debt_fen").cast(pl.Float64)
    lenders = pl.col("lenders_count").cast(pl.Float64)
    inquiries = pl.col("inquiries_6m").cast(pl.Float64)
    on_file = pl.col("has_bureau_file")

    def bureau(expr: pl.Expr) -> pl.Expr:
        return pl.when(on_file).then(expr).otherwise(-1.0)

    tier_median = income.median().over("city_tier")
    return apps.with_columns(
        pl.col("employment").cast(pl.String),
        pl.col("device").cast(pl.String),
        pl.col("channel").cast(pl.String),
        bureau(debt / (12.0 * income)).alias("debt_to_income"),
        bureau(debt / income).alias("debt_to_monthly_income"),
        bureau(income / (lenders + 1.0)).alias("income_per_lender"),
        bureau(debt / (lenders + 1.0)).alias("debt_per_lender"),
        bureau(inquiries / (lenders + 1.0)).alias("inquiries_per_lender"),
        bureau((debt + 1.0).log()).alias("log_debt"),
        income.log().alias("log_income"),
        (income / tier_median).alias("income_to_tier_median"),
        (income / pl.col("age")).alias("income_per_year_of_age"),
        (pl.col("age") <= 25).cast(pl.Float64).alias("young"),
        (pl.col("device_age_days") / (30.0 * pl.col("phone_tenure_months") + 30.0))
        .alias("device_age_to_phone_tenure"),
        (pl.col("phone_tenure_months") / (12.0 * (pl.col("age") - 17).clip(1)))
        .alias("phone_tenure_share_of_life"),
        (pl.col("device_age_days") < 90).cast(pl.Float64).alias("new_device"),
        pl.col("application_date").dt.weekday().cast(pl.Float64).alias("application_weekday"),
        pl.col("application_date").dt.day().cast(pl.Float64).alias("application_day"),
        on_file.cast(pl.Float64),
    )
