"""``vsw compare``: find (or, for the demo, build) each force's store and run the comparison."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from methods.config.presets import load_force
from methods.core.errors import UsageError
from methods.report.compare_run import run_comparison
from methods.workflows.demo import DEFAULT_SEED, ensure_store


def force_names(forces: Sequence[str]) -> list[str]:
    """The canonical names of ``forces`` (blanks skipped); a force named twice is refused."""
    names = [load_force(f.strip()).name for f in forces if f.strip()]
    if len(set(names)) != len(names):
        raise UsageError(f"a force is named twice in --forces: {', '.join(names)}")
    return names


def force_stores(
    forces: Sequence[str], store_dir: str | Path, *, demo: bool = False, seed: int = DEFAULT_SEED
) -> dict[str, Path]:
    """``{force: <store_dir>/<force>.duckdb}``; with ``demo`` a missing store is built from
    the synthetic default (a year of the force's synthetic data), else it is an error."""
    names = force_names(forces)
    out = {}
    for name in names:
        path = Path(store_dir) / f"{name}.duckdb"
        if not path.is_file():
            if not demo:
                raise UsageError(
                    f"no store for {load_force(name).title} at {path}: ingest its months into "
                    "that file, or give --demo to build synthetic stores"
                )
            ensure_store(path, force=name, seed=seed)
        out[name] = path
    return out


def compare(
    month: str,
    forces: Sequence[str],
    *,
    store_dir: str | Path = "data/forces",
    out: str | Path = "reports",
    window: int = 1,
    demo: bool = False,
    seed: int = DEFAULT_SEED,
    progress: bool = False,
    db: str | Path | None = None,
) -> dict:
    """Run the force comparison for ``month`` (see :func:`methods.report.compare_run.run_comparison`).

    Each force is read from ``<store_dir>/<force>.duckdb``, or, with ``db``, every force from
    that one store (which holds the forces side by side; each force's months are checked to
    be its own).
    """
    if db is not None:
        if demo:
            raise UsageError("--demo builds one store per force; it cannot be used with --db")
        names = force_names(forces)
        path = Path(db)
        if not path.is_file():
            raise UsageError(f"no store at {path}: ingest the forces' months into it first")
        stores = {name: path for name in names}
    else:
        stores = force_stores(forces, store_dir, demo=demo, seed=seed)
    return run_comparison(month, stores, out, window=window, seed=seed, progress=progress)
