"""One month pipeline: the demo store is what a user gets by running `vsw` on the same files.

The synthetic builder writes the victims extract, draws each survey with
methods.workflows.month.draw_month and ingests the simulated responses file. Doing the same by
hand with the command line (`vsw ingest victims`, `vsw sample`, `vsw ingest responses`) on the
files it wrote must give the same victims, the same samples (case by case, with the same
inclusion probabilities) and the same responses; and a second build with the same seed must
give byte-identical files.
"""

from __future__ import annotations

import filecmp

import numpy as np
import pandas as pd
import pytest

from conftest import TEST_SEED, run_vsw
from methods.config.presets import load_force
from methods.data.store import Store
from methods.workflows.demo import build_store

MONTHS = ["2025-01", "2025-02"]  # two months, so the second sees the first's history
FORCE = "durham"


def _contents(db) -> dict[str, pd.DataFrame]:
    """Store contents keyed by the force's identifiers (pseudonyms differ between stores)."""
    out = {}
    with Store(db, read_only=True) as st:
        for m in MONTHS:
            v = st.victims(m, personal=True)
            ids = v.set_index("case_id")[["crime_ref", "victim_id"]]
            out[f"victims {m}"] = (
                v.drop(columns=["case_id", "person_id"]).sort_values(["crime_ref", "victim_id"])
            ).reset_index(drop=True)
            for s in load_force(FORCE).surveys:
                smp = st.sample(s.name, m).join(ids, on="case_id").drop(columns="case_id")
                out[f"sample {s.name} {m}"] = smp.reset_index(drop=True)
                r = st.responses(s.name, [m])
                r = r.join(ids, on="case_id").drop(columns=["case_id"])
                out[f"responses {s.name} {m}"] = r.sort_values(
                    ["crime_ref", "victim_id"]
                ).reset_index(drop=True)
        out["register"] = pd.DataFrame({"n": [st.optout_count()]})
    return out


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("pipeline")
    files = base / "files"
    build_store(base / "demo.duckdb", force=FORCE, months=MONTHS, seed=TEST_SEED, workdir=files)
    return base, files


def test_demo_store_is_exactly_what_the_cli_makes_from_the_same_files(built):
    base, files = built
    db = base / "cli.duckdb"
    key = base / "extract.key"
    assert run_vsw("extract", "keygen", "--out", str(key), db=db).returncode == 0
    for m in MONTHS:
        r = run_vsw("ingest", "victims", str(files / f"victims_{m}.csv"), "--month", m, db=db)
        assert r.returncode == 0, r.stderr
        for s in load_force(FORCE).surveys:
            r = run_vsw(
                "sample", "--force", FORCE, "--survey", s.name, "--month", m,
                "--key-file", str(key), "--out", str(base / "extracts"), db=db,
            )  # fmt: skip
            assert r.returncode == 0, r.stderr
            path = files / f"responses_{s.name}_{m}.csv"
            r = run_vsw("ingest", "responses", str(path), "--survey", s.name, db=db)
            assert r.returncode == 0, r.stderr
    demo, cli = _contents(base / "demo.duckdb"), _contents(db)
    assert demo.keys() == cli.keys()
    for name in demo:
        assert len(demo[name]) > 0 or name.startswith("register"), name
        pd.testing.assert_frame_equal(demo[name], cli[name], check_dtype=True, obj=name)


def test_the_sample_files_are_the_samples_in_the_store(built):
    base, files = built
    got = _contents(base / "demo.duckdb")
    for s in load_force(FORCE).surveys:
        for m in MONTHS:
            f = pd.read_csv(files / f"sample_{s.name}_{m}.csv", dtype=str)
            smp = got[f"sample {s.name} {m}"]
            assert list(f["crime_ref"]) == list(smp["crime_ref"].astype(str))
            assert np.allclose(f["inclusion_prob"].astype(float), smp["inclusion_prob"])


def test_rebuilding_with_the_same_seed_gives_byte_identical_files(built, tmp_path):
    _, files = built
    again = tmp_path / "files"
    build_store(
        tmp_path / "again.duckdb", force=FORCE, months=MONTHS, seed=TEST_SEED, workdir=again
    )
    names = sorted(p.name for p in files.iterdir())
    assert names == sorted(p.name for p in again.iterdir()) and len(names) > 3
    for n in names:
        assert filecmp.cmp(files / n, again / n, shallow=False), n


def test_vsw_sample_and_the_pipeline_default_to_the_same_method():
    from methods.cli import build_parser
    from methods.workflows.month import DEFAULT_METHOD

    args = build_parser().parse_args(
        ["sample", "--force", FORCE, "--survey", "violent", "--month", "2025-01"]
    )
    assert args.method == DEFAULT_METHOD
