"""The simulation's configuration: distributions of the borrower population, the mix of
behaviour segments and each segment's behaviour, read from YAML and refused whole.

``load_config`` reads a YAML file (the packaged ``defaults.yaml`` when given no path) and
``parse_config`` validates an already-parsed mapping. Both return a frozen
``SimulationConfig`` or raise ``InvalidConfiguration`` naming *every* problem at once:
field-level problems found by pydantic (wrong type, out of range, unknown or missing field)
and the cross-field rules below, even when other fields are broken too.

Cross-field rules: segment names are known; segment shares sum to 1; the income-shock and
fraud segments have an onset window inside the horizon and no other segment has one; the
income-shock segment (only) says how much income survives the shock; the macro shock
starts inside the horizon. Each distribution's own rules (shares summing to 1, contiguous
age bands) live on its model.

Every default number is explained, with its source or as a judgement call, in
``docs/simulation.md``. Nothing here draws random numbers or does I/O beyond reading the
file it is given.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, TypeGuard

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from lendguard.errors import InvalidConfiguration
from lendguard.validation_errors import describe

SHARE_TOLERANCE = 1e-9
YOUNG_MAX_AGE = 24
"""Borrowers up to this age draw employment from ``shares_18_to_24`` and are 'young' for
the bureau-file probability and the risk propensity."""

MIN_AGE = 18
MAX_AGE = 70


class Segment(StrEnum):
    """A behaviour segment; every borrower belongs to exactly one."""

    PRUDENT = "prudent"
    REVOLVER = "revolver"
    IMPULSE = "impulse"
    OVER_BORROWER = "over_borrower"
    INCOME_SHOCK = "income_shock"
    FRAUD_CASH_OUT = "fraud_cash_out"
    FRAUD_SYNTHETIC = "fraud_synthetic"
    FRAUD_TAKEOVER = "fraud_takeover"


class FraudType(StrEnum):
    """The kind of fraud a fraud segment commits (the ground truth the engine realises)."""

    CASH_OUT = "cash_out"
    SYNTHETIC_IDENTITY = "synthetic_identity"
    ACCOUNT_TAKEOVER = "account_takeover"


class Employment(StrEnum):
    SALARIED = "salaried"
    SELF_EMPLOYED = "self_employed"
    GIG = "gig"
    STUDENT = "student"
    UNEMPLOYED = "unemployed"


class Device(StrEnum):
    IOS = "ios"
    ANDROID = "android"


class Channel(StrEnum):
    APP = "app"
    MINI_PROGRAM = "mini_program"
    PARTNER = "partner"


FRAUD_TYPE_BY_SEGMENT: Mapping[Segment, FraudType] = {
    Segment.FRAUD_CASH_OUT: FraudType.CASH_OUT,
    Segment.FRAUD_SYNTHETIC: FraudType.SYNTHETIC_IDENTITY,
    Segment.FRAUD_TAKEOVER: FraudType.ACCOUNT_TAKEOVER,
}
SEGMENTS_WITH_ONSET = frozenset({Segment.INCOME_SHOCK, *FRAUD_TYPE_BY_SEGMENT})
_SEGMENT_NAMES = frozenset(segment.value for segment in Segment)

Probability = Annotated[float, Field(ge=0, le=1)]
NonNegative = Annotated[float, Field(ge=0)]
Positive = Annotated[float, Field(gt=0)]
Age = Annotated[int, Field(ge=MIN_AGE, le=MAX_AGE)]


class _Model(BaseModel):
    # strict: YAML's "0.5" (a string) is a mistake to report, not a number to coerce.
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class _Shares(_Model):
    """A categorical distribution: every field is a share and they sum to 1."""

    @model_validator(mode="after")
    def _sum_to_one(self) -> _Shares:
        total = math.fsum(float(share) for share in self.model_dump().values())
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValueError(f"shares sum to {total:.10g}, not 1")
        return self


class CityTierShares(_Shares):
    """Share of borrowers living in each city tier (1 = first-tier and new first-tier)."""

    tier_1: Probability
    tier_2: Probability
    tier_3: Probability
    tier_4: Probability


class CityTierIncome(_Model):
    """Median monthly income (yuan) of a 30–39-year-old salaried borrower, by city tier."""

    tier_1: Positive
    tier_2: Positive
    tier_3: Positive
    tier_4: Positive


class CityTierProbabilities(_Model):
    tier_1: Probability
    tier_2: Probability
    tier_3: Probability
    tier_4: Probability


class EmploymentShares(_Shares):
    salaried: Probability
    self_employed: Probability
    gig: Probability
    student: Probability
    unemployed: Probability


class EmploymentMultipliers(_Model):
    salaried: Positive
    self_employed: Positive
    gig: Positive
    student: Positive
    unemployed: Positive


class EmploymentVolatility(_Model):
    """Coefficient of variation of month-to-month income, by employment."""

    salaried: Annotated[float, Field(ge=0, le=2)]
    self_employed: Annotated[float, Field(ge=0, le=2)]
    gig: Annotated[float, Field(ge=0, le=2)]
    student: Annotated[float, Field(ge=0, le=2)]
    unemployed: Annotated[float, Field(ge=0, le=2)]


class ChannelShares(_Shares):
    app: Probability
    mini_program: Probability
    partner: Probability


class RepaymentMix(_Shares):
    """How a borrower settles a statement: in full, the minimum, part of it, or nothing."""

    full: Probability
    minimum: Probability
    partial: Probability
    nothing: Probability


class AgeBand(_Model):
    """Ages ``min_age``..``max_age`` (inclusive, uniform within the band), their share of
    borrowers and the income multiplier of the band relative to 30–39."""

    min_age: Age
    max_age: Age
    share: Probability
    income_multiplier: Positive

    @model_validator(mode="after")
    def _ordered(self) -> AgeBand:
        if self.min_age > self.max_age:
            raise ValueError(f"min_age {self.min_age} is above max_age {self.max_age}")
        return self


class IncomeConfig(_Model):
    """Monthly income: lognormal around the tier median, scaled by age band, employment
    and segment, clipped to ``floor``..``cap`` and rounded to the yuan."""

    median_monthly_yuan: CityTierIncome
    log_sd: Annotated[float, Field(ge=0, le=3)]
    floor_monthly_yuan: Positive
    cap_monthly_yuan: Positive

    @model_validator(mode="after")
    def _floor_below_cap(self) -> IncomeConfig:
        if self.floor_monthly_yuan >= self.cap_monthly_yuan:
            raise ValueError(f"floor_monthly_yuan {self.floor_monthly_yuan} must be below "
                             f"cap_monthly_yuan {self.cap_monthly_yuan}")
        return self


class EmploymentConfig(_Model):
    shares_18_to_24: EmploymentShares
    shares_25_plus: EmploymentShares
    income_multiplier: EmploymentMultipliers
    income_volatility: EmploymentVolatility


class BureauConfig(_Model):
    """Credit-bureau attributes.

    Attributes:
      file_probability, file_probability_under_25: chance of having a bureau file.
      lenders_mean: Poisson mean of current lenders (a borrower with debt has ≥ 1 lender).
      debt_per_lender_months_of_income: median debt per lender, in months of income.
      debt_log_sd: lognormal spread of that debt.
      inquiries_base_mean: mean hard inquiries in 6 months for a borrower with no lender.
      inquiries_per_lender: extra expected inquiries for each current lender.
      inquiries_dispersion: negative-binomial shape (smaller = more over-dispersed).
    """

    file_probability: Probability
    file_probability_under_25: Probability
    lenders_mean: NonNegative
    debt_per_lender_months_of_income: Positive
    debt_log_sd: Annotated[float, Field(ge=0, le=3)]
    inquiries_base_mean: NonNegative
    inquiries_per_lender: NonNegative
    inquiries_dispersion: Positive


class DeviceConfig(_Model):
    """Device and phone-number signals a lender sees at application."""

    ios_share: CityTierProbabilities
    ios_income_tilt: Annotated[float, Field(ge=-5, le=5)]
    new_device_probability: Probability
    device_age_median_days: Positive
    new_phone_probability: Probability
    phone_tenure_median_months: Positive


class RiskPropensityWeights(_Model):
    """Weights of the hidden log default-hazard multiplier on each driver (see
    ``population.py``); ``noise_sd`` is the part no application attribute explains."""

    inquiries: NonNegative
    lenders: NonNegative
    debt_to_income: NonNegative
    low_income: NonNegative
    income_volatility: NonNegative
    youth: NonNegative
    noise_sd: NonNegative


class PopulationConfig(_Model):
    age_bands: list[AgeBand]
    city_tier_shares: CityTierShares
    income: IncomeConfig
    employment: EmploymentConfig
    bureau: BureauConfig
    device: DeviceConfig
    channel_shares: ChannelShares
    risk_propensity: RiskPropensityWeights

    @field_validator("age_bands")
    @classmethod
    def _bands_partition_ages(cls, bands: list[AgeBand]) -> list[AgeBand]:
        if not bands:
            raise ValueError("at least one age band is needed")
        problems = [f"band {i} starts at {later.min_age}, expected {earlier.max_age + 1} "
                    f"(bands must be in order, without gaps or overlaps)"
                    for i, (earlier, later) in enumerate(itertools.pairwise(bands), start=1)
                    if later.min_age != earlier.max_age + 1]
        total = math.fsum(band.share for band in bands)
        if abs(total - 1) > SHARE_TOLERANCE:
            problems.append(f"band shares sum to {total:.10g}, not 1")
        if problems:
            raise ValueError("; ".join(problems))
        return bands


class MonthWindow(_Model):
    """Months ``earliest``..``latest`` (inclusive, uniform) counted from the simulation's
    ``start``: month 0 is the first month."""

    earliest: Annotated[int, Field(ge=0)]
    latest: Annotated[int, Field(ge=0)]

    @model_validator(mode="after")
    def _ordered(self) -> MonthWindow:
        if self.earliest > self.latest:
            raise ValueError(f"earliest {self.earliest} is after latest {self.latest}")
        return self


class SegmentConfig(_Model):
    """One behaviour segment: its share of borrowers, how it behaves, and how its members
    look at application time.

    Behaviour (used by the engine):
      spend_share_of_income: mean monthly credit-line spend as a share of monthly income.
      late_night_share: mean share of purchases made 23:00–05:00.
      utilisation_target: share of the limit the borrower tends to keep drawn.
      repayment: probabilities of paying a statement in full/minimum/part/nothing.
      cash_loan_draws_per_month: expected cash-loan drawdowns a month (loan appetite).
      repay_with_loan_share: share of repayments funded by a cash-loan drawdown (以贷养贷).
      default_hazard_multiplier: multiplier on ``base_default_rate_12m``'s hazard.
      onset: for income-shock and fraud segments, when the shock or fraud starts.
      income_after_shock: income-shock segment only: share of income left after the shock.

    Application-time skews (used by the population generator; neutral by default):
      age_offset_years, income_multiplier, inquiries_multiplier, lenders_multiplier,
      debt_multiplier; and overrides of the population's bureau_file_probability,
      new_device_probability, new_phone_probability, employment_shares, channel_shares.
    """

    share: Probability
    spend_share_of_income: Annotated[float, Field(ge=0, le=5)]
    late_night_share: Probability
    utilisation_target: Probability
    repayment: RepaymentMix
    cash_loan_draws_per_month: Annotated[float, Field(ge=0, le=31)]
    repay_with_loan_share: Probability
    default_hazard_multiplier: NonNegative
    onset: MonthWindow | None = None
    income_after_shock: Probability | None = None

    age_offset_years: Annotated[float, Field(ge=-30, le=30)] = 0.0
    income_multiplier: Positive = 1.0
    inquiries_multiplier: NonNegative = 1.0
    lenders_multiplier: NonNegative = 1.0
    debt_multiplier: NonNegative = 1.0
    bureau_file_probability: Probability | None = None
    new_device_probability: Probability | None = None
    new_phone_probability: Probability | None = None
    employment_shares: EmploymentShares | None = None
    channel_shares: ChannelShares | None = None


class SimulationConfig(_Model):
    """Everything a simulation run is drawn from.

    Attributes:
      start: the first business day; months are counted from it (month 0 is the first).
      horizon_months: how many months the engine simulates.
      acquisition_days: applications arrive uniformly over the first this-many days.
      base_default_rate_12m: 12-month probability of 90+ days past due for a borrower whose
        hazard multipliers are all 1 (the engine turns it into a hazard).
      macro_shock, macro_shock_hazard_multiplier, macro_shock_start_month: a portfolio-wide
        recession: from that month on every default hazard is multiplied.
      individual_variation: coefficient of variation of each borrower's own behaviour
        around their segment's (spend share, income volatility, late-night share).
      population: the distributions of application attributes.
      segments: each segment's share and behaviour, keyed by ``Segment`` value; a segment
        left out has share 0.
    """

    start: Annotated[date, Field(strict=False)]
    horizon_months: Annotated[int, Field(ge=1, le=120)]
    acquisition_days: Annotated[int, Field(ge=1, le=366)]
    base_default_rate_12m: Probability
    macro_shock: bool
    macro_shock_hazard_multiplier: Annotated[float, Field(ge=1, le=20)]
    macro_shock_start_month: Annotated[int, Field(ge=0)]
    individual_variation: Annotated[float, Field(ge=0, le=2)]
    population: PopulationConfig
    segments: dict[str, SegmentConfig]

    @model_validator(mode="after")
    def _cross_field(self) -> SimulationConfig:
        # parse_config reports these from the raw data too, also when fields are broken.
        problems = cross_field_problems(self.model_dump())
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def shares(self) -> dict[Segment, float]:
        """Each listed segment's share, in ``Segment`` order."""
        return {segment: self.segments[segment].share
                for segment in Segment if segment in self.segments}

    def default_hazard_multiplier(self, segment: Segment, month: int) -> float:
        """The segment's hazard multiplier in ``month``, the macro shock included."""
        multiplier = self.segments[segment].default_hazard_multiplier
        if self.macro_shock and month >= self.macro_shock_start_month:
            multiplier *= self.macro_shock_hazard_multiplier
        return multiplier

    def config_hash(self) -> str:
        """sha256 of the canonical JSON of this configuration, for run manifests."""
        canonical = json.dumps(self.model_dump(mode="json"), sort_keys=True,
                               separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def cross_field_problems(data: Mapping[str, Any]) -> list[str]:
    """Problems spanning several fields, found on raw (possibly broken) data.

    Values of the wrong type are skipped: the field-level validation names them.
    """
    horizon = data.get("horizon_months")
    horizon = horizon if _is_int(horizon) else None
    problems = []
    shock_start = data.get("macro_shock_start_month")
    if horizon is not None and _is_int(shock_start) and shock_start >= horizon:
        problems.append(f"macro_shock_start_month: {shock_start} is not inside the horizon "
                        f"of {horizon} months (0..{horizon - 1})")
    segments = data.get("segments")
    if isinstance(segments, Mapping):
        problems += _segment_mix_problems(segments)
        for name, segment in segments.items():
            if name in _SEGMENT_NAMES and isinstance(segment, Mapping):
                problems += _segment_event_problems(Segment(name), segment, horizon)
    return problems


def _segment_mix_problems(segments: Mapping[Any, Any]) -> list[str]:
    known = ", ".join(Segment)
    problems = [f"segments.{name}: unknown segment (known: {known})"
                for name in segments if name not in _SEGMENT_NAMES]
    if not segments:
        return [*problems, "segments: at least one segment is needed"]
    shares = [entry.get("share") if isinstance(entry, Mapping) else None
              for entry in segments.values()]
    numbers = [float(share) for share in shares if _is_number(share)]
    if len(numbers) == len(shares):  # else the field-level validation names the bad share
        total = math.fsum(numbers)
        if abs(total - 1) > SHARE_TOLERANCE:
            problems.append(f"segments: shares sum to {total:.10g}, not 1")
    return problems


def _segment_event_problems(segment: Segment, entry: Mapping[str, Any],
                            horizon: int | None) -> list[str]:
    where = f"segments.{segment}"
    onset = entry.get("onset")
    problems = []
    if segment in SEGMENTS_WITH_ONSET and onset is None:
        problems.append(f"{where}.onset: required for this segment (months when its "
                        f"shock or fraud starts)")
    if segment not in SEGMENTS_WITH_ONSET and onset is not None:
        problems.append(f"{where}.onset: only the income-shock and fraud segments have one")
    if isinstance(onset, Mapping) and horizon is not None:
        latest = onset.get("latest")
        if _is_int(latest) and latest >= horizon:
            problems.append(f"{where}.onset.latest: month {latest} is not inside the horizon "
                            f"of {horizon} months (0..{horizon - 1})")
    has_after_shock = entry.get("income_after_shock") is not None
    if segment is Segment.INCOME_SHOCK and not has_after_shock:
        problems.append(f"{where}.income_after_shock: required for this segment")
    if segment is not Segment.INCOME_SHOCK and has_after_shock:
        problems.append(f"{where}.income_after_shock: only the income_shock segment has one")
    return problems


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> TypeGuard[float]:
    return (isinstance(value, (int, float)) and not isinstance(value, bool)
            and math.isfinite(value))


def parse_config(data: object) -> SimulationConfig:
    """A validated configuration from parsed YAML/JSON data, or ``InvalidConfiguration``
    listing every problem."""
    if not isinstance(data, Mapping):
        raise InvalidConfiguration(
            [f"configuration: must be a mapping of settings, got {type(data).__name__}"])
    cross_field = cross_field_problems(data)
    try:
        config = SimulationConfig.model_validate(dict(data))
    except ValidationError as exc:
        # Errors at the root come from SimulationConfig._cross_field: already in cross_field.
        field_level = [describe(error) for error in exc.errors() if error["loc"]]
        raise InvalidConfiguration(field_level + cross_field) from None
    return config


def default_config_data() -> dict[str, Any]:
    """The packaged defaults as plain data (a fresh copy), e.g. to derive a variant."""
    text = resources.files(__package__).joinpath("defaults.yaml").read_text(encoding="utf-8")
    data = _parse_yaml(text, "defaults.yaml")
    if not isinstance(data, dict):
        raise InvalidConfiguration(["defaults.yaml: must be a mapping of settings"])
    return data


def load_config(path: str | Path | None = None) -> SimulationConfig:
    """Read and validate a YAML configuration; the packaged defaults when ``path`` is None.

    A file is a complete configuration (start from a copy of ``defaults.yaml``); nothing
    is merged from the defaults.
    """
    if path is None:
        return parse_config(default_config_data())
    text = Path(path).read_text(encoding="utf-8")
    return parse_config(_parse_yaml(text, str(path)))


def _parse_yaml(text: str, source: str) -> object:
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidConfiguration([f"{source}: not valid YAML: {exc}"]) from None
