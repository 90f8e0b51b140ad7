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

# %% [markdown]
# # Monthly victim satisfaction report
#
# Satisfaction at the five stages of the Home Office User Satisfaction Survey for the force's surveys: weighted estimates with 95% confidence intervals and unweighted bases, rolling trends, significant changes, the gap between White and minority-ethnic victims, districts, response rates and weighting diagnostics. Everything is computed by the `methods` package; this notebook only orchestrates.
#
# **Disclosure control** (METHODS_REFERENCE.md): percentages on fewer than `min_base` valid answers and counts below `min_count` are suppressed, and so is any figure from which a suppressed one could be worked out. Tables show `[c]` in their place; charts show a hatched grey placeholder or an open circle. The published CSV tables leave them blank, with a `suppressed` flag column.

# %% tags=["parameters"]
# Parameters (papermill injects overrides below this cell)
force = "durham"
month = "2025-12"
surveys = None  # None: every survey of the force preset
db = None  # DuckDB store; None builds the synthetic demo store (as nbval does)
seed = 20250101
out_dir = None  # where tables/ and figures/ are written; None writes nothing
min_base = 30  # suppression threshold for percentages (METHODS_REFERENCE.md)
min_count = 10  # suppression threshold for counts (zeros are shown)
min_cell = 5  # smallest raking category (respondents); sparser ones are merged
windows = [3, 12]  # rolling windows in months


# %%
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
from IPython.display import Markdown

from methods.config.presets import load_force
from methods.data.store import Store
from methods.report import monthly
from methods.report import tables as reporting
from methods.weighting import diagnostics
from methods.workflows.demo import ensure_store

matplotlib.rcParams["svg.hashsalt"] = "vsw"
# %config InlineBackend.figure_formats = ["png"]
pd.set_option("display.precision", 1)
preset = load_force(force)
surveys = list(surveys or preset.survey_names)
db = ensure_store(db, force=force, seed=seed)
out = Path(out_dir) if out_dir else None
tables, figs = {}, {}
print(f"Force: {preset.title}; month: {month}; surveys: {', '.join(surveys)}")
Markdown(reporting.suppressed_note(min_base, min_count))

# %%
span = reporting.months_back(month, 24)
# Read-only: reports for several months may run in parallel on one DuckDB file.
with Store(db, read_only=True) as st:
    loaded = [m for m in st.loaded_months() if m in span]
    sampled = st.responses(months=loaded)
    victims = st.victims(months=loaded)
    eligible, flow = monthly.eligible_frame(victims, preset, surveys, store=st)
sampled = reporting.prepare_responses(sampled[sampled["survey"].isin(surveys)])
this_month = sampled[sampled["month"] == month]
print(f"{len(loaded)} of the 24 months to {month} are loaded")

# %% [markdown]
# ## Exclusions this month
#
# Victims of the month, what each survey's rules excluded in order, and the eligible victims the samples were drawn from. `[c]`: a count below `min_count`, or one more count of the same survey suppressed so that it cannot be worked out from the others.

# %%
exclusions = monthly.flow_table(flow, month, min_count=min_count)
tables["exclusion_flow"] = exclusions
reporting.flow_view(exclusions)

# %% [markdown]
# ## Response rates this month
#
# AAPOR RR1 (unknowns counted as eligible) and RR3 (unknowns counted at the estimated eligible share e), by survey and mode. `[c]`: issued cases or completes below `min_count` (and a second count in the column, since the totals are published); rates are suppressed with either count and on fewer than `min_base` issued cases.

# %%
counts = reporting.response_counts(this_month)
tables["response_rates"] = reporting.suppress_response_counts(counts, min_count, min_base)
reporting.counts_view(tables["response_rates"])

# %% [markdown]
# ## Satisfaction by stage this month
#
# All surveyed victims of the month together, weighted: design weights, non-response adjustment within offence groups, raking to the month's eligible victims by age, gender, ethnicity and offence group. Logit 95% CIs; unweighted bases.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)  # merges are listed below
    wm = reporting.weighted_period(this_month, eligible[eligible["month"] == month], min_cell=min_cell)
stage_month = monthly.satisfaction_by_stage(wm.design, min_base=min_base)
stage_month = reporting.suppress_bases(stage_month, min_count)
stage_month.insert(0, "survey", "all")
stage_month.insert(0, "period", month)
tables["satisfaction_by_stage_month"] = stage_month
reporting.percent_view(stage_month)

# %%
figs["satisfaction_month"] = reporting.plot_stage_estimates(stage_month, title=f"All surveys: % satisfied, {month} (weighted)", min_base=min_base)
plt.show()

# %% [markdown]
# ### Weighting diagnostics
#
# Kish effective sample size and design effect of the weights, before and after weighting; categories merged for raking.

# %%
diag = diagnostics(wm.design).summary
tables["weighting_diagnostics"] = diag.reset_index(names="weights")
print("Steps:", "; ".join(wm.steps))
print("Merged for raking:", "; ".join(f"{v}: {a} -> {b}" for v, a, b in wm.merges) or "none")
diag[[c for c in ("n", "sum", "n_eff", "deff_w", "cv", "min", "max") if c in diag]]

# %% [markdown]
# ## Twelve months to this month, by survey
#
# Monthly bases are small for most surveys, so each survey is reported over the twelve months to the report month (or the months loaded, if fewer), weighted the same way.

# %%
last12 = reporting.months_back(month, 12)
period = f"{min(m for m in loaded if m in last12)} to {month}"
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
        t.insert(0, "period", period)
        rows.append(t)
# Each stage's bases add up across surveys to a published total: secondary suppression.
by_survey = reporting.suppress_bases(pd.concat(rows, ignore_index=True), min_count, by="stage")
tables["satisfaction_by_survey_12m"] = by_survey
reporting.percent_view(by_survey)

# %%
for survey, t in by_survey.groupby("survey", sort=False):
    figs[f"satisfaction_{survey}_12m"] = reporting.plot_stage_estimates(t, title=f"{survey.replace('_', ' ').title()}: % satisfied, {period}", min_base=min_base)
    plt.show()

# %% [markdown]
# ## Trend: whole experience
#
# Rolling 3- and 12-month estimates, each window weighted like the month's figures (design weights, non-response classes, raking to the window's eligible victims), with 95% CI bands; months with small bases are suppressed (gaps, marked with open circles).

# %%
trend_months = [m for m in loaded if m <= month][-12:]
trends = {w: reporting.suppress_bases(reporting.trend_table(sampled, trend_months, w, min_base=min_base, eligible=eligible, min_cell=min_cell), min_count) for w in windows}
tables["trend_whole_experience"] = pd.concat(trends.values(), ignore_index=True)
figs["trend_whole_experience"] = reporting.plot_trend(trends, title="Whole experience: % satisfied", min_base=min_base)
plt.show()


# %% [markdown]
# ## Change against the previous period and the same period last year
#
# Three-month periods, surveyed independently and weighted like the month's figures; flagged only where the design-based test is significant at 5%.

# %%
def period_table(end):
    span3 = reporting.months_back(end, 3)
    return reporting.period_estimates(sampled, eligible, span3, min_base=min_base, min_cell=min_cell)

now = period_table(month)
prev_end = reporting.months_back(month, 4)[0]
year_end = reporting.months_back(month, 13)[0]
changes = []
for end, label in [(prev_end, "vs previous 3 months"), (year_end, "vs same 3 months last year")]:
    then = period_table(end) if end in loaded else None
    if then is None:
        print(f"{label}: not available ({end} not loaded)")
        continue
    changes.append(reporting.change_table(now, then, label))
changes = pd.concat(changes, ignore_index=True) if changes else reporting.change_table(now, now.iloc[:0], "none")
tables["changes"] = changes
reporting.changes_view(changes)

# %% [markdown]
# ## White and minority-ethnic victims
#
# Gap in whole-experience satisfaction (White minus minority ethnic) over the twelve months, all surveys, weighted; the SE accounts for both groups coming from one sample.

# %%
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    w12 = reporting.weighted_period(sampled[sampled["month"].isin(last12)],
                                    eligible[eligible["month"].isin(last12)], min_cell=min_cell)
gap = reporting.ethnic_gap(w12.design, min_base=min_base)
gap = reporting.suppress_bases(gap, min_count, columns=("n_white", "n_minority"))
tables["ethnic_gap"] = gap
reporting.gap_view(gap)

# %% [markdown]
# ## Districts
#
# Whole-experience satisfaction by district over the twelve months (suppressed where the base is small, and secondarily where a suppressed figure could be derived).

# %%
districts = reporting.domain_table(w12.design, "district", min_base=min_base, min_count=min_count)
tables["districts"] = districts
reporting.domain_view(districts, "district")

# %%
figs["districts"] = reporting.plot_domains(districts, "district", title=f"Whole experience by district: % satisfied, {period}", min_base=min_base)
plt.show()

# %% [markdown]
# ## Summary

# %%
text = reporting.month_summary(preset.title, month, stage_month, changes, gap, counts, min_count=min_count)
Markdown(text)

# %%
if out is not None:
    for name, table in tables.items():
        reporting.write_table(table, out / "tables" / f"{name}.csv")
    for name, fig in figs.items():
        reporting.save_figure(fig, out / "figures" / f"{name}.png")
print(f"{len(tables)} tables and {len(figs)} figures")
