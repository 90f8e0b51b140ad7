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
        'print(f"Force: {preset.display_name}; month: {month}")'
    )
)
cells.append(md("## Responses this month"))
cells.append(
    code(
        "with Store(db) as st:\n"
        "    responses = st.responses(months=[month])\n"
        'responses["design_weight"] = 1.0 / responses["inclusion_prob"]\n'
        "done = reporting.completes(responses)\n"
        "counts = (responses.assign(complete=responses.index.isin(done.index))\n"
        '          .groupby(["survey", "mode"]).agg(issued=("complete", "size"), completes=("complete", "sum")))\n'
        'counts["response_rate_%"] = 100 * counts["completes"] / counts["issued"]\n'
        "counts"
    )
)
cells.append(
    md(
        "## Satisfaction by stage\n\nDesign-weighted (inverse inclusion probability, "
        "stratified by the sampling strata) percent satisfied, with logit 95% CIs."
    )
)
cells.append(
    code(
        "tables = []\n"
        "for survey in preset.survey_names:\n"
        '    sub = done[done["survey"] == survey]\n'
        "    if sub.empty:\n"
        "        continue\n"
        "    t = reporting.stage_estimates(sub, min_base=min_base)\n"
        '    t.insert(0, "survey", survey)\n'
        "    tables.append(t)\n"
        "stages = pd.concat(tables, ignore_index=True)\n"
        'shown = stages.assign(**{c: 100 * stages[c] for c in ["estimate", "ci_low", "ci_high"]})\n'
        'shown[["survey", "label", "estimate", "ci_low", "ci_high", "n", "suppressed"]]'
    )
)
cells.append(
    code(
        "figs = {}\n"
        'for survey, t in stages.groupby("survey", sort=False):\n'
        "    figs[survey] = reporting.plot_stage_estimates(t, title=f\"{survey.replace('_', ' ').title()}: % satisfied, {month}\")\n"
        "    plt.show()"
    )
)
cells.append(
    code(
        "if out is not None:\n"
        '    reporting.write_table(stages, out / "tables" / "satisfaction_by_stage.csv")\n'
        '    reporting.write_table(counts.reset_index(), out / "tables" / "response_counts.csv")\n'
        "    for survey, fig in figs.items():\n"
        '        reporting.save_figure(fig, out / "figures" / f"satisfaction_{survey}.png")\n'
        "print(f\"{len(stages)} stage estimates for {stages['survey'].nunique()} surveys\")"
    )
)

nb = nbf.v4.new_notebook(cells=cells)
nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
nb.metadata["language_info"] = {"name": "python"}
Path(__file__).resolve().parents[1].joinpath("notebooks", "monthly_report.ipynb").write_text(
    nbf.writes(nb)
)
