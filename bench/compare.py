"""Benchmark: the force comparison for 40 forces x 12 months (issue 16: under a minute).

Forty synthetic forces are simulated by reading the demo store of the five presets in turn
(each force is a full, independent estimation: its store read from DuckDB once for the 12
months (:func:`methods.report.compare.force_period_estimates`), the eligible frame of all
12 months in one eligibility call per survey, then for each month the monthly report's
weighting scheme and the five stages' estimates), then
the 40 forces are compared month by month. The target applies to the compare; the store build
(five presets x 12 synthetic months through the real pipeline) is timed and printed apart.

Usage::

    .venv/bin/python bench/compare.py [--forces 40] [--months 12] [--stores DIR] [--out CSV]

``--stores DIR`` keeps the five stores in DIR and reuses them on the next run (build skipped).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from methods.report.compare import compare_forces, estimate_forces
from methods.workflows.demo import build_store

PRESETS = ("cumbria", "durham", "kent", "met", "warwickshire")
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
TARGET_S = 60.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forces", type=int, default=40)
    ap.add_argument("--months", type=int, default=12)
    ap.add_argument("--workers", type=int, default=2, help="processes estimating forces")
    ap.add_argument("--stores", help="keep (and reuse) the five stores in this folder")
    ap.add_argument("--out", help="write the stacked comparison tables to this CSV")
    ap.add_argument("--profile", help="write a pyinstrument profile of the compare to this file")
    args = ap.parse_args(argv)
    months = MONTHS[-args.months :]
    with tempfile.TemporaryDirectory(prefix="vsw-bench-compare-") as tmp:
        folder = Path(args.stores or tmp)
        folder.mkdir(parents=True, exist_ok=True)
        stores = {}
        t0 = time.perf_counter()
        built = 0
        for f in PRESETS:
            stores[f] = folder / f"{f}.duckdb"
            if not stores[f].is_file():
                build_store(stores[f], force=f, months=months)
                built += 1
        print(
            f"store build (not in the target): {built} of {len(PRESETS)} stores of "
            f"{len(months)} months built in {time.perf_counter() - t0:.0f} s"
        )
        t0 = time.perf_counter()
        presets = [PRESETS[i % len(PRESETS)] for i in range(args.forces)]
        jobs = [(stores[p], p, [[m] for m in months]) for p in presets]
        per_force = [
            [e.assign(force=f"{p}_{i}") for e in tables]
            for i, (p, tables) in enumerate(
                zip(presets, estimate_forces(jobs, workers=args.workers))
            )
        ]
        t_est = time.perf_counter() - t0
        tables = [
            compare_forces(pd.concat([pf[j] for pf in per_force], ignore_index=True))
            for j in range(len(months))
        ]
        seconds = time.perf_counter() - t0
    print(
        f"  {args.workers} worker(s): estimates {t_est:.1f} s, comparisons {seconds - t_est:.1f} s"
    )
    if args.out:
        stacked = pd.concat([t.assign(month=m) for m, t in zip(months, tables)], ignore_index=True)
        stacked.to_csv(args.out, index=False, lineterminator="\n")
    cells = sum(len(t) for t in tables)
    print(
        f"{args.forces} forces x {len(months)} months: {seconds:.1f} s "
        f"({1000 * seconds / (args.forces * len(months)):.0f} ms a force-month; {cells} rows); "
        f"target {TARGET_S:.0f} s: {'met' if seconds < TARGET_S else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
