"""Disclosure control: small-base and small-count suppression with secondary suppression.

docs/methods.md, "Disclosure control": suppress an estimate whose unweighted base is below
a configurable threshold (default 30 for percentages, 10 for counts) and any cell from which a
suppressed one can be derived. The functions here are general (any table with additive
constraints); :mod:`methods.report.tables` applies them to the monthly report's tables and
re-exports these names.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from scipy.linalg import null_space

from methods.core.errors import UsageError

#: Default small-base thresholds (docs/methods.md, disclosure control).
MIN_BASE_PERCENT = 30
MIN_BASE_COUNT = 10

#: The mark shown instead of a suppressed figure in displayed tables: "[c]", confidential, the
#: symbol of the GSS guidance on symbols in tables (Analysis Function, "Symbols, figures and
#: numbers in tables").
SUPPRESSED_MARK = "[c]"


def suppressed_note(min_base: int = MIN_BASE_PERCENT, min_count: int = MIN_BASE_COUNT) -> str:
    """One sentence saying what :data:`SUPPRESSED_MARK` means, for the foot of a table."""
    return (
        f"{SUPPRESSED_MARK} = suppressed (confidential): a percentage whose unweighted base is "
        f"below {min_base}, a count below {min_count} (zeros are shown), or a figure from which "
        "a suppressed one could be worked out (secondary suppression)."
    )


# --------------------------------------------------------------------------- disclosure control


def additive_constraints(
    table: pd.DataFrame,
    columns: list[str] | tuple[str, ...],
    *,
    by: str | list[str] | None = None,
    sign: str | np.ndarray | None = None,
    across: bool = False,
) -> np.ndarray:
    """Additive constraints of a table of counts, as a coefficient matrix.

    Each constraint says that ``sum(coefficient * cell)`` over its cells is known to a reader
    (a published total, or zero when a total row is itself a cell with coefficient -1).

    Arguments:
        table: the table; its cells are ``table[columns]``, numbered row by row
            (cell ``r * len(columns) + j`` is row ``r``, column ``columns[j]``).
        columns: the count columns.
        by: one constraint per column and per group of these key columns (default: per column
            over all rows, i.e. the column totals are published).
        sign: a column of ``table`` (or an array, one value per row) with each row's
            coefficient, e.g. -1 for a total row and +1 for its parts, so that
            ``parts - total = 0``; default +1 for every row.
        across: instead, one constraint per row summing across ``columns`` (row totals);
            ``sign`` then gives one coefficient per column and ``by`` is not used.

    Returns:
        Array of shape ``(n_constraints, len(table) * len(columns))``.

    Notes:
        Vectorised: the cell of row ``r`` and column ``j`` belongs to constraint
        ``j * n_groups + group[r]``.
    """
    n, m = len(table), len(columns)
    if across:
        coef = np.ones(m) if sign is None else np.asarray(sign, dtype=float)
        out = np.zeros((n, n * m))
        out[np.repeat(np.arange(n), m), np.arange(n * m)] = np.tile(coef, n)
        return out
    if by is None:
        group, n_groups = np.zeros(n, dtype=np.int64), 1
    else:
        keys = table[by] if isinstance(by, str) else table[list(by)]
        group = (
            pd.factorize(keys)[0]
            if isinstance(by, str)
            else keys.groupby(list(by), sort=False).ngroup().to_numpy()
        )
        n_groups = int(group.max()) + 1 if n else 0
    if sign is None:
        coef = np.ones(n)
    elif isinstance(sign, str):
        coef = table[sign].to_numpy(dtype=float)
    else:
        coef = np.asarray(sign, dtype=float)
    out = np.zeros((m * n_groups, n * m))
    rows = (np.arange(m)[None, :] * n_groups + group[:, None]).ravel()
    out[rows, np.arange(n * m)] = np.repeat(coef, m)
    return out


def derivable_cells(suppressed: np.ndarray, constraints: np.ndarray, tol: float = 1e-9):
    """Which suppressed cells a reader can work out exactly from the published cells.

    Arguments:
        suppressed: boolean mask over the cells (flattened as in :func:`additive_constraints`).
        constraints: coefficient matrix ``A``; each row's ``A @ x`` is known to a reader.

    Returns:
        Boolean mask, True for suppressed cells whose value is determined.

    Notes:
        With the published cells moved to the right-hand side, the suppressed values ``x_S``
        satisfy ``A_S x_S = b``. Cell ``i`` of ``S`` is determined exactly when every solution
        agrees on it, i.e. when the null space of ``A_S`` is zero in coordinate ``i``
        (linear algebra of cell suppression: Hundepool et al. 2012, *Statistical Disclosure
        Control*, Wiley, section 4.2; exact, unlike the "two suppressions per line" rule,
        which misses cells on a bridge between two suppression cycles). Bounds from
        non-negativity (interval disclosure) are not checked.
    """

    suppressed = np.asarray(suppressed, dtype=bool)
    out = np.zeros(suppressed.shape, dtype=bool)
    s = np.flatnonzero(suppressed)
    if s.size == 0 or constraints.size == 0:
        return out
    a = constraints[:, s]
    a = a[np.any(a != 0, axis=1)]
    if a.shape[0] == 0:
        return out
    basis = null_space(a)  # (|S|, dim); empty columns: every suppressed cell is determined
    out[s] = np.all(np.abs(basis) <= tol, axis=1)
    return out


def secondary_suppression(
    values: np.ndarray, primary: np.ndarray, constraints: np.ndarray
) -> np.ndarray:
    """Add complementary suppressions until no suppressed cell can be derived.

    Arguments:
        values: the cells' values (used to choose complements: the smallest first).
        primary: boolean mask of the cells suppressed for their own sake.
        constraints: coefficient matrix from :func:`additive_constraints` (rows stacked for
            several kinds of constraint); an empty matrix means no constraint.

    Returns:
        Boolean mask: primary and secondary suppressions.

    Notes:
        docs/methods.md: suppress "any cell from which a suppressed one can be derived".
        First every constraint holding exactly one suppressed cell gets one more: its smallest
        unsuppressed non-zero cell (zeros only when nothing else is left, since a suppressed
        zero protects little; tau-ARGUS's default, Hundepool et al. 2012, section 4.2.3),
        repeated until no constraint has a lone suppression. Then the exact test of
        :func:`derivable_cells` finds cells still determined through several constraints
        together; the smallest unsuppressed cell sharing a constraint with one of them is added,
        one at a time, until none is left. Minimises neither the number nor the total of the
        suppressed cells (an optimal pattern is an integer programme); it is deterministic.
        A cell that is itself a published total (the only cell of a constraint) cannot be
        protected this way: a warning names it.
    """

    values = np.asarray(values, dtype=float)
    sup = np.asarray(primary, dtype=bool).copy()
    if constraints.size == 0 or not sup.any():
        return sup
    member = constraints != 0
    # Choice order: small non-zero cells first, zeros last.
    key = np.where(values > 0, values, np.inf)
    zero_key = np.nanmax(values[np.isfinite(values)], initial=0) + 1.0
    key = np.where(np.isfinite(key), key, zero_key)
    # Cells determined even if every cell were suppressed (a cell that is itself a published
    # total) cannot be protected by suppressing others: say so rather than suppress everything.
    hopeless = derivable_cells(np.ones_like(sup), constraints)
    if (hopeless & sup).any():
        warnings.warn(
            f"suppressed cells {np.flatnonzero(hopeless & sup).tolist()} equal a published "
            "total on their own, so no secondary suppression can hide them: suppress that "
            "total where it is published, or drop the constraint",
            stacklevel=2,
        )
    while True:
        count = member.astype(np.int64) @ sup
        lone = (count == 1) & ((member & ~sup).any(axis=1))
        if lone.any():
            cand = np.where(member[lone] & ~sup, key[None, :], np.inf)
            sup[np.argmin(cand, axis=1)] = True
            continue
        det = derivable_cells(sup, constraints) & ~hopeless
        if not det.any():
            return sup
        touching = member[:, det].any(axis=1)
        cand = np.where(member[touching] & ~sup, key[None, :], np.inf)
        if not np.isfinite(cand).any():
            warnings.warn(
                f"cells {np.flatnonzero(det).tolist()} stay derivable: every other cell of "
                "their constraints is already suppressed",
                stacklevel=2,
            )
            return sup
        sup[np.unravel_index(np.argmin(cand), cand.shape)[1]] = True


def suppress_counts(
    table: pd.DataFrame,
    columns: list[str] | tuple[str, ...],
    min_count: int = MIN_BASE_COUNT,
    *,
    constraints: str | np.ndarray | None = "column totals",
    suppress_zeros: bool = False,
) -> pd.DataFrame:
    """Suppress small counts and every cell from which one could be derived.

    Arguments:
        table: a table of counts.
        columns: the count columns to protect.
        min_count: counts below this (and above zero) are suppressed (primary suppression).
        constraints: the table's additive constraints: ``"column totals"`` (default: each
            column's total is published elsewhere, the cautious assumption), ``None`` (no
            additive constraint: primary suppression only), or a coefficient matrix from
            :func:`additive_constraints` (stack several with ``np.vstack``).
        suppress_zeros: also suppress zero counts.

    Returns:
        A copy with the count columns as nullable integers, suppressed cells blank (``<NA>``),
        and a boolean ``<column>_suppressed`` flag column after each count column.

    Notes:
        docs/methods.md, disclosure control: "Suppress an estimate whose unweighted base
        is below a configurable threshold (default 30 for percentages, 10 for counts) and any
        cell from which a suppressed one can be derived." Secondary suppression by
        :func:`secondary_suppression`. Zeros are published by default: in these tables a zero
        says that no victim was excluded by a rule or completed an interview, which identifies
        nobody; disclosure guidance treats zeros as disclosive only where they reveal that
        every member of a group shares an attribute (group disclosure; GSS, *Disclosure
        control for tables produced from administrative sources*; Hundepool et al. 2012,
        section 4.2), which does not arise in counts of cases.
    """

    columns = list(columns)
    missing = [c for c in columns if c not in table]
    if missing:
        raise UsageError(f"suppress_counts: no column(s) {missing} in the table {list(table)}")
    vals = table[columns].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(vals) | (vals < 0)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1)).tolist()
        raise UsageError(
            f"suppress_counts: counts must be non-negative numbers; rows {rows[:10]} of "
            f"{columns} are not (fill or drop them first)"
        )
    flat = vals.ravel()
    primary = (flat < min_count) & ((flat > 0) | suppress_zeros)
    if isinstance(constraints, str):
        if constraints != "column totals":
            raise UsageError(
                f"suppress_counts: constraints={constraints!r}; use 'column totals', None or "
                "a matrix from additive_constraints"
            )
        constraints = additive_constraints(table, columns)
    elif constraints is None:
        constraints = np.zeros((0, flat.size))
    constraints = np.asarray(constraints, dtype=float)
    if constraints.shape[1:] != (flat.size,):
        raise UsageError(
            f"suppress_counts: the constraint matrix has {constraints.shape[1:]} columns; the "
            f"table has {flat.size} cells ({len(table)} rows x {len(columns)} columns)"
        )
    sup = secondary_suppression(flat, primary, constraints).reshape(vals.shape)
    out = table.copy()
    for j, c in enumerate(columns):
        out[c] = pd.array(np.rint(vals[:, j]).astype(np.int64), dtype="Int64")
        out.loc[sup[:, j], c] = pd.NA
        pos = out.columns.get_loc(c) + 1
        flag = f"{c}_suppressed"
        if flag in out:
            out = out.drop(columns=flag)
        out.insert(pos, flag, sup[:, j])
    return out


def mark_suppressed(
    table: pd.DataFrame, marks: dict[str, str], mark: str = SUPPRESSED_MARK
) -> pd.DataFrame:
    """A display copy of ``table`` with suppressed cells shown as ``mark`` ("[c]").

    Arguments:
        table: the table (suppressed cells blank).
        marks: column -> boolean flag column saying where that column is suppressed; the flag
            columns are dropped from the copy.

    Returns:
        A copy in which each marked column is of object dtype holding its values, or ``mark``.
    """
    out = table.copy()
    for col, flag in marks.items():
        if col in out and flag in table:
            f = table[flag].fillna(False).to_numpy(dtype=bool)
            out[col] = out[col].astype(object).where(~f, mark)
    return out.drop(columns=[f for f in set(marks.values()) if f in out])
