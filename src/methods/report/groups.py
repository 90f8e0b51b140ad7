"""Satisfaction by group of victims, and the largest gap between groups of each variable.

A board's second question after "how satisfied are victims" is "which victims are less
satisfied". For each grouping variable (age band, gender, ethnic group, offence group) the
report gives every group's weighted estimate (domains of the whole design, as R's ``svyby``)
and the gap between the most and the least satisfied group with a design-based test that
allows for both groups coming from one sample (:meth:`SurveyDesign.compare`, the difference of
two domain means with their joint influence functions; Lumley 2010, section 2.3).

Groups below the minimum base are suppressed and never used for a gap; when only one group of a
variable is suppressed, the next smallest is suppressed too (:func:`methods.report.tables.domain_table`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from methods.report.disclosure import MIN_BASE_COUNT, MIN_BASE_PERCENT
from methods.report.tables import domain_table

__all__ = ["GROUP_VARIABLES", "group_gaps", "group_table"]

#: The victim profile variables the report breaks satisfaction down by.
GROUP_VARIABLES: tuple[str, ...] = ("age_band", "gender_w", "ethnic_group", "offence_group")

_UNKNOWN = ("unknown", "other/unknown")


def group_table(
    design,
    variables: Sequence[str] = GROUP_VARIABLES,
    stage: str = "whole_experience",
    min_base: int = MIN_BASE_PERCENT,
    min_count: int = MIN_BASE_COUNT,
) -> pd.DataFrame:
    """Percent satisfied at ``stage`` by each group of each variable.

    Returns:
        ``variable, group, estimate, ci_low, ci_high, n, n_suppressed, suppressed`` (tidy; the
        suppression rules of :func:`methods.report.tables.domain_table`, applied within each
        variable).
    """
    parts = []
    for var in variables:
        if var not in design.data:
            raise KeyError(f"group variable {var!r} is not in the weighted data")
        t = domain_table(design, var, stage=stage, min_base=min_base, min_count=min_count)
        parts.append(t.rename(columns={var: "group"}).assign(variable=var))
    out = pd.concat(parts, ignore_index=True)
    cols = ["variable", "group", "estimate", "ci_low", "ci_high", "n", "n_suppressed", "suppressed"]
    return out[[c for c in cols if c in out]]


def group_gaps(
    design,
    groups: pd.DataFrame,
    stage: str = "whole_experience",
    alpha: float = 0.05,
) -> pd.DataFrame:
    """For each variable, the most against the least satisfied published group.

    Arguments:
        design: the weighted design the ``groups`` table came from.
        groups: :func:`group_table` output (suppressed groups and "not known" groups are left
            out of the comparison).

    Returns:
        ``variable, high, low, estimate_high, estimate_low, gap, ci_low, ci_high, p_value,
        significant``, sorted by the size of the gap (largest first). A variable with fewer
        than two published groups has no row.
    """
    col = f"sat_{stage}"
    rows = []
    for var, t in groups.groupby("variable", sort=False):
        ok = t[~t["suppressed"].to_numpy(bool) & ~t["group"].isin(_UNKNOWN)]
        ok = ok[np.isfinite(ok["estimate"].to_numpy(float))]
        if len(ok) < 2:
            continue
        hi = ok.loc[ok["estimate"].idxmax()]
        lo = ok.loc[ok["estimate"].idxmin()]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            c = design.compare(col, by=var, a=hi["group"], b=lo["group"]).iloc[0]
        rows.append(
            {
                "variable": var,
                "high": hi["group"],
                "low": lo["group"],
                "estimate_high": float(c["estimate_a"]),
                "estimate_low": float(c["estimate_b"]),
                "gap": float(c["estimate"]),
                "ci_low": float(c["ci_low"]),
                "ci_high": float(c["ci_high"]),
                "p_value": float(c["p_value"]),
                "significant": bool(c["p_value"] < alpha),
            }
        )
    cols = ["variable", "high", "low", "estimate_high", "estimate_low", "gap", "ci_low",
            "ci_high", "p_value", "significant"]  # fmt: skip
    out = pd.DataFrame(rows, columns=cols)
    return out.sort_values("gap", ascending=False, kind="stable").reset_index(drop=True)
