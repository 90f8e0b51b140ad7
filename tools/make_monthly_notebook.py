"""Writes notebooks/monthly_report.ipynb (the papermill template) from the cells below.

Run it after changing the cells, then re-execute the notebook with outputs
(`make notebooks`), so the committed outputs come from a canonical run.
"""

from pathlib import Path

import nbformat as nbf

cells = []
md = nbf.v4.new_markdown_cell
code = nbf.v4.new_code_cell

cells.append(
    md(
        "# Monthly victim satisfaction report\n\n"
        "Satisfaction at the five stages of the Home Office User Satisfaction Survey, "
        "for each survey of the force preset, with 95% confidence intervals and "
        "unweighted bases. Everything is computed by the `methods` package; this "
        "notebook only orchestrates. Estimates on fewer than `min_base` valid answers "
        "are suppressed."
    )
)
p = code(
    "# Parameters (papermill injects overrides below this cell)\n"
    'force = "durham"\n'
    'month = "2025-12"\n'
    "db = None  # DuckDB store; None builds the synthetic demo store (as nbval does)\n"
    "seed = 20250101\n"
    "out_dir = None  # where tables/ and figures/ are written; None writes nothing\n"
    "min_base = 30  # suppression threshold for percentages (METHODS_REFERENCE.md)\n"
)
p.metadata["tags"] = ["parameters"]
cells.append(p)
cells.append(
    code(
        "import warnings\n"
        "from pathlib import Path\n\n"
        "import matplotlib\n"
        "import matplotlib.pyplot as plt\n"
        "import pandas as pd\n\n"
        "from methods import reporting\n"
        "from methods.config import load_force\n"
        "from methods.demo import ensure_store\n"
        "from methods.store import Store\n\n"
        'matplotlib.rcParams["svg.hashsalt"] = "vsw"\n'
        '%config InlineBackend.figure_formats = ["png"]\n'
        'pd.set_option("display.precision", 1)\n'
        'warnings.simplefilter("error", RuntimeWarning)\n'
        "preset = load_force(force)\n"
        "db = ensure_store(db, force=force, seed=seed)\n"
        "out = Path(out_dir) if out_dir else None\n"
        'print(f"Force: {preset.title}; month: {month}")'
    )
)
cells.append(md("## Responses this month"))
cells.append(code(
    "months12 = reporting.months_back(month, 12)\n"
    "with Store(db) as st:\n"
    "    responses = st.responses(months=months12)\n"
    "responses = reporting.prepare_responses(responses)\n"
    "this_month = responses[responses[\"month\"] == month]\n"
    "counts = reporting.response_counts(this_month)\n"
    "counts"))
cells.append(md("## Satisfaction by stage this month\n\nAll surveyed victims of the month "
                "together: design-weighted (inverse inclusion probability, stratified by survey "
                "and sampling stratum) percent satisfied, with logit 95% CIs and unweighted bases."))
cells.append(code(
    "month_table = reporting.stage_estimates(reporting.completes(this_month), min_base=min_base)\n"
    "month_table.insert(0, \"survey\", \"all\")\n"
    "month_table.insert(0, \"period\", month)\n"
    "reporting.percent_view(month_table)"))
cells.append(code(
    "fig_month = reporting.plot_stage_estimates(month_table, title=f\"All surveys: % satisfied, {month}\")\n"
    "plt.show()"))
cells.append(md("## Twelve months to this month, by survey\n\nMonthly bases are small for most "
                "surveys, so each survey is reported over the twelve months to the report month "
                "(or the months loaded, if fewer)."))
cells.append(code(
    "period = f\"{responses['month'].min()} to {month}\"\n"
    "done12 = reporting.completes(responses)\n"
    "tables = []\n"
    "for survey in preset.survey_names:\n"
    "    sub = done12[done12[\"survey\"] == survey]\n"
    "    if sub.empty:\n"
    "        continue\n"
    "    t = reporting.stage_estimates(sub, min_base=min_base)\n"
    "    t.insert(0, \"survey\", survey)\n"
    "    t.insert(0, \"period\", period)\n"
    "    tables.append(t)\n"
    "by_survey = pd.concat(tables, ignore_index=True)\n"
    "reporting.percent_view(by_survey)"))
cells.append(code(
    "figs = {\"all_surveys\": fig_month}\n"
    "for survey, t in by_survey.groupby(\"survey\", sort=False):\n"
    "    figs[survey] = reporting.plot_stage_estimates(t, title=f\"{survey.replace('_', ' ').title()}: % satisfied, {period}\")\n"
    "    plt.show()"))
cells.append(code(
    "if out is not None:\n"
    "    reporting.write_table(pd.concat([month_table, by_survey], ignore_index=True), out / \"tables\" / \"satisfaction_by_stage.csv\")\n"
    "    reporting.write_table(counts, out / \"tables\" / \"response_counts.csv\")\n"
    "    for name, fig in figs.items():\n"
    "        reporting.save_figure(fig, out / \"figures\" / f\"satisfaction_{name}.png\")\n"
    "print(f\"{len(month_table) + len(by_survey)} stage estimates; {int(counts['completes'].sum())} completes this month\")"))

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
Path(__file__).resolve().parents[1].joinpath("notebooks", "monthly_report.ipynb").write_text(
    nbf.writes(nb)
)
