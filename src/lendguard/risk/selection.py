"""Feature selection for the scorecard: IV, missing-rate, correlation and VIF filters, and
forward stepwise selection (by BIC).

Every filter works on binned features (WOE columns) and says why it dropped what it
dropped, so the model card can list the reasons. Nothing here fits the final model.

The missing-rate, IV, correlation and VIF filters look at each feature's bins or at the
WOE columns' linear relations, never at a coefficient, so the scorecard's sign rule (no
coefficient on WOE above 0) does not concern them. Stepwise selection fits models: under
the sign rule it fits them with that constraint, so it judges each candidate by what it
can add to a model the scorecard may use, and a feature that only helps with its points
running backwards adds nothing and is never chosen.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from lendguard.risk.binning import FeatureBinning, association_p_value
from lendguard.risk.features import FloatArray, IntArray
from lendguard.risk.logistic import NewtonLogistic

# Correlations (and stepwise fits) from 200,000 rows are good to about ±0.002: plenty for
# a filter, so larger data is judged on a sample of that many rows.
CORRELATION_ROWS = 200_000


@dataclass(frozen=True)
class SelectionOptions:
    """Thresholds of the filters; ``stepwise`` adds forward selection by BIC after them.

    Attributes:
      min_iv, max_p_value: a feature with less information value than ``min_iv`` (0.02
        is the customary "not predictive" line) is dropped unless its bins differ
        significantly in default rate (G-test p-value at most ``max_p_value``).
      noise_p_value: if set, a feature is also dropped, whatever its IV, when the honest
        association test (cells fixed before the target is seen) gives a p-value above
        this: on a thousand rows, bins fitted to pure noise reach IVs of 0.05-0.08, above
        the customary line. Off (``None``) by default, as the peers have no such filter;
        0.2 suits small samples with many candidate columns (docs/benchmarks.md, "Rare
        categories pooled", measures it).
      max_missing_rate: a feature missing in a larger share of rows is dropped.
      max_correlation: of two features whose WOE correlates more than this, the one with
        the lower IV is dropped.
      max_vif: features are dropped, highest variance inflation first, until every VIF is
        at most this.
      stepwise: run forward selection after the filters.
      max_features: the most features the scorecard keeps.
    """

    min_iv: float = 0.02
    max_p_value: float = 0.01
    noise_p_value: float | None = None
    max_missing_rate: float = 0.95
    max_correlation: float = 0.8
    max_vif: float = 10.0
    stepwise: bool = False
    max_features: int = 30


@dataclass
class Selection:
    """What was kept, and every dropped feature with its reason."""

    kept: list[str]
    dropped: dict[str, str] = field(default_factory=dict)

    def drop(self, name: str, reason: str) -> None:
        if name in self.kept:
            self.kept.remove(name)
            self.dropped[name] = reason


def select_features(woe: FloatArray, y: IntArray, names: Sequence[str],
                    binnings: Mapping[str, FeatureBinning],
                    options: SelectionOptions | None = None,
                    sign_rule: bool = True) -> Selection:
    """Run the filters in order (missing, IV, correlation, VIF, then stepwise, whose
    models keep every coefficient on WOE at most 0 under ``sign_rule``)."""
    options = options or SelectionOptions()
    selection = Selection(list(names))
    rows = selection_rows(y)
    if rows is not None:
        woe, y = woe[rows], y[rows]
    columns = {name: i for i, name in enumerate(names)}
    missing_rate_filter(selection, binnings, options.max_missing_rate)
    iv_filter(selection, binnings, options.min_iv, options.max_p_value)
    if options.noise_p_value is not None:
        noise_filter(selection, binnings, options.noise_p_value)
    correlation_filter(selection, woe, columns, binnings, options.max_correlation)
    vif_filter(selection, woe, columns, options.max_vif)
    if options.stepwise:
        forward_stepwise(selection, woe, y, columns, options.max_features, sign_rule,
                         {name: woe_parameters(binnings[name]) for name in selection.kept})
    else:
        for name in _by_iv(selection.kept, binnings)[options.max_features:]:
            selection.drop(name, f"beyond the {options.max_features} features with most IV")
    return selection


def selection_rows(y: IntArray, size: int = CORRELATION_ROWS) -> IntArray | None:
    """The rows the filters judge on: all of them (``None``) up to ``size``, else a sample
    of ``size`` stratified by the target (each class in its own share, so the sample's
    default rate is the data's), at random with a fixed seed, in row order."""
    if len(y) <= size:
        return None
    rng = np.random.default_rng(0)
    chosen = []
    for members in (np.flatnonzero(y == 0), np.flatnonzero(y != 0)):
        chosen.append(rng.choice(members, round(size * len(members) / len(y)), replace=False))
    return np.sort(np.concatenate(chosen)).astype(np.int64)


def _by_iv(names: Sequence[str], binnings: Mapping[str, FeatureBinning]) -> list[str]:
    return sorted(names, key=lambda n: -binnings[n].iv)


def missing_rate_filter(selection: Selection, binnings: Mapping[str, FeatureBinning],
                        max_rate: float) -> None:
    for name in list(selection.kept):
        bins = binnings[name].bins
        total = sum(b.count for b in bins)
        rate = bins[-1].count / total if total else 1.0
        if rate > max_rate:
            selection.drop(name, f"missing in {rate:.1%} of rows (> {max_rate:.0%})")


def iv_filter(selection: Selection, binnings: Mapping[str, FeatureBinning],
              min_iv: float, max_p_value: float) -> None:
    """Drop a feature of low IV unless its bins are significant all the same: on a
    million rows an IV of 0.005 is real information, on a thousand it is noise."""
    for name in list(selection.kept):
        iv, p_value = binnings[name].iv, bins_p_value(binnings[name])
        if iv < min_iv and p_value > max_p_value:
            selection.drop(name, f"IV {iv:.4f} < {min_iv} (p = {p_value:.2g})")


def noise_filter(selection: Selection, binnings: Mapping[str, FeatureBinning],
                 max_p_value: float) -> None:
    """Drop a feature whose default rate does not differ across its values by the honest
    test (``bins_p_value``), however much IV its fitted bins show."""
    for name in list(selection.kept):
        p_value = bins_p_value(binnings[name])
        if p_value > max_p_value:
            selection.drop(name, f"p = {p_value:.2g} > {max_p_value:g}: no sign the default "
                           f"rate depends on it (IV {binnings[name].iv:.4f})")


def bins_p_value(binning: FeatureBinning) -> float:
    """The p-value of a likelihood-ratio (G) test that the default rate does not differ
    with the feature: the binning's own (``association_p_value``, on cells placed before
    the target was looked at), or for a binning read from an artefact, on its bins."""
    if not math.isnan(binning.association_p_value):
        return binning.association_p_value
    events = np.array([b.events for b in binning.bins], dtype=np.float64)
    totals = np.array([b.count for b in binning.bins], dtype=np.float64)
    return association_p_value(events, totals, [], [], cells=None)


def correlation_filter(selection: Selection, woe: FloatArray, columns: Mapping[str, int],
                       binnings: Mapping[str, FeatureBinning], max_corr: float) -> None:
    """Keep features in order of IV, each only if it is not too close to one kept before."""
    names = _by_iv(selection.kept, binnings)
    corr = _correlations(woe[:, [columns[n] for n in names]])
    kept: list[int] = []
    for i, name in enumerate(names):
        partner = next((k for k in kept if abs(corr[i, k]) > max_corr), None)
        if partner is None:
            kept.append(i)
        else:
            selection.drop(name, f"WOE correlates > {max_corr} with {names[partner]} "
                           "(higher IV)")


def _correlations(matrix: FloatArray) -> FloatArray:
    """Pearson correlations of the columns; a constant column correlates with nothing."""
    centred = matrix - matrix.mean(axis=0)
    norms = np.sqrt((centred**2).sum(axis=0))
    norms[norms == 0] = np.inf
    scaled = centred / norms
    return np.asarray(scaled.T @ scaled, dtype=np.float64)


def vif_filter(selection: Selection, woe: FloatArray, columns: Mapping[str, int],
               max_vif: float) -> None:
    """Drop the feature with the highest variance inflation factor until all are low."""
    while len(selection.kept) > 1:
        vifs = variance_inflation(woe[:, [columns[n] for n in selection.kept]])
        worst = int(np.argmax(vifs))
        if vifs[worst] <= max_vif:
            return
        selection.drop(selection.kept[worst], f"VIF {vifs[worst]:.1f} > {max_vif}")


def variance_inflation(matrix: FloatArray) -> FloatArray:
    """VIF of every column: the diagonal of the inverse correlation matrix."""
    std = matrix.std(axis=0)
    usable = std > 0
    vifs = np.full(matrix.shape[1], math.inf)
    if usable.sum() == 1:
        vifs[usable] = 1.0
    elif usable.any():
        corr = np.corrcoef(matrix[:, usable], rowvar=False)
        vifs[usable] = np.diag(np.linalg.pinv(corr))
    return vifs


def forward_stepwise(selection: Selection, woe: FloatArray, y: IntArray,
                     columns: Mapping[str, int], max_features: int,
                     sign_rule: bool = True,
                     parameters: Mapping[str, int] | None = None) -> None:
    """Add, one at a time, the feature that lowers the BIC most; stop when none does.

    BIC rather than AIC: the WOE was learnt from these same rows, so every feature looks
    a little better than it is, and AIC's small penalty lets noise in. For the same
    reason a feature's penalty counts what was learnt for it: ``parameters`` (from
    ``woe_parameters``: its bins' WOE values, as many as a model with a dummy per bin
    would fit; 1 when not given). Under ``sign_rule`` each model is fitted with every
    coefficient at most 0: a candidate the bound holds at 0 leaves the likelihood as it
    was and only adds to the penalty."""
    chosen: list[str] = []
    cost = {name: 1 if parameters is None else parameters[name] for name in selection.kept}
    best_bic = _bic(np.empty((len(y), 0)), y, 0)
    while len(chosen) < max_features:
        candidates = [n for n in selection.kept if n not in chosen]
        scored = [(_bic(woe[:, [columns[n] for n in [*chosen, c]]], y,
                        sum(cost[n] for n in [*chosen, c]), sign_rule), c)
                  for c in candidates]
        if not scored:
            break
        bic, name = min(scored)
        if bic >= best_bic:
            break
        chosen.append(name)
        best_bic = bic
    for name in list(selection.kept):
        if name not in chosen:
            selection.drop(name, "not chosen by forward stepwise selection (BIC)")


def woe_parameters(binning: FeatureBinning) -> int:
    """What fitting a feature's WOE learnt from the rows: one value per occupied bin, less
    one (a model with a dummy per bin and an intercept has as many), at least 1."""
    return max(1, sum(1 for b in binning.bins if b.count > 0) - 1)


def _bic(matrix: FloatArray, y: IntArray, parameters: int, sign_rule: bool = False) -> float:
    rate = float(np.clip(y.mean(), 1e-12, 1 - 1e-12))
    if matrix.shape[1] == 0:
        p = np.full(len(y), rate)
    else:
        bound = 0.0 if sign_rule else math.inf
        model = NewtonLogistic(C=1e6, upper_bound=bound).fit(matrix, y)
        p = model.predict_proba(matrix)[:, 1]
    p = np.clip(p, 1e-12, 1 - 1e-12)
    log_likelihood = float(np.sum(y * np.log(p) + (1 - y) * np.log(1 - p)))
    return float(math.log(len(y)) * (parameters + 1) - 2 * log_likelihood)
