"""Reporting: the monthly report's tables and charts.

The notebooks orchestrate; the numbers come from :mod:`methods.design`, :mod:`methods.weighting`
and :mod:`methods.monthly`; this module turns them into the tidy tables and matplotlib charts of
DATA_CONTRACT.md section 3. Running a report (papermill, HTML, PDF, manifest) lives in
:mod:`methods.report_run`, whose names are re-exported here.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.report_run import (  # noqa: F401  (re-exported: notebooks call reporting.*)
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
from methods.schema import SATISFIED_CODES, STAGE_LABELS, STAGES, VALID_ANSWER_CODES

#: Default small-base thresholds (METHODS_REFERENCE.md, disclosure control).
MIN_BASE_PERCENT = 30
MIN_BASE_COUNT = 10


def satisfied(answers: pd.Series | np.ndarray) -> np.ndarray:
    """Satisfied indicator from stage answers on the 1-8 scale.

    Returns 1.0 for answers 1-3 (completely, very or fairly satisfied), 0.0 for 4-7, and NaN
    for 8 (don't know / not applicable) and blanks, which are excluded from the base
    (DATA_CONTRACT.md section 2; Home Office User Satisfaction Survey definition).
    """
    a = pd.to_numeric(pd.Series(answers), errors="coerce").to_numpy(dtype=float)
    out = np.full(a.shape, np.nan)
    valid = np.isin(a, VALID_ANSWER_CODES)
    out[valid] = np.isin(a[valid], SATISFIED_CODES).astype(float)
    return out


def completes(responses: pd.DataFrame) -> pd.DataFrame:
    """Rows with an AAPOR 1.x disposition (complete or partial interview)."""
    disp = responses["disposition"].astype(str)
    return responses.loc[disp.str.startswith("1.")].copy()


def months_back(month: str, k: int) -> list[str]:
    """The ``k`` months ending with ``month`` (``YYYY-MM``), oldest first."""
    end = pd.Period(month, freq="M")
    return [str(end - i) for i in range(k - 1, -1, -1)]


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

    Rates from :func:`methods.nonresponse.outcome_rates` (AAPOR Standard Definitions).
    """
    from methods.nonresponse import outcome_rates

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


def percent_view(table: pd.DataFrame) -> pd.DataFrame:
    """A display copy of a stage table: percentages to one decimal, suppressed cells marked."""
    view = table.copy()
    for c in ("estimate", "ci_low", "ci_high"):
        view[c] = (100 * view[c]).round(1)
    view = view.rename(
        columns={
            "estimate": "% satisfied",
            "ci_low": "95% CI low",
            "ci_high": "95% CI high",
            "n": "base (n)",
        }
    )
    view["% satisfied"] = (
        view["% satisfied"].astype(object).where(~view["suppressed"], "suppressed")
    )
    keep = [
        c
        for c in (
            "period",
            "survey",
            "label",
            "% satisfied",
            "95% CI low",
            "95% CI high",
            "base (n)",
        )
        if c in view
    ]
    return view[keep]


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
    from methods.design import SurveyDesign

    data = responses.copy()
    rows = []
    for stage in stages:
        col = f"sat_{stage}"
        data[col] = satisfied(data[stage]) if stage in data else np.nan
    design = SurveyDesign(data, weights=weights, strata=strata)
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


def plot_stage_estimates(table: pd.DataFrame, title: str = "", ax=None):
    """Horizontal bars of percent satisfied per stage with 95% CI whiskers.

    Suppressed stages are drawn as an empty row marked "suppressed (base < threshold)".
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 0.6 * len(table) + 1.2), dpi=100)
    else:
        fig = ax.figure
    y = np.arange(len(table))[::-1]
    est = table["estimate"].to_numpy(dtype=float) * 100
    lo = table["ci_low"].to_numpy(dtype=float) * 100
    hi = table["ci_high"].to_numpy(dtype=float) * 100
    ok = np.isfinite(est)
    ax.barh(y[ok], est[ok], color="#4c72b0", height=0.6)
    ax.errorbar(
        est[ok],
        y[ok],
        xerr=[est[ok] - lo[ok], hi[ok] - est[ok]],
        fmt="none",
        color="black",
        capsize=3,
        lw=1,
    )
    for yi, e, n, sup in zip(y, est, table["n"], table["suppressed"]):
        text = f"suppressed (base {n})" if sup else f"{e:.1f}%  (n={n})"
        ax.text(1 if sup else min(e + 1, 101), yi, text, va="center", fontsize=8)
    ax.set_yticks(y, table["label"])
    ax.set_xlim(0, 115)
    ax.set_xlabel("% satisfied (95% CI)")
    if title:
        ax.set_title(title)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- monthly report


def add_satisfied(df: pd.DataFrame, stages: tuple[str, ...] = STAGES) -> pd.DataFrame:
    """Copy of ``df`` with ``sat_<stage>`` indicators (1 / 0 / NaN) for each stage answer."""
    out = df.copy()
    for stage in stages:
        out[f"sat_{stage}"] = satisfied(out[stage]) if stage in out else np.nan
    return out


def weighted_period(sampled: pd.DataFrame, eligible: pd.DataFrame, min_cell: int = 5):
    """Weight a period's sample with the report's scheme (:func:`methods.monthly.weight_responses`)
    and add the satisfied indicators; returns the :class:`~methods.monthly.WeightedSurvey`."""
    from methods.monthly import weight_responses

    res = weight_responses(add_satisfied(sampled), eligible, min_cell=min_cell)
    return res


def trend_table(
    sampled: pd.DataFrame,
    months: list[str],
    window: int,
    stage: str = "whole_experience",
    min_base: int = MIN_BASE_PERCENT,
) -> pd.DataFrame:
    """Rolling ``window``-month design-weighted estimates of one stage, one row per end month.

    Each row pools the completes of the ``window`` months ending at that month (months not
    loaded are simply absent) and estimates the satisfied proportion with a logit 95% CI;
    bases under ``min_base`` are suppressed.
    """
    done = completes(sampled)
    rows = []
    for m in months:
        span = months_back(m, window)
        sub = done[done["month"].isin(span)]
        if sub.empty:
            continue
        t = stage_estimates(sub, stages=(stage,), min_base=min_base)
        t.insert(0, "window", window)
        t.insert(0, "month", m)
        rows.append(t)
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def plot_trend(trends: dict[int, pd.DataFrame], title: str = "", ax=None):
    """Lines of percent satisfied by month with shaded 95% CI bands, one per rolling window.

    Suppressed months (small bases) are left as gaps and marked with an open circle at the
    bottom of the chart.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    else:
        fig = ax.figure
    colours = ["#4c72b0", "#dd8452", "#55a868"]
    for (window, t), colour in zip(sorted(trends.items()), colours):
        if t.empty:
            continue
        x = np.arange(len(t))
        est = 100 * t["estimate"].to_numpy(dtype=float)
        ax.plot(x, est, marker="o", color=colour, label=f"{window}-month rolling")
        ax.fill_between(
            x,
            100 * t["ci_low"].to_numpy(dtype=float),
            100 * t["ci_high"].to_numpy(dtype=float),
            color=colour,
            alpha=0.2,
        )
        sup = t["suppressed"].to_numpy(dtype=bool)
        if sup.any():
            ax.scatter(
                x[sup],
                np.full(sup.sum(), 1.0),
                marker="o",
                facecolors="none",
                edgecolors=colour,
                label=f"{window}-month suppressed (small base)",
            )
        ax.set_xticks(x, t["month"], rotation=45, ha="right")
    ax.set_ylim(0, 100)
    ax.set_ylabel("% satisfied (95% CI)")
    if title:
        ax.set_title(title)
    ax.legend(loc="lower left", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def change_table(
    current: pd.DataFrame, previous: pd.DataFrame, label: str, alpha: float = 0.05
) -> pd.DataFrame:
    """Change in each stage between two independently surveyed periods.

    ``current`` and ``previous`` are stage tables (:func:`stage_estimates`); the difference,
    its CI and p-value come from :func:`methods.design.compare_independent` (independent
    samples: se = sqrt(se_a^2 + se_b^2)). ``significant`` is True only where p < ``alpha``;
    suppressed estimates give no comparison.
    """
    from methods.design import compare_independent

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


def domain_table(
    design, by: str, stage: str = "whole_experience", min_base: int = MIN_BASE_PERCENT
) -> pd.DataFrame:
    """Percent satisfied at ``stage`` for each level of ``by`` (e.g. district), with bases.

    Domain estimation keeps the whole design (:meth:`SurveyDesign.by`). Levels under
    ``min_base`` are suppressed; if exactly one level is suppressed, the smallest other level
    is suppressed too, so it cannot be derived from the total (secondary suppression,
    METHODS_REFERENCE.md).
    """
    import warnings

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
    out["suppressed"] = out["n"] < min_base
    if out["suppressed"].sum() == 1 and len(out) > 1:
        other = out.loc[~out["suppressed"], "n"].idxmin()
        out.loc[other, "suppressed"] = True
    out.loc[out["suppressed"], ["estimate", "ci_low", "ci_high"]] = np.nan
    return out


def month_summary(
    force_title: str,
    month: str,
    stages: pd.DataFrame,
    changes: pd.DataFrame,
    gap: pd.DataFrame,
    counts: pd.DataFrame,
) -> str:
    """A short plain-English summary of the month, generated from the figures only."""
    lines = []
    issued = int(counts["issued"].sum())
    done = int(counts["completes"].sum())
    lines.append(
        f"In {month}, {force_title} surveyed {issued:,} victims and {done:,} "
        f"completed an interview ({100 * done / max(issued, 1):.0f}%)."
    )
    we = stages.set_index("stage").loc["whole_experience"]
    if not we["suppressed"]:
        lines.append(
            f"Taking the whole experience into account, {100 * we['estimate']:.0f}% of "
            f"victims were satisfied (95% CI {100 * we['ci_low']:.0f}% to "
            f"{100 * we['ci_high']:.0f}%, base {int(we['n'])})."
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
            "period: too few minority-ethnic respondents."
        )
    return " ".join(lines)
