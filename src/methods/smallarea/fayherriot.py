"""Fay-Herriot area-level model: EBLUP, Prasad-Rao MSE, synthetic estimates and benchmarking.

The model (Fay & Herriot 1979, JASA 74, 269-277) for areas d = 1..m:

    direct_d = theta_d + e_d,   e_d ~ N(0, psi_d)   (psi_d: the known design variance)
    theta_d  = x_d' beta + u_d, u_d ~ N(0, A)       (A: the model, or area-effect, variance)

so that direct_d ~ N(x_d' beta, A + psi_d) independently. Given A, beta is the GLS estimate
``Q X' V^-1 y`` with ``Q = (X' V^-1 X)^-1`` and ``V = diag(A + psi)``; the EBLUP of theta_d is
``gamma_d direct_d + (1 - gamma_d) x_d' beta`` with the shrinkage factor
``gamma_d = A / (A + psi_d)`` (Rao & Molina 2015, Small Area Estimation, 2nd ed., ch. 6).

A is estimated by Fisher scoring, as R's sae package does (Molina & Marhuenda 2015, R Journal 7;
sae 1.3, ``eblupFH``): start at the median of psi, update ``A <- A + s(A) / F(A)`` until the
relative change ``|A_new - A_old| / |A_old|`` is at most ``tol`` or ``max_iter`` updates were
made, and truncate the final value at 0.

- REML: score ``s = -tr(P)/2 + y'PPy/2`` and information ``F = tr(PP)/2`` with
  ``P = V^-1 - V^-1 X Q X' V^-1`` (Rao & Molina 2015, section 6.1.2).
- ML: ``s = -sum(1/(A+psi))/2 + y'PPy/2``, ``F = sum(1/(A+psi)^2)/2`` (the same section).
- FH: the moment equation ``sum((y - X beta)^2 / (A + psi)) = m - p`` solved by the same
  scoring with ``F = sum(1/(A+psi))`` (Fay & Herriot 1979; Rao & Molina 2015, section 6.1.2).

P is never formed: with ``v = 1/(A+psi)`` its traces are ``tr(P) = sum v - tr(Q X'D^2X)`` and
``tr(PP) = sum v^2 - 2 tr(Q X'D^3X) + tr((Q X'D^2X)^2)``, ``D = diag(v)``, so a fit costs
O(m p^2) per iteration.

MSE (Prasad & Rao 1990, JASA 85, 163-171; Datta & Lahiri 2000 for ML and the FH estimator;
exactly as sae's ``mseFH``), with ``B_d = psi_d / (A + psi_d)``:

    g1_d = psi_d (1 - B_d),   g2_d = B_d^2 x_d' Q x_d,   g3_d = B_d^2 Var(A) / (A + psi_d)
    REML: g1 + g2 + 2 g3,                  Var(A) = 2 / sum v^2
    ML:   g1 + g2 + 2 g3 - b B_d^2,        b = -tr(Q X'D^2X) / sum v^2      (bias of ML A)
    FH:   g1 + g2 + 2 g3 - b B_d^2,        Var(A) = 2 m / (sum v)^2,
                                           b = 2 (m sum v^2 - (sum v)^2) / (sum v)^3

Checked against sae 1.3 to 1e-6 in tests/test_smallarea.py (figures written by
tests/reference/sae/make_sae_reference.R).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from methods.core.errors import InputRefused

__all__ = [
    "FayHerriotResult",
    "SmallAreaConvergenceWarning",
    "SmallAreaExclusionWarning",
    "SmallAreaInputError",
    "benchmark",
    "fit_fay_herriot",
    "synthetic_estimates",
]

METHODS = ("REML", "ML", "FH")


class SmallAreaInputError(InputRefused, ValueError):
    """The inputs of a small-area fit cannot give an estimate (the message says which and why)."""


class SmallAreaConvergenceWarning(UserWarning):
    """Fisher scoring for the model variance stopped at max_iter before reaching tol."""


class SmallAreaExclusionWarning(UserWarning):
    """Some areas were left out of the fit; ``result.excluded`` lists them with the reason."""


@dataclass(frozen=True)
class FayHerriotResult:
    """A fitted Fay-Herriot model; per-area arrays follow ``area`` (the fitted areas only).

    Attributes:
        method: "REML", "ML" or "FH".
        area: labels of the fitted areas.
        terms: names of the columns of X.
        direct, var: the direct estimates and design variances used.
        X: the covariate matrix used (fitted areas only).
        beta: GLS regression coefficients at the estimated model variance.
        cov_beta: their covariance ``Q = (X' V^-1 X)^-1`` (sae's ``std.error`` is sqrt(diag)).
        sigma2_u: the model variance A, truncated at 0 (sae's ``refvar``).
        sigma2_u_raw: the last Fisher-scoring iterate before truncation.
        eblup: the EBLUP per area.
        gamma: shrinkage ``A / (A + psi)`` in [0, 1]: the weight on the direct estimate.
        synthetic: ``X beta`` per area (the regression, or synthetic, estimate).
        mse: Prasad-Rao MSE per area; g1, g2, g3 its components; bias_term the ML/FH ``b``
            (0 for REML).
        iterations, converged, change: Fisher-scoring updates made, whether the relative change
            reached ``tol``, and the last relative change.
        loglike: the Gaussian log-likelihood at the estimates (sae's ``goodness['loglike']``).
        excluded: areas left out of the fit, with the reason (columns area, reason).
    """

    method: str
    area: np.ndarray
    terms: tuple[str, ...]
    direct: np.ndarray
    var: np.ndarray
    X: np.ndarray
    beta: np.ndarray
    cov_beta: np.ndarray
    sigma2_u: float
    sigma2_u_raw: float
    eblup: np.ndarray
    gamma: np.ndarray
    synthetic: np.ndarray
    mse: np.ndarray
    g1: np.ndarray
    g2: np.ndarray
    g3: np.ndarray
    bias_term: float
    iterations: int
    converged: bool
    change: float
    loglike: float
    excluded: pd.DataFrame = field(default_factory=lambda: pd.DataFrame({"area": [], "reason": []}))

    @property
    def se_beta(self) -> np.ndarray:
        """Standard errors of beta (sae's ``estcoef$std.error``)."""
        return np.sqrt(np.diag(self.cov_beta))

    def table(self) -> pd.DataFrame:
        """One row per fitted area: direct, its SE, EBLUP, its root MSE, gamma, synthetic."""
        return pd.DataFrame(
            {
                "area": self.area,
                "direct": self.direct,
                "direct_se": np.sqrt(self.var),
                "eblup": self.eblup,
                "eblup_rmse": np.sqrt(self.mse),
                "gamma": self.gamma,
                "synthetic": self.synthetic,
            }
        )

    def synthetic_for(self, X_new, area=None) -> pd.DataFrame:
        """Synthetic estimates for areas outside the fit (see :func:`synthetic_estimates`)."""
        return synthetic_estimates(self, X_new, area=area)


def _as_matrix(X) -> tuple[np.ndarray, tuple[str, ...]]:
    if isinstance(X, pd.DataFrame):
        terms = tuple(str(c) for c in X.columns)
        arr = X.to_numpy(dtype=float)
    else:
        arr = np.asarray(X, dtype=float)
        if arr.ndim == 1:
            arr = arr[:, None]
        terms = tuple(f"x{j + 1}" for j in range(arr.shape[1] if arr.ndim == 2 else 0))
    if arr.ndim != 2:
        raise SmallAreaInputError(f"X must be a matrix (areas x covariates); got {arr.ndim} dims")
    return arr, terms


def _screen(direct, var, X, n, area):
    """Check shapes; return the kept-area mask and the exclusion table (reasons in words)."""
    m = direct.shape[0]
    if var.shape[0] != m or X.shape[0] != m or area.shape[0] != m:
        raise SmallAreaInputError(
            f"direct ({m}), var ({var.shape[0]}), X ({X.shape[0]} rows) and area "
            f"({area.shape[0]}) must have one entry per area"
        )
    reasons = np.full(m, "", dtype=object)

    def mark(mask, why):
        new = mask & (reasons == "")
        reasons[new] = why

    if n is not None:
        mark(n == 0, "no respondents: use the synthetic estimate")
        mark(n == 1, "a single respondent: no design variance can be estimated")
    mark(~np.isfinite(direct), "direct estimate is missing (NaN) or infinite")
    mark(~np.isfinite(var), "design variance is missing (NaN) or infinite")
    mark(np.isfinite(var) & (var == 0), "design variance is zero")
    mark(np.isfinite(var) & (var < 0), "design variance is negative")
    mark(~np.isfinite(X).all(axis=1), "a covariate is missing (NaN) or infinite")
    keep = reasons == ""
    excluded = pd.DataFrame({"area": area[~keep], "reason": reasons[~keep].astype(str)})
    return keep, excluded


def _gls(v, X, y):
    """Q = (X' diag(v) X)^-1 and beta = Q X' diag(v) y."""
    XtV = X.T * v
    Q = np.linalg.inv(XtV @ X)
    return Q, Q @ (XtV @ y)


def _score_step(method: str, A: float, y, psi, X) -> float:
    """One Fisher-scoring increment s(A) / F(A) for the chosen estimator."""
    v = 1.0 / (A + psi)
    Q, beta = _gls(v, X, y)
    r = y - X @ beta
    if method == "FH":
        m, p = X.shape
        return (np.sum(r * r * v) - (m - p)) / np.sum(v)
    Py = v * r  # P y = V^-1 (y - X beta_GLS)
    yPPy = Py @ Py
    if method == "ML":
        return (-0.5 * np.sum(v) + 0.5 * yPPy) / (0.5 * np.sum(v * v))
    XtD2X = (X.T * v**2) @ X
    XtD3X = (X.T * v**3) @ X
    QD2 = Q @ XtD2X
    trP = np.sum(v) - np.trace(QD2)
    trPP = np.sum(v * v) - 2.0 * np.trace(Q @ XtD3X) + np.sum(QD2 * QD2.T)
    return (-0.5 * trP + 0.5 * yPPy) / (0.5 * trPP)


def fit_fay_herriot(
    direct,
    var,
    X,
    *,
    method: Literal["REML", "ML", "FH"] = "REML",
    max_iter: int = 100,
    tol: float = 1e-4,
    area=None,
    n=None,
) -> FayHerriotResult:
    """Fit the Fay-Herriot model and return EBLUPs with their Prasad-Rao MSE.

    Arguments:
        direct: direct (design-based) estimate per area.
        var: its design variance per area (treated as known, as the model assumes).
        X: covariates per area, one row per area; include a column of ones for an intercept
            (X is used as given, like the model matrix R's sae builds from a formula).
        method: "REML" (default, as sae), "ML" or "FH" (the Fay-Herriot moment estimator).
        max_iter, tol: Fisher-scoring limits; stop when the relative change of the model
            variance is at most ``tol`` (sae's MAXITER=100, PRECISION=1e-4).
        area: area labels (default 0..m-1).
        n: optional respondents per area; areas with 0 or 1 respondent are excluded.

    Areas with a missing or non-finite direct estimate, a zero, negative or missing design
    variance, a missing covariate, or (given ``n``) fewer than two respondents are left out and
    listed in ``result.excluded`` with the reason, with a :class:`SmallAreaExclusionWarning`.
    Raises :class:`SmallAreaInputError` when fewer than ``p + 1`` areas remain (p = columns
    of X), when X is rank deficient, or on a bad argument. When scoring stops at ``max_iter``
    the result has ``converged=False`` and a :class:`SmallAreaConvergenceWarning` gives the
    last relative change (sae returns no estimates then; we return them, flagged).
    """
    if method not in METHODS:
        raise SmallAreaInputError(f"method={method!r} must be one of {', '.join(METHODS)}")
    if int(max_iter) < 1 or not (tol > 0):
        raise SmallAreaInputError(f"max_iter ({max_iter}) must be >= 1 and tol ({tol}) > 0")
    y_all = np.asarray(direct, dtype=float).ravel()
    psi_all = np.asarray(var, dtype=float).ravel()
    X_all, terms = _as_matrix(X)
    m_all = y_all.shape[0]
    area_all = np.arange(m_all) if area is None else np.asarray(area).ravel()
    n_all = None if n is None else np.asarray(n, dtype=float).ravel()
    if n_all is not None and n_all.shape[0] != m_all:
        raise SmallAreaInputError(f"n has {n_all.shape[0]} entries for {m_all} areas")
    keep, excluded = _screen(y_all, psi_all, X_all, n_all, area_all)
    if len(excluded):
        shown = "; ".join(f"{a}: {r}" for a, r in excluded.head(5).itertuples(index=False))
        more = f" (and {len(excluded) - 5} more)" if len(excluded) > 5 else ""
        warnings.warn(
            f"{len(excluded)} of {m_all} areas left out of the Fay-Herriot fit: {shown}{more}",
            SmallAreaExclusionWarning,
            stacklevel=2,
        )
    y, psi, Xk, labels = y_all[keep], psi_all[keep], X_all[keep], area_all[keep]
    m, p = Xk.shape
    if m < p + 1:
        raise SmallAreaInputError(
            f"{m} usable areas for {p} covariate columns: the Fay-Herriot model needs at least "
            f"{p + 1} areas (columns of X + 1)"
        )
    if np.linalg.matrix_rank(Xk) < p:
        raise SmallAreaInputError(
            f"X ({m} areas x {p} columns) is rank deficient: a covariate is constant or a "
            "combination of others over the fitted areas"
        )

    A = float(np.median(psi))
    k = 0
    change = tol + 1.0
    while change > tol and k < max_iter:
        k += 1
        A_new = A + _score_step(method, A, y, psi, Xk)
        change = abs(A_new - A) / abs(A) if A != 0 else abs(A_new - A)
        A = A_new
    converged = not (k >= max_iter and change >= tol)
    if not converged:
        warnings.warn(
            f"Fay-Herriot {method}: Fisher scoring stopped after {k} iterations with relative "
            f"change {change:.3g} in the model variance (tol {tol:g}); estimates are flagged "
            "converged=False",
            SmallAreaConvergenceWarning,
            stacklevel=2,
        )
    A_raw = A
    A = max(A, 0.0)

    v = 1.0 / (A + psi)
    Q, beta = _gls(v, Xk, y)
    xb = Xk @ beta
    resid = y - xb
    gamma = A * v
    eblup = xb + gamma * resid
    loglike = -0.5 * float(np.sum(np.log(2 * np.pi * (A + psi)) + resid**2 * v))

    B = psi * v
    sum_v, sum_v2 = float(np.sum(v)), float(np.sum(v * v))
    g1 = psi * (1.0 - B)
    g2 = B**2 * np.einsum("ij,jk,ik->i", Xk, Q, Xk)
    if method == "FH":
        var_A = 2.0 * m / sum_v**2
        b = 2.0 * (m * sum_v2 - sum_v**2) / sum_v**3
    else:
        var_A = 2.0 / sum_v2
        b = -float(np.trace(Q @ ((Xk.T * v**2) @ Xk))) / sum_v2 if method == "ML" else 0.0
    g3 = B**2 * var_A * v
    mse = g1 + g2 + 2.0 * g3 - b * B**2

    return FayHerriotResult(
        method=method,
        area=labels,
        terms=terms,
        direct=y,
        var=psi,
        X=Xk,
        beta=beta,
        cov_beta=Q,
        sigma2_u=A,
        sigma2_u_raw=A_raw,
        eblup=eblup,
        gamma=gamma,
        synthetic=xb,
        mse=mse,
        g1=g1,
        g2=g2,
        g3=g3,
        bias_term=b,
        iterations=k,
        converged=converged,
        change=change,
        loglike=loglike,
        excluded=excluded,
    )


def synthetic_estimates(result: FayHerriotResult, X_new, *, area=None) -> pd.DataFrame:
    """Synthetic (regression) estimates ``x' beta`` for areas without a usable direct estimate.

    The MSE is ``x' Cov(beta) x + sigma2_u``: the model error of an area with no sample data
    plus the estimation error of beta (Rao & Molina 2015, section 6.1; the uncertainty of the
    estimated sigma2_u is ignored). Rows of ``X_new`` with a missing covariate raise
    :class:`SmallAreaInputError` (no estimate can be made for them).
    """
    Xn, _ = _as_matrix(X_new)
    if Xn.shape[1] != result.beta.shape[0]:
        raise SmallAreaInputError(
            f"X_new has {Xn.shape[1]} columns; the model has {result.beta.shape[0]} "
            f"({', '.join(result.terms)})"
        )
    labels = np.arange(Xn.shape[0]) if area is None else np.asarray(area).ravel()
    bad = ~np.isfinite(Xn).all(axis=1)
    if bad.any():
        raise SmallAreaInputError(
            f"areas {', '.join(map(str, labels[bad][:10]))}: a covariate is missing, so no "
            "synthetic estimate can be made"
        )
    est = Xn @ result.beta
    mse = np.einsum("ij,jk,ik->i", Xn, result.cov_beta, Xn) + result.sigma2_u
    return pd.DataFrame({"area": labels, "synthetic": est, "mse": mse, "rmse": np.sqrt(mse)})


def benchmark(
    eblup, weights, target: float, *, method: Literal["ratio", "additive"] = "ratio"
) -> np.ndarray:
    """Benchmark area estimates so that ``sum(weights * estimate) == target`` exactly.

    ``weights`` are the areas' shares of the force (population shares summing to 1 when
    ``target`` is the force's direct proportion; any non-negative weights otherwise) and
    ``target`` the force's direct estimate of ``sum(weights * theta)``.

    - ratio: ``theta_b = theta * target / sum(w theta)`` (ratio benchmarking; Rao & Molina
      2015, ch. 6 on benchmarking the EBLUP; Pfeffermann & Barnard 1991).
    - additive: ``theta_b = theta + (target - sum(w theta)) / sum(w)`` (difference
      benchmarking, the Wang, Fuller & Qu 2008 (Survey Methodology 34, 29-36) adjustment
      with ``phi_d = 1 / w_d``, which adds the same amount to every area).

    The benchmarked estimates' MSE is not the EBLUP's; report the EBLUP MSE as an
    approximation (the adjustment is small when the model fits) and say so.
    """
    theta = np.asarray(eblup, dtype=float).ravel()
    w = np.asarray(weights, dtype=float).ravel()
    if theta.shape != w.shape:
        raise SmallAreaInputError(f"{theta.shape[0]} estimates but {w.shape[0]} weights")
    if not (np.isfinite(theta).all() and np.isfinite(w).all() and np.isfinite(target)):
        raise SmallAreaInputError("benchmark: estimates, weights and target must all be finite")
    if (w < 0).any() or w.sum() <= 0:
        raise SmallAreaInputError("benchmark: weights must be >= 0 with a positive sum")
    total = float(w @ theta)
    if method == "ratio":
        if total == 0:
            raise SmallAreaInputError("ratio benchmarking: the weighted sum of estimates is 0")
        return theta * (target / total)
    if method == "additive":
        return theta + (target - total) / w.sum()
    raise SmallAreaInputError(f"method={method!r} must be 'ratio' or 'additive'")
