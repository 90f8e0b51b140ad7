"""Reporting: the monthly report's tables and charts.

The notebooks orchestrate; the numbers come from :mod:`methods.design.survey`, :mod:`methods.weighting`
and :mod:`methods.report.monthly`; this module turns them into the tidy tables and matplotlib charts of
docs/data_contract.md section 3. Running a report (papermill, HTML, PDF, manifest) lives in
:mod:`methods.report.run`, suppression in :mod:`methods.report.disclosure` and the charts in
:mod:`methods.report.charts`; their names are re-exported here, so notebooks only need
``reporting``.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from methods.core.periods import months_back  # noqa: F401 (re-exported)
from methods.core.profile import satisfied  # noqa: F401 (re-exported)
from methods.core.schema import STAGE_LABELS, STAGES
from methods.design.survey import SurveyDesign, compare_independent
from methods.nonresponse.rates import outcome_rates
from methods.report.charts import (  # noqa: F401  (re-exported: notebooks call reporting.*)
    plot_comment_themes,
    plot_domains,
    plot_stage_estimates,
    plot_trend,
)
from methods.report.disclosure import (  # noqa: F401  (re-exported)
    MIN_BASE_COUNT,
    MIN_BASE_PERCENT,
    SUPPRESSED_MARK,
    additive_constraints,
    derivable_cells,
    mark_suppressed,
    secondary_suppression,
    suppress_counts,
    suppressed_note,
)
from methods.report.monthly import satisfaction_by_stage, weight_responses
from methods.report.run import (  # noqa: F401  (re-exported: notebooks call reporting.*)
    MANIFEST_PACKAGES,
    git_commit,
    notebook_to_html,
    package_versions,
    run_report,
    save_figure,
    sha256_file,
    sha256_frame,
    write_manifest,
    write_table,
)


def completes(responses: pd.DataFrame) -> pd.DataFrame:
    """Rows with an AAPOR 1.x disposition (complete or partial interview)."""
    disp = responses["disposition"].astype(str)
    return responses.loc[disp.str.startswith("1.")].copy()


def prepare_responses(responses: pd.DataFrame) -> pd.DataFrame:
    """Add the design weight (1 / inclusion probability) and a design stratum per case.

    The design stratum is month x survey x sampling stratum: each survey draws its own
    stratified sample every month, so these are the strata of the pooled design.
    """
    out = responses.copy()
    out["design_weight"] = 1.0 / out["inclusion_prob"].astype(float)
    stratum = out["stratum"].astype(str) if "stratum" in out else ""
    out["design_stratum"] = (
        out["month"].astype(str) + "|" + out["survey"].astype(str) + "|" + stratum
    )
    return out


def response_counts(responses: pd.DataFrame) -> pd.DataFrame:
    """Issued cases, completes and AAPOR RR1 / RR3 by survey and mode (tidy).

    Rates from :func:`methods.nonresponse.rates.outcome_rates` (AAPOR Standard Definitions).
    """

    rows = []
    for (survey, mode), sub in responses.groupby(["survey", "mode"], sort=True):
        r = outcome_rates(sub["disposition"].astype(str).to_numpy()).iloc[0]
        rows.append(
            {
                "survey": survey,
                "mode": mode,
                "issued": len(sub),
                "completes": int(r["I"]),
                "RR1": float(r["RR1"]),
                "RR3": float(r["RR3"]),
            }
        )
    return pd.DataFrame(rows, columns=["survey", "mode", "issued", "completes", "RR1", "RR3"])


def suppress_bases(
    table: pd.DataFrame,
    min_count: int = MIN_BASE_COUNT,
    columns: tuple[str, ...] = ("n",),
    by: str | None = None,
) -> pd.DataFrame:
    """Suppress small unweighted bases (counts) in an estimates table.

    Arguments:
        table: e.g. a stage table (:func:`stage_estimates`), a trend or ethnic-gap table.
        min_count: bases below this (and above zero) are suppressed.
        columns: the base columns.
        by: when given, the bases of the rows of each group (e.g. each ``stage`` across
            surveys) are taken to add up to a published total, so a lone suppressed base in a
            group gets a complementary suppression; without it, primary suppression only (the
            bases of one stage table are the same respondents answering different questions,
            and do not add up to anything).

    Returns:
        :func:`suppress_counts` output: bases as nullable integers, blank where suppressed,
        with ``<column>_suppressed`` flags.
    """
    if table.empty:
        return table.copy()
    if by is None:
        return suppress_counts(table, columns, min_count, constraints=None)
    a = additive_constraints(table, columns, by=by)
    a = a[(a != 0).sum(axis=1) > 1]  # a one-row group's total is the cell itself
    return suppress_counts(table, columns, min_count, constraints=a)


def suppress_response_counts(
    counts: pd.DataFrame,
    min_count: int = MIN_BASE_COUNT,
    min_base: int = MIN_BASE_PERCENT,
) -> pd.DataFrame:
    """The response table (:func:`response_counts`) as published: small counts suppressed.

    Arguments:
        counts: ``survey, mode, issued, completes, RR1, RR3``.
        min_count: issued cases or completes below this are suppressed.
        min_base: response rates on fewer issued cases are suppressed (they are percentages).

    Returns:
        The table with ``issued`` and ``completes`` blank where suppressed (and flags
        ``issued_suppressed``, ``completes_suppressed``), and RR1 / RR3 blank, flagged by
        ``rates_suppressed``, wherever either count is suppressed or the base is too small.

    Notes:
        docs/methods.md disclosure control. The report's summary publishes the month's
        total issued cases and completes, so each column's rows add up to a published total:
        a lone suppressed count in a column gets a complement (:func:`suppress_counts`).
        A rate is suppressed with either of its counts, because rate x issued (or completes /
        rate) would give the suppressed count back.
    """
    out = suppress_counts(counts, ["issued", "completes"], min_count)
    rates = (
        out["issued_suppressed"].to_numpy()
        | out["completes_suppressed"].to_numpy()
        | (counts["issued"].to_numpy() < min_base)
    )
    out.loc[rates, ["RR1", "RR3"]] = np.nan
    out["rates_suppressed"] = rates
    return out


def counts_view(counts: pd.DataFrame) -> pd.DataFrame:
    """Display copy of :func:`suppress_response_counts`: rates in %, "[c]" marks, indexed by
    survey and mode."""
    view = counts.assign(RR1=(100 * counts["RR1"]).round(1), RR3=(100 * counts["RR3"]).round(1))
    view = mark_suppressed(
        view,
        {
            "issued": "issued_suppressed",
            "completes": "completes_suppressed",
            "RR1": "rates_suppressed",
            "RR3": "rates_suppressed",
        },
    )
    return view.rename(columns={"RR1": "RR1 (%)", "RR3": "RR3 (%)"}).set_index(["survey", "mode"])


def flow_view(table: pd.DataFrame) -> pd.DataFrame:
    """Display copy of a tidy exclusion flow (:func:`methods.report.monthly.flow_table`): one row per
    step (in the order first applied), one column per survey, "[c]" for suppressed counts and
    "-" where a survey has no such rule."""
    shown = mark_suppressed(table, {"victims": "victims_suppressed"})
    order = list(dict.fromkeys(table.sort_values("step", kind="stable")["label"]))
    surveys = list(dict.fromkeys(table["survey"]))
    wide = shown.pivot(index="label", columns="survey", values="victims")
    wide = wide.reindex(index=order, columns=surveys).fillna("-")
    wide.index.name = "step"
    wide.columns.name = None
    return wide


#: Display headers of an estimate table's columns.
PERCENT_HEADERS = {
    "estimate": "% satisfied",
    "ci_low": "95% CI low",
    "ci_high": "95% CI high",
    "n": "base (n)",
}


def _percent_marked(table: pd.DataFrame) -> pd.DataFrame:
    """Estimates and CIs as percentages to one decimal, suppressed cells "[c]", display headers."""
    view = table.copy()
    for c in ("estimate", "ci_low", "ci_high"):
        view[c] = (100 * view[c]).round(1)
    marks = {c: "suppressed" for c in ("estimate", "ci_low", "ci_high")}
    if "n_suppressed" in view:
        marks["n"] = "n_suppressed"
    return mark_suppressed(view, marks).rename(columns=PERCENT_HEADERS)


def percent_view(table: pd.DataFrame) -> pd.DataFrame:
    """A display copy of a stage table: percentages to one decimal, suppressed cells "[c]",
    indexed by period, survey and stage (whichever the table has)."""
    view = _percent_marked(table).drop(columns="stage", errors="ignore")
    view = view.rename(columns={"label": "stage"})
    keys = [c for c in ("period", "survey", "stage") if c in view]
    keep = [c for c in PERCENT_HEADERS.values() if c in view]
    return view.set_index(keys)[keep] if keys else view[keep]


def stage_estimates(
    responses: pd.DataFrame,
    weights: str = "design_weight",
    strata: str | None = "design_stratum",
    stages: tuple[str, ...] = STAGES,
    ci: str = "logit",
    min_base: int = MIN_BASE_PERCENT,
) -> pd.DataFrame:
    """Weighted satisfied proportion, 95% CI and unweighted base for each stage.

    Arguments:
        responses: completed interviews with the stage answers and a weight column.
        weights: weight column; strata: stratum column (or None).
        ci: proportion CI method passed to :meth:`SurveyDesign.proportion`.
        min_base: estimates on fewer valid answers are suppressed (NaN) and flagged.

    Returns:
        One row per stage: ``stage, label, estimate, se, ci_low, ci_high, n, suppressed``.
    """

    data = responses.copy()
    rows = []
    for stage in stages:
        col = f"sat_{stage}"
        data[col] = satisfied(data[stage]) if stage in data else np.nan
    # A stratum (month|survey|stratum) with a single complete is a lonely PSU: its variance
    # contribution is the average of the others' (R's survey.lonely.psu = "average"), as in
    # methods.report.monthly.weight_responses.
    design = SurveyDesign(data, weights=weights, strata=strata, single_psu="average")
    for stage in stages:
        col = f"sat_{stage}"
        n = int(np.isfinite(data[col]).sum())
        row = {"stage": stage, "label": STAGE_LABELS[stage], "n": n}
        if n >= max(min_base, 2):
            est = design.proportion(col, ci=ci).iloc[0]
            row.update({k: float(est[k]) for k in ("estimate", "se", "ci_low", "ci_high")})
            row["suppressed"] = False
        else:
            row.update({k: np.nan for k in ("estimate", "se", "ci_low", "ci_high")})
            row["suppressed"] = True
        rows.append(row)
    cols = ["stage", "label", "estimate", "se", "ci_low", "ci_high", "n", "suppressed"]
    return pd.DataFrame(rows)[cols]


# --------------------------------------------------------------------------- monthly report


def add_satisfied(df: pd.DataFrame, stages: tuple[str, ...] = STAGES) -> pd.DataFrame:
    """Copy of ``df`` with ``sat_<stage>`` indicators (1 / 0 / NaN) for each stage answer."""
    out = df.copy()
    for stage in stages:
        out[f"sat_{stage}"] = satisfied(out[stage]) if stage in out else np.nan
    return out


def weighted_period(sampled: pd.DataFrame, eligible: pd.DataFrame, min_cell: int = 5):
    """Weight a period's sample with the report's scheme (:func:`methods.report.monthly.weight_responses`)
    and add the satisfied indicators; returns the :class:`~methods.report.monthly.WeightedSurvey`."""

    res = weight_responses(add_satisfied(sampled), eligible, min_cell=min_cell)
    return res


def trend_table(
    sampled: pd.DataFrame,
    months: list[str],
    window: int,
    stage: str = "whole_experience",
    min_base: int = MIN_BASE_PERCENT,
    eligible: pd.DataFrame | None = None,
    min_cell: int = 5,
) -> pd.DataFrame:
    """Rolling ``window``-month estimates of one stage, one row per end month.

    Each row pools the ``window`` months ending at that month (months not loaded are simply
    absent) and estimates the satisfied proportion with a logit 95% CI; bases under
    ``min_base`` are suppressed.

    Arguments:
        sampled: every sampled case (respondents and non-respondents) with the stage answers,
            ``month``, ``design_weight``/``inclusion_prob`` and ``design_stratum``.
        eligible: the eligible victims of the same months (``month`` column). When given,
            each window is weighted exactly as the month's headline figure
            (:func:`weighted_period`: design weights, non-response classes, raking to the
            window's eligible profile), so trend points and headline figures agree; a
            ``raked`` column says whether raking was possible. Without it, design weights
            only (completes only).
        min_cell: smallest raking category (respondents), as in :func:`weighted_period`.
    """

    done = completes(sampled)
    rows = []
    for m in months:
        span = months_back(m, window)
        sub = done[done["month"].isin(span)]
        if sub.empty:
            continue
        if eligible is None:
            t = stage_estimates(sub, stages=(stage,), min_base=min_base)
        else:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # reported in the raked column
                w = weighted_period(
                    sampled[sampled["month"].isin(span)],
                    eligible[eligible["month"].isin(span)],
                    min_cell=min_cell,
                )
            t = satisfaction_by_stage(w.design, stages=(stage,), min_base=min_base)
            t["raked"] = w.raked
        t.insert(0, "window", window)
        t.insert(0, "month", m)
        rows.append(t)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def period_estimates(
    sampled: pd.DataFrame,
    eligible: pd.DataFrame,
    months: list[str],
    min_base: int = MIN_BASE_PERCENT,
    min_cell: int = 5,
) -> pd.DataFrame | None:
    """Five-stage estimates for the pooled ``months``, weighted as the headline figures.

    :func:`weighted_period` (design weights, non-response classes, raking to the period's
    eligible profile) then :func:`methods.report.monthly.satisfaction_by_stage`. Returns None when
    the period has no completes (e.g. months not loaded).
    """

    sub = sampled[sampled["month"].isin(months)]
    if completes(sub).empty:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # merges are listed with the month's table
        w = weighted_period(sub, eligible[eligible["month"].isin(months)], min_cell=min_cell)
    return satisfaction_by_stage(w.design, min_base=min_base)


def change_table(
    current: pd.DataFrame, previous: pd.DataFrame, label: str, alpha: float = 0.05
) -> pd.DataFrame:
    """Change in each stage between two independently surveyed periods.

    ``current`` and ``previous`` are stage tables (:func:`stage_estimates`); the difference,
    its CI and p-value come from :func:`methods.design.survey.compare_independent` (independent
    samples: se = sqrt(se_a^2 + se_b^2)). ``significant`` is True only where p < ``alpha``;
    suppressed estimates give no comparison.
    """

    a = current.set_index("stage")
    b = previous.set_index("stage")
    ok = ~(a["suppressed"] | b["suppressed"]) & a["estimate"].notna() & b["estimate"].notna()
    stages = [s for s in a.index if s in b.index and ok.get(s, False)]
    rows = []
    if stages:
        diff = compare_independent(
            a.loc[stages, ["estimate", "se"]], b.loc[stages, ["estimate", "se"]]
        )
        for s in stages:
            d = diff.loc[s]
            rows.append(
                {
                    "comparison": label,
                    "stage": s,
                    "label": STAGE_LABELS[s],
                    "now": float(a.loc[s, "estimate"]),
                    "then": float(b.loc[s, "estimate"]),
                    "change": float(d["estimate"]),
                    "ci_low": float(d["ci_low"]),
                    "ci_high": float(d["ci_high"]),
                    "p_value": float(d["p_value"]),
                    "significant": bool(d["p_value"] < alpha),
                }
            )
    cols = [
        "comparison",
        "stage",
        "label",
        "now",
        "then",
        "change",
        "ci_low",
        "ci_high",
        "p_value",
        "significant",
    ]
    return pd.DataFrame(rows, columns=cols)


def ethnic_gap(design, stage: str = "whole_experience", min_base: int = MIN_BASE_PERCENT):
    """Gap between White and minority-ethnic victims' satisfaction with its 95% CI.

    The former statutory indicator (Northumbria: 4.0 points). Both groups come from one
    sample, so the SE uses their joint influence (:meth:`SurveyDesign.compare`). Suppressed
    (NaN) when either group has fewer than ``min_base`` valid answers.
    """
    data = design.data
    col = f"sat_{stage}"
    valid = np.isfinite(data[col].to_numpy(dtype=float))
    n_w = int((valid & (data["ethnic_group"] == "white").to_numpy()).sum())
    n_m = int((valid & (data["ethnic_group"] == "minority ethnic").to_numpy()).sum())
    row = {"stage": stage, "n_white": n_w, "n_minority": n_m}
    if min(n_w, n_m) < min_base:
        row.update(
            dict.fromkeys(("white", "minority", "gap", "ci_low", "ci_high", "p_value"), np.nan)
        )
        row["suppressed"] = True
    else:
        c = design.compare(col, by="ethnic_group", a="white", b="minority ethnic").iloc[0]
        row.update(
            {
                "white": float(c["estimate_a"]),
                "minority": float(c["estimate_b"]),
                "gap": float(c["estimate"]),
                "ci_low": float(c["ci_low"]),
                "ci_high": float(c["ci_high"]),
                "p_value": float(c["p_value"]),
                "suppressed": False,
            }
        )
    return pd.DataFrame([row])


def _p_text(p: float) -> str:
    """A p-value for display: three decimals, "<0.001" below that, blank when missing."""
    if not np.isfinite(p):
        return ""
    return "<0.001" if p < 0.001 else f"{p:.3f}"


def changes_view(changes: pd.DataFrame) -> pd.DataFrame:
    """Display copy of a :func:`change_table`: points to one decimal, p as text (3 decimals), indexed by
    comparison and stage."""
    pts = ["now", "then", "change", "ci_low", "ci_high"]
    view = changes.assign(
        **{c: (100 * changes[c]).round(1) for c in pts}, p_value=changes["p_value"].map(_p_text)
    )
    view = view.drop(columns="stage").rename(
        columns={"label": "stage", "ci_low": "95% CI low", "ci_high": "95% CI high"}
    )
    return view.set_index(["comparison", "stage"])


def gap_view(gap: pd.DataFrame) -> pd.DataFrame:
    """Display copy of an :func:`ethnic_gap` table: points to one decimal, "[c]" marks for
    suppressed estimates and bases (``n_white_suppressed`` etc. from :func:`suppress_bases`),
    indexed by stage."""
    pts = ["white", "minority", "gap", "ci_low", "ci_high"]
    view = gap.assign(
        **{c: (100 * gap[c]).round(1) for c in pts}, p_value=gap["p_value"].map(_p_text)
    )
    marks = {c: "suppressed" for c in [*pts, "p_value"]}
    marks.update({c: f"{c}_suppressed" for c in ("n_white", "n_minority")})
    view = mark_suppressed(view, marks)
    view = view.rename(columns={"ci_low": "95% CI low", "ci_high": "95% CI high"})
    view["stage"] = view["stage"].map(STAGE_LABELS).fillna(view["stage"])
    return view.set_index("stage")


def domain_table(
    design,
    by: str,
    stage: str = "whole_experience",
    min_base: int = MIN_BASE_PERCENT,
    min_count: int = MIN_BASE_COUNT,
) -> pd.DataFrame:
    """Percent satisfied at ``stage`` for each level of ``by`` (e.g. district), with bases.

    Arguments:
        design: a weighted :class:`~methods.design.survey.SurveyDesign` with ``sat_<stage>``.
        by: the domain column; stage: the stage.
        min_base: estimates on fewer valid answers are suppressed.
        min_count: bases (counts) below this, and above zero, are suppressed.

    Returns:
        ``<by>, estimate, ci_low, ci_high, n, n_suppressed, suppressed``: ``suppressed`` flags
        the estimate (and its CI), ``n_suppressed`` the base; suppressed values are blank.

    Notes:
        Domain estimation keeps the whole design (:meth:`SurveyDesign.by`). Estimates: levels
        under ``min_base`` are suppressed, and when exactly one is, the level with the next
        smallest base too, so that it cannot be worked out from the overall figure
        (secondary suppression, docs/methods.md). Bases: the levels' bases add up to the
        overall base, which the report publishes, so :func:`suppress_counts` adds a
        complement to a lone small base.
    """

    col = f"sat_{stage}"
    data = design.data
    valid = np.isfinite(data[col].to_numpy(dtype=float))
    n = pd.Series(valid.astype(int)).groupby(data[by].to_numpy()).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tiny domains: suppressed below anyway
        est = design.by(by).proportion(col)
    est = est.reindex(n.index)
    out = pd.DataFrame(
        {
            by: n.index,
            "estimate": est["estimate"].to_numpy(),
            "ci_low": est["ci_low"].to_numpy(),
            "ci_high": est["ci_high"].to_numpy(),
            "n": n.to_numpy(),
        }
    )
    nn = out["n"].to_numpy(dtype=float)
    one = np.ones((1, len(out))) if len(out) > 1 else np.zeros((0, len(out)))
    small = nn < max(min_base, 2)
    # An empty level has no estimate to derive: it needs no complement of its own.
    out["suppressed"] = secondary_suppression(nn, small & (nn > 0), one) | small
    out.loc[out["suppressed"], ["estimate", "ci_low", "ci_high"]] = np.nan
    return suppress_counts(out, ["n"], min_count)


def domain_view(table: pd.DataFrame, by: str) -> pd.DataFrame:
    """Display copy of a :func:`domain_table`: percentages to one decimal, "[c]" marks,
    indexed by the domain."""
    return _percent_marked(table).set_index(by)


def month_summary(
    force_title: str,
    month: str,
    stages: pd.DataFrame,
    changes: pd.DataFrame,
    gap: pd.DataFrame,
    counts: pd.DataFrame,
    min_count: int = MIN_BASE_COUNT,
) -> str:
    """A short plain-English summary of the month, generated from the figures only.

    ``counts`` is the unsuppressed response table (:func:`response_counts`): its totals are
    published here, unless a total is itself below ``min_count`` ("fewer than ...").
    Suppressed estimates and bases are not quoted.
    """
    lines = []
    issued = int(counts["issued"].sum())
    done = int(counts["completes"].sum())
    if issued < min_count or 0 < done < min_count:
        lines.append(
            f"In {month}, {force_title} surveyed "
            + (f"{issued:,}" if issued >= min_count else f"fewer than {min_count}")
            + " victims, and "
            + (f"{done:,}" if done >= min_count or done == 0 else f"fewer than {min_count}")
            + " completed an interview."
        )
    else:
        lines.append(
            f"In {month}, {force_title} surveyed {issued:,} victims and {done:,} "
            f"completed an interview ({100 * done / max(issued, 1):.0f}%)."
        )
    we = stages.set_index("stage").loc["whole_experience"]
    if not we["suppressed"]:
        hidden = bool(we.get("n_suppressed", False)) or pd.isna(we["n"])
        base = "" if hidden else f", base {int(we['n'])}"
        lines.append(
            f"Taking the whole experience into account, {100 * we['estimate']:.0f}% of "
            f"victims were satisfied (95% CI {100 * we['ci_low']:.0f}% to "
            f"{100 * we['ci_high']:.0f}%{base})."
        )
    else:
        lines.append(
            "Whole-experience satisfaction for the month is not reported: too few answers."
        )
    ok = stages[~stages["suppressed"]]
    if len(ok):
        hi = ok.loc[ok["estimate"].idxmax()]
        lo = ok.loc[ok["estimate"].idxmin()]
        lines.append(
            f"Satisfaction was highest with {hi['label'].lower()} "
            f"({100 * hi['estimate']:.0f}%) and lowest with {lo['label'].lower()} "
            f"({100 * lo['estimate']:.0f}%)."
        )
    sig = changes[changes["significant"]] if len(changes) else changes
    if len(sig):
        parts = [
            f"{r.label.lower()} {'up' if r.change > 0 else 'down'} "
            f"{abs(100 * r.change):.1f} points ({r.comparison})"
            for r in sig.itertuples()
        ]
        lines.append("Statistically significant changes: " + "; ".join(parts) + ".")
    else:
        lines.append(
            "No change against the previous period or the same period last year is "
            "statistically significant."
        )
    g = gap.iloc[0]
    if not g["suppressed"]:
        verdict = "significant" if g["p_value"] < 0.05 else "not statistically significant"
        lines.append(
            f"The gap between White and minority-ethnic victims' whole-experience "
            f"satisfaction was {100 * g['gap']:.1f} points ({verdict})."
        )
    else:
        lines.append(
            "The gap between White and minority-ethnic victims is not reported this "
            "period: too few respondents in one of the groups."
        )
    return " ".join(lines)
