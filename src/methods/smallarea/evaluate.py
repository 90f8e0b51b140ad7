"""Design-based evaluation of direct and Fay-Herriot estimates over repeated samples.

A synthetic force of districts with a known true satisfaction rate is sampled again and again
(the truth stays fixed; only the sample changes, as in a design-based evaluation; Rao & Molina
2015, section 6.2 and ch. 7 on evaluating small-area estimators). In every replicate each
district's direct estimate is its sample proportion, with the design variance of a proportion
(an Agresti-Coull style adjusted p, ``(k + 0.5) / (n + 1)``, so that a district where all or
none are satisfied does not get a zero variance), and a Fay-Herriot REML model is fitted on the
district covariates. Per district we then measure

    relative bias  = mean(estimate - truth) / truth
    relative RMSE  = sqrt(mean((estimate - truth)^2)) / truth
    coverage       = share of replicates whose 95% interval (estimate +/- 1.96 SE, with SE the
                     design SE for direct and sqrt(Prasad-Rao MSE) for the EBLUP) holds the truth

and average them within district size bands (the band table gives the mean of the absolute
relative biases, since signed biases of different districts cancel, and the lowest coverage). The true rates come from a logistic model in the
covariates plus a normal area effect, so the linear Fay-Herriot model is (mildly) misspecified,
as it would be in practice.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.smallarea.fayherriot import fit_fay_herriot

__all__ = ["SIZE_BANDS", "district_population", "evaluate"]

SIZE_BANDS = ((5, 19), (20, 49), (50, 99), (100, 200))
Z95 = 1.959963984540054


def district_population(
    n_districts: int = 40, *, n_min: int = 5, n_max: int = 200, seed: int = 20261207
) -> pd.DataFrame:
    """Districts with respondents per month (log-spaced n_min..n_max), covariates and truth."""
    rng = np.random.default_rng(seed)
    n = np.round(np.exp(np.linspace(np.log(n_min), np.log(n_max), n_districts))).astype(int)
    deprivation = rng.uniform(-1, 1, n_districts)
    violent = rng.uniform(0.1, 0.5, n_districts)
    eta = 1.4 - 0.5 * deprivation - 1.5 * violent + rng.normal(0, 0.25, n_districts)
    return pd.DataFrame(
        {
            "district": [f"D{i + 1:02d}" for i in range(n_districts)],
            "n": n,
            "deprivation": deprivation,
            "violent": violent,
            "truth": 1 / (1 + np.exp(-eta)),
        }
    )


def evaluate(
    pop: pd.DataFrame | None = None, *, replicates: int = 1000, seed: int = 1
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run the repeated-sampling study; return (per-district table, per-size-band table)."""
    pop = district_population() if pop is None else pop
    rng = np.random.default_rng(seed)
    n = pop["n"].to_numpy()
    truth = pop["truth"].to_numpy()
    X = np.column_stack([np.ones(len(pop)), pop["deprivation"], pop["violent"]])
    k = rng.binomial(n, truth, size=(replicates, len(pop)))
    direct = k / n
    p_adj = (k + 0.5) / (n + 1)
    var = p_adj * (1 - p_adj) / n
    eblup = np.empty_like(direct)
    mse = np.empty_like(direct)
    for r in range(replicates):
        fit = fit_fay_herriot(direct[r], var[r], X, method="REML")
        eblup[r], mse[r] = fit.eblup, fit.mse
    rows = {"district": pop["district"], "n": n, "truth": truth}
    for name, est, se in (("direct", direct, np.sqrt(var)), ("eblup", eblup, np.sqrt(mse))):
        err = est - truth
        rows[f"{name}_rel_bias"] = err.mean(axis=0) / truth
        rows[f"{name}_rel_rmse"] = np.sqrt((err**2).mean(axis=0)) / truth
        rows[f"{name}_coverage"] = (np.abs(err) <= Z95 * se).mean(axis=0)
        rows[f"{name}_ci_width"] = (2 * Z95 * se).mean(axis=0)
    per = pd.DataFrame(rows)
    band = pd.cut(
        per["n"],
        bins=[lo - 0.5 for lo, _ in SIZE_BANDS] + [SIZE_BANDS[-1][1] + 0.5],
        labels=[f"{lo}-{hi}" for lo, hi in SIZE_BANDS],
    )
    cols = [c for c in per.columns if c.startswith(("direct_", "eblup_"))]
    summary = per[cols].copy()
    for name in ("direct", "eblup"):
        # signed biases of different districts cancel in a band mean: average their size
        summary[f"{name}_rel_bias"] = summary[f"{name}_rel_bias"].abs()
        summary[f"{name}_coverage_min"] = summary[f"{name}_coverage"]
    g = summary.groupby(band, observed=True)
    bands = g.mean()
    for name in ("direct", "eblup"):
        bands[f"{name}_coverage_min"] = g[f"{name}_coverage_min"].min()
    bands = bands.rename(columns=lambda c: c.replace("_rel_bias", "_abs_rel_bias"))
    bands.insert(0, "districts", g.size())
    return per, bands.reset_index(names="respondents")
