"""Whose data a store holds, and the values that must be a force's codes (issue 17, items 1, 4).

References: the preset files themselves (``configs/forces/*.toml`` read here with ``tomllib``,
not through the preset loader), the limits of docs/data_contract.md, and the issue's report of
a Durham demo store rendered as "Force: Kent Police" by papermill with ``-p force kent``.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tomllib
from importlib import resources

import duckdb
import pytest
from fixtures.ingest import extracts as ex

from conftest import TEST_MONTHS, run_vsw
from methods.config.presets import load_force_file
from methods.core.errors import InputRefused
from methods.data.store import Store
from methods.data.validation import IngestError

TODAY = dt.date(2026, 1, 15)
MONTH = "2025-01"


def _toml(force: str) -> dict:
    path = resources.files("methods").joinpath("configs", "forces", f"{force}.toml")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _durham(n: int = 12, month: str = MONTH, start: int = 0):
    df = ex.victims(n, month, start=start)
    df["crime_ref"] = [f"DU/25/{k:06d}" for k in range(start, start + n)]
    df["district"] = list(_toml("durham")["districts"])[0]
    return df


def _data(store) -> dict:
    """Digests of every table but the audit log (a refusal adds one audit line, by design)."""
    return {t: d for t, d in store.table_digests().items() if t != "audit"}


@pytest.fixture
def st(tmp_path):
    with Store(tmp_path / "s.duckdb", today=TODAY) as s:
        yield s


# --------------------------------------------------------------------------- districts


def test_every_preset_has_a_district_list_and_aliases_name_real_districts():
    for force in ("cumbria", "durham", "kent", "met", "warwickshire"):
        raw = _toml(force)
        assert raw["districts"], force
        for alias, target in raw.get("district_aliases", {}).items():
            assert target in raw["districts"], (force, alias)


def test_unknown_district_is_refused_naming_row_column_and_allowed_values(st):
    df = _durham()
    df.loc[[2, 7], "district"] = ["Gotham", '=HYPERLINK("http://x/?"&A1,"click")']
    before = _data(st)
    with pytest.raises(IngestError) as ei:
        st.ingest_victims(df, month=MONTH, force="durham")
    err = ei.value
    assert (err.column, err.rows) == ("district", [3, 8])
    msg = str(err)
    for d in _toml("durham")["districts"]:  # 8 districts: all listed
        assert d in msg
    assert "Chester le Street = Chester-le-Street" in msg  # the configured aliases
    assert "HYPERLINK" not in msg  # only code-like values are ever quoted
    assert _data(st) == before  # nothing written


def test_allowed_values_are_cut_to_the_first_ten(st):
    df = ex.victims(5)
    df["crime_ref"] = [f"KE/25/{k}" for k in range(5)]
    df["district"] = "Nowhere"
    with pytest.raises(IngestError) as ei:
        st.ingest_victims(df, month=MONTH, force="kent")
    names = list(_toml("kent")["districts"])
    assert len(names) == 13
    msg = str(ei.value)
    assert all(n in msg for n in names[:10]) and "first 10 of 13" in msg
    assert names[12] not in msg.split("also accepted")[0]


def test_aliases_and_case_map_to_the_canonical_district(st):
    df = ex.victims(4)
    df["crime_ref"] = [f"KE/25/{k}" for k in range(4)]
    df["district"] = ["SHEPWAY", "folkestone & hythe", " medway ", "Tonbridge & Malling"]
    assert st.ingest_victims(df, month=MONTH, force="KENT")["force"] == "kent"
    got = list(st.victims(MONTH)["district"])
    assert got == [
        "Folkestone and Hythe",
        "Folkestone and Hythe",
        "Medway",
        "Tonbridge and Malling",
    ]


def test_crime_reference_of_another_force_is_refused(st):
    df = _durham()
    with pytest.raises(IngestError) as ei:
        st.ingest_victims(df, month=MONTH, force="kent")
    crime = [p for p in ei.value.problems if p.column == "crime_ref"]
    assert crime and crime[0].rows == list(range(1, 13)) and "'KE'" in crime[0].rule
    assert "DU/25/" not in str(ei.value)  # identifiers are never quoted
    assert st.loaded_months() == []


# --------------------------------------------------------------------------- lengths


@pytest.mark.parametrize(
    ("column", "limit"),
    [("name", 200), ("address", 500), ("district", 100), ("email", 254), ("phone", 40)],
)
def test_free_text_longer_than_its_limit_is_refused(st, column, limit):
    df = ex.victims(6)
    df.loc[1, column] = "x" * limit  # at the limit: fine
    df.loc[4, column] = "y" * (limit + 1)
    before = _data(st)
    with pytest.raises(IngestError) as ei:
        st.ingest_victims(df, month=MONTH)
    p = [q for q in ei.value.problems if "maximum" in q.rule]
    assert len(p) == 1 and (p[0].column, p[0].rows) == (column, [5])
    assert f"maximum of {limit:,} characters" in p[0].rule
    assert "yyyy" not in str(ei.value)
    assert _data(st) == before


def test_comment_limit_and_a_preset_that_changes_limits(tmp_path):
    text = (
        resources.files("methods")
        .joinpath("configs", "forces", "durham.toml")
        .read_text(encoding="utf-8")
    )
    custom = tmp_path / "durham_short.toml"
    custom.write_text(
        text.replace('name = "durham"', 'name = "durham_short"')
        + "\n[limits]\nname = 10\ncomment = 20\n",
        encoding="utf-8",
    )
    preset = load_force_file(custom)
    assert preset.limit_map["name"] == 10 and preset.limit_map["address"] == 500
    with Store(tmp_path / "s.duckdb", today=TODAY) as s:
        df = _durham()
        df["name"] = "Zelda Quill-1"  # 13 > 10
        with pytest.raises(IngestError) as ei:
            s.ingest_victims(df, month=MONTH, force=preset)
        assert ei.value.column == "name" and "maximum of 10 characters" in ei.value.rule
        df["name"] = "Zelda"
        s.ingest_victims(df, month=MONTH, force=preset)
        smp = ex.sample(df)
        s.ingest_sample(smp, "burglary", MONTH)
        resp = ex.responses(smp)
        resp.loc[0, "comment"] = "c" * 4001
        with pytest.raises(IngestError) as ei:  # built-in default: 4,000 characters
            s.ingest_responses(resp, "burglary")
        assert (ei.value.column, ei.value.rows) == ("comment", [1])
        assert "maximum of 4,000 characters" in ei.value.rule


# --------------------------------------------------------------------------- whose data


def test_store_records_force_and_holds_several_forces_side_by_side(st):
    st.ingest_victims(_durham(), month="2025-01")  # inferred from the DU prefix
    kent = ex.victims(5, "2025-02", start=100)
    kent["crime_ref"] = [f"KE/25/{k}" for k in range(5)]
    kent["district"] = "Dover"
    st.ingest_victims(kent, month="2025-02", force="kent")
    assert st.forces() == {"durham": ["2025-01"], "kent": ["2025-02"]}
    assert [m["force"] for m in st.status()["months"]] == ["durham", "kent"]
    assert st.require_force("Durham", "2025-01") == "durham"
    with pytest.raises(InputRefused, match=r"2025-02 holds kent's victims, not durham's") as ei:
        st.require_force("durham", "2025-02")
    assert "durham (2025-01); kent (2025-02)" in str(ei.value)
    with pytest.raises(InputRefused, match=r"no victims of durham for 2025-03"):
        st.require_force("durham", "2025-03")
    # a month holds one force: replacing Kent's month with Durham's extract is refused
    before = _data(st)
    with pytest.raises(IngestError, match="holds the extract of kent"):
        st.ingest_victims(_durham(month="2025-02", start=50), month="2025-02", replace=True)
    assert _data(st) == before


def test_unattributed_month_is_refused_for_reports(st):
    st.ingest_victims(ex.victims(6), month=MONTH)  # CR-... references: no preset
    assert st.forces() == {"": [MONTH]}
    with pytest.raises(InputRefused, match="not recorded as durham's data"):
        st.require_force("durham", MONTH)


def test_version_1_store_is_upgraded_or_refused_clearly(tmp_path):
    db = tmp_path / "old.duckdb"
    with Store(db, today=TODAY) as s:
        s.ingest_victims(_durham(), month=MONTH)
    con = duckdb.connect(str(db))  # make it what a version-1 workbench wrote
    con.execute("ALTER TABLE months DROP COLUMN force")
    con.execute("UPDATE meta SET value = '1'::BLOB WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(InputRefused, match="schema version 1.*rebuild the store"):
        Store(db, read_only=True)
    with Store(db, today=TODAY) as s:  # a writable open upgrades in place
        assert s.forces() == {"": [MONTH]}
        assert s.audit(action="upgrade_store")["outcome"].tolist() == ["ok"]
        s.ingest_victims(_durham(), month=MONTH, replace=True, force="durham")
        assert s.require_force("durham", MONTH) == "durham"
    with Store(db, read_only=True) as s:
        assert s.forces() == {"durham": [MONTH]}


def test_demo_store_records_durham_and_sampling_kent_from_it_is_refused(store_copy):
    from methods.workflows.month import draw_month

    with Store(store_copy) as s:
        assert s.forces() == {"durham": TEST_MONTHS}
        before = _data(s)
        with pytest.raises(InputRefused, match=r"holds durham's victims, not kent's"):
            draw_month(s, TEST_MONTHS[-1], "kent", "hate", replace=True)
        assert _data(s) == before


def test_papermill_report_for_kent_on_durham_store_is_refused(demo_store, tmp_path):
    """The issue's case: papermill -p force kent on Durham's demo store."""
    import papermill as pm
    from papermill.exceptions import PapermillExecutionError

    from methods.report.run import TEMPLATE_DIR

    db = tmp_path / "workbench.duckdb"
    shutil.copy(demo_store, db)
    with pytest.raises(PapermillExecutionError) as ei:
        pm.execute_notebook(
            str(TEMPLATE_DIR / "monthly_report.ipynb"),
            str(tmp_path / "out.ipynb"),
            parameters={"force": "kent", "month": "2025-11", "db": str(db)},
            cwd=str(tmp_path),
            progress_bar=False,
            log_output=False,
        )
    assert ei.value.ename == "InputRefused"
    assert re.search(r"holds durham's victims, not kent's", ei.value.evalue)
    assert "durham (2025-10 to 2025-12, 3 months)" in ei.value.evalue
    out = (tmp_path / "out.ipynb").read_text(encoding="utf-8")
    assert not list(tmp_path.rglob("*.csv"))  # no table of the report was written
    assert "InputRefused" in out


def test_vsw_report_for_a_force_the_store_does_not_hold_is_refused(demo_store, tmp_path):
    db = tmp_path / "workbench.duckdb"
    shutil.copy(demo_store, db)
    res = run_vsw(
        "report", "--force", "kent", "--month", "2025-11", "--out", str(tmp_path / "r"), db=db
    )
    assert res.returncode != 0
    text = res.stdout + res.stderr
    assert "not kent's" in text and "2025-1" in text
    assert not list((tmp_path / "r").rglob("report.html"))


def test_a_users_copy_of_a_preset_may_use_its_months_but_not_another_prefix(tmp_path):
    """A preset of the user's own sharing Durham's crime reference prefix reads Durham's
    months (the prefix is all the store knows); with another prefix it is refused."""
    text = (
        resources.files("methods")
        .joinpath("configs", "forces", "durham.toml")
        .read_text(encoding="utf-8")
    )
    same = tmp_path / "mine.toml"
    same.write_text(text.replace('name = "durham"', 'name = "mine"'), encoding="utf-8")
    other = tmp_path / "other.toml"
    other.write_text(
        text.replace('name = "durham"', 'name = "other"').replace('"DU"', '"OT"'),
        encoding="utf-8",
    )
    with Store(tmp_path / "s.duckdb", today=TODAY) as s:
        s.ingest_victims(_durham(), month=MONTH)  # inferred: durham
        assert s.require_force(load_force_file(same), MONTH) == "durham"
        with pytest.raises(InputRefused, match="holds durham's victims, not other's"):
            s.require_force(load_force_file(other), MONTH)
        with pytest.raises(InputRefused, match="not mine's"):  # a bare name proves nothing
            s.require_force("mine", MONTH)
