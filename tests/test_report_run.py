"""The report runner: months in parallel, the manifest's input hashes, quiet stderr, the PDF.

Report runs are the slow part (several seconds each), so one module-scoped set of runs serves
most tests: ``vsw report --month 2025-11`` and ``--from 2025-12`` one after the other, then
``--from 2025-11 --to 2025-12 --jobs 2`` (with Chromium hidden from PATH) on the same store.
"""

from __future__ import annotations

import csv
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from conftest import ROOT, TEST_MONTHS, TEST_SEED, run_vsw
from methods.core.errors import UsageError
from methods.report import run as report_run

TCP_NOISE = "Kernel is running over TCP without encryption"
PARSE_NOISE = "Unable to parse line"
PAIR = TEST_MONTHS[-2:]  # the two months run sequentially and in parallel


def _tables(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((folder / "tables").glob("*.csv"))}


def _manifest(folder: Path) -> dict:
    return json.loads((folder / "manifest.json").read_text())


@pytest.fixture(scope="module")
def runs(demo_store, tmp_path_factory):
    """Sequential and parallel CLI runs of the last two test months on one store copy."""
    base = tmp_path_factory.mktemp("report_run")
    db = base / "store.duckdb"
    shutil.copy(demo_store, db)
    seq, par = base / "seq", base / "par"
    common = ("--force", "durham", "--seed", str(TEST_SEED))
    one = run_vsw("report", *common, "--month", PAIR[0], "--out", str(seq), "--quiet", db=db)
    assert one.returncode == 0, one.stderr[-3000:]
    # --from alone runs to the last loaded month (PAIR[1]), sequentially, with a progress bar
    two = run_vsw("report", *common, "--from", PAIR[1], "--out", str(seq), db=db)
    assert two.returncode == 0, two.stderr[-3000:]
    # parallel, with --pdf but no Chromium on PATH (git stays for the manifest's commit)
    bin_dir = base / "bin"
    bin_dir.mkdir()
    if shutil.which("git"):
        (bin_dir / "git").symlink_to(shutil.which("git"))
    jobs = ("--from", PAIR[0], "--to", PAIR[1], "--jobs", "2", "--pdf", "--quiet")
    three = run_vsw(
        "report", *common, *jobs, "--out", str(par), db=db, env_extra={"PATH": str(bin_dir)}
    )
    assert three.returncode == 0, three.stderr[-3000:]
    return {"db": db, "seq": seq / "durham", "par": par / "durham", "cli": (one, two, three)}


# --------------------------------------------------------------------------- parallel runs


def test_parallel_tables_byte_identical_to_one_month_at_a_time(runs):
    for month in PAIR:
        seq, par = _tables(runs["seq"] / month), _tables(runs["par"] / month)
        assert len(seq) >= 5, f"{month}: too few tables written: {sorted(seq)}"
        assert seq == par, f"{month}: tables differ: " + ", ".join(
            k for k in seq if seq[k] != par.get(k)
        )
    assert "2 reports for durham" in runs["cli"][2].stdout


def test_every_table_written_is_in_the_data_contract_with_its_columns(runs):
    """docs/data_contract.md section 3 lists each report table and its columns, in order."""
    contract = (ROOT / "docs" / "data_contract.md").read_text(encoding="utf-8")
    listed = {
        m.group(1): [c.strip() for c in m.group(2).split(",")]
        for m in re.finditer(r"^\| `(\w+)` \|[^|]*\| ([^|]+) \|$", contract, flags=re.M)
    }
    written = {}
    for path in sorted((runs["seq"] / PAIR[1] / "tables").glob("*.csv")):
        with path.open(newline="", encoding="utf-8") as f:
            written[path.stem] = next(csv.reader(f))
    assert written and set(written) == set(listed), (sorted(written), sorted(listed))
    assert {k: listed[k] for k in written} == written


def test_from_without_to_runs_to_the_last_loaded_month(runs):
    assert sorted(p.name for p in runs["seq"].iterdir()) == list(PAIR)
    assert f"{PAIR[1]} to {PAIR[1]}" in runs["cli"][1].stdout
    assert "month" in runs["cli"][1].stderr  # the tqdm bar over months (no --quiet)


def test_report_stderr_has_no_kernel_or_parameter_noise(runs):
    for res in runs["cli"]:
        assert TCP_NOISE not in res.stderr and PARSE_NOISE not in res.stderr, res.stderr
        assert "ERROR" not in res.stderr and "Traceback" not in res.stderr, res.stderr


def test_papermill_filter_drops_only_the_comment_false_alarm():
    """papermill counts "=" in comments; a line with two "=" in its code is still reported."""
    logger = logging.getLogger("papermill.translators")
    report_run._quiet_papermill()
    kept = []
    handler = logging.Handler()
    handler.emit = kept.append
    logger.addHandler(handler)
    try:
        logger.warning("Unable to parse line 4 'surveys = None  # None = every survey'.")
        logger.warning("Unable to parse line 2 'a = b = 1'.")
        logger.warning("Black encountered an error, skipping formatting (x)")
    finally:
        logger.removeHandler(handler)
    assert [r.getMessage() for r in kept] == [
        "Unable to parse line 2 'a = b = 1'.",
        "Black encountered an error, skipping formatting (x)",
    ]


def _failing_template(folder: Path, bad_month: str) -> Path:
    """A tiny report template taking the runner's parameters; it raises for ``bad_month``."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "language": "python", "display_name": "P3"}
    params = 'force = "durham"\nmonth = "2025-01"\ndb = None\nseed = 1\nout_dir = None\n'
    nb.cells = [
        nbformat.v4.new_code_cell(params, metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(
            f"if month == {bad_month!r}:\n    raise ValueError('no extract for ' + month)\n"
            "print('report for', month)"
        ),
    ]
    path = folder / "monthly_report.ipynb"
    nbformat.write(nb, str(path))
    return path


def test_failed_months_are_named_after_the_others_finish(demo_store, tmp_path):
    template = _failing_template(tmp_path, TEST_MONTHS[1])
    jobs = (os.cpu_count() or 1) + 1
    with pytest.warns(UserWarning, match=rf"--jobs {jobs} exceeds the {jobs - 1} CPU"):
        with pytest.raises(report_run.ReportsFailed) as err:
            report_run.run_reports(
                "durham",
                TEST_MONTHS,
                demo_store,
                tmp_path / "out",
                jobs=jobs,
                template=template,
                progress=False,
            )
    exc = err.value
    assert list(exc.failures) == [TEST_MONTHS[1]]
    assert f"{TEST_MONTHS[1]}: the report notebook failed in cell [3] with ValueError" in str(exc)
    assert "no extract for " + TEST_MONTHS[1] in str(exc)
    assert str(exc).startswith(f"1 of {len(TEST_MONTHS)} monthly reports failed")
    assert [r["month"] for r in exc.results] == [TEST_MONTHS[0], TEST_MONTHS[2]]
    for month in (TEST_MONTHS[0], TEST_MONTHS[2]):
        done = tmp_path / "out" / "durham" / month
        assert (done / "manifest.json").is_file() and (done / "report.html").is_file()
    failed = tmp_path / "out" / "durham" / TEST_MONTHS[1]
    assert not (failed / "manifest.json").exists()  # an incomplete report has no manifest
    assert "no extract for" in (failed / "report.ipynb").read_text()


def test_cli_failure_exit_1_names_the_month_without_traceback(
    demo_store, tmp_path, monkeypatch, capsys
):
    from methods import cli

    bad = TEST_MONTHS[-1]
    _failing_template(tmp_path, bad)
    monkeypatch.setattr(report_run, "TEMPLATE_DIR", tmp_path)
    monkeypatch.delenv("VSW_DEBUG", raising=False)
    args = ["--db", str(demo_store), "report", "--force", "durham", "--from", bad, "--quiet"]
    rc = cli.main([*args, "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == cli.EXIT_INTERNAL
    assert f"{bad}: the report notebook failed in cell [3] with ValueError" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("--from", "2025-12", "--to", "2025-10"), "--from 2025-12 is after --to 2025-10"),
        (("--from", "2025-08", "--to", "2025-11"), "not loaded in"),
        (("--from", "2025-10", "--to", "2025-11", "--jobs", "0"), "--jobs must be at least 1"),
        (("--month", "2025-11", "--from", "2025-10"), "not allowed with argument"),
        (("--month", "2025-11", "--to", "2025-12"), "--to goes with --from"),
        (("--to", "2025-12"), "one of the arguments --month --from is required"),
    ],
)
def test_usage_errors_before_any_work(demo_store, tmp_path, args, needle):
    res = run_vsw("report", "--force", "durham", *args, "--out", str(tmp_path), db=demo_store)
    assert res.returncode == 2, res.stderr
    assert needle in res.stderr and "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir()), "nothing may be written on a usage error"


def test_missing_months_named_with_how_to_load_them(demo_store, tmp_path):
    with pytest.raises(UsageError) as err:
        report_run.run_reports("durham", ["2025-08", "2025-09", "2025-10"], demo_store, tmp_path)
    msg = str(err.value)
    assert "2025-08, 2025-09 (the store holds 2025-10..2025-12 (3 months))" in msg
    assert "vsw ingest victims FILE --month YYYY-MM" in msg


def test_month_range_crosses_the_year():
    assert report_run.month_range("2024-11", "2025-02") == [
        "2024-11",
        "2024-12",
        "2025-01",
        "2025-02",
    ]
    assert report_run.month_range("2025-03", "2025-03") == ["2025-03"]


# --------------------------------------------------------------------------- manifest


def test_unchanged_rerun_gives_identical_input_and_output_hashes(runs):
    month = PAIR[1]
    first, again = _manifest(runs["seq"] / month), _manifest(runs["par"] / month)
    assert first["inputs_sha256"] == again["inputs_sha256"]
    assert first["outputs_sha256"] == again["outputs_sha256"]
    # the inputs cover every loaded month of the 24 the report reads, not only its own
    assert first["input_months"] == TEST_MONTHS
    for m in TEST_MONTHS:
        assert f"victims {m} (victims_{m}.csv)" in first["inputs_sha256"], m
        assert any(k.startswith(f"sample burglary {m}") for k in first["inputs_sha256"]), m


@pytest.fixture(scope="module")
def changed_run(runs, demo_store, tmp_path_factory):
    """2025-10's victims replaced by an edited extract, then the 2025-12 report rerun (with
    --pdf when Chromium is installed)."""
    from methods.data.store import Store
    from methods.workflows.synthetic import write_synthetic

    base = tmp_path_factory.mktemp("changed")
    db = base / "store.duckdb"
    shutil.copy(demo_store, db)
    early = TEST_MONTHS[0]
    write_synthetic("durham", [early], seed=TEST_SEED, out_dir=base / "syn")
    original = base / "syn" / f"victims_{early}.csv"
    edited = base / "edit" / original.name
    edited.parent.mkdir()
    lines = original.read_text().splitlines(keepends=True)
    address = next(csv.DictReader(lines[:2]))["address"]
    assert address, "the first victim has no address to edit"
    changed = lines[1].replace(address, address + " Annex", 1)  # no estimate moves
    edited.write_text("".join([lines[0], changed, *lines[2:]]))
    with Store(db) as st:
        st.ingest_victims(edited, month=early, replace=True)
    pdf = report_run.chromium_path() is not None
    res = report_run.run_report("durham", PAIR[1], db, base / "out", TEST_SEED, pdf=pdf)
    return {"original": original, "edited": edited, "result": res}


def test_manifest_hashes_change_when_an_earlier_month_changes(runs, changed_run):
    """Only the replaced month's victims hash changes, to the SHA-256 of the new file's bytes."""
    early = TEST_MONTHS[0]
    label = f"victims {early} (victims_{early}.csv)"
    before = _manifest(runs["seq"] / PAIR[1])["inputs_sha256"]
    after = _manifest(Path(changed_run["result"]["report_dir"]))["inputs_sha256"]
    assert before[label] == hashlib.sha256(changed_run["original"].read_bytes()).hexdigest()
    assert after[label] == hashlib.sha256(changed_run["edited"].read_bytes()).hexdigest()
    assert after[label] != before[label]
    assert {k for k in after if after[k] != before.get(k)} == {label}
    assert set(after) == set(before)


# --------------------------------------------------------------------------- HTML and PDF


def test_html_prints_on_a4_offline(runs):
    html = (runs["seq"] / PAIR[1] / "report.html").read_text()
    assert "@page { size: A4" in html and "max-width: 100% !important" in html
    assert not re.search(r"<script[^>]+src=\"https?:", html), "CDN scripts in the HTML"
    assert "import " not in html


def test_pdf_is_written_on_a4(changed_run):
    """``run_report(..., pdf=True)`` prints report.pdf with Chromium, on A4 (the print CSS)."""
    if report_run.chromium_path() is None:
        pytest.skip("chromium is not installed (Debian: apt-get install chromium)")
    pdf = Path(changed_run["result"]["pdf"])
    assert pdf == Path(changed_run["result"]["report_dir"]) / "report.pdf"
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and len(data) > 10_000
    # A4 is 595.3 x 841.9 pt; Letter, Chromium's default without the print CSS, 612 x 792
    assert re.search(rb"/MediaBox \[0 0 59[45]\.\d+ 84[12]\.\d+\]", data)


def _html(folder: Path) -> Path:
    path = folder / "page.html"
    path.write_text("<!DOCTYPE html><html><body><h1>Report</h1><p>Satisfied: 81%</p></body></html>")
    return path


def test_pdf_without_chromium_warns_and_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.warns(UserWarning, match=r"Chromium is not installed \(.*apt-get install chromium"):
        out = report_run._print_pdf(_html(tmp_path), tmp_path / "r.pdf")
    assert out is None and not (tmp_path / "r.pdf").exists()


def test_cli_warns_once_when_pdf_asked_without_chromium(runs):
    """The parallel run had --pdf and no Chromium on PATH: one warning, no PDFs, reports made."""
    err = runs["cli"][2].stderr
    assert err.count("vsw: warning: --pdf: no PDF written: Chromium is not installed") == 1, err
    assert "apt-get install chromium" in err
    assert not list(runs["par"].glob("*/report.pdf"))
    assert len(list(runs["par"].glob("*/report.html"))) == len(PAIR)


def test_chromium_failure_is_a_clear_report_error(tmp_path, monkeypatch):
    fake = tmp_path / "chromium"
    fake.write_text("#!/bin/sh\necho 'cannot open display: fake failure' >&2\nexit 21\n")
    fake.chmod(0o755)
    monkeypatch.setattr(shutil, "which", lambda name: str(fake) if name == "chromium" else None)
    with pytest.raises(report_run.ReportError) as err:
        report_run._print_pdf(_html(tmp_path), tmp_path / "r.pdf")
    msg = str(err.value)
    assert "exit code 21" in msg and "fake failure" in msg and "HTML report is complete" in msg
    assert not isinstance(err.value, subprocess.CalledProcessError)
    assert not (tmp_path / "r.pdf").exists()


# --------------------------------------------------------------------------- CLI start-up


def test_parser_built_without_importing_the_simulation_engine():
    code = (
        "import sys, methods.cli as c; c.build_parser(); "
        "print(sorted(m for m in ('methods.simulation.run', 'pandas', 'scipy') if m in sys.modules))"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert res.stdout.strip() == "[]", res.stdout + res.stderr
