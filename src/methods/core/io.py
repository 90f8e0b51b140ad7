"""File helpers every layer may use: deterministic CSV and PNG writers, SHA-256, the run manifest.

DATA_CONTRACT.md section 3: the same inputs and seed give byte-identical tables, so every writer
here fixes float formats, line endings and metadata.
"""

from __future__ import annotations

import hashlib
import json
import platform
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
