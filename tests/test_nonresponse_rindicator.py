"""R-indicators, partial R-indicators and profile tables.

The worked example (tests/fixtures/r_indicator/) is a 2 x 2 frame whose cell response rates
1/2, 2/3, 3/4, 6/7 are logit-additive (odds 1, 2, 3, 6), so the main-effects logistic model
fits them exactly and every figure can be computed by hand; the expected CSVs write out that
arithmetic (Schouten, Cobben and Bethlehem 2009; RISQ manual 2.1; docs/methods.md).
"""

from __future__ import annotations

import ast
import math
import operator
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.linear_model import LogisticRegression

from methods.core.errors import UsageError, ValidationError
from methods.nonresponse.rates import NonresponseWarning, profile_comparison, r_indicator

FIX = Path(__file__).parent / "fixtures" / "r_indicator"

_OPS = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.Pow: operator.pow,
}
_FUNCS = {"sqrt": math.sqrt, "abs": abs, "erfc": math.erfc}


def evaluate(expr) -> float:
    """Evaluate a fixture cell: numbers, + - * / **, and sqrt / abs / erfc (nothing else)."""
    text = str(expr).strip()

    def ev(node):
        if isinstance(node, ast.Expression):
            return ev(node.body)
        if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
            return float(node.value)
        if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
            return _OPS[type(node.op)](ev(node.left), ev(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return -ev(node.operand)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in _FUNCS
            and len(node.args) == 1
        ):
            return _FUNCS[node.func.id](ev(node.args[0]))
        raise ValueError(f"unsupported expression in fixture: {text!r}")

    return ev(ast.parse(text, mode="eval"))


def worked_frame() -> pd.DataFrame:
    """One row per unit of the worked example (104 units, 72 respondents)."""
    cells = pd.read_csv(FIX / "worked_example_frame.csv")
    rows = []
    for _, c in cells.iterrows():
        for i in range(int(c["n_units"])):
            rows.append(
                {
                    "A": c["A"],
                    "B": c["B"],
                    "design_weight": float(c["design_weight"]),
                    "final_weight": float(c["final_weight"]),
                    "responded": i < int(c["n_respondents"]),
                }
            )
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def worked():
    frame = worked_frame()
    res = r_indicator(frame, "responded", ["A", "B"], weights="design_weight", bootstrap=0)
    exp = pd.read_csv(FIX / "worked_example_expected.csv", keep_default_na=False)
    return frame, res, exp


def test_worked_example_propensities_equal_cell_rates(worked):
    frame, res, exp = worked
    for _, row in exp[exp["quantity"] == "propensity"].iterrows():
        a, b = row["category"].split("|")
        mask = ((frame["A"] == a) & (frame["B"] == b)).to_numpy()
        assert np.allclose(res.propensity[mask], evaluate(row["expression"]), atol=1e-9, rtol=0)


def test_worked_example_summary_matches_hand_computation(worked):
    _, res, exp = worked
    assert res.info["N"] == evaluate(exp.loc[exp["quantity"] == "N", "expression"].iloc[0])
    for q in ["mean_rho", "S_rho", "R", "CV", "max_bias_per_sd_y"]:
        want = evaluate(exp.loc[exp["quantity"] == q, "expression"].iloc[0])
        assert res.summary.loc[q, "estimate"] == pytest.approx(want, rel=1e-9, abs=1e-12), q
    # R = 1 - 2 S(rho) and CV = S / mean, by definition
    s = res.summary["estimate"]
    assert s["R"] == pytest.approx(1 - 2 * s["S_rho"], abs=1e-15)
    assert s["R"] == pytest.approx(0.77748088757, abs=1e-10)  # 1 - 2 sqrt(875/70686)


@pytest.mark.parametrize("kind", ["pu", "pc"])
def test_worked_example_partial_indicators(worked, kind):
    _, res, exp = worked
    table = res.partial_unconditional if kind == "pu" else res.partial_conditional
    for _, row in exp[exp["quantity"].str.startswith(kind)].iterrows():
        if row["quantity"].endswith("variable"):
            got = table[(table["variable"] == row["variable"]) & (table["level"] == "variable")]
        else:
            got = table[
                (table["variable"] == row["variable"]) & (table["category"] == row["category"])
            ]
        assert len(got) == 1
        want = evaluate(row["expression"])
        assert got["value"].iloc[0] == pytest.approx(want, rel=1e-8, abs=1e-12), row.to_dict()
    # weighted N_k: a1 has 50 units but N_k = 2 * 50 = 100
    if kind == "pu":
        a1 = table[(table["variable"] == "A") & (table["category"] == "a1")].iloc[0]
        assert a1["N_k"] == 100 and a1["n_k"] == 50
        assert a1["mean_rho"] == pytest.approx(0.6, abs=1e-12)


def _random_frame(n, seed, weights=True):
    rng = np.random.default_rng(seed)
    f = pd.DataFrame(
        {
            "age": rng.choice(["16-34", "35-54", "55+"], n, p=[0.4, 0.35, 0.25]),
            "gender": rng.choice(["female", "male"], n),
            "offence": rng.choice(["burglary", "vehicle", "violent", "asb"], n),
        }
    )
    lp = -0.4 + 0.9 * (f.age == "55+") + 0.3 * (f.age == "35-54") + 0.25 * (f.gender == "female")
    lp = lp - 0.5 * (f.offence == "asb")
    f["responded"] = rng.random(n) < 1 / (1 + np.exp(-lp))
    f["d"] = rng.choice([5.0, 10.0, 20.0], n) if weights else 1.0
    return f


def test_one_covariate_propensities_equal_weighted_cell_rates():
    f = _random_frame(3000, 1)
    res = r_indicator(f, "responded", ["offence"], weights="d", bootstrap=0)
    w1 = f["d"] * f["responded"]
    by_cell = w1.groupby(f["offence"]).sum() / f["d"].groupby(f["offence"]).sum()
    rate = by_cell.reindex(f["offence"]).to_numpy()
    assert np.max(np.abs(res.propensity - rate)) < 1e-6
    # and the unconditional partial of that variable's categories uses those rates
    pu = res.partial_unconditional.set_index("category")
    assert pu.loc["asb", "mean_rho"] == pytest.approx(by_cell["asb"], abs=1e-9)


def test_variance_decomposition_and_category_means():
    """S^2 (N-1)/N = P_u(X)^2 + within-X variance (Schouten, Shlomo and Skinner 2011, sec. 3)."""
    f = _random_frame(4000, 2)
    res = r_indicator(f, "responded", ["age", "gender", "offence"], weights="d", bootstrap=0)
    d, rho = f["d"].to_numpy(), res.propensity
    N = d.sum()
    S2 = res.summary.loc["S_rho", "estimate"] ** 2
    for var in ["age", "gender", "offence"]:
        codes = pd.factorize(f[var], sort=True)[0]
        m_k = np.bincount(codes, d * rho) / np.bincount(codes, d)
        within = (d * (rho - m_k[codes]) ** 2).sum() / N
        pu = res.partial_unconditional
        pu_var = pu[(pu.variable == var) & (pu.level == "variable")]["value"].iloc[0]
        assert S2 * (N - 1) / N == pytest.approx(pu_var**2 + within, rel=1e-10)
        # main-effects logistic score equations: mean propensity in a category = its weighted rate
        rate = np.bincount(codes, d * f["responded"]) / np.bincount(codes, d)
        cats = pu[(pu.variable == var) & (pu.level == "category")]
        assert np.allclose(cats["mean_rho"].to_numpy(), rate, atol=1e-7)
        # category-level squares add up to the variable level
        assert (cats["value"] ** 2).sum() == pytest.approx(pu_var**2, rel=1e-10)
        pc = res.partial_conditional
        pc_cats = pc[(pc.variable == var) & (pc.level == "category")]["value"]
        pc_var = pc[(pc.variable == var) & (pc.level == "variable")]["value"].iloc[0]
        assert (pc_cats**2).sum() == pytest.approx(pc_var**2, rel=1e-10)


def test_single_covariate_conditional_partial_is_the_whole_sd():
    f = _random_frame(1000, 3)
    res = r_indicator(f, "responded", ["age"], weights="d", bootstrap=0)
    N = f["d"].sum()
    S = res.summary.loc["S_rho", "estimate"]
    pc = res.partial_conditional
    pc_var = pc[pc.level == "variable"]["value"].iloc[0]
    assert pc_var == pytest.approx(S * math.sqrt((N - 1) / N), rel=1e-12)


def test_bias_bound_for_a_given_y_is_attained_by_y_equal_rho():
    """|bias| <= S(rho) S(y) / mean(rho), with equality when y is the propensity itself."""
    f = _random_frame(3000, 4)
    first = r_indicator(f, "responded", ["age", "gender", "offence"], weights="d", bootstrap=0)
    f["y"] = first.propensity
    res = r_indicator(f, "responded", ["age", "gender", "offence"], weights="d", bootstrap=0, y="y")
    d, rho, y = f["d"].to_numpy(), res.propensity, f["y"].to_numpy()
    expected_bias = (d * rho * y).sum() / (d * rho).sum() - (d * y).sum() / d.sum()
    bound = res.summary.loc["max_bias_y", "estimate"]
    S = res.summary.loc["S_rho", "estimate"]
    assert res.summary.loc["S_y", "estimate"] == pytest.approx(S, rel=1e-12)
    assert bound == pytest.approx(S * S / res.summary.loc["mean_rho", "estimate"], rel=1e-12)
    assert 0 < expected_bias <= bound
    assert expected_bias > 0.999 * bound  # (N-1)/N apart


def test_bootstrap_se_matches_monte_carlo_sd():
    """Bootstrap SE of R is close to the SD of R over repeated response draws."""
    base = _random_frame(1500, 5, weights=False)
    lp = (
        -0.4
        + 0.9 * (base.age == "55+")
        + 0.3 * (base.age == "35-54")
        - 0.5 * (base.offence == "asb")
    )
    p = 1 / (1 + np.exp(-lp.to_numpy()))
    rng = np.random.default_rng(50)
    covs = ["age", "gender", "offence"]
    Rs, ses = [], []
    for sim in range(60):
        f = base.copy()
        f["responded"] = rng.random(len(f)) < p
        boot = 100 if sim < 6 else 0
        res = r_indicator(f, "responded", covs, bootstrap=boot, seed=sim)
        Rs.append(res.R)
        if boot:
            ses.append(res.summary.loc["R", "se"])
    mc_sd = np.std(Rs, ddof=1)
    assert 0.7 * mc_sd < np.mean(ses) < 1.4 * mc_sd, (np.mean(ses), mc_sd)


def test_bootstrap_is_reproducible_and_gives_partial_ses():
    f = _random_frame(800, 6)
    a = r_indicator(f, "responded", ["age", "offence"], weights="d", bootstrap=50, seed=3)
    b = r_indicator(f, "responded", ["age", "offence"], weights="d", bootstrap=50, seed=3)
    pd.testing.assert_frame_equal(a.summary, b.summary)
    assert len(a.replicates) == 50
    assert (a.partial_unconditional["se"] > 0).all()
    assert (a.partial_conditional["se"] > 0).all()
    s = a.summary.loc["R"]
    assert s["ci_low"] == pytest.approx(s["estimate"] - 1.959963984540054 * s["se"])


def test_custom_model_is_used():
    f = _random_frame(1000, 7)
    heavy = LogisticRegression(C=1e-8)  # shrinks every coefficient to ~0
    res = r_indicator(f, "responded", ["age", "offence"], model=heavy, bootstrap=0)
    assert res.summary.loc["S_rho", "estimate"] < 1e-4
    assert res.R > 0.9998


def test_refusals():
    f = _random_frame(200, 8)
    with pytest.raises(UsageError, match="both respondents and non-respondents"):
        r_indicator(f.assign(responded=True), "responded", ["age"])
    g = f.copy()
    g.loc[3, "age"] = None
    with pytest.raises(ValidationError, match="missing values") as info:
        r_indicator(g, "responded", ["age"])
    assert info.value.rows == [4]
    with pytest.raises(UsageError, match="sum to"):
        r_indicator(f, "responded", ["age"], weights=np.full(len(f), 1 / len(f)))
    with pytest.raises(ValidationError, match="true/false"):
        r_indicator(f.assign(responded=2), "responded", ["age"])
    with pytest.raises(UsageError, match="not found"):
        r_indicator(f, "responded", ["nope"])


def test_separation_warns_with_advice():
    f = _random_frame(400, 9)
    f.loc[f["offence"] == "asb", "responded"] = False  # a cell with 0% response
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = r_indicator(f, "responded", ["offence"], bootstrap=0)
    asb = (f["offence"] == "asb").to_numpy()
    assert res.propensity[asb].max() < 1e-6
    # either sklearn converged to ~0 silently or we passed on its warning with advice
    for w in caught:
        if issubclass(w.category, NonresponseWarning):
            assert "collapsing" in str(w.message)


@pytest.mark.r
@pytest.mark.skipif(shutil.which("Rscript") is None, reason="Rscript not installed")
def test_propensities_match_r_glm(tmp_path):
    """The default model equals R's weighted binomial glm (the RISQ code's model)."""
    f = _random_frame(1200, 10)
    path = tmp_path / "frame.csv"
    f.assign(responded=f["responded"].astype(int)).to_csv(path, index=False)
    script = (
        f"d <- read.csv('{path}'); d$w <- d$d / mean(d$d);"
        "m <- suppressWarnings(glm(responded ~ age + gender + offence, family = binomial, "
        "data = d, weights = w, control = glm.control(epsilon = 1e-14, maxit = 100)));"
        "p <- fitted(m); mu <- weighted.mean(p, d$d);"
        "S <- sqrt(sum(d$d * (p - mu)^2) / (sum(d$d) - 1));"
        "cat(sprintf('%.15f', c(1 - 2 * S, p)), sep = '\\n')"
    )
    out = subprocess.run(["Rscript", "-e", script], capture_output=True, text=True, check=True)
    vals = np.array([float(x) for x in out.stdout.split()])
    res = r_indicator(f, "responded", ["age", "gender", "offence"], weights="d", bootstrap=0)
    assert np.max(np.abs(res.propensity - vals[1:])) < 1e-7
    assert res.R == pytest.approx(vals[0], abs=1e-8)


# ------------------------------------------------------------------ profile comparison


def test_profile_comparison_matches_worked_example():
    frame = worked_frame()
    pc = profile_comparison(
        frame,
        "responded",
        ["A", "B"],
        weights="final_weight",
        frame_weights="design_weight",
    )
    exp = pd.read_csv(FIX / "profile_expected.csv", keep_default_na=False)
    got = pc.categories.set_index(["variable", "category"])
    for _, row in exp.iterrows():
        g = got.loc[(row["variable"], row["category"])]
        assert g["n_frame"] == int(row["n_frame"])
        assert g["n_respondents"] == int(row["n_respondents"])
        for c in [
            "pct_frame",
            "pct_respondents",
            "pct_weighted",
            "asmd_respondents",
            "asmd_weighted",
        ]:
            assert g[c] == pytest.approx(evaluate(row[c]), rel=1e-12, abs=1e-12), (
                row["category"],
                c,
            )
    texp = pd.read_csv(FIX / "profile_tests_expected.csv", keep_default_na=False)
    for _, row in texp.iterrows():
        t = pc.tests.loc[row["variable"]]
        assert t["df"] == int(row["df"])
        for c in ["chi2_gof", "p_gof", "chi2_fpc", "p_fpc"]:
            assert t[c] == pytest.approx(evaluate(row[c]), rel=1e-10), (row["variable"], c)


def test_fpc_chi_square_is_the_independence_test():
    f = _random_frame(2500, 11)
    pc = profile_comparison(f, "responded", ["age", "offence"])
    for var in ["age", "offence"]:
        table = pd.crosstab(f[var], f["responded"]).to_numpy()
        chi2, p, dof, _ = stats.chi2_contingency(table, correction=False)
        assert pc.tests.loc[var, "chi2_fpc"] == pytest.approx(chi2, rel=1e-10)
        assert pc.tests.loc[var, "p_fpc"] == pytest.approx(p, rel=1e-8)
        assert pc.tests.loc[var, "df"] == dof
    assert pc.categories["pct_weighted"].isna().all()  # no weights given


def test_profile_small_expected_counts_warn():
    f = _random_frame(60, 12)
    f.loc[:2, "offence"] = "rape"
    with pytest.warns(NonresponseWarning, match="expected respondent count"):
        profile_comparison(f, "responded", ["offence"])


# A replicate without the rare level has an all-zero dummy: sklearn falls back from Newton to
# lbfgs with a LinAlgWarning, which is expected here.
@pytest.mark.filterwarnings("ignore:The inner solver of NewtonCholeskySolver")
def test_bootstrap_se_of_conditional_partials_survives_a_rare_pattern():
    """A pattern held by three units is sometimes absent from a bootstrap replicate; the conditional
    partial indicators' SEs must still be finite (regression: they were NaN)."""
    import numpy as np
    import pandas as pd

    from methods.nonresponse.rates import r_indicator

    rng = np.random.default_rng(3)
    n = 400
    frame = pd.DataFrame(
        {
            "a": rng.choice(["x", "y"], n),
            "b": rng.choice(["u", "v"], n),
        }
    )
    frame.loc[[0, 1, 2], ["a", "b"]] = ["z", "w"]  # a pattern of three units
    p = np.where(frame["a"] == "x", 0.6, 0.4)
    frame["r"] = rng.random(n) < p
    frame.loc[[0, 1, 2], "r"] = [True, False, True]  # mixed: no separation
    res = r_indicator(frame, "r", ["a", "b"], bootstrap=100, seed=1)
    se = res.partial_conditional["se"].to_numpy(dtype=float)
    assert np.isfinite(se).all(), res.partial_conditional
