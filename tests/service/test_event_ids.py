"""Event ids: time-ordered, deterministic UUIDs (RFC 9562 version 7 layout)."""

from __future__ import annotations

import hashlib
import uuid
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from lendguard.service import _moment_texts, event_id


def _by_the_layout(millis: int, name: str) -> uuid.UUID:
    """The layout written out with integers: 48 bits of milliseconds, version 7, the
    hash's first 80 bits around the variant bits."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:10], "big")
    value = (millis & (2**48 - 1)) << 80 | 0x7 << 76 | (digest >> 68) << 64 \
        | 0b10 << 62 | digest & (2**62 - 1)
    return uuid.UUID(int=value)


@given(st.integers(0, 2**48 - 1), st.text(max_size=40))
def test_an_event_id_is_the_version_7_layout_bit_for_bit(millis: int, name: str) -> None:
    made = event_id(millis, name)
    expected = _by_the_layout(millis, name)
    assert made == str(expected)
    assert uuid.UUID(made).version == 7
    assert uuid.UUID(made).variant == uuid.RFC_4122


@given(st.integers(0, 2**48 - 2), st.text(max_size=20), st.text(max_size=20))
def test_a_later_millisecond_sorts_later_whatever_the_name(millis: int, a: str,
                                                           b: str) -> None:
    assert event_id(millis, a) < event_id(millis + 1, b)


_ZONES = [ZoneInfo("Asia/Shanghai"), ZoneInfo("America/New_York"), ZoneInfo("Europe/London"),
          ZoneInfo("Australia/Lord_Howe"), UTC, timezone(timedelta(hours=5, minutes=45)),
          timezone(timedelta(hours=-3, seconds=17)), None]


@given(st.lists(st.tuples(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 12, 31)),
    st.sampled_from(_ZONES), st.booleans(), st.integers(0, 1)), min_size=1, max_size=30))
def test_a_moment_is_rendered_as_isoformat_and_timestamp_would(
        moments: list[tuple[datetime, tzinfo | None, bool, int]]) -> None:
    """The ledger's shortcut for a command's time (a kept rendering of its day and
    offset) gives exactly what ``isoformat`` and ``timestamp`` give, whole seconds or
    not, across daylight-saving changes, folds and fixed offsets, in any order."""
    for naive, zone, whole, fold in moments:
        moment = naive.replace(tzinfo=zone, fold=fold)
        if whole:
            moment = moment.replace(microsecond=0)
        assert _moment_texts(moment) == (moment.isoformat(), int(moment.timestamp() * 1000))
