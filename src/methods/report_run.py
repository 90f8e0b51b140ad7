"""Running a report: execute the papermill template, export HTML (and PDF), write the manifest.

Split from :mod:`methods.reporting` (which keeps the tables and charts and re-exports these
names): this module holds the file side of DATA_CONTRACT.md section 3 -- deterministic CSV and
PNG writers, SHA-256 hashes, the run manifest, the notebook runner and the PDF printer.
"""

from __future__ import annotations

import hashlib
import json
import platform
import subprocess
import sys
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


def write_table(df: pd.DataFrame, path: str | Path, float_digits: int = 6) -> Path:
    """Write a tidy CSV table deterministically (fixed float format, no index, LF endings)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_csv(path, index=False, float_format=f"%.{float_digits}f", lineterminator="\n")
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


def write_manifest(out_dir: str | Path, parameters: dict, inputs: dict[str, str]) -> Path:
    """Write ``manifest.json``: inputs' SHA-256, parameters, seed, package versions, commit."""
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
    path = out_dir / "manifest.json"
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return path


TEMPLATE_DIR = Path(__file__).resolve().parents[2] / "notebooks"


def _template(name: str) -> Path:
    path = TEMPLATE_DIR / name
    if not path.exists():
        from methods.errors import UsageError

        raise UsageError(f"notebook template not found: {path} (run from a workbench checkout)")
    return path


def notebook_to_html(ipynb: str | Path, html: str | Path) -> Path:
    """Export an executed notebook to HTML without code cells or prompts."""
    import nbformat
    from nbconvert import HTMLExporter

    nb = nbformat.read(str(ipynb), as_version=4)
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(nb)
    Path(html).write_text(body, encoding="utf-8")
    return Path(html)


def run_report(
    force: str,
    month: str,
    db: str | Path,
    out: str | Path = "reports",
    seed: int = 20250101,
    pdf: bool = False,
    template: str = "monthly_report.ipynb",
    progress: bool = False,
) -> dict:
    """Execute the monthly report notebook with papermill and write the run's files.

    Writes ``<out>/<force>/<month>/``: ``report.ipynb`` (executed), ``report.html`` (no code),
    ``figures/*.png`` and ``tables/*.csv`` (written by the notebook), ``manifest.json``.
    """
    import papermill as pm

    from methods.config import load_force
    from methods.store import Store

    load_force(force)
    db = Path(db).resolve()
    if not db.exists():
        from methods.errors import UsageError

        raise UsageError(f"no store at {db}: run `vsw demo` or `vsw ingest victims` first")
    report_dir = (Path(out) / force / month).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)
    params = {
        "force": force,
        "month": month,
        "db": str(db),
        "seed": int(seed),
        "out_dir": str(report_dir),
    }
    nb_out = report_dir / "report.ipynb"
    pm.execute_notebook(
        str(_template(template)),
        str(nb_out),
        parameters=params,
        cwd=str(report_dir),
        progress_bar=progress,
        log_output=False,
    )
    notebook_to_html(nb_out, report_dir / "report.html")
    with Store(db) as st:
        inputs = st.input_hashes(month) if hasattr(st, "input_hashes") else {}
    public_params = {k: v for k, v in params.items() if k not in ("db", "out_dir")}
    write_manifest(report_dir, public_params, inputs)
    if pdf:
        _print_pdf(report_dir / "report.html", report_dir / "report.pdf")
    return {"report_dir": str(report_dir)}


def _print_pdf(html: Path, pdf: Path) -> Path:
    """Print HTML to PDF with headless Chromium (Debian's ``chromium``) if present."""
    import shutil
    import warnings

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if exe is None:
        warnings.warn(
            "--pdf ignored: chromium is not installed (apt-get install chromium)", stacklevel=2
        )
        return pdf
    cmd = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--print-to-pdf={pdf}",
        "--no-pdf-header-footer",
        html.as_uri(),
    ]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    return pdf


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use the `vsw report` command")
