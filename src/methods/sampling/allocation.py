"""Allocation of a sample over strata: proportional, Neyman, equal, fixed and census.

:func:`allocate` splits a total sample size over strata with largest-remainder rounding, caps
at the stratum sizes (take-all strata) and, when asked, at least one unit per stratum.

References:
    Cochran, W.G. (1977) *Sampling Techniques*, 3rd edn. Wiley. (Proportional 5.3; Neyman
        allocation 5.5 and take-all strata 5.9.)
    Kish, L. (1965) *Survey Sampling*. Wiley. (Allocation rounding and minimum sizes 3.4.)
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from methods.core.errors import UsageError, ValidationError

ALLOCATIONS: tuple[str, ...] = ("proportional", "neyman", "equal", "fixed", "census")


# --------------------------------------------------------------------------------------------
# Allocation
# --------------------------------------------------------------------------------------------
def _capped_quotas(
    weights: np.ndarray, total: float, caps: np.ndarray, labels: Sequence[str], allocation: str
) -> np.ndarray:
    """Real-valued quotas proportional to ``weights`` summing to ``total``, none above ``caps``.

    Strata whose quota would pass their size are taken whole and the rest is re-shared among
    the others, repeated until no quota passes its cap (Cochran 1977, 5.9).
    """
    h = weights.size
    fixed = caps <= 0
    quotas = np.zeros(h)
    capped: list[int] = []
    for _ in range(h + 1):  # loop over strata, at most H passes
        free = ~fixed
        remaining = total - caps[fixed].sum()
        w = weights[free]
        if w.sum() <= 0:
            if remaining > 1e-9:
                warnings.warn(
                    f"{allocation} allocation: every remaining stratum has weight 0; "
                    f"sharing the remaining {remaining:g} units in proportion to stratum size",
                    stacklevel=4,
                )
            w = caps[free].astype(float)
        quotas[free] = remaining * w / w.sum() if w.sum() > 0 else 0.0
        quotas[fixed] = caps[fixed]
        over = free & (quotas > caps)
        if not over.any():
            break
        capped.extend(np.flatnonzero(over).tolist())
        fixed |= over
    if capped:
        detail = ", ".join(f"{labels[i]} (N={int(caps[i])})" for i in capped)
        warnings.warn(
            f"{allocation} allocation asked for more than these strata hold; they are taken "
            f"whole and the surplus re-shared among the other strata: {detail}",
            stacklevel=4,
        )
    return quotas


def _largest_remainder(quotas: np.ndarray, total: int, caps: np.ndarray) -> np.ndarray:
    """Round quotas to integers summing to ``total`` (Hamilton / largest-remainder method).

    Ties in the remainder go to the earlier stratum (stable order), so rounding is deterministic.
    """
    n = np.minimum(np.floor(quotas).astype(np.int64), caps)
    short = int(total - n.sum())
    if short > 0:
        order = np.argsort(-(quotas - n), kind="stable")
        order = order[n[order] < caps[order]]
        n[order[:short]] += 1
    elif short < 0:  # only through floating error; take from the smallest remainders
        order = np.argsort(quotas - n, kind="stable")
        order = order[n[order] > 0]
        n[order[:-short]] -= 1
    return n


def _at_least_one(n: np.ndarray, quotas: np.ndarray, caps: np.ndarray, labels: Sequence[str]):
    """Give each non-empty stratum at least one unit where the total allows (Kish 1965, 3.4).

    Units are moved from the stratum most over its real-valued quota that has two or more.
    """
    nonempty = caps > 0
    zeros = np.flatnonzero(nonempty & (n == 0))
    if zeros.size == 0:
        return n
    if n.sum() < nonempty.sum():
        names = ", ".join(str(labels[i]) for i in zeros[:20])
        warnings.warn(
            f"total sample {int(n.sum())} is smaller than the {int(nonempty.sum())} non-empty "
            f"strata, so {zeros.size} stratum/strata get no sample and their units have "
            f"inclusion probability 0: {names}. Increase n to cover every stratum.",
            stacklevel=4,
        )
        return n
    n = n.copy()
    for z in zeros:  # loop over (few) empty-allocation strata only
        excess = np.where(n >= 2, n - quotas, -np.inf)
        donor = int(np.argmax(excess))
        n[donor] -= 1
        n[z] = 1
    return n


def _match_dict(
    values: Mapping[Any, Any], labels: Sequence[str], what: str, allow_missing: bool = False
) -> np.ndarray:
    """Map a per-stratum dict onto the stratum order; keys are compared as labels."""
    keyed = {_key_label(k): v for k, v in values.items()}
    unknown = sorted(set(keyed) - set(labels))
    missing = [lab for lab in labels if lab not in keyed]
    if unknown:
        raise UsageError(
            f"{what} names strata not in the frame: {unknown[:20]}; strata present: "
            f"{list(labels)[:20]}"
        )
    if missing and not allow_missing:
        raise UsageError(
            f"{what} has no value for stratum/strata {missing[:20]}; give every stratum a value"
            + (" (0 to skip one)" if what.startswith("n") else "")
        )
    return np.array([keyed.get(lab, np.nan) for lab in labels], dtype=float)


def _key_label(key: Any) -> str:
    if isinstance(key, tuple):
        return "|".join(str(k) for k in key)
    return str(key)


def _neyman_sd(priors: Any, labels: Sequence[str]) -> np.ndarray:
    if not isinstance(priors, Mapping) or set(priors) - {"sd", "p"} or len(priors) != 1:
        raise UsageError(
            "neyman allocation needs priors={'sd': {stratum: SD}} or "
            "priors={'p': {stratum: satisfaction rate}} (one of the two), "
            f"got {priors!r}"
        )
    kind, values = next(iter(priors.items()))
    if not isinstance(values, Mapping):
        raise UsageError(f"priors['{kind}'] must be a dict per stratum, got {values!r}")
    arr = _match_dict(values, labels, f"priors['{kind}']")
    if kind == "p":
        bad = [(labels[i], arr[i]) for i in np.flatnonzero(~((arr >= 0) & (arr <= 1)))]
        if bad:
            raise UsageError(f"priors['p'] must be rates in [0, 1]; got {bad[:20]}")
        return np.sqrt(arr * (1 - arr))
    bad = [(labels[i], arr[i]) for i in np.flatnonzero(~(arr >= 0) | ~np.isfinite(arr))]
    if bad:
        raise UsageError(f"priors['sd'] must be finite and non-negative; got {bad[:20]}")
    return arr


def allocate_arrays(
    sizes: np.ndarray,
    labels: Sequence[str],
    n: Any,
    allocation: str,
    priors: Any = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Integer allocation and the real-valued quotas behind it, in stratum order."""
    sizes = np.asarray(sizes, dtype=np.int64)
    total_pop = int(sizes.sum())
    if allocation == "census":
        return sizes.copy(), sizes.astype(float)
    if allocation == "fixed":
        if not isinstance(n, Mapping):
            raise UsageError(
                f"allocation='fixed' needs n as a dict per stratum, got {n!r}; "
                "for a total use another allocation"
            )
        arr = _match_dict(n, labels, "n (fixed allocation)")
        bad = [(labels[i], arr[i]) for i in np.flatnonzero(~(arr >= 0) | (arr != np.floor(arr)))]
        if bad:
            raise UsageError(f"n per stratum must be non-negative integers; got {bad[:20]}")
        nh = arr.astype(np.int64)
        over = np.flatnonzero(nh > sizes)
        if over.size:
            detail = "; ".join(
                f"stratum '{labels[i]}' asks for {int(nh[i])} but holds {int(sizes[i])}"
                for i in over[:20]
            )
            raise ValidationError(
                f"sample size larger than the stratum: {detail}. Lower n for these strata "
                "or use allocation='census' to take them whole"
            )
        zero = [labels[i] for i in np.flatnonzero((nh == 0) & (sizes > 0))]
        if zero:
            warnings.warn(
                f"fixed allocation gives 0 to non-empty strata {zero[:20]}: their units have "
                "inclusion probability 0 and are outside the probability sample",
                stacklevel=3,
            )
        return nh, nh.astype(float)
    if isinstance(n, Mapping):
        raise UsageError(
            f"n is a dict per stratum, which only fits allocation='fixed' (got '{allocation}')"
        )
    total = _check_total(n, total_pop)
    if allocation == "proportional":
        weights = sizes.astype(float)
    elif allocation == "neyman":
        if priors is None:
            raise UsageError(
                "neyman allocation needs priors: priors={'sd': {stratum: SD}} or "
                "priors={'p': {stratum: satisfaction rate}}, e.g. from earlier months"
            )
        weights = sizes * _neyman_sd(priors, labels)
    elif allocation == "equal":
        weights = (sizes > 0).astype(float)
    else:
        raise UsageError(f"unknown allocation '{allocation}'; choose one of {ALLOCATIONS}")
    if priors is not None and allocation != "neyman":
        raise UsageError(f"priors are only used by neyman allocation, not '{allocation}'")
    quotas = _capped_quotas(weights, float(total), sizes, labels, allocation)
    nh = _largest_remainder(quotas, total, sizes)
    nh = _at_least_one(nh, quotas, sizes, labels)
    return nh, quotas


def _check_total(n: Any, total_pop: int) -> int:
    if isinstance(n, (bool, np.bool_)) or not isinstance(n, (int, np.integer)):
        raise UsageError(f"n must be a positive integer (or a dict per stratum), got {n!r}")
    if n <= 0:
        raise UsageError(f"n must be positive, got {n}")
    if n > total_pop:
        raise ValidationError(
            f"sample size n={int(n)} is larger than the frame ({total_pop} units); "
            "lower n or use allocation='census'"
        )
    return int(n)


def allocate(
    sizes: Mapping[Any, int],
    n: int | Mapping[Any, int] | None = None,
    allocation: str = "proportional",
    priors: Mapping[str, Mapping[Any, float]] | None = None,
) -> dict[str, int]:
    """Split a sample over strata.

    Arguments:
        sizes: population (frame) size per stratum, e.g. ``{"burglary": 412, ...}``.
        n: total sample size, or (for ``allocation="fixed"``) a dict of sizes per stratum.
        allocation: ``"proportional"`` (n_h proportional to N_h), ``"neyman"``
            (n_h proportional to N_h S_h), ``"equal"`` (n / H each), ``"fixed"`` (the dict
            ``n``) or ``"census"`` (n_h = N_h).
        priors: for ``"neyman"`` only: ``{"sd": {stratum: S_h}}`` or
            ``{"p": {stratum: p_h}}``, from which S_h = sqrt(p_h (1 - p_h)).

    Returns:
        ``{stratum label: n_h}`` in the order of ``sizes``.

    Notes:
        Proportional allocation: Cochran (1977) 5.3; Neyman (optimum for fixed cost):
        Cochran (1977) eq. 5.26, with strata whose optimum passes N_h taken whole and the
        remainder re-allocated (Cochran 1977, 5.9). Real-valued quotas are rounded by the
        largest-remainder method so they sum to n exactly; every non-empty stratum then gets
        at least one unit where n allows (needed for an unbiased estimator and for any variance
        estimate; Kish 1965, 3.4), moved from the stratum most above its quota. No n_h ever
        exceeds N_h; capping or empty strata are reported by a warning with figures.
    """
    labels = [_key_label(k) for k in sizes]
    arr = np.array([int(v) for v in sizes.values()], dtype=np.int64)
    if (arr < 0).any():
        raise UsageError(f"stratum sizes must be non-negative, got {dict(zip(labels, arr))}")
    if allocation not in ALLOCATIONS:
        raise UsageError(f"unknown allocation '{allocation}'; choose one of {ALLOCATIONS}")
    if allocation == "census" and n is not None:
        raise UsageError("census allocation takes every unit; do not give n")
    if allocation != "census" and n is None:
        raise UsageError(f"allocation '{allocation}' needs n")
    nh, _ = allocate_arrays(arr, labels, n, allocation, priors)
    return {lab: int(v) for lab, v in zip(labels, nh)}
