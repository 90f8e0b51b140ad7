"""The monthly report as its reader sees it: headline first, plain English, accessible charts.

One report run on the demo store serves the module. The rendered HTML is read twice: its
visible text through an HTML parser (no code values, no True/False, no file names, no notebook
mechanics; the sections in a reader's order; every chart with alternative text) and, where
Debian's Chromium is installed (CI installs it), through a headless browser, whose DOM must
carry the same headline and whose screenshot must not be blank.
"""

from __future__ import annotations

import csv
import math
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from conftest import TEST_MONTHS, TEST_SEED
from methods.config.presets import EXCLUSION_RULES
from methods.core.schema import ETHNICITIES, GENDERS, MODES, OFFENCE_GROUPS, STAGES
from methods.report import headline, labels
from methods.report import run as report_run
from methods.report.run import chromium_path

MONTH = TEST_MONTHS[-1]


class _Visible(HTMLParser):
    """Visible text of a page (no style or script) and the alt text of its images."""

    def __init__(self):
        super().__init__()
        self.skip = 0
        self.text: list[str] = []
        self.alts: list[str | None] = []

    def handle_starttag(self, tag, attrs):
        if tag in ("style", "script", "title"):
            self.skip += 1
        if tag == "img":
            self.alts.append(dict(attrs).get("alt"))

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.text.append(data.strip())


def _visible(html: str) -> _Visible:
    p = _Visible()
    p.feed(html)
    return p


@pytest.fixture(scope="module")
def report(demo_store, tmp_path_factory):
    base = tmp_path_factory.mktemp("reading")
    db = base / "store.duckdb"
    shutil.copy(demo_store, db)
    res = report_run.run_report("durham", MONTH, db, base / "out", TEST_SEED)
    folder = Path(res["report_dir"])
    return {"dir": folder, "html": (folder / "report.html").read_text(encoding="utf-8")}


# Words a publication never shows: code values, flags, file and module names, mechanics.
FORBIDDEN = [
    (r"\b[a-z]+_[a-z0-9_]+\b", "a snake_case code value"),
    (r"\b(True|False|NaN|None|nan)\b", "a raw boolean or missing value"),
    (r"\b[\w/-]+\.(md|py|csv|ipynb|duckdb|toml|json)\b", "a file name"),
    (r"(?i)\bnotebook\b|\borchestrat|\bpapermill\b|\bmethods package\b", "notebook mechanics"),
    (r"\bp_value\b|\bmin_base\b|\bmin_count\b|\bRR[13]\b", "a column or parameter name"),
    (r"\b\d{4}-\d{2}\b(?! to)", "a month written as a code"),
]


def test_rendered_text_is_plain_english(report):
    text = " | ".join(_visible(report["html"]).text)
    for pattern, what in FORBIDDEN:
        hits = re.findall(pattern, text)
        assert not hits, f"{what} in the report: {hits[:5]}"


def test_sections_come_in_a_readers_order(report):
    text = " | ".join(_visible(report["html"]).text)
    order = ["Summary", "Satisfaction at each stage", "Trends", "Groups of victims",
             "Districts", "Methods and quality"]  # fmt: skip
    at = [text.find(f"| {h} |") for h in order]
    assert all(a >= 0 for a in at), dict(zip(order, at))
    assert at == sorted(at), dict(zip(order, at))
    assert text.find("Victims excluded and eligible") > text.find("Methods and quality")


def test_every_chart_has_alternative_text(report):
    alts = _visible(report["html"]).alts
    figures = list((report["dir"] / "figures").glob("*.png"))
    assert len(alts) == len(figures) > 0
    for alt in alts:
        assert alt and len(alt) > 40 and ("%" in alt or "not shown" in alt), alt


def test_headline_quotes_the_published_figure(report):
    """The summary's first figure is the whole-experience estimate of the month's table,
    rounded to a whole percentage, with its CI."""
    with open(report["dir"] / "tables" / "satisfaction_by_stage_month.csv", newline="") as f:
        row = next(r for r in csv.DictReader(f) if r["stage"] == "whole_experience")
    est, lo, hi = (100 * float(row[c]) for c in ("estimate", "ci_low", "ci_high"))
    expected = f"{est:.0f}% ({lo:.0f}% to {hi:.0f}%)"
    text = " | ".join(_visible(report["html"]).text)
    summary = text[text.find("| Summary |") :]
    assert expected in summary.split("| Satisfaction at each stage |")[0]


def test_title_names_force_and_month(report):
    title = re.search(r"<title>(.*?)</title>", report["html"]).group(1)
    assert title == f"Durham Constabulary: victim satisfaction, {labels.month_label(MONTH)}"


@pytest.mark.skipif(chromium_path() is None, reason="Debian's chromium is not installed")
def test_headless_browser_renders_the_report(report, tmp_path):
    html = report["dir"] / "report.html"
    cmd = [chromium_path(), "--headless", "--no-sandbox", "--disable-gpu",
           "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run(
        [*cmd, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    seen = " | ".join(_visible(dom.stdout).text)
    assert "| Summary |" in seen and "of victims surveyed were satisfied" in seen
    for pattern, what in FORBIDDEN[:3]:
        assert not re.findall(pattern, seen), what
    shot = tmp_path / "shot.png"
    run = subprocess.run(
        [*cmd, f"--screenshot={shot}", "--window-size=1000,1400", html.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    import matplotlib.image as mpimg  # heavy optional import, only to read the screenshot

    pixels = mpimg.imread(shot)
    assert pixels.std() > 0.05, "the screenshot is blank"


# --------------------------------------------------------------------------- labels


@pytest.mark.parametrize(
    "kind, codes",
    [
        ("offence_group", OFFENCE_GROUPS),
        ("mode", MODES),
        ("stage", STAGES),
        ("gender", GENDERS),
        ("ethnicity", ETHNICITIES),
        ("step", tuple(EXCLUSION_RULES)),
    ],
)
def test_every_contract_code_has_a_written_label(kind, codes):
    """The mapping's keys are the data contract's codes: each has its own label."""
    missing = [c for c in codes if c not in labels.LABELS[kind]]
    assert not missing, f"{kind} codes without a label: {missing}"
    for code in codes:
        assert "_" not in labels.label(kind, code)


def test_number_formats():
    assert labels.ci_text(0.7234, 0.6812, 0.7601) == "72% (68% to 76%)"
    assert labels.ci_text(0.7234, 0.6812, 0.7601, decimals=1) == "72.3% (68.1% to 76.0%)"
    assert labels.pct(0.725) == "72%" or labels.pct(0.725) == "73%"
    assert labels.points(0.014) == "+1.4" and labels.points(-0.029) == "\u22122.9"
    assert labels.points(0.0001) == "0.0"
    assert labels.significance(0.0004) == "Significant (p < 0.001)"
    assert labels.significance(0.357) == "Not significant (p = 0.357)"
    assert labels.step_label("under_min_age (16)") == "Younger than 16"
    assert labels.step_label("resurveyed_within_months (12)") == "Surveyed in the last 12 months"
    assert labels.yes_no(True) == "Yes" and labels.yes_no(np.nan) == ""
    assert labels.month_label("2025-01") == "January 2025"


# --------------------------------------------------------------------------- the summary


def _stages(est: dict[str, float], se: float, n: int = 200) -> pd.DataFrame:
    rows = []
    for s in STAGES:
        e = est.get(s, 0.8)
        rows.append({"stage": s, "label": s, "estimate": e, "se": se,
                     "ci_low": e - 1.96 * se, "ci_high": e + 1.96 * se, "n": n,
                     "suppressed": False})  # fmt: skip
    return pd.DataFrame(rows)


def test_summary_changes_follow_the_independent_samples_test():
    """Change against last month: difference of estimates, z = d / sqrt(se1^2 + se2^2),
    two-sided normal p (docs/methods.md, comparing periods); the verdict follows p < 0.05."""
    now = _stages({"whole_experience": 0.84, "follow_up": 0.70}, se=0.02)
    prev = _stages({"whole_experience": 0.80, "follow_up": 0.78}, se=0.02)
    gaps = pd.DataFrame(columns=["variable"])
    rates = pd.DataFrame({"mode": ["telephone", "paper"], "RR1": [0.48, 0.22],
                          "rates_suppressed": [False, False]})  # fmt: skip
    pts = headline.executive_summary("2025-12", now, prev, None, gaps, rates, period="the year")
    p_we = 2 * norm.sf(0.04 / math.sqrt(2 * 0.02**2))
    p_fu = 2 * norm.sf(0.08 / math.sqrt(2 * 0.02**2))
    assert p_we > 0.05 > p_fu
    assert pts[0].startswith("In December 2025, 84% (80% to 88%) of victims")
    assert "4 points higher than in November 2025 (80%)" in pts[1]
    assert "not statistically significant" in pts[1]
    assert "no published figure for December 2024" in pts[1]
    assert "follow-up (kept informed): down 8 points to 70% (statistically significant)" in pts[2]
    assert pts[-1].endswith("telephone 48%, paper (post) 22%.")


def test_summary_never_quotes_a_suppressed_figure():
    now = _stages({}, se=0.02)
    now.loc[now["stage"] == "whole_experience", ["estimate", "ci_low", "ci_high"]] = np.nan
    now.loc[now["stage"] == "whole_experience", "suppressed"] = True
    rates = pd.DataFrame({"mode": ["telephone"], "RR1": [0.4], "rates_suppressed": [True]})
    pts = headline.executive_summary("2025-12", now, None, None, pd.DataFrame(), rates, "x")
    assert pts == [
        "Too few victims answered in December 2025 for a reliable figure on satisfaction with "
        "the whole experience; the twelve-month figures below are the ones to use."
    ]
