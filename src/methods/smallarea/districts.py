"""Per-district table: direct and model estimates side by side, and which one is published.

The publication rule is the one in docs/small_area.md ("What is published when"): the direct
estimate from ``min_base`` respondents up; below that the benchmarked EBLUP; with 0 or 1
respondent the synthetic estimate. Intervals are estimate +/- 1.96 SE (design SE for direct,
sqrt of the Prasad-Rao MSE for the EBLUP, Prasad & Rao 1990; the benchmarking adjustment's own
error is not added), clipped to [0, 1].
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from methods.smallarea.fayherriot import (
    SmallAreaExclusionWarning,
    SmallAreaInputError,
    benchmark,
    fit_fay_herriot,
    synthetic_estimates,
)

__all__ = ["district_table"]

Z95 = 1.959963984540054


def district_table(
    direct_df: pd.DataFrame,
    covariates_df: pd.DataFrame,
    *,
    force_estimate: float,
    min_base: int = 100,
    weight: str = "n",
    method: str = "REML",
) -> pd.DataFrame:
    """One row per district of ``covariates_df``: direct, EBLUP, published figure and why.

    Arguments:
        direct_df: columns district, n (respondents), estimate, var (design variance), and the
            ``weight`` column (the district's share of the force; default n).
        covariates_df: district and numeric covariate columns (an intercept is added); every
            district to report, including those without respondents.
        force_estimate: the force's direct estimate; the weighted EBLUPs are ratio-benchmarked
            to it (see :func:`methods.smallarea.benchmark`).
    """
    for col in ("district", "n", "estimate", "var", weight):
        if col not in direct_df.columns:
            raise SmallAreaInputError(f"direct_df has no column '{col}'")
    if "district" not in covariates_df.columns:
        raise SmallAreaInputError("covariates_df has no column 'district'")
    d = covariates_df.merge(direct_df, on="district", how="left", validate="one_to_one")
    cov_cols = [c for c in covariates_df.columns if c != "district"]
    X = np.column_stack([np.ones(len(d)), d[cov_cols].to_numpy(dtype=float)])
    n = d["n"].fillna(0).to_numpy(dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallAreaExclusionWarning)
        fit = fit_fay_herriot(
            d["estimate"], d["var"], X, method=method, area=d["district"].to_numpy(), n=n
        )
    fitted = pd.DataFrame({"district": fit.area, "eblup_raw": fit.eblup, "mse": fit.mse})
    w = d.set_index("district").loc[fit.area, weight].to_numpy(dtype=float)
    fitted["eblup"] = benchmark(fit.eblup, w / w.sum(), force_estimate, method="ratio")
    out = d[["district"]].assign(n=n.astype(int), direct=d["estimate"])
    se = np.sqrt(d["var"].where(d["var"] > 0))
    out["direct_lo"] = (out["direct"] - Z95 * se).clip(0, 1)
    out["direct_hi"] = (out["direct"] + Z95 * se).clip(0, 1)
    out = out.merge(fitted, on="district", how="left")
    rest = out["eblup"].isna().to_numpy()
    if rest.any():
        syn = synthetic_estimates(fit, X[rest], area=out.loc[rest, "district"].to_numpy())
        out.loc[rest, "eblup"] = syn["synthetic"].to_numpy()
        out.loc[rest, "mse"] = syn["mse"].to_numpy()
    rmse = np.sqrt(out["mse"])
    out["model_lo"] = (out["eblup"] - Z95 * rmse).clip(0, 1)
    out["model_hi"] = (out["eblup"] + Z95 * rmse).clip(0, 1)
    why = dict(zip(fit.excluded["area"], fit.excluded["reason"], strict=True))
    published, reason = [], []
    for row in out.itertuples(index=False):
        if row.n >= min_base and row.district not in why:
            published.append("direct")
            reason.append(
                f"{row.n} respondents (at least {min_base}): the survey figure is precise enough"
            )
        elif row.district in why and not np.isnan(row.eblup):
            published.append("synthetic")
            reason.append(f"{why[row.district]}; modelled from district characteristics only")
        else:
            published.append("model")
            reason.append(
                f"only {row.n} respondents (fewer than {min_base}): the model-based estimate "
                "borrows strength from similar districts"
            )
    out["published"] = published
    out["reason"] = reason
    return out.drop(columns=["eblup_raw", "mse"]).rename(columns={"eblup": "model"})
