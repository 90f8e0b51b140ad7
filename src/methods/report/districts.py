"""Districts in the monthly report: direct survey estimates beside Fay-Herriot model estimates.

A district with a handful of respondents a month has a direct estimate too noisy to publish.
The report fits an area-level Fay-Herriot model (:mod:`methods.smallarea`, checked against R's
``sae``: ``eblupFH`` / ``mseFH``) to the districts' direct estimates over the report's twelve
months and their design variances (domains of the whole weighted design, as R's ``svyby``),
with covariates from the sampling frame (the district's eligible victims: offence mix and age
mix), benchmarks the model estimates to the force's direct figure, and publishes per district
the direct estimate from ``publish_base`` respondents up and the model estimate below
(docs/small_area.md, "What is published when").

Disclosure control still applies to the direct column: a direct estimate that
:func:`methods.report.tables.domain_table` suppresses is blank here too (its model estimate,
smoothed towards similar districts, may be shown).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd

from methods.report.disclosure import MIN_BASE_PERCENT
from methods.smallarea import district_table
from methods.smallarea.fayherriot import SmallAreaInputError

__all__ = ["PUBLISH_BASE", "district_covariates", "district_estimates"]

#: Respondents from which a district's direct estimate is the one published.
PUBLISH_BASE = 100


def district_covariates(eligible: pd.DataFrame, districts) -> pd.DataFrame:
    """Area covariates from the frame: each district's share of eligible victims in
    anti-social behaviour cases and aged under 35 (``age`` below 35).

    Every district in ``districts`` gets a row (no eligible victims: the force's shares).
    """
    e = eligible
    d = e["district"].astype(str).to_numpy()
    asb = (e["offence_group"].astype(str) == "asb").to_numpy(dtype=float)
    age = pd.to_numeric(e["age"], errors="coerce").to_numpy(dtype=float)
    young = np.where(np.isfinite(age), (age < 35).astype(float), np.nan)
    frame = pd.DataFrame({"district": d, "share_asb": asb, "share_under_35": young})
    cov = frame.groupby("district").mean()
    cov = cov.reindex([str(x) for x in districts])
    cov = cov.fillna(frame[["share_asb", "share_under_35"]].mean())
    return cov.reset_index(names="district")


def district_estimates(
    design,
    eligible: pd.DataFrame,
    domains: pd.DataFrame,
    stage: str = "whole_experience",
    publish_base: int = PUBLISH_BASE,
    min_base: int = MIN_BASE_PERCENT,
) -> pd.DataFrame:
    """Direct and model estimates per district, which one is published and why.

    Arguments:
        design: the weighted design of the report's twelve months (``sat_<stage>``, ``district``).
        eligible: the eligible victims of the same months (``district``, ``offence_group``, ``age``).
        domains: :func:`methods.report.tables.domain_table` of the same design (its suppression
            of direct estimates is kept).
        publish_base: respondents from which the direct estimate is published.

    Returns:
        ``district, n, direct, direct_lo, direct_hi, model, model_lo, model_hi, published,
        reason`` (``published``: direct, model or synthetic; proportions in [0, 1]).
    """
    col = f"sat_{stage}"
    data = design.data
    valid = np.isfinite(data[col].to_numpy(dtype=float))
    n = pd.Series(valid.astype(int)).groupby(data["district"].astype(str).to_numpy()).sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one-respondent districts: handled by the model
        est = design.by("district").proportion(col)
    est.index = est.index.astype(str)
    direct = pd.DataFrame(
        {
            "district": n.index,
            "n": n.to_numpy(),
            "estimate": est["estimate"].reindex(n.index).to_numpy(dtype=float),
            "var": est["se"].reindex(n.index).to_numpy(dtype=float) ** 2,
        }
    )
    force = float(design.proportion(col)["estimate"].iloc[0])
    cov = district_covariates(eligible, n.index)
    # A covariate that does not vary over the districts (e.g. no anti-social behaviour survey)
    # carries no information: leave it out; with too few districts for any covariate, fit the
    # intercept-only model; with too few for that, publish the direct estimates alone.
    varying = [c for c in cov.columns[1:] if np.nanstd(cov[c].to_numpy(dtype=float)) > 1e-9]
    out = None
    for cols in (varying, []):
        try:
            out = district_table(
                direct, cov[["district", *cols]], force_estimate=force, min_base=publish_base
            )
            break
        except SmallAreaInputError:
            continue
    if out is None:
        out = direct[["district", "n"]].assign(
            direct=direct["estimate"],
            direct_lo=est["ci_low"].reindex(n.index).to_numpy(dtype=float),
            direct_hi=est["ci_high"].reindex(n.index).to_numpy(dtype=float),
            model=np.nan, model_lo=np.nan, model_hi=np.nan, published="direct",
            reason="too few districts with respondents to fit a model",
        )  # fmt: skip
    hidden = domains.set_index(domains["district"].astype(str))["suppressed"].astype(bool)
    mask = hidden.reindex(out["district"]).fillna(False).to_numpy(dtype=bool)
    out.loc[mask | (out["n"].to_numpy() < min_base), ["direct", "direct_lo", "direct_hi"]] = np.nan
    return out
