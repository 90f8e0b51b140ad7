"""district_table: direct and model estimates side by side with the published choice."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from methods.smallarea import fit_fay_herriot
from methods.smallarea.districts import district_table


def _inputs():
    rng = np.random.default_rng(4)
    m = 12
    cov = pd.DataFrame({"district": [f"D{i}" for i in range(m)], "dep": rng.uniform(-1, 1, m)})
    n = np.array([0, 1, 8, 15, 30, 45, 60, 90, 120, 150, 200, 250])
    k = rng.binomial(np.maximum(n, 1), 0.7)
    est = np.where(n > 0, k / np.maximum(n, 1), np.nan)
    direct = pd.DataFrame({"district": cov.district, "n": n, "estimate": est})
    direct["var"] = np.where(n > 1, 0.7 * 0.3 / np.maximum(n, 1), np.nan)
    return direct[n > 0], cov


def test_district_table_publishes_by_rule_and_adds_up():
    direct, cov = _inputs()
    t = district_table(direct, cov, force_estimate=0.7, min_base=100)
    assert list(t.published) == ["synthetic"] * 2 + ["model"] * 6 + ["direct"] * 4
    assert "no respondents" in t.reason[0] and "single respondent" in t.reason[1]
    fitted = t.iloc[2:]
    w = fitted.n / fitted.n.sum()
    assert float(w @ fitted.model) == pytest.approx(0.7, abs=1e-12)
    # the unbenchmarked model figures are sae-checked EBLUPs; the ratio is common to all
    d = direct.iloc[1:]
    fit = fit_fay_herriot(
        d.estimate.to_numpy(),
        d["var"].to_numpy(),
        np.column_stack([np.ones(10), cov.dep.to_numpy()[2:]]),
    )
    ratio = fitted.model.to_numpy() / fit.eblup
    np.testing.assert_allclose(ratio, ratio[0])
    assert t[["model", "model_lo", "model_hi"]].notna().all().all()
    assert (t.model_lo <= t.model).all() and (t.model <= t.model_hi).all()
