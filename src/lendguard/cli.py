"""The ``lendguard`` command.

Every subcommand is a thin adapter: it parses and validates its arguments, builds the
ledger through ``bootstrap``-style wiring here, calls the application layer, and turns
typed errors into a message and a non-zero exit code. Nothing is written when a command
fails.
"""

from __future__ import annotations

import os
import sys
import tempfile
import uuid
from collections.abc import Callable, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn
from rich.table import Table

from lendguard.clock import DEFAULT_TZ, Clock, FixedClock, SystemClock
from lendguard.errors import InvalidCommand, LendguardError
from lendguard.money import Money
from lendguard.notify import FileOutbox
from lendguard.service import Ledger
from lendguard.store import open_store
from lendguard.store.base import EventStore

if TYPE_CHECKING:
    import polars as pl

    from lendguard.risk.artefact import Artefact
    from lendguard.risk.behaviour import BehaviourSample
    from lendguard.risk.scorecard import ScorecardOptions
    from lendguard.risk.training import TrainingRun

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="lendguard: a consumer-credit platform with risk management built in.")
console = Console()
err = Console(stderr=True)

DbOption = Annotated[Path, typer.Option("--db", help="SQLite event store file")]
DateOption = Annotated[str | None, typer.Option("--date", help="business date YYYY-MM-DD "
                                                "(default: today in Asia/Shanghai)")]
KeyOption = Annotated[str | None, typer.Option("--key", help="idempotency key (default: new)")]


def _fail(error: Exception) -> typer.Exit:
    code = getattr(error, "code", "error")
    err.print(f"[red]error[/] ({code}): {error}")
    return typer.Exit(2)


def _clock(day: str | None) -> Clock:
    if day is None:
        return SystemClock()
    try:
        parsed = date.fromisoformat(day)
    except ValueError:
        raise InvalidCommand(f"--date must be YYYY-MM-DD, got {day!r}") from None
    return FixedClock(datetime.combine(parsed, time(12), DEFAULT_TZ))


def _money(text: str) -> Money:
    return Money.of(text)


def _ledger(db: Path, day: str | None, must_exist: bool = True) -> Ledger:
    if must_exist and not db.exists():
        raise InvalidCommand(f"no event store at {db}")
    return Ledger(open_store(f"sqlite:///{db}"), _clock(day), actor="user:cli",
                  notifier=FileOutbox(_outbox_path(db)))


def _outbox_path(db: Path) -> Path:
    """The local outbox that stands in for SMS: one JSON line per message."""
    return db.with_name(db.name + ".outbox.jsonl")


def _key(key: str | None) -> str:
    return key or str(uuid.uuid4())


@app.command()
def demo(
    out: Annotated[Path | None, typer.Option(
        "--out", help="keep the run here (default: a new temporary directory, kept)")] = None,
    borrowers: Annotated[int, typer.Option("--borrowers", help="portfolio size")] = 3_000,
    months: Annotated[int, typer.Option("--months", help="months to simulate")] = 12,
    seed: Annotated[int, typer.Option("--seed")] = 2026,
    story: Annotated[bool, typer.Option(
        "--story", help="instead: the scripted year of one borrower, rule by rule")] = False,
    db: Annotated[Path | None, typer.Option(
        "--db", help="with --story: keep its event store here")] = None,
) -> None:
    """The whole platform in one command: simulate a portfolio on the ledger, verify the
    books, a borrower's health, a safe closure, and a portfolio report."""
    try:
        if story:
            _story(db)
            return
        from lendguard.platform_demo import run_platform_demo

        if out is not None and out.exists() and any(out.iterdir()):
            raise InvalidCommand(f"{out} is not empty; the demo needs a fresh directory")
        target = out or Path(tempfile.mkdtemp(prefix="lendguard-demo-"))
        result = run_platform_demo(target, console, borrowers=borrowers, months=months,
                                   seed=seed)
    except LendguardError as exc:
        raise _fail(exc) from exc
    if not result.ok:
        raise typer.Exit(1)


def _story(db: Path | None) -> None:
    from lendguard.demo import run_demo

    if db is not None:
        if db.exists():
            raise InvalidCommand(f"{db} already exists; the demo needs a fresh file")
        report = run_demo(str(db), console)
    else:
        with tempfile.TemporaryDirectory() as tmp:
            report = run_demo(os.path.join(tmp, "demo.db"), console)
    if not report.ok:
        raise typer.Exit(1)


@app.command()
def replay(db: DbOption, verify: Annotated[bool, typer.Option(
        "--verify", help="check the journal and every balance")] = False,
        workers: Annotated[int | None, typer.Option(
            min=1, help="processes to share the accounts between (default: the CPUs "
                        "not already busy, at most 4)")] = None) -> None:
    """Rebuild every account from the event log; with --verify, check the books."""
    from lendguard.replay import default_workers
    from lendguard.replay import replay as run_replay
    from lendguard.views import trial_balance_table

    if not db.exists():
        raise _fail(InvalidCommand(f"no event store at {db}"))
    store = open_store(f"sqlite:///{db}")
    total = store.last_position()
    with Progress(TextColumn("replaying"), BarColumn(), TextColumn("{task.completed:,} events"),
                  console=err, transient=True) as progress:
        task = progress.add_task("replay", total=total)
        report = run_replay(store, verify=verify, workers=workers or default_workers(),
                            progress=lambda n: progress.advance(task, n))
    store.close()
    processes = "1 process" if report.workers == 1 else f"{report.workers} processes"
    console.print(f"{report.events:,} events, {report.streams:,} accounts, "
                  f"{report.seconds:.2f} s ({report.events_per_second:,.0f} events/s, "
                  f"{processes})")
    if verify:
        console.print(trial_balance_table(report.journal))
        if report.problems:
            for problem in report.problems:
                err.print(f"[red]mismatch[/] {problem}")
            raise typer.Exit(1)
        console.print("[green]verified[/]: journal balances, every account matches its journal")


@app.command()
def simulate(
    borrowers: Annotated[int, typer.Option("--borrowers", help="how many borrowers")] = 2_000,
    months: Annotated[int | None, typer.Option(
        "--months", help="months to simulate (default: the configuration's horizon)")] = None,
    seed: Annotated[int, typer.Option("--seed", help="the run's seed")] = 2026,
    out: Annotated[Path, typer.Option("--out", help="directory for the store, tables and "
                                      "manifest")] = Path("sim-out"),
    config: Annotated[Path | None, typer.Option(
        "--config", help="a YAML configuration (default: the packaged defaults)")] = None,
    store: Annotated[str | None, typer.Option(
        "--store", help="an event store URL (default: OUT/events.db)")] = None,
    workers: Annotated[int | None, typer.Option(
        "--workers", help="processes (default: one per CPU)")] = None,
) -> None:
    """Simulate a borrower population on the real ledger: event store, application and
    label tables (Parquet) and a run manifest."""
    from lendguard.sim import load_config
    from lendguard.sim.run import simulate as run_simulation
    from lendguard.views import report_to, simulation_progress, simulation_table

    try:
        chosen = load_config(config)
        if (out / "manifest.json").exists() or (store is None and (out / "events.db").exists()):
            raise InvalidCommand(f"{out} already holds a run; choose another --out")
        with simulation_progress(err) as progress:
            summary = run_simulation(chosen, borrowers, months or chosen.horizon_months, seed,
                                     out, store_url=store, workers=workers,
                                     progress=report_to(progress))
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(simulation_table(summary.manifest))
    console.print(f"wrote {out}/: events.db, applications.parquet, labels.parquet, "
                  "manifest.json")


account_app = typer.Typer(help="open and manage accounts", no_args_is_help=True)
app.add_typer(account_app, name="account")


@account_app.command("open")
def account_open(db: DbOption, account: Annotated[str, typer.Option(help="account id")],
                 customer: Annotated[str, typer.Option(help="customer id")],
                 limit: Annotated[str, typer.Option(help="limit in yuan, e.g. 5000.00")],
                 kind: Annotated[str, typer.Option(help="credit_line or cash_loan")] =
                 "credit_line", day: DateOption = None, key: KeyOption = None) -> None:
    """Open a credit line or a cash-loan account (creates the store file if needed)."""
    try:
        ledger = _ledger(db, day, must_exist=False)
        if kind == "credit_line":
            ledger.open_credit_line(account, customer, _money(limit), key=_key(key))
        elif kind == "cash_loan":
            ledger.open_cash_loan(account, customer, _money(limit), key=_key(key))
        else:
            raise InvalidCommand(f"--kind must be credit_line or cash_loan, got {kind!r}")
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(f"opened {kind} {account} for {customer} with limit {_money(limit)}")


@app.command()
def purchase(db: DbOption, account: Annotated[str, typer.Option()],
             order: Annotated[str, typer.Option()], amount: Annotated[str, typer.Option()],
             merchant: Annotated[str, typer.Option()] = "merchant",
             category: Annotated[str, typer.Option()] = "general",
             channel: Annotated[str, typer.Option()] = "app",
             settle: Annotated[bool, typer.Option(help="settle at once")] = False,
             day: DateOption = None, key: KeyOption = None) -> None:
    """Pay for an order on a credit line."""
    try:
        ledger = _ledger(db, day)
        base = _key(key)
        ledger.purchase(account, order, _money(amount), merchant, category, channel, key=base)
        if settle:
            ledger.settle(account, order, key=f"{base}:settle")
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(f"{account}: order {order} for {_money(amount)}")


@app.command()
def repay(db: DbOption, amount: Annotated[str, typer.Option()],
          account: Annotated[str | None, typer.Option()] = None,
          customer: Annotated[str | None, typer.Option(help="spread over all accounts")] = None,
          day: DateOption = None, key: KeyOption = None) -> None:
    """Repay one account, or a customer's accounts oldest-due first."""
    try:
        ledger = _ledger(db, day)
        repayment = _key(key)
        if (account is None) == (customer is None):
            raise InvalidCommand("give exactly one of --account or --customer")
        if account is not None:
            ledger.repay(account, repayment, _money(amount), key=repayment)
        else:
            ledger.repay_customer(str(customer), repayment, _money(amount), key=repayment)
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(f"repayment {repayment} of {_money(amount)} recorded")


@app.command()
def draw(db: DbOption, account: Annotated[str, typer.Option()],
         loan: Annotated[str, typer.Option()], amount: Annotated[str, typer.Option()],
         term: Annotated[int, typer.Option(help="months")] = 12,
         method: Annotated[str, typer.Option()] = "equal_instalment",
         day: DateOption = None, key: KeyOption = None) -> None:
    """Draw a cash loan against the approved limit."""
    try:
        ledger = _ledger(db, day)
        ledger.draw(account, loan, _money(amount), term, method, key=_key(key))
        state = ledger.cash_loan(account).loans[loan]
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(f"{account}: loan {loan} of {_money(amount)}, {term} months, "
                  f"first due {state.due_dates[0]}, APR {_apr(ledger, account, loan)}")


def _apr(ledger: Ledger, account: str, loan: str) -> str:
    from lendguard.events import decode_event
    from lendguard.ledger.events import LoanDrawn

    for stored in ledger.store.read_stream(account):
        ev = decode_event(stored.type, stored.version, stored.data)
        if isinstance(ev, LoanDrawn) and ev.loan_id == loan:
            return f"{ev.apr:.2%}"
    return "?"


@app.command()
def cob(db: DbOption, day: DateOption = None) -> None:
    """Close of business for a date: statements, instalments due, ageing, write-off."""
    try:
        ledger = _ledger(db, day)
        appended = ledger.close_of_business()
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(f"close of business {ledger.clock.today()}: {appended} events")


@app.command()
def show(db: DbOption, account: Annotated[str, typer.Option()], day: DateOption = None) -> None:
    """Show an account's balances — now, or as they stood at the end of --date."""
    from lendguard.ledger.cash_loan import CashLoanState
    from lendguard.ledger.credit_line import CreditLineState
    from lendguard.views import credit_line_summary, loan_table

    try:
        ledger = _ledger(db, day)
        state = ledger.state(account) if day is None \
            else ledger.history(account, ledger.clock.today()).state
    except LendguardError as exc:
        raise _fail(exc) from exc
    if isinstance(state, CreditLineState):
        console.print(credit_line_summary(state, ledger.clock.today()))
    elif isinstance(state, CashLoanState):
        console.print(loan_table(state, ledger.clock.today()))


@app.command()
def health(db: DbOption, customer: Annotated[str, typer.Option()],
           income: Annotated[str | None, typer.Option(help="monthly income in yuan")] = None,
           chinese: Annotated[bool, typer.Option("--zh", help="guidance in Chinese")] = False,
           day: DateOption = None) -> None:
    """A customer's financial health: burden, calendar, signals, grade and guidance."""
    from lendguard.health.view import calendar_view, signals_table, summary_table

    try:
        ledger = _ledger(db, day)
        report = ledger.health(customer, _money(income) if income is not None else None)
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(summary_table(report, customer))
    console.print(signals_table(report, chinese))
    console.print(calendar_view(report))
    for line in report.guidance(chinese):
        console.print(line)


@app.command()
def outbox(db: DbOption, customer: Annotated[str, typer.Option()]) -> None:
    """Read the messages sent to a customer (one-time codes and notices)."""
    messages = FileOutbox(_outbox_path(db)).messages(customer)
    if not messages:
        console.print(f"no messages for {customer}")
    for message in messages:
        console.print(f"[dim]{message.at}[/] {message.account_id}: {message.text}")


@app.command()
def close(db: DbOption, account: Annotated[str, typer.Option(help="the account to close")],
          both: Annotated[bool, typer.Option(
              "--both", help="close every account of the account's customer")] = False,
          pay_off: Annotated[bool, typer.Option(
              "--pay-off", help="first pay off what is payable now, then close")] = False,
          code: Annotated[str | None, typer.Option(help="the one-time code received")] = None,
          yes: Annotated[bool, typer.Option("--yes", help="confirm without asking")] = False,
          day: DateOption = None) -> None:
    """Close an account safely: blockers, optional payoff, one-time code, confirmation.

    Without --code it requests a code (sent to the outbox: `lendguard outbox`); run again
    with --code to verify and close. With a terminal attached it asks for what is missing.
    """
    from lendguard.closing import CloseRequest, run_closure

    try:
        ledger = _ledger(db, day)
        interactive = sys.stdin.isatty() and sys.stdout.isatty()
        outcomes = run_closure(ledger, CloseRequest(account, both, pay_off, code, yes),
                               console, interactive)
    except LendguardError as exc:
        raise _fail(exc) from exc
    if not all(outcome.closed for outcome in outcomes):
        raise typer.Exit(1)


@app.command("closure-record")
def closure_record(db: DbOption, account: Annotated[str, typer.Option()]) -> None:
    """Print the closure record of a closed account."""
    from lendguard.closing import closure_record_table

    try:
        ledger = _ledger(db, None)
        console.print(closure_record_table(ledger, account))
    except LendguardError as exc:
        raise _fail(exc) from exc


LogOption = Annotated[str | None, typer.Option(
    "--from-db", help="an event store: a SQLite file or a postgresql:// URL")]
AsOfOption = Annotated[str | None, typer.Option(
    "--as-of", help="with --from-db: features from events up to this date, YYYY-MM-DD")]
BadValueOption = Annotated[str | None, typer.Option(
    "--bad-value", help="when the target is not 0/1: its value that means default (e.g. "
                        "bad, 2, yes); its one other value means repaid")]


@app.command()
def train(target: Annotated[str, typer.Option(help="the 0/1 column to predict (1 = default)")],
          out: Annotated[Path, typer.Option(help="directory the model artefact is written to")],
          data: Annotated[Path | None, typer.Option(help="training data, CSV or Parquet")] = None,
          from_db: LogOption = None, as_of: AsOfOption = None,
          window_months: Annotated[int, typer.Option(
              "--window-months", help="with --from-db: months after --as-of in which a "
                                      "customer going 90+ days past due counts as bad")] = 12,
          save_features: Annotated[Path | None, typer.Option(
              "--save-features", help="with --from-db: also write the feature frame here "
                                      "(CSV or Parquet)")] = None,
          model: Annotated[str, typer.Option(help="scorecard, lightgbm or both")] = "both",
          cv: Annotated[int, typer.Option(help="also measure AUC by N-fold stratified "
                                          "cross-validation (0: no)")] = 0,
          features: Annotated[Path | None, typer.Option(
              help="with --data: a YAML feature file (columns to exclude; each feature's "
                   "kind, trend, special values and descriptions)")] = None,
          exclude: Annotated[list[str] | None, typer.Option(
              help="with --data: a column that is not a feature (repeat for more)")] = None,
          base_score: Annotated[float, typer.Option(
              help="the score at odds --base-odds : 1 (repay : default)")] = 600.0,
          base_odds: Annotated[float, typer.Option(help="the odds of --base-score")] = 50.0,
          pdo: Annotated[float, typer.Option(help="points that double the odds")] = 20.0,
          bad_value: BadValueOption = None,
          ) -> None:
    """Train a scorecard and/or a LightGBM challenger and save them as an artefact: on a
    table (--data), or on behaviour features from an event store at an as-of date
    (--from-db with --as-of and --target bad)."""
    from lendguard.risk.scorecard import Scaling, ScorecardOptions
    from lendguard.risk.spec import read_feature_file
    from lendguard.risk.training import read_table, train_models

    try:
        if (data is None) == (from_db is None):
            raise InvalidCommand("give exactly one of --data or --from-db")
        try:
            options = ScorecardOptions(scaling=Scaling(base_score, base_odds, pdo))
        except ValueError as exc:
            raise InvalidCommand(f"--base-score/--base-odds/--pdo: {exc}") from None
        if from_db is not None and bad_value is not None:
            raise InvalidCommand("--bad-value goes with --data (the target of --from-db is "
                                 "lendguard's own 0/1 bad)")
        if from_db is not None and (features is not None or exclude):
            raise InvalidCommand("--features and --exclude go with --data (the behaviour "
                                 "features of --from-db are declared by lendguard)")
        spec = read_feature_file(features).with_excluded(exclude or [])
        with Progress(TextColumn("{task.description}"), BarColumn(),
                      TextColumn("{task.completed:,}"), console=err,
                      transient=True) as progress:
            task = progress.add_task("training", total=None)

            def step(what: str) -> None:
                progress.update(task, advance=1, description=what)

            if from_db is not None:
                run = _train_from_log(from_db, _as_of(as_of), window_months, target, out,
                                      model, cv, save_features, progress, step, options)
            else:
                if as_of is not None or save_features is not None:
                    raise InvalidCommand("--as-of and --save-features go with --from-db")
                frame = read_table(Path(str(data)))
                run = train_models(frame, target, out, model, str(data), cv_folds=cv,
                                   progress=step, spec=spec, scorecard_options=options,
                                   bad_value=bad_value)
    except LendguardError as exc:
        raise _fail(exc) from exc
    for name, (mean, spread) in run.cv_auc.items():
        console.print(f"{name}: {cv}-fold cross-validated AUC {mean:.4f} ± {spread:.4f}")
    if run.trained is not None:
        console.print(f"scorecard: {len(run.trained.scorecard.features)} features, "
                      f"C {run.trained.C:g}, scores {run.trained.scorecard.scaling.base_score:g}"
                      f" at odds {run.trained.scorecard.scaling.base_odds:g}:1, "
                      f"PDO {run.trained.scorecard.scaling.pdo:g}")
    if run.challenger is not None:
        console.print(f"challenger: LightGBM, {run.challenger.calibration.method} calibration")
    console.print(f"model {run.artefact.model_version} ({run.artefact.kind}) written to {out}")


def _as_of(text: str | None) -> date:
    if text is None:
        raise InvalidCommand("--from-db needs --as-of YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidCommand(f"--as-of must be YYYY-MM-DD, got {text!r}") from None


def _open_log(where: str) -> EventStore:
    """An existing event store: a postgresql:// URL, or a SQLite file (a path or a
    sqlite:/// URL) that must exist (opening a missing one would create it)."""
    if where.startswith(("postgresql://", "postgres://")):
        return open_store(where)
    path = Path(where.removeprefix("sqlite:///"))
    if not path.is_file():
        raise InvalidCommand(f"no event store at {path}")
    return open_store(f"sqlite:///{path}")


def _without_password(where: str) -> str:
    """A store URL fit for a model card: no user or password."""
    parts = urlsplit(where)
    if not parts.scheme.startswith("postgres") or "@" not in parts.netloc:
        return where
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


def _reading(progress: Progress, total: int) -> Callable[[int], None]:
    task = progress.add_task("reading the log", total=total)
    return lambda n: progress.advance(task, n)


def _train_from_log(where: str, as_of: date, window_months: int, target: str, out: Path,
                    model: str, cv: int, save_features: Path | None, progress: Progress,
                    step: Callable[[str], None], options: ScorecardOptions) -> TrainingRun:
    from lendguard.asof import train_from_log

    with _open_log(where) as store:
        source = f"{_without_password(where)} as of {as_of}, {window_months}-month window"
        sample, run = train_from_log(
            store, as_of, window_months, target, out, model, source, cv_folds=cv,
            features_out=save_features, reading=_reading(progress, store.last_position()),
            training=step, scorecard_options=options)
    console.print(_sample_line(sample))
    if save_features is not None:
        console.print(f"features of {sample.frame.height:,} customers written to "
                      f"{save_features}")
    return run


def _sample_line(sample: BehaviourSample) -> str:
    excluded = sample.excluded_counts()
    reasons = ", ".join(f"{n:,} {_EXCLUSIONS[reason]}" for reason, n in sorted(excluded.items()))
    line = (f"behaviour sample as of {sample.as_of.day}: {sample.frame.height:,} customers"
            + (f" ({sum(excluded.values()):,} excluded: {reasons})" if excluded else ""))
    if sample.as_of.window_end is not None:
        rows = sample.included.height
        line += (f"; {sample.as_of.window_months}-month window to {sample.as_of.window_end}: "
                 f"{sample.bads:,} of {rows:,} went 90+ days past due "
                 f"({sample.bads / max(rows, 1):.1%})")
    return line


_EXCLUSIONS = {"already_bad": "already 90+ days past due or written off",
               "closed": "with every account closed"}


@app.command()
def features(
    db: Annotated[str, typer.Option("--db", help="an event store: a SQLite file or a "
                                    "postgresql:// URL")],
    as_of: Annotated[str, typer.Option("--as-of", help="features from events up to this "
                                       "date, YYYY-MM-DD")],
    out: Annotated[Path, typer.Option(help="the feature frame, CSV or Parquet")],
    window_months: Annotated[int, typer.Option(
        "--window-months", help="also the target: 90+ days past due within this many "
                                "months after --as-of (0: no target)")] = 0,
) -> None:
    """Write every customer's behaviour features at an as-of date (one row each)."""
    from lendguard.asof import features_from_log
    from lendguard.risk.behaviour import FEATURE_NAMES

    try:
        day = _as_of(as_of)
        with _open_log(db) as store, Progress(
                TextColumn("reading the log"), BarColumn(),
                TextColumn("{task.completed:,} events"), console=err,
                transient=True) as progress:
            sample = features_from_log(store, day, out, window_months,
                                       _reading(progress, store.last_position()))
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(_sample_line(sample))
    console.print(f"{len(FEATURE_NAMES)} features of "
                  f"{sample.frame.height:,} customers written to {out}")


@app.command()
def score(model: Annotated[Path, typer.Option(help="a model artefact directory")],
          out: Annotated[Path, typer.Option(help="scored rows, CSV or Parquet")],
          data: Annotated[Path | None, typer.Option(help="rows to score, CSV or Parquet")] = None,
          from_db: LogOption = None, as_of: AsOfOption = None,
          reasons: Annotated[int, typer.Option(
              help="reason codes per row (the scorecard's, and the challenger's if the "
                   "model has one)")] = 0,
          language: Annotated[str, typer.Option(
              help="reason codes in en, zh or both")] = "en",
          ) -> None:
    """Score a table (--data), or every customer's behaviour at an as-of date (--from-db
    with --as-of), with a saved model (refused if its hash or schema does not match)."""
    from lendguard.risk.artefact import load_artefact
    from lendguard.risk.training import (
        check_reason_options,
        read_table,
        score_table,
        write_table,
    )

    try:
        if (data is None) == (from_db is None):
            raise InvalidCommand("give exactly one of --data or --from-db")
        check_reason_options(reasons, language)
        artefact = load_artefact(model)
        if from_db is not None:
            scored = _score_from_log(artefact, from_db, _as_of(as_of), reasons, language)
        else:
            if as_of is not None:
                raise InvalidCommand("--as-of goes with --from-db")
            frame = read_table(Path(str(data)))
            with Progress(TextColumn("scoring {task.total:,} rows"), console=err,
                          transient=True) as progress:
                progress.add_task("score", total=frame.height)
                scored = score_table(artefact, frame, reasons, language)
        write_table(scored, out)
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(f"{scored.height:,} rows scored by model {artefact.model_version} → {out}")


def _score_from_log(artefact: Artefact, where: str, as_of: date, reasons: int,
                    language: str) -> pl.DataFrame:
    from lendguard.asof import score_from_log

    with _open_log(where) as store, Progress(
            TextColumn("reading the log"), BarColumn(),
            TextColumn("{task.completed:,} events"), console=err, transient=True) as progress:
        return score_from_log(artefact, store, as_of, reasons,
                              _reading(progress, store.last_position()), language)


@app.command()
def validate(model: Annotated[Path, typer.Option(help="the model artefact under review")],
             data: Annotated[Path, typer.Option(help="labelled rows, CSV or Parquet")],
             target: Annotated[str, typer.Option(help="the 0/1 outcome column (1 = default)")],
             out: Annotated[Path, typer.Option(help="directory for validation.html/.json")],
             later: Annotated[Path | None, typer.Option(
                 help="a later labelled sample, for PSI/CSI and out-of-time figures")] = None,
             challenger: Annotated[Path | None, typer.Option(
                 help="a challenger artefact, for the swap set")] = None,
             bootstrap: Annotated[int, typer.Option(
                 help="bootstrap resamples behind each interval")] = 1_000,
             bad_value: BadValueOption = None) -> None:
    """Validate a saved model: discrimination, calibration, stability, gains, swap set."""
    from lendguard.risk.validating import validate_model

    try:
        with Progress(TextColumn("validating"), BarColumn(), console=err,
                      transient=True) as progress:
            progress.add_task("validate", total=None)
            report = validate_model(model, data, target, out, later, challenger, bootstrap,
                                    bad_value)
    except LendguardError as exc:
        raise _fail(exc) from exc
    console.print(validation_table(report.data))
    if report.data.get("stability"):
        console.print(psi_line(report.data))
    console.print(f"overall: {report.overall}")
    console.print(f"report: {report.html_path}")
    console.print(f"numbers: {report.json_path}")


def validation_table(data: Mapping[str, Any]) -> Table:
    """AUC, KS and Gini with their intervals, one row per sample."""
    table = Table(title=f"validation of {data['model']}")
    for column in ("sample", "rows", "bads", "AUC", "KS", "Gini"):
        table.add_column(column, justify="left" if column == "sample" else "right")
    for name, sample in data["samples"].items():
        measured = sample["discrimination"]
        table.add_row(name, f"{sample['n']:,}", f"{sample['bads']:,}",
                      *(_with_interval(measured[key]) for key in ("auc", "ks", "gini")))
    return table


def psi_line(data: Mapping[str, Any]) -> str:
    psi = data["stability"]["score_psi"]
    return f"score PSI development → later: {psi['value']:.4f} ({psi['reading']})"


def _with_interval(estimate: Mapping[str, Any]) -> str:
    low, high = estimate["low"], estimate["high"]
    interval = f" [{low:.3f}, {high:.3f}]" if low is not None and high is not None else ""
    return f"{estimate['value']:.3f}{interval}"


if __name__ == "__main__":
    app()
