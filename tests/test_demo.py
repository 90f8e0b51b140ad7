"""`vsw demo` end to end: a store, an executed report, HTML, manifest; no personal data out."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from conftest import TEST_MONTHS, TEST_SEED, run_vsw


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo")
    db, out = base / "wb.duckdb", base / "reports"
    months = f"{TEST_MONTHS[0]}:{TEST_MONTHS[-1]}"
    res = run_vsw(
        "demo", "--out", str(out), "--months", months, "--seed", str(TEST_SEED), "--quiet", db=db
    )
    assert res.returncode == 0, res.stderr[-3000:]
    return db, out, out / "durham" / TEST_MONTHS[-1]


def test_demo_writes_the_report_files(demo_run):
    _, _, rep = demo_run
    for name in ("report.ipynb", "report.html", "manifest.json"):
        assert (rep / name).is_file(), name
    assert list((rep / "tables").glob("*.csv")), "no tables written"
    assert list((rep / "figures").glob("*.png")), "no figures written"
    html = (rep / "report.html").read_text()
    for stage in ("Ease of contact", "Actions taken", "Follow-up", "Treatment", "Whole experience"):
        assert stage in html, stage
    assert "import " not in html, "the HTML must not show code"


def test_manifest_records_provenance(demo_run):
    _, _, rep = demo_run
    man = json.loads((rep / "manifest.json").read_text())
    assert man["seed"] == TEST_SEED
    assert man["parameters"]["force"] == "durham"
    assert man["parameters"]["month"] == TEST_MONTHS[-1]
    assert man["inputs_sha256"], "inputs' hashes missing"
    assert all(re.fullmatch(r"[0-9a-f]{64}", v) for v in man["inputs_sha256"].values())
    assert "numpy" in man["versions"] and "pandas" in man["versions"]
    assert "git_commit" in man


def test_html_shows_rates_diagnostics_intervals_and_suppression(demo_run):
    _, _, rep = demo_run
    html = (rep / "report.html").read_text()
    for needle in ("Response rate", "Effective sample size", "Design effect of weighting",
                   "95% confidence interval", "not shown to protect confidentiality", "Summary"):
        assert needle in html, needle


def test_rerun_gives_byte_identical_tables(demo_run, tmp_path):
    db, out, rep = demo_run
    res = run_vsw(
        "report",
        "--force",
        "durham",
        "--month",
        TEST_MONTHS[-1],
        "--out",
        str(tmp_path),
        "--seed",
        str(TEST_SEED),
        db=db,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    again = tmp_path / "durham" / TEST_MONTHS[-1]

    def digest(folder: Path) -> dict[str, str]:
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted((folder / "tables").glob("*.csv"))
        }

    assert digest(rep) == digest(again)


def test_no_personal_data_reaches_the_reports(demo_run):
    """Every generated name, phone number and email is absent from everything under reports/."""
    _, out, _ = demo_run
    from methods.synthetic.generate import generate_victims

    needles: set[str] = set()
    for month in TEST_MONTHS:
        v = generate_victims("durham", month, seed=TEST_SEED)
        for col in ("name", "phone", "email"):
            needles |= {s for s in v[col].dropna().astype(str) if len(s) >= 6}
    assert len(needles) > 100
    for path in out.rglob("*"):
        if not path.is_file():
            continue
        text = path.read_bytes().decode("utf-8", errors="ignore")
        found = [n for n in needles if n in text]
        assert not found, f"{path.name} contains personal data (e.g. a {len(found)} matches)"
        assert not re.search(r"07700 ?900\d{3}", text), path.name
        assert "@example.org" not in text, path.name
