"""Fay-Herriot small-area estimation against R's sae 1.3 (eblupFH, mseFH), and its properties.

The figures in tests/reference/sae/ were written by R's sae package
(tests/reference/sae/make_sae_reference.R, whose header gives the regeneration command); no R
is needed here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from methods.smallarea import (
    SmallAreaConvergenceWarning,
    SmallAreaExclusionWarning,
    SmallAreaInputError,
    benchmark,
    fit_fay_herriot,
    synthetic_estimates,
)

REF = Path(__file__).parent / "reference" / "sae"
CASES = [(d, m) for d in ("milk", "districts") for m in ("REML", "ML", "FH")]


def _load(name):
    inp = pd.read_csv(REF / f"{name}_input.csv")
    res = pd.read_csv(REF / f"{name}_results.csv")
    return inp, res


def _ref(res, method, quantity):
    sub = res[(res.method == method) & (res.quantity == quantity)].sort_values("key")
    return sub.value.to_numpy(dtype=float)


@pytest.mark.parametrize(("name", "method"), CASES)
def test_matches_r_sae(name, method):
    inp, res = _load(name)
    X = inp.filter(like="x_").to_numpy()
    fit = fit_fay_herriot(inp.y, inp.vardir, X, method=method)
    assert fit.converged
    assert fit.iterations == int(_ref(res, method, "iterations")[0])
    np.testing.assert_allclose(fit.eblup, _ref(res, method, "eblup"), rtol=0, atol=1e-6)
    np.testing.assert_allclose(fit.mse, _ref(res, method, "mse"), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(fit.beta, _ref(res, method, "beta"), rtol=0, atol=1e-6)
    np.testing.assert_allclose(fit.se_beta, _ref(res, method, "se_beta"), rtol=1e-6)
    assert fit.sigma2_u == pytest.approx(_ref(res, method, "refvar")[0], rel=1e-6, abs=1e-9)
    assert fit.loglike == pytest.approx(_ref(res, method, "loglike")[0], abs=1e-6)


@pytest.mark.parametrize(("name", "method"), CASES)
def test_properties(name, method):
    inp, _ = _load(name)
    X = inp.filter(like="x_").to_numpy()
    fit = fit_fay_herriot(inp.y, inp.vardir, X, method=method)
    assert ((fit.gamma >= 0) & (fit.gamma <= 1)).all()
    lo = np.minimum(fit.direct, fit.synthetic) - 1e-12
    hi = np.maximum(fit.direct, fit.synthetic) + 1e-12
    assert ((fit.eblup >= lo) & (fit.eblup <= hi)).all()
    # the leading term g1 = gamma * psi is below the design variance: the model borrows strength
    assert (fit.g1 <= fit.var).all()
    assert (fit.mse > 0).all()


def test_truncation_at_zero_gives_synthetic():
    """No area effect and large design variances: A is truncated at 0 and EBLUP = X beta."""
    rng = np.random.default_rng(7)
    m = 30
    x = rng.uniform(0, 1, m)
    X = np.column_stack([np.ones(m), x])
    psi = np.full(m, 0.04)
    y = 0.6 + 0.1 * x + rng.normal(0, 0.05, m)  # sampling sd 0.05 < sqrt(psi) = 0.2
    fit = fit_fay_herriot(y, psi, X, method="FH")
    assert fit.sigma2_u_raw < 0
    assert fit.sigma2_u == 0
    np.testing.assert_allclose(fit.gamma, 0)
    np.testing.assert_allclose(fit.eblup, fit.synthetic)
    # with A = 0: MSE = g2 + 2 g3 - b B^2, and g2 = x'Qx with Q the OLS covariance (psi I)
    np.testing.assert_allclose(fit.cov_beta, 0.04 * np.linalg.inv(X.T @ X))


def test_synthetic_for_areas_without_respondents():
    inp, _ = _load("districts")
    X = inp.filter(like="x_").to_numpy()
    fit = fit_fay_herriot(inp.y, inp.vardir, X)
    new = np.array([[1.0, 0.2, 0.3], [1.0, -0.5, 0.1]])
    syn = synthetic_estimates(fit, new, area=["new1", "new2"])
    np.testing.assert_allclose(syn.synthetic, new @ fit.beta)
    expected = np.array([x @ fit.cov_beta @ x for x in new]) + fit.sigma2_u
    np.testing.assert_allclose(syn.mse, expected)
    with pytest.raises(SmallAreaInputError, match="columns"):
        synthetic_estimates(fit, new[:, :2])


@pytest.mark.parametrize("how", ["ratio", "additive"])
def test_benchmark_adds_up(how):
    inp, _ = _load("districts")
    X = inp.filter(like="x_").to_numpy()
    fit = fit_fay_herriot(inp.y, inp.vardir, X)
    w = np.random.default_rng(3).uniform(1, 5, len(fit.eblup))
    w = w / w.sum()
    target = 0.71
    b = benchmark(fit.eblup, w, target, method=how)
    assert float(w @ b) == pytest.approx(target, abs=1e-14)
    if how == "ratio":
        np.testing.assert_allclose(b / fit.eblup, target / float(w @ fit.eblup))
    else:
        np.testing.assert_allclose(b - fit.eblup, target - float(w @ fit.eblup))
    # unnormalised weights (counts) add up too
    b2 = benchmark(fit.eblup, w * 1000, target * 1000, method=how)
    assert float((w * 1000) @ b2) == pytest.approx(target * 1000, rel=1e-13)


def test_bad_input_is_excluded_with_reasons():
    inp, res = _load("milk")
    X = inp.filter(like="x_").to_numpy()
    y = inp.y.to_numpy().copy()
    psi = inp.vardir.to_numpy().copy()
    n = np.full(len(y), 100)
    y[0] = np.nan
    psi[1] = 0.0
    psi[2] = -0.01
    n[3] = 1
    n[4] = 0
    area = np.array([f"d{i}" for i in range(len(y))])
    with pytest.warns(SmallAreaExclusionWarning, match="5 of 43 areas"):
        fit = fit_fay_herriot(y, psi, X, n=n, area=area)
    assert list(fit.excluded.area) == ["d0", "d1", "d2", "d3", "d4"]
    reasons = list(fit.excluded.reason)
    assert "missing" in reasons[0]
    assert "zero" in reasons[1]
    assert "negative" in reasons[2]
    assert "single respondent" in reasons[3]
    assert "no respondents" in reasons[4]
    assert len(fit.area) == 38
    assert np.isfinite(fit.eblup).all() and np.isfinite(fit.mse).all()


def test_too_few_areas_and_rank_deficiency_raise():
    X = np.column_stack([np.ones(3), [0.0, 1.0, 2.0], [1.0, 0.0, 1.0]])
    with pytest.raises(SmallAreaInputError, match="at least 4 areas"):
        fit_fay_herriot([0.5, 0.6, 0.7], [0.01, 0.01, 0.01], X)
    X2 = np.column_stack([np.ones(6), np.ones(6)])
    with pytest.raises(SmallAreaInputError, match="rank deficient"):
        fit_fay_herriot(np.linspace(0.4, 0.6, 6), np.full(6, 0.01), X2)
    with pytest.raises(SmallAreaInputError, match="method"):
        fit_fay_herriot(np.linspace(0.4, 0.6, 6), np.full(6, 0.01), X2[:, :1], method="EB")
    with pytest.raises(SmallAreaInputError, match="one entry per area"):
        fit_fay_herriot([0.5, 0.6], [0.01], np.ones((2, 1)))


def test_non_convergence_warns_with_change():
    inp, _ = _load("districts")
    X = inp.filter(like="x_").to_numpy()
    with pytest.warns(SmallAreaConvergenceWarning, match="relative change"):
        fit = fit_fay_herriot(inp.y, inp.vardir, X, max_iter=1)
    assert not fit.converged
    assert fit.iterations == 1
    assert fit.change > 1e-4
