"""The opt-out register: keyed hashes, phone normalisation, the CLI, and the property that
nobody on the register or inside the re-survey window is ever selected.

References: the keyed hashes are checked against Python's :mod:`hmac` (RFC 2104, HMAC-SHA256);
the property test compares the eligible frame with an independent reference built from plain
Python sets and :func:`methods.synthetic.generate.simple_eligibility`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import warnings
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st_

from conftest import run_vsw
from methods.config.presets import load_force
from methods.core.errors import ValidationError
from methods.data.store import Store
from methods.frame.eligibility import apply, check_phones, normalise_phone, register_hashes
from methods.sampling.selection import select
from methods.synthetic.generate import simple_eligibility
from methods.workflows.synthetic import write_synthetic

ROOT = Path(__file__).resolve().parents[1]
MONTHS = ["2025-01", "2025-02"]


vsw = run_vsw  # the shared runner (tests/conftest.py)


def _ref_hash(secret: bytes, msg: str) -> str:
    return hmac.new(secret, msg.encode(), hashlib.sha256).hexdigest()[:32]


# --------------------------------------------------------------------------- normalisation

PHONE_CASES = [  # given, normalised (hand-written)
    ("07700 900123", "07700900123"),
    ("07700-900-123", "07700900123"),
    ("(07700) 900123", "07700900123"),
    ("+44 7700 900123", "07700900123"),
    ("+44 (0)7700 900123", "07700900123"),
    ("0044 7700 900 123", "07700900123"),
    ("447700900123", "07700900123"),
    ("+44.7700.900.123", "07700900123"),
    ("01632 960001", "01632960001"),
    ("+33 1 23 45 67 89", "+33123456789"),
    ("0033 1 23 45 67 89", "+33123456789"),
]


def test_uk_numbers_normalise_to_one_form():
    given = [g for g, _ in PHONE_CASES]
    assert normalise_phone(given).tolist() == [e for _, e in PHONE_CASES]
    out = normalise_phone(["", None, "  ", "call me", "123"])
    assert out.isna().tolist() == [True, True, True, True, False]
    assert check_phones(out).tolist() == [0, 1, 2, 3, 4]


def test_register_hashes_are_hmacs_of_the_normalised_values(tmp_path):
    with Store(tmp_path / "s.duckdb") as st:
        got = register_hashes(st, ["V1 "], ["+44 (0)7700 900123", "07700 900123"])
        want = {_ref_hash(st.secret, "victim:V1"), _ref_hash(st.secret, "phone:07700900123")}
        assert set(got) == want and len(got) == 2
        assert _ref_hash(st.secret, "victim:V1") == st.person_pseudonym("V1")
        with pytest.raises(ValidationError) as info:
            register_hashes(st, ["V1"], ["07700 900123", "not a number", "12"])
        assert info.value.rows == [2, 3] and "not a number" not in str(info.value)
        with pytest.raises(ValidationError, match="blank"):
            register_hashes(st, ["V1", " "], [])


# --------------------------------------------------------------------------- the CLI


def test_cli_add_and_list_never_show_the_values(tmp_path):
    db = tmp_path / "s.duckdb"
    f = tmp_path / "optouts.csv"
    f.write_text("Victim_ID,phone\nV7,\n,+44 7700 900555\nV8,07700 900556\n,\n")
    runs = [
        vsw("optout", "add", "--victim-id", "V1", "--victim-id", "V2", db=db),
        vsw("optout", "add", "--phone", "07700 900123", db=db),
        vsw("optout", "add", "--phone", "+44 (0)7700-900-123", db=db),  # same number
        vsw("optout", "add", "--file", str(f), db=db),
    ]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert "2 new entries" in runs[0].stdout
    assert "0 new entries" in runs[2].stdout
    assert "4 new entries from 4 value(s)" in runs[3].stdout
    count = vsw("optout", "list", "--count", db=db)
    assert count.returncode == 0 and count.stdout.strip() == "7"
    listing = vsw("optout", "list", db=db)
    assert "7 entries" in listing.stdout
    text = "".join(r.stdout + r.stderr for r in [*runs, count, listing])
    for secret in ("V1", "V2", "V7", "V8", "900123", "900555", "900556"):
        assert secret not in text
    with Store(db, read_only=True) as st:
        audit = st.audit().to_csv()
        dump = st.con.execute("SELECT * FROM optout").df().to_csv()
        assert st.optout_count() == 7
        want = {_ref_hash(st.secret, m) for m in ("victim:V7", "phone:07700900555")}
        assert want <= set(st.con.execute("SELECT hash FROM optout").df()["hash"])
    for secret in ("V1", "V7", "900123", "900555"):
        assert secret not in audit and secret not in dump
    assert "optouts.csv" in audit


def test_cli_errors_exit_2_or_3_without_traceback_or_values(tmp_path):
    db = tmp_path / "s.duckdb"
    bad = tmp_path / "bad.csv"
    bad.write_text("phone\n07700 900123\n07700 9001234567\n")
    nocol = tmp_path / "nocol.csv"
    nocol.write_text("name\nAnn\n")
    cases = [
        (("optout", "add"), 2),
        (("optout", "add", "--file", str(bad)), 3),
        (("optout", "add", "--file", str(nocol)), 3),
        (("optout", "add", "--file", str(tmp_path / "missing.csv")), 3),
        (("optout", "add", "--phone", "ring me"), 3),
        (("optout", "frobnicate"), 2),
    ]
    for args, code in cases:
        r = vsw(*args, db=db)
        assert r.returncode == code, (args, r.stderr)
        assert "Traceback" not in r.stderr
    r = vsw("optout", "add", "--file", str(bad), db=db)
    assert "row(s) 2" in r.stderr and "9001234567" not in r.stderr
    assert vsw("optout", "list", "--count", db=db).stdout.strip() == "0"


# --------------------------------------------------------------------------- property test


@pytest.fixture(scope="module")
def durham(tmp_path_factory):
    """A store with two small synthetic Durham months; the second month's victims."""
    d = tmp_path_factory.mktemp("optout")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_synthetic("durham", MONTHS, seed=21, out_dir=d, scale=0.3)
    st = Store(d / "s.duckdb")
    for m in MONTHS:
        st.ingest_victims(d / f"victims_{m}.csv", month=m)
    victims = st.victims(MONTHS[1], personal=True)
    yield st, victims
    st.close()


def _variant(phone: str, k: int) -> str:
    """The same number written in one of five usual ways."""
    d = phone.replace(" ", "")
    return [
        phone,
        "+44 " + d[1:5] + " " + d[5:],
        "+44 (0)" + d[1:5] + "-" + d[5:8] + "-" + d[8:],
        "0044" + d[1:],
        "(" + d[:5] + ") " + d[5:],
    ][k % 5]


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st_.data())
def test_nobody_on_the_register_or_inside_the_window_is_ever_selected(durham, data):
    st, victims = durham
    preset = load_force("durham")
    survey = data.draw(st_.sampled_from(preset.surveys), label="survey")
    # Draw from the survey's own offence groups, so that most draws can bite.
    scope = victims[victims["offence_group"].isin(survey.offence_groups)]
    ids = scope["victim_id"].unique()
    phones = scope["phone"].dropna().unique()
    reg_ids = data.draw(st_.sets(st_.sampled_from(list(ids)), max_size=40), label="ids")
    reg_ph = data.draw(
        st_.lists(st_.tuples(st_.sampled_from(list(phones)), st_.integers(0, 4)), max_size=25),
        label="phones",
    )
    people = scope["person_id"].unique()
    hist_rows = data.draw(
        st_.lists(
            st_.tuples(
                st_.sampled_from(list(people)),
                st_.integers(-2, 15),  # months before this one (negative: after it)
                st_.sampled_from(["burglary", "hate", "violent", "asb"]),
            ),
            max_size=60,
        ),
        label="history",
    )
    seed = data.draw(st_.integers(0, 2**32 - 1), label="seed")
    fraction = data.draw(st_.sampled_from([0.15, 0.5, 1.0]), label="fraction")
    method = data.draw(st_.sampled_from(["srs", "systematic"]), label="method")

    period = pd.Period(MONTHS[1], freq="M")
    history = pd.DataFrame(
        {
            "person_id": [p for p, _, _ in hist_rows],
            "month": [str(period - lag) for _, lag, _ in hist_rows],
            "survey": [s for _, _, s in hist_rows],
        }
    )
    hashes = register_hashes(st, sorted(reg_ids), [_variant(p, k) for p, k in reg_ph])
    res = apply(
        victims,
        survey,
        optout_hashes=hashes,
        history=history,
        reference_date=dt.date(2025, 3, 1),
        store=st,
    )

    # Independent reference: plain sets over raw values.
    opted_phone = {p.replace(" ", "") for p, _ in reg_ph}
    window = {p for p, lag, s in hist_rows if 1 <= lag <= 12 or (lag == 0 and s != survey.name)}
    norm = victims["phone"].fillna("").str.replace(" ", "")
    base = simple_eligibility(victims, survey)
    keep = (
        base
        & ~victims["victim_id"].isin(reg_ids).to_numpy()
        & ~norm.isin(opted_phone).to_numpy()
        & ~victims["person_id"].isin(window).to_numpy()
    )
    expected = victims[keep].drop_duplicates("person_id", keep="first").index
    assert list(res.eligible.index) == list(expected)
    if len(res.eligible) == 0:
        return
    sample = select(res.eligible, strata="offence_group", fraction=fraction, seed=seed,
                    method=method, sort_by=["age"] if method == "systematic" else None)  # fmt: skip
    assert not set(sample["victim_id"]) & set(reg_ids)
    assert not set(sample["phone"].dropna().str.replace(" ", "")) & opted_phone
    assert not set(sample["person_id"]) & window
    assert sample["person_id"].is_unique


# --------------------------------------------------------------------------- end to end


def test_vsw_sample_census_leaves_out_exactly_the_registered(tmp_path):
    """Warwickshire invites every eligible victim: the extract must hold all of them except
    the ones registered by victim id or (differently written) phone number."""
    from methods.data import protection

    d = tmp_path / "in"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_synthetic("warwickshire", ["2025-01"], seed=4, out_dir=d, scale=0.3)
    db = tmp_path / "s.duckdb"
    with Store(db) as st:
        st.ingest_victims(d / "victims_2025-01.csv", month="2025-01")
        v = st.victims("2025-01", personal=True)
    preset = load_force("warwickshire")
    survey = preset.surveys[0]
    eligible = v[simple_eligibility(v, survey)]
    # one victim by id; a phone number (written another way) that no one else shares
    by_id = eligible["victim_id"].iloc[0]
    unique_phones = v["phone"].value_counts()
    by_phone = eligible.loc[eligible["phone"].map(unique_phones) == 1, "phone"].iloc[-1]
    key = tmp_path / "k.key"
    assert vsw("extract", "keygen", "--out", str(key), db=db).returncode == 0
    r = vsw("optout", "add", "--victim-id", by_id, "--phone", _variant(by_phone, 2), db=db)
    assert r.returncode == 0, r.stderr
    r = vsw("sample", "--force", "warwickshire", "--survey", survey.name, "--month", "2025-01",
            "--key-file", str(key), "--out", str(tmp_path / "out"), db=db)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "optout_register" in r.stdout
    ext = protection.read_extract(
        tmp_path / "out" / f"warwickshire_{survey.name}_2025-01.extract.fernet", key.read_bytes()
    )
    with Store(db) as st:
        keymap = protection.case_key_map(st, survey.name, "2025-01").set_index("case_key")
        n_opted = v.loc[v["opted_out"], "person_id"].nunique()
        assert st.optout_count() == 2 + n_opted  # flagged victims join the register
    sampled = set(keymap.loc[ext["case_key"], "case_id"])
    removed = eligible[(eligible["victim_id"] == by_id) | (eligible["phone"] == by_phone)]
    assert len(removed) >= 2
    assert sampled.isdisjoint(set(removed["case_id"]))
    rest = eligible.drop(removed.index).drop_duplicates("person_id")
    assert sampled == set(rest["case_id"])  # census: everyone else is in the extract
    assert by_phone not in set(ext["phone"].dropna())
