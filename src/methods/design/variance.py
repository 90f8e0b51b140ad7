"""Variance kernels behind :class:`methods.design.survey.SurveyDesign`.

Two families, both written over integer codes with ``np.bincount`` so that a million rows cost a
few passes over memory:

* Taylor linearisation: the stratified, with-replacement, ultimate-cluster variance of a matrix
  of weighted influence values (R ``survey``: ``svyrecvar`` -> ``multistage`` -> ``onestage`` ->
  ``onestrat``), with R's finite population correction and single-PSU ("lonely PSU") rules.
* Replicate weights: JK1, JKn, Rao-Wu rescaling bootstrap, Canty-Davison bootstrap and BRR /
  Fay (built-in or user-supplied Hadamard matrix), generated as PSU-level factors as R's
  ``jk1weights``, ``jknweights``, ``subbootweights``, ``bootweights`` and ``brrweights`` do, and
  the replicate variance of R's ``svrVar``.

Nothing here knows about data frames; :mod:`methods.design.survey` owns validation and user messages.

References:
    Lumley T (2004). Analysis of complex survey samples. J Stat Software 9(8); R package
    ``survey`` 4.1 sources (svyrecvar, onestrat, svrVar, jknweights, subbootweights, brrweights).
    Wolter K (2007). Introduction to Variance Estimation, 2nd ed., Springer: ch. 3 (BRR, Fay),
    ch. 4 (jackknife), ch. 5 (bootstrap).
    Rao JNK, Wu CFJ (1988). Resampling inference with complex survey data. JASA 83:231-241.
    Judkins DR (1990). Fay's method for variance estimation. J Official Statistics 6:223-239.
    McCarthy PJ (1969). Pseudo-replication: half samples. Rev Int Stat Inst 37:239-264.
    Canty AJ, Davison AC (1999). Resampling-based variance estimation for labour force surveys.
    The Statistician 48:379-391.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from methods.core.errors import UsageError
from methods.design.hadamard import hadamard

SINGLE_PSU_MODES = ("error", "certainty", "remove", "average", "adjust")

#: Largest replicate-weight matrix (rows x replicates) we agree to build (about 3.2 GB of float64).
MAX_REPLICATE_CELLS = 400_000_000


class SinglePSUStratum(Exception):
    """Internal signal: a stratum with one PSU met ``single_psu="error"`` (index in ``.stratum``)."""

    def __init__(self, stratum: int):
        super().__init__(stratum)
        self.stratum = stratum


@dataclass(frozen=True)
class Structure:
    """Design structure derived once from strata, PSU codes and fpc.

    Attributes:
        psu_stratum: stratum code of each PSU (length P).
        n_h: number of PSUs per stratum (length H).
        f_h: R's finite population factor ``(N_h - n_h) / N_h`` per stratum (1 without fpc or
            with an infinite population), length H.
        psu_identity: True when every row is its own PSU and ``psu == arange(n)``.
    """

    psu_stratum: np.ndarray
    n_h: np.ndarray
    f_h: np.ndarray
    psu_identity: bool

    @property
    def n_psu(self) -> int:
        return int(self.psu_stratum.shape[0])

    @property
    def n_strata(self) -> int:
        return int(self.n_h.shape[0])


@dataclass(frozen=True)
class DomainInfluence:
    """A sparse n x k influence matrix in which each row has at most one non-zero column.

    Domain estimators produce this shape (row i only influences the estimate of its own domain),
    which lets the variance be computed in O(n) without materialising n x k zeros.

    Attributes:
        values: influence value of each row (length n; ignored where ``column < 0``).
        column: column (domain) of each row, -1 for rows outside every domain or with a missing
            value. Rows with ``column == j`` are also the rows "present" in domain j in R's sense
            (the rows R keeps when it subsets the design for that domain).
        k: number of columns.
    """

    values: np.ndarray
    column: np.ndarray
    k: int

    def dense(self) -> np.ndarray:
        """The same influence as a dense n x k float64 matrix."""
        z = np.zeros((self.values.shape[0], self.k))
        rows = np.flatnonzero(self.column >= 0)
        z[rows, self.column[rows]] = self.values[rows]
        return z


def stratum_scales(structure: Structure) -> np.ndarray:
    """Per-stratum multiplier ``(1 - f) n_h / (n_h - 1)`` (``f`` alone when ``n_h == 1``).

    Notes:
        R ``survey:::onestrat``: ``f <- (fpc - nPSU) / fpc``; ``scale <- f * nPSU / (nPSU - 1)``;
        a stratum with ``f < 1e-7`` (sampled completely) contributes nothing.
    """
    n_h = structure.n_h.astype(float)
    f = structure.f_h
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(n_h > 1, f * n_h / (n_h - 1.0), f)
    scale[f < 1e-7] = 0.0
    return scale


def taylor_variance(
    z: np.ndarray | DomainInfluence,
    strata: np.ndarray,
    psu: np.ndarray,
    structure: Structure,
    single_psu: str,
    present: np.ndarray | None = None,
    adjust_domain_lonely: bool = False,
    stratum_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Stratified with-replacement PSU variance of the column totals of ``z``.

    Arguments:
        z: n x k weighted influence values (or a :class:`DomainInfluence`).
        strata, psu: integer codes per row; PSU codes unique across strata.
        structure: derived design structure (see :class:`Structure`).
        single_psu: one of ``SINGLE_PSU_MODES`` (R's ``options(survey.lonely.psu)``; "error" is
            R's "fail").
        present: for a dense ``z``, boolean row mask of the rows R would keep after subsetting
            (default: all rows). Ignored for :class:`DomainInfluence`, whose column codes say it.
        adjust_domain_lonely: R's ``options(survey.adjust.domain.lonely=TRUE)``: for a
            :class:`DomainInfluence`, a stratum with two or more PSUs of which a domain touches
            only one is treated as lonely within that domain ("adjust": not centred; "average":
            left out of that domain's sum and the sum rescaled; other modes: unchanged, as R).
            Only the variances (diagonal) are R's then: the covariances of the affected domains
            are NaN (R's ``svyby`` computes each domain on its own subset). For a dense ``z``
            the same rule applies to the ``present`` rows (R's subset), over the whole matrix.
        stratum_weight: optional per-stratum multiplier of the stratum's term (length H); strata
            with weight 0 contribute nothing and are never lonely. The later stages of a
            multistage design use it for R's ``n_h / N_h`` factors (see
            :mod:`methods.design.multistage`).

    Returns:
        k x k covariance matrix.

    Raises:
        SinglePSUStratum: a present stratum has one PSU, is not sampled completely and
        ``single_psu == "error"``.

    Notes:
        For stratum h with n_h PSUs, PSU totals t_hi of z and their mean t_h,
        ``V = sum_h (1 - f_h) n_h / (n_h - 1) sum_i (t_hi - t_h)(t_hi - t_h)'`` (Cochran 1977,
        eq. 5A.x; Wolter 2007 eq. 1.4.2 with the ultimate-cluster approximation). Single-PSU
        strata follow R ``survey:::onestrat``/``onestage`` exactly: "certainty" and "remove"
        give zero, "adjust" centres the stratum at zero (the grand mean of an influence
        function) instead of its own mean, "average" drops the stratum and multiplies the sum by
        (present strata) / (present strata with two or more PSUs).
    """
    H = structure.n_strata
    n_h = structure.n_h
    scale = stratum_scales(structure)
    lonely = (n_h == 1) & (structure.f_h >= 1e-7)
    if stratum_weight is not None:
        scale = scale * stratum_weight
        lonely &= stratum_weight > 0

    sparse_key = None
    every_row = False  # a DomainInfluence in which every row feeds a column
    if isinstance(z, DomainInfluence):
        k = z.k
        col = z.column
        every_row = bool(col.size and col.min() >= 0)
        if every_row:
            key = strata if k == 1 else strata * k + col
            v = z.values
        else:
            inrow = col >= 0
            key = strata[inrow] * k + col[inrow]
            v = z.values[inrow]
        if k == 1 and every_row and not structure.psu_identity:
            # every row is in: a stratum is present where it has PSUs (the counts per stratum
            # are only needed by the identity-PSU kernel)
            pres = (n_h > 0)[:, None]
        else:
            if k == 1 and structure.psu_identity and every_row:
                counts = n_h.astype(float)[:, None]  # every row of every stratum is in
            else:
                counts = np.bincount(key, minlength=H * k).reshape(H, k).astype(float)
            # Which strata are present in which column (R subsets the design per domain).
            pres = counts > 0
            sparse_key = (key, v, counts)
    else:
        z = np.asarray(z, dtype=float)
        if z.ndim == 1:
            z = z[:, None]
        k = z.shape[1]
        rows = np.ones(z.shape[0], bool) if present is None else np.asarray(present, bool)
        pres_h = np.bincount(strata[rows], minlength=H) > 0
        pres = np.repeat(pres_h[:, None], k, axis=1)

    lonely_present = lonely[:, None] & pres
    if single_psu == "error" and lonely_present.any():
        raise SinglePSUStratum(int(np.flatnonzero(lonely_present.any(axis=1))[0]))

    # Effective per-stratum scale and centring switch.
    eff_scale = scale.copy()
    centre = np.ones(H)
    if single_psu in ("certainty", "remove", "average", "error"):
        eff_scale[lonely] = 0.0
    elif single_psu == "adjust":
        centre[lonely] = 0.0

    if isinstance(z, DomainInfluence) and structure.psu_identity:
        V = _sparse_identity_variance(z.k, *sparse_key, H, n_h, eff_scale, centre)
    else:
        if isinstance(z, DomainInfluence):
            P = structure.n_psu
            if every_row:  # no row to drop: one pass, no masked copies
                cell = psu if z.k == 1 else psu * z.k + z.column
                T = np.bincount(cell, weights=z.values, minlength=P * z.k).reshape(P, z.k)
            else:
                inrow = z.column >= 0
                T = np.bincount(
                    psu[inrow] * z.k + z.column[inrow], weights=z.values[inrow], minlength=P * z.k
                ).reshape(P, z.k)
        elif structure.psu_identity:
            T = z
        else:
            T = np.empty((structure.n_psu, k))
            for j in range(k):
                T[:, j] = np.bincount(psu, weights=z[:, j], minlength=structure.n_psu)
        V = _dense_variance(T, structure.psu_stratum, H, n_h, eff_scale, centre)

    dl = np.zeros((H, k), bool)
    if (
        adjust_domain_lonely
        and isinstance(z, DomainInfluence)
        and single_psu in ("adjust", "average")
    ):
        V, dl = _domain_lonely(V, z, psu, structure, scale, single_psu)
    elif adjust_domain_lonely and present is not None and single_psu in ("adjust", "average"):
        V, dl = _subset_lonely(V, T, np.asarray(present, bool), psu, structure, scale, single_psu)
    if single_psu == "average":
        nstrat = pres.sum(axis=0).astype(float)
        nok = (pres & ~lonely[:, None] & ~dl).sum(axis=0).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.where(nok > 0, nstrat / nok, np.nan)
        V = V * np.sqrt(np.outer(a, a))
    return V


def _domain_lonely(V, z, psu, structure, scale, single_psu):
    """R ``survey:::onestrat`` with ``survey.adjust.domain.lonely=TRUE`` on a domain influence.

    A cell (stratum h, domain j) where the domain has rows in exactly one of the stratum's
    n_h >= 2 PSUs holds, in ``V[j, j]``, the centred term ``scale_h T^2 (1 - 1/n_h)`` (T that
    PSU's total; the other PSUs are zero). "adjust" drops the centring (adds
    ``scale_h T^2 / n_h``); "average" removes the term (the caller leaves the cell out of its
    count of usable strata). Returns the new V and the H x k mask of such cells.
    """
    k, H, P = z.k, structure.n_strata, structure.n_psu
    n_h = structure.n_h.astype(float)
    inrow = z.column >= 0
    cell = psu[inrow] * k + z.column[inrow]
    Tp = np.bincount(cell, weights=z.values[inrow], minlength=P * k).reshape(P, k)
    has = (np.bincount(cell, minlength=P * k) > 0).reshape(P, k)
    ps = structure.psu_stratum
    nsub = np.empty((H, k))
    T1 = np.empty((H, k))
    for j in range(k):
        nsub[:, j] = np.bincount(ps, weights=has[:, j].astype(float), minlength=H)
        T1[:, j] = np.bincount(ps, weights=Tp[:, j] * has[:, j], minlength=H)
    dl = (nsub == 1) & (n_h[:, None] > 1)
    if not dl.any():
        return V, dl
    sq = np.where(dl, scale[:, None] * T1**2, 0.0)
    if single_psu == "adjust":
        delta = (sq / np.maximum(n_h, 1.0)[:, None]).sum(axis=0)
    else:
        delta = -(sq * (1.0 - 1.0 / np.maximum(n_h, 1.0))[:, None]).sum(axis=0)
    V = np.array(V, dtype=float)
    diag = np.diagonal(V).copy() + delta
    hit = dl.any(axis=0)
    V[hit, :] = np.nan
    V[:, hit] = np.nan
    V[np.arange(k), np.arange(k)] = diag
    return V, dl


def _subset_lonely(V, T, rows, psu, structure, scale, single_psu):
    """R ``survey:::onestrat`` with ``survey.adjust.domain.lonely=TRUE`` on a subset of the
    design (a dense ``z`` whose ``present`` rows are the rows R keeps, e.g. ``na.rm=TRUE``).

    A stratum with n_h >= 2 PSUs of which the present rows touch exactly one holds in V the
    centred term ``scale_h (1 - 1/n_h) T T'`` (T that PSU's totals, the other PSUs zero, as R
    pads them). "adjust" drops the centring (adds ``scale_h T T' / n_h``); "average" removes
    the term (the caller leaves the stratum out of its count of usable strata). Every column
    shares the rows, so the whole matrix is R's (unlike :func:`_domain_lonely`). Returns the
    new V and the H x k mask of such strata.
    """
    H, P = structure.n_strata, structure.n_psu
    k = T.shape[1]
    n_h = structure.n_h.astype(float)
    ps = structure.psu_stratum
    has = np.bincount(psu[rows], minlength=P) > 0
    nsub = np.bincount(ps, weights=has, minlength=H)
    dl_h = (nsub == 1) & (n_h > 1)
    if not dl_h.any():
        return V, np.zeros((H, k), bool)
    T1 = np.empty((H, k))
    for j in range(k):
        T1[:, j] = np.bincount(ps, weights=T[:, j] * has, minlength=H)
    if single_psu == "adjust":
        c = np.where(dl_h, scale / np.maximum(n_h, 1.0), 0.0)
    else:
        c = -np.where(dl_h, scale * (1.0 - 1.0 / np.maximum(n_h, 1.0)), 0.0)
    V = np.asarray(V, dtype=float) + (T1 * c[:, None]).T @ T1
    return V, np.repeat(dl_h[:, None], k, axis=1)


def _dense_variance(T, psu_stratum, H, n_h, eff_scale, centre):
    """``sum_h scale_h sum_i (T_hi - c_h m_h)(T_hi - c_h m_h)'`` over PSU totals ``T`` (P x k)."""
    k = T.shape[1]
    M = np.empty((H, k))
    nh = np.maximum(n_h, 1).astype(float)
    for j in range(k):
        M[:, j] = np.bincount(psu_stratum, weights=T[:, j], minlength=H) / nh
    D = T - (M * centre[:, None])[psu_stratum]
    s = eff_scale[psu_stratum]
    keep = s > 0
    if not keep.all():
        D = D[keep]
        s = s[keep]
    return (D * s[:, None]).T @ D


def _sparse_identity_variance(k, key, v, C, H, n_h, eff_scale, centre):
    """Exact two-pass variance when every row is a PSU and each row feeds one column.

    Notes:
        Within stratum h, with column sums S_hj over its n_h rows (zeros included) and means
        m_hj = S_hj / n_h: the diagonal is ``sum_{rows in j} (v_i - m_hj)^2 + (n_h - c_hj) m_hj^2``
        (c_hj rows feed column j) and the off-diagonal is ``-n_h m_hj m_hl``, because no row
        feeds two columns. Summed with the stratum scales this equals the dense formula.
    """
    S = np.bincount(key, weights=v, minlength=H * k).reshape(H, k)
    nh = np.maximum(n_h, 1).astype(float)[:, None]
    m = S / nh * centre[:, None]
    dev = v - m.reshape(-1)[key]
    SS = np.bincount(key, weights=dev * dev, minlength=H * k).reshape(H, k)
    SS = SS + (nh - C) * m * m
    w = eff_scale[:, None]
    V = -(m * nh * w).T @ m
    np.fill_diagonal(V, (SS * w).sum(axis=0))
    return V


# --------------------------------------------------------------------------------------------
# Replicate weights (PSU-level factors, P x R) and the replicate variance
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicateFactors:
    """PSU-level replicate factors: replicate weight of row i = w_i * factors[psu_i, r]."""

    factors: np.ndarray  # P x R
    scale: float
    rscales: np.ndarray  # R
    method: str


def jk1_factors(structure: Structure) -> ReplicateFactors:
    """Delete-one-PSU jackknife for an unstratified design (R ``jk1weights``).

    Notes:
        Replicate r drops PSU r and multiplies the others by n / (n - 1); the variance is
        ``(1 - f)(n - 1)/n sum_r (theta_r - mean theta)^2`` (Wolter 2007, sec. 4.2), with
        ``f = n / N`` when an fpc was given (R: ``scale = fpc * (n - 1) / n``).
    """
    n = structure.n_psu
    F = np.full((n, n), n / (n - 1.0))
    np.fill_diagonal(F, 0.0)
    f = float(structure.f_h[0])
    return ReplicateFactors(F, f * (n - 1.0) / n, np.ones(n), "jk1")


def jkn_factors(structure: Structure, single_psu: str) -> tuple[ReplicateFactors, list[int]]:
    """Stratified delete-one-PSU jackknife (R ``jknweights``), one replicate per PSU.

    Returns:
        The factors, and the strata with one PSU that were skipped or adjusted.

    Notes:
        Dropping PSU i of stratum h: factor 0 for it, n_h / (n_h - 1) for the rest of h, 1
        elsewhere; ``rscale = (1 - f_h)(n_h - 1)/n_h``, ``scale = 1`` (Wolter 2007, sec. 4.5).
        Completely sampled strata (f_h = 0) give no replicates (R's default
        ``survey.drop.replicates = TRUE``). Strata with one PSU: "error" raises, "certainty" and
        "remove" skip, "average" skips and multiplies ``scale`` by (PSUs) / (replicates kept),
        "adjust" adds one replicate that zeroes the stratum and multiplies every other PSU by
        H / (H - 1) with rscale (H - 1)/H, all as R does.
    """
    P = structure.n_psu
    H = structure.n_strata
    ps = structure.psu_stratum
    n_h = structure.n_h
    f_h = structure.f_h
    cols: list[np.ndarray] = []
    rsc: list[float] = []
    lonely_seen: list[int] = []
    order = np.argsort(ps, kind="stable")
    starts = np.concatenate([[0], np.cumsum(n_h)])
    for h in range(H):
        if f_h[h] == 0:
            continue  # R: a completely sampled stratum gives no replicate columns
        members = order[starts[h] : starts[h + 1]]
        nh = int(n_h[h])
        if nh == 1:
            lonely_seen.append(h)
            if single_psu == "error":
                raise SinglePSUStratum(h)
            if single_psu == "adjust":
                col = np.full(P, H / (H - 1.0))
                col[ps == h] = 0.0
                cols.append(col)
                rsc.append((H - 1.0) / H)
            continue
        for i in members:
            col = np.ones(P)
            col[members] = nh / (nh - 1.0)
            col[i] = 0.0
            cols.append(col)
            rsc.append(f_h[h] * (nh - 1.0) / nh)
    if not cols:
        raise ValueError("every stratum was sampled completely: there is no sampling variance")
    F = np.column_stack(cols)
    scale = 1.0
    if single_psu == "average" and F.shape[1] < P:
        scale = P / F.shape[1]
    return ReplicateFactors(F, scale, np.asarray(rsc), "jkn"), lonely_seen


def subbootstrap_factors(
    structure: Structure, replicates: int, rng: np.random.Generator
) -> tuple[ReplicateFactors, list[int]]:
    """Rao-Wu rescaling bootstrap with m_h = n_h - 1 (R ``subbootweights``,
    ``as.svrepdesign(type="subbootstrap")``).

    Notes:
        In each stratum draw n_h - 1 of its n_h PSUs with replacement; PSU i drawn m_hi times
        gets factor ``m_hi n_h / (n_h - 1)``. Variance ``1/(R - 1) sum_r (theta_r - mean)^2``
        (Rao and Wu 1988; Rao, Wu and Yue 1992, Survey Methodology 18:209-217). Strata with one
        PSU keep factor 1 (no contribution); the caller decides whether that is allowed.
    """
    P = structure.n_psu
    ps = structure.psu_stratum
    F = np.empty((P, replicates))
    order = np.argsort(ps, kind="stable")
    starts = np.concatenate([[0], np.cumsum(structure.n_h)])
    lonely = []
    r_index = np.arange(replicates, dtype=np.int64)[:, None]
    for h in range(structure.n_strata):
        nh = int(structure.n_h[h])
        members = order[starts[h] : starts[h + 1]]
        if nh < 2:
            lonely.append(h)
            F[members, :] = 1.0
            continue
        # n_h - 1 draws with replacement per replicate, counted per (PSU, replicate).
        draws = rng.integers(0, nh, size=(replicates, nh - 1))
        counts = np.bincount((draws * replicates + r_index).ravel(), minlength=nh * replicates)
        F[members, :] = counts.reshape(nh, replicates) * (nh / (nh - 1.0))
    return (
        ReplicateFactors(F, 1.0 / (replicates - 1.0), np.ones(replicates), "subbootstrap"),
        lonely,
    )


def canty_davison_factors(
    structure: Structure, replicates: int, rng: np.random.Generator, use_fpc: bool
) -> ReplicateFactors:
    """Canty-Davison bootstrap: n_h PSUs per stratum resampled, scale from the harmonic mean
    number of PSUs per stratum (R ``bootweights``, ``as.svrepdesign(type="bootstrap")``).

    Arguments:
        structure: design structure.
        replicates: number of replicates R (>= 2).
        rng: numpy Generator.
        use_fpc: with a finite population correction, draw without replacement from a
            pseudo-population of N_h units (R's ``bootstratum(popsize=)``).

    Notes:
        Without fpc, stratum h draws n_h of its PSUs with replacement and PSU i's factor is the
        number of times m_hi it is drawn (no rescaling). With fpc the stratum's PSUs are put in
        random order and repeated to length N_h (the last copy partial when N_h / n_h is not
        whole, as R's ``rep(length=)``), and n_h of those N_h are drawn without replacement;
        the factor is again the count. R's variance is ``nbar / ((nbar - 1)(R - 1)) sum_r
        (theta_r - mean)^2`` with nbar the harmonic mean of n_h over all strata (Canty and
        Davison 1999, Resampling-based variance estimation for labour force surveys, The
        Statistician 48:379-391; Wolter 2007, ch. 5). For a linear statistic the expected
        bootstrap variance of stratum h is ``(n_h - 1)/n_h`` times its Taylor term (with fpc and
        N_h a multiple of n_h, ``N_h (n_h - 1) / ((N_h - 1) n_h)`` times: the hypergeometric
        variance of the drawn total), so the scale undoes it exactly when every stratum has the
        same n_h (and, with fpc, N_h large) and approximately otherwise.
        One-PSU strata keep factor 1 and still count in nbar, as in R.
    """
    P = structure.n_psu
    ps = structure.psu_stratum
    F = np.empty((P, replicates))
    order = np.argsort(ps, kind="stable")
    starts = np.concatenate([[0], np.cumsum(structure.n_h)])
    r_index = np.arange(replicates, dtype=np.int64)[:, None]
    for h in range(structure.n_strata):
        nh = int(structure.n_h[h])
        members = order[starts[h] : starts[h + 1]]
        if use_fpc and structure.f_h[h] < 1.0:
            N = int(round(nh / (1.0 - structure.f_h[h])))
            perm = rng.permutation(nh)
            pseudo = perm[np.arange(N) % nh]  # pseudo-population position -> PSU (0..nh-1)
            counts = np.zeros((nh, replicates))
            step = max(1, 20_000_000 // max(N, 1))
            for r0 in range(0, replicates, step):
                r1 = min(replicates, r0 + step)
                keys = rng.random((r1 - r0, N))
                take = np.argpartition(keys, nh - 1, axis=1)[:, :nh] if nh < N else None
                drawn = pseudo[take] if take is not None else np.tile(pseudo, (r1 - r0, 1))
                idx = drawn * (r1 - r0) + np.arange(r1 - r0)[:, None]
                counts[:, r0:r1] = np.bincount(idx.ravel(), minlength=nh * (r1 - r0)).reshape(
                    nh, r1 - r0
                )
            F[members, :] = counts
        else:
            draws = rng.integers(0, nh, size=(replicates, nh))
            c = np.bincount((draws * replicates + r_index).ravel(), minlength=nh * replicates)
            F[members, :] = c.reshape(nh, replicates)
    nbar = 1.0 / np.mean(1.0 / structure.n_h.astype(float))
    if nbar <= 1.0:
        raise ValueError("every stratum has one PSU: the bootstrap has no variance to estimate")
    scale = nbar / ((nbar - 1.0) * (replicates - 1.0))
    return ReplicateFactors(F, scale, np.ones(replicates), "bootstrap")


def mrb_factors(
    structure: Structure, replicates: int, rng: np.random.Generator, use_fpc: bool
) -> ReplicateFactors:
    """Preston's multistage rescaled bootstrap, first stage (R ``mrbweights`` for a one-stage
    design, or any design sampled with replacement, where R uses only the first stage).

    Arguments:
        structure: design structure.
        replicates: number of replicates R (>= 2).
        rng: numpy Generator.
        use_fpc: use the first-stage sampling fraction f_h = n_h / N_h.

    Notes:
        In stratum h with n_h PSUs, each replicate keeps a simple random sample without
        replacement of n*_h = floor(n_h / 2) PSUs; PSU i gets factor ``1 + lambda_h (n_h /
        n*_h delta_i - 1)`` (delta_i = 1 when kept) with ``lambda_h = sqrt(n*_h (1 - f_h) /
        (n_h - n*_h))``; a stratum with one PSU keeps factor 1. Variance ``sum_r (theta_r -
        mean)^2 / (R - 1)`` (R: scale 1, rscales 1/(R - 1)). For a linear total the replicate
        variance of stratum h is ``lambda_h^2 (n_h / n*_h)^2 n*_h (n_h - n*_h) / n_h s_h^2 =
        (1 - f_h) n_h s_h^2``, its Taylor term, so the estimator is unbiased (Preston J 2009,
        Rescaled bootstrap for stratified multistage sampling, Survey Methodology 35:227-234).
    """
    P = structure.n_psu
    ps = structure.psu_stratum
    F = np.ones((P, replicates))
    order = np.argsort(ps, kind="stable")
    starts = np.concatenate([[0], np.cumsum(structure.n_h)])
    for h in range(structure.n_strata):
        nh = int(structure.n_h[h])
        nstar = nh // 2
        if nstar == 0:
            continue
        members = order[starts[h] : starts[h + 1]]
        f = 1.0 - structure.f_h[h] if use_fpc else 0.0
        lam = np.sqrt(nstar * (1.0 - f) / (nh - nstar))
        keys = rng.random((nh, replicates))
        ranks = keys.argsort(axis=0).argsort(axis=0)
        keep = ranks < nstar  # each column: a random n*_h of the n_h PSUs
        F[members, :] = 1.0 + lam * (nh / nstar * keep - 1.0)
    return ReplicateFactors(F, 1.0, np.full(replicates, 1.0 / (replicates - 1.0)), "mrbbootstrap")


def _keep_half(group: np.ndarray, n_g: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """U x R booleans: in each replicate (column) and group, the floor(n_g / 2) units with the
    smallest keys (a simple random sample without replacement when keys are uniform)."""
    U = group.shape[0]
    order = np.argsort(group[:, None] + keys, axis=0, kind="stable")  # keys in [0, 1)
    start = np.concatenate([[0], np.cumsum(n_g)[:-1]])
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(U)[:, None] - start[group[order]], axis=0)
    return rank < (n_g // 2)[group][:, None]


def mrb_multistage_factors(
    structure: Structure,
    psu: np.ndarray,
    stages,
    replicates: int,
    rng: np.random.Generator | None = None,
    keys=None,
) -> ReplicateFactors:
    """Preston's multistage rescaled bootstrap for a design sampled without replacement at
    every stage (R ``mrbweights`` on a multistage ``svydesign`` with fpc at each stage).

    Arguments:
        structure: stage-1 structure (``f_h = (N_h - n_h) / N_h``).
        psu: stage-1 unit code of each row.
        stages: the later stages (:class:`methods.design.multistage.Stage`: row codes
            ``units``, ``structure`` with the units' parents, ``n_h`` and ``f_h`` per parent,
            and ``weight``, the product of the sampling fractions above, per parent).
        replicates: number of replicates R (>= 2).
        rng: numpy Generator for the draws (when ``keys`` is None).
        keys: optional list, one U_s x R array of uniform keys per stage (stage 1 first): in
            each group the floor(n/2) units with the smallest keys are kept. Used to check the
            factors against R's own code given the same draws.

    Returns:
        Row-level factors (n x R), scale 1, rscales 1/(R - 1) as R.

    Notes:
        At stage s, in each group (stage-1 stratum, or unit of stage s - 1) with n sampled units
        a simple random sample of n* = floor(n/2) is kept (delta = 1) and the row factor is
        ``1 + sum_s G_{s-1} lambda_s (n/n* delta_s - 1)`` with ``lambda_s = sqrt(F_{s-1} n* (1 -
        f_s) / (n - n*))``, f_s the sampling fraction of the group, F_{s-1} the product of the
        sampling fractions of the stages above (1 at stage 1) and ``G_{s-1} = prod_{t<s}
        sqrt(n_t/n*_t) delta_t`` (1 at stage 1): units below a dropped unit get no later-stage
        term. A group with one unit contributes nothing and cuts the stages below it, as R's
        ``nstar == 0`` branch. For a linear total each stage's expected contribution is
        ``F_{s-1}`` times its Taylor term, which is R's recursive ``multistage`` variance
        (Preston J 2009, Rescaled bootstrap for stratified multistage sampling, Survey
        Methodology 35:227-234; R ``survey::mrbweights``).
    """
    levels = [(structure.psu_stratum, structure.n_h, structure.f_h, None, psu)]
    levels += [
        (st.structure.psu_stratum, st.structure.n_h, st.structure.f_h, st.weight, st.units)
        for st in stages
    ]
    n = psu.shape[0]
    F = np.ones((n, replicates))
    g = np.ones((structure.n_strata, replicates))  # G of the groups of the current stage
    for s, (group, n_g, fpcf, cum, rows) in enumerate(levels):
        n_g = np.asarray(n_g, np.int64)
        cum = np.ones(n_g.shape[0]) if cum is None else np.asarray(cum, float)
        nstar = n_g // 2
        ok = nstar > 0
        lam = np.zeros(n_g.shape[0])
        lam[ok] = np.sqrt(cum[ok] * nstar[ok] * np.asarray(fpcf, float)[ok] / (n_g - nstar)[ok])
        ratio = np.where(ok, n_g / np.maximum(nstar, 1), 0.0)
        k = rng.random((group.shape[0], replicates)) if keys is None else np.asarray(keys[s])
        keep = _keep_half(group, n_g, k)
        gu = g[group]
        F += (gu * lam[group][:, None] * (ratio[group][:, None] * keep - 1.0))[rows]
        g = gu * np.sqrt(ratio)[group][:, None] * keep
    return ReplicateFactors(F, 1.0, np.full(replicates, 1.0 / (replicates - 1.0)), "mrbbootstrap")


def brr_factors(
    structure: Structure, fay: float, signs: np.ndarray | None = None
) -> ReplicateFactors:
    """Balanced repeated replication with Fay's factor for designs with two PSUs per stratum.

    Arguments:
        structure: design structure; every stratum has two PSUs.
        fay: Fay's rho in [0, 1) (0: plain BRR).
        signs: optional m x m +/-1 Hadamard matrix in our orientation (+1: the first PSU of
            the stratum gets ``2 - rho``), as returned by :func:`hadamard_signs`; default R's
            built-in ``survey::hadamard(H)`` (:func:`methods.design.hadamard.r_hadamard`).

    Notes:
        Stratum h is assigned row h + 1 of a Hadamard matrix of order m > H (the first row is
        skipped, as R's ``brrweights`` does); in replicate r its first PSU (lower code) gets
        factor 2 - rho and the second rho when the entry is +1, the reverse when -1. There is
        one replicate per column, m in all. Variance ``1 / (m (1 - rho)^2) sum_r (theta_r -
        mean)^2`` (McCarthy 1969; Judkins 1990; Wolter 2007 sec. 3.3-3.5). Plain BRR is rho = 0.
    """
    H = structure.n_strata
    Had = hadamard(H + 1) if signs is None else np.asarray(signs, float)
    m = Had.shape[1]
    ps = structure.psu_stratum
    order = np.argsort(ps, kind="stable")
    first = order[0::2]
    second = order[1::2]
    sign = Had[1 : H + 1, :]  # H x m
    F = np.empty((structure.n_psu, m))
    hi, lo = 2.0 - fay, fay
    F[first, :] = np.where(sign > 0, hi, lo)
    F[second, :] = np.where(sign > 0, lo, hi)
    return ReplicateFactors(F, 1.0 / (m * (1.0 - fay) ** 2), np.ones(m), "brr")


def hadamard_signs(matrix, n_strata: int) -> np.ndarray:
    """Check a user-supplied Hadamard matrix for BRR by R's rules and orient it as R does.

    Arguments:
        matrix: a square array with exactly two distinct values (+/-1, or R's 0/1 style, or any
            other pair) whose rows are mutually orthogonal once coded +/-1.
        n_strata: number of strata H (each with two PSUs).

    Returns:
        The m x m float matrix of +/-1 in our orientation: +1 where the entry differs from the
        matrix's first entry ``matrix[0, 0]``, -1 where it equals it.

    Raises:
        UsageError: naming the rule broken: not a square 2-D matrix; order m < H + 1; not
            exactly two distinct values; ``S' S != m I`` (S the +/-1 coding).

    Notes:
        R ``survey::brrweights(hadamard.matrix=)``: the matrix must have at least nstrata + 1
        rows; its values are coded 0 where equal to the first value met in column-major order
        (``H[1, 1]``) and 1 elsewhere; ``is.hadamard(H, full.orthogonal.balance=FALSE)`` then
        requires ``crossprod(2H - 1) == m I`` and a square matrix, but not a first row of ones
        (so the replicates need not be fully orthogonally balanced; Wolter 2007, sec. 3.3). Rows
        2..H+1 are used and every column is a replicate, m in all, so an order above H + 1 is
        allowed (more replicates, same variance for linear statistics). A 1 in R's coding gives
        the stratum's first PSU the weight 2 - rho, so R's coding maps to our +1 sign and an
        entry equal to ``H[1, 1]`` to -1. A column-orthogonal square +/-1 matrix is also
        row-orthogonal (S'S = mI implies SS' = mI).
    """
    A = np.asarray(matrix)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or A.shape[0] == 0:
        raise UsageError(f"hadamard must be a square matrix (R is.hadamard), got shape {A.shape}")
    m = A.shape[0]
    if m < n_strata + 1:
        raise UsageError(
            f"hadamard matrix of order {m} is too small: BRR needs order at least the number "
            f"of strata + 1 = {n_strata + 1} (R brrweights: 'dimension at least nstrata+1')"
        )
    try:
        values = np.unique(A)
    except TypeError:
        values = np.unique(A.astype(str))
    if values.size != 2:
        raise UsageError(
            f"hadamard matrix must hold exactly two distinct values (e.g. +1/-1), found "
            f"{values.size}"
        )
    S = np.where(A == A[0, 0], -1.0, 1.0)
    G = S.T @ S
    if not np.allclose(G, m * np.eye(m)):
        i, j = np.argwhere(~np.isclose(G, m * np.eye(m)))[0]
        raise UsageError(
            f"hadamard matrix is not a Hadamard matrix: columns {int(i) + 1} and {int(j) + 1} "
            "are not orthogonal (rule: S'S = m I with S the +/-1 coding, R is.hadamard)"
        )
    return S


def replicate_variance(
    thetas: np.ndarray, estimate: np.ndarray, scale: float, rscales: np.ndarray, mse: bool
) -> tuple[np.ndarray, np.ndarray]:
    """R's ``svrVar`` for each column of ``thetas`` (R x k), dropping NaN replicates per column.

    Returns:
        (k x k covariance, number of replicates dropped per column).

    Notes:
        ``v = scale sum_r rscales_r (theta_r - c)(theta_r - c)'`` with c the mean of the
        replicates that have ``rscales > 0`` (``mse=False``, R's default) or the full-sample
        estimate (``mse=True``). Replicates giving NaN are discarded as R's ``na.omit`` does;
        for covariances the pairwise-complete replicates are used.
    """
    thetas = np.asarray(thetas, float)
    if thetas.ndim == 1:
        thetas = thetas[:, None]
    ok = np.isfinite(thetas)
    dropped = (~ok).sum(axis=0)
    pos = (rscales > 0)[:, None] & ok
    if mse:
        centre = np.asarray(estimate, float).reshape(-1)
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            centre = np.where(pos, thetas, 0.0).sum(axis=0) / pos.sum(axis=0)
    D = np.where(ok, thetas - centre[None, :], 0.0) * np.sqrt(rscales)[:, None]
    V = scale * (D.T @ D)
    allnan = ok.sum(axis=0) == 0
    if allnan.any():
        V[allnan, :] = np.nan
        V[:, allnan] = np.nan
    return V, dropped
