"""``lendguard validate``: a model trained on German credit, judged on its data and on a
later sample; both files written, the JSON holding the AUC the table prints."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from lendguard.cli import app
from lendguard.risk.datasets import Dataset

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_validate_writes_the_report_and_its_numbers(tmp_path: Path, german: Dataset) -> None:
    development, later = tmp_path / "dev.csv", tmp_path / "later.parquet"
    german.frame[:700].write_csv(development)
    german.frame[700:].write_parquet(later)
    assert run("train", "--data", str(development), "--target", "creditability", "--out",
               str(tmp_path / "model"), "--model", "both")[0] == 0

    code, out = run("validate", "--model", str(tmp_path / "model"), "--data",
                    str(development), "--target", "creditability", "--later", str(later),
                    "--out", str(tmp_path / "report"), "--bootstrap", "100")
    assert code == 0, out
    assert (tmp_path / "report" / "validation.html").exists()
    numbers = json.loads((tmp_path / "report" / "validation.json").read_text())
    auc = numbers["samples"]["development"]["discrimination"]["auc"]["value"]
    assert 0.7 < auc < 1.0
    assert f"{auc:.3f}" in out
    assert numbers["samples"]["later"]["n"] == 300
    assert numbers["stability"]["score_psi"]["value"] >= 0
    assert "score PSI development → later" in out
    assert "validation.html" in out.replace(" ", "")
    assert numbers["challenger"] is not None  # the artefact's own LightGBM model


def test_validate_names_a_missing_target_and_writes_nothing(tmp_path: Path,
                                                            german: Dataset) -> None:
    data = tmp_path / "german.csv"
    german.frame.write_csv(data)
    assert run("train", "--data", str(data), "--target", "creditability", "--out",
               str(tmp_path / "model"), "--model", "scorecard")[0] == 0
    code, out = run("validate", "--model", str(tmp_path / "model"), "--data", str(data),
                    "--target", "bad", "--out", str(tmp_path / "report"))
    assert code == 2
    assert "'bad'" in out
    assert not (tmp_path / "report").exists()
