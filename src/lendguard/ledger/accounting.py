"""Double-entry accounting derived from events.

The journal is never written by hand: every ledger event maps, by ``entries_for``, to
zero or more balanced journal entries. A trial balance sums them by account. Because the
mapping is pure, the journal can be rebuilt from the log at any time and compared with
the balances the account states hold (``lendguard replay --verify``).

Chart of accounts (code, name, kind):
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import NamedTuple

from lendguard.events import Event
from lendguard.ledger.events import (
    AccountWrittenOff,
    Allocation,
    CreditBalanceApplied,
    CreditBalanceRefunded,
    InterestCharged,
    LoanDrawn,
    PenaltyInterestCharged,
    PurchaseMade,
    PurchaseRefunded,
    PurchaseSettled,
    RepaymentReceived,
    StatementIssued,
)

CHART: dict[str, tuple[str, str]] = {
    "1000": ("Cash at bank (funding)", "asset"),
    "1200": ("Principal receivable: credit line", "asset"),
    "1205": ("Purchases pending settlement", "asset"),
    "1210": ("Principal receivable: cash loans", "asset"),
    "1300": ("Interest receivable", "asset"),
    "1310": ("Fee receivable", "asset"),
    "1320": ("Penalty interest receivable", "asset"),
    "2100": ("Merchant settlement payable", "liability"),
    "2200": ("Customer credit balances", "liability"),
    "4100": ("Interest income", "income"),
    "4200": ("Instalment fee income", "income"),
    "4300": ("Penalty interest income", "income"),
    "4400": ("Recoveries after write-off", "income"),
    "5100": ("Credit losses written off", "expense"),
}
__doc__ = (__doc__ or "") + "\n".join(f"  {c} {n} ({k})" for c, (n, k) in CHART.items())

_RECEIVABLE = {"interest": "1300", "fee": "1310", "penalty": "1320"}


class Posting(NamedTuple):
    """One line of a journal entry: ``amount`` fen debited (> 0) or credited (< 0).

    A named tuple rather than a frozen dataclass: verifying a replay builds a few per
    event, and a tuple is built in one C call.
    """

    account: str
    amount: int


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """A balanced journal entry for one event of one stream.

    Attributes:
      stream_id: the account (customer product) the event belongs to.
      seq: the event's number in its stream.
      on: the business date.
      event_type: the event's stable type name.
      postings: the lines; their amounts sum to zero.
    """

    stream_id: str
    seq: int
    on: date | None
    event_type: str
    postings: tuple[Posting, ...]

    @property
    def is_balanced(self) -> bool:
        return sum(p.amount for p in self.postings) == 0


def _pair(debit: str, credit: str, fen: int) -> list[Posting]:
    if fen == 0:
        return []
    return [Posting(debit, fen), Posting(credit, -fen)]


def _principal_account(stream_category: str) -> str:
    return "1210" if stream_category == "cash_loan" else "1200"


def postings_for(ev: Event, category: str) -> list[Posting]:
    """The journal lines an event produces (empty for events with no money effect)."""
    principal = _principal_account(category)
    if isinstance(ev, PurchaseMade):
        return _pair("1205", "2100", ev.amount.fen)
    if isinstance(ev, PurchaseSettled):
        return _pair("1200", "1205", ev.amount.fen) + _pair("2100", "1000", ev.amount.fen)
    if isinstance(ev, PurchaseRefunded):
        if ev.stage == "pending":
            return _pair("2100", "1205", ev.amount.fen)
        applied = ev.amount.fen - ev.to_credit_balance.fen
        return _pair("1000", "1200", applied) + _pair("1000", "2200", ev.to_credit_balance.fen)
    if isinstance(ev, StatementIssued):
        return _pair("1310", "4200", ev.instalment_fees.fen)
    if isinstance(ev, PenaltyInterestCharged):
        return _pair("1320", "4300", ev.amount.fen)
    if isinstance(ev, InterestCharged):
        return _pair("1300", "4100", ev.amount.fen)
    if isinstance(ev, LoanDrawn):
        return _pair("1210", "1000", ev.principal.fen)
    if isinstance(ev, RepaymentReceived):
        return _repayment(ev, principal)
    if isinstance(ev, CreditBalanceRefunded):
        return _pair("2200", "1000", ev.amount.fen)
    if isinstance(ev, CreditBalanceApplied):
        lines = [Posting("2200", ev.amount.fen)]
        lines += [Posting(acc, -fen) for acc, fen in _by_account(ev.allocations, principal)]
        return lines
    if isinstance(ev, AccountWrittenOff):
        lines = _pair("5100", principal, ev.principal.fen)
        lines += _pair("5100", "1300", ev.interest.fen)
        lines += _pair("5100", "1310", ev.fees.fen)
        lines += _pair("5100", "1320", ev.penalties.fen)
        return lines
    return []


def _by_account(allocations: Iterable[Allocation], principal: str) -> list[tuple[str, int]]:
    by_account: dict[str, int] = defaultdict(int)
    for part in allocations:
        account = principal if part.component == "principal" else _RECEIVABLE[part.component]
        by_account[account] += part.amount.fen
    return sorted(by_account.items())


def _repayment(ev: RepaymentReceived, principal: str) -> list[Posting]:
    lines = [Posting("1000", ev.amount.fen)]
    by_account: dict[str, int] = defaultdict(int, _by_account(ev.allocations, principal))
    by_account["2200"] += ev.to_credit_balance.fen
    by_account["4400"] += ev.recovered.fen
    lines += [Posting(acc, -fen) for acc, fen in sorted(by_account.items()) if fen]
    return lines


def event_date(ev: Event) -> date | None:
    for name in ("on", "statement_date", "to_date", "due_date"):
        value = getattr(ev, name, None)
        if isinstance(value, date):
            return value
    return None


def journal_entry(stream_id: str, seq: int, ev: Event, category: str) -> JournalEntry | None:
    lines = postings_for(ev, category)
    if not lines:
        return None
    return JournalEntry(stream_id, seq, event_date(ev), ev.type_name, tuple(lines))


@dataclass(frozen=True, slots=True)
class TrialBalanceRow:
    account: str
    name: str
    debit: int
    credit: int


def _account_totals() -> defaultdict[str, int]:
    # A named function, not a lambda, so a journal can be pickled (parallel replay).
    return defaultdict(int)


class Journal:
    """Running totals by account, overall and per stream."""

    def __init__(self) -> None:
        self.totals: dict[str, int] = defaultdict(int)
        self.by_stream: dict[str, dict[str, int]] = defaultdict(_account_totals)
        self.entries = 0
        self.unbalanced: list[JournalEntry] = []

    def merge(self, other: Journal) -> None:
        """Add ``other``'s entries to this journal (journals of disjoint sets of streams,
        say, kept in several processes); integer sums, so the order does not matter."""
        for account, fen in other.totals.items():
            self.totals[account] += fen
        for stream_id, accounts in other.by_stream.items():
            stream = self.by_stream[stream_id]
            for account, fen in accounts.items():
                stream[account] += fen
        self.entries += other.entries
        self.unbalanced += other.unbalanced

    def post(self, entry: JournalEntry) -> None:
        if not entry.is_balanced:
            self.unbalanced.append(entry)
        stream = self.by_stream[entry.stream_id]
        for line in entry.postings:
            self.totals[line.account] += line.amount
            stream[line.account] += line.amount
        self.entries += 1

    def post_event(self, stream_id: str, seq: int, ev: Event, category: str) -> None:
        """``post(journal_entry(...))``, without building the entry unless it is
        unbalanced (a replay posts every event)."""
        lines = postings_for(ev, category)
        if not lines:
            return
        totals = self.totals
        stream = self.by_stream[stream_id]
        balance = 0
        for account, amount in lines:
            totals[account] += amount
            stream[account] += amount
            balance += amount
        self.entries += 1
        if balance != 0:
            self.unbalanced.append(
                JournalEntry(stream_id, seq, event_date(ev), ev.type_name, tuple(lines)))

    def trial_balance(self) -> list[TrialBalanceRow]:
        rows = []
        for code in sorted(self.totals):
            net = self.totals[code]
            rows.append(TrialBalanceRow(code, CHART[code][0], max(net, 0), max(-net, 0)))
        return rows

    def is_balanced(self) -> bool:
        return not self.unbalanced and sum(self.totals.values()) == 0

    def stream_balance(self, stream_id: str, account: str) -> int:
        """Net debit of ``account`` for one stream; liabilities come out negative."""
        return self.by_stream.get(stream_id, {}).get(account, 0)


def build_journal(entries: Iterable[JournalEntry]) -> Journal:
    journal = Journal()
    for entry in entries:
        journal.post(entry)
    return journal
