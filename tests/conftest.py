"""Shared fixtures: a small synthetic demo store and one demo report, built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: A short period keeps CI fast; the demo itself builds a whole year.
TEST_MONTHS = ["2025-10", "2025-11", "2025-12"]
TEST_SEED = 20250101


def run_vsw(
    *args: str,
    db: str | Path | None = None,
    cwd: str | Path | None = None,
    env_extra: dict[str, str] | None = None,
    **kw,
):
    """Run the ``vsw`` command in a subprocess, as a user would, and capture its output.

    The caller's ``VSW_DB``, ``VSW_DEBUG`` and ``VSW_EXTRACT_KEY`` are not passed on (a test
    names its store and key); ``env_extra`` adds or overrides variables (e.g. ``PATH``).
    """
    cmd = [sys.executable, "-m", "methods.cli"]
    if db is not None:
        cmd += ["--db", str(db)]
    drop = ("VSW_DB", "VSW_DEBUG", "VSW_EXTRACT_KEY")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(env_extra or {})
    return subprocess.run(
        [*cmd, *args], capture_output=True, text=True, cwd=cwd or ROOT, env=env, timeout=600, **kw
    )


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> Path:
    """Synthetic durham extracts (victims, samples, responses) for TEST_MONTHS."""
    from methods.workflows.synthetic import write_synthetic

    out = tmp_path_factory.mktemp("synthetic")
    write_synthetic("durham", TEST_MONTHS, seed=TEST_SEED, out_dir=out)
    return out


@pytest.fixture(scope="session")
def demo_store(tmp_path_factory) -> Path:
    """A store holding TEST_MONTHS of synthetic durham data (read-only for tests: copy it)."""
    from methods.workflows.demo import build_store

    db = tmp_path_factory.mktemp("store") / "demo.duckdb"
    build_store(db, force="durham", months=TEST_MONTHS, seed=TEST_SEED)
    return db


@pytest.fixture
def store_copy(demo_store, tmp_path) -> Path:
    """A private copy of the demo store a test may change."""
    dst = tmp_path / "store.duckdb"
    shutil.copy(demo_store, dst)
    return dst


# Property tests draw the same examples on every run and machine (CI must not pass or fail by
# chance); `HYPOTHESIS_PROFILE=explore pytest ...` draws new ones when looking for bugs.
from hypothesis import settings as _hyp_settings  # noqa: E402

_hyp_settings.register_profile("ci", derandomize=True, print_blob=True)
_hyp_settings.register_profile("explore", derandomize=False)
_hyp_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
