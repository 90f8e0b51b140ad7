"""Force comparison: Holm's adjustment against R, the variance of a difference from the group
mean against an independent (matrix and Monte Carlo) computation, stated exclusions, and
`vsw compare` end to end on two synthetic forces."""

from __future__ import annotations

import json
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest

from conftest import TEST_MONTHS, TEST_SEED, run_vsw
from methods.core.errors import UsageError
from methods.report.compare import COMPARISON_COLUMNS, compare_forces, holm

RSCRIPT = shutil.which("Rscript")


def test_holm_matches_hand_worked_values():
    # sorted: 0.005*4 = 0.02, 0.01*3 = 0.03, 0.03*2 = 0.06, 0.04*1 = 0.04 -> running max 0.06
    got = holm([0.01, 0.04, 0.03, 0.005])
    np.testing.assert_allclose(got, [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_array_equal(np.isnan(holm([0.2, np.nan, 0.01])), [False, True, False])
    assert holm([0.6, 0.7])[1] == 1.0 or holm([0.6, 0.7]).max() <= 1.0


@pytest.mark.r
@pytest.mark.skipif(RSCRIPT is None, reason="Rscript not installed")
def test_holm_matches_r_p_adjust():
    rng = np.random.default_rng(5)
    p = np.r_[rng.uniform(0, 0.2, 12), 0.0, 1.0, 0.5, 0.5]
    code = (
        f"cat(sprintf('%.17g', p.adjust(c({','.join(map(repr, p.tolist()))}), 'holm')), sep='\\n')"
    )
    res = subprocess.run([RSCRIPT, "-e", code], capture_output=True, text=True, check=True)
    want = np.array([float(x) for x in res.stdout.split()])
    np.testing.assert_allclose(holm(p), want, rtol=1e-15, atol=0)


def _est(p, se, forces=None, stage="whole_experience", **extra):
    forces = forces or [f"f{i}" for i in range(len(p))]
    d = {
        "force": forces,
        "stage": stage,
        "estimate": p,
        "se": se,
        "ci_low": np.asarray(p) - 0.1,
        "ci_high": np.asarray(p) + 0.1,
        "n": 100,
    }
    return pd.DataFrame(d | extra)


def test_difference_from_the_group_mean_has_the_variance_of_the_contrast():
    p = np.array([0.80, 0.70, 0.60, 0.75])
    se = np.array([0.02, 0.03, 0.04, 0.01])
    t = compare_forces(_est(p, se)).set_index("force")
    K = len(p)
    cov = np.diag(se**2)
    for k in range(K):
        c = -np.ones(K) / K
        c[k] += 1  # p_k - mean(p)
        assert t["difference"].iloc[k] == pytest.approx(c @ p, abs=1e-15)
        sd = np.sqrt(c @ cov @ c)
        half = t["difference_ci_high"].iloc[k] - t["difference"].iloc[k]
        assert half == pytest.approx(1.959963984540054 * sd, rel=1e-12)
        from scipy import stats

        assert t["p_value"].iloc[k] == pytest.approx(2 * stats.norm.sf(abs(c @ p) / sd), rel=1e-12)
    np.testing.assert_allclose(t["p_adjusted"], holm(t["p_value"]))
    assert list(t.reset_index().columns) == list(COMPARISON_COLUMNS)


def test_monte_carlo_confirms_the_variance_of_a_difference():
    """Independent forces' estimates drawn 200,000 times: the empirical SD of p_k - mean(p)
    agrees with the formula's (the CI half-width / 1.96) to Monte Carlo accuracy."""
    p = np.array([0.80, 0.70, 0.60])
    se = np.array([0.02, 0.05, 0.03])
    t = compare_forces(_est(p, se))
    rng = np.random.default_rng(1)
    draws = rng.normal(p, se, size=(200_000, 3))
    emp = (draws - draws.mean(axis=1, keepdims=True)).std(axis=0)
    formula = (t["difference_ci_high"] - t["difference"]).to_numpy() / 1.959963984540054
    np.testing.assert_allclose(formula, emp, rtol=0.01)


def test_forces_left_out_of_a_stage_say_why():
    e = _est([0.8, 0.7, 0.9, 0.6], [0.02, 0.02, np.nan, 0.03], asked=[True, True, True, False])
    e.loc[1, "estimate"] = np.nan  # suppressed: too few answers
    t = compare_forces(e).set_index("force")
    assert t.loc["f1", "note"] == "too few answers to publish an estimate"
    assert t.loc["f2", "note"] == "no variance estimate"
    assert t.loc["f3", "note"] == "stage not asked in this force's survey"
    assert t.loc["f0", "note"] == "the only force with an estimate for this stage"
    assert t[["difference", "p_value"]].isna().all().all()
    assert not t["significant"].any()


def test_fewer_than_two_forces_or_missing_columns_are_refused():
    with pytest.raises(UsageError, match="at least two forces"):
        compare_forces(_est([0.8], [0.02]))
    with pytest.raises(UsageError, match="lack column"):
        compare_forces(_est([0.8, 0.7], [0.02, 0.02]).drop(columns="se"))


@pytest.fixture(scope="module")
def two_forces(tmp_path_factory):
    from methods.workflows.demo import build_store

    base = tmp_path_factory.mktemp("compare")
    stores = base / "forces"
    for force in ("durham", "kent"):
        build_store(stores / f"{force}.duckdb", force=force, months=TEST_MONTHS, seed=TEST_SEED)
    return base, stores


def test_vsw_compare_writes_the_comparison(two_forces):
    base, stores = two_forces
    out = base / "reports"
    res = run_vsw(
        "compare", "--month", TEST_MONTHS[-1], "--forces", "Durham,kent", "--stores",
        str(stores), "--out", str(out), "--quiet",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    rep = out / "compare" / TEST_MONTHS[-1]
    table = pd.read_csv(rep / "tables" / "force_comparison.csv")
    assert list(table.columns) == list(COMPARISON_COLUMNS)
    assert set(table["force"]) == {"durham", "kent"}
    whole = table[table["stage"] == "whole_experience"].set_index("force")
    # two forces: the differences are mirror images and the two tests are one test
    assert whole.loc["durham", "difference"] == pytest.approx(-whole.loc["kent", "difference"])
    assert whole.loc["durham", "p_value"] == pytest.approx(whole.loc["kent", "p_value"])
    assert list((rep / "figures").glob("*.png"))
    html = (rep / "report.html").read_text()
    assert "Kent Police" in html and "import " not in html
    man = json.loads((rep / "manifest.json").read_text())
    assert man["parameters"]["forces"] == ["durham", "kent"]
    assert any(k.startswith("kent/") for k in man["inputs_sha256"])


def test_vsw_compare_refuses_what_it_cannot_compare(two_forces):
    base, stores = two_forces
    r = run_vsw("compare", "--month", "2024-01", "--forces", "durham,kent", "--stores", str(stores))
    assert r.returncode != 0 and "does not hold 2024-01" in r.stderr
    r = run_vsw(
        "compare", "--month", TEST_MONTHS[-1], "--forces", "durham,met", "--stores", str(stores)
    )
    assert r.returncode != 0 and "no store for" in r.stderr and "--demo" in r.stderr
    r = run_vsw(
        "compare", "--month", TEST_MONTHS[-1], "--forces", "durham", "--stores", str(stores)
    )
    assert r.returncode != 0 and "at least two forces" in r.stderr
    assert "internal error" not in r.stderr


def test_a_rolling_window_pools_its_months(two_forces):
    from methods.report.compare import compare_stores

    _, stores = two_forces
    paths = {f: stores / f"{f}.duckdb" for f in ("durham", "kent")}
    one, _ = compare_stores(paths, TEST_MONTHS[-1], window=1)
    three, _ = compare_stores(paths, TEST_MONTHS[-1], window=3)
    n1 = one.groupby("force")["n"].sum()
    n3 = three.groupby("force")["n"].sum()
    assert (n3 > 2 * n1).all()  # three months of answers, not one


def test_fast_path_gives_the_month_by_month_comparison_exactly(two_forces):
    """The comparison's one-call-per-survey eligibility gives exactly the table of the
    existing month-by-month path (monthly.eligible_frame, then the report's weighting)."""
    import warnings

    from methods.config.presets import load_force
    from methods.data.store import Store
    from methods.report.compare import compare_stores, force_period_estimates
    from methods.report.monthly import eligible_frame
    from methods.report.tables import period_estimates, prepare_responses

    _, stores = two_forces
    paths = {f: stores / f"{f}.duckdb" for f in ("durham", "kent")}
    for window in (1, 3):
        months = TEST_MONTHS[-window:]
        slow = []
        for force, db in paths.items():
            preset = load_force(force)
            with Store(db, read_only=True) as st, warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                eligible, _ = eligible_frame(st.victims(months=months), preset, store=st)
                sampled = prepare_responses(st.responses(months=months))
                t = period_estimates(sampled, eligible, months)
            asked = {s for sv in preset.surveys for s in sv.stages}
            slow.append(t.assign(force=preset.name, asked=t["stage"].isin(asked)))
        slow_est = pd.concat(slow, ignore_index=True)
        fast_est, fast_cmp = compare_stores(paths, TEST_MONTHS[-1], window=window)
        pd.testing.assert_frame_equal(fast_est, slow_est, check_exact=True)
        pd.testing.assert_frame_equal(fast_cmp, compare_forces(slow_est), check_exact=True)
        # and per month, as the benchmark asks (one store read for all periods)
        per = force_period_estimates(paths["kent"], "kent", [[m] for m in months])
        for m, t in zip(months, per):
            one = force_period_estimates(paths["kent"], "kent", [[m]])[0]
            pd.testing.assert_frame_equal(t, one, check_exact=True)


def test_a_missing_store_or_months_that_do_not_overlap_are_named(two_forces, tmp_path):
    from methods.report.compare import compare_stores
    from methods.workflows.demo import build_store

    _, stores = two_forces
    paths = {"durham": stores / "durham.duckdb", "kent": tmp_path / "kent.duckdb"}
    with pytest.raises(UsageError, match="no store for Kent"):
        compare_stores(paths, TEST_MONTHS[-1])
    # kent holds only the first test month: a window over the last two does not overlap
    build_store(paths["kent"], force="kent", months=TEST_MONTHS[:1], seed=TEST_SEED)
    with pytest.raises(UsageError, match=f"does not hold {TEST_MONTHS[-2]}, {TEST_MONTHS[-1]}"):
        compare_stores(paths, TEST_MONTHS[-1], window=2)


def test_zero_design_variance_or_a_single_respondent_is_stated_not_a_silent_nan():
    # every force with zero variance (e.g. everyone satisfied): no test, and the note says so
    t = compare_forces(_est([1.0, 0.9, 0.8], [0.0, 0.0, 0.0])).set_index("force")
    assert (t["note"] == "no sampling variance in any force: no test").all()
    assert t["p_value"].isna().all() and not t["significant"].any()
    np.testing.assert_allclose(t["difference"], [0.1, 0.0, -0.1], atol=1e-15)
    # one force with zero variance among others: the contrast still has variance, test runs
    t = compare_forces(_est([1.0, 0.9, 0.8], [0.0, 0.02, 0.03])).set_index("force")
    assert t["p_value"].notna().all() and (t["note"] == "").all()
    # a single respondent: satisfaction_by_stage suppresses it (NaN estimate), note says why
    e = _est([np.nan, 0.9, 0.8], [np.nan, 0.02, 0.03])
    e.loc[0, "n"] = 1
    t = compare_forces(e).set_index("force")
    assert t.loc["f0", "note"] == "too few answers to publish an estimate"
    assert t.loc["f0", "n"] == 1 and np.isnan(t.loc["f0", "difference"])
