"""Benchmark: the force comparison for 40 forces x 12 months (issue 16: under a minute).

Forty synthetic forces are simulated by reading the demo store of the five presets in turn
(each read is a full, independent estimation: responses and victims read from DuckDB, the
monthly report's weighting scheme fitted, five stages estimated), for each of 12 months, then
the 40 forces are compared month by month. The store build is not timed.

Usage::

    .venv/bin/python bench/compare.py [--forces 40] [--months 12]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path

import pandas as pd

from methods.report.compare import compare_forces, force_estimates
from methods.workflows.demo import build_store

PRESETS = ("cumbria", "durham", "kent", "met", "warwickshire")
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
TARGET_S = 60.0


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--forces", type=int, default=40)
    ap.add_argument("--months", type=int, default=12)
    args = ap.parse_args(argv)
    months = MONTHS[-args.months :]
    with tempfile.TemporaryDirectory(prefix="vsw-bench-compare-") as tmp:
        stores = {}
        t0 = time.perf_counter()
        for f in PRESETS:
            stores[f] = Path(tmp) / f"{f}.duckdb"
            build_store(stores[f], force=f, months=months)
        print(
            f"built {len(PRESETS)} stores of {len(months)} months in {time.perf_counter() - t0:.0f} s"
        )
        t0 = time.perf_counter()
        tables = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            for month in months:
                est = []
                for i in range(args.forces):
                    preset = PRESETS[i % len(PRESETS)]
                    e = force_estimates(stores[preset], preset, [month])
                    est.append(e.assign(force=f"{preset}_{i}"))
                tables.append(compare_forces(pd.concat(est, ignore_index=True)))
        seconds = time.perf_counter() - t0
    cells = sum(len(t) for t in tables)
    print(
        f"{args.forces} forces x {len(months)} months: {seconds:.1f} s "
        f"({1000 * seconds / (args.forces * len(months)):.0f} ms a force-month; {cells} rows); "
        f"target {TARGET_S:.0f} s: {'met' if seconds < TARGET_S else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
