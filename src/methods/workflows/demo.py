"""The embedded default: a year of synthetic force data in a DuckDB store, and its report.

This module only wires existing steps together (synthetic months through the real month
pipeline, :mod:`methods.workflows.synthetic`, then the report); it holds no method of its own. ``vsw demo`` and the notebooks' default parameters use it, so a fresh
clone produces the same store and the same numbers on every machine.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from methods.config.presets import load_force
from methods.data.store import Store
from methods.report.tables import run_report
from methods.synthetic.generate import months_range
from methods.workflows.synthetic import build_months

#: A fixed default period, never "the last 12 months from today": reruns must give the same digits.
DEFAULT_MONTHS = "2025-01:2025-12"
DEFAULT_SEED = 20250101


def build_store(
    db: str | Path,
    force: str = "durham",
    months: list[str] | None = None,
    seed: int = DEFAULT_SEED,
    workdir: str | Path | None = None,
    progress: bool = False,
) -> dict:
    """Generate synthetic extracts for ``force`` and ingest them into the store at ``db``.

    Arguments:
        db: DuckDB file to create or update (months already loaded are replaced).
        force: force preset name (see ``methods.config.presets.list_forces``).
        months: list of ``YYYY-MM``; default :data:`DEFAULT_MONTHS`.
        seed: synthetic data seed.
        workdir: where the synthetic CSV extracts are written (default: a temporary folder,
            removed afterwards; the store keeps their SHA-256).
        progress: show a progress bar.

    Returns:
        ``{"db": path, "months": [...], "surveys": [...]}``
    """
    preset = load_force(force)
    months = months or months_range(DEFAULT_MONTHS)
    db = Path(db)
    db.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vsw-synth-") as tmp:
        with Store(db) as st:
            build_months(st, preset, months, seed, Path(workdir or tmp), progress=progress)
    surveys = [s.name for s in preset.surveys]
    return {"db": str(db), "months": months, "surveys": surveys}


def _code_fingerprint() -> str:
    """First 12 hex digits of the SHA-256 of the package's source and config files."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for path in sorted(root.rglob("*")):
        if path.suffix in (".py", ".toml", ".txt") and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(root)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()[:12]


def ensure_store(
    db: str | Path | None = None,
    force: str = "durham",
    months: list[str] | None = None,
    seed: int = DEFAULT_SEED,
) -> Path:
    """Return a store holding the synthetic demo data, building it first if it is missing.

    With ``db=None`` the store is built in a per-force, per-seed (and, for other than the
    default months, per-period) temporary location, so a notebook run with default parameters
    (as nbval does) is self-contained.
    """
    if db is None:
        span = "" if months is None else f"-{months[0]}_{months[-1]}"
        # keyed by the code too: a store cached by an older workbench (another store schema,
        # other synthetic answers) is never reused
        name = f"{force}-{seed}{span}-{_code_fingerprint()}.duckdb"
        db = Path(tempfile.gettempdir()) / "vsw-demo" / name

    db = Path(db)
    if not db.exists():
        # Build beside the target and rename into place, so a process that starts while another
        # is building (two notebooks run at once) never opens a half-built store: it either
        # builds its own copy or finds the complete file.
        part = db.with_name(f".{db.name}.{os.getpid()}.part")
        part.unlink(missing_ok=True)
        try:
            build_store(part, force=force, months=months, seed=seed)
            os.replace(part, db)
        finally:
            part.unlink(missing_ok=True)
            Path(f"{part}.wal").unlink(missing_ok=True)
    return db


def run_demo(
    force: str = "durham",
    db: str | Path = "data/workbench.duckdb",
    out: str | Path = "reports",
    months: list[str] | None = None,
    seed: int = DEFAULT_SEED,
    progress: bool = True,
) -> dict:
    """Build a year of synthetic ``force`` data into ``db`` and report its last month."""

    built = build_store(db, force=force, months=months, seed=seed, progress=progress)
    rep = run_report(force=force, month=built["months"][-1], db=db, out=out, seed=seed)
    return {**built, "report_dir": rep["report_dir"]}
