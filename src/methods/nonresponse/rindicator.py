"""Representativeness of the respondents: R-indicators, partial R-indicators, profile tables.

Public functions (re-exported by :mod:`methods.nonresponse.rates`): :func:`r_indicator`,
:func:`profile_comparison`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from methods.core.errors import UsageError, ValidationError
from methods.nonresponse.common import (
    NonresponseWarning,
    Patterns,
    bootstrap_cell_totals,
    group_index,
    main_effects_matrix,
    make_patterns,
    resolve,
    weighted_sd,
    weights_array,
)

Z975 = float(stats.norm.ppf(0.975))


def responded_array(data: pd.DataFrame | None, responded, n: int) -> np.ndarray:
    """Resolve the response indicator to a bool array (bool, 0/1 or true/false text)."""
    s = resolve(data, responded, "responded", n)
    name = responded if isinstance(responded, str) else "responded"
    if s.isna().any():
        raise ValidationError(
            "response indicator is missing; every frame unit must be marked responded or not",
            column=name,
            rows=(np.flatnonzero(s.isna().to_numpy()) + 1).tolist(),
        )
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(s.dtype):
        arr = s.to_numpy(dtype=float)
        bad = ~np.isin(arr, [0.0, 1.0])
    else:
        low = s.astype(str).str.strip().str.lower()
        mapping = {"true": 1.0, "1": 1.0, "yes": 1.0, "false": 0.0, "0": 0.0, "no": 0.0}
        arr = low.map(mapping).to_numpy(dtype=float)
        bad = np.isnan(arr) | s.isna().to_numpy()
    if bad.any():
        raise ValidationError(
            "response indicator must be true/false or 1/0 for every frame unit",
            column=name,
            rows=(np.flatnonzero(bad) + 1).tolist(),
        )
    return arr == 1.0


def default_propensity_model() -> LogisticRegression:
    """Unpenalised logistic regression with a tight tolerance.

    ``C=np.inf`` is scikit-learn's spelling of ``penalty=None`` since version 1.8 (which
    deprecated the ``penalty`` argument); both give the plain maximum-likelihood fit. The
    Newton-Cholesky solver converges to machine precision on these small grouped problems.
    """
    return LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=1000)


def fit_propensities(model, X: np.ndarray, succ: np.ndarray, fail: np.ndarray) -> np.ndarray:
    """Fit ``model`` to grouped binary data and return the fitted P(y=1) of every pattern.

    Each pattern contributes a y=1 row weighted by ``succ`` and a y=0 row weighted by
    ``fail`` (the weighted likelihood equals the unit-level one). Rows with zero weight and
    columns constant over the remaining rows are dropped, so a level that is absent (e.g. from a
    bootstrap replicate) does not make the model unidentified. ``X`` excludes the intercept.
    """
    keep1 = succ > 0
    keep0 = fail > 0
    Xs = np.vstack([X[keep1], X[keep0]])
    y = np.r_[np.ones(keep1.sum()), np.zeros(keep0.sum())]
    sw = np.r_[succ[keep1], fail[keep0]]
    sw = sw / sw.mean()
    if Xs.shape[1]:
        varying = Xs.max(axis=0) > Xs.min(axis=0)
    else:
        varying = np.zeros(0, dtype=bool)
    m = clone(model)
    m.fit(Xs[:, varying], y, sample_weight=sw)
    classes = list(m.classes_)
    return m.predict_proba(X[:, varying])[:, classes.index(1.0)]


def _statistics(rho: np.ndarray, W: np.ndarray, pat: Patterns) -> dict:
    """R-indicator, CV and partial indicators from pattern-level propensities and weights."""
    N = W.sum()
    m = (W * rho).sum() / N
    S = weighted_sd(rho, W, ddof_one=True)
    out = {"R": 1.0 - 2.0 * S, "S_rho": S, "mean_rho": m, "CV": S / m}
    out["max_bias_per_sd_y"] = (1.0 - out["R"]) / (2.0 * m)
    pu_var, pu_cat, pc_var, pc_cat, mk_all, nk_all = [], [], [], [], [], []
    for v, levels in enumerate(pat.levels):
        L = len(levels)
        code = pat.codes[:, v]
        Nk = np.bincount(code, W, L)
        with np.errstate(invalid="ignore", divide="ignore"):
            mk = np.bincount(code, W * rho, L) / Nk
        dev = np.where(Nk > 0, mk - m, 0.0)
        pu_cat.append(np.sqrt(Nk / N) * dev)
        pu_var.append(np.sqrt((Nk / N * dev**2).sum()))
        mk_all.append(mk)
        nk_all.append(Nk)
        z = group_index(np.delete(pat.codes, v, axis=1))
        Wz = np.bincount(z, W)
        with np.errstate(invalid="ignore", divide="ignore"):
            mz = np.bincount(z, W * rho) / Wz
        # Rows of weight 0 (left out of a bootstrap replicate) contribute nothing, even where
        # their whole pattern is empty and its mean is undefined.
        d2 = np.where(W > 0, W * (rho - np.where(Wz[z] > 0, mz[z], 0.0)) ** 2 / N, 0.0)
        pc_cat.append(np.sqrt(np.bincount(code, d2, L)))
        pc_var.append(np.sqrt(d2.sum()))
    out.update(pu_var=pu_var, pu_cat=pu_cat, pc_var=pc_var, pc_cat=pc_cat, mk=mk_all, Nk=nk_all)
    return out


@dataclass(frozen=True)
class RIndicatorResult:
    """What :func:`r_indicator` returns.

    Attributes:
        summary: index R, S_rho, mean_rho, CV, max_bias_per_sd_y (and S_y, max_bias_y when
            ``y`` was given); columns estimate, se, ci_low, ci_high (normal 95% interval from
            the bootstrap SE).
        partial_unconditional: rows per variable (level "variable", unsigned P_u) and per
            category (level "category", signed); columns variable, level, category, N_k
            (weighted), n_k (units), mean_rho, value, se.
        partial_conditional: the same layout for the conditional partial indicators (unsigned
            at both levels).
        propensity: the fitted response propensity of every frame unit.
        replicates: bootstrap replicates of the summary statistics (one row per replicate).
        info: n, N (sum of weights), n_respondents, bootstrap, seed, model, failed replicates.
    """

    summary: pd.DataFrame
    partial_unconditional: pd.DataFrame
    partial_conditional: pd.DataFrame
    propensity: np.ndarray
    replicates: pd.DataFrame
    info: dict = field(default_factory=dict)

    @property
    def R(self) -> float:
        return float(self.summary.loc["R", "estimate"])


def r_indicator(
    frame: pd.DataFrame,
    responded,
    covariates: Sequence[str],
    weights=None,
    model=None,
    bootstrap: int = 200,
    seed: int = 0,
    y=None,
) -> RIndicatorResult:
    """R-indicator, coefficient of variation, bias bound and partial R-indicators.

    Arguments:
        frame: one row per sampled (eligible) unit, respondents and non-respondents.
        responded: response indicator (bool or 0/1), array or column name of ``frame``.
        covariates: categorical auxiliary variables known for every unit (columns of
            ``frame``); band continuous ones first. Missing values are refused.
        weights: design weights d_i = 1/pi_i (array or column name), default 1. Their sum
            estimates the population size N, so do not rescale them to sum to n or 1.
        model: response-propensity model, an unfitted scikit-learn classifier accepting
            ``sample_weight`` (cloned and fitted on the drop-first one-hot main-effects matrix).
            Default: :func:`default_propensity_model` (unpenalised main-effects logistic
            regression), fitted with the design weights as in the RISQ code.
        bootstrap: number of bootstrap replicates B for the standard errors (0 to skip).
        seed: seed of the numpy Generator used by the bootstrap.
        y: optional survey variable (array or column name, NaN where unobserved) for the
            maximal absolute bias of its respondent mean.

    Returns:
        :class:`RIndicatorResult`.

    Raises:
        UsageError: no respondents or no non-respondents; weights summing to 1 or less.
        ValidationError: missing covariate values or a malformed response indicator.

    Notes:
        Formulas (Schouten, Cobben and Bethlehem 2009, Survey Methodology 35:101-113;
        Schouten, Shlomo and Skinner 2011, J. Official Statistics 27:231-253; de Heij, Schouten
        and Shlomo 2015, RISQ manual 2.1), with rho_i the fitted propensity, d_i the design
        weight and N = sum d_i:

        - mean(rho) = sum d_i rho_i / N; S^2(rho) = sum d_i (rho_i - mean)^2 / (N - 1);
        - R = 1 - 2 S(rho); CV = S(rho) / mean(rho);
        - maximal absolute bias of a respondent mean per unit S(y): (1 - R) / (2 mean(rho))
          (= CV); for a given y, times S(y), the design-weighted SD of y over the units where
          it is observed (if only respondents, that S(y) is itself a respondent estimate);
        - unconditional partial, category k of X: sqrt(N_k/N) (mean_k(rho) - mean(rho)),
          signed; variable: P_u(X) = sqrt(sum_k (N_k/N) (mean_k(rho) - mean(rho))^2), with
          weighted N_k = sum_{i in k} d_i;
        - conditional partial of X given the other covariates Z: variable
          P_c(X|Z) = sqrt((1/N) sum_i d_i (rho_i - mean_{Z(i)}(rho))^2), category k: the same
          sum over units in category k only. With a single covariate Z is empty and
          mean_Z is the overall mean.

        R and the partials are the unadjusted ("RUnadj", "PuUnadj") versions of the RISQ code:
        no analytic bias adjustment is applied. Standard errors come from a with-replacement
        bootstrap of frame units (each replicate refits the propensity model), ignoring
        strata and clusters. Units are compressed to covariate patterns first, so each fit
        has at most 2 x (number of patterns) rows.
    """
    if not isinstance(frame, pd.DataFrame):
        raise UsageError("frame must be a pandas DataFrame with the covariate columns")
    n = len(frame)
    r = responded_array(frame, responded, n)
    d = weights_array(frame, weights, n)
    if r.all() or not r.any():
        raise UsageError(
            f"the frame needs both respondents and non-respondents ({int(r.sum())} of {n} responded)"
        )
    N = d.sum()
    if N <= 1:
        raise UsageError(
            f"weights sum to {N:.4g}; give design weights (1 / inclusion probability) whose sum "
            "estimates the population size"
        )
    pat = make_patterns(frame, covariates)
    P = pat.n_patterns
    X = main_effects_matrix(pat.codes, [len(lv) for lv in pat.levels])[:, 1:]
    W1 = np.bincount(pat.unit_pattern, d * r, P)
    W0 = np.bincount(pat.unit_pattern, d * ~r, P)
    base = default_propensity_model() if model is None else model
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        rho_p = fit_propensities(base, X, W1, W0)
    for wmsg in caught:
        if issubclass(wmsg.category, ConvergenceWarning):
            warnings.warn(
                f"propensity model did not converge ({wmsg.message}); cells with 0% or 100% "
                "response push propensities to 0 or 1 -- consider collapsing categories",
                NonresponseWarning,
                stacklevel=2,
            )
        else:
            warnings.warn_explicit(wmsg.message, wmsg.category, wmsg.filename, wmsg.lineno)
    W = W1 + W0
    est = _statistics(rho_p, W, pat)
    scalar_keys = ["R", "S_rho", "mean_rho", "CV", "max_bias_per_sd_y"]

    # bootstrap: multinomial redraw of units, grouped into (pattern, responded) cells
    rep_rows, rep_pu, rep_pc, failed = [], [], [], 0
    if bootstrap:
        rng = np.random.default_rng(seed)
        cell = pat.unit_pattern * 2 + r.astype(np.int64)
        tot = bootstrap_cell_totals(cell, d, 2 * P, int(bootstrap), rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            for b in range(int(bootstrap)):  # one model refit per replicate (grouped data)
                w1, w0 = tot[1::2, b], tot[0::2, b]
                if w1.sum() <= 0 or w0.sum() <= 0:
                    failed += 1
                    continue
                try:
                    rb = fit_propensities(base, X, w1, w0)
                except ValueError:
                    failed += 1
                    continue
                sb = _statistics(rb, w1 + w0, pat)
                rep_rows.append([sb[k] for k in scalar_keys])
                rep_pu.append(np.r_[sb["pu_var"], np.concatenate(sb["pu_cat"])])
                rep_pc.append(np.r_[sb["pc_var"], np.concatenate(sb["pc_cat"])])
        if failed:
            warnings.warn(
                f"{failed} of {bootstrap} bootstrap replicates could not be refitted and were "
                "dropped from the standard errors",
                NonresponseWarning,
                stacklevel=2,
            )
    reps = pd.DataFrame(rep_rows, columns=scalar_keys)

    def _se(mat: list) -> np.ndarray:
        if len(mat) < 2:
            return np.full(len(mat[0]) if mat else 0, np.nan)
        return np.nanstd(np.asarray(mat), axis=0, ddof=1)

    se_scalar = reps.std(ddof=1).to_numpy() if len(reps) > 1 else np.full(len(scalar_keys), np.nan)
    summary = pd.DataFrame(
        {"estimate": [est[k] for k in scalar_keys], "se": se_scalar}, index=scalar_keys
    )
    if y is not None:
        yv = pd.to_numeric(resolve(frame, y, "y", n), errors="coerce").to_numpy(dtype=float)
        ok = np.isfinite(yv)
        s_y = weighted_sd(yv[ok], d[ok], ddof_one=True)
        summary.loc["S_y"] = [s_y, np.nan]
        summary.loc["max_bias_y"] = [est["max_bias_per_sd_y"] * s_y, np.nan]
    summary["ci_low"] = summary["estimate"] - Z975 * summary["se"]
    summary["ci_high"] = summary["estimate"] + Z975 * summary["se"]
    summary.index.name = "statistic"

    n_k = [
        np.bincount(pat.codes[pat.unit_pattern, v], minlength=len(lv))
        for v, lv in enumerate(pat.levels)
    ]
    pu = _partial_table(pat, est, "pu", n_k, _se(rep_pu) if bootstrap else None)
    pc = _partial_table(pat, est, "pc", n_k, _se(rep_pc) if bootstrap else None)
    info = {
        "n": n,
        "N": float(N),
        "n_respondents": int(r.sum()),
        "bootstrap": int(bootstrap),
        "bootstrap_failed": failed,
        "seed": seed,
        "model": repr(base),
        "covariates": list(pat.names),
    }
    return RIndicatorResult(summary, pu, pc, rho_p[pat.unit_pattern], reps, info)


def _partial_table(
    pat: Patterns, est: dict, kind: str, n_k: list, se: np.ndarray | None
) -> pd.DataFrame:
    """Long table of variable- and category-level partial indicators."""
    V = len(pat.names)
    N = float(sum(est["Nk"][0]))
    rows = []
    for v, name in enumerate(pat.names):
        rows.append(
            {
                "variable": name,
                "level": "variable",
                "category": None,
                "N_k": N,
                "n_k": int(n_k[v].sum()),
                "mean_rho": est["mean_rho"],
                "value": est[f"{kind}_var"][v],
            }
        )
        for k, lab in enumerate(pat.levels[v]):
            rows.append(
                {
                    "variable": name,
                    "level": "category",
                    "category": lab,
                    "N_k": est["Nk"][v][k],
                    "n_k": int(n_k[v][k]),
                    "mean_rho": est["mk"][v][k],
                    "value": est[f"{kind}_cat"][v][k],
                }
            )
    out = pd.DataFrame(rows)
    if se is None:
        out["se"] = np.nan
    else:
        # replicate vectors are [variable-level values..., category values in order...]
        var_se = se[:V]
        cat_se = se[V:]
        col = np.empty(len(out))
        is_var = (out["level"] == "variable").to_numpy()
        col[is_var] = var_se
        col[~is_var] = cat_se
        out["se"] = col
    return out


@dataclass(frozen=True)
class ProfileComparison:
    """What :func:`profile_comparison` returns.

    Attributes:
        categories: one row per variable and category: n_frame, n_respondents, pct_frame,
            pct_respondents, pct_weighted (percentages 0-100), asmd_respondents, asmd_weighted.
        tests: one row per variable: n_frame, n_respondents, df, chi2_gof, p_gof, chi2_fpc,
            p_fpc, min_expected, max_asmd_respondents, max_asmd_weighted.
    """

    categories: pd.DataFrame
    tests: pd.DataFrame


def _asmd(p1: np.ndarray, p0: np.ndarray) -> np.ndarray:
    """Absolute standardised difference of two proportions (Austin 2009, eq. for binary)."""
    pooled = np.sqrt((p1 * (1 - p1) + p0 * (1 - p0)) / 2.0)
    diff = np.abs(p1 - p0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(
            pooled > 0, diff / np.where(pooled > 0, pooled, 1.0), np.where(diff > 0, np.inf, 0.0)
        )


def profile_comparison(
    frame: pd.DataFrame,
    responded,
    covariates: Sequence[str],
    weights=None,
    frame_weights=None,
) -> ProfileComparison:
    """Respondent vs frame vs weighted-respondent profiles, ASMDs and chi-square tests.

    Arguments:
        frame: one row per sampled (eligible) unit.
        responded: response indicator (bool or 0/1), array or column name.
        covariates: categorical columns to profile.
        weights: optional final (non-response adjusted / calibrated) weights of the
            respondents, array or column name; values on non-respondent rows are ignored (may
            be NaN). Without them ``pct_weighted`` and ``asmd_weighted`` are NaN.
        frame_weights: optional design weights d_i used for ``pct_frame`` and
            ``pct_respondents`` (so both estimate population shares); default 1.

    Returns:
        :class:`ProfileComparison`.

    Notes:
        - ASMD of category k: |p_1 - p_0| / sqrt((p_1(1-p_1) + p_0(1-p_0)) / 2), the
          standardised difference of a binary indicator (Austin 2009, Communications in
          Statistics - Simulation and Computation 38:1228-1234); values above 0.1 are usually
          read as a meaningful imbalance.
        - ``chi2_gof``/``p_gof``: Pearson goodness-of-fit of the respondents' unweighted
          counts against n_r times the frame's unweighted shares (``scipy.stats.chisquare``),
          df = levels - 1. Because the respondents are part of the frame, the frame shares
          are not independent of the counts and this statistic is too small by the factor
          (1 - n_r/n) under H0 (random response). ``chi2_fpc`` = chi2_gof * n / (n - n_r)
          corrects it; it equals Pearson's chi-square test of independence of response and
          the variable (``scipy.stats.chi2_contingency`` without continuity correction), and
          ``p_fpc`` is the p-value to use. Both are unweighted (a test of the sample, not of a
          weighted population estimate). ``min_expected`` below 5 makes either unreliable.
    """
    if not isinstance(frame, pd.DataFrame):
        raise UsageError("frame must be a pandas DataFrame with the covariate columns")
    n = len(frame)
    r = responded_array(frame, responded, n)
    d = weights_array(frame, frame_weights, n, "frame_weights")
    if weights is not None:
        ws = pd.to_numeric(resolve(frame, weights, "weights", n), errors="coerce").to_numpy(float)
        bad = r & (~np.isfinite(ws) | (ws < 0))
        if bad.any():
            raise ValidationError(
                "respondent weights must be finite and non-negative",
                column=weights if isinstance(weights, str) else "weights",
                rows=(np.flatnonzero(bad) + 1).tolist(),
            )
        ws = np.where(r, ws, 0.0)
    n_r = int(r.sum())
    if n_r == 0:
        raise UsageError("no respondents in the frame: nothing to compare")
    if isinstance(covariates, str):
        covariates = [covariates]
    cat_rows, test_rows = [], []
    for name in covariates:
        pat = make_patterns(frame, [name])
        code = pat.codes[pat.unit_pattern, 0]
        L = len(pat.levels[0])
        n_f = np.bincount(code, minlength=L)
        n_rk = np.bincount(code[r], minlength=L)
        p_f = np.bincount(code, d, L) / d.sum()
        dr = d[r]
        p_r = np.bincount(code[r], dr, L) / dr.sum() if dr.sum() > 0 else np.full(L, np.nan)
        if weights is not None and ws.sum() > 0:
            p_w = np.bincount(code, ws, L) / ws.sum()
        else:
            p_w = np.full(L, np.nan)
        a_r = _asmd(p_r, p_f)
        a_w = _asmd(p_w, p_f) if weights is not None else np.full(L, np.nan)
        for k, lab in enumerate(pat.levels[0]):
            cat_rows.append(
                {
                    "variable": name,
                    "category": lab,
                    "n_frame": int(n_f[k]),
                    "n_respondents": int(n_rk[k]),
                    "pct_frame": 100 * p_f[k],
                    "pct_respondents": 100 * p_r[k],
                    "pct_weighted": 100 * p_w[k],
                    "asmd_respondents": a_r[k],
                    "asmd_weighted": a_w[k],
                }
            )
        expected = n_r * n_f / n
        if L > 1:
            gof = stats.chisquare(n_rk, expected)
            chi2_gof, p_gof = float(gof.statistic), float(gof.pvalue)
            if n_r < n:
                chi2_fpc = chi2_gof * n / (n - n_r)
                p_fpc = float(stats.chi2.sf(chi2_fpc, L - 1))
            else:
                chi2_fpc, p_fpc = 0.0, 1.0  # everyone responded: no non-response to test
        else:
            chi2_gof = p_gof = chi2_fpc = p_fpc = np.nan
        test_rows.append(
            {
                "variable": name,
                "n_frame": n,
                "n_respondents": n_r,
                "df": L - 1,
                "chi2_gof": chi2_gof,
                "p_gof": p_gof,
                "chi2_fpc": chi2_fpc,
                "p_fpc": p_fpc,
                "min_expected": float(expected.min()),
                "max_asmd_respondents": float(np.max(a_r)),
                "max_asmd_weighted": float(np.max(a_w)) if weights is not None else np.nan,
            }
        )
        if expected.min() < 5:
            warnings.warn(
                f"profile_comparison: variable {name!r} has an expected respondent count of "
                f"{expected.min():.2f} (< 5); its chi-square p-values are unreliable -- collapse "
                "categories",
                NonresponseWarning,
                stacklevel=2,
            )
    return ProfileComparison(pd.DataFrame(cat_rows), pd.DataFrame(test_rows).set_index("variable"))
