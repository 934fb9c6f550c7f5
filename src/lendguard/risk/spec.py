"""A feature file: the features of a table declared once, for ``lendguard train``.

A YAML file names the columns that are not features (an applicant id, a date) and
declares what the data cannot say by itself: a feature's kind, the trend its default rate
must follow, values that mean something other than their magnitude, and its description
in English and Chinese (used by reason codes and the model card). A column not declared
is still a feature, numeric or categorical by its type::

    exclude: [application_id, applied_on]
    features:
      bureau_score:
        trend: descending
        special_values: {-1: no bureau file}
        description: credit bureau score
        description_zh: 征信评分
      city_tier:
        kind: categorical          # stored as 1-4, but a category
        description: city tier
    binning: {min_bin_size: 0.05, max_bins: 8}     # optional: fixed sizes
    selection: {min_iv: 0.03, stepwise: true}      # optional: the filters' thresholds

``binning`` and ``selection`` take the fields of ``BinningOptions`` and
``SelectionOptions`` that a model reviewer sets (anything left out keeps its default;
bin sizes left out follow the data).

Everything wrong with a file is reported at once (``InvalidConfiguration``), and a column
the data does not have is named (``UnknownColumn``) before anything is trained.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from lendguard.errors import InvalidConfiguration, ManyDataProblems, UnknownColumn
from lendguard.risk.features import (
    TRENDS,
    Feature,
    FeatureSet,
    Kind,
    category_of,
    infer_feature_set,
)
from lendguard.risk.scorecard import ScorecardOptions
from lendguard.validation_errors import describe

Trend = Literal["auto", "ascending", "descending", "peak", "valley"]
assert set(Trend.__args__) == set(TRENDS)  # type: ignore[attr-defined]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class FeatureDeclaration(_Model):
    """One declared feature; ``kind`` left out is read from the column's type."""

    kind: Literal["numeric", "categorical"] | None = None
    trend: Trend = "auto"
    description: str = ""
    description_zh: str = ""
    special_values: dict[int | float | str, str] = Field(default_factory=dict)


Share = Annotated[float, Field(gt=0, lt=0.5)]


class BinningSettings(_Model):
    """The bin sizes of ``BinningOptions`` a reviewer may fix."""

    max_prebins: Annotated[int, Field(ge=2, le=200)] | None = None
    min_prebin_size: Share | None = None
    min_bin_size: Share | None = None
    max_bins: Annotated[int, Field(ge=2, le=100)] | None = None
    min_category_size: Annotated[float, Field(gt=0, le=1)] | None = None


class SelectionSettings(_Model):
    """The thresholds of ``SelectionOptions``."""

    min_iv: Annotated[float, Field(ge=0)] | None = None
    max_p_value: Annotated[float, Field(ge=0, le=1)] | None = None
    noise_p_value: Annotated[float, Field(gt=0, le=1)] | None = None
    max_missing_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    max_correlation: Annotated[float, Field(gt=0, le=1)] | None = None
    max_vif: Annotated[float, Field(ge=1)] | None = None
    stepwise: bool | None = None
    max_features: Annotated[int, Field(ge=1)] | None = None


class FeatureFile(_Model):
    """The whole file."""

    exclude: list[str] = Field(default_factory=list)
    features: dict[str, FeatureDeclaration] = Field(default_factory=dict)
    binning: BinningSettings = Field(default_factory=BinningSettings)
    selection: SelectionSettings = Field(default_factory=SelectionSettings)


@dataclass(frozen=True)
class FeatureSpec:
    """What a feature file (and ``--exclude``) says: columns left out, features declared
    (their kind possibly still to be read from the data)."""

    exclude: tuple[str, ...] = ()
    declared: Mapping[str, FeatureDeclaration] | None = None
    binning: BinningSettings = field(default_factory=BinningSettings)
    selection: SelectionSettings = field(default_factory=SelectionSettings)

    def with_excluded(self, columns: Sequence[str]) -> FeatureSpec:
        return replace(self, exclude=(*self.exclude, *columns))

    def scorecard_options(self, base: ScorecardOptions | None = None) -> ScorecardOptions:
        """``base`` (the defaults if ``None``) with this file's binning and selection."""
        base = base or ScorecardOptions()
        binning = replace(base.binning, **self.binning.model_dump(exclude_none=True))
        selection = replace(base.selection, **self.selection.model_dump(exclude_none=True))
        return replace(base, binning=binning, selection=selection)

    def feature_set(self, frame: pl.DataFrame, target: str) -> FeatureSet:
        """The features of ``frame``: every column but the target and the excluded ones,
        as declared here or else by type. Raises ``UnknownColumn`` for a named column the
        frame lacks (``ManyDataProblems`` for several) and ``InvalidConfiguration`` for
        declarations the columns contradict, every one of them."""
        declared = dict(self.declared or {})
        unknown = [UnknownColumn(name, frame.columns)
                   for name in dict.fromkeys([*self.exclude, *declared])
                   if name not in frame.columns]
        if len(unknown) > 1:
            raise ManyDataProblems(unknown)
        if unknown:
            raise unknown[0]
        problems = [f"{name}: both excluded and declared"
                    for name in sorted(set(self.exclude) & set(declared))]
        if target in self.exclude or target in declared:
            problems.append(f"{target}: is the target; it cannot be excluded or declared")
        features = []
        for name, declaration in declared.items():
            if name == target:
                continue
            kind = Kind(declaration.kind) if declaration.kind else (
                Kind.NUMERIC if frame.schema[name].is_numeric() else Kind.CATEGORICAL)
            contradictions = _contradictions(name, kind, declaration)
            if contradictions:
                problems += contradictions
                continue
            specials = {_special_key(value, kind): label
                        for value, label in declaration.special_values.items()}
            features.append(Feature(name, kind, declaration.description,
                                    declaration.description_zh, specials,
                                    declaration.trend))
        if problems:
            raise InvalidConfiguration(problems)
        kept = frame.drop([name for name in self.exclude if name != target])
        return infer_feature_set(kept, target, features)


def _contradictions(name: str, kind: Kind, declaration: FeatureDeclaration) -> list[str]:
    problems = []
    if kind is Kind.CATEGORICAL and declaration.trend != "auto":
        problems.append(f"features.{name}.trend: a categorical feature's bins are ordered "
                        f"by default rate; a trend ({declaration.trend}) applies to numeric "
                        "features only")
    if kind is Kind.NUMERIC:
        for value in declaration.special_values:
            if isinstance(value, str):
                try:
                    number = float(value)
                except ValueError:
                    number = math.nan
                if not math.isfinite(number):
                    problems.append(f"features.{name}.special_values: {value!r} is not a "
                                    "number, and the feature is numeric")
    return problems


def _special_key(value: int | float | str, kind: Kind) -> float | str:
    return float(value) if kind is Kind.NUMERIC else str(category_of(value))


def read_feature_file(path: Path | None) -> FeatureSpec:
    """The spec in ``path`` (an empty one for ``None``), or ``InvalidConfiguration``
    listing every problem with it."""
    if path is None:
        return FeatureSpec()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidConfiguration([f"{path}: cannot be read: {exc.strerror}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidConfiguration([f"{path}: not valid YAML: {exc}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise InvalidConfiguration(
            [f"{path}: must be a mapping with 'exclude' and 'features', "
             f"got {type(data).__name__}"])
    try:
        parsed = FeatureFile.model_validate(dict(data))
    except ValidationError as exc:
        raise InvalidConfiguration([describe(error) for error in exc.errors()]) from None
    duplicated = sorted(set(parsed.exclude) & set(parsed.features))
    if duplicated:
        raise InvalidConfiguration([f"{name}: both excluded and declared"
                                    for name in duplicated])
    return FeatureSpec(tuple(parsed.exclude), parsed.features, parsed.binning,
                       parsed.selection)
