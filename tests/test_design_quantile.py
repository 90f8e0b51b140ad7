"""Quantile rules and options of :meth:`SurveyDesign.quantile` (R ``svyquantile``).

The figures against R live in tests/reference/scenarios/quantiles.csv (checked by
tests/test_reference_scenarios.py). Here: with equal weights R's weighted rules reduce to
Hyndman and Fan's (1996) nine sample quantiles, which numpy implements independently
(``np.quantile(method=...)``); R's ``zeroin`` port finds roots as documented; bad options are
refused by name.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from methods.core.errors import UsageError
from methods.design.quantile import qrule, zeroin
from methods.design.survey import SurveyDesign

# Hyndman-Fan type -> numpy's name for it (numpy >= 1.22)
HF = {
    "hf1": "inverted_cdf",
    "hf2": "averaged_inverted_cdf",
    "hf3": "closest_observation",
    "hf4": "interpolated_inverted_cdf",
    "hf5": "hazen",
    "hf6": "weibull",
    "hf7": "linear",
    "hf8": "median_unbiased",
    "hf9": "normal_unbiased",
}
PROBS = [0.13, 0.25, 0.5, 0.71, 0.9]


@pytest.mark.parametrize("rule", sorted(set(HF) - {"hf3"}))
def test_equal_weights_give_hyndman_fan(rule):
    rng = np.random.default_rng(20261207)
    x = rng.normal(size=37).round(3)
    w = np.full(x.size, 2.5)
    for p in PROBS:
        assert qrule(rule, x, w, p) == pytest.approx(np.quantile(x, p, method=HF[rule]), rel=1e-12)


def test_hf3_follows_survey_not_type_3():
    """survey 4.1's qrule_hf3 takes the upper order statistic unless F hits p exactly (so it
    differs from R's quantile(type=3): for x = round(rnorm(37), 3) with set.seed(1), p=0.25
    gives -0.415 against type 3's -0.478); we follow survey, whose figures the scenario file
    checks."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=37)
    w = np.ones(37)
    for p in PROBS:
        assert qrule("hf3", x, w, p) == qrule("hf1", x, w, p)


def test_math_is_the_inverse_weighted_cdf():
    x = np.array([3.0, 1.0, 2.0, 5.0, 4.0])
    w = np.array([1.0, 1.0, 1.0, 1.0, 6.0])  # F: 0.1, 0.2, 0.3, 0.9, 1.0 at 1..5
    assert qrule("math", x, w, 0.25) == 3.0
    assert qrule("math", x, w, 0.5) == 4.0
    assert qrule("math", x, w, 0.3) == 3.0  # exact hit: the lower value, as R
    assert qrule("school", x, w, 0.3) == 3.5  # exact hit: the midpoint
    # zero weights are dropped before anything else
    assert qrule("math", np.append(x, 100.0), np.append(w, 0.0), 0.95) == 5.0


def test_zeroin_matches_brent():
    root = zeroin(lambda t: t**3 - 2.0, 0.0, 2.0, -2.0, 6.0, 1e-12)
    assert root == pytest.approx(2.0 ** (1 / 3), abs=1e-11)


@pytest.fixture(scope="module")
def design():
    d = pd.read_csv(
        __import__("pathlib").Path(__file__).parent
        / "reference"
        / "scenarios"
        / "data_apistrat.csv"
    )
    return SurveyDesign(d, weights="pw", strata="stype", fpc="fpc")


def test_options_are_checked(design):
    with pytest.raises(UsageError, match="qrule"):
        design.quantile("api00", 0.5, qrule="hf10")
    with pytest.raises(UsageError, match="Taylor designs"):
        design.quantile("api00", 0.5, interval_type="quantile")  # a replicate-design option
    with pytest.raises(UsageError, match="unknown interval_type='likelihood'.*'score', 'quantile'"):
        design.quantile("api00", 0.5, interval_type="likelihood")
    with pytest.raises(UsageError, match="probabilities"):
        design.quantile("api00", 1.5)
    with pytest.raises(UsageError, match="replicate designs"):
        design.replicate("jkn").quantile("api00", 0.5, interval_type="score")


def test_jackknife_quantile_interval_warns(design):
    with pytest.warns(UserWarning, match="jackknife"):
        design.replicate("jkn").quantile("api00", 0.5, interval_type="quantile")


def test_se_is_the_interval_width_over_two_t(design):
    out = design.quantile("api00", [0.25, 0.5], df=float("inf"))
    width = (out["ci_high"] - out["ci_low"]).to_numpy()
    np.testing.assert_allclose(out["se"].to_numpy(), width / (2 * 1.959963984540054), rtol=1e-12)


def test_domain_variances_over_several_columns_of_a_weighted_design_are_not_pretended(design):
    # (domain variance matrices of several columns are checked against R in by_many.csv;
    # on a calibrated design R zeroes the weights outside the domain instead of subsetting)
    raked = design.poststratify("awards", {"No": 2000.0, "Yes": 4194.0})
    with pytest.raises(NotImplementedError, match="several columns of a weighted"):
        raked.by("stype").var(["api00", "api99"])
    one = design.by("awards").var(["api00", "api99"])
    per = design.by("awards").var("api00")
    np.testing.assert_allclose(  # the matrix's first entry is the one-column figure
        one[("estimate", "api00:api00")].to_numpy(), per["estimate"].to_numpy(), rtol=1e-12
    )
    np.testing.assert_allclose(one[("se", "api00:api00")].to_numpy(), per["se"].to_numpy())
