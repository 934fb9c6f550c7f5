"""Rich rendering of a health report: summary, signals, the 90-day calendar as a table and
a small weekly bar chart, and the guidance."""

from __future__ import annotations

from collections import defaultdict
from datetime import timedelta

from rich.console import Group
from rich.table import Table
from rich.text import Text

from lendguard.health.report import HealthReport
from lendguard.money import yuan

_BAR_WIDTH = 36


def summary_table(report: HealthReport, customer_id: str, chinese: bool = False) -> Table:
    table = Table(title=f"Financial health of {customer_id} on {report.on}",
                  title_justify="left")
    table.add_column("measure")
    table.add_column("value", justify="right")
    table.add_row("grade 等级", report.grade)
    table.add_row("advice 建议", {"keep": "keep 保留", "lower_limit": "lower the limit 降额",
                                  "close": "close 注销"}[report.advice])
    table.add_row("monthly obligations 月还款", yuan(report.monthly_obligations))
    if report.monthly_income:
        table.add_row("monthly income 月收入", yuan(report.monthly_income))
        table.add_row("debt-to-income 负债收入比", f"{report.debt_to_income:.1%}")
    for use in report.utilisation:
        table.add_row(f"utilisation {use.account_id}",
                      f"{yuan(use.used)} / {yuan(use.limit)} ({use.share:.0%})")
    return table


def signals_table(report: HealthReport, chinese: bool = False) -> Table:
    table = Table(title="Signs of over-reliance 过度依赖信号", title_justify="left")
    table.add_column("severity")
    table.add_column("what was seen")
    if not report.signals:
        table.add_row("", "none 无")
    for signal in sorted(report.signals, key=lambda s: -s.severity):
        table.add_row("●" * signal.severity, signal.text_zh if chinese else signal.text)
    return table


def calendar_view(report: HealthReport) -> Group:
    """The next 90 days: every item, and a bar per week so the heavy weeks stand out."""
    table = Table(title="Due in the next 90 days 未来 90 天待还", title_justify="left")
    table.add_column("date")
    table.add_column("account")
    table.add_column("what")
    table.add_column("CNY", justify="right")
    for item in report.calendar:
        table.add_row(str(item.on), item.account_id, item.what, yuan(item.amount))
    weeks: dict[int, int] = defaultdict(int)
    for item in report.calendar:
        weeks[(item.on - report.on).days // 7] += item.amount
    peak = max(weeks.values(), default=0)
    chart = Text()
    for week in range(13):
        start = report.on + timedelta(days=7 * week)
        fen = weeks.get(week, 0)
        bar = "█" * (round(_BAR_WIDTH * fen / peak) if peak else 0)
        chart.append(f"{start:%m-%d} ", style="dim")
        chart.append(bar, style="cyan")
        chart.append(f" {yuan(fen)}\n" if fen else "\n")
    return Group(table, Text("week starting", style="dim"), chart)
