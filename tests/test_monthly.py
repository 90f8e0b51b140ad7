"""The monthly report's weighting scheme: respondents weighted back to the eligible profile."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import TEST_MONTHS
from methods.data.store import Store
from methods.report import monthly
from methods.report import tables as reporting


@pytest.fixture(scope="module")
def month_data(demo_store):
    with Store(demo_store) as st:
        r = st.responses(months=[TEST_MONTHS[-1]])
        v = st.victims(months=[TEST_MONTHS[-1]])
    r = reporting.prepare_responses(r)
    return r, v[v["offence_group"].isin(r["survey"].unique())]


def test_raked_weights_reproduce_the_eligible_profile(month_data):
    sampled, eligible = month_data
    res = monthly.weight_responses(sampled, eligible)
    assert res.raked
    data = res.design.data
    w = res.design.weights
    pop = monthly.profile_columns(eligible)
    merged = {(v, a): b for v, a, b in res.merges}
    for var in monthly.RAKE_VARS:
        got = pd.Series(w).groupby(data[f"{var}_r"].to_numpy()).sum()
        want = pop[var].map(lambda lv, var=var: merged.get((var, lv), lv)).value_counts()
        np.testing.assert_allclose(got.sort_index(), want.sort_index().astype(float), rtol=1e-8)
    # Only respondents carry weight, and the total is the number of eligible victims.
    assert res.design.n == int(sampled["disposition"].astype(str).str.startswith("1.").sum())
    assert w.sum() == pytest.approx(len(eligible))


def test_sparse_categories_are_merged_and_listed(month_data):
    sampled, eligible = month_data
    res = monthly.weight_responses(sampled, eligible, min_cell=20)
    data = res.design.data
    for var in monthly.RAKE_VARS:
        assert data[f"{var}_r"].value_counts().min() >= 20 or data[f"{var}_r"].nunique() == 1
    assert res.merges, "a min_cell of 20 must force some merges on a month of durham"


def test_too_few_respondents_skip_raking_with_a_warning(month_data):
    sampled, eligible = month_data
    few = sampled.iloc[:12]
    with pytest.warns(UserWarning, match="raking to the victim profile skipped"):
        res = monthly.weight_responses(few, eligible, min_cell=10)
    assert not res.raked
