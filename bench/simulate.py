"""Simulation benchmark: borrowers × months through the real ledger, time and memory.

Issue #4's goal: 100,000 borrowers × 12 months within 10 minutes and 2 GB of memory on
this 2-core machine, with memory flat as the population grows. This runs
``lendguard.sim.run.simulate`` (the same code as ``lendguard simulate``) at two sizes,
the full size and a quarter of it, and reports for each: wall time (simulating and
writing apart), events, events per second, and peak resident memory of the parent, of
the largest worker and of the process that merges the log. Flat memory means the two
sizes peak alike per process. The host's speed drifts (a virtual machine), so a
reference loop is timed before and after and saved with the figures.

No package on PyPI simulates borrowers on an event-sourced credit ledger, so there is no
peer to run beside it: the ratios printed are against the issue's goals (time / 600 s,
memory / 2 GiB).

Run from the repository root: ``./dev bench simulate [--borrowers N] [--months M]
[--workers W] [--json PATH]``. Each size runs in a fresh process, so peaks do not mix.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from _machine import cpu_model

GOAL_SECONDS = 600.0
GOAL_BYTES = 2 * 1024**3
CHILD = """
import json, resource, sys, time
from pathlib import Path
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from lendguard.sim import load_config
from lendguard.sim.run import simulate
n, months, workers, out = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
with Progress(TextColumn("{task.description}"), BarColumn(),
              TextColumn("{task.completed:,}/{task.total:,}"), TimeElapsedColumn(),
              transient=True) as progress:
    tasks = {}
    workers_peak = [0]
    def report(phase, done, total):
        if phase == "write" and not workers_peak[0]:  # the pool's workers have all ended
            workers_peak[0] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        if phase not in tasks:
            label = f"{n:,} borrowers: " + ("simulating shards" if phase == "simulate"
                                           else "writing events")
            tasks[phase] = progress.add_task(label, total=total or None)
        progress.update(tasks[phase], completed=done, total=total or None)
    started = time.perf_counter()
    summary = simulate(load_config(), n, months, 2026, out, workers=workers, progress=report)
    wall = time.perf_counter() - started
own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
children = workers_peak[0] or resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(json.dumps({"borrowers": n, "months": months, "workers": workers, "wall": wall,
                  "simulate": summary.manifest["seconds"]["simulate"],
                  "write": summary.manifest["seconds"]["write"],
                  "events": summary.manifest["events"],
                  "parent_peak_bytes": own, "worker_peak_bytes": children,
                  "merge_peak_bytes": summary.manifest["merge_peak_bytes"] or 0,
                  "figures": summary.manifest["figures"]}))
"""


def run_size(borrowers: int, months: int, workers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="lendguard-bench-sim-") as tmp:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(borrowers), str(months), str(workers),
             str(Path(tmp) / "run")],
            check=True, stdout=subprocess.PIPE, text=True)
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    # Peak of the whole run: the parent plus every worker at its own peak at once (an
    # upper bound: workers rarely peak together), or, while the log is written, the
    # parent plus the merging process (the workers have ended by then).
    result["total_peak_bytes"] = result["parent_peak_bytes"] + max(
        workers * result["worker_peak_bytes"], result["merge_peak_bytes"])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--borrowers", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=12)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", type=Path, help="also save the figures to this file")
    args = parser.parse_args()
    console = Console(width=180)
    sizes = [max(args.borrowers // 4, 1), args.borrowers]
    speed = [reference_loop_seconds()]
    results = [run_size(n, args.months, args.workers) for n in sizes]
    speed.append(reference_loop_seconds())
    console.print(f"host speed: the reference loop took {speed[0]:.2f} s before and "
                  f"{speed[1]:.2f} s after (a slower host, a longer loop; see "
                  "docs/benchmarks.md)")
    table = Table(title=f"Simulation, {args.months} months, {args.workers} workers "
                        f"(goal: {GOAL_SECONDS:.0f} s and 2 GiB at 100,000 borrowers)")
    for column in ("borrowers", "events", "simulate s", "write s", "wall s", "events/s",
                   "parent peak", "worker peak", "merge peak", "total peak", "wall / goal",
                   "memory / goal"):
        table.add_column(column, justify="right")
    for r in results:
        scale = 100_000 / r["borrowers"]
        table.add_row(
            f"{r['borrowers']:,}", f"{r['events']:,}", f"{r['simulate']:.0f}",
            f"{r['write']:.0f}", f"{r['wall']:.0f}", f"{r['events'] / r['wall']:,.0f}",
            _mib(r["parent_peak_bytes"]), _mib(r["worker_peak_bytes"]),
            _mib(r["merge_peak_bytes"]), _mib(r["total_peak_bytes"]),
            f"{r['wall'] * scale / GOAL_SECONDS:.2f}"
            + ("" if scale == 1 else " (scaled)"),
            f"{r['total_peak_bytes'] / GOAL_BYTES:.2f}")
    console.print(table)
    small, large = results
    console.print(f"memory as the population grows {sizes[1] // sizes[0]}×: worker peak "
                  f"{_ratio(large['worker_peak_bytes'], small['worker_peak_bytes'])}, merge "
                  f"peak {_ratio(large['merge_peak_bytes'], small['merge_peak_bytes'])}, parent "
                  f"peak {_ratio(large['parent_peak_bytes'], small['parent_peak_bytes'])}")
    console.print("calibration figures of the full run: "
                  + ", ".join(f"{k} {v:.1%}" for k, v in large["figures"].items()))
    if args.json:
        facts = {"python": platform.python_version(), "cpus": os.cpu_count(),
                 "cpu_model": cpu_model(),
                 "load_average": os.getloadavg(), "time": time.strftime("%Y-%m-%d %H:%M"),
                 "reference_loop_seconds": speed}
        args.json.write_text(json.dumps({"facts": facts, "results": results}, indent=2)
                             + "\n")
        console.print(f"figures saved to {args.json}")


def reference_loop_seconds() -> float:
    """The best of three runs of a fixed pure-Python loop: this machine is a virtual one
    whose speed drifts with its neighbours (by half, within an hour), so each result
    carries how fast the host was at the time."""
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        sum(i * i for i in range(10_000_000))
        best = min(best, time.perf_counter() - started)
    return best


def _ratio(large: int, small: int) -> str:
    return f"{large / small:.2f}×" if small else "n/a (no worker processes)"


def _mib(n: int) -> str:
    return f"{n / 1024**2:,.0f} MiB"


if __name__ == "__main__":
    main()
