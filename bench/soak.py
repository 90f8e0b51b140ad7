"""Soak run: forces x months of synthetic extracts ingested and reported, with kill -9 at random.

Acceptance (issue 17, item 8): 5 forces x 24 months of synthetic extracts are ingested (victims,
each survey's sample, each survey's responses) and reported with ``vsw``, as a user runs it,
while at least 20 of those commands are killed with SIGKILL at a random moment. After every kill
the store is reopened and checked, the killed command is run again, and at the end:

* no partial month: every month in ``months`` has exactly as many victims as it records, and
  every month a command was asked to load is there once;
* the audit log is complete: every entry of ``loads`` has its ``ok`` audit entry (same file hash);
* every report made after a kill (its first attempt killed) is byte-identical, ``tables/*.csv``,
  to a clean rerun of the same month into a fresh folder.

Usage::

    .venv/bin/python bench/soak.py                       # 5 forces x 24 months, 20+ kills
    .venv/bin/python bench/soak.py --forces durham,kent --months 2025-10:2025-12 --kills 6
    .venv/bin/python bench/soak.py --one-store      # every force side by side in one store

The kill moments come from a seeded ``numpy.random.Generator`` (``--seed``); what a kill hits
(before, inside or after the store's write transaction) depends on the machine's speed, so the
check is the invariant, not the exact sequence. Prints one line per kill and the totals.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from methods.config.presets import list_forces, load_force
from methods.data.store import Store

VSW = [sys.executable, "-m", "methods.cli"]
DEFAULT_MONTHS = "2024-01:2025-12"


def month_list(spec: str) -> list[str]:
    a, b = spec.split(":")
    (y0, m0), (y1, m1) = map(int, a.split("-")), map(int, b.split("-"))
    return [
        f"{y:04d}-{m:02d}"
        for y in range(y0, y1 + 1)
        for m in range(1, 13)
        if (y0, m0) <= (y, m) <= (y1, m1)
    ]


def run(cmd: list[str], kill_after: float | None) -> bool:
    """Run ``cmd``; with ``kill_after`` seconds, SIGKILL it then. True when it ran to the end."""
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if kill_after is not None:
        try:
            proc.wait(timeout=kill_after)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return False
    _, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(cmd)}\n{err[-2000:]}")
    return True


def check_store(db: Path, expected_months: set[tuple[str, str]]) -> dict:
    """The invariants: no partial month, every asked-for (force, month) present, audit log
    complete. Months are keyed by (force, month): a store may hold several forces."""
    with Store(db) as st:
        con = st.con
        months = {
            (f, m): (n, lid)
            for f, m, n, lid in con.execute(
                "SELECT force, month, rows, load_id FROM months"
            ).fetchall()
        }
        counts = dict(
            con.execute("SELECT load_id, count(*) FROM victims GROUP BY load_id").fetchall()
        )
        partial = {k for k, (n, lid) in months.items() if counts.get(lid, 0) != n}
        stray = set(counts) - {lid for _, lid in months.values()}
        missing = expected_months - set(months)
        loads = con.execute("SELECT file_sha256 FROM loads").fetchall()
        ok = {
            r[0]
            for r in con.execute("SELECT file_sha256 FROM audit WHERE outcome = 'ok'").fetchall()
        }
        unaudited = [h for (h,) in loads if h not in ok]
    bad = {"partial": partial, "stray": stray, "missing": missing, "unaudited": unaudited}
    if any(bad.values()):
        raise SystemExit(f"store {db.name} inconsistent: {bad}")
    return {"months": len(months)}


def tables_digest(report_dir: Path) -> str:
    h = hashlib.sha256()
    for p in sorted((report_dir / "tables").glob("*.csv")):
        h.update(p.name.encode() + b"\0" + p.read_bytes())
    return h.hexdigest()


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def loaded(db: Path, kind: str, sha256: str) -> bool:
    """Whether the load of this file (by its SHA-256: files of several forces in one store
    share names) has committed."""
    if not db.exists():
        return False
    with Store(db) as st:
        sql = "SELECT count(*) FROM loads WHERE kind = ? AND file_sha256 = ?"
        return st.con.execute(sql, [kind, sha256]).fetchone()[0] > 0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--forces", default=",".join(list_forces()))
    ap.add_argument("--months", default=DEFAULT_MONTHS, help="YYYY-MM:YYYY-MM")
    ap.add_argument("--kills", type=int, default=20, help="kills at least this many commands")
    ap.add_argument("--seed", type=int, default=17)
    ap.add_argument("--keep", type=Path, default=None, help="work folder to keep")
    ap.add_argument(
        "--one-store",
        action="store_true",
        help="every force into one store, side by side (default: a store per force)",
    )
    args = ap.parse_args()
    forces = [f.strip() for f in args.forces.split(",")]
    months = month_list(args.months)
    rng = np.random.default_rng(args.seed)
    work = args.keep or Path(tempfile.mkdtemp(prefix="vsw-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    env_note = (
        " ".join(Path("/proc/loadavg").read_text().split()[:3])
        if os.path.exists("/proc/loadavg")
        else "n/a"
    )
    where = "one shared store" if args.one_store else "a store per force"
    print(
        f"soak: {len(forces)} forces x {len(months)} months, {where}, in {work} (load {env_note})"
    )

    def store_of(force: str) -> Path:
        return work / "shared.duckdb" if args.one_store else work / force / "store.duckdb"

    steps: list[tuple[str, str, list[str], str, str | None]] = []  # force, kind, cmd, month, key
    reports: list[tuple[str, str]] = []
    for force in forces:
        files = work / force / "files"
        db = store_of(force)
        t0 = time.perf_counter()
        run(
            [
                *VSW,
                "synth",
                "--force",
                force,
                "--months",
                args.months,
                "--seed",
                str(args.seed),
                "--out",
                str(files),
            ],
            None,
        )
        print(f"  {force}: synthetic files in {time.perf_counter() - t0:.1f} s")
        surveys = [s.name for s in load_force(force).surveys]
        base = [*VSW, "--db", str(db), "ingest"]
        for m in months:
            steps.append(
                (
                    force,
                    "victims",
                    [*base, "victims", str(files / f"victims_{m}.csv"), "--month", m],
                    m,
                    None,
                )
            )
            for s in surveys:
                f = files / f"sample_{s}_{m}.csv"
                if f.exists():
                    steps.append(
                        (
                            force,
                            "sample",
                            [*base, "sample", str(f), "--survey", s, "--month", m],
                            m,
                            s,
                        )
                    )
            for s in surveys:
                f = files / f"responses_{s}_{m}.csv"
                if f.exists():
                    steps.append(
                        (force, "responses", [*base, "responses", str(f), "--survey", s], m, f.name)
                    )
            reports.append((force, m))

    # Kill moments: a uniform fraction (10% to 90%) of how long that kind of command has taken
    # so far, so kills land before, inside and after the write whatever the machine's speed;
    # the chance to kill rises when the remaining commands would not reach the target.
    want = {"ingest": -(-args.kills * 3 // 5), "report": args.kills - -(-args.kills * 3 // 5)}
    kills = {"ingest": 0, "report": 0}
    took: dict[str, list[float]] = {}

    def attempt(phase: str, kind: str, cmd: list[str], left: int) -> bool:
        """Maybe kill ``cmd`` at a random moment; True when it was killed."""
        need = want[phase] - kills[phase]
        if need <= 0 or rng.random() >= min(1.0, 1.5 * need / max(left, 1)):
            return False
        typical = float(np.median(took.get(kind, [1.0])))
        t = time.perf_counter()
        if run(cmd, kill_after=float(rng.uniform(0.1, 0.9)) * typical):
            took.setdefault(kind, []).append(time.perf_counter() - t)
            return False
        kills[phase] += 1
        return True

    def timed(kind: str, cmd: list[str]) -> None:
        t = time.perf_counter()
        run(cmd, None)
        took.setdefault(kind, []).append(time.perf_counter() - t)

    t_start = time.perf_counter()
    for i, (force, kind, cmd, month, _key) in enumerate(steps):
        db = store_of(force)
        sha = file_sha256(Path(cmd[cmd.index(kind) + 1]))
        if attempt("ingest", kind, cmd, len(steps) - i):
            check_store(db, set())
            print(f"  killed ingest {kind} {force} {month}; store consistent")
        if not loaded(db, kind, sha):
            timed(kind, cmd)
    for db in {store_of(f) for f in forces}:
        check_store(db, {(f, m) for f in forces if store_of(f) == db for m in months})
    t_ingest = time.perf_counter() - t_start

    killed_reports = []
    t0 = time.perf_counter()
    for i, (force, m) in enumerate(reports):
        db, out = store_of(force), work / force / "reports"
        cmd = [*VSW, "--db", str(db), "report", "--force", force, "--month", m, "--out", str(out)]
        if attempt("report", "report", cmd, len(reports) - i):
            killed_reports.append((force, m))
            print(f"  killed report {force} {m}")
        timed("report", cmd)
    t_report = time.perf_counter() - t0

    mismatched = []
    for force, m in killed_reports:  # byte-identical to a clean rerun into a fresh folder
        db, clean = store_of(force), work / force / "clean"
        run(
            [*VSW, "--db", str(db), "report", "--force", force, "--month", m, "--out", str(clean)],
            None,
        )
        a = tables_digest(next((work / force / "reports").rglob(m)))
        b = tables_digest(next(clean.rglob(m)))
        if a != b:
            mismatched.append((force, m))
    total = sum(kills.values())
    print(
        f"ingest: {len(steps)} commands in {t_ingest:.0f} s; reports: {len(reports)} in "
        f"{t_report:.0f} s"
    )
    print(
        f"kills: {total} ({kills['ingest']} during ingest, {kills['report']} during reports); "
        f"store checks after every kill and at the end: consistent"
    )
    print(
        f"reports rerun after a kill: {len(killed_reports)}, byte-identical to a clean "
        f"rerun: {len(killed_reports) - len(mismatched)}"
    )
    if mismatched or total < args.kills:
        raise SystemExit(
            f"FAILED: mismatched {mismatched}; kills {total} < {args.kills}"
            if mismatched or total < args.kills
            else ""
        )


if __name__ == "__main__":
    main()
