"""``lendguard close`` end to end, with ``--date`` fixed so the business clock (12:00
that day) is deterministic: pay off, read the code from the outbox, close; a wrong code
exits non-zero; without a terminal and without ``--code`` it sends a code and says so."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.closure.support import run_cli, wrong

DAY = "2026-01-05"


@pytest.fixture
def db(tmp_path: Path) -> str:
    path = str(tmp_path / "cli.db")
    for args in (
        ("account", "open", "--account", "CL-1", "--customer", "C-1", "--limit", "5000.00",
         "--date", "2026-01-01", "--key", "open-line"),
        ("account", "open", "--account", "CA-1", "--customer", "C-1", "--limit", "5000.00",
         "--kind", "cash_loan", "--date", "2026-01-01", "--key", "open-loan"),
        ("purchase", "--account", "CL-1", "--order", "O-1", "--amount", "120.50", "--settle",
         "--date", DAY),
    ):
        code, out = run_cli(*args[:2], "--db", path, *args[2:]) if args[0] == "account" \
            else run_cli(args[0], "--db", path, *args[1:])
        assert code == 0, out
    return path


def close(db: str, *args: str) -> tuple[int, str]:
    return run_cli("close", "--db", db, "--account", "CL-1", "--date", DAY, *args)


def sent_code(db: str) -> str:
    code, out = run_cli("outbox", "--db", db, "--customer", "C-1")
    assert code == 0, out
    found = re.findall(r"Your code to close [\w, -]+? is (\d{6})", out)
    assert found, out
    return str(found[-1])


def test_pay_off_read_the_code_and_close(db: str) -> None:
    code, out = close(db)  # not paid off: blocked, nothing sent
    assert code == 1 and "repay CNY 120.50" in out and "CL-1 blocked" in out
    assert "no messages for C-1" in run_cli("outbox", "--db", db, "--customer", "C-1")[1]
    code, out = close(db, "--pay-off", "--yes")
    assert code == 1, out
    assert "Paying off CL-1: 1. repay CNY 120.50" in out and "code sent" in out
    real = sent_code(db)
    code, out = close(db, "--code", wrong(real), "--yes")
    assert code != 0 and "code wrong for CL-1 (4 tries left)" in out
    code, out = close(db, "--code", real, "--yes")
    assert code == 0 and "closed" in out
    code, out = run_cli("closure-record", "--db", db, "--account", "CL-1")
    assert code == 0 and "closed by user:cli" in out and "closed on 2026-01-05" in out
    assert out.count(" 0.00") == 5
    code, out = run_cli("purchase", "--db", db, "--account", "CL-1", "--order", "O-2",
                        "--amount", "1.00", "--date", DAY)
    assert code == 2 and "account_not_active" in out
    code, out = close(db, "--yes")
    assert code == 0 and "already closed" in out
    code, out = run_cli("replay", "--db", db, "--verify")
    assert code == 0 and "verified" in out


def test_a_code_without_yes_is_not_confirmed(db: str) -> None:
    close(db, "--pay-off", "--yes")
    code, out = close(db, "--code", sent_code(db))
    assert code == 1 and "not confirmed" in out
    code, out = close(db, "--yes", "--code", "ignored")  # verified already: confirms
    assert code == 0 and "closed" in out


def test_close_both_products(db: str) -> None:
    code, out = run_cli("draw", "--db", db, "--account", "CA-1", "--loan", "L-1",
                        "--amount", "1000.00", "--term", "3", "--date", DAY)
    assert code == 0, out
    code, out = close(db, "--both", "--pay-off", "--yes")
    assert code == 1 and "Paying off CA-1" in out and "Paying off CL-1" in out
    code, out = close(db, "--both", "--code", sent_code(db), "--yes")
    assert code == 0, out
    for account in ("CA-1", "CL-1"):
        code, out = run_cli("closure-record", "--db", db, "--account", account)
        assert code == 0 and "request close-" in out


def test_locked_out_exits_non_zero(db: str) -> None:
    close(db, "--pay-off", "--yes")
    bad = wrong(sent_code(db))
    for _ in range(4):
        close(db, "--code", bad, "--yes")
    code, out = close(db, "--code", bad, "--yes")
    assert code == 1 and "locked until 12:30" in out and "tries left" not in out
    code, out = close(db, "--code", sent_code(db), "--yes")
    assert code == 1 and "too many wrong codes" in out
