"""Feature files: columns excluded, features declared once, every mistake named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from lendguard.cli import app
from lendguard.errors import InvalidConfiguration, ManyDataProblems, UnknownColumn
from lendguard.risk.features import Kind
from lendguard.risk.spec import FeatureSpec, read_feature_file

SPEC = """
exclude: [application_id]
features:
  bureau_score:
    trend: descending
    special_values: {-1: no bureau file}
    description: credit bureau score
    description_zh: 征信评分
  city_tier:
    kind: categorical
    description: city tier
"""


def table(n: int = 3000, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    score = rng.integers(300, 850, n).astype(float)
    score[rng.random(n) < 0.1] = -1
    tier = rng.integers(1, 5, n)
    p = 1 / (1 + np.exp(-(-1.0 - (score - 575) / 120 + 0.2 * tier + 0.8 * (score < 0))))
    return pl.DataFrame({"application_id": np.arange(n), "bureau_score": score,
                         "city_tier": tier, "income": rng.lognormal(8, 0.5, n),
                         "bad": (rng.random(n) < p).astype(np.int64)})


def written(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "features.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_feature_file_declares_what_the_data_cannot_say(tmp_path: Path) -> None:
    spec = read_feature_file(written(tmp_path, SPEC))
    features = {f.name: f for f in spec.feature_set(table(), "bad").features}
    assert set(features) == {"bureau_score", "city_tier", "income"}   # the id is left out
    score = features["bureau_score"]
    assert (score.kind, score.trend) == (Kind.NUMERIC, "descending")
    assert score.special_values == {-1.0: "no bureau file"}
    assert (score.description, score.description_zh) == ("credit bureau score", "征信评分")
    assert features["city_tier"].kind is Kind.CATEGORICAL      # stored as integers
    assert features["income"].kind is Kind.NUMERIC             # not declared: by type


def test_every_mistake_in_a_file_is_named_at_once(tmp_path: Path) -> None:
    path = written(tmp_path, """
features:
  bureau_score:
    trend: sideways
    colour: red
  city_tier:
    kind: text
unexpected: 1
""")
    with pytest.raises(InvalidConfiguration) as error:
        read_feature_file(path)
    problems = error.value.problems
    assert any(p.startswith("features.bureau_score.trend:") and "'sideways'" in p
               for p in problems)
    assert "features.bureau_score.colour: unknown field" in problems
    assert any(p.startswith("features.city_tier.kind:") for p in problems)
    assert "unexpected: unknown field" in problems


@pytest.mark.parametrize(("text", "expected"), [
    ("features: [a, b]", "features: input should be a valid dictionary"),
    ("- a\n- b", "must be a mapping"),
    ("features: {a: {", "not valid YAML"),
    ("exclude: [income]\nfeatures: {income: {}}", "income: both excluded and declared"),
])
def test_a_malformed_file_is_refused(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(InvalidConfiguration, match=expected):
        read_feature_file(written(tmp_path, text))


def test_declarations_the_data_contradicts_are_refused_together(tmp_path: Path) -> None:
    path = written(tmp_path, """
features:
  city_tier: {kind: categorical, trend: ascending}
  bureau_score: {special_values: {none: no file}}
""")
    with pytest.raises(InvalidConfiguration) as error:
        read_feature_file(path).feature_set(table(), "bad")
    assert len(error.value.problems) == 2
    assert "features.city_tier.trend" in str(error.value)
    assert "'none' is not a number" in str(error.value)
    with pytest.raises(InvalidConfiguration, match="is the target"):
        FeatureSpec(("bad",)).feature_set(table(), "bad")
    with pytest.raises(InvalidConfiguration, match="bureau_score: both excluded and declared"):
        read_feature_file(written(tmp_path, SPEC)).with_excluded(["bureau_score"]).feature_set(
            table(), "bad")


def test_columns_the_data_lacks_are_named() -> None:
    with pytest.raises(UnknownColumn, match="'applicant'"):
        FeatureSpec(("applicant",)).feature_set(table(), "bad")
    with pytest.raises(ManyDataProblems) as error:
        FeatureSpec(("applicant",), read_feature_file(None).declared or {}).with_excluded(
            ["day"]).feature_set(table(), "bad")
    assert [p.column for p in error.value.problems] == ["applicant", "day"]


runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_train_with_a_feature_file_an_exclusion_and_a_scaling(tmp_path: Path) -> None:
    data = tmp_path / "apps.csv"
    table().with_columns(pl.lit("2026-11-30").alias("applied_on")).write_csv(data)
    spec = written(tmp_path, SPEC)
    code, out = run("train", "--data", str(data), "--target", "bad", "--model", "scorecard",
                    "--features", str(spec), "--exclude", "applied_on", "--pdo", "40",
                    "--base-score", "500", "--base-odds", "20", "--out", str(tmp_path / "m"))
    assert code == 0, out
    assert "scores 500 at odds 20:1, PDO 40" in out
    saved = json.loads((tmp_path / "m" / "scorecard.json").read_text(encoding="utf-8"))
    assert saved["scaling"]["pdo"] == 40 and saved["scaling"]["base_score"] == 500
    names = {f["feature"]["name"] for f in saved["features"]}
    assert "application_id" not in names and "applied_on" not in names
    assert "no bureau file" in json.dumps(saved, ensure_ascii=False)

    code, out = run("score", "--model", str(tmp_path / "m"), "--data", str(data),
                    "--out", str(tmp_path / "scored.csv"), "--reasons", "1")
    assert code == 0, out
    reasons = pl.read_csv(tmp_path / "scored.csv")["reason_1"].drop_nulls().to_list()
    assert any(r.startswith("credit bureau score") for r in reasons)


def test_train_refuses_a_bad_scaling_or_file_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "apps.csv"
    table().write_csv(data)
    out_dir = tmp_path / "m"
    code, out = run("train", "--data", str(data), "--target", "bad", "--pdo", "-3",
                    "--out", str(out_dir))
    assert code == 2 and "--pdo" in out
    bad = written(tmp_path, "features: {bureau_score: {trend: sideways}}")
    code, out = run("train", "--data", str(data), "--target", "bad", "--features", str(bad),
                    "--out", str(out_dir))
    assert code == 2 and "features.bureau_score.trend" in out
    code, out = run("train", "--from-db", str(tmp_path / "x.db"), "--as-of", "2026-01-01",
                    "--target", "bad", "--exclude", "x", "--out", str(out_dir))
    assert code == 2 and "go with --data" in out
    assert not out_dir.exists()


def test_a_feature_file_fixes_bin_sizes_and_selection_thresholds(tmp_path: Path) -> None:
    spec = read_feature_file(written(tmp_path, SPEC + """
binning: {min_bin_size: 0.05, max_bins: 6, min_category_size: 0.03}
selection: {min_iv: 0.05, stepwise: true, noise_p_value: 0.2}
"""))
    options = spec.scorecard_options()
    assert (options.binning.min_bin_size, options.binning.max_bins) == (0.05, 6)
    assert options.binning.min_category_size == 0.03
    assert options.binning.min_prebin_size is None          # left out: follows the data
    assert (options.selection.min_iv, options.selection.stepwise) == (0.05, True)
    assert options.selection.noise_p_value == 0.2
    assert options.selection.max_vif == 10.0                # left out: the default

    data = tmp_path / "apps.csv"
    table(20_000).write_csv(data)
    code, out = run("train", "--data", str(data), "--target", "bad", "--model", "scorecard",
                    "--features", str(tmp_path / "features.yaml"), "--out", str(tmp_path / "m"))
    assert code == 0, out
    card = (tmp_path / "m" / "model_card.md").read_text(encoding="utf-8")
    assert "bins of at least 5.00% of the rows" in card and "at most 6 bins" in card
    assert "categories under 3.00% of the rows pooled" in card
    assert "IV at least 0.05" in card and "then forward stepwise selection" in card
    saved = json.loads((tmp_path / "m" / "scorecard.json").read_text(encoding="utf-8"))
    regular = [len(f["binning"]["splits"]) + 1 if f["binning"]["kind"] == "numeric"
               else len(f["binning"]["groups"]) for f in saved["features"]]
    assert regular and max(regular) <= 6


@pytest.mark.parametrize(("text", "expected"), [
    ("binning: {min_bin_size: 0.7}", "binning.min_bin_size: input should be less than 0.5"),
    ("binning: {max_bins: 1}", "binning.max_bins: input should be greater than or equal to 2"),
    ("binning: {min_category_size: 0}", "binning.min_category_size: input should be greater"),
    ("selection: {max_vif: 0.5}", "selection.max_vif"),
    ("selection: {stepwise: 'yes'}", "selection.stepwise"),
    ("binning: {grid: 5}", "binning.grid: unknown field"),
])
def test_bad_binning_or_selection_settings_are_named(tmp_path: Path, text: str,
                                                      expected: str) -> None:
    with pytest.raises(InvalidConfiguration, match=expected):
        read_feature_file(written(tmp_path, text))


def test_reason_codes_in_chinese_and_from_the_challenger(tmp_path: Path) -> None:
    data = tmp_path / "apps.csv"
    table().write_csv(data)
    code, out = run("train", "--data", str(data), "--target", "bad", "--features",
                    str(written(tmp_path, SPEC)), "--out", str(tmp_path / "m"))
    assert code == 0, out
    code, out = run("score", "--model", str(tmp_path / "m"), "--data", str(data),
                    "--out", str(tmp_path / "s.parquet"), "--reasons", "2",
                    "--language", "both")
    assert code == 0, out
    scored = pl.read_parquet(tmp_path / "s.parquet")
    assert {"reason_1", "reason_1_zh", "reason_2_zh", "challenger_reason_1",
            "challenger_reason_2_zh"} <= set(scored.columns)
    worst = scored.sort("score").row(0, named=True)     # the riskiest applicant
    assert worst["reason_1"] and worst["reason_1_zh"].endswith("分")
    assert worst["challenger_reason_1"].endswith("raised the risk of default")
    assert worst["challenger_reason_1_zh"].endswith("提高了违约风险")
    zh_reasons = scored["reason_1_zh"].drop_nulls().to_list()
    assert any(r.startswith("征信评分（") for r in zh_reasons)   # the declared description

    code, out = run("score", "--model", str(tmp_path / "m"), "--data", str(data),
                    "--out", str(tmp_path / "zh.csv"), "--reasons", "1", "--language", "zh")
    assert code == 0, out
    columns = pl.read_csv(tmp_path / "zh.csv").columns
    assert "reason_1_zh" in columns and "reason_1" not in columns

    code, out = run("score", "--model", str(tmp_path / "m"), "--data", str(data),
                    "--out", str(tmp_path / "x.csv"), "--reasons", "1", "--language", "fr")
    assert code == 2 and "--language must be one of en, zh, both" in out
    assert not (tmp_path / "x.csv").exists()
