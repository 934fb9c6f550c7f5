"""The scripted demo: a year of one borrower on both products.

Drives the real ledger through the real store, day by day with close of business, and
narrates what happens: purchases, a statement, a minimum payment, an instalment
conversion, a loan drawdown, an early repayment, a missed payment and its penalty, a
customer-level repayment, and the replay check at the end.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from rich.console import Console
from rich.progress import Progress

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.closing import CloseRequest, blockers_table, closure_record_table, run_closure
from lendguard.health.view import calendar_view, signals_table, summary_table
from lendguard.ledger.cash_loan import amount_due as loan_amount_due
from lendguard.ledger.cash_loan import payoff_quote
from lendguard.ledger.credit_line import amount_due
from lendguard.ledger.events import InstalmentPlanCreated, LoanDrawn, StatementIssued
from lendguard.money import Money, yuan
from lendguard.replay import ReplayReport, replay
from lendguard.service import CommandResult, Ledger
from lendguard.store import open_store
from lendguard.views import credit_line_summary, loan_table, statement_table, trial_balance_table

LINE = "CL-0001"
LOAN = "CA-0001"
CUSTOMER = "C-0001"
START = date(2026, 1, 1)
END = date(2026, 12, 31)


@dataclass(frozen=True, slots=True)
class Step:
    """Something the borrower does on a day, at an hour."""

    on: date
    hour: int
    say: str
    act: Callable[[Ledger], object]


def _yuan(text: str) -> Money:
    return Money.of(text)


def _minimum_due(ledger: Ledger) -> Money:
    return Money(sum(s.minimum_unpaid for s in ledger.credit_line(LINE).statements.values()))


def _pay_everything_due(ledger: Ledger, key: str) -> object:
    on = ledger.clock.today()
    due = amount_due(ledger.credit_line(LINE), on) + loan_amount_due(ledger.cash_loan(LOAN), on)
    if due == 0:
        return None
    return ledger.repay_customer(CUSTOMER, key, Money(due), key=key)


def _payment(key: str) -> Callable[[Ledger], object]:
    return lambda ledger: _pay_everything_due(ledger, key)


def script() -> list[Step]:
    steps = [
        Step(date(2026, 1, 1), 9, "opens a credit line of 10,000.00 and a cash-loan account "
             "of 50,000.00",
             lambda lg: (lg.open_credit_line(LINE, CUSTOMER, _yuan("10000"), key="open-line"),
                         lg.open_cash_loan(LOAN, CUSTOMER, _yuan("50000"), key="open-loan"))),
        Step(date(2026, 1, 5), 21, "buys headphones for 1,299.00",
             lambda lg: lg.purchase(LINE, "O-1", _yuan("1299"), "JD.com", "electronics", "app",
                                    key="buy-1")),
        Step(date(2026, 1, 6), 10, "sees the merchant settle O-1",
             lambda lg: lg.settle(LINE, "O-1", key="settle-1")),
        Step(date(2026, 1, 12), 18, "buys groceries for 356.80",
             lambda lg: lg.purchase(LINE, "O-2", _yuan("356.80"), "Hema", "grocery", "pos",
                                    key="buy-2")),
        Step(date(2026, 1, 12), 19, "sees the merchant settle O-2",
             lambda lg: lg.settle(LINE, "O-2", key="settle-2")),
        Step(date(2026, 1, 20), 23, "books a trip for 2,400.00",
             lambda lg: lg.purchase(LINE, "O-3", _yuan("2400"), "Ctrip", "travel", "app",
                                    key="buy-3")),
        Step(date(2026, 1, 22), 9, "sees the merchant settle O-3",
             lambda lg: lg.settle(LINE, "O-3", key="settle-3")),
        Step(date(2026, 1, 25), 9, "gets 400.00 back for a cancelled hotel night",
             lambda lg: lg.refund(LINE, "O-3", _yuan("400"), key="refund-3")),
        Step(date(2026, 2, 8), 20, "pays only the minimum payment, leaving the rest to "
             "accrue 0.05% a day after the due day",
             lambda lg: lg.repay(LINE, "R-feb", _minimum_due(lg), key="R-feb")),
        Step(date(2026, 2, 15), 14, "buys a phone for 6,000.00",
             lambda lg: lg.purchase(LINE, "O-4", _yuan("6000"), "Apple Store", "electronics",
                                    "app", key="buy-4")),
        Step(date(2026, 2, 16), 9, "sees the merchant settle O-4",
             lambda lg: lg.settle(LINE, "O-4", key="settle-4")),
        Step(date(2026, 2, 16), 10, "converts the phone into 6 instalments (4.5% fee)",
             lambda lg: lg.convert_purchase(LINE, "O-4", 6, "P-phone", key="convert-4")),
        Step(date(2026, 3, 9), 20, "pays the March statement in full, penalty interest "
             "included",
             lambda lg: lg.repay(LINE, "R-mar", Money(amount_due(lg.credit_line(LINE),
                                                                  lg.clock.today())),
                                 key="R-mar")),
        Step(date(2026, 3, 10), 11, "draws a cash loan of 20,000.00 over 12 months, equal "
             "instalments",
             lambda lg: lg.draw(LOAN, "L-1", _yuan("20000"), 12, "equal_instalment",
                                key="draw-1")),
    ]
    for month in range(4, 13):
        if month == 8:
            continue  # the missed payment
        steps.append(Step(date(2026, month, 10), 20, "pays everything due today",
                          _payment(f"R-{month:02d}")))
    steps += [
        Step(date(2026, 4, 18), 22, "shops for clothes for 880.00",
             lambda lg: lg.purchase(LINE, "O-5", _yuan("880"), "Taobao", "apparel", "app",
                                    key="buy-5")),
        Step(date(2026, 4, 19), 9, "sees the merchant settle O-5",
             lambda lg: lg.settle(LINE, "O-5", key="settle-5")),
        Step(date(2026, 6, 20), 12, "prepays 5,000.00 of the loan, keeping the instalment "
             "(shorter term)",
             lambda lg: lg.prepay(LOAN, "L-1", "R-pre", _yuan("5000"), "shorter_term",
                                  key="R-pre")),
        Step(date(2026, 7, 3), 23, "buys a game console for 2,999.00 late at night",
             lambda lg: lg.purchase(LINE, "O-6", _yuan("2999"), "JD.com", "electronics", "app",
                                    key="buy-6")),
        Step(date(2026, 7, 4), 9, "sees the merchant settle O-6",
             lambda lg: lg.settle(LINE, "O-6", key="settle-6")),
        Step(date(2026, 10, 20), 10, "repays the rest of the loan in full (interest only for "
             "the days used)",
             lambda lg: lg.prepay(LOAN, "L-1", "R-payoff", None, key="R-payoff")),
        Step(date(2026, 12, 3), 23, "buys a tablet for 3,600.00 at 23:00",
             lambda lg: lg.purchase(LINE, "O-7", _yuan("3600"), "JD.com", "electronics", "app",
                                    key="buy-7")),
        Step(date(2026, 12, 4), 9, "sees the merchant settle O-7",
             lambda lg: lg.settle(LINE, "O-7", key="settle-7")),
        Step(date(2026, 12, 4), 10, "converts the tablet into 3 instalments (2.3% fee)",
             lambda lg: lg.convert_purchase(LINE, "O-7", 3, "P-tablet", key="convert-7")),
        Step(date(2026, 12, 12), 19, "buys groceries for 1,500.00",
             lambda lg: lg.purchase(LINE, "O-8", _yuan("1500"), "Hema", "grocery", "pos",
                                    key="buy-8")),
        Step(date(2026, 12, 12), 20, "sees the merchant settle O-8",
             lambda lg: lg.settle(LINE, "O-8", key="settle-8")),
        Step(date(2026, 12, 15), 11, "draws 2,000.00 from the cash loan over 3 months",
             lambda lg: lg.draw(LOAN, "L-2", _yuan("2000"), 3, "equal_principal",
                                key="draw-2")),
        Step(date(2026, 12, 17), 21, "repays 1,500.00 on the credit line with that loan money",
             lambda lg: lg.repay(LINE, "R-dec", _yuan("1500"), key="R-dec")),
        Step(date(2026, 12, 28), 10, "asks for the credit balance back",
             lambda lg: lg.refund_credit_balance(LINE, key="refund-credit")
             if lg.credit_line(LINE).credit_balance else None),
        Step(date(2026, 12, 30), 22, "orders a phone case for 199.00 (not yet settled)",
             lambda lg: lg.purchase(LINE, "O-9", _yuan("199"), "Taobao", "accessories", "app",
                                    key="buy-9")),
    ]
    return sorted(steps, key=lambda s: (s.on, s.hour))


def run_demo(db_path: str, console: Console) -> ReplayReport:
    """Play the scripted year into ``db_path`` and print what happens."""
    store = open_store(f"sqlite:///{db_path}")
    clock = FixedClock(datetime.combine(START, time(9), DEFAULT_TZ))
    ledger = Ledger(store, clock, actor="user:demo-borrower")
    steps = script()
    console.rule("[bold]lendguard demo: a year of one borrower on 花呗 and 借呗")
    console.print(f"event store: sqlite:///{db_path}\n")
    day = START
    with Progress(console=console, transient=True) as progress:
        task = progress.add_task("simulating 2026", total=(END - START).days + 1)
        while day <= END:
            for step in (s for s in steps if s.on == day):
                clock.set(datetime.combine(day, time(step.hour), DEFAULT_TZ))
                outcome = step.act(ledger)
                say = "has nothing due today" if outcome is None else step.say
                progress.console.print(f"[cyan]{day}[/] the borrower {say}")
                _narrate_prices(outcome, progress.console)
                _narrate_loans(ledger, step, progress.console)
            clock.set(datetime.combine(day, time(23, 59), DEFAULT_TZ))
            before = store.last_position()
            ledger.close_of_business(day)
            _narrate_cob(ledger, store.read_all(before), progress.console)
            day += timedelta(days=1)
            progress.advance(task)
    console.print(credit_line_summary(ledger.credit_line(LINE), END))
    console.print(loan_table(ledger.cash_loan(LOAN), END))
    closing_chapter(ledger, console)
    report = replay(store, verify=True)
    console.print(trial_balance_table(report.journal, "Trial balance, rebuilt from the log"))
    verdict = "[green]books balance, every account matches its journal" if report.ok \
        else "[red]" + "; ".join(report.problems)
    console.print(f"replay: {report.events} events, {report.streams} accounts: {verdict}")
    store.close()
    return report


def closing_chapter(ledger: Ledger, console: Console) -> None:
    """New Year's Eve: the borrower reviews their health and closes both products."""
    clock = ledger.clock
    if not isinstance(clock, FixedClock):
        raise TypeError("the demo runs on a fixed business clock")
    clock.set(datetime.combine(END, time(20), DEFAULT_TZ))
    console.rule("[bold]Closing both products, as the source document walks through it")
    report = ledger.health(CUSTOMER, _yuan("9000"))
    console.print(summary_table(report, CUSTOMER))
    console.print(signals_table(report))
    console.print(calendar_view(report))
    for line in report.guidance() + report.guidance(chinese=True):
        console.print(line)
    console.print("\nThe borrower asks to close both products and sees everything in the way:")
    for account in (LINE, LOAN):
        console.print(blockers_table(account, ledger.closure_blockers(account)))
    ledger.settle(LINE, "O-9", key="settle-9")
    console.print(f"[cyan]{END}[/] the merchant settles O-9, so nothing is pending any more")
    outcomes = run_closure(ledger, CloseRequest(LINE, both=True, pay_off=True, yes=True),
                           console, interactive=False)
    message = ledger.notifier.messages(CUSTOMER)[-1]
    console.print(f"[cyan]{END}[/] the borrower reads the code in the outbox: {message.text}")
    clock.set(datetime.combine(END, time(20, 2), DEFAULT_TZ))
    outcomes = run_closure(ledger, CloseRequest(LINE, both=True, code=message.code, yes=True),
                           console, interactive=False)
    for outcome in outcomes:
        if outcome.closed:
            console.print(closure_record_table(ledger, outcome.account_id))


def _narrate_prices(outcome: object, console: Console) -> None:
    """Every price shown to the borrower comes with its APR (IRR method)."""
    if not isinstance(outcome, CommandResult):
        return
    for ev in outcome.of_type(InstalmentPlanCreated):
        if isinstance(ev, InstalmentPlanCreated):
            console.print(f"           fee {yuan(sum(ev.fee_per_period))} over {ev.periods} "
                          f"months: APR {ev.apr:.2%} (IRR method)")
    for ev in outcome.of_type(LoanDrawn):
        if isinstance(ev, LoanDrawn):
            console.print(f"           daily rate {ev.daily_rate:%}: APR {ev.apr:.2%} "
                          "(IRR method)")


def _narrate_loans(ledger: Ledger, step: Step, console: Console) -> None:
    if "draws a cash loan" in step.say:
        loan = ledger.cash_loan(LOAN).loans["L-1"]
        console.print(f"           level payment {yuan(loan.level_payment)} a month, "
                      f"first due {loan.due_dates[0]}")
    if "repays the rest" in step.say:
        console.print("           loan L-1 is repaid")


def _narrate_cob(ledger: Ledger, new_events: object, console: Console) -> None:
    from lendguard.events import decode_event
    from lendguard.ledger.events import DelinquencyChanged, PenaltyInterestCharged

    for stored in new_events:  # type: ignore[attr-defined]
        ev = decode_event(stored.type, stored.version, stored.data)
        if isinstance(ev, StatementIssued):
            console.print(statement_table(ev, ledger.credit_line(LINE)))
        elif isinstance(ev, DelinquencyChanged):
            console.print(f"[yellow]{ev.on}[/] {stored.stream_id} moves {ev.old_bucket} → "
                          f"{ev.new_bucket} ({ev.days_past_due} days past due)")
        elif isinstance(ev, PenaltyInterestCharged) and stored.stream_id == LINE:
            console.print(f"[yellow]{ev.to_date}[/] penalty interest {yuan(ev.amount.fen)} on "
                          f"{ev.item}: {(ev.to_date - ev.from_date).days} days × "
                          f"{ev.daily_rate:%} × {yuan(ev.base.fen)}")


def loan_payoff_today(ledger: Ledger) -> int:
    return payoff_quote(ledger.cash_loan(LOAN), "L-1", ledger.clock.today())
