"""The business clock. The domain never reads the wall clock; it is handed one of these.

``FixedClock`` is for tests, simulations and replays (time moves only when told);
``SystemClock`` is for the live service and the CLI. Business dates are in the
product's time zone (default Asia/Shanghai).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


class Clock(Protocol):
    def now(self) -> datetime: ...

    def today(self) -> date: ...


class FixedClock:
    """A clock that stands still until ``advance``/``set`` moves it."""

    def __init__(self, start: datetime) -> None:
        if start.tzinfo is None:
            start = start.replace(tzinfo=DEFAULT_TZ)
        self._now = start

    def now(self) -> datetime:
        return self._now

    def today(self) -> date:
        return self._now.date()

    def advance(self, delta: timedelta) -> None:
        self._now = self._now + delta

    def set(self, moment: datetime) -> None:
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=DEFAULT_TZ)
        self._now = moment


class SystemClock:
    """Wall-clock time in the business time zone; only adapters construct it."""

    def __init__(self, tz: ZoneInfo = DEFAULT_TZ) -> None:
        self._tz = tz

    def now(self) -> datetime:
        return datetime.now(self._tz)

    def today(self) -> date:
        return self.now().date()
