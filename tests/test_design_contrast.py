"""svycontrast with a Python callable and an analytic gradient, against R's figures.

R's numbers are those committed in tests/reference/scenarios/contrasts.csv (``make
r-reference``): ``svycontrast(svymean(~api00+api99, des), quote(api00/api99))``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from methods.core.errors import UsageError
from methods.design.moments import vcov

try:
    from test_reference_scenarios import SCEN, build_design
except ImportError:  # tests/ imported as a package
    from tests.test_reference_scenarios import SCEN, build_design

REF = pd.read_csv(SCEN / "contrasts.csv", keep_default_na=True)


def _r(case: str) -> pd.Series:
    return REF[REF["case"] == case].iloc[0]


@pytest.mark.parametrize("tag", ["strat", "clus", "jkn", "jk1"])
def test_callable_with_analytic_gradient_matches_r(tag):
    ref = _r(f"{tag}_nl_ratio")
    d = build_design(ref["design"])
    m = d.mean(["api00", "api99"])
    out = d.contrast(
        m,
        lambda v: v["api00"] / v["api99"],
        gradient=lambda v: [1.0 / v["api99"], -v["api00"] / v["api99"] ** 2],
    )
    np.testing.assert_allclose(out["estimate"].iloc[0], ref["est"], rtol=1e-10)
    np.testing.assert_allclose(out["se"].iloc[0], ref["se"], rtol=1e-8)


def test_numerical_gradient_equals_analytic():
    d = build_design(_r("strat_nl_ratio")["design"])
    m = d.mean(["api00", "api99"])
    f = "sqrt(api00 * api99) + exp(api00 / 1000) * log(api99)"
    num = d.contrast(m, f)
    a, b = m["estimate"]

    def grad(v):
        x, y = v["api00"], v["api99"]
        return [
            0.5 * np.sqrt(y / x) + np.exp(x / 1000) / 1000 * np.log(y),
            0.5 * np.sqrt(x / y) + np.exp(x / 1000) / y,
        ]

    ana = d.contrast(
        m,
        lambda v: np.sqrt(v["api00"] * v["api99"]) + np.exp(v["api00"] / 1000) * np.log(v["api99"]),
        gradient=grad,
    )
    np.testing.assert_allclose(num["se"], ana["se"], rtol=1e-9)


def test_bad_contrasts_are_refused():
    d = build_design(_r("strat_nl_ratio")["design"])
    m = d.mean(["api00", "api99"])
    with pytest.raises(UsageError, match="not an estimate"):
        d.contrast(m, "api00 / enroll")
    with pytest.raises(UsageError, match="only numbers"):
        d.contrast(m, "__import__('os').getcwd()")
    with pytest.raises(UsageError, match="weights"):
        d.contrast(m, [1.0, 2.0, 3.0])


def test_outputs_with_covariances_still_concatenate():
    """attrs carry value-compared matrices, so pd.concat of estimates works (pandas compares
    attrs with ==)."""
    d = build_design(_r("strat_nl_ratio")["design"])
    a, b = d.mean("api00"), d.mean("api99")
    both = pd.concat([a, b])
    assert list(both.index) == ["api00", "api99"]
    same = pd.concat([a, d.mean("api00")])
    np.testing.assert_allclose(vcov(same).to_numpy(), vcov(a).to_numpy())


def test_outputs_with_covariances_round_trip_through_parquet(tmp_path):
    """attrs are JSON-able, so estimates keep their covariance in a Parquet file."""
    d = build_design(_r("strat_nl_ratio")["design"])
    m = d.mean(["api00", "api99"])
    m.to_parquet(tmp_path / "m.parquet")
    back = pd.read_parquet(tmp_path / "m.parquet")
    np.testing.assert_array_equal(vcov(back).to_numpy(), vcov(m).to_numpy())
    out = d.contrast(back, "api00 / api99")
    assert out["se"].iloc[0] == pytest.approx(_r("strat_nl_ratio")["se"], rel=1e-8)
