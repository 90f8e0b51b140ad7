"""The `vsw` command: exit codes, no tracebacks for bad input, the store left unchanged."""

from __future__ import annotations

import json

from conftest import TEST_MONTHS, run_vsw


def test_help_lists_every_job():
    res = run_vsw("--help")
    assert res.returncode == 0
    for cmd in ("ingest", "status", "synth", "demo", "report"):
        assert cmd in res.stdout


def test_usage_errors_exit_2_without_traceback(tmp_path):
    cases = [
        ("frobnicate",),
        ("ingest", "victims", "x.csv"),  # --month missing
        ("ingest", "victims", "x.csv", "--month", "2025-13"),
        (
            "synth",
            "--force",
            "nowhere",
            "--months",
            "2025-01:2025-02",
            "--seed",
            "1",
            "--out",
            str(tmp_path),
        ),
        (
            "synth",
            "--force",
            "durham",
            "--months",
            "2025-05:2025-02",
            "--seed",
            "1",
            "--out",
            str(tmp_path),
        ),
    ]
    for args in cases:
        res = run_vsw(*args, db=tmp_path / "s.duckdb")
        assert res.returncode == 2, (args, res.stdout, res.stderr)
        assert "Traceback" not in res.stderr + res.stdout, args


def test_unknown_force_names_the_known_ones(tmp_path):
    res = run_vsw(
        "synth",
        "--force",
        "nowhere",
        "--months",
        "2025-01:2025-01",
        "--seed",
        "1",
        "--out",
        str(tmp_path),
    )
    assert res.returncode == 2
    assert "durham" in res.stderr


def test_missing_input_file_is_refused_with_exit_3(tmp_path):
    res = run_vsw(
        "ingest",
        "victims",
        str(tmp_path / "nope.csv"),
        "--month",
        "2025-01",
        db=tmp_path / "s.duckdb",
    )
    assert res.returncode == 3
    assert "not found" in res.stderr
    assert "Traceback" not in res.stderr


def test_ingest_status_and_refusal_of_a_second_load(tmp_path, synthetic_dir):
    db = tmp_path / "s.duckdb"
    month = TEST_MONTHS[0]
    extract = synthetic_dir / f"victims_{month}.csv"
    first = run_vsw("ingest", "victims", str(extract), "--month", month, db=db)
    assert first.returncode == 0, first.stderr
    again = run_vsw("ingest", "victims", str(extract), "--month", month, db=db)
    assert again.returncode == 3
    assert "replace" in again.stderr.lower()
    assert "Traceback" not in again.stderr
    swapped = run_vsw("ingest", "victims", str(extract), "--month", month, "--replace", db=db)
    assert swapped.returncode == 0, swapped.stderr
    status = run_vsw("status", "--json", db=db)
    assert status.returncode == 0
    assert month in status.stdout
    json.loads(status.stdout)


def test_wrong_month_for_the_extract_is_refused(tmp_path, synthetic_dir):
    db = tmp_path / "s.duckdb"
    extract = synthetic_dir / f"victims_{TEST_MONTHS[0]}.csv"
    res = run_vsw("ingest", "victims", str(extract), "--month", TEST_MONTHS[1], db=db)
    assert res.returncode == 3
    assert "reported_date" in res.stderr
    assert "Traceback" not in res.stderr


def test_synth_is_reproducible(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for out in (a, b):
        res = run_vsw(
            "synth",
            "--force",
            "kent",
            "--months",
            "2025-01:2025-02",
            "--seed",
            "7",
            "--out",
            str(out),
        )
        assert res.returncode == 0, res.stderr
    files = sorted(p.name for p in a.iterdir())
    assert "victims_2025-01.csv" in files and "victims_2025-02.csv" in files
    for name in files:
        assert (a / name).read_bytes() == (b / name).read_bytes(), name


def test_samplesize_json_matches_the_hand_computation():
    """n0 = z^2 p(1-p) deff / moe^2 = 1.95996^2 * 0.16 * 1.3 / 0.0009 = 887.8 -> 888 completes."""
    res = run_vsw(
        "samplesize",
        "--moe",
        "0.03",
        "--p",
        "0.8",
        "--deff",
        "1.3",
        "--response-rate",
        "0.5",
        "--json",
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == {"completes": 888, "issued": 1776}
    fpc = run_vsw(
        "samplesize",
        "--moe",
        "0.03",
        "--p",
        "0.8",
        "--deff",
        "1.3",
        "--response-rate",
        "0.5",
        "--population",
        "5000",
        "--json",
    )
    # Cochran (1977) 4.2: n = n0 / (1 + (n0 - 1) / N) = 887.8 / (1 + 886.8 / 5000) = 754.2 -> 755
    assert json.loads(fpc.stdout) == {"completes": 755, "issued": 1510}


def test_samplesize_refuses_an_impossible_margin():
    res = run_vsw("samplesize", "--moe", "3")
    assert res.returncode == 2
    assert "moe" in res.stderr and "Traceback" not in res.stderr
