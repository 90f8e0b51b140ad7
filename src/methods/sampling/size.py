"""Sample size and power for victim surveys.

- :func:`sample_size` gives the completes and issued sample needed for a margin of error.
- :func:`completes_for_change` gives the completes per period needed to detect a change
  between two independent periods with a given power.

Both are re-exported by :mod:`methods.sampling.selection` (``methods.sampling.selection.sample_size``).

References:
    Cochran, W.G. (1977) *Sampling Techniques*, 3rd edn. Wiley. (FPC 4.2.)
    Fleiss, J.L., Levin, B. and Paik, M.C. (2003) *Statistical Methods for Rates and
        Proportions*, 3rd edn. Wiley. (Sample size for two independent proportions, 4.14-4.15.)
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from scipy.stats import norm

from methods.core.errors import UsageError


# --------------------------------------------------------------------------------------------
# Sample size and power
# --------------------------------------------------------------------------------------------
def _check_prob(value: Any, name: str, low_open: bool = True, high_open: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise UsageError(f"{name} must be a number, got {value!r}")
    v = float(value)
    ok_low = v > 0 if low_open else v >= 0
    ok_high = v < 1 if high_open else v <= 1
    if not (ok_low and ok_high and math.isfinite(v)):
        interval = ("(" if low_open else "[") + "0, 1" + (")" if high_open else "]")
        raise UsageError(f"{name} must be in {interval}, got {value!r}")
    return v


def _ceil(x: float) -> int:
    """Ceiling that ignores floating noise below 1e-9 (so 385.0000000001 stays 385)."""
    return int(math.ceil(x - 1e-9))


def sample_size(
    moe: float,
    p: float = 0.5,
    deff: float = 1.0,
    response_rate: float = 1.0,
    population: int | None = None,
    conf: float = 0.95,
) -> dict[str, int]:
    """Completes needed to estimate a proportion within a margin of error, and the issued
    sample that yields them.

    Arguments:
        moe: margin of error (half-width of the confidence interval), as a proportion, e.g.
            0.03 for +/- 3 points.
        p: anticipated proportion (e.g. satisfaction rate); 0.5 is the conservative choice.
        deff: design effect (e.g. from weighting, 1 + CV_w^2).
        response_rate: expected response rate in (0, 1].
        population: population (eligible frame) size N for the finite population correction;
            ``None`` ignores it.
        conf: confidence level, two-sided.

    Returns:
        ``{"completes": n, "issued": ceil(n / response_rate)}``.

    Notes:
        n0 = z^2 p (1 - p) deff / moe^2 with z = Phi^-1(1 - (1 - conf) / 2) (Cochran 1977,
        eq. 4.1, times the design effect, Kish 1965, 8.2). With a population N, Cochran's
        (1977) eq. 4.2 form of the finite population correction is used:
        n = n0 / (1 + (n0 - 1) / N), which equals N z^2 pq deff / ((N - 1) moe^2 + z^2 pq deff)
        and reproduces Krejcie and Morgan's (1970) table when deff = 1 (the simpler
        n0 / (1 + n0 / N) gives at most one unit less). completes = ceil(n);
        issued = ceil(completes / response_rate). samplics' ``calculate_ss_wald_prop`` uses the
        same formula when deff = 1, but applies deff after the correction and divides by the
        response rate before rounding, so it can differ by a unit when deff != 1 with N given,
        or when response_rate < 1.
    """
    moe = _check_prob(moe, "moe")
    p = _check_prob(p, "p")
    conf = _check_prob(conf, "conf")
    rr = _check_prob(response_rate, "response_rate", high_open=False)
    if isinstance(deff, bool) or not isinstance(deff, (int, float, np.floating)) or not deff > 0:
        raise UsageError(f"deff must be a positive number, got {deff!r}")
    z = float(norm.ppf(1 - (1 - conf) / 2))
    n = z * z * p * (1 - p) * float(deff) / (moe * moe)
    if population is not None:
        if (
            isinstance(population, bool)
            or not isinstance(population, (int, np.integer))
            or population <= 0
        ):
            raise UsageError(f"population must be a positive integer, got {population!r}")
        n = n / (1 + (n - 1) / int(population))
    completes = max(1, _ceil(n))
    issued = _ceil(completes / rr)
    if population is not None and issued > population:
        warnings.warn(
            f"the issued sample ({issued} = {completes} completes / response rate {rr:g}) is "
            f"larger than the population ({population}): invite everyone (census) and expect "
            f"about {population * rr:.0f} completes",
            stacklevel=2,
        )
    return {"completes": completes, "issued": issued}


def completes_for_change(
    p1: float,
    d: float,
    power: float = 0.8,
    alpha: float = 0.05,
    deff: float = 1.0,
    two_sided: bool = True,
    *,
    method: str = "pooled",
    continuity: bool = False,
) -> int:
    """Completes per period needed to detect a change of ``d`` in a proportion between two
    independent periods (equal sizes).

    Arguments:
        p1: proportion in the first period (e.g. 0.82 satisfied).
        d: change to detect, in proportion points (0.05 = 5 points); p2 = p1 + d.
        power: probability of detecting the change when it is real (1 - beta).
        alpha: significance level.
        deff: design effect applied to each period's sample.
        two_sided: two-sided test (z_{1-alpha/2}) or one-sided (z_{1-alpha}).
        method: ``"pooled"`` (Fleiss et al. 2003, eq. 4.14: the null variance uses the pooled
            p-bar) or ``"unpooled"`` (Wald: (z_a + z_b)^2 (p1 q1 + p2 q2) / d^2, as samplics'
            ``SampleSizePropTwoSample``).
        continuity: apply Fleiss's continuity correction (Fleiss et al. 2003, eq. 4.15):
            n' = n / 4 (1 + sqrt(1 + 4 / (n |d|)))^2.

    Returns:
        Completes needed in each period: ceil(deff x n).

    Notes:
        Pooled (Fleiss, Levin and Paik 2003, eq. 4.14):
        n = [z_a sqrt(2 pbar qbar) + z_b sqrt(p1 q1 + p2 q2)]^2 / d^2, pbar = (p1 + p2) / 2.
        This is the n that R's ``power.prop.test`` solves for (with ``strict = FALSE``).
        The design effect multiplies the simple-random-sampling size (Kish 1965, 8.2).
        Divide by the response rate for the issued sample.
    """
    p1 = _check_prob(p1, "p1")
    power = _check_prob(power, "power")
    alpha = _check_prob(alpha, "alpha")
    if isinstance(d, bool) or not isinstance(d, (int, float, np.floating)) or d == 0:
        raise UsageError(f"d must be a non-zero change in proportion points, got {d!r}")
    p2 = p1 + float(d)
    if not 0 < p2 < 1:
        raise UsageError(f"p1 + d must stay in (0, 1): {p1} + {d} = {p2:g}")
    if isinstance(deff, bool) or not isinstance(deff, (int, float, np.floating)) or not deff > 0:
        raise UsageError(f"deff must be a positive number, got {deff!r}")
    if method not in ("pooled", "unpooled"):
        raise UsageError(f"method must be 'pooled' or 'unpooled', got {method!r}")
    z_a = float(norm.ppf(1 - alpha / 2)) if two_sided else float(norm.ppf(1 - alpha))
    z_b = float(norm.ppf(power))
    q1, q2 = 1 - p1, 1 - p2
    if method == "pooled":
        pbar = (p1 + p2) / 2
        n = (z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * q1 + p2 * q2)) ** 2
        n /= d * d
    else:
        n = (z_a + z_b) ** 2 * (p1 * q1 + p2 * q2) / (d * d)
    if continuity:
        n = n / 4 * (1 + math.sqrt(1 + 4 / (n * abs(d)))) ** 2
    return _ceil(float(deff) * n)
