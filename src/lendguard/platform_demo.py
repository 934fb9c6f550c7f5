"""``lendguard demo``: the whole platform in one command, on the embedded default.

1. Simulate a portfolio (a few thousand borrowers for a year) on the real ledger.
2. Rebuild every account from the log and check the books.
3. One over-borrower's financial health, folded from the log.
4. A borrower closes both products through the code flow.
5. A summary table, and a portfolio report as one HTML file.

Stages land here as the platform grows (scoring, decisions and monitoring next). The
scripted single-borrower year that walks through each product rule is
``lendguard demo --story``.
"""

from __future__ import annotations

import time as clock
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TypeVar

import polars as pl
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.closing import CloseRequest, closure_record_table, run_closure
from lendguard.errors import LendguardError
from lendguard.health.view import signals_table, summary_table
from lendguard.money import Money
from lendguard.notify import CodeSource, MemoryOutbox
from lendguard.replay import ReplayReport, replay
from lendguard.service import Ledger
from lendguard.sim import load_config
from lendguard.sim.config import SimulationConfig
from lendguard.sim.report import write_report
from lendguard.sim.run import RunSummary, simulate
from lendguard.store import open_store
from lendguard.store.base import EventStore
from lendguard.views import (
    report_to,
    simulation_progress,
    simulation_table,
    trial_balance_table,
)

T = TypeVar("T")


@dataclass
class Stage:
    name: str
    outcome: str
    seconds: float


@dataclass
class DemoResult:
    out: Path
    report: Path | None = None
    stages: list[Stage] = field(default_factory=list)
    ok: bool = True


def run_platform_demo(out: Path, console: Console, borrowers: int = 3_000, months: int = 12,
                      seed: int = 2026, workers: int | None = None) -> DemoResult:
    """Run every stage that exists; see the module docstring."""
    result = DemoResult(out)
    config = load_config()
    console.rule(f"[bold]1. A simulated portfolio: {borrowers:,} borrowers × {months} months")
    summary = _timed(result, "simulate", lambda: _simulate(config, borrowers, months, seed,
                                                           out, workers, console))
    console.print(simulation_table(summary.manifest))
    console.rule("[bold]2. The books, rebuilt from the log")
    with open_store(f"sqlite:///{out / 'events.db'}") as store:
        report = _timed(result, "replay and verify", lambda: _replay(store, console))
        console.print(trial_balance_table(report.journal, "Trial balance, rebuilt from the log"))
        verdict = "balanced, every account matches" if report.ok else \
            f"{len(report.problems)} problems"
        console.print(f"replay: {report.events:,} events, {report.streams:,} accounts in "
                      f"{report.seconds:.1f} s: {verdict}")
        result.ok = report.ok
        labels = pl.read_parquet(out / "labels.parquet")
        apps = pl.read_parquet(out / "applications.parquet")
        end = config.start + timedelta(days=round(months * 30.44)) - timedelta(days=1)
        ledger = Ledger(store, FixedClock(datetime.combine(end, time(20), DEFAULT_TZ)),
                        actor="user:demo", notifier=MemoryOutbox(), codes=CodeSource(seed))
        console.rule("[bold]3. One borrower's financial health")
        _timed(result, "health", lambda: _health(ledger, labels, apps, console))
        console.rule("[bold]4. Closing both products safely")
        _timed(result, "closure", lambda: _closure(ledger, labels, end, console))
    console.rule("[bold]5. Summary")
    result.report = write_report(out / "report.html", summary.manifest, labels, report.journal)
    console.print(_stages_table(result))
    console.print(f"portfolio report: {result.report}")
    console.print(f"everything else: {out}/ (events.db, applications.parquet, "
                  "labels.parquet, manifest.json)")
    return result


def _timed(result: DemoResult, name: str, step: Callable[[], T]) -> T:
    started = clock.perf_counter()
    try:
        value = step()
    except LendguardError as exc:
        result.stages.append(Stage(name, f"failed: {exc}", clock.perf_counter() - started))
        result.ok = False
        raise
    result.stages.append(Stage(name, "ok", clock.perf_counter() - started))
    return value


def _simulate(config: SimulationConfig, borrowers: int, months: int, seed: int, out: Path,
              workers: int | None, console: Console) -> RunSummary:
    with simulation_progress(console) as progress:
        return simulate(config, borrowers, months, seed, out, workers=workers,
                        progress=report_to(progress))


def _replay(store: EventStore, console: Console) -> ReplayReport:
    with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.completed:,}"),
                  console=console, transient=True) as progress:
        task = progress.add_task("replay", total=store.last_position())
        return replay(store, verify=True, progress=lambda n: progress.advance(task, n))


def _health(ledger: Ledger, labels: pl.DataFrame, apps: pl.DataFrame,
            console: Console) -> None:
    """The health report of the first over-borrower (以贷养贷) with both products who has
    not yet gone 90 days past due."""
    with_loans = apps.filter(pl.col("loan_limit_fen") > 0).select("customer_id")
    over = labels.filter((pl.col("segment") == "over_borrower") & pl.col("approved")
                         & pl.col("ninety_dpd_on").is_null()).join(
        with_loans, on="customer_id", maintain_order="left")
    if over.is_empty():
        console.print("no over-borrower in this portfolio")
        return
    customer = str(over["customer_id"][0])
    income = int(apps.filter(pl.col("customer_id") == customer)["monthly_income_fen"][0])
    report = ledger.health(customer, Money(income))
    console.print(summary_table(report, customer))
    console.print(signals_table(report))
    for line in report.guidance() + report.guidance(chinese=True):
        console.print(line)


def _closure(ledger: Ledger, labels: pl.DataFrame, end: date, console: Console) -> None:
    """A prudent borrower pays off whatever is owed and closes both products."""
    prudent = labels.filter((pl.col("segment") == "prudent") & pl.col("approved")
                            & pl.col("closed_on").is_null())
    for customer in prudent["customer_id"].to_list()[:25]:
        line = f"L-{customer}"
        accounts = ledger.accounts_of(customer)
        if any(not b.payable for a in accounts for b in ledger.closure_blockers(a)):
            continue  # e.g. a merchant has yet to settle: try another borrower
        console.print(f"[cyan]{end}[/] {customer} asks to close both products")
        run_closure(ledger, CloseRequest(line, both=True, pay_off=True, yes=True), console,
                    interactive=False)
        message = ledger.notifier.messages(customer)[-1]
        console.print(f"[cyan]{end}[/] the code arrives: {message.text}")
        outcomes = run_closure(ledger, CloseRequest(line, both=True, code=message.code,
                                                    yes=True), console, interactive=False)
        for outcome in outcomes:
            if outcome.closed:
                console.print(closure_record_table(ledger, outcome.account_id))
        return
    console.print("no prudent borrower without pending orders to close")


def _stages_table(result: DemoResult) -> Table:
    table = Table(title="lendguard demo: every stage")
    table.add_column("stage")
    table.add_column("outcome")
    table.add_column("seconds", justify="right")
    for stage in result.stages:
        table.add_row(stage.name, stage.outcome, f"{stage.seconds:.1f}")
    return table
