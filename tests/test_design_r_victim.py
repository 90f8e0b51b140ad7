"""SurveyDesign against R's survey package on a victim-survey-shaped data set of our own.

Stratified by district with an fpc, unequal weights, six offence domains, missing answers,
ethnic groups with unknowns; interviewer batches as PSUs; two half-sample PSUs per district
for BRR. Our bootstrap and Fay-BRR replicate weights are handed to R's ``svrepdesign`` and R
must get the same figures from them.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from methods.design.survey import SurveyDesign

try:
    from r_support import assert_matches, load_reference, make_victim_survey, requires_r, run_r
except ImportError:  # tests/ imported as a package
    from tests.r_support import (
        assert_matches,
        load_reference,
        make_victim_survey,
        requires_r,
        run_r,
    )

pytestmark = [pytest.mark.r, requires_r]

N_BOOT = 60
FAY = 0.5


@pytest.fixture(scope="module")
def victims():
    return make_victim_survey()


@pytest.fixture(scope="module")
def D(victims):
    d = {
        "vd": SurveyDesign(victims, weights="w", strata="district", fpc="N_h"),
        "vc": SurveyDesign(victims, weights="w", strata="district", psu="batch", nest=True),
        "vh": SurveyDesign(victims, weights="w", strata="district", psu="half", nest=True),
    }
    d["vjkn"] = d["vc"].replicate("jkn")
    d["vboot"] = d["vc"].replicate("subbootstrap", replicates=N_BOOT, seed=7)
    d["vfay"] = d["vh"].replicate("brr", fay=FAY)
    return d


@pytest.fixture(scope="module")
def ref(tmp_path_factory, victims, D):
    tmp = tmp_path_factory.mktemp("victim")
    out = victims.assign(offence=victims["offence"].astype(str))
    out.to_csv(tmp / "victim.csv", index=False, na_rep="NA", float_format="%.17g")
    for name in ("vboot", "vfay"):
        rep = pd.DataFrame(D[name]._rep, columns=[f"r{i}" for i in range(D[name]._rep.shape[1])])
        rep.to_csv(tmp / f"{name}.csv", index=False, float_format="%.17g")
    run_r(
        "victim_reference.R",
        tmp / "victim.csv",
        tmp / "vboot.csv",
        tmp / "vfay.csv",
        tmp / "ref.csv",
    )
    return load_reference(tmp / "ref.csv")


def _ttest(d, col, by, a, b):
    return d.compare(col, by, a, b)


CASES = {
    "v_prop_logit": lambda D: D["vd"].proportion("sat"),
    "v_prop_beta": lambda D: D["vd"].proportion("sat", ci="beta"),
    "v_by_offence_prop_logit": lambda D: D["vd"].by("offence").proportion("sat"),
    "v_by_offence_prop_beta": lambda D: D["vd"].by("offence").proportion("sat", ci="beta"),
    "v_by_offence_mean_score": lambda D: D["vd"].by("offence").mean("score"),
    "v_by_offence_total_sat": lambda D: D["vd"].by("offence").total("sat"),
    "v_by_eth_mode_mean": lambda D: D["vd"].by(["ethnic2", "mode"]).mean("score"),
    "v_ratio_sat_answered": lambda D: D["vd"].ratio("sat0", "answered"),
    "v_ttest_eth": lambda D: D["vd"].compare("sat", "ethnic2", "white", "minority"),
    "v_ttest_mode_score": lambda D: D["vd"].compare("score", "mode", "paper", "telephone"),
    "vc_mean_score": lambda D: D["vc"].mean("score"),
    "vc_by_offence_prop_logit": lambda D: D["vc"].by("offence").proportion("sat"),
    "vc_ttest_eth": lambda D: D["vc"].compare("sat", "ethnic2", "white", "minority"),
    "vjkn_mean_score": lambda D: D["vjkn"].mean("score"),
    "vjkn_by_offence_prop_logit": lambda D: D["vjkn"].by("offence").proportion("sat"),
    "vjkn_by_offence_total_sat": lambda D: D["vjkn"].by("offence").total("sat"),
    "vjkn_ttest_eth": lambda D: D["vjkn"].compare("sat", "ethnic2", "white", "minority"),
    "vboot_mean_score": lambda D: D["vboot"].mean("score"),
    "vboot_total_sat": lambda D: D["vboot"].total("sat"),
    "vboot_prop_logit": lambda D: D["vboot"].proportion("sat"),
    "vboot_prop_beta": lambda D: D["vboot"].proportion("sat", ci="beta"),
    "vboot_by_offence_prop_logit": lambda D: D["vboot"].by("offence").proportion("sat"),
    "vboot_by_offence_mean_score": lambda D: D["vboot"].by("offence").mean("score"),
    "vboot_ttest_eth": lambda D: D["vboot"].compare("sat", "ethnic2", "white", "minority"),
    "vboot_ratio": lambda D: D["vboot"].ratio("sat0", "answered"),
    "vfay_mean_score": lambda D: D["vfay"].mean("score"),
    "vfay_total_sat": lambda D: D["vfay"].total("sat"),
    "vfay_by_offence_prop_logit": lambda D: D["vfay"].by("offence").proportion("sat"),
    "vfay_ttest_eth": lambda D: D["vfay"].compare("sat", "ethnic2", "white", "minority"),
    "vh_total_sat": lambda D: D["vh"].total("sat"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_matches_r(case, D, ref):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = CASES[case](D)
    assert_matches(ours, ref[case])


def test_every_r_case_is_checked(ref):
    assert set(ref) - {"vboot_degf"} == set(CASES)


def test_bootstrap_degrees_of_freedom_match_r(D, ref):
    assert D["vboot"].degf == ref["vboot_degf"]["est"].iloc[0]


def test_fay_brr_total_equals_taylor_for_two_psu_strata(D):
    """For a linear statistic a fully balanced BRR (any Fay factor) reproduces the
    with-replacement stratified variance exactly (Wolter 2007, sec. 3.3)."""
    t = D["vh"].total("sat")
    f = D["vfay"].total("sat")
    np.testing.assert_allclose(f["se"], t["se"], rtol=1e-10)
    np.testing.assert_allclose(f["estimate"], t["estimate"], rtol=1e-12)
