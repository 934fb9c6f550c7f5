"""Worked examples of each health signal, the calendar, the burden, grade and guidance.

Conventions (see lendguard.health.report): the calendar runs 90 days from today; monthly
obligations are its total over three months; a credit-line repayment counts as funded by
a cash loan when it comes within 3 days after a drawdown at least half its size.
"""

from __future__ import annotations

from datetime import date, datetime, time
from decimal import Decimal

from lendguard.clock import DEFAULT_TZ, FixedClock
from lendguard.health.report import DueItem
from lendguard.money import Money
from lendguard.service import Ledger
from tests.conftest import BusinessDays

LINE, LOAN, CUSTOMER = "CL-1", "CA-1", "C-1"
M = Money.of


def open_both(ledger: Ledger) -> None:
    ledger.open_credit_line(LINE, CUSTOMER, M("10000"), key="open-line")
    ledger.open_cash_loan(LOAN, CUSTOMER, M("50000"), key="open-loan")


def buy(ledger: Ledger, order: str, amount: str, hour: int | None = None) -> None:
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    if hour is not None:
        clock.set(datetime.combine(clock.today(), time(hour), DEFAULT_TZ))
    ledger.purchase(LINE, order, M(amount), "JD.com", "electronics", "app", key=f"buy-{order}")
    ledger.settle(LINE, order, key=f"settle-{order}")


def codes(ledger: Ledger) -> set[str]:
    return {s.code for s in ledger.health(CUSTOMER).signals}


def test_a_quiet_customer_is_graded_a_and_advised_to_keep(
        ledger: Ledger, days: BusinessDays) -> None:
    open_both(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "500")
    days.go_to(date(2026, 2, 5))
    ledger.repay(LINE, "R-1", M("500"), key="R-1")  # the February statement, in full
    report = ledger.health(CUSTOMER, M("8000"))
    assert (report.signals, report.grade, report.advice) == ((), "A", "keep")
    assert report.guidance() == [
        "Keep your accounts: you are using credit within your means."]
    assert report.guidance(chinese=True) == ["建议保留：您的信用使用在可承受范围内。"]


def test_the_calendar_burden_and_debt_to_income(ledger: Ledger, days: BusinessDays) -> None:
    # On 20 Jan: 1,000.00 settled on 5 Jan is billed on 1 Feb, due 10 Feb; a 1,200.00
    # purchase in 3 periods (fee 2.3% = 27.60, 9.20 a period) bills 409.20 on 1 Feb,
    # 1 Mar and 1 Apr, due the 10th; a loan of 3,000.00 drawn 20 Jan, equal principal over
    # 3 months at 0.04% a day, is due 20 Feb (1,000.00 + 3,000.00 × 0.04% × 31 = 37.20),
    # 20 Mar (1,000.00 + 2,000.00 × 0.04% × 28 = 22.40) and 20 Apr (1,000.00 +
    # 1,000.00 × 0.04% × 31 = 12.40). The 90 days to 20 Apr hold all of it.
    open_both(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "1000")
    buy(ledger, "O-2", "1200")
    ledger.convert_purchase(LINE, "O-2", 3, "P-1", key="convert")
    days.go_to(date(2026, 1, 20))
    ledger.draw(LOAN, "L-1", M("3000"), 3, "equal_principal", key="draw")
    report = ledger.health(CUSTOMER, M("5000"))
    assert list(report.calendar) == [
        DueItem(date(2026, 2, 10), LINE, "instalments, period 1 from now", 40_920),
        DueItem(date(2026, 2, 10), LINE, "unbilled purchases", 100_000),
        DueItem(date(2026, 2, 20), LOAN, "loan L-1", 103_720),
        DueItem(date(2026, 3, 10), LINE, "instalments, period 2 from now", 40_920),
        DueItem(date(2026, 3, 20), LOAN, "loan L-1", 102_240),
        DueItem(date(2026, 4, 10), LINE, "instalments, period 3 from now", 40_920),
        DueItem(date(2026, 4, 20), LOAN, "loan L-1", 101_240),
    ]
    # 40,920 × 3 + 100,000 + 103,720 + 102,240 + 101,240 = 529,960 over three months:
    # 176,653.33 → 1,766.53 a month; against 5,000.00 of income, 35.33%.
    assert report.monthly_obligations == 176_653
    assert report.debt_to_income == Decimal("0.3533")
    # Above 35% (and not above 50%): a heavy burden, severity 2, and a reason for the grade.
    (burden,) = [s for s in report.signals if s.code == "debt_burden"]
    assert (burden.severity, burden.text) == (
        2, "repayments of CNY 1,766.53 a month take 35% of income")
    assert report.grade == "B"
    line_use, loan_use = sorted(report.utilisation, key=lambda u: u.account_id)[::-1]
    assert (line_use.used, line_use.limit) == (220_000, 1_000_000)  # 1,000 + 1,200 in use
    assert (loan_use.used, loan_use.share) == (300_000, Decimal("0.06"))


def test_repaying_the_line_with_a_fresh_loan_is_flagged(
        ledger: Ledger, days: BusinessDays) -> None:
    # 2,000.00 drawn 10 Mar; 1,500.00 repaid on the line 12 Mar (2 days later, and the
    # loan covers more than half of it): 以贷养贷. A repayment on 20 Mar (10 days later)
    # or one more than twice the drawdown would not count.
    open_both(ledger)
    days.go_to(date(2026, 2, 20))
    buy(ledger, "O-1", "1500")
    days.go_to(date(2026, 3, 10))
    ledger.draw(LOAN, "L-1", M("2000"), 3, "equal_principal", key="draw")
    days.go_to(date(2026, 3, 12))
    ledger.repay(LINE, "R-1", M("1500"), key="R-1")
    (signal,) = [s for s in ledger.health(CUSTOMER).signals
                 if s.code == "loan_funded_repayment"]
    assert signal.severity == 3
    assert "2026-03-12: repaid CNY 1,500.00 on the line 2 day(s) after drawing CNY 2,000.00" \
        in signal.text
    assert "以贷养贷" in signal.text_zh
    # The advice is to close, with the steps in order: the loan repaid in full today
    # (2,000.00 + 2,000.00 × 0.04% × 2 days = 1.60), then what is left on the line — the
    # 1,500.00 paid 2 days late first cleared 1,500.00 × 0.05% × 2 days = 1.50 of penalty,
    # leaving 1.50 of principal — then the code.
    report = ledger.health(CUSTOMER)
    assert report.advice == "close"
    assert report.guidance()[1:] == [
        "1. CA-1: repay it in full today: CNY 2,001.60 (interest for the days used only) "
        "(2026-03-12)",
        "2. CL-1: repay CNY 1.50 (2026-03-10)",
        "3. request closure, enter the one-time code, and confirm"]


def test_a_repayment_long_after_the_loan_is_not_flagged(
        ledger: Ledger, days: BusinessDays) -> None:
    open_both(ledger)
    days.go_to(date(2026, 2, 20))
    buy(ledger, "O-1", "1500")
    days.go_to(date(2026, 3, 10))
    ledger.draw(LOAN, "L-1", M("2000"), 3, "equal_principal", key="draw")
    days.go_to(date(2026, 3, 14))  # 4 days later
    ledger.repay(LINE, "R-1", M("1500"), key="R-1")
    assert "loan_funded_repayment" not in codes(ledger)


def test_minimum_only_streak_and_months_revolving(ledger: Ledger, days: BusinessDays) -> None:
    # 2,000.00 bought 5 Jan, then the minimum and nothing more on three statements:
    #   Feb: 10% × 2,000.00 = 200.00 paid 8 Feb;
    #   Mar: 10% × 1,800.00 + penalty 1,800.00 × 0.05% × 19 days (11 Feb – 1 Mar) = 17.10
    #        → 180.00 + 17.10 = 197.10 paid 8 Mar;
    #   Apr: carried 1,602.90 + … paid exactly the minimum again on 8 Apr.
    # Three minimum-only statements in a row, and three months revolving.
    open_both(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "2000")
    for month in (2, 3, 4):
        days.go_to(date(2026, month, 8))
        state = ledger.credit_line(LINE)
        ledger.repay(LINE, f"R-{month}", Money(state.minimum_due()), key=f"R-{month}")
    assert ledger.credit_line(LINE).statements["S2026-03"].minimum_payment == 19_710
    days.go_to(date(2026, 4, 11))
    report = ledger.health(CUSTOMER)
    signals = {s.code: s for s in report.signals}
    assert signals["minimum_only_streak"].severity == 2
    assert "last 3 statements" in signals["minimum_only_streak"].text
    assert signals["revolving"].text.endswith("in 3 of the last 3 months")
    assert "missed_minimum" not in signals and "past_due" not in signals


def test_a_missed_minimum_is_a_serious_signal(ledger: Ledger, days: BusinessDays) -> None:
    open_both(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "800")
    days.go_to(date(2026, 2, 15))  # nothing paid by 10 Feb: 5 days past due
    report = ledger.health(CUSTOMER)
    signals = {s.code: s for s in report.signals}
    assert signals["missed_minimum"].severity == 3
    assert signals["past_due"].text == "CL-1 is past due (M1, 5 days)"
    assert report.grade == "D"  # 3 + 3 points


def test_a_rising_share_of_late_night_spending(ledger: Ledger, days: BusinessDays) -> None:
    # 90 days before 1 Jul (3 Apr – 1 Jul): 600.00 at 23:00 of 1,000.00 = 60% at night;
    # the 90 days before that: 500.00 at 14:00, 0% at night. 60% ≥ 30% and up by more
    # than 10 points: flagged, severity 2 from 50% up.
    open_both(ledger)
    days.go_to(date(2026, 3, 1))
    buy(ledger, "O-1", "500", hour=14)
    days.go_to(date(2026, 5, 2))
    buy(ledger, "O-2", "400", hour=15)
    days.go_to(date(2026, 6, 20))
    buy(ledger, "O-3", "600", hour=23)
    days.go_to(date(2026, 7, 1))
    (signal,) = [s for s in ledger.health(CUSTOMER).signals if s.code == "late_night_spending"]
    assert signal.severity == 2
    assert signal.text == ("60% of the last 90 days' spending on CL-1 was between 23:00 and "
                           "05:00 (up from 0%)")


def test_a_limit_near_full_and_advice_to_lower_it(ledger: Ledger, days: BusinessDays) -> None:
    # 9,000.00 of 10,000.00 in use: 90%, at the threshold.
    open_both(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "9000")
    report = ledger.health(CUSTOMER)
    (signal,) = report.signals
    assert (signal.code, signal.text) == ("limit_near_full", "CL-1 uses 90% of its limit")
    assert (report.grade, report.advice) == ("B", "lower_limit")
    assert report.guidance(chinese=True) == ["建议降低额度：减少可用额度有助于控制冲动消费。"]


def test_health_on_a_past_date_reads_the_log_up_to_that_day(
        ledger: Ledger, days: BusinessDays) -> None:
    open_both(ledger)
    days.go_to(date(2026, 1, 5))
    buy(ledger, "O-1", "9500")
    days.go_to(date(2026, 1, 20))
    ledger.repay(LINE, "R-1", M("9500"), key="R-1")
    assert "limit_near_full" not in codes(ledger)
    clock = ledger.clock
    assert isinstance(clock, FixedClock)
    clock.set(datetime(2026, 1, 10, 12, tzinfo=DEFAULT_TZ))
    assert "limit_near_full" in codes(ledger)
