"""`vsw sample` and the contractor extract: only the allowed columns, encrypted from memory,
decryptable with the key, no plaintext on disk, reproducible draws, clear exit codes.

References: the decrypted rows are checked against the synthetic input file (the personal data
the force supplied), the selection against round(0.15 x eligible) per the Durham preset
(docs/sources.md, source 002: "sample 15 per cent"), and the manifest's SHA-256 against :mod:`hashlib`.
"""

from __future__ import annotations

import builtins
import hashlib
import io
import json
import os
import stat
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from conftest import run_vsw
from methods.config.presets import load_force
from methods.core.errors import InputRefused, UsageError
from methods.data import protection
from methods.data.store import Store
from methods.workflows.synthetic import write_synthetic

ROOT = Path(__file__).resolve().parents[1]
MONTH = "2025-01"
STEM = f"durham_burglary_{MONTH}"


vsw = run_vsw  # the shared runner (tests/conftest.py)


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """One small synthetic Durham month (CSV files kept apart from the store and outputs)."""
    d = tmp_path_factory.mktemp("extract_in")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        write_synthetic("durham", [MONTH], seed=31, out_dir=d, scale=0.5)
    return d


@pytest.fixture(scope="module")
def drawn(source, tmp_path_factory):
    """`vsw sample` run once as a user would, with its own TMPDIR to inspect afterwards."""
    work = tmp_path_factory.mktemp("extract_run")
    db = work / "db" / "s.duckdb"
    with Store(db) as st:
        st.ingest_victims(source / f"victims_{MONTH}.csv", month=MONTH)
    key = work / "k.key"
    assert vsw("extract", "keygen", "--out", str(key), db=db).returncode == 0
    tmp = work / "tmp"
    tmp.mkdir()
    out = work / "out"
    res = vsw(
        "sample", "--force", "durham", "--survey", "burglary", "--month", MONTH,
        "--key-file", str(key), "--out", str(out), db=db,
        env_extra={"TMPDIR": str(tmp), "TEMP": str(tmp), "TMP": str(tmp)},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    return {"db": db, "key": key, "out": out, "tmp": tmp, "work": work, "res": res}


def test_keygen_writes_a_private_key_and_never_overwrites(tmp_path):
    key = tmp_path / "k.key"
    r = vsw("extract", "keygen", "--out", str(key), db=tmp_path / "s.duckdb")
    assert r.returncode == 0
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert len(key.read_bytes().strip()) == 44
    assert protection.key_id(key.read_bytes().strip()) in r.stdout
    before = key.read_bytes()
    r = vsw("extract", "keygen", "--out", str(key), db=tmp_path / "s.duckdb")
    assert r.returncode == 2 and key.read_bytes() == before


def test_extract_decrypts_and_holds_only_the_allowed_columns(drawn, source):
    files = sorted(p.name for p in drawn["out"].iterdir())
    assert files == [f"{STEM}.extract.fernet", f"{STEM}.manifest.json"]
    for p in drawn["out"].iterdir():
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
    plain_path = drawn["work"] / "received.csv"
    r = vsw(
        "extract", "decrypt", str(drawn["out"] / f"{STEM}.extract.fernet"),
        "--key-file", str(drawn["key"]), "--out", str(plain_path), db=drawn["db"],
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(plain_path.stat().st_mode) == 0o600
    ext = pd.read_csv(plain_path, dtype=str)
    allowed = ["case_key", "name", "phone", "offence_group", "reported_date"]
    assert list(ext.columns) == allowed  # Durham surveys by telephone: no address, no e-mail
    man = json.loads((drawn["out"] / f"{STEM}.manifest.json").read_text())
    cipher = (drawn["out"] / f"{STEM}.extract.fernet").read_bytes()
    assert man["ciphertext_sha256"] == hashlib.sha256(cipher).hexdigest()
    assert man["rows"] == len(ext) and man["columns"] == allowed
    assert man["key_id"] == protection.key_id(drawn["key"].read_bytes().strip())
    # The rows are the recorded sample, with the contact details the force supplied.
    victims = pd.read_csv(source / f"victims_{MONTH}.csv", dtype=str, keep_default_na=False)
    with Store(drawn["db"]) as st:
        keymap = protection.case_key_map(st, "burglary", MONTH).set_index("case_key")
        sample = st.sample("burglary", MONTH)
        personal = st.victims(MONTH, personal=True).set_index("case_id")
    assert len(ext) == len(sample) and ext["case_key"].is_unique
    case_ids = keymap.loc[ext["case_key"], "case_id"]
    assert set(case_ids) == set(sample["case_id"])
    src = victims.set_index(["crime_ref", "victim_id"])
    pairs = list(zip(personal.loc[case_ids, "crime_ref"], personal.loc[case_ids, "victim_id"]))
    want = src.loc[pairs]
    np.testing.assert_array_equal(ext["name"].fillna(""), want["name"])
    np.testing.assert_array_equal(ext["phone"].fillna(""), want["phone"])
    np.testing.assert_array_equal(ext["reported_date"], want["reported_date"])
    assert set(ext["offence_group"]) == {"burglary"}
    # Case keys are not the store's pseudonyms, nor anything the analysis tables hold.
    assert not set(ext["case_key"]) & set(personal.index)
    assert not set(ext["case_key"]) & set(personal["person_id"])


def test_selection_is_15_percent_of_the_eligible_and_reproducible(drawn):
    flow_line = [ln for ln in drawn["res"].stdout.splitlines() if ln.startswith("selected ")]
    assert flow_line, drawn["res"].stdout
    man = json.loads((drawn["out"] / f"{STEM}.manifest.json").read_text())
    eligible = man["selection"]["eligible"]
    flow = pd.DataFrame(man["eligibility_flow"])
    assert flow["remaining"].iloc[-1] == eligible
    assert flow["excluded"].sum() + eligible == flow["remaining"].iloc[0]
    n = int(np.floor(0.15 * eligible + 0.5))
    assert man["selection"]["selected"] == n
    with Store(drawn["db"]) as st:
        first = st.sample("burglary", MONTH)
        np.testing.assert_allclose(first["inclusion_prob"], n / eligible)
        audit = st.audit(action="draw_sample")
    assert len(audit) == 1 and man["ciphertext_sha256"] in audit["detail"].iloc[0]
    # Drawing the month again (--replace) gives the same sample: the seed comes from
    # (force, survey, month).
    db2 = drawn["work"] / "copy.duckdb"
    db2.write_bytes(drawn["db"].read_bytes())
    r = vsw(
        "sample", "--force", "durham", "--survey", "burglary", "--month", MONTH, "--replace",
        "--out", str(drawn["work"] / "again"), db=db2,
        env_extra={"VSW_EXTRACT_KEY": drawn["key"].read_text().strip()},
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    with Store(db2) as st:
        again = st.sample("burglary", MONTH)
        assert len(st.audit(action="redraw_sample")) == 1
    assert again["case_id"].tolist() == first["case_id"].tolist()


def test_no_plaintext_copy_exists_on_disk(drawn):
    ext = protection.read_extract(
        drawn["out"] / f"{STEM}.extract.fernet", drawn["key"].read_bytes().strip()
    )
    needles = [s.encode() for s in pd.concat([ext["name"], ext["phone"]]).dropna().unique()]
    needles += [b"case_key,name", *(k.encode() for k in ext["case_key"])]
    assert len(needles) > 10
    scanned = 0
    for folder in (drawn["out"], drawn["tmp"], drawn["db"].parent):
        for p in folder.rglob("*"):
            if p.is_dir() or p == drawn["db"]:  # the store holds personal data by design
                continue
            data = p.read_bytes()
            scanned += 1
            leaked = [n for n in needles if n in data]
            assert not leaked, (p, len(leaked))
    assert scanned >= 2  # the extract and its manifest at least
    assert not any(drawn["tmp"].iterdir())  # nothing at all went to the temp folder
    assert sorted(p.name for p in drawn["db"].parent.iterdir()) == ["s.duckdb"]
    # ... and the stdout of the command does not show any of it either.
    out = (drawn["res"].stdout + drawn["res"].stderr).encode()
    assert not [n for n in needles if n in out]


def test_seal_opens_no_file(monkeypatch):
    frame = pd.DataFrame({"case_key": ["a"], "name": ["Ann Quill"], "phone": ["07700 900001"]})
    key = protection.generate_key()

    def refuse(*a, **k):
        raise AssertionError("seal() tried to open a file")

    monkeypatch.setattr(builtins, "open", refuse)
    monkeypatch.setattr(os, "open", refuse)
    monkeypatch.setattr(io, "open", refuse)
    sealed = protection.seal(frame, key)
    monkeypatch.undo()
    assert sealed.rows == 1 and b"Ann" not in sealed.token
    assert sealed.missing_contact == {"phone": 0}


def test_paper_and_web_modes_take_address_and_email(tmp_path):
    assert protection.extract_columns(("paper",)) == (
        "case_key", "name", "address", "offence_group", "reported_date",
    )  # fmt: skip
    assert protection.extract_columns(("telephone", "web", "telephone")) == (
        "case_key", "name", "phone", "email", "offence_group", "reported_date",
    )  # fmt: skip
    with pytest.raises(UsageError, match="unknown mode"):
        protection.extract_columns(("pigeon",))


def test_decrypt_refuses_a_wrong_key_an_altered_file_and_no_key(drawn, tmp_path):
    src = drawn["out"] / f"{STEM}.extract.fernet"
    man = drawn["out"] / f"{STEM}.manifest.json"
    other = tmp_path / "other.key"
    protection.write_key(other)
    r = vsw("extract", "decrypt", str(src), "--key-file", str(other), "--out",
            str(tmp_path / "x.csv"), db=drawn["db"])  # fmt: skip
    assert r.returncode == 3 and "cannot be decrypted" in r.stderr
    assert not (tmp_path / "x.csv").exists()
    bad = tmp_path / f"{STEM}.extract.fernet"
    data = bytearray(src.read_bytes())
    data[100] ^= 1
    bad.write_bytes(bytes(data))
    (tmp_path / man.name).write_bytes(man.read_bytes())
    r = vsw("extract", "decrypt", str(bad), "--key-file", str(drawn["key"]), "--out",
            str(tmp_path / "y.csv"), db=drawn["db"])  # fmt: skip
    assert r.returncode == 3 and "altered or truncated" in r.stderr
    (tmp_path / man.name).unlink()  # without a manifest the Fernet MAC still catches it
    with pytest.raises(InputRefused, match="cannot be decrypted"):
        protection.decrypt_extract(bad, drawn["key"].read_bytes().strip())
    r = vsw("extract", "decrypt", str(src), "--out", str(tmp_path / "z.csv"), db=drawn["db"])
    assert r.returncode == 2 and "VSW_EXTRACT_KEY" in r.stderr


def test_sample_refusals_and_usage_errors(drawn, source, tmp_path):
    key = ["--key-file", str(drawn["key"])]
    base = ["sample", "--force", "durham", "--survey", "burglary", "--out", str(tmp_path / "o")]
    cases = [
        ([*base, "--month", MONTH, *key], 3, "already recorded"),  # no --replace
        ([*base, "--month", "2025-02", *key], 3, "no victims are loaded"),
        ([*base, "--month", MONTH], 2, "no extract key"),
        ([*base, "--month", MONTH, "--key-file", str(tmp_path / "nokey")], 2, "not found"),
        (["sample", "--force", "durham", "--survey", "rape", "--month", MONTH, *key], 2,
         "no survey 'rape'"),
        (["sample", "--force", "nowhere", "--survey", "burglary", "--month", MONTH, *key], 2,
         "unknown force"),
        ([*base, "--month", "2025-13", *key], 2, "YYYY-MM"),
    ]  # fmt: skip
    for args, code, text in cases:
        r = vsw(*args, db=drawn["db"])
        assert r.returncode == code, (args, r.stderr)
        assert text in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    r = vsw(*base, "--month", MONTH, *key, db=tmp_path / "none.duckdb")
    assert r.returncode == 3 and "no store" in r.stderr
    assert not (tmp_path / "o").exists()  # nothing written by any refusal
    notakey = tmp_path / "bad.key"
    notakey.write_text("hello")
    with pytest.raises(UsageError, match="not a Fernet key"):
        with pytest.warns(UserWarning, match="can be read by other users"):
            protection.load_key(notakey)


def test_monthly_share_sums_to_the_annual_number():
    from methods.sampling.quota import monthly_share as _monthly_share

    for annual in (20000, 1287, 509, 7, 13):
        shares = [_monthly_share(annual, f"2025-{m:02d}") for m in range(1, 13)]
        assert sum(shares) == annual
        assert max(shares) - min(shares) <= 1


def test_met_annual_number_is_shared_so_every_eligible_victim_has_the_same_chance():
    """Met (docs/sources.md, source 003): about 20,000 a year over its surveys: 1,667 in January (20000 / 12
    rounded), split over the surveys in proportion to their eligible victims."""
    import datetime as dt

    from methods.frame import eligibility
    from methods.sampling.quota import month_size
    from methods.synthetic.generate import generate_victims

    v = generate_victims("met", MONTH, seed=3, scale=0.15)
    with Store(":memory:") as st:
        st.ingest_victims(v[[c for c in v.columns if not c.startswith("true_")]], month=MONTH)
        victims = st.victims(MONTH, personal=True)
        preset = load_force("met")
        ref = dt.date(2025, 2, 1)
        sizes, ns = {}, {}
        for s in preset.surveys:
            assert preset.selection_for(s.name)[1] == "force"
            e = eligibility.apply(victims, s, reference_date=ref, store=st)
            sizes[s.name] = len(e.eligible)
        for s in preset.surveys:
            ns[s.name] = month_size(preset, s.name, MONTH, sizes).n
    total = sum(sizes.values())
    assert total > 1667 and sum(ns.values()) == 1667
    for name in sizes:  # largest-remainder rounding: within one unit of the exact share
        assert abs(ns[name] - 1667 * sizes[name] / total) < 1
