"""Training and scoring end to end: what ``lendguard train`` and ``lendguard score`` call.

Reads a table (CSV or Parquet), trains the scorecard and/or the challenger, optionally
measures them by stratified cross-validation, writes the artefact; and scores a table
with a saved artefact. The CLI only parses arguments and shows progress.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from lendguard.errors import InvalidCommand, UnknownColumn
from lendguard.risk.artefact import Artefact, save_artefact
from lendguard.risk.card import model_card
from lendguard.risk.challenger import Challenger, ChallengerOptions, train_challenger
from lendguard.risk.features import (
    MIN_CLASS_ROWS,
    Feature,
    FeatureSet,
    binary_target,
    infer_feature_set,
    require_valid,
)
from lendguard.risk.scorecard import ScorecardOptions, TrainedScorecard, train_scorecard
from lendguard.risk.spec import FeatureSpec

MODEL_KINDS = ("scorecard", "lightgbm", "both")


# What a CSV says for "no value": pandas' defaults, which is what the files people bring
# were mostly written to be read by (R writes NA; spreadsheets #N/A).
CSV_NULLS = ["", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND",
             "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null"]
# Rows a CSV's column types are guessed from first; a file whose types change further down
# is read again with every row looked at.
SCHEMA_ROWS = 10_000


def read_table(path: Path) -> pl.DataFrame:
    """A CSV or Parquet file as a frame (by its extension). In a CSV the usual markers of
    a missing value (``NA``, ``N/A``, ``NULL``, ``#N/A``, … as pandas reads them) are
    missing values, so a numeric column with them stays numeric. A file that cannot be
    read is refused with polars' reason, never half-read."""
    if not path.is_file():
        raise InvalidCommand(f"no data file at {path}")
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise InvalidCommand(f"{path}: data files must be .csv or .parquet")
    try:
        if suffix != ".csv":
            return pl.read_parquet(path)
        try:
            return pl.read_csv(path, infer_schema_length=SCHEMA_ROWS, null_values=CSV_NULLS)
        except pl.exceptions.ComputeError:
            return pl.read_csv(path, infer_schema_length=None, null_values=CSV_NULLS)
    except pl.exceptions.NoDataError:
        raise InvalidCommand(f"{path}: the file is empty") from None
    except (pl.exceptions.PolarsError, OSError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise InvalidCommand(f"{path}: cannot be read as {suffix[1:]}: {reason}") from None


def write_table(frame: pl.DataFrame, path: Path) -> None:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        frame.write_csv(path)
    elif suffix in (".parquet", ".pq"):
        frame.write_parquet(path)
    else:
        raise InvalidCommand(f"{path}: output files must be .csv or .parquet")


@dataclass(frozen=True)
class TrainingRun:
    """What one ``train`` produced."""

    artefact: Artefact
    trained: TrainedScorecard | None
    challenger: Challenger | None
    cv_auc: dict[str, tuple[float, float]]


def train_models(frame: pl.DataFrame, target: str, out: Path, model: str, source: str,
                 declared: Sequence[Feature] = (), cv_folds: int = 0,
                 progress: Callable[[str], None] | None = None,
                 spec: FeatureSpec | None = None,
                 scorecard_options: ScorecardOptions | None = None,
                 bad_value: str | None = None) -> TrainingRun:
    """Train what ``model`` names on ``frame`` and save it under ``out``. The features
    are every column but ``target``: as ``declared``, or as a feature file's ``spec``
    says (which may also exclude columns), or else by type. ``target`` holds 0/1, or
    ``bad_value`` and one other value (``binary_target``)."""
    if model not in MODEL_KINDS:
        raise InvalidCommand(f"--model must be one of {', '.join(MODEL_KINDS)}, got {model!r}")
    if target not in frame.columns:
        raise UnknownColumn(target, frame.columns)
    if bad_value is not None:
        frame = binary_target(frame, target, bad_value)
    feature_set = (spec.feature_set(frame, target) if spec is not None
                   else infer_feature_set(frame, target, declared))
    if spec is not None:
        scorecard_options = spec.scorecard_options(scorecard_options)
    require_valid(frame, feature_set)
    report = progress or (lambda _: None)
    cv_auc = (cross_validated_auc(frame, feature_set, model, cv_folds, report,
                                  scorecard_options) if cv_folds else {})
    trained = challenger = None
    if model in ("scorecard", "both"):
        report("fitting the scorecard")
        trained = train_scorecard(frame, feature_set, scorecard_options, progress=report)
    if model in ("lightgbm", "both"):
        report("fitting the challenger")
        challenger = train_challenger(frame, feature_set,
                                      binnings=trained.binnings if trained else None)
    target_rule = (None if bad_value is None else
                   f"Target: `{target}`, {bad_value!r} counted as a default (1), its other "
                   "value as repaid (0).")
    card = model_card(source, trained, challenger, cv_auc, target_rule)
    return TrainingRun(save_artefact(out, trained, challenger, card), trained, challenger,
                       cv_auc)


def cross_validated_auc(frame: pl.DataFrame, feature_set: FeatureSet, model: str,
                        folds: int, progress: Callable[[str], None],
                        scorecard_options: ScorecardOptions | None = None
                        ) -> dict[str, tuple[float, float]]:
    """Mean and standard deviation of the AUC over stratified folds (shuffled, seed 0)."""
    y = frame[feature_set.target].cast(pl.Int64).to_numpy()
    check_folds(folds, y)
    aucs: dict[str, list[float]] = {}
    splitter = StratifiedKFold(folds, shuffle=True, random_state=0)
    for i, (train, test) in enumerate(splitter.split(np.zeros(len(y)), y), start=1):
        progress(f"cross-validation fold {i}/{folds}")
        for name, score in fold_scores(frame[train], frame[test], feature_set, model,
                                       scorecard_options).items():
            aucs.setdefault(name, []).append(float(roc_auc_score(y[test], score)))
    return {name: (float(np.mean(v)), float(np.std(v))) for name, v in aucs.items()}


def check_folds(folds: int, y: npt.NDArray[np.int64]) -> None:
    """Refuse a number of folds the 0/1 target ``y`` cannot be cross-validated with: each
    test fold needs a defaulter and a repayer to measure AUC, each training fold
    ``MIN_CLASS_ROWS`` of each to train on."""
    if folds < 2:
        raise InvalidCommand(f"--cv must be 0 (no cross-validation) or at least 2, got {folds}")
    rarer = int(min(np.sum(y == 1), np.sum(y == 0)))
    if folds > rarer:
        raise InvalidCommand(f"--cv {folds}: the rarer outcome has {rarer} rows, and every "
                             "test fold needs one of each outcome; use fewer folds")
    in_training = rarer - math.ceil(rarer / folds)
    if in_training < MIN_CLASS_ROWS:
        raise InvalidCommand(f"--cv {folds}: a training fold would hold {in_training} rows of "
                             f"the rarer outcome ({rarer} in all), and a model needs at least "
                             f"{MIN_CLASS_ROWS}; use fewer folds")


def fold_scores(train: pl.DataFrame, test: pl.DataFrame, feature_set: FeatureSet,
                model: str, scorecard_options: ScorecardOptions | None = None,
                challenger_options: ChallengerOptions | None = None
                ) -> dict[str, np.ndarray]:
    """Risk scores (higher = riskier) of the test rows by models fitted on the train rows."""
    scores: dict[str, np.ndarray] = {}
    trained = None
    if model in ("scorecard", "both"):
        trained = train_scorecard(train, feature_set, scorecard_options)
        scores["scorecard"] = -trained.scorecard.score_frame(test)
    if model in ("lightgbm", "both"):
        challenger = train_challenger(train, feature_set, challenger_options,
                                      binnings=trained.binnings if trained else None)
        scores["lightgbm"] = challenger.probability_of_default(test)
    return scores


REASON_LANGUAGES = ("en", "zh", "both")


def check_reason_options(reasons: int, language: str) -> None:
    """Refuse a negative count or an unknown language before any work is done."""
    if language not in REASON_LANGUAGES:
        raise InvalidCommand(f"--language must be one of {', '.join(REASON_LANGUAGES)}, "
                             f"got {language!r}")
    if reasons < 0:
        raise InvalidCommand(f"--reasons must be 0 or more, got {reasons}")


def score_table(artefact: Artefact, frame: pl.DataFrame, reasons: int = 0,
                language: str = "en") -> pl.DataFrame:
    """The frame with the artefact's scores added, and with ``reasons`` > 0 that many
    reason codes per row in ``language`` (``en``, ``zh`` or ``both``): ``reason_1``, …
    from the scorecard (the bins that cost the most points), ``challenger_reason_1``, …
    from the challenger (the largest positive contributions); Chinese ones end ``_zh``."""
    check_reason_options(reasons, language)
    columns = []
    if artefact.scorecard is not None:
        scores = artefact.scorecard.score_frame(frame)
        columns += [pl.Series("score", scores),
                    pl.Series("pd", artefact.scorecard.probability_of_default(scores))]
        if reasons:
            found = [[(r.text_en, r.text_zh) for r in row]
                     for row in artefact.scorecard.reasons_frame(frame, reasons)]
            columns += _reason_columns("reason", found, reasons, language)
    if artefact.challenger is not None:
        columns.append(pl.Series("pd_challenger",
                                 artefact.challenger.probability_of_default(frame)))
        if reasons:
            found = [[(r.text_en, r.text_zh) for r in row]
                     for row in artefact.challenger.reasons(frame, reasons)]
            columns += _reason_columns("challenger_reason", found, reasons, language)
    columns.append(pl.Series("model_version", [artefact.model_version] * frame.height))
    return frame.with_columns(columns)


def _reason_columns(prefix: str, found: list[list[tuple[str, str]]], top: int,
                    language: str) -> list[pl.Series]:
    """Columns ``{prefix}_{i}`` (English) and/or ``{prefix}_{i}_zh`` (Chinese)."""
    wanted = [(0, "")] if language == "en" else [(1, "_zh")] if language == "zh" else [
        (0, ""), (1, "_zh")]
    return [pl.Series(f"{prefix}_{i + 1}{suffix}",
                      [r[i][which] if i < len(r) else None for r in found], dtype=pl.String)
            for i in range(top) for which, suffix in wanted]
