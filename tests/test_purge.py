"""Retention: `vsw purge --before YYYY-MM` destroys the contact details of closed months, keeps
the pseudonymised analysis data, writes an audit record, and reports still rebuild.

References: row counts come from the synthetic input files; "no bytes left behind" is checked
by scanning the store file for values that were in it before the purge (a positive control
shows the scan finds them) and exist only in the purged months.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_vsw
from methods.core.errors import UsageError
from methods.data.store import PERSONAL_COLUMNS, Store
from methods.workflows.synthetic import write_synthetic

ROOT = Path(__file__).resolve().parents[1]
MONTHS = ["2025-01", "2025-02", "2025-03"]
PURGED = MONTHS[:2]
# response_comments is rewritten: free text may hold personal data and is replaced by its
# redacted text (tests/test_purge_comments.py checks that).
KEPT_TABLES = ("meta", "victims", "months", "samples", "responses", "optout", "loads")


vsw = run_vsw  # the shared runner (tests/conftest.py)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Three small synthetic Durham months with samples and responses, in a store."""
    d = tmp_path_factory.mktemp("purge_in")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_synthetic("durham", MONTHS, seed=41, out_dir=d, scale=0.3)
    db = d / "store.duckdb"
    with Store(db) as st:
        for m in MONTHS:
            st.ingest_victims(d / f"victims_{m}.csv", month=m)
            for s in ("burglary", "vehicle", "violent", "hate", "asb"):
                st.ingest_sample(d / f"sample_{s}_{m}.csv", survey=s, month=m)
                st.ingest_responses(d / f"responses_{s}_{m}.csv", survey=s)
    return d, db


@pytest.fixture
def db(built, tmp_path) -> Path:
    dst = tmp_path / "store.duckdb"
    shutil.copy(built[1], dst)
    return dst


def _csv(built, month) -> pd.DataFrame:
    return pd.read_csv(built[0] / f"victims_{month}.csv", dtype=str, keep_default_na=False)


def _only_in_purged(built) -> list[bytes]:
    """Personal values of the purged months that nothing kept holds: not a value (or part of a
    value, e.g. "Ann Harris" in "Ann Harrison") of the kept month, nor part of a free-text
    comment (kept by design; synthetic comments quote fake names and numbers)."""
    d = built[0]
    kept = _csv(built, MONTHS[-1])
    blob = "\n".join(v for c in PERSONAL_COLUMNS for v in kept[c] if v)
    blob += "\n".join(
        "\n".join(pd.read_csv(p, dtype=str, keep_default_na=False)["comment"])
        for p in sorted(d.glob("responses_*.csv"))
    )
    out = []
    for c in PERSONAL_COLUMNS:  # up to 60 values per column keeps the byte scan quick
        vals = sorted({v for m in PURGED for v in _csv(built, m)[c] if v and v not in blob})
        out += [v.encode() for v in vals[:: max(1, len(vals) // 60)]]
    return out


def test_purge_destroys_personal_rows_of_closed_months_only(built, db):
    per_month = {m: len(_csv(built, m)) for m in MONTHS}
    with Store(db) as st:
        before = st.table_digests()
    r = vsw("purge", "--before", MONTHS[-1], db=db)
    assert r.returncode == 0, r.stderr
    n = per_month[PURGED[0]] + per_month[PURGED[1]]
    assert f"{n} victim rows" in r.stdout and "2025-01" in r.stdout
    with Store(db) as st:
        left = dict(st.con.execute("SELECT month, count(*) FROM personal GROUP BY 1").fetchall())
        assert left == {MONTHS[-1]: per_month[MONTHS[-1]]}
        after = st.table_digests()
        for t in KEPT_TABLES:  # analysis data, samples, responses: unchanged
            assert after[t] == before[t], t
        audit = st.audit(action="purge_personal")
        assert len(audit) == 1
        row = audit.iloc[0]
        assert row["outcome"] == "ok" and row["rows"] == n
        for m in PURGED:
            assert f"{m} ({per_month[m]})" in row["detail"]
        assert "name, phone, email, address" in row["detail"]
        assert abs(pd.Timestamp(row["at_utc"]) - pd.Timestamp.now("UTC").tz_localize(None)) < (
            pd.Timedelta("10min")
        )
        # Purged cases read back without personal columns; kept ones still have them.
        v = st.victims(personal=True)
        assert v.loc[v["month"].isin(PURGED), list(PERSONAL_COLUMNS)].isna().all().all()
        assert v.loc[v["month"] == MONTHS[-1], "crime_ref"].notna().all()


def test_no_bytes_of_purged_values_remain_in_the_store_file(built, db):
    needles = _only_in_purged(built)
    assert len(needles) > 300
    data = db.read_bytes()
    found = sum(n in data for n in needles)
    assert found == len(needles)  # positive control: the scan sees them before the purge
    with Store(db) as st:
        res = st.purge_personal(MONTHS[-1])
    assert res["compacted"] is True and res["rows"] > 0
    data = db.read_bytes()
    assert [n for n in needles if n in data] == []
    assert sorted(p.name for p in db.parent.iterdir()) == ["store.duckdb"]


def test_store_keeps_its_secret_and_stays_usable_after_the_rewrite(built, db):
    kept = _csv(built, MONTHS[-1]).iloc[0]
    with Store(db) as st:
        secret = st.secret
        case = st.pseudonym(kept["crime_ref"], kept["victim_id"])
        st.purge_personal(MONTHS[-1])
        assert st.secret == secret  # same connection, rewritten file
        assert st.pseudonym(kept["crime_ref"], kept["victim_id"]) == case
        assert case in set(st.victims(MONTHS[-1])["case_id"])
        # Fieldwork returns for a purged month still load: keys are recomputed from the
        # returned crime_ref and victim_id, not looked up in the purged table.
        res = st.ingest_responses(built[0] / "responses_hate_2025-01.csv", "hate", replace=True)
        assert res["rows"] > 0 and res["months"] == ["2025-01"]
    with Store(db) as st:  # reopened from disk
        assert st.secret == secret and st.loaded_months() == MONTHS


def test_reports_for_purged_months_rebuild_identically(store_copy, tmp_path):
    """The demo store (conftest: three full-scale Durham months) reported, purged, reported."""
    from conftest import TEST_MONTHS
    from methods.report.tables import run_report

    month = TEST_MONTHS[-1]

    def tables(out: Path) -> dict[str, str]:
        folder = out / "durham" / month / "tables"
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.glob("*.csv")}

    run_report("durham", month, store_copy, out=tmp_path / "before")
    with Store(store_copy) as st:
        res = st.purge_personal("2026-01")  # every month of the report
        assert res["rows"] > 0
        assert st.con.execute("SELECT count(*) FROM personal").fetchall()[0][0] == 0
    run_report("durham", month, store_copy, out=tmp_path / "after")
    before, after = tables(tmp_path / "before"), tables(tmp_path / "after")
    assert before and before == after


def test_open_months_are_refused_and_nothing_to_purge_is_recorded(built, db, tmp_path):
    with Store(db, today=dt.date(2025, 3, 20)) as st:
        with pytest.raises(UsageError, match="not closed yet"):
            st.purge_personal("2025-04")
        assert st.purge_personal("2025-03")["rows"] > 0  # Jan and Feb have ended
    today = dt.date.today()
    nxt = f"{today.year + (today.month == 12)}-{today.month % 12 + 1:02d}"
    r = vsw("purge", "--before", nxt, db=db)
    assert r.returncode == 2 and "not closed yet" in r.stderr and "Traceback" not in r.stderr
    r = vsw("purge", "--before", "2024-06", db=db)
    assert r.returncode == 0 and "nothing to purge" in r.stdout
    with Store(db) as st:
        audit = st.audit(action="purge_personal")
        assert audit["rows"].tolist() == [
            len(_csv(built, "2025-01")) + len(_csv(built, "2025-02")),
            0,
        ]
    r = vsw("purge", "--before", "2025-13", db=db)
    assert r.returncode == 2
    r = vsw("purge", "--before", "2025-01", db=tmp_path / "none.duckdb")
    assert r.returncode == 3 and "no store" in r.stderr


def test_no_contractor_extract_for_a_purged_month(db, tmp_path):
    from methods.data.protection import write_key

    with Store(db) as st:
        st.purge_personal(MONTHS[-1])
    key = write_key(tmp_path / "k.key")
    r = vsw("sample", "--force", "durham", "--survey", "burglary", "--month", "2025-01",
            "--replace", "--key-file", str(key), "--out", str(tmp_path / "out"), db=db)  # fmt: skip
    assert r.returncode == 3 and "purged" in r.stderr
    assert not (tmp_path / "out").exists()
