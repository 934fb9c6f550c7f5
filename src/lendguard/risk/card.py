"""The model card: a short markdown account of a trained model for its reviewer.

It says what the model is for, what it was trained on, which features it uses and why the
others were dropped, how scores are scaled, and how the challenger is constrained and
calibrated. Validation numbers belong to the validation report, not here.
"""

from __future__ import annotations

from collections.abc import Mapping

from lendguard.risk.challenger import Challenger
from lendguard.risk.scorecard import TrainedScorecard


def model_card(source: str, trained: TrainedScorecard | None, challenger: Challenger | None,
               cv_auc: Mapping[str, tuple[float, float]] | None = None,
               target_rule: str | None = None) -> str:
    """The card's markdown; ``cv_auc`` maps a model name to (mean, spread) if measured;
    ``target_rule`` says how the target was read when it was not 0/1."""
    lines = ["# Model card", "",
             "Intended use: ranking applicants of a consumer-credit product by probability "
             "of default (1 = default). Not for decisions on its own: a person signs off "
             "the policy that turns scores into decisions.", "",
             f"Training data: `{source}`."]
    if target_rule:
        lines += ["", target_rule]
    if cv_auc:
        lines += ["", "| model | cross-validated AUC | spread (std) |", "|---|---|---|"]
        lines += [f"| {name} | {mean:.4f} | {spread:.4f} |"
                  for name, (mean, spread) in cv_auc.items()]
    if trained is not None:
        lines += ["", *_scorecard_section(trained)]
    if challenger is not None:
        lines += ["", *_challenger_section(challenger)]
    return "\n".join(lines) + "\n"


def _scorecard_section(trained: TrainedScorecard) -> list[str]:
    card = trained.scorecard
    scaling = card.scaling
    how = ("both chosen by 4-fold cross-validation on the training rows only"
           if trained.tuned else "both as configured, not tuned")
    lines = ["## Scorecard", "",
             f"{trained.rows:,} rows, default rate {trained.default_rate:.2%}. Logistic "
             f"regression on WOE, L2 with C = {trained.C:g}, WOE shrunk by a prior of "
             f"{trained.woe_prior:g} rows per bin ({how}).", "",
             _binning_line(trained), "", _selection_line(trained), "",
             f"Scaling: {scaling.base_score:g} points at odds {scaling.base_odds:g}:1 "
             f"(repay : default), {scaling.pdo:g} points to double the odds "
             f"(factor {scaling.factor:.4f}, offset {scaling.offset:.4f}). Points per bin "
             "are whole numbers; the score is their sum.", "",
             "| feature | trend | IV | coefficient | points (worst – best) |",
             "|---|---|---|---|---|"]
    for scored in card.features:
        lines.append(f"| {scored.feature.name} | {scored.binning.trend} | "
                     f"{scored.binning.iv:.4f} | {scored.coefficient:.4f} | "
                     f"{min(scored.points)} – {max(scored.points)} |")
    if trained.selection.dropped:
        lines += ["", "Dropped features:", ""]
        lines += [f"- {name}: {reason}" for name, reason in trained.selection.dropped.items()]
    return lines


def _binning_line(trained: TrainedScorecard) -> str:
    """The bin sizes the training rows resolved to, and why."""
    options = trained.binning
    sizes = options.resolved(trained.rows, trained.rows * trained.default_rate)
    why = []
    if options.min_prebin_size is None or options.min_bin_size is None:
        why = [f" (as fine as the rows support: room for {options.prebin_support:g} and "
               f"{options.bin_support:g} of the rarer outcome, between the customary "
               "5% / 2% and 0.5%; a feature with missing or special values resolves on "
               "its regular rows)"]
    category = ("" if options.min_category_size is not None else
                f" (room for {options.bin_support:g} of the rarer outcome)")
    return (f"Binning: {options.method}; pre-bins of at least {sizes.min_prebin_size:.2%} "
            f"and bins of at least {sizes.min_bin_size:.2%} of the rows{''.join(why)}, at "
            f"most {options.max_bins} bins a feature; missing and special values in bins "
            "of their own; categories under "
            f"{sizes.min_category_size:.2%} of the rows{category} pooled into one group "
            "before categories are ordered by default rate; a category not seen in "
            "training is scored with that pool (with the missing bin where nothing "
            "pooled).")


def _selection_line(trained: TrainedScorecard) -> str:
    o = trained.selection_options
    stepwise = ("then forward stepwise selection by BIC" if o.stepwise
                else "no stepwise selection")
    noise = ("" if o.noise_p_value is None else
             f", and that test at p ≤ {o.noise_p_value:g} whatever the IV")
    return (f"Selection: IV at least {o.min_iv:g} (or significant at p ≤ {o.max_p_value:g} "
            f"by a G-test on cells fixed before the target was seen){noise}, "
            f"missing in at most {o.max_missing_rate:.0%} of rows, WOE correlation at most "
            f"{o.max_correlation:g}, VIF at most {o.max_vif:g}, {stepwise}, at most "
            f"{o.max_features} features.")


def _challenger_section(challenger: Challenger) -> list[str]:
    constrained = [f"{f.name} ({'+' if m > 0 else '-'})"
                   for f, m in zip(challenger.feature_set.features, challenger.monotone,
                                   strict=True) if m]
    losses = ", ".join(f"{k} {v:.4f}" for k, v in challenger.calibration_losses.items())
    return ["## Challenger (LightGBM)", "",
            f"{len(challenger.feature_set.features)} features; categorical ones enter as the "
            "WOE of their bin." + _left_out(challenger),
            "Monotone constraints (from the binning trends: declared ones, and inferred ones "
            f"whose bins pass a G-test{_level(challenger.constraint_level)}): "
            f"{', '.join(constrained) or 'none'}.",
            f"Boosting rounds: {challenger.rounds} (early stopping on out-of-fold log-loss).",
            f"Calibration: {challenger.calibration.method}, chosen by held-out log-loss "
            f"({losses}).",
            "Reason codes: the features with the largest positive contributions to the "
            "log-odds of default (LightGBM `pred_contrib`)."]


def _left_out(challenger: Challenger) -> str:
    if not challenger.left_out:
        return ""
    return (f" Left out, every value encoding to one WOE (nothing to split on): "
            f"{', '.join(challenger.left_out)}.")


def _level(level: float | None) -> str:
    """The G-test's level as the card states it."""
    return " (level not recorded)" if level is None else f" at p < {level:g}"
