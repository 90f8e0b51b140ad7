"""The report's executive summary: what a board reads in one minute, each point with its figure.

Built only from tables the report has already computed and suppressed, so no figure appears in
the summary that the detail hides:

1. whole-experience satisfaction this month with its 95% CI;
2. the change against the previous month and against the same month a year earlier, each with
   whether a design-based test finds it significant (independent samples,
   :func:`methods.report.tables.change_table`);
3. the stage that moved most since the previous month;
4. the groups of victims with the largest gaps (:func:`methods.report.groups.group_gaps`);
5. response rates by interview mode (AAPOR RR1).

Percentages are whole numbers in the text (labels: :mod:`methods.report.labels`).
"""

from __future__ import annotations

import pandas as pd

from methods.report.labels import ci_text, label, month_label, pct, phrase
from methods.report.tables import change_table

__all__ = ["executive_summary", "summary_markdown"]


def _whole(table: pd.DataFrame | None):
    if table is None or table.empty:
        return None
    t = table.set_index("stage")
    if "whole_experience" not in t.index or bool(t.loc["whole_experience", "suppressed"]):
        return None
    return t.loc["whole_experience"]


def _verdict(p: float) -> str:
    return "statistically significant" if p < 0.05 else "not statistically significant"


def _change_sentence(now: pd.DataFrame, then: pd.DataFrame | None, when: str) -> str:
    if _whole(then) is None:
        return f"There is no published figure for {when} to compare with."
    ch = change_table(now, then, when)
    row = ch[ch["stage"] == "whole_experience"]
    if row.empty:
        return f"There is no published figure for {when} to compare with."
    r = row.iloc[0]
    pts = round(100 * abs(r["change"]))
    if pts == 0:
        move = f"about the same as in {when} ({pct(r['then'])})"
    else:
        word = "higher" if r["change"] > 0 else "lower"
        move = f"{pts} point{'s' if pts != 1 else ''} {word} than in {when} ({pct(r['then'])})"
    return f"That is {move}; the difference is {_verdict(r['p_value'])}."


def executive_summary(
    month: str,
    stages: pd.DataFrame,
    previous: pd.DataFrame | None,
    year_ago: pd.DataFrame | None,
    gaps: pd.DataFrame,
    mode_rates: pd.DataFrame,
    period: str,
) -> list[str]:
    """The summary points, one sentence (or two) each.

    Arguments:
        month: the report month (``YYYY-MM``).
        stages: this month's stage table (:func:`methods.report.monthly.satisfaction_by_stage`
            after suppression); previous, year_ago: the same for the previous month and the
            month a year earlier (None when not loaded).
        gaps: :func:`methods.report.groups.group_gaps` over ``period``.
        mode_rates: response counts by mode (:func:`methods.report.tables.response_counts` of
            the month with every survey together, after
            :func:`methods.report.tables.suppress_response_counts`).
        period: the words for the groups' period, e.g. "the twelve months to December 2025".
    """
    when = month_label(month)
    prev_when = month_label(str(pd.Period(month, freq="M") - 1))
    year_when = month_label(str(pd.Period(month, freq="M") - 12))
    points = []
    we = _whole(stages)
    if we is None:
        points.append(
            f"Too few victims answered in {when} for a reliable figure on satisfaction with the "
            "whole experience; the twelve-month figures below are the ones to use."
        )
    else:
        points.append(
            f"In {when}, {ci_text(we['estimate'], we['ci_low'], we['ci_high'])} of victims "
            "surveyed were satisfied with their whole experience (the range is the 95% "
            "confidence interval)."
        )
        points.append(
            _change_sentence(stages, previous, prev_when)
            + " "
            + _change_sentence(stages, year_ago, year_when)
        )
    if _whole(previous) is not None:
        ch = change_table(stages, previous, prev_when)
        ch = ch[ch["stage"] != "whole_experience"]  # already given above
        if len(ch):
            r = ch.loc[ch["change"].abs().idxmax()]
            pts = round(100 * abs(r["change"]))
            direction = "up" if r["change"] > 0 else "down"
            points.append(
                f"The stage that moved most since {prev_when} was "
                f"{label('stage', r['stage']).lower()}: {direction} {pts} "
                f"point{'s' if pts != 1 else ''} to {pct(r['now'])} "
                f"({_verdict(r['p_value'])})."
            )
    if len(gaps):
        parts = []
        for r in gaps.head(2).itertuples():
            parts.append(
                f"by {label('variable', r.variable).lower()}, "
                f"{phrase(r.variable, r.high)} {pct(r.estimate_high)} against "
                f"{phrase(r.variable, r.low)} {pct(r.estimate_low)}, a gap of "
                f"{round(100 * r.gap)} points ({_verdict(r.p_value)})"
            )
        points.append(
            f"The largest gaps between groups of victims over {period}: " + "; ".join(parts) + "."
        )
    rates = []
    for r in mode_rates.itertuples():
        if bool(getattr(r, "rates_suppressed", False)):
            continue
        rates.append(f"{label('mode', r.mode).lower()} {pct(r.RR1)}")
    if rates:
        points.append(
            f"Response rates in {when} (interviews as a share of victims sampled): "
            + ", ".join(rates)
            + "."
        )
    return points


def summary_markdown(points: list[str]) -> str:
    """The summary as a Markdown bullet list."""
    return "\n".join(f"- {p}" for p in points)
