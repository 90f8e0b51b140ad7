"""One canonical name per force and survey; path-like names and ``--out`` mistakes are usage errors.

References: the presets shipped in ``methods/configs/`` (their file stems are the canonical,
lower-case names) and the CLI's documented exit codes (``methods.cli``: 2 for a usage error).
"""

from __future__ import annotations

import shutil

import pytest

from conftest import TEST_MONTHS, TEST_SEED, run_vsw
from methods.config import force_name, list_forces, list_surveys, load_force, survey_name
from methods.core.errors import ConfigError, UsageError

MONTH = TEST_MONTHS[-1]


@pytest.mark.parametrize("given", ["durham", "DURHAM", "Durham", "  dUrHaM "])
def test_force_names_match_case_insensitively_to_the_preset(given):
    assert force_name(given) == "durham"
    assert load_force(given).name == "durham"
    assert load_force(given) is load_force("durham")  # one preset object, one name


@pytest.mark.parametrize("given", ["BURGLARY", "Domestic_Abuse"])
def test_survey_names_match_case_insensitively(given):
    assert survey_name(given) == given.strip().lower()
    assert survey_name(given) in list_surveys()


@pytest.mark.parametrize(
    "given", ["../durham", "durham/..", "a/b", "..", "reports/durham", "..\\kent", "kent\x00"]
)
def test_path_like_force_names_are_refused_listing_the_known_forces(given):
    with pytest.raises(ConfigError, match="looks like a path") as e:
        force_name(given)
    assert isinstance(e.value, UsageError)
    assert all(f in str(e.value) for f in list_forces())


def test_path_like_survey_name_refused():
    with pytest.raises(ConfigError, match="looks like a path.*known surveys: asb"):
        survey_name("../burglary")


def test_cli_refuses_a_path_as_force_with_exit_2(tmp_path):
    res = run_vsw(
        "report", "--force", "../durham", "--month", MONTH, "--out", str(tmp_path / "r"),
        db=tmp_path / "s.duckdb",
    )  # fmt: skip
    assert res.returncode == 2, res.stderr
    assert "looks like a path" in res.stderr and "durham, kent" in res.stderr
    assert "Traceback" not in res.stderr
    assert not (tmp_path / "r").exists() and not (tmp_path / "durham").exists()


def test_report_for_upper_case_force_writes_the_canonical_folder(demo_store, tmp_path):
    db = tmp_path / "store.duckdb"
    shutil.copy(demo_store, db)
    out = tmp_path / "reports"
    res = run_vsw(
        "report", "--force", "DURHAM", "--month", MONTH, "--seed", str(TEST_SEED),
        "--out", str(out), "--quiet", db=db,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert sorted(p.name for p in out.iterdir()) == ["durham"]
    assert (out / "durham" / MONTH / "manifest.json").is_file()


# --------------------------------------------------------------------------- --out mistakes


def _report(out, tmp_path):
    return run_vsw(
        "report", "--force", "durham", "--month", MONTH, "--out", str(out),
        db=tmp_path / "s.duckdb",
    )  # fmt: skip


def test_report_out_that_is_a_file_is_a_usage_error(tmp_path):
    f = tmp_path / "out.txt"
    f.write_text("keep me\n")
    for out in (f, f / "sub"):
        res = _report(out, tmp_path)
        assert res.returncode == 2, res.stderr
        assert "not a folder" in res.stderr and "internal error" not in res.stderr
        assert "Traceback" not in res.stderr
    assert f.read_text() == "keep me\n"
    assert not (tmp_path / "s.duckdb").exists(), "nothing may be written on a usage error"


@pytest.mark.parametrize(
    "args",
    [
        ("synth", "--force", "durham", "--months", "2025-01:2025-01", "--seed", "1"),
        ("demo", "--force", "durham"),
        ("compare", "--month", MONTH, "--forces", "durham,kent"),
        ("sample", "--force", "durham", "--survey", "burglary", "--month", MONTH),
        ("simulate", "--config", "weighting_schemes", "--reps", "1", "--seed", "1"),
    ],
)
def test_every_folder_out_refuses_a_file(tmp_path, args):
    f = tmp_path / "file"
    f.write_text("x")
    res = run_vsw(*args, "--out", str(f), db=tmp_path / "s.duckdb")
    assert res.returncode == 2, (args, res.stderr)
    assert "not a folder" in res.stderr and "Traceback" not in res.stderr
    assert f.read_text() == "x"


def test_file_outs_refuse_a_folder_and_a_file_as_parent(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    for args in (
        ("extract", "keygen", "--out", str(tmp_path)),
        ("extract", "keygen", "--out", str(f / "k.key")),
        ("extract", "decrypt", str(f), "--out", str(tmp_path), "--overwrite"),
    ):
        res = run_vsw(*args, db=tmp_path / "s.duckdb")
        assert res.returncode == 2, (args, res.stderr)
        assert "folder" in res.stderr and "Traceback" not in res.stderr
