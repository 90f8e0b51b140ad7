"""Quantiles of a survey design and their intervals: R ``svyquantile`` (survey >= 4.1).

Point estimate: one of R's quantile rules (``qrule``) applied to the values and weights of the
rows used (zero weights dropped first, as every ``survey:::qrule_*`` does):

* "math" (R's default, = "hf1"): the inverse of the weighted empirical CDF, the smallest x with
  ``F(x) >= p`` (with R's convention at an exact hit);
* "school" (= "hf2"): as "math" but the midpoint of the two order statistics at an exact hit;
* "hf3": nearest even order statistic at an exact hit, on the weights aggregated by value;
* "hf4": linear interpolation of the weighted CDF between the two order statistics;
* "hf5" - "hf9": Hyndman and Fan (1996, The American Statistician 50:361-365) plotting
  positions with weights, linearly interpolated (``approx(rule=2)``); "hf7" is R's
  ``quantile()`` default for equal weights;
* "shahvaish": Shah and Vaish (2006) plotting positions, step interpolation.

Formulas follow R's ``survey:::qs`` and ``survey:::qrule_*`` code line for line (including
R's choices at the edges, e.g. "math" returning the second order statistic when p is below the
first weight's share); see R's help page ``svyquantile`` and Lumley (2010), Complex Surveys,
sec. 2.4.1.

Intervals (``interval_type``):

* "mean" (R's default; Woodruff 1952, JASA 47:635-646): the Wald interval of the estimated CDF
  at the quantile, ``F_hat(q_hat) -/+ t se``, mapped back through the quantile rule;
* "xlogit", "asin": the same interval built on the logit / arcsine-square-root scale by the
  delta method; "beta": Korn-Graubard (1998) Beta interval on the effective sample size
  (R ``survey:::woodruffCI``);
* "score" (Taylor designs): Francisco and Fuller (1991, Annals of Statistics 19:454-469) test
  inversion, R ``survey:::ffullerCI`` (the root found by R's own Brent-Dekker ``zeroin``,
  ported in :func:`zeroin`, so the same data point is found);
* "quantile" (replicate designs): the replicate variance of the quantile itself, each replicate
  re-estimating it (R ``survey:::repCI``; jackknives warn, as R, since the jackknife is not
  consistent for quantiles).

Replicate designs and "beta"/"xlogit"/"asin": R's ``svyquantile.svyrep.design`` ignores these
(it calls ``woodruffCI`` with its default, "mean"); here the interval asked for is computed,
with the replicate variance of the estimated CDF, and checked against R's ``woodruffCI``
called with that method on the replicate design.

``se`` is R's ``(upper - lower) / (2 t)`` with t the quantile of the design degrees of freedom
(normal when they are infinite). Domains: each domain's rows alone, as ``svyby`` subsets.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from scipy import stats

from methods.core.errors import UsageError
from methods.design import estimators as est

if TYPE_CHECKING:
    from methods.design.survey import SurveyDesign

__all__ = [
    "INTERVALS_REPLICATE",
    "INTERVALS_TAYLOR",
    "QRULES",
    "design_quantiles",
    "qrule",
    "zeroin",
]

QRULES = (
    "math",
    "school",
    "shahvaish",
    "hf1",
    "hf2",
    "hf3",
    "hf4",
    "hf5",
    "hf6",
    "hf7",
    "hf8",
    "hf9",
)
INTERVALS_TAYLOR = ("mean", "beta", "xlogit", "asin", "score")
INTERVALS_REPLICATE = ("mean", "beta", "xlogit", "asin", "quantile")


def _cumsum(w: np.ndarray) -> np.ndarray:
    """R's ``cumsum`` (accumulated in long double, then rounded)."""
    return np.cumsum(w, dtype=np.longdouble).astype(np.float64)


def _qs(xs: np.ndarray, ws: np.ndarray, p: float):
    """R ``survey:::qs`` on sorted values: (qlow, qup, ilow (1-based), wlow, wup)."""
    n = xs.shape[0]
    cumw = _cumsum(ws)
    total = cumw[-1]
    # cumw is non-decreasing: the number of cumw <= p*total is a binary search away
    hits = int(np.searchsorted(cumw, p * total, side="right"))
    pos = hits - 1 if hits else 0  # R's last(): 1 (index 0) when none
    nxt = pos if pos == n - 1 else pos + 1
    return xs[pos], xs[nxt], pos + 1, p - cumw[pos] / total, cumw[nxt] / total - p


def _approx(pk: np.ndarray, xs: np.ndarray, p: float, constant: bool = False) -> float:
    """R ``approx(pk, xs, p, rule=2)``, linear or ``method="constant", f=0``; as R's
    ``regularize.values`` the points are first ordered by pk and tied pk values averaged."""
    if (np.diff(pk) <= 0).any():
        o = np.argsort(pk, kind="stable")
        pk, xs = pk[o], xs[o]
        pk, start, counts = np.unique(pk, return_index=True, return_counts=True)
        xs = np.add.reduceat(xs, start) / counts
    if constant:
        i = int(np.searchsorted(pk, p, side="right")) - 1
        return float(xs[min(max(i, 0), xs.shape[0] - 1)])
    return float(np.interp(p, pk, xs))


def qrule_sorted(rule: str, xs: np.ndarray, ws: np.ndarray, p: float) -> float:
    """Quantile rule ``rule`` (see the module docstring) on values sorted ascending (stable),
    with their weights; zero weights are dropped first, as R."""
    if (ws == 0).any():
        keep = ws != 0
        xs, ws = xs[keep], ws[keep]
    n = xs.shape[0]
    if n == 0:
        return np.nan
    if rule in ("math", "hf1"):
        qlow, qup, _, wlow, _ = _qs(xs, ws, p)
        return float(qlow if wlow == 0 else qup)
    if rule in ("school", "hf2"):
        qlow, qup, _, wlow, _ = _qs(xs, ws, p)
        return float((qlow + qup) / 2.0 if wlow == 0 else qup)
    if rule == "hf3":
        ux, start = np.unique(xs, return_index=True)
        wsum = np.add.reduceat(ws, start)
        qlow, qup, ilow, wlow, _ = _qs(ux, wsum, p)
        return float(qlow if (wlow == 0 and ilow % 2 == 0) else qup)
    if rule == "hf4":
        qlow, qup, _, wlow, wup = _qs(xs, ws, p)
        gamma = wlow / (wup + wlow)
        return float(qlow * (1.0 - gamma) + qup * gamma)
    cumw = _cumsum(ws)
    prev = np.concatenate([[0.0], cumw[:-1]])
    if rule == "hf7":
        pk = prev / cumw[n - 2] if n > 1 else np.array([np.nan])
    elif rule == "hf5":
        pk = (cumw - ws / 2.0) / cumw[-1]
    elif rule == "hf6":
        pk = cumw / (cumw[-1] + ws[-1])
    elif rule == "hf8":
        pk = (prev * 1.0 / 3.0 + cumw * 2.0 / 3.0) / (cumw[-1] + ws[-1] / 3.0)
    elif rule == "hf9":
        pk = (prev * 3.0 / 8.0 + cumw * 5.0 / 8.0) / (cumw[-1] + ws[-1] / 4.0)
    elif rule == "shahvaish":
        wbar = ws / ws.mean()
        S = _cumsum(wbar)
        pk = (S + 0.5 - ws / 2.0) / (n + 1.0)  # R uses w (not wbar) here
        return _approx(pk, xs, p, constant=True)
    else:
        raise UsageError(f"qrule must be one of {QRULES}, got {rule!r}")
    return _approx(pk, xs, p)


def qrule(rule: str, x: np.ndarray, w: np.ndarray, p: float) -> float:
    """R's ``qrule_<rule>(x, w, p)`` on unsorted values."""
    o = np.argsort(x, kind="stable")
    return qrule_sorted(rule, x[o], w[o], p)


def zeroin(f, ax: float, bx: float, fa: float, fb: float, tol: float, maxit: int = 1000):
    """R's ``uniroot`` root (``R_zeroin2`` in R's stats/src/zeroin.c, Brent 1973, Algorithms
    for Minimization without Derivatives, ch. 4), step for step."""
    eps = np.finfo(float).eps
    a, b = ax, bx
    c, fc = a, fa
    if fa == 0.0:
        return a
    if fb == 0.0:
        return b
    for _ in range(maxit + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2.0 * eps * abs(b) + tol / 2.0
        new_step = (c - b) / 2.0
        if abs(new_step) <= tol_act or fb == 0.0:
            return b
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p = cb * t1
                q = 1.0 - t1
            else:
                q = fa / fc
                t1 = fb / fc
                t2 = fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1.0))
                q = (q - 1.0) * (t1 - 1.0) * (t2 - 1.0)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < (0.75 * cb * q - abs(tol_act * q) / 2.0) and p < abs(prev_step * q / 2.0):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b


def _crit(prob: float, df: float) -> float:
    return float(stats.norm.ppf(prob) if np.isinf(df) else stats.t.ppf(prob, df))


class _Domain:
    """The rows of one domain: values sorted (stable), their weights and replicate weights."""

    def __init__(self, rows: np.ndarray, y: np.ndarray, w: np.ndarray):
        self.rows = rows
        o = np.argsort(y[rows], kind="stable")
        self.order = rows[o]
        self.xs = y[self.order]
        self.ws = w[self.order]


def design_quantiles(
    design: SurveyDesign,
    y: np.ndarray,
    dom: np.ndarray,
    K: int,
    probs: np.ndarray,
    *,
    rule: str,
    interval_type: str,
    ci: bool,
    conf_level: float,
    df: Any,
    cache: dict | None,
) -> dict[str, np.ndarray]:
    """Quantiles (K x q) of ``y`` in each domain with lower/upper bounds and se."""
    if rule not in QRULES:
        raise UsageError(f"qrule must be one of {QRULES}, got {rule!r}")
    rep = design._rep is not None
    allowed = INTERVALS_REPLICATE if rep else INTERVALS_TAYLOR
    if interval_type not in allowed:
        kind = "replicate" if rep else "Taylor"
        if interval_type in INTERVALS_TAYLOR + INTERVALS_REPLICATE:
            raise UsageError(
                f"interval_type={interval_type!r} is not available for {kind} designs "
                f"(R's svyquantile allows {allowed})"
            )
        known = tuple(dict.fromkeys(INTERVALS_TAYLOR + INTERVALS_REPLICATE))
        raise UsageError(f"unknown interval_type={interval_type!r}: R's svyquantile knows {known}")
    if rep and ci and interval_type == "quantile" and design._rep_method in ("jk1", "jkn"):
        warnings.warn(
            "jackknife replicate weights may not give valid standard errors for quantiles "
            "(R's svyquantile warns likewise); a bootstrap or BRR design is safer",
            UserWarning,
            stacklevel=4,
        )
    alpha = 1.0 - conf_level
    w = design._w
    c = est.usable_codes(dom, y)
    doms = [_Domain(np.flatnonzero(c == d), y, w) for d in range(K)]
    q = len(probs)
    qhat = np.array([[qrule_sorted(rule, D.xs, D.ws, p) for p in probs] for D in doms])
    nan = np.full((K, q), np.nan)
    out = {"estimate": qhat, "ci_low": nan.copy(), "ci_high": nan.copy(), "se": nan.copy()}
    if not ci:
        return out
    if df is None:
        same = c is dom or np.array_equal(c, dom)
        dfv = design._domain_degf(dom if same else c, K, cache if same else None)
    else:
        dfv = np.full(K, float(df))
    out["df"] = np.repeat(dfv[:, None], q, axis=1)
    if interval_type == "quantile":
        lo, hi = _replicate_ci(design, doms, qhat, probs, rule, alpha, dfv)
    elif interval_type == "score":
        lo, hi = _score_ci(design, doms, c, K, probs, rule, alpha, dfv, y)
    else:
        lo, hi = _woodruff_ci(design, doms, y, c, K, qhat, probs, rule, interval_type, alpha, dfv)
    crit = np.array([_crit(1.0 - alpha / 2.0, d) for d in dfv])[:, None]
    out.update(ci_low=lo, ci_high=hi, se=(hi - lo) / (2.0 * crit))
    return out


def _cdf_at(design: SurveyDesign, y, c, K, thresholds):
    """Domain means of ``y <= threshold_d`` and their SEs (R ``svymean(x <= qhat, design)``)."""
    t = thresholds[np.maximum(c, 0)]
    ind = np.where(c >= 0, (y <= t).astype(float), 0.0)
    pr = est.point_estimates("mean", ind, design._w, c, K, None, design._w_all_positive())
    if design._rep is None:
        V = design._lin_variance(pr.influence)
    else:
        th = est.replicate_estimates("mean", design._rep, ind, c, K)
        V = design._rep_var(th, pr.estimate)
    return pr.estimate, np.diag(V)


def _nrows(design: SurveyDesign, doms: list[_Domain], K: int) -> np.ndarray:
    """R's ``nrow(design)`` of each domain's design: its rows with a value (all rows of a
    calibrated Taylor design, which R subsets by zeroing weights)."""
    if design._calibrations and design._rep is None:
        return np.full(K, float(design.n))
    return np.array([float(D.rows.size) for D in doms])


def _woodruff_ci(design, doms, y, c, K, qhat, probs, rule, method, alpha, dfv):
    """R ``survey:::woodruffCI``: an interval for F(q_hat), mapped back by the rule."""
    q = len(probs)
    lo = np.full((K, q), np.nan)
    hi = np.full((K, q), np.nan)
    a = np.array([alpha / 2.0, 1.0 - alpha / 2.0])
    fac = np.array([[_crit(ai, d) for ai in a] for d in dfv])  # K x 2
    nrow = _nrows(design, doms, K) if method == "beta" else None
    for j in range(q):
        pm, v = _cdf_at(design, y, c, K, qhat[:, j])
        se = np.sqrt(v)
        with np.errstate(all="ignore"):
            if method == "mean":
                pl, pu = pm + se * fac[:, 0], pm + se * fac[:, 1]
            elif method == "xlogit":
                lg, sl = np.log(pm / (1.0 - pm)), se / (pm * (1.0 - pm))
                pl, pu = (1.0 / (1.0 + np.exp(-(lg + sl * fac[:, i]))) for i in (0, 1))
            elif method == "asin":
                at, sa = np.arcsin(np.sqrt(pm)), se / (2.0 * np.sqrt(pm * (1.0 - pm)))
                pl, pu = (np.sin(at + sa * fac[:, i]) ** 2 for i in (0, 1))
            else:  # beta
                n_eff = pm * (1.0 - pm) / v
                ratio = np.array(
                    [
                        stats.t.ppf(alpha / 2.0, nr - 1.0) / _crit(alpha / 2.0, d)
                        for nr, d in zip(nrow, dfv, strict=True)
                    ]
                )
                n_eff = n_eff * ratio**2
                pl = stats.beta.ppf(alpha / 2.0, n_eff * pm, n_eff * (1.0 - pm) + 1.0)
                pu = stats.beta.ppf(1.0 - alpha / 2.0, n_eff * pm + 1.0, n_eff * (1.0 - pm))
        for d, D in enumerate(doms):
            if not (np.isnan(pl[d]) or pl[d] < 0):
                lo[d, j] = qrule_sorted(rule, D.xs, D.ws, float(pl[d]))
            if not (np.isnan(pu[d]) or pu[d] > 1):
                hi[d, j] = qrule_sorted(rule, D.xs, D.ws, float(pu[d]))
    return lo, hi


def _replicate_ci(design, doms, qhat, probs, rule, alpha, dfv):
    """R ``survey:::repCI``: the quantile re-estimated with every replicate's weights.

    The replicate weights of a domain's rows are taken in value order a few columns at a time
    (contiguous copies of at most n x 8), so memory stays O(n) beyond the design's own n x R.
    """
    K, q = qhat.shape
    rep = design._rep
    R = rep.shape[1]
    lo = np.full((K, q), np.nan)
    hi = np.full((K, q), np.nan)
    for d, D in enumerate(doms):
        th = np.empty((R, q))
        for j0 in range(0, R, 8):
            block = np.ascontiguousarray(rep[D.order, j0 : j0 + 8].T)
            for i, wcol in enumerate(block):
                th[j0 + i] = [qrule_sorted(rule, D.xs, wcol, p) for p in probs]
        V = design._rep_var(th, qhat[d])
        half = np.sqrt(np.diag(V)) * _crit(1.0 - alpha / 2.0, dfv[d])
        lo[d], hi[d] = qhat[d] - half, qhat[d] + half
    return lo, hi


def _score_ci(design, doms, c, K, probs, rule, alpha, dfv, y):
    """R ``survey:::ffullerCI``: invert the score test of ``F(theta) = p`` by R's zeroin.

    R works on the rows of the (domain) design: a calibrated design's domain keeps every row
    (weight 0 outside, values missing set to 0), so the search range, IQR and the unweighted
    share ``mean(x <= root)`` are then over all rows, as here.
    """
    x_all = np.where(np.isnan(y), 0.0, y) if design._calibrations else None
    q = len(probs)
    lo = np.full((K, q), np.nan)
    hi = np.full((K, q), np.nan)
    nrow = _nrows(design, doms, K)
    for d, D in enumerate(doms):
        x = D.xs if x_all is None else x_all
        if D.xs.size < 2:
            continue
        cd = np.where(c == d, 0, -1)
        q75, q25 = np.percentile(x, [75, 25])
        iqr = q75 - q25
        lower_t, upper_t = x.min() + iqr / 100.0, x.max() - iqr / 100.0
        tol = 1.0 / (100.0 * np.sqrt(nrow[d]))
        yv = np.where(c == d, _full(design.n, D), 0.0)
        for j, p in enumerate(probs):

            def score(theta, limit, p=p, cd=cd, yv=yv):
                u = np.where(cd >= 0, (yv > theta).astype(float) - (1.0 - p), 0.0)
                pr = est.point_estimates(
                    "mean", u, design._w, cd, 1, None, design._w_all_positive()
                )
                se = np.sqrt(design._lin_variance(pr.influence)[0, 0])
                return float(pr.estimate[0] / se - limit)

            roots = []
            for limit in (_crit(1.0 - alpha / 2.0, dfv[d]), _crit(alpha / 2.0, dfv[d])):
                fl, fu = score(lower_t, limit), score(upper_t, limit)
                if fl * fu > 0:
                    raise UsageError(
                        "svyquantile score interval: the score test does not change sign "
                        f"between {lower_t:g} and {upper_t:g} (R's uniroot fails likewise)"
                    )
                roots.append(
                    zeroin(lambda t, lm=limit: score(t, lm), lower_t, upper_t, fl, fu, tol)
                )
            lo[d, j] = qrule_sorted(rule, D.xs, D.ws, float(np.mean(x <= roots[0])))
            hi[d, j] = qrule_sorted(rule, D.xs, D.ws, float(np.mean(x <= roots[1])))
    return lo, hi


def _full(n: int, D: _Domain) -> np.ndarray:
    """The domain's values at their rows of the design (0 elsewhere)."""
    out = np.zeros(n)
    out[D.order] = D.xs
    return out
