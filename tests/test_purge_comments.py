"""Retention: `vsw purge --before YYYY-MM` replaces the free-text comments of the purged
months' cases ("may contain personal data", docs/data_contract.md section 2) by their redacted
text (the text every report reads, so reports rebuild unchanged), keeps their answers, reports
how many comments it rewrote, and leaves no bytes of the raw wording in the store file.

References: comment counts come from the synthetic responses files (``comment`` values per
month that redaction changes); distinctive comments with a street address and a phone number
written into those files are searched for, byte by byte, in the DuckDB file before (positive
control) and after the purge.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pandas as pd
import pytest

from conftest import run_vsw
from methods.comments.redact import redact
from methods.data.store import Store
from methods.workflows.synthetic import write_synthetic

MONTHS = ["2025-01", "2025-02", "2025-03"]
PURGED = MONTHS[:2]
SURVEYS = ("burglary", "vehicle", "violent")


def marker(month: str, survey: str, i: int) -> str:
    """A comment no synthetic generator writes, unique per month, survey and row."""
    return f"Zephyrine Quillfeather of 7 Vexbrook Lane rang 07700 9{i:02d}{month[-1]}{len(survey)}"


def _changed(comments: pd.Series) -> int:
    """How many comments redaction changes (what a purge rewrites)."""
    return int((redact(comments) != comments).sum())


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """Three small Durham months with samples and responses; the first interviews of every
    survey and month carry distinctive comments."""
    d = tmp_path_factory.mktemp("purge_comments")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_synthetic("durham", MONTHS, seed=43, out_dir=d, scale=0.3)
    markers: dict[str, list[str]] = {m: [] for m in MONTHS}
    counts: dict[str, int] = {}
    db = d / "store.duckdb"
    with Store(db) as st:
        for m in MONTHS:
            st.ingest_victims(d / f"victims_{m}.csv", month=m)
            counts[m] = 0
            for s in SURVEYS:
                st.ingest_sample(d / f"sample_{s}_{m}.csv", survey=s, month=m)
                path = d / f"responses_{s}_{m}.csv"
                r = pd.read_csv(path, dtype=str, keep_default_na=False)
                interviews = r.index[r["disposition"].str.startswith("1.")][:3]
                for i, row in enumerate(interviews):
                    r.loc[row, "comment"] = marker(m, s, i)
                    markers[m].append(marker(m, s, i))
                r.to_csv(path, index=False)
                counts[m] += _changed(r["comment"])
                st.ingest_responses(path, survey=s)
    assert all(len(v) == 3 * len(SURVEYS) for v in markers.values())
    return {"dir": d, "db": db, "markers": markers, "counts": counts}


@pytest.fixture
def db(built, tmp_path) -> Path:
    dst = tmp_path / "store.duckdb"
    shutil.copy(built["db"], dst)
    return dst


def test_purge_redacts_comments_of_purged_months_and_keeps_answers(built, db):
    counts = built["counts"]
    assert all(counts[m] >= len(built["markers"][m]) for m in MONTHS)
    with Store(db) as st:
        before = st.table_digests()
        resp_before = st.responses(comments=True)
        res = st.purge_personal(MONTHS[-1])
        after = st.table_digests()
        resp_after = st.responses(comments=True)
        left = dict(
            st.con.execute(
                "SELECT v.month, count(*) FROM response_comments c JOIN victims v USING (case_id) "
                "GROUP BY 1"
            ).fetchall()
        )
        audit = st.audit(action="purge_personal").iloc[-1]
    assert res["comments"] == counts[PURGED[0]] + counts[PURGED[1]]
    assert res["comment_months"] == {m: counts[m] for m in PURGED}
    held = resp_before["comment"].notna().groupby(resp_before["month"]).sum()
    assert left == {m: int(k) for m, k in held.items() if k}  # redacted, not deleted
    # The answers stay: responses (dispositions, dates, the five stages) are untouched.
    for t in ("victims", "samples", "responses", "months", "loads", "optout", "meta"):
        assert after[t] == before[t], t
    assert after["response_comments"] != before["response_comments"]
    purged = resp_after["month"].isin(PURGED)
    was = resp_before.loc[purged, "comment"]
    assert resp_after.loc[purged, "comment"].isna().equals(was.isna())
    assert resp_after.loc[purged, "comment"].dropna().tolist() == redact(was.dropna()).tolist()
    assert not resp_after.loc[purged, "comment"].str.contains("07700", na=False).any()
    pd.testing.assert_frame_equal(
        resp_after.drop(columns="comment"), resp_before.drop(columns="comment")
    )
    pd.testing.assert_series_equal(
        resp_after.loc[~purged, "comment"], resp_before.loc[~purged, "comment"]
    )
    for m in PURGED:
        assert f"{m} ({counts[m]})" in audit["detail"]
    assert "replaced by their redacted text" in audit["detail"]
    assert "answers kept" in audit["detail"]
    assert "Quillfeather" not in audit["detail"]


def test_no_bytes_of_purged_comments_remain_in_the_store_file(built, db):
    gone = [s.encode() for m in PURGED for s in built["markers"][m]]
    kept = [s.encode() for s in built["markers"][MONTHS[-1]]]
    data = db.read_bytes()
    assert [n for n in gone + kept if n not in data] == []  # positive control
    r = run_vsw("purge", "--before", MONTHS[-1], db=db)
    assert r.returncode == 0, r.stderr
    data = db.read_bytes()
    assert [n for n in gone if n in data] == []
    assert [n for n in kept if n not in data] == []  # the kept month's comments are still there
    assert sorted(p.name for p in db.parent.iterdir()) == ["store.duckdb"]


def test_comments_loaded_after_a_purge_are_purged_by_the_next_one(built, db):
    """Fieldwork returns for an already purged month: the second purge finds no contact
    details left, but still redacts the new comments and rewrites the file."""
    with Store(db) as st:
        first = st.purge_personal(MONTHS[-1])
        assert first["rows"] > 0 and first["compacted"] is True
        src = built["dir"] / f"responses_burglary_{MONTHS[0]}.csv"
        st.ingest_responses(src, "burglary", replace=True)
        k = _changed(pd.read_csv(src, dtype=str, keep_default_na=False)["comment"])
        assert k >= 3
        assert built["markers"][MONTHS[0]][0].encode() in db.read_bytes()
        second = st.purge_personal(MONTHS[-1])
        assert second["rows"] == 0 and second["months"] == {}
        assert second["comments"] == k and second["comment_months"] == {MONTHS[0]: k}
        assert second["compacted"] is True
        third = st.purge_personal(MONTHS[-1])  # nothing left: no rewrite
        assert third["comments"] == 0 and third["compacted"] is False
        assert st.audit(action="purge_personal")["rows"].tolist() == [first["rows"], 0, 0]
    data = db.read_bytes()
    assert [s for s in built["markers"][MONTHS[0]] if s.encode() in data] == []


def test_purge_help_mentions_comments():
    r = run_vsw("purge", "--help")
    assert r.returncode == 0 and "comments" in r.stdout


def test_cli_reports_comments_destroyed_when_no_contact_details_are_left(built, db):
    """`vsw purge` must not say "nothing to purge" when only comments went."""
    with Store(db) as st:
        st.purge_personal(MONTHS[-1])
        src = built["dir"] / f"responses_burglary_{MONTHS[0]}.csv"
        st.ingest_responses(src, "burglary", replace=True)
    k = _changed(pd.read_csv(src, dtype=str, keep_default_na=False)["comment"])
    r = run_vsw("purge", "--before", MONTHS[-1], db=db)
    assert r.returncode == 0, r.stderr
    assert "nothing to purge" not in r.stdout
    assert f"{k} free-text response comment(s)" in r.stdout
    assert "victim rows" not in r.stdout  # no contact details were left to destroy
