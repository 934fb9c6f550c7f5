"""Rich renderings of statements, loans and the trial balance, shared by the CLI commands.

Only presentation lives here; every figure comes from the domain.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from rich.table import Table

from lendguard.ledger.accounting import CHART, Journal
from lendguard.ledger.cash_loan import CashLoanState
from lendguard.ledger.credit_line import CreditLineState
from lendguard.ledger.events import StatementIssued
from lendguard.money import yuan


def statement_table(ev: StatementIssued, state: CreditLineState | None = None) -> Table:
    title = (f"Statement {ev.statement_id}  issued {ev.statement_date}  "
             f"due {ev.due_date}  (interest-free until the due day)")
    table = Table(title=title, title_justify="left", show_footer=True)
    table.add_column("date")
    table.add_column("kind")
    table.add_column("reference")
    table.add_column("description", footer="new balance")
    new_balance = (ev.previous_balance.fen + ev.purchases.fen + ev.instalment_principal.fen
                   + ev.instalment_fees.fen)
    table.add_column("amount (CNY)", justify="right", footer=yuan(new_balance))
    if ev.previous_balance.fen:
        table.add_row("", "brought forward", "", "unpaid earlier statements",
                      yuan(ev.previous_balance.fen - sum(
                          i.amount.fen for i in ev.line_items if i.kind == "penalty interest")))
    for item in ev.line_items:
        table.add_row(str(item.on), item.kind, item.reference, item.description,
                      yuan(item.amount.fen))
    table.caption = (f"minimum payment of this statement {yuan(ev.minimum_payment.fen)}; "
                     f"new purchases {yuan(ev.purchases.fen)}, instalments "
                     f"{yuan(ev.instalment_principal.fen)} + fees {yuan(ev.instalment_fees.fen)}")
    if state is not None:
        table.caption += (f"; limit {yuan(state.limit)}, available "
                          f"{yuan(state.available_limit())}")
    table.caption_justify = "left"
    return table


def trial_balance_table(journal: Journal, title: str = "Trial balance") -> Table:
    table = Table(title=title, title_justify="left", show_footer=True)
    table.add_column("account")
    table.add_column("name", footer="total")
    rows = journal.trial_balance()
    debit = sum(r.debit for r in rows)
    credit = sum(r.credit for r in rows)
    table.add_column("debit", justify="right", footer=yuan(debit))
    table.add_column("credit", justify="right", footer=yuan(credit))
    for row in rows:
        if row.debit or row.credit:
            table.add_row(row.account, CHART[row.account][0],
                          yuan(row.debit) if row.debit else "",
                          yuan(row.credit) if row.credit else "")
    return table


def loan_table(state: CashLoanState, on: date) -> Table:
    table = Table(title=f"Cash loans of {state.account_id} on {on}", title_justify="left")
    for name in ("loan", "method", "principal", "outstanding", "next due", "fallen due unpaid",
                 "state"):
        table.add_column(name, justify="right" if name in ("principal", "outstanding",
                                                           "fallen due unpaid") else "left")
    for loan in state.loans.values():
        unpaid = sum(i.outstanding for i in loan.items.values())
        table.add_row(loan.loan_id, loan.method.value, yuan(loan.principal),
                      yuan(loan.outstanding_principal),
                      str(loan.due_dates[0]) if loan.due_dates else "-", yuan(unpaid),
                      "repaid" if loan.is_repaid else state.bucket)
    return table


def credit_line_summary(state: CreditLineState, on: date) -> Table:
    table = Table(title=f"Credit line {state.account_id} on {on}", title_justify="left")
    table.add_column("figure")
    table.add_column("CNY", justify="right")
    for name, fen in (("limit", state.limit), ("available", state.available_limit()),
                      ("pending orders", state.pending_total()),
                      ("unbilled", state.unbilled_total()),
                      ("statement balance", state.statement_balance()),
                      ("instalment principal not yet billed", state.plan_principal()),
                      ("credit balance", state.credit_balance)):
        table.add_row(name, yuan(fen))
    table.add_row("status / bucket", f"{state.status.value} / {state.bucket}")
    return table


def simulation_table(manifest: Mapping[str, Any]) -> Table:
    """A simulation run at a glance: size, speed and the calibration figures against
    their documented ranges."""
    from lendguard.sim.run import CALIBRATION_RANGES

    table = Table(title=f"Simulation: {manifest['borrowers']:,} borrowers × "
                        f"{manifest['months']} months, seed {manifest['seed']}")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_column("expected range", justify="right")
    seconds = manifest["seconds"]
    table.add_row("events", f"{manifest['events']:,}", "")
    table.add_row("time", f"{seconds['simulate']:.1f} s simulating, "
                          f"{seconds['write']:.1f} s writing", "")
    for name, value in manifest["figures"].items():
        low, high = CALIBRATION_RANGES.get(name, (None, None))
        expected = "" if low is None else f"{low:.1%} – {high:.1%}"
        mark = "" if low is None else (" [green]✓[/]" if low <= value <= high
                                       else " [red]✗[/]")
        table.add_row(name.replace("_", " "), f"{value:.1%}{mark}", expected)
    return table
