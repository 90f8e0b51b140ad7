"""Multistage designs: the errors and hand-checkable identities (R's figures are in
tests/reference/scenarios/multistage.csv, checked by tests/test_reference_scenarios.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from methods.core.errors import UsageError, ValidationError
from methods.design.survey import SinglePSUError, SurveyDesign


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
