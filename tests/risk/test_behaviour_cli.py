"""``lendguard features``, ``lendguard train --from-db`` and ``lendguard score --from-db``
end to end on simulated stores, and their refusals (each writes nothing).

The slow tests share the mid-size run of the "simulated" group (2,048 borrowers over 13
months, seed 7): features at 30 Jun 2026, a 6-month window to 30 Dec 2026.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.model_selection import train_test_split
from typer.testing import CliRunner

from lendguard.asof import behaviour_sample
from lendguard.cli import _without_password, app
from lendguard.risk.behaviour import BEHAVIOUR_FEATURES, FEATURE_NAMES, TARGET
from lendguard.risk.features import FeatureSet
from lendguard.risk.scorecard import train_scorecard
from lendguard.risk.validation import discrimination
from lendguard.store import open_store

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, " ".join(result.output.split())


def test_features_are_written_with_and_without_the_target(small_run: Path,
                                                          tmp_path: Path) -> None:
    db = str(small_run / "events.db")
    code, out = run("features", "--db", db, "--as-of", "2026-03-31",
                    "--out", str(tmp_path / "f.parquet"))
    assert code == 0, out
    assert "behaviour sample as of 2026-03-31" in out and "36 features" in out
    frame = pl.read_parquet(tmp_path / "f.parquet")
    assert frame.columns == ["customer_id", "as_of", *FEATURE_NAMES, "excluded"]
    assert frame["customer_id"].is_unique().all() and frame.height > 100
    code, out = run("features", "--db", f"sqlite:///{db}", "--as-of", "2026-03-31",
                    "--window-months", "3", "--out", str(tmp_path / "f.csv"))
    assert code == 0, out
    assert "3-month window to 2026-06-30" in out
    assert pl.read_csv(tmp_path / "f.csv").columns[-1] == TARGET


@pytest.mark.parametrize(("args", "code", "says"), [
    (("--as-of", "2026-03-31", "--window-months", "3"), "too_few_bads",
     "as of 2026-03-31 with a 3-month window: 1 customer(s) went bad"),
    (("--as-of", "2026-03-31", "--window-months", "4"), "as_of_out_of_range",
     "ends on 2026-07-31, after the log's last event (2026-06-30)"),
    (("--as-of", "2025-12-31"), "as_of_out_of_range", "before the log's first event"),
    (("--as-of", "31/03/2026"), "invalid_command", "--as-of must be YYYY-MM-DD"),
    ((), "invalid_command", "--from-db needs --as-of"),
    (("--as-of", "2026-03-31", "--window-months", "0"), "invalid_command",
     "at least one month"),
    (("--as-of", "2026-03-31", "--save-features", "f.txt"), "invalid_command",
     "must be .csv or .parquet"),
])
def test_training_from_the_log_refuses_and_writes_nothing(
        small_run: Path, tmp_path: Path, args: tuple[str, ...], code: str, says: str) -> None:
    exit_code, out = run("train", "--from-db", str(small_run / "events.db"), "--target",
                         "bad", "--out", str(tmp_path / "model"), *args)
    assert exit_code == 2, out
    assert code in out and says in out
    assert list(tmp_path.iterdir()) == []


def test_unknown_targets_and_stores_are_refused(small_run: Path, tmp_path: Path) -> None:
    code, out = run("train", "--from-db", str(small_run / "events.db"), "--as-of",
                    "2026-03-31", "--target", "default", "--out", str(tmp_path / "m"))
    assert code == 2 and "unknown_column" in out and "'default'" in out
    code, out = run("features", "--db", str(tmp_path / "none.db"), "--as-of", "2026-03-31",
                    "--out", str(tmp_path / "f.parquet"))
    assert code == 2 and "no event store at" in out
    code, out = run("train", "--data", str(tmp_path / "x.csv"), "--as-of", "2026-03-31",
                    "--target", "bad", "--out", str(tmp_path / "m"))
    assert code == 2 and "--as-of and --save-features go with --from-db" in out
    assert list(tmp_path.iterdir()) == []


def test_a_model_card_never_names_a_password() -> None:
    assert _without_password("postgresql://risk:s3cret@db:5432/ledger") == \
        "postgresql://db:5432/ledger"
    assert _without_password("/data/events.db") == "/data/events.db"


@pytest.mark.slow
@pytest.mark.xdist_group("simulated")
def test_train_then_score_from_the_log(simulated_run: Path, tmp_path: Path) -> None:
    db = str(simulated_run / "events.db")
    code, out = run("train", "--from-db", db, "--as-of", "2026-06-30", "--window-months",
                    "6", "--target", "bad", "--out", str(tmp_path / "model"), "--model",
                    "scorecard", "--save-features", str(tmp_path / "features.parquet"))
    assert code == 0, out
    print(out)
    assert "6-month window to 2026-12-30" in out and "scorecard:" in out
    manifest = json.loads((tmp_path / "model" / "manifest.json").read_text())
    assert "as of 2026-06-30, 6-month window" in (tmp_path / "model" / "model_card.md"
                                                  ).read_text()
    features = pl.read_parquet(tmp_path / "features.parquet")
    assert features.columns[-1] == TARGET

    code, out = run("score", "--model", str(tmp_path / "model"), "--from-db", db,
                    "--as-of", "2026-12-31", "--out", str(tmp_path / "scored.parquet"),
                    "--reasons", "2")
    assert code == 0, out
    scored = pl.read_parquet(tmp_path / "scored.parquet")
    assert scored.height >= features.height
    assert (scored["as_of"] == date(2026, 12, 31)).all()
    assert scored["model_version"].unique().to_list() == [manifest["model_version"]]
    labels = {f.description for f in BEHAVIOUR_FEATURES}
    reasons = scored["reason_1"].drop_nulls().to_list()
    assert reasons and all(any(r.startswith(f"{label} (") for label in labels)
                           for r in reasons)


@pytest.mark.slow
@pytest.mark.xdist_group("simulated")
def test_the_behaviour_scorecard_ranks_the_simulated_defaulters(simulated_run: Path) -> None:
    with open_store(f"sqlite:///{simulated_run / 'events.db'}") as store:
        sample = behaviour_sample(store, date(2026, 6, 30), 6)
    frame = sample.training_frame()
    y = frame[TARGET].to_numpy()
    train, test = train_test_split(np.arange(frame.height), test_size=1 / 3,
                                   random_state=0, stratify=y)
    trained = train_scorecard(frame[np.sort(train)], FeatureSet(TARGET, BEHAVIOUR_FEATURES))
    held_out = frame[np.sort(test)]
    measured = discrimination(held_out[TARGET].to_numpy(),
                              trained.scorecard.score_frame(held_out), n_bootstrap=200)
    summary = (f"held-out AUC {measured.auc.value:.3f} [{measured.auc.low:.3f}, "
               f"{measured.auc.high:.3f}], KS {measured.ks.value:.3f}, {held_out.height} rows, "
               f"{int(held_out[TARGET].sum())} bads; kept {trained.scorecard.names}")
    print(summary)
    assert measured.auc.value >= 0.75, summary
    assert measured.ks.value >= 0.4, summary
