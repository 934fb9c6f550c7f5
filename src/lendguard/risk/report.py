"""The validation report a model-risk reviewer signs off from: ``validation.html`` and
``validation.json`` written side by side.

``write_report`` measures a development sample (and optionally a later one) with
``lendguard.risk.validation``, judges the results against ``ReportThresholds`` as pass /
watch / fail, and writes:

- ``validation.json``: every number, in plain JSON (NaN as ``null``);
- ``validation.html``: one self-contained page (no external files, plots embedded as
  base64 PNG) rendered from that same JSON, so the page and the file never disagree.
  Each section opens with a short "how to read this".

Plots use matplotlib's Agg canvas on ``Figure`` objects, never pyplot's global state.
Nothing here knows the model classes, and nothing happens at import time.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Final, Literal, TypeVar

import jinja2
import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from lendguard.errors import InvalidValidationInput
from lendguard.risk.validation import (
    PSI_SHIFTED,
    PSI_STABLE,
    AucComparison,
    Calibration,
    Discrimination,
    Floats,
    GainsTable,
    KsCurve,
    RocCurve,
    ScoreDistribution,
    Stability,
    SwapSet,
    calibration,
    compare_auc,
    csi,
    discrimination,
    gains_table,
    ks_curve,
    psi,
    roc_curve,
    score_distribution,
    swap_set,
)

Status = Literal["pass", "watch", "fail"]
_T = TypeVar("_T")
JsonValue = None | bool | int | float | str | list["JsonValue"] | dict[str, "JsonValue"]

HTML_NAME: Final = "validation.html"
JSON_NAME: Final = "validation.json"
REPORT_VERSION: Final = 1
_HISTOGRAM_BINS: Final = 20
_PLOT_POINTS: Final = 2_000
_STATUS_ORDER: Final[dict[Status, int]] = {"pass": 0, "watch": 1, "fail": 2}


@dataclass(frozen=True)
class ScoredSample:
    """One labelled sample scored by the model under review.

    Attributes:
      name: how the report calls it, e.g. ``development`` or ``2026-Q1``.
      y: outcomes, 1 = bad.
      score: the model's score (see ``write_report``'s ``higher_is_riskier``).
      pd: the model's probability of default, for calibration; ``None`` skips it.
      features: feature columns by name, for CSI (needed in both samples).
      challenger_score: a challenger's score on the same rows, for the swap set.
    """

    name: str
    y: npt.ArrayLike
    score: npt.ArrayLike
    pd: npt.ArrayLike | None = None
    features: Mapping[str, npt.ArrayLike] | None = None
    challenger_score: npt.ArrayLike | None = None


@dataclass(frozen=True)
class ReportThresholds:
    """Where pass ends and watch begins, and watch ends and fail begins.

    Attributes:
      ks_pass, ks_watch: KS at or above ``ks_pass`` passes, at or above ``ks_watch``
        is watched, below fails.
      auc_pass, auc_watch: the same for AUC.
      hl_p_value_pass, hl_p_value_watch: the same for the Hosmer–Lemeshow p-value.
      psi_stable, psi_shifted: PSI (and CSI) below ``psi_stable`` passes, up to
        ``psi_shifted`` is watched, above fails.
    """

    ks_pass: float = 0.20
    ks_watch: float = 0.15
    auc_pass: float = 0.70
    auc_watch: float = 0.65
    hl_p_value_pass: float = 0.05
    hl_p_value_watch: float = 0.01
    psi_stable: float = PSI_STABLE
    psi_shifted: float = PSI_SHIFTED

    def problems(self) -> list[str]:
        """Every threshold pair that is out of order or out of range."""
        found = [f"thresholds.{f.name}: must be a number ≥ 0, got {getattr(self, f.name)!r}"
                 for f in fields(self)
                 if not isinstance(getattr(self, f.name), int | float)
                 or not getattr(self, f.name) >= 0]
        if found:
            return found
        pairs = (("ks_watch", "ks_pass"), ("auc_watch", "auc_pass"),
                 ("hl_p_value_watch", "hl_p_value_pass"), ("psi_stable", "psi_shifted"))
        return [f"thresholds.{low}: must not exceed {high}"
                for low, high in pairs if getattr(self, low) > getattr(self, high)]


@dataclass(frozen=True)
class Check:
    """One line of the summary.

    Attributes:
      name: what is checked, e.g. ``KS (development)``.
      status: ``pass``, ``watch`` or ``fail``.
      value: the number judged.
      rule: the thresholds it was judged against.
      detail: the number in context (its interval, the feature that moved most, ...).
    """

    name: str
    status: Status
    value: float
    rule: str
    detail: str


@dataclass(frozen=True)
class ValidationReport:
    """What ``write_report`` wrote.

    Attributes:
      html_path, json_path: the two files.
      overall: the worst status of the checks.
      checks: the summary, in the order the report shows it.
      data: the content of ``validation.json``.
    """

    html_path: Path
    json_path: Path
    overall: Status
    checks: tuple[Check, ...]
    data: dict[str, JsonValue] = field(repr=False)


@dataclass(frozen=True)
class _Measured:
    """Everything measured on one sample."""

    sample: ScoredSample
    discrimination: Discrimination
    roc: RocCurve
    ks: KsCurve
    gains: GainsTable
    calibration: Calibration | None
    challenger: Discrimination | None
    challenger_roc: RocCurve | None
    swap: SwapSet | None
    auc_test: AucComparison | None


def write_report(out_dir: Path | str, development: ScoredSample,
                 later: ScoredSample | None = None, *, model_name: str,
                 higher_is_riskier: bool = False, challenger_name: str = "challenger",
                 challenger_higher_is_riskier: bool = False, swap_cutoff_rate: float = 0.7,
                 thresholds: ReportThresholds | None = None, n_bootstrap: int = 1_000,
                 seed: int = 0, groups: int = 10, psi_bins: int = 10) -> ValidationReport:
    """Measure ``development`` (and ``later``), judge, and write both files into
    ``out_dir`` (created if needed).

    ``higher_is_riskier`` is the convention of ``score`` in both samples (default: higher
    = safer, as scorecard points); ``challenger_higher_is_riskier`` that of
    ``challenger_score``. The swap set approves the safest ``swap_cutoff_rate`` share by
    each score. Every problem with the inputs, in either sample, is raised at once as
    ``InvalidValidationInput``, each prefixed with the sample's name, before anything
    is written.
    """
    settings = _Settings(model_name, challenger_name, higher_is_riskier,
                         challenger_higher_is_riskier, swap_cutoff_rate, n_bootstrap, seed,
                         groups, psi_bins,
                         thresholds if thresholds is not None else ReportThresholds())
    measured, score_psi, feature_csi = _measure_all(development, later, settings)
    distributions = _distributions([m.sample for m in measured])
    checks = _checks(measured, score_psi, feature_csi, settings.thresholds)
    data = _report_data(settings, measured, distributions, checks, score_psi, feature_csi)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    json_path, html_path = out / JSON_NAME, out / HTML_NAME
    json_path.write_text(json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
                         + "\n", encoding="utf-8")
    plots = _plots(measured, distributions, feature_csi, challenger_name, settings.thresholds)
    html_path.write_text(_render(data, plots), encoding="utf-8")
    return ValidationReport(html_path=html_path, json_path=json_path,
                            overall=_overall(checks), checks=tuple(checks), data=data)


@dataclass(frozen=True)
class _Settings:
    """``write_report``'s arguments other than the samples and where to write."""

    model_name: str
    challenger_name: str
    higher_is_riskier: bool
    challenger_higher_is_riskier: bool
    swap_cutoff_rate: float
    n_bootstrap: int
    seed: int
    groups: int
    psi_bins: int
    thresholds: ReportThresholds


# --------------------------------------------------------------------------- measuring


def _measure_all(development: ScoredSample, later: ScoredSample | None, settings: _Settings
                 ) -> tuple[list[_Measured], Stability | None, dict[str, Stability]]:
    """Every measure of both samples, or ``InvalidValidationInput`` naming every problem
    found, each prefixed with its sample's name."""
    problems = settings.thresholds.problems()
    if later is not None and later.name == development.name:
        problems.append(f"later.name: {later.name!r} is also the development sample's name")
    measured: list[_Measured] = []
    for sample in [development] if later is None else [development, later]:
        try:
            measured.append(_measure(sample, settings))
        except InvalidValidationInput as error:
            problems.extend(f"{sample.name}: {problem}" for problem in error.problems)
    score_psi: Stability | None = None
    feature_csi: dict[str, Stability] = {}
    if later is not None and not problems:
        try:
            score_psi, feature_csi = _stability(development, later, settings.psi_bins)
        except InvalidValidationInput as error:
            problems.extend(f"{later.name}: {problem}" for problem in error.problems)
    if problems:
        raise InvalidValidationInput(problems)
    return measured, score_psi, feature_csi


def _measure(sample: ScoredSample, settings: _Settings) -> _Measured:
    """Every measure of one sample, or ``InvalidValidationInput`` naming every problem
    any of them found (once each: outcomes are checked by several)."""
    y, score = sample.y, sample.score
    riskier = settings.higher_is_riskier
    challenger_riskier = settings.challenger_higher_is_riskier
    problems = _Problems()
    result = problems.of(lambda: discrimination(
        y, score, higher_is_riskier=riskier, n_bootstrap=settings.n_bootstrap,
        seed=settings.seed))
    pd = sample.pd
    calibrated = None if pd is None else problems.of(
        lambda: calibration(y, pd, groups=settings.groups))
    challenger = challenger_roc = swap = auc_test = None
    if sample.challenger_score is not None:
        challenger_score = sample.challenger_score
        challenger = problems.of(lambda: discrimination(
            y, challenger_score, higher_is_riskier=challenger_riskier,
            n_bootstrap=settings.n_bootstrap, seed=settings.seed))
        if challenger is not None:
            challenger_roc = roc_curve(y, challenger_score,
                                       higher_is_riskier=challenger_riskier)
            swap = problems.of(lambda: swap_set(
                y, score, challenger_score, settings.swap_cutoff_rate,
                champion_higher_is_riskier=riskier,
                challenger_higher_is_riskier=challenger_riskier))
            auc_test = problems.of(lambda: compare_auc(
                y, score, challenger_score, a_higher_is_riskier=riskier,
                b_higher_is_riskier=challenger_riskier))
    if result is None or problems.found:
        raise InvalidValidationInput(problems.found)
    return _Measured(
        sample=sample, discrimination=result,
        roc=roc_curve(y, score, higher_is_riskier=riskier), ks=ks_curve(y, score),
        gains=gains_table(y, score, settings.groups, higher_is_riskier=riskier),
        calibration=calibrated, challenger=challenger, challenger_roc=challenger_roc,
        swap=swap, auc_test=auc_test)


class _Problems:
    """Runs measures that may refuse their input, keeping every distinct problem."""

    def __init__(self) -> None:
        self.found: list[str] = []

    def of(self, measure: Callable[[], _T]) -> _T | None:
        try:
            return measure()
        except InvalidValidationInput as error:
            self.found.extend(p for p in error.problems if p not in self.found)
            return None


def _stability(development: ScoredSample, later: ScoredSample,
               bins: int) -> tuple[Stability, dict[str, Stability]]:
    score_psi = psi(development.score, later.score, bins)
    if development.features is None or later.features is None:
        return score_psi, {}
    absent = [name for name in development.features if name not in later.features]
    if absent:
        raise InvalidValidationInput([f"features: no column {name!r}, which {development.name} has"
                                      for name in absent])
    return score_psi, csi(development.features, later.features, bins)


def _distributions(samples: Sequence[ScoredSample]) -> dict[str, ScoreDistribution]:
    """Histograms on shared edges over every sample's range, so they compare bin by bin."""
    scores = [np.asarray(sample.score, dtype=np.float64) for sample in samples]
    edges = np.histogram_bin_edges(np.concatenate(scores), _HISTOGRAM_BINS)
    return {sample.name: score_distribution(sample.score, [float(e) for e in edges],
                                            y=sample.y)
            for sample in samples}


# --------------------------------------------------------------------------- judging


def _checks(measured: Sequence[_Measured], score_psi: Stability | None,
            feature_csi: Mapping[str, Stability], limits: ReportThresholds) -> list[Check]:
    checks = []
    for m in measured:
        name, d = m.sample.name, m.discrimination
        checks.append(_at_least(
            f"KS ({name})", d.ks.value, limits.ks_pass, limits.ks_watch,
            f"{d.ks.value:.3f} [{d.ks.low:.3f}, {d.ks.high:.3f}] at score {d.ks_score:.6g}"))
        checks.append(_at_least(
            f"AUC ({name})", d.auc.value, limits.auc_pass, limits.auc_watch,
            f"{d.auc.value:.3f} [{d.auc.low:.3f}, {d.auc.high:.3f}]; "
            f"Gini {d.gini.value:.3f}"))
        if m.calibration is not None:
            c = m.calibration
            checks.append(_at_least(
                f"Calibration, Hosmer–Lemeshow p-value ({name})", c.p_value,
                limits.hl_p_value_pass, limits.hl_p_value_watch,
                f"HL {c.hosmer_lemeshow:.2f} on {c.degrees_of_freedom} df, p = "
                f"{c.p_value:.3g}; mean PD {c.mean_pd:.2%} vs observed "
                f"{c.observed_rate:.2%}"))
    if score_psi is not None:
        checks.append(_below("Score stability, PSI", score_psi.value, limits,
                             f"{score_psi.value:.3f} ({score_psi.reading})"))
    if feature_csi:
        worst = max(feature_csi, key=lambda name: feature_csi[name].value)
        moved = sum(1 for result in feature_csi.values()
                    if result.value >= limits.psi_stable)
        checks.append(_below(
            "Feature stability, largest CSI", feature_csi[worst].value, limits,
            f"{worst}: {feature_csi[worst].value:.3f}; {moved} of {len(feature_csi)} "
            f"feature(s) at or above {limits.psi_stable:g}"))
    return checks


def _overall(checks: Sequence[Check]) -> Status:
    return max((check.status for check in checks), key=_STATUS_ORDER.__getitem__,
               default="pass")


def _at_least(name: str, value: float, passes: float, watched: float, detail: str) -> Check:
    status: Status = "pass" if value >= passes else "watch" if value >= watched else "fail"
    return Check(name=name, status=status, value=value,
                 rule=f"pass ≥ {passes:g}, watch ≥ {watched:g}, else fail", detail=detail)


def _below(name: str, value: float, limits: ReportThresholds, detail: str) -> Check:
    status: Status = ("pass" if value < limits.psi_stable
                      else "watch" if value <= limits.psi_shifted else "fail")
    return Check(name=name, status=status, value=value,
                 rule=f"pass < {limits.psi_stable:g}, watch ≤ {limits.psi_shifted:g}, "
                      "else fail", detail=detail)


# --------------------------------------------------------------------------- JSON


def _report_data(settings: _Settings, measured: Sequence[_Measured],
                 distributions: Mapping[str, ScoreDistribution], checks: Sequence[Check],
                 score_psi: Stability | None,
                 feature_csi: Mapping[str, Stability]) -> dict[str, JsonValue]:
    def convention(higher_is_riskier: bool) -> str:
        return "higher = riskier" if higher_is_riskier else "higher = safer"

    has_challenger = any(m.swap is not None for m in measured)
    return {
        "report_version": REPORT_VERSION,
        "model": settings.model_name,
        "challenger": settings.challenger_name if has_challenger else None,
        "conventions": {
            "y": "1 = bad (defaulted), 0 = good",
            "score": convention(settings.higher_is_riskier),
            "challenger_score": convention(settings.challenger_higher_is_riskier),
        },
        "settings": {"n_bootstrap": settings.n_bootstrap, "seed": settings.seed,
                     "groups": settings.groups, "psi_bins": settings.psi_bins,
                     "swap_cutoff_rate": settings.swap_cutoff_rate},
        "thresholds": _jsonable(settings.thresholds),
        "summary": {"overall": _overall(checks),
                    "checks": [_jsonable(check) for check in checks]},
        "samples": {m.sample.name: _sample_data(m, distributions[m.sample.name])
                    for m in measured},
        "stability": None if score_psi is None else {
            "score_psi": _jsonable(score_psi),
            "csi": {name: _jsonable(result) for name, result in feature_csi.items()}},
    }


def _sample_data(m: _Measured, distribution: ScoreDistribution) -> dict[str, JsonValue]:
    return {
        "fingerprint": _fingerprint(m.sample),
        "n": m.discrimination.n,
        "bads": m.discrimination.n_bad,
        "bad_rate": m.discrimination.n_bad / m.discrimination.n,
        "discrimination": _jsonable(m.discrimination),
        "challenger_discrimination": _jsonable(m.challenger),
        "calibration": _jsonable(m.calibration),
        "gains": _jsonable(m.gains),
        "score_distribution": _jsonable(distribution),
        "swap_set": _jsonable(m.swap),
        "auc_comparison": _jsonable(m.auc_test),
    }


def _fingerprint(sample: ScoredSample) -> str:
    """SHA-256 of the outcomes, scores and PDs as measured (0/1 bytes, then float64
    bytes), so a signed-off report can be tied to the exact data it judged."""
    digest = hashlib.sha256()
    digest.update(np.asarray(sample.y, dtype=np.float64).astype(np.int8).tobytes())
    digest.update(np.asarray(sample.score, dtype=np.float64).tobytes())
    if sample.pd is not None:
        digest.update(np.asarray(sample.pd, dtype=np.float64).tobytes())
    return digest.hexdigest()


def _jsonable(value: object) -> JsonValue:
    """Dataclasses, mappings, sequences and numbers as plain JSON values; NaN and
    infinity (which JSON cannot hold) as ``None``."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value) if math.isfinite(value) else None
    if is_dataclass(value) and not isinstance(value, type):
        return {key: _jsonable(item) for key, item in asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, Sequence | np.ndarray):
        return [_jsonable(item) for item in value]
    raise TypeError(f"cannot put {type(value).__name__} into the report's JSON")


# --------------------------------------------------------------------------- plots


def _plots(measured: Sequence[_Measured], distributions: Mapping[str, ScoreDistribution],
           feature_csi: Mapping[str, Stability], challenger_name: str,
           limits: ReportThresholds) -> dict[str, str]:
    """Each plot as a base64 PNG, by the name the template uses."""
    plots = {
        "roc": _png(lambda fig: _roc_plot(fig, measured, challenger_name)),
        "ks": _png(lambda fig: _ks_plot(fig, measured), width=4.2 * len(measured)),
        "distribution": _png(lambda fig: _distribution_plot(fig, distributions)),
        "gains": _png(lambda fig: _gains_plot(fig, measured), width=10),
    }
    if any(m.calibration is not None for m in measured):
        plots["reliability"] = _png(lambda fig: _reliability_plot(fig, measured))
    if feature_csi:
        plots["csi"] = _png(lambda fig: _csi_plot(fig, feature_csi, limits),
                            height=max(2.5, 0.3 * len(feature_csi) + 1))
    return plots


def _png(draw: Callable[[Figure], None], width: float = 6.0, height: float = 4.2) -> str:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    draw(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _roc_plot(figure: Figure, measured: Sequence[_Measured], challenger_name: str) -> None:
    ax = figure.subplots()
    for m in measured:
        ax.plot(*_thin(m.roc.false_positive_rate, m.roc.true_positive_rate),
                label=f"{m.sample.name} (AUC {m.discrimination.auc.value:.3f})")
        if m.challenger_roc is not None and m.challenger is not None:
            ax.plot(*_thin(m.challenger_roc.false_positive_rate,
                           m.challenger_roc.true_positive_rate), linestyle="--",
                    label=f"{challenger_name}, {m.sample.name} "
                          f"(AUC {m.challenger.auc.value:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="no skill")
    _label(ax, "ROC curve", "share of goods declined (false positive rate)",
           "share of bads declined (true positive rate)", "lower right")


def _ks_plot(figure: Figure, measured: Sequence[_Measured]) -> None:
    axes = figure.subplots(1, len(measured), squeeze=False)[0]
    for ax, m in zip(axes, measured, strict=True):
        d = m.discrimination
        score, bads, goods = _thin(m.ks.score, m.ks.cum_bad_share, m.ks.cum_good_share)
        ax.plot(score, bads, label="bads", drawstyle="steps-post")
        ax.plot(score, goods, label="goods", drawstyle="steps-post")
        ax.axvline(d.ks_score, color="grey", linestyle=":",
                   label=f"KS {d.ks.value:.3f} at {d.ks_score:.6g}")
        _label(ax, f"KS, {m.sample.name}", "score", "cumulative share with score ≤ x",
               "upper left")


def _reliability_plot(figure: Figure, measured: Sequence[_Measured]) -> None:
    ax = figure.subplots()
    top = 0.0
    for m in measured:
        if m.calibration is None:
            continue
        predicted = [b.mean_pd for b in m.calibration.bins]
        observed = [b.observed_rate for b in m.calibration.bins]
        top = max(top, *predicted, *observed)
        ax.plot(predicted, observed, marker="o", label=m.sample.name)
    ax.plot([0, top], [0, top], color="grey", linewidth=0.8, label="perfect calibration")
    _label(ax, "Reliability: predicted vs observed default rate, by group",
           "mean predicted PD", "observed default rate", "upper left")


def _distribution_plot(figure: Figure, distributions: Mapping[str, ScoreDistribution]) -> None:
    ax = figure.subplots()
    for name, distribution in distributions.items():
        ax.stairs(distribution.shares, distribution.edges, label=name, linewidth=1.5)
    _label(ax, "Score distribution (shared bins)", "score", "share of the sample",
           "upper right")


def _gains_plot(figure: Figure, measured: Sequence[_Measured]) -> None:
    gains_ax, lift_ax = figure.subplots(1, 2)
    width = 0.8 / len(measured)
    for i, m in enumerate(measured):
        population = np.cumsum([0] + [row.count for row in m.gains.rows]) / m.gains.n
        captured = [0.0] + [row.cum_bads_share for row in m.gains.rows]
        gains_ax.plot(population, captured, marker=".", label=m.sample.name)
        groups = np.array([row.group for row in m.gains.rows])
        lift_ax.bar(groups + (i - (len(measured) - 1) / 2) * width,
                    [row.lift for row in m.gains.rows], width=width, label=m.sample.name)
    gains_ax.plot([0, 1], [0, 1], color="grey", linewidth=0.8, label="random")
    lift_ax.axhline(1, color="grey", linewidth=0.8)
    _label(gains_ax, "Gains: bads captured, riskiest first", "share of the sample",
           "share of all bads", "lower right")
    _label(lift_ax, "Lift by group (1 = riskiest)", "group", "bad rate ÷ overall bad rate",
           "upper right")


def _csi_plot(figure: Figure, feature_csi: Mapping[str, Stability],
              limits: ReportThresholds) -> None:
    ax = figure.subplots()
    names = sorted(feature_csi, key=lambda name: feature_csi[name].value)
    ax.barh(names, [feature_csi[name].value for name in names])
    ax.axvline(limits.psi_stable, color="orange", linestyle="--", label="watch")
    ax.axvline(limits.psi_shifted, color="red", linestyle="--", label="fail")
    _label(ax, "CSI per feature", "CSI", "", "lower right")


LegendCorner = Literal["upper left", "upper right", "lower right"]


def _label(ax: Axes, title: str, x: str, y: str, legend: LegendCorner) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    # A fixed corner: "best" searches every plotted point and takes seconds.
    ax.legend(fontsize=8, loc=legend)


def _thin(*curves: Floats) -> list[Floats]:
    """At most ``_PLOT_POINTS`` evenly spaced points of each curve (same indices for
    all, first and last kept): a million-row ROC draws the same at that resolution."""
    length = len(curves[0])
    if length <= _PLOT_POINTS:
        return list(curves)
    keep = np.unique(np.linspace(0, length - 1, _PLOT_POINTS).round().astype(np.int64))
    return [curve[keep] for curve in curves]


# --------------------------------------------------------------------------- HTML


def _render(data: Mapping[str, JsonValue], plots: Mapping[str, str]) -> str:
    environment = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined,
                                     trim_blocks=True, lstrip_blocks=True)
    environment.filters["num"] = _number
    environment.filters["pct"] = _percent
    environment.filters["score"] = _score
    return environment.from_string(_TEMPLATE).render(data=data, plots=plots)


def _number(value: object, digits: int = 3) -> str:
    """Fixed decimals, thousands separated; tiny values (p-values) in scientific form."""
    if value is None:
        return "–"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    if isinstance(value, float):
        if value != 0 and abs(value) < 0.5 * 10**-digits:
            return f"{value:.2e}"
        return f"{value:,.{digits}f}"
    return str(value)


def _score(value: object) -> str:
    """A score as it is: 530 for points, 0.202071 for a PD."""
    return f"{value:.6g}" if isinstance(value, int | float) else "–"


def _percent(value: object, digits: int = 1) -> str:
    if not isinstance(value, int | float):
        return "–"
    return f"{value:.{digits}%}"


_TEMPLATE: Final = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Validation of {{ data.model }}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; }
h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: 0.6rem 0 1rem; font-size: 0.9rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.6rem; }
th { background: #f4f4f4; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; }
.how { background: #f6f8fb; border-left: 4px solid #4a7bd0; padding: 0.5rem 0.9rem;
       font-size: 0.92rem; }
.status { font-weight: 600; padding: 0.1rem 0.5rem; border-radius: 0.3rem; }
.pass { background: #d8f3dc; color: #1b5e20; }
.watch { background: #fff3cd; color: #7a5b00; }
.fail { background: #f8d7da; color: #842029; }
img { max-width: 100%; }
details { margin: 0.4rem 0; }
summary { cursor: pointer; }
.muted { color: #666; font-size: 0.9rem; }
</style>
</head>
<body>
{% macro stability_table(result) %}
<table>
<tr><th>bin</th><th>development rows</th><th>later rows</th><th>development share</th>
<th>later share</th><th>contribution</th></tr>
{% for b in result.bins %}
<tr><td>{{ b.label }}</td><td class="n">{{ b.expected_count | num }}</td>
<td class="n">{{ b.actual_count | num }}</td><td class="n">{{ b.expected_share | pct(2) }}</td>
<td class="n">{{ b.actual_share | pct(2) }}</td>
<td class="n">{{ b.contribution | num(4) }}</td></tr>
{% endfor %}
<tr><th>total</th><th></th><th></th><th></th><th></th>
<th class="n">{{ result.value | num(4) }}</th></tr>
</table>
{% endmacro %}
{% set samples = data.samples %}
<h1>Validation of {{ data.model }}</h1>
<p class="muted">Samples: {% for name, s in samples.items() %}{{ name }}
 ({{ s.n | num }} rows, {{ s.bads | num }} bads){{ ", " if not loop.last }}{% endfor %}.
Outcome: {{ data.conventions.y }}. Score: {{ data.conventions.score }}.
Bootstrap: {{ data.settings.n_bootstrap | num }} resamples, seed {{ data.settings.seed }}.
Report format version {{ data.report_version }}.</p>

<h2 id="summary">Summary:
 <span class="status {{ data.summary.overall }}">{{ data.summary.overall | upper }}</span></h2>
<div class="how">How to read this: each line judges one number against the thresholds in
its "rule" column. <b>pass</b> needs no action, <b>watch</b> needs a documented reason to
proceed, <b>fail</b> blocks sign-off. The overall status is the worst line. Every number
is explained in its section below and stored in <code>validation.json</code>.</div>
<table>
<tr><th>check</th><th>status</th><th>value</th><th>rule</th><th>detail</th></tr>
{% for check in data.summary.checks %}
<tr><td>{{ check.name }}</td>
<td><span class="status {{ check.status }}">{{ check.status }}</span></td>
<td class="n">{{ check.value | num }}</td><td>{{ check.rule }}</td>
<td>{{ check.detail }}</td></tr>
{% endfor %}
</table>

<h2 id="discrimination">Discrimination: AUC, Gini, KS</h2>
<div class="how">How to read this: <b>AUC</b> is the chance that a random bad looks
riskier than a random good (0.5 is a coin toss, 1 is perfect); <b>Gini</b> = 2·AUC − 1;
<b>KS</b> is the largest gap between the score distributions of bads and goods, reached at
the score shown. Brackets are bootstrap percentile intervals at the confidence shown: a
wide interval means the sample is too small to be sure. A later sample should not fall
far below development.
</div>
<table>
<tr><th>sample</th><th>model</th><th>AUC</th><th>AUC interval</th><th>Gini</th>
<th>Gini interval</th><th>KS</th><th>KS interval</th><th>KS at score</th>
<th>confidence</th></tr>
{% for name, s in samples.items() %}
{% for label, d in [(data.model, s.discrimination), (data.challenger,
                                                      s.challenger_discrimination)] %}
{% if d %}
<tr><td>{{ name }}</td><td>{{ label }}</td>
<td class="n">{{ d.auc.value | num }}</td>
<td class="n">[{{ d.auc.low | num }}, {{ d.auc.high | num }}]</td>
<td class="n">{{ d.gini.value | num }}</td>
<td class="n">[{{ d.gini.low | num }}, {{ d.gini.high | num }}]</td>
<td class="n">{{ d.ks.value | num }}</td>
<td class="n">[{{ d.ks.low | num }}, {{ d.ks.high | num }}]</td>
<td class="n">{{ d.ks_score | score }}</td>
<td class="n">{{ d.auc.confidence | pct(0) }}</td></tr>
{% endif %}
{% endfor %}
{% endfor %}
</table>
<img alt="ROC curve" src="data:image/png;base64,{{ plots.roc }}">
<img alt="KS curves" src="data:image/png;base64,{{ plots.ks }}">

<h2 id="calibration">Calibration: reliability and Hosmer–Lemeshow</h2>
<div class="how">How to read this: rows are ranked by predicted PD into groups of equal
size. In a calibrated model each group's observed default rate is close to its mean
predicted PD (the points sit on the diagonal). The Hosmer–Lemeshow statistic adds up
the squared gaps; a small p-value says the gaps are larger than chance explains. On very
large samples the test flags harmless misfits, so read it with the table. The Brier
score is the mean squared error of the PD (lower is better).</div>
{% if plots.reliability is defined %}
<img alt="Reliability plot" src="data:image/png;base64,{{ plots.reliability }}">
{% endif %}
{% for name, s in samples.items() %}
{% if s.calibration %}
{% set c = s.calibration %}
<h3>{{ name }}</h3>
<p>Hosmer–Lemeshow {{ c.hosmer_lemeshow | num }} on {{ c.degrees_of_freedom }} degrees of
freedom, p-value {{ c.p_value | num }}; Brier score {{ c.brier | num(4) }}; mean PD
{{ c.mean_pd | pct(2) }} against an observed default rate of
{{ c.observed_rate | pct(2) }}.</p>
<table>
<tr><th>group</th><th>PD from</th><th>PD to</th><th>rows</th><th>mean PD</th>
<th>observed rate</th><th>expected bads</th><th>observed bads</th></tr>
{% for b in c.bins %}
<tr><td class="n">{{ loop.index }}</td><td class="n">{{ b.pd_low | pct(2) }}</td>
<td class="n">{{ b.pd_high | pct(2) }}</td><td class="n">{{ b.count | num }}</td>
<td class="n">{{ b.mean_pd | pct(2) }}</td><td class="n">{{ b.observed_rate | pct(2) }}</td>
<td class="n">{{ b.expected_bads | num(1) }}</td>
<td class="n">{{ b.observed_bads | num }}</td></tr>
{% endfor %}
</table>
{% else %}
<p>{{ name }}: not assessed, no PD was given for this sample.</p>
{% endif %}
{% endfor %}

<h2 id="stability">Stability: PSI of the score, CSI of each feature</h2>
<div class="how">How to read this: the population stability index compares how a later
sample spreads over the development sample's bins (deciles for numbers, one bin per
category, one for missing values): PSI = Σ (later share − development share) ·
ln(later share / development share). Below {{ data.thresholds.psi_stable }} the
population is stable, up to {{ data.thresholds.psi_shifted }} watch it, above it has
shifted and the model's numbers may not hold. An empty bin counts as a share of
{{ data.stability.score_psi.epsilon if data.stability else "ε" }} so the index stays
finite. CSI is the same index for one feature: it tells which inputs moved.</div>
{% if data.stability %}
{% set st = data.stability %}
<p>Score PSI: <b>{{ st.score_psi.value | num }}</b> ({{ st.score_psi.reading }}).</p>
<img alt="Score distributions" src="data:image/png;base64,{{ plots.distribution }}">
{{ stability_table(st.score_psi) }}
{% if st.csi %}
<h3>CSI per feature</h3>
{% if plots.csi is defined %}
<img alt="CSI per feature" src="data:image/png;base64,{{ plots.csi }}">
{% endif %}
<table>
<tr><th>feature</th><th>CSI</th><th>reading</th><th>kind</th></tr>
{% for name, result in st.csi.items() | sort(attribute="1.value", reverse=true) %}
<tr><td>{{ name }}</td><td class="n">{{ result.value | num }}</td>
<td><span class="status {{ {"stable": "pass", "watch": "watch", "shifted": "fail"}[
result.reading] }}">{{ result.reading }}</span></td>
<td>{{ "categorical" if result.categorical else "numeric" }}</td></tr>
{% endfor %}
</table>
{% for name, result in st.csi.items() %}
<details><summary>Bins of {{ name }} (CSI {{ result.value | num }})</summary>
{{ stability_table(result) }}
</details>
{% endfor %}
{% else %}
<p>CSI not assessed: feature columns were not given for both samples.</p>
{% endif %}
{% else %}
<p>Not assessed: no later sample was given.</p>
<img alt="Score distribution" src="data:image/png;base64,{{ plots.distribution }}">
{% endif %}

<h2 id="distribution">Score distributions</h2>
<div class="how">How to read this: where the scores fall, summarised by percentiles and
counted on shared bins (the outer bins also hold anything beyond them). Bads should
gather at the risky end; a later sample whose shape differs from development has
shifted even when its PSI is small.</div>
<table>
<tr><th>sample</th><th>mean</th><th>std</th>
{% for key in (samples.values() | first).score_distribution.percentiles %}
<th>{{ key }}</th>{% endfor %}</tr>
{% for name, s in samples.items() %}
{% set sd = s.score_distribution %}
<tr><td>{{ name }}</td><td class="n">{{ sd.mean | score }}</td>
<td class="n">{{ sd.std | score }}</td>
{% for value in sd.percentiles.values() %}<td class="n">{{ value | score }}</td>
{% endfor %}</tr>
{% endfor %}
</table>
<details><summary>Histogram counts</summary>
<table>
<tr><th>from</th><th>to</th>
{% for name in samples %}<th>{{ name }} rows</th><th>{{ name }} share</th>
<th>{{ name }} bads</th>{% endfor %}</tr>
{% set first = (samples.values() | first).score_distribution %}
{% for i in range(first.counts | length) %}
<tr><td class="n">{{ first.edges[i] | score }}</td>
<td class="n">{{ first.edges[i + 1] | score }}</td>
{% for s in samples.values() %}
<td class="n">{{ s.score_distribution.counts[i] | num }}</td>
<td class="n">{{ s.score_distribution.shares[i] | pct }}</td>
<td class="n">{{ s.score_distribution.bad_counts[i] | num }}</td>
{% endfor %}</tr>
{% endfor %}
</table>
</details>

<h2 id="gains">Gains and lift</h2>
<div class="how">How to read this: rows ranked by score into groups of about equal size,
riskiest first (equal scores share a group). "Cumulative bads" is the share of all bads
found by declining this group and every riskier one; "cumulative goods" the share of
goods lost doing so; their difference is the KS at that cut. Lift is the group's bad
rate over the overall bad rate: above 1 means riskier than average. Bad rates should
fall from the first group to the last.</div>
<img alt="Gains and lift" src="data:image/png;base64,{{ plots.gains }}">
{% for name, s in samples.items() %}
<h3>{{ name }} (overall bad rate {{ s.bad_rate | pct(2) }})</h3>
<table>
<tr><th>group</th><th>score from</th><th>score to</th><th>rows</th><th>bads</th>
<th>goods</th><th>bad rate</th><th>cumulative bads</th><th>cumulative goods</th>
<th>KS</th><th>lift</th><th>cumulative lift</th></tr>
{% for r in s.gains.rows %}
<tr><td class="n">{{ r.group }}</td><td class="n">{{ r.score_low | score }}</td>
<td class="n">{{ r.score_high | score }}</td><td class="n">{{ r.count | num }}</td>
<td class="n">{{ r.bads | num }}</td><td class="n">{{ r.goods | num }}</td>
<td class="n">{{ r.bad_rate | pct(2) }}</td><td class="n">{{ r.cum_bads_share | pct }}</td>
<td class="n">{{ r.cum_goods_share | pct }}</td><td class="n">{{ r.ks | num }}</td>
<td class="n">{{ r.lift | num(2) }}</td><td class="n">{{ r.cum_lift | num(2) }}</td></tr>
{% endfor %}
</table>
{% endfor %}

<h2 id="swap-set">Swap set: {{ data.model }} against {{ data.challenger or "a challenger" }}</h2>
<div class="how">How to read this: each model approves the safest
{{ data.settings.swap_cutoff_rate | pct(0) }} of the sample. "Swap-in" are the borrowers
only the challenger approves, "swap-out" those only the champion approves. A challenger
is better at this approval rate when its swap-ins turn out to have a lower bad rate than
its swap-outs: it approves the same number of people with fewer bads.</div>
{% for name, s in samples.items() %}
{% if s.swap_set %}
{% set w = s.swap_set %}
<h3>{{ name }}: {{ w.n_approved | num }} approved by each</h3>
<table>
<tr><th></th><th>rows</th><th>bads</th><th>bad rate</th></tr>
{% for label, cell in [("approved by both (kept in)", w.kept_in),
                      ("swap-out: only " ~ data.model ~ " approves", w.swap_out),
                      ("swap-in: only " ~ data.challenger ~ " approves", w.swap_in),
                      ("declined by both (kept out)", w.kept_out),
                      (data.model ~ " approves", w.champion_approved),
                      (data.challenger ~ " approves", w.challenger_approved)] %}
<tr><td>{{ label }}</td><td class="n">{{ cell.count | num }}</td>
<td class="n">{{ cell.bads | num }}</td><td class="n">{{ cell.bad_rate | pct(2) }}</td></tr>
{% endfor %}
</table>
{% if s.auc_comparison %}
{% set a = s.auc_comparison %}
<p>AUC of {{ data.challenger }} − {{ data.model }} on these same rows:
{{ a.difference.value | num(4) }} ({{ a.difference.confidence | pct(0) }} interval
{{ a.difference.low | num(4) }} to {{ a.difference.high | num(4) }}; DeLong's test of
equal AUCs, p = {{ a.p_value | num }}).
The two models scored the same borrowers, so this paired interval is much narrower than
the two separate ones above: an interval that holds 0 means the data cannot tell the
two models' ranking apart.</p>
{% endif %}
{% else %}
<p>{{ name }}: not assessed, no challenger score was given for this sample.</p>
{% endif %}
{% endfor %}

<h2 id="thresholds">Thresholds and settings</h2>
<table>
{% for key, value in data.thresholds.items() %}
<tr><td>{{ key }}</td><td class="n">{{ value }}</td></tr>
{% endfor %}
{% for key, value in data.settings.items() %}
<tr><td>{{ key }}</td><td class="n">{{ value }}</td></tr>
{% endfor %}
{% for name, s in samples.items() %}
<tr><td>fingerprint of {{ name }} (SHA-256 of outcomes, scores, PDs)</td>
<td><code>{{ s.fingerprint }}</code></td></tr>
{% endfor %}
</table>

<h2 id="sign-off">Sign-off</h2>
<div class="how">For the reviewer: record the decision against the fingerprints above, so
it refers to exactly the data this report judged.</div>
<table>
<tr><th>reviewer</th><td style="width: 30rem"></td></tr>
<tr><th>date</th><td></td></tr>
<tr><th>decision (approve / approve with conditions / reject)</th><td></td></tr>
<tr><th>conditions and reasons for any "watch"</th><td style="height: 5rem"></td></tr>
</table>
</body>
</html>
"""
