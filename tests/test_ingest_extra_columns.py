"""Columns the data contract does not read are named, in a warning and in the load's audit record.

Reference: docs/data_contract.md section 1 (the victim extract's columns); the extra columns are
the ones this test adds to a contract-conforming extract, so the expected names are known.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import warnings
from pathlib import Path

import pytest

from conftest import run_vsw
from methods.core.errors import IgnoredColumnsWarning
from methods.data.store import Store

_spec = importlib.util.spec_from_file_location(
    "ingest_extracts", Path(__file__).parent / "fixtures" / "ingest" / "extracts.py"
)
ex = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ex)

TODAY = dt.date(2026, 1, 1)
MONTH = "2025-01"


def _with_extra(tmp_path: Path) -> Path:
    df = ex.victims(8)
    df["force_notes"] = "x"
    df["officer badge"] = "1"
    return ex.write_csv(df, tmp_path / "extra.csv")


def test_extra_columns_warned_and_audited(tmp_path):
    path = _with_extra(tmp_path)
    with Store(tmp_path / "s.duckdb", today=TODAY) as st:
        with pytest.warns(IgnoredColumnsWarning) as rec:
            assert st.ingest_victims(path, month=MONTH)["rows"] == 8
        msg = str(rec[0].message)
        assert "2 extra column(s) ignored: 'force_notes', 'officer badge'" in msg
        assert "docs/data_contract.md" in msg
        assert isinstance(rec[0].message, UserWarning)
        audit = st.audit(action="ingest_victims", outcome="ok")
        assert (
            audit["detail"]
            .iloc[-1]
            .startswith("2 extra column(s) ignored: 'force_notes', 'officer badge'")
        )


def test_no_warning_without_extra_columns(tmp_path):
    path = ex.write_csv(ex.victims(8), tmp_path / "plain.csv")
    with Store(tmp_path / "s.duckdb", today=TODAY) as st:
        with warnings.catch_warnings():
            warnings.simplefilter("error", IgnoredColumnsWarning)
            st.ingest_victims(path, month=MONTH)
        assert st.audit(action="ingest_victims")["detail"].iloc[-1] == "0 extra column(s) ignored"


def test_cli_prints_the_warning(tmp_path):
    path = _with_extra(tmp_path)
    res = run_vsw("ingest", "victims", str(path), "--month", MONTH, db=tmp_path / "s.duckdb")
    assert res.returncode == 0, res.stderr
    assert "vsw: warning: victim extract for 2025-01: 2 extra column(s) ignored" in res.stderr
