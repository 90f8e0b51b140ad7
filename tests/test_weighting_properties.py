"""Property tests (hypothesis) for raking and calibration.

Targets are built from a known feasible solution: each unit's weight times a random factor in
[0.8, 1.25], summed by level. So a raking solution exists, and factors inside (0.75, 1.34) are
feasible; whatever hypothesis draws, the properties below must hold.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from methods import weighting as wt
from methods.core.errors import ConvergenceError
from methods.design.survey import SurveyDesign
from methods.weighting.core import InfeasibleCalibrationError

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def raking_problems(draw):
    """(data, margins) with 2-3 margins of 2-5 levels, every level present, n 30-300."""
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(30, 300))
    sizes = draw(st.lists(st.integers(2, 5), min_size=2, max_size=3))
    rng = np.random.default_rng(seed)
    data = {}
    for j, size in enumerate(sizes):
        probs = rng.dirichlet(np.ones(size) * 2)
        codes = np.concatenate([np.arange(size), rng.choice(size, n - size, p=probs)])
        data[f"m{j}"] = np.array([f"l{k}" for k in range(size)], dtype=object)[codes]
    # association between the first two margins, so raking needs several sweeps
    df = pd.DataFrame(data).sort_values(["m0", "m1"]).reset_index(drop=True)
    df["w"] = rng.uniform(0.5, 5.0, n)
    truth = df["w"].to_numpy() * rng.uniform(0.8, 1.25, n)
    margins = {c: pd.Series(truth).groupby(df[c].to_numpy()).sum().to_dict() for c in data}
    return df, margins


def _margin_gaps(design, margins) -> float:
    worst = 0.0
    w = pd.Series(design.weights)
    for c, target in margins.items():
        sums = w.groupby(design.data[c].to_numpy()).sum()
        for level, total in target.items():
            worst = max(worst, abs(sums[level] - total) / total)
    return worst


@SETTINGS
@given(raking_problems())
def test_raking_reproduces_every_margin(problem):
    df, margins = problem
    raked = wt.rake(SurveyDesign(df, weights="w"), margins)
    assert _margin_gaps(raked, margins) <= 1e-8


@SETTINGS
@given(raking_problems())
def test_bounded_raking_honours_bounds_and_margins(problem):
    df, margins = problem
    design = SurveyDesign(df, weights="w")
    raked = wt.rake(design, margins, bounds=(0.75, 1.34), max_iter=100)
    g = raked.weights / design.weights
    assert g.min() >= 0.75 - 1e-12 and g.max() <= 1.34 + 1e-12
    assert _margin_gaps(raked, margins) <= 1e-8


@SETTINGS
@given(raking_problems(), st.sampled_from(["linear", "raking", "logit"]))
def test_bounded_calibration_honours_bounds(problem, distance):
    df, margins = problem
    design = SurveyDesign(df, weights="w")
    cal = wt.calibrate(design, margins, distance=distance, bounds=(0.75, 1.34), max_iter=100)
    g = cal.weights / design.weights
    assert g.min() >= 0.75 - 1e-12 and g.max() <= 1.34 + 1e-12
    assert _margin_gaps(cal, margins) <= 1e-8


@SETTINGS
@given(raking_problems(), st.integers(0, 2**32 - 1), st.booleans())
def test_results_do_not_depend_on_row_order(problem, seed, bounded):
    df, margins = problem
    perm = np.random.default_rng(seed).permutation(len(df))
    shuffled = df.iloc[perm].reset_index(drop=True)
    bounds = (0.75, 1.34) if bounded else None
    a = wt.rake(SurveyDesign(df, weights="w"), margins, bounds=bounds, max_iter=100)
    b = wt.rake(SurveyDesign(shuffled, weights="w"), margins, bounds=bounds, max_iter=100)
    np.testing.assert_allclose(b.weights, a.weights[perm], rtol=1e-9)
    c = wt.calibrate(SurveyDesign(df, weights="w"), margins, distance="logit", bounds=(0.7, 1.5))
    d = wt.calibrate(
        SurveyDesign(shuffled, weights="w"), margins, distance="logit", bounds=(0.7, 1.5)
    )
    np.testing.assert_allclose(d.weights, c.weights[perm], rtol=1e-9)


@SETTINGS
@given(raking_problems())
def test_too_few_sweeps_raise_rather_than_return_unconverged_weights(problem):
    df, margins = problem
    design = SurveyDesign(df, weights="w")
    try:
        raked = wt.rake(design, margins, max_iter=1)
    except ConvergenceError as exc:
        assert "1 iterations" in str(exc) and "worst margin gap" in str(exc)
    else:  # one sweep was enough: then the margins really do hold
        assert _margin_gaps(raked, margins) <= 1e-10


@SETTINGS
@given(raking_problems(), st.sampled_from(["linear", "raking", "logit"]))
def test_unreachable_total_raises_infeasible(problem, distance):
    df, margins = problem
    first = next(iter(margins))
    level = next(iter(margins[first]))
    bad = {k: dict(v) for k, v in margins.items()}
    bad[first][level] *= 3.0  # needs factors near 3 on that level: outside (0.8, 1.5)
    others = [lv for lv in bad[first] if lv != level]
    extra = bad[first][level] - margins[first][level]
    rest = sum(bad[first][o] for o in others)
    for lv in others:  # keep the population size unchanged
        bad[first][lv] -= extra * margins[first][lv] / rest
    if min(bad[first].values()) <= 0:
        return
    design = SurveyDesign(df, weights="w")
    with pytest.raises(InfeasibleCalibrationError, match="infeasible"):
        wt.calibrate(design, bad, distance=distance, bounds=(0.8, 1.5))
    with pytest.raises(InfeasibleCalibrationError):
        wt.rake(design, bad, bounds=(0.8, 1.5))


def test_jointly_infeasible_bounds_found_by_linear_programme():
    """Each total is reachable alone but not together: only the joint check can tell."""
    df = pd.DataFrame({"a": ["x"] * 10 + ["y"] * 10, "b": ["p"] * 10 + ["q"] * 10, "w": 1.0})
    margins = {"a": {"x": 14.0, "y": 6.0}, "b": {"p": 6.0, "q": 14.0}}  # a=x is b=p
    design = SurveyDesign(df, weights="w")
    with pytest.raises(InfeasibleCalibrationError, match="together"):
        wt.calibrate(design, margins, distance="raking", bounds=(0.5, 1.5))
    with pytest.raises(ConvergenceError, match="did not converge in 30 iterations"):
        wt.rake(design, margins, max_iter=30)
