"""The validation report: both files written, every section and plot in the page, the
JSON the same numbers as the measures, the summary judged by the thresholds given, and
bad input refused before anything is written."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import numpy as np
import pytest

from lendguard.errors import InvalidValidationInput
from lendguard.risk.report import (
    HTML_NAME,
    JSON_NAME,
    ReportThresholds,
    ScoredSample,
    ValidationReport,
    write_report,
)
from lendguard.risk.validation import discrimination, psi

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
SECTIONS = ("summary", "discrimination", "calibration", "stability", "distribution",
            "gains", "swap-set", "thresholds", "sign-off")


def scored(name: str, n: int, income_shift: float, seed: int) -> ScoredSample:
    """Applicants whose default depends on age, income and channel; a scorecard-like
    score (points, higher = safer), its PD, and a noisier PD as the challenger."""
    rng = np.random.default_rng(seed)
    age = rng.integers(20, 60, n)
    income = rng.lognormal(9 + income_shift, 0.5, n)
    channel = rng.choice(["app", "web", "agent"], n, p=[0.6, 0.3, 0.1])
    logit = -2.0 - 0.06 * (age - 40) - 1.6 * (np.log(income) - 9) + 1.2 * (channel == "agent")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    pd = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.3, n))))
    points = np.round(600 - 20 / np.log(2) * np.log(pd / (1 - pd) * 50))
    challenger = 1 / (1 + np.exp(-(logit + rng.normal(0, 0.6, n))))
    return ScoredSample(name=name, y=y, score=points, pd=pd,
                        features={"age": age, "monthly_income": income, "channel": channel},
                        challenger_score=challenger)


DEVELOPMENT = scored("development", 4_000, 0.0, seed=1)
LATER = scored("2026-Q1 <later>", 2_000, 0.3, seed=2)


@pytest.fixture(scope="module")
def full_report(tmp_path_factory: pytest.TempPathFactory) -> ValidationReport:
    """Both samples with PDs, features and a challenger: every section has content."""
    return write_report(tmp_path_factory.mktemp("report") / "out", DEVELOPMENT, LATER,
                        model_name="scorecard v1", challenger_name="LightGBM v1",
                        challenger_higher_is_riskier=True, n_bootstrap=200, seed=3)


def test_the_report_holds_every_section_plot_and_number(full_report: ValidationReport
                                                        ) -> None:
    report = full_report
    assert report.html_path.parent.name == "out"
    assert report.html_path.name == HTML_NAME and report.json_path.name == JSON_NAME
    html = report.html_path.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert f'id="{section}"' in html
    for plot in ("ROC curve", "KS curves", "Reliability plot", "Score distributions",
                 "CSI per feature", "Gains and lift"):
        assert f'alt="{plot}"' in html
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    assert len(images) == 6
    assert all(base64.b64decode(image).startswith(PNG_SIGNATURE) for image in images)
    # Self-contained: nothing fetched from elsewhere.
    assert "http" not in html and "<script" not in html
    # Names are escaped, never injected.
    assert "2026-Q1 &lt;later&gt;" in html and "<later>" not in html
    for phrase in ("How to read this", "monthly_income", "Hosmer–Lemeshow", "swap-in"):
        assert phrase in html


def test_the_json_round_trips_and_agrees_with_the_measures(full_report: ValidationReport
                                                           ) -> None:
    report = full_report
    data = json.loads(report.json_path.read_text(encoding="utf-8"))

    assert data == report.data
    development = data["samples"]["development"]
    expected = discrimination(DEVELOPMENT.y, DEVELOPMENT.score, n_bootstrap=200, seed=3)
    assert development["discrimination"]["auc"]["value"] == expected.auc.value
    assert development["discrimination"]["ks"]["high"] == expected.ks.high
    assert development["gains"]["rows"][-1]["cum_bads_share"] == pytest.approx(1)
    assert data["stability"]["score_psi"]["value"] == psi(DEVELOPMENT.score,
                                                         LATER.score).value
    assert set(data["stability"]["csi"]) == {"age", "monthly_income", "channel"}
    swap = data["samples"]["2026-Q1 <later>"]["swap_set"]
    assert swap["swap_in"]["count"] == swap["swap_out"]["count"]
    paired = development["auc_comparison"]
    assert paired["difference"]["value"] == pytest.approx(
        development["challenger_discrimination"]["auc"]["value"]
        - development["discrimination"]["auc"]["value"])
    difference = paired["difference"]
    assert difference["low"] < difference["value"] < difference["high"]
    assert "DeLong's test of" in report.html_path.read_text(encoding="utf-8")
    assert data["summary"]["overall"] == report.overall
    assert data["challenger"] == "LightGBM v1"
    assert len(development["fingerprint"]) == 64
    assert development["fingerprint"] != data["samples"]["2026-Q1 <later>"]["fingerprint"]


def test_the_summary_judges_by_the_thresholds_given(tmp_path: Path) -> None:
    report = write_report(tmp_path, DEVELOPMENT, LATER, model_name="m", n_bootstrap=0,
                          challenger_higher_is_riskier=True)
    by_name = {check.name: check for check in report.checks}
    assert by_name["KS (development)"].status == "pass"
    # Income moved by 0.3 in log terms: its CSI fails, and so does the report.
    assert by_name["Feature stability, largest CSI"].status == "fail"
    assert by_name["Feature stability, largest CSI"].detail.startswith("monthly_income")
    assert report.overall == "fail"

    lenient = ReportThresholds(ks_pass=0.99, ks_watch=0.01, psi_stable=5.0, psi_shifted=9.0,
                               hl_p_value_pass=0.0, hl_p_value_watch=0.0, auc_pass=0.5,
                               auc_watch=0.5)
    relaxed = write_report(tmp_path, DEVELOPMENT, LATER, model_name="m", n_bootstrap=0,
                           thresholds=lenient, challenger_higher_is_riskier=True)
    assert {check.status for check in relaxed.checks} == {"pass", "watch"}
    assert relaxed.overall == "watch"


def test_one_sample_alone_says_what_was_not_assessed(tmp_path: Path) -> None:
    alone = ScoredSample(name="development", y=DEVELOPMENT.y, score=DEVELOPMENT.score)

    report = write_report(tmp_path, alone, model_name="scorecard v1", n_bootstrap=0)

    html = report.html_path.read_text(encoding="utf-8")
    assert "Not assessed: no later sample was given." in html
    assert "development: not assessed, no PD was given" in html
    assert "development: not assessed, no challenger score was given" in html
    assert report.data["stability"] is None
    assert [check.name for check in report.checks] == ["KS (development)",
                                                       "AUC (development)"]
    for section in SECTIONS:
        assert f'id="{section}"' in html


def test_bad_input_in_either_sample_is_named_and_nothing_is_written(tmp_path: Path) -> None:
    broken = ScoredSample(name="later", y=[0, 1, 1], score=[1.0, float("nan"), 3.0],
                          pd=[0.1, 0.2, 1.2])
    with pytest.raises(InvalidValidationInput) as raised:
        write_report(tmp_path / "out", DEVELOPMENT, broken, model_name="m", n_bootstrap=0,
                     thresholds=ReportThresholds(ks_watch=0.5, ks_pass=0.2))
    assert raised.value.problems == [
        "thresholds.ks_watch: must not exceed ks_pass",
        "later: score: 1 NaN value(s), at rows 1",
        "later: pd: 1 value(s) outside [0, 1]",
    ]
    assert not (tmp_path / "out").exists()


def test_a_feature_missing_from_the_later_sample_is_named(tmp_path: Path) -> None:
    later = ScoredSample(name="later", y=LATER.y, score=LATER.score,
                         features={"age": np.ones(2_000)})
    with pytest.raises(InvalidValidationInput) as raised:
        write_report(tmp_path, DEVELOPMENT, later, model_name="m", n_bootstrap=0)
    assert raised.value.problems == [
        "later: features: no column 'monthly_income', which development has",
        "later: features: no column 'channel', which development has"]
