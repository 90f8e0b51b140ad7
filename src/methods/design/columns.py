"""Validation and integer coding of the columns a :class:`methods.design.survey.SurveyDesign` uses.

All checks happen here, up front, with messages that name the column, the 1-based data rows
(first 20) and the rule broken (:class:`methods.core.errors.ValidationError`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from methods.core.checks import check_weights
from methods.core.errors import UsageError, ValidationError


def rows1(mask: np.ndarray) -> list[int]:
    """1-based row numbers where ``mask`` is true."""
    return (np.flatnonzero(mask) + 1).tolist()


def readonly(a: np.ndarray) -> np.ndarray:
    """``a`` as a read-only array (copied if it is a view of someone else's memory)."""
    a = np.asarray(a)
    if a.flags.writeable:
        if not a.flags.owndata:
            a = a.copy()
        a.flags.writeable = False
    return a


def require_columns(data: pd.DataFrame, *names: str | None) -> None:
    for name in names:
        if name is not None and name not in data.columns:
            raise ValidationError(
                f"column not found in data (columns: {', '.join(map(str, data.columns))})", name
            )


def strata_codes(data: pd.DataFrame, name: str | None) -> tuple[np.ndarray, np.ndarray]:
    """Stratum code per row (sorted labels) and the labels."""
    n = len(data)
    if name is None:
        return np.zeros(n, np.intp), np.array(["(all)"], dtype=object)
    col = data[name]
    bad = col.isna().to_numpy()
    if bad.any():
        raise ValidationError("strata must not be missing", name, rows1(bad))
    codes, labels = label_codes(col)
    return codes, np.asarray(labels, dtype=object)


def _compact_codes(a: np.ndarray, lo: int, span: int) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..m-1 of the integers ``a`` (all in ``lo .. lo + span - 1``) in sorted order of
    their values, and the values present: a counting relabel (one ``bincount``, one gather)."""
    x = a.astype(np.intp, copy=False)
    if lo:
        x = x - lo
    present = np.bincount(x, minlength=span) > 0
    values = np.flatnonzero(present)
    remap = np.cumsum(present, dtype=np.intp) - 1
    return remap[x], values


def _span_ok(span: int, n: int) -> bool:
    """A counting relabel over ``span`` values costs no more than sorting ``n`` codes."""
    return span <= 4 * n + (1 << 16)


def label_codes(col: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes 0..m-1 of a column's labels in sorted label order, and the labels: what
    ``pd.factorize(col, sort=True)`` gives (the column has no missing value).

    Notes:
        Integer labels of a compact range (the usual PSU, SSU and stratum numbers) are coded by
        a counting relabel, O(n + range), instead of factorize's hash table and sort; other
        columns go to ``pd.factorize``. Both give the same codes.
    """
    dt = col.dtype
    if isinstance(dt, np.dtype) and dt.kind in "iu" and len(col):
        a = col.to_numpy()
        lo, hi = int(a.min()), int(a.max())
        if -(2**62) < lo and hi < 2**62 and _span_ok(hi - lo + 1, a.shape[0]):
            codes, values = _compact_codes(a, lo, hi - lo + 1)
            return codes, (values + lo).astype(dt)
    codes, labels = pd.factorize(col, sort=True)
    return codes.astype(np.intp, copy=False), np.asarray(labels)


def nest_codes(
    raw: np.ndarray, m: int, parent: np.ndarray, n_parent: int, nest: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Codes of units nested in parents (strata for PSUs, PSUs for SSUs), ordered by parent,
    then label: the inverse of ``np.unique(parent * m + raw)`` (R's ``interaction``).

    Arguments:
        raw: label code of each row (0..m-1, every code used).
        m: number of labels.
        parent: integer code of each row's parent (0..n_parent-1).
        n_parent: number of parents.
        nest: labels are only unique within a parent: a label under two parents is two units.

    Returns:
        (unit code per row, parent of each unit, None) or, when ``nest`` is False and a label
        appears under two parents, (empty, empty, boolean mask of those labels).

    Notes:
        Without ``nest`` each label must have one parent, which one scatter and one gather
        check; the units are then the labels, relabelled by a stable sort of the m labels by
        parent (none when already in parent order). With ``nest`` the (parent, label) pairs are
        relabelled by counting when ``n_parent * m`` is compact, else by ``np.unique``.
    """
    n = raw.shape[0]
    if not nest:
        up = np.zeros(m, np.intp)
        up[raw] = parent
        if not np.array_equal(up[raw], parent):
            shared = np.zeros(m, bool)
            shared[raw[up[raw] != parent]] = True
            empty = np.zeros(0, np.intp)
            return empty, empty, shared
        if m < 2 or bool((up[1:] >= up[:-1]).all()):
            return raw, up, None
        order = np.argsort(up, kind="stable")
        rank = np.empty(m, np.intp)
        rank[order] = np.arange(m, dtype=np.intp)
        return rank[raw], up[order], None
    key = parent.astype(np.int64) * m + raw
    if _span_ok(n_parent * m, n):
        codes, ukey = _compact_codes(key, 0, n_parent * m)
    else:
        ukey, codes = np.unique(key, return_inverse=True)
        codes = codes.astype(np.intp).reshape(-1)
    return codes, (ukey // m).astype(np.intp), None


def unit_codes(
    col: pd.Series, parent: np.ndarray, n_parent: int, nest: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """:func:`label_codes` then :func:`nest_codes` for the unit labels ``col`` (no missing
    value) in the ``parent`` codes; the third item is, when a label lies under two parents
    and ``nest`` is False, the boolean mask of the rows holding such a label.

    Notes:
        Compact integer labels without ``nest`` take one pass fewer: the nest check scatters
        the parents straight into the label range, which also marks the labels present, so
        the label codes are never materialised (same codes as the two steps).
    """
    dt = col.dtype
    if not nest and isinstance(dt, np.dtype) and dt.kind in "iu" and len(col):
        a = col.to_numpy()
        lo, hi = int(a.min()), int(a.max())
        if -(2**62) < lo and hi < 2**62 and _span_ok(hi - lo + 1, a.shape[0]):
            x = a.astype(np.intp, copy=False)
            if lo:
                x = x - lo
            up = np.full(hi - lo + 1, -1, np.intp)
            up[x] = parent
            got = up[x]
            if not np.array_equal(got, parent):
                shared = np.zeros(up.shape[0], bool)
                shared[x[got != parent]] = True
                empty = np.zeros(0, np.intp)
                return empty, empty, shared[x]
            values = np.flatnonzero(up >= 0)
            upv = up[values]  # parent of each label, in label order
            remap = np.empty(up.shape[0], np.intp)
            m = values.shape[0]
            if m < 2 or bool((upv[1:] >= upv[:-1]).all()):
                remap[values] = np.arange(m, dtype=np.intp)
                return remap[x], upv, None
            order = np.argsort(upv, kind="stable")
            remap[values[order]] = np.arange(m, dtype=np.intp)
            return remap[x], upv[order], None
    raw, labels = label_codes(col)
    codes, up, shared = nest_codes(raw, len(labels), parent, n_parent, nest)
    return codes, up, None if shared is None else shared[raw]


def psu_codes(data: pd.DataFrame, name: str | None, strata: np.ndarray, nest: bool) -> np.ndarray:
    """PSU code per row, unique across strata and ordered by stratum (R's ``ids``/``nest``)."""
    return psu_codes_parents(data, name, strata, nest)[0]


def psu_codes_parents(
    data: pd.DataFrame, name: str | None, strata: np.ndarray, nest: bool
) -> tuple[np.ndarray, np.ndarray]:
    """:func:`psu_codes` and the stratum of each PSU."""
    n = len(data)
    if name is None:
        return np.arange(n, dtype=np.intp), strata
    col = data[name]
    bad = col.isna().to_numpy()
    if bad.any():
        raise ValidationError("PSU must not be missing", name, rows1(bad))
    codes, ps, shared = unit_codes(col, strata, int(strata.max()) + 1, nest)
    if shared is not None:
        raise ValidationError(
            "PSU labels appear in more than one stratum (R: 'Clusters not nested in "
            "strata'); if PSU labels are only unique within strata pass nest=True",
            name,
            rows1(shared),
        )
    return codes, ps


def psu_count_per_row(strata: np.ndarray, psu: np.ndarray) -> np.ndarray:
    """n_h, the number of PSUs of each row's stratum."""
    ps = np.zeros(int(psu.max()) + 1, np.intp)
    ps[psu] = strata
    n_h = np.bincount(ps, minlength=int(strata.max()) + 1)
    return n_h[strata].astype(float)


def group_value(
    codes: np.ndarray, values: np.ndarray, n_groups: int
) -> tuple[np.ndarray, int | None]:
    """The value of each group (0 .. n_groups-1; NaN for a group without rows) and the first
    group code within which ``values`` (no NaN) are not all equal, or ``None``.

    Notes:
        One scatter of the values into their groups (any row's value wins) and one gather to
        compare every row with its group's value: no sort and no ``ufunc.at``.
    """
    g = np.full(n_groups, np.nan)
    g[codes] = values
    differ = g[codes] != values
    if not differ.any():
        return g, None
    return g, int(codes[differ].min())


def first_varying(codes: np.ndarray, values: np.ndarray, n_groups: int) -> int | None:
    """The first group code (0 .. n_groups-1) within which ``values`` are not all equal, or
    ``None`` when each group holds one value."""
    return group_value(codes, values, n_groups)[1]


def fpc_values(data: pd.DataFrame, name: str) -> np.ndarray:
    """The fpc column ``name`` as floats, refused (naming column and rows) when it is not
    numeric, or has a missing or negative value."""
    col = data[name]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise ValidationError("fpc must be numeric (population sizes or fractions)", name)
    f = col.to_numpy(dtype=float, na_value=np.nan)
    bad = np.isnan(f) | (f < 0)
    if bad.any():
        raise ValidationError("fpc must be present and non-negative", name, rows1(bad))
    return f


def fpc_popsize(
    data: pd.DataFrame, name: str, strata: np.ndarray, labels: np.ndarray, n_h_rows: np.ndarray
) -> np.ndarray:
    """R's ``as.fpc``: population counts or sampling fractions -> per-row population size N_h.

    Notes:
        R's rule: if any value exceeds 1 all are population counts (and must be >= 1);
        otherwise they are sampling fractions n_h / N_h (and at least one must be < 1), giving
        ``N_h = n_h / f`` (fraction 0: infinite population). N_h < n_h is refused ("FPC
        implies >100% sampling"). Unlike R, which only warns, an fpc that varies within a
        stratum is refused.
    """
    f = fpc_values(data, name)
    h = first_varying(strata, f, len(labels))
    if h is not None:
        raise ValidationError(
            f"fpc varies within stratum {labels[h]!r}; give one population size (or fraction) "
            "per stratum",
            name,
            rows1(strata == h),
        )
    is_count = bool((f > 1).any())
    if is_count and not (f >= 1).all():
        raise ValidationError(
            "fpc mixes population counts (> 1) and fractions (< 1); use one or the other",
            name,
            rows1(f < 1),
        )
    if not is_count and (f >= 1).all():
        raise ValidationError(
            "fpc is 1 everywhere: ambiguous (count or fraction), and R refuses it too; give "
            "population sizes or sampling fractions",
            name,
        )
    if is_count:
        popsize = f
    else:
        with np.errstate(divide="ignore"):
            popsize = np.where(f > 0, n_h_rows / np.where(f > 0, f, 1.0), np.inf)
    too_small = popsize < n_h_rows * (1 - 1e-9)
    if too_small.any():
        i = int(np.flatnonzero(too_small)[0])
        raise ValidationError(
            f"fpc implies more than 100% sampling in stratum {labels[strata[i]]!r} (population "
            f"{popsize[i]:g} < {int(n_h_rows[i])} PSUs sampled)",
            name,
            rows1(too_small),
        )
    return readonly(popsize)


def weights_array(
    data: pd.DataFrame, name: str | None, popsize: np.ndarray | None, n_h_rows: np.ndarray | None
) -> np.ndarray:
    """The weights column, or ``N_h / n_h`` from the fpc (R ``svydesign``), or 1."""
    if name is None:
        if popsize is None:
            return readonly(np.ones(len(data)))
        w = popsize / n_h_rows
        if not np.isfinite(w).all():
            raise ValidationError(
                "an fpc fraction of 0 (infinite population) cannot supply weights; pass weights=",
                None,
                rows1(~np.isfinite(w)),
            )
        return readonly(w)
    col = data[name]
    if not pd.api.types.is_numeric_dtype(col) or pd.api.types.is_bool_dtype(col):
        raise ValidationError("weights must be numeric", name)
    w = check_weights(col, name)
    if not (w > 0).any():
        raise ValidationError("all weights are zero", name)
    return readonly(w)


def numeric_column(data: pd.DataFrame, name: str) -> np.ndarray:
    """A numeric (or boolean) column as float64 with NaN for missing values."""
    require_columns(data, name)
    col = data[name]
    if not pd.api.types.is_numeric_dtype(col):
        raise ValidationError(
            f"needs numeric values, found dtype {col.dtype}; for a categorical column use "
            "proportion(col, level=...)",
            name,
        )
    return col.to_numpy(dtype=float, na_value=np.nan, copy=True)


def binary_column(data: pd.DataFrame, name: str, level: Any = None) -> np.ndarray:
    """0/1 float column (NaN where missing) from 0/1, boolean, or a category ``level``."""
    require_columns(data, name)
    col = data[name]
    missing = col.isna().to_numpy()
    if level is not None:
        if isinstance(col.dtype, pd.CategoricalDtype):
            known = level in col.cat.categories
        else:
            known = bool((col == level).any())
        if not known:
            values = pd.unique(col.dropna())[:20]
            raise UsageError(
                f"level {level!r} does not occur in column '{name}' (values: "
                f"{', '.join(map(repr, values))})"
            )
        y = (col == level).to_numpy(dtype=float, na_value=0.0, copy=True)
    elif pd.api.types.is_bool_dtype(col) or pd.api.types.is_numeric_dtype(col):
        y = col.to_numpy(dtype=float, na_value=np.nan, copy=True)
        bad = ~np.isnan(y) & (y != 0) & (y != 1)
        if bad.any():
            found = ", ".join(map(repr, np.unique(y[bad])[:5].tolist()))
            raise ValidationError(
                f"proportion needs 0/1 or boolean values (found {found}); for a coded column "
                "pass level=",
                name,
                rows1(bad),
            )
    else:
        raise UsageError(
            f"column '{name}' is not 0/1 or boolean: pass level= to estimate the proportion of "
            "one category"
        )
    y[missing] = np.nan
    return y


def domain_codes(data: pd.DataFrame, by: str | Sequence[str]) -> tuple[np.ndarray, pd.Index]:
    """Domain code per row (-1 where a by value is missing) and the domain labels.

    A categorical column gives every category (used or not); otherwise the observed values,
    sorted. Several columns give their observed combinations (a MultiIndex). Rows with a missing
    by value belong to no domain, with a warning (R's ``svyby`` leaves them out too).
    """
    cols = [by] if isinstance(by, str) else list(by)
    if not cols:
        raise UsageError("by needs at least one column")
    require_columns(data, *cols)
    n = len(data)
    parts = []
    for c in cols:
        s = data[c]
        if isinstance(s.dtype, pd.CategoricalDtype):
            parts.append((s.cat.codes.to_numpy().astype(np.intp), pd.Index(s.cat.categories)))
        else:
            codes, uniq = pd.factorize(s, sort=True)
            parts.append((codes.astype(np.intp), pd.Index(uniq)))
    if len(parts) == 1:
        codes, labels = parts[0]
        index = pd.Index(labels, name=cols[0])
    else:
        missing = np.zeros(n, bool)
        key = np.zeros(n, np.int64)
        for part, labels in parts:
            missing |= part < 0
            key = key * max(len(labels), 1) + np.maximum(part, 0)
        ukey, inv = np.unique(key[~missing], return_inverse=True)
        codes = np.full(n, -1, np.intp)
        codes[~missing] = inv.reshape(-1)
        arrays = []
        rem = ukey
        for _, labels in reversed(parts):
            size = max(len(labels), 1)
            arrays.append(np.asarray(labels)[rem % size])
            rem = rem // size
        index = pd.MultiIndex.from_arrays(arrays[::-1], names=cols)
    nmiss = int((codes < 0).sum())
    if nmiss:
        warnings.warn(
            f"{nmiss} row(s) have a missing value in {', '.join(cols)} and belong to no domain",
            UserWarning,
            stacklevel=4,
        )
    return codes, index
