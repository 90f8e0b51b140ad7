"""Reading simulation results: the RMSE-cost frontier, coverage, sample-size curves, and the
recommendation the figures support (used by ``notebooks/sampling_design.ipynb``).

Every function takes the ``results`` table of :class:`methods.simulation.run.SimulationResult`
(or ``results.csv`` read back), so a saved run can be re-read without re-running it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.core.errors import UsageError
from methods.sampling.size import sample_size

__all__ = [
    "completes_for_margin",
    "describe_designs",
    "domain_table",
    "headline_table",
    "frontier",
    "plot_coverage",
    "plot_frontier",
    "plot_sample_size",
    "recommendation",
]


def _headline(results: pd.DataFrame, estimand: str) -> pd.DataFrame:
    rows = results[results["estimand"] == estimand]
    if rows.empty:
        raise UsageError(
            f"no results for estimand {estimand!r}; estimands: "
            + ", ".join(dict.fromkeys(results["estimand"]))
        )
    return rows


def _labels(designs, labels: dict[str, str] | None) -> list[str]:
    return [(labels or {}).get(d, d) for d in designs]


def frontier(results: pd.DataFrame, estimand: str = "whole_experience") -> pd.Series:
    """Designs on the RMSE-cost frontier of one estimand (Pareto efficient: no other design is
    both cheaper and more accurate, with at least one strictly).

    Returns:
        Boolean Series indexed by design.
    """
    rows = _headline(results, estimand)
    cost, rmse = rows["cost"].to_numpy(), rows["rmse"].to_numpy()
    dominated = (
        (cost[None, :] <= cost[:, None])
        & (rmse[None, :] <= rmse[:, None])
        & ((cost[None, :] < cost[:, None]) | (rmse[None, :] < rmse[:, None]))
    ).any(axis=1)
    return pd.Series(~dominated, index=rows["design"].to_numpy(), name="frontier")


def completes_for_margin(
    results: pd.DataFrame, moe: float | list[float], estimand: str = "whole_experience"
) -> pd.DataFrame:
    """Completes (and cost) each design needs for a margin of error on one estimand.

    Arguments:
        results: :attr:`SimulationResult.results` (or ``results.csv`` read back).
        moe: margin(s) of error, as proportions (0.03 = +/- 3 points).
        estimand: which estimand.

    Returns:
        ``design, moe, deff, completes, cost``: the design effect measured by the simulation,
        deff = se_empirical^2 / (p (1 - p) / mean_completes) (Kish 1965, 8.2; p the truth),
        then :func:`methods.sampling.size.sample_size` for the completes, and the cost at the
        design's simulated cost per complete.
    """

    rows = _headline(results, estimand)
    out = []
    for r in rows.itertuples():
        p = float(r.truth)
        deff = r.se_empirical**2 / (p * (1 - p) / r.mean_completes)
        for m in np.atleast_1d(moe):
            n = sample_size(float(m), p=p, deff=float(deff))["completes"]
            out.append(
                {
                    "design": r.design,
                    "moe": float(m),
                    "deff": float(deff),
                    "completes": int(n),
                    "cost": float(n * r.cost / r.mean_completes),
                }
            )
    return pd.DataFrame(out)


def recommendation(
    results: pd.DataFrame,
    estimand: str = "whole_experience",
    moe: float = 0.03,
    coverage_range: tuple[float, float] = (0.93, 0.97),
    labels: dict[str, str] | None = None,
) -> str:
    """The design the figures support, in words.

    Arguments:
        results: :attr:`SimulationResult.results`.
        estimand: the headline estimand.
        moe: margin of error used to price each design.
        coverage_range: designs whose intervals cover less or more than this, by more than
            the simulation's own error (1.96 sqrt(0.95 x 0.05 / replicates)), are flagged and
            not recommended.
        labels: design name -> label for the text.

    Returns:
        A short paragraph: the design with the smallest MSE x cost on the headline estimand
        (MSE falls and cost rises in proportion to the sample size, so their product compares
        designs at equal spend; Cochran 1977, 5.5, optimum allocation for fixed cost), what
        it costs for the margin of error, which designs are biased (|bias| > se_empirical / 2)
        or cover badly, and, with a domain, the design whose worst domain is most precise.
    """
    lab = labels or {}
    head = _headline(results, estimand).copy()
    head["mse_cost"] = head["rmse"] ** 2 * head["cost"]
    lo, hi = coverage_range
    mc_lo = lo - 1.96 * np.sqrt(0.95 * 0.05 / head["replicates"].clip(lower=1))
    mc_hi = hi + 1.96 * np.sqrt(0.95 * 0.05 / head["replicates"].clip(lower=1))
    good = head[(head["coverage"] >= mc_lo) & (head["coverage"] <= mc_hi)]
    pool = good if not good.empty else head
    best = pool.sort_values(["mse_cost", "design"]).iloc[0]
    need = completes_for_margin(results, moe, estimand).set_index("design")
    name = lab.get(best["design"], best["design"])
    text = [
        f"For {estimand.replace('_', ' ')}, {name} gives the most precision for its cost: RMSE "
        f"{100 * best['rmse']:.2f} points at a cost of {best['cost']:,.0f} per survey "
        f"({best['mean_completes']:,.0f} completes); a margin of error of +/-{100 * moe:.0f} "
        f"points needs about {need.loc[best['design'], 'completes']:,} completes, costing "
        f"about {need.loc[best['design'], 'cost']:,.0f}."
    ]
    r_min = int(head["replicates"].min())
    text.append(
        f"With {r_min:,} replicates an RMSE is known to about "
        f"+/-{100 * 1.96 / np.sqrt(2 * max(r_min, 1)):.0f}% of itself, so closer designs are "
        "not told apart."
    )
    biased = head[head["bias"].abs() > head["se_empirical"] / 2]
    if best["design"] in set(biased["design"]):
        text.append(
            f"But its bias ({100 * best['bias']:+.2f} points) exceeds half its standard error "
            "and more completes will not remove it, so that margin of error understates its "
            "error; the bias has to be dealt with by the design or the weighting."
        )
    if not biased.empty:
        text.append(
            "Biased by more than half a standard error: "
            + ", ".join(
                f"{lab.get(d, d)} ({100 * b:+.2f} points)"
                for d, b in zip(biased["design"], biased["bias"])
            )  # fmt: skip
            + "."
        )
    mc = 1.96 * np.sqrt(0.95 * 0.05 / head["replicates"].clip(lower=1))
    bad = head[(head["coverage"] < lo - mc) | (head["coverage"] > hi + mc)]
    if not bad.empty:
        text.append(
            f"Coverage of the nominal 95% intervals outside [{100 * lo:.0f}%, {100 * hi:.0f}%] "
            "beyond simulation error: "
            + ", ".join(
                f"{lab.get(d, d)} ({100 * c:.1f}%)" for d, c in zip(bad["design"], bad["coverage"])
            )  # fmt: skip
            + "."
        )
    dom = results[results["estimand"].str.startswith(f"{estimand}:")]
    if not dom.empty:
        worst = dom.groupby("design", sort=False)["rmse"].max()
        d_best = worst.idxmin()
        level = dom.loc[dom["design"] == d_best].sort_values("rmse").iloc[-1]["estimand"]
        text.append(
            f"For estimates by {level.split(':', 1)[1].split('=')[0].replace('_', ' ')}, "
            f"{lab.get(d_best, d_best)} has the smallest worst-case RMSE "
            f"({100 * worst[d_best]:.2f} points, {level.split('=', 1)[1]}), against "
            f"{100 * worst.max():.2f} for {lab.get(worst.idxmax(), worst.idxmax())}."
        )
    return " ".join(text)


def plot_frontier(
    results: pd.DataFrame,
    estimand: str = "whole_experience",
    labels: dict[str, str] | None = None,
    currency: str = "GBP",
    ax=None,
):
    """RMSE (points) against cost per replicate for one estimand; the frontier is joined."""
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    rows = _headline(results, estimand)
    on = frontier(results, estimand).to_numpy()
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 4.2), dpi=100)
    else:
        fig = ax.figure
    x, y = rows["cost"].to_numpy(), 100 * rows["rmse"].to_numpy()
    ax.scatter(x[~on], y[~on], color="#999999", zorder=3, label="dominated")
    ax.scatter(x[on], y[on], color="#c44e52", zorder=3, label="on the frontier")
    order = np.argsort(x[on])
    ax.plot(x[on][order], y[on][order], color="#c44e52", lw=1)
    for xi, yi, lab in zip(x, y, _labels(rows["design"], labels)):
        ax.annotate(lab, (xi, yi), textcoords="offset points", xytext=(5, 4), fontsize=7)
    ax.set_xlabel(f"cost per replicate ({currency})")
    ax.set_ylabel("RMSE (percentage points)")
    ax.set_title(f"Accuracy against cost: {estimand.replace('_', ' ')}")
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_coverage(
    results: pd.DataFrame,
    reps: int,
    labels: dict[str, str] | None = None,
    nominal: float = 0.95,
    band: tuple[float, float] = (0.93, 0.97),
    ax=None,
):
    """Coverage of the nominal intervals, design by stage (overall estimands), with the
    acceptance band and the Monte Carlo margin +/- 1.96 sqrt(c (1 - c) / R) around nominal."""
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    rows = results[~results["estimand"].str.contains(":")]
    designs = list(dict.fromkeys(rows["design"]))
    stages = list(dict.fromkeys(rows["estimand"]))
    if ax is None:
        fig, ax = plt.subplots(figsize=(7, 0.45 * len(designs) + 1.6), dpi=100)
    else:
        fig = ax.figure
    ax.axvspan(100 * band[0], 100 * band[1], color="#dddddd", zorder=0)
    mc = 1.96 * np.sqrt(nominal * (1 - nominal) / reps)
    ax.axvline(100 * nominal, color="black", lw=1)
    for v in (nominal - mc, nominal + mc):
        ax.axvline(100 * v, color="black", lw=0.6, ls=":")
    y = np.arange(len(designs))[::-1]
    width = 0.8 / max(len(stages), 1)
    for k, st in enumerate(stages):
        cov = rows[rows["estimand"] == st].set_index("design").reindex(designs)["coverage"]
        ax.scatter(100 * cov.to_numpy(), y + (k - (len(stages) - 1) / 2) * width, s=14,
                   label=st.replace("_", " "), zorder=3)  # fmt: skip
    ax.set_yticks(y, _labels(designs, labels))
    ax.set_xlabel(f"coverage of nominal {100 * nominal:.0f}% intervals (%), {reps} replicates")
    ax.legend(fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_sample_size(
    results: pd.DataFrame,
    moes=(0.02, 0.025, 0.03, 0.04, 0.05, 0.06),
    estimand: str = "whole_experience",
    labels: dict[str, str] | None = None,
    currency: str = "GBP",
):
    """Completes (left) and cost (right) each design needs for a margin of error."""
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    need = completes_for_margin(results, list(moes), estimand)
    fig, (a, b) = plt.subplots(1, 2, figsize=(9, 3.8), dpi=100)
    for d, lab in zip(
        dict.fromkeys(need["design"]), _labels(dict.fromkeys(need["design"]), labels)
    ):
        g = need[need["design"] == d]
        a.plot(100 * g["moe"], g["completes"], marker="o", ms=3, label=lab)
        b.plot(100 * g["moe"], g["cost"], marker="o", ms=3, label=lab)
    a.set_ylabel("completes needed")
    b.set_ylabel(f"cost ({currency})")
    for ax in (a, b):
        ax.set_xlabel("margin of error (+/- points, 95%)")
        ax.set_yscale("log")
        ax.spines[["top", "right"]].set_visible(False)
    a.legend(fontsize=7, frameon=False)
    fig.suptitle(f"Sample size for a margin of error: {estimand.replace('_', ' ')}", fontsize=10)
    fig.tight_layout()
    return fig


def describe_designs(config, eligible: dict[str, int] | None = None) -> pd.DataFrame:
    """One row per design of a :class:`methods.simulation.config.SimulationConfig`: eligible
    frame, selection, fieldwork plan and weighting, in words."""
    rows = []
    for d in config.designs:
        s, w, f = d.sampling, d.weighting, d.fieldwork
        how = f"{s.allocation or ('fixed' if isinstance(s.n, tuple) else 'proportional')}"
        size = (f"n = {s.n:,}" if isinstance(s.n, int) else f"{100 * s.fraction:g}%"
                if s.fraction else "n per stratum" if s.n else f"{s.target_completes} completes")  # fmt: skip
        sel = f"{s.method}, {size}" + (f", by {' x '.join(s.strata)} ({how})" if s.strata else "")
        steps = []
        if w.nonresponse:
            steps.append("non-response cells: " + ", ".join(w.nonresponse))
        if w.rake:
            steps.append("raked: " + ", ".join(w.rake))
        row = {
            "design": d.label,
            "selection": sel,
            "fieldwork": f.plan + (f" ({f.reminders} reminder)" if f.plan != "telephone" else ""),
            "weighting": "; ".join(steps) or "design weights only",
        }
        if eligible is not None:
            row["eligible"] = eligible.get(d.name)
        rows.append(row)
    return pd.DataFrame(rows)


def headline_table(
    results: pd.DataFrame, estimand: str = "whole_experience", labels: dict | None = None
) -> pd.DataFrame:
    """The measures of one estimand per design, in percentage points and percent, rounded
    for display (2 decimals; completes and cost whole)."""
    rows = _headline(results, estimand)
    out = pd.DataFrame(
        {
            "design": _labels(rows["design"], labels),
            "completes": rows["mean_completes"].round(0).astype(int).to_numpy(),
            "cost": rows["cost"].round(0).astype(int).to_numpy(),
            "truth %": (100 * rows["truth"]).round(2).to_numpy(),
            "bias (pts)": (100 * rows["bias"]).round(2).to_numpy(),
            "SE empirical": (100 * rows["se_empirical"]).round(2).to_numpy(),
            "SE estimated": (100 * rows["se_estimated"]).round(2).to_numpy(),
            "RMSE": (100 * rows["rmse"]).round(2).to_numpy(),
            "coverage %": (100 * rows["coverage"]).round(1).to_numpy(),
        }
    )
    return out.set_index("design")


def domain_table(
    results: pd.DataFrame, estimand: str = "whole_experience", labels: dict | None = None
) -> pd.DataFrame:
    """RMSE (points) of one stage in every domain level: designs as rows, levels as columns."""
    rows = results[results["estimand"].str.startswith(f"{estimand}:")].copy()
    if rows.empty:
        raise UsageError(f"no domain results for {estimand!r}")
    rows["level"] = rows["estimand"].str.split("=", n=1).str[1]
    rows["design"] = _labels(rows["design"], labels)
    tab = rows.pivot(index="design", columns="level", values="rmse")
    tab = tab.loc[list(dict.fromkeys(rows["design"]))]
    return (100 * tab).round(2)
