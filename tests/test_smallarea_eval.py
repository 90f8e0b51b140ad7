"""The repeated-sampling evaluation of direct vs EBLUP (methods.smallarea.evaluate)."""

from __future__ import annotations

import numpy as np
import pytest

from methods.smallarea.evaluate import district_population, evaluate


@pytest.mark.filterwarnings("ignore::methods.smallarea.SmallAreaConvergenceWarning")
def test_direct_figures_match_binomial_formulas():
    """The direct proportion is unbiased with RMSE sqrt(p(1-p)/n) (binomial sampling)."""
    pop = district_population(12, n_min=20, n_max=200, seed=5)
    per, bands = evaluate(pop, replicates=3000, seed=11)
    p, n = per["truth"].to_numpy(), per["n"].to_numpy()
    expected = np.sqrt(p * (1 - p) / n) / p
    np.testing.assert_allclose(per["direct_rel_rmse"], expected, rtol=0.05)
    # Monte Carlo error of the mean relative error: sd / sqrt(R); allow 4 of them
    assert (np.abs(per["direct_rel_bias"]) <= 4 * expected / np.sqrt(3000)).all()
    assert bands["districts"].sum() == 12
    assert ((per["eblup_coverage"] >= 0) & (per["eblup_coverage"] <= 1)).all()


def test_eblup_gains_most_in_small_districts():
    per, bands = evaluate(replicates=300, seed=2)
    small = bands.iloc[0]
    assert small["eblup_rel_rmse"] < small["direct_rel_rmse"]
    assert (per["eblup_ci_width"] <= per["direct_ci_width"] + 1e-12).all()
