"""Model artefacts: a directory per trained model, versioned and content-hashed.

``manifest.json`` names the artefact schema, the model kind, the sha256 of every file,
and the sha256 of the canonical JSON of all that (the content hash); the first 16 hex
digits of it are the model version recorded with every score. The files:

- ``scorecard.json``: features, bins, WOE, points and the scaling (enough to score);
- ``scorecard.sql``: the same scorecard as one SQL expression, a ``CASE`` per feature
  summed, that scores a table inside SQLite or PostgreSQL exactly as Python does (points
  are integers, cut points are written so they read back as the same doubles);
- ``challenger.txt`` and ``challenger.json``: the LightGBM booster in its text format,
  and its inputs, encodings, constraints and calibration;
- ``model_card.md``: what a reviewer reads first.

Loading recomputes every hash and refuses an artefact whose hash or schema does not match.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from lendguard.errors import ArtefactSchemaMismatch, ArtefactTampered, ModelArtefactError
from lendguard.risk.binning import BinStats, FeatureBinning
from lendguard.risk.challenger import Calibration, Challenger
from lendguard.risk.features import Feature, FeatureSet, Kind, category_of
from lendguard.risk.scorecard import Scaling, Scorecard, ScoredFeature, TrainedScorecard

ARTEFACT_SCHEMA = "lendguard.model-artefact/1"
SCORECARD_SCHEMA = "lendguard.scorecard/1"
CHALLENGER_SCHEMA = "lendguard.challenger/1"


def canonical_json(value: object) -> bytes:
    """Sorted keys, no whitespace, shortest round-trip floats: the same value always
    gives the same bytes, so it can be hashed."""
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------- features

def feature_to_dict(feature: Feature) -> dict[str, Any]:
    return {"name": feature.name, "kind": str(feature.kind),
            "description": feature.description, "description_zh": feature.description_zh,
            "special_values": [[v, label] for v, label in feature.special_values.items()],
            "trend": feature.trend}


def feature_from_dict(data: Mapping[str, Any]) -> Feature:
    return Feature(data["name"], Kind(data["kind"]), data["description"],
                   data["description_zh"], {v: label for v, label in data["special_values"]},
                   data["trend"])


def binning_to_dict(binning: FeatureBinning) -> dict[str, Any]:
    return {"name": binning.name, "kind": str(binning.kind), "trend": binning.trend,
            "splits": list(binning.splits), "groups": [list(g) for g in binning.groups],
            "specials": [[v, label] for v, label in binning.specials],
            "bins": [{"label": b.label, "count": b.count, "events": b.events,
                      "non_events": b.non_events, "woe": b.woe, "iv": b.iv}
                     for b in binning.bins],
            "unseen": binning.unseen}


def binning_from_dict(data: Mapping[str, Any]) -> FeatureBinning:
    return FeatureBinning(data["name"], Kind(data["kind"]), data["trend"],
                          tuple(float(s) for s in data["splits"]),
                          tuple(tuple(g) for g in data["groups"]),
                          tuple((v, label) for v, label in data["specials"]),
                          tuple(BinStats(**b) for b in data["bins"]),
                          unseen=_optional_int(data.get("unseen")))


# ---------------------------------------------------------------------------- scorecard

def scorecard_to_dict(scorecard: Scorecard) -> dict[str, Any]:
    scaling = scorecard.scaling
    return {"schema": SCORECARD_SCHEMA, "target": scorecard.target,
            "intercept": scorecard.intercept,
            "scaling": {"base_score": scaling.base_score, "base_odds": scaling.base_odds,
                        "pdo": scaling.pdo, "factor": scaling.factor,
                        "offset": scaling.offset},
            "features": [{"feature": feature_to_dict(f.feature),
                          "binning": binning_to_dict(f.binning),
                          "coefficient": f.coefficient, "points": list(f.points)}
                         for f in scorecard.features]}


def scorecard_from_dict(data: Mapping[str, Any]) -> Scorecard:
    if data.get("schema") != SCORECARD_SCHEMA:
        raise ArtefactSchemaMismatch(f"scorecard schema {data.get('schema')!r}, "
                                     f"expected {SCORECARD_SCHEMA!r}")
    scaling = data["scaling"]
    features = tuple(ScoredFeature(feature_from_dict(f["feature"]),
                                   binning_from_dict(f["binning"]), float(f["coefficient"]),
                                   tuple(int(p) for p in f["points"]))
                     for f in data["features"])
    return Scorecard(data["target"], features, float(data["intercept"]),
                     Scaling(scaling["base_score"], scaling["base_odds"], scaling["pdo"]))


def _ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _number(value: float) -> str:
    """A literal that both databases read back as exactly this double."""
    return repr(float(value))


def feature_case_sql(scored: ScoredFeature) -> str:
    """One feature's points as ``CASE``: missing, then specials, then the regular bins."""
    binning, points = scored.binning, scored.points
    column = _ident(scored.feature.name)
    numeric = binning.kind is Kind.NUMERIC
    # a number's NaN is missing, as in Python: PostgreSQL keeps NaN (and sorts it above
    # every number, past the cut points), SQLite stores it as NULL; a category's empty
    # text is missing too
    blank = "'NaN'" if numeric else "''"
    whens = [f"WHEN {column} IS NULL OR CAST({column} AS TEXT) = {blank} "
             f"THEN {points[binning.missing_index]}"]
    known = set() if numeric else set(binning.category_bins())
    for offset, (value, _) in enumerate(binning.specials):
        if numeric:
            test = f"{column} = {_number(float(value))}"
        else:
            spellings = _spellings(str(category_of(value)), known)
            test = f"CAST({column} AS TEXT) IN ({', '.join(_text(v) for v in spellings)})"
        whens.append(f"WHEN {test} THEN {points[binning.n_regular + offset]}")
    if numeric:
        whens += [f"WHEN {column} < {_number(cut)} THEN {points[i]}"
                  for i, cut in enumerate(binning.splits)]
        whens.append(f"ELSE {points[binning.n_regular - 1]}")
    else:
        for i, group in enumerate(binning.groups):
            values = ", ".join(_text(s) for v in group for s in _spellings(v, known))
            whens.append(f"WHEN CAST({column} AS TEXT) IN ({values}) THEN {points[i]}")
        whens.append(f"ELSE {points[binning.unseen_index]}")
    return "CASE " + " ".join(whens) + " END"


def _spellings(category: str, known: set[str]) -> list[str]:
    """The texts a database may cast a stored category to: a whole number held as REAL
    casts to ``2.0`` in SQLite (``2`` in PostgreSQL), a boolean held as an integer (SQLite
    has no other) to ``1``/``0``. Python reads all of these as the category
    (``category_text``); a spelling that is itself another category is left out."""
    extra = []
    if category.lstrip("-").isdigit():
        extra.append(f"{int(category)}.0")
    elif category in ("true", "false"):
        extra.append("1" if category == "true" else "0")
    return [category, *(s for s in extra if s not in known)]


def score_expression(scorecard: Scorecard) -> str:
    """The score as one SQL expression over the feature columns of a row."""
    if not scorecard.features:
        return "0"
    return "\n  + ".join(f"({feature_case_sql(f)})" for f in scorecard.features)


def scorecard_sql(scorecard: Scorecard, table: str = "applications",
                  key: str | None = None) -> str:
    """A ``SELECT`` that scores every row of ``table`` (with its ``key`` column if given)."""
    keys = f"{_ident(key)}, " if key else ""
    return f"SELECT {keys}(\n  {score_expression(scorecard)}\n) AS score\nFROM {_ident(table)}"


# ---------------------------------------------------------------------------- challenger

def challenger_to_dict(challenger: Challenger) -> dict[str, Any]:
    calibration = challenger.calibration
    return {"schema": CHALLENGER_SCHEMA, "target": challenger.feature_set.target,
            "features": [feature_to_dict(f) for f in challenger.feature_set.features],
            "encodings": {k: dict(v) for k, v in challenger.encodings.items()},
            "monotone": list(challenger.monotone),
            "calibration": {"method": calibration.method, "a": calibration.a,
                            "b": calibration.b, "xs": list(calibration.xs),
                            "ys": list(calibration.ys)},
            "calibration_losses": dict(challenger.calibration_losses),
            "rounds": challenger.rounds, "constraint_level": challenger.constraint_level,
            "left_out": list(challenger.left_out), "unseen": dict(challenger.unseen)}


def challenger_from_dict(data: Mapping[str, Any], model_text: str) -> Challenger:
    if data.get("schema") != CHALLENGER_SCHEMA:
        raise ArtefactSchemaMismatch(f"challenger schema {data.get('schema')!r}, "
                                     f"expected {CHALLENGER_SCHEMA!r}")
    calibration = data["calibration"]
    feature_set = FeatureSet(data["target"],
                             tuple(feature_from_dict(f) for f in data["features"]))
    return Challenger(feature_set, data["encodings"], tuple(data["monotone"]), model_text,
                      Calibration(calibration["method"], calibration["a"], calibration["b"],
                                  tuple(calibration["xs"]), tuple(calibration["ys"])),
                      data["calibration_losses"], int(data["rounds"]),
                      _optional_float(data.get("constraint_level")),
                      tuple(data.get("left_out", ())),
                      {k: float(v) for k, v in data.get("unseen", {}).items()})


def _optional_int(value: Any) -> int | None:
    """A bin index the artefact may lack (recorded from a later version on)."""
    return None if value is None else int(value)


def _optional_float(value: Any) -> float | None:
    """A number the artefact may lack (recorded from a later version on)."""
    return None if value is None else float(value)


# ---------------------------------------------------------------------------- the directory

@dataclass(frozen=True)
class Artefact:
    """A loaded (or just saved) artefact: its models and identity."""

    kind: str
    model_version: str
    content_sha256: str
    scorecard: Scorecard | None
    challenger: Challenger | None


def save_artefact(directory: Path, trained: TrainedScorecard | None,
                  challenger: Challenger | None, card: str) -> Artefact:
    """Write the model files, the model card and the manifest (last, over the others)."""
    if trained is None and challenger is None:
        raise ModelArtefactError("an artefact needs a scorecard, a challenger or both")
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, bytes] = {"model_card.md": card.encode()}
    if trained is not None:
        files["scorecard.json"] = canonical_json(scorecard_to_dict(trained.scorecard))
        files["scorecard.sql"] = (scorecard_sql(trained.scorecard) + ";\n").encode()
    if challenger is not None:
        files["challenger.json"] = canonical_json(challenger_to_dict(challenger))
        files["challenger.txt"] = challenger.model_text.encode()
    for name, data in files.items():
        (directory / name).write_bytes(data)
    kind = "both" if trained and challenger else "scorecard" if trained else "lightgbm"
    content = {"schema": ARTEFACT_SCHEMA, "kind": kind,
               "files": {name: sha256(data) for name, data in files.items()}}
    digest = sha256(canonical_json(content))
    manifest = {**content, "content_sha256": digest, "model_version": digest[:16]}
    (directory / "manifest.json").write_bytes(
        orjson.dumps(manifest, option=orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2))
    return Artefact(kind, digest[:16], digest, trained.scorecard if trained else None,
                    challenger)


def load_artefact(directory: Path) -> Artefact:
    """Read and check an artefact; refuse it if any hash or schema does not match."""
    manifest = _read_manifest(directory)
    files = _verified_files(directory, manifest)
    scorecard = None
    if "scorecard.json" in files:
        scorecard = scorecard_from_dict(orjson.loads(files["scorecard.json"]))
    challenger = None
    if "challenger.json" in files:
        challenger = challenger_from_dict(orjson.loads(files["challenger.json"]),
                                          files["challenger.txt"].decode())
    return Artefact(manifest["kind"], manifest["model_version"], manifest["content_sha256"],
                    scorecard, challenger)


def _read_manifest(directory: Path) -> dict[str, Any]:
    path = directory / "manifest.json"
    if not path.exists():
        raise ModelArtefactError(f"{directory} is not a model artefact (no manifest.json)")
    try:
        manifest: dict[str, Any] = orjson.loads(path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise ArtefactTampered(f"{path} is not valid JSON: {exc}") from None
    if manifest.get("schema") != ARTEFACT_SCHEMA:
        raise ArtefactSchemaMismatch(f"{directory}: artefact schema "
                                     f"{manifest.get('schema')!r}, expected {ARTEFACT_SCHEMA!r}")
    return manifest


def _verified_files(directory: Path, manifest: Mapping[str, Any]) -> dict[str, bytes]:
    content = {"schema": manifest["schema"], "kind": manifest.get("kind"),
               "files": manifest.get("files", {})}
    if sha256(canonical_json(content)) != manifest.get("content_sha256"):
        raise ArtefactTampered(f"{directory}: the manifest does not match its content hash")
    files = {}
    for name, expected in content["files"].items():
        path = directory / name
        if not path.exists():
            raise ArtefactTampered(f"{directory}: {name} is missing")
        data = path.read_bytes()
        if sha256(data) != expected:
            raise ArtefactTampered(f"{directory}: {name} has been changed since it was saved "
                                   f"(sha256 {sha256(data)[:16]}…, expected {expected[:16]}…)")
        files[name] = data
    return files
