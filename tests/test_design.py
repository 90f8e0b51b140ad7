"""SurveyDesign: hand-computed scenarios, errors, warnings, immutability and the internals the
weighting module relies on. (Figures from R's survey package: test_design_r_*.py.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from methods.core.errors import UsageError, ValidationError
from methods.design.survey import SinglePSUError, SurveyDesign, compare_independent
from methods.design.variance import hadamard

# A methodology scenario small enough to check by hand: two strata, five PSUs, seven rows.
#
#   stratum psu  y  w   dom      PSU totals of w*y: a1 = 2*1 + 2*0 = 2, a2 = 4*1 = 4
#   A       a1   1  2   x                           b1 = 0, b2 = 3, b3 = 3
#   A       a1   0  2   y        Y = 12, W = 17, mean = 12/17
#   A       a2   1  4   x        V(Y) = 2/1*[(2-3)^2 + (4-3)^2] + 3/2*[(0-2)^2 + (3-2)^2 + (3-2)^2]
#   B       b1   0  3   y             = 4 + 9 = 13
#   B       b2   1  3   x        with fpc N_A = 10, N_B = 6 PSUs: 0.8 * 4 + 0.5 * 9 = 7.7
#   B       b3   1  3   y
#   B       b3   .  3   x        (y missing: dropped, as R's na.rm=TRUE)
SCENARIO = pd.DataFrame(
    {
        "stratum": ["A", "A", "A", "B", "B", "B", "B"],
        "psu": ["a1", "a1", "a2", "b1", "b2", "b3", "b3"],
        "y": [1, 0, 1, 0, 1, 1, np.nan],
        "w": [2, 2, 4, 3, 3, 3, 3],
        "dom": ["x", "y", "x", "y", "x", "y", "x"],
        "N": [10, 10, 10, 6, 6, 6, 6],
    }
)


def scenario(**kw) -> SurveyDesign:
    return SurveyDesign(SCENARIO, weights="w", strata="stratum", psu="psu", **kw)


def test_total_and_its_variance_by_hand():
    t = scenario().total("y")
    assert t["estimate"].iloc[0] == pytest.approx(12.0)
    assert t["se"].iloc[0] == pytest.approx(np.sqrt(13.0))
    tf = scenario(fpc="N").total("y")
    assert tf["se"].iloc[0] == pytest.approx(np.sqrt(7.7))
    assert tf["n"].iloc[0] == 6
    q = stats.norm.ppf(0.975)  # R's confint for svytotal: normal quantiles
    assert tf["ci_low"].iloc[0] == pytest.approx(12 - q * np.sqrt(7.7))


def test_mean_variance_by_hand():
    r = 12 / 17
    # PSU totals of the influence w (y - r) / W
    a1 = (2 * (1 - r) + 2 * (0 - r)) / 17
    a2 = 4 * (1 - r) / 17
    b = np.array([-3 * r, 3 * (1 - r), 3 * (1 - r)]) / 17
    v = (
        2 * ((a1 - (a1 + a2) / 2) ** 2 + (a2 - (a1 + a2) / 2) ** 2)
        + 1.5 * ((b - b.mean()) ** 2).sum()
    )
    m = scenario().mean("y")
    assert m["estimate"].iloc[0] == pytest.approx(r)
    assert m["se"].iloc[0] == pytest.approx(np.sqrt(v))


def test_domain_mean_is_the_ratio_of_zeroed_totals():
    """Domain estimation keeps the design: the mean in domain x is the ratio of y * 1[x] to
    1[x] over the whole sample (Lumley 2010, sec. 2.3), estimate and SE alike."""
    df = SCENARIO.assign(
        yx=np.where(SCENARIO["dom"] == "x", SCENARIO["y"], 0.0),
        ix=(SCENARIO["dom"] == "x").astype(float) * SCENARIO["y"].notna(),
    )
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    by = d.by("dom").mean("y")
    ratio = d.ratio("yx", "ix").iloc[0]
    assert by.loc["x", "estimate"] == pytest.approx(ratio["estimate"], rel=1e-12)
    assert by.loc["x", "se"] == pytest.approx(ratio["se"], rel=1e-12)
    # ... and it is not the variance of the subset, which loses PSU b2 of stratum B and
    # leaves stratum A with a single PSU
    keep = df["dom"] == "y"
    sub = SurveyDesign(df[keep], weights="w", strata="stratum", psu="psu", single_psu="remove")
    assert abs(sub.mean("y")["se"].iloc[0] - by.loc["y", "se"]) > 1e-3


def test_weights_default_from_fpc_and_to_one():
    d = SurveyDesign(SCENARIO, strata="stratum", psu="psu", fpc="N")
    # N_h / n_h with n_h the number of sampled PSUs: A 10/2, B 6/3
    np.testing.assert_allclose(d.weights, [5, 5, 5, 2, 2, 2, 2])
    np.testing.assert_allclose(SurveyDesign(SCENARIO).weights, 1.0)


def test_fpc_as_fraction_equals_counts():
    frac = SCENARIO.assign(f=np.where(SCENARIO["stratum"] == "A", 2 / 10, 3 / 6))
    a = SurveyDesign(frac, weights="w", strata="stratum", psu="psu", fpc="f").total("y")
    b = scenario(fpc="N").total("y")
    np.testing.assert_allclose(a[["estimate", "se"]], b[["estimate", "se"]])


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("kwargs", "frame", "match"),
    [
        ({"weights": "nope"}, SCENARIO, "column 'nope'"),
        ({"weights": "w"}, SCENARIO.assign(w=[2, -1, 4, 3, 3, 3, 3]), "row\\(s\\) 2"),
        ({"weights": "w"}, SCENARIO.assign(w=[2, np.nan, 4, 3, 3, 3, 3]), "non-negative"),
        ({"strata": "stratum"}, SCENARIO.assign(stratum=["A", None] + ["B"] * 5), "row\\(s\\) 2"),
        (
            {"strata": "stratum", "psu": "psu"},
            SCENARIO.assign(psu=["p1", "p1", "p2", "p1", "p2", "p3", "p3"]),
            "nest=True",
        ),
        ({"strata": "stratum", "fpc": "N"}, SCENARIO.assign(N=[10, 11, 10, 6, 6, 6, 6]), "varies"),
        (
            {"strata": "stratum", "fpc": "N"},
            SCENARIO.assign(N=[10, 10, 10, 0.5, 0.5, 0.5, 0.5]),
            "mixes",
        ),
        ({"strata": "stratum", "fpc": "N"}, SCENARIO.assign(N=1), "ambiguous"),
        ({"strata": "stratum", "fpc": "N"}, SCENARIO.assign(N=[2, 2, 2, 6, 6, 6, 6]), "100%"),
    ],
)
def test_bad_designs_are_refused_with_where_and_why(kwargs, frame, match):
    with pytest.raises(ValidationError, match=match):
        SurveyDesign(frame, **kwargs)


def test_nest_true_accepts_psu_labels_reused_across_strata():
    df = SCENARIO.assign(psu=["p1", "p1", "p2", "p1", "p2", "p3", "p3"])
    a = SurveyDesign(df, weights="w", strata="stratum", psu="psu", nest=True).total("y")
    np.testing.assert_allclose(a["se"], scenario().total("y")["se"])


def test_single_psu_error_names_stratum_and_rows():
    df = SCENARIO.assign(stratum=["A", "A", "A", "B", "B", "C", "C"])
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.raises(SinglePSUError, match=r"row\(s\) 6, 7: stratum 'C' has only one PSU"):
        d.mean("y")
    # Certainty / remove: C adds nothing; A gives 4 as before, B (totals 0, 3) gives 9.
    v_ok = SurveyDesign(df, weights="w", strata="stratum", psu="psu", single_psu="certainty")
    assert v_ok.total("y")["se"].iloc[0] == pytest.approx(np.sqrt(13.0))


def test_usage_errors():
    d = scenario()
    with pytest.raises(UsageError, match="single_psu"):
        SurveyDesign(SCENARIO, single_psu="drop")
    with pytest.raises(UsageError, match="ci must be one of"):
        d.proportion("y", ci="agresti")
    with pytest.raises(UsageError, match="conf_level"):
        d.mean("y", conf_level=95)
    with pytest.raises(UsageError, match="clopper-pearson"):
        d.proportion("y", ci="clopper-pearson")
    with pytest.raises(UsageError, match="'z' is not a level"):
        d.compare("y", "dom", "x", "z")
    with pytest.raises(UsageError, match="level 'q' does not occur"):
        d.proportion("dom", level="q")
    with pytest.raises(UsageError, match="pass level="):
        d.proportion("dom")
    with pytest.raises(ValidationError, match="0/1"):
        SurveyDesign(SCENARIO.assign(y=[1, 2, 0, 0, 1, 1, 0])).proportion("y")
    with pytest.raises(UsageError, match="JK1 ignores strata"):
        d.replicate("jk1")
    with pytest.raises(UsageError, match="JKn needs strata"):
        SurveyDesign(SCENARIO, weights="w", psu="psu").replicate("jkn")
    with pytest.raises(ValidationError, match="stratum 'B' has 3"):
        d.replicate("brr")
    with pytest.raises(UsageError, match="replicate method"):
        d.replicate("balanced")


# ---------------------------------------------------------------------------- warnings


def test_empty_domain_gives_nan_and_single_respondent_domain_rs_figures_with_warning():
    """R's svyby: a one-respondent domain keeps its SE (the unit's contribution to the whole
    design's variance: exactly 0 for a mean, as R's figures in scenarios/lonely_domains.csv);
    an empty domain has no estimate."""
    df = SCENARIO.assign(
        dom=pd.Categorical(
            ["x", "y", "x", "y", "x", "lone", "x"], categories=["x", "y", "lone", "none"]
        )
    )
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.warns(UserWarning, match="single respondent") as rec:
        out = d.by("dom").mean("y")
    assert any("no respondents" in str(w.message) for w in rec)
    assert list(out.index) == ["x", "y", "lone", "none"]
    assert out.loc["lone", "estimate"] == 1.0 and out.loc["lone", "se"] == pytest.approx(0.0)
    assert np.isnan(out.loc["none", "estimate"]) and np.isnan(out.loc["none", "se"])
    assert out.loc["none", "n"] == 0
    assert np.isfinite(out.loc["x", "se"])
    with pytest.warns(UserWarning):
        tot = d.by("dom").total("y")
    assert tot.loc["none", "estimate"] == 0.0


def test_missing_by_values_are_left_out_with_warning():
    df = SCENARIO.assign(dom=["x", None, "x", "y", "x", "y", "x"])
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    with pytest.warns(UserWarning, match="1 row\\(s\\) have a missing value in dom"):
        out = d.by("dom").total("y")
    assert out["estimate"].sum() == pytest.approx(12.0 - 2 * 0)


def test_proportion_zero_falls_back_to_exact_bounds_with_warning():
    df = pd.DataFrame({"y": [0.0] * 20, "s": ["a"] * 10 + ["b"] * 10, "w": 3.0})
    d = SurveyDesign(df, weights="w", strata="s")
    for ci in ("logit", "beta", "wilson"):
        with pytest.warns(UserWarning, match="0 or 1"):
            out = d.proportion("y", ci=ci)
        assert out["ci_low"].iloc[0] == 0.0
        assert out["ci_high"].iloc[0] == pytest.approx(1 - 0.025 ** (1 / 20))


# ---------------------------------------------------------------------------- internals


def test_immutability():
    d = scenario()
    w = d.weights
    w[:] = 0
    assert d.weights.sum() == 20
    with pytest.raises(ValueError):
        d._w[0] = 1.0
    data = d.data
    data.loc[0, "y"] = 99
    assert d.mean("y")["estimate"].iloc[0] == pytest.approx(12 / 17)
    d2 = d._replace(_w=np.array(d._w) * 2)
    assert d.total("y")["estimate"].iloc[0] == pytest.approx(12)
    assert d2.total("y")["estimate"].iloc[0] == pytest.approx(24)
    assert d2._strata is d._strata and d2._data is d._data
    with pytest.raises(UsageError, match="unknown attribute"):
        d._replace(_weights=1)
    with pytest.raises(UsageError, match="shape"):
        d._replace(_w=np.ones(3))


def test_lin_variance_applies_calibrations_in_order_to_dense_z():
    calls = []

    class Record:
        def __init__(self, name, factor):
            self.name, self.factor = name, factor

        def adjust(self, z):
            assert isinstance(z, np.ndarray) and z.shape == (7, 2)
            calls.append(self.name)
            return z * self.factor

    d = scenario()._replace(_calibrations=(Record("first", 2.0), Record("second", 0.5)))
    base = scenario().by("dom").total("y")
    out = d.by("dom").total("y")
    assert calls == ["first", "second"]
    np.testing.assert_allclose(out["se"], base["se"])  # 2 * 0.5 = 1
    z = np.column_stack([SCENARIO["w"] * SCENARIO["y"].fillna(0), np.ones(7)])
    np.testing.assert_allclose(scenario()._lin_variance(z)[0, 0], 13.0)


def test_replicate_internals():
    d = SurveyDesign(SCENARIO, weights="w", strata="stratum", psu="psu")
    b1 = d.replicate("subbootstrap", replicates=40, seed=3)
    b2 = d.replicate("subbootstrap", replicates=40, seed=3)
    b3 = d.replicate("subbootstrap", replicates=40, seed=4)
    np.testing.assert_array_equal(b1._rep, b2._rep)
    assert not np.array_equal(b1._rep, b3._rep)
    assert b1._rep.shape == (7, 40) and b1._rep_scale == pytest.approx(1 / 39)
    F = b1._rep_factors
    np.testing.assert_allclose(b1._rep, b1._w[:, None] * F[b1._psu])
    # Rao-Wu: n_h - 1 draws per stratum and replicate, factor m n_h / (n_h - 1)
    ps = b1._struct.psu_stratum
    for h, nh in enumerate(b1._struct.n_h):
        counts = F[ps == h] * (nh - 1) / nh
        np.testing.assert_allclose(counts.sum(axis=0), nh - 1)
        np.testing.assert_allclose(counts, np.round(counts))
    j = d.replicate("jkn")
    assert j._rep.shape[1] == 5  # one replicate per PSU
    np.testing.assert_allclose(sorted(j._rep_rscales), [0.5, 0.5, 2 / 3, 2 / 3, 2 / 3])
    # Re-weighting replicates drops the PSU factors (they no longer describe _rep)
    assert j._replace(_rep=np.array(j._rep) * 1.1)._rep_factors is None
    # Linear statistic: the JKn variance of a total is the Taylor one exactly
    np.testing.assert_allclose(j.total("y")["se"], d.total("y")["se"])


@pytest.mark.parametrize("order", [1, 2, 3, 4, 5, 8, 9, 12, 13, 20, 21, 24, 28, 33, 44, 60])
def test_hadamard_matrices(order):
    H = hadamard(order)
    m = H.shape[0]
    assert m >= order and (m in (1, 2) or m % 4 == 0)
    np.testing.assert_array_equal(H @ H.T, m * np.eye(m))
    assert (H[0] == 1).all()  # R's stored order 36 (and 28) do not start each row with +1
    if order in (9, 12, 20, 24, 44, 60):  # q + 1 with q a prime = 3 mod 4 (Paley)
        assert m == order + (order % 4 and 4 - order % 4)  # the smallest multiple of 4


def test_bootstrap_variance_is_unbiased_for_the_linearisation_variance():
    """Rao-Wu with m_h = n_h - 1 is unbiased for the with-replacement variance of a linear
    statistic (Rao and Wu 1988, sec. 3); with 2000 replicates the SE ratio is within a few %."""
    try:
        from r_support import make_victim_survey
    except ImportError:
        from tests.r_support import make_victim_survey
    v = make_victim_survey()
    d = SurveyDesign(v, weights="w", strata="district", psu="batch", nest=True)
    b = d.replicate("subbootstrap", replicates=2000, seed=11)
    for stat in (lambda x: x.total("sat"), lambda x: x.by("offence").total("sat")):
        ratio = (stat(b)["se"] / stat(d)["se"]).to_numpy()
        assert np.all(np.abs(ratio - 1) < 0.08), ratio
    ratio = b.mean("score")["se"].iloc[0] / d.mean("score")["se"].iloc[0]
    assert abs(ratio - 1) < 0.05


def test_compare_independent_by_hand():
    a = pd.DataFrame({"estimate": [0.8, 0.7], "se": [0.03, 0.04]}, index=["x", "y"])
    b = pd.DataFrame({"estimate": [0.75, 0.7], "se": [0.04, 0.03]}, index=["x", "y"])
    out = compare_independent(a, b)
    assert out.loc["x", "estimate"] == pytest.approx(0.05)
    assert out.loc["x", "se"] == pytest.approx(0.05)  # sqrt(.03^2 + .04^2)
    assert out.loc["x", "p_value"] == pytest.approx(2 * stats.norm.sf(1.0))
    assert out.loc["x", "ci_low"] == pytest.approx(0.05 - stats.norm.ppf(0.975) * 0.05)
    with pytest.warns(UserWarning, match="only one estimate"):
        compare_independent(a, b.loc[["x"]])
    one = compare_independent({"estimate": 1.0, "se": 0.3}, {"estimate": 0.0, "se": 0.4})
    assert one["se"].iloc[0] == pytest.approx(0.5)


def test_proportion_accepts_boolean_and_category_levels():
    d = scenario()
    df = SCENARIO.assign(
        b=SCENARIO["y"].map({1.0: True, 0.0: False}).astype("boolean"),
        c=SCENARIO["y"].map({1.0: "sat", 0.0: "dis"}),
    )
    d = SurveyDesign(df, weights="w", strata="stratum", psu="psu")
    ref = d.proportion("y")
    for out in (d.proportion("b"), d.proportion("c", level="sat")):
        np.testing.assert_allclose(
            out[["estimate", "se", "ci_low", "ci_high"]],
            ref[["estimate", "se", "ci_low", "ci_high"]],
        )


def test_design_df_option_and_degf():
    d = scenario()
    assert d.degf == 5 - 2
    m = d.mean("y", df="design")
    half = stats.t.ppf(0.975, 3) * m["se"].iloc[0]
    assert m["ci_high"].iloc[0] - m["estimate"].iloc[0] == pytest.approx(half)
    assert m.attrs["df"] == [3.0]
    with pytest.warns(UserWarning, match="single respondent"):
        two = d.by(["stratum", "dom"]).total("y")
    assert two.index.names == ["stratum", "dom"]
    assert two["estimate"].sum() == pytest.approx(12.0)


def test_editing_the_input_frame_after_building_the_design_changes_nothing():
    """The design is immutable in fact: pandas >= 3 copy-on-write (the floor in pyproject) means
    an edit of the caller's frame, in place or by column assignment, never reaches the design."""
    df = pd.DataFrame({"y": [1.0, 2.0, 3.0, 4.0], "w": [1.0, 1.0, 1.0, 1.0]})
    d = SurveyDesign(df, weights="w")
    assert d.mean("y")["estimate"].iloc[0] == pytest.approx(2.5)
    df.loc[0, "y"] = 100.0
    df["y"] *= 10
    df.iloc[1, 0] = -7.0
    view = d.frame
    view.loc[2, "y"] = 1e6  # and an edit of what the design hands out
    assert d.mean("y")["estimate"].iloc[0] == pytest.approx(2.5)
    assert d.data["y"].tolist() == [1.0, 2.0, 3.0, 4.0]


def test_from_replicates_refuses_bad_replicate_columns_and_types():
    """svrepdesign input rules: a NaN or negative replicate weight names its column and row;
    unknown types, JKn without rscales and Fay without rho are refused."""
    df = SCENARIO.assign(r1=SCENARIO["w"], r2=SCENARIO["w"] * 2)
    with pytest.raises(ValidationError, match="r2") as exc:
        SurveyDesign.from_replicates(df.assign(r2=[1, 1, -1, 1, 1, 1, 1]), "w", ["r1", "r2"], "JK1")
    assert exc.value.column == "r2"
    with pytest.raises(ValidationError, match="r1"):
        SurveyDesign.from_replicates(df.assign(r1=np.nan), "w", "^r", "BRR")
    with pytest.raises(UsageError, match="type must be"):
        SurveyDesign.from_replicates(df, "w", "^r", "jackknife")
    with pytest.raises(UsageError, match="rscales"):
        SurveyDesign.from_replicates(df, "w", "^r", "JKn")
    with pytest.raises(UsageError, match="rho"):
        SurveyDesign.from_replicates(df, "w", "^r", "Fay")
    with pytest.raises(UsageError, match="names no column"):
        SurveyDesign.from_replicates(df, "w", "^zz", "JK1")
    fay = SurveyDesign.from_replicates(df, "w", "^r", "Fay", rho=0.5)
    assert fay._rep_scale == pytest.approx(1 / (2 * 0.25))  # 1 / (R (1 - rho)^2), R's default
    np.testing.assert_array_equal(fay.replicate_weights, df[["r1", "r2"]].to_numpy())
