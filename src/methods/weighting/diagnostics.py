"""Weight diagnostics and plots for the notebooks.

:func:`diagnostics` summarises the weights of a design and what its weighting steps did;
:func:`plot_weight_distribution` and :func:`plot_profile` draw the two pictures a weighting
notebook needs. All are re-exported by :mod:`methods.weighting`.

Sources:
    Kish, L. (1965). Survey Sampling, section 11.7: effective sample size
    ``n_eff = (sum w)^2 / sum w^2`` and the design effect due to weighting
    ``deff_w = n sum w^2 / (sum w)^2 = 1 + CV_w^2`` (CV with divisor n).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from methods.core.errors import UsageError
from methods.weighting.core import factorize
from methods.weighting.variance import WeightingStep

__all__ = ["WeightingDiagnostics", "diagnostics", "plot_profile", "plot_weight_distribution"]

_QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)


def _steps(design) -> list[WeightingStep]:
    return [s for s in design.steps if isinstance(s, WeightingStep)]


def weight_summary(w: np.ndarray) -> dict[str, float]:
    """Kish effective sample size, design effect and distribution of positive weights.

    Returns a dict with n (positive weights), sum, n_eff, deff_w, cv, min, the quantiles
    1, 5, 25, 50, 75, 95, 99 % and max, and ``max/min``.
    """
    w = np.asarray(w, dtype=np.float64)
    v = w[w > 0]
    n = v.size
    if n == 0:
        raise UsageError("diagnostics: no positive weights")
    s, s2 = v.sum(), np.square(v).sum()
    out = {"n": float(n), "sum": s, "n_eff": s * s / s2, "deff_w": n * s2 / (s * s)}
    out["cv"] = float(np.sqrt(max(out["deff_w"] - 1.0, 0.0)))
    out["min"] = float(v.min())
    for q, val in zip(_QUANTILES, np.quantile(v, _QUANTILES)):
        out[f"p{int(round(q * 100)):02d}"] = float(val)
    out["max"] = float(v.max())
    out["max/min"] = out["max"] / out["min"]
    return out


def _quantiles(x: np.ndarray) -> dict[str, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return {}
    out = {"min": float(x.min())}
    for q, val in zip(_QUANTILES, np.quantile(x, _QUANTILES)):
        out[f"p{int(round(q * 100)):02d}"] = float(val)
    out["max"] = float(x.max())
    return out


def _target_totals(data: pd.DataFrame, target, w: np.ndarray) -> list[tuple]:
    """Rows (variable, level, target, weighted total) for one recorded target."""
    kind, name, levels, tot = target
    if kind == "cat":
        codes, lv = factorize(data[name], name)
        sums = np.bincount(codes, weights=w, minlength=len(lv))
        pos = {v: i for i, v in enumerate(lv.tolist())}
        return [
            (name, lev, t, sums[pos[lev]] if lev in pos else 0.0) for lev, t in zip(levels, tot)
        ]
    if kind == "cells":
        cols = list(name)
        keys = list(data[cols].itertuples(index=False, name=None))
        if len(cols) == 1:
            keys = [k[0] for k in keys]
        sums = pd.Series(w).groupby(pd.Series(keys, dtype=object)).sum().to_dict()
        return [("+".join(cols), lev, t, sums.get(lev, 0.0)) for lev, t in zip(levels, tot)]
    if kind == "num":
        return [(name, "(total)", tot, float(data[name].to_numpy(dtype=np.float64) @ w))]
    return [("(population size)", "", tot, float(w.sum()))]


@dataclass(frozen=True)
class WeightingDiagnostics:
    """Result of :func:`diagnostics`.

    Attributes:
        summary: one row per weight set (``"input"``: weights entering the first step,
            ``"final"``), columns n, sum, n_eff, deff_w, cv, min, quantiles, max, max/min.
        factors: distribution of the adjustment factors, overall (final / input) and for
            each step (``w_out / w_in``), one row each.
        margins: every calibration target with its total before its step (the step's input
            weights), right after its step, and with the final weights (``after``), and the
            relative gaps ``(total - target) / target`` of each.
        steps: one row per weighting step: kind, iterations, final gap, notes.
    """

    summary: pd.DataFrame
    factors: pd.DataFrame
    margins: pd.DataFrame
    steps: pd.DataFrame

    def _repr_html_(self) -> str:  # pragma: no cover - notebook display
        return "".join(
            f"<h4>{k}</h4>{getattr(self, k).to_html()}" for k in ("summary", "factors", "margins")
        )


def diagnostics(design) -> WeightingDiagnostics:
    """Diagnose a design's weights and the weighting steps that produced them.

    Arguments:
        design: a SurveyDesign (weighted or not).

    Returns:
        :class:`WeightingDiagnostics` with Kish's effective sample size and design effect due
        to weighting, the CV of the weights, min / quantiles / max of weights and adjustment
        factors, and each calibration target's gap before and after weighting.

    Notes:
        Kish (1965): ``n_eff = (sum w)^2 / sum w^2``, ``deff_w = n sum w^2 / (sum w)^2 =
        1 + CV^2``, over positive weights. Gaps are ``(total - target) / target``.
    """
    w = np.asarray(design.weights, dtype=np.float64)
    steps = _steps(design)
    rows = {}
    first = next((s for s in steps if s.kind != "nonresponse"), None)
    nr = next((s for s in steps if s.kind == "nonresponse"), None)
    base = nr.w_in if nr is not None else (first.w_in if first is not None else None)
    if base is not None:
        rows["input"] = weight_summary(base)
    rows["final"] = weight_summary(w)
    summary = pd.DataFrame.from_dict(rows, orient="index")
    frows = {}
    if base is not None:
        with np.errstate(divide="ignore", invalid="ignore"):
            frows["overall"] = _quantiles(np.where(base > 0, w / base, np.nan))
    for i, s in enumerate(steps, 1):
        frows[f"{i}: {s.kind}"] = _quantiles(s.factors)
    factors = pd.DataFrame.from_dict(frows, orient="index")
    mrows = []
    for i, s in enumerate(steps, 1):
        for target in s.info.get("targets", []):
            before = _target_totals(design.frame, target, s.w_in)
            at_step = _target_totals(design.frame, target, s.w_out)
            after = _target_totals(design.frame, target, w)
            for (var, lev, tot, b), (_, _, _, m), (_, _, _, a) in zip(before, at_step, after):
                mrows.append(
                    {
                        "step": f"{i}: {s.kind}",
                        "variable": var,
                        "level": lev,
                        "target": tot,
                        "before": b,
                        "after_step": m,
                        "after": a,
                        "gap_before": (b - tot) / tot if tot else np.nan,
                        "gap_after_step": (m - tot) / tot if tot else np.nan,
                        "gap_after": (a - tot) / tot if tot else np.nan,
                    }
                )
    margins = pd.DataFrame(
        mrows,
        columns=[
            "step",
            "variable",
            "level",
            "target",
            "before",
            "after_step",
            "after",
            "gap_before",
            "gap_after_step",
            "gap_after",
        ],
    )
    srows = []
    for i, s in enumerate(steps, 1):
        note = ""
        if s.kind == "nonresponse":
            info = s.info
            note = (
                f"{info['method']}: {info['n_respondents']} of {info['n_sampled']} "
                f"responded; {len(info['merged'])} merge(s)"
            )
        srows.append(
            {
                "step": f"{i}: {s.kind}",
                "iterations": s.info.get("iterations"),
                "gap": s.info.get("gap"),
                "distance": s.info.get("distance"),
                "bounds": s.info.get("bounds"),
                "note": note,
            }
        )
    steps_df = pd.DataFrame(
        srows, columns=["step", "iterations", "gap", "distance", "bounds", "note"]
    )
    return WeightingDiagnostics(summary, factors, margins, steps_df)


# --------------------------------------------------------------------------- plots
def _axes(ax, figsize=(7, 4)):
    if ax is None:
        import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

        fig, ax = plt.subplots(figsize=figsize)
        return fig, ax
    return ax.figure, ax


def plot_weight_distribution(design, ax=None, bins: int = 40):
    """Histogram of the final weights, over the weights entering the first step.

    Arguments:
        design: a SurveyDesign.
        ax: a matplotlib Axes to draw on, or ``None`` for a new figure.
        bins: histogram bins (shared by both weight sets).

    Returns:
        The matplotlib Figure. The title gives Kish's n_eff and deff_w (Kish 1965).
    """
    fig, ax = _axes(ax)
    w = np.asarray(design.weights, dtype=np.float64)
    w = w[w > 0]
    steps = _steps(design)
    base = steps[0].w_in if steps else None
    both = w if base is None else np.concatenate([w, base[base > 0]])
    edges = np.histogram_bin_edges(both, bins=bins)
    if base is not None:
        ax.hist(base[base > 0], bins=edges, alpha=0.5, label="before weighting", color="0.6")
    ax.hist(w, bins=edges, alpha=0.7, label="final", color="C0")
    s = weight_summary(w)
    ax.axvline(s["p50"], color="C1", linestyle="--", label=f"median {s['p50']:.3g}")
    ax.set_xlabel("weight")
    ax.set_ylabel("respondents")
    ax.set_title(
        f"Weights: n = {int(s['n'])}, n_eff = {s['n_eff']:.1f}, deff_w = {s['deff_w']:.3f}"
    )
    ax.legend()
    return fig


def _shares(values: pd.Series, w: np.ndarray | None) -> pd.Series:
    s = pd.Series(np.ones(len(values)) if w is None else w, index=values.index)
    tot = s.groupby(values.astype(object)).sum()
    return tot / tot.sum()


def plot_profile(sample, population, col: str, ax=None):
    """Bar chart of a variable's profile: sample, weighted sample, population (percent).

    Arguments:
        sample: a SurveyDesign (unweighted and weighted bars) or a DataFrame (unweighted).
        population: ``{level: total}``, a Series indexed by level, or a DataFrame with column
            ``col`` (one row per population unit, or with one more column of totals).
        col: the variable to profile.
        ax: a matplotlib Axes, or ``None`` for a new figure.

    Returns:
        The matplotlib Figure.
    """
    fig, ax = _axes(ax)
    data = sample.frame if hasattr(sample, "frame") else sample
    if col not in data.columns:
        raise UsageError(f"plot_profile: column {col!r} not in the sample")
    series = {"sample": _shares(data[col], None)}
    if hasattr(sample, "_w"):
        series["weighted"] = _shares(data[col], np.asarray(sample.weights, dtype=np.float64))
    if isinstance(population, pd.DataFrame):
        if col not in population.columns:
            raise UsageError(f"plot_profile: column {col!r} not in the population")
        other = [c for c in population.columns if c != col]
        if len(other) == 1 and pd.api.types.is_numeric_dtype(population[other[0]]):
            pop = population.groupby(population[col].astype(object))[other[0]].sum()
        else:
            pop = population[col].astype(object).value_counts()
    else:
        pop = pd.Series(dict(population), dtype=float)
    series["population"] = pop / pop.sum()
    table = pd.DataFrame(series).fillna(0.0) * 100
    x = np.arange(len(table))
    width = 0.8 / table.shape[1]
    for j, name in enumerate(table.columns):
        ax.bar(x + (j - (table.shape[1] - 1) / 2) * width, table[name], width, label=name)
    ax.set_xticks(x, [str(v) for v in table.index], rotation=30, ha="right")
    ax.set_ylabel("percent")
    ax.set_title(f"Profile by {col}")
    ax.legend()
    fig.tight_layout()
    return fig
