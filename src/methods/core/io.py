"""File helpers every layer may use: deterministic CSV and PNG writers, SHA-256, the run manifest.

docs/data_contract.md section 3: the same inputs and seed give byte-identical tables, so every writer
here fixes float formats, line endings and metadata.

Every CSV the workbench writes goes through :func:`csv_text` / :func:`write_table`, which neutralise
spreadsheet formulas (CSV injection, CWE-1236): a text cell starting with ``=``, ``+``, ``-``,
``@``, tab or carriage return gets a leading single quote, as OWASP's "CSV Injection" guidance
advises, so a spreadsheet shows it as text instead of running it. Numeric columns, and text cells
that are plain numbers (``-1.5``), are left as they are.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import platform
import re
import subprocess
from importlib import metadata
from pathlib import Path

import pandas as pd

#: Packages whose versions go into every manifest.
MANIFEST_PACKAGES = (
    "victim-survey-workbench",
    "numpy",
    "pandas",
    "scipy",
    "scikit-learn",
    "matplotlib",
    "duckdb",
    "papermill",
    "nbconvert",
)

# --------------------------------------------------------------------------- files


def sha256_file(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sha256_frame(df: pd.DataFrame) -> str:
    """SHA-256 of a DataFrame's canonical CSV form (sorted columns, row order kept)."""
    return hashlib.sha256(df.to_csv(index=False).encode()).hexdigest()


#: First characters that make a spreadsheet treat a cell as a formula (OWASP, "CSV Injection").
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")

_PLAIN_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def neutralise_cell(value: object) -> object:
    """One cell made safe for a spreadsheet: ``'`` before a text that starts like a formula.

    Non-text values, and texts that are plain decimal numbers such as ``-1.5`` or ``+44``, are
    returned unchanged (OWASP, "CSV Injection": prepend a single quote).
    """
    if (
        isinstance(value, str)
        and value.startswith(FORMULA_TRIGGERS)
        and not _PLAIN_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def neutralise(df: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``df`` whose text cells and column names are :func:`neutralise_cell`-ed.

    Only columns of object, string or category dtype are looked at; numeric, boolean and
    datetime columns (negative numbers included) pass through untouched.
    """
    out = df.copy()
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if isinstance(col.dtype, pd.CategoricalDtype):
            col = col.astype(object)
        elif not (pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col)):
            continue
        values = col.to_numpy(dtype=object, na_value=None)
        hit = [
            j for j, v in enumerate(values) if isinstance(v, str) and v.startswith(FORMULA_TRIGGERS)
        ]
        if hit:
            values = values.copy()
            for j in hit:
                values[j] = neutralise_cell(values[j])
            out.isetitem(i, pd.Series(values, index=df.index, dtype=object))
    out.columns = [neutralise_cell(c) for c in df.columns]
    return out


def _float_format(float_digits: int | None, float_format: str | None) -> str | None:
    if float_format is not None:
        return float_format
    return None if float_digits is None else f"%.{float_digits}f"


def _has_cr(df: pd.DataFrame) -> bool:
    """Whether a text cell or column name holds a carriage return."""
    if any(isinstance(c, str) and "\r" in c for c in df.columns):
        return True
    for i in range(df.shape[1]):
        col = df.iloc[:, i]
        if pd.api.types.is_object_dtype(col) or pd.api.types.is_string_dtype(col):
            if any(isinstance(v, str) and "\r" in v for v in col.to_numpy(dtype=object)):
                return True
    return False


def csv_text(
    df: pd.DataFrame, float_digits: int | None = 6, *, float_format: str | None = None
) -> str:
    """The CSV text :func:`write_table` writes, for callers that keep it in memory.

    Arguments:
        df: the table (its index is not written).
        float_digits: decimals of float columns (``None``: pandas' shortest repr).
        float_format: a printf format for floats, overriding ``float_digits``.

    Notes:
        Python's csv writer (which pandas uses) quotes a cell holding a carriage return only
        when CR is part of the line terminator, so a table with such a cell is written with
        CRLF terminators (CR cells quoted), read back and rewritten record by record with LF
        terminators: every record still ends in ``\n`` and a stray CR cannot split a row.
    """
    safe = neutralise(df)
    fmt = _float_format(float_digits, float_format)
    if not _has_cr(safe):
        return safe.to_csv(index=False, float_format=fmt, lineterminator="\n")
    crlf = safe.to_csv(index=False, float_format=fmt, lineterminator="\r\n")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    records = []
    for row in csv.reader(io.StringIO(crlf, newline="")):
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        records.append(buf.getvalue()[:-2] + "\n")
    return "".join(records)


def write_table(
    df: pd.DataFrame,
    path: str | Path,
    float_digits: int | None = 6,
    *,
    float_format: str | None = None,
) -> Path:
    """Write a tidy CSV table deterministically and safely for spreadsheets.

    Fixed float format, no index, LF endings, UTF-8 (:func:`csv_text`); text cells that start
    like a formula are neutralised (:func:`neutralise`) and the csv module quotes any cell that
    needs it.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = csv_text(df, float_digits, float_format=float_format)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        fh.write(text)
    return path


def save_figure(fig, path: str | Path) -> Path:
    """Save a matplotlib figure as PNG without time-dependent metadata."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, metadata={"Software": None})
    return path


def package_versions() -> dict[str, str]:
    """Installed versions of the packages that shape the numbers."""
    out = {"python": platform.python_version()}
    for name in MANIFEST_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_commit(cwd: str | Path | None = None) -> str | None:
    """The current git commit of the workbench checkout, or None outside a git tree."""
    try:
        here = Path(cwd) if cwd else Path(__file__).resolve().parent
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10
        )
        return res.stdout.strip() or None if res.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def write_manifest(
    out_dir: str | Path,
    parameters: dict,
    inputs: dict[str, str],
    input_months: list[str] | None = None,
) -> Path:
    """Write ``manifest.json``: inputs' SHA-256, parameters, seed, package versions, commit.

    Arguments:
        out_dir: the report folder; ``outputs_sha256`` covers its ``tables/*.csv``.
        parameters: the notebook parameters worth recording (no local paths).
        inputs: ``{label: sha256}`` of every input file the report read
            (:func:`report_inputs`).
        input_months: the loaded months those inputs cover (recorded when given).
    """
    out_dir = Path(out_dir)
    manifest = {
        "parameters": parameters,
        "seed": parameters.get("seed"),
        "inputs_sha256": dict(sorted(inputs.items())),
        "outputs_sha256": {
            str(p.relative_to(out_dir)): sha256_file(p)
            for p in sorted(out_dir.glob("tables/*.csv"))
        },
        "versions": package_versions(),
        "git_commit": git_commit(),
    }
    if input_months is not None:
        manifest["input_months"] = list(input_months)
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path
