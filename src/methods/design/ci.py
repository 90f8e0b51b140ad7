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
* ``svyciprop(method="likelihood")``: the profile-likelihood interval of the intercept-only
  quasibinomial ``svyglm`` (``confint.svyglm(method="likelihood")``, Lumley and Scott 2014):
  the working likelihood-ratio statistic ``(D(b) - D(b0)) / phi`` is inverted at the
  Rao-Scott-scaled cutoff ``qt(alpha/2, df)^2 * lambda``, with ``lambda`` the ratio of the
  sandwich to the model-based variance of the logit. As R, the statistic is evaluated on a grid
  of logits ``b0 -/+ k * del * se`` (MASS ``profile.glm``, R's ``MASSprofile_glm``), smoothed
  by R's ``spline(method="fmm")`` and inverted by linear interpolation, so the bounds agree
  with R's to rounding rather than being the exact roots (3e-8 away on apistrat).
  :func:`likelihood_interval`. Taylor designs only: for replicate designs R returns NA
  (``summary.svrepglm``'s dispersion is n times the weighted Pearson mean square, so the
  profile never reaches the cutoff), and the design raises :class:`NotImplementedError`.
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
    Lumley T, Scott AJ (2014). Tests for regression models fitted to survey data. Australian
    and New Zealand Journal of Statistics 56:1-14 (the Rao-Scott working likelihood ratio).
    Venables WN, Ripley BD (2002). Modern Applied Statistics with S, 4th ed., sec. 8.4
    (``profile.glm``). Forsythe GE, Malcolm MA, Moler CB (1977). Computer Methods for
    Mathematical Computations, sec. 4.4 (the "fmm" spline).
"""

from __future__ import annotations

import numpy as np
from scipy import special, stats

CI_METHODS = (
    "logit",
    "beta",
    "wilson",
    "clopper-pearson",
    "mean",
    "asin",
    "xlogit",
    "likelihood",
)
#: R's svyciprop methods not implemented here, with the message the caller raises.
NOT_IMPLEMENTED: dict[str, str] = {}
#: R's svyciprop methods implemented for Taylor designs only, with the message for the others.
TAYLOR_ONLY = {
    "likelihood": "svyciprop's profile-likelihood interval is not implemented for replicate "
    "designs: R's svyciprop(method='likelihood') returns NA there (summary.svrepglm's "
    "dispersion is n times the Pearson mean square, so the profile never reaches the cutoff); "
    "use 'logit', 'beta', 'xlogit', 'asin', 'mean' or 'wilson'"
}
#: MASS profile.glm's grid: at most ``PROFILE_STEPS - 1`` steps of ``zmax / 5`` SEs each side.
PROFILE_STEPS = 10


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


def fmm_spline(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Coefficients (b, c, d) of R's ``spline(method = "fmm")`` through (x, y), x increasing.

    The cubic spline whose third derivatives at the ends are those of the cubics through the
    first and the last four points (Forsythe, Malcolm and Moler 1977; R's ``fmm_spline`` in
    ``stats/src/splines.c``); on ``[x_i, x_{i+1}]`` it is
    ``y_i + u (b_i + u (c_i + u d_i))`` with ``u = x - x_i``. Two points give the line.
    The tridiagonal solve runs over the (at most 19) profile points of one domain.
    """
    n = x.size
    if n < 3:
        slope = (y[1] - y[0]) / (x[1] - x[0])
        return np.full(n, slope), np.zeros(n), np.zeros(n)
    h = np.diff(x)
    slopes = np.diff(y) / h
    diag = np.empty(n)
    rhs = np.empty(n)
    diag[1:-1] = 2.0 * (h[:-1] + h[1:])
    rhs[1:-1] = slopes[1:] - slopes[:-1]
    diag[0], diag[-1] = -h[0], -h[-1]
    rhs[0] = rhs[-1] = 0.0
    if n > 3:  # third differences of the end four points
        r0 = rhs[2] / (x[3] - x[1]) - rhs[1] / (x[2] - x[0])
        r1 = rhs[-2] / (x[-1] - x[-3]) - rhs[-3] / (x[-2] - x[-4])
        rhs[0] = r0 * h[0] * h[0] / (x[3] - x[0])
        rhs[-1] = -r1 * h[-1] * h[-1] / (x[-1] - x[-4])
    off = np.append(h, 0.0)  # off-diagonal: h_i couples i and i + 1
    for i in range(1, n):  # Gaussian elimination (sequential by nature)
        t = off[i - 1] / diag[i - 1]
        diag[i] -= t * off[i - 1]
        rhs[i] -= t * rhs[i - 1]
    sigma = np.empty(n)
    sigma[-1] = rhs[-1] / diag[-1]
    for i in range(n - 2, -1, -1):
        sigma[i] = (rhs[i] - off[i] * sigma[i + 1]) / diag[i]
    b = np.empty(n)
    b[:-1] = slopes - h * (sigma[1:] + 2.0 * sigma[:-1])
    b[-1] = slopes[-1] + h[-1] * (sigma[-2] + 2.0 * sigma[-1])
    d = np.empty(n)
    d[:-1] = np.diff(sigma) / h
    d[-1] = d[-2]
    return b, 3.0 * sigma, d


def fmm_spline_eval(x, y, coef, u: np.ndarray) -> np.ndarray:
    """The spline of :func:`fmm_spline` at ``u`` (within [x_0, x_{n-1}]), as R's
    ``spline_eval``."""
    b, c, d = coef
    i = np.clip(np.searchsorted(x, u, side="right") - 1, 0, x.size - 1)
    dx = u - x[i]
    return y[i] + dx * (b[i] + dx * (c[i] + dx * d[i]))


GLM_EPSILON = 1e-8  #: R's glm.control(): relative deviance change that ends the IRLS
GLM_MAXIT = 25  #: R's glm.control() maxit


def intercept_logit_fit(y: np.ndarray, wn: np.ndarray, c: np.ndarray, K: int):
    """R's ``glm.fit(y ~ 1, weights = wn, family = quasibinomial)`` for K domains at once.

    Arguments:
        y: values in [0, 1] of the rows used; wn: their glm prior weights; c: their domain
            codes 0..K-1.

    Returns:
        ``(b0, info)``: the fitted intercept and ``sum(wn mu_s (1 - mu_s))`` with ``mu_s`` the
        fit at the start of the last iteration: the working weights ``summary.glm`` inverts
        for ``cov.unscaled`` (svyglm's ``naive.cov``), which lag the converged fit by one
        Newton step. Replicating the iterations (``mustart = (wn y + 0.5) / (wn + 1)``, then
        Newton steps on the logit until ``|dev - dev_old| / (|dev| + 0.1) < 1e-8``) matters:
        the lag moves R's likelihood bounds by up to 3e-6 on the reference designs.
    """
    good = wn > 0
    y, wn, c = y[good], wn[good], c[good]

    def bsum(v):
        return np.bincount(c, weights=v, minlength=K)

    ylogy = special.xlogy(y, y) + special.xlogy(1.0 - y, 1.0 - y)
    const, s1, s0 = bsum(wn * ylogy), bsum(wn * y), bsum(wn * (1.0 - y))
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = (wn * y + 0.5) / (wn + 1.0)  # binomial()$initialize, one value per row
        eta = np.log(mu / (1.0 - mu))
        dev_old = 2.0 * bsum(wn * (ylogy - special.xlogy(y, mu) - special.xlogy(1.0 - y, 1.0 - mu)))
        v = mu * (1.0 - mu)
        info = bsum(wn * v)
        b = bsum(wn * v * (eta + (y - mu) / v)) / info
        for _ in range(GLM_MAXIT):
            m = 1.0 / (1.0 + np.exp(-b))
            dev = 2.0 * (const - s1 * np.log(m) - s0 * np.log1p(-m))
            done = np.abs(dev - dev_old) / (np.abs(dev) + 0.1) < GLM_EPSILON
            if done.all():
                break
            # next Newton step for the domains still iterating; their lagged weights follow
            vm = m * (1.0 - m)
            w_m = (s1 + s0) * vm
            b = np.where(done, b, b + (s1 - (s1 + s0) * m) / w_m)
            info = np.where(done, info, w_m)
            dev_old = np.where(done, dev_old, dev)
    return b, info


def likelihood_interval(p, b0, se_logit, w_model, info, phi, n_model, df, conf_level: float):
    """R ``svyciprop(method = "likelihood")`` for Taylor designs (vectorised over domains).

    Arguments:
        p: estimated proportions.
        b0, info: the intercept-only glm fit's coefficient (``logit(p)`` to glm's tolerance)
            and its lagged information (:func:`intercept_logit_fit`).
        se_logit: sandwich SE of ``b0``: ``se(p) / (mu0 (1 - mu0))``, ``mu0 = expit(b0)``.
        w_model: sum over the domain's rows of svyglm's rescaled weights
            ``w / mean(w)`` (the mean over the rows of R's domain design).
        phi: R's dispersion ``svyvar(resid(fit, "pearson"), design)`` of the fit.
        n_model: rows of the model frame, ``NROW(Y)`` (sets MASS's profiling range).
        df: design degrees of freedom (``ddf``); df <= 0 gives NaN (R stops).
        conf_level: confidence level.

    Notes:
        ``confint.svyglm(method = "likelihood")`` with ``lambda = cov.unscaled / naive.cov =
        se_logit^2 info`` (the design effect of the logit) and
        ``t = qt((1 - level)/2, df)``: MASS's ``profile.glm`` evaluates the signed root
        ``z(b) = sign(b - b0) sqrt((D(b) - D(b0)) / phi)`` of the binomial deviance
        ``D(b) - D(b0) = 2 w_model [p log(mu0/mu) + (1 - p) log((1 - mu0)/(1 - mu))]``,
        ``mu = expit(b)``, at ``b = b0 -/+ k del se_logit`` for k = 1, 2, ... while
        ``|z| < zmax`` (k < 10), where ``zmax = sqrt(qf(a, 1, n_model - 1, lower = FALSE))``,
        ``a = pnorm(t sqrt(lambda)) / 2`` and ``del = zmax / 5``; R's ``confint_profile``
        then interpolates a fmm spline of z against b (``3 x`` points) linearly at
        ``z = -/+ t sqrt(lambda)``. The bounds are ``expit`` of those logits; NaN where the
        profile does not reach the cutoff (R: NA).
    """
    p = np.atleast_1d(np.asarray(p, float))
    b0, se_logit, w_model, info, phi, n_model, df = (
        np.broadcast_to(np.asarray(a, float), p.shape)
        for a in (b0, se_logit, w_model, info, phi, n_model, df)
    )
    t = t_quantile((1.0 - conf_level) / 2.0, df)
    mu0 = _expit(b0)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        lam = se_logit**2 * info
        half = stats.norm.cdf(t * np.sqrt(lam)) / 2.0  # R's alpha
        cut_lo = stats.norm.ppf(2.0 * half)
        cut_hi = stats.norm.isf(2.0 * half)
        zmax = np.sqrt(stats.f.isf(half, 1.0, n_model - 1.0))
        step = zmax / 5.0 * se_logit
        k = np.arange(1, PROFILE_STEPS)
        sides = []
        for sgn in (-1.0, 1.0):
            b = b0[:, None] + sgn * k[None, :] * step[:, None]
            mu = _expit(b)
            kl = p[:, None] * np.log(mu0[:, None] / mu) + (1.0 - p[:, None]) * np.log(
                (1.0 - mu0[:, None]) / (1.0 - mu)
            )
            z = sgn * np.sqrt(np.maximum(2.0 * w_model[:, None] * kl / phi[:, None], 0.0))
            # step k is taken while the previous one stayed inside zmax (MASS's while loop)
            before = np.concatenate([np.zeros((p.size, 1)), np.abs(z[:, :-1])], axis=1)
            taken = np.cumprod(before < zmax[:, None], axis=1).astype(bool)
            sides.append((b, z, taken))
    lo = np.full(p.shape, np.nan)
    hi = np.full(p.shape, np.nan)
    ok = np.isfinite(b0) & np.isfinite(step) & (step > 0) & np.isfinite(phi) & (phi > 0)
    ok &= np.isfinite(cut_lo) & np.isfinite(cut_hi)
    (bd, zd, td), (bu, zu, tu) = sides
    for j in np.flatnonzero(ok):  # a spline through each domain's own profile points
        bs = np.concatenate([bd[j, td[j]][::-1], b0[j : j + 1], bu[j, tu[j]]])
        zs = np.concatenate([zd[j, td[j]][::-1], [0.0], zu[j, tu[j]]])
        coef = fmm_spline(bs, zs)
        grid = np.linspace(bs[0], bs[-1], 3 * bs.size)
        zg = fmm_spline_eval(bs, zs, coef, grid)
        order = np.argsort(zg, kind="stable")
        zg, grid = zg[order], grid[order]
        for cut, out in ((cut_lo[j], lo), (cut_hi[j], hi)):
            if zg[0] <= cut <= zg[-1]:  # R's approx(rule = 1): NA outside the profile
                out[j] = np.interp(cut, zg, grid)
    return _expit(lo), _expit(hi)


def _expit(x):
    x = np.asarray(x, float)
    with np.errstate(over="ignore"):
        return np.where(x >= 0, 1.0 / (1.0 + np.exp(-x)), np.exp(x) / (1.0 + np.exp(x)))


def proportion_interval(
    ci, p, se, se_logit, df, n_rows, successes, count, conf_level, likelihood=None
):
    """Interval ``ci`` for proportions ``p`` (vectorised over domains).

    Arguments:
        ci: one of ``CI_METHODS``.
        p, se: estimates and their standard errors.
        se_logit: SE of logit(p) (used by "logit" and "likelihood").
        df: design degrees of freedom per domain.
        n_rows: R's ``nrow(design)`` per domain (used by "beta").
        successes, count: unweighted successes and rows (positive weight) per domain.
        conf_level: confidence level.
        likelihood: for "likelihood", ``(b0, se_logit, w_model, info, phi, n_model)`` of
            :func:`likelihood_interval` (None: the design cannot give them).

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
    elif ci == "likelihood":
        if likelihood is None:
            raise NotImplementedError(TAYLOR_ONLY[ci])
        lo, hi = likelihood_interval(p, *likelihood, df, conf_level)
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
