"""Point estimates, influence values and design effects for domain estimators.

Every function works on all domains at once over an integer code per row (``c``: domain code,
or -1 for rows outside every domain or with a missing value) with ``np.bincount``, so that a
by-domain table costs the same handful of passes over memory as one overall estimate.

The influence values are those R's ``survey`` functions hand to ``svyrecvar``:

* mean (``svymean.survey.design2``): ``w (y - ybar_d) / W_d``
* total (``svytotal.survey.design2``): ``w y``
* ratio (``svyratio.survey.design2``): ``w (y - R_d x) / X_d``

with W_d, X_d the weighted domain totals of 1 and x. Rows outside the domain are zero, which is
the zero-out (never subset) domain estimator of Cochran (1977, sec. 2.13) and Lumley (2010,
sec. 2.3), and what R's domain subsetting amounts to once ``onestrat`` pads absent PSUs with 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from methods.variance import DomainInfluence

KINDS = ("mean", "total", "ratio")


@dataclass(frozen=True)
class PointResult:
    """Per-domain point estimates and what the variance needs.

    Attributes:
        estimate: length K.
        influence: the weighted influence values as a :class:`DomainInfluence`.
        w_sum: weighted count W_d (sum of weights of rows used).
        den_sum: X_d for ratios (W_d otherwise).
        n: number of rows used with a positive weight.
        rows_used: number of rows used (R's ``length(pweights)`` for replicate designs).
        nonzero: number of rows used with a non-zero weight (R's ``nobs`` for linearisation).
    """

    estimate: np.ndarray
    influence: DomainInfluence
    w_sum: np.ndarray
    den_sum: np.ndarray
    n: np.ndarray
    rows_used: np.ndarray
    nonzero: np.ndarray


def usable_codes(dom: np.ndarray, y: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
    """Domain code per row, with -1 where y (or x) is missing: R's ``na.rm=TRUE``."""
    bad = np.isnan(y)
    if x is not None:
        bad |= np.isnan(x)
    return np.where(bad, -1, dom)


def point_estimates(
    kind: str, y: np.ndarray, w: np.ndarray, c: np.ndarray, K: int, x: np.ndarray | None = None
) -> PointResult:
    """Domain means, totals or ratios and their influence values (see module docstring).

    Arguments:
        kind: "mean", "total" or "ratio".
        y: values (NaN allowed where ``c == -1``).
        w: weights.
        c: usable domain code per row (-1 = not used).
        K: number of domains.
        x: denominator for ratios.
    """
    rows = c >= 0
    cr = c[rows]
    wr = w[rows]
    yr = y[rows]
    W = np.bincount(cr, weights=wr, minlength=K)
    Y = np.bincount(cr, weights=wr * yr, minlength=K)
    n = np.bincount(cr[wr > 0], minlength=K)
    rows_used = np.bincount(cr, minlength=K)
    nonzero = np.bincount(cr[wr != 0], minlength=K)
    vals = np.zeros(y.shape[0])
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "mean":
            est = Y / W
            vals[rows] = wr * (yr - est[cr]) / W[cr]
            den = W
        elif kind == "total":
            est = Y
            vals[rows] = wr * yr
            den = W
        elif kind == "ratio":
            assert x is not None
            xr = x[rows]
            den = np.bincount(cr, weights=wr * xr, minlength=K)
            est = Y / den
            vals[rows] = wr * (yr - est[cr] * xr) / den[cr]
        else:  # pragma: no cover - guarded by callers
            raise ValueError(kind)
    vals[~np.isfinite(vals)] = 0.0
    return PointResult(est, DomainInfluence(vals, c, K), W, den, n, rows_used, nonzero)


def srs_variance(
    kind: str,
    y: np.ndarray,
    w: np.ndarray,
    c: np.ndarray,
    K: int,
    pr: PointResult,
    m: np.ndarray,
    x: np.ndarray | None = None,
) -> np.ndarray:
    """Variance under simple random sampling without replacement, the denominator of deff.

    Arguments:
        m: R's ``nobs`` per domain (rows with non-zero weight for linearisation designs, rows
            used for replicate designs).

    Notes:
        R ``svymean(deff=TRUE)``: ``s2 (W - m) / (W m)``; ``svytotal(deff=TRUE)`` and
        ``svyratio(deff=TRUE)`` (via ``svytotal`` of ``r = (y - R x)/X``):
        ``s2 W^2 (W - m) / (W m)``; s2 is the weighted variance ``svyvar`` with divisor
        ``m - 1``: ``m/(m - 1) sum w (u - ubar)^2 / W``. Where ``W <= m`` (weights not scaled
        to a population) R returns NA (means) or a non-positive figure (totals); we return NaN
        for both and say so in the estimator docstrings.
    """
    rows = c >= 0
    cr = c[rows]
    wr = w[rows]
    if kind == "ratio":
        assert x is not None
        with np.errstate(divide="ignore", invalid="ignore"):
            u = (y[rows] - pr.estimate[cr] * x[rows]) / pr.den_sum[cr]
    else:
        u = y[rows]
    W = pr.w_sum
    mf = m.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        ubar = np.bincount(cr, weights=wr * u, minlength=K) / W
        ss = np.bincount(cr, weights=wr * (u - ubar[cr]) ** 2, minlength=K) / W
        s2 = ss * mf / (mf - 1.0)
        if kind == "mean":
            v = s2 * (W - mf) / (W * mf)
        else:
            v = s2 * W * W * (W - mf) / (W * mf)
    v = np.where((W > mf) & (mf > 1), v, np.nan)
    return v


def replicate_sums(
    rep: np.ndarray, c: np.ndarray, K: int, *columns: np.ndarray
) -> list[np.ndarray]:
    """``sum_{i: c_i = d} rep[i, r] * col_i`` for each column given (each result K x R).

    One sparse (K * ncol) x n matrix times the dense n x R replicate weights: O(n R) work
    whatever the number of domains.
    """
    rows = np.flatnonzero(c >= 0)
    cr = c[rows]
    blocks = []
    for j, col in enumerate(columns):
        blocks.append((cr + j * K, rows, col[rows]))
    r_idx = np.concatenate([b[0] for b in blocks])
    c_idx = np.concatenate([b[1] for b in blocks])
    vals = np.concatenate([b[2] for b in blocks])
    A = sparse.csr_matrix((vals, (r_idx, c_idx)), shape=(K * len(columns), rep.shape[0]))
    S = np.asarray(A @ rep)
    return [S[j * K : (j + 1) * K] for j in range(len(columns))]


def replicate_estimates(
    kind: str,
    rep: np.ndarray,
    y: np.ndarray,
    c: np.ndarray,
    K: int,
    x: np.ndarray | None = None,
) -> np.ndarray:
    """Replicate estimates (R x K) of the domain means, totals or ratios.

    Notes:
        R ``svymean.svyrep.design``: ``theta_r = sum rep_r y / sum rep_r``; ``svytotal``:
        ``sum rep_r y``; ``svyratio``: ratio of the replicate totals.
    """
    yy = np.where(np.isnan(y), 0.0, y)
    if kind == "mean":
        num, den = replicate_sums(rep, c, K, yy, np.ones_like(yy))
        with np.errstate(divide="ignore", invalid="ignore"):
            th = num / den
    elif kind == "total":
        (th,) = replicate_sums(rep, c, K, yy)
    elif kind == "ratio":
        assert x is not None
        xx = np.where(np.isnan(x), 0.0, x)
        num, den = replicate_sums(rep, c, K, yy, xx)
        with np.errstate(divide="ignore", invalid="ignore"):
            th = num / den
    else:  # pragma: no cover
        raise ValueError(kind)
    return th.T
