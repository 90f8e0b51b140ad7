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

from methods.design.variance import DomainInfluence

KINDS = ("mean", "total", "ratio")


class Groups:
    """Rows used and their domain codes, with sums per domain in as few passes as possible.

    ``c`` is the usable domain code per row (-1 = not used). When every row is used no copy is
    made; with a single domain sums are plain (pairwise) sums instead of ``np.bincount``.
    """

    def __init__(self, c: np.ndarray, K: int):
        self.c = c
        self.K = K
        self.n = c.shape[0]
        self.all = bool(c.size == 0 or c.min() >= 0)
        if self.all:
            self.idx = None
            self.cr = c
        else:
            self.idx = np.flatnonzero(c >= 0)
            self.cr = c[self.idx]

    def take(self, a: np.ndarray) -> np.ndarray:
        """``a`` restricted to the rows used."""
        return a if self.all else a[self.idx]

    def sum(self, vals: np.ndarray | None = None) -> np.ndarray:
        """Per-domain sums of ``vals`` (already restricted to the rows used), or counts."""
        if self.K == 1:
            return np.array([float(self.cr.size if vals is None else vals.sum())])
        if vals is None:
            return np.bincount(self.cr, minlength=self.K).astype(float)
        return np.bincount(self.cr, weights=vals, minlength=self.K)

    def spread(self, vals: np.ndarray) -> np.ndarray:
        """Full-length array with ``vals`` on the rows used and 0 elsewhere."""
        if self.all:
            return vals
        out = np.zeros(self.n)
        out[self.idx] = vals
        return out


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
        groups: the :class:`Groups` of rows used.
    """

    estimate: np.ndarray
    influence: DomainInfluence
    w_sum: np.ndarray
    den_sum: np.ndarray
    n: np.ndarray
    rows_used: np.ndarray
    nonzero: np.ndarray
    groups: Groups


def usable_codes(dom: np.ndarray, y: np.ndarray, x: np.ndarray | None = None) -> np.ndarray:
    """Domain code per row, with -1 where y (or x) is missing: R's ``na.rm=TRUE``."""
    bad = np.isnan(y)
    if x is not None:
        bad |= np.isnan(x)
    if not bad.any():
        return dom
    return np.where(bad, -1, dom)


def point_estimates(
    kind: str,
    y: np.ndarray,
    w: np.ndarray,
    c: np.ndarray,
    K: int,
    x: np.ndarray | None = None,
    w_all_positive: bool = False,
) -> PointResult:
    """Domain means, totals or ratios and their influence values (see module docstring).

    Arguments:
        kind: "mean", "total" or "ratio".
        y: values (NaN allowed where ``c == -1``).
        w: weights.
        c: usable domain code per row (-1 = not used).
        K: number of domains.
        x: denominator for ratios.
        w_all_positive: every weight is > 0 (lets the three row counts share one pass).
    """
    g = Groups(c, K)
    cr = g.cr
    wr = g.take(w)
    yr = g.take(y)
    W = g.sum(wr)
    Y = g.sum(wr * yr)
    rows_used = g.sum()
    if w_all_positive:
        n = nonzero = rows_used
    else:
        n = np.bincount(cr[wr > 0], minlength=K).astype(float)
        nonzero = np.bincount(cr[wr != 0], minlength=K).astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if kind == "mean":
            est = Y / W
            vals = wr * (yr - est[cr]) / W[cr] if K > 1 else wr * ((yr - est[0]) / W[0])
            den = W
        elif kind == "total":
            est = Y
            vals = wr * yr
            den = W
        elif kind == "ratio":
            assert x is not None
            xr = g.take(x)
            den = g.sum(wr * xr)
            est = Y / den
            vals = wr * (yr - est[cr] * xr) / den[cr]
        else:  # pragma: no cover - guarded by callers
            raise ValueError(kind)
    if not np.isfinite(vals).all():
        vals = np.where(np.isfinite(vals), vals, 0.0)
    influence = DomainInfluence(g.spread(vals), c, K)
    return PointResult(est, influence, W, den, n, rows_used, nonzero, g)


def srs_variance(
    kind: str,
    y: np.ndarray,
    w: np.ndarray,
    pr: PointResult,
    m: np.ndarray,
    x: np.ndarray | None = None,
    binary: bool = False,
    replace: bool = False,
) -> np.ndarray:
    """Variance under simple random sampling without replacement, the denominator of deff
    (or with replacement when ``replace``: R's ``deff="replace"``).

    Arguments:
        m: R's ``nobs`` per domain (rows with non-zero weight for linearisation designs, rows
            used for replicate designs).
        binary: y is 0/1, so ``sum w (y - p)^2 = W p (1 - p)`` needs no pass over the data.
        replace: the with-replacement reference ``s2 / m`` (means) and ``s2 W^2 / m``
            (totals, ratios) of R's ``deff="replace"`` (``svymean.survey.design2``,
            ``svytotal.survey.design2``, ``svymean.svyrep.design``; Kish 1995, "Methods for
            design effects", J. Official Statistics 11:55-77, the ``Deft^2`` against SRSWR).

    Notes:
        R ``svymean(deff=TRUE)``: ``s2 (W - m) / (W m)``; ``svytotal(deff=TRUE)`` and
        ``svyratio(deff=TRUE)`` (via ``svytotal`` of ``r = (y - R x)/X``):
        ``s2 W^2 (W - m) / (W m)``; s2 is the weighted variance ``svyvar`` with divisor
        ``m - 1``: ``m/(m - 1) sum w (u - ubar)^2 / W``. Where ``W <= m`` (weights not scaled
        to a population) R returns NA (means) or a non-positive figure (totals); we return NaN
        for both and say so in the estimator docstrings.
    """
    g = pr.groups
    K = g.K
    W = pr.w_sum
    mf = m.astype(float)
    with np.errstate(divide="ignore", invalid="ignore"):
        if binary and kind == "mean":
            ss = pr.estimate * (1.0 - pr.estimate)
        else:
            wr = g.take(w)
            if kind == "ratio":
                assert x is not None
                u = (g.take(y) - pr.estimate[g.cr] * g.take(x)) / pr.den_sum[g.cr]
            else:
                u = g.take(y)
            ubar = g.sum(wr * u) / W
            d = u - (ubar[g.cr] if K > 1 else ubar[0])
            ss = g.sum(wr * d * d) / W
        s2 = ss * mf / (mf - 1.0)
        fpc = 1.0 if replace else (W - mf) / W
        if kind == "mean":
            v = s2 * fpc / mf
        else:
            v = s2 * W * W * fpc / mf
    ok = (mf > 1) if replace else (W > mf) & (mf > 1)
    return np.where(ok, v, np.nan)


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
