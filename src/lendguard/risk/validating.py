"""Model validation end to end: what ``lendguard validate`` calls.

Loads a saved artefact (and optionally a challenger's), scores a labelled table (and
optionally a later one) with it, and hands the scores to ``report.write_report``, which
measures and writes ``validation.html`` and ``validation.json``. The champion is the
artefact's scorecard (points, higher = safer, with its PD for calibration) or, in a
LightGBM-only artefact, its challenger's PD (higher = riskier). The challenger is the
``--challenger`` artefact's LightGBM model (or its scorecard), else the champion
artefact's own LightGBM model when it has both. No statistics live here and the CLI
only parses arguments and prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from lendguard.errors import UnknownColumn
from lendguard.risk.artefact import Artefact, load_artefact
from lendguard.risk.binning import feature_values
from lendguard.risk.features import FeatureSet, binary_target
from lendguard.risk.report import ScoredSample, ValidationReport, write_report
from lendguard.risk.training import read_table


@dataclass(frozen=True)
class _Scorer:
    """One model's way to score a frame, and its convention."""

    name: str
    higher_is_riskier: bool
    artefact: Artefact
    use_scorecard: bool

    @property
    def feature_set(self) -> FeatureSet:
        if self.use_scorecard and self.artefact.scorecard is not None:
            return self.artefact.scorecard.feature_set
        if self.artefact.challenger is not None:
            return self.artefact.challenger.feature_set
        raise ValueError("an artefact without models")  # load_artefact refuses those

    def scores(self, frame: pl.DataFrame) -> npt.NDArray[np.float64]:
        if self.use_scorecard and self.artefact.scorecard is not None:
            return self.artefact.scorecard.score_frame(frame).astype(np.float64)
        if self.artefact.challenger is not None:
            return self.artefact.challenger.probability_of_default(frame)
        raise ValueError("an artefact without models")

    def pd(self, scores: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Probability of default behind ``scores`` (a PD already, for LightGBM)."""
        if self.use_scorecard and self.artefact.scorecard is not None:
            return self.artefact.scorecard.probability_of_default(scores.astype(np.int64))
        return scores


def champion_of(artefact: Artefact) -> _Scorer:
    if artefact.scorecard is not None:
        return _Scorer(f"scorecard {artefact.model_version}", False, artefact, True)
    return _Scorer(f"LightGBM {artefact.model_version}", True, artefact, False)


def challenger_of(champion: Artefact, other: Artefact | None) -> _Scorer | None:
    if other is not None:
        if other.challenger is not None:
            return _Scorer(f"LightGBM {other.model_version}", True, other, False)
        return _Scorer(f"scorecard {other.model_version}", False, other, True)
    if champion.scorecard is not None and champion.challenger is not None:
        return _Scorer(f"LightGBM {champion.model_version}", True, champion, False)
    return None


def _sample(name: str, frame: pl.DataFrame, target: str, champion: _Scorer,
            challenger: _Scorer | None, with_features: bool,
            bad_value: str | None = None) -> ScoredSample:
    if target not in frame.columns:
        raise UnknownColumn(target, frame.columns)
    if bad_value is not None:
        frame = binary_target(frame, target, bad_value)
    scores = champion.scores(frame)
    features: Mapping[str, npt.ArrayLike] | None = None
    if with_features:
        features = {f.name: feature_values(frame, f) for f in champion.feature_set.features}
    return ScoredSample(
        name=name, y=frame[target].cast(pl.Float64).to_numpy(), score=scores,
        pd=champion.pd(scores), features=features,
        challenger_score=None if challenger is None else challenger.scores(frame))


def validate_model(model: Path, data: Path, target: str, out: Path,
                   later: Path | None = None, challenger: Path | None = None,
                   n_bootstrap: int = 1_000, bad_value: str | None = None) -> ValidationReport:
    """Score ``data`` (and ``later``) with the artefact in ``model`` and write the report.
    ``target`` holds 0/1, or ``bad_value`` and one other value (``binary_target``).

    Artefacts are checked on load (hash, schema); bad data is refused naming its column;
    every problem ``write_report`` finds is raised at once before anything is written.
    """
    artefact = load_artefact(model)
    other = load_artefact(challenger) if challenger is not None else None
    champion = champion_of(artefact)
    rival = challenger_of(artefact, other)
    development = _sample("development", read_table(data), target, champion, rival,
                          later is not None, bad_value)
    later_sample = None if later is None else _sample(
        "later", read_table(later), target, champion, rival, True, bad_value)
    return write_report(out, development, later_sample, model_name=champion.name,
                        higher_is_riskier=champion.higher_is_riskier,
                        challenger_name=rival.name if rival else "challenger",
                        challenger_higher_is_riskier=rival.higher_is_riskier if rival
                        else False, n_bootstrap=n_bootstrap)
