"""Benchmark: ingest a 1,000,000-row monthly victim extract into a fresh store.

Acceptance (issue 2): under 30 s wall time and under 2 GB peak memory. The ingest runs in a
child process so that its peak resident set size (``ru_maxrss`` of the child, which counts
DuckDB's and Arrow's native allocations, unlike ``tracemalloc``) is measured on its own.

Usage::

    .venv/bin/python bench/ingest.py [--rows 1000000] [--format csv|parquet] [--keep DIR]

Notes:
    The extract is generated here with a simple vectorised numpy generator (valid per
    docs/data_contract.md section 1, with fake personal data in Ofcom's drama range and at
    example.org); it is not the calibrated synthetic population of ``methods.synthetic.generate``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from methods.core import schema
from methods.core.schema import OFFENCE_GROUPS

OFFENCES = np.array(OFFENCE_GROUPS)
GENDERS = np.array(schema.GENDERS)
ETHNICITIES = np.array(schema.ETHNICITIES)
FIRST = np.array(["Alex", "Sam", "Jo", "Chris", "Pat", "Robin", "Kim", "Lee", "Jamie", "Ash"])
LAST = np.array(["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Evans", "Khan"])
FLAGS = (
    "opted_out",
    "vulnerable",
    "no_further_action_requested",
    "uncooperative",
    "sensitive",
    "police_victim",
)


def make_extract(n: int, month: str = "2025-01", seed: int = 1):
    """Return a valid extract of ``n`` rows for ``month`` as a pyarrow Table of strings.

    Arguments:
        n: number of rows.
        month: ``YYYY-MM``; reported dates fall inside it.
        seed: numpy Generator seed.

    Returns:
        pyarrow.Table with the 18 contract columns, all as strings.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    rng = np.random.default_rng(seed)
    y, m = (int(p) for p in month.split("-"))
    start = np.datetime64(f"{y:04d}-{m:02d}-01")
    end = np.datetime64(f"{y + (m == 12):04d}-{m % 12 + 1:02d}-01")
    ndays = int((end - start).astype(int))
    idx = np.arange(n)

    def s(arr) -> pa.Array:
        return pa.array(arr.astype(str) if arr.dtype.kind != "U" else arr)

    def prefix(p: str, nums, width: int) -> pa.Array:
        return pc.binary_join_element_wise(
            p, pc.utf8_lpad(pa.array(nums).cast(pa.string()), width, "0"), ""
        )

    age = rng.integers(0, 100, n).astype(str).astype(object)
    age[rng.random(n) < 0.03] = ""
    dates = (start + rng.integers(0, ndays, n).astype("timedelta64[D]")).astype(str)
    cols = {
        "crime_ref": prefix(f"CR{y % 100:02d}{m:02d}-", idx, 7),
        "victim_id": prefix("P", rng.permutation(n * 3)[:n], 8),
        "offence_group": s(OFFENCES[rng.integers(0, len(OFFENCES), n)]),
        "reported_date": s(dates),
        "age": pa.array(age.astype(str)),
        "gender": s(GENDERS[rng.integers(0, 4, n)]),
        "ethnicity": s(ETHNICITIES[rng.integers(0, 6, n)]),
        "district": prefix("District ", rng.integers(1, 13, n), 2),
        "name": pc.binary_join_element_wise(
            s(FIRST[rng.integers(0, len(FIRST), n)]), s(LAST[rng.integers(0, len(LAST), n)]), " "
        ),
        "phone": prefix("07700 900", rng.integers(0, 1000, n), 3),
        "email": prefix("victim", idx, 7),
        "address": prefix("Flat ", rng.integers(1, 200, n), 1),
    }
    cols["email"] = pc.binary_join_element_wise(cols["email"], "@example.org", "")
    cols["address"] = pc.binary_join_element_wise(cols["address"], ", 1 Example Road, Testtown", "")
    for f in FLAGS:
        cols[f] = s(np.where(rng.random(n) < 0.05, "true", "false"))
    return pa.table(cols)


def write_extract(path: Path, n: int, month: str = "2025-01", seed: int = 1) -> Path:
    """Write :func:`make_extract` to ``path`` (CSV or Parquet by suffix)."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    table = make_extract(n, month, seed)
    if path.suffix == ".parquet":
        pq.write_table(table, path)
    else:
        pacsv.write_csv(table, path, pacsv.WriteOptions(quoting_style="needed"))
    return path


def _child(db: str, extract: str, month: str) -> None:
    from methods.data.store import Store

    t0 = time.perf_counter()
    with Store(db) as st:
        res = st.ingest_victims(extract, month=month)
    wall = time.perf_counter() - t0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    print(json.dumps({"wall_s": wall, "rows": res["rows"], "peak_rss_mb": peak_kb / 1024}))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--format", choices=("csv", "parquet"), default="csv")
    ap.add_argument("--month", default="2025-01")
    ap.add_argument("--keep", help="folder to keep the extract and store in")
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        _child(*args.child)
        return 0
    tmp = None
    if args.keep:
        work = Path(args.keep)
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="vsw-bench-")
        work = Path(tmp.name)
    try:
        extract = work / f"victims_{args.month}.{args.format}"
        t0 = time.perf_counter()
        write_extract(extract, args.rows, args.month)
        gen_s = time.perf_counter() - t0
        db = work / "bench.duckdb"
        if db.exists():
            db.unlink()
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(db), str(extract), args.month],
            check=True,
            capture_output=True,
            text=True,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        size_mb = extract.stat().st_size / 2**20
        print(
            f"extract: {args.rows:,} rows, {args.format}, {size_mb:.0f} MB (generated in {gen_s:.1f} s)"
        )
        print(
            f"ingest_victims: {res['wall_s']:.2f} s wall, peak RSS {res['peak_rss_mb']:.0f} MB "
            f"(child process, ru_maxrss), {res['rows']:,} rows loaded"
        )
        print(f"store file: {db.stat().st_size / 2**20:.0f} MB; cpus: {os.cpu_count()}")
        ok = res["wall_s"] < 30 and res["peak_rss_mb"] < 2048
        print("acceptance (< 30 s, < 2 GB):", "PASS" if ok else "FAIL")
        return 0 if ok else 1
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    sys.exit(main())
