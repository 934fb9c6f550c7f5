"""Days past due and delinquency buckets.

M0 current, M1 1–30 days, M2 31–60, M3 61–90, M3+ beyond; write-off after the product's
``write_off_days`` (default 180).
"""

from __future__ import annotations

from datetime import date

BUCKETS: tuple[str, ...] = ("M0", "M1", "M2", "M3", "M3+")


def days_past_due(oldest_unpaid_due: date | None, as_of: date) -> int:
    """Days since the oldest unpaid due date (0 if nothing is past due).

    The due day itself is still on time: an amount due on the 10th is 1 day past due
    on the 11th.
    """
    if oldest_unpaid_due is None or as_of <= oldest_unpaid_due:
        return 0
    return (as_of - oldest_unpaid_due).days


def bucket(dpd: int) -> str:
    if dpd <= 0:
        return "M0"
    if dpd <= 30:
        return "M1"
    if dpd <= 60:
        return "M2"
    if dpd <= 90:
        return "M3"
    return "M3+"


def is_write_off_due(dpd: int, write_off_days: int) -> bool:
    """Written off once more than ``write_off_days`` days past due."""
    return dpd > write_off_days
