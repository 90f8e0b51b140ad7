"""Benchmark: the monthly report of the durham preset, once, twice, and over three months.

Acceptance (issue 7): ``vsw report --force durham --month 2025-12`` finishes in under 60 s after
the store is built, and two runs in a row give byte-identical ``tables/*.csv``. Then
``--from 2025-10 --to 2025-12`` with ``--jobs 1`` and ``--jobs 2`` shows what running months in
parallel processes buys on this machine.

Usage::

    .venv/bin/python bench/report.py [--keep DIR] [--jobs N]

Notes:
    Every timing is the wall clock of a ``vsw`` subprocess, as a user runs it (interpreter and
    imports, kernel start, notebook, HTML, manifest). The store (a year of synthetic durham
    data, :func:`methods.workflows.demo.build_store`) is built first and not timed with the reports. The
    machine's load average (``/proc/loadavg``) is printed before and after: on a shared machine
    the figures move with it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

FORCE = "durham"
MONTHS = [f"2025-{m:02d}" for m in range(1, 13)]
TARGET_S = 60.0


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def vsw(db: Path, *args: str) -> float:
    """Run ``vsw --db DB ARGS`` and return its wall-clock seconds (raises if it fails)."""
    env = {k: v for k, v in os.environ.items() if k not in ("VSW_DB", "VSW_DEBUG")}
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "methods.cli", "--db", str(db), *args],
        capture_output=True,
        text=True,
        env=env,
    )
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        sys.exit(f"vsw {' '.join(args)} failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return seconds


def table_digests(folder: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((folder / "tables").glob("*.csv"))
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--keep", default=None, help="work in DIR and keep the store and reports")
    ap.add_argument("--jobs", type=int, default=2, help="parallel jobs to compare with 1")
    args = ap.parse_args(argv)

    from methods.workflows.demo import DEFAULT_SEED, build_store

    tmp = None if args.keep else tempfile.TemporaryDirectory(prefix="vsw-bench-report-")
    work = Path(args.keep or tmp.name)
    work.mkdir(parents=True, exist_ok=True)
    try:
        print(f"cpus {os.cpu_count()}, load average {loadavg()} (1, 5, 15 min)")
        db = work / "durham.duckdb"
        t0 = time.perf_counter()
        build_store(db, force=FORCE, months=MONTHS, seed=DEFAULT_SEED)
        print(
            f"store: {len(MONTHS)} months of synthetic {FORCE} in {time.perf_counter() - t0:.1f} s"
        )

        common = ("report", "--force", FORCE, "--seed", str(DEFAULT_SEED), "--quiet")
        month = MONTHS[-1]
        runs = []
        for i in (1, 2):
            out = work / f"single{i}"
            runs.append(
                (vsw(db, *common, "--month", month, "--out", str(out)), out / FORCE / month)
            )
            ok = "under" if runs[-1][0] < TARGET_S else "OVER"
            print(
                f"vsw report --month {month}, run {i}: {runs[-1][0]:.1f} s ({ok} the {TARGET_S:.0f} s target)"
            )
        first, second = (table_digests(folder) for _, folder in runs)
        same = first == second and bool(first)
        print(f"tables/*.csv byte-identical between the two runs: {same} ({len(first)} tables)")

        span = ("--from", MONTHS[-3], "--to", MONTHS[-1])
        t1 = vsw(db, *common, *span, "--jobs", "1", "--out", str(work / "jobs1"))
        print(f"vsw report {' '.join(span)} --jobs 1: {t1:.1f} s")
        tn = vsw(db, *common, *span, "--jobs", str(args.jobs), "--out", str(work / "jobsN"))
        print(
            f"vsw report {' '.join(span)} --jobs {args.jobs}: {tn:.1f} s (speed-up {t1 / tn:.2f}x)"
        )
        identical = all(
            table_digests(work / "jobs1" / FORCE / m) == table_digests(work / "jobsN" / FORCE / m)
            for m in MONTHS[-3:]
        )
        print(f"tables identical between --jobs 1 and --jobs {args.jobs}: {identical}")
        print(f"load average after: {loadavg()}")
        return 0 if same and identical and max(t for t, _ in runs) < TARGET_S else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
