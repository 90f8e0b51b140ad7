# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # How do we compare with similar forces?
#
# Each force's victims are surveyed and weighted the same way (the monthly report's scheme:
# design weights, non-response adjustment within offence groups, raking to the force's
# eligible victims by age, gender, ethnicity and offence). Each force is then compared with the
# mean of the group. The forces' samples are drawn independently, so the variance of a
# difference is the sum of the forces' own variances, weighted as the group mean weights them.
# With several forces compared at once, some would differ by chance alone; the p-values are
# adjusted for that with Holm's method, so a difference is called significant only when it
# holds for the group as a whole at the 5% level.

# %% tags=["parameters"]
# Parameters (papermill injects overrides below this cell)
month = "2025-12"
stores = None  # JSON {force: store file}; None: the synthetic demo stores of five forces
window = 1  # months compared: 1 for the month alone, 12 for the rolling year to the month
seed = 20250101
out_dir = None  # where tables/ and figures/ are written; None writes nothing

# %%
import json
import warnings
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from IPython.display import Markdown, display

from methods.config.presets import load_force
from methods.core.io import save_figure, write_table
from methods.report import compare
from methods.workflows.demo import ensure_store

matplotlib.rcParams["svg.hashsalt"] = "vsw"
# %config InlineBackend.figure_formats = ["png"]
DEMO_FORCES = ("cumbria", "durham", "kent", "met", "warwickshire")
months = compare.window_months(month, window)
if stores is None:  # synthetic demo: each force's months compared, built once and cached
    store_map = {f: ensure_store(None, force=f, months=months, seed=seed) for f in DEMO_FORCES}
else:
    store_map = json.loads(stores)
titles = {f: load_force(f).title for f in store_map}
out = Path(out_dir) if out_dir else None
period = month if window == 1 else f"the {window} months to {month}"
with warnings.catch_warnings():
    warnings.simplefilter("ignore", UserWarning)
    estimates, table = compare.compare_stores(store_map, month, window=window)
if out:
    write_table(table, out / "tables" / "force_comparison.csv")
    write_table(estimates, out / "tables" / "force_estimates.csv")
Markdown(f"**{len(store_map)} forces compared on {period}.**")

# %% [markdown]
# ## Whole experience

# %%
whole = table[table["stage"] == "whole_experience"]
lines = []
for _, r in whole.sort_values("estimate", ascending=False).iterrows():
    if r["significant"]:
        side = "above" if r["difference"] > 0 else "below"
        lines.append(
            f"- {titles[r['force']]}: {100 * r['estimate']:.0f}% satisfied, "
            f"{abs(100 * r['difference']):.0f} points {side} the group mean (significant)."
        )
    elif r["note"]:
        lines.append(f"- {titles[r['force']]}: {r['note']}.")
    else:
        lines.append(
            f"- {titles[r['force']]}: {100 * r['estimate']:.0f}% satisfied, "
            "not significantly different from the group mean."
        )
Markdown("\n".join(lines))

# %%
fig, ax = plt.subplots(figsize=(7, 0.5 * len(store_map) + 1.5))
compare.plot_comparison(table, "whole_experience", titles, ax=ax)
ax.set_title(f"Whole experience, {period}")
fig.tight_layout()
if out:
    save_figure(fig, out / "figures" / "force_comparison_whole_experience.png")
plt.show()

# %% [markdown]
# ## Every stage

# %%
display(compare.comparison_view(table, titles).set_index(["Stage", "Force"]))

# %% [markdown]
# ## How to read this
#
# The group mean counts every force once, whatever its size. A force's difference from it has
# a 95% confidence interval from the design-based standard errors of all the forces (the samples
# are independent); the adjusted p-value is Holm's, over the forces compared on the same stage.
# A stage a force's questionnaire does not ask, or with too few answers to publish, is left out
# of that stage's comparison and the note says so.
