"""Strict nbval catches a single changed digit in a committed output (issue 7, Acceptance).

The committed ``notebooks/monthly_report.ipynb`` is copied with its sanitize file into a
temporary folder. One digit of one committed figure (a percentage in the stage table's
``text/html`` output, the great_tables table the reader sees, which the sanitize file does not
mask) is changed in the copy, and
strict nbval (``pytest --nbval`` with every output compared) is run on it in a subprocess,
as CI runs it: it must fail, and name the cell and the two numbers. As a control, the
unmodified copy is run the same way and must pass, so the failure is caused by the mutation
and not by the copy's location or a stale notebook.

The notebook's ``db = None`` parameter makes it build (or reuse) the synthetic demo store
``<tmp>/vsw-demo/<force>-<seed>.duckdb`` through :func:`methods.workflows.demo.ensure_store`; the module
fixture builds it first, so both runs are self-contained on a fresh CI machine and neither
pays for (or races on) the build.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from methods.core.schema import STAGES

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "monthly_report.ipynb"
SANITIZE = ROOT / "notebooks" / "nbval_sanitize.cfg"
#: A number as the stage table prints it (percent with one decimal), as a whole token.
NUMBER = re.compile(r"(?<![\w.])\d{1,3}\.\d(?![\w.])")


def _text(value) -> str:
    """A notebook multi-line string (list of lines or one string) as one string."""
    return "".join(value) if isinstance(value, list) else value


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _sanitize(text: str) -> str:
    """Apply the sanitize file's regexes in order, as nbval does."""
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read(SANITIZE)
    for section in cfg.sections():
        text = re.sub(cfg[section]["regex"], cfg[section]["replace"], text)
    return text


def _cell_text(label: str) -> str:
    """How a stage label appears as a table cell in the great_tables HTML."""
    return f">{label}</td>"


def _stage_table_output(nb: dict) -> tuple[int, dict]:
    """(index among code cells, display_data output) of the month's stage table."""
    from methods.report.tables import STAGE_LABELS

    for i, cell in enumerate(_code_cells(nb)):
        for out in cell.get("outputs", []):
            html = _text(out.get("data", {}).get("text/html", ""))
            if "Satisfied" in html and all(
                _cell_text(STAGE_LABELS[s]) in html for s in (*STAGES, "whole_experience")
            ):
                return i, out
    raise AssertionError(
        f"{NOTEBOOK.name}: no committed output holds the stage table (a text/html output with "
        "'Satisfied' and all five stage labels as cells); update _stage_table_output if the "
        "notebook changed shape"
    )


def _mutate(nb: dict) -> dict:
    """Change the last digit of the first percentage on a stage's row of the stage table.

    Returns ``{"cell": index among code cells, "old": number, "new": number}``; ``nb`` is
    changed in place.
    """
    from methods.report.tables import STAGE_LABELS

    cell_idx, out = _stage_table_output(nb)
    html = out["data"]["text/html"]
    lines = html if isinstance(html, list) else html.splitlines(keepends=True)
    labels = [_cell_text(STAGE_LABELS[s]) for s in ("whole_experience", *STAGES)]
    for label in labels:
        for k, line in enumerate(lines):
            pos = line.find(label)
            if pos < 0:
                continue
            # the row's first percentage: on the label's line or the next cell's line
            m = NUMBER.search(line, pos + len(label))
            if m is None and k + 1 < len(lines):
                k, line = k + 1, lines[k + 1]
                m = NUMBER.search(line)
            if m is None:
                continue
            old = m.group()
            new = old[:-1] + str((int(old[-1]) + 1) % 10)
            lines[k] = line[: m.start()] + new + line[m.end() :]
            out["data"]["text/html"] = lines
            return {"cell": cell_idx, "old": old, "new": new, "line": line, "new_line": lines[k]}
    raise AssertionError(
        f"{NOTEBOOK.name}: the stage table's text/html output has no percentage after a stage "
        "label (every stage suppressed?); pick another committed figure to mutate"
    )


def _run_nbval(notebook: Path, cfg: Path) -> subprocess.CompletedProcess:
    """Strict nbval on ``notebook`` in a subprocess, from the notebook's folder, as CI runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTEST_ADDOPTS", "VSW_DB")}
    cmd = [
        sys.executable,
        "-m",
        "pytest",
        "--nbval",
        "--nbval-sanitize-with",
        str(cfg),
        "--nbval-current-env",
        str(notebook),
        "-p",
        "no:cacheprovider",
    ]
    return subprocess.run(
        cmd, cwd=notebook.parent, capture_output=True, text=True, env=env, timeout=300
    )


@pytest.fixture(scope="module")
def committed() -> dict:
    """The committed notebook, with the demo store its default parameters read built first."""
    from methods.workflows.demo import ensure_store

    nb = json.loads(NOTEBOOK.read_text(encoding="utf-8"))
    params = [c for c in _code_cells(nb) if "parameters" in c["metadata"].get("tags", [])]
    assert len(params) == 1, "the notebook needs exactly one cell tagged 'parameters'"
    ns: dict = {}
    exec(_text(params[0]["source"]), ns)  # the committed parameters cell: literals only
    if ns.get("db") is None:
        ensure_store(None, force=ns["force"], seed=ns["seed"])
    return nb


def _copy(tmp_path: Path, nb: dict | None = None) -> tuple[Path, Path]:
    """Copy the notebook (or write ``nb``) and the sanitize file into ``tmp_path``."""
    cfg = shutil.copy(SANITIZE, tmp_path / SANITIZE.name)
    dst = tmp_path / NOTEBOOK.name
    if nb is None:
        shutil.copy(NOTEBOOK, dst)
    else:
        dst.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return dst, Path(cfg)


def test_unmodified_copy_passes_strict_nbval(committed, tmp_path):
    """Control: the committed notebook, copied as is, passes strict nbval cell by cell."""
    nb_path, cfg = _copy(tmp_path)
    res = _run_nbval(nb_path, cfg)
    log = res.stdout + res.stderr
    n_cells = len(_code_cells(committed))
    assert res.returncode == 0, f"the unmodified copy fails strict nbval:\n{log[-6000:]}"
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|skipped|failed)", log)}
    assert counts.get("passed", 0) + counts.get("skipped", 0) == n_cells, log[-3000:]
    assert counts.get("passed", 0) >= n_cells - 1, f"nbval skipped cells:\n{log[-3000:]}"


def test_one_changed_digit_fails_strict_nbval(committed, tmp_path):
    """One digit of one committed percentage changed: nbval fails on that cell, naming it."""
    nb = json.loads(json.dumps(committed))
    change = _mutate(nb)
    nb_path, cfg = _copy(tmp_path, nb)

    # The mutation is real: the file differs from the committed one, in that output only.
    assert nb_path.read_bytes() != NOTEBOOK.read_bytes()
    back = json.loads(nb_path.read_text(encoding="utf-8"))
    changed = [
        i
        for i, (a, b) in enumerate(zip(_code_cells(back), _code_cells(committed), strict=True))
        if a != b
    ]
    assert changed == [change["cell"]]
    assert change["old"] != change["new"]
    # ... and the sanitize file does not mask it.
    assert _sanitize(change["line"]) != _sanitize(change["new_line"]), change

    res = _run_nbval(nb_path, cfg)
    log = res.stdout + res.stderr
    n_cells = len(_code_cells(committed))
    assert res.returncode == 1, f"strict nbval did not fail on a changed digit:\n{log[-6000:]}"
    # Only the mutated cell fails; nbval names it and shows both numbers.
    counts = {k: int(n) for n, k in re.findall(r"(\d+) (passed|skipped|failed)", log)}
    assert counts.get("failed") == 1, log[-3000:]
    assert counts.get("passed", 0) + counts.get("skipped", 0) == n_cells - 1, log[-3000:]
    assert f"::Cell {change['cell']}" in log, log[-3000:]
    assert "Cell outputs differ" in log, log[-3000:]
    diff_lines = [ln for ln in log.splitlines() if ln.lstrip().startswith(("-", "+"))]
    assert any(change["old"] in ln for ln in diff_lines), log[-3000:]
    assert any(change["new"] in ln for ln in diff_lines), log[-3000:]
