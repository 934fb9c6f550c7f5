"""Model features, declared once: name, kind, descriptions and special values.

A ``FeatureSet`` names the target and the features a model uses; everything downstream
(binning, selection, the scorecard, the challenger, the exported SQL) takes its columns
from here. This module also turns a polars frame into the plain numpy arrays the models
work on, and refuses data a model cannot be trained on, naming every bad column at once.
No model code lives here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt
import polars as pl

from lendguard.errors import (
    ConstantTarget,
    InvalidTarget,
    InvalidTrainingData,
    ManyDataProblems,
    MissingTargetValues,
    NonNumericValues,
    TooFewRows,
    UnknownColumn,
    UnsupportedColumnType,
)

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
ObjectArray = npt.NDArray[np.object_]

# Fewest defaulters (and repayers) a model is trained on: the 4-fold tuning and
# calibration need a few of each in every fold.
MIN_CLASS_ROWS = 8

# The trends a numeric feature's default rate may follow across its bins.
TRENDS = ("auto", "ascending", "descending", "peak", "valley")


class Kind(StrEnum):
    NUMERIC = "numeric"
    CATEGORICAL = "categorical"


@dataclass(frozen=True)
class Feature:
    """One model input.

    Attributes:
      name: the column name in the data.
      kind: numeric (binned by cut points) or categorical (binned by groups of values).
      description: plain English, used in reason codes and the model card.
      description_zh: the same in Chinese.
      special_values: values that mean something other than their magnitude, each with a
        label, e.g. ``{-1: "no bureau file"}``; each gets a bin of its own.
      trend: how the default rate may move as a numeric feature grows: ``auto``,
        ``ascending``, ``descending``, ``peak`` or ``valley``.
    """

    name: str
    kind: Kind
    description: str = ""
    description_zh: str = ""
    special_values: Mapping[float | str, str] = field(default_factory=dict)
    trend: str = "auto"

    def __post_init__(self) -> None:
        if self.trend not in TRENDS:
            raise ValueError(f"feature {self.name!r}: trend must be one of {TRENDS}, "
                             f"got {self.trend!r}")

    @property
    def label(self) -> str:
        return self.description or self.name

    @property
    def label_zh(self) -> str:
        return self.description_zh or self.description or self.name


@dataclass(frozen=True)
class FeatureSet:
    """The target column (1 = default, 0 = repaid) and the features of one model."""

    target: str
    features: tuple[Feature, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def get(self, name: str) -> Feature:
        for feature in self.features:
            if feature.name == name:
                return feature
        raise UnknownColumn(name, self.names)

    def only(self, names: Iterable[str]) -> FeatureSet:
        wanted = set(names)
        return FeatureSet(self.target, tuple(f for f in self.features if f.name in wanted))


def infer_feature_set(frame: pl.DataFrame, target: str,
                      declared: Sequence[Feature] = ()) -> FeatureSet:
    """Every column but the target as a feature: declared ones as declared, the others
    numeric when their dtype is numeric and categorical otherwise."""
    if target not in frame.columns:
        raise UnknownColumn(target, frame.columns)
    known = {f.name: f for f in declared}
    features = []
    for name, dtype in frame.schema.items():
        if name == target:
            continue
        if name in known:
            features.append(known[name])
        else:
            kind = Kind.NUMERIC if dtype.is_numeric() else Kind.CATEGORICAL
            features.append(Feature(name, kind))
    return FeatureSet(target, tuple(features))


def data_problems(frame: pl.DataFrame, feature_set: FeatureSet,
                  with_target: bool = True) -> list[InvalidTrainingData]:
    """Every reason ``frame`` cannot be used with ``feature_set``, one per column."""
    problems: list[InvalidTrainingData] = []
    for feature in feature_set.features:
        if feature.name not in frame.columns:
            problems.append(UnknownColumn(feature.name, frame.columns))
        elif frame[feature.name].dtype.is_nested() or frame[feature.name].dtype in (
                pl.Binary, pl.Object):
            problems.append(UnsupportedColumnType(feature.name, str(frame[feature.name].dtype)))
        elif feature.kind is Kind.NUMERIC:
            problem = _non_numeric(frame[feature.name])
            if problem is not None:
                problems.append(problem)
    if with_target:
        problems.extend(_target_problems(frame, feature_set.target))
    return problems


def require_valid(frame: pl.DataFrame, feature_set: FeatureSet, with_target: bool = True) -> None:
    """Raise the one problem found, or ``ManyDataProblems`` naming all of them."""
    problems = data_problems(frame, feature_set, with_target)
    if len(problems) == 1:
        raise problems[0]
    if problems:
        raise ManyDataProblems(problems)


def _non_numeric(column: pl.Series) -> NonNumericValues | None:
    if column.dtype.is_numeric() or column.dtype == pl.Null:
        return None
    if column.dtype == pl.Boolean:
        return None
    as_text = column.cast(pl.String)
    parsed = as_text.str.strip_chars().cast(pl.Float64, strict=False)
    bad = as_text.filter(parsed.is_null() & as_text.is_not_null()
                         & (as_text.str.strip_chars() != ""))
    if bad.len() == 0:
        return None
    return NonNumericValues(column.name, bad.unique(maintain_order=True).head(3).to_list())


def _target_problems(frame: pl.DataFrame, target: str) -> list[InvalidTrainingData]:
    if target not in frame.columns:
        return [UnknownColumn(target, frame.columns)]
    column = frame[target]
    missing = column.null_count()
    if column.dtype.is_float():
        missing += int(column.is_nan().sum())
    if missing:
        return [MissingTargetValues(target, missing)]
    values = column.unique().sort().to_list()
    if any(v not in (0, 1) for v in values):
        return [InvalidTarget(target, [v for v in values if v not in (0, 1)])]
    if len(values) < 2:
        return [ConstantTarget(target, values[0] if values else None)]
    counts = {int(v): int(n) for v, n in column.value_counts().iter_rows()}
    if min(counts.values()) < MIN_CLASS_ROWS:
        return [TooFewRows(target, counts, MIN_CLASS_ROWS)]
    return []


def binary_target(frame: pl.DataFrame, target: str, bad_value: str) -> pl.DataFrame:
    """``frame`` with ``target`` recoded to 0/1: 1 where it holds ``bad_value`` (e.g.
    ``bad``, ``2``, ``yes``), 0 where it holds the one other value it may hold. A numeric
    column is compared as a number (``2`` matches 2 and 2.0), any other as trimmed text.
    Missing targets stay missing, for ``require_valid`` to refuse by name; a column with
    a third value, or in which ``bad_value`` never occurs, is refused here."""
    if target not in frame.columns:
        raise UnknownColumn(target, frame.columns)
    column = frame[target]
    missing = column.is_null()
    if column.dtype.is_float():
        missing = missing | column.is_nan().fill_null(False)
    text = column.cast(pl.String).str.strip_chars()
    if column.dtype.is_numeric():
        try:
            wanted = float(bad_value)
        except ValueError:
            raise InvalidTarget(target, [], f"--bad-value {bad_value!r} is not a number, "
                                f"and target column {target!r} is numeric") from None
        is_bad = column.cast(pl.Float64) == wanted
    else:
        is_bad = text == bad_value.strip()
    values = sorted(set(text.filter(~missing).to_list()))
    if not bool(is_bad.fill_null(False).any()):
        raise InvalidTarget(target, values, f"--bad-value {bad_value!r} does not occur in "
                            f"target column {target!r}, which holds {values[:5]!r}")
    if len(values) > 2:
        raise InvalidTarget(target, values, f"target column {target!r} holds "
                            f"{len(values)} values {values[:5]!r}; with --bad-value it must "
                            "hold two: the one that means default and one that does not")
    return frame.with_columns(pl.when(missing).then(None)
                              .otherwise(is_bad.cast(pl.Int64)).alias(target))


def target_array(frame: pl.DataFrame, target: str) -> IntArray:
    """The target as 0/1 integers; the frame must have passed ``require_valid``."""
    return frame[target].cast(pl.Int64).to_numpy().astype(np.int64)


def numeric_array(column: pl.Series) -> FloatArray:
    """A numeric feature as float64 with NaN for missing (blank text counts as missing)."""
    if not column.dtype.is_numeric() and column.dtype != pl.Boolean:
        column = column.cast(pl.String).str.strip_chars().cast(pl.Float64, strict=False)
    return column.cast(pl.Float64).fill_null(np.nan).to_numpy().astype(np.float64)


def categorical_array(column: pl.Series) -> ObjectArray:
    """A categorical feature as text values with ``None`` for missing."""
    return np.asarray(category_text(column).to_list(), dtype=object)


def category_text(column: pl.Series) -> pl.Series:
    """A categorical feature's values as the text its categories are known by, whatever
    type the file gave the column: a whole number is written without a decimal point
    (a tier of 2 is ``"2"`` from an integer column and from a float one, as pandas makes
    an integer column with gaps), NaN and the empty text are missing (as a CSV's empty
    field is), booleans are ``true``/``false``."""
    if not column.dtype.is_float():
        return column.cast(pl.String).replace("", None)
    whole = column.is_finite().fill_null(False) & (column == column.floor()).fill_null(False)
    as_int = column.cast(pl.Int64, strict=False).cast(pl.String)
    text = (pl.select(pl.when(whole & as_int.is_not_null()).then(as_int)
                      .when(column.is_nan().fill_null(False)).then(None)
                      .otherwise(column.cast(pl.String)))
            .to_series())
    return text.alias(column.name)


def map_categories(text: pl.Series, mapping: Mapping[str, float], *, unseen: float | None,
                   missing: float | None,
                   dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    """``category_text`` values looked up in ``mapping``: a category not in it gives
    ``unseen``, a missing value ``missing`` (``None`` for either: null)."""
    mapped = text.replace_strict(dict(mapping), default=unseen, return_dtype=dtype)
    if unseen == missing:
        return mapped
    return pl.select(pl.when(text.is_null()).then(pl.lit(missing, dtype=dtype))
                     .otherwise(mapped)).to_series()


def category_of(value: object) -> str | None:
    """One value as ``category_text`` writes it (``None`` for missing): for scoring one
    record without a frame."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        if number != number:
            return None
        if math.isfinite(number) and number == math.floor(number) and abs(number) < 2**63:
            return str(int(number))
        return str(category_text(pl.Series([number]))[0])
    text = str(value)
    return text or None
