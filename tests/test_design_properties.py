"""Property tests (hypothesis) for SurveyDesign.

* estimates, SEs and intervals do not depend on row order;
* equal weights and no strata reproduce the textbook simple-random-sample formulas;
* proportion intervals contain the estimate and stay inside [0, 1];
* for a total (a linear statistic) the stratified jackknife reproduces the linearisation SE.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from methods.design.survey import SurveyDesign

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def designs(draw, binary: bool = False):
    """A stratified cluster sample: 1-4 strata, 2-4 PSUs each, 1-5 rows per PSU."""
    n_strata = draw(st.integers(1, 4))
    rows = []
    for h in range(n_strata):
        for p in range(draw(st.integers(2, 4))):
            for _ in range(draw(st.integers(1, 5))):
                rows.append((f"s{h}", f"s{h}p{p}"))
    n = len(rows)
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if binary:
        y = (rng.random(n) < draw(st.floats(0.0, 1.0))).astype(float)
    else:
        y = np.round(rng.normal(draw(st.floats(-50, 50)), draw(st.floats(0.1, 20)), n), 3)
    y[rng.random(n) < draw(st.floats(0.0, 0.2))] = np.nan
    df = pd.DataFrame(
        {
            "stratum": [r[0] for r in rows],
            "psu": [r[1] for r in rows],
            "y": y,
            "x": rng.uniform(1, 10, n),
            "w": np.round(rng.uniform(0.5, 5, n), 3),
            "dom": rng.choice(["a", "b", "c"], n),
        }
    )
    return df, seed


def build(df: pd.DataFrame) -> SurveyDesign:
    return SurveyDesign(df, weights="w", strata="stratum", psu="psu")


def results(d: SurveyDesign, binary: bool) -> list[pd.DataFrame]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = [d.total("y"), d.mean("y"), d.ratio("y", "x"), d.by("dom").mean("y")]
        if binary:
            out += [d.proportion("y", ci=ci) for ci in ("logit", "beta", "wilson")]
            out += [d.by("dom").proportion("y", ci="beta")]
    return out


@SETTINGS
@given(designs(), st.booleans())
def test_row_order_does_not_matter(case, binary):
    df, seed = case
    if binary:
        df = df.assign(y=np.where(df["y"].isna(), np.nan, (df["y"] > df["y"].median()) * 1.0))
    perm = np.random.default_rng(seed + 1).permutation(len(df))
    a = results(build(df), binary)
    b = results(build(df.iloc[perm].reset_index(drop=True)), binary)
    for x, y in zip(a, b):
        pd.testing.assert_frame_equal(x, y, check_exact=False, rtol=1e-9, atol=1e-12)


@SETTINGS
@given(
    st.lists(st.floats(-100, 100, allow_nan=False), min_size=3, max_size=60),
    st.floats(1.5, 50.0),
)
def test_equal_weights_no_strata_give_simple_formulas(values, c):
    y = np.round(np.array(values), 3)
    n = y.size
    s = y.std(ddof=1)
    d = SurveyDesign(pd.DataFrame({"y": y, "w": c}), weights="w")
    m = d.mean("y").iloc[0]
    t = d.total("y").iloc[0]
    assert np.isclose(m["estimate"], y.mean(), rtol=1e-12, atol=1e-12)
    assert np.isclose(m["se"], s / np.sqrt(n), rtol=1e-9, atol=1e-12)
    assert np.isclose(t["estimate"], c * y.sum(), rtol=1e-12, atol=1e-9)
    assert np.isclose(t["se"], c * np.sqrt(n) * s, rtol=1e-9, atol=1e-9)
    if s > 1e-6 * max(1.0, abs(y.mean())):
        # with-replacement variance over SRSWOR variance with f = n / (c n) = 1 / c
        assert np.isclose(m["deff"], c / (c - 1), rtol=1e-9)
    p = (y > 0).astype(float)
    if 0 < p.mean() < 1:
        d2 = SurveyDesign(pd.DataFrame({"p": p}))
        pr = d2.proportion("p").iloc[0]
        assert np.isclose(pr["se"], np.sqrt(p.mean() * (1 - p.mean()) / (n - 1)), rtol=1e-9)


@SETTINGS
@given(designs(binary=True), st.sampled_from(["logit", "beta", "wilson"]))
def test_proportion_intervals_contain_estimate_within_unit_interval(case, ci):
    df, _ = case
    d = build(df)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outs = [d.proportion("y", ci=ci), d.by("dom").proportion("y", ci=ci)]
    for out in outs:
        ok = out["n"] >= 2
        est, lo, hi = (out.loc[ok, k].to_numpy() for k in ("estimate", "ci_low", "ci_high"))
        df_ = np.asarray(out.attrs["df"])[ok.to_numpy()]
        finite = np.isfinite(lo) & np.isfinite(hi)
        assert finite[df_ >= 1].all()
        assert (lo[finite] >= 0).all() and (hi[finite] <= 1).all()
        assert (lo[finite] <= est[finite] + 1e-12).all()
        assert (est[finite] <= hi[finite] + 1e-12).all()


@SETTINGS
@given(st.integers(2, 200), st.integers(0, 2**32 - 1))
def test_clopper_pearson_contains_estimate(n, seed):
    rng = np.random.default_rng(seed)
    p = (rng.random(n) < rng.random()).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = SurveyDesign(pd.DataFrame({"p": p})).proportion("p", ci="clopper-pearson").iloc[0]
    assert 0 <= out["ci_low"] <= out["estimate"] <= out["ci_high"] <= 1


@SETTINGS
@given(designs())
def test_jackknife_reproduces_linearisation_for_totals(case):
    df, _ = case
    d = build(df)
    j = d.replicate("jkn")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # all-missing y: NaN SE on both sides
        np.testing.assert_allclose(j.total("y")["se"], d.total("y")["se"], rtol=1e-9)
