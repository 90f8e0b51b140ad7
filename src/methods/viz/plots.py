"""Presentation helpers for the research notebooks (weighting, mode and non-response).

Only drawing lives here: every number a chart shows is computed elsewhere in :mod:`methods`
(``design``, ``weighting``, ``nonresponse``, ``fieldwork``) and handed in as a tidy table or a
result object. Each function draws on a new figure (or on the Axes given) and returns the
matplotlib Figure, so a notebook cell ends with ``plt.show()`` and prints no object repr.

Functions:

- :func:`plot_forest`: point estimates with confidence intervals, several series per row,
  with an optional true value per row (weighting steps against the census; mode-effect
  components against the simulated truth).
- :func:`plot_grouped_bars`: one bar per series within each category (response rates by group
  and mode; profile shares).
- :func:`profile_grid`: :func:`methods.weighting.plot_profile` for several variables on one
  figure.
- :func:`plot_profile_comparison`: frame vs respondent vs weighted shares from
  :func:`methods.nonresponse.rates.profile_comparison`.
- :func:`plot_partial_indicators`: unconditional and conditional partial R-indicators from
  :func:`methods.nonresponse.rates.r_indicator`, with bootstrap intervals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from methods.core.errors import UsageError
from methods.weighting import plot_profile

__all__ = [
    "plot_forest",
    "plot_grouped_bars",
    "plot_partial_indicators",
    "plot_profile_comparison",
    "profile_grid",
]

#: Normal quantile for two-sided 95% intervals drawn from a standard error.
Z975 = 1.959963984540054


def _new_axes(ax, figsize):
    if ax is not None:
        return ax.figure, ax
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    fig, ax = plt.subplots(figsize=figsize)
    return fig, ax


def _require(table: pd.DataFrame, cols: Sequence[str], where: str) -> None:
    missing = [c for c in cols if c not in table.columns]
    if missing:
        raise UsageError(
            f"{where}: column(s) {missing} not in the table; columns: {list(table.columns)}"
        )


def _in_order(values: pd.Series) -> list:
    """Distinct values in order of first appearance (categoricals keep their category order)."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if (values == c).any()]
    return list(pd.unique(values))


def plot_forest(
    table: pd.DataFrame,
    row: str,
    series: str | None = None,
    *,
    estimate: str = "estimate",
    low: str = "ci_low",
    high: str = "ci_high",
    truth: Mapping | pd.Series | None = None,
    truth_label: str = "truth",
    scale: float = 100.0,
    xlabel: str = "",
    title: str = "",
    ref_line: float | None = None,
    ax=None,
):
    """Forest plot: estimates with intervals, one group of points per row, one per series.

    Arguments:
        table: tidy table, one line per (row, series) with the estimate and interval bounds.
        row: column whose values label the rows (top to bottom, in order of appearance).
        series: column whose values are the series drawn within each row (colours), or None.
        estimate, low, high: columns of the point estimate and interval bounds.
        truth: optional ``{row value: true value}`` drawn as a black bar on each row.
        truth_label: legend label of the true values.
        scale: multiplies every value before drawing (100 turns proportions into percent).
        xlabel, title: axis label and title.
        ref_line: optional x value (before scaling) for a dotted vertical reference line.
        ax: a matplotlib Axes, or None for a new figure.

    Returns:
        The matplotlib Figure.

    Notes:
        Presentation only: intervals are drawn as given (no quantiles are computed here).
    """
    _require(table, [row, estimate, low, high] + ([series] if series else []), "plot_forest")
    rows = _in_order(table[row])
    groups = _in_order(table[series]) if series else [None]
    fig, ax = _new_axes(ax, (8, 0.55 * len(rows) * max(1, len(groups) / 2) + 1.6))
    step = 0.8 / max(len(groups), 1)
    ypos = {r: -i for i, r in enumerate(rows)}
    for j, g in enumerate(groups):
        sub = table if g is None else table[table[series] == g]
        y = np.array([ypos[r] for r in sub[row]], dtype=float)
        y += (len(groups) - 1) / 2 * step - j * step
        est = sub[estimate].to_numpy(dtype=float) * scale
        lo = sub[low].to_numpy(dtype=float) * scale
        hi = sub[high].to_numpy(dtype=float) * scale
        ok = np.isfinite(est)
        err = np.vstack([est - lo, hi - est])[:, ok]
        ax.errorbar(
            est[ok],
            y[ok],
            xerr=np.where(np.isfinite(err), err, 0.0),
            fmt="o",
            ms=4,
            capsize=2,
            lw=1,
            color=f"C{j}",
            label=None if g is None else str(g),
        )
    if truth is not None:
        shown = False
        for r in rows:
            if r in truth and np.isfinite(truth[r]):
                ax.plot(
                    [truth[r] * scale] * 2,
                    [ypos[r] - 0.45, ypos[r] + 0.45],
                    color="black",
                    lw=2,
                    label=None if shown else truth_label,
                )
                shown = True
    if ref_line is not None:
        ax.axvline(ref_line * scale, color="0.5", lw=1, ls=":")
    ax.set_yticks([ypos[r] for r in rows], [str(r) for r in rows])
    ax.set_ylim(-len(rows) + 0.5, 0.5)
    ax.set_xlabel(xlabel)
    if title:
        ax.set_title(title)
    if series or truth is not None:
        ax.legend(loc="best", fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def plot_grouped_bars(
    table: pd.DataFrame,
    *,
    errors: pd.DataFrame | None = None,
    scale: float = 1.0,
    ylabel: str = "",
    title: str = "",
    ax=None,
):
    """Grouped bar chart: one group per index value, one bar per column.

    Arguments:
        table: index = categories on the x axis, columns = series (bars within a group).
        errors: optional table of the same shape with half-widths of error bars.
        scale: multiplies values (and errors) before drawing.
        ylabel, title: axis label and title.
        ax: a matplotlib Axes, or None for a new figure.

    Returns:
        The matplotlib Figure. Missing values leave a gap.
    """
    if table.empty:
        raise UsageError("plot_grouped_bars: the table is empty")
    fig, ax = _new_axes(ax, (max(5, 0.9 * len(table) * max(1, table.shape[1] / 2) + 1.5), 3.8))
    x = np.arange(len(table))
    k = table.shape[1]
    width = 0.8 / k
    for j, col in enumerate(table.columns):
        vals = table[col].to_numpy(dtype=float) * scale
        err = None
        if errors is not None and col in errors.columns:
            err = np.nan_to_num(errors[col].reindex(table.index).to_numpy(dtype=float) * scale)
        ax.bar(
            x + (j - (k - 1) / 2) * width,
            np.nan_to_num(vals),
            width,
            yerr=err,
            capsize=2 if err is not None else 0,
            label=str(col),
            color=f"C{j}",
        )
    ax.set_xticks(x, [str(v) for v in table.index], rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    if k > 1:
        ax.legend(fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def _grid(n: int, ncols: int, panel=(4.2, 3.3)):
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    ncols = max(1, min(ncols, n))
    nrows = int(np.ceil(n / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False
    )
    flat = axes.ravel()
    for a in flat[n:]:
        a.set_visible(False)
    return fig, flat[:n]


def profile_grid(design, population, cols: Sequence[str], ncols: int = 2, title: str = ""):
    """Sample, weighted and population profiles of several variables on one figure.

    Arguments:
        design: a SurveyDesign (its rows are the sample; its weights the weighted profile).
        population: a DataFrame with one row per population unit and the columns ``cols``.
        cols: variables to profile, one panel each (:func:`methods.weighting.plot_profile`).
        ncols: panels per row.
        title: figure title.

    Returns:
        The matplotlib Figure.
    """

    fig, axes = _grid(len(cols), ncols)
    for a, c in zip(axes, cols):
        plot_profile(design, population[[c]], c, ax=a)
        a.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_profile_comparison(
    categories: pd.DataFrame,
    variables: Sequence[str] | None = None,
    ncols: int = 2,
    title: str = "",
):
    """Frame, respondent and weighted-respondent shares per category, one panel per variable.

    Arguments:
        categories: ``ProfileComparison.categories`` from
            :func:`methods.nonresponse.rates.profile_comparison` (columns variable, category,
            pct_frame, pct_respondents, pct_weighted, asmd_respondents, asmd_weighted).
        variables: variables to draw (default: all, in table order).
        ncols: panels per row.
        title: figure title.

    Returns:
        The matplotlib Figure. Each panel's title gives the largest absolute standardised
        mean difference (ASMD, Austin 2009) before and after weighting.
    """
    need = ["variable", "category", "pct_frame", "pct_respondents", "pct_weighted"]
    _require(categories, need, "plot_profile_comparison")
    variables = list(variables) if variables is not None else _in_order(categories["variable"])
    fig, axes = _grid(len(variables), ncols)
    names = {"pct_frame": "sample (frame)", "pct_respondents": "respondents",
             "pct_weighted": "weighted respondents"}  # fmt: skip
    for a, v in zip(axes, variables):
        sub = categories[categories["variable"] == v].set_index("category")
        plot_grouped_bars(sub[list(names)].rename(columns=names), ylabel="percent", ax=a)
        t = f"{v}: max ASMD {sub['asmd_respondents'].max():.3f}"
        if sub["pct_weighted"].notna().any():
            t += f" -> {sub['asmd_weighted'].max():.3f} weighted"
        a.set_title(t, fontsize=9)
        a.legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def plot_partial_indicators(result, title: str = ""):
    """Unconditional and conditional partial R-indicators, with 95% intervals.

    Arguments:
        result: an ``RIndicatorResult`` from :func:`methods.nonresponse.rates.r_indicator`.
        title: figure title.

    Returns:
        The matplotlib Figure: left panel, unconditional partials (variable level unsigned,
        in grey; category level signed: below zero = under-represented among respondents);
        right panel, conditional partials (unsigned at both levels). Intervals are the
        estimate +- 1.96 bootstrap SE; values without an SE are drawn without an interval.

    Notes:
        Definitions: Schouten, Cobben and Bethlehem (2009); Schouten, Shlomo and Skinner
        (2011); RISQ manual 2.1 (see :func:`methods.nonresponse.rates.r_indicator`).
    """
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    panels = (
        ("partial_unconditional", "unconditional P_u"),
        ("partial_conditional", "conditional P_c"),
    )
    tables = [getattr(result, name).reset_index(drop=True) for name, _ in panels]
    _require(tables[0], ["variable", "level", "category", "value", "se"], "plot_partial_indicators")
    first = tables[0]
    is_var = (first["level"] == "variable").to_numpy()
    labels = np.where(
        is_var, first["variable"].astype(str) + " (variable)", "   " + first["category"].astype(str)
    )
    variables = list(pd.unique(first["variable"]))
    colour = [
        "0.55" if v else f"C{variables.index(name) % 10}"
        for v, name in zip(is_var, first["variable"])
    ]
    y = -np.arange(len(first), dtype=float)
    fig, axes = plt.subplots(1, 2, figsize=(11, 0.24 * len(first) + 1.6), sharey=True)
    for a, t, (_, label) in zip(axes, tables, panels):
        val = t["value"].to_numpy(dtype=float)
        se = t["se"].to_numpy(dtype=float)
        a.barh(y, val, color=colour, height=0.7)
        ok = np.isfinite(se) & np.isfinite(val)
        a.errorbar(val[ok], y[ok], xerr=Z975 * se[ok], fmt="none", color="black", lw=1, capsize=2)
        a.axvline(0, color="0.4", lw=0.8)
        a.set_title(label, fontsize=10)
        a.set_xlabel("partial R-indicator")
        a.spines[["top", "right"]].set_visible(False)
    axes[0].set_yticks(y, labels, fontsize=8)
    axes[0].set_ylim(y[-1] - 0.6, 0.6)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig
