"""Writes notebooks/sampling_design.ipynb (a papermill template) and executes it in place.

The notebook compares the designs of a simulation config (methods.simulation.run): accuracy
against cost, interval coverage, the completes and cost each design needs for a margin of
error, and the recommendation those figures support. Everything is computed by the
``methods`` package; the notebook only orchestrates.

Usage::

    .venv/bin/python tools/make_sampling_design_notebook.py            # write and execute
    .venv/bin/python tools/make_sampling_design_notebook.py --no-execute

Execution uses the default parameters, in ``notebooks/``, with nbclient (no timing metadata),
so the committed outputs are those that ``pytest --nbval`` re-creates. Papermill overrides::

    papermill notebooks/sampling_design.ipynb out.ipynb -p config weighting_schemes \\
        -p reps 500 -p workers 2
"""

from __future__ import annotations

import argparse
from pathlib import Path

import nbformat as nbf

ROOT = Path(__file__).resolve().parents[1]
TARGET = ROOT / "notebooks" / "sampling_design.ipynb"

md = nbf.v4.new_markdown_cell
code = nbf.v4.new_code_cell


def cells() -> list:
    out = [
        md(
            "# Sampling design simulation\n\n"
            "Which design should a force use to survey its victims: a simple random sample or "
            "one stratified by offence group, a proportional or a disproportionate allocation, "
            "telephone only or telephone then paper, and which weighting? This notebook runs "
            "every design of a simulation config many times on a synthetic population whose "
            "true satisfaction is known (`methods.simulation.run`), then compares them on bias, "
            "precision, interval coverage and cost, and states the recommendation the figures "
            "support. Every replicate runs the workbench's own chain: eligibility, selection "
            "(`methods.sampling.selection`), fieldwork (`methods.fieldwork.modes`), weighting "
            "(`methods.weighting`) and estimation (`methods.design.survey`)."
        )
    ]
    p = code(
        "# Parameters (papermill injects overrides below this cell)\n"
        'config = "allocation_and_mode"  # a shipped example or a TOML path\n'
        "reps = 60  # replicates; 1,000 or more for decisions (vsw simulate scales out on Dask)\n"
        "seed = 20250101\n"
        "workers = 0  # 0: this process; N: a Dask LocalCluster of N workers\n"
    )
    p.metadata["tags"] = ["parameters"]
    out.append(p)
    out.append(
        code(
            "import warnings\n\n"
            "import matplotlib.pyplot as plt\n"
            "import pandas as pd\n"
            "from IPython.display import Markdown\n\n"
            "from methods import simulation as sim\n\n"
            '%config InlineBackend.figure_formats = ["png"]\n'
            'pd.set_option("display.width", 120)\n'
            'pd.set_option("display.max_colwidth", 120)\n'
            "with warnings.catch_warnings():\n"
            "    # what happened in some replicates is listed in the notes at the end\n"
            '    warnings.simplefilter("ignore", sim.SimulationWarning)\n'
            "    res = sim.simulate(config, reps, seed, workers=workers, progress=False)\n"
            "cfg, labels, results = res.config, res.labels, res.results\n"
            'head = "whole_experience"\n'
            'print(f"{cfg.title}")\n'
            'print(f"{len(res.designs)} designs x {reps} replicates (seed {seed}); population "\n'
            "      f\"{res.run['population_rows']:,} victims\")"
        )
    )
    out.append(code("Markdown(cfg.description)"))
    out.append(
        md(
            "## The designs\n\nEligible victims, how the sample is drawn, the fieldwork plan "
            "and the weighting of each design."
        )
    )
    out.append(code('sim.describe_designs(cfg, res.run["eligible"])'))
    out.append(
        md(
            "## Whole experience: bias, precision, coverage and cost\n\n"
            "Per design, averaged over the replicates: completes, cost, the true satisfaction "
            "(mean latent probability over the eligible victims), bias, the empirical SE (SD "
            "of the estimates) against the mean estimated SE, RMSE, and how often the 95% "
            "logit interval covered the truth. Points are percentage points."
        )
    )
    out.append(code("sim.headline_table(results, head, labels)"))
    out.append(
        md(
            "## Accuracy against cost\n\nDesigns on the frontier (red) are not beaten on both "
            "RMSE and cost by any other; the rest are dominated."
        )
    )
    out.append(code("fig = sim.plot_frontier(results, head, labels, cfg.costs.currency)"))
    out.append(
        md(
            "## Interval coverage\n\nCoverage of the nominal 95% intervals of every stage; the "
            "grey band is 93-97%, the dotted lines the Monte Carlo margin around 95% for this "
            "number of replicates."
        )
    )
    out.append(code("fig = sim.plot_coverage(results, reps, labels)"))
    out.append(
        md(
            "## Sample size for a margin of error\n\nCompletes each design needs for a 95% "
            "margin of error on whole-experience satisfaction, from the design effect the "
            "simulation measured (`methods.sampling.size`), and what they cost at the design's "
            "cost per complete."
        )
    )
    out.append(
        code(
            "fig = sim.plot_sample_size(results, estimand=head, labels=labels, "
            "currency=cfg.costs.currency)\n"
            "need = sim.completes_for_margin(results, 0.03, head)\n"
            'need.assign(design=need["design"].map(labels), deff=need["deff"].round(2), '
            'cost=need["cost"].round(0).astype(int)).set_index("design")'
        )
    )
    out.append(
        md(
            "## By domain\n\nRMSE (points) of whole-experience satisfaction in each level of "
            "the config's domain."
        )
    )
    out.append(
        code(
            "if cfg.domain:\n"
            "    display(sim.domain_table(results, head, labels))\n"
            "else:\n"
            '    print("this config has no domain")'
        )
    )
    out.append(md("## Recommendation"))
    out.append(code("Markdown(sim.recommendation(results, head, 0.03, labels=labels))"))
    out.append(
        md(
            "## Notes\n\nWhat happened in some replicates (merged raking levels, estimates of "
            "0 or 1, failures), with the number of replicates."
        )
    )
    out.append(
        code(
            'notes = res.notes.assign(design=res.notes["design"].map(labels))\n'
            'notes if len(notes) else print("nothing to note")'
        )
    )
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="write (and execute) notebooks/sampling_design.ipynb")
    ap.add_argument("--no-execute", action="store_true")
    args = ap.parse_args(argv)
    nb = nbf.v4.new_notebook(cells=cells())
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    if not args.no_execute:
        from nbclient import NotebookClient

        NotebookClient(
            nb,
            timeout=600,
            kernel_name="python3",
            record_timing=False,
            resources={"metadata": {"path": str(TARGET.parent)}},
        ).execute()
    TARGET.write_text(nbf.writes(nb))
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
