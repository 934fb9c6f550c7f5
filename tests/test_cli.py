"""The ``lendguard`` command end to end: demo, replay --verify, and bad input.

Bad input must print a clear error, exit non-zero and write nothing.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from lendguard.cli import app

runner = CliRunner()


def run(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    # Rich wraps long lines to the terminal width; compare words, not layout.
    return result.exit_code, " ".join(result.output.split())


def count_events(db: Path) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM events").fetchone()[0])


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "cli.db"
    code, out = run("account", "open", "--db", str(path), "--account", "CL-1", "--customer",
                    "C-1", "--limit", "5000.00", "--date", "2026-01-01", "--key", "open")
    assert code == 0, out
    return path


@pytest.mark.slow
def test_demo_runs_a_year_and_the_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "demo.db"
    code, out = run("demo", "--story", "--db", str(path))
    assert code == 0, out
    assert "Statement S2026-02" in out and "Trial balance" in out
    assert "books balance" in out
    code, out = run("replay", "--db", str(path), "--verify")
    assert code == 0, out
    assert "verified" in out


def test_demo_refuses_an_existing_file(db: Path) -> None:
    code, out = run("demo", "--story", "--db", str(db))
    assert code != 0 and "already exists" in out


@pytest.mark.slow
def test_the_platform_demo_runs_every_stage(tmp_path: Path) -> None:
    out_dir = tmp_path / "demo"
    code, out = run("demo", "--out", str(out_dir), "--borrowers", "300", "--months", "4")
    assert code == 0, out
    cells = " ".join(out.replace("│", " ").split())
    for stage in ("simulate", "replay and verify", "health", "closure"):
        assert f"{stage} ok" in cells, stage
    assert "balanced, every account matches" in out
    assert "closed" in out
    report = (out_dir / "report.html").read_text()
    assert "Calibration" in report and "data:image/png;base64," in report
    for name in ("events.db", "applications.parquet", "labels.parquet", "manifest.json"):
        assert (out_dir / name).exists()


def test_the_platform_demo_refuses_a_used_directory(tmp_path: Path) -> None:
    (tmp_path / "something").write_text("x")
    code, out = run("demo", "--out", str(tmp_path))
    assert code != 0 and "not empty" in out


def test_simulate_writes_a_run_and_refuses_to_overwrite_it(tmp_path: Path) -> None:
    code, out = run("simulate", "--borrowers", "40", "--months", "2", "--seed", "3",
                    "--out", str(tmp_path / "run"))
    assert code == 0, out
    assert "Simulation: 40 borrowers × 2 months" in out
    code, out = run("simulate", "--borrowers", "40", "--months", "2",
                    "--out", str(tmp_path / "run"))
    assert code != 0 and "already holds a run" in out


def test_simulate_refuses_a_broken_configuration(tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("start: 2026-01-01\nhorizon_months: -3\n")
    code, out = run("simulate", "--config", str(config), "--out", str(tmp_path / "run"))
    assert code != 0 and "horizon_months" in out
    assert not (tmp_path / "run").exists()


def test_purchase_repay_and_verify(db: Path) -> None:
    code, out = run("purchase", "--db", str(db), "--account", "CL-1", "--order", "O-1",
                    "--amount", "120.50", "--settle", "--date", "2026-01-05")
    assert code == 0, out
    code, out = run("cob", "--db", str(db), "--date", "2026-02-01")
    assert code == 0, out
    code, out = run("repay", "--db", str(db), "--account", "CL-1", "--amount", "120.50",
                    "--date", "2026-02-05")
    assert code == 0, out
    code, out = run("show", "--db", str(db), "--account", "CL-1", "--date", "2026-02-05")
    assert code == 0 and "5,000.00" in out
    code, out = run("replay", "--db", str(db), "--verify")
    assert code == 0 and "verified" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--amount", "-5"), "positive"),
        (("--amount", "0"), "positive"),
        (("--amount", "12.345"), "precision"),
        (("--amount", "abc"), "not a decimal"),
        (("--amount", "9999999"), "available limit"),
        (("--amount", "10", "--date", "2026-13-01"), "YYYY-MM-DD"),
        (("--amount", "10", "--account", "NOPE"), "no account"),
    ],
)
def test_bad_purchase_input_is_refused_and_writes_nothing(db: Path, args: tuple[str, ...],
                                                          message: str) -> None:
    before = count_events(db)
    base = ["purchase", "--db", str(db), "--account", "CL-1", "--order", "O-9"]
    if "--account" in args:
        base = ["purchase", "--db", str(db), "--order", "O-9"]
    code, out = run(*base, *args)
    assert code != 0
    assert message in out
    assert count_events(db) == before


def test_missing_store_is_an_error(tmp_path: Path) -> None:
    code, out = run("replay", "--db", str(tmp_path / "none.db"), "--verify")
    assert code != 0 and "no event store" in out
    code, out = run("repay", "--db", str(tmp_path / "none.db"), "--account", "X",
                    "--amount", "1")
    assert code != 0 and "no event store" in out
    assert not (tmp_path / "none.db").exists()


def test_show_with_a_date_shows_the_account_as_it_stood_then(db: Path) -> None:
    code, out = run("purchase", "--db", str(db), "--account", "CL-1", "--order", "O-1",
                    "--amount", "1000", "--settle", "--date", "2026-01-05")
    assert code == 0, out
    code, out = run("repay", "--db", str(db), "--account", "CL-1", "--amount", "1000",
                    "--date", "2026-01-20")
    assert code == 0, out
    # On 10 Jan the purchase was unbilled and 4,000.00 of 5,000.00 was available;
    # after the repayment on 20 Jan all of it is available again.
    code, then = run("show", "--db", str(db), "--account", "CL-1", "--date", "2026-01-10")
    assert code == 0 and "available │ 4,000.00" in then and "unbilled │ 1,000.00" in then
    code, later = run("show", "--db", str(db), "--account", "CL-1", "--date", "2026-01-21")
    assert code == 0 and "available │ 5,000.00" in later and "unbilled │ 0.00" in later
