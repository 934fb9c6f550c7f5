"""The scorecard: logistic regression on WOE, scaled to points, with reason codes.

Scaling is points-to-double-odds: a score of ``base_score`` means odds (repay : default) of
``base_odds`` to 1, and every ``pdo`` points more double the odds. Each bin of each
feature is worth a whole number of points, so a score is an integer sum that Python,
SQLite and PostgreSQL compute exactly alike (see ``artefact.scorecard_sql``).

Three ways to score: ``score_frame`` (vectorised numpy over millions of rows),
``score_one`` (one record as a dict, no pandas or polars on the path, a few
microseconds), and in a database through the exported SQL. Reason codes name the features
that cost the applicant most points against the best bin of each, in English and Chinese.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from lendguard.errors import NoFeatureKept, NonNumericValues
from lendguard.risk.binning import (
    BinningOptions,
    CodeArray,
    FeatureBinning,
    Values,
    feature_values,
    fit_binnings,
    with_woe_prior,
    woe_lookup,
)
from lendguard.risk.features import (
    Feature,
    FeatureSet,
    FloatArray,
    IntArray,
    Kind,
    category_of,
    require_valid,
    target_array,
)
from lendguard.risk.logistic import NewtonLogistic
from lendguard.risk.selection import (
    Selection,
    SelectionOptions,
    select_features,
    selection_rows,
)

C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0)
PRIOR_GRID = (0.0, 5.0, 10.0, 20.0)
LARGE_DATA_C = 1.0


@dataclass(frozen=True)
class Scaling:
    """Points to double the odds.

    Attributes:
      base_score: the score at odds ``base_odds`` : 1 (repay : default).
      base_odds: those odds.
      pdo: points that double the odds.
    """

    base_score: float = 600.0
    base_odds: float = 50.0
    pdo: float = 20.0

    def __post_init__(self) -> None:
        if not (self.pdo > 0 and self.base_odds > 0 and math.isfinite(self.base_score)):
            raise ValueError("scaling needs pdo > 0, base_odds > 0 and a finite base_score")

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)

    def score(self, odds: float) -> float:
        """The unrounded score of odds (repay : default)."""
        return self.offset + self.factor * math.log(odds)

    def odds(self, score: float) -> float:
        return math.exp((score - self.offset) / self.factor)

    def probability_of_default(self, score: float) -> float:
        return 1.0 / (1.0 + self.odds(score))


@dataclass(frozen=True)
class ScoredFeature:
    """One feature of the scorecard: its bins, its coefficient and each bin's points."""

    feature: Feature
    binning: FeatureBinning
    coefficient: float
    points: tuple[int, ...]

    @property
    def best_points(self) -> int:
        return max(self.points)


@dataclass(frozen=True)
class Reason:
    """Why a score is lower: a feature, the bin the applicant fell in, the points lost."""

    feature: str
    bin: str
    points_lost: int
    text_en: str
    text_zh: str


@dataclass(frozen=True)
class Scorecard:
    """A fitted scorecard. ``score`` = sum of the points of each feature's bin."""

    target: str
    features: tuple[ScoredFeature, ...]
    intercept: float
    scaling: Scaling
    _lookups: tuple[_Lookup, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_lookups", tuple(_Lookup.of(f) for f in self.features))

    @property
    def names(self) -> list[str]:
        return [f.feature.name for f in self.features]

    @property
    def feature_set(self) -> FeatureSet:
        return FeatureSet(self.target, tuple(f.feature for f in self.features))

    def score_frame(self, frame: pl.DataFrame) -> IntArray:
        """Scores of every row, vectorised."""
        require_valid(frame, self.feature_set, with_target=False)
        total = np.zeros(frame.height, dtype=np.int64)
        for scored in self.features:
            codes = scored.binning.bin_codes(feature_values(frame, scored.feature))
            total += np.take(np.asarray(scored.points, dtype=np.int64), codes)
        return total

    def score_one(self, record: Mapping[str, object]) -> int:
        """The score of one record (a dict of feature values; absent means missing)."""
        return sum(lookup.points[lookup.bin_of(record.get(lookup.name))]
                   for lookup in self._lookups)

    def probability_of_default(self, scores: IntArray) -> FloatArray:
        """PD implied by (integer) scores through the scaling."""
        log_odds = (scores.astype(np.float64) - self.scaling.offset) / self.scaling.factor
        return 1.0 / (1.0 + np.exp(log_odds))

    def reasons(self, record: Mapping[str, object], top: int = 4) -> list[Reason]:
        """The features that cost the record most points against their best bin."""
        found = []
        for lookup, scored in zip(self._lookups, self.features, strict=True):
            index = lookup.bin_of(record.get(lookup.name))
            lost = scored.best_points - scored.points[index]
            if lost > 0:
                found.append(_reason(scored, index, lost))
        found.sort(key=lambda r: (-r.points_lost, r.feature))
        return found[:top]

    def reasons_frame(self, frame: pl.DataFrame, top: int = 4) -> list[list[Reason]]:
        """``reasons`` of every row of ``frame``, the same lists, vectorised: each feature's
        points lost is a look-up of the rows' bin codes, the ranking one sort of the
        rows × features matrix, and a bin's reason is built once, not once a row."""
        require_valid(frame, self.feature_set, with_target=False)
        if not self.features or top <= 0:
            return [[] for _ in range(frame.height)]
        # columns in feature-name order, so that a stable sort breaks ties in points lost
        # by name, as ``reasons`` does
        columns = sorted(self.features, key=lambda scored: scored.feature.name)
        lost = np.empty((frame.height, len(columns)), dtype=np.int64)
        codes: list[list[int]] = []
        table: list[list[Reason | None]] = []
        for column, scored in enumerate(columns):
            per_bin = scored.best_points - np.asarray(scored.points, dtype=np.int64)
            feature_codes = scored.binning.bin_codes(feature_values(frame, scored.feature))
            lost[:, column] = np.take(per_bin, feature_codes)
            codes.append(feature_codes.tolist())
            table.append([_reason(scored, b, int(n)) if n > 0 else None
                          for b, n in enumerate(per_bin.tolist())])
        order = np.argsort(-lost, axis=1, kind="stable")[:, :top]
        amounts = np.take_along_axis(lost, order, axis=1)
        out = []
        for row, (chosen, points) in enumerate(zip(order.tolist(), amounts.tolist(),
                                                   strict=True)):
            found = []
            for column, n in zip(chosen, points, strict=True):
                if n <= 0:          # sorted by points lost: the rest cost nothing
                    break
                reason = table[column][codes[column][row]]
                if reason is not None:
                    found.append(reason)
            out.append(found)
        return out

    def points_table(self) -> pl.DataFrame:
        rows = [{"feature": f.feature.name, "bin": b.label, "count": b.count,
                 "event_rate": b.event_rate, "woe": b.woe, "points": p}
                for f in self.features for b, p in zip(f.binning.bins, f.points, strict=True)]
        return pl.DataFrame(rows)


def _reason(scored: ScoredFeature, index: int, lost: int) -> Reason:
    label = scored.binning.bins[index].label
    feature = scored.feature
    return Reason(feature.name, label, lost,
                  f"{feature.label} ({label}) cost {lost} points",
                  f"{feature.label_zh}（{label}）扣减 {lost} 分")


@dataclass(frozen=True)
class _Lookup:
    """One feature's bins as plain Python lists, for scoring a record without arrays."""

    name: str
    numeric: bool
    splits: list[float]
    specials: dict[object, int]
    categories: dict[str, int]
    missing: int
    points: list[int]
    unseen: int   # the bin of a category not seen in training

    @staticmethod
    def of(scored: ScoredFeature) -> _Lookup:
        binning = scored.binning
        numeric = binning.kind is Kind.NUMERIC
        # a categorical feature's specials are among its categories (``category_bins``)
        specials: dict[object, int] = ({float(v): binning.n_regular + i
                                        for i, (v, _) in enumerate(binning.specials)}
                                       if numeric else {})
        return _Lookup(scored.feature.name, numeric, list(binning.splits), specials,
                       {} if numeric else binning.category_bins(), binning.missing_index,
                       list(scored.points), binning.unseen_index)

    def bin_of(self, value: object) -> int:
        if value is None or value == "":
            return self.missing
        if not self.numeric:
            if type(value) is str:   # the usual case, without category_of's checks
                return self.categories.get(value, self.unseen)
            category = category_of(value)
            return self.missing if category is None else self.categories.get(category,
                                                                              self.unseen)
        try:
            number = float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise NonNumericValues(self.name, [value]) from None
        if number != number:
            return self.missing
        special = self.specials.get(number)
        return special if special is not None else bisect_right(self.splits, number)


# ---------------------------------------------------------------------------- training

@dataclass(frozen=True)
class ScorecardOptions:
    """How a scorecard is trained.

    Attributes:
      binning, selection, scaling: see their types.
      C: inverse L2 strength of the logistic regression.
      woe_prior: pseudo-rows at the overall default rate added to every bin's WOE
        (shrinks the WOE of small bins).
      tuning_rows: ``C`` or ``woe_prior`` left as ``None`` are chosen from ``C_GRID`` and
        ``PRIOR_GRID`` by 4-fold cross-validated AUC on the training rows, so the choice
        never sees the data the model is judged on; with more rows than this they are
        simply ``LARGE_DATA_C`` and 0.
      tuning_repeats: how many differently shuffled 4-fold splits that choice averages.
      points_follow_woe: every feature's points rise with its WOE (a safer bin is worth
        more points). The logistic regression is fitted with that as a constraint, every
        coefficient on WOE at most 0 (the most likely model of which no feature runs
        against its WOE); a feature the bound holds at 0, whose data would have it run
        backwards (a sign of collinearity), adds nothing and is dropped. Off, the fit is
        unconstrained and such features stay (as in optbinning's ``Scorecard``): the fit
        may gain a little, but their points then run against their own bins' default
        rates and their reason codes read backwards.
    """

    binning: BinningOptions = field(default_factory=BinningOptions)
    selection: SelectionOptions = field(default_factory=SelectionOptions)
    scaling: Scaling = field(default_factory=Scaling)
    C: float | None = None
    woe_prior: float | None = None
    tuning_rows: int = 50_000
    tuning_repeats: int = 1
    points_follow_woe: bool = True


@dataclass(frozen=True)
class TrainedScorecard:
    """A scorecard and how it came to be (for the model card)."""

    scorecard: Scorecard
    binnings: dict[str, FeatureBinning]
    selection: Selection
    C: float
    woe_prior: float
    rows: int
    default_rate: float
    tuned: bool = False
    binning: BinningOptions = field(default_factory=BinningOptions)
    selection_options: SelectionOptions = field(default_factory=SelectionOptions)


def train_scorecard(frame: pl.DataFrame, feature_set: FeatureSet,
                    options: ScorecardOptions | None = None,
                    progress: Callable[[str], None] | None = None) -> TrainedScorecard:
    """Bin, select, tune, fit and scale. Refuses data a model cannot be trained on.

    Each column is read once; after binning, a row is its bins' small integer codes and
    every WOE matrix is a look-up of them. The filters and the sign rule's constrained
    fit judge on at most ``CORRELATION_ROWS`` rows (a stratified sample, see
    ``selection_rows``); the final model is fitted on every row, starting from the
    sample's, under the same constraint, and drops what it holds at 0 too.
    """
    options = options or ScorecardOptions()
    require_valid(frame, feature_set)
    y = target_array(frame, feature_set.target)
    values = {f.name: feature_values(frame, f) for f in feature_set.features}
    binnings = fit_binnings(frame, feature_set, y, options.binning, progress, values)
    sample = selection_rows(y)
    sample_codes = _codes(binnings, values, feature_set.names, sample)
    selection, sample_model = _select(sample_codes, y if sample is None else y[sample],
                                      binnings, feature_set.names, options)
    if not selection.kept:
        raise NoFeatureKept(feature_set.target, selection.dropped)
    C, prior, tuned = _regularisation(frame, y, feature_set.only(selection.kept), options)
    final = {n: with_woe_prior(binnings[n], prior) for n in feature_set.names}
    kept = list(selection.kept)
    codes = sample_codes if sample is None else _codes(binnings, values, kept, None)
    model = _fit_signed(_columns_of(woe_lookup(codes, final, kept, len(y)), kept), y,
                        selection, C, options.points_follow_woe, sample_model)
    if not selection.kept:
        raise NoFeatureKept(feature_set.target, selection.dropped)
    scorecard = scale(feature_set, final, selection.kept, model.coef_[0],
                      float(model.intercept_[0]), options.scaling)
    return TrainedScorecard(scorecard, final, selection, C, prior, frame.height,
                            float(y.mean()), tuned, options.binning, options.selection)


def _codes(binnings: Mapping[str, FeatureBinning], values: Mapping[str, Values],
           names: Sequence[str], rows: IntArray | None) -> dict[str, CodeArray]:
    """The bin codes of ``names`` on ``rows`` (every row when ``None``)."""
    def on_rows(column: Values) -> Values:
        if rows is None:
            return column
        return column.gather(rows) if isinstance(column, pl.Series) else column[rows]

    return {name: binnings[name].bin_codes(on_rows(values[name])) for name in names}


def _select(codes: Mapping[str, CodeArray], y: IntArray,
            binnings: Mapping[str, FeatureBinning], names: Sequence[str],
            options: ScorecardOptions) -> tuple[Selection, NewtonLogistic]:
    """The filters, then the sign rule's constrained fit, on the rows of ``codes``; the
    model of the features kept (with ``C`` as configured, else ``LARGE_DATA_C``)."""
    woe = woe_lookup(codes, binnings, names, len(y))
    selection = select_features(woe, y, names, binnings, options.selection,
                                sign_rule=options.points_follow_woe)
    model = _fit_signed(_columns_of(woe, names), y, selection,
                        options.C or LARGE_DATA_C, options.points_follow_woe)
    return selection, model


def _columns_of(matrix: FloatArray, names: Sequence[str]) -> Callable[[Sequence[str]],
                                                                       FloatArray]:
    """The columns of ``matrix`` (named ``names``) for a list of names; the matrix itself
    while all are wanted in its order."""
    index = {name: i for i, name in enumerate(names)}

    def columns(wanted: Sequence[str]) -> FloatArray:
        if list(wanted) == list(names):
            return matrix
        return np.asfortranarray(matrix[:, [index[n] for n in wanted]])

    return columns


def _regularisation(frame: pl.DataFrame, y: IntArray, kept: FeatureSet,
                    options: ScorecardOptions) -> tuple[float, float, bool]:
    """(C, WOE prior, whether they were tuned): as configured, else tuned by cross-
    validation on data up to ``tuning_rows``; on more, shrinkage and L2 hardly move a
    coefficient, so they are simply ``LARGE_DATA_C`` and 0."""
    C, prior = options.C, options.woe_prior
    if C is not None and prior is not None:
        return C, prior, False
    if len(y) > options.tuning_rows:
        return C or LARGE_DATA_C, prior or 0.0, False
    C, prior = tune(frame.select(kept.names), y, kept, options)
    return C, prior, True


def logistic(C: float, signed: bool = False) -> NewtonLogistic:
    """L2 logistic regression by Newton steps: a scorecard has many rows and few columns,
    where a handful of Newton steps beat hundreds of gradient steps (on millions of rows
    each step's Hessian comes from a sample of them: see ``lendguard.risk.logistic``).
    ``signed``: every coefficient on WOE at most 0, so no feature's points fall as its
    WOE rises (the sign rule)."""
    return NewtonLogistic(C=C, upper_bound=0.0 if signed else math.inf)


def _fit_signed(columns: Callable[[Sequence[str]], FloatArray], y: IntArray,
                selection: Selection, C: float, signed: bool = True,
                start: NewtonLogistic | None = None) -> NewtonLogistic:
    """The model of the selected features, starting from ``start`` (a model of the same
    features on a sample of the rows) when given.

    ``signed``: the maximum-likelihood model with every coefficient on WOE at most 0.
    A feature the bound holds at 0 is one whose points the data would have run against
    its WOE (typically a collinear "suppressor"); it contributes nothing to any score, so
    it is dropped and the model returned without its column: the same optimum, since the
    other coefficients' optimality conditions do not involve it. Its likelihood is the
    highest any model of these features under the rule reaches; dropping the most
    positive feature and refitting until none is left, as this did before, can lose a
    feature the constrained optimum keeps (``tests/risk/test_logistic.py`` has one).
    """
    coef_init = None if start is None else start.coef_[0]
    intercept_init = None if start is None else float(start.intercept_[0])
    model = logistic(C, signed).fit(columns(selection.kept), y, coef_init, intercept_init)
    if not signed:
        return model
    held = model.at_bound()
    for name in [n for n, at_zero in zip(selection.kept, held, strict=True) if at_zero]:
        selection.drop(name, "held at 0 by the sign rule: the fit would make its points "
                       "run against its WOE (collinearity)")
    model.coef_ = model.coef_[:, ~held]
    return model


def tune(frame: pl.DataFrame, y: IntArray, feature_set: FeatureSet,
         options: ScorecardOptions) -> tuple[float, float]:
    """(C, WOE prior) with the best 4-fold CV AUC on the training rows.

    Every inner fold bins its own training part, so no WOE is ever learnt from the rows
    it is judged on; the priors only rescale WOE from the bins' counts. The features
    come from the sign rule's fit on all the training rows; the inner folds' fits are
    not constrained again (constrained, they chose C = 3 instead of 0.3 on one German
    credit fold and the 5-fold AUC went from 0.7953 to 0.7949; with three tuning
    repeats both ways give 0.7945: a choice within the noise, left as it was).
    """
    Cs = C_GRID if options.C is None else (options.C,)
    priors = PRIOR_GRID if options.woe_prior is None else (options.woe_prior,)
    results: dict[tuple[float, float], list[float]] = {}
    for train, test in _inner_folds(y, options.tuning_repeats):
        binnings = fit_binnings(frame[train], feature_set, y[train], options.binning)
        for prior in priors:
            train_x, test_x = (_woe(frame[rows], feature_set, binnings, prior)
                               for rows in (train, test))
            for c in Cs:
                model = logistic(c).fit(train_x, y[train])
                auc = roc_auc_score(y[test], model.decision_function(test_x))
                results.setdefault((c, prior), []).append(float(auc))
    return max(results, key=lambda key: (float(np.mean(results[key])), -key[1], key[0]))


def _inner_folds(y: IntArray, repeats: int) -> list[tuple[IntArray, IntArray]]:
    """4-fold splits, repeated with other shuffles: one split alone is too noisy to choose
    by on a thousand rows."""
    return [(train, test) for seed in range(repeats)
            for train, test in StratifiedKFold(4, shuffle=True, random_state=seed)
            .split(np.zeros(len(y)), y)]


def _woe(frame: pl.DataFrame, feature_set: FeatureSet,
         binnings: Mapping[str, FeatureBinning], prior: float) -> FloatArray:
    return np.column_stack([with_woe_prior(binnings[f.name], prior)
                            .transform(feature_values(frame, f))
                            for f in feature_set.features])


def scale(feature_set: FeatureSet, binnings: Mapping[str, FeatureBinning],
          names: Sequence[str], coefficients: FloatArray, intercept: float,
          scaling: Scaling) -> Scorecard:
    """Turn the logistic model into whole points per bin.

    ln(odds of repaying) = -(intercept + sum coef * woe); the score is offset + factor times
    that, shared out as offset/n - factor * (coef * woe + intercept/n) to each of n features.
    """
    n = len(names)
    scored = []
    for name, coef in zip(names, coefficients, strict=True):
        binning = binnings[name]
        raw = scaling.offset / n - scaling.factor * (coef * binning.woe + intercept / n)
        points = tuple(int(p) for p in np.rint(raw))
        scored.append(ScoredFeature(feature_set.get(name), binning, float(coef), points))
    return Scorecard(feature_set.target, tuple(scored), intercept, scaling)
