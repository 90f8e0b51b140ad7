"""SurveyDesign against R's survey package on R's own api data (apistrat, apiclus1, apisrs).

R exports the data and computes the reference figures at test time (tests/r/*.R); we assert
estimates to 1e-8 relative and SEs, CI bounds and deffs to 1e-5 relative.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from methods.design import ci as dci
from methods.design.survey import SinglePSUError, SurveyDesign

try:
    from r_support import REFERENCE_DIR, assert_matches, export_api, load_reference, r_or_committed
except ImportError:  # tests/ imported as a package
    from tests.r_support import (
        REFERENCE_DIR,
        assert_matches,
        export_api,
        load_reference,
        r_or_committed,
    )

# R computes the figures live when installed; otherwise the committed copy (make r-reference).
pytestmark = [pytest.mark.r]


def derive(d: pd.DataFrame) -> pd.DataFrame:
    """The derived columns tests/r/api_reference.R builds, built the same way."""
    d = d.copy()
    d["yes"] = (d["sch.wide"] == "Yes").astype(float)
    d["both_yes"] = (d["both"] == "Yes").astype(float)
    d["ed3"] = np.where(d["avg.ed"].isna(), np.nan, (d["avg.ed"] > 3).astype(float))
    return d


@pytest.fixture(scope="session")
def api_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("api")


@pytest.fixture(scope="session")
def api(api_dir):
    raw = export_api(api_dir)
    out = {k: derive(v) for k, v in raw.items()}
    st = out["apistrat"]
    st["frac"] = st.groupby("stype")["stype"].transform("size") / st["fpc"]
    cl = out["apiclus1"]
    cl["isE"] = np.where(cl["stype"] == "E", "E", "other")
    cl["lstr"] = np.where(
        cl["dnum"] == cl["dnum"].min(), "s0", np.where(cl["dnum"] % 2 == 0, "s1", "s2")
    )
    return out


@pytest.fixture(scope="session")
def ref(api_dir, api):
    committed = REFERENCE_DIR / "api" / "api_reference.csv"
    return load_reference(
        r_or_committed("api_reference.R", committed, api_dir, api_dir / "api_reference.csv")
    )


@pytest.fixture(scope="session")
def D(api):
    st, cl, srs = api["apistrat"], api["apiclus1"], api["apisrs"]
    d = {
        "strat": SurveyDesign(st, weights="pw", strata="stype", fpc="fpc"),
        "stratfrac": SurveyDesign(st, weights="pw", strata="stype", fpc="frac"),
        "strat0": SurveyDesign(st, weights="pw", strata="stype"),
        "stratw": SurveyDesign(st, strata="stype", fpc="fpc"),
        "clus": SurveyDesign(cl, weights="pw", psu="dnum", fpc="fpc"),
        "clus0": SurveyDesign(cl, weights="pw", psu="dnum"),
        "srs": SurveyDesign(srs, fpc="fpc"),
    }
    d["ps"] = post_stratify(d["clus"], "stype", {"E": 4421, "H": 755, "M": 1018})
    d["jkn"] = d["strat"].replicate("jkn")
    d["jkn0"] = d["strat0"].replicate("jkn")
    d["jk1"] = d["clus"].replicate("jk1")
    d["jk10"] = d["clus0"].replicate("jk1")
    d["jk1mse"] = d["clus0"].replicate("jk1", mse=True)
    for mode in ("certainty", "remove", "average", "adjust"):
        d[f"lonely_{mode}"] = SurveyDesign(
            cl, weights="pw", strata="lstr", psu="dnum", single_psu=mode
        )
        d[f"lonely_{mode}_jkn"] = d[f"lonely_{mode}"].replicate("jkn")
    return d


class PostStratification:
    """Minimal post-stratification hook, written from R's ``svyrecvar``: within each
    post-stratum g, ``z <- z - w * sum_g(z) / sum_g(w)`` with the post-stratified weights w.
    (The real one lives in methods.weighting; this one tests the SurveyDesign side.)"""

    def __init__(self, cells: np.ndarray, w: np.ndarray):
        self.cells, self.w = cells, w

    def adjust(self, z: np.ndarray) -> np.ndarray:
        G = self.cells.max() + 1
        W = np.bincount(self.cells, weights=self.w, minlength=G)
        out = np.empty_like(z)
        for j in range(z.shape[1]):
            S = np.bincount(self.cells, weights=z[:, j], minlength=G)
            out[:, j] = z[:, j] - self.w * (S / W)[self.cells]
        return out


def post_stratify(design: SurveyDesign, col: str, totals: dict) -> SurveyDesign:
    cells, labels = pd.factorize(design.data[col], sort=True)
    w = design.weights
    what = np.bincount(cells, weights=w)
    target = np.array([totals[k] for k in labels], float)
    w_new = w * (target / what)[cells]
    return design._replace(
        _w=w_new, _calibrations=(*design._calibrations, PostStratification(cells, w_new))
    )


def _quiet(f):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return f()


CASES = {
    # apistrat, Taylor, fpc as counts
    "strat_mean_api00": lambda D: D["strat"].mean("api00"),
    "strat_total_enroll": lambda D: D["strat"].total("enroll"),
    "strat_ratio_api00_api99": lambda D: D["strat"].ratio("api00", "api99"),
    "strat_mean_avged_na": lambda D: D["strat"].mean("avg.ed"),
    "strat_mean_yes_deff": lambda D: D["strat"].mean("yes"),
    "strat_by_awards_mean": lambda D: D["strat"].by("awards").mean("api00"),
    "strat_by_awards_total": lambda D: D["strat"].by("awards").total("enroll"),
    "strat_by_both_mean_na": lambda D: D["strat"].by("both").mean("avg.ed"),
    "strat_by_stype_ratio": lambda D: D["strat"].by("stype").ratio("api00", "api99"),
    "strat_prop_logit": lambda D: D["strat"].proportion("yes"),
    "strat_prop_beta": lambda D: D["strat"].proportion("yes", ci="beta"),
    "strat_prop_ed3_logit_na": lambda D: D["strat"].proportion("ed3"),
    "strat_prop_ed3_beta_na": lambda D: D["strat"].proportion("ed3", ci="beta"),
    "strat_prop_ed3_likelihood_na": lambda D: D["strat"].proportion("ed3", ci="likelihood"),
    "strat_by_stype_prop_ed3_likelihood_na": lambda D: (
        D["strat"].by("stype").proportion("ed3", ci="likelihood")
    ),
    "strat_by_stype_prop_logit": lambda D: D["strat"].by("stype").proportion("both_yes"),
    "strat_by_yrrnd_prop_beta": lambda D: D["strat"].by("yr.rnd").proportion("both_yes", "beta"),
    "strat_by_yrrnd_prop_logit": lambda D: D["strat"].by("yr.rnd").proportion("both_yes"),
    "strat_ttest_awards": lambda D: D["strat"].compare("api00", "awards", "Yes", "No"),
    "strat_ttest_both_na": lambda D: D["strat"].compare("avg.ed", "both", "Yes", "No"),
    "strat_ttest_E_M": lambda D: D["strat"].compare("api00", "stype", "E", "M"),
    "strat_contrast_E_M": lambda D: D["strat"].compare("api00", "stype", "E", "M"),
    # fpc as fractions; no fpc; weights from the fpc
    "stratfrac_mean_api00": lambda D: D["stratfrac"].mean("api00"),
    "stratfrac_by_awards_mean": lambda D: D["stratfrac"].by("awards").mean("api00"),
    "strat0_mean_api00": lambda D: D["strat0"].mean("api00"),
    "strat0_total_enroll": lambda D: D["strat0"].total("enroll"),
    "strat0_by_awards_mean": lambda D: D["strat0"].by("awards").mean("api00"),
    "stratw_mean_api00": lambda D: D["stratw"].mean("api00"),
    "stratw_total_enroll": lambda D: D["stratw"].total("enroll"),
    # JKn
    "jkn_mean_api00": lambda D: D["jkn"].mean("api00"),
    "jkn_total_enroll": lambda D: D["jkn"].total("enroll"),
    "jkn_ratio_api00_api99": lambda D: D["jkn"].ratio("api00", "api99"),
    "jkn_by_awards_mean": lambda D: D["jkn"].by("awards").mean("api00"),
    "jkn_prop_logit": lambda D: D["jkn"].proportion("yes"),
    "jkn_prop_beta": lambda D: D["jkn"].proportion("yes", ci="beta"),
    "jkn_by_stype_prop_logit": lambda D: D["jkn"].by("stype").proportion("both_yes"),
    "jkn_by_stype_prop_beta": lambda D: D["jkn"].by("stype").proportion("both_yes", ci="beta"),
    "jkn_ttest_awards": lambda D: D["jkn"].compare("api00", "awards", "Yes", "No"),
    "jkn0_mean_api00": lambda D: D["jkn0"].mean("api00"),
    # apiclus1, Taylor
    "clus_mean_api00": lambda D: D["clus"].mean("api00"),
    "clus_total_enroll": lambda D: D["clus"].total("enroll"),
    "clus_ratio_api00_api99": lambda D: D["clus"].ratio("api00", "api99"),
    "clus_by_stype_mean": lambda D: D["clus"].by("stype").mean("api00"),
    "clus_by_stype_total": lambda D: D["clus"].by("stype").total("enroll"),
    "clus_prop_logit": lambda D: D["clus"].proportion("yes"),
    "clus_prop_beta": lambda D: D["clus"].proportion("yes", ci="beta"),
    "clus_prop_likelihood": lambda D: D["clus"].proportion("yes", ci="likelihood"),
    "clus_by_stype_prop_likelihood": lambda D: (
        D["clus"].by("stype").proportion("yes", ci="likelihood")
    ),
    "clus_by_stype_prop_logit": lambda D: D["clus"].by("stype").proportion("yes"),
    "clus_by_stype_prop_beta": lambda D: D["clus"].by("stype").proportion("yes", ci="beta"),
    "clus_ttest_E": lambda D: D["clus"].compare("api00", "isE", "E", "other"),
    "clus0_mean_api00": lambda D: D["clus0"].mean("api00"),
    "clus0_by_stype_mean": lambda D: D["clus0"].by("stype").mean("api00"),
    # JK1
    "jk1_mean_api00": lambda D: D["jk1"].mean("api00"),
    "jk1_total_enroll": lambda D: D["jk1"].total("enroll"),
    "jk1_ratio_api00_api99": lambda D: D["jk1"].ratio("api00", "api99"),
    "jk1_by_stype_mean": lambda D: D["jk1"].by("stype").mean("api00"),
    "jk1_by_stype_total": lambda D: D["jk1"].by("stype").total("enroll"),
    "jk1_prop_logit": lambda D: D["jk1"].proportion("yes"),
    "jk1_prop_beta": lambda D: D["jk1"].proportion("yes", ci="beta"),
    "jk1_by_stype_prop_logit": lambda D: D["jk1"].by("stype").proportion("yes"),
    "jk10_mean_api00": lambda D: D["jk10"].mean("api00"),
    "jk1mse_mean_api00": lambda D: D["jk1mse"].mean("api00"),
    "jk1mse_ratio": lambda D: D["jk1mse"].ratio("api00", "api99"),
    # post-stratified (calibration hook)
    "ps_mean_api00": lambda D: D["ps"].mean("api00"),
    "ps_total_enroll": lambda D: D["ps"].total("enroll"),
    "ps_by_awards_mean": lambda D: D["ps"].by("awards").mean("api00"),
    "ps_by_stype_mean": lambda D: D["ps"].by("stype").mean("api00"),
    "ps_prop_beta": lambda D: D["ps"].proportion("both_yes", ci="beta"),
    "ps_prop_logit": lambda D: D["ps"].proportion("both_yes"),
    "ps_by_yrrnd_prop_beta": lambda D: D["ps"].by("yr.rnd").proportion("both_yes", ci="beta"),
    "ps_by_yrrnd_prop_logit": lambda D: D["ps"].by("yr.rnd").proportion("both_yes"),
    "ps_ttest_awards": lambda D: D["ps"].compare("api00", "awards", "Yes", "No"),
    # apisrs
    "srs_mean_api00": lambda D: D["srs"].mean("api00"),
    "srs_total_enroll": lambda D: D["srs"].total("enroll"),
    "srs_prop_logit": lambda D: D["srs"].proportion("yes"),
}
for _mode in ("certainty", "remove", "average", "adjust"):
    CASES[f"lonely_{_mode}_mean_api00"] = lambda D, m=_mode: D[f"lonely_{m}"].mean("api00")
    CASES[f"lonely_{_mode}_total_enroll"] = lambda D, m=_mode: D[f"lonely_{m}"].total("enroll")
    CASES[f"lonely_{_mode}_by_stype_mean"] = lambda D, m=_mode: (
        D[f"lonely_{m}"].by("stype").mean("api00")
    )
    CASES[f"lonely_{_mode}_jkn_mean_api00"] = lambda D, m=_mode: D[f"lonely_{m}_jkn"].mean("api00")


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_r(case, D, ref):
    ours = _quiet(lambda: CASES[case](D))
    assert_matches(ours, ref[case])


def test_every_r_case_is_checked(ref):
    extra = {"jkn_degf", "srs_binom_test", "srs_prop_test_wilson"}
    extra |= {k for k in ref if k.startswith(("binom_", "wilson_"))}
    assert set(ref) - extra == set(CASES)


def test_replicate_degrees_of_freedom(D, ref):
    assert D["jkn"].degf == ref["jkn_degf"]["est"].iloc[0]
    assert D["strat"].degf == 200 - 3
    assert D["clus"].degf == 15 - 1


def test_contrast_equals_ttest(ref):
    """R's svycontrast of svyratio(covmat=TRUE) and svyttest agree: same joint covariance."""
    a, b = ref["strat_contrast_E_M"], ref["strat_ttest_E_M"]
    np.testing.assert_allclose(a["se"].to_numpy(), b["se"].to_numpy(), rtol=1e-8)


def test_clopper_pearson_and_wilson_match_binom_test_and_prop_test(ref, D):
    for case in [k for k in ref if k.startswith("binom_")]:
        x, n = map(float, case.split("_")[1:])
        lo, hi = dci.clopper_pearson_interval(np.array([x]), np.array([n]), 0.95)
        np.testing.assert_allclose([lo[0], hi[0]], ref[case][["lo", "hi"]].to_numpy()[0], rtol=1e-6)
        w = ref[case.replace("binom_", "wilson_")]
        lo, hi = dci.wilson_interval(x / n, n, 1.959963984540054)
        np.testing.assert_allclose([lo, hi], w[["lo", "hi"]].to_numpy()[0], rtol=1e-6, atol=1e-12)
    # On the equal-weight SRS the design's clopper-pearson interval is binom.test's.
    cp = D["srs"].proportion("yes", ci="clopper-pearson")
    np.testing.assert_allclose(
        cp[["ci_low", "ci_high"]].to_numpy()[0],
        ref["srs_binom_test"][["lo", "hi"]].to_numpy()[0],
        rtol=1e-6,
    )


def test_single_psu_error_names_the_stratum(api):
    d = SurveyDesign(api["apiclus1"], weights="pw", strata="lstr", psu="dnum")
    with pytest.raises(SinglePSUError, match="stratum 's0' has only one PSU"):
        d.mean("api00")
    with pytest.raises(SinglePSUError, match="'s0'"):
        d.replicate("jkn")
    # a domain with no rows in the lonely stratum is fine, as in R
    s0_types = set(api["apiclus1"].loc[api["apiclus1"]["lstr"] == "s0", "stype"])
    assert s0_types  # the lonely district has schools of some types only
