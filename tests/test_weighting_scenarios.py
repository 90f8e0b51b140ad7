"""Methodology scenario: Kalton and Flores-Cervantes (2003) raking of a 4 x 3 table.

Inputs and published outputs are CSVs in tests/fixtures/kalton_flores_cervantes (see its
README.md); this test reads them, rakes one row per respondent, and compares.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from methods import weighting as wt
from methods.design.survey import SurveyDesign

FIX = Path(__file__).resolve().parent / "fixtures" / "kalton_flores_cervantes"


@pytest.fixture(scope="module")
def kfc():
    sample = pd.read_csv(FIX / "input_sample_cells.csv")
    population = pd.read_csv(FIX / "input_population_cells.csv")
    expected = pd.read_csv(FIX / "expected_raked_weights.csv")
    margins = pd.read_csv(FIX / "expected_margins.csv")
    rows = sample.loc[sample.index.repeat(sample["respondents"]), ["a", "b"]]
    rows = rows.reset_index(drop=True).assign(w=1.0)
    return rows, population, expected, margins


def test_margins_file_is_the_population_margins(kfc):
    _, population, _, margins = kfc
    for var in ("a", "b"):
        want = population.groupby(var)["population"].sum()
        got = margins[margins.variable == var].set_index("level")["population_total"]
        pd.testing.assert_series_equal(got, want, check_names=False, check_index_type=False)


def test_kalton_flores_cervantes_raked_weights(kfc):
    rows, population, expected, margins = kfc
    design = SurveyDesign(rows, weights="w")
    spec = {
        var: dict(zip(m["level"], m["population_total"].astype(float)))
        for var, m in margins.groupby("variable")
    }
    raked = wt.rake(design, spec)
    w = pd.Series(raked.weights).groupby([rows["a"], rows["b"]]).agg(["min", "max"])
    assert np.allclose(w["min"], w["max"], rtol=1e-12)  # one weight per cell
    got = w["min"].rename("weight").reset_index().merge(expected, on=["a", "b"])
    assert len(got) == 12
    np.testing.assert_array_equal(np.round(got["weight_x"], 2), got["weight_y"])
    for var, target in spec.items():
        sums = pd.Series(raked.weights).groupby(rows[var]).sum()
        for level, total in target.items():
            assert sums[level] == pytest.approx(total, rel=1e-10)
    # raking is not post-stratification: cell totals are NOT those of the population
    cell_tot = pd.Series(raked.weights).groupby([rows["a"], rows["b"]]).sum()
    pop_cells = population.set_index(["a", "b"])["population"]
    assert not np.allclose(cell_tot.sort_index(), pop_cells.sort_index(), rtol=0.01)


def test_kalton_flores_cervantes_poststratification_is_cell_ratio(kfc):
    """Post-stratifying the same sample to the population cells gives N_ab / n_ab."""
    rows, population, _, _ = kfc
    design = SurveyDesign(rows, weights="w")
    pop = {(a, b): float(n) for a, b, n in population.itertuples(index=False)}
    ps = wt.poststratify(design, ["a", "b"], pop)
    sample = pd.read_csv(FIX / "input_sample_cells.csv").merge(population, on=["a", "b"])
    want = (sample["population"] / sample["respondents"]).to_numpy()
    got = pd.Series(ps.weights).groupby([rows["a"], rows["b"]]).first()
    got = got.reindex(pd.MultiIndex.from_frame(sample[["a", "b"]])).to_numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
