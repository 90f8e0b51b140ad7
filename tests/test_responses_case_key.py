"""`vsw ingest responses` keyed by the contractor extract's case_key.

The agency only ever sees the case keys of the encrypted extract `vsw sample` writes; it returns
its responses keyed by them. Here the extracts are drawn with `vsw sample` as a user would,
decrypted, and a responses file is written keyed by their case keys (upper-case and padded
keys included, two months mixed). References: the case keys are recomputed with Python's
:mod:`hmac` (RFC 2104) from the recorded samples, independently of the store's SQL; the
crime_ref / victim_id of each case come from the personal data the force loaded; and the
same answers ingested by crime_ref / victim_id into a copy of the store must give identical
``responses`` and ``response_comments`` tables.
"""

from __future__ import annotations

import hashlib
import hmac
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_vsw
from methods.core.errors import ValidationError
from methods.core.schema import STAGES
from methods.data import protection
from methods.data.store import TABLES, Store
from methods.workflows.synthetic import write_synthetic

MONTHS = ["2025-01", "2025-02"]
DRAWS = [("burglary", "2025-01"), ("burglary", "2025-02"), ("vehicle", "2025-01")]
ANSWERS = ["mode", "disposition", "interview_date", *STAGES, "comment"]


def python_case_key(secret: bytes, survey: str, month: str, case_id: str) -> str:
    """The case key by RFC 2104 HMAC-SHA256 (Python's hmac), first 32 hex digits."""
    msg = f"extract:{survey}|{month}|{case_id}".encode()
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:32]


@pytest.fixture(scope="module")
def drawn(tmp_path_factory):
    """Two Durham months loaded, three samples drawn with `vsw sample`, extracts decrypted."""
    d = tmp_path_factory.mktemp("case_key")
    src = d / "in"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_synthetic("durham", MONTHS, seed=57, out_dir=src, scale=0.6)
    db = d / "base.duckdb"
    with Store(db) as st:
        for m in MONTHS:
            st.ingest_victims(src / f"victims_{m}.csv", month=m)
    key = protection.write_key(d / "k.key")
    for survey, month in DRAWS:
        r = run_vsw(
            "sample", "--force", "durham", "--survey", survey, "--month", month,
            "--key-file", str(key), "--out", str(d / "out"), db=db,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
    k = key.read_bytes().strip()
    extracts = {
        (s, m): protection.read_extract(d / "out" / f"durham_{s}_{m}.extract.fernet", k)
        for s, m in DRAWS
    }
    # Reference map case_key -> (case_id, month, crime_ref, victim_id), built in Python.
    rows = []
    with Store(db, read_only=True) as st:
        secret = st.secret
        for s, m in DRAWS:
            personal = st.victims(m, personal=True).set_index("case_id")
            for cid in st.sample(s, m)["case_id"]:
                rows.append(
                    {
                        "survey": s,
                        "month": m,
                        "case_key": python_case_key(secret, s, m, cid),
                        "case_id": cid,
                        "crime_ref": personal.at[cid, "crime_ref"],
                        "victim_id": personal.at[cid, "victim_id"],
                        "reported_date": personal.at[cid, "reported_date"],
                    }
                )
    ref = pd.DataFrame(rows).set_index("case_key")
    for (s, m), ext in extracts.items():  # the extract's keys are exactly the reference's
        assert set(ext["case_key"]) == set(ref.index[(ref["survey"] == s) & (ref["month"] == m)])
    return {"dir": d, "db": db, "extracts": extracts, "ref": ref}


def answers(drawn) -> pd.DataFrame:
    """Responses for every burglary case of both months, months interleaved, keyed by the
    extracts' case keys (every third key upper-case, every third padded with spaces/tabs)."""
    ext = pd.concat([drawn["extracts"][("burglary", m)] for m in MONTHS], ignore_index=True)
    rng = np.random.default_rng(20250601)
    ext = ext.iloc[rng.permutation(len(ext))].reset_index(drop=True)
    ref = drawn["ref"].loc[ext["case_key"]].reset_index()
    n = len(ext)
    disp = rng.choice(["1.1", "1.2", "2.11", "2.20", "4.10"], size=n)
    interview = disp.astype(str)
    is_int = np.char.startswith(interview, "1.")
    out = pd.DataFrame(
        {
            "case_key": ref["case_key"],
            "crime_ref": ref["crime_ref"],
            "victim_id": ref["victim_id"],
            "mode": "telephone",
            "disposition": disp,
            "interview_date": np.where(
                is_int,
                (pd.to_datetime(ref["reported_date"]) + pd.Timedelta(days=30)).dt.strftime(
                    "%Y-%m-%d"
                ),
                "",
            ),
        }
    )
    for s in STAGES:
        a = rng.integers(1, 9, size=n).astype(str)
        a[rng.random(n) < 0.1] = ""  # not asked
        out[s] = np.where(is_int, a, "")
    out["comment"] = np.where(
        is_int & (rng.random(n) < 0.4), [f"synthetic remark {i}" for i in range(n)], ""
    )
    keys = out["case_key"].to_numpy(dtype=object).copy()
    keys[1::3] = [k.upper() for k in keys[1::3]]
    keys[2::3] = [f"  {k.upper()}\t " if i % 2 else f" {k} " for i, k in enumerate(keys[2::3])]
    out["file_key"] = keys
    return out


def by_key(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["file_key", *ANSWERS]].rename(columns={"file_key": "case_key"})


def by_ref(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["crime_ref", "victim_id", *ANSWERS]]


def copy_store(drawn, tmp_path: Path, name: str = "s.duckdb") -> Path:
    dst = tmp_path / name
    shutil.copy(drawn["db"], dst)
    return dst


def write(df: pd.DataFrame, path: Path) -> Path:
    df.to_csv(path, index=False)
    return path


def digests(db: Path) -> dict[str, str]:
    with Store(db, read_only=True) as st:
        return st.table_digests()


def test_case_key_file_loads_the_same_responses_as_crime_ref_victim_id(drawn, tmp_path):
    frame = answers(drawn)
    assert frame["file_key"].str.strip().str.lower().tolist() == frame["case_key"].tolist()
    assert (frame["file_key"] != frame["case_key"]).sum() > len(frame) // 2  # many variants
    f_key = write(by_key(frame), tmp_path / "agency_return.csv")
    f_ref = write(by_ref(frame), tmp_path / "force_keys.csv")
    db_key, db_ref = copy_store(drawn, tmp_path, "a.duckdb"), copy_store(drawn, tmp_path, "b.db")
    r = run_vsw("ingest", "responses", str(f_key), "--survey", "burglary", db=db_key)
    assert r.returncode == 0, r.stderr
    assert f"loaded {len(frame)} responses for burglary" in r.stdout
    with Store(db_ref) as st:
        st.ingest_responses(f_ref, "burglary")
        assert st.audit(action="ingest_responses")["detail"].iloc[-1] is None
    a, b = digests(db_key), digests(db_ref)
    for t in ("responses", "response_comments", "samples", "victims", "personal"):
        assert a[t] == b[t], t
    # ... and what was stored is what the file said, case by case.
    with Store(db_key) as st:
        got = st.responses("burglary", comments=True).set_index("case_id")
        audit = st.audit(action="ingest_responses").iloc[-1]
    want = frame.assign(case_id=drawn["ref"].loc[frame["case_key"], "case_id"].to_numpy())
    want = want.set_index("case_id")
    assert sorted(got.index) == sorted(want.index)
    assert sorted(got["month"].unique()) == MONTHS  # one file, two months
    got = got.loc[want.index]
    np.testing.assert_array_equal(got["disposition"], want["disposition"])
    for s in STAGES:
        stored = ["" if pd.isna(x) else str(int(x)) for x in got[s]]
        np.testing.assert_array_equal(stored, want[s])
    dates = pd.to_datetime(got["interview_date"]).dt.strftime("%Y-%m-%d").fillna("")
    np.testing.assert_array_equal(dates, want["interview_date"])
    np.testing.assert_array_equal(got["comment"].fillna(""), want["comment"])
    assert audit["outcome"] == "ok" and audit["rows"] == len(frame)
    assert "case_key" in audit["detail"] and audit["month"] == ",".join(MONTHS)


def test_parquet_and_dataframe_inputs_keyed_by_case_key(drawn, tmp_path):
    frame = answers(drawn)
    db_ref = copy_store(drawn, tmp_path, "ref.duckdb")
    with Store(db_ref) as st:
        st.ingest_responses(by_ref(frame), "burglary")
    want = digests(db_ref)["responses"]
    pq = tmp_path / "r.parquet"
    by_key(frame).to_parquet(pq, index=False)
    for name, src in (("pq.duckdb", pq), ("df.duckdb", by_key(frame))):
        db = copy_store(drawn, tmp_path, name)
        with Store(db) as st:
            assert st.ingest_responses(src, "burglary")["rows"] == len(frame)
        assert digests(db)["responses"] == want, name


def test_case_keys_are_not_stored_anywhere(drawn, tmp_path):
    frame = answers(drawn)
    db = copy_store(drawn, tmp_path)
    with Store(db) as st:
        res = st.ingest_responses(write(by_key(frame), tmp_path / "r.csv"), "burglary")
        assert res["months"] == MONTHS
        keys = set(frame["case_key"])
        found = 0
        for t in TABLES:
            cols = st.con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ? "
                "AND data_type = 'VARCHAR'",
                [t],
            ).fetchall()
            for (c,) in cols:
                vals = st.con.execute(f'SELECT DISTINCT "{c}" FROM {t}').fetchall()
                # neither a value nor inside free text (the audit detail, for instance)
                found += sum(any(k in v[0].lower() for k in keys) for v in vals if v[0])
        assert found == 0


def test_replace_and_already_loaded_work_as_for_crime_ref_files(drawn, tmp_path):
    frame = answers(drawn)
    f = write(by_key(frame), tmp_path / "r.csv")
    db = copy_store(drawn, tmp_path)
    with Store(db) as st:
        st.ingest_responses(f, "burglary")
        before = st.table_digests()
        with pytest.raises(ValidationError, match="already loaded") as exc:
            st.ingest_responses(f, "burglary")
        n = min(20, len(frame))
        assert exc.value.column == "case_key" and exc.value.rows == list(range(1, n + 1))
        assert {k: v for k, v in st.table_digests().items() if k != "audit"} == {
            k: v for k, v in before.items() if k != "audit"
        }
        res = st.ingest_responses(f, "burglary", replace=True)
        assert res["replaced"] == len(frame)
        assert st.table_digests()["response_comments"] == before["response_comments"]


def test_case_keys_still_map_after_the_personal_data_is_purged(drawn, tmp_path):
    frame = answers(drawn)
    db = copy_store(drawn, tmp_path)
    with Store(db) as st:
        assert st.purge_personal("2025-03")["rows"] > 0  # crime_ref / victim_id destroyed
        res = st.ingest_responses(write(by_key(frame), tmp_path / "r.csv"), "burglary")
        assert res["rows"] == len(frame) and res["months"] == MONTHS


def _break(drawn, how: str) -> tuple[pd.DataFrame, str, list[int], str]:
    """A case-key responses file with one defect: (frame, column, rows, text of the rule)."""
    frame = answers(drawn)
    df = by_key(frame)
    vehicle = drawn["extracts"][("vehicle", MONTHS[0])]
    if how == "unknown":
        df.loc[3, "case_key"] = "0123456789abcdef" * 2
        return df, "case_key", [4], "in no recorded sample of survey burglary"
    if how == "other-survey":  # keys of the vehicle extract, returned as burglary
        df.loc[[1, 4], "case_key"] = vehicle["case_key"].iloc[:2].str.upper().to_numpy()
        return df, "case_key", [2, 5], "another survey's extract"
    if how == "survey-vehicle":  # the whole burglary file ingested as vehicle
        return df.iloc[:7], "case_key", list(range(1, 8)), "in no recorded sample of survey"
    if how == "duplicate":
        df.loc[5, "case_key"] = " " + frame.loc[2, "case_key"].upper() + " "
        return df, "case_key", [3, 6], "duplicate key"
    if how == "disagree":
        df = frame[["file_key", "crime_ref", "victim_id", *ANSWERS]].rename(
            columns={"file_key": "case_key"}
        )
        df.loc[[1, 6], ["crime_ref", "victim_id"]] = df.loc[
            [6, 1], ["crime_ref", "victim_id"]
        ].values
        return df, "case_key", [2, 7], "name different cases"
    if how == "malformed":
        df.loc[0, "case_key"] = "not-a-case-key"
        df.loc[7, "case_key"] = frame.loc[7, "case_key"][:-1]  # 31 digits
        return df, "case_key", [1, 8], "not a case key"
    if how == "blank":
        df.loc[2, "case_key"] = "  "
        return df, "case_key", [3], "required value is blank"
    if how == "half-ref":
        df["crime_ref"] = frame["crime_ref"]
        return df, "victim_id", [], "without 'victim_id'"
    if how == "no-key":
        return df.drop(columns=["case_key"]), "case_key", [], "no key column"
    raise AssertionError(how)


CASES = ["unknown", "other-survey", "survey-vehicle", "duplicate", "disagree", "malformed",
         "blank", "half-ref", "no-key"]  # fmt: skip


@pytest.mark.parametrize("how", CASES)
def test_bad_case_keys_are_refused_and_nothing_is_written(drawn, tmp_path, how):
    df, column, rows, text = _break(drawn, how)
    f = write(df, tmp_path / f"{how}.csv")
    db = copy_store(drawn, tmp_path)
    survey = "vehicle" if how == "survey-vehicle" else "burglary"
    with Store(db) as st:
        before = st.table_digests()
        with pytest.raises(ValidationError) as exc:
            st.ingest_responses(f, survey)
        after = st.table_digests()
        refused = st.audit(outcome="refused")
    err = exc.value
    assert text in str(err), str(err)
    assert err.column == column and err.rows == rows, str(err)
    assert f"{how}.csv" in str(err)
    if rows:
        assert f"line {rows[0] + 1}" in str(err) or f"lines {rows[0] + 1}" in str(err)
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    assert len(refused) == 1 and refused["action"].iloc[0] == "ingest_responses"
    # No key, crime_ref or victim_id is ever quoted in the message (or the audit log).
    keys = [str(k).strip().lower() for k in df.get("case_key", pd.Series(dtype=str))]
    assert not [k for k in keys if k and len(k) >= 16 and k in str(err).lower()]
    assert not [c for c in drawn["ref"]["crime_ref"] if c in str(err)]


def test_both_kinds_of_key_that_agree_are_accepted(drawn, tmp_path):
    frame = answers(drawn)
    both = frame[["file_key", "crime_ref", "victim_id", *ANSWERS]].rename(
        columns={"file_key": "case_key"}
    )
    db_both, db_ref = copy_store(drawn, tmp_path, "a.duckdb"), copy_store(drawn, tmp_path, "b.db")
    with Store(db_both) as st:
        assert st.ingest_responses(write(both, tmp_path / "b.csv"), "burglary")["rows"] == len(
            frame
        )
        assert st.audit(action="ingest_responses")["detail"].iloc[-1] == (
            "cases identified by case_key"
        )
    with Store(db_ref) as st:
        st.ingest_responses(write(by_ref(frame), tmp_path / "r.csv"), "burglary")
    a, b = digests(db_both), digests(db_ref)
    assert a["responses"] == b["responses"] and a["response_comments"] == b["response_comments"]


def test_cli_refuses_an_unknown_key_with_exit_3_and_documents_case_key(drawn, tmp_path):
    df, _, _, _ = _break(drawn, "unknown")
    f = write(df, tmp_path / "bad.csv")
    db = copy_store(drawn, tmp_path)
    before = {k: v for k, v in digests(db).items() if k != "audit"}
    r = run_vsw("ingest", "responses", str(f), "--survey", "burglary", db=db)
    assert r.returncode == 3 and "Traceback" not in r.stderr
    assert "case_key" in r.stderr and "row 4" in r.stderr and "nothing was written" in r.stderr
    assert {k: v for k, v in digests(db).items() if k != "audit"} == before
    h = run_vsw("ingest", "responses", "--help")
    assert h.returncode == 0 and "case_key" in h.stdout and "crime_ref" in h.stdout
