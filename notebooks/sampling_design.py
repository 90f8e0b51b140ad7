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
# # Sampling design simulation
#
# Which design should a force use to survey its victims: a simple random sample or one stratified by offence group, a proportional or a disproportionate allocation, telephone only or telephone then paper, and which weighting? This notebook runs every design of a simulation config many times on a synthetic population whose true satisfaction is known (`methods.simulation.run`), then compares them on bias, precision, interval coverage and cost, and states the recommendation the figures support. Every replicate runs the workbench's own chain: eligibility, selection (`methods.sampling.selection`), fieldwork (`methods.fieldwork.modes`), weighting (`methods.weighting`) and estimation (`methods.design.survey`).

# %% tags=["parameters"]
# Parameters (papermill injects overrides below this cell)
config = "allocation_and_mode"  # a shipped example or a TOML path
reps = 60  # replicates; 1,000 or more for decisions (vsw simulate scales out on Dask)
seed = 20250101
workers = 0  # 0: this process; N: a Dask LocalCluster of N workers


# %%
import warnings

import pandas as pd
from IPython.display import Markdown, display

from methods import simulation as sim

# %config InlineBackend.figure_formats = ["png"]
pd.set_option("display.width", 120)
pd.set_option("display.max_colwidth", 120)
with warnings.catch_warnings():
    # what happened in some replicates is listed in the notes at the end
    warnings.simplefilter("ignore", sim.SimulationWarning)
    res = sim.simulate(config, reps, seed, workers=workers, progress=False)
cfg, labels, results = res.config, res.labels, res.results
head = "whole_experience"
print(f"{cfg.title}")
print(f"{len(res.designs)} designs x {reps} replicates (seed {seed}); population "
      f"{res.run['population_rows']:,} victims")

# %%
Markdown(cfg.description)

# %% [markdown]
# ## The designs
#
# Eligible victims, how the sample is drawn, the fieldwork plan and the weighting of each design.

# %%
sim.describe_designs(cfg, res.run["eligible"])

# %% [markdown]
# ## Whole experience: bias, precision, coverage and cost
#
# Per design, averaged over the replicates: completes, cost, the true satisfaction (mean latent probability over the eligible victims), bias, the empirical SE (SD of the estimates) against the mean estimated SE, RMSE, and how often the 95% logit interval covered the truth. Points are percentage points.

# %%
sim.headline_table(results, head, labels)

# %% [markdown]
# ## Accuracy against cost
#
# Designs on the frontier (red) are not beaten on both RMSE and cost by any other; the rest are dominated.

# %%
fig = sim.plot_frontier(results, head, labels, cfg.costs.currency)

# %% [markdown]
# ## Interval coverage
#
# Coverage of the nominal 95% intervals of every stage; the grey band is 93-97%, the dotted lines the Monte Carlo margin around 95% for this number of replicates.

# %%
fig = sim.plot_coverage(results, reps, labels)

# %% [markdown]
# ## Sample size for a margin of error
#
# Completes each design needs for a 95% margin of error on whole-experience satisfaction, from the design effect the simulation measured (`methods.sampling.size`), and what they cost at the design's cost per complete.

# %%
fig = sim.plot_sample_size(results, estimand=head, labels=labels, currency=cfg.costs.currency)
need = sim.completes_for_margin(results, 0.03, head)
need.assign(design=need["design"].map(labels), deff=need["deff"].round(2), cost=need["cost"].round(0).astype(int)).set_index("design")

# %% [markdown]
# ## By domain
#
# RMSE (points) of whole-experience satisfaction in each level of the config's domain.

# %%
if cfg.domain:
    display(sim.domain_table(results, head, labels))
else:
    print("this config has no domain")

# %% [markdown]
# ## Recommendation

# %%
Markdown(sim.recommendation(results, head, 0.03, labels=labels))

# %% [markdown]
# ## Notes
#
# What happened in some replicates (merged raking levels, estimates of 0 or 1, failures), with the number of replicates.

# %%
notes = res.notes.assign(design=res.notes["design"].map(labels))
notes if len(notes) else print("nothing to note")
