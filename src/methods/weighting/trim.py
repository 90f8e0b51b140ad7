"""Weight trimming with redistribution and re-calibration (see :mod:`methods.weighting`).

Sources: Potter, F. J. (1990). A study of procedures to identify and trim extreme sampling
weights. Proc. Survey Research Methods Section, ASA, 225-230; R's ``trimWeights`` (Lumley).
"""

from __future__ import annotations

import numpy as np

from methods.core.errors import ConvergenceError, UsageError
from methods.weighting.calibrate import CALIBRATION_KINDS, new_design, rep_weights, replay
from methods.weighting.variance import TrimStep

__all__ = ["trim"]


def _cap(
    w: np.ndarray, lower: float, upper: float, redistribute: str, strict: bool = True
) -> np.ndarray:
    """Cap weights to ``[lower, upper]`` and share the trimmed amount among the others, as
    R's ``trimWeights``: in each pass the units outside the caps are set to the cap, and the
    net amount trimmed goes to every unit *not outside in this pass* -- including units left
    at a cap by an earlier pass, which may be pushed past it again. ``strict=False`` is one
    pass (R's default); ``strict=True`` repeats until no weight is outside (R recurses the
    same way). Columns of a 2-D array (replicates) are trimmed independently; zero weights
    (deleted replicate units) stay zero and take no share."""
    w = np.array(w, dtype=np.float64, copy=True)
    w2 = w if w.ndim == 2 else w[:, None]
    for _ in range(10_000):
        pos = w2 > 0
        outside = pos & ((w2 < lower) | (w2 > upper))
        if not outside.any():
            break
        new = np.where(outside, np.clip(w2, lower, upper), w2)
        trimmed = (w2 - new).sum(axis=0)
        free = pos & ~outside
        if redistribute == "equal":
            share = trimmed / np.maximum(free.sum(axis=0), 1)
            new = np.where(free, new + share, new)
        else:
            base = np.where(free, new, 0.0).sum(axis=0)
            new = np.where(free, new * (1 + trimmed / np.where(base > 0, base, 1.0)), new)
        w2[:] = new
        if not strict:
            break
    else:
        raise UsageError(
            f"trim: weights could not be brought inside [{lower:g}, {upper:g}]; a set of "
            "replicate weights probably has its mean weight outside the caps"
        )
    return w2 if w.ndim == 2 else w2[:, 0]


def _cap_excess(w: np.ndarray, lo: float, hi: float) -> float:
    """Worst relative excess of positive weights over the caps (0 when inside)."""
    v = w[w > 0]
    excess = np.maximum(v - hi, 0) / (hi if np.isfinite(hi) and hi != 0 else 1.0)
    short = np.maximum(lo - v, 0) / (abs(lo) if np.isfinite(lo) and lo != 0 else 1.0)
    return float(max(excess.max(initial=0), short.max(initial=0)))


def trim(
    design,
    lower: float | None = None,
    upper: float | None = None,
    recalibrate: bool = True,
    redistribute: str = "equal",
    tol: float = 1e-6,
    max_iter: int = 100,
    strict: bool = True,
):
    """Trim extreme weights, redistribute the excess, and re-calibrate to the same totals.

    Arguments:
        design: a SurveyDesign.
        lower, upper: caps on the weights themselves (not on factors); ``None`` = no cap.
        recalibrate: re-run the design's most recent post-stratification, raking or
            calibration on the trimmed weights, alternating trim and re-calibration until
            the weights are within the caps (to ``tol`` relative) and the totals hold.
        redistribute: ``"equal"`` (each untrimmed unit gets an equal share, as R's
            ``trimWeights``) or ``"proportional"`` (shares proportional to the weight).
        tol: relative tolerance on the caps after re-calibration.
        max_iter: maximum trim/re-calibrate rounds.
        strict: without re-calibration, trim repeatedly until no weight is outside the caps
            (R's ``trimWeights(strict = TRUE)``, the default here); ``False`` is R's single
            pass, after which the redistributed shares may leave some weights outside.

    Returns:
        A new design. Without re-calibration the total weight is kept; replicate weights are
        trimmed with the same caps (as R's ``trimWeights`` for replicate designs).

    Raises:
        UsageError: no caps, caps that the total weight cannot meet, or ``recalibrate=True``
            on a design with no calibration step.
        ConvergenceError: trimming and re-calibration do not agree within ``max_iter`` rounds
            (gives the rounds, the worst cap excess and the margin gap).

    Notes:
        Trimming: Potter (1990); R's ``trimWeights`` (Lumley). With ``recalibrate=True`` the
        variance uses the re-run calibration's adjustment with the trimmed weights as input.
    """
    if lower is None and upper is None:
        raise UsageError("trim: give lower and/or upper")
    if redistribute not in ("equal", "proportional"):
        raise UsageError("trim: redistribute must be 'equal' or 'proportional'")
    lo = -np.inf if lower is None else float(lower)
    hi = np.inf if upper is None else float(upper)
    if not lo < hi:
        raise UsageError(f"trim: need lower < upper, got {lo:g} and {hi:g}")
    w = np.asarray(design.weights, dtype=np.float64)
    pos = w > 0
    mean_w = w[pos].sum() / max(pos.sum(), 1)
    if not (lo <= mean_w <= hi):
        raise UsageError(
            f"trim: the mean positive weight {mean_w:.6g} is outside [{lo:g}, {hi:g}], so no "
            "redistribution keeping the total can satisfy both caps; widen them"
        )
    rep = rep_weights(design)
    cals = design.steps
    idx = None
    if recalibrate:
        kinds = [getattr(s, "kind", None) for s in cals]
        found = [i for i, k in enumerate(kinds) if k in CALIBRATION_KINDS]
        if not found:
            raise UsageError(
                "trim(recalibrate=True): the design has no post-stratification, raking or "
                "calibration to re-run; pass recalibrate=False to trim and keep the total"
            )
        idx = found[-1]
    if idx is None:
        w_new = _cap(w, lo, hi, redistribute, strict)
        rep_new = None if rep is None else _cap(rep, lo, hi, redistribute, strict)
        step = TrimStep(
            kind="trim",
            spec={"lower": lower, "upper": upper, "strict": strict},
            w_in=w,
            w_out=w_new,
            info={"trimmed": int(((w < lo) | (w > hi)).sum()), "iterations": 1},
        )
        return new_design(design, w_new, rep_new, step)
    last = cals[idx]
    cur_w, cur_rep = w, rep
    worst, best, stalled = np.inf, np.inf, 0
    for it in range(1, max_iter + 1):
        tw = _cap(cur_w, lo, hi, redistribute)
        trep = None if cur_rep is None else _cap(cur_rep, lo, hi, redistribute)
        out = replay(design.with_weights(tw, trep), last)
        cur_w, cur_rep = out.weights, rep_weights(out)
        worst = _cap_excess(cur_w, lo, hi)
        if worst <= tol:
            rec = out.steps[-1]
            trim_step = TrimStep(
                kind="trim",
                spec={"lower": lower, "upper": upper},
                w_in=w,
                w_out=tw,
                info={"iterations": it, "recalibrated": rec.kind, "cap_excess": worst},
            )
            return out.with_weights(out.weights, steps=(*out.steps[:-1], trim_step, rec))
        stalled = stalled + 1 if worst > 0.99 * best else 0
        best = min(best, worst)
        if stalled >= 10:
            raise ConvergenceError(
                f"trim: caps [{lo:g}, {hi:g}] and the {last.kind} totals cannot both be met: "
                f"after {it} rounds of trimming and re-calibration the worst relative cap "
                f"excess is stuck at {worst:.3g} (the totals hold after each re-calibration); "
                "some calibration cell needs weights beyond the caps, so widen the caps or "
                "coarsen the margins"
            )
    raise ConvergenceError(
        f"trim: caps [{lo:g}, {hi:g}] and the {last.kind} totals could not both be met after "
        f"{max_iter} rounds (worst relative cap excess {worst:.3g}); widen the caps or "
        "coarsen the calibration margins"
    )
