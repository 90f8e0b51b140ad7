"""Weighting checked against R's survey package (Lumley), the reference implementation.

R scripts in tests/r/ write the data and R's weights, replicate weights, estimates and SEs
after postStratify, rake, calibrate (linear, raking, logit; bounded and not) and trimWeights,
on R's apiclus1 with the population figures from R's own examples, and on a victim-survey-shaped
data set generated here with numpy. Acceptance: weights to 1e-6 relative, estimates and SEs to
1e-5 relative (SEs that are zero up to rounding, ~1e-16 of the estimate, compared absolutely).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from methods import weighting as wt
from methods.design.survey import SurveyDesign

pytestmark = pytest.mark.r

ROOT = Path(__file__).resolve().parents[1]
R_DIR = ROOT / "tests" / "r"

API_STYPE = {"E": 4421, "H": 755, "M": 1018}
API_SCHWIDE = {"No": 1072, "Yes": 5122}
API_CAL = {"stype": API_STYPE, "api99": 3914069}
API_SCENARIOS = {
    "ps": lambda d: d.poststratify("stype", API_STYPE),
    "rake": lambda d: d.rake({"stype": API_STYPE, "sch.wide": API_SCHWIDE}),
    "rake_bounded": lambda d: d.rake(
        {"stype": API_STYPE, "sch.wide": API_SCHWIDE}, bounds=(0.7, 1.7)
    ),
    "cal_linear": lambda d: d.calibrate(API_CAL),
    "cal_linear_bounded": lambda d: d.calibrate(API_CAL, bounds=(0.7, 1.7)),
    "cal_raking": lambda d: d.calibrate(API_CAL, distance="raking"),
    "cal_logit": lambda d: d.calibrate(API_CAL, distance="logit", bounds=(0.7, 1.7)),
    "ps_then_cal": lambda d: d.poststratify("sch.wide", API_SCHWIDE).calibrate(API_CAL),
    "cal_linear_trim": lambda d: d.calibrate(API_CAL).trim(25, 45, recalibrate=False),
    "cal_trim_strict": lambda d: d.calibrate(API_CAL).trim(20, 45, recalibrate=False),
    "cal_trim_single": lambda d: d.calibrate(API_CAL).trim(
        20, 45, recalibrate=False, strict=False
    ),
    # non-response adjustment by stype classes (R: by hand, then svydesign on respondents)
    "nr": lambda d: d.adjust_nonresponse("resp", cells="stype"),
    "nr_rake": lambda d: d.adjust_nonresponse("resp", cells="stype").rake(
        {"stype": API_STYPE, "sch.wide": API_SCHWIDE}
    ),
}


def _run_r(script: str, outdir: Path) -> None:
    if shutil.which("Rscript") is None:  # the victim-shaped data are generated here: R needed
        pytest.skip("Rscript not found: install R with the survey package to run R cross-checks")
    res = subprocess.run(
        ["Rscript", str(R_DIR / script), str(outdir)], capture_output=True, text=True, timeout=300
    )
    assert res.returncode == 0, f"{script} failed:\n{res.stderr}"


def _close(got, want, rtol, what):
    got, want = np.asarray(got, float), np.asarray(want, float)
    np.testing.assert_allclose(got, want, rtol=rtol, atol=0, err_msg=what)


def _check_estimates(design, ref: pd.DataFrame, scenario: str, kind: str, stats: dict) -> None:
    rows = ref[(ref.scenario == scenario) & (ref.design == kind)]
    rows = rows[rows.stat.isin(list(stats))]
    assert len(rows) == len(stats), f"no R reference for {scenario}/{kind}"
    for stat, fn in stats.items():
        r = rows[rows.stat == stat].iloc[0]
        out = fn(design).iloc[0]
        _close(out["estimate"], r.estimate, 1e-5, f"{scenario}/{kind}/{stat} estimate")
        if abs(r.se) < 1e-9 * abs(r.estimate):  # zero up to rounding (calibrated variable)
            assert abs(out["se"]) < 1e-9 * abs(r.estimate), f"{scenario}/{kind}/{stat} se"
        else:
            _close(out["se"], r.se, 1e-5, f"{scenario}/{kind}/{stat} se")


# --------------------------------------------------------------------------- apiclus1
@pytest.fixture(scope="module")
def api(tmp_path_factory):
    if shutil.which("Rscript") is None:  # the committed copy of R's figures (make r-reference)
        out = ROOT / "tests" / "reference" / "weighting_api"
    else:
        out = tmp_path_factory.mktemp("r_weighting_api")
        _run_r("weighting_api.R", out)
    data = pd.read_csv(out / "apiclus1.csv")
    return out, data, pd.read_csv(out / "estimates.csv")


API_STATS = {
    "mean_api00": lambda d: d.mean("api00"),
    "total_enroll": lambda d: d.total("enroll"),
    "mean_awards01": lambda d: d.mean("awards01"),
}
# domain means (R: svyby) keep the whole calibrated design
API_DOMAIN_STATS = {
    **API_STATS,
    "mean_api00_by_schwide_No": lambda d: d.by("sch.wide").mean("api00").loc[["No"]],
    "mean_api00_by_schwide_Yes": lambda d: d.by("sch.wide").mean("api00").loc[["Yes"]],
}


@pytest.mark.parametrize("scenario", list(API_SCENARIOS))
def test_apiclus1_linearisation_matches_r(api, scenario):
    out, data, ref = api
    design = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc")
    weighted = API_SCENARIOS[scenario](design)
    r_w = pd.read_csv(out / f"weights_{scenario}.csv")["w"].to_numpy()
    _close(weighted.weights, r_w, 1e-6, f"{scenario} weights")
    stats = API_STATS if scenario.startswith("nr") else API_DOMAIN_STATS
    _check_estimates(weighted, ref, scenario, "lin", stats)
    if scenario.startswith("nr"):
        assert weighted.n == int(data["resp"].sum())
    np.testing.assert_array_equal(design.weights, data["pw"].to_numpy())


def test_apiclus1_rescaled_weights_match_r(api):
    """Weights of 1 against totals in thousands: R's grake rescales first (and so do we)."""
    out, data, ref = api
    design = SurveyDesign(data.assign(one=1.0), weights="one", psu="dnum")
    with pytest.warns(UserWarning, match="rescaled by"):
        weighted = design.calibrate(API_CAL, distance="logit", bounds=(0.5, 2.0))
    r_w = pd.read_csv(out / "weights_cal_logit_rescaled.csv")["w"].to_numpy()
    _close(weighted.weights, r_w, 1e-6, "rescaled logit weights")
    _check_estimates(weighted, ref, "cal_logit_rescaled", "lin", API_STATS)


def _with_r_replicates(design, out: Path, name: str, method: str):
    rep = pd.read_csv(out / f"{name}_repweights.csv").to_numpy(float)
    meta = pd.read_csv(out / f"{name}_meta.csv")
    return design._replace(
        _rep=rep,
        _rep_method=method,
        _rep_scale=float(meta["scale"].iloc[0]),
        _rep_rscales=meta["rscales"].to_numpy(float),
    )


@pytest.mark.parametrize("scenario", ["ps", "rake", "cal_linear", "cal_raking", "ps_then_cal"])
def test_apiclus1_jk1_replicates_match_r(api, scenario):
    """Every replicate is re-weighted as R does on an svyrep.design (R's own JK1 weights)."""
    out, data, ref = api
    design = _with_r_replicates(
        SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc"), out, "jk1", "jk1"
    )
    weighted = API_SCENARIOS[scenario](design)
    r_rep = pd.read_csv(out / f"repweights_{scenario}.csv").to_numpy(float)
    zero = r_rep == 0
    assert np.all(weighted._rep[zero] == 0)
    _close(weighted._rep[~zero], r_rep[~zero], 1e-6, f"{scenario} replicate weights")
    _check_estimates(weighted, ref, scenario, "jk1", API_DOMAIN_STATS)


def test_apiclus1_own_jk1_rake_se_matches_r(api):
    """The design's own JK1 replicates, raked, give R's SE (replicate order is immaterial)."""
    _, data, ref = api
    design = SurveyDesign(data, weights="pw", psu="dnum", fpc="fpc").replicate("jk1")
    _check_estimates(API_SCENARIOS["rake"](design), ref, "rake", "jk1", API_STATS)


# --------------------------------------------------------------------------- victim-shaped
AGE = ["16-24", "25-34", "35-44", "45-54", "55-64", "65+"]
ETH = ["asian", "black", "mixed", "other", "white"]
OFF = ["burglary", "fraud", "hate", "vehicle", "violent"]
DIST = ["east", "north", "south", "west"]
VICTIM_BOUNDS = {"rake_bounded": (0.5, 2.5), "cal_logit": (0.5, 2.5)}


def victim_data(seed: int = 20250301, n_pop: int = 20_000):
    """A synthetic victim population and the respondents of a stratified sample of it.

    Strata are offence groups sampled at different rates (fpc = victims in the group); the
    chance of responding rises with age and is lower for minority-ethnic victims, so the
    respondents' profile is off and weighting has work to do. Respondents carry the weight
    N_h / r_h (weighting-class adjustment by stratum).
    """
    rng = np.random.default_rng(seed)
    pop = pd.DataFrame(
        {
            "offence_group": rng.choice(OFF, n_pop, p=[0.2, 0.15, 0.05, 0.25, 0.35]),
            "age_group": rng.choice(AGE, n_pop, p=[0.2, 0.22, 0.18, 0.16, 0.13, 0.11]),
            "gender": rng.choice(["female", "male"], n_pop, p=[0.52, 0.48]),
            "ethnicity": rng.choice(ETH, n_pop, p=[0.08, 0.04, 0.03, 0.02, 0.83]),
            "district": rng.choice(DIST, n_pop),
        }
    )
    pop["days_to_contact"] = rng.gamma(9.0, 7.0, n_pop).round(0)
    frac = {"burglary": 0.15, "fraud": 0.08, "hate": 0.3, "vehicle": 0.05, "violent": 0.06}
    sampled = rng.random(n_pop) < pop["offence_group"].map(frac).to_numpy()
    age_eff = dict(zip(AGE, [-0.8, -0.5, -0.2, 0.1, 0.4, 0.6]))
    eth_eff = {"white": 0.3, "asian": -0.4, "black": -0.5, "mixed": -0.3, "other": -0.4}
    lin = -0.3 + pop["age_group"].map(age_eff) + pop["ethnicity"].map(eth_eff)
    responded = rng.random(n_pop) < 1 / (1 + np.exp(-lin.to_numpy()))
    sample = pop[sampled].copy()
    sample["fpc"] = sample["offence_group"].map(pop["offence_group"].value_counts()).astype(float)
    sample["responded"] = responded[sampled]
    older = (sample["age_group"] > "44").to_numpy()
    p_sat = 1 / (1 + np.exp(-(1.0 + 0.3 * older - 0.01 * (sample["days_to_contact"] - 60))))
    sample["satisfied"] = (rng.random(len(sample)) < p_sat.to_numpy()).astype(float)
    sample = sample.reset_index(drop=True)
    resp = sample[sample["responded"]].reset_index(drop=True)
    resp["w"] = resp["fpc"] / resp["offence_group"].map(resp["offence_group"].value_counts())
    return pop, sample, resp


def victim_population(pop: pd.DataFrame):
    margins = {
        v: pop[v].value_counts().sort_index().astype(float).to_dict()
        for v in ["age_group", "gender", "ethnicity", "district"]
    }
    cells = pop.groupby(["age_group", "gender"]).size().astype(float)
    numeric = {"days_to_contact": float(pop["days_to_contact"].sum())}
    return margins, cells, numeric


@pytest.fixture(scope="module")
def victim(tmp_path_factory):
    out = tmp_path_factory.mktemp("r_weighting_victim")
    pop, _, resp = victim_data()
    margins, cells, numeric = victim_population(pop)
    cols = ["offence_group", "fpc", "w", "age_group", "gender", "ethnicity", "district"]
    resp[[*cols, "days_to_contact", "satisfied"]].to_csv(out / "respondents.csv", index=False)
    pd.DataFrame(
        [(v, k, t) for v, m in margins.items() for k, t in m.items()],
        columns=["variable", "level", "total"],
    ).to_csv(out / "margins.csv", index=False)
    cells.rename("Freq").reset_index().to_csv(out / "cells.csv", index=False)
    pd.DataFrame(list(numeric.items()), columns=["variable", "total"]).to_csv(
        out / "numeric.csv", index=False
    )
    pd.DataFrame(
        [(k, a, b) for k, (a, b) in VICTIM_BOUNDS.items()], columns=["scenario", "lower", "upper"]
    ).to_csv(out / "bounds.csv", index=False)
    _run_r("weighting_victim.R", out)
    return out, resp, (margins, cells, numeric), pd.read_csv(out / "estimates.csv")


def _victim_scenarios(margins, cells, numeric):
    cal = {v: margins[v] for v in ["age_group", "gender", "ethnicity"]} | numeric
    return {
        "ps": lambda d: d.poststratify(["age_group", "gender"], cells.to_dict()),
        "rake": lambda d: d.rake(margins),
        "rake_bounded": lambda d: d.rake(margins, bounds=VICTIM_BOUNDS["rake_bounded"]),
        "cal_linear": lambda d: d.calibrate(cal),
        "cal_raking": lambda d: d.calibrate(cal, distance="raking"),
        "cal_logit": lambda d: d.calibrate(
            cal, distance="logit", bounds=VICTIM_BOUNDS["cal_logit"]
        ),
    }


VICTIM_STATS = {
    "mean_satisfied": lambda d: d.mean("satisfied"),
    "total_satisfied": lambda d: d.total("satisfied"),
    "mean_days_to_contact": lambda d: d.mean("days_to_contact"),
}


@pytest.mark.parametrize(
    "scenario", ["ps", "rake", "rake_bounded", "cal_linear", "cal_raking", "cal_logit"]
)
def test_victim_linearisation_matches_r(victim, scenario):
    out, resp, pops, ref = victim
    design = SurveyDesign(resp, weights="w", strata="offence_group", fpc="fpc")
    weighted = _victim_scenarios(*pops)[scenario](design)
    r_w = pd.read_csv(out / f"weights_{scenario}.csv")["w"].to_numpy()
    _close(weighted.weights, r_w, 1e-6, f"{scenario} weights")
    _check_estimates(weighted, ref, scenario, "lin", VICTIM_STATS)


@pytest.mark.parametrize("scenario", ["ps", "rake", "cal_linear", "cal_raking"])
def test_victim_bootstrap_replicates_match_r(victim, scenario):
    out, resp, pops, ref = victim
    design = _with_r_replicates(
        SurveyDesign(resp, weights="w", strata="offence_group", fpc="fpc"),
        out,
        "boot",
        "bootstrap",
    )
    weighted = _victim_scenarios(*pops)[scenario](design)
    r_rep = pd.read_csv(out / f"repweights_{scenario}.csv").to_numpy(float)
    zero = r_rep == 0
    assert np.all(weighted._rep[zero] == 0)
    _close(weighted._rep[~zero], r_rep[~zero], 1e-6, f"{scenario} replicate weights")
    _check_estimates(weighted, ref, scenario, "boot", VICTIM_STATS)


def test_propensity_model_is_rs_unpenalised_glm(tmp_path):
    """The default response model is R's glm(binomial) with main effects (no penalty)."""
    if shutil.which("Rscript") is None:
        pytest.skip("Rscript not found: install R to run R cross-checks")
    _, sample, _ = victim_data()
    sample = sample.assign(
        w=sample["fpc"] / sample.groupby("offence_group")["fpc"].transform("size")
    )
    sample[["responded", "age_group", "ethnicity", "days_to_contact"]].to_csv(
        tmp_path / "s.csv", index=False
    )
    code = (
        f"s <- read.csv('{tmp_path / 's.csv'}'); s$responded <- as.numeric(s$responded == 'True');"
        "f <- glm(responded ~ age_group + ethnicity + days_to_contact, binomial, data = s,"
        " control = glm.control(epsilon = 1e-14, maxit = 100));"
        f"write.csv(data.frame(p = fitted(f)), '{tmp_path / 'p.csv'}', row.names = FALSE)"
    )
    res = subprocess.run(["Rscript", "-e", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    r_p = pd.read_csv(tmp_path / "p.csv")["p"].to_numpy()
    design = SurveyDesign(sample, weights="w", strata="offence_group", fpc="fpc")
    out = design.adjust_nonresponse(
        "responded", covariates=["age_group", "ethnicity", "days_to_contact"]
    )
    p = wt.history(out)[-1].info["propensity"]
    np.testing.assert_allclose(p, r_p, rtol=1e-6, atol=0)
