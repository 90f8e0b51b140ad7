"""Probability sampling for victim surveys: allocation, selection, inclusion probabilities,
sample size and power.

One public function per method (ONS statistical-methods-library style):

- :func:`select` draws a (stratified) probability sample from a frame and reports each selected
  unit's first-order inclusion probability and design weight.
- :func:`allocate` splits a total sample size over strata (proportional, Neyman, equal, fixed,
  census) with largest-remainder rounding.
- :func:`derive_seed` turns (force, survey, month) into a stable integer seed, so a month's draw
  can be reproduced exactly.
- :func:`sample_size` gives the completes and issued sample needed for a margin of error.
- :func:`completes_for_change` gives the completes per period needed to detect a change
  between two independent periods with a given power.

Everything random goes through :class:`numpy.random.Generator`; nothing touches global state.
All per-unit work is vectorised over integer stratum codes (no Python loops over rows); the
only loops run over strata (allocation rounding) or over certainty-unit iterations for pps.

References:
    Cochran, W.G. (1977) *Sampling Techniques*, 3rd edn. Wiley. (FPC 4.2; proportional 5.3;
        Neyman allocation 5.5 and take-all strata 5.9; systematic sampling ch. 8.)
    Fleiss, J.L., Levin, B. and Paik, M.C. (2003) *Statistical Methods for Rates and
        Proportions*, 3rd edn. Wiley. (Sample size for two independent proportions, 4.14-4.15.)
    Hartley, H.O. and Rao, J.N.K. (1962) Sampling with unequal probabilities and without
        replacement. *Ann. Math. Statist.* 33, 350-374. (Randomised systematic pps.)
    Chromy, J.R. (1979) Sequential sample selection methods. *Proc. Survey Research Methods
        Section, ASA*, 401-406. (Serpentine ordering for implicit stratification.)
    Sarndal, C.-E., Swensson, B. and Wretman, J. (1992) *Model Assisted Survey Sampling*.
        Springer. (Poisson sampling 3.5; pi-ps certainty units 3.6.)
    Kish, L. (1965) *Survey Sampling*. Wiley. (Allocation rounding and minimum sizes 3.4.)
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from methods.core.errors import UsageError, ValidationError
from methods.sampling.allocation import ALLOCATIONS, allocate, allocate_arrays

__all__ = [
    "ALLOCATIONS",
    "METHODS",
    "allocate",
    "completes_for_change",
    "derive_seed",
    "sample_size",
    "select",
]

METHODS: tuple[str, ...] = ("srs", "systematic", "poisson", "pps")
OUTPUT_COLUMNS: tuple[str, ...] = ("inclusion_prob", "design_weight", "stratum")
#: Stratum label used when no ``strata`` are given.
ALL_LABEL = "all"
_SEED_DOMAIN = "vsw/sampling/v1"
_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


# --------------------------------------------------------------------------------------------
# Seeds
# --------------------------------------------------------------------------------------------
def _month_text(month: Any) -> str:
    if isinstance(month, pd.Period):
        month = month.asfreq("M").strftime("%Y-%m")
    elif isinstance(month, (_dt.date, _dt.datetime, pd.Timestamp)):
        month = f"{month.year:04d}-{month.month:02d}"
    text = str(month).strip()
    if not _MONTH_RE.match(text):
        raise UsageError(
            f"month {month!r} is not a month: give it as 'YYYY-MM' (e.g. '2024-03'), "
            "a date or a pandas Period"
        )
    return text


def derive_seed(force: str, survey: str, month: Any) -> int:
    """Stable 64-bit seed for a force's monthly draw of a survey.

    Arguments:
        force: force name or code (case and surrounding spaces are ignored).
        survey: survey name (case and surrounding spaces are ignored).
        month: the month sampled, as 'YYYY-MM', a date/datetime or a pandas Period.

    Returns:
        A non-negative integer below 2**64: the first 8 bytes (big-endian) of the SHA-256 digest
        of ``"vsw/sampling/v1|<force>|<survey>|<YYYY-MM>"``.

    Notes:
        SHA-256 (FIPS 180-4) via :mod:`hashlib` is identical on every platform and Python
        version, unlike the built-in ``hash()``, which is salted per process. The same
        (force, survey, month) therefore always gives the same seed and the same sample.
    """
    for name, value in (("force", force), ("survey", survey)):
        if not isinstance(value, str) or not value.strip():
            raise UsageError(f"{name} must be a non-empty string, got {value!r}")
    text = "|".join(
        (_SEED_DOMAIN, force.strip().lower(), survey.strip().lower(), _month_text(month))
    )
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def _resolve_rng(seed: Any) -> tuple[np.random.Generator, int | None]:
    """Turn ``seed`` (int, (force, survey, month) tuple or Generator) into a Generator."""
    if isinstance(seed, np.random.Generator):
        return seed, None
    if isinstance(seed, tuple):
        if len(seed) != 3:
            raise UsageError(
                f"seed tuple must be (force, survey, month), got {len(seed)} item(s): {seed!r}"
            )
        value = derive_seed(*seed)
        return np.random.default_rng(value), value
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)):
        raise UsageError(
            f"seed must be a non-negative int, a (force, survey, month) tuple or a "
            f"numpy Generator, got {seed!r}"
        )
    if seed < 0:
        raise UsageError(f"seed must be non-negative, got {seed}")
    return np.random.default_rng(int(seed)), int(seed)


# --------------------------------------------------------------------------------------------
# Frame handling
# --------------------------------------------------------------------------------------------
def _as_columns(cols: Any, what: str) -> list[str]:
    if cols is None:
        return []
    if isinstance(cols, str):
        return [cols]
    if isinstance(cols, Sequence):
        return list(cols)
    raise UsageError(f"{what} must be a column name or a list of column names, got {cols!r}")


def _stratum_codes(frame: pd.DataFrame, strata: list[str]) -> tuple[np.ndarray, list[str]]:
    """Integer stratum code per row (0..H-1, in sorted label order) and the labels."""
    n = len(frame)
    if not strata:
        return np.zeros(n, dtype=np.intp), [ALL_LABEL]
    parts_codes = []
    parts_uniques = []
    for col in strata:
        codes, uniques = pd.factorize(frame[col], sort=True)
        missing = np.flatnonzero(codes < 0)
        if missing.size:
            raise ValidationError(
                "stratum value missing; fill it (e.g. 'unknown') or drop these rows before "
                "sampling",
                column=col,
                rows=(missing + 1).tolist(),
            )
        parts_codes.append(codes.astype(np.int64))
        parts_uniques.append(np.asarray(uniques, dtype=object))
    if len(strata) == 1:
        return parts_codes[0].astype(np.intp), [str(u) for u in parts_uniques[0]]
    combined = np.zeros(n, dtype=np.int64)
    for codes, uniques in zip(parts_codes, parts_uniques):
        combined = combined * len(uniques) + codes
    codes, uniq = pd.factorize(combined, sort=True)
    labels = []
    for value in np.asarray(uniq):
        idx = []
        for uniques in reversed(parts_uniques):
            value, r = divmod(int(value), len(uniques))
            idx.append(str(uniques[r]))
        labels.append("|".join(reversed(idx)))
    return codes.astype(np.intp), labels


def _sortable(series: pd.Series) -> np.ndarray:
    """A float key that sorts like the column; missing values sort last."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        key = series.cat.codes.to_numpy().astype(float)
        key[key < 0] = np.inf
        return key
    if pd.api.types.is_bool_dtype(series.dtype) or pd.api.types.is_numeric_dtype(series.dtype):
        key = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        key = np.where(np.isnan(key), np.inf, key)  # a new array: to_numpy may be read-only
        return key
    codes, _ = pd.factorize(series, sort=True)
    key = codes.astype(float)
    key[codes < 0] = np.inf
    return key


def _serpentine_order(codes: np.ndarray, frame: pd.DataFrame, sort_by: list[str]) -> np.ndarray:
    """Row order: by stratum, then by ``sort_by`` in serpentine fashion (Chromy 1979).

    The first sort column runs ascending; each further column runs ascending within even cells
    and descending within odd cells of the columns before it, so neighbours in the list stay
    alike across cell boundaries. Ties keep frame order (stable sort).

    Each column is turned into dense ranks; the cell index of the columns so far (itself a
    dense rank, so the combined integer key stays below N x cardinality) decides the
    direction of the next column. One stable integer argsort at the end.
    """
    run = codes.astype(np.int64)
    comb = run
    for i, col in enumerate(sort_by):
        uniq, rank = np.unique(_sortable(frame[col]), return_inverse=True)
        card = max(int(uniq.size), 1)
        rank = rank.astype(np.int64)
        if i > 0:
            rank = np.where(run % 2 == 1, card - 1 - rank, rank)
        comb = run * card + rank
        if i < len(sort_by) - 1:
            _, run = np.unique(comb, return_inverse=True)
            run = run.astype(np.int64)
    return np.argsort(comb, kind="stable")


def _order_within_strata(codes: np.ndarray, n_strata: int, rng: np.random.Generator | None):
    """Row order grouped by stratum; random within strata when ``rng`` is given, else frame
    order. A stable radix sort on small integer codes after a random permutation: O(N)."""
    small = codes.astype(
        np.uint8 if n_strata <= 256 else np.uint16 if n_strata <= 65536 else np.int64
    )
    if rng is None:
        return np.argsort(small, kind="stable")
    perm = rng.permutation(codes.size)
    return perm[np.argsort(small[perm], kind="stable")]


# --------------------------------------------------------------------------------------------
# Selection
# --------------------------------------------------------------------------------------------
def _select_srs(codes, sizes, nh, rng) -> tuple[np.ndarray, np.ndarray]:
    """Stratified simple random sampling without replacement: the first n_h units of a random
    order within each stratum (Cochran 1977, 2.2 and 5.1)."""
    h = sizes.size
    order = _order_within_strata(codes, h, rng)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    sorted_codes = codes[order]
    rank = np.arange(codes.size) - starts[sorted_codes]
    mask = np.zeros(codes.size, dtype=bool)
    mask[order[rank < nh[sorted_codes]]] = True
    pi_h = np.divide(nh, sizes, out=np.zeros(h), where=sizes > 0)
    return np.flatnonzero(mask), pi_h[codes]


def _select_systematic(codes, sizes, nh, rng, order) -> tuple[np.ndarray, np.ndarray]:
    """Systematic sampling with a fractional interval k_h = N_h / n_h and a random start
    r_h ~ U[0, k_h) in each stratum: positions floor(r_h + j k_h), j = 0..n_h-1, of the
    ordered list (Cochran 1977, 8.1; the fractional interval keeps pi = n_h / N_h exact for
    every unit, since each unit covers a unit-length slot of [0, N_h) and the points form a
    uniformly shifted lattice of spacing k_h >= 1)."""
    h = sizes.size
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
    k = np.divide(sizes, nh, out=np.ones(h), where=nh > 0)
    r = rng.random(h) * k
    stratum_of = np.repeat(np.arange(h), nh)
    offsets = np.concatenate(([0], np.cumsum(nh)[:-1]))
    j = np.arange(int(nh.sum())) - offsets[stratum_of]
    pos = np.floor(r[stratum_of] + j * k[stratum_of]).astype(np.int64)
    pos = np.minimum(pos, sizes[stratum_of] - 1)  # guard floating error at the list end
    chosen = order[starts[stratum_of] + pos]
    mask = np.zeros(codes.size, dtype=bool)
    mask[chosen] = True
    pi_h = np.divide(nh, sizes, out=np.zeros(h), where=sizes > 0)
    return np.flatnonzero(mask), pi_h[codes]


def _select_poisson(codes, sizes, quotas, rng) -> tuple[np.ndarray, np.ndarray]:
    """Poisson sampling: each unit independently with pi_h = quota_h / N_h (Sarndal et al.
    1992, 3.5). The realised sample size is random with mean sum(pi)."""
    pi_h = np.divide(quotas, sizes, out=np.zeros(sizes.size), where=sizes > 0)
    pi = np.minimum(pi_h[codes], 1.0)
    mask = rng.random(codes.size) < pi
    return np.flatnonzero(mask), pi


def _pps_probabilities(codes, sizes, nh, x) -> tuple[np.ndarray, np.ndarray]:
    """pi_i = m_h x_i / X_h with certainty units (pi >= 1) set to 1 and removed, repeated until
    none is left (Sarndal et al. 1992, 3.6.2). Returns pi and the certainty mask."""
    h = sizes.size
    cert = np.zeros(codes.size, dtype=bool)
    pi = np.zeros(codes.size)
    for _ in range(int(nh.sum()) + 1):
        x_rest = np.bincount(codes, weights=np.where(cert, 0.0, x), minlength=h)
        m = nh - np.bincount(codes, weights=cert.astype(float), minlength=h)
        scale = np.divide(m, x_rest, out=np.zeros(h), where=x_rest > 0)
        pi = np.where(cert, 1.0, scale[codes] * x)
        new = ~cert & (pi >= 1.0 - 1e-12)
        if not new.any():
            break
        cert |= new
    pi[cert] = 1.0
    return pi, cert


def _select_pps(codes, sizes, nh, x, rng, order) -> tuple[np.ndarray, np.ndarray]:
    """Systematic pps on the given (random, or sorted) order within strata, after certainty
    units: unit i is selected when a point r_h + j (r_h ~ U[0,1)) falls in its slice
    [C_{i-1}, C_i) of the cumulated pi. Each slice is shorter than 1, so P(select) = pi_i
    exactly; on a random order this is the Hartley-Rao (1962) / Goodman-Kish scheme."""
    h = sizes.size
    pi, cert = _pps_probabilities(codes, sizes, nh, x)
    m = nh - np.bincount(codes, weights=cert.astype(float), minlength=h).astype(np.int64)
    o = order
    p_sorted = np.where(cert, 0.0, pi)[o]
    c_sorted = codes[o]
    cum = np.cumsum(p_sorted)
    ends = np.cumsum(sizes)
    base = np.concatenate(([0.0], cum[ends[:-1] - 1]))
    cum = cum - base[c_sorted]
    last = np.zeros(h)
    nonempty = sizes > 0
    last[nonempty] = cum[ends[nonempty] - 1]
    # rescale so each stratum's slices end exactly at m_h (removes cumsum rounding drift)
    scale = np.divide(m, last, out=np.zeros(h), where=last > 0)
    cum = cum * scale[c_sorted]
    prev = np.concatenate(([0.0], cum[:-1]))
    prev[np.concatenate(([0], ends[:-1]))[nonempty]] = 0.0
    r = rng.random(h)[c_sorted]
    hit = (np.ceil(cum - r) - np.ceil(prev - r)) >= 1
    mask = np.zeros(codes.size, dtype=bool)
    mask[o[hit]] = True
    mask[cert] = True
    got = np.bincount(codes[mask], minlength=h)
    if not np.array_equal(got, nh):
        bad = np.flatnonzero(got != nh)
        raise RuntimeError(
            f"pps selection drew {got[bad].tolist()} units where {nh[bad].tolist()} were due "
            f"(strata {bad.tolist()}); please report this with the seed"
        )
    return np.flatnonzero(mask), pi


def _check_sizes(frame: pd.DataFrame, size: str) -> np.ndarray:
    if size not in frame.columns:
        raise UsageError(
            f"size column '{size}' is not in the frame; columns: {list(frame.columns)}"
        )
    x = pd.to_numeric(frame[size], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = np.flatnonzero(~np.isfinite(x) | (x <= 0))
    if bad.size:
        raise ValidationError(
            f"pps needs a positive, finite size measure; {bad.size} row(s) are missing, zero "
            "or negative (first values: "
            + ", ".join(repr(v) for v in frame[size].iloc[bad[:5]].tolist())
            + "). Drop those rows or give them a positive size",
            column=size,
            rows=(bad + 1).tolist(),
        )
    return x


def select(
    frame: pd.DataFrame,
    *,
    strata: str | Sequence[str] | None = None,
    n: int | Mapping[Any, int] | None = None,
    fraction: float | None = None,
    allocation: str | None = None,
    method: str = "srs",
    sort_by: str | Sequence[str] | None = None,
    size: str | None = None,
    seed: int | tuple[str, str, Any] | np.random.Generator,
    priors: Mapping[str, Mapping[Any, float]] | None = None,
    target_completes: int | Mapping[Any, int] | None = None,
    response_rate: float | None = None,
) -> pd.DataFrame:
    """Draw a (stratified) probability sample from a frame.

    Arguments:
        frame: one row per eligible victim. Its index is kept in the result.
        strata: stratum column(s); several columns cross (labels joined by ``|``). ``None``
            means one stratum labelled ``"all"``.
        n: total sample size, or a dict ``{stratum: n_h}`` (fixed allocation).
        fraction: sampling fraction in (0, 1]; the total is round(fraction x N) (half up). For
            ``method="poisson"`` with proportional allocation every unit gets exactly
            ``fraction``.
        allocation: ``"proportional"`` (default), ``"neyman"``, ``"equal"``, ``"fixed"`` or
            ``"census"``. ``None`` means proportional, or fixed when ``n`` is a dict.
        method: ``"srs"`` (without replacement), ``"systematic"`` (fractional interval, random
            start, list ordered by ``sort_by``), ``"poisson"`` (independent Bernoulli draws) or
            ``"pps"`` (probability proportional to ``size``, without replacement).
        sort_by: column(s) ordering the list within strata for systematic or pps selection
            (implicit stratification, serpentine order). Missing values sort last; ties keep
            frame order.
        size: size-measure column for ``method="pps"`` (positive).
        seed: an int, a ``(force, survey, month)`` tuple (see :func:`derive_seed`) or a
            :class:`numpy.random.Generator`.
        priors: for neyman allocation: ``{"sd": {stratum: S_h}}`` or ``{"p": {stratum: p_h}}``.
        target_completes: completes wanted (total or per stratum); with ``response_rate`` sets
            n = ceil(completes / response_rate) (per stratum when a dict).
        response_rate: expected response rate in (0, 1], used with ``target_completes``.

    Returns:
        The selected rows of ``frame`` in frame order, index kept, plus ``inclusion_prob``
        (first-order inclusion probability pi_i), ``design_weight`` (= 1 / pi_i) and
        ``stratum`` (categorical label). ``result.attrs["sampling"]`` records the method,
        allocation, seed and, per stratum, N_h, n_h and the realised sample.

    Notes:
        Inclusion probabilities: srs and systematic pi = n_h / N_h (Cochran 1977, 5.1 and 8.1);
        poisson pi = quota_h / N_h, realised n random (Sarndal et al. 1992, 3.5); pps
        pi_i = n_h x_i / X_h with certainty units iterated out (Sarndal et al. 1992, 3.6) and
        selected by randomised systematic pps (Hartley and Rao 1962), or ordered systematic
        pps when ``sort_by`` is given; both have exactly these first-order probabilities.
        Allocation: see :func:`allocate`. Design weights of stratified srs sum to N_h.
        All randomness comes from one :class:`numpy.random.Generator` seeded by ``seed``.
    """
    if not isinstance(frame, pd.DataFrame):
        raise UsageError(f"frame must be a pandas DataFrame, got {type(frame).__name__}")
    if len(frame) == 0:
        raise ValidationError("the frame is empty: nothing to sample from")
    if method not in METHODS:
        raise UsageError(f"unknown method '{method}'; choose one of {METHODS}")
    if allocation is not None and allocation not in ALLOCATIONS:
        raise UsageError(f"unknown allocation '{allocation}'; choose one of {ALLOCATIONS}")
    strata_cols = _as_columns(strata, "strata")
    sort_cols = _as_columns(sort_by, "sort_by")
    missing_cols = [c for c in strata_cols + sort_cols if c not in frame.columns]
    if missing_cols:
        raise UsageError(
            f"column(s) {missing_cols} not in the frame; columns: {list(frame.columns)}"
        )
    clash = [c for c in OUTPUT_COLUMNS if c in frame.columns and strata_cols != [c]]
    if clash:
        raise UsageError(
            f"the frame already has column(s) {clash}, which select() writes; rename or drop "
            "them first"
        )
    if sort_cols and method not in ("systematic", "pps"):
        raise UsageError(
            f"sort_by only orders the list for systematic or pps selection, not '{method}'"
        )
    if method == "pps" and size is None:
        raise UsageError("method='pps' needs size=<column with a positive size measure>")
    if size is not None and method != "pps":
        raise UsageError(f"size is only used by method='pps', not '{method}'")

    # ---- the sample size asked for -------------------------------------------------------
    given = [name for name, v in (("n", n), ("fraction", fraction)) if v is not None]
    if target_completes is not None or response_rate is not None:
        if target_completes is None or response_rate is None:
            raise UsageError("give target_completes and response_rate together")
        if given:
            raise UsageError(f"give either target_completes or {' / '.join(given)}, not both")
        if isinstance(response_rate, bool) or not 0 < float(response_rate) <= 1:
            raise UsageError(f"response_rate must be in (0, 1], got {response_rate!r}")
        n = _issued_from_completes(target_completes, float(response_rate))
        given = ["n"]
    if allocation is None:
        allocation = "fixed" if isinstance(n, Mapping) else "proportional"
    if len(given) == 2:
        raise UsageError(f"give n or fraction, not both (n={n!r}, fraction={fraction!r})")
    if allocation == "census":
        if given:
            raise UsageError(f"census allocation takes every unit; do not give {given[0]}")
    elif not given:
        raise UsageError(
            "say how many to sample: n=, fraction=, or target_completes= with response_rate=, "
            "or allocation='census'"
        )
    if fraction is not None:
        if isinstance(fraction, bool) or not isinstance(fraction, (int, float, np.floating)):
            raise UsageError(f"fraction must be a number in (0, 1], got {fraction!r}")
        if not 0 < fraction <= 1:
            raise UsageError(f"fraction must be in (0, 1], got {fraction}")
        if allocation == "fixed":
            raise UsageError("fixed allocation takes n as a dict per stratum, not a fraction")

    rng, seed_used = _resolve_rng(seed)
    codes, labels = _stratum_codes(frame, strata_cols)
    h = len(labels)
    sizes = np.bincount(codes, minlength=h).astype(np.int64)
    total_pop = int(sizes.sum())
    if fraction is not None:
        n = max(1, int(math.floor(fraction * total_pop + 0.5)))
    nh, quotas = allocate_arrays(sizes, labels, n, allocation, priors)
    if method == "poisson" and fraction is not None and allocation == "proportional":
        quotas = fraction * sizes.astype(float)

    # ---- draw -------------------------------------------------------------------------------
    if method == "srs":
        pos, pi = _select_srs(codes, sizes, nh, rng)
    elif method == "systematic":
        order = (
            _serpentine_order(codes, frame, sort_cols)
            if sort_cols
            else _order_within_strata(codes, h, None)
        )
        pos, pi = _select_systematic(codes, sizes, nh, rng, order)
    elif method == "poisson":
        pos, pi = _select_poisson(codes, sizes, quotas, rng)
    else:
        x = _check_sizes(frame, size)
        order = (
            _serpentine_order(codes, frame, sort_cols)
            if sort_cols
            else _order_within_strata(codes, h, rng)
        )
        pos, pi = _select_pps(codes, sizes, nh, x, rng, order)

    out = frame.iloc[pos]
    pi_sel = pi[pos]
    cols = {
        "inclusion_prob": pi_sel,
        "design_weight": 1.0 / pi_sel,
    }
    if strata_cols != ["stratum"]:
        cols["stratum"] = pd.Categorical.from_codes(codes[pos], categories=labels)
    out = out.assign(**cols)
    realised = np.bincount(codes[pos], minlength=h)
    out.attrs = {
        "sampling": {
            "method": method,
            "allocation": allocation,
            "seed": seed_used,
            "strata": strata_cols,
            "sort_by": sort_cols,
            "size": size,
            "frame_size": total_pop,
            "by_stratum": {
                lab: {
                    "N": int(sizes[i]),
                    "n": float(quotas[i]) if method == "poisson" else int(nh[i]),
                    "selected": int(realised[i]),
                }
                for i, lab in enumerate(labels)
            },
        }
    }
    return out


def _issued_from_completes(completes: Any, rr: float) -> Any:
    def one(c: Any, where: str) -> int:
        if isinstance(c, (bool, np.bool_)) or not isinstance(c, (int, np.integer)) or c <= 0:
            raise UsageError(f"target_completes{where} must be a positive integer, got {c!r}")
        return int(math.ceil(int(c) / rr - 1e-9))

    if isinstance(completes, Mapping):
        return {k: one(v, f"['{k}']") for k, v in completes.items()}
    return one(completes, "")


# Sample size and power live in methods.sampling.size; re-exported here (issue 5's API).
from methods.sampling.size import completes_for_change, sample_size  # noqa: E402, F401
