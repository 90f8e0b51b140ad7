"""Acceptance corpus: malformed extracts are refused, named precisely, and change nothing.

Each case builds one malformed input (generated here, not stored), ingests it into a copy of a
small store and checks that:

- a :class:`methods.core.errors.ValidationError` is raised whose ``column`` and ``rows`` (1-based
  data rows under the header) are the ones planted in the file, and whose message states the
  rule (hand-written expectations below);
- every data table of the store is byte-for-byte unchanged (SHA-256 of each table's sorted
  dump), and the audit log gained exactly one ``refused`` entry;
- neither the message nor the audit log contains any personal value of the input;
- through the ``vsw`` command the same input exits 3, prints no traceback and says
  "nothing was written".
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from methods.core.errors import ValidationError
from methods.data.store import Store

_spec = importlib.util.spec_from_file_location(
    "ingest_extracts", Path(__file__).parent / "fixtures" / "ingest" / "extracts.py"
)
ex = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ex)

M1, M2 = "2025-01", "2025-02"
TODAY = dt.date(2026, 1, 1)


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """A store with January loaded, a burglary sample of 20 and responses for 10 of them."""
    d = tmp_path_factory.mktemp("base")
    jan = ex.victims(40, M1, seed=1)
    smp = ex.sample(jan)
    resp = ex.responses(smp.iloc[:10], M1)
    db = d / "base.duckdb"
    with Store(db, today=TODAY) as st:
        st.ingest_victims(ex.write_csv(jan, d / "jan.csv"), M1)
        st.ingest_sample(ex.write_csv(smp, d / "smp.csv"), "burglary", M1)
        st.ingest_responses(ex.write_csv(resp, d / "resp.csv"), "burglary")
    return {"db": db, "jan": jan, "smp": smp}


def feb(n: int = 30) -> pd.DataFrame:
    return ex.victims(n, M2, seed=2, start=1000)


def csv_bytes(df: pd.DataFrame) -> bytes:
    return df.to_csv(index=False).encode("utf-8")


@dataclass
class Case:
    """One malformed input and what the refusal must say."""

    id: str
    make: Callable[[dict], object]  # returns bytes (a file), or a DataFrame / Table to pass
    column: str | None
    rows: list[int]
    words: tuple[str, ...]
    kind: str = "victims"
    month: str = M2
    suffix: str = ".csv"
    today: dt.date = TODAY


def _set(df: pd.DataFrame, row: int, col: str, value: str) -> pd.DataFrame:
    df = df.copy()
    df.loc[row - 1, col] = value  # row is the 1-based data row
    return df


def _future(_):
    df = feb().assign(reported_date="2025-02-05")
    return csv_bytes(_set(df, 7, "reported_date", "2025-02-20"))


def _truncated(_):
    text = csv_bytes(feb()).decode()
    lines = text.splitlines(keepends=True)
    cut = lines[-1][: lines[-1].index(",", 40)]  # the last row stops after a few fields
    return "".join(lines[:-1] + [cut + "\n"]).encode()


def _unquoted_comma(_):
    lines = csv_bytes(feb()).decode().splitlines(keepends=True)
    assert '"' in lines[5]
    lines[5] = lines[5].replace('"', "")  # the address's comma now splits it in two
    return "".join(lines).encode()


def _latin1(_):
    df = _set(feb(), 9, "name", "Zoë Quill-1008")
    return df.to_csv(index=False).encode("latin-1")


def _utf16(_):
    return feb().to_csv(index=False).encode("utf-16")


def _semicolon(_):
    return feb().to_csv(index=False, sep=";").encode()


def _garbage(_):
    return np.random.default_rng(7).integers(0, 256, 4000, dtype=np.uint8).tobytes()


def _garbage_no_nul(_):
    return np.random.default_rng(8).integers(128, 256, 4000, dtype=np.uint8).tobytes()


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def _parquet_int_date(_):
    df = feb()
    t = pa.Table.from_pandas(df, preserve_index=False)
    i = t.column_names.index("reported_date")
    return _parquet(t.set_column(i, "reported_date", pa.array(np.arange(len(df)), pa.int64())))


def _parquet_date_age(_):
    df = feb()
    t = pa.Table.from_pandas(df, preserve_index=False)
    i = t.column_names.index("age")
    return _parquet(t.set_column(i, "age", pa.array([dt.date(2025, 2, 1)] * len(df))))


def _parquet_float_age(_):
    df = feb()
    ages = df["age"].astype(float).to_numpy().copy()
    ages[3] = 12.5
    t = pa.Table.from_pandas(df.assign(age=ages), preserve_index=False)
    return _parquet(t)


def _unterminated_quote(_):
    text = csv_bytes(feb()).decode()
    return (text + 'CR-X,V9,"burglary,2025-02-03,40').encode()


def _duplicate_key(_):
    df = feb()
    df.loc[11, ["crime_ref", "victim_id"]] = df.loc[4, ["crime_ref", "victim_id"]].to_numpy()
    return csv_bytes(df)


def _already_in_january(b):
    df = feb()
    df.loc[2, ["crime_ref", "victim_id"]] = b["jan"].loc[0, ["crime_ref", "victim_id"]].to_numpy()
    return csv_bytes(df)


def _sample_df(b, month=M1):
    smp = b["smp"].copy()
    return smp


def _responses(b, **edit) -> pd.DataFrame:
    # the 10 sampled cases without responses yet
    return ex.responses(b["smp"].iloc[10:].reset_index(drop=True), M1)


def _resp_set(row, col, value, also=None):
    def make(b):
        df = _set(_responses(b), row, col, value)
        if also:
            for c, v in also.items():
                df.loc[row - 1, c] = v
        return csv_bytes(df)

    return make


CASES = [
    # ---------------------------------------------------------------- victim extracts
    Case(
        "missing-column",
        lambda b: csv_bytes(feb().drop(columns="ethnicity")),
        "ethnicity",
        [],
        ("missing", "ethnicity"),
    ),
    Case(
        "missing-flag-column",
        lambda b: csv_bytes(feb().drop(columns="opted_out")),
        "opted_out",
        [],
        ("missing",),
    ),
    Case(
        "duplicate-column",
        lambda b: csv_bytes(feb().assign(Gender=feb()["gender"])),
        "gender",
        [],
        ("more than once",),
    ),
    Case(
        "unknown-offence-code",
        lambda b: csv_bytes(_set(feb(), 5, "offence_group", "theft")),
        "offence_group",
        [5],
        ("unknown code", "'theft'"),
    ),
    Case(
        "unknown-ethnicity-code",
        lambda b: csv_bytes(_set(feb(), 2, "ethnicity", "w")),
        "ethnicity",
        [2],
        ("unknown code",),
    ),
    Case(
        "blank-gender",
        lambda b: csv_bytes(_set(feb(), 4, "gender", "")),
        "gender",
        [4],
        ("blank", "unknown"),
    ),
    Case(
        "bad-date-format",
        lambda b: csv_bytes(_set(feb(), 3, "reported_date", "03/02/2025")),
        "reported_date",
        [3],
        ("ISO date",),
    ),
    Case(
        "impossible-date",
        lambda b: csv_bytes(_set(feb(), 6, "reported_date", "2025-02-30")),
        "reported_date",
        [6],
        ("ISO date", "'2025-02-30'"),
    ),
    Case(
        "date-outside-month",
        lambda b: csv_bytes(_set(feb(), 8, "reported_date", "2025-03-01")),
        "reported_date",
        [8],
        ("outside the month", "2025-02"),
    ),
    Case("future-date", _future, "reported_date", [7], ("future",), today=dt.date(2025, 2, 15)),
    Case("duplicate-key", _duplicate_key, "crime_ref", [5, 12], ("duplicate key",)),
    Case(
        "key-loaded-in-another-month",
        _already_in_january,
        "crime_ref",
        [3],
        ("already loaded", "2025-01"),
    ),
    Case(
        "age-130",
        lambda b: csv_bytes(_set(feb(), 10, "age", "130")),
        "age",
        [10],
        ("whole number", "0 to 120", "'130'"),
    ),
    Case(
        "age-negative",
        lambda b: csv_bytes(_set(feb(), 1, "age", "-1")),
        "age",
        [1],
        ("whole number", "'-1'"),
    ),
    Case(
        "age-fraction",
        lambda b: csv_bytes(_set(feb(), 2, "age", "12.5")),
        "age",
        [2],
        ("whole number", "'12.5'"),
    ),
    Case(
        "age-text",
        lambda b: csv_bytes(_set(feb(), 30, "age", "abc")),
        "age",
        [30],
        ("whole number", "'abc'"),
    ),
    Case(
        "blank-district",
        lambda b: csv_bytes(_set(feb(), 11, "district", "  ")),
        "district",
        [11],
        ("blank",),
    ),
    Case(
        "blank-crime-ref",
        lambda b: csv_bytes(_set(feb(), 12, "crime_ref", "")),
        "crime_ref",
        [12],
        ("blank",),
    ),
    Case(
        "bad-boolean",
        lambda b: csv_bytes(_set(feb(), 13, "vulnerable", "maybe")),
        "vulnerable",
        [13],
        ("boolean", "'maybe'"),
    ),
    Case("latin-1-encoding", _latin1, "name", [9], ("UTF-8",)),
    Case("utf-16-encoding", _utf16, None, [], ("UTF-16",)),
    Case("empty-file", lambda b: b"", None, [], ("empty", "0 bytes")),
    Case("header-only", lambda b: csv_bytes(feb().iloc[:0]), None, [], ("no data rows",)),
    Case("blank-header", lambda b: b"\n\n" + csv_bytes(feb()), None, [], ("no header",)),
    Case("truncated-row", _truncated, None, [30], ("fewer fields",)),
    Case("too-many-fields", _unquoted_comma, None, [5], ("more fields",)),
    Case("unterminated-quote", _unterminated_quote, None, [], ("quote",)),
    Case("semicolon-delimiter", _semicolon, "crime_ref", [], ("semicolons",)),
    Case("binary-garbage", _garbage, None, [], ("NUL", "binary")),
    Case("binary-garbage-no-nul", _garbage_no_nul, None, [], ("UTF-8",)),
    Case("zip-or-xlsx", lambda b: b"PK\x03\x04" + bytes(200), None, [], ("Excel",)),
    Case(
        "parquet-int-date",
        _parquet_int_date,
        "reported_date",
        [],
        ("type int64",),
        suffix=".parquet",
    ),
    Case("parquet-date-age", _parquet_date_age, "age", [], ("type date32",), suffix=".parquet"),
    Case(
        "parquet-fractional-age",
        _parquet_float_age,
        "age",
        [4],
        ("whole number", "'12.5'"),
        suffix=".parquet",
    ),
    Case(
        "corrupt-parquet",
        lambda b: b"PAR1" + bytes(100) + b"PAR1",
        None,
        [],
        ("Parquet",),
        suffix=".parquet",
    ),
    Case(
        "dataframe-unknown-code",
        lambda b: _set(feb(), 2, "gender", "F"),
        "gender",
        [2],
        ("unknown code", "'F'"),
    ),
    # ---------------------------------------------------------------- samples
    Case(
        "sample-prob-zero",
        lambda b: csv_bytes(_set(_sample_df(b), 3, "inclusion_prob", "0")),
        "inclusion_prob",
        [3],
        ("0 < p <= 1",),
        kind="sample",
        month=M1,
    ),
    Case(
        "sample-prob-text",
        lambda b: csv_bytes(_set(_sample_df(b), 4, "inclusion_prob", "x")),
        "inclusion_prob",
        [4],
        ("0 < p <= 1",),
        kind="sample",
        month=M1,
    ),
    Case(
        "sample-key-not-a-victim",
        lambda b: csv_bytes(_set(_sample_df(b), 6, "victim_id", "V999999")),
        "crime_ref",
        [6],
        ("no victim",),
        kind="sample",
        month=M1,
    ),
    Case(
        "sample-month-not-loaded",
        lambda b: csv_bytes(_sample_df(b)),
        None,
        [],
        ("no victims are loaded",),
        kind="sample",
        month="2025-03",
    ),
    # ---------------------------------------------------------------- responses
    Case(
        "bad-disposition",
        _resp_set(3, "disposition", "5.1"),
        "disposition",
        [3],
        ("AAPOR", "'5.1'"),
        kind="responses",
    ),
    Case(
        "disposition-word",
        _resp_set(2, "disposition", "complete"),
        "disposition",
        [2],
        ("AAPOR",),
        kind="responses",
    ),
    Case(
        "interview-date-for-refusal",
        _resp_set(2, "interview_date", "2025-01-20"),
        "interview_date",
        [2],
        ("blank unless",),
        kind="responses",
    ),
    Case(
        "answer-9",
        _resp_set(5, "treatment", "9"),
        "treatment",
        [5],
        ("whole number from 1 to 8", "'9'"),
        kind="responses",
    ),
    Case("answer-0", _resp_set(1, "actions", "0"), "actions", [1], ("1 to 8",), kind="responses"),
    Case(
        "answers-for-a-refusal",
        _resp_set(4, "treatment", "2"),
        "treatment",
        [4],
        ("blank unless",),
        kind="responses",
    ),
    Case(
        "bad-mode",
        _resp_set(6, "mode", "carrier-pigeon"),
        "mode",
        [6],
        ("unknown code",),
        kind="responses",
    ),
    Case(
        "response-not-sampled",
        _resp_set(7, "crime_ref", "CR-NOT-SAMPLED"),
        "crime_ref",
        [7],
        ("not a sampled case",),
        kind="responses",
    ),
    Case(
        "interview-before-report",
        _resp_set(1, "interview_date", "2024-12-01"),
        "interview_date",
        [1],
        ("before the crime was reported",),
        kind="responses",
    ),
]


def _input(case: Case, b: dict, tmp_path: Path):
    made = case.make(b)
    if isinstance(made, bytes):
        path = tmp_path / f"{case.id}{case.suffix}"
        path.write_bytes(made)
        return path
    return made


def _call(st: Store, case: Case, src):
    if case.kind == "victims":
        return st.ingest_victims(src, month=case.month)
    if case.kind == "sample":
        return st.ingest_sample(src, survey="vehicle", month=case.month)
    return st.ingest_responses(src, survey="burglary")


def _personal(b: dict) -> set[str]:
    return ex.personal_values(b["jan"]) | ex.personal_values(feb()) | {"Zoë Quill-1008"}


def test_the_corpus_is_big_enough():
    assert len(CASES) >= 20
    assert len({c.id for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_malformed_input_is_refused_and_changes_nothing(case, base, tmp_path):
    db = tmp_path / "store.duckdb"
    shutil.copy(base["db"], db)
    src = _input(case, base, tmp_path)
    with Store(db, today=case.today) as st:
        before = st.table_digests()
        n_audit = len(st.audit())
        with pytest.raises(ValidationError) as info:
            _call(st, case, src)
        after = st.table_digests()
        audit = st.audit()
    err = info.value
    msg = str(err)
    # names the column, the rows and the rule
    assert err.column == case.column, msg
    assert err.rows == case.rows, msg
    for w in case.words:
        assert w in msg, f"{w!r} not in: {msg}"
    if case.column:
        assert f"column '{case.column}'" in msg
    if case.rows:
        assert "row" in msg and str(case.rows[0]) in msg
    # nothing written: every data table identical; the audit log gained one refusal
    assert {k: v for k, v in after.items() if k != "audit"} == {
        k: v for k, v in before.items() if k != "audit"
    }
    assert len(audit) == n_audit + 1
    last = audit.iloc[-1]
    assert last["outcome"] == "refused"
    # no personal data in the message or the audit log
    text = msg + "\n" + audit.to_csv()
    leaked = [p for p in _personal(base) if p in text]
    assert not leaked, f"personal data in message/audit: {leaked[:3]}"
    assert "@example.org" not in text and "07700" not in text


def test_row_numbers_follow_the_file_when_values_span_lines(base, tmp_path):
    """Quoted line breaks shift file lines: the message gives data row and true file line."""
    df = feb()
    df.loc[1, "address"] = "Flat 2\nQuill Lane"
    df.loc[5, "age"] = "200"
    path = tmp_path / "multiline.csv"
    path.write_text(df.to_csv(index=False), encoding="utf-8")
    db = tmp_path / "s.duckdb"
    shutil.copy(base["db"], db)
    with Store(db, today=TODAY) as st, pytest.raises(ValidationError) as info:
        st.ingest_victims(path, month=M2)
    assert info.value.rows == [6]
    assert "row 6 (line 8)" in str(info.value)  # header + one extra physical line above
    assert "counted from 1 under the header" in str(info.value)


def test_all_problems_are_listed_together(base, tmp_path):
    df = _set(_set(feb(), 2, "age", "abc"), 9, "gender", "x")
    path = ex.write_csv(df, tmp_path / "two.csv")
    db = tmp_path / "s.duckdb"
    shutil.copy(base["db"], db)
    with Store(db, today=TODAY) as st, pytest.raises(ValidationError) as info:
        st.ingest_victims(path, month=M2)
    cols = {p.column: p.rows for p in info.value.problems}
    assert cols == {"age": [2], "gender": [9]}


def test_more_than_20_bad_rows_lists_the_first_20_and_the_total(base, tmp_path):
    df = feb(60)
    df.loc[10:49, "ethnicity"] = "green"
    path = ex.write_csv(df, tmp_path / "many.csv")
    db = tmp_path / "s.duckdb"
    shutil.copy(base["db"], db)
    with Store(db, today=TODAY) as st, pytest.raises(ValidationError) as info:
        st.ingest_victims(path, month=M2)
    assert info.value.rows == list(range(11, 31))
    assert info.value.n_rows == 40
    assert "40 rows in all" in str(info.value)


# the CLI maps every refusal to exit 3 with a short message and no traceback
CLI_CASES = [
    c
    for c in CASES
    if c.id
    in {
        "missing-column",
        "age-130",
        "latin-1-encoding",
        "empty-file",
        "truncated-row",
        "semicolon-delimiter",
        "binary-garbage",
        "parquet-int-date",
        "sample-key-not-a-victim",
        "bad-disposition",
        "response-not-sampled",
    }
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c.id for c in CLI_CASES])
def test_cli_exits_3_without_traceback(case, base, tmp_path, capsys):
    from methods.cli import main

    db = tmp_path / "store.duckdb"
    shutil.copy(base["db"], db)
    src = _input(case, base, tmp_path)
    if case.kind == "victims":
        argv = ["ingest", "victims", str(src), "--month", case.month]
    elif case.kind == "sample":
        argv = ["ingest", "sample", str(src), "--survey", "vehicle", "--month", case.month]
    else:
        argv = ["ingest", "responses", str(src), "--survey", "burglary"]
    with Store(db) as st:
        before = {k: v for k, v in st.table_digests().items() if k != "audit"}
    rc = main(["--db", str(db), *argv])
    err = capsys.readouterr().err
    assert rc == 3, err
    assert "Traceback" not in err
    assert "nothing was written" in err
    if case.column:
        assert case.column in err
    with Store(db) as st:
        assert {k: v for k, v in st.table_digests().items() if k != "audit"} == before


def test_ragged_row_that_is_not_utf8_is_refused_without_noise(base, tmp_path, monkeypatch):
    """Found by bench/fuzz.py: pyarrow decodes a ragged row to text before its handler is
    called; a row that is not UTF-8 made it print "Exception ignored ... UnicodeDecodeError"
    (with the byte position) on the terminal before the refusal."""
    import sys

    text = feb().to_csv(index=False).encode("utf-8")
    lines = text.split(b"\n")
    lines[3] = lines[3] + b",\xe9\xe9"  # one field too many, and not UTF-8
    path = tmp_path / "ragged_latin1.csv"
    path.write_bytes(b"\n".join(lines))
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    db = tmp_path / "s.duckdb"
    shutil.copy(base["db"], db)
    with Store(db, today=TODAY) as st, pytest.raises(ValidationError) as info:
        st.ingest_victims(path, month=M2)
    assert seen == []
    assert sys.unraisablehook == seen.append  # restored
    assert "row 3" in str(info.value) or "line 4" in str(info.value), str(info.value)
