"""Building replicate-weight designs and their degrees of freedom (R ``as.svrepdesign``,
``degf.svyrep.design``). The weight formulas live in :mod:`methods.design.variance`."""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING

import numpy as np

from methods.core.errors import UsageError, ValidationError
from methods.design.columns import readonly, rows1
from methods.design.hadamard import r_hadamard
from methods.design.variance import (
    MAX_REPLICATE_CELLS,
    ReplicateFactors,
    SinglePSUStratum,
    brr_factors,
    canty_davison_factors,
    hadamard_signs,
    jk1_factors,
    jkn_factors,
    mrb_factors,
    mrb_multistage_factors,
    subbootstrap_factors,
)

if TYPE_CHECKING:
    from methods.design.survey import SurveyDesign

REPLICATE_METHODS = (
    "jk1",
    "jkn",
    "bootstrap",
    "subbootstrap",
    "cdbootstrap",
    "brr",
    "mrbbootstrap",
)
#: Methods that draw random replicates (and take ``replicates=`` and ``seed=``). The names are
#: R's ``as.svrepdesign(type=)``: "bootstrap" is Canty and Davison's (R ``bootweights``),
#: "subbootstrap" Rao and Wu's rescaled one (R ``subbootweights``); "cdbootstrap" is our older
#: name of "bootstrap", kept as an alias.
BOOTSTRAPS = ("bootstrap", "subbootstrap", "cdbootstrap", "mrbbootstrap")
ALIASES = {"cdbootstrap": "bootstrap"}
DEFAULT_BOOTSTRAP_REPLICATES = 50  # R's as.svrepdesign default


def make_replicate_design(
    design: SurveyDesign,
    method: str,
    replicates: int | None,
    seed: int | None,
    fay: float,
    mse: bool,
    hadamard=None,
) -> SurveyDesign:
    """See :meth:`methods.design.survey.SurveyDesign.replicate`."""
    if method not in REPLICATE_METHODS:
        raise UsageError(f"replicate method must be one of {REPLICATE_METHODS}, got {method!r}")
    method = ALIASES.get(method, method)
    if method != "brr" and hadamard is not None:
        raise UsageError("hadamard= only applies to method='brr'")
    s = design._struct
    stratified = design._names["strata"] is not None
    if method not in BOOTSTRAPS and replicates is not None:
        raise UsageError(f"'{method}' fixes its own number of replicates; drop replicates=")
    if method != "brr" and fay:
        raise UsageError("fay= only applies to method='brr'")
    lonely = np.flatnonzero((s.n_h == 1) & (s.f_h != 0))
    seed_used = None
    if method == "jk1":
        if stratified:
            raise UsageError("JK1 ignores strata and this design is stratified: use 'jkn'")
        _check_size(design, s.n_psu)
        rf = jk1_factors(s)
    elif method == "jkn":
        if not stratified:
            raise UsageError("JKn needs strata; use 'jk1' or 'bootstrap' for this design")
        _check_size(design, s.n_psu)
        try:
            rf, _ = jkn_factors(s, design._single_psu)
        except SinglePSUStratum as exc:
            raise design._single_psu_error(exc.stratum) from None
    elif method in BOOTSTRAPS:
        replicates = DEFAULT_BOOTSTRAP_REPLICATES if replicates is None else int(replicates)
        if replicates < 2:
            raise UsageError("the bootstrap needs at least 2 replicates")
        _check_size(design, replicates)
        if lonely.size and design._single_psu == "error":
            raise design._single_psu_error(int(lonely[0]))
        if lonely.size and design._single_psu in ("average", "adjust"):
            warnings.warn(
                f"{lonely.size} single-PSU stratum(s) keep factor 1 in every bootstrap "
                f"replicate (no variance contribution), not single_psu='{design._single_psu}'",
                UserWarning,
                stacklevel=3,
            )
        if design._fpc is not None and method == "subbootstrap":
            warnings.warn(
                "the Rao-Wu bootstrap ('subbootstrap') ignores the finite population correction "
                "(R's subbootweights drops it too); 'bootstrap' (Canty-Davison) and "
                "'mrbbootstrap' use it",
                UserWarning,
                stacklevel=3,
            )
        if design._stages and not design._ultimate_cluster and method != "subbootstrap":
            if method == "mrbbootstrap" and design._fpc is None:
                warnings.warn(
                    f"the design has {design.stages} stages but no fpc (sampled with "
                    "replacement): 'mrbbootstrap' uses the first stage only, as R's mrbweights",
                    UserWarning,
                    stacklevel=3,
                )
            elif method == "bootstrap" and design._fpc is not None:
                warnings.warn(
                    f"'bootstrap' resamples the first of the design's {design.stages} stages "
                    "and drops the fpc of the later ones, as R's as.svrepdesign does; "
                    "'mrbbootstrap' uses every stage",
                    UserWarning,
                    stacklevel=3,
                )
        seed_used = int(np.random.SeedSequence().entropy % (2**63)) if seed is None else seed
        rng = np.random.default_rng(seed_used)
        if method == "bootstrap":
            if float(1.0 / np.mean(1.0 / s.n_h)) <= 1.0:
                raise UsageError("every stratum has one PSU: the bootstrap has nothing to resample")
            rf = canty_davison_factors(s, replicates, rng, design._fpc is not None)
        elif method == "mrbbootstrap" and not design.ultimate_cluster and design._fpc is not None:
            rf = mrb_multistage_factors(s, design._psu, design._stages, replicates, rng)
            return _with_factors(design, rf, mse, seed_used, rows=True)
        elif method == "mrbbootstrap":
            rf = mrb_factors(s, replicates, rng, design._fpc is not None)
        else:
            rf, _ = subbootstrap_factors(s, replicates, rng)
    else:
        if not stratified:
            raise UsageError("BRR needs strata with two PSUs each")
        if not 0.0 <= fay < 1.0:
            raise UsageError(f"fay must be in [0, 1), got {fay}")
        bad = np.flatnonzero(s.n_h != 2)
        if bad.size:
            h = int(bad[0])
            raise ValidationError(
                f"BRR needs exactly two PSUs per stratum; stratum {design._strata_labels[h]!r} "
                f"has {int(s.n_h[h])}. Pair PSUs into variance strata first, or use 'jkn' or "
                "'bootstrap'",
                design._names["strata"],
                rows1(design._strata == h),
            )
        if design._fpc is not None:
            warnings.warn(
                "BRR drops the finite population correction (as R does)", UserWarning, stacklevel=3
            )
        if hadamard is None:
            built = r_hadamard(s.n_strata)
            if not built.exact:
                warnings.warn(
                    f"BRR with {s.n_strata} strata: R's survey::hadamard({s.n_strata}) builds on "
                    "its stored order-28 matrix (from Sloane's library), which the workbench "
                    f"does not rebuild; using Paley's order-28 construction instead (the same "
                    f"{built.matrix.shape[0]} replicates and the same variance for totals and "
                    "other linear statistics, other half-samples, so nonlinear SEs differ "
                    "slightly from R's). Pass hadamard= R's matrix to reproduce R exactly",
                    UserWarning,
                    stacklevel=3,
                )
            signs = 2.0 * built.matrix - 1.0
        else:
            signs = hadamard_signs(hadamard, s.n_strata)
        _check_size(design, signs.shape[1])
        rf = brr_factors(s, fay, signs)
    return _with_factors(design, rf, mse, seed_used)


def _check_size(design: SurveyDesign, n_rep: int) -> None:
    if design.n * n_rep > MAX_REPLICATE_CELLS:
        raise UsageError(
            f"{n_rep} replicates x {design.n} rows is too many replicate weights to hold (limit "
            f"{MAX_REPLICATE_CELLS:,} cells); use the bootstrap with fewer replicates or group "
            "PSUs"
        )


def _with_factors(
    design: SurveyDesign, rf: ReplicateFactors, mse: bool, seed, rows: bool = False
) -> SurveyDesign:
    """Replicate weights ``w_i * factors[psu_i]`` (``rows``: ``w_i * factors[i]``, factors that
    vary within PSUs); when every row is a PSU, or ``rows``, the factor matrix is scaled in
    place (one n x R array in memory) and ``_rep_factors`` is not kept."""
    if design._struct.psu_identity or rows:
        rep = rf.factors
        rep *= design._w[:, None]
        factors = None
    else:
        rep = rf.factors[design._psu]
        rep *= design._w[:, None]
        factors = readonly(rf.factors)
    return design._replace(
        _rep=readonly(rep),
        _rep_method=rf.method,
        _rep_scale=float(rf.scale),
        _rep_rscales=readonly(np.asarray(rf.rscales, float)),
        _rep_mse=bool(mse),
        _rep_seed=seed,
        _rep_factors=factors,
    )


def replicate_degf(design: SurveyDesign, rows: np.ndarray) -> float:
    """Rank of the replicate analysis weights of ``rows`` minus one (R ``degf.svyrep.design``,
    which R recomputes for every domain subset).

    Notes:
        Scaling a row by its weight leaves the rank unchanged, so the rank is that of the
        replicate factors; when they are PSU-level (``_rep_factors``) one row per PSU suffices.
        Any R linearly independent rows prove full rank, so an evenly spread subset of R + 16
        rows is tried first and the full Gram matrix only when that subset is rank deficient.
    """
    R = design._rep.shape[1]
    idx = np.flatnonzero(rows & (design._w != 0))
    if idx.size == 0:
        return -1.0
    F = design._rep_factors
    if F is not None:
        units = np.unique(design._psu[idx])

        def get(sel):
            return F[units[sel]]

        m = units.size
    else:

        def get(sel):
            r = idx[sel]
            return design._rep[r] / design._w[r, None]

        m = idx.size
    take = np.unique(np.linspace(0, m - 1, min(m, R + 16)).astype(np.intp))
    rank = int(np.linalg.matrix_rank(get(take)))
    if rank < R and take.size < m:
        G = np.zeros((R, R))
        for start in range(0, m, 20_000):
            X = get(slice(start, start + 20_000))
            G += X.T @ X
        ev = np.linalg.eigvalsh(G)
        rank = int((ev > ev.max() * 1e-12).sum())
    return float(rank - 1)
