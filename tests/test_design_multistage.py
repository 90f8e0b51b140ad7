"""Multistage designs: the errors and hand-checkable identities (R's figures are in
tests/reference/scenarios/multistage.csv, checked by tests/test_reference_scenarios.py)."""

from __future__ import annotations

import subprocess
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from methods.core.errors import UsageError, ValidationError
from methods.design.survey import SinglePSUError, SurveyDesign

try:
    from r_support import RSCRIPT, requires_r
except ImportError:  # tests/ imported as a package
    from tests.r_support import RSCRIPT, requires_r

SCEN = Path(__file__).parent / "reference" / "scenarios"


def _two_stage():
    # 3 PSUs (of N1 = 10), each 2 SSUs (of N2 = 4), 2 rows per SSU
    rows = []
    y = iter([3.0, 5.0, 2.0, 8.0, 4.0, 4.0, 9.0, 1.0, 6.0, 7.0, 2.0, 3.0])
    for p in (1, 2, 3):
        for s in (1, 2):
            for _ in range(2):
                rows.append({"p": p, "s": 10 * p + s, "N1": 10, "N2": 4, "y": next(y)})
    return pd.DataFrame(rows)


def test_two_stage_total_by_hand():
    """Cochran (1977) eq. 11.24 / Särndal et al. (1992) result 4.3.1: V = N1^2 (1-f1) s1^2/n1
    + N1/n1 sum_i N2^2 (1-f2) s2i^2 / n2, with PSU and SSU totals estimated."""
    d = _two_stage()
    des = SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"])
    w = 10 / 3 * 4 / 2
    assert np.allclose(des.weights, w)
    t_ssu = d.groupby("s")["y"].sum().to_numpy()  # SSU totals of y
    t_psu_hat = (t_ssu.reshape(3, 2) * 4 / 2).sum(axis=1)  # estimated PSU totals
    v1 = 10**2 * (1 - 3 / 10) * t_psu_hat.var(ddof=1) / 3
    v2 = 10 / 3 * sum(4**2 * (1 - 2 / 4) * row.var(ddof=1) / 2 for row in t_ssu.reshape(3, 2))
    out = des.total("y")
    assert out["estimate"].iloc[0] == pytest.approx(w * d["y"].sum())
    assert out["se"].iloc[0] == pytest.approx(np.sqrt(v1 + v2), rel=1e-12)
    uc = SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"], ultimate_cluster=True).total("y")
    assert uc["se"].iloc[0] == pytest.approx(np.sqrt(v1), rel=1e-12)


def test_no_stage1_fpc_means_ultimate_cluster():
    d = _two_stage().assign(w=5.0)
    full = SurveyDesign(d, weights="w", ids=["p", "s"]).total("y")
    uc = SurveyDesign(d, weights="w", psu="p").total("y")
    assert full["se"].iloc[0] == pytest.approx(uc["se"].iloc[0], rel=1e-12)


def test_fractions_equal_counts():
    d = _two_stage()
    a = SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"]).mean("y")
    b = SurveyDesign(d.assign(f1=0.3, f2=0.5), ids=["p", "s"], fpc=["f1", "f2"]).mean("y")
    assert a["se"].iloc[0] == pytest.approx(b["se"].iloc[0], rel=1e-12)


def test_ssu_shared_by_two_psus_refused_without_nest():
    d = _two_stage()
    d["s"] = d["s"] % 10  # SSU labels 1, 2 in every PSU
    with pytest.raises(ValidationError, match=r"not nested in 'p'.*first offending row 1") as e:
        SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"])
    assert e.value.column == "s" and e.value.rows[0] == 1
    nested = SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"], nest=True).total("y")
    ref = SurveyDesign(_two_stage(), ids=["p", "s"], fpc=["N1", "N2"]).total("y")
    assert nested["se"].iloc[0] == pytest.approx(ref["se"].iloc[0], rel=1e-12)


def test_stage2_fpc_varying_within_psu_refused():
    d = _two_stage()
    d.loc[5, "N2"] = 5  # row 6, PSU 2
    with pytest.raises(ValidationError, match=r"stage 2 varies within PSU \(p\).*row 5") as e:
        SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"])
    assert e.value.column == "N2"


def test_stage1_fpc_varying_within_stratum_refused():
    d = _two_stage().assign(h="a")
    d.loc[11, "N1"] = 12
    with pytest.raises(ValidationError, match="stage 1 varies within stratum 'a'") as e:
        SurveyDesign(d, strata="h", ids=["p", "s"], fpc=["N1", "N2"])
    assert e.value.column == "N1"


def test_lonely_ssu_names_stage_and_rows():
    d = _two_stage()
    d.loc[d["p"] == 2, "s"] = 21  # PSU 2 holds one SSU (of 4)
    with pytest.raises(SinglePSUError, match="stage 2") as e:
        SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"]).mean("y")
    assert e.value.column == "p" and e.value.rows == [5, 6, 7, 8]
    ok = SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"], single_psu="certainty").mean("y")
    assert np.isfinite(ok["se"].iloc[0])


def test_nonresponse_adjustment_of_full_multistage_design_is_the_domain_of_respondents():
    """Adjusting for non-response keeps every stage, as R's subset() of the design: the
    respondents' total has the SE of the respondent domain of the whole sample weighted with
    the adjusted weights (R's figures: scenarios/nonresponse_multistage.csv). Here SSUs 12 and
    22 and all of PSU 3 have no respondent, so PSUs 1 and 2 keep one SSU of two each (R's
    subset keeps the sampled counts, so they are not lonely)."""
    from methods.weighting.nonresponse import adjust_nonresponse

    r = np.array([1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0])
    d = _two_stage().assign(r=r, cls=["a", "b"] * 6)
    full = SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"])
    adj = adjust_nonresponse(full, responded="r", cells=["cls"])
    assert adj.stages == 2 and not adj.ultimate_cluster and adj.n == 3
    w = full.weights
    c = d["cls"].to_numpy()
    wnr = w.copy()
    for k in ("a", "b"):
        m = c == k
        wnr[m] = w[m] * w[m].sum() / (w[m] * r[m]).sum()
    np.testing.assert_allclose(adj.weights, wnr[r == 1], rtol=1e-12)
    dom = SurveyDesign(d.assign(wnr=wnr), weights="wnr", ids=["p", "s"], fpc=["N1", "N2"])
    for stat in ("total", "mean"):
        want = getattr(dom.by("r"), stat)("y").loc[1]
        got = getattr(adj, stat)("y").iloc[0]
        assert got["estimate"] == pytest.approx(want["estimate"], rel=1e-12)
        assert got["se"] == pytest.approx(want["se"], rel=1e-12)
    assert adj.degf == 2 - 1  # R's degf of the subset: PSUs and strata with respondents
    with pytest.raises(UsageError, match="make the replicate design first"):
        adj.replicate("jk1")
    # ultimate_cluster=True: the respondents' stage-1 design, rebuilt as before
    uc = SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"], ultimate_cluster=True)
    adj_uc = adjust_nonresponse(uc, responded="r", cells=["cls"])
    assert adj_uc.stages == 1
    assert adj_uc.weights.sum() == pytest.approx(uc.weights.sum())


@pytest.mark.parametrize(
    "values",
    [
        np.array([5, 3, 3, 9, 5, -2], dtype=np.int64),
        np.array([-100, 100, 0, -100], dtype=np.int8),  # a - min overflows int8
        np.array([7, 2, 2, 7], dtype=np.uint16),
        np.array([10**15, 3, 10**15, 3], dtype=np.int64),  # wide range: pd.factorize
        np.array([2.5, 1.0, 2.5]),
        np.array(["b", "a", "b"], dtype=object),
    ],
)
def test_label_codes_are_pandas_factorize(values):
    """The counting relabel of compact integer labels gives pd.factorize(sort=True)'s codes."""
    from methods.design.columns import label_codes

    col = pd.Series(values)
    codes, labels = label_codes(col)
    ref_codes, ref_labels = pd.factorize(col, sort=True)
    assert codes.dtype == np.intp
    assert np.array_equal(codes, ref_codes)
    assert list(labels) == list(ref_labels)


@pytest.mark.parametrize("nest", [False, True])
@pytest.mark.parametrize("wide", [False, True])
def test_nest_codes_are_the_inverse_of_unique_pairs(nest, wide):
    """Units coded in (parent, label) order, as ``np.unique(parent * m + label)`` (the
    constructor's former code), for labels in any order, with and without nest."""
    from methods.design.columns import nest_codes

    rng = np.random.default_rng(5)
    n, P = 5000, 40
    parent = rng.integers(0, P, n)
    if nest:
        raw = rng.integers(0, 7 if not wide else 3000, n)
    else:  # each label under one parent, labels not in parent order
        lab_parent = rng.integers(0, P, 300)
        raw = rng.integers(0, 300, n)
        parent = lab_parent[raw]
    raw = np.unique(raw, return_inverse=True)[1].reshape(-1)  # every code used
    m = int(raw.max()) + 1
    if wide:  # n_parent * m beyond the counting relabel's budget: np.unique
        P = 10**4
    ukey, inv = np.unique(parent * m + raw, return_inverse=True)
    codes, up, shared = nest_codes(raw, m, parent, P, nest)
    assert shared is None
    assert np.array_equal(codes, inv.reshape(-1)) and np.array_equal(up, ukey // m)


def test_ssu_label_under_two_psus_found_anywhere_in_the_rows():
    """The nest check (one scatter, one gather) finds a shared label however the rows are
    ordered, and names its rows."""
    d = _two_stage().iloc[::-1].reset_index(drop=True)
    d.loc[0, "s"] = 11  # row 1 is in PSU 3; label 11 belongs to PSU 1
    with pytest.raises(ValidationError, match="label 11 appears under more than one") as e:
        SurveyDesign(d, ids=["p", "s"], fpc=["N1", "N2"])
    assert e.value.rows == [1, 11, 12]


@pytest.mark.parametrize("shift", [0, -7, 1000])
def test_unit_codes_one_pass_path_is_label_then_nest_codes(shift):
    """Compact integer labels without nest skip the label codes; same codes, unit parents and
    shared-label rows as label_codes followed by nest_codes."""
    from methods.design.columns import label_codes, nest_codes, unit_codes

    rng = np.random.default_rng(11)
    lab_parent = rng.integers(0, 30, 400)
    lab = rng.integers(0, 400, 6000)
    parent = lab_parent[lab]
    for shared in (False, True):
        if shared:
            parent = parent.copy()
            parent[[17, 4000]] = (parent[[17, 4000]] + 1) % 30
        col = pd.Series(lab + shift)
        got = unit_codes(col, parent, 30, nest=False)
        raw, labels = label_codes(col)
        ref = nest_codes(raw, len(labels), parent, 30, nest=False)
        if shared:
            assert got[2] is not None and np.array_equal(got[2], ref[2][raw])
            assert set(lab[got[2]]) == {lab[17], lab[4000]}
        else:
            assert got[2] is None and ref[2] is None
            assert np.array_equal(got[0], ref[0]) and np.array_equal(got[1], ref[1])


def _apiclus2(mode, adl):
    d = pd.read_csv(SCEN / "data_apiclus2.csv")
    return SurveyDesign(
        d, ids=["dnum", "snum"], fpc=["fpc1", "fpc2"], single_psu=mode, adjust_domain_lonely=adl
    )


def test_average_with_domain_lonely_units_at_stage_2_is_nan_with_a_warning():
    """R (survey 4.1, tests/reference/scenarios/multistage.csv, apiclus2_dom_average_adl):
    a district holding one of its sampled schools within the domain makes onestrat's scale
    NA; onestage over that district's single stratum then gives 0 * 1/0 = NaN, so the SEs of
    H and M are NaN while E (no such district) keeps its figure. Ours: the same, said aloud."""
    with pytest.warns(UserWarning, match=r"NaN for 2 estimate.*'dnum'.*'snum'.*H \(1\), M \(4\)"):
        out = _apiclus2("average", True).by("stype").mean("api00")
    assert out["se"].isna().tolist() == [False, True, True]
    assert out["estimate"].notna().all()
    assert out["se"].iloc[0] == pytest.approx(29.926604237403, rel=1e-10)
    V = out.attrs["vcov"]
    assert np.isnan(np.asarray(V)[1:, :]).all() and np.asarray(V)[0, 0] > 0
    # without domain-lonely units nothing changes and nothing is said
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        whole = _apiclus2("average", True).mean("api00")
    assert whole["se"].iloc[0] == pytest.approx(
        _apiclus2("average", False).mean("api00")["se"].iloc[0], rel=1e-12
    )


R_DOMAIN_LONELY = """
suppressMessages(library(survey))
d <- read.csv("{csv}")
for (mode in c("average", "adjust")) {{
  options(survey.lonely.psu = mode, survey.adjust.domain.lonely = TRUE)
  des <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = d)
  w <- NULL
  b <- withCallingHandlers(svyby(~api00, ~stype, des, svymean),
    warning = function(c) {{ w <<- c(w, conditionMessage(c)); invokeRestart("muffleWarning") }})
  cat(mode, format(SE(b), digits = 17), "\n")
  cat("warning:", unique(w)[1], "\n")
}}
"""


@requires_r
@pytest.mark.r
def test_domain_lonely_units_at_stage_2_match_live_r():
    """R run now: "average" + adjust.domain.lonely gives NaN SEs for H and M (and warns that
    a stratum has only one PSU at stage 2); "adjust" leaves those districts uncentred."""
    code = R_DOMAIN_LONELY.format(csv=SCEN / "data_apiclus2.csv")
    proc = subprocess.run(
        [RSCRIPT, "--vanilla", "-e", code], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.splitlines()
    r = {ln.split()[0]: np.array(ln.split()[1:], dtype=float) for ln in lines[0::2]}
    assert "only one PSU at stage 2" in lines[1]
    for mode in ("average", "adjust"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            se = _apiclus2(mode, True).by("stype").mean("api00")["se"].to_numpy()
        np.testing.assert_array_equal(np.isnan(se), np.isnan(r[mode]))
        ok = ~np.isnan(se)
        np.testing.assert_allclose(se[ok], r[mode][ok], rtol=1e-10, atol=0)
    assert np.isnan(r["average"]).tolist() == [False, True, True]


def test_lonely_ssu_under_a_zero_fraction_stratum_still_counts():
    """tests/reference/scenarios/multistage.csv msedge_*: PSU 2 (stratum a, stage-1 fraction
    0, so its stage-2 term has weight n/N = 0) holds one SSU. R still fails under "fail"
    ("Stratum (a.2) has only one PSU at stage 2") and gives NaN under "average" (NA * 0 is
    NA); the other modes are unaffected by the zero-weight unit."""
    d = pd.read_csv(SCEN / "data_msedge.csv")
    kw = dict(weights="w", strata="st", ids=["psu", "ssu"], fpc=["f1", "f2"], nest=True)
    with pytest.raises(SinglePSUError, match="stage 2") as e:
        SurveyDesign(d, **kw).total("y")
    assert e.value.rows == [5, 6, 7, 8]
    with pytest.warns(UserWarning, match=r"NaN for 1 estimate.*1 unit\(s\) of 'psu'.*'ssu'"):
        avg = SurveyDesign(d, single_psu="average", **kw).total("y")
    assert np.isnan(avg["se"].iloc[0]) and avg["estimate"].iloc[0] == pytest.approx(249.41)
    rem = SurveyDesign(d, single_psu="remove", **kw).total("y")
    assert rem["se"].iloc[0] == pytest.approx(14.0719559763382, rel=1e-10)
