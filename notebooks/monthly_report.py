# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#       jupytext_version: 1.19.7
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% tags=["parameters"]
# Parameters (papermill injects overrides below this cell)
force = "durham"
month = "2025-12"
surveys = None  # None: every survey of the force preset
db = None  # DuckDB store; None builds the synthetic demo store (as nbval does)
seed = 20250101
out_dir = None  # where tables/ and figures/ are written; None writes nothing
min_base = 30  # suppression threshold for percentages (docs/methods.md, disclosure control)
min_count = 10  # suppression threshold for counts (zeros are shown)
min_cell = 5  # smallest raking category (respondents); sparser ones are merged
windows = [3, 12]  # rolling windows in months


# %%
# The computation lives in the methods package; this notebook reads the store, asks for the
# tables in the order a reader needs them and shows them. Code cells are hidden in the report.
import warnings
from pathlib import Path

import matplotlib
import pandas as pd
from IPython.display import Markdown

from methods.config.presets import load_force
from methods.data.store import Store
from methods.report import comment_report, headline, monthly, publish
from methods.report import districts as district_models
from methods.report import groups as grouping
from methods.report import tables as reporting
from methods.report.labels import label, month_label
from methods.weighting import diagnostics
from methods.workflows.demo import ensure_store

matplotlib.rcParams["svg.hashsalt"] = "vsw"
# %config InlineBackend.figure_formats = ["png"]
preset = load_force(force)
surveys = list(preset.survey_names if surveys is None else surveys)
titles = {s: preset.survey(s).title for s in surveys}
db = ensure_store(db, force=force, seed=seed)
out = Path(out_dir) if out_dir else None
tables, figs = {}, {}
when = month_label(month)

span = reporting.months_back(month, 24)
# Read-only: reports for several months may run in parallel on one DuckDB file.
with Store(db, read_only=True) as st:
    whose = st.require_force(preset, month)  # the store may hold several forces' data
    loaded = [m for m in st.loaded_months(force=whose) if m in span]
    sampled = st.responses(months=loaded, force=whose)
    victims = st.victims(months=loaded, force=whose)
    eligible, flow = monthly.eligible_frame(victims, preset, surveys, store=st)
sampled = reporting.prepare_responses(sampled[sampled["survey"].isin(surveys)])
this_month = sampled[sampled["month"] == month]
last12 = reporting.months_back(month, 12)
first12 = min(m for m in loaded if m in last12)
period = f"{month_label(first12)} to {when}"

# This month, all surveys together, weighted (design weights, non-response classes, raking).
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # merges are listed under Methods and quality
    wm = reporting.weighted_period(this_month, eligible[eligible["month"] == month], min_cell=min_cell)
    w12 = reporting.weighted_period(sampled[sampled["month"].isin(last12)],
                                    eligible[eligible["month"].isin(last12)], min_cell=min_cell)
stage_month = monthly.satisfaction_by_stage(wm.design, min_base=min_base)
stage_month = reporting.suppress_bases(stage_month, min_count)
stage_month.insert(0, "survey", "all")
stage_month.insert(0, "period", month)
tables["satisfaction_by_stage_month"] = stage_month


def month_table(m):
    """The stage table of one earlier month, weighted the same way (None if not loaded)."""
    return reporting.period_estimates(sampled, eligible, [m], min_base=min_base, min_cell=min_cell) if m in loaded else None


prev_month = reporting.months_back(month, 2)[0]
year_month = reporting.months_back(month, 13)[0]
counts = reporting.response_counts(this_month)
tables["response_rates"] = reporting.suppress_response_counts(counts, min_count, min_base)
mode_rates = reporting.suppress_response_counts(reporting.response_counts(this_month.assign(survey="all")), min_count, min_base)
groups = grouping.group_table(w12.design, min_base=min_base, min_count=min_count)
gaps = grouping.group_gaps(w12.design, groups)
tables["groups"] = groups
tables["group_gaps"] = gaps

# %% [markdown]
# # Victims' satisfaction with the police

# %%
Markdown(f"**{preset.title}, {when}.** How satisfied victims of crime were with the service they received, from the force's monthly victim surveys.")

# %% [markdown]
# ## Summary

# %%
points = headline.executive_summary(month, stage_month, month_table(prev_month), month_table(year_month), gaps, mode_rates, period=f"the twelve months to {when}")
Markdown(headline.summary_markdown(points))

# %% [markdown]
# ## Satisfaction at each stage
#
# Victims are asked how satisfied they were with five stages of their contact with the police. The figures are weighted so that they represent all eligible victims of the month, not only those who answered; the range after each figure is its 95% confidence interval.

# %%
publish.show_table(publish.stages_table(stage_month, "stages_month", f"Victims satisfied at each stage, {when}", "All surveys together, weighted", min_base, min_count))

# %%
figs["satisfaction_month"] = reporting.plot_stage_estimates(stage_month, title=f"Victims satisfied at each stage, {when}", min_base=min_base)
publish.show_figure(figs["satisfaction_month"], publish.stage_alt(stage_month, f"Bar chart of the percentage of victims satisfied at each stage in {when}"))

# %% [markdown]
# ### By survey, over twelve months
#
# Each survey has too few answers in a single month for reliable figures, so each is reported over the twelve months to this month, weighted the same way.

# %%
rows = []
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    for survey in surveys:
        sub = sampled[(sampled["survey"] == survey) & sampled["month"].isin(last12)]
        pop = eligible[(eligible["survey"] == survey) & eligible["month"].isin(last12)]
        if sub.empty:
            continue
        w = reporting.weighted_period(sub, pop, min_cell=min_cell)
        t = monthly.satisfaction_by_stage(w.design, min_base=min_base)
        t.insert(0, "survey", survey)
        t.insert(0, "period", f"{first12} to {month}")
        rows.append(t)
# Each stage's bases add up across surveys to a published total: secondary suppression.
by_survey = reporting.suppress_bases(pd.concat(rows, ignore_index=True), min_count, by="stage")
tables["satisfaction_by_survey_12m"] = by_survey
publish.show_table(publish.surveys_table(by_survey, titles, "stages_by_survey", "Victims satisfied at each stage, by survey", period, min_base, min_count))

# %%
for survey, t in by_survey.groupby("survey", sort=False):
    name = titles[survey]
    figs[f"satisfaction_{survey}_12m"] = reporting.plot_stage_estimates(t, title=f"{name}: victims satisfied at each stage, {period}", min_base=min_base)
    publish.show_figure(figs[f"satisfaction_{survey}_12m"], publish.stage_alt(t, f"Bar chart for {name.lower()} victims, {period}"))

# %% [markdown]
# ## Trends
#
# Satisfaction with the whole experience over rolling three- and twelve-month periods, with 95% confidence bands. Months with too few answers are left as gaps, marked with open circles.

# %%
trend_months = [m for m in loaded if m <= month][-12:]
trends = {w: reporting.suppress_bases(reporting.trend_table(sampled, trend_months, w, min_base=min_base, eligible=eligible, min_cell=min_cell), min_count) for w in windows}
tables["trend_whole_experience"] = pd.concat(trends.values(), ignore_index=True)
figs["trend_whole_experience"] = reporting.plot_trend(trends, title="Victims satisfied with the whole experience", min_base=min_base)
last = {w: t.iloc[-1] for w, t in trends.items() if len(t)}
trend_alt = "Line chart of whole-experience satisfaction by month, " + "; ".join(f"{w}-month rolling figure {'not shown' if r['suppressed'] else f'{100 * r.estimate:.0f}%'} in {when}" for w, r in last.items()) + "."
publish.show_figure(figs["trend_whole_experience"], trend_alt)


# %% [markdown]
# ### Change against earlier periods
#
# The latest three months against the three months before and the same three months a year earlier. Each period is surveyed independently; a change is called significant only where a design-based test finds it so at the 5% level.

# %%
def period_table(end):
    return reporting.period_estimates(sampled, eligible, reporting.months_back(end, 3), min_base=min_base, min_cell=min_cell)


now = period_table(month)
prev_end = reporting.months_back(month, 4)[0]
year_end = reporting.months_back(month, 13)[0]
changes, missing = [], []
for end, what in [(prev_end, "The previous three months"), (year_end, "The same three months a year earlier")]:
    if end in loaded:
        changes.append(reporting.change_table(now, period_table(end), what))
    else:
        missing.append(what.lower())
changes = pd.concat(changes, ignore_index=True) if changes else reporting.change_table(now, now.iloc[:0], "none")
tables["changes"] = changes
if len(changes):
    publish.show_table(publish.changes_table(changes, "changes", "Change in satisfaction", f"Three months to {when}"))
Markdown(f"No comparison with {' or '.join(missing)}: those months are not in the data yet." if missing else "")

# %% [markdown]
# ## Groups of victims
#
# Satisfaction with the whole experience over the twelve months, for groups of victims by age, gender, ethnic group and offence. Both groups of each comparison come from one sample, and the intervals allow for that.

# %%
gap = reporting.ethnic_gap(w12.design, min_base=min_base)
gap = reporting.suppress_bases(gap, min_count, columns=("n_white", "n_minority"))
tables["ethnic_gap"] = gap
publish.show_table(publish.gap_table(gap, "ethnic_gap", "White and minority-ethnic victims", period, min_base, min_count))

# %%
publish.show_table(publish.groups_table(groups, "groups", "Victims satisfied with the whole experience, by group", period, min_base, min_count))

# %% [markdown]
# ## Districts
#
# Satisfaction with the whole experience by district over the twelve months. Small districts have too few respondents for a reliable survey figure of their own, so the table shows beside it a model estimate that borrows strength from similar districts, and says which of the two is published.

# %%
districts = reporting.domain_table(w12.design, "district", min_base=min_base, min_count=min_count)
tables["districts"] = districts
district_sae = district_models.district_estimates(w12.design, eligible[eligible["month"].isin(last12)], districts, min_base=min_base)
tables["district_estimates"] = district_sae
publish.show_table(publish.districts_table(district_sae, "districts", "Victims satisfied with the whole experience, by district", period, min_base, min_count, district_models.PUBLISH_BASE))

# %%
figs["districts"] = reporting.plot_domains(districts, "district", title=f"Victims satisfied with the whole experience by district (survey estimates), {period}", min_base=min_base)
est = districts["estimate"].where(~districts["suppressed"].astype(bool)).to_numpy(dtype=float)
publish.show_figure(figs["districts"], publish.describe_estimates(districts["district"].astype(str), est, f"Chart of whole-experience satisfaction by district, survey estimates, {period}"))

# %% [markdown]
# ## What victims said
#
# Victims can add a comment in their own words. Personal details are removed from every comment before it is read, the comments of satisfied and of dissatisfied victims are grouped separately into themes by the words they use, and each theme is shown with its share of that group's comments. Quotes are short, chosen at random within a theme, and never shown with the victim's group or district.

# %%
with Store(db, read_only=True) as st:
    said = st.responses(months=[m for m in loaded if m in last12], comments=True, force=whose)
said = reporting.add_satisfied(reporting.completes(reporting.prepare_responses(said[said["survey"].isin(surveys)])))
voices = comment_report.comment_summary(said, min_base=min_base, min_count=min_count, seed=seed)
del said  # only the redacted texts are kept
tables["comment_themes"] = voices.themes
if len(voices.themes):
    publish.show_table(publish.comments_table(voices.themes, comment_report.theme_label, "comment_themes", "What victims' comments were about", f"{voices.n_comments:,} comments, {period}"))
else:
    print(f"Too few victims left a comment in {period} for themes to be shown.")

# %%
if len(voices.themes):
    figs["comment_themes"] = reporting.plot_comment_themes(voices.themes, title=f"Themes of victims' comments, {period}", labels=comment_report.theme_label)
    who = {"satisfied": "satisfied victims", "dissatisfied": "dissatisfied victims", "all": "all victims"}
    alt = "Bar chart of each theme's share of its group's comments: " + "; ".join(f"{comment_report.theme_label(r.theme)}, {100 * x:.0f}% of {who[r.victims]}' comments" for r, x in zip(voices.themes.itertuples(), publish.group_share(voices.themes), strict=True)) + "."
    publish.show_figure(figs["comment_themes"], alt)

# %%
lines = []
if voices.sentiment_satisfied == voices.sentiment_satisfied and voices.sentiment_dissatisfied == voices.sentiment_dissatisfied:
    lines.append(f"Comments from satisfied victims scored {voices.sentiment_satisfied:+.2f} on average on a tone scale from −1 (negative) to +1 (positive); those from dissatisfied victims scored {voices.sentiment_dissatisfied:+.2f}.".replace("-", "−"))
for (victims, theme), quotes in voices.quotes.items():
    lines.append(f"**{comment_report.theme_label(theme).capitalize()}** ({victims} victims)")
    lines.extend(f"> “{q}”" for q in quotes)
Markdown("\n\n".join(lines))

# %% [markdown]
# ## Methods and quality
#
# ### Who could be surveyed
#
# Victims of crime recorded in the month, those each survey's rules excluded (in the order the rules are applied), and the eligible victims the samples were drawn from.

# %%
exclusions = monthly.flow_table(flow, month, min_count=min_count)
tables["exclusion_flow"] = exclusions
publish.show_table(publish.flow_table(exclusions, titles, "exclusions", "Victims excluded and eligible, by survey", when, min_count))

# %% [markdown]
# ### Response

# %%
publish.show_table(publish.response_table(tables["response_rates"], titles, "response_rates", "Response by survey and interview mode", when, min_base, min_count))

# %% [markdown]
# ### Weighting
#
# Each answer is weighted by the inverse of the victim's chance of being sampled, adjusted for non-response within offence groups, and raked so that the weighted respondents match the month's eligible victims by age, gender, ethnic group and offence group. Intervals for proportions use the logit method.

# %%
diag = diagnostics(wm.design).summary
tables["weighting_diagnostics"] = diag.reset_index(names="weights")
publish.show_table(publish.diagnostics_table(diag, "weighting", "Effect of weighting", when))

# %%
merged = [f"{label('variable', v).lower()}: {label(v, a).lower()} counted with {label(v, b).lower()}" for v, a, b in wm.merges]
Markdown("Groups too small to weight on their own this month were combined (" + "; ".join(merged) + ")." if merged else "No group was too small to weight on its own this month.")

# %% [markdown]
# ### Confidentiality
#
# A percentage is not shown where too few victims answered, a count is not shown where it is small, and neither is a figure from which a hidden one could be worked out. Tables mark them [c]; charts show a hatched grey bar or an open circle. The published tables that come with this report leave them blank.

# %%
if out is not None:
    for name, table in tables.items():
        reporting.write_table(table, out / "tables" / f"{name}.csv")
    for name, fig in figs.items():
        reporting.save_figure(fig, out / "figures" / f"{name}.png")
