"""Running the force comparison: the papermill notebook, its HTML and manifest.

``vsw compare`` (through :mod:`methods.workflows.compare`) calls :func:`run_comparison`, which
checks every store first, then executes ``notebooks/force_comparison.ipynb`` with papermill into
``<out>/compare/<month>/`` (``report.ipynb``, ``report.html``, ``tables/force_comparison.csv``,
``tables/force_estimates.csv``, ``figures/*.png``) and writes ``manifest.json`` with the SHA-256
of every store input it read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from methods.config.presets import load_force
from methods.core.errors import UsageError
from methods.core.io import write_manifest
from methods.data.store import Store
from methods.report.compare import window_months
from methods.report.run import _check_month, execute_notebook, notebook_to_html

TEMPLATE = "force_comparison.ipynb"


def _inputs(stores: Mapping[str, Path], months: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for force, db in stores.items():
        if not Path(db).is_file():
            raise UsageError(f"no store for {load_force(force).title}: {Path(db).name} not found")
        with Store(db, read_only=True) as st:
            loaded = set(st.loaded_months())
            missing = [m for m in months if m not in loaded]
            if missing:
                raise UsageError(
                    f"{load_force(force).title}'s store does not hold {', '.join(missing)}: "
                    "the forces' months do not overlap; load them or choose other months"
                )
            for m in months:
                whose = st.require_force(force, m)  # one store may hold several forces
                for label, digest in st.input_hashes(m, force=whose).items():
                    out[f"{force}/{label}"] = digest
    return out


def run_comparison(
    month: str,
    stores: Mapping[str, str | Path],
    out: str | Path = "reports",
    *,
    window: int = 1,
    seed: int = 20250101,
    progress: bool = False,
) -> dict:
    """Compare the forces of ``stores`` (force -> store file) on ``month`` (or a window).

    Raises:
        UsageError: fewer than two forces, an unknown force, a missing store or month.
        ReportError: the notebook failed (the cell and error are named).
    """
    _check_month(month)
    if len(stores) < 2:
        raise UsageError("give at least two forces to compare (--forces a,b,...)")
    stores = {load_force(f).name: Path(p).resolve() for f, p in stores.items()}
    months = window_months(month, window)
    inputs = _inputs(stores, months)
    report_dir = (Path(out) / "compare" / month).resolve()
    if report_dir.exists() and not report_dir.is_dir():
        raise UsageError(f"{report_dir} exists and is not a folder")
    report_dir.mkdir(parents=True, exist_ok=True)
    for old in [*report_dir.glob("tables/*.csv"), *report_dir.glob("figures/*.png")]:
        old.unlink()
    params = {
        "month": month,
        "stores": json.dumps({f: str(p) for f, p in stores.items()}),
        "window": int(window),
        "seed": int(seed),
        "out_dir": str(report_dir),
    }
    nb_out = execute_notebook(
        TEMPLATE, report_dir / "report.ipynb", params, label=f"compare {month}", progress=progress
    )
    notebook_to_html(nb_out, report_dir / "report.html")
    public = {"month": month, "forces": sorted(stores), "window": int(window), "seed": int(seed)}
    manifest = write_manifest(report_dir, public, inputs, months)
    return {"report_dir": str(report_dir), "manifest": str(manifest)}
