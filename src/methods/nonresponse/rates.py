"""Non-response analysis: AAPOR outcome rates, R-indicators, profiles and mode effects.

One public function per method (the rest live in sibling modules and are re-exported here):

- :func:`outcome_rates` -- AAPOR response, co-operation, refusal and contact rates (this module);
- :func:`r_indicator` and :func:`profile_comparison` -- representativeness of the respondents
  (:mod:`methods.nonresponse.rindicator`);
- :func:`mode_effects` -- telephone-versus-paper difference split into selection and measurement
  (:mod:`methods.nonresponse.mode_effects`).

All of them work on plain DataFrames / arrays; none needs the store or ``SurveyDesign``.
"""

from __future__ import annotations

import re
import warnings

import numpy as np
import pandas as pd

from methods.core.errors import UsageError, ValidationError
from methods.nonresponse.common import NonresponseWarning, resolve
from methods.nonresponse.mode_effects import mode_effects
from methods.nonresponse.rindicator import (
    ProfileComparison,
    RIndicatorResult,
    profile_comparison,
    r_indicator,
)

__all__ = [
    "AAPOR_CATEGORIES",
    "NonresponseWarning",
    "ProfileComparison",
    "RIndicatorResult",
    "classify_dispositions",
    "mode_effects",
    "outcome_rates",
    "profile_comparison",
    "r_indicator",
]

#: The eight AAPOR outcome groups, in the order of the output columns.
AAPOR_CATEGORIES: tuple[str, ...] = ("I", "P", "R", "NC", "O", "UH", "UO", "NE")

RATE_COLUMNS: tuple[str, ...] = (
    *(f"RR{i}" for i in range(1, 7)),
    *(f"COOP{i}" for i in range(1, 5)),
    *(f"REF{i}" for i in range(1, 4)),
    *(f"CON{i}" for i in range(1, 4)),
)

_CODE_RE = re.compile(r"^([1-4])\.(\d+)$")


def _category_of(code: str) -> int | None:
    """Index into AAPOR_CATEGORIES of one normalised code string, or None if unknown.

    Mapping (AAPOR Standard Definitions, 10th ed. 2023, Table 1 final disposition codes):
    1.1 complete -> I; 1.2 partial -> P; 2.1x refusal and break-off -> R; 2.2x non-contact
    -> NC; 2.3x-2.9x other (death, unable, language, miscellaneous) -> O; 3.1x unknown if
    household/occupied -> UH; 3.2x-3.9x other unknown eligibility -> UO; 4.x not eligible -> NE.
    Headings that span several groups (1.0, 2.0, 3.0) and anything else are unknown.
    """
    m = _CODE_RE.match(code)
    if m is None:
        return None
    major, minor = m.group(1), m.group(2)
    first = minor[0]
    if major == "1":
        return {"1": 0, "2": 1}.get(first)
    if major == "2":
        if first == "1":
            return 2
        if first == "2":
            return 3
        return 4 if first in "3456789" else None
    if major == "3":
        if first == "1":
            return 5
        return 6 if first in "23456789" else None
    return 7  # 4.x


def _normalise(value) -> str | None:
    """Canonical text of one disposition value; None for missing."""
    if value is None:
        return None
    if isinstance(value, bool | np.bool_):
        return repr(value)
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        if not np.isfinite(value):
            return None
        # 2.20 and 2.2 are the same code once stored as a float; 6 decimals is plenty
        return f"{float(value):.6f}".rstrip("0").rstrip(".")
    text = str(value).strip()
    return text or None


def classify_dispositions(dispositions, data: pd.DataFrame | None = None) -> np.ndarray:
    """Map AAPOR final disposition codes to outcome groups I, P, R, NC, O, UH, UO, NE.

    Arguments:
        dispositions: codes as strings ("1.1", "2.11", "2.20", "3.90", "4.10") or floats
            (1.1, 2.11, 2.2), a Series/array, or a column name of ``data``.
        data: DataFrame holding the column when ``dispositions`` is a name.

    Returns:
        Integer array of indices into :data:`AAPOR_CATEGORIES` (0=I ... 7=NE).

    Raises:
        ValidationError: a missing or unknown code; the message names each distinct bad value
            and its first position (0-based), and ``rows`` lists 1-based row numbers.

    Notes:
        Mapping by leading category (AAPOR 2023, Standard Definitions, 10th edition, Table 1
        and section "Final disposition codes"): 1.1 I; 1.2 P; 2.1x R (2.11 refusal, 2.12
        break-off); 2.2x NC; 2.3x and above O; 3.1x UH; 3.2x-3.9x UO; 4.x NE. Only the first
        digit after the point decides, so sub-codes such as 2.111 or 3.19 map to their group.
        Classification is done once per distinct value, so the cost is O(n + distinct).
    """
    s = resolve(data, dispositions, "dispositions")
    name = dispositions if isinstance(dispositions, str) else "disposition"
    if len(s) == 0:
        return np.zeros(0, np.int64)
    if pd.api.types.is_numeric_dtype(s.dtype) and not pd.api.types.is_bool_dtype(s.dtype):
        # numeric input: round to 6 decimals, classify each distinct value once
        vals = s.to_numpy(dtype=float)
        key = np.round(vals, 6)
        uniq, inverse = np.unique(key, return_inverse=True)  # NaN sorts last
        labels = [_normalise(u) for u in uniq]
    else:
        obj = s.astype(object).to_numpy()
        codes, uniq = pd.factorize(obj, use_na_sentinel=True)
        labels = [_normalise(u) for u in uniq]
        has_na = (codes < 0).any()
        if has_na:
            labels.append(None)
            codes = np.where(codes < 0, len(labels) - 1, codes)
        inverse = codes
    found = [_category_of(lab) if lab is not None else None for lab in labels]
    cats = np.array([-1 if c is None else c for c in found], np.int64)
    out = cats[np.asarray(inverse).reshape(-1)]
    bad = out < 0
    if bad.any():
        rows = np.flatnonzero(bad)
        bad_labels = np.asarray(labels, dtype=object)[np.asarray(inverse).reshape(-1)[rows]]
        seen: dict[str, int] = {}
        for lab, pos in zip(bad_labels, rows):
            key_ = "missing" if lab is None else repr(lab)
            seen.setdefault(key_, int(pos))
        listing = "; ".join(f"{k} at position {p}" for k, p in list(seen.items())[:10])
        raise ValidationError(
            f"unknown or missing AAPOR final disposition code(s): {listing} (0-based positions). "
            "Use AAPOR final codes such as 1.1, 1.2, 2.11, 2.12, 2.20, 2.30, 3.10, 3.90, 4.10",
            column=name,
            rows=(rows + 1).tolist(),
        )
    return out


def _rates_from_counts(counts: np.ndarray, e_user: float | None) -> tuple[np.ndarray, dict]:
    """AAPOR rates from a (G, 8) count array; returns (e, dict of rate arrays)."""
    c = counts.astype(float)
    I, P, R, NC, O, UH, UO, NE = (c[:, j] for j in range(8))  # noqa: E741
    IP = I + P
    known = IP + R + NC + O
    U = UH + UO
    with np.errstate(divide="ignore", invalid="ignore"):
        if e_user is None:
            e = known / (known + NE)
        else:
            e = np.full(len(c), float(e_user))
        eU = np.where(U == 0, 0.0, e * U)
        d1 = known + U
        d3 = known + eU
        d5 = known
        coop_a = IP + R + O
        coop_b = IP + R
        num = {
            "RR1": (I, d1),
            "RR2": (IP, d1),
            "RR3": (I, d3),
            "RR4": (IP, d3),
            "RR5": (I, d5),
            "RR6": (IP, d5),
            "COOP1": (I, coop_a),
            "COOP2": (IP, coop_a),
            "COOP3": (I, coop_b),
            "COOP4": (IP, coop_b),
            "REF1": (R, d1),
            "REF2": (R, d3),
            "REF3": (R, d5),
            "CON1": (coop_a, d1),
            "CON2": (coop_a, d3),
            "CON3": (coop_a, d5),
        }
        rates = {
            k: np.where(den > 0, n / np.where(den > 0, den, 1.0), np.nan)
            for k, (n, den) in num.items()
        }
    return e, rates


def outcome_rates(
    dispositions,
    by=None,
    e: float | None = None,
    data: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """AAPOR outcome rates: RR1-RR6, COOP1-4, REF1-3 and CON1-3, overall or by group.

    Arguments:
        dispositions: AAPOR final disposition codes (strings or floats, see
            :func:`classify_dispositions`) as a Series/array, or a column name of ``data``.
        by: optional grouping (mode, survey, stratum, month): a Series/array aligned with
            ``dispositions`` or a column name of ``data``. A pandas Categorical keeps its
            unused categories as empty groups (all counts 0, all rates NaN).
        e: the estimated share of unknown-eligibility cases (UH + UO) that are eligible. Default
            (None): per group, e = (I+P+R+NC+O) / (I+P+R+NC+O+NE), the proportion eligible
            among cases whose eligibility was resolved (AAPOR's "proportional allocation" or
            CASRO method). A given value must lie in [0, 1] and is used for every group.
        data: DataFrame holding the columns named by ``dispositions`` / ``by``.

    Returns:
        DataFrame with one row (index ``"all"``) or one row per group (index named after
        ``by``), columns: n, the counts I, P, R, NC, O, UH, UO, NE, the ``e`` used, RR1-RR6,
        COOP1-COOP4, REF1-REF3, CON1-CON3 (proportions in [0, 1]).

    Raises:
        ValidationError: unknown or missing disposition codes (value and position named).
        UsageError: ``e`` outside [0, 1]; missing values in ``by``.

    Warns:
        NonresponseWarning: a rate (or the default e) has a zero denominator and is NaN; the
            message lists the groups, the rates and their counts.

    Notes:
        Formulas (AAPOR Standard Definitions, 10th ed. 2023, section "Response rates"), with
        I complete, P partial, R refusal and break-off, NC non-contact, O other, UH/UO
        unknown eligibility, NE not eligible:

        - RR1 = I / ((I+P) + (R+NC+O) + (UH+UO));  RR2 = (I+P) / same
        - RR3 = I / ((I+P) + (R+NC+O) + e(UH+UO));  RR4 = (I+P) / same
        - RR5 = I / ((I+P) + (R+NC+O));  RR6 = (I+P) / same
        - COOP1 = I / ((I+P)+R+O); COOP2 = (I+P) / ((I+P)+R+O); COOP3 = I / ((I+P)+R);
          COOP4 = (I+P) / ((I+P)+R)
        - REF1, REF2, REF3 = R over the RR1, RR3, RR5 denominators
        - CON1, CON2, CON3 = ((I+P)+R+O) over the RR1, RR3, RR5 denominators

        When UH + UO = 0 the e term is 0 whatever e is, so RR3 = RR5 even if e is undefined.
    """
    if e is not None:
        try:
            e = float(e)
        except (TypeError, ValueError) as exc:
            raise UsageError(f"e must be a number in [0, 1] or None, got {e!r}") from exc
        if not 0.0 <= e <= 1.0:
            raise UsageError(
                f"e must lie in [0, 1] (a share of unknowns that are eligible), got {e}"
            )
    cats = classify_dispositions(dispositions, data)
    n = len(cats)
    if by is None:
        counts = np.bincount(cats, minlength=8)[None, :]
        index = pd.Index(["all"])
    else:
        g = resolve(data, by, "by", n)
        if g.isna().any():
            rows = np.flatnonzero(g.isna().to_numpy()) + 1
            raise UsageError(
                f"by has {len(rows)} missing value(s) (first rows, 1-based: {rows[:20].tolist()});"
                " give them an explicit group label"
            )
        if isinstance(g.dtype, pd.CategoricalDtype):
            gcodes = g.cat.codes.to_numpy().astype(np.int64)
            levels = g.cat.categories
        else:
            gcodes, levels = pd.factorize(g, sort=True)
        G = len(levels)
        counts = np.bincount(gcodes * 8 + cats, minlength=G * 8).reshape(G, 8)
        index = pd.Index(levels, name=by if isinstance(by, str) else getattr(by, "name", None))
    e_used, rates = _rates_from_counts(counts, e)
    out = pd.DataFrame(counts.astype(np.int64), index=index, columns=list(AAPOR_CATEGORIES))
    out.insert(0, "n", counts.sum(axis=1).astype(np.int64))
    out["e"] = e_used
    for k in RATE_COLUMNS:
        out[k] = rates[k]
    _warn_undefined(out, e is None)
    return out


def _warn_undefined(out: pd.DataFrame, e_default: bool) -> None:
    """One warning listing every group with an undefined rate, with its counts."""
    msgs = []
    for label, row in out.iterrows():  # one row per group: a handful, not per case
        bad = [k for k in RATE_COLUMNS if np.isnan(row[k])]
        e_bad = e_default and np.isnan(row["e"])
        if bad or e_bad:
            cnt = ", ".join(f"{k}={int(row[k])}" for k in AAPOR_CATEGORIES)
            what = ([] if not e_bad else ["e (no case of known eligibility)"]) + bad
            msgs.append(f"group {label!r} ({cnt}): {', '.join(what)}")
    if msgs:
        warnings.warn(
            "AAPOR rate(s) with a zero denominator set to NaN: " + "; ".join(msgs),
            NonresponseWarning,
            stacklevel=3,
        )
