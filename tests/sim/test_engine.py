"""The simulation engine on the real ledger: determinism, close of business only when it
can act, replay of the simulated log, and refusal of bad arguments."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from lendguard.errors import InvalidConfiguration
from lendguard.ledger.account import AccountState
from lendguard.ledger.credit_line import CreditLineState
from lendguard.ledger.delinquency import days_past_due
from lendguard.replay import replay
from lendguard.sim import engine, load_config, population
from lendguard.sim.engine import BlockSimulation, policy_decision
from lendguard.sim.run import simulate
from lendguard.store import open_store
from lendguard.store.base import StoredEvent

CONFIG = load_config()


def _block_log(n: int, months: int, seed: int = 11
               ) -> tuple[list[tuple[object, ...]], list[dict[str, object]]]:
    """A block's log and its borrowers' outcomes (the ground truth)."""
    rows: list[tuple[object, ...]] = []

    def sink(events: list[StoredEvent]) -> None:
        rows.extend((e.stream_id, e.seq, e.type, e.data, e.occurred_at, e.event_id)
                    for e in events)

    frame = population.block(CONFIG, n, seed, 0)
    result = BlockSimulation(CONFIG, frame, seed, 0, months, sink).run()
    return rows, result.outcomes


def test_same_seed_same_log_and_another_seed_another(tmp_path: Path) -> None:
    first = simulate(CONFIG, 120, 3, 5, tmp_path / "a", workers=1)
    again = simulate(CONFIG, 120, 3, 5, tmp_path / "b", workers=1)
    other = simulate(CONFIG, 120, 3, 6, tmp_path / "c", workers=1)
    assert first.log_sha256 == again.log_sha256
    assert first.log_sha256 != other.log_sha256
    assert first.manifest["events"] == again.manifest["events"] > 1_000
    # The tables are identical too, byte for byte.
    for table in ("applications.parquet", "labels.parquet"):
        assert (tmp_path / "a" / table).read_bytes() == (tmp_path / "b" / table).read_bytes()


def test_close_of_business_is_only_skipped_when_it_has_nothing_to_do(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine runs close of business only where ``cob_needed`` says it can act;
    running it for every account every day must write exactly the same log and record
    the same truth (the first day 90+ days past due falls between bucket moves). Long
    enough for delinquent accounts to roll through every bucket to write-off, which is
    when skipping is subtlest (only the days the bucket moves on)."""
    scheduled, truth = _block_log(200, 10)

    def always(state: AccountState, day: object, agendas: object = None) -> bool:
        return state.version > 0

    monkeypatch.setattr(engine, "cob_needed", always)
    every_day, every_day_truth = _block_log(200, 10)
    types = {row[2] for row in scheduled}
    assert {"DelinquencyChanged", "AccountWrittenOff", "StatementIssued",
            "InstalmentFellDue"} <= types
    assert any(o["ninety_dpd_on"] is not None for o in truth)
    assert scheduled == every_day
    assert truth == every_day_truth


def test_an_account_agenda_stands_until_its_state_moves_on() -> None:
    """The engine keeps each account's ``Agenda`` until the state's version moves on;
    that is only right if nothing changes the state without an event. After every day
    of a block, each kept agenda must equal one read afresh, and days past due read off
    it must equal the ledger's own count."""
    frame = population.block(CONFIG, 200, 11, 0)
    simulation = BlockSimulation(CONFIG, frame, 11, 0, 8, lambda events: None)
    checked = {"kept": 0, "delinquent": 0}

    def sink(events: list[StoredEvent]) -> None:
        day = simulation.clock.today()
        for b in simulation.borrowers:
            for state in (b.line_state, b.loan_state):
                if state is None:
                    continue
                kept = simulation.agendas.get(state.account_id)
                fresh = engine.agenda_of(state)
                if kept is not None and kept.version == state.version:
                    assert kept == fresh, state.account_id
                    checked["kept"] += 1
                if isinstance(state, CreditLineState):
                    dpd = days_past_due(fresh.oldest_unpaid_due, day)
                    assert dpd == state.days_past_due(day)
                    checked["delinquent"] += dpd > 0

    simulation.sink = sink
    simulation.run()
    assert checked["kept"] > 10_000 and checked["delinquent"] > 100


def test_the_simulated_log_replays_and_balances(tmp_path: Path) -> None:
    summary = simulate(CONFIG, 150, 4, 9, tmp_path / "run", workers=1)
    with open_store(f"sqlite:///{tmp_path / 'run' / 'events.db'}") as store:
        report = replay(store, verify=True)
        assert store.last_position() == summary.manifest["events"]
    assert report.ok, report.problems
    assert report.events == summary.manifest["events"]


def test_outputs_keep_applications_apart_from_the_truth(tmp_path: Path) -> None:
    simulate(CONFIG, 100, 2, 4, tmp_path, workers=1)
    apps = pl.read_parquet(tmp_path / "applications.parquet")
    labels = pl.read_parquet(tmp_path / "labels.parquet")
    assert apps.height == labels.height == 100
    assert set(population.APPLICATION_COLUMNS) <= set(apps.columns)
    hidden = set(population.HIDDEN_DRIVER_COLUMNS) | {"defaulted_12m", "fraud_started_on"}
    assert not hidden & set(apps.columns), "no ground truth may leak into applications"
    assert {"segment", "fraud_type", "defaulted_12m", "fraud_started_on"} <= set(labels.columns)
    manifest = (tmp_path / "manifest.json").read_text()
    assert CONFIG.config_hash() in manifest and '"seed": 4' in manifest


def test_bad_arguments_are_refused_with_every_problem_before_anything_is_written(
        tmp_path: Path) -> None:
    out = tmp_path / "nothing"
    with pytest.raises(InvalidConfiguration) as caught:
        simulate(CONFIG, 0, 0, -1, out)
    assert len(caught.value.problems) == 3
    assert not out.exists()


def test_a_store_that_already_holds_events_is_refused(tmp_path: Path) -> None:
    simulate(CONFIG, 20, 1, 1, tmp_path / "one", workers=1)
    url = f"sqlite:///{tmp_path / 'one' / 'events.db'}"
    with pytest.raises(InvalidConfiguration, match="not empty"):
        simulate(CONFIG, 20, 1, 1, tmp_path / "two", store_url=url, workers=1)


def test_a_second_run_into_the_same_directory_is_refused_and_changes_nothing(
        tmp_path: Path) -> None:
    simulate(CONFIG, 20, 1, 1, tmp_path, workers=1)
    url = f"sqlite:///{tmp_path / 'events.db'}"
    with open_store(url) as store:
        before = list(store.read_all())
    with pytest.raises(InvalidConfiguration, match="not empty"):
        simulate(CONFIG, 20, 1, 2, tmp_path, workers=1)
    with open_store(url) as store:
        assert list(store.read_all()) == before
    assert len(before) > 20


def test_the_policy_declines_heavy_multi_lender_borrowing() -> None:
    frame = population.block(CONFIG, 2048, 3, 0)
    sim = BlockSimulation(CONFIG, frame, 3, 0, 1, lambda events: None)
    decisions = [(b, policy_decision(b)) for b in sim.borrowers]
    for b, (approved, line, loan) in decisions:
        if b.lenders >= 6 or b.inquiries >= 10:
            assert not approved and line == loan == 0
        if approved:
            assert 50_000 <= line <= 5_000_000 and line % 10_000 == 0
            assert loan == 0 or b.has_bureau_file
    assert 0.8 < sum(a for _, (a, _, _) in decisions) / len(decisions) < 1.0


def test_the_log_does_not_depend_on_the_number_of_workers(tmp_path: Path) -> None:
    # 600 borrowers are two shards: simulated one after the other, or side by side.
    alone = simulate(CONFIG, 600, 2, 8, tmp_path / "one", workers=1)
    pooled = simulate(CONFIG, 600, 2, 8, tmp_path / "two", workers=2)
    assert alone.log_sha256 == pooled.log_sha256
    assert alone.manifest["counts"] == pooled.manifest["counts"]
