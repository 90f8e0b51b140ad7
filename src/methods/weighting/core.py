"""Array-level weighting algorithms: raking by iterative proportional fitting and calibration.

These functions work on numpy arrays only (weights, integer codes, model matrices) and know
nothing about :class:`methods.design.survey.SurveyDesign`; :mod:`methods.weighting` wraps them.

Sources:
    Deming, W. E. and Stephan, F. F. (1940). On a least squares adjustment of a sampled
    frequency table when the expected marginal totals are known. Ann. Math. Stat. 11, 427-444.
    Deville, J.-C. and Sarndal, C.-E. (1992). Calibration estimators in survey sampling.
    JASA 87, 376-382.
    Deville, J.-C., Sarndal, C.-E. and Sautory, O. (1993). Generalized raking procedures in
    survey sampling. JASA 88, 1013-1020 (bounded distances, heteroscedastic ``q_k``).
    Lumley, T. R package ``survey`` 4.x: ``grake``, ``cal.linear``, ``cal.raking``, ``cal.logit``
    and ``regcalibrate`` (printed with ``Rscript -e 'print(survey:::grake)'``); the Newton
    iteration, its generalised inverse, step halving, convergence test and the rescaling of
    badly scaled weights below are transcribed from that source.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.linalg.blas import dsyrk
from scipy.optimize import linprog

from methods.core.errors import ConvergenceError, UsageError, ValidationError

__all__ = [
    "CalibrationResult",
    "InfeasibleCalibrationError",
    "calibration_factors",
    "factorize",
    "ipf_factors",
    "joint_cells",
    "linear_calibration_factors",
]

#: R's ``grake`` rescales the weights when every population/sample ratio exceeds this.
_R_SOMETHRESHOLD = 20.0
#: ``MASS::ginv`` tolerance used by ``grake``.
_GINV_TOL = 256 * np.finfo(float).eps
DISTANCES = ("linear", "raking", "logit", "sinh")


class InfeasibleCalibrationError(ConvergenceError):
    """No adjustment factors inside the bounds reproduce the population totals.

    A subclass of :class:`methods.core.errors.ConvergenceError`, so callers that catch convergence
    failures also catch it; the message names the totals that cannot be reached.
    """


# --------------------------------------------------------------------------- codes and cells
def factorize(values, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..L-1 for a categorical column, levels in sorted order (as R's factor).

    Arguments:
        values: a pandas Series or array-like of levels.
        name: the column name, for error messages.

    Returns:
        ``(codes, levels)``: int64 codes and the numpy array of sorted levels.

    Notes:
        Missing values raise :class:`ValidationError` naming the (1-based) rows, because a unit
        with no level cannot be weighted to a margin.
    """
    s = pd.Series(values, copy=False) if not isinstance(values, pd.Series) else values
    if isinstance(s.dtype, pd.CategoricalDtype):
        # O(n) integer work: keep the categories' own order, drop unused categories
        raw = np.asarray(s.cat.codes, dtype=np.int64)
        cats = np.asarray(s.cat.categories, dtype=object)
        used = np.bincount(raw[raw >= 0], minlength=len(cats)) > 0
        remap = np.where(used, np.cumsum(used) - 1, -1)
        codes = np.where(raw >= 0, remap[np.maximum(raw, 0)], -1)
        levels = cats[used]
    else:
        codes, levels = pd.factorize(s, sort=True, use_na_sentinel=True)
    codes = np.asarray(codes, dtype=np.int64)
    if (codes < 0).any():
        rows = (np.flatnonzero(codes < 0) + 1).tolist()
        raise ValidationError(
            "missing values in a weighting variable; impute or recode them to a level first",
            column=name,
            rows=rows,
        )
    return codes, np.asarray(levels, dtype=object)


def joint_cells(codes: list[np.ndarray], sizes: list[int]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Index of the joint cell of several categorical codes, over the cells present.

    Arguments:
        codes: one int array (length n) per variable, values in ``0..sizes[j]-1``.
        sizes: number of levels of each variable.

    Returns:
        ``(cell, cell_codes)``: ``cell`` (length n) numbers the C present cells 0..C-1 in
        lexicographic order of the codes (last variable fastest); ``cell_codes[j]`` (length C)
        gives variable j's code in each cell.

    Notes:
        Uses ``np.bincount`` over the mixed-radix index when the full table is small (at most
        ``max(4 n, 2**20)`` cells), else ``np.unique``; memory O(n).
    """
    n = len(codes[0])
    full = int(np.prod([max(int(s), 1) for s in sizes], dtype=np.float64))
    if full < 2**62:
        flat = np.ravel_multi_index(tuple(codes), tuple(int(s) for s in sizes))
    else:  # pragma: no cover - astronomically many cells
        flat = np.unique(np.column_stack(codes), axis=0, return_inverse=True)[1].ravel()
        full = int(flat.max()) + 1
    if full <= max(4 * n, 2**20):
        present = np.bincount(flat, minlength=full) > 0
        remap = np.cumsum(present) - 1
        cell = remap[flat]
        cells_flat = np.flatnonzero(present)
    else:
        cells_flat, cell = np.unique(flat, return_inverse=True)
    cell_codes = list(np.unravel_index(cells_flat, tuple(int(s) for s in sizes)))
    return cell.astype(np.int64), [np.asarray(c, dtype=np.int64) for c in cell_codes]


def group_sums(codes: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Sums of ``values`` (length n, or n x R) within groups ``codes``; returns size (x R)."""
    if values.ndim == 1:
        return np.bincount(codes, weights=values, minlength=size)
    out = np.empty((size, values.shape[1]))
    for r in range(values.shape[1]):
        out[:, r] = np.bincount(codes, weights=values[:, r], minlength=size)
    return out


# --------------------------------------------------------------------------- raking (IPF)
def ipf_factors(
    table: np.ndarray,
    cell_codes: list[np.ndarray],
    targets: list[np.ndarray],
    tol: float = 1e-10,
    max_iter: int = 200,
    names: list[str] | None = None,
    level_names: list[np.ndarray] | None = None,
) -> tuple[np.ndarray, int, float]:
    """Raking factors for a table of weighted cell totals (iterative proportional fitting).

    Arguments:
        table: weighted totals of the C joint cells (length C), or C x R for R sets of
            weights (replicates) raked independently.
        cell_codes: for each margin m, the level (0..L_m-1) of each cell.
        targets: for each margin m, the population totals of its L_m levels.
        tol: convergence when every margin total is within ``tol`` relative of its target
            (zero targets: absolute).
        max_iter: maximum number of full sweeps over the margins.
        names, level_names: margin names and level labels, for error messages.

    Returns:
        ``(factors, iterations, worst_gap)``: the adjustment factor of each cell (same shape as
        ``table``), the sweeps run, and the worst relative margin gap at the end.

    Raises:
        ConvergenceError: not within ``tol`` after ``max_iter`` sweeps; gives the iterations
            and the worst margin gap (which margin and level).

    Notes:
        Deming and Stephan (1940). Every unit in a joint cell gets the same factor (a product of
        one factor per margin), so raking the C-cell table is exactly raking the n units, at
        O(C) cost per sweep instead of O(n).
    """
    t = np.asarray(table, dtype=np.float64)
    f = np.ones_like(t)
    nm = len(cell_codes)
    sizes = [len(tg) for tg in targets]
    tg2 = [np.asarray(tg, dtype=np.float64) for tg in targets]
    if t.ndim == 2:
        tg2 = [tg[:, None] for tg in tg2]
    denom = [np.where(tg == 0, 1.0, np.abs(tg)) for tg in tg2]

    def margin_sums(m: int, cur: np.ndarray) -> np.ndarray:
        return group_sums(cell_codes[m], cur, sizes[m])

    gap = np.inf
    worst = (0, 0)
    for it in range(1, max_iter + 1):
        for m in range(nm):
            cur = margin_sums(m, t * f)
            with np.errstate(divide="ignore", invalid="ignore"):
                adj = np.where(cur > 0, tg2[m] / np.where(cur > 0, cur, 1.0), 1.0)
            f *= adj[cell_codes[m]]
        cur_t = t * f
        gap = 0.0
        for m in range(nm):
            rel = np.abs(margin_sums(m, cur_t) - tg2[m]) / denom[m]
            k = int(np.argmax(rel))
            if rel.flat[k] > gap:
                gap = float(rel.flat[k])
                worst = (m, np.unravel_index(k, rel.shape)[0])
        if gap <= tol:
            return f, it, gap
    m, lev = worst
    mname = names[m] if names else f"margin {m}"
    lname = level_names[m][lev] if level_names else lev
    raise ConvergenceError(
        f"raking did not converge in {max_iter} iterations: worst margin gap {gap:.3g} "
        f"(relative) at {mname}={lname!r}; tol={tol:g}. The sample may have empty cells that "
        "make the margins unreachable (check the sample cross-tabulation of the margins), or "
        "raise max_iter."
    )


# --------------------------------------------------------------------------- calibration
@dataclass(frozen=True)
class CalibrationResult:
    """Outcome of :func:`calibration_factors`: factors ``g``, iterations, final gap, scale."""

    g: np.ndarray
    iterations: int
    gap: float
    scale: float


def _sinh_f(u: np.ndarray, alpha: float) -> np.ndarray:
    """R's ``dasinh``: ``F(u) = (p + sqrt(p^2 + 4 alpha^2)) / (2 alpha)``, ``p = asinh(2 alpha u)``,
    the inverse of ``g -> alpha (g - 1/g)`` composed with ``sinh``; ``F(0) = 1``."""
    p = np.arcsinh(2.0 * alpha * u)
    return (p + np.sqrt(p * p + 4.0 * alpha * alpha)) / (2.0 * alpha)


def _sinh_inv(m, alpha: float):
    """``F^{-1}(m) = sinh(alpha (m - 1/m)) / (2 alpha)`` for ``m > 0`` (``-inf`` for ``m <= 0``,
    which ``F > 0`` never reaches; ``+inf`` for ``m = inf``)."""
    m = np.asarray(m, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.sinh(alpha * (m - 1.0 / m)) / (2.0 * alpha)
    return np.where(m > 0, np.where(np.isfinite(m), out, np.inf), -np.inf)


#: Gauss-Legendre nodes for the sinh distance's dual objective (a merit function only).
_GL_X, _GL_W = np.polynomial.legendre.leggauss(40)


def _fm1_df(
    distance: str, u: np.ndarray, lo: float, hi: float, alpha: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    """``F(u) - 1`` and ``F'(u)`` of R's calfun objects (cal.linear, cal.raking, cal.logit,
    cal.sinh; sinh with R's ``dasinh``/``ddasinh`` ``alpha``, which R's ``cal.sinh`` fixes at 1).

    As in R, the linear and raking derivatives are zero outside ``lower - 1 < u < upper - 1``
    (for raking R tests ``u``, not ``exp(u)``, against the bounds; kept, since it only shapes
    the Newton path). The logit derivative is R's ``dF`` simplified to
    ``A (1 - L)(U - 1)(U - L) e^{Au} / (U - 1 + (1 - L) e^{Au})^2``.
    """
    if distance == "logit":
        a = (hi - lo) / ((hi - 1.0) * (1.0 - lo))
        eau = np.exp(a * u)
        den = hi - 1.0 + (1.0 - lo) * eau
        fm1 = (lo * (hi - 1.0) + hi * (1.0 - lo) * eau) / den - 1.0
        return fm1, (a * (1.0 - lo) * (hi - 1.0) * (hi - lo)) * eau / (den * den)
    inside = (u < hi - 1.0) & (u > lo - 1.0)
    if distance == "sinh":  # R: ddasinh = (1 + p / sqrt(p^2 + 4 a^2)) / sqrt(1 + (2 a u)^2)
        p = np.arcsinh(2.0 * alpha * u)
        dfu = (1.0 + p / np.sqrt(p * p + 4.0 * alpha * alpha)) / np.sqrt(
            1.0 + (2.0 * alpha * u) ** 2
        )
        f = _sinh_f(u, alpha)
        return np.minimum(np.maximum(f, lo), hi) - 1.0, np.where(inside, dfu, 0.0)
    if distance == "linear":
        return np.minimum(np.maximum(u + 1.0, lo), hi) - 1.0, inside.astype(np.float64)
    e = np.exp(u)
    return np.minimum(np.maximum(e, lo), hi) - 1.0, np.where(inside, e, 0.0)


def _fm1(distance: str, u: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``F(u) - 1`` (see :func:`_fm1_df`)."""
    return _fm1_df(distance, u, lo, hi)[0]


def _psi(distance: str, u: np.ndarray, lo: float, hi: float, alpha: float = 1.0) -> np.ndarray:
    """``integral_0^u (F(t) - 1) dt``: the convex dual objective's per-unit term.

    Its gradient in ``eta`` is ``X' D (F(X eta) - 1)``, so Newton on the calibration equations
    is Newton on the dual ``sum_i d_i psi(x_i' eta) - eta' (T - X'd)`` (Deville and Sarndal
    1992, section 3); the line search uses it as a merit function.
    """
    if distance == "logit":
        a = (hi - lo) / ((hi - 1.0) * (1.0 - lo))
        lse = np.logaddexp(np.log(hi - 1.0), np.log(1.0 - lo) + a * u)
        return (lo - 1.0) * u + (hi - 1.0) * (1.0 - lo) * (lse - np.log(hi - lo))
    if distance == "linear":
        a, b = lo - 1.0, hi - 1.0
        uc = np.clip(u, a, b)
        out = uc * uc / 2.0
    elif distance == "sinh":  # no closed form: Gauss-Legendre on t = sinh(p) / (2 alpha)
        a, b = _sinh_inv(lo, alpha), _sinh_inv(hi, alpha)
        uc = np.clip(u, a, b)
        pe = np.arcsinh(2.0 * alpha * uc)
        pn = pe[..., None] * (_GL_X + 1.0) / 2.0  # nodes on [0, pe]
        fp = (pn + np.sqrt(pn * pn + 4.0 * alpha * alpha)) / (2.0 * alpha) - 1.0
        out = (fp * np.cosh(pn) / (2.0 * alpha)) @ _GL_W * (pe / 2.0)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(np.asarray(lo) > 0, np.log(np.maximum(lo, 0.0)), -np.inf)
            b = np.where(np.isfinite(hi), np.log(np.where(np.isfinite(hi), hi, 1.0)), np.inf)
        uc = np.clip(u, a, b)
        out = np.expm1(uc) - uc
    with np.errstate(invalid="ignore"):  # inf * 0 where a bound is infinite: no term
        above = np.where(np.isfinite(b), (hi - 1.0) * np.maximum(u - b, 0.0), 0.0)
        below = np.where(np.isfinite(a), (lo - 1.0) * np.minimum(u - a, 0.0), 0.0)
    return out + above + below


def xtdx(x: np.ndarray, v: np.ndarray, block: int = 16384) -> np.ndarray:
    """``X' diag(v) X`` (p x p) for ``v >= 0``: BLAS ``dsyrk`` on blocks of ``sqrt(v) X``.

    Blocks of rows keep the temporary in cache (memory O(block p), not O(n p)) and use half
    the flops of a general matrix product.
    """

    v = np.asarray(v, dtype=np.float64)
    if (v < 0).any():
        return x.T @ (x * v[:, None])
    sv = np.sqrt(v)
    p = x.shape[1]
    acc = np.zeros((p, p), order="F")
    for i in range(0, x.shape[0], block):
        xs = x[i : i + block] * sv[i : i + block, None]
        if xs.flags.f_contiguous:  # dsyrk adds xs' xs
            acc = dsyrk(1.0, xs, beta=1.0, c=acc, trans=1, overwrite_c=1)
        else:  # C-ordered rows x p is, to BLAS, the p x rows matrix xs'
            acc = dsyrk(1.0, xs.T, beta=1.0, c=acc, trans=0, overwrite_c=1)
    upper = np.triu(acc)
    return upper + np.triu(upper, 1).T


def ginv(m: np.ndarray) -> np.ndarray:
    """Moore-Penrose inverse with ``MASS::ginv``'s tolerance (256 machine epsilons)."""
    u, s, vt = np.linalg.svd(m)
    keep = s > max(_GINV_TOL * s[0], 0.0)
    return (vt[keep].T / s[keep]) @ u[:, keep].T


def check_bounds(distance: str, bounds):
    """Validate ``bounds`` for a distance; returns ``(lower, upper)`` as floats.

    ``lower`` and ``upper`` may also be arrays (one bound per unit on its factor ``g``, as R's
    ``bounds.const = TRUE`` makes them); then they must satisfy ``lower < upper`` unit by unit
    (a :class:`ValidationError` names the first offending rows) and, for logit, lie strictly
    either side of 1, since R's ``cal.logit`` is undefined otherwise.
    """
    if distance not in DISTANCES:
        raise UsageError(f"distance must be one of {DISTANCES}, got {distance!r}")
    if bounds is not None and (np.ndim(bounds[0]) or np.ndim(bounds[1])):
        lo, hi = (np.asarray(b, dtype=np.float64) for b in bounds)
        lo, hi = np.broadcast_arrays(lo, hi)
        bad = ~(lo < hi)
        if distance == "sinh":
            bad |= ~(np.isfinite(lo) & np.isfinite(hi))
        if distance == "logit":
            bad |= ~(np.isfinite(lo) & np.isfinite(hi) & (lo < 1.0) & (hi > 1.0))
        if bad.any():
            raise ValidationError(
                "per-unit bounds on the factors must satisfy lower < upper"
                + (
                    " and lower < 1 < upper (logit): with bounds_const=True every input weight "
                    "must lie strictly inside the weight bounds"
                    if distance == "logit"
                    else ""
                ),
                rows=(np.flatnonzero(bad) + 1).tolist(),
            )
        return lo, hi
    lo, hi = (-np.inf, np.inf) if bounds is None else (float(bounds[0]), float(bounds[1]))
    if not lo < hi:
        raise UsageError(f"bounds must satisfy lower < upper, got ({lo:g}, {hi:g})")
    if not (lo <= 1.0 <= hi):
        raise UsageError(
            f"bounds ({lo:g}, {hi:g}) exclude 1, the factor of a sample that already matches "
            "the totals; use lower <= 1 <= upper"
        )
    if distance == "logit" and not (np.isfinite(lo) and np.isfinite(hi) and lo < 1.0 < hi):
        raise UsageError(
            f"logit calibration needs finite bounds with lower < 1 < upper, got ({lo:g}, {hi:g})"
        )
    if distance == "sinh" and not (np.isfinite(lo) and np.isfinite(hi)):
        raise UsageError(  # R's cal.sinh: "Sinh calibration requires finite bounds"
            f"sinh calibration needs finite bounds, got ({lo:g}, {hi:g})"
        )
    return lo, hi


def attainable_ranges(x: np.ndarray, d: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Range of ``sum_i d_i g_i x_ij`` over factors ``lo <= g_i <= hi`` (p x 2).

    ``lo`` and ``hi`` are scalars or per-unit arrays."""
    if np.ndim(lo) or np.ndim(hi):
        lo, hi = np.broadcast_to(lo, d.shape), np.broadcast_to(hi, d.shape)
        out = np.empty((x.shape[1], 2))
        for j in range(x.shape[1]):
            xp, xn = d * np.maximum(x[:, j], 0.0), d * np.minimum(x[:, j], 0.0)
            with np.errstate(invalid="ignore"):
                low = np.where(xp != 0, lo * xp, 0.0) + np.where(xn != 0, hi * xn, 0.0)
                high = np.where(xp != 0, hi * xp, 0.0) + np.where(xn != 0, lo * xn, 0.0)
            out[j] = low.sum(), high.sum()
        return out
    pos = x.T @ d
    neg = np.zeros_like(pos)
    for j in np.flatnonzero(x.min(axis=0) < 0):  # columns with negative values (rare)
        neg[j] = d @ np.minimum(x[:, j], 0.0)
        pos[j] -= neg[j]
    with np.errstate(invalid="ignore"):
        low = np.nan_to_num(lo * pos, nan=0.0) + np.nan_to_num(hi * neg, nan=0.0)
        high = np.nan_to_num(hi * pos, nan=0.0) + np.nan_to_num(lo * neg, nan=0.0)
    low = np.where((pos > 0) & np.isinf(lo), -np.inf, low)
    low = np.where((neg < 0) & np.isinf(hi), -np.inf, low)
    high = np.where((pos > 0) & np.isinf(hi), np.inf, high)
    high = np.where((neg < 0) & np.isinf(lo), np.inf, high)
    return np.column_stack([low, high])


def jointly_feasible(
    x: np.ndarray, d: np.ndarray, totals: np.ndarray, lo: float, hi: float, max_rows: int = 20_000
) -> bool | None:
    """Whether some factors in ``[lo, hi]`` reproduce ``totals`` (a linear programme).

    Returns ``True``/``False``, or ``None`` when the problem is too big to check quickly
    (more than ``max_rows`` distinct rows of ``x``; 20,000 take a few seconds). Units with identical rows of ``x`` are pooled first:
    averaging feasible factors within such a group keeps them feasible, so pooling loses
    nothing. Solved with scipy's HiGHS.
    """

    p = x.shape[1]
    per_unit = bool(np.ndim(lo) or np.ndim(hi))
    key = x
    if per_unit:  # pool only units that share their row of x and their bounds
        key = np.column_stack([x, np.broadcast_to(lo, d.shape), np.broadcast_to(hi, d.shape)])
    uniq, inv = np.unique(key, axis=0, return_inverse=True)
    if len(uniq) > max_rows:
        return None
    dsum = np.bincount(inv.ravel(), weights=d, minlength=len(uniq))
    if per_unit:
        box = [
            (None if np.isinf(a) else a, None if np.isinf(b) else b)
            for a, b in zip(uniq[:, p], uniq[:, p + 1])
        ]
        uniq = uniq[:, :p]
    else:
        box = (None if np.isinf(lo) else lo, None if np.isinf(hi) else hi)
    a_eq = (uniq * dsum[:, None]).T
    scale = 1.0 + np.abs(totals)
    res = linprog(
        np.zeros(len(uniq)),
        A_eq=a_eq / scale[:, None],
        b_eq=totals / scale,
        bounds=box,
        method="highs",
    )
    return bool(res.status == 0)


def linear_calibration_factors(
    x: np.ndarray, d: np.ndarray, totals: np.ndarray, variance: np.ndarray | None = None
) -> np.ndarray:
    """Unbounded linear (GREG) calibration factors ``g = 1 + x' (X'DX)^{-1} (T - X'd)``.

    With ``variance`` ``q`` (R's ``variance=``, ``lambda`` in ``regcalibrate``):
    ``g_i = 1 + x_i' (X' D Q^{-1} X)^{-1} (T - X'd) / q_i``, the GREG under a working model
    with variances proportional to ``q`` (Deville, Sarndal and Sautory 1993).

    Notes:
        Deville and Sarndal (1992), chi-square distance; the direct solve of R's
        ``regcalibrate.survey.design2``. Memory O(n p): only p x p cross-products are formed.
    """
    if variance is None:
        lam = np.linalg.solve(xtdx(x, d), totals - x.T @ d)
        return 1.0 + x @ lam
    q = np.asarray(variance, dtype=np.float64)
    lam = np.linalg.solve(xtdx(x, d / q), totals - x.T @ d)
    return 1.0 + (x @ lam) / q


def calibration_factors(
    x: np.ndarray,
    d: np.ndarray,
    totals: np.ndarray,
    distance: str = "linear",
    bounds=None,
    tol: float = 1e-10,
    max_iter: int = 50,
    labels: list[str] | None = None,
    level_checks: list | None = None,
    variance: np.ndarray | None = None,
    force: bool = False,
    alpha: float = 1.0,
) -> CalibrationResult:
    """Calibration factors ``g`` (new weight = ``d * g``) by R's ``grake`` Newton-Raphson.

    Arguments:
        x: n x p auxiliary (model) matrix.
        d: input weights (length n).
        totals: population totals of the p columns of ``x``.
        distance: ``"linear"`` (chi-square), ``"raking"`` (multiplicative) or ``"logit"``.
        bounds: ``(lower, upper)`` on the factors; required and finite for logit. Either may be
            an array of one bound per unit (R's ``bounds.const``, after dividing by ``d``).
        tol: stop when every ``|T_j - sum_i d_i g_i x_ij| / (1 + |T_j|) < tol`` (R's
            ``epsilon``).
        max_iter: Newton iterations (R's ``maxit``).
        labels: names of the columns of ``x``, for messages.
        level_checks: ``(name, codes, levels, totals)`` of categorical variables whose every
            level (the reference level too) is checked for reachability before iterating.
        variance: positive ``q_i`` (length n), R's ``variance=`` (heteroscedasticity): the
            distance of unit i is scaled by ``q_i``, so ``g_i = 1 + F(x_i' eta / q_i)`` and
            Newton uses ``X' diag(d F' / q) X`` (``survey:::grake``'s ``sigma2``; Deville,
            Sarndal and Sautory 1993, section 2).
        alpha: the sinh distance's ``alpha`` (R's ``dasinh(u, alpha)``; ``cal.sinh`` uses 1).
        force: as R's ``force = TRUE``: when ``max_iter`` is reached, warn (RuntimeWarning
            giving the achieved worst relative misfit and the iterations) and return the last
            factors instead of raising; R warns "Failed to converge" and stops with
            "Calibration failed" unless ``force``.

    Returns:
        :class:`CalibrationResult` with factors ``g`` (relative to ``d``), iterations, the
        final worst relative misfit, and the rescaling R applied (1 if none).

    Raises:
        InfeasibleCalibrationError: a total lies outside what bounded factors can reach (each
            column checked first, then jointly by linear programming when Newton fails).
        ConvergenceError: no convergence in ``max_iter`` iterations although feasible (unless
            ``force``).

    Notes:
        Transcribes ``survey:::grake`` (Lumley; Deville and Sarndal 1992): ``g = 1 + F(x'eta)``
        with R's ``cal.linear``/``cal.raking`` (truncated at the bounds) and ``cal.logit``;
        Newton steps ``eta += ginv(X' D F'(x'eta) X) misfit``; step halving while ``g`` is not
        finite. One safeguard R lacks: a full Newton step is kept only if it lowers the convex
        dual objective (Armijo) or the misfit; otherwise it is halved. R's truncated (bounded)
        linear and raking iterations can cycle without it; where R converges both reach the
        same unique solution. When every population/sample ratio exceeds 20, R rescales the weights by their
        mean ratio first and interprets the bounds after that rescaling; so do we, with a
        warning when bounds were set. Memory O(n p): X'DX is p x p.
    """
    lo, hi = check_bounds(distance, bounds)
    x = np.asarray(x, dtype=np.float64)
    d = np.asarray(d, dtype=np.float64)
    totals = np.asarray(totals, dtype=np.float64)
    p = x.shape[1]
    labels = labels or [f"x{j}" for j in range(p)]
    q = np.ones(len(d)) if variance is None else np.asarray(variance, dtype=np.float64)
    sample_total = x.T @ d
    scale = 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = totals / sample_total
    if np.min(scales) > _R_SOMETHRESHOLD:
        scale = float(np.mean(scales))
        d = d * scale
        sample_total = sample_total * scale
        if np.isfinite(lo).any() or np.isfinite(hi).any():
            warnings.warn(
                f"the weights total less than 1/20 of every population total, so (as R's "
                f"survey::calibrate does) they were first rescaled by {scale:.4g}; the bounds "
                f"{_bounds_text(lo, hi)} apply to factors relative to the rescaled weights",
                UserWarning,
                stacklevel=3,
            )
    _check_ranges(x, d, totals, lo, hi, labels, scale)
    per_unit = bool(np.ndim(lo) or np.ndim(hi))
    for name, codes, levels, level_totals in level_checks or ():
        if per_unit:  # units keep their own bounds: the indicator matrix, unit by unit
            xi, di = (codes[:, None] == np.arange(len(levels))).astype(np.float64), d
        else:
            xi, di = np.eye(len(levels)), np.bincount(codes, weights=d, minlength=len(levels))
        _check_ranges(
            xi,
            di,
            np.asarray(level_totals, float),
            lo,
            hi,
            [f"{name}={lv}" for lv in levels],
            scale,
        )

    rhs = totals - sample_total
    eta = np.zeros(p)
    xeta = np.zeros(len(d))
    it = 1
    with np.errstate(over="ignore", invalid="ignore"):
        g1, deriv = _fm1_df(distance, xeta, lo, hi, alpha)
        dq = d * q
        misfit = rhs - x.T @ (d * g1)
        rel = np.abs(misfit) / (1.0 + np.abs(totals))
        gap = float(np.max(rel))
        while gap >= tol:
            tmat = xtdx(x, d * deriv / q)
            deta = ginv(tmat) @ misfit
            slope = float(misfit @ deta)
            if not slope > 0:  # singular Hessian along the misfit: steepest descent instead
                deta = misfit.copy()
                slope = float(misfit @ misfit)
            step = 1.0
            accepted = False
            while step >= 2.0**-40:
                cand = eta + step * deta
                xc = (x @ cand) / q
                g1c, derivc = _fm1_df(distance, xc, lo, hi, alpha)
                if np.isfinite(g1c).all() and np.isfinite(derivc).all():
                    misc = rhs - x.T @ (d * g1c)
                    relc = np.abs(misc) / (1.0 + np.abs(totals))
                    gapc = float(np.max(relc))
                    if gapc < gap:  # R's full Newton step, or a part of it, helps
                        accepted = True
                        break
                    # else the dual objective must fall (Armijo), computed as a difference
                    dphi = float(
                        dq
                        @ (_psi(distance, xc, lo, hi, alpha) - _psi(distance, xeta, lo, hi, alpha))
                        - (cand - eta) @ rhs
                    )
                    if dphi <= -1e-4 * step * slope:
                        accepted = True
                        break
                step /= 2
            if accepted:
                eta, xeta, g1, deriv = cand, xc, g1c, derivc
                misfit, rel, gap = misc, relc, gapc
            if gap < tol:
                break
            it += 1
            if it > max_iter:
                if force:
                    warnings.warn(
                        f"{distance} calibration failed to converge (R: 'Failed to converge'): "
                        f"worst relative misfit {gap:.3g} of the calibrated totals after "
                        f"{max_iter} iterations (tol={tol:g}); the last weights are returned "
                        "because force=True",
                        RuntimeWarning,
                        stacklevel=3,
                    )
                    it = max_iter
                    break
                _raise_not_converged(x, d, totals, lo, hi, labels, distance, max_iter, rel)
    g = (1.0 + g1) * scale
    return CalibrationResult(g=g, iterations=it, gap=gap, scale=scale)


def _bounds_text(lo, hi) -> str:
    """``(lower, upper)``, or the range of per-unit bounds."""
    if np.ndim(lo) or np.ndim(hi):
        return (
            f"(per-unit, lower {np.min(lo):.4g}..{np.max(lo):.4g}, "
            f"upper {np.min(hi):.4g}..{np.max(hi):.4g})"
        )
    return f"({lo:g}, {hi:g})"


def _check_ranges(x, d, totals, lo, hi, labels, scale) -> None:
    """Raise when a single total is outside the range bounded factors can reach."""
    if np.isinf(lo).all() and np.isinf(hi).all():
        return
    rng = attainable_ranges(x, d, lo, hi)
    bad = np.flatnonzero(
        (totals < rng[:, 0] - 1e-9 * np.abs(totals)) | (totals > rng[:, 1] + 1e-9 * np.abs(totals))
    )
    if bad.size:
        parts = [
            f"{labels[j]}: total {totals[j]:.6g} outside [{rng[j, 0]:.6g}, {rng[j, 1]:.6g}]"
            for j in bad[:20]
        ]
        note = f" (weights rescaled by {scale:.4g} first, as R does)" if scale != 1.0 else ""
        raise InfeasibleCalibrationError(
            f"calibration bounds {_bounds_text(lo, hi)} are infeasible{note}: "
            + "; ".join(parts)
            + ". Widen the bounds, or collapse the levels whose totals cannot be reached."
        )


def _raise_not_converged(x, d, totals, lo, hi, labels, distance, max_iter, rel) -> None:
    """After a failed Newton run: infeasible (linear programme) or merely not converged."""
    j = int(np.nanargmax(np.where(np.isfinite(rel), rel, np.inf)))
    where = f"worst relative gap {rel[j]:.3g} at {labels[j]}"
    note = ""
    if np.isfinite(lo).any() or np.isfinite(hi).any():
        feasible = jointly_feasible(x, d, totals, lo, hi)
        if feasible is None:
            note = (
                " Whether the bounds are jointly feasible was not checked (too many distinct "
                "auxiliary patterns for the linear programme); they may be too tight."
            )
        if feasible is False:
            raise InfeasibleCalibrationError(
                f"calibration bounds {_bounds_text(lo, hi)} are infeasible: every total is reachable "
                f"on its own but no set of factors inside the bounds reproduces all of them "
                f"together ({distance} distance stopped after {max_iter} iterations, {where}). "
                "Widen the bounds or drop or collapse auxiliary totals."
            )
    raise ConvergenceError(
        f"{distance} calibration did not converge in {max_iter} iterations: {where}. "
        "Raise max_iter, widen the bounds, or check for near-collinear auxiliary variables." + note
    )
