"""Publication tables and figures of the monthly report (great_tables, matplotlib).

Each ``*_table`` function takes a tidy table the report computed (the ones written to
``tables/*.csv``, docs/data_contract.md section 3) and returns a :class:`great_tables.GT` with
plain-English labels (:mod:`methods.report.labels`), percentages to one decimal, intervals as
"72.3% (68.1% to 76.0%)", suppressed cells shown as "[c]" and explained in a source note. The
tables carry a fixed HTML id (their name), so the same figures render to the same bytes.

:func:`show_figure` displays a chart with alternative text, which the report's HTML export
writes into the image's ``alt`` attribute (:func:`methods.report.run.notebook_to_html`).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from great_tables import GT
from IPython.display import HTML, Image, display

from methods.core.schema import STAGE_LABELS
from methods.report.disclosure import SUPPRESSED_MARK
from methods.report.labels import ci_text, label, points, significance, step_label

__all__ = [
    "TABLE_STYLE",
    "changes_table",
    "comments_table",
    "diagnostics_table",
    "districts_table",
    "flow_table",
    "gap_table",
    "groups_table",
    "publication_table",
    "response_table",
    "show_figure",
    "show_table",
    "stage_alt",
    "describe_estimates",
    "stages_table",
    "surveys_table",
]

#: One look for every table: the report's font, left-aligned headings, light row striping.
TABLE_STYLE = {
    "table_font_size": "14px",
    "heading_align": "left",
    "heading_title_font_size": "16px",
    "column_labels_font_weight": "bold",
    "row_group_font_weight": "bold",
    "source_notes_font_size": "12px",
    "table_width": "100%",
}
_FONT = ["Source Sans Pro", "Segoe UI", "Helvetica Neue", "Arial", "sans-serif"]


def _note(min_base: int | None, min_count: int | None) -> str:
    parts = []
    if min_base is not None:
        parts.append(f"a percentage based on fewer than {min_base} answers")
    if min_count is not None:
        parts.append(f"a count below {min_count}")
    what = " or ".join(parts) if parts else "a small figure"
    return (
        f"{SUPPRESSED_MARK} not shown to protect confidentiality: {what}, or a figure from "
        "which one of those could be worked out."
    )


def publication_table(
    view: pd.DataFrame,
    name: str,
    title: str,
    subtitle: str | None = None,
    notes: Sequence[str] = (),
    *,
    stub: str | None = None,
    group: str | None = None,
    stubhead: str | None = None,
) -> GT:
    """A display table (strings, already labelled) as a publication table in the house style.

    Arguments:
        view: the display frame; its column names are the headers shown.
        name: the table's HTML id (stable, so the rendered bytes are reproducible).
        title, subtitle: the heading; notes: source notes under the table, in order.
        stub, group: columns used as row labels and row groups; stubhead: the stub's header.
    """
    gt = GT(view, id=name, rowname_col=stub, groupname_col=group)
    gt = gt.tab_header(title=title, subtitle=subtitle) if subtitle else gt.tab_header(title=title)
    if stubhead:
        gt = gt.tab_stubhead(label=stubhead)
    for text in notes:
        gt = gt.tab_source_note(text)
    gt = gt.opt_table_font(font=_FONT).opt_row_striping().tab_options(**TABLE_STYLE)
    numeric = [c for c in view.columns if c not in (stub, group)][1 if stub is None else 0 :]
    return gt.cols_align("right", columns=numeric) if numeric else gt


def _est(row, decimals: int = 1) -> str:
    if bool(row.get("suppressed", False)):
        return SUPPRESSED_MARK
    return ci_text(row["estimate"], row["ci_low"], row["ci_high"], decimals=decimals) or "-"


def _count(row, col: str = "n") -> str:
    if bool(row.get(f"{col}_suppressed", False)) or pd.isna(row[col]):
        return SUPPRESSED_MARK
    return f"{int(row[col]):,}"


def stages_table(
    table: pd.DataFrame, name: str, title: str, subtitle: str | None = None,
    min_base: int | None = None, min_count: int | None = None,
) -> GT:  # fmt: skip
    """Satisfaction at each stage: "% satisfied (95% CI)" and respondents, one row a stage."""
    view = pd.DataFrame(
        {
            "Stage": table["stage"].map(lambda s: label("stage", s)),
            "Satisfied (95% confidence interval)": [_est(r) for _, r in table.iterrows()],
            "Respondents": [_count(r) for _, r in table.iterrows()],
        }
    )
    return publication_table(view, name, title, subtitle, [_note(min_base, min_count)])


def surveys_table(
    table: pd.DataFrame, titles: Mapping[str, str], name: str, title: str,
    subtitle: str | None = None, min_base: int | None = None, min_count: int | None = None,
) -> GT:  # fmt: skip
    """Stages by survey: one column of "% (CI)" per survey, stages as rows, then respondents."""
    t = table.assign(
        cell=[_est(r) for _, r in table.iterrows()],
        base=[_count(r) for _, r in table.iterrows()],
        survey_t=table["survey"].map(lambda s: titles.get(s, label("offence_group", s))),
    )
    order = list(dict.fromkeys(t["survey_t"]))
    stages = list(dict.fromkeys(t["stage"]))
    est = t.pivot(index="stage", columns="survey_t", values="cell").reindex(stages)[order]
    base = t.pivot(index="stage", columns="survey_t", values="base").reindex(stages)[order]
    rows = []
    for s in stages:
        rows.append({"Stage": label("stage", s), **est.loc[s].fillna("-").to_dict()})
    rows.append({"Stage": "Respondents (whole experience)", **_last_base(base)})
    view = pd.DataFrame(rows, columns=["Stage", *order])
    return publication_table(view, name, title, subtitle, [_note(min_base, min_count)])


def _last_base(base: pd.DataFrame) -> dict:
    key = "whole_experience" if "whole_experience" in base.index else base.index[-1]
    return base.loc[key].fillna("-").to_dict()


def changes_table(changes: pd.DataFrame, name: str, title: str, subtitle: str | None = None) -> GT:
    """Changes between periods: now, then, change in points with its CI, and significance."""
    rows = []
    for r in changes.itertuples():
        rows.append(
            {
                "Compared with": r.comparison,
                "Stage": label("stage", r.stage),
                "This period": f"{100 * r.now:.1f}%",
                "Comparison period": f"{100 * r.then:.1f}%",
                "Change (points, 95% CI)": (
                    f"{points(r.change)} ({points(r.ci_low)} to {points(r.ci_high)})"
                ),
                "Significance": significance(r.p_value),
            }
        )
    view = pd.DataFrame(
        rows,
        columns=["Compared with", "Stage", "This period", "Comparison period",
                 "Change (points, 95% CI)", "Significance"],
    )  # fmt: skip
    note = (
        "The two periods are surveyed independently; a change is significant where a "
        "design-based test rejects no change at the 5% level."
    )
    return publication_table(view, name, title, subtitle, [note], group="Compared with")


def gap_table(gap: pd.DataFrame, name: str, title: str, subtitle: str | None = None,
              min_base: int | None = None, min_count: int | None = None) -> GT:  # fmt: skip
    """The White / minority-ethnic gap: both groups, the gap in points with its CI."""
    rows = []
    for _, r in gap.iterrows():
        hidden = bool(r["suppressed"])
        rows.append(
            {
                "Stage": label("stage", r["stage"]),
                "White victims": SUPPRESSED_MARK if hidden else f"{100 * r['white']:.1f}%",
                "Minority-ethnic victims": SUPPRESSED_MARK
                if hidden
                else f"{100 * r['minority']:.1f}%",
                "Gap (points, 95% CI)": SUPPRESSED_MARK
                if hidden
                else f"{points(r['gap'])} ({points(r['ci_low'])} to {points(r['ci_high'])})",
                "Significance": SUPPRESSED_MARK if hidden else significance(r["p_value"]),
                "White respondents": _count(r, "n_white"),
                "Minority-ethnic respondents": _count(r, "n_minority"),
            }
        )
    note = "Gap: White minus minority ethnic. Both groups come from one sample; the interval allows for that."
    return publication_table(
        pd.DataFrame(rows), name, title, subtitle, [note, _note(min_base, min_count)]
    )


def groups_table(groups: pd.DataFrame, name: str, title: str, subtitle: str | None = None,
                 min_base: int | None = None, min_count: int | None = None) -> GT:  # fmt: skip
    """Satisfaction by group of victims (age, gender, ethnic group, offence), grouped rows."""
    view = pd.DataFrame(
        {
            "Variable": groups["variable"].map(lambda v: label("variable", v)),
            "Group": [label(v, g) for v, g in zip(groups["variable"], groups["group"])],
            "Satisfied (95% confidence interval)": [_est(r) for _, r in groups.iterrows()],
            "Respondents": [_count(r) for _, r in groups.iterrows()],
        }
    )
    return publication_table(
        view, name, title, subtitle, [_note(min_base, min_count)], stub="Group", group="Variable"
    )


def districts_table(table: pd.DataFrame, name: str, title: str, subtitle: str | None = None,
                    min_base: int | None = None, min_count: int | None = None,
                    publish_base: int | None = None) -> GT:  # fmt: skip
    """Districts: the survey's direct estimate and the model estimate side by side, with their
    95% intervals, and which one is published (:func:`methods.report.districts.district_estimates`)."""

    def rng(e, lo, hi):
        return ci_text(e, lo, hi, decimals=1) or SUPPRESSED_MARK

    rows = []
    for r in table.itertuples():
        rows.append(
            {
                "District": str(r.district),
                "Respondents": f"{int(r.n):,}" if min_count is None or r.n >= min_count or r.n == 0
                else SUPPRESSED_MARK,
                "Survey estimate (95% CI)": rng(r.direct, r.direct_lo, r.direct_hi),
                "Model estimate (95% CI)": rng(r.model, r.model_lo, r.model_hi),
                "Published": {"direct": "Survey estimate", "model": "Model estimate",
                              "synthetic": "Model estimate (no survey data)"}[r.published],
            }
        )  # fmt: skip
    notes = [
        f"The survey estimate uses only the district's own respondents. Where a district has "
        f"fewer than {publish_base} respondents it is too uncertain to publish on its own, and "
        "the model estimate is published instead: it combines the district's answers with what "
        "districts with a similar mix of offences and victims' ages report (a Fay-Herriot "
        "area-level model), and is scaled so that the districts add up to the force figure.",
        _note(min_base, min_count),
    ]
    return publication_table(pd.DataFrame(rows), name, title, subtitle, notes)


def group_share(themes: pd.DataFrame) -> np.ndarray:
    """Each theme's share of its own group's comments (satisfied, dissatisfied or all)."""
    v = themes["victims"].to_numpy()
    return np.where(v == "satisfied", themes["share_satisfied"],
                    np.where(v == "dissatisfied", themes["share_dissatisfied"],
                             themes["share"])).astype(float)  # fmt: skip


def comments_table(themes: pd.DataFrame, labels, name: str, title: str,
                   subtitle: str | None = None) -> GT:  # fmt: skip
    """Themes of victims' comments (:func:`methods.report.comment_report.comment_summary`):
    whose comments, the theme, comments, share of that group's comments, tone."""

    def tone(x):
        if not np.isfinite(x):
            return "-"
        return "Positive" if x >= 0.05 else "Negative" if x <= -0.05 else "Mixed or neutral"

    who = {"satisfied": "Satisfied victims", "dissatisfied": "Dissatisfied victims",
           "all": "All victims"}  # fmt: skip
    view = pd.DataFrame(
        {
            "Comments from": [who[v] for v in themes["victims"]],
            "Theme": [labels(t) for t in themes["theme"]],
            "Comments": [f"{int(c):,}" for c in themes["comments"]],
            "Share of the group's comments": [
                f"{100 * x:.0f}%" if np.isfinite(x) else "-" for x in group_share(themes)
            ],
            "Tone": [tone(x) for x in themes["mean_sentiment"]],
        }
    )
    notes = [
        "Themes are found separately in the comments of satisfied and of dissatisfied victims "
        "(their answer about the whole experience), by grouping comments that use similar "
        "words (a statistical text model); each is named by its most typical words. Themes "
        "with too few comments are not shown. Tone: the average of a standard word-list score "
        "(VADER) of the comments in the theme.",
        "Names, phone numbers, email addresses, postcodes, street addresses, vehicle "
        "registrations and crime references were removed before analysis.",
    ]
    return publication_table(view, name, title, subtitle, notes)


def flow_table(table: pd.DataFrame, titles: Mapping[str, str], name: str, title: str,
               subtitle: str | None = None, min_count: int | None = None) -> GT:  # fmt: skip
    """The flow of victims through each survey's exclusion rules: steps as rows, surveys as
    columns, "-" where a survey has no such rule."""
    t = table.assign(
        cell=[_count(r, "victims") for _, r in table.iterrows()],
        survey_t=table["survey"].map(lambda s: titles.get(s, label("offence_group", s))),
    )
    order = list(dict.fromkeys(t.sort_values("step", kind="stable")["label"]))
    surveys = list(dict.fromkeys(t["survey_t"]))
    wide = t.pivot(index="label", columns="survey_t", values="cell").reindex(order)[surveys]
    wide = wide.fillna("-")
    view = pd.DataFrame({"Step": [step_label(s) for s in wide.index]})
    for s in surveys:
        view[s] = wide[s].to_numpy()
    return publication_table(view, name, title, subtitle, [_note(None, min_count)])


def response_table(counts: pd.DataFrame, titles: Mapping[str, str], name: str, title: str,
                   subtitle: str | None = None, min_base: int | None = None,
                   min_count: int | None = None) -> GT:  # fmt: skip
    """Victims sampled, interviews and response rates (AAPOR RR1 and RR3) by survey and mode."""
    rows = []
    for _, r in counts.iterrows():
        hide_rate = bool(r.get("rates_suppressed", False))
        rows.append(
            {
                "Survey": titles.get(r["survey"], label("offence_group", r["survey"])),
                "Interview mode": label("mode", r["mode"]),
                "Victims sampled": _count(r, "issued"),
                "Interviews": _count(r, "completes"),
                "Response rate": SUPPRESSED_MARK if hide_rate else f"{100 * r['RR1']:.1f}%",
                "Response rate (estimated eligible)": SUPPRESSED_MARK
                if hide_rate
                else f"{100 * r['RR3']:.1f}%",
            }
        )
    notes = [
        "Response rate: interviews as a share of victims sampled (AAPOR response rate 1). "
        "Estimated eligible: victims whose eligibility is unknown counted at the share found "
        "eligible among those reached (AAPOR response rate 3).",
        _note(min_base, min_count),
    ]
    return publication_table(pd.DataFrame(rows), name, title, subtitle, notes)


def diagnostics_table(
    summary: pd.DataFrame, name: str, title: str, subtitle: str | None = None
) -> GT:
    """Weighting diagnostics before and after weighting (Kish effective sample size etc.)."""
    rows = []
    for key, r in summary.iterrows():
        rows.append(
            {
                "Weights": label("weights", key),
                "Respondents": f"{int(r['n']):,}",
                "Effective sample size": f"{r['n_eff']:.0f}",
                "Design effect of weighting": f"{r['deff_w']:.2f}",
                "Smallest weight": f"{r['min']:.1f}",
                "Largest weight": f"{r['max']:.1f}",
            }
        )
    note = (
        "Effective sample size: the number of equally weighted interviews that would give the "
        "same precision (Kish). Design effect of weighting: 1 plus the squared coefficient of "
        "variation of the weights."
    )
    return publication_table(pd.DataFrame(rows), name, title, subtitle, [note])


def show_table(table: GT) -> None:
    """Display a publication table as HTML (a stable plain-text fallback, unlike GT's repr)."""
    display(HTML(table.as_raw_html()))


def show_figure(fig, alt: str, dpi: int = 100) -> None:
    """Display ``fig`` as a PNG whose alternative text is ``alt`` (read by screen readers and
    shown where images are off), then close it in pyplot (the figure object stays usable)."""
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, metadata={"Software": None})
    plt.close(fig)
    display(Image(data=buf.getvalue(), format="png", metadata={"alt": alt}))


def describe_estimates(labels: Sequence[str], est: Sequence[float], what: str) -> str:
    """Alternative text for a chart of percentages: "<what>: A 72%, B 65% ...", suppressed
    values named as not shown."""
    parts = []
    for lab, e in zip(labels, est):
        parts.append(
            f"{lab} {100 * e:.0f}%" if np.isfinite(e) else f"{lab} not shown (too few answers)"
        )
    return f"{what}: " + ", ".join(parts) + "."


def stage_alt(table: pd.DataFrame, what: str) -> str:
    """Alternative text of a stage chart (:func:`methods.report.charts.plot_stage_estimates`)."""
    est = np.where(table["suppressed"].to_numpy(bool), np.nan, table["estimate"].to_numpy(float))
    labels = [STAGE_LABELS.get(s, s) for s in table["stage"]]
    return describe_estimates(labels, est, what)
