"""The DuckDB store: what goes in comes out right, variants load, replace is atomic, no leaks.

Expected values are written out by hand from the literal CSV below (a methodology scenario a
reviewer can read), and the pseudonyms are checked against RFC 4231's published HMAC-SHA256
test vector and Python's :mod:`hmac` (RFC 2104).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import importlib.util
import subprocess
import sys
import warnings
from pathlib import Path

import duckdb
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from methods.core.errors import InputRefused, UsageError, ValidationError
from methods.data.ingest import hmac_pads, hmac_sql
from methods.data.store import ANALYSIS_COLUMNS, Store

_spec = importlib.util.spec_from_file_location(
    "ingest_extracts", Path(__file__).parent / "fixtures" / "ingest" / "extracts.py"
)
ex = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ex)

TODAY = dt.date(2026, 1, 1)
HEADER = (
    "\ufeffCrime_Ref, victim_id ,OFFENCE_GROUP,reported_date,Age,gender,ethnicity,district,"
    "name,phone,email,address,opted_out,vulnerable,no_further_action_requested,uncooperative,"
    "sensitive,police_victim,force_notes"
)
#: BOM, CRLF, header in mixed case with spaces, mixed-case codes, yes/no/1/0/TRUE/blank
#: booleans, a blank age, "45.0", a padded key, a quoted line break, an extra column.
SCENARIO = (
    "\r\n".join(
        [
            HEADER,
            "CR1,V1,Burglary,2025-01-02,34,FEMALE,White,North,Ann Quill,07700 900001,"
            'ann@example.org,"1 Quill Lane, Testtown",yes,NO,0,1,TRUE,false,notes',
            "CR2,V2,domestic_abuse,2025-01-31,,Male,asian,South,,,,,,,,,,,",
            'CR3, V3 ,RTC,2025-01-15,45.0,unknown,Unknown,North,Bob Quill,,,"Flat 2\r\nQuill Lane",'
            "No,Yes,YES,no,False,1,",
        ]
    )
    + "\r\n"
)
EXPECTED = pd.DataFrame(
    {
        "offence_group": ["burglary", "domestic_abuse", "rtc"],
        "reported_date": pd.to_datetime(["2025-01-02", "2025-01-31", "2025-01-15"]),
        "age": [34, None, 45],
        "gender": ["female", "male", "unknown"],
        "ethnicity": ["white", "asian", "unknown"],
        "district": ["North", "South", "North"],
        "opted_out": [True, False, False],
        "vulnerable": [False, False, True],
        "no_further_action_requested": [False, False, True],
        "uncooperative": [True, False, False],
        "sensitive": [True, False, False],
        "police_victim": [False, False, True],
    }
)


def _ref_hmac(secret: bytes, msg: str) -> str:
    return hmac.new(secret, msg.encode(), hashlib.sha256).hexdigest()[:32]


@pytest.fixture
def scenario(tmp_path) -> Path:
    p = tmp_path / "scenario.csv"
    p.write_bytes(SCENARIO.encode("utf-8"))
    return p


@pytest.fixture
def st(tmp_path):
    with Store(tmp_path / "s.duckdb", today=TODAY) as s:
        yield s


def _analysis(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame[list(EXPECTED.columns)].reset_index(drop=True).copy()
    out["age"] = out["age"].astype("Float64")
    out["reported_date"] = out["reported_date"].astype("datetime64[ns]")
    for c in ("offence_group", "gender", "ethnicity", "district"):
        out[c] = out[c].astype(object)
    return out


def _expected() -> pd.DataFrame:
    return _analysis(EXPECTED)


# --------------------------------------------------------------------------- keys


def test_sql_hmac_matches_rfc4231_test_case_2():
    """RFC 4231 section 4.3: key "Jefe", data "what do ya want for nothing?"."""
    con = duckdb.connect()
    got = con.execute(
        f"SELECT {hmac_sql(chr(39) + 'what do ya want for nothing?' + chr(39))}",
        hmac_pads(b"Jefe"),
    ).fetchall()[0][0]
    assert got == "5bdcc146bf60754e6a042426089575c7"  # first 32 hex of the published MAC


def test_secret_is_stable_and_pseudonyms_are_keyed_hmacs(tmp_path, scenario):
    db = tmp_path / "k.duckdb"
    with Store(db, today=TODAY) as s:
        secret = s.secret
        s.ingest_victims(scenario, month="2025-01")
    assert len(secret) == 32
    with Store(db) as s:
        assert s.secret == secret  # generated once, kept in meta
        v = s.victims(personal=True)
        assert list(v["victim_id"]) == ["V1", "V2", "V3"]  # padded ' V3 ' trimmed
        for _, row in v.iterrows():
            assert row["case_id"] == _ref_hmac(secret, f"{row['crime_ref']}\x1f{row['victim_id']}")
            assert row["person_id"] == _ref_hmac(secret, f"victim:{row['victim_id']}")
        got = s.pseudonym(v["crime_ref"], v["victim_id"])
        assert list(got) == list(v["case_id"])
        assert s.pseudonym("CR1", "V1") == v["case_id"][0]
        assert s.person_pseudonym("V2") == v["person_id"][1]
        assert s.optout_hash("V3") == v["person_id"][2]
    with Store(tmp_path / "other.duckdb") as s2:
        assert s2.secret != secret  # one key per store


# --------------------------------------------------------------------------- round trip


def test_scenario_loads_with_every_valid_variant(st, scenario):
    res = st.ingest_victims(scenario, month="2025-01")
    assert res == {
        "month": "2025-01",
        "rows": 3,
        "replaced": False,
        "sha256": hashlib.sha256(scenario.read_bytes()).hexdigest(),
        "dropped_sampled_cases": 0,
        "force": None,  # CR... references name no preset: not attributed
    }
    v = st.victims()
    assert list(v.columns) == list(ANALYSIS_COLUMNS)
    assert not set(v.columns) & {"crime_ref", "victim_id", "name", "phone", "email", "address"}
    pd.testing.assert_frame_equal(_analysis(v), _expected(), check_dtype=False)
    p = st.victims(personal=True)
    assert p.loc[0, "name"] == "Ann Quill" and p.loc[0, "address"] == "1 Quill Lane, Testtown"
    assert pd.isna(p.loc[1, "name"]) and pd.isna(p.loc[1, "phone"])  # blank = missing
    assert p.loc[2, "address"].startswith("Flat 2") and "Quill Lane" in p.loc[2, "address"]


def test_parquet_typed_and_text_load_the_same_as_csv(st, scenario, tmp_path):
    st.ingest_victims(scenario, month="2025-01")
    ref = st.victims(personal=True)
    typed = pa.table(
        {
            "crime_ref": ["CR1", "CR2", "CR3"],
            "victim_id": ["V1", "V2", "V3"],
            "offence_group": ["BURGLARY", "Domestic_Abuse", "rtc"],
            "reported_date": pa.array(
                [dt.date(2025, 1, 2), dt.date(2025, 1, 31), dt.date(2025, 1, 15)]
            ),
            "age": pa.array([34.0, None, 45.0]),  # pandas writes nullable ints as float
            "gender": ["female", "male", "unknown"],
            "ethnicity": ["white", "asian", "unknown"],
            "district": ["North", "South", "North"],
            "name": ["Ann Quill", None, "Bob Quill"],
            "phone": ["07700 900001", None, None],
            "email": ["ann@example.org", None, None],
            "address": ["1 Quill Lane, Testtown", None, "Flat 2\r\nQuill Lane"],
            "opted_out": [True, False, False],
            "vulnerable": pa.array([0, 0, 1], pa.int8()),
            "no_further_action_requested": [False, None, True],
            "uncooperative": [True, False, False],
            "sensitive": [True, False, False],
            "police_victim": [False, False, True],
        }
    )
    pq.write_table(typed, tmp_path / "typed.parquet")
    res = st.ingest_victims(tmp_path / "typed.parquet", month="2025-01", replace=True)
    assert res["replaced"] is True and res["rows"] == 3
    pd.testing.assert_frame_equal(st.victims(personal=True), ref)
    text = pd.read_csv(tmp_path / "scenario.csv", dtype=str, keep_default_na=False)
    text.columns = [c.strip().lower() for c in text.columns]
    text["victim_id"] = text["victim_id"].str.strip()
    pq.write_table(pa.Table.from_pandas(text, preserve_index=False), tmp_path / "text.parquet")
    st.ingest_victims(tmp_path / "text.parquet", month="2025-01", replace=True)
    pd.testing.assert_frame_equal(st.victims(personal=True), ref)


def test_old_mac_line_ends_and_trailing_commas_load(st, tmp_path):
    df = ex.victims(6)
    text = df.to_csv(index=False)
    cr = tmp_path / "cr.csv"
    cr.write_bytes(text.replace("\n", "\r").encode())
    assert st.ingest_victims(cr, month="2025-01")["rows"] == 6
    ref = st.victims(personal=True)
    trailing = tmp_path / "trailing.csv"  # every line ends with a comma: an unnamed extra column
    trailing.write_text(text.replace("\n", ",\n"))
    st.ingest_victims(trailing, month="2025-01", replace=True)
    pd.testing.assert_frame_equal(st.victims(personal=True), ref)


def test_blank_lines_between_rows_are_ignored(st, tmp_path):
    df = ex.victims(5)
    text = df.to_csv(index=False)
    lines = text.splitlines()
    p = tmp_path / "blank_lines.csv"
    p.write_text("\n".join(lines[:3] + ["", ""] + lines[3:]) + "\n\n")
    assert st.ingest_victims(p, month="2025-01")["rows"] == 5


# --------------------------------------------------------------------------- months twice


def test_second_load_is_refused_and_replace_swaps_the_month(st, tmp_path):
    a = ex.write_csv(ex.victims(30, seed=1), tmp_path / "a.csv")
    b = ex.write_csv(ex.victims(12, seed=2, start=500), tmp_path / "b.csv")
    st.ingest_victims(a, month="2025-01")
    before = st.table_digests()
    with pytest.raises(InputRefused, match="already loaded.*replace"):
        st.ingest_victims(b, month="2025-01")
    after = st.table_digests()
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    res = st.ingest_victims(b, month="2025-01", replace=True)
    assert res["replaced"] is True and res["rows"] == 12
    v = st.victims(personal=True)
    assert len(v) == 12 and set(v["victim_id"]) == {f"V{k:06d}" for k in range(500, 512)}
    n_personal = st.con.execute("SELECT count(*) FROM personal").fetchall()[0][0]
    assert n_personal == 12  # no personal rows of the old file left behind
    months = st.status()["months"]
    assert [(m["month"], m["rows"], m["file"]) for m in months] == [("2025-01", 12, "b.csv")]
    assert months[0]["sha256"] == hashlib.sha256(b.read_bytes()).hexdigest()
    actions = list(st.audit()["action"])
    assert actions == ["ingest_victims", "ingest_victims", "replace_victims"]
    assert list(st.audit()["outcome"]) == ["ok", "refused", "ok"]


def test_replace_drops_sampled_cases_missing_from_the_new_extract(st, tmp_path):
    jan = ex.victims(20)
    st.ingest_victims(ex.write_csv(jan, tmp_path / "a.csv"), month="2025-01")
    smp = ex.sample(jan, every=2)  # victims 0, 2, ..., 18
    st.ingest_sample(smp, survey="burglary", month="2025-01")
    st.ingest_responses(ex.write_csv(ex.responses(smp), tmp_path / "r.csv"), survey="burglary")
    smaller = ex.write_csv(jan.iloc[:15], tmp_path / "b.csv")  # drops victims 15-19
    with pytest.warns(UserWarning, match="2 sampled case"):
        res = st.ingest_victims(smaller, month="2025-01", replace=True)
    assert res["dropped_sampled_cases"] == 2  # victims 16 and 18
    assert len(st.sample("burglary", "2025-01")) == 8
    assert len(st.responses()) == 8
    assert "2 sampled case(s)" in st.audit()["detail"].iloc[-1]


def test_failed_validation_of_a_replacement_keeps_the_old_month(st, tmp_path):
    a = ex.write_csv(ex.victims(10), tmp_path / "a.csv")
    st.ingest_victims(a, month="2025-01")
    before = st.victims(personal=True)
    bad = ex.victims(10, seed=3)
    bad.loc[4, "age"] = "999"
    with pytest.raises(ValidationError) as info:
        st.ingest_victims(ex.write_csv(bad, tmp_path / "bad.csv"), month="2025-01", replace=True)
    assert info.value.column == "age" and info.value.rows == [5]
    pd.testing.assert_frame_equal(st.victims(personal=True), before)


# --------------------------------------------------------------------------- samples, responses


def test_samples_and_responses_join_without_personal_data(st, tmp_path):
    jan = ex.victims(40)
    st.ingest_victims(ex.write_csv(jan, tmp_path / "v.csv"), month="2025-01")
    smp = ex.sample(jan, every=4, prob=0.25)  # 10 cases
    r = st.ingest_sample(ex.write_csv(smp, tmp_path / "s.csv"), survey="Burglary", month="2025-01")
    assert r == {
        "survey": "burglary",
        "month": "2025-01",
        "rows": 10,
        "replaced": False,
        "dropped_responses": 0,
        "force": None,  # CR-... references name no preset
    }
    resp = ex.responses(smp)
    resp.loc[1, "disposition"] = "2.1"  # spreadsheets drop the trailing zero of 2.10
    resp.loc[3, "disposition"] = "3.9"
    resp.loc[0, "mode"] = "TELEPHONE"
    assert st.ingest_responses(ex.write_csv(resp, tmp_path / "r.csv"), survey="burglary") == {
        "survey": "burglary",
        "rows": 10,
        "replaced": 0,
        "months": ["2025-01"],
    }
    out = st.responses(survey="burglary", months="2025-01")
    assert len(out) == 10
    assert set(out.columns) >= {
        "inclusion_prob",
        "stratum",
        "month",
        "offence_group",
        "age",
        "gender",
        "ethnicity",
        "district",
        "reported_date",
        "whole_experience",
    }
    assert not set(out.columns) & {
        "name",
        "phone",
        "email",
        "address",
        "crime_ref",
        "victim_id",
        "comment",
    }
    assert (out["inclusion_prob"] == 0.25).all()
    assert list(out["disposition"][:4]) == ["1.1", "2.10", "1.1", "3.90"]
    assert out.loc[0, "mode"] == "telephone"
    # answers as written: complete k has stage j answer (k + j) % 8 + 1
    assert list(out["ease_of_contact"][[0, 2, 4]]) == [1, 3, 5]
    assert pd.isna(out.loc[1, "treatment"])
    # profile joined from the victims table
    v = st.victims().set_index("case_id")
    assert list(out["age"]) == list(v.loc[out["case_id"], "age"])
    with_comments = st.responses(comments=True)
    assert with_comments["comment"].notna().sum() == 3  # completes k = 0, 4, 8
    status = st.status()
    assert status["samples"] == [
        {"survey": "burglary", "month": "2025-01", "rows": 10, "force": None}
    ]
    assert status["responses"] == [{"survey": "burglary", "rows": 10, "interviews": 5}]
    hashes = st.input_hashes("2025-01")
    assert sorted(hashes) == [
        "responses burglary (r.csv)",
        "sample burglary 2025-01 (s.csv)",
        "victims 2025-01 (v.csv)",
    ]
    assert (
        hashes["sample burglary 2025-01 (s.csv)"]
        == hashlib.sha256((tmp_path / "s.csv").read_bytes()).hexdigest()
    )


def test_responses_twice_refused_unless_replace(st, tmp_path):
    jan = ex.victims(20)
    st.ingest_victims(ex.write_csv(jan, tmp_path / "v.csv"), month="2025-01")
    smp = ex.sample(jan)
    st.ingest_sample(smp, survey="violent", month="2025-01")
    resp = ex.responses(smp)
    path = ex.write_csv(resp, tmp_path / "r.csv")
    st.ingest_responses(path, survey="violent")
    with pytest.raises(ValidationError, match="already loaded") as info:
        st.ingest_responses(path, survey="violent")
    assert info.value.rows == list(range(1, 11))
    resp2 = resp.copy()
    resp2.loc[0, "whole_experience"] = "7"
    res = st.ingest_responses(ex.write_csv(resp2, tmp_path / "r2.csv"), "violent", replace=True)
    assert res["replaced"] == 10
    out = st.responses("violent")
    assert len(out) == 10 and out.loc[0, "whole_experience"] == 7
    assert st.responses(comments=True)["comment"].notna().sum() == 3  # not duplicated


def test_sample_replace_removes_responses_of_dropped_cases(st, tmp_path):
    jan = ex.victims(20)
    st.ingest_victims(ex.write_csv(jan, tmp_path / "v.csv"), month="2025-01")
    smp = ex.sample(jan)
    st.ingest_sample(smp, survey="hate", month="2025-01")
    st.ingest_responses(ex.responses(smp), survey="hate")
    with pytest.raises(ValidationError, match="already recorded"):
        st.ingest_sample(smp, survey="hate", month="2025-01")
    with pytest.warns(UserWarning, match="4 response"):
        res = st.ingest_sample(smp.iloc[:6], survey="hate", month="2025-01", replace=True)
    assert res["dropped_responses"] == 4 and res["replaced"] is True
    assert len(st.responses("hate")) == 6


# --------------------------------------------------------------------------- privacy, audit


def test_audit_log_and_messages_hold_no_personal_data(st, tmp_path):
    jan = ex.victims(30)
    st.ingest_victims(ex.write_csv(jan, tmp_path / "v.csv"), month="2025-01")
    bad = jan.copy()
    bad.loc[3, "offence_group"] = bad.loc[3, "name"]  # a name where a code belongs
    bad.loc[4, "gender"] = bad.loc[4, "phone"]
    bad.loc[5, "ethnicity"] = bad.loc[5, "email"]
    bad.loc[6, "district"] = ""
    msgs = []
    for k, month in enumerate(["2025-01", "2025-02"]):
        try:
            st.ingest_victims(ex.write_csv(bad, tmp_path / f"b{k}.csv"), month=month, replace=True)
        except ValidationError as exc:
            msgs.append(str(exc))
    assert len(msgs) == 2
    text = "\n".join(msgs) + st.audit().to_csv()
    assert "offence_group" in msgs[0] and "row 4" in msgs[0]
    leaked = [p for p in ex.personal_values(jan) if p in text]
    assert not leaked, leaked[:3]
    assert "@" not in text and "07700" not in text


def test_optout_register_takes_keyed_hashes_only(st):
    hashes = st.optout_hash(["V1", "V2", "V2"])
    assert st.add_optout_hashes(hashes, source="optouts.csv") == 2
    assert st.add_optout_hashes([hashes[0]]) == 0
    assert st.optout_count() == 2 == st.status()["optouts"]
    with pytest.raises(ValidationError, match="keyed hashes") as info:
        st.add_optout_hashes(["07700 900123", hashes[0]])
    assert info.value.rows == [1] and "07700" not in str(info.value)
    assert "07700" not in st.audit().to_csv()


# --------------------------------------------------------------------------- opening


def test_bad_arguments_and_files_give_clear_errors(tmp_path, scenario):
    with Store(tmp_path / "s.duckdb") as st:
        with pytest.raises(UsageError, match="YYYY-MM"):
            st.ingest_victims(scenario, month="2025-1")
        with pytest.raises(InputRefused, match="not found"):
            st.ingest_victims(tmp_path / "nope.csv", month="2025-01")
        with pytest.raises(UsageError, match="survey name"):
            st.sample("Burglary survey", "2025-01")
    not_db = tmp_path / "x.duckdb"
    not_db.write_text("crime_ref,victim_id\n")
    with pytest.raises(InputRefused, match="cannot be opened"):
        Store(not_db)
    with pytest.raises(InputRefused, match="no store"):
        Store(tmp_path / "missing.duckdb", read_only=True)


def test_a_second_writer_is_refused_clearly(tmp_path):
    db = tmp_path / "busy.duckdb"
    Store(db).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from methods.data.store import Store; s = Store(sys.argv[1]); "
            "print('ready', flush=True); time.sleep(30)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "ready"
        with pytest.raises(InputRefused, match="in use by another process"):
            Store(db)
    finally:
        holder.kill()
        holder.wait()


def test_reading_helpers_filter_by_month(st, tmp_path):
    for k, month in enumerate(["2025-01", "2025-02", "2025-03"]):
        df = ex.victims(5 + k, month=month, start=100 * k)
        st.ingest_victims(ex.write_csv(df, tmp_path / f"{month}.csv"), month=month)
    assert st.loaded_months() == ["2025-01", "2025-02", "2025-03"]
    assert len(st.victims()) == 18
    assert len(st.victims(months=["2025-01", "2025-03"])) == 12
    assert list(st.victims("2025-02")["month"].unique()) == ["2025-02"]
    assert len(st.audit(limit=2)) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert st.responses().empty
