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
# # Weighting a month of victim-survey responses, step by step
#
# Respondents are not the victims: telephone reaches older victims more, and young and
# minority-ethnic victims answer less. This notebook weights one month of **synthetic**
# responses back to the eligible victims, one step at a time, and shows what each step did
# to the respondent profile, to the weights and to the five satisfaction estimates:
#
# 1. **design weights** $d_i = 1/\pi_i$ (inverse inclusion probability);
# 2. **non-response adjustment** within weighting classes or response-propensity classes;
# 3. **raking** to the eligible victims' profile (age group, gender, ethnic group, offence);
# 4. **trimming** of large weights, re-raked to the same margins.
#
# Because the data are simulated (`methods.synthetic.generate` victims, `methods.sampling.selection.select`,
# `methods.fieldwork.modes.simulate`), the **true census satisfaction** of the eligible victims is
# known, and every step's estimate is shown next to it. Everything is computed by the
# `methods` package; the notebook only wires the steps together. No store and no personal
# data are used: names and e-mail addresses are dropped as soon as the victims are generated,
# and phone numbers and addresses are replaced by an "on file" marker (fieldwork only needs to
# know whether a victim can be called or written to).

# %% tags=["parameters"]
# Parameters (papermill injects overrides below this cell)
force = "met"  # force preset (methods.config.presets.list_forces())
survey = "violent"  # one of the preset's surveys
month = "2025-06"  # YYYY-MM: the month weighted (earlier months are pooled if it is too small)
seed = 20250101  # seed of the synthetic victims, the sample and the fieldwork
min_respondents = 400  # pool earlier months until the sample has this many respondents
max_months = 12  # ... but never more than this many months
mode_plan = None  # fieldwork plan; None: the survey's modes (telephone only: "telephone")
nmar = 0.0  # response depends on the victim's own satisfaction (0: at random given covariates)
nonresponse = "propensity"  # "propensity" (five propensity classes) or "cells" (weighting classes)
trim_upper = 1.75  # trimming cap, a multiple of the median raked weight (tight, to show the step)

# %%
import warnings

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from methods import fieldwork, weighting
from methods.config.presets import load_force
from methods.core.errors import ConvergenceError
from methods.core.schema import STAGE_LABELS
from methods.design.survey import SurveyDesign
from methods.report.tables import months_back, satisfied
from methods.viz import plots
from methods.workflows.synthetic import sampled_months

matplotlib.rcParams["svg.hashsalt"] = "vsw"
# %config InlineBackend.figure_formats = ["png"]
pd.set_option("display.precision", 3)
pd.set_option("display.width", 120)
warnings.simplefilter("error", RuntimeWarning)

preset = load_force(force)
sdef = preset.survey(survey)
selection, scope = preset.selection_for(survey)
plan = mode_plan or {("telephone",): "telephone", ("paper",): "paper"}.get(sdef.modes, "sequential")
stages = list(sdef.stages)
print(f"{preset.title}, {sdef.title} survey; month {month}; fieldwork plan: {plan}")
print(f"Selection: {selection.describe()} ({scope} rule); seed {seed}")

# %% [markdown]
# ## The month's data: victims, sample, fieldwork
#
# For each month: generate the force's victims and draw the survey's sample with the month
# pipeline that `vsw sample` runs (`methods.workflows.month.draw_month`: every exclusion rule,
# the opt-out register and the re-survey history, the preset's selection rule, a stratified
# simple random sample by offence group), then simulate the fieldwork. A single month of one survey is usually too
# small to weight by four variables, so **earlier months are pooled** (most recent first) until
# the sample has `min_respondents` respondents: the table below says which months were used.
# The pooled design has one stratum per month and offence group, with its population size as
# the finite population correction.

# %%
# The month pipeline (`vsw sample`'s draw) over the last `max_months` months, oldest first, so
# the register and re-survey history carry over as in production; then the fieldwork.
drawn = sampled_months(preset, survey, months_back(month, max_months), seed)
frames, samples = [], []
for m in months_back(month, max_months)[::-1]:  # the month itself first, then earlier ones
    k = int(m.replace("-", ""))
    drawn_m = drawn.sample[drawn.sample["month"] == m].reset_index(drop=True)
    fw = fieldwork.simulate(
        drawn_m, fieldwork.ModePlan(plan=plan, nmar=nmar), seed=np.random.default_rng([seed, k, 1])
    )
    frames.append(drawn.frame[drawn.frame["month"] == m])
    samples.append(drawn_m.join(fw.drop(columns=["crime_ref", "victim_id"])))
    if sum(s["disposition"].str.startswith("1.").sum() for s in samples) >= min_respondents:
        break
frame = pd.concat(frames, ignore_index=True)
sample = pd.concat(samples, ignore_index=True)
sample["responded"] = sample["disposition"].str.startswith("1.")
by_month = pd.DataFrame(
    {
        "eligible victims": frame.groupby("month").size(),
        "sampled": sample.groupby("month").size(),
        "respondents": sample.groupby("month")["responded"].sum(),
    }
)
by_month.loc["pooled"] = by_month.sum()
if len(frames) > 1:
    print(f"{month} alone gives {by_month.loc[month, 'respondents']} respondents "
          f"(< {min_respondents}): {len(frames)} months pooled, {frame['month'].min()} to {month}.")
if by_month.loc["pooled", "respondents"] < min_respondents:
    print(f"Still only {by_month.loc['pooled', 'respondents']} respondents after {max_months} "
          f"months (< {min_respondents}): every estimate below rests on a small base.")
by_month

# %% [markdown]
# ## Weighting variables and the truth
#
# The weighting variables are coded the same way in the frame (the eligible victims, our
# population) and in the sample. Ethnicity is collapsed to White / minority ethnic / unknown and
# gender to female / male / other or unknown: the finer groups have too few respondents to rake
# on (and the White vs minority-ethnic gap is the published indicator). Satisfied = answers 1-3
# over answers 1-7.
#
# **True census satisfaction** is the mean of the latent probability of being satisfied,
# `true_p_<stage>`, over all eligible victims of the pooled months: what a perfect census with
# the reference (self-completion) measurement would give on average. The simulated fieldwork
# here has no telephone measurement effect, so a good weighting should land on it.

# %%
for df in (frame, sample):
    df["age_group"] = fieldwork.age_group(df["age"])
    df["gender"] = df["gender"].where(df["gender"].isin(["female", "male"]), "other/unknown")
    df["ethnic_group"] = df["ethnicity"].where(
        df["ethnicity"].isin(["white", "unknown"]), "minority"
    )
    df["design_stratum"] = df["month"] + "|" + df["offence_group"]
profile = ["age_group", "gender", "ethnic_group", "offence_group"]
sample["N_h"] = sample["design_stratum"].map(frame["design_stratum"].value_counts()).astype(float)
for s in stages:
    sample[f"sat_{s}"] = satisfied(sample[s])
truth = pd.Series({s: frame[f"true_p_{s}"].mean() for s in stages})
respondents = sample[sample["responded"]]
pd.DataFrame(
    {
        "TRUE census % satisfied": 100 * truth.to_numpy(),
        "respondents' true %": [100 * respondents[f"true_p_{s}"].mean() for s in stages],
        "valid answers": [int(sample[f"sat_{s}"].notna().sum()) for s in stages],
    },
    index=[STAGE_LABELS[s] for s in stages],
).round(1)

# %% [markdown]
# "Respondents' true %" is the same latent mean over the respondents only: its distance from
# the census is the non-response bias that weighting has to remove (or cannot, when response
# depends on satisfaction itself: try `nmar = 2`).
#
# ## Step 1: design weights
#
# Respondents carry their design weight $d_i = 1/\pi_i$ and nothing else. The Kish effective
# sample size $n_{eff} = (\sum w)^2 / \sum w^2$ and design effect due to weighting
# $deff_w = 1 + CV_w^2$ (Kish 1965) come from `methods.weighting.diagnostics`; proportions and
# their logit 95% intervals from `SurveyDesign.proportion`.

# %%
diag_cols = ["n", "sum", "n_eff", "deff_w", "cv", "min", "p05", "p50", "p95", "max", "max/min"]
designs = {
    "1 design weights": SurveyDesign(
        respondents.reset_index(drop=True), weights="design_weight",
        strata="design_stratum", fpc="N_h",
    )
}
d = designs["1 design weights"]
estimates = {"1 design weights": pd.concat([d.proportion(f"sat_{s}") for s in stages])}
weighting.diagnostics(d).summary[diag_cols].round(3)

# %%
pd.concat({k: 100 * e["estimate"] for k, e in estimates.items()}, axis=1).set_axis(
    [STAGE_LABELS[s] for s in stages]
).assign(**{"TRUE census": 100 * truth.to_numpy()}).round(1)

# %%
plots.profile_grid(d, frame, profile, title="Step 1: design-weighted respondents")
plt.show()
weighting.plot_weight_distribution(d)
plt.show()

# %% [markdown]
# ## Step 2: non-response adjustment
#
# The whole sample (respondents and non-respondents) is split into adjustment classes, and each
# respondent's weight is multiplied by the inverse of the class's weighted response rate, so the
# respondents stand in for the non-respondents of their class (Kalton and Flores-Cervantes
# 2003). With `nonresponse = "propensity"` the classes are five equal-size groups of the
# estimated response propensity from a main-effects logistic regression on age group, gender,
# ethnic group and district (Little 1986); with `"cells"` they are age group x ethnic group
# cells, merged where fewer than 20 respond (the merges are printed, never hidden).

# %%
whole = SurveyDesign(sample, weights="design_weight", strata="design_stratum", fpc="N_h")
if nonresponse == "propensity":
    d = whole.adjust_nonresponse(
        "responded", covariates=["age_group", "gender", "ethnic_group", "district"], classes=5
    )
else:
    # Sparse cells are merged into neighbours; the warning is expected, so it is caught and
    # its text printed here instead of going to stderr.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", weighting.CellsCollapsedWarning)
        d = whole.adjust_nonresponse(
            "responded", cells=["age_group", "ethnic_group"], collapse=True, min_respondents=20
        )
    for w in caught:
        print(w.message)
designs["2 non-response"] = d
estimates["2 non-response"] = pd.concat([d.proportion(f"sat_{s}") for s in stages])
weighting.history(d)[-1].info["cells"].round(3)

# %%
pd.DataFrame({k: weighting.diagnostics(x).summary.loc["final", diag_cols] for k, x in designs.items()}).T.round(3)

# %%
pd.concat({k: 100 * e["estimate"] for k, e in estimates.items()}, axis=1).set_axis(
    [STAGE_LABELS[s] for s in stages]
).assign(**{"TRUE census": 100 * truth.to_numpy()}).round(1)

# %%
plots.profile_grid(d, frame, profile, title="Step 2: after the non-response adjustment")
plt.show()
weighting.plot_weight_distribution(d)
plt.show()

# %% [markdown]
# ## Step 3: raking to the eligible victims' profile
#
# Iterative proportional fitting (Deming and Stephan 1940) to the frame's counts by age group,
# gender, ethnic group and offence group, starting from the non-response adjusted weights. The
# margin table gives each target, the weighted total before and right after raking, and the
# relative gaps in percent.

# %%
margins = {c: frame[c].value_counts().to_dict() for c in profile}
d = designs["2 non-response"].rake(margins)
designs["3 raked"] = d
estimates["3 raked"] = pd.concat([d.proportion(f"sat_{s}") for s in stages])
gaps = weighting.diagnostics(d).margins
gaps = gaps[gaps["step"].str.endswith("rake")].assign(
    gap_before_pct=lambda t: (100 * t["gap_before"]).round(2) + 0.0,
    gap_after_pct=lambda t: (100 * t["gap_after_step"]).round(2) + 0.0,
)
gaps[["variable", "level", "target", "before", "after_step", "gap_before_pct", "gap_after_pct"]].round(1)

# %%
pd.DataFrame({k: weighting.diagnostics(x).summary.loc["final", diag_cols] for k, x in designs.items()}).T.round(3)

# %%
pd.concat({k: 100 * e["estimate"] for k, e in estimates.items()}, axis=1).set_axis(
    [STAGE_LABELS[s] for s in stages]
).assign(**{"TRUE census": 100 * truth.to_numpy()}).round(1)

# %%
plots.profile_grid(d, frame, profile, title="Step 3: raked to the eligible victims")
plt.show()
weighting.plot_weight_distribution(d)
plt.show()

# %% [markdown]
# ## Step 4: trimming
#
# Weights above `trim_upper` times the median raked weight are capped, the excess is shared
# among the other respondents, and the weights are raked again to the same margins, alternating
# until both hold (`SurveyDesign.trim`, after Potter 1990 and R's `trimWeights`). If the cap
# and the margins cannot both be met the error is printed and the raked weights are kept.

# %%
cap = trim_upper * float(np.median(designs["3 raked"].weights))
try:
    d = designs["3 raked"].trim(upper=cap)
    info = weighting.history(d)[-2].info
    print(f"Cap {cap:.2f}: {int((designs['3 raked'].weights > cap).sum())} weight(s) above it "
          f"before trimming; {info['iterations']} round(s) of trimming and re-raking.")
except ConvergenceError as err:
    print(f"Cap {cap:.2f} cannot be met with these margins; the raked weights are kept.\n{err}")
    d = designs["3 raked"]
designs["4 trimmed"] = d
estimates["4 trimmed"] = pd.concat([d.proportion(f"sat_{s}") for s in stages])
pd.DataFrame({k: weighting.diagnostics(x).summary.loc["final", diag_cols] for k, x in designs.items()}).T.round(3)

# %%
pd.concat({k: 100 * e["estimate"] for k, e in estimates.items()}, axis=1).set_axis(
    [STAGE_LABELS[s] for s in stages]
).assign(**{"TRUE census": 100 * truth.to_numpy()}).round(1)

# %%
plots.profile_grid(d, frame, profile, title="Step 4: trimmed and re-raked")
plt.show()
weighting.plot_weight_distribution(d)
plt.show()

# %% [markdown]
# ## What each step did
#
# Adjustment factors of each step (new weight / old weight) and overall (final / design
# weight), then every step's estimate with its 95% interval next to the true census value:
# the error is the estimate minus the truth, in percentage points, and "covers" says whether
# the interval contains the truth.

# %%
weighting.diagnostics(designs["4 trimmed"]).factors.round(3)

# %%
side = pd.concat(
    [
        e.set_axis(stages).assign(step=k, stage=[STAGE_LABELS[s] for s in stages])
        for k, e in estimates.items()
    ]
)
side["truth"] = truth.reindex(side.index).to_numpy()
side["error_points"] = (100 * (side["estimate"] - side["truth"])).round(1) + 0.0
side["covers"] = (side["ci_low"] <= side["truth"]) & (side["truth"] <= side["ci_high"])
view = side.assign(**{c: (100 * side[c]).round(1) for c in ["estimate", "ci_low", "ci_high", "truth"]})
view.pivot(index="stage", columns="step", values="estimate").loc[[STAGE_LABELS[s] for s in stages]].assign(
    **{"TRUE census": (100 * truth).round(1).to_numpy()}
)

# %%
view[["stage", "step", "estimate", "ci_low", "ci_high", "truth", "error_points", "covers", "n"]].reset_index(drop=True)

# %%
plots.plot_forest(
    side, row="stage", series="step",
    truth={STAGE_LABELS[s]: truth[s] for s in stages}, truth_label="TRUE census",
    xlabel="% satisfied (95% CI)",
    title=f"{sdef.title}: estimates after each weighting step",
)
plt.show()

# %% [markdown]
# The answers add sampling noise to every estimate, which can hide what weighting does to the
# bias. The latent probability `true_p_<stage>` is known for every respondent, so its weighted
# mean under each step's weights isolates the **bias** that is left: the table gives that mean
# minus the census truth, in percentage points. The first column is the whole sample (every
# sampled victim, design-weighted): its gap is the sampling error of this particular sample,
# which no non-response adjustment can remove (raking to the population can, in part).

# %%
latent = pd.DataFrame(
    {k: [100 * x.mean(f"true_p_{s}")["estimate"].iloc[0] for s in stages] for k, x in designs.items()},
    index=[STAGE_LABELS[s] for s in stages],
)
full_sample = [100 * whole.mean(f"true_p_{s}")["estimate"].iloc[0] for s in stages]
latent_bias = latent.sub(100 * truth.to_numpy(), axis=0)
latent_bias.insert(0, "whole sample, no non-response", np.subtract(full_sample, 100 * truth.to_numpy()))
latent_bias.round(2) + 0.0

# %%
summary = side.groupby("step", sort=False).agg(
    mean_abs_error_points=("error_points", lambda e: e.abs().mean()),
    intervals_covering=("covers", "sum"),
)
summary["n_eff"] = [weighting.diagnostics(x).summary.loc["final", "n_eff"] for x in designs.values()]
summary.round(2)

# %% [markdown]
# Reading the results with the default parameters: response depends on age, gender,
# ethnicity and offence only (`nmar = 0`), so the bias it causes is small next to the sampling
# error, and the latent-mean table is where the two can be told apart. The non-response
# adjustment and raking pull the respondent profile onto the victims' and close most of the
# remaining gap, at the cost of a few percent of effective sample size; trimming changes little
# because the raked weights are already even. With response depending on satisfaction itself
# (`nmar` > 0) no weighting on these covariates removes the bias: run the notebook with
# `nmar = 2` to see it.
