"""The simulation configuration: the packaged defaults load, and a bad configuration is
refused whole, every problem named with the field it is in."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from lendguard.errors import InvalidConfiguration
from lendguard.sim.config import (
    FRAUD_TYPE_BY_SEGMENT,
    SEGMENTS_WITH_ONSET,
    Segment,
    SimulationConfig,
    default_config_data,
    load_config,
    parse_config,
)


@pytest.fixture
def data() -> dict[str, Any]:
    return default_config_data()


def problems_of(data: object) -> list[str]:
    with pytest.raises(InvalidConfiguration) as refused:
        parse_config(data)
    assert refused.value.code == "invalid_configuration"
    return refused.value.problems


def mentions(problems: list[str], *fragments: str) -> bool:
    return any(all(fragment in problem for fragment in fragments) for problem in problems)


# --- the defaults ------------------------------------------------------------------------

def test_defaults_load_with_every_segment_and_shares_summing_to_one() -> None:
    config = load_config()
    assert set(config.shares()) == set(Segment)
    assert abs(sum(config.shares().values()) - 1) <= 1e-9
    assert config.horizon_months >= 13  # a 12-month outcome window after the first month


def test_every_fraud_and_shock_segment_has_an_onset_inside_the_horizon() -> None:
    config = load_config()
    for segment in SEGMENTS_WITH_ONSET:
        onset = config.segments[segment].onset
        assert onset is not None
        assert 0 <= onset.earliest <= onset.latest < config.horizon_months
    assert config.segments[Segment.INCOME_SHOCK].income_after_shock is not None
    assert set(FRAUD_TYPE_BY_SEGMENT) < SEGMENTS_WITH_ONSET


def test_a_yaml_file_loads_like_the_packaged_defaults(tmp_path: Path, data: dict[str, Any]
                                                      ) -> None:
    path = tmp_path / "sim.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    assert load_config(path) == load_config()


def test_the_config_hash_is_stable_and_changes_with_any_setting(data: dict[str, Any]) -> None:
    config = parse_config(data)
    assert config.config_hash() == load_config().config_hash()
    assert len(config.config_hash()) == 64
    data["population"]["income"]["log_sd"] = 0.61
    assert parse_config(data).config_hash() != config.config_hash()


def test_the_order_segments_are_listed_in_does_not_change_the_hash(data: dict[str, Any]
                                                                   ) -> None:
    reversed_segments = dict(reversed(list(data["segments"].items())))
    assert (parse_config({**data, "segments": reversed_segments}).config_hash()
            == parse_config(data).config_hash())


def test_a_configuration_is_frozen() -> None:
    config = load_config()
    with pytest.raises(ValidationError):
        config.horizon_months = 24  # type: ignore[misc]


def test_a_segment_left_out_has_share_zero(data: dict[str, Any]) -> None:
    takeover = data["segments"].pop("fraud_takeover")
    data["segments"]["prudent"]["share"] += takeover["share"]
    assert Segment.FRAUD_TAKEOVER not in parse_config(data).shares()


def test_the_macro_shock_multiplies_hazards_from_its_start_month(data: dict[str, Any]) -> None:
    data.update(macro_shock=True, macro_shock_hazard_multiplier=2.0, macro_shock_start_month=3)
    config = parse_config(data)
    revolver = config.segments[Segment.REVOLVER].default_hazard_multiplier
    assert config.default_hazard_multiplier(Segment.REVOLVER, 2) == revolver
    assert config.default_hazard_multiplier(Segment.REVOLVER, 3) == revolver * 2.0
    calm = parse_config({**data, "macro_shock": False})
    assert calm.default_hazard_multiplier(Segment.REVOLVER, 12) == revolver


# --- refusals: each rule -----------------------------------------------------------------

def test_segment_shares_not_summing_to_one_are_refused(data: dict[str, Any]) -> None:
    data["segments"]["prudent"]["share"] = 0.50  # the others add up to 0.52: total 1.02
    assert mentions(problems_of(data), "segments", "shares sum to 1.02, not 1")


def test_a_negative_income_is_refused_naming_the_field(data: dict[str, Any]) -> None:
    data["population"]["income"]["median_monthly_yuan"]["tier_4"] = -3800
    assert mentions(problems_of(data), "population.income.median_monthly_yuan.tier_4",
                    "greater than 0", "-3800")


def test_an_unknown_segment_is_refused_naming_the_known_ones(data: dict[str, Any]) -> None:
    data["segments"]["gambler"] = {**copy.deepcopy(data["segments"]["revolver"]), "share": 0.0}
    assert mentions(problems_of(data), "segments.gambler", "unknown segment", "over_borrower")


def test_all_three_at_once_are_all_listed(data: dict[str, Any]) -> None:
    data["segments"]["prudent"]["share"] = 0.50
    data["population"]["income"]["median_monthly_yuan"]["tier_4"] = -3800
    data["segments"]["gambler"] = {**copy.deepcopy(data["segments"]["revolver"]), "share": 0.0}
    problems = problems_of(data)
    assert len(problems) >= 3
    assert mentions(problems, "shares sum to 1.02")
    assert mentions(problems, "median_monthly_yuan.tier_4")
    assert mentions(problems, "segments.gambler", "unknown segment")


def test_probabilities_outside_zero_to_one_are_refused(data: dict[str, Any]) -> None:
    data["segments"]["impulse"]["late_night_share"] = 1.3
    data["population"]["bureau"]["file_probability"] = -0.1
    problems = problems_of(data)
    assert mentions(problems, "segments.impulse.late_night_share", "less than or equal to 1")
    assert mentions(problems, "population.bureau.file_probability", "greater than or equal to 0")


def test_a_repayment_mix_must_sum_to_one(data: dict[str, Any]) -> None:
    data["segments"]["revolver"]["repayment"]["nothing"] = 0.5
    assert mentions(problems_of(data), "segments.revolver.repayment", "shares sum to 1.45")


def test_ages_outside_18_to_70_and_broken_bands_are_refused(data: dict[str, Any]) -> None:
    data["population"]["age_bands"][0]["min_age"] = 16
    data["population"]["age_bands"][-1]["max_age"] = 75
    problems = problems_of(data)
    assert mentions(problems, "population.age_bands[0].min_age", "greater than or equal to 18")
    assert mentions(problems, "population.age_bands[5].max_age", "less than or equal to 70")


def test_age_bands_with_a_gap_are_refused(data: dict[str, Any]) -> None:
    data["population"]["age_bands"][1]["min_age"] = 24  # band 0 ends at 22
    assert mentions(problems_of(data), "population.age_bands", "band 1 starts at 24, expected 23")


def test_fraud_and_shock_segments_need_an_onset_and_others_may_not_have_one(
        data: dict[str, Any]) -> None:
    del data["segments"]["fraud_synthetic"]["onset"]
    del data["segments"]["income_shock"]["income_after_shock"]
    data["segments"]["prudent"]["onset"] = {"earliest": 1, "latest": 2}
    problems = problems_of(data)
    assert mentions(problems, "segments.fraud_synthetic.onset", "required")
    assert mentions(problems, "segments.income_shock.income_after_shock", "required")
    assert mentions(problems, "segments.prudent.onset", "only the income-shock and fraud")


def test_an_onset_after_the_horizon_is_refused(data: dict[str, Any]) -> None:
    data["segments"]["fraud_takeover"]["onset"] = {"earliest": 4, "latest": 13}
    data["macro_shock_start_month"] = 20
    problems = problems_of(data)
    assert mentions(problems, "segments.fraud_takeover.onset.latest", "month 13",
                    "horizon of 13 months")
    assert mentions(problems, "macro_shock_start_month", "20")


def test_unknown_and_missing_fields_and_wrong_types_are_named(data: dict[str, Any]) -> None:
    data["population"]["device"]["ios_shares"] = data["population"]["device"].pop("ios_share")
    data["horizon_months"] = "13"
    problems = problems_of(data)
    assert "population.device.ios_shares: unknown field" in problems
    assert "population.device.ios_share: required" in problems
    assert mentions(problems, "horizon_months", "valid integer", "'13'")


def test_cross_field_rules_are_reported_even_when_fields_are_broken(data: dict[str, Any]
                                                                    ) -> None:
    data["segments"]["revolver"]["late_night_share"] = "high"
    data["segments"]["revolver"]["share"] = 0.3
    problems = problems_of(data)
    assert mentions(problems, "segments.revolver.late_night_share")
    assert mentions(problems, "shares sum to 1.04")


def test_a_share_of_the_wrong_type_is_named_not_summed(data: dict[str, Any]) -> None:
    data["segments"]["revolver"]["share"] = "0.26"
    problems = problems_of(data)
    assert mentions(problems, "segments.revolver.share", "valid number")
    assert not mentions(problems, "shares sum to")


def test_a_file_that_is_not_a_mapping_or_not_yaml_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "list.yaml"
    listing.write_text("- 1\n- 2\n", encoding="utf-8")
    broken = tmp_path / "broken.yaml"
    broken.write_text("segments: {prudent: [\n", encoding="utf-8")
    with pytest.raises(InvalidConfiguration, match="must be a mapping"):
        load_config(listing)
    with pytest.raises(InvalidConfiguration, match="not valid YAML"):
        load_config(broken)


def test_a_configuration_cannot_be_built_around_the_cross_field_rules(data: dict[str, Any]
                                                                      ) -> None:
    # Every SimulationConfig is valid, however it was made.
    data["segments"]["prudent"]["share"] = 0.9
    with pytest.raises(ValidationError, match="shares sum to"):
        SimulationConfig.model_validate(data)


# --- property: shares are accepted exactly when they sum to one ---------------------------

@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=1000), min_size=8, max_size=8))
def test_segment_shares_are_accepted_exactly_when_they_sum_to_one(thousandths: list[int]
                                                                  ) -> None:
    data = default_config_data()
    for segment, share in zip(Segment, thousandths, strict=True):
        data["segments"][segment]["share"] = share / 1000
    if sum(thousandths) == 1000:
        assert parse_config(data).shares()[Segment.PRUDENT] == thousandths[0] / 1000
    else:
        assert mentions(problems_of(data), "segments: shares sum to")
