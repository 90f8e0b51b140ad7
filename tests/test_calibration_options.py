"""calibrate's options matching R's ``survey::calibrate`` (issue 14): ``force``, ``bounds_const``
and ``variance``, checked by hand here; against R's own figures in
tests/reference/scenarios/calibrated.csv (cases ``cal_*``, run by test_reference_scenarios.py).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from methods import weighting as wt
from methods.core.errors import ConvergenceError, UsageError, ValidationError
from methods.design.survey import SurveyDesign
from methods.weighting.calibrate import replay

AGE = {"young": 300.0, "old": 700.0}
SEX = {"f": 520.0, "m": 480.0}


@pytest.fixture
def small():
    """Eight respondents, weights 100 each (total 800), two margins and a size variable q."""
    df = pd.DataFrame(
        {
            "age": ["young", "young", "young", "old", "old", "old", "old", "old"],
            "sex": ["f", "m", "m", "f", "f", "m", "m", "f"],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "q": [1.0, 2.0, 1.0, 3.0, 1.0, 2.0, 4.0, 1.0],
            "w": 100.0,
        }
    )
    return SurveyDesign(df, weights="w")


def _relgap(d, pop):
    """R's misfit: worst ``|T - X'w| / (1 + |T|)`` over the model matrix's columns (intercept,
    each margin without its first level)."""
    f, w = d.frame, d.weights
    cols = [(np.ones(len(w)), sum(next(iter(pop.values())).values()))]
    for c, tot in pop.items():
        cols += [((f[c] == lv).to_numpy(float), t) for lv, t in sorted(tot.items())[1:]]
    return max(abs(t - x @ w) / (1 + t) for x, t in cols)


def test_non_convergence_raises_by_default_and_warns_with_force(small):
    pop = {"age": AGE, "sex": SEX}
    with pytest.raises(ConvergenceError, match="did not converge in 1 iterations"):
        wt.calibrate(small, pop, distance="raking", max_iter=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        d = wt.calibrate(small, pop, distance="raking", max_iter=1, force=True)
    msg = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert len(msg) == 1 and "failed to converge" in msg[0] and "after 1 iterations" in msg[0]
    gap = _relgap(d, pop)  # the warning reports the misfit of the weights returned
    assert 1e-10 < gap < 1 and f"{gap:.3g}" in msg[0]
    assert d.steps[-1].info["iterations"] == 1
    full = wt.calibrate(small, pop, distance="raking")  # more iterations: converged
    assert _relgap(full, pop) < 1e-9


def test_bounds_const_bounds_the_weights(small):
    pop = {"age": AGE, "sex": SEX}
    # all input weights are 100, so weight bounds (80, 150) are factor bounds (0.8, 1.5)
    for dist in ("linear", "raking", "logit"):
        a = wt.calibrate(small, pop, distance=dist, bounds=(80, 150), bounds_const=True)
        b = wt.calibrate(small, pop, distance=dist, bounds=(0.8, 1.5))
        np.testing.assert_allclose(a.weights, b.weights, rtol=1e-10)
    # unequal weights: bounds on the weights, not on g
    df = small.frame.assign(w=[50.0, 150, 100, 80, 120, 100, 60, 140])
    d = SurveyDesign(df, weights="w")
    c = wt.calibrate(d, pop, bounds=(70, 160), bounds_const=True)
    assert c.weights.min() >= 70 - 1e-9 and c.weights.max() <= 160 + 1e-9
    assert np.isclose(c.weights.min(), 70)  # weights 50 and 60 must rise to the bound
    assert _relgap(c, pop) < 1e-9
    # replay keeps the options
    r = replay(d, c.steps[-1])
    np.testing.assert_allclose(r.weights, c.weights, rtol=1e-12)


def test_bounds_const_on_replicates(small):
    rep = small.replicate("jk1")
    c = rep.calibrate({"age": AGE}, bounds=(60, 200), bounds_const=True)
    rw = c.replicate_weights
    pos = rw > 0
    assert rw[pos].min() >= 60 - 1e-9 and rw[pos].max() <= 200 + 1e-9
    young = (small.frame["age"] == "young").to_numpy()
    np.testing.assert_allclose(rw[young].sum(axis=0), 300.0, rtol=1e-9)


def test_variance_is_the_heteroscedastic_greg(small):
    pop = {"age": AGE, "x": 5000.0}
    c = wt.calibrate(small, pop, variance="q")
    f = small.frame
    X = np.column_stack([np.ones(8), (f["age"] == "young").astype(float), f["x"]])
    T = np.array([1000.0, 300.0, 5000.0])
    d, q = small.weights, f["q"].to_numpy()
    lam = np.linalg.solve(X.T @ (X * (d / q)[:, None]), T - X.T @ d)
    np.testing.assert_allclose(c.weights, d * (1 + X @ lam / q), rtol=1e-12)
    np.testing.assert_allclose(X.T @ c.weights, T, rtol=1e-12)
    # the raking distance with q: the iterative solution meets the totals, and a constant q
    # changes nothing (it rescales the Lagrange multipliers only)
    r = wt.calibrate(small, pop, distance="raking", variance=f["q"].to_numpy())
    np.testing.assert_allclose(X.T @ r.weights, T, rtol=1e-9)
    assert not np.allclose(r.weights, wt.calibrate(small, pop, distance="raking").weights)
    const = wt.calibrate(small, pop, distance="raking", variance=np.full(8, 3.0))
    np.testing.assert_allclose(
        const.weights, wt.calibrate(small, pop, distance="raking").weights, rtol=1e-9
    )


def test_sinh_distance(small):
    """R's cal.sinh: g = F(u) with alpha (g - 1/g) = asinh(2 alpha u); bounded, between the
    linear and raking distances (R's figures: cases cal_sinh* of calibrated.csv)."""
    from methods.weighting.core import _fm1_df, _psi, _sinh_f, _sinh_inv

    u = np.linspace(-2, 3, 11)
    for alpha in (1.0, 0.5, 2.0):
        g = _sinh_f(u, alpha)
        np.testing.assert_allclose(alpha * (g - 1 / g), np.arcsinh(2 * alpha * u), atol=1e-12)
        np.testing.assert_allclose(_sinh_inv(g, alpha), u, atol=1e-12)
        # F' by central differences; psi' = F - 1 inside the bounds
        h = 1e-6
        _, df = _fm1_df("sinh", u, -np.inf, np.inf, alpha)
        num = (_sinh_f(u + h, alpha) - _sinh_f(u - h, alpha)) / (2 * h)
        np.testing.assert_allclose(df, num, rtol=1e-7)
        dpsi = _psi("sinh", u + h, -np.inf, np.inf, alpha) - _psi(
            "sinh", u - h, -np.inf, np.inf, alpha
        )
        np.testing.assert_allclose(dpsi / (2 * h), g - 1, atol=1e-6)
        # with bounds (0.8, 1.5) the dual's derivative is the truncated F - 1 (no kink on the grid)
        dpsi = _psi("sinh", u + h, 0.8, 1.5, alpha) - _psi("sinh", u - h, 0.8, 1.5, alpha)
        np.testing.assert_allclose(dpsi / (2 * h), np.clip(g, 0.8, 1.5) - 1, atol=1e-6)
    pop = {"age": AGE, "sex": SEX}
    c = wt.calibrate(small, pop, distance="sinh", bounds=(0.8, 1.5))
    assert _relgap(c, pop) < 1e-10
    g = c.weights / small.weights
    assert g.min() >= 0.8 - 1e-12 and g.max() <= 1.5 + 1e-12
    with pytest.raises(UsageError, match="sinh calibration needs finite bounds"):
        wt.calibrate(small, pop, distance="sinh")


def test_bad_inputs_name_the_column_and_rows(small):
    pop = {"age": AGE}
    with pytest.raises(UsageError, match="lower < upper"):
        wt.calibrate(small, pop, bounds=(1.5, 0.8))
    with pytest.raises(UsageError, match="lower < upper"):
        wt.calibrate(small, pop, bounds=(150, 150), bounds_const=True)
    bad = SurveyDesign(small.frame.assign(q=[1.0, 2, 0, 1, -1, 1, 1, 1]), weights="w")
    with pytest.raises(ValidationError, match=r"column 'q', row\(s\) 3, 5: .*first at row 3"):
        wt.calibrate(bad, pop, variance="q")
    with pytest.raises(UsageError, match="8 rows"):
        wt.calibrate(small, pop, variance=[1.0, 2.0])
    with pytest.raises(UsageError, match="not in the design"):
        wt.calibrate(small, pop, variance="nope")
    uneq = SurveyDesign(small.frame.assign(w=[50.0, 150, 100, 80, 120, 100, 60, 140]), weights="w")
    with pytest.raises(ValidationError, match=r"row\(s\) 1, 2, 7, 8:.*inside the weight bounds"):
        wt.calibrate(uneq, pop, distance="logit", bounds=(70, 135), bounds_const=True)


def test_aggregate_stage_makes_factors_constant_within_psus():
    """R's aggregate.stage = 1: the calibration runs on PSU means (R's figures: cases
    cal_agg_* of calibrated.csv, apiclus1); by hand here with weights varying within PSUs."""
    df = pd.DataFrame(
        {
            "psu": [1, 1, 2, 2, 3, 3, 4, 4],
            "x": [1.0, 3.0, 2.0, 2.0, 5.0, 1.0, 4.0, 6.0],
            "w": [10.0, 14.0, 12.0, 8.0, 9.0, 11.0, 10.0, 10.0],
        }
    )
    d = SurveyDesign(df, weights="w", psu="psu")
    with pytest.warns(
        UserWarning,
        match=r"not constant within the groups of aggregate_stage=1.*"
        r"3 of 4 groups.*largest 2\.828.*first at row 1",
    ):
        c = wt.calibrate(d, {"x": 330.0}, population_size=90.0, aggregate_stage=1)
    g = c.weights / d.weights
    assert np.ptp(g.reshape(4, 2), axis=1).max() < 1e-12  # one factor per PSU
    # by hand: x and w replaced by PSU means, then the GREG factors of that system
    xm = np.repeat([2.0, 2.0, 3.0, 5.0], 2)
    wm = np.repeat([12.0, 10.0, 10.0, 10.0], 2)
    X = np.column_stack([np.ones(8), xm])
    lam = np.linalg.solve(X.T @ (X * wm[:, None]), np.array([90.0, 330.0]) - X.T @ wm)
    np.testing.assert_allclose(g, 1 + X @ lam, rtol=1e-12)
    np.testing.assert_allclose(X.T @ (wm * g), [90.0, 330.0], rtol=1e-12)
    with pytest.warns(UserWarning, match="not constant"):
        r = wt.calibrate(
            d, {"x": 330.0}, population_size=90.0, distance="raking", aggregate_stage=1
        )
    assert np.ptp((r.weights / d.weights).reshape(4, 2), axis=1).max() < 1e-12
    with pytest.raises(UsageError, match="aggregate_stage=2 but the design has 1 stage"):
        wt.calibrate(d, {"x": 330.0}, population_size=90.0, aggregate_stage=2)
    with pytest.raises(UsageError, match="aggregate_index= is R's aggregate.index of replicate"):
        wt.calibrate(d, {"x": 330.0}, population_size=90.0, aggregate_index="psu")


def test_aggregated_replicates_solve_each_replicate_on_its_group_means():
    """R's calibrate.svyrep.design(aggregate.index=): each replicate's weights are averaged
    over the groups and calibrated on that system (R's figures: calibrated_aggregate.csv, JK1
    of apiclus1); here by hand, replicate by replicate, with weights constant in the PSUs."""
    rng = np.random.default_rng(5)
    df = pd.DataFrame(
        {
            "psu": np.repeat(np.arange(6), 3),
            "x": rng.uniform(1, 5, 18).round(2),
            "w": np.repeat([10.0, 12, 8, 9, 11, 10], 3),
        }
    )
    rep = SurveyDesign(df, weights="w", psu="psu").replicate("jk1")
    pop = {"x": 560.0}
    a = wt.calibrate(rep, pop, population_size=180.0, aggregate_stage=1)
    b = wt.calibrate(rep, pop, population_size=180.0, aggregate_index="psu")
    np.testing.assert_array_equal(a.replicate_weights, b.replicate_weights)
    xm = np.repeat(df.groupby("psu")["x"].mean().to_numpy(), 3)
    X = np.column_stack([np.ones(18), xm])
    for r in range(6):
        d_r = rep.replicate_weights[:, r]  # constant in the PSUs: its own group means
        lam = np.linalg.solve(X.T @ (X * d_r[:, None]), np.array([180.0, 560.0]) - X.T @ d_r)
        np.testing.assert_allclose(a.replicate_weights[:, r], d_r * (1 + X @ lam), rtol=1e-12)
    w0 = rep.replicate_weights
    g = np.divide(a.replicate_weights, w0, out=np.ones_like(w0), where=w0 > 0)
    assert np.ptp(g.reshape(6, 3, 6), axis=1).max() < 1e-12  # constant within PSUs
    with pytest.raises(UsageError, match="aggregate_index has 3 values but the design has 18"):
        wt.calibrate(rep, pop, population_size=180.0, aggregate_index=[1, 2, 3])
    with pytest.raises(UsageError, match="not both"):
        wt.calibrate(rep, pop, population_size=180.0, aggregate_index="psu", aggregate_stage=1)


def test_force_on_replicates_names_the_replicate(small):
    rep = small.replicate("jk1")
    pop = {"age": AGE, "sex": SEX}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        rep.calibrate(pop, distance="raking", max_iter=1, force=True)
    msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
    assert any(
        m.startswith("replicate 1 of 8: raking calibration failed to converge") for m in msgs
    )
    with pytest.raises(ConvergenceError, match="did not converge"):
        rep.calibrate(pop, distance="raking", max_iter=1)
