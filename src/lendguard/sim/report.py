"""The portfolio report of a simulation run: one self-contained HTML page.

It shows what a risk team looks at first on a new book: the run (size, seed, the log's
hash), the calibration figures against their documented ranges, outcomes by segment
(approval, 12-month default, fraud), the delinquency roll counts, and the books (trial
balance rebuilt from the log). Plots are matplotlib PNGs embedded as base64, so the page
can be mailed or archived as one file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import polars as pl

from lendguard.ledger.accounting import Journal
from lendguard.money import yuan
from lendguard.sim.run import BUCKETS, CALIBRATION_RANGES

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 60rem; color: #222; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #ccc; padding: 0.25rem 0.6rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.ok { color: #176317; } .bad { color: #b00020; font-weight: bold; }
p.note { color: #555; font-size: 0.9rem; }
"""


def segment_outcomes(labels: pl.DataFrame) -> pl.DataFrame:
    """Borrowers, approval, 12-month default and fraud by segment (approved only for the
    last two)."""
    return (
        labels.group_by("segment")
        .agg(
            pl.len().alias("borrowers"),
            pl.col("approved").mean().alias("approval_rate"),
            pl.col("defaulted_12m").filter(pl.col("approved")).mean().alias("default_rate_12m"),
            pl.col("fraud_started_on").filter(pl.col("approved")).is_not_null().mean()
            .alias("fraud_share"),
        )
        .sort("borrowers", descending=True)
    )


def write_report(path: Path, manifest: Mapping[str, Any], labels: pl.DataFrame,
                 journal: Journal | None = None) -> Path:
    """Write the report to ``path`` and return it."""
    segments = segment_outcomes(labels)
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>lendguard portfolio report, seed {manifest['seed']}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>Portfolio report: {manifest['borrowers']:,} simulated borrowers × "
        f"{manifest['months']} months</h1>",
        _run_facts(manifest),
        "<h2>Calibration</h2>",
        "<p class='note'>Each figure against the range docs/simulation.md documents for the "
        "default configuration (measured on 13-month runs)."
        + (" <b>This run is shorter than 13 months, so the 12-month default rate and the "
           "later roll rates are cut short: they cannot be judged against the ranges.</b>"
           if manifest["months"] < 13 else "") + "</p>",
        _figures_table(manifest["figures"]),
        "<h2>Outcomes by segment</h2>",
        _png(_segment_plot(segments)),
        _frame_table(segments),
        "<h2>Delinquency roll counts</h2>",
        "<p class='note'>Accounts moving from the row's bucket to the column's at close of "
        "business, over the whole run.</p>",
        _roll_table(manifest["counts"]),
    ]
    if journal is not None:
        parts += ["<h2>Trial balance, rebuilt from the log</h2>", _journal_table(journal)]
    parts.append("</body></html>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def _run_facts(manifest: Mapping[str, Any]) -> str:
    rows = [("seed", manifest["seed"]), ("start", manifest["start"]),
            ("events", f"{manifest['events']:,}"),
            ("configuration sha256", manifest["config_sha256"]),
            ("event log sha256", manifest["log_sha256"]),
            ("seconds (simulate, write)",
             f"{manifest['seconds']['simulate']}, {manifest['seconds']['write']}")]
    return _table(("run", ""), [(str(k), str(v)) for k, v in rows])


def _figures_table(figures: Mapping[str, float]) -> str:
    rows = []
    for name, value in figures.items():
        low, high = CALIBRATION_RANGES.get(name, (None, None))
        if low is None or high is None:
            rows.append((name, f"{value:.1%}", "", ""))
            continue
        ok = low <= value <= high
        verdict = "<span class='ok'>in range</span>" if ok else "<span class='bad'>outside</span>"
        rows.append((name, f"{value:.1%}", f"{low:.1%} – {high:.1%}", verdict))
    return _table(("figure", "value", "expected", ""), rows, escape_cells=False)


def _frame_table(frame: pl.DataFrame) -> str:
    rows = []
    for record in frame.iter_rows(named=True):
        rows.append(tuple(f"{v:.1%}" if isinstance(v, float) else
                          ("" if v is None else str(v)) for v in record.values()))
    return _table(tuple(frame.columns), rows)


def _roll_table(counts: Mapping[str, int]) -> str:
    targets = [*BUCKETS, "written_off"]
    rows = [(start, *(f"{counts.get(f'roll:{start}->{end}', 0):,}" for end in targets))
            for start in BUCKETS]
    return _table(("from \\ to", *targets), rows)


def _journal_table(journal: Journal) -> str:
    rows = [(f"{row.account} {row.name}", yuan(row.debit) if row.debit else "",
             yuan(row.credit) if row.credit else "") for row in journal.trial_balance()]
    return _table(("account", "debit", "credit"), rows)


def _table(header: Sequence[str], rows: Sequence[Sequence[str]],
           escape_cells: bool = True) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(c) if escape_cells else c}</td>" for c in row)
        + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _segment_plot(segments: pl.DataFrame) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = segments["segment"].cast(pl.String).to_list()
    defaults = [v or 0.0 for v in segments["default_rate_12m"].to_list()]
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    ax.barh(names, [100 * d for d in defaults], color="#4a6fa5")
    ax.set_xlabel("defaulted within 12 months (90+ days past due), % of approved")
    ax.invert_yaxis()
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _png(data: bytes) -> str:
    encoded = base64.b64encode(data).decode()
    return f"<img alt='default rate by segment' src='data:image/png;base64,{encoded}'>"
