"""The public data sets load from the installed packages, with their targets as 0/1."""

from __future__ import annotations

from lendguard.risk.datasets import Dataset
from lendguard.risk.features import Kind, require_valid


def test_german_credit_has_1000_applications_300_of_them_bad(german: Dataset) -> None:
    assert german.frame.height == 1000
    assert german.frame["creditability"].sum() == 300
    assert len(german.feature_set.features) == 20
    require_valid(german.frame, german.feature_set)
    assert german.feature_set.get("credit_amount").kind is Kind.NUMERIC
    assert german.feature_set.get("purpose").kind is Kind.CATEGORICAL
    assert german.feature_set.get("age_in_years").description_zh == "年龄"


def test_uci_credit_card_sample_has_6000_rows(uci: Dataset) -> None:
    assert uci.frame.height == 6000
    assert uci.frame["default"].sum() == 1345
    assert uci.feature_set.names == ["EDUCATION", "MARRIAGE", "LIMIT_BAL", "BILL_AMT1"]
    require_valid(uci.frame, uci.feature_set)
