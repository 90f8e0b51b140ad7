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
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from fixtures.ingest import extracts as ex

from conftest import TEST_MONTHS, run_vsw
from methods.config.presets import load_force_file
from methods.core.errors import InputRefused, UsageError
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


def _kent(n: int = 5, month: str = "2025-02", start: int = 100):
    df = ex.victims(n, month, start=start)
    df["crime_ref"] = [f"KE/25/{k:06d}" for k in range(start, start + n)]
    df["district"] = "Dover"
    return df


def test_two_forces_hold_the_same_month_side_by_side(st):
    """The comparison issue's need: Durham's and Kent's 2025-02 in one store, each read, sampled,
    replaced and hashed on its own; a read that does not name the force is refused."""
    st.ingest_victims(_kent(), month="2025-02", force="kent")
    kent_before = st.victims("2025-02", force="kent", personal=True)
    res = st.ingest_victims(_durham(month="2025-02", start=50), month="2025-02")
    assert res["force"] == "durham" and not res["replaced"]
    assert st.forces() == {"durham": ["2025-02"], "kent": ["2025-02"]}
    assert st.loaded_months() == ["2025-02"]
    assert st.loaded_months(force="Kent") == ["2025-02"]
    assert st.require_force("kent", "2025-02") == "kent"
    assert st.require_force("durham", "2025-02") == "durham"
    with pytest.raises(InputRefused, match=r"holds durham's and kent's victims, not met's"):
        st.require_force("met", "2025-02")
    with pytest.raises(UsageError, match=r"several forces' data for 2025-02 \(durham, kent\)"):
        st.victims("2025-02")
    assert (st.victims("2025-02", force="kent")["district"] == "Dover").all()
    assert len(st.victims("2025-02", force="kent")) == 5
    assert len(st.victims("2025-02", force="durham")) == 12
    # a second load of Durham's month is refused; replacing it leaves Kent's rows alone
    with pytest.raises(IngestError, match=r"month 2025-02 of durham is already loaded"):
        st.ingest_victims(_durham(month="2025-02", start=50), month="2025-02")
    st.ingest_victims(_durham(8, month="2025-02", start=70), month="2025-02", replace=True)
    assert len(st.victims("2025-02", force="durham")) == 8
    pd.testing.assert_frame_equal(st.victims("2025-02", force="kent", personal=True), kent_before)
    # each force keeps its own sample of a survey in the month
    du = st.victims("2025-02", force="durham")["case_id"][:3]
    ke = st.victims("2025-02", force="kent")["case_id"][:2]
    assert (
        st.record_sample(
            pd.DataFrame({"case_id": du, "inclusion_prob": 0.5}), "burglary", "2025-02"
        )["force"]
        == "durham"
    )
    st.record_sample(pd.DataFrame({"case_id": ke, "inclusion_prob": 0.25}), "burglary", "2025-02")
    with pytest.raises(UsageError, match="several forces"):
        st.sample("burglary", "2025-02")
    assert st.sample("burglary", "2025-02", force="kent")["inclusion_prob"].tolist() == [0.25] * 2
    assert len(st.sample("burglary", "2025-02", force="durham")) == 3
    mixed = pd.DataFrame({"case_id": [*du, *ke], "inclusion_prob": 0.5})
    before = _data(st)
    with pytest.raises(InputRefused, match=r"holds victims of several forces \(durham, kent\)"):
        st.record_sample(mixed, "hate", "2025-02")
    with pytest.raises(InputRefused, match=r"of durham's victims, not kent's"):
        st.record_sample(
            pd.DataFrame({"case_id": du, "inclusion_prob": 0.5}), "hate", "2025-02", force="kent"
        )
    with pytest.raises(
        InputRefused, match=r"already recorded for survey burglary, 2025-02 of kent"
    ):
        st.record_sample(
            pd.DataFrame({"case_id": ke, "inclusion_prob": 0.5}), "burglary", "2025-02"
        )
    assert _data(st) == before
    hashes = st.input_hashes("2025-02", force="kent")
    assert [k.split(" (")[0] for k in hashes] == ["sample burglary 2025-02"]  # frames: no hash
    assert hashes != st.input_hashes("2025-02", force="durham")
    assert [m["force"] for m in st.status()["months"]] == ["durham", "kent"]


def test_a_case_of_one_forces_month_cannot_load_into_another(st):
    """One (crime_ref, victim_id) is one force's case: an unattributed extract of the same
    month (mixed references: no force inferred) holding two of Durham's cases is refused,
    naming the month and force they are loaded under."""
    st.ingest_victims(_durham(), month=MONTH)
    mixed = pd.concat([ex.victims(3, MONTH, start=500), _durham(2)], ignore_index=True)
    before = _data(st)
    with pytest.raises(IngestError, match=r"already loaded under month\(s\) 2025-01 \(durham\)"):
        st.ingest_victims(mixed, month=MONTH)
    assert _data(st) == before


def test_version_2_store_is_upgraded_with_samples_force(tmp_path):
    db = tmp_path / "v2.duckdb"
    with Store(db, today=TODAY) as s:
        s.ingest_victims(_durham(), month=MONTH)
        ids = s.victims(MONTH)["case_id"][:4]
        s.record_sample(pd.DataFrame({"case_id": ids, "inclusion_prob": 0.5}), "hate", MONTH)
    con = duckdb.connect(str(db))  # what a version-2 workbench wrote
    con.execute("ALTER TABLE samples DROP COLUMN force")
    con.execute("UPDATE meta SET value = '2'::BLOB WHERE key = 'schema_version'")
    con.close()
    with pytest.raises(InputRefused, match=r"schema version 2.*month and sample.*upgrade"):
        Store(db, read_only=True)
    with Store(db, today=TODAY) as s:
        assert s.audit(action="upgrade_store")["detail"].tolist() == [
            "schema 2 -> 3: months and samples record their force"
        ]
        assert s.status()["samples"] == [
            {"survey": "hate", "month": MONTH, "rows": 4, "force": "durham"}
        ]


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
    con.execute("ALTER TABLE samples DROP COLUMN force")
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


def test_a_force_reported_from_a_shared_store_is_byte_identical_to_its_own_store(
    store_copy, tmp_path
):
    """Kent's months loaded beside Durham's demo months: Kent's report from the shared store
    has the same tables, byte for byte, as from a store of Kent's alone, and Durham's months
    are untouched; the comparison reads both forces from the one store (``--one-store``)."""
    from methods.report.run import run_report
    from methods.workflows.demo import build_store

    month = TEST_MONTHS[-1]
    with Store(store_copy, read_only=True) as s:
        durham_before = s.victims(TEST_MONTHS, force="durham", personal=True)
    build_store(store_copy, force="kent", months=[month], seed=7)
    alone = tmp_path / "kent.duckdb"
    build_store(alone, force="kent", months=[month], seed=7)
    with Store(store_copy, read_only=True) as s:
        assert s.forces() == {"durham": TEST_MONTHS, "kent": [month]}
        assert s.loaded_months(force="durham") == TEST_MONTHS
    shared = run_report("kent", month, store_copy, out=tmp_path / "shared")
    own = run_report("kent", month, alone, out=tmp_path / "own")
    tables = sorted(p.name for p in (Path(own["report_dir"]) / "tables").glob("*.csv"))
    assert tables
    for name in tables:
        a = (Path(shared["report_dir"]) / "tables" / name).read_bytes()
        b = (Path(own["report_dir"]) / "tables" / name).read_bytes()
        assert a == b, name
    districts = (Path(shared["report_dir"]) / "tables" / "districts.csv").read_text()
    assert "Canterbury" in districts and "Darlington" not in districts
    res = run_vsw(
        "compare",
        "--one-store",
        "--forces",
        "durham,kent",
        "--month",
        month,
        "--out",
        str(tmp_path / "cmp"),
        "--quiet",
        db=store_copy,
    )
    assert res.returncode == 0, res.stderr
    table = (tmp_path / "cmp" / "compare" / month / "tables" / "force_comparison.csv").read_text()
    assert "\nkent," in table and "\ndurham," in table
    with Store(store_copy, read_only=True) as s:  # Durham's rows: unchanged
        after = s.victims(TEST_MONTHS, force="durham", personal=True)
    pd.testing.assert_frame_equal(after, durham_before)


def test_report_months_of_a_force_in_a_shared_store(tmp_path):
    """`vsw report --from` defaults --to to the force's own last month, not another force's."""
    from methods.report.run import loaded_months

    db = tmp_path / "s.duckdb"
    with Store(db, today=TODAY) as s:
        s.ingest_victims(_durham(), month="2025-01")
        s.ingest_victims(_kent(month="2025-01"), month="2025-01", force="kent")
        s.ingest_victims(_kent(month="2025-02", start=200), month="2025-02", force="kent")
    assert loaded_months(db) == ["2025-01", "2025-02"]
    assert loaded_months(db, force="Durham") == ["2025-01"]
    assert loaded_months(db, force="kent") == ["2025-01", "2025-02"]
    assert loaded_months(db, force="met") == []
