"""Shared plumbing for the non-response and mode-effect methods.

Input resolution (a column name or an array), categorical coding of covariates, compression of
units into covariate patterns, one-hot main-effects design matrices, a vectorised multinomial
bootstrap over patterns, and a batched Newton-Raphson solver for weighted logistic regression
that refits many bootstrap replicates at once.

Nothing here is part of the public API; import from :mod:`methods.nonresponse.rates` instead.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import expit

from methods.core.checks import check_weights
from methods.core.errors import UsageError, ValidationError

#: Covariates with more levels than this trigger a warning (continuous variables should be
#: banded first, e.g. with ``pd.cut``).
MAX_LEVELS_BEFORE_WARNING = 50


class NonresponseWarning(UserWarning):
    """A non-response statistic is undefined or fragile; the message gives the figures."""


def resolve(data: pd.DataFrame | None, x, name: str, n: int | None = None) -> pd.Series:
    """Return ``x`` as a Series with a 0..n-1 index.

    Arguments:
        data: the DataFrame that a column name refers to (or ``None``).
        x: a column name of ``data``, or an array-like / Series of length ``n``.
        name: what the argument is called (for messages).
        n: the expected length, or ``None`` to accept any.

    Returns:
        A Series with a fresh RangeIndex (so positions are unambiguous).
    """
    if isinstance(x, str):
        if data is None:
            raise UsageError(f"{name}={x!r} is a column name but no DataFrame was given")
        if x not in data.columns:
            raise UsageError(
                f"{name}: column {x!r} not found; available columns: {', '.join(map(str, data.columns))}"
            )
        s = data[x]
    elif isinstance(x, pd.Series):
        s = x
    elif isinstance(x, pd.Categorical | pd.Index | pd.api.extensions.ExtensionArray):
        s = pd.Series(x)
    else:
        arr = np.asarray(x)
        if arr.ndim != 1:
            raise UsageError(f"{name} must be one-dimensional, got shape {arr.shape}")
        s = pd.Series(arr)
    s = s.reset_index(drop=True)
    if n is not None and len(s) != n:
        raise UsageError(f"{name} has {len(s)} values but {n} were expected (one per row)")
    return s


def weights_array(data: pd.DataFrame | None, w, n: int, name: str = "weights") -> np.ndarray:
    """Resolve optional weights to a float array of length ``n`` (ones when ``w`` is None).

    Raises:
        ValidationError: a weight is missing, infinite or negative (rows are 1-based).
    """
    if w is None:
        return np.ones(n)
    s = resolve(data, w, name, n)
    return check_weights(s, w if isinstance(w, str) else name)


def category_codes(s: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes 0..L-1 for a categorical covariate, and its observed levels.

    Levels are sorted (the category order of a pandas Categorical is kept). Missing values are
    refused: recode them to an explicit level such as ``"unknown"``.

    Raises:
        ValidationError: missing values (rows 1-based).
    """
    missing = s.isna().to_numpy()
    if missing.any():
        raise ValidationError(
            "covariate has missing values; recode them to an explicit level (e.g. 'unknown')",
            column=name,
            rows=(np.flatnonzero(missing) + 1).tolist(),
        )
    if isinstance(s.dtype, pd.CategoricalDtype):
        s = s.cat.remove_unused_categories()
        codes = s.cat.codes.to_numpy().astype(np.int64)
        levels = np.asarray(s.cat.categories, dtype=object)
    else:
        codes, levels = pd.factorize(s, sort=True)
        codes = codes.astype(np.int64)
        levels = np.asarray(levels, dtype=object)
    if len(levels) > MAX_LEVELS_BEFORE_WARNING:
        warnings.warn(
            f"covariate {name!r} has {len(levels)} levels; covariates are treated as categorical,"
            " so band continuous variables first (e.g. pd.cut)",
            NonresponseWarning,
            stacklevel=3,
        )
    return codes, levels


@dataclass(frozen=True)
class Patterns:
    """Units compressed to distinct covariate patterns.

    Attributes:
        unit_pattern: pattern index of every unit (length n).
        codes: pattern-by-covariate level codes, shape (P, V).
        levels: observed levels of each covariate.
        names: covariate names.
    """

    unit_pattern: np.ndarray
    codes: np.ndarray
    levels: tuple[np.ndarray, ...]
    names: tuple[str, ...]

    @property
    def n_patterns(self) -> int:
        return self.codes.shape[0]


def make_patterns(frame: pd.DataFrame, covariates: Sequence[str]) -> Patterns:
    """Code the covariates and compress units to their distinct patterns."""
    if isinstance(covariates, str):
        covariates = [covariates]
    covariates = list(covariates)
    if not covariates:
        raise UsageError("give at least one covariate")
    missing = [c for c in covariates if c not in frame.columns]
    if missing:
        raise UsageError(
            f"covariate column(s) not found: {missing}; available: {', '.join(map(str, frame.columns))}"
        )
    if len(set(covariates)) != len(covariates):
        raise UsageError(f"covariates listed more than once: {covariates}")
    all_codes, all_levels = [], []
    for c in covariates:
        codes, levels = category_codes(frame[c].reset_index(drop=True), c)
        all_codes.append(codes)
        all_levels.append(levels)
    mat = np.column_stack(all_codes) if all_codes else np.zeros((len(frame), 0), np.int64)
    if len(frame) == 0:
        return Patterns(np.zeros(0, np.int64), mat, tuple(all_levels), tuple(covariates))
    uniq, inverse = np.unique(mat, axis=0, return_inverse=True)
    return Patterns(inverse.reshape(-1), uniq, tuple(all_levels), tuple(covariates))


def main_effects_matrix(codes: np.ndarray, n_levels: Sequence[int]) -> np.ndarray:
    """Intercept plus drop-first one-hot columns for each categorical covariate.

    Arguments:
        codes: (rows, V) integer level codes.
        n_levels: number of levels of each covariate.

    Returns:
        (rows, 1 + sum(L_v - 1)) float design matrix.
    """
    rows = codes.shape[0]
    blocks = [np.ones((rows, 1))]
    for v, L in enumerate(n_levels):
        if L > 1:
            block = np.zeros((rows, L - 1))
            hit = codes[:, v] > 0
            block[np.flatnonzero(hit), codes[hit, v] - 1] = 1.0
            blocks.append(block)
    return np.hstack(blocks)


def saturated_matrix(n_patterns: int) -> np.ndarray:
    """Design matrix of the saturated model: one indicator per pattern (no intercept)."""
    return np.eye(n_patterns)


def group_index(codes: np.ndarray) -> np.ndarray:
    """Index of the distinct rows of ``codes`` (shape (P, V)); all zeros when V == 0."""
    if codes.shape[1] == 0:
        return np.zeros(codes.shape[0], np.int64)
    _, inv = np.unique(codes, axis=0, return_inverse=True)
    return inv.reshape(-1)


def bootstrap_cell_totals(
    cell: np.ndarray,
    w: np.ndarray,
    n_cells: int,
    n_boot: int,
    rng: np.random.Generator,
    strata: np.ndarray | None = None,
) -> np.ndarray:
    """Weighted cell totals under a with-replacement (multinomial) bootstrap of units.

    Each replicate redraws n_h units with replacement from each stratum h (a single stratum when
    ``strata`` is None) and sums the weights of the drawn units within each cell. Units sharing
    a (stratum, cell, weight) triple are interchangeable, so the draw is a multinomial over
    those triples: O(B x distinct triples) instead of O(B x n), and never a per-row loop.

    Arguments:
        cell: cell index of every unit (0..n_cells-1).
        w: weight of every unit.
        n_cells: number of cells.
        n_boot: number of replicates B.
        rng: numpy Generator.
        strata: optional stratum index of every unit.

    Returns:
        (n_cells, B) array of replicate weighted totals.

    Notes:
        Efron's nonparametric bootstrap (Efron and Tibshirani 1993, ch. 6); resampling within
        strata as in Rao and Wu (1988) without their rescaling (so variance is slightly
        under-stated when strata hold very few units).
    """
    n = cell.shape[0]
    if strata is None:
        strata = np.zeros(n, np.int64)
    out = np.zeros((n_cells, n_boot))
    key = pd.DataFrame({"s": strata, "c": cell, "w": w})
    agg = key.groupby(["s", "c", "w"], sort=True).size().reset_index(name="k")
    for _, part in agg.groupby("s", sort=True):
        counts = part["k"].to_numpy()
        n_h = int(counts.sum())
        wv = part["w"].to_numpy(dtype=float)
        cells = part["c"].to_numpy()  # sorted within the stratum
        starts = np.flatnonzero(np.r_[True, cells[1:] != cells[:-1]])
        ucells = cells[starts]
        chunk = max(1, int(2_000_000 // max(len(counts), 1)))
        for b0 in range(0, n_boot, chunk):
            b1 = min(n_boot, b0 + chunk)
            draws = rng.multinomial(n_h, counts / n_h, size=b1 - b0)  # (b, triples)
            sums = np.add.reduceat(draws * wv[None, :], starts, axis=1)  # (b, cells present)
            out[ucells, b0:b1] += sums.T
    return out


def logistic_newton(
    X: np.ndarray,
    succ: np.ndarray,
    fail: np.ndarray,
    max_iter: int = 100,
    tol: float = 1e-11,
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted maximum-likelihood logistic regression for many data sets at once.

    Fits logit P(y=1 | x_p) = x_p' beta_b for every replicate b by Newton-Raphson (iteratively
    reweighted least squares) on grouped data: pattern p of replicate b has weighted successes
    ``succ[p, b]`` and failures ``fail[p, b]``. This is the unpenalised binomial MLE that
    ``sklearn.linear_model.LogisticRegression(C=np.inf)`` and R's ``glm(family=binomial)``
    compute (McCullagh and Nelder 1989, section 4.4), but vectorised over replicates.

    Arguments:
        X: (P, k) design matrix.
        succ, fail: (P,) or (P, B) non-negative weighted counts.
        max_iter: iteration cap.
        tol: stop when every score component is below ``tol`` times the replicate's total weight.

    Returns:
        (mu, converged): fitted probabilities (P, B) (or (P,) if the input was 1-D) and a
        boolean per replicate.

    Notes:
        Under (quasi-)separation the coefficients drift to infinity while the fitted
        probabilities converge to 0 or 1 (the MLE on the closure of the model); linear
        predictors are clipped at +-35 so this stays finite. Columns with no information in a
        replicate (a level absent from it) get a 1e-10 ridge, which leaves the fitted
        probabilities of the patterns present unchanged.
    """
    one_d = succ.ndim == 1
    S = succ[:, None] if one_d else succ
    F = fail[:, None] if one_d else fail
    T = S + F
    P, k = X.shape
    B = S.shape[1]
    tot = T.sum(axis=0)
    tot_safe = np.where(tot > 0, tot, 1.0)
    # start: every linear predictor at the logit of the replicate's overall rate
    rate = np.clip(S.sum(axis=0) / tot_safe, 1e-6, 1 - 1e-6)
    eta0 = np.log(rate / (1 - rate))
    ones = np.linalg.lstsq(X, np.ones(P), rcond=None)[0]  # coefficients giving eta = 1
    beta = np.outer(ones, eta0)
    converged = np.zeros(B, dtype=bool)
    eye = np.eye(k)
    for _ in range(max_iter):
        eta = np.clip(X @ beta, -35.0, 35.0)
        mu = expit(eta)
        score = X.T @ (S - T * mu)  # (k, B)
        done = np.max(np.abs(score), axis=0) <= tol * tot_safe
        converged |= done
        if converged.all():
            break
        wts = T * mu * (1.0 - mu)  # (P, B)
        H = np.einsum("pk,pb,pl->bkl", X, wts, X)  # (B, k, k)
        scale = np.maximum(np.einsum("bkk->b", H) / k, 1e-300)
        H = H + (1e-10 * scale)[:, None, None] * eye[None]
        step = np.linalg.solve(H, score.T[..., None])[..., 0].T  # (k, B)
        step[:, converged] = 0.0
        beta = beta + step
    mu = expit(np.clip(X @ beta, -35.0, 35.0))
    if one_d:
        return mu[:, 0], converged
    return mu, converged


def weighted_sd(x: np.ndarray, w: np.ndarray, ddof_one: bool = True) -> float:
    """Design-weighted standard deviation sqrt(sum w (x - xbar)^2 / (sum w - 1)).

    ``ddof_one=False`` divides by sum w instead (the "ML" form of the RISQ code).
    """
    N = w.sum()
    if N <= 0:
        return float("nan")
    m = (w * x).sum() / N
    denom = N - 1.0 if ddof_one else N
    if denom <= 0:
        return float("nan")
    return float(np.sqrt((w * (x - m) ** 2).sum() / denom))
