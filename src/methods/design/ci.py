"""Confidence intervals for survey proportions (vectorised over domains).

Which quantile each interval uses follows R's ``survey`` package, the reference implementation:

* ``svyciprop(method="logit")``: Wald interval on the logit scale with a t quantile on the
  design degrees of freedom (``confint.svyglm(..., ddf = degf(design))``).
* ``svyciprop(method="beta")``: Korn and Graubard (1998) interval, a Clopper-Pearson interval
  on the effective sample size ``n* = p(1 - p)/v(p)`` scaled by ``(t_{n-1} / t_df)^2``.
* ``svyciprop(method="mean")``: the Wald interval ``p -/+ t * se`` (not clipped to [0, 1]).
* ``svyciprop(method="asin")``: Wald on the arcsine-square-root scale by the delta method,
  ``sin(asin(sqrt(p)) -/+ t * se / (2 sqrt(p (1 - p))))^2``.
* ``svyciprop(method="xlogit")``: Wald on the logit scale with the delta-method SE
  ``se / (p (1 - p))`` for every design (for replicate designs "logit" uses the replicate
  SE of logit(p_r) instead, as R's ``svyglm.svyrep.design``).
* ``svyciprop(method="likelihood")`` (a profile-likelihood interval of the quasibinomial
  ``svyglm``) is not implemented: :class:`NotImplementedError`.
* ``"wilson"`` (not in R): the Wilson (1927) score interval on the same effective sample size
  ``n* = p(1 - p)/v(p)`` with a t quantile on the design degrees of freedom; with equal weights
  and no clustering it is Wilson's interval with n - 1 in place of n (because the
  with-replacement variance of a mean uses s^2 with divisor n - 1). Dean and Pagano (2015),
  "Evaluating confidence interval methods for binomial proportions in clustered surveys",
  J Survey Stat Methodol 3:484-503, recommend exactly this design-effect-adjusted Wilson.
* ``"clopper-pearson"``: the exact binomial interval (Clopper and Pearson 1934) on the
  unweighted count of successes x out of n; only valid for simple random samples, so the
  design checks for equal weights and no clustering before using it.

Degenerate estimates p = 0 or p = 1 have v(p) = 0 and no effective sample size; following
Korn and Graubard (1998, sec. 2) n* is then set to the unweighted sample size n and the
Clopper-Pearson bounds are used. Callers warn when this happens.

References:
    Korn EL, Graubard BI (1998). Confidence intervals for proportions with small expected
    number of positive counts estimated from survey data. Survey Methodology 24:193-201.
    Wilson EB (1927). JASA 22:209-212. Clopper CJ, Pearson ES (1934). Biometrika 26:404-413.
    Newcombe RG (1998). Two-sided confidence intervals for the single proportion. Statistics
    in Medicine 17:857-872 (worked examples used in the tests).
"""

from __future__ import annotations

import numpy as np
from scipy import stats

CI_METHODS = ("logit", "beta", "wilson", "clopper-pearson", "mean", "asin", "xlogit")
#: R's svyciprop methods not implemented here, with the message the caller raises.
NOT_IMPLEMENTED = {
    "likelihood": "svyciprop's profile-likelihood interval is not implemented; use 'logit', "
    "'beta', 'xlogit', 'asin', 'mean' or 'wilson'"
}


def t_quantile(prob: float, df: np.ndarray | float) -> np.ndarray:
    """``qt(prob, df)`` with R's conventions: ``df = inf`` gives the normal quantile and
    ``df <= 0`` gives NaN."""
    df = np.asarray(df, dtype=float)
    out = np.where(np.isinf(df), stats.norm.ppf(prob), np.nan)
    ok = np.isfinite(df) & (df > 0)
    if ok.any():
        out = np.where(ok, stats.t.ppf(prob, np.where(ok, df, 1.0)), out)
    return out


def wald_interval(est, se, df, conf_level: float):
    """``est -/+ qt(1 - alpha/2, df) * se`` (R ``survey:::tconfint``; df = inf is normal)."""
    q = t_quantile(1.0 - (1.0 - conf_level) / 2.0, df)
    est = np.asarray(est, float)
    se = np.asarray(se, float)
    return est - q * se, est + q * se


def logit_interval(p, se_logit, df, conf_level: float):
    """``expit(logit(p) -/+ qt(1 - alpha/2, df) * se_logit)`` (R ``svyciprop(method="logit")``).

    Arguments:
        p: estimated proportions.
        se_logit: standard error of logit(p): ``se(p) / (p (1 - p))`` under linearisation
            (the intercept-only ``svyglm`` sandwich), or the replicate SE of logit(p_r).
        df: design degrees of freedom.
    """
    p = np.asarray(p, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        eta = np.log(p / (1.0 - p))
        lo, hi = wald_interval(eta, se_logit, df, conf_level)
        return _expit(lo), _expit(hi)


def korn_graubard_interval(p, se, df, n_rows, conf_level: float):
    """R ``svyciprop(method="beta")``.

    Notes:
        ``n* = p (1 - p) / v * (qt(alpha/2, n_rows - 1) / qt(alpha/2, df))^2``;
        ``lower = qbeta(alpha/2, n* p, n* (1 - p) + 1)``,
        ``upper = qbeta(1 - alpha/2, n* p + 1, n* (1 - p))`` (Korn and Graubard 1998, eq. 2.2).
        ``n_rows`` is R's ``nrow(design)``: the rows of the (domain) design.
    """
    p = np.asarray(p, float)
    se = np.asarray(se, float)
    alpha = 1.0 - conf_level
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = (
            t_quantile(alpha / 2.0, np.asarray(n_rows, float) - 1.0) / t_quantile(alpha / 2.0, df)
        ) ** 2
        n_eff = p * (1.0 - p) / se**2 * ratio
    return exact_beta_bounds(n_eff * p, n_eff, alpha)


def wilson_interval(p, n_eff, q):
    """Wilson (1927) score interval for proportion ``p`` on sample size ``n_eff`` with quantile
    ``q``: ``(p + q^2/2n -/+ q sqrt(p(1-p)/n + q^2/4n^2)) / (1 + q^2/n)``."""
    p = np.asarray(p, float)
    n = np.asarray(n_eff, float)
    q = np.asarray(q, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        denom = 1.0 + q * q / n
        centre = (p + q * q / (2.0 * n)) / denom
        half = q / denom * np.sqrt(p * (1.0 - p) / n + q * q / (4.0 * n * n))
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def design_wilson_interval(p, se, df, conf_level: float):
    """Wilson interval on ``n* = p(1 - p)/v(p)`` with the t quantile on ``df`` (see module)."""
    p = np.asarray(p, float)
    se = np.asarray(se, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        n_eff = p * (1.0 - p) / se**2
    q = t_quantile(1.0 - (1.0 - conf_level) / 2.0, df)
    return wilson_interval(p, n_eff, q)


def exact_beta_bounds(x, n, alpha: float):
    """Clopper-Pearson bounds for (possibly fractional) x successes out of n.

    ``lower = qbeta(alpha/2, x, n - x + 1)`` (0 when x = 0),
    ``upper = qbeta(1 - alpha/2, x + 1, n - x)`` (1 when x = n).
    """
    x = np.asarray(x, float)
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        a_lo = np.where(x > 0, x, 1.0)
        b_lo = n - x + 1.0
        lo = np.where(x > 0, stats.beta.ppf(alpha / 2.0, a_lo, b_lo), 0.0)
        b_hi = np.where(n - x > 0, n - x, 1.0)
        hi = np.where(n - x > 0, stats.beta.ppf(1.0 - alpha / 2.0, x + 1.0, b_hi), 1.0)
    bad = ~(np.isfinite(x) & np.isfinite(n) & (n > 0))
    lo = np.where(bad, np.nan, lo)
    hi = np.where(bad, np.nan, hi)
    return lo, hi


def clopper_pearson_interval(x, n, conf_level: float):
    """Exact binomial interval for x successes in n trials (R ``binom.test``)."""
    return exact_beta_bounds(x, n, 1.0 - conf_level)


def _expit(x):
    x = np.asarray(x, float)
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-x)), np.exp(x) / (1.0 + np.exp(x)))


def proportion_interval(ci, p, se, se_logit, df, n_rows, successes, count, conf_level):
    """Interval ``ci`` for proportions ``p`` (vectorised over domains).

    Arguments:
        ci: one of ``CI_METHODS``.
        p, se: estimates and their standard errors.
        se_logit: SE of logit(p) (used by "logit" only).
        df: design degrees of freedom per domain.
        n_rows: R's ``nrow(design)`` per domain (used by "beta").
        successes, count: unweighted successes and rows (positive weight) per domain.
        conf_level: confidence level.

    Returns:
        (lower, upper, degenerate) where ``degenerate`` marks p in {0, 1} with more than one
        row, whose bounds are Clopper-Pearson on the unweighted count (see module docstring);
        a zero SE with 0 < p < 1 gives the interval [p, p] when df > 0; df <= 0 gives NaN
        bounds, as R's ``qt`` does.
    """
    p = np.asarray(p, float)
    se = np.asarray(se, float)
    if ci == "logit":
        lo, hi = logit_interval(p, se_logit, df, conf_level)
    elif ci == "beta":
        lo, hi = korn_graubard_interval(p, se, df, n_rows, conf_level)
    elif ci == "wilson":
        lo, hi = design_wilson_interval(p, se, df, conf_level)
    elif ci == "clopper-pearson":
        lo, hi = clopper_pearson_interval(successes, count, conf_level)
    elif ci == "mean":
        lo, hi = wald_interval(p, se, df, conf_level)
    elif ci in ("asin", "xlogit"):
        with np.errstate(divide="ignore", invalid="ignore"):
            spread = np.sqrt(p * (1.0 - p))
            if ci == "xlogit":
                lo, hi = logit_interval(p, se / spread**2, df, conf_level)
            else:
                a, b = wald_interval(np.arcsin(np.sqrt(p)), se / (2.0 * spread), df, conf_level)
                lo, hi = np.sin(a) ** 2, np.sin(b) ** 2
    elif ci in NOT_IMPLEMENTED:
        raise NotImplementedError(NOT_IMPLEMENTED[ci])
    else:
        raise ValueError(ci)
    count = np.asarray(count, float)
    degenerate = ((p == 0) | (p == 1)) & (count > 1)
    if ci != "clopper-pearson" and degenerate.any():
        dlo, dhi = exact_beta_bounds(successes, count, 1.0 - conf_level)
        lo = np.where(degenerate, dlo, lo)
        hi = np.where(degenerate, dhi, hi)
    else:
        degenerate = np.zeros_like(degenerate)
    # No sampling variance (every PSU sampled, or PSU totals that do not vary in a domain):
    # the interval is the point, provided there are degrees of freedom (R: NaN when df <= 0).
    flat = (se <= 1e-12) & ~degenerate & (ci != "clopper-pearson") & (np.asarray(df) > 0)
    lo = np.where(flat, p, lo)
    hi = np.where(flat, p, hi)
    return lo, hi, degenerate
