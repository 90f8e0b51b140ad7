"""Derived variables shared by the layers: satisfaction indicator, age bands, weighting profile.

Codes follow docs/data_contract.md sections 1 and 2 (:mod:`methods.core.schema`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.core.schema import SATISFIED_CODES, VALID_ANSWER_CODES

#: Raking variables and the order in which sparse categories are merged (the last level of
#: each list absorbs a sparse level first: unknown ages join the largest band, etc.).
AGE_BANDS = ("16-24", "25-34", "35-54", "55-74", "75+")
MINORITY = ("mixed", "asian", "black", "other")


def age_group(age: pd.Series | np.ndarray) -> np.ndarray:
    """Age bands used for response modelling and weighting: 16-24, 25-34, 35-54, 55-74, 75+."""
    a = pd.to_numeric(pd.Series(age), errors="coerce").to_numpy(dtype=float)
    bands = np.array(
        ["unknown", "16-24", "25-34", "35-54", "55-74", "75+", "under 16"], dtype=object
    )
    idx = np.select(
        [np.isnan(a), a < 16, a < 25, a < 35, a < 55, a < 75],
        [0, 6, 1, 2, 3, 4],
        default=5,
    )
    return bands[idx]


def satisfied(answers: pd.Series | np.ndarray) -> np.ndarray:
    """Satisfied indicator from stage answers on the 1-8 scale.

    Returns 1.0 for answers 1-3 (completely, very or fairly satisfied), 0.0 for 4-7, and NaN
    for 8 (don't know / not applicable) and blanks, which are excluded from the base
    (docs/data_contract.md section 2; Home Office User Satisfaction Survey definition).
    """
    a = pd.to_numeric(pd.Series(answers), errors="coerce").to_numpy(dtype=float)
    out = np.full(a.shape, np.nan)
    valid = np.isin(a, VALID_ANSWER_CODES)
    out[valid] = np.isin(a[valid], SATISFIED_CODES).astype(float)
    return out


def profile_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Add the weighting variables: ``age_band``, ``gender_w``, ``ethnic_group``.

    ``age_band``: 16-24 ... 75+ (unknown or under-16 ages kept as "unknown");
    ``gender_w``: female / male / other-or-unknown; ``ethnic_group``: white / minority ethnic
    (mixed, Asian, Black, other) / unknown: the grouping of the former statutory indicator of
    the gap between White and minority-ethnic victims.
    """
    out = df.copy()
    band = age_group(out["age"])
    out["age_band"] = np.where(np.isin(band, AGE_BANDS), band, "unknown")
    g = out["gender"].astype(str).str.lower()
    out["gender_w"] = np.where(g.isin(["female", "male"]), g, "other/unknown")
    e = out["ethnicity"].astype(str).str.lower()
    out["ethnic_group"] = np.select(
        [e == "white", e.isin(MINORITY)], ["white", "minority ethnic"], default="unknown"
    )
    return out
