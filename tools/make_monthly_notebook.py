"""Writes notebooks/monthly_report.ipynb (the papermill template) from the cells below.

After changing the cells: run this script, then execute the notebook in place with outputs
(`cd notebooks && jupyter nbconvert --to notebook --execute --inplace monthly_report.ipynb`),
so the committed outputs come from a canonical run with the default parameters.
"""

from pathlib import Path

import nbformat as nbf

md = nbf.v4.new_markdown_cell
code = nbf.v4.new_code_cell
cells = [
    md(
        "# Monthly victim satisfaction report\n\n"
        "Satisfaction at the five stages of the Home Office User Satisfaction Survey for the "
        "force's surveys: weighted estimates with 95% confidence intervals and unweighted bases, "
        "rolling trends, significant changes, the gap between White and minority-ethnic victims, "
        "districts, response rates and weighting diagnostics. Everything is computed by the "
        "`methods` package; this notebook only orchestrates.\n\n"
        "**Disclosure control** (METHODS_REFERENCE.md): percentages on fewer than `min_base` "
        "valid answers and counts below `min_count` are suppressed, and so is any figure from "
        "which a suppressed one could be worked out. Tables show `[c]` in their place; charts "
        "show a hatched grey placeholder or an open circle. The published CSV tables leave "
        "them blank, with a `suppressed` flag column."
    ),
]
p = code(
    "# Parameters (papermill injects overrides below this cell)\n"
    'force = "durham"\n'
    'month = "2025-12"\n'
    "surveys = None  # None: every survey of the force preset\n"
    "db = None  # DuckDB store; None builds the synthetic demo store (as nbval does)\n"
    "seed = 20250101\n"
    "out_dir = None  # where tables/ and figures/ are written; None writes nothing\n"
    "min_base = 30  # suppression threshold for percentages (METHODS_REFERENCE.md)\n"
    "min_count = 10  # suppression threshold for counts (zeros are shown)\n"
    "min_cell = 5  # smallest raking category (respondents); sparser ones are merged\n"
    "windows = [3, 12]  # rolling windows in months\n"
)
p.metadata["tags"] = ["parameters"]
cells.append(p)
cells.append(
    code(
        "import warnings\n"
        "from pathlib import Path\n\n"
        "import matplotlib\n"
        "import matplotlib.pyplot as plt\n"
        "import pandas as pd\n"
        "from IPython.display import Markdown\n\n"
        "from methods.report import monthly\n"
        "from methods.report import tables as reporting\n"
        "from methods.config.presets import load_force\n"
        "from methods.workflows.demo import ensure_store\n"
        "from methods.data.store import Store\n"
        "from methods.weighting import diagnostics\n\n"
        'matplotlib.rcParams["svg.hashsalt"] = "vsw"\n'
        '%config InlineBackend.figure_formats = ["png"]\n'
        'pd.set_option("display.precision", 1)\n'
        "preset = load_force(force)\n"
        "surveys = list(surveys or preset.survey_names)\n"
        "db = ensure_store(db, force=force, seed=seed)\n"
        "out = Path(out_dir) if out_dir else None\n"
        "tables, figs = {}, {}\n"
        "print(f\"Force: {preset.title}; month: {month}; surveys: {', '.join(surveys)}\")\n"
        "Markdown(reporting.suppressed_note(min_base, min_count))"
    )
)
cells.append(
    code(
        "span = reporting.months_back(month, 24)\n"
        "# Read-only: reports for several months may run in parallel on one DuckDB file.\n"
        "with Store(db, read_only=True) as st:\n"
        "    loaded = [m for m in st.loaded_months() if m in span]\n"
        "    sampled = st.responses(months=loaded)\n"
        "    victims = st.victims(months=loaded)\n"
        "    eligible, flow = monthly.eligible_frame(victims, preset, surveys, store=st)\n"
        'sampled = reporting.prepare_responses(sampled[sampled["survey"].isin(surveys)])\n'
        'this_month = sampled[sampled["month"] == month]\n'
        'print(f"{len(loaded)} of the 24 months to {month} are loaded")'
    )
)
cells.append(
    md(
        "## Exclusions this month\n\nVictims of the month, what each survey's rules "
        "excluded in order, and the eligible victims the samples were drawn from. "
        "`[c]`: a count below `min_count`, or one more count of the same survey "
        "suppressed so that it cannot be worked out from the others."
    )
)
cells.append(
    code(
        "exclusions = monthly.flow_table(flow, month, min_count=min_count)\n"
        'tables["exclusion_flow"] = exclusions\n'
        "reporting.flow_view(exclusions)"
    )
)
cells.append(
    md(
        "## Response rates this month\n\nAAPOR RR1 (unknowns counted as eligible) and "
        "RR3 (unknowns counted at the estimated eligible share e), by survey and mode. "
        "`[c]`: issued cases or completes below `min_count` (and a second count in the "
        "column, since the totals are published); rates are suppressed with either "
        "count and on fewer than `min_base` issued cases."
    )
)
cells.append(
    code(
        "counts = reporting.response_counts(this_month)\n"
        'tables["response_rates"] = reporting.suppress_response_counts(counts, min_count, min_base)\n'
        'reporting.counts_view(tables["response_rates"])'
    )
)
cells.append(
    md(
        "## Satisfaction by stage this month\n\nAll surveyed victims of the month "
        "together, weighted: design weights, non-response adjustment within offence "
        "groups, raking to the month's eligible victims by age, gender, ethnicity and "
        "offence group. Logit 95% CIs; unweighted bases."
    )
)
cells.append(
    code(
        "with warnings.catch_warnings():\n"
        '    warnings.simplefilter("ignore", UserWarning)  # merges are listed below\n'
        '    wm = reporting.weighted_period(this_month, eligible[eligible["month"] == month], min_cell=min_cell)\n'
        "stage_month = monthly.satisfaction_by_stage(wm.design, min_base=min_base)\n"
        "stage_month = reporting.suppress_bases(stage_month, min_count)\n"
        'stage_month.insert(0, "survey", "all")\n'
        'stage_month.insert(0, "period", month)\n'
        'tables["satisfaction_by_stage_month"] = stage_month\n'
        "reporting.percent_view(stage_month)"
    )
)
cells.append(
    code(
        'figs["satisfaction_month"] = reporting.plot_stage_estimates(stage_month, title=f"All surveys: % satisfied, {month} (weighted)", min_base=min_base)\n'
        "plt.show()"
    )
)
cells.append(
    md(
        "### Weighting diagnostics\n\nKish effective sample size and design effect "
        "of the weights, before and after weighting; categories merged for raking."
    )
)
cells.append(
    code(
        "diag = diagnostics(wm.design).summary\n"
        'tables["weighting_diagnostics"] = diag.reset_index(names="weights")\n'
        'print("Steps:", "; ".join(wm.steps))\n'
        'print("Merged for raking:", "; ".join(f"{v}: {a} -> {b}" for v, a, b in wm.merges) or "none")\n'
        'diag[[c for c in ("n", "sum", "n_eff", "deff_w", "cv", "min", "max") if c in diag]]'
    )
)
cells.append(
    md(
        "## Twelve months to this month, by survey\n\nMonthly bases are small for most "
        "surveys, so each survey is reported over the twelve months to the report month "
        "(or the months loaded, if fewer), weighted the same way."
    )
)
cells.append(
    code(
        "last12 = reporting.months_back(month, 12)\n"
        'period = f"{min(m for m in loaded if m in last12)} to {month}"\n'
        "rows = []\n"
        "with warnings.catch_warnings():\n"
        '    warnings.simplefilter("ignore", UserWarning)\n'
        "    for survey in surveys:\n"
        '        sub = sampled[(sampled["survey"] == survey) & sampled["month"].isin(last12)]\n'
        '        pop = eligible[(eligible["survey"] == survey) & eligible["month"].isin(last12)]\n'
        "        if sub.empty:\n"
        "            continue\n"
        "        w = reporting.weighted_period(sub, pop, min_cell=min_cell)\n"
        "        t = monthly.satisfaction_by_stage(w.design, min_base=min_base)\n"
        '        t.insert(0, "survey", survey)\n'
        '        t.insert(0, "period", period)\n'
        "        rows.append(t)\n"
        "# Each stage's bases add up across surveys to a published total: secondary suppression.\n"
        'by_survey = reporting.suppress_bases(pd.concat(rows, ignore_index=True), min_count, by="stage")\n'
        'tables["satisfaction_by_survey_12m"] = by_survey\n'
        "reporting.percent_view(by_survey)"
    )
)
cells.append(
    code(
        'for survey, t in by_survey.groupby("survey", sort=False):\n'
        "    figs[f\"satisfaction_{survey}_12m\"] = reporting.plot_stage_estimates(t, title=f\"{survey.replace('_', ' ').title()}: % satisfied, {period}\", min_base=min_base)\n"
        "    plt.show()"
    )
)
cells.append(
    md(
        "## Trend: whole experience\n\nRolling 3- and 12-month estimates, each window "
        "weighted like the month's figures (design weights, non-response classes, raking to "
        "the window's eligible victims), with 95% CI bands; months with small bases are suppressed (gaps, "
        "marked with open circles)."
    )
)
cells.append(
    code(
        "trend_months = [m for m in loaded if m <= month][-12:]\n"
        "trends = {w: reporting.suppress_bases(reporting.trend_table(sampled, trend_months, w, min_base=min_base, eligible=eligible, min_cell=min_cell), min_count) for w in windows}\n"
        'tables["trend_whole_experience"] = pd.concat(trends.values(), ignore_index=True)\n'
        'figs["trend_whole_experience"] = reporting.plot_trend(trends, title="Whole experience: % satisfied", min_base=min_base)\n'
        "plt.show()"
    )
)
cells.append(
    md(
        "## Change against the previous period and the same period last year\n\n"
        "Three-month periods, surveyed independently and weighted like the month's "
        "figures; flagged only where the design-based test is significant at 5%."
    )
)
cells.append(
    code(
        "def period_table(end):\n"
        "    span3 = reporting.months_back(end, 3)\n"
        "    return reporting.period_estimates(sampled, eligible, span3, min_base=min_base, min_cell=min_cell)\n\n"
        "now = period_table(month)\n"
        "prev_end = reporting.months_back(month, 4)[0]\n"
        "year_end = reporting.months_back(month, 13)[0]\n"
        "changes = []\n"
        'for end, label in [(prev_end, "vs previous 3 months"), (year_end, "vs same 3 months last year")]:\n'
        "    then = period_table(end) if end in loaded else None\n"
        "    if then is None:\n"
        '        print(f"{label}: not available ({end} not loaded)")\n'
        "        continue\n"
        "    changes.append(reporting.change_table(now, then, label))\n"
        'changes = pd.concat(changes, ignore_index=True) if changes else reporting.change_table(now, now.iloc[:0], "none")\n'
        'tables["changes"] = changes\n'
        "reporting.changes_view(changes)"
    )
)
cells.append(
    md(
        "## White and minority-ethnic victims\n\nGap in whole-experience satisfaction "
        "(White minus minority ethnic) over the twelve months, all surveys, weighted; "
        "the SE accounts for both groups coming from one sample."
    )
)
cells.append(
    code(
        "with warnings.catch_warnings():\n"
        '    warnings.simplefilter("ignore", UserWarning)\n'
        '    w12 = reporting.weighted_period(sampled[sampled["month"].isin(last12)],\n'
        '                                    eligible[eligible["month"].isin(last12)], min_cell=min_cell)\n'
        "gap = reporting.ethnic_gap(w12.design, min_base=min_base)\n"
        'gap = reporting.suppress_bases(gap, min_count, columns=("n_white", "n_minority"))\n'
        'tables["ethnic_gap"] = gap\n'
        "reporting.gap_view(gap)"
    )
)
cells.append(
    md(
        "## Districts\n\nWhole-experience satisfaction by district over the twelve "
        "months (suppressed where the base is small, and secondarily where a suppressed "
        "figure could be derived)."
    )
)
cells.append(
    code(
        'districts = reporting.domain_table(w12.design, "district", min_base=min_base, min_count=min_count)\n'
        'tables["districts"] = districts\n'
        'reporting.domain_view(districts, "district")'
    )
)
cells.append(
    code(
        'figs["districts"] = reporting.plot_domains(districts, "district", title=f"Whole experience by district: % satisfied, {period}", min_base=min_base)\n'
        "plt.show()"
    )
)
cells.append(md("## Summary"))
cells.append(
    code(
        "text = reporting.month_summary(preset.title, month, stage_month, changes, gap, counts, min_count=min_count)\n"
        "Markdown(text)"
    )
)
cells.append(
    code(
        "if out is not None:\n"
        "    for name, table in tables.items():\n"
        '        reporting.write_table(table, out / "tables" / f"{name}.csv")\n'
        "    for name, fig in figs.items():\n"
        '        reporting.save_figure(fig, out / "figures" / f"{name}.png")\n'
        'print(f"{len(tables)} tables and {len(figs)} figures")'
    )
)

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
Path(__file__).resolve().parents[1].joinpath("notebooks", "monthly_report.ipynb").write_text(
    nbf.writes(nb)
)
