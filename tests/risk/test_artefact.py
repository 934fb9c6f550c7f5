"""Artefacts round-trip exactly, carry a content hash, and are refused when tampered with
or of another schema."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from lendguard.errors import ArtefactSchemaMismatch, ArtefactTampered, ModelArtefactError
from lendguard.risk.artefact import (
    canonical_json,
    challenger_from_dict,
    challenger_to_dict,
    load_artefact,
    save_artefact,
    scorecard_from_dict,
    scorecard_to_dict,
    sha256,
)
from lendguard.risk.card import model_card
from lendguard.risk.challenger import Challenger
from lendguard.risk.datasets import Dataset
from lendguard.risk.scorecard import TrainedScorecard


@pytest.fixture
def saved(tmp_path: Path, german_scorecard: TrainedScorecard) -> Path:
    save_artefact(tmp_path / "model", german_scorecard, None, "# card\n")
    return tmp_path / "model"


def test_a_saved_scorecard_loads_and_scores_identically(
        saved: Path, german: Dataset, german_scorecard: TrainedScorecard) -> None:
    loaded = load_artefact(saved)
    assert loaded.kind == "scorecard"
    assert loaded.challenger is None
    assert loaded.scorecard is not None
    assert loaded.scorecard.scaling == german_scorecard.scorecard.scaling
    np.testing.assert_array_equal(loaded.scorecard.score_frame(german.frame),
                                  german_scorecard.scorecard.score_frame(german.frame))
    assert sorted(p.name for p in saved.iterdir()) == [
        "manifest.json", "model_card.md", "scorecard.json", "scorecard.sql"]


def test_the_version_is_the_content_hash(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    content = {k: manifest[k] for k in ("schema", "kind", "files")}
    assert manifest["content_sha256"] == sha256(canonical_json(content))
    assert manifest["model_version"] == manifest["content_sha256"][:16]
    assert manifest["files"]["scorecard.json"] == sha256((saved / "scorecard.json").read_bytes())


def test_the_same_model_saved_twice_has_the_same_version(
        tmp_path: Path, german_scorecard: TrainedScorecard) -> None:
    first = save_artefact(tmp_path / "a", german_scorecard, None, "# card\n")
    second = save_artefact(tmp_path / "b", german_scorecard, None, "# card\n")
    assert first.model_version == second.model_version


def test_the_json_round_trip_is_exact(german_scorecard: TrainedScorecard) -> None:
    card = german_scorecard.scorecard
    assert scorecard_from_dict(json.loads(canonical_json(scorecard_to_dict(card)))) == card


def test_changed_points_are_refused(saved: Path) -> None:
    path = saved / "scorecard.json"
    data = json.loads(path.read_text())
    data["features"][0]["points"][0] += 50
    path.write_bytes(canonical_json(data))
    with pytest.raises(ArtefactTampered, match=r"scorecard.json has been changed"):
        load_artefact(saved)


def test_a_manifest_edited_to_match_is_refused(saved: Path) -> None:
    path = saved / "scorecard.json"
    path.write_bytes(path.read_bytes().replace(b'"pdo":20.0', b'"pdo":40.0'))
    manifest = json.loads((saved / "manifest.json").read_text())
    manifest["files"]["scorecard.json"] = sha256(path.read_bytes())
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtefactTampered, match="content hash"):
        load_artefact(saved)


def test_a_missing_file_is_refused(saved: Path) -> None:
    (saved / "scorecard.sql").unlink()
    with pytest.raises(ArtefactTampered, match=r"scorecard\.sql is missing"):
        load_artefact(saved)


def test_another_schema_is_refused(saved: Path) -> None:
    manifest = json.loads((saved / "manifest.json").read_text())
    manifest["schema"] = "lendguard.model-artefact/99"
    (saved / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ArtefactSchemaMismatch, match="model-artefact/99"):
        load_artefact(saved)


def test_a_directory_without_a_manifest_is_not_an_artefact(tmp_path: Path) -> None:
    with pytest.raises(ModelArtefactError, match=r"no manifest\.json"):
        load_artefact(tmp_path)


def test_a_challenger_round_trips_in_lightgbm_text_format(
        tmp_path: Path, german: Dataset, german_challenger: Challenger) -> None:
    save_artefact(tmp_path / "lgb", None, german_challenger, "# card\n")
    assert (tmp_path / "lgb" / "challenger.txt").read_text().startswith("tree")
    loaded = load_artefact(tmp_path / "lgb")
    assert loaded.kind == "lightgbm"
    assert loaded.challenger is not None
    np.testing.assert_array_equal(loaded.challenger.probability_of_default(german.frame),
                                  german_challenger.probability_of_default(german.frame))


def test_the_challenger_keeps_the_level_its_constraints_passed(
        tmp_path: Path, german_challenger: Challenger) -> None:
    """The G-test level that turned inferred trends into constraints is saved with the
    model and stated on its card; an artefact saved before it was recorded loads with
    the level unknown, and its card says so."""
    assert german_challenger.constraint_level == 0.05
    save_artefact(tmp_path / "lgb", None, german_challenger, "# card\n")
    loaded = load_artefact(tmp_path / "lgb").challenger
    assert loaded is not None and loaded.constraint_level == 0.05
    assert "pass a G-test at p < 0.05" in model_card("german.csv", None, loaded)
    data = challenger_to_dict(german_challenger)
    del data["constraint_level"]
    older = challenger_from_dict(data, german_challenger.model_text)
    assert older.constraint_level is None
    assert "G-test (level not recorded)" in model_card("german.csv", None, older)


def test_the_challenger_keeps_what_it_left_out(tmp_path: Path,
                                               german_challenger: Challenger) -> None:
    left = replace(german_challenger, left_out=("customer_id",))
    save_artefact(tmp_path / "lgb", None, left, "# card\n")
    loaded = load_artefact(tmp_path / "lgb").challenger
    assert loaded is not None and loaded.left_out == ("customer_id",)
    assert "nothing to split on): customer_id." in model_card("german.csv", None, loaded)
    data = challenger_to_dict(german_challenger)
    del data["left_out"]
    assert challenger_from_dict(data, german_challenger.model_text).left_out == ()
