"""The monthly report's headline figures checked against R's survey package (Lumley).

The report (notebooks/monthly_report.py, paired with its .ipynb) weights completes
with :func:`methods.report.monthly.weight_responses` (design weights, non-response adjustment within
offence-group classes, raking to the eligible victims' profile) and reports, per stage, the
satisfied proportion with a logit 95% CI (:func:`methods.report.monthly.satisfaction_by_stage`), the
gap between White and minority-ethnic victims (:func:`methods.report.tables.ethnic_gap`) and a
district table (:func:`methods.report.tables.domain_table`); its trend and change tables use the
design weights only (:func:`methods.report.tables.stage_estimates`).

Here the report's own cells are re-run on the test store (durham, TEST_MONTHS), the sampled
cases are written to CSV with their design weights, strata, non-response classes and merged
raking variables (and the eligible victims' margins, computed here from the eligible frame and
the merges the report lists), and R rebuilds every design from scratch:

* ``svydesign(ids = ~1, strata = ~design_stratum, weights = ...)``, lonely PSUs "average";
* the non-response step by hand, ``d * ave(d, class, sum) / ave(d * r, class, sum)``, and a
  design of the respondents with those weights. This is the formulation equivalent to ours:
  :class:`methods.weighting.variance.NonresponseStep` documents that the adjusted weights are
  treated as given (no variance term for the estimated response rates). The alternative,
  ``postStratify`` of the respondents to the sampled cases' design-weight totals per class,
  gives the same weights but adds a post-stratification term in ``svyrecvar``; it is computed
  too and the (documented, small) SE difference is checked to stay small;
* ``rake()`` to the margins, converged tightly (``epsilon = 1e-14``, relative);
* ``svymean`` and ``svyciprop(method = "logit")`` per stage; for the ethnic gap
  ``svycontrast`` of ``svytotal`` (the two domain means as ratios of totals: the delta method
  is the joint linearisation) and ``svyttest`` (a ``svyglm``) for the interval, df and p-value
  (``svyby(..., covmat = TRUE)`` fails on raked designs in survey 4.1.1, "number of items to
  replace is not a multiple of replacement length"); ``svyby(..., svyciprop)`` and
  ``svyby(..., svymean)`` for districts.

Compared: estimates 1e-8 relative, SEs, CI bounds and p-values 1e-5 relative, weights 1e-8
relative (observed: at most ~2e-9). Designs: the report month (all surveys), the pooled window
the report calls "twelve months" (here the three months loaded; the gap and districts come from
it; the gap is also checked on the month), each survey's pooled window (the by-survey table),
and the design-weighted three-month table of the trend/change sections. Figures are compared
on bases of 2 or more, also where the report suppresses them (base under 30).

Documented differences (not failures): a stage whose estimate is exactly 0 or 1 gets
Clopper-Pearson bounds from us and the degenerate [p, p] from R (see ``_check_degenerate``);
the ``postStratify`` formulation of the non-response step changes SEs by up to ~2.3% here
(see the last test). No figure disagrees with R beyond tolerance.
"""

from __future__ import annotations

import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
from r_support import RSCRIPT, requires_r

from conftest import TEST_MONTHS
from methods.config.presets import load_force
from methods.core.schema import STAGES
from methods.data.store import Store
from methods.report import monthly
from methods.report import tables as reporting
from methods.weighting import history

pytestmark = [pytest.mark.r, requires_r]

FORCE = "durham"
MONTH = TEST_MONTHS[-1]
RTOL_EST = 1e-8
RTOL_SE = 1e-5
RTOL_W = 1e-8
SAT = [f"sat_{s}" for s in STAGES]
WE = "sat_whole_experience"

R_SCRIPT = r"""
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
dir <- args[1]
s <- read.csv(file.path(dir, "sampled.csv"), stringsAsFactors = FALSE,
              colClasses = c(design_stratum = "character", nr_class = "character"))
m <- read.csv(file.path(dir, "margins.csv"), stringsAsFactors = FALSE,
              colClasses = c(level = "character"))
sat <- grep("^sat_", names(s), value = TRUE)
g17 <- function(x) sprintf("%.17g", x)
rows <- list()
add <- function(key, form, stat, level, est, se = NA, lo = NA, hi = NA, df = NA, p = NA) {
  rows[[length(rows) + 1]] <<- data.frame(key = key, form = form, stat = stat, level = level,
    est = g17(est), se = g17(se), lo = g17(lo), hi = g17(hi), df = g17(df), p = g17(p))
}
wts <- list()
ctl <- list(maxit = 2000, epsilon = 1e-14)
for (key in unique(s$key)) {
  sk <- s[s$key == key, ]
  options(survey.lonely.psu = sk$lonely[1])
  resp <- sk[sk$responded == 1, ]
  if (sk$scheme[1] == "design") {
    forms <- list(design = svydesign(ids = ~1, strata = ~design_stratum,
                                     weights = ~design_weight, data = resp))
  } else {
    # (a) non-response adjustment by hand; the adjusted weights are the design's weights
    sk$w_nr <- sk$design_weight * ave(sk$design_weight, sk$nr_class, FUN = sum) /
      ave(sk$design_weight * sk$responded, sk$nr_class, FUN = sum)
    resp <- sk[sk$responded == 1, ]
    da <- svydesign(ids = ~1, strata = ~design_stratum, weights = ~w_nr, data = resp)
    # (b) the same weights by post-stratifying the respondents to the sampled totals
    tot <- aggregate(design_weight ~ nr_class, data = sk, FUN = sum)
    names(tot)[2] <- "Freq"
    db <- postStratify(svydesign(ids = ~1, strata = ~design_stratum,
                                 weights = ~design_weight, data = resp), ~nr_class, tot)
    mk <- m[m$key == key, ]
    if (nrow(mk)) {
      vars <- unique(mk$variable)
      sm <- lapply(vars, function(v) as.formula(paste0("~", v)))
      pm <- lapply(vars, function(v) {
        x <- mk[mk$variable == v, c("level", "total")]
        names(x) <- c(v, "Freq")
        x
      })
      da <- rake(da, sm, pm, control = ctl)
      db <- rake(db, sm, pm, control = ctl)
    }
    wts[[key]] <- data.frame(key = key, row = resp$row, w_nr = g17(resp$w_nr),
                             w = g17(weights(da)), w_ps = g17(weights(db)))
    forms <- list(given = da, poststrat = db)
  }
  for (form in names(forms)) {
    d <- forms[[form]]
    for (v in sat) {
      if (sum(!is.na(resp[[v]])) < 2) next
      f <- as.formula(paste0("~", v))
      r <- svyciprop(f, d, method = "logit", na.rm = TRUE)
      mn <- svymean(f, d, na.rm = TRUE)
      # estimate and SE from svymean (svyciprop's point is expit of svyglm's coefficient,
      # converged only to glm's 1e-8 deviance tolerance); the interval from svyciprop
      add(key, form, "stage", v, coef(mn), SE(mn), attr(r, "ci")[1], attr(r, "ci")[2],
          degf(d), coef(r))
    }
    if (sk$gap[1] == 1) {
      # The two domain means as ratios of totals over valid answers, in the whole design, and
      # their difference by svycontrast (delta method = the domains' joint linearisation).
      # (svyby(..., covmat = TRUE) fails on raked designs in survey 4.1.1: "number of items to
      # replace is not a multiple of replacement length" in svyby.survey.design2.)
      ok <- !is.na(d$variables$sat_whole_experience)
      y <- ifelse(ok, d$variables$sat_whole_experience, 0)
      d <- update(d, yw = y * (ethnic_group == "white"), nw = ok * (ethnic_group == "white"),
                  ym = y * (ethnic_group == "minority ethnic"),
                  nm = ok * (ethnic_group == "minority ethnic"))
      con <- svycontrast(svytotal(~yw + nw + ym + nm, d), quote(yw / nw - ym / nm))
      # a logical regressor: a factor would carry the zero-weight "unknown" rows as a level
      tt <- svyttest(sat_whole_experience ~ I(ethnic_group == "white"),
                     subset(d, ethnic_group %in% c("white", "minority ethnic")))
      add(key, form, "gap", "white - minority ethnic", coef(con), SE(con),
          tt$conf.int[1], tt$conf.int[2], tt$parameter, tt$p.value)
      add(key, form, "gap_t", "white - minority ethnic", tt$estimate, NA, NA, NA, NA,
          tt$statistic)
      tot <- coef(svytotal(~yw + nw + ym + nm, d))
      add(key, form, "gap_groups", "white", tot[["yw"]] / tot[["nw"]])
      add(key, form, "gap_groups", "minority ethnic", tot[["ym"]] / tot[["nm"]])
      bd <- svyby(~sat_whole_experience, ~district, d, svyciprop, method = "logit",
                  vartype = c("se", "ci"), na.rm = TRUE)
      bm <- svyby(~sat_whole_experience, ~district, d, svymean, na.rm = TRUE)
      for (i in seq_len(nrow(bd))) {
        add(key, form, "district", as.character(bd$district[i]), bm[i, 2], bm[i, 3],
            bd$ci_l[i], bd$ci_u[i], NA, bd[i, 2])
      }
    }
  }
}
write.csv(do.call(rbind, rows), file.path(dir, "r_estimates.csv"), row.names = FALSE)
write.csv(do.call(rbind, wts), file.path(dir, "r_weights.csv"), row.names = FALSE)
"""


# --------------------------------------------------------------------------- the report, in Python
def _report_inputs(db):
    """The notebook's data cell: responses and eligible victims of the loaded months."""
    preset = load_force(FORCE)
    surveys = list(preset.survey_names)
    with Store(db) as st:
        loaded = st.loaded_months()
        sampled = st.responses(months=loaded)
        victims = st.victims(months=loaded)
    sampled = reporting.prepare_responses(sampled[sampled["survey"].isin(surveys)])
    with Store(db) as st:
        eligible, _ = monthly.eligible_frame(victims, preset, surveys, store=st)
    return sampled, eligible, surveys


def _weighted(sampled, eligible):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # merges are listed in the result
        return reporting.weighted_period(sampled, eligible, min_cell=5)


def _margins(key, res, eligible) -> pd.DataFrame:
    """The eligible victims' raking margins after the merges the report lists (computed here,
    not read from the design) as a long table key, variable, level, total."""
    if not res.raked:
        return pd.DataFrame(columns=["key", "variable", "level", "total"])
    pop = monthly.profile_columns(eligible)
    rows = []
    for var in monthly.RAKE_VARS:
        merged = {a: b for v, a, b in res.merges if v == var}
        counts = pop[var].map(lambda lv, merged=merged: merged.get(lv, lv)).value_counts()
        rows += [(key, f"{var}_r", str(lv), float(t)) for lv, t in counts.items()]
    return pd.DataFrame(rows, columns=["key", "variable", "level", "total"])


def _export(key, sampled, res, scheme, gap, lonely) -> pd.DataFrame:
    """Every sampled case of a design, with what R needs; respondents numbered by ``row``."""
    df = monthly.profile_columns(reporting.add_satisfied(sampled))
    responded = df["disposition"].astype(str).str.startswith("1.").to_numpy()
    out = pd.DataFrame(
        {
            "key": key,
            "scheme": scheme,
            "gap": int(gap),
            "lonely": lonely,
            "responded": responded.astype(int),
            "row": np.where(responded, np.cumsum(responded) - 1, -1),
            "design_weight": df["design_weight"].to_numpy(float),
            "design_stratum": df["design_stratum"].astype(str).to_numpy(),
            # the report's non-response classes are the offence groups (merges asserted absent)
            "nr_class": df["offence_group"].astype(str).to_numpy(),
            "ethnic_group": df["ethnic_group"].to_numpy(),
            "district": df["district"].astype(str).to_numpy(),
        }
    )
    for c in SAT:
        out[c] = df[c].to_numpy(float)
    if res is not None:
        merged = {(v, a): b for v, a, b in res.merges}
        for var in monthly.RAKE_VARS:
            out[f"{var}_r"] = [merged.get((var, lv), lv) for lv in df[var].astype(str)]
        # the respondents R will weight are the design's rows, in the design's order
        data = res.design.data
        np.testing.assert_array_equal(
            data["case_id"].to_numpy(), df.loc[responded, "case_id"].to_numpy()
        )
        for var in monthly.RAKE_VARS:
            np.testing.assert_array_equal(
                data[f"{var}_r"].astype(str).to_numpy(), out.loc[responded, f"{var}_r"]
            )
        steps = history(res.design)
        assert steps[0].kind == "nonresponse" and not steps[0].info["merged"]
    return out


@pytest.fixture(scope="module")
def cross_check(demo_store, tmp_path_factory):
    """Python's report figures per design key, and R's, from one Rscript run."""
    sampled, eligible, surveys = _report_inputs(demo_store)
    window = reporting.months_back(MONTH, 12)
    ours: dict[str, dict] = {}
    frames, margins = [], []

    def weighted_key(key, samp, elig, gap):
        res = _weighted(samp, elig)
        assert res.raked, f"{key}: raking skipped"
        # bases of 2 or more (the report suppresses under 30, but the figures are computed)
        with warnings.catch_warnings():
            # expected: a by-survey stage where every valid answer is "satisfied" (p = 1)
            warnings.filterwarnings("ignore", message=r".*estimate\(s\) are 0 or 1")
            stages = monthly.satisfaction_by_stage(res.design, min_base=2).set_index("stage")
        entry = {"res": res, "stages": stages}
        if gap:
            entry["gap"] = reporting.ethnic_gap(res.design, min_base=2).iloc[0]
            entry["compare"] = res.design.compare(
                WE, by="ethnic_group", a="white", b="minority ethnic"
            ).iloc[0]
            entry["districts"] = reporting.domain_table(res.design, "district", min_base=0)
            entry["district_se"] = res.design.by("district").proportion(WE)["se"]
        ours[key] = entry
        frames.append(_export(key, samp, res, "weighted", gap, "average"))
        margins.append(_margins(key, res, elig))

    weighted_key(
        "month", sampled[sampled["month"] == MONTH], eligible[eligible["month"] == MONTH], True
    )
    in12 = sampled[sampled["month"].isin(window)]
    elig12 = eligible[eligible["month"].isin(window)]
    weighted_key("12m", in12, elig12, True)
    for survey in surveys:
        sub = in12[in12["survey"] == survey]
        if not sub.empty:
            weighted_key(f"12m:{survey}", sub, elig12[elig12["survey"] == survey], False)
    # trend / change sections: design weights only (reporting.stage_estimates on completes)
    span3 = reporting.months_back(MONTH, 3)
    sub3 = sampled[sampled["month"].isin(span3)]
    ours["3m_design"] = {
        "stages": reporting.stage_estimates(reporting.completes(sub3), min_base=2).set_index(
            "stage"
        ),
        "trend": reporting.trend_table(sampled, [MONTH], 3, min_base=2).iloc[0],
    }
    frames.append(_export("3m_design", sub3, None, "design", False, "fail"))

    out = tmp_path_factory.mktemp("monthly_r")
    pd.concat(frames, ignore_index=True).to_csv(out / "sampled.csv", index=False)
    pd.concat(margins, ignore_index=True).to_csv(out / "margins.csv", index=False)
    script = out / "monthly.R"
    script.write_text(R_SCRIPT)
    proc = subprocess.run(
        [RSCRIPT, "--vanilla", str(script), str(out)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, f"Rscript failed:\n{proc.stderr[-3000:]}"
    ref = pd.read_csv(out / "r_estimates.csv", dtype={"level": str})
    rw = pd.read_csv(out / "r_weights.csv")
    return ours, ref, rw


def _ref(ref, key, form, stat):
    r = ref[(ref["key"] == key) & (ref["form"] == form) & (ref["stat"] == stat)]
    assert len(r), f"no R figures for {key}/{form}/{stat}"
    return r.set_index("level")


def _close(got, want, rtol, what):
    np.testing.assert_allclose(
        np.asarray(got, float), np.asarray(want, float), rtol=rtol, atol=0, err_msg=what
    )


WEIGHTED_KEYS = ["month", "12m"]


def _check_degenerate(mine, r, what):
    """An estimate of exactly 0 or 1 (every valid answer the same).

    R's ``svyciprop(method = "logit")`` then returns the point itself as the interval (the
    logit SE is 0/0; R gives [p, p] up to rounding). Ours documents a deliberate difference
    (:mod:`methods.design.ci`, Korn and Graubard 1998, sec. 2): Clopper-Pearson bounds on the
    unweighted count, here ``[0.025^(1/n), 1]`` for p = 1 and ``[0, 1 - 0.025^(1/n)]`` for 0.
    """
    p, n = float(mine["estimate"]), int(mine["n"])
    assert abs(float(r["est"]) - p) < 1e-8, what  # R: expit of a huge logit
    assert abs(float(r["se"])) < 1e-12 and abs(float(mine["se"])) < 1e-12, what
    assert abs(float(r["lo"]) - p) < 1e-8 and abs(float(r["hi"]) - p) < 1e-8, what
    edge = 0.025 ** (1 / n)
    want = (edge, 1.0) if p == 1 else (0.0, 1.0 - edge)
    _close([mine["ci_low"], mine["ci_high"]], want, 1e-12, f"{what}: Clopper-Pearson bounds")


def _keys(cross):
    return [k for k in cross[0] if k != "3m_design"]


# --------------------------------------------------------------------------- tests
def test_every_design_was_cross_checked(cross_check):
    ours, ref, _ = cross_check
    keys = set(ref["key"])
    assert set(ours) == keys
    # the by-survey windows cover every durham survey with completes
    assert sum(k.startswith("12m:") for k in keys) >= 4


@pytest.mark.parametrize("key", ["month", "12m", "survey"])
def test_final_weights_match_r(cross_check, key):
    ours, _, rw = cross_check
    keys = [k for k in ours if k.startswith("12m:")] if key == "survey" else [key]
    for k in keys:
        res = ours[k]["res"]
        r = rw[rw["key"] == k].sort_values("row")
        assert len(r) == res.design.n
        _close(history(res.design)[0].w_out, r["w_nr"], RTOL_W, f"{k}: non-response weights")
        _close(res.design.weights, r["w"], RTOL_W, f"{k}: final weights")
        # both R formulations of the non-response step give the same weights
        _close(r["w_ps"], r["w"], RTOL_W, f"{k}: postStratify formulation weights")


@pytest.mark.parametrize("key", ["month", "12m", "survey", "3m_design"])
def test_stage_estimates_ses_and_logit_cis_match_r(cross_check, key):
    ours, ref, _ = cross_check
    if key == "survey":
        keys = [k for k in ours if k.startswith("12m:")]
    else:
        keys = [key]
    for k in keys:
        form = "design" if k == "3m_design" else "given"
        r = _ref(ref, k, form, "stage")
        t = ours[k]["stages"]
        t = t[t["n"] >= 2]
        assert len(t) == len(r)
        mine = t.loc[[lv.removeprefix("sat_") for lv in r.index]]
        _close(mine["estimate"], r["est"], RTOL_EST, f"{k}: estimates")
        _close(r["p"], r["est"], RTOL_EST, f"{k}: R's svyciprop and svymean agree")
        # p = 0 or 1: no sampling variance; documented difference in the interval (below)
        flat = mine["estimate"].isin([0.0, 1.0]).to_numpy()
        _close(mine["se"][~flat], r["se"][~flat], RTOL_SE, f"{k}: SEs")
        _close(mine["ci_low"][~flat], r["lo"][~flat], RTOL_SE, f"{k}: CI low")
        _close(mine["ci_high"][~flat], r["hi"][~flat], RTOL_SE, f"{k}: CI high")
        for stage in mine.index[flat]:
            _check_degenerate(mine.loc[stage], r.loc[f"sat_{stage}"], f"{k}/{stage}")
    if key == "3m_design":  # the trend chart's point for the month is this design's figure
        trend = ours[key]["trend"]
        r = _ref(ref, key, "design", "stage").loc[WE]
        _close(trend["estimate"], r["est"], RTOL_EST, "3-month trend estimate")
        _close(trend[["se", "ci_low", "ci_high"]], r[["se", "lo", "hi"]], RTOL_SE, "trend")
    if key == "month":
        assert len(ours["month"]["stages"]) == len(STAGES)
        assert not ours["month"]["stages"]["estimate"].isna().any()


@pytest.mark.parametrize("key", WEIGHTED_KEYS)
def test_ethnic_gap_matches_r(cross_check, key):
    ours, ref, _ = cross_check
    r = _ref(ref, key, "given", "gap").iloc[0]
    t = _ref(ref, key, "given", "gap_t").iloc[0]
    groups = _ref(ref, key, "given", "gap_groups")["est"]
    g, c = ours[key]["gap"], ours[key]["compare"]
    _close(g["white"], groups["white"], RTOL_EST, f"{key}: White victims' estimate")
    _close(g["minority"], groups["minority ethnic"], RTOL_EST, f"{key}: minority estimate")
    _close(g["gap"], r["est"], RTOL_EST, f"{key}: gap (svycontrast)")
    _close(t["est"], r["est"], RTOL_EST, f"{key}: R's svyttest and svycontrast agree")
    _close(c["se"], r["se"], RTOL_SE, f"{key}: gap SE")
    _close([g["ci_low"], g["ci_high"]], [r["lo"], r["hi"]], RTOL_SE, f"{key}: gap CI (svyttest)")
    _close(c["df"], r["df"], 0, f"{key}: gap df")
    _close(g["p_value"], r["p"], RTOL_SE, f"{key}: gap p-value")
    _close(c["statistic"], t["p"], RTOL_SE, f"{key}: gap t statistic")


@pytest.mark.parametrize("key", WEIGHTED_KEYS)
def test_district_domains_match_r(cross_check, key):
    ours, ref, _ = cross_check
    r = _ref(ref, key, "given", "district")
    d = ours[key]["districts"].set_index("district").loc[list(r.index)]
    assert len(d) >= 5
    _close(d["estimate"], r["est"], RTOL_EST, f"{key}: district estimates")
    _close(r["p"], r["est"], RTOL_EST, f"{key}: R's svyciprop and svymean agree")
    se = ours[key]["district_se"].loc[list(r.index)]
    _close(se, r["se"], RTOL_SE, f"{key}: district SEs")
    # p = 0 or 1 in a district: no sampling variance; documented difference in the interval
    flat = d["estimate"].isin([0.0, 1.0]).to_numpy().copy()
    # R's svyciprop gives no interval (NaN) for a district of two respondents whose logit fit
    # does not converge; ours is then all but the whole unit interval (a known corner, open
    # in the engine-parity issue)
    undefined = r["hi"].isna().to_numpy() | r["lo"].isna().to_numpy()
    assert ((d["ci_low"] < 0.01) & (d["ci_high"] > 0.99)).to_numpy()[undefined].all()
    flat |= undefined
    _close(d["ci_low"][~flat], r["lo"][~flat], RTOL_SE, f"{key}: district CI low")
    _close(d["ci_high"][~flat], r["hi"][~flat], RTOL_SE, f"{key}: district CI high")
    for district in d.index[flat & ~undefined]:
        mine = d.loc[district].copy()
        mine["se"] = se.loc[district]
        _check_degenerate(mine, r.loc[district], f"{key}/{district}")


def test_poststratify_formulation_of_nonresponse_step_differs_only_in_se(cross_check):
    """Documented difference: R's ``postStratify`` formulation of the non-response step adds
    a post-stratification term to ``svyrecvar``; ours (NonresponseStep) treats the adjusted
    weights as given. Same weights and estimates; SEs differ by 0.05-2.3% on the report month
    and under 0.1% on the pooled window. Raking to offence-group totals (the classes) absorbs
    most of the term: R applies it before the raking sweeps, where residualising on the later
    step first would leave almost nothing of it. Within one survey (one class, classes equal
    to strata with constant design weights) the two agree exactly."""
    ours, ref, _ = cross_check
    for k in _keys(cross_check):
        a = _ref(ref, k, "given", "stage")
        b = _ref(ref, k, "poststrat", "stage")
        _close(b["est"], a["est"], RTOL_EST, f"{k}: postStratify formulation estimates")
        live = (a["se"] > 1e-12).to_numpy()
        ratio = (b["se"] / a["se"]).to_numpy()[live]
        assert np.all(np.abs(ratio - 1) < 0.05), f"{k}: SE ratio {ratio}"
