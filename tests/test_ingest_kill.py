"""A ``kill -9`` in the middle of an ingest leaves the previous state intact.

A child process replaces a loaded month with a 300,000-row extract (so that the write phase
deletes the old month, drops sampled cases the new extract lacks, and inserts 300k rows with
their personal data) and is killed with SIGKILL at several points: while reading, right after
validation, at several delays inside the write transaction, and during the checkpoint that
follows the commit. The child reports its phase through a file (``Store._on_phase``), so the
test knows where each kill landed.

After each kill the store is reopened and every table is fingerprinted (SHA-256 of its sorted
rows): a kill before the commit must leave every table -- audit log included -- exactly as it
was; a kill after the commit must leave exactly the new state (same rows as an uninterrupted
reference run).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

from methods.data.store import Store

_spec = importlib.util.spec_from_file_location(
    "ingest_extracts", Path(__file__).parent / "fixtures" / "ingest" / "extracts.py"
)
ex = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ex)

pytestmark = pytest.mark.skipif(os.name != "posix", reason="SIGKILL needs a POSIX system")

MONTH = "2025-01"
N_BIG = 300_000
#: tables without load timestamps: a committed run must reproduce them exactly
STABLE = ("meta", "victims", "personal", "samples", "responses", "response_comments", "optout")

CHILD = """
import os, sys
from methods.data.store import Store
db, src, phase_file = sys.argv[1:4]
def phase(name):
    with open(phase_file, "a") as f:
        f.write(name + "\\n")
        f.flush()
        os.fsync(f.fileno())
st = Store(db)
st._on_phase = phase
phase("started")
st.ingest_victims(src, month=sys.argv[4], replace=True)
phase("done")
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = tmp_path_factory.mktemp("kill")
    jan = ex.victims(2000, MONTH, seed=1)
    smp = ex.sample(jan, every=10)
    base = d / "base.duckdb"
    with Store(base) as st:
        st.ingest_victims(ex.write_csv(jan, d / "jan.csv"), MONTH)
        st.ingest_sample(smp, "burglary", MONTH)
        st.ingest_responses(ex.responses(smp), "burglary")
        before = st.table_digests()
    big = d / "big.csv"  # starts at victim 1000: 100 of the 200 sampled cases are dropped
    pacsv.write_csv(pa.Table.from_pandas(ex.victims(N_BIG, MONTH, seed=5, start=1000)), big)
    ref = d / "ref.duckdb"
    shutil.copy(base, ref)
    with Store(ref) as st, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = st.ingest_victims(big, MONTH, replace=True)
        after = st.table_digests()
    assert res["rows"] == N_BIG and res["dropped_sampled_cases"] == 100
    assert before != after
    return {"dir": d, "base": base, "big": big, "before": before, "after": after}


def _run_and_kill(world: dict, tag: str, trigger: str, delay: float) -> tuple[Path, list[str]]:
    """Start the child, wait for ``trigger``, sleep ``delay``, SIGKILL; return db and phases."""
    d = world["dir"]
    db = d / f"{tag}.duckdb"
    shutil.copy(world["base"], db)
    phase_file = d / f"{tag}.phase"
    phase_file.write_text("")
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(db), str(world["big"]), str(phase_file), MONTH],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    try:
        while trigger not in phase_file.read_text().split():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"child ended or hung before phase {trigger!r} (rc={proc.returncode})")
            time.sleep(0.002)
        if delay:
            time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the child finished before it could be killed"
    return db, phase_file.read_text().split()


# (phase to wait for, delay after it) -- "writing" is inside the transaction, before COMMIT
KILLS = [
    ("started", 0.3),
    ("validated", 0.0),
    ("writing", 0.0),
    ("writing", 0.05),
    ("writing", 0.25),
    ("committed", 0.0),
]


def test_sigkill_never_leaves_a_partial_ingest(world):
    inside_write = 0
    interrupted = None
    outcomes = []
    for k, (trigger, delay) in enumerate(KILLS):
        db, phases = _run_and_kill(world, f"k{k}", trigger, delay)
        with Store(db) as st:
            got = st.table_digests()
            n_rows = st.con.execute("SELECT count(*) FROM victims").fetchall()[0][0]
        if "committed" in phases:
            # the commit happened: the new month is there in full, nothing else changed
            assert {t: got[t] for t in STABLE} == {t: world["after"][t] for t in STABLE}
            assert n_rows == N_BIG
            outcomes.append((trigger, delay, "new state"))
        else:
            # killed before the commit: every table, audit log included, exactly as before
            assert got == world["before"], f"kill at {trigger}+{delay}s changed the store"
            assert n_rows == 2000
            if "writing" in phases:
                inside_write += 1
                interrupted = db
            outcomes.append((trigger, delay, "old state"))
    assert inside_write >= 3, f"too few kills landed inside the write transaction: {outcomes}"
    assert outcomes[-1][2] == "new state"
    # and a store killed mid-write takes the same ingest again, to the same result
    with Store(interrupted) as st, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        st.ingest_victims(world["big"], MONTH, replace=True)
        got = st.table_digests()
    assert {t: got[t] for t in STABLE} == {t: world["after"][t] for t in STABLE}
