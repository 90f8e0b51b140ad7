"""Weighting: hand-computed checks, error messages, non-response adjustment, trimming,
diagnostics and plots. (R cross-checks: test_weighting_r.py; properties:
test_weighting_properties.py; Kalton and Flores-Cervantes: test_weighting_scenarios.py.)
"""

from __future__ import annotations

import tracemalloc
import warnings

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from methods import weighting as wt  # noqa: E402
from methods.core.errors import ConvergenceError, UsageError, ValidationError  # noqa: E402
from methods.design.survey import SurveyDesign  # noqa: E402
from methods.weighting.nonresponse import CellsCollapsedWarning  # noqa: E402

AGE = {"young": 300.0, "old": 700.0}
SEX = {"f": 520.0, "m": 480.0}


@pytest.fixture
def small():
    """Eight respondents, weights 100 each (total 800), two margins."""
    df = pd.DataFrame(
        {
            "age": ["young", "young", "young", "old", "old", "old", "old", "old"],
            "sex": ["f", "m", "m", "f", "f", "m", "m", "f"],
            "x": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "y": [0.0, 1.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0],
            "w": 100.0,
            "stratum": ["a", "a", "a", "a", "b", "b", "b", "b"],
        }
    )
    return SurveyDesign(df, weights="w", strata="stratum")


# --------------------------------------------------------------------------- hand-checked
def test_poststratify_by_hand(small):
    ps = wt.poststratify(small, "age", AGE)
    # young: 3 units of 100 -> 300 (factor 1); old: 5 units of 100 -> 700 (factor 1.4)
    np.testing.assert_allclose(ps.weights, [100] * 3 + [140] * 5)
    assert small.weights.tolist() == [100.0] * 8  # the input design is unchanged


def test_poststratify_population_forms_agree(small):
    cells = {("young", "f"): 150.0, ("young", "m"): 150.0, ("old", "f"): 400.0, ("old", "m"): 300.0}
    frame = pd.DataFrame([(a, s, t) for (a, s), t in cells.items()], columns=["age", "sex", "N"])
    a = wt.poststratify(small, ["age", "sex"], cells)
    b = small.poststratify(["age", "sex"], frame)
    np.testing.assert_allclose(a.weights, b.weights)
    # young-f: 1 unit -> 150; young-m: 2 units -> 75 each; old-f: 3 -> 133.3; old-m: 2 -> 150
    np.testing.assert_allclose(a.weights, [150, 75, 75, 400 / 3, 400 / 3, 150, 150, 400 / 3])


def test_calibrated_totals_have_zero_standard_error(small):
    """A calibrated (or post-stratified) total is known exactly: SE 0, as in R."""
    ps = wt.poststratify(small, "age", AGE)
    young = small.data.assign(is_young=(small.data["age"] == "young").astype(float))
    ps_y = wt.poststratify(SurveyDesign(young, weights="w", strata="stratum"), "age", AGE)
    out = ps_y.total("is_young").iloc[0]
    assert out["estimate"] == pytest.approx(300.0) and out["se"] == pytest.approx(0, abs=1e-9)
    cal = wt.calibrate(small, {"age": AGE, "x": 5200.0})
    out = cal.total("x").iloc[0]
    assert out["estimate"] == pytest.approx(5200.0) and out["se"] == pytest.approx(0, abs=1e-8)
    assert ps.total("y").iloc[0]["se"] > 0


def test_linear_calibration_is_the_greg_formula(small):
    """g = 1 + x' (X'DX)^{-1} (T - X'd) (Deville and Sarndal 1992, eq. 2.5), by hand."""
    cal = wt.calibrate(small, {"x": 5000.0}, population_size=1000.0)
    x = np.column_stack([np.ones(8), small.data["x"]])
    d = small.weights
    lam = np.linalg.solve(x.T @ (x * d[:, None]), np.array([1000.0, 5000.0]) - x.T @ d)
    np.testing.assert_allclose(cal.weights, d * (1 + x @ lam), rtol=1e-12)


def test_categorical_dtype_and_strings_give_the_same_weights(small):
    cat = small.data.astype({"age": "category", "sex": "category"})
    a = wt.rake(small, {"age": AGE, "sex": SEX})
    b = wt.rake(SurveyDesign(cat, weights="w", strata="stratum"), {"age": AGE, "sex": SEX})
    np.testing.assert_allclose(a.weights, b.weights, rtol=1e-14)


# --------------------------------------------------------------------------- errors
def test_level_in_data_missing_from_margin(small):
    with pytest.raises(ValidationError, match=r"'old'.*no population total") as exc:
        wt.rake(small, {"age": {"young": 300.0}, "sex": SEX})
    assert exc.value.column == "age" and exc.value.rows == [4, 5, 6, 7, 8]


def test_level_in_margin_missing_from_data(small):
    with pytest.raises(ValidationError, match=r"'middle'.*no sample units"):
        wt.rake(small, {"age": {**AGE, "middle": 10.0}, "sex": {"f": 515.0, "m": 495.0}})


def test_positive_sample_level_with_zero_total(small):
    with pytest.raises(ValidationError, match="population total of 0"):
        wt.poststratify(small, "age", {"young": 0.0, "old": 1000.0})


def test_margins_that_disagree_on_population_size(small):
    with pytest.raises(ValidationError, match=r"disagree.*age: 1000.*sex: 1001"):
        wt.rake(small, {"age": AGE, "sex": {"f": 520.0, "m": 481.0}})


def test_calibration_argument_errors(small):
    with pytest.raises(UsageError, match="logit calibration needs finite bounds"):
        wt.calibrate(small, {"age": AGE}, distance="logit")
    with pytest.raises(UsageError, match="exclude 1"):
        wt.calibrate(small, {"age": AGE}, bounds=(1.2, 2.0))
    with pytest.raises(UsageError, match="distance must be one of"):
        wt.calibrate(small, {"age": AGE}, distance="cubic")
    with pytest.raises(UsageError, match="not numeric"):
        wt.calibrate(small, {"age": 1000.0})
    with pytest.raises(ValidationError, match="different population sizes"):
        wt.calibrate(small, {"age": AGE}, population_size=999.0)


def test_negative_weights_are_reported(small):
    with pytest.warns(UserWarning, match="negative"):
        wt.calibrate(small, {"x": 1000.0}, population_size=1000.0)


def test_calibration_memory_is_linear_in_n():
    """n = 200,000 and p = 12: an n x n matrix would need 320 GB; we stay near O(n p)."""
    rng = np.random.default_rng(3)
    n = 200_000
    df = pd.DataFrame(rng.gamma(2.0, 1.0, (n, 10)), columns=[f"x{j}" for j in range(10)])
    df["g"] = rng.choice(["a", "b", "c"], n)
    df["w"] = rng.uniform(1, 3, n)
    design = SurveyDesign(df, weights="w")
    wx = df["w"].to_numpy() * rng.uniform(0.9, 1.1, n)
    pop = {f"x{j}": float(df[f"x{j}"] @ wx) for j in range(10)}
    pop["g"] = pd.Series(wx).groupby(df["g"]).sum().to_dict()
    tracemalloc.start()
    cal = wt.calibrate(design, pop, distance="logit", bounds=(0.5, 2.0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 25 * n * 12 * 8  # a few n x p float arrays (~19 MB each); not n^2
    assert abs(cal.weights @ df["x3"].to_numpy() / pop["x3"] - 1) < 1e-9


# --------------------------------------------------------------------------- replicates
def test_bootstrap_replicates_are_each_raked_to_the_margins():
    design, margins = _rake_problem()
    rep = design.replicate("subbootstrap", replicates=20, seed=11)
    raked = wt.rake(rep, margins)
    for col, target in margins.items():
        values = design.data[col].to_numpy()
        for level, total in target.items():
            np.testing.assert_allclose(raked._rep[values == level].sum(axis=0), total, rtol=1e-9)
    assert raked.total("w").iloc[0]["se"] > 0


def test_replicate_with_an_empty_level_is_refused(small):
    rep = small.replicate("jkn")  # dropping unit 1 empties cell young-f in one replicate
    with pytest.raises(ValidationError, match=r"zero total weight in replicate"):
        wt.poststratify(
            rep,
            ["age", "sex"],
            {
                ("young", "f"): 150.0,
                ("young", "m"): 150.0,
                ("old", "f"): 400.0,
                ("old", "m"): 300.0,
            },
        )


# --------------------------------------------------------------------------- non-response
@pytest.fixture
def sampled():
    """Ten sampled victims in two offence cells; cell 'fraud' has 2 of 4 responding."""
    df = pd.DataFrame(
        {
            "offence": ["burglary"] * 6 + ["fraud"] * 4,
            "age": ["young", "old"] * 5,
            "resp": [1, 1, 0, 1, 0, 1, 1, 0, 0, 1],
            "w": [10.0, 10.0, 20.0, 20.0, 10.0, 30.0, 5.0, 5.0, 15.0, 15.0],
            "y": [1.0, 0.0, np.nan, 1.0, np.nan, 1.0, 0.0, np.nan, np.nan, 1.0],
            "stratum": ["s1"] * 5 + ["s2"] * 5,
        }
    )
    return SurveyDesign(df, weights="w", strata="stratum")


def test_weighting_class_adjustment_by_hand(sampled):
    out = wt.adjust_nonresponse(sampled, "resp", cells="offence")
    # burglary: sum d = 100, respondents' d = 10+10+20+30 = 70 -> factor 100/70
    # fraud: sum d = 40, respondents' d = 5+15 = 20 -> factor 2
    f = 100 / 70
    np.testing.assert_allclose(out.weights, [10 * f, 10 * f, 20 * f, 30 * f, 10, 30])
    assert out.n == 6 and out.weights.sum() == pytest.approx(140.0)
    assert out.data["y"].notna().all()
    table = wt.history(out)[-1].info["cells"]
    assert table["responded"].tolist() == [4, 2]
    assert out.mean("y").iloc[0]["estimate"] == pytest.approx((10 * f + 20 * f + 30 * f + 30) / 140)


def test_respondent_free_cell_raises_naming_it(sampled):
    df = sampled.data.assign(resp=[1, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    d = SurveyDesign(df, weights="w", strata="stratum")
    with pytest.raises(ValidationError, match=r"offence=fraud: 4 sampled, 0 responded"):
        wt.adjust_nonresponse(d, "resp", cells="offence")


def test_collapse_merges_and_reports(sampled):
    df = sampled.data.assign(resp=[1, 1, 0, 1, 0, 1, 0, 0, 0, 0])
    d = SurveyDesign(df, weights="w", strata="stratum")
    with pytest.warns(CellsCollapsedWarning, match=r"offence=fraud.*offence=burglary"):
        out = wt.adjust_nonresponse(d, "resp", cells="offence", collapse=True)
    merged = wt.history(out)[-1].info["merged"]
    assert merged == [{"cells": ["offence=fraud"], "merged_into": ["offence=burglary"]}]
    # one class: sum d = 140 over respondents' 70 -> factor 2
    np.testing.assert_allclose(out.weights, [20, 20, 40, 60])


def test_collapse_prefers_adjacent_level_within_the_same_group():
    df = pd.DataFrame(
        {
            "off": ["a"] * 6 + ["b"] * 6,
            "age": ["1", "1", "2", "2", "3", "3"] * 2,
            "resp": [1, 0, 0, 0, 1, 1, 1, 1, 1, 0, 1, 1],
            "w": 1.0,
        }
    )
    with pytest.warns(CellsCollapsedWarning):
        out = wt.adjust_nonresponse(
            SurveyDesign(df, weights="w"), "resp", cells=["off", "age"], collapse=True
        )
    merged = wt.history(out)[-1].info["merged"]
    # a/2 (no respondents) joins a neighbour in off=a: a/1 and a/3 both have 2 sampled -> a/1
    assert merged[0]["cells"] == ["off=a, age=2"]
    assert merged[0]["merged_into"] == ["off=a, age=1"]


def test_replicates_are_adjusted_with_their_own_weights(sampled):
    rep = sampled.replicate("jkn")
    out = wt.adjust_nonresponse(rep, "resp", cells="offence")
    r = sampled.data["resp"].to_numpy() == 1
    codes = (sampled.data["offence"] == "fraud").to_numpy().astype(int)
    for j in range(rep._rep.shape[1]):
        wr = rep._rep[:, j]
        fac = np.array([wr[codes == k].sum() / wr[(codes == k) & r].sum() for k in (0, 1)])
        np.testing.assert_allclose(out._rep[:, j], (wr * fac[codes])[r], rtol=1e-12)


def test_propensity_classes():
    rng = np.random.default_rng(5)
    n = 2000
    df = pd.DataFrame({"age": rng.choice(["16-34", "35-54", "55+"], n), "x": rng.normal(size=n)})
    p = 1 / (1 + np.exp(-(-0.5 + 0.8 * (df["age"] == "55+") + 0.5 * df["x"])))
    df["resp"] = rng.random(n) < p
    df["w"] = rng.uniform(1, 4, n)
    d = SurveyDesign(df, weights="w")
    out = wt.adjust_nonresponse(d, "resp", covariates=["age", "x"], classes=5)
    info = wt.history(out)[-1].info
    table = info["cells"]
    assert len(table) == 5 and table["sampled"].between(395, 405).all()
    # each class's factor is its inverse weighted response rate
    np.testing.assert_allclose(table["factor"], 1 / table["response_rate_weighted"])
    assert out.weights.sum() == pytest.approx(df["w"].sum())
    # estimated propensities rank classes in order
    assert np.all(np.diff(table["response_rate_weighted"]) > 0)
    from sklearn.ensemble import RandomForestClassifier

    a = wt.adjust_nonresponse(
        d,
        "resp",
        model=RandomForestClassifier(n_estimators=20, min_samples_leaf=100),
        covariates=["age", "x"],
        seed=1,
    )
    b = wt.adjust_nonresponse(
        d,
        "resp",
        model=RandomForestClassifier(n_estimators=20, min_samples_leaf=100),
        covariates=["age", "x"],
        seed=1,
    )
    np.testing.assert_array_equal(a.weights, b.weights)


def test_nonresponse_adjustment_must_come_first(small):
    raked = wt.rake(small, {"age": AGE, "sex": SEX})
    with pytest.raises(UsageError, match="first weighting step"):
        wt.adjust_nonresponse(raked, np.ones(8, bool))


# --------------------------------------------------------------------------- trimming
def _rake_problem(seed=2, n=400):
    rng = np.random.default_rng(seed)
    df = pd.DataFrame(
        {"a": rng.choice(list("pqrs"), n, p=[0.1, 0.2, 0.3, 0.4]), "b": rng.choice(list("xy"), n)}
    )
    df["w"] = rng.gamma(3.0, 10.0, n)
    margins = {
        "a": {"p": 1500.0, "q": 2500.0, "r": 3500.0, "s": 4500.0},
        "b": {"x": 6500.0, "y": 5500.0},
    }
    return SurveyDesign(df, weights="w"), margins


def test_trim_then_recalibrate_meets_caps_and_margins():
    design, margins = _rake_problem()
    raked = design.rake(margins)
    cap = float(np.quantile(raked.weights, 0.9))
    trimmed = raked.trim(upper=cap)
    assert trimmed.weights.max() <= cap * (1 + 1e-6)
    for col, target in margins.items():
        sums = pd.Series(trimmed.weights).groupby(design.data[col].to_numpy()).sum()
        for level, total in target.items():
            assert sums[level] == pytest.approx(total, rel=1e-9)
    kinds = [s.kind for s in wt.history(trimmed)]
    assert kinds == ["rake", "trim", "rake"]


def test_trim_without_recalibration_keeps_the_total():
    design, margins = _rake_problem()
    raked = design.rake(margins)
    t = raked.trim(lower=15.0, upper=60.0, recalibrate=False)
    assert t.weights.sum() == pytest.approx(raked.weights.sum(), rel=1e-12)
    assert t.weights.min() >= 15.0 - 1e-9 and t.weights.max() <= 60.0 + 1e-9


def test_trim_errors():
    design, margins = _rake_problem()
    with pytest.raises(UsageError, match="nothing|no post-stratification"):
        design.trim(upper=50.0)
    raked = design.rake(margins)
    with pytest.raises(UsageError, match="mean positive weight"):
        raked.trim(upper=20.0)
    # level p needs 1500 from ~40 units: weights near 37 are unavoidable under a cap of 32
    n_p = int((design.data["a"] == "p").sum())
    assert 1500 / n_p > 32
    with pytest.raises(ConvergenceError, match="cannot both be met"):
        raked.trim(upper=32.0)


# --------------------------------------------------------------------------- diagnostics
def test_kish_figures_by_hand():
    df = pd.DataFrame({"w": [1.0, 2.0, 3.0, 4.0], "a": list("xyxy")})
    d = SurveyDesign(df, weights="w")
    s = wt.diagnostics(d).summary.loc["final"]
    # (sum w)^2 / sum w^2 = 100 / 30; deff = 4 * 30 / 100 = 1.2 = 1 + CV^2 (CV = sqrt(0.2))
    assert s["n_eff"] == pytest.approx(100 / 30)
    assert s["deff_w"] == pytest.approx(1.2)
    assert s["cv"] == pytest.approx(np.sqrt(0.2))
    assert (s["min"], s["max"]) == (1.0, 4.0)


def test_margin_gaps_before_and_after(small):
    raked = wt.rake(small, {"age": AGE, "sex": SEX})
    diag = wt.diagnostics(raked)
    m = diag.margins.set_index(["variable", "level"])
    # before: young 300 of target 300 (gap 0); old 500 vs 700 (gap -2/7); f 400 vs 520
    assert m.loc[("age", "young"), "gap_before"] == pytest.approx(0.0)
    assert m.loc[("age", "old"), "gap_before"] == pytest.approx(-2 / 7)
    assert m.loc[("sex", "f"), "before"] == pytest.approx(400.0)
    assert np.abs(m["gap_after"]).max() < 1e-10
    assert np.abs(m["gap_after_step"]).max() < 1e-10  # the rake is the last step here
    assert diag.steps["iterations"].iloc[0] == 1  # sex already fits once age is raked
    assert diag.summary.loc["input", "sum"] == pytest.approx(800.0)
    f = diag.factors.loc["overall"]
    g = raked.weights / small.weights
    assert (f["min"], f["max"]) == (pytest.approx(g.min()), pytest.approx(g.max()))


def test_plots(small):
    raked = wt.rake(small, {"age": AGE, "sex": SEX})
    fig = wt.plot_weight_distribution(raked)
    assert "n_eff" in fig.axes[0].get_title()
    fig = wt.plot_profile(raked, AGE, "age")
    bars = fig.axes[0].containers
    heights = {c.get_label(): [b.get_height() for b in c] for c in bars}
    # levels sorted: old, young. sample 5/8 and 3/8; weighted and population 70% / 30%
    np.testing.assert_allclose(heights["sample"], [62.5, 37.5])
    np.testing.assert_allclose(heights["weighted"], [70.0, 30.0])
    np.testing.assert_allclose(heights["population"], [70.0, 30.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        wt.plot_profile(small.data, pd.DataFrame({"age": ["old"] * 7 + ["young"] * 3}), "age")
