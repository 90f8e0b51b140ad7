"""How each weighting step changes the linearisation variance (R's ``design$postStrata``).

A :class:`methods.design.survey.SurveyDesign` keeps a tuple ``_calibrations`` of the objects below, in
the order the steps were applied. Its ``_lin_variance(z)`` calls ``z = step.adjust(z)`` on each
in turn before the stratified PSU variance, exactly as ``survey:::svyrecvar`` loops over
``design$postStrata``. ``z`` is the n x k matrix of weighted influence values (R's ``x``).

Each object also records what the step did (input and output weights, targets), which
:func:`methods.weighting.diagnostics` reads and :func:`methods.weighting.trim` replays.

Source: ``survey:::svyrecvar`` (Lumley, R package ``survey`` 4.x), printed with
``Rscript -e 'print(survey:::svyrecvar)'``; Deville and Sarndal (1992) for the GREG residuals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from methods.weighting.core import ginv, xtdx

__all__ = [
    "GregAdjustment",
    "NonresponseStep",
    "PostStratAdjustment",
    "RakingAdjustment",
    "TrimStep",
    "WeightingStep",
]


def _as2d(z) -> tuple[np.ndarray, bool]:
    if hasattr(z, "toarray"):  # scipy sparse influence matrix
        z = z.toarray()
    z = np.asarray(z, dtype=np.float64)
    return (z[:, None], True) if z.ndim == 1 else (z, False)


def _safe_div(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``x / w`` by row, 0 where ``w == 0`` (a zero-weight unit has no influence)."""
    ws = np.where(w == 0, 1.0, w)
    return np.where((w == 0)[:, None], 0.0, x / ws[:, None])


@dataclass(frozen=True, eq=False)
class WeightingStep:
    """Base record of one weighting step.

    Attributes:
        kind: ``"nonresponse"``, ``"poststratify"``, ``"rake"``, ``"calibrate"`` or ``"trim"``.
        spec: the arguments needed to replay the step (used by ``trim(recalibrate=True)``).
        w_in: weights before the step (the rows of the design after the step).
        w_out: weights after the step.
        info: step-specific facts for diagnostics (iterations, merged cells, ...).
    """

    kind: str
    spec: dict
    w_in: np.ndarray = field(repr=False)
    w_out: np.ndarray = field(repr=False)
    info: dict = field(default_factory=dict)

    @property
    def factors(self) -> np.ndarray:
        """Adjustment factors ``w_out / w_in`` (NaN where ``w_in`` is 0)."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.w_in != 0, self.w_out / self.w_in, np.nan)

    def adjust(self, z):
        """Identity: the step does not change the linearised influence values."""
        return np.asarray(z, dtype=np.float64)


@dataclass(frozen=True, eq=False)
class NonresponseStep(WeightingStep):
    """Weighting-class non-response adjustment (respondents kept, weights inflated).

    ``adjust`` is the identity: like an analyst who keeps the respondents and treats the
    adjusted weights as the sampling weights (the usual practice with R's survey package),
    the linearisation variance does not add the variance of the estimated response rates.
    Replicate designs re-run the adjustment in every replicate, which does account for it;
    later calibration to margins that include the adjustment cells also absorbs most of it.
    ``info["merged"]`` lists cells merged by ``collapse=True``; ``info["cells"]`` the table of
    cells, sample sizes, respondents, weighted response rates and factors.
    """


@dataclass(frozen=True, eq=False)
class TrimStep(WeightingStep):
    """Weight trimming without re-calibration; ``adjust`` is the identity, as in R's
    ``trimWeights`` (which leaves ``design$postStrata`` untouched)."""


@dataclass(frozen=True, eq=False)
class PostStratAdjustment(WeightingStep):
    """Post-stratification: ``x - psw * ave_w(x / psw | cell)``, R's ordinary postStrata.

    ``codes`` are the post-stratum of each unit. With ``psw`` the new and ``oldw`` the old
    weights, ``psmeans = rowsum(x * oldw / psw, cell) / rowsum(oldw, cell)`` and the adjusted
    influence is ``x - psmeans[cell] * psw`` (``survey:::svyrecvar``); units with both weights
    zero get ``psw = 1`` as in R.
    """

    codes: np.ndarray = field(default=None, repr=False)
    n_cells: int = 0

    def adjust(self, z):
        x, flat = _as2d(z)
        psw = self.w_out.copy()
        oldw = self.w_in
        psw[(psw == 0) & (oldw == 0)] = 1.0
        num = np.empty((self.n_cells, x.shape[1]))
        u = _safe_div(x, psw) * oldw[:, None]
        for j in range(x.shape[1]):
            num[:, j] = np.bincount(self.codes, weights=u[:, j], minlength=self.n_cells)
        den = np.bincount(self.codes, weights=oldw, minlength=self.n_cells)
        means = num / np.where(den == 0, 1.0, den)[:, None]
        out = x - means[self.codes] * psw[:, None]
        return out[:, 0] if flat else out


@dataclass(frozen=True, eq=False)
class RakingAdjustment(WeightingStep):
    """Raking: R's fixed ten sweeps of ``x <- x - psw * ave(x / psw, margin)``.

    ``margin_codes`` holds each margin's level codes; ``psw`` is the raked weight (R keeps the
    weight after each margin's last post-stratification, equal to it at convergence). ``ave``
    is R's unweighted mean within level. The ten sweeps are R's, not a converged projection.
    """

    margin_codes: tuple = field(default=(), repr=False)
    margin_sizes: tuple = ()
    sweeps: int = 10

    def adjust(self, z):
        x, flat = _as2d(z)
        x = x.copy()
        psw = self.w_out
        # _safe_div(x, psw) and the level counts, with what does not change between sweeps
        # (the divisor, the zero-weight mask, max(count, 1)) computed once: the same
        # operations on the same numbers, so the same result to the last bit.
        zero = psw == 0
        ws = np.where(zero, 1.0, psw)
        counts = [
            np.maximum(np.bincount(c, minlength=s), 1)
            for c, s in zip(self.margin_codes, self.margin_sizes)
        ]
        for _ in range(self.sweeps):
            for codes, size, cnt in zip(self.margin_codes, self.margin_sizes, counts):
                for j in range(x.shape[1]):
                    u = np.where(zero, 0.0, x[:, j] / ws)
                    m = np.bincount(codes, weights=u, minlength=size) / cnt
                    x[:, j] -= psw * m[codes]
        return x[:, 0] if flat else x


@dataclass(frozen=True, eq=False)
class GregAdjustment(WeightingStep):
    """Calibration: residuals of the weighted regression on the calibration model matrix.

    R stores ``qr(mm * sqrt(d))`` and ``w = g * sqrt(d)`` and replaces ``x`` by
    ``qr.resid(qr, x / w) * w``, i.e. ``w_i (u_i - x_i' B)`` with ``B`` the regression of the
    unit influence ``u = x / (d g)`` on the auxiliaries weighted by the input weights ``d``
    (Deville and Sarndal 1992). ``xmat`` is the n x p model matrix. The projection uses the
    generalised inverse of ``X'DX`` (p x p, cached) rather than R's n x p QR factor: the same
    residuals (for any rank) at a fraction of the time and memory.

    ``q`` (optional): R's ``variance=`` of an unbounded linear calibration; ``regcalibrate``
    then stores ``qr(mm * sqrt(d / q))`` and ``w = g * sqrt(d q)``, so the regression is
    weighted by ``d / q``. (R's ``grake`` path, used for bounded or non-linear distances,
    stores no ``q``: its residuals ignore it, and so do these when ``q`` is None.)
    """

    xmat: np.ndarray = field(default=None, repr=False)
    q: np.ndarray | None = field(default=None, repr=False)
    #: R's ``aggregate.stage``: the PSU-mean input weights the projection uses (``xmat`` then
    #: holds PSU means too); None: ``w_in``.
    base: np.ndarray | None = field(default=None, repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    def _pinv(self) -> np.ndarray:
        """Generalised inverse of ``X' D X`` (p x p), computed once and cached."""
        a = self._cache.get("pinv")
        if a is None:
            d = np.maximum(self.w_in if self.base is None else self.base, 0.0)
            a = ginv(xtdx(self.xmat, d if self.q is None else d / self.q))
            self._cache["pinv"] = a
        return a

    def adjust(self, z):
        x, flat = _as2d(z)
        whalf = np.sqrt(np.maximum(self.w_in if self.base is None else self.base, 0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(self.w_in > 0, self.w_out / np.where(self.w_in > 0, self.w_in, 1), 0)
        w = g * whalf
        if self.q is not None:
            sq = np.sqrt(self.q)
            whalf, w = whalf / sq, w * sq
        e = _safe_div(x, w)
        # residual of e on X sqrt(d): e - sqrt(d) X (X'DX)^+ X' sqrt(d) e (R: qr.resid)
        coef = self._pinv() @ (self.xmat.T @ (e * whalf[:, None]))
        res = e - whalf[:, None] * (self.xmat @ coef)
        out = res * w[:, None]
        return out[:, 0] if flat else out


def describe(step: WeightingStep) -> dict[str, Any]:
    """A one-line summary of a step (kind, key arguments, iterations) for reports."""
    keep = {k: v for k, v in step.info.items() if k in ("iterations", "gap", "distance", "bounds")}
    return {"kind": step.kind, **keep}
