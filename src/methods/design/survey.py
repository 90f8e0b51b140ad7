"""Design-based estimation: :class:`SurveyDesign`, the one object that carries data, design and
weights, checked figure for figure against R's ``survey`` package (Lumley), the reference.

Quick tour::

    d = SurveyDesign(df, weights="w", strata="district", fpc="N_h")
    d.proportion("satisfied")                      # logit CI on the design df, as svyciprop
    d.by("offence_group").proportion("satisfied", ci="beta")
    d.compare("satisfied", by="ethnic2", a="white", b="minority")
    r = d.replicate("jkn"); r.by("offence_group").mean("score")

Estimators return a DataFrame with columns ``estimate, se, ci_low, ci_high, deff, n``; ``n`` is
the unweighted number of rows used (non-missing value, positive weight). ``df.attrs`` records the
statistic, variance method, interval type, confidence level and degrees of freedom.

Intervals, as R computes them (we checked R 4.2 / survey 4.1 sources and match them in tests):

* ``mean``, ``total``, ``ratio``: ``confint()`` of ``svymean``/``svytotal``/``svyratio`` uses
  **normal** quantiles (``df = Inf``); pass ``df="design"`` for t quantiles on the design
  degrees of freedom, or a number.
* ``proportion``: ``svyciprop`` uses **t** quantiles on ``degf(design)``: #PSUs - #strata among
  the rows of the (domain) design with non-zero weight; for replicate designs the rank of the
  replicate weights minus one. See :mod:`methods.design.ci` for every interval.
* ``compare``: R's ``svyttest``: t on ``degf - 1`` of the two-domain subset.

Missing values: every estimator drops rows whose value is missing, like R's ``na.rm=TRUE``;
for domains this is done by zeroing (rows stay in the design), so strata and PSUs without a
usable row still count where R counts them.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from methods.core.errors import UsageError, ValidationError
from methods.design import ci as dci
from methods.design import contrast as con
from methods.design import estimators as est
from methods.design import moments as mom
from methods.design import multistage as ms
from methods.design import quantile as dq
from methods.design.columns import (
    binary_column,
    fpc_popsize,
    numeric_column,
    psu_codes_parents,
    psu_count_per_row,
    readonly,
    require_columns,
    rows1,
    strata_codes,
    weights_array,
)
from methods.design.domains import DomainView, compare_independent, level_index
from methods.design.replicate import make_replicate_design, replicate_degf
from methods.design.variance import (
    SINGLE_PSU_MODES,
    DomainInfluence,
    SinglePSUStratum,
    Structure,
    replicate_variance,
    taylor_variance,
)

__all__ = ["SurveyDesign", "DomainView", "SinglePSUError", "compare_independent"]

COLUMNS = ["estimate", "se", "ci_low", "ci_high", "deff", "n"]
VCOV_MAX = 2000  # outputs with more rows do not keep their covariance matrix in attrs
#: largest dense influence matrix (values) the joint covariance of by(...).mean([a, b]) builds
DENSE_INFLUENCE_MAX = 2**26


def _deff_replace(deff: Any) -> bool:
    """Whether ``deff`` asks for the with-replacement reference (R ``deff="replace"``)."""
    if isinstance(deff, str):
        if deff != "replace":
            raise UsageError(f"deff must be True, False or 'replace', got {deff!r}")
        return True
    return False


def _stage_columns(
    psu: str | None, fpc: str | Sequence[str] | None, ids: str | Sequence[str] | None
) -> tuple[list[str] | None, list[str] | None]:
    """The stage columns (``ids``, or ``[psu]``) and fpc columns as lists (None when absent)."""
    if ids is not None and psu is not None:
        raise UsageError("give the clusters as psu= (one stage) or ids= (stages), not both")
    if ids is None:
        ids_list = None if psu is None else [psu]
    else:
        ids_list = [ids] if isinstance(ids, str) else list(ids)
        if not ids_list:
            raise UsageError("ids= needs at least one column (stage 1 PSUs)")
    fpc_list = None if fpc is None else ([fpc] if isinstance(fpc, str) else list(fpc))
    if fpc_list is not None and len(fpc_list) > max(1, len(ids_list or ())):
        raise UsageError(
            f"{len(fpc_list)} fpc columns for {len(ids_list or ())} stage(s): need at least as "
            "many ids as fpc stages (as R's svydesign)"
        )
    return ids_list, fpc_list


class SinglePSUError(ValidationError):
    """A stratum has a single PSU and ``single_psu="error"`` (R's ``survey.lonely.psu="fail"``)."""


class SurveyDesign:
    """A survey design: data, strata, PSUs, fpc and weights, immutable.

    Arguments:
        data: one row per respondent (row order is kept everywhere).
        weights: column of sampling (or final) weights; default ``N_h / n_h`` from ``fpc``, or 1.
        strata: column of strata.
        psu: column of primary sampling units (clusters); default: each row is its own PSU.
        fpc: column of population sizes (N_h per stratum for element samples, number of
            population PSUs for cluster samples) or sampling fractions, by R's rule: values all
            <= 1 (at least one < 1) are fractions, otherwise population counts. Must be constant
            within a stratum.
            For several stages, a list of one column per stage (fewer columns than stages:
            the rest are with replacement, with a warning, as R), fractions or counts decided
            over all columns at once; a stage-2 fpc (N_i, the SSUs in PSU i) must be constant
            within each PSU.
        ids: the clusters of each stage, e.g. ``["dnum", "snum"]`` (R ``ids=~dnum+snum``):
            stage-1 PSUs, then SSUs nested in them. ``ids=["psu"]`` is ``psu="psu"``.
            Without weights, the weight is ``prod_s N_s / n_s`` (R ``svydesign``).
        nest: PSU labels are only unique within strata (R's ``nest=TRUE``); with several
            stages also: SSU labels are only unique within their PSU. Without it an SSU label
            found under two PSUs is an error (R nests silently; we refuse, so a mistyped PSU
            code cannot create units).
        single_psu: "error" (default, R's "fail"), "certainty", "remove", "average" or
            "adjust": R's ``options(survey.lonely.psu=...)``.
        adjust_domain_lonely: R's ``options(survey.adjust.domain.lonely=TRUE)``: in a domain
            estimate (``by``), a stratum of which the domain touches one PSU is lonely for that
            domain under "adjust" and "average" (Taylor designs; R's ``survey:::onestrat``).
            In the later stages of a multistage design the same holds for a unit of which the
            domain touches one subunit: "adjust" leaves it uncentred; "average" has nothing to
            average over within the unit, so R's and our variance of that domain is NaN (with
            a warning naming the domains).
        ultimate_cluster: for a design with several stages, the variance from the stage-1
            PSU totals only (R ``options(survey.ultimate.cluster=TRUE)``). Default False, as
            R: the full multistage variance ``V_1 + sum_i (n_h / N_h) V_2i + ...`` of R's
            ``survey:::multistage`` (Särndal, Swensson & Wretman 1992, ch. 4.3; Wolter 2007,
            sec. 1.4), in which later stages contribute nothing when stage 1 has no fpc.
            Degrees of freedom and replicate designs use stage 1 only, as R's ``degf`` and
            ``as.svrepdesign``.

    Raises:
        ValidationError: missing column, missing or negative weights, PSUs not nested in strata,
            inconsistent or impossible fpc (the message names rows and columns).

    Notes for code that derives new designs (``methods.weighting``) - stable internals:

    * ``_replace(**changes) -> SurveyDesign``: a new design sharing everything not changed;
      writeable arrays passed are copied to private float64 read-only arrays (read-only
      float64 arrays are taken as they are). Nothing is ever mutated in place.
    * ``_stages``: tuple of :class:`methods.design.multistage.Stage` for stages 2, 3, ...
      (empty for one stage) and ``_ultimate_cluster`` (bool); ``_psu`` and ``_fpc`` are stage 1.
    * ``_data`` DataFrame (row order as given); ``_w`` float64 weights (n); ``_strata`` int
      codes (n) with labels ``_strata_labels``; ``_psu`` int codes (n), unique across strata;
      ``_fpc`` per-row population size N_h (float, may be inf) or None; ``_single_psu``;
      ``_names`` (the column names given); ``_calibrations`` tuple (default ``()``) of
      objects with ``adjust(z) -> z`` (n x k -> n x k); ``_struct`` (PSU strata, n_h, f_h:
      derived, recomputed by ``_replace`` when ``_strata``, ``_psu`` or ``_fpc`` change).
    * Replicate designs: ``_rep`` (n x R replicate weights, i.e. full weights times replicate
      factors, or None), ``_rep_method`` ("jk1", "jkn", "bootstrap", "subbootstrap",
      "mrbbootstrap", "brr", "fay", "other" or None),
      ``_rep_scale`` (float), ``_rep_rscales`` (R), ``_rep_mse`` (bool, R's default False),
      ``_rep_factors`` (P x R PSU factors when ``_rep == _w * factors[_psu]``, else None: set
      it to None when you re-weight replicates, ``_replace`` does so automatically when
      ``_rep`` changes without it), ``_rep_seed`` (bootstrap seed used). Estimates are
      recomputed for every column of ``_rep``;
      a weighting step re-weights every column and returns ``_replace(_w=..., _rep=...)``.
    * Linearisation: each estimator builds the weighted influence matrix z (n x k) exactly as
      R's ``svyrecvar`` receives it (total: ``w y``; mean: ``w (y - ybar) / sum(w)``; ratio:
      ``w (y - R x) / X``) and calls ``self._lin_variance(z)``, which first applies
      ``z = cal.adjust(z)`` for each object in ``self._calibrations`` in order (R's
      ``design$postStrata`` handling in ``svyrecvar``) and then computes the stratified
      with-replacement PSU variance with fpc and single-PSU handling. Domain estimators pass a
      sparse :class:`methods.design.variance.DomainInfluence`; ``_lin_variance`` densifies it before
      calling ``adjust``, so ``adjust`` always receives an ndarray.
    """

    def __init__(
        self,
        data: pd.DataFrame,
        weights: str | None = None,
        strata: str | None = None,
        psu: str | None = None,
        fpc: str | Sequence[str] | None = None,
        *,
        ids: str | Sequence[str] | None = None,
        nest: bool = False,
        single_psu: str = "error",
        adjust_domain_lonely: bool = False,
        ultimate_cluster: bool = False,
    ):
        if not isinstance(data, pd.DataFrame):
            raise UsageError(f"data must be a pandas DataFrame, got {type(data).__name__}")
        if len(data) < 1:
            raise ValidationError("the data have no rows", None)
        if single_psu not in SINGLE_PSU_MODES:
            raise UsageError(f"single_psu must be one of {SINGLE_PSU_MODES}, got {single_psu!r}")
        ids_list, fpc_list = _stage_columns(psu, fpc, ids)
        multi = ids_list is not None and len(ids_list) > 1
        if not multi:
            psu = ids_list[0] if ids_list else psu
            fpc = fpc_list[0] if fpc_list else None
        require_columns(data, weights, strata, psu, *(ids_list or ()), *(fpc_list or ()))
        self._data = data.copy(deep=False)
        self._names = {"weights": weights, "strata": strata, "psu": psu, "fpc": fpc}
        self._ultimate_cluster = bool(ultimate_cluster)
        self._stages: tuple = ()
        self._single_psu = single_psu
        self._adjust_domain_lonely = bool(adjust_domain_lonely)
        self._calibrations: tuple = ()
        self._rep = None
        self._rep_method = None
        self._rep_scale = None
        self._rep_rscales = None
        self._rep_mse = False
        self._rep_factors = None
        self._rep_seed = None
        self._cache: dict = {}
        self._rows_kept = False  # True for keep_rows(): the stages count rows no longer here
        self._strata, self._strata_labels = strata_codes(data, strata)
        if multi:
            ps, N_h = self._init_stages(data, weights, ids_list, fpc_list, nest)
        else:
            self._psu, ps = psu_codes_parents(data, psu, self._strata, nest)
            N_h = None
            n_h_rows = psu_count_per_row(self._strata, self._psu)
            self._fpc = (
                None
                if fpc is None
                else fpc_popsize(data, fpc, self._strata, self._strata_labels, n_h_rows)
            )
            self._w = weights_array(data, weights, self._fpc, n_h_rows)
        self._strata = readonly(self._strata)
        self._psu = readonly(self._psu)
        self._derive(ps, N_h)

    def _init_stages(self, data, weights, ids, fpc, nest) -> tuple[np.ndarray, np.ndarray | None]:
        """Codes, fpc and weights of a design with two or more stages (R ``svydesign`` with
        ``ids=~psu+ssu``, ``fpc=~f1+f2``; see :mod:`methods.design.multistage`).

        Everything below the row codes is per group (strata, then the units of the stage
        above): the fpc checks, sample sizes, population sizes and the default weights; the
        per-row figures are read out once at the end. Returns the stratum of each PSU and
        the stage-1 population count of each stratum (None without fpc)."""
        psu, ps = psu_codes_parents(data, ids[0], self._strata, nest)
        codes, unit_groups = [psu], [ps]
        for s in range(1, len(ids)):
            c, up = ms.nested_codes(data, ids[s], codes[-1], ids[s - 1], nest)
            codes.append(c)
            unit_groups.append(up)
        self._psu = codes[0]
        groups = [self._strata, *codes[:-1]]
        n_groups = [len(self._strata_labels), *(u.shape[0] for u in unit_groups[:-1])]
        sizes = ms.group_sizes(unit_groups, n_groups)
        if fpc is None:
            popsize = None
        else:
            popsize = ms.stage_popsizes(
                data,
                fpc,
                groups,
                sizes,
                [
                    "stratum",
                    *[f"PSU ({c})" if s == 0 else f"unit ({c})" for s, c in enumerate(ids[:-1])],
                ],
                [self._strata_labels, *[None] * (len(ids) - 1)],
            )
        self._fpc = None if popsize is None else readonly(popsize[0][self._strata])
        if weights is None and popsize is not None:
            self._w = ms.default_weights(popsize, sizes, unit_groups, groups)
        else:
            self._w = weights_array(data, weights, None, None)
        self._stages = ms.build_stages(codes, unit_groups, sizes, popsize)
        self._names.update(psu=ids[0], fpc=None if fpc is None else fpc[0], ids=list(ids))
        if fpc is not None:
            self._names["fpcs"] = list(fpc)
        return ps, None if popsize is None else popsize[0]

    def _derive(self, ps: np.ndarray | None = None, N_h: np.ndarray | None = None) -> None:
        """Recompute the structure (PSU strata, n_h, f_h) from ``_strata``, ``_psu``, ``_fpc``;
        ``ps`` (the stratum of each PSU) and ``N_h`` (the fpc of each stratum) when the
        constructor has already found (and checked) them."""
        n = self._strata.shape[0]
        H = max(len(self._strata_labels), int(self._strata.max()) + 1)
        P = int(self._psu.max()) + 1
        if ps is None or ps.shape[0] != P:
            ps = np.zeros(P, np.intp)
            ps[self._psu] = self._strata
            if not np.array_equal(ps[self._psu], self._strata):
                raise ValidationError("PSU codes are not nested in strata codes", "psu")
        n_h = np.bincount(ps, minlength=H)
        if self._fpc is None:
            f_h = np.ones(H)
        else:
            if N_h is not None and N_h.shape[0] == H:
                N = N_h
            else:
                N = np.full(H, np.inf)
                N[self._strata] = self._fpc
            with np.errstate(invalid="ignore", divide="ignore"):
                f_h = np.where(np.isinf(N), 1.0, (N - n_h) / N)
        identity = P == n and np.array_equal(self._psu, np.arange(n))
        self._struct = Structure(ps, n_h, f_h, identity)

    @classmethod
    def from_replicates(
        cls,
        data: pd.DataFrame,
        weights: str,
        repweights: Sequence[str] | str,
        type: str,
        *,
        scale: float | None = None,
        rscales: Sequence[float] | float | None = None,
        rho: float | None = None,
        mse: bool = False,
        combined_weights: bool = True,
    ) -> SurveyDesign:
        """A replicate-weight design from supplied replicate-weight columns (R ``svrepdesign``).

        Arguments:
            data: the sample, one row per respondent, holding the weights and replicate columns.
            weights: column of full-sample weights.
            repweights: list of replicate-weight columns, or a regular expression matched
                against the column names (R's ``repweights="^rw"``), in column order.
            type: "JK1", "JKn", "BRR", "Fay", "bootstrap", "subbootstrap" or "other".
            scale, rscales: the variance is ``scale * sum_r rscales_r (theta_r - c)^2``. R's
                defaults: JK1 ``(R-1)/R``; BRR ``1/R``; Fay ``1/(R (1-rho)^2)``; bootstrap and
                subbootstrap ``1/(R-1)``; other and JKn 1 (JKn needs ``rscales``, (n_h-1)/n_h of
                each replicate's stratum); rscales 1 otherwise.
            rho: Fay's coefficient (required for "Fay").
            mse: centre at the full-sample estimate (R ``mse=TRUE``) instead of the replicate mean.
            combined_weights: the columns are replicate weights (R's default); False: they are
                multipliers of the full-sample weight (R ``combined.weights=FALSE``).

        Raises:
            ValidationError: a replicate column with a missing or negative value (the column and
                first rows are named).
            UsageError: unknown type, no matching column, JKn without rscales, Fay without rho.

        Source: R ``survey::svrepdesign`` (Lumley 2010, ch. 2.4; Wolter 2007, ch. 3-5).
        """
        kinds = {
            "JK1": "jk1",
            "JKn": "jkn",
            "BRR": "brr",
            "Fay": "fay",
            "bootstrap": "bootstrap",
            "subbootstrap": "subbootstrap",
            "other": "other",
        }
        if type not in kinds:
            raise UsageError(f"type must be one of {sorted(kinds)}, got {type!r}")
        if isinstance(repweights, str):
            rx = re.compile(repweights)
            cols = [c for c in data.columns if isinstance(c, str) and rx.search(c)]
        else:
            cols = list(repweights)
        if not cols:
            raise UsageError(f"repweights {repweights!r} names no column of the data")
        require_columns(data, *cols)
        rep = data[cols].to_numpy(dtype=float)
        for j, c in enumerate(cols):
            bad = ~np.isfinite(rep[:, j]) | (rep[:, j] < 0)
            if bad.any():
                raise ValidationError(
                    "replicate weights must be finite and non-negative",
                    c,
                    (np.flatnonzero(bad) + 1).tolist(),
                )
        des = cls(data, weights=weights)
        R = rep.shape[1]
        if not combined_weights:
            rep = rep * des._w[:, None]
        if type == "Fay" and rho is None:
            raise UsageError("type='Fay' needs rho (R svrepdesign(rho=))")
        if type == "JKn" and rscales is None:
            raise UsageError("type='JKn' needs rscales ((n_h - 1) / n_h of each replicate)")
        if scale is None:
            scale = {
                "JK1": (R - 1) / R,
                "BRR": 1 / R,
                "Fay": 1 / (R * (1 - (rho or 0.0)) ** 2),
                "bootstrap": 1 / (R - 1),
                "subbootstrap": 1 / (R - 1),
            }.get(type, 1.0)
        rsc = np.ones(R) if rscales is None else np.broadcast_to(np.asarray(rscales, float), (R,))
        return des._replace(
            _rep=rep,
            _rep_method=kinds[type],
            _rep_scale=float(scale),
            _rep_rscales=np.array(rsc, dtype=float),
            _rep_mse=bool(mse),
        )

    def _replace(self, **changes: Any) -> SurveyDesign:
        """A new design with some internals replaced (see the class docstring)."""
        new = object.__new__(SurveyDesign)
        new.__dict__.update(self.__dict__)
        new._cache = {}
        for key, value in changes.items():
            if key not in self.__dict__:
                raise UsageError(f"_replace: unknown attribute {key!r}")
            if key in ("_w", "_fpc", "_rep") and value is not None:
                a = np.asarray(value)
                if not (a.dtype == np.float64 and not a.flags.writeable and a.flags.c_contiguous):
                    # a private, read-only, row-major copy: the replicate sums' sparse product
                    # reads the n x R matrix by rows (column-major would cost another copy)
                    a = readonly(np.array(a, dtype=float, order="C"))
                value = a
            elif key in ("_strata", "_psu"):
                value = readonly(np.array(value, dtype=np.intp))
            elif key == "_calibrations":
                value = tuple(value)
            elif key == "_single_psu" and value not in SINGLE_PSU_MODES:
                raise UsageError(f"single_psu must be one of {SINGLE_PSU_MODES}, got {value!r}")
            setattr(new, key, value)
        n = self.n
        if len(new._data) != n:
            raise UsageError(f"_replace: _data must keep its {n} rows")
        if new._w.shape != (n,):
            raise UsageError(f"_replace: _w must have shape ({n},), got {new._w.shape}")
        if new._rep is not None:
            if new._rep.ndim != 2 or new._rep.shape[0] != n:
                raise UsageError(f"_replace: _rep must be n x R with n={n}")
            if "_rep" in changes and "_rep_factors" not in changes:
                new._rep_factors = None
        if {"_strata", "_psu", "_fpc"} & changes.keys():
            new._derive()
        return new

    # ------------------------------------------------------------------ public properties

    @property
    def n(self) -> int:
        """Number of rows."""
        return int(self._w.shape[0])

    @property
    def weights(self) -> np.ndarray:
        """The weights as a float64 numpy array (a copy), in row order."""
        return np.array(self._w)

    @property
    def data(self) -> pd.DataFrame:
        """The data (a copy-on-write copy: changing it never changes the design)."""
        return self._data.copy(deep=False)

    # ------------------------------------------------------------------ for derived designs
    # What methods.weighting (and any other layer) may use to build a new design from this one;
    # nothing outside methods.design touches the underscore state.

    @property
    def frame(self) -> pd.DataFrame:
        """The design's data: a new frame sharing the design's columns; pandas >= 3
        copy-on-write copies a column only when the frame is edited, so the design never
        changes (same as :attr:`data`)."""
        return self._data.copy(deep=False)

    @property
    def strata(self) -> np.ndarray:
        """Integer stratum code of each row (read-only), labels in :attr:`strata_labels`."""
        return self._strata

    @property
    def strata_labels(self) -> np.ndarray:
        """Stratum labels, indexed by the codes in :attr:`strata`."""
        return np.asarray(self._strata_labels, dtype=object)

    @property
    def has_strata(self) -> bool:
        """Whether the design was given a strata column (or derived strata)."""
        return self._names.get("strata") is not None

    @property
    def clusters(self) -> np.ndarray | None:
        """Integer PSU code of each row (read-only), or None when each row is its own PSU."""
        return None if self._struct.psu_identity else self._psu

    @property
    def fpc(self) -> np.ndarray | None:
        """Population size N_h of each row's stratum (float, inf without fpc), or None."""
        return self._fpc

    @property
    def stages(self) -> int:
        """Number of sampling stages (1 unless ``ids=`` named several)."""
        return 1 + len(self._stages)

    def stage_units(self, stage: int) -> np.ndarray | None:
        """Integer code of each row's sampling unit at ``stage`` (read-only): 1 gives
        :attr:`clusters` (None when every row is its own PSU), 2 the SSUs, and so on, nested
        in the units above as R's ``design$cluster[[stage]]`` (``svydesign`` nests them)."""
        if not isinstance(stage, int | np.integer) or not 1 <= stage <= self.stages:
            raise UsageError(f"stage must be an integer from 1 to {self.stages}, got {stage!r}")
        return self.clusters if stage == 1 else self._stages[stage - 2].units

    @property
    def ultimate_cluster(self) -> bool:
        """Whether the variance uses stage 1 only (R ``options(survey.ultimate.cluster=TRUE)``)."""
        return self._ultimate_cluster or not self._stages

    @property
    def single_psu(self) -> str:
        """The lonely-PSU rule (R's ``survey.lonely.psu``)."""
        return self._single_psu

    @property
    def replicate_weights(self) -> np.ndarray | None:
        """The n x R replicate weights (R's ``weights(des, "replication")``), or None."""
        return None if self._rep is None else np.asarray(self._rep, dtype=np.float64)

    @property
    def replicate_settings(self) -> dict:
        """Method, scale, rscales, mse and seed of a replicate design (empty for Taylor)."""
        keys = ("_rep_method", "_rep_scale", "_rep_rscales", "_rep_mse", "_rep_seed")
        return {k[1:]: getattr(self, k) for k in keys if getattr(self, k, None) is not None}

    @property
    def steps(self) -> tuple:
        """The weighting steps applied so far, oldest first (each adjusts the linearisation)."""
        return tuple(self._calibrations)

    def with_weights(
        self,
        weights: np.ndarray,
        replicate_weights: np.ndarray | None = None,
        *,
        step: Any = None,
        steps: Sequence | None = None,
    ) -> SurveyDesign:
        """A new design with new weights (and replicate weights), adding ``step`` to the
        history or replacing it with ``steps``; this design is unchanged."""
        changes: dict[str, Any] = {"_w": np.asarray(weights, dtype=np.float64)}
        if replicate_weights is not None:
            changes["_rep"] = replicate_weights
        if steps is not None:
            changes["_calibrations"] = tuple(steps)
        elif step is not None:
            changes["_calibrations"] = (*self._calibrations, step)
        return self._replace(**changes)

    def carried_to(
        self,
        other: SurveyDesign,
        data: pd.DataFrame,
        *,
        step: Any = None,
        replicate_weights: np.ndarray | None = None,
    ) -> SurveyDesign:
        """``other`` (a design built on a subset of this design's rows) with this design's
        data columns ``data``, history (plus ``step``) and replicate settings."""
        changes: dict[str, Any] = {
            "_data": data,
            "_calibrations": (*self._calibrations, *(() if step is None else (step,))),
        }
        for key in ("_names", "_rep_method", "_rep_scale", "_rep_rscales", "_rep_mse", "_rep_seed"):
            if hasattr(self, key):
                changes[key] = getattr(self, key)
        if replicate_weights is not None:
            changes["_rep"] = replicate_weights
        return other._replace(**changes)

    def keep_rows(
        self,
        keep: np.ndarray,
        weights: np.ndarray,
        *,
        step: Any = None,
        replicate_weights: np.ndarray | None = None,
    ) -> SurveyDesign:
        """The design of the rows ``keep`` with new ``weights``, every stage as sampled: R's
        ``subset()`` (``[.survey.design2``) of an uncalibrated design.

        R subsets the rows but keeps ``fpc$sampsize``, the units sampled per stratum (stage
        1) and per unit above (later stages), so ``survey:::onestrat`` pads the PSUs and SSUs
        that lost all their rows with zero totals: the variance is the domain (zero-out)
        variance of the full design (Lumley 2010, sec. 2.3), every stage's ids, fpc and
        nesting kept. ``degf`` counts the PSUs and strata that still have rows, as R's
        ``degf`` of the subset.

        Arguments:
            keep: boolean mask of length n (at least one True).
            weights: the kept rows' new weights.
            step: a weighting step to add to the history (which must be empty: R zeroes the
                weights of a calibrated design instead of subsetting it).
            replicate_weights: the kept rows' replicate weights (default: this design's,
                subset).

        Raises:
            UsageError: wrong lengths, nothing kept, or a design with weighting steps.
        """
        keep = np.asarray(keep)
        if keep.dtype != bool or keep.shape != (self.n,):
            raise UsageError(f"keep_rows: keep must be a boolean mask of length {self.n}")
        m = int(keep.sum())
        if m == 0:
            raise UsageError("keep_rows: no row is kept")
        if self._calibrations:
            raise UsageError(
                "keep_rows: the design has weighting steps; their adjustments are defined on "
                "all its rows (R keeps every row of a calibrated design and zeroes weights)"
            )
        w = np.asarray(weights, dtype=np.float64)
        if w.shape != (m,):
            raise UsageError(f"keep_rows: weights must have shape ({m},), got {w.shape}")
        rep = replicate_weights
        if rep is None and self._rep is not None:
            rep = self._rep[keep]
        new = object.__new__(SurveyDesign)
        new.__dict__.update(self.__dict__)
        new._cache = {}
        new._rows_kept = True
        new._data = self._data.iloc[np.flatnonzero(keep)].reset_index(drop=True)
        new._w = readonly(np.array(w, order="C"))
        new._strata = readonly(self._strata[keep])
        new._psu = readonly(self._psu[keep])
        new._fpc = None if self._fpc is None else readonly(self._fpc[keep])
        new._struct = dataclasses.replace(self._struct, psu_identity=False)
        new._stages = tuple(
            dataclasses.replace(
                st,
                units=readonly(st.units[keep]),
                parent=readonly(st.parent[keep]),  # global codes: per-parent figures still apply
                structure=dataclasses.replace(st.structure, psu_identity=False),
            )
            for st in self._stages
        )
        new._calibrations = () if step is None else (step,)
        new._rep = None
        new._rep_factors = None
        if rep is not None:
            return new._replace(_rep=rep)
        return new

    # The weighting verbs are methods.weighting's functions; design sits below weighting in
    # the layers, so it does not import them: methods.weighting attaches them when imported
    # and __getattr__ loads it on first use (a runtime plugin, not a static dependency).
    _WEIGHTING_VERBS = ("adjust_nonresponse", "poststratify", "rake", "calibrate", "trim")

    def __getattr__(self, name: str) -> Any:
        if name in SurveyDesign._WEIGHTING_VERBS and name not in SurveyDesign.__dict__:
            importlib.import_module("methods.weighting")
            return getattr(self, name)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def variance_method(self) -> str:
        """Either "taylor" or the replicate method."""
        return self._rep_method or "taylor"

    @property
    def degf(self) -> float:
        """Design degrees of freedom (R's ``degf``): #PSUs - #strata among rows with non-zero
        weight, or for replicate designs the rank of the replicate weights minus one."""
        return float(self._domain_degf(self._whole(), 1, self._cache.setdefault("whole_c", {}))[0])

    def __repr__(self) -> str:
        s = self._struct
        kind = self.variance_method
        if self._rep is not None:
            kind += f", {self._rep.shape[1]} replicates"
        return (
            f"SurveyDesign(n={self.n}, strata={s.n_strata}, psu={s.n_psu}, "
            f"{f'stages={self.stages}, ' if self._stages else ''}"
            f"fpc={'yes' if self._fpc is not None else 'no'}, variance={kind}, "
            f"single_psu={self._single_psu!r}, calibrations={len(self._calibrations)})"
        )

    # ------------------------------------------------------------------ variance machinery

    def _lin_variance(
        self, z, present: np.ndarray | None = None, labels: pd.Index | None = None
    ) -> np.ndarray:
        """Linearisation variance of the column totals of the influence matrix ``z``.

        Arguments:
            z: n x k (or n) weighted influence values, or a ``DomainInfluence``.
            present: rows R would keep after subsetting (default all); matters only for
                ``single_psu`` "error"/"average" (which strata count as present).
            labels: the labels of z's columns (domains), for warnings.

        Returns:
            k x k covariance matrix.

        Notes:
            Applies ``cal.adjust`` for each calibration in order, then
            :func:`methods.design.variance.taylor_variance` (R ``svyrecvar``). R keeps every row when
            it subsets a calibrated design, so ``present`` is all rows then.
        """
        if isinstance(z, DomainInfluence) and self._calibrations:
            z = z.dense()
        if not isinstance(z, DomainInfluence):
            z = np.asarray(z, dtype=float)
            if z.ndim == 1:
                z = z[:, None]
            if z.shape[0] != self.n:
                raise UsageError(f"_lin_variance: z has {z.shape[0]} rows, design has {self.n}")
            for cal in self._calibrations:
                z = np.asarray(cal.adjust(z), dtype=float)
            if self._calibrations:
                present = None
        try:
            V = taylor_variance(
                z,
                self._strata,
                self._psu,
                self._struct,
                self._single_psu,
                present,
                adjust_domain_lonely=self._adjust_domain_lonely,
            )
        except SinglePSUStratum as exc:
            raise self._single_psu_error(exc.stratum) from None
        if self._stages and not self._ultimate_cluster:
            try:
                later = ms.later_stage_variance(
                    z,
                    self._stages,
                    self._single_psu,
                    present,
                    adjust_domain_lonely=self._adjust_domain_lonely,
                    names=self._names["ids"],
                    labels=labels,
                )
            except ms.LonelyUnit as exc:
                raise self._lonely_unit_error(exc) from None
            if later is not None:
                V = V + later
        return V

    def _lonely_unit_error(self, exc: Exception) -> SinglePSUError:
        stage, unit = exc.stage, exc.unit
        above = self._names["ids"][stage - 2]
        st = self._stages[stage - 2]
        return SinglePSUError(
            f"a unit of {above!r} (stage {stage - 1}) has only one sampled unit of "
            f"{self._names['ids'][stage - 1]!r} at stage {stage}, so its within-unit variance "
            "cannot be estimated (R: 'Stratum has only one PSU at stage "
            f"{stage}'). Choose single_psu='certainty', 'remove' or 'adjust', give the stage "
            "an fpc if the unit was sampled completely, or use ultimate_cluster=True",
            above,
            rows1(st.parent == unit),
        )

    def _single_psu_error(self, h: int) -> SinglePSUError:
        return SinglePSUError(
            f"stratum {self._strata_labels[h]!r} has only one PSU, so its sampling variance "
            "cannot be estimated. Choose single_psu='certainty' or 'remove' (no contribution), "
            "'average' (average of the other strata) or 'adjust' (centre at the grand mean), "
            "as R's options(survey.lonely.psu=...), or merge the stratum with a neighbour",
            self._names["strata"],
            rows1(self._strata == h),
        )

    def _domain_degf(self, dom: np.ndarray, K: int, cache: dict | None = None) -> np.ndarray:
        """R's ``degf`` of the design restricted to each domain's rows (``dom == d``), kept in
        ``cache`` when given (a dict owned by whoever owns ``dom``: this design for the whole
        sample, a :class:`DomainView` for its domains)."""
        if cache is not None and ("degf", K) in cache:
            return cache[("degf", K)]
        out = self._domain_degf_uncached(dom, K)
        if cache is not None:
            cache[("degf", K)] = out
        return out

    def _domain_degf_uncached(self, dom: np.ndarray, K: int) -> np.ndarray:
        """#PSUs - #strata among each domain's rows with non-zero weight (R
        ``degf.survey.design2`` of the domain subset), or the replicate rank - 1."""
        if self._rep is not None:
            return np.array([replicate_degf(self, dom == d) for d in range(K)], dtype=float)
        if dom.min() >= 0 and self._w_all_positive() and not self._rows_kept:
            if K == 1:  # every row, every PSU and every stratum is in
                return np.array([float(self._struct.n_psu - (self._struct.n_h > 0).sum())])
            member = slice(None)
            dm = dom
        else:
            member = (dom >= 0) & (self._w != 0)
            dm = dom[member]
        if self._struct.psu_identity:
            npsu = np.bincount(dm, minlength=K)
        else:
            key = self._psu[member] * K + dm
            npsu = np.bincount(np.unique(key) % K, minlength=K)
        H = self._struct.n_strata
        present = np.bincount(self._strata[member] * K + dm, minlength=H * K).reshape(H, K)
        return (npsu - (present > 0).sum(axis=0)).astype(float)

    def _w_all_positive(self) -> bool:
        if "wpos" not in self._cache:
            self._cache["wpos"] = bool(self._w.min() > 0)
        return self._cache["wpos"]

    def _rep_var(self, thetas: np.ndarray, estimate: np.ndarray) -> np.ndarray:
        V, dropped = replicate_variance(
            thetas, estimate, self._rep_scale, self._rep_rscales, self._rep_mse
        )
        if dropped.any() and (dropped < thetas.shape[0]).any():
            warnings.warn(
                f"{int(dropped.max())} replicate(s) gave no estimate (an empty domain in the "
                "replicate) and were discarded, as R does",
                UserWarning,
                stacklevel=4,
            )
        return V

    # ------------------------------------------------------------------ replicate designs

    def replicate(
        self,
        method: str,
        replicates: int | None = None,
        seed: int | None = None,
        fay: float = 0.0,
        mse: bool = False,
        *,
        hadamard: Any = None,
    ) -> SurveyDesign:
        """A replicate-weight version of this design (R's ``as.svrepdesign``).

        Arguments:
            method: R's ``as.svrepdesign(type=)`` names: "jk1" (unstratified delete-one-PSU
                jackknife), "jkn" (stratified jackknife), "bootstrap" (Canty and Davison 1999,
                R ``bootweights``; uses the fpc; "cdbootstrap" is an alias), "subbootstrap"
                (Rao-Wu rescaling bootstrap, R ``subbootweights``; Rao and Wu 1988) or "brr"
                (balanced repeated replication; Fay's method when ``fay > 0``; needs exactly
                two PSUs per stratum). "mrbbootstrap" (Preston 2009, R ``mrbweights``:
                every stage of a multistage design with an fpc at each stage, the first stage
                with its fpc otherwise).
            replicates: number of bootstrap replicates (default 50, R's default); the
                jackknives and BRR fix their own number.
            seed: seed for the bootstrap (numpy Generator); a fresh one is drawn and kept in
                ``_rep_seed`` when None.
            fay: Fay's rho in [0, 1) for "brr".
            mse: centre the replicate variance on the full-sample estimate instead of the
                replicate mean (R's ``mse=``; default False as R's
                ``survey.replicates.mse``).
            hadamard: for "brr", a Hadamard matrix to use instead of the built-in one (R
                ``as.svrepdesign(type="BRR", hadamard.matrix=H)``): square, two distinct
                values (+/-1 or 0/1), orthogonal columns, order at least #strata + 1; one
                replicate per column. Stratum h (in sorted order) takes row h + 2 (R's rows
                2..H+1); an entry equal to ``H[0, 0]`` gives the stratum's first PSU weight rho
                (R's coding). See :func:`methods.design.variance.hadamard_signs`.

        Returns:
            A new design; every estimator then uses the replicate variance.

        Notes:
            Factors and scales follow R's ``jk1weights``, ``jknweights``, ``bootweights``,
            ``subbootweights``, ``mrbweights`` and ``brrweights`` (formulas and references in
            :mod:`methods.design.variance`). The fpc enters JK1, JKn, "bootstrap" and
            "mrbbootstrap" as in R; "subbootstrap" and BRR drop it with a warning. Our BRR
            uses R's ``survey::hadamard(#strata)``, rebuilt by its constructions
            (:mod:`methods.design.hadamard`), so the replicate weights are R's exactly
            (tests/test_design_brr_r.py), except where R builds on its stored order-28
            matrix (24-27, 48-55, 108-111, ... strata): there a Paley matrix of the same
            order gives the same number of replicates and the same variance for linear
            estimators, slightly different ones for nonlinear ones, with a warning; pass
            ``hadamard=`` to fix the half-samples.
        """
        if self._rows_kept:
            raise UsageError(
                "replicate: this design keeps the sample counts of rows it no longer holds "
                "(keep_rows, e.g. the respondents after a non-response adjustment of a "
                "multistage design), which replicate weights cannot carry: make the replicate "
                "design first, then adjust it"
            )
        return make_replicate_design(self, method, replicates, seed, fay, mse, hadamard)

    # ------------------------------------------------------------------ core estimation

    def _estimate(
        self,
        kind: str,
        y: np.ndarray,
        dom: np.ndarray,
        index: pd.Index,
        *,
        x: np.ndarray | None = None,
        ci: str = "normal",
        df: Any = None,
        conf_level: float = 0.95,
        cache: dict | None = None,
        deff: bool | str = True,
    ) -> pd.DataFrame:
        """Estimates for every domain (``dom`` codes, -1 = none) as the output DataFrame;
        ``cache`` holds what depends on ``dom`` alone (see :meth:`_domain_degf`).

        ``attrs["vcov"]`` is the K x K covariance of the estimates (R ``vcov``; for domains
        that of ``svyby(..., covmat=TRUE)``) and, for replicate designs,
        ``attrs["replicates"]`` the R x K replicate estimates (R ``return.replicates=TRUE``),
        which :meth:`contrast` uses."""
        if cache is None and dom is self._cache.get("whole"):
            cache = self._cache.setdefault("whole_c", {})
        if not 0.0 < conf_level < 1.0:
            raise UsageError(f"conf_level must be in (0, 1), got {conf_level}")
        if kind == "proportion" and ci in dci.NOT_IMPLEMENTED:
            raise NotImplementedError(dci.NOT_IMPLEMENTED[ci])
        if kind == "proportion" and ci in dci.TAYLOR_ONLY and self._rep is not None:
            raise NotImplementedError(dci.TAYLOR_ONLY[ci])
        if kind == "proportion" and ci not in dci.CI_METHODS:
            raise UsageError(f"ci must be one of {dci.CI_METHODS}, got {ci!r}")
        replace = _deff_replace(deff)
        K = len(index)
        c = est.usable_codes(dom, y, x)
        base = "mean" if kind == "proportion" else kind
        pr = est.point_estimates(base, y, self._w, c, K, x, self._w_all_positive())
        estimate = pr.estimate.copy()
        th = None
        if self._rep is None:
            V = self._lin_variance(pr.influence, labels=index)
            m = pr.nonzero
        else:
            th = est.replicate_estimates(base, self._rep, y, c, K, x)
            V = self._rep_var(th, estimate)
            m = pr.rows_used
        var = np.diag(V).copy()
        se = np.sqrt(np.maximum(var, 0.0))
        if deff is False:
            deff_v = np.full(K, np.nan)
        else:
            vsrs = est.srs_variance(
                base, y, self._w, pr, m, x, binary=kind == "proportion", replace=replace
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                deff_v = var / vsrs
        attrs: dict[str, Any] = {
            "statistic": kind,
            "variance": self.variance_method,
            "conf_level": conf_level,
            "deff": "replace" if replace else bool(deff),
        }
        if K <= VCOV_MAX:
            attrs["vcov"] = mom.AttrMatrix(V, index, index)
        else:  # a K x K copy in attrs would cost more than the estimate itself
            attrs["vcov_omitted"] = f"{K} domains > {VCOV_MAX}: covariance not kept"
        if th is not None:
            attrs["replicates"] = mom.AttrMatrix(th, None, index)
        if kind == "proportion":
            ddf = self._domain_degf(dom, K, cache)
            lo, hi = self._proportion_ci(ci, estimate, se, th, ddf, dom, pr, y, conf_level)
            attrs.update(ci=ci, df=ddf.tolist())
        else:
            if df is None:
                dfv = np.full(K, np.inf)
            elif isinstance(df, str):
                if df != "design":
                    raise UsageError(f"df must be None, 'design' or a number, got {df!r}")
                dfv = self._domain_degf(dom, K, cache)
            else:
                dfv = np.full(K, float(df))
            lo, hi = dci.wald_interval(estimate, se, dfv, conf_level)
            attrs.update(ci="normal" if df is None else "t", df=dfv.tolist())
        n = pr.n
        one = n == 1
        if one.any():
            # R's svyby keeps the figures of a one-respondent domain: the domain is a
            # subpopulation of the whole design (zero outside it), so its SE is that unit's
            # contribution to the design variance (0 for a mean; Lumley 2010, sec. 2.3.1)
            lab = ", ".join(str(index[i]) for i in np.flatnonzero(one))
            warnings.warn(
                f"domain(s) {lab} have a single respondent: the SE is that unit's contribution "
                "to the whole design's variance (R svyby), not an estimate from the domain",
                UserWarning,
                stacklevel=3,
            )
        small = n == 0
        if small.any():
            lab = ", ".join(str(index[i]) for i in np.flatnonzero(small))
            warnings.warn(
                f"domain(s) {lab} have no respondents: SE and interval set to NaN",
                UserWarning,
                stacklevel=3,
            )
            se, lo, hi, deff_v = (np.where(small, np.nan, a) for a in (se, lo, hi, deff_v))
            estimate = np.where(n == 0, 0.0 if kind == "total" else np.nan, estimate)
        out = pd.DataFrame(
            {
                "estimate": estimate,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "deff": deff_v,
                "n": n.astype(np.int64),
            },
            index=index,
        )
        out.attrs.update(attrs)
        return out

    def _proportion_ci(self, ci, p, se, th, ddf, dom, pr, y, conf_level):
        """Interval for proportions; see :func:`methods.design.ci.proportion_interval`."""
        K = len(p)
        cnt = pr.n
        g = pr.groups
        need_succ = ci == "clopper-pearson" or bool(((p == 0) | (p == 1)).any())
        succ = None
        if need_succ:
            yr, wr = g.take(y), g.take(self._w)
            succ = g.sum(np.where(wr > 0, yr, 0.0))
        se_logit = None
        if ci == "logit":
            with np.errstate(divide="ignore", invalid="ignore"):
                if th is None:
                    se_logit = se / (p * (1.0 - p))
                else:  # svyglm.svyrep.design: replicate SE of logit(p_r)
                    lth = np.log(th / (1.0 - th))
                    lth[~np.isfinite(lth)] = np.nan
                    lp = np.log(p / (1.0 - p))
                    se_logit = np.sqrt(np.diag(self._rep_var(lth, lp)))
        elif ci == "clopper-pearson":
            wpos = self._w[self._w > 0]
            if not (self._struct.psu_identity and np.ptp(wpos) <= 1e-12 * wpos.max()):
                raise UsageError(
                    "ci='clopper-pearson' is for simple random samples (equal weights, no "
                    "clusters); use ci='beta', its design-based form (Korn-Graubard)"
                )
        n_rows = None
        if ci == "beta":  # R's nrow(design) of the domain design
            if (self._calibrations and self._rep is None) or K == 1 and dom.min() >= 0:
                n_rows = np.full(K, float(self.n))  # R keeps every row of a calibrated subset
            else:
                n_rows = np.bincount(dom[dom >= 0], minlength=K).astype(float)
        like = self._likelihood_inputs(p, se, dom, pr, y) if ci == "likelihood" else None
        lo, hi, degenerate = dci.proportion_interval(
            ci, p, se, se_logit, ddf, n_rows, succ, cnt, conf_level, like
        )
        if degenerate.any():
            warnings.warn(
                f"{int(degenerate.sum())} estimate(s) are 0 or 1 (no sampling variance): "
                "Clopper-Pearson bounds on the unweighted n are used (Korn and Graubard 1998)",
                UserWarning,
                stacklevel=4,
            )
        return lo, hi

    def _likelihood_inputs(self, p, se, dom, pr, y):
        """``(b0, se_logit, w_model, info, phi, n_model)`` of
        :func:`methods.design.ci.likelihood_interval`: what R's ``svyglm(y ~ 1, domain
        design, family = quasibinomial)`` fits.

        R's domain design (``svyby``'s ``design[dom == k, ]``) drops the other rows unless the
        design is calibrated (then their weights are zero and they stay); svyglm rescales the
        weights by their mean over the domain design's rows and glm drops rows with a missing
        y. ``phi`` is ``svyvar`` of the Pearson residuals over the domain (``summary.svyglm``),
        which ``residuals.svyglm`` takes with the sampling weights divided out:
        ``(y - mu0) / sqrt(mu0 (1 - mu0))`` (so ``phi = m / (m - 1)`` for a 0/1 column).
        The sandwich variance of b0 (``svy.varcoef``) is that of the mean on the logit scale.
        """
        K = len(p)
        g = pr.groups
        wr, yr, cr = g.take(self._w), g.take(y), g.cr
        inside = dom >= 0
        wsum_rows = np.bincount(dom[inside], weights=self._w[inside], minlength=K)
        if (K == 1 and dom.min() >= 0) or self._calibrations:  # R keeps every row
            rows = np.full(K, float(self.n))
            n_model = np.full(K, float(np.count_nonzero(~np.isnan(y))))
        else:
            rows = np.bincount(dom[inside], minlength=K).astype(float)
            n_model = pr.rows_used.astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            scale = wsum_rows / rows  # mean(1/prob) over the domain design's rows
            b0, info = dci.intercept_logit_fit(yr, wr / scale[cr], cr, K)
            mu0 = 1.0 / (1.0 + np.exp(-b0))
            se_logit = se / (mu0 * (1.0 - mu0))
            w_model = pr.w_sum / scale
            r = (yr - mu0[cr]) / np.sqrt(mu0 * (1.0 - mu0))[cr]
            r1 = g.sum(wr * r) / pr.w_sum
            r2 = g.sum(wr * r * r) / pr.w_sum
            m = pr.nonzero
            phi = m / (m - 1.0) * (r2 - r1 * r1)
        return b0, se_logit, w_model, info, phi, n_model

    # ------------------------------------------------------------------ public estimators

    def _whole(self) -> np.ndarray:
        """Domain codes of the whole sample (all rows in domain 0), cached."""
        if "whole" not in self._cache:
            self._cache["whole"] = readonly(np.zeros(self.n, np.intp))
        return self._cache["whole"]

    def mean(
        self,
        col: str | Sequence[str],
        *,
        df: Any = None,
        conf_level: float = 0.95,
        deff: bool | str = True,
    ) -> pd.DataFrame:
        """Weighted mean (R ``svymean(..., na.rm=TRUE, deff=TRUE)``).

        Arguments:
            col: a numeric column; or several columns, or a factor (string/categorical)
                column, estimated at once with their full covariance (R ``svymean(~a+b)``,
                ``svymean(~factor)``: one 0/1 column per level named ``<col><level>``).
                Missing values are dropped (R's na.rm=TRUE; with several columns a row
                missing any of them is dropped for all, as R).
            df: None (normal quantiles, R's ``confint`` default), "design" (t on the design
                df) or a number.
            conf_level: confidence level.
            deff: True (against simple random sampling without replacement, R's
                ``deff=TRUE``), "replace" (with replacement, R's ``deff="replace"``) or False.

        Returns:
            DataFrame ``estimate, se, ci_low, ci_high, deff, n``, one row per estimate;
            ``attrs["vcov"]`` the covariance matrix (R ``vcov``; an
            :class:`methods.design.moments.AttrMatrix`, ``.frame()`` or
            ``methods.design.moments.vcov(out)`` give the DataFrame), ``attrs["replicates"]``
            the replicate estimates of a replicate design.

        Notes:
            ybar = sum w y / sum w; influence ``w (y - ybar) / sum w`` (Woodruff 1971, JASA
            66:411-414; R ``svymean.survey.design2``). deff = v / v_srswor with
            ``v_srswor = s2 (W - m)/(W m)`` (Kish 1965; R ``deff=TRUE``), NaN when the weights
            do not sum to more than the sample size (R: NA with a warning); ``deff="replace"``
            uses ``s2 / m``.
        """
        if self._single_numeric(col):
            y = numeric_column(self._data, col)
            return self._estimate(
                "mean", y, self._whole(), pd.Index([col]), df=df, conf_level=conf_level, deff=deff
            )
        return self._estimate_many("mean", col, df=df, conf_level=conf_level, deff=deff)

    def total(
        self,
        col: str | Sequence[str],
        *,
        df: Any = None,
        conf_level: float = 0.95,
        deff: bool | str = True,
    ) -> pd.DataFrame:
        """Weighted total (R ``svytotal``); arguments and return as :meth:`mean`.

        Notes:
            Y = sum w y, influence ``w y`` (Horvitz and Thompson 1952, JASA 47:663-685); deff
            denominator ``s2 W^2 (W - m)/(W m)`` (R ``svytotal(deff=TRUE)``; NaN where R
            would give a non-positive figure because W <= m), ``s2 W^2 / m`` for
            ``deff="replace"``.
        """
        if self._single_numeric(col):
            y = numeric_column(self._data, col)
            return self._estimate(
                "total", y, self._whole(), pd.Index([col]), df=df, conf_level=conf_level, deff=deff
            )
        return self._estimate_many("total", col, df=df, conf_level=conf_level, deff=deff)

    def var(
        self, col: str | Sequence[str], *, df: Any = None, conf_level: float = 0.95
    ) -> pd.DataFrame:
        """Population variance (several columns: covariance matrix) with its SE: R ``svyvar``.

        Arguments:
            col: one or several numeric columns (factors expanded as in :meth:`mean`).
            df, conf_level: as :meth:`mean`.

        Returns:
            One row per entry of the k x k matrix, in R's column-major order, indexed
            ``"a:b"`` (just the column name for one column); ``attrs["matrix"]`` the k x k
            estimate, ``attrs["vcov"]`` the covariance of its k^2 entries (both
            :class:`methods.design.moments.AttrMatrix`: ``.frame()`` is the DataFrame).

        Notes:
            ``S = n/(n-1) sum w (y - ybar)(y - ybar)' / sum w`` with n the rows with non-zero
            weight, counted (as R does) before rows with a missing value are dropped (R
            ``svyvar.survey.design``, which is ``svymean`` of the centred products; Lumley
            2010, Complex Surveys, sec. 2.4). Its Taylor variance is that of a mean of the
            products with ybar held fixed, as R; replicate designs use n = the rows kept and
            recompute ybar and S in every replicate (R ``svyvar.svyrep.design``). Domains:
            :meth:`DomainView.var` (R ``svyby(..., svyvar)``).
        """
        return self._estimate_many("var", col, df=df, conf_level=conf_level, deff=False)

    def contrast(
        self,
        result: pd.DataFrame,
        contrasts: Any,
        *,
        gradient: Any = None,
        df: Any = None,
        conf_level: float = 0.95,
    ) -> pd.DataFrame:
        """Linear or nonlinear contrasts of estimates made on this design: R ``svycontrast``.

        Arguments:
            result: the output of an estimator of this design (``mean``, ``total``, ``var``,
                ``ratio``, ``proportion``, their ``by(...)`` forms), which carries
                ``attrs["vcov"]`` (and ``attrs["replicates"]`` for replicate designs).
            contrasts: ``{name: weight}`` or k weights (linear, R ``c(a=1, b=-1)``); a string
                expression over the estimates' names such as ``"log(a) - log(b)"`` or a
                callable ``f(values) -> float`` on a name -> value mapping (nonlinear, R
                ``quote(...)``); or ``{contrast_name: any of those}`` for several at once.
            gradient: for a callable contrast, a callable giving its partial derivatives
                (a mapping name -> value, or k numbers); default: numerical (Richardson).
            df, conf_level: intervals as :meth:`mean` (normal quantiles, as R ``confint``).

        Returns:
            DataFrame ``estimate, se, ci_low, ci_high`` one row per contrast, ``attrs["vcov"]``
            their covariance (R ``vcov``), ``attrs["replicates"]`` for replicate designs.

        Notes:
            Taylor designs: ``C V C'`` (linear) and the delta method ``J V J'`` (nonlinear;
            Lumley 2010, Complex Surveys, sec. 3.4). Replicate designs: a nonlinear contrast is
            computed on every replicate and its replicate variance used, as R does for an
            estimate made with ``return.replicates=TRUE``. See :mod:`methods.design.contrast`.
        """
        V = result.attrs.get("vcov")
        if V is None:
            why = result.attrs.get("vcov_omitted")
            raise UsageError(
                "contrast needs the output of an estimator of this design (attrs['vcov'])"
                + (f"; {why}" if why else "")
            )
        names = [".".join(map(str, k)) if isinstance(k, tuple) else str(k) for k in result.index]
        theta = result["estimate"].to_numpy(dtype=float)
        reps = result.attrs.get("replicates")
        if reps is not None and self._rep is None:
            raise UsageError("result comes from a replicate design, this design is Taylor")
        cs = con.parse_contrasts(contrasts, names, gradient)
        est_c, Vc, rep_c = con.contrast_values(
            cs,
            names,
            theta,
            mom.AttrMatrix.of(V).values,
            None if reps is None else mom.AttrMatrix.of(reps).values,
            None if self._rep is None else self._rep_var,
        )
        se = np.sqrt(np.maximum(np.diag(Vc), 0.0))
        dfv = self._df_vector(df, len(cs))
        lo, hi = dci.wald_interval(est_c, se, dfv, conf_level)
        index = pd.Index([c.name for c in cs])
        out = pd.DataFrame({"estimate": est_c, "se": se, "ci_low": lo, "ci_high": hi}, index=index)
        out.attrs.update(
            statistic="contrast",
            variance=self.variance_method,
            conf_level=conf_level,
            ci="normal" if df is None else "t",
            df=dfv.tolist(),
            vcov=mom.AttrMatrix(Vc, index, index),
        )
        if rep_c is not None:
            out.attrs["replicates"] = mom.AttrMatrix(rep_c, None, index)
        return out

    def quantile(
        self,
        col: str | Sequence[str],
        probs: float | Sequence[float] = 0.5,
        *,
        qrule: str = "math",
        interval_type: str = "mean",
        ci: bool = True,
        conf_level: float = 0.95,
        df: Any = None,
    ) -> pd.DataFrame:
        """Quantiles with confidence intervals: R ``svyquantile`` (survey >= 4.1).

        Arguments:
            col: numeric column (or several); missing values are dropped (R's na.rm=TRUE).
            probs: the probabilities (R's ``quantiles``).
            qrule: "math" (default, the inverse of the weighted CDF), "school", "shahvaish",
                "hf1" ... "hf9" (R's ``qrule``).
            interval_type: "mean" (Woodruff, R's default), "beta", "xlogit", "asin",
                "score" (Taylor designs) or "quantile" (replicate designs: the replicate
                variance of the quantile).
            ci: compute the interval and its se (False: the estimates alone).
            conf_level: confidence level (R's ``1 - alpha``).
            df: degrees of freedom of the t quantiles; default the design's (R's
                ``degf(design)``), ``float("inf")`` for normal quantiles.

        Returns:
            DataFrame ``estimate, se, ci_low, ci_high, n`` indexed by (variable, quantile);
            ``se = (ci_high - ci_low) / (2 t)`` as R.

        Notes:
            See :mod:`methods.design.quantile` for the rules and intervals (Woodruff 1952;
            Francisco and Fuller 1991; Hyndman and Fan 1996; Lumley 2010, sec. 2.4.1).
        """
        cols = [col] if isinstance(col, str) else list(col)
        frames = [
            self._quantile(
                numeric_column(self._data, c),
                self._whole(),
                pd.Index([c]),
                probs,
                qrule=qrule,
                interval_type=interval_type,
                ci=ci,
                conf_level=conf_level,
                df=df,
                cache=self._cache.setdefault("whole_c", {}),
                names=("variable",),
            )
            for c in cols
        ]
        out = pd.concat(frames) if len(frames) > 1 else frames[0]
        out.attrs.update(frames[0].attrs)
        if ci:
            out.attrs["df"] = [d for f in frames for d in f.attrs["df"]]
        return out

    def _quantile(
        self,
        y: np.ndarray,
        dom: np.ndarray,
        index: pd.Index,
        probs: Any,
        *,
        qrule: str,
        interval_type: str,
        ci: bool,
        conf_level: float,
        df: Any,
        cache: dict | None,
        names: Sequence[str],
    ) -> pd.DataFrame:
        """Quantiles of ``y`` in every domain (``dom`` codes) at ``probs``."""
        if not 0.0 < conf_level < 1.0:
            raise UsageError(f"conf_level must be in (0, 1), got {conf_level}")
        p = np.atleast_1d(np.asarray(probs, dtype=float))
        if p.ndim != 1 or ((p < 0) | (p > 1) | np.isnan(p)).any():
            raise UsageError(f"probs must be probabilities in [0, 1], got {probs!r}")
        K = len(index)
        r = dq.design_quantiles(
            self,
            y,
            dom,
            K,
            p,
            rule=qrule,
            interval_type=interval_type,
            ci=ci,
            conf_level=conf_level,
            df=df,
            cache=cache,
        )
        c = est.usable_codes(dom, y)
        n = np.bincount(c[(c >= 0) & (self._w > 0)], minlength=K)
        labels = [(*(k if isinstance(k, tuple) else (k,)), float(q)) for k in index for q in p]
        out = pd.DataFrame(
            {
                "estimate": r["estimate"].reshape(-1),
                "se": r["se"].reshape(-1),
                "ci_low": r["ci_low"].reshape(-1),
                "ci_high": r["ci_high"].reshape(-1),
                "n": np.repeat(n, len(p)).astype(np.int64),
            },
            index=pd.MultiIndex.from_tuples(labels, names=[*names, "quantile"]),
        )
        out.attrs.update(
            statistic="quantile",
            variance=self.variance_method,
            qrule=qrule,
            interval_type=interval_type if ci else None,
            conf_level=conf_level,
            df=r["df"].reshape(-1).tolist() if "df" in r else None,
        )
        return out

    def _domain_var(
        self,
        y: np.ndarray,
        dom: np.ndarray,
        index: pd.Index,
        *,
        df: Any,
        conf_level: float,
        cache: dict | None,
    ) -> pd.DataFrame:
        """Population variance of ``y`` in every domain (R ``svyby(..., svyvar)``): each
        domain's own ``n/(n-1)`` (rows with non-zero weight, R's subset design), mean and
        products; replicate designs recompute the domain mean in every replicate."""
        K = len(index)
        c = est.usable_codes(dom, y)
        cr = np.maximum(c, 0)
        inside = c >= 0
        W = np.bincount(c[inside], weights=self._w[inside], minlength=K)
        Y = np.bincount(
            c[inside], weights=(self._w * np.where(inside, y, 0.0))[inside], minlength=K
        )
        with np.errstate(divide="ignore", invalid="ignore"):
            ybar = Y / W
        dev = np.where(inside, np.where(np.isnan(y), 0.0, y) - ybar[cr], 0.0)
        if self._rep is None:
            n_d = np.bincount(c[inside & (self._w != 0)], minlength=K).astype(float)
            with np.errstate(divide="ignore", invalid="ignore"):
                prod = dev * dev * (n_d / (n_d - 1.0))[cr]
            pr = est.point_estimates("mean", prod, self._w, c, K, None, self._w_all_positive())
            estimate = pr.estimate
            V = self._lin_variance(pr.influence)
        else:
            n_d = np.bincount(c[inside], minlength=K).astype(float)
            s1, sx, sxx = est.replicate_sums(self._rep, c, K, np.ones(self.n), dev, dev * dev)
            with np.errstate(divide="ignore", invalid="ignore"):
                th = ((sxx - sx * sx / s1) / s1 * (n_d / (n_d - 1.0))[:, None]).T
                estimate = (
                    np.bincount(c[inside], weights=(self._w * dev * dev)[inside], minlength=K)
                    / W
                    * n_d
                    / (n_d - 1.0)
                )
            V = self._rep_var(th, estimate)
        se = np.sqrt(np.maximum(np.diag(V), 0.0))
        dfv = (
            self._domain_degf(dom, K, cache)
            if df == "design"
            else np.full(K, np.inf if df is None else float(df))
        )
        lo, hi = dci.wald_interval(estimate, se, dfv, conf_level)
        out = pd.DataFrame(
            {
                "estimate": estimate,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "deff": np.full(K, np.nan),
                "n": np.bincount(c[inside & (self._w > 0)], minlength=K).astype(np.int64),
            },
            index=index,
        )
        out.attrs.update(
            statistic="var",
            variance=self.variance_method,
            conf_level=conf_level,
            ci="normal" if df is None else "t",
            df=dfv.tolist(),
            vcov=mom.AttrMatrix(V, index, index),
        )
        return out

    def _single_numeric(self, col: Any) -> bool:
        if not isinstance(col, str):
            return False
        require_columns(self._data, col)
        c = self._data[col]
        return pd.api.types.is_numeric_dtype(c) or pd.api.types.is_bool_dtype(c)

    def _estimate_many_by(
        self,
        kind: str,
        cols: Any,
        dom: np.ndarray,
        index: pd.Index,
        *,
        df: Any,
        conf_level: float,
        deff: bool | str,
        cache: dict,
    ) -> pd.DataFrame:
        """Domain means or totals of several columns (R ``svyby(~a+b, ~by, design, svymean,
        covmat=TRUE)``): one row per domain, columns ``(statistic, variable)``.

        Each variable's figures are those of the one-column domain estimator on the rows where
        no variable is missing (R's ``na.rm=TRUE`` drops a row missing any of them for all);
        ``attrs["vcov"]`` is the joint covariance of the k x K estimates, variable-major and
        labelled ``"<domain>:<variable>"`` as R's ``vcov(svyby(...))``: from the n x kK
        influence matrix (``svyby.survey.design2``: ``svyrecvar`` of the influence functions)
        or from the replicate estimates (``svrVar``).
        """
        Y, names = mom.design_matrix(self._data, cols)
        keep = ~np.isnan(Y).any(axis=1)
        if not keep.all():
            Y = np.where(keep[:, None], Y, np.nan)
        parts = [
            self._estimate(
                kind,
                Y[:, j],
                dom,
                index,
                df=df,
                conf_level=conf_level,
                cache=cache,
                deff=deff,
            )
            for j in range(len(names))
        ]
        cols_out = pd.MultiIndex.from_product(
            [list(parts[0].columns), names], names=["statistic", "variable"]
        )
        out = pd.DataFrame(
            {(st, v): p_[st].to_numpy() for st in parts[0].columns for v, p_ in zip(names, parts)},
            index=index,
        )
        out.columns = cols_out
        labels = [f"{d}:{v}" for v in names for d in index]
        K, k = len(index), len(names)
        estimate = np.concatenate([p_["estimate"].to_numpy() for p_ in parts])
        attrs: dict[str, Any] = dict(parts[0].attrs)
        attrs.pop("replicates", None)
        attrs["df"] = parts[0].attrs["df"]
        if k * K > VCOV_MAX:
            attrs.pop("vcov", None)
            attrs["vcov_omitted"] = f"{k * K} estimates > {VCOV_MAX}: covariance not kept"
        elif self._rep is None and self.n * k * K > DENSE_INFLUENCE_MAX:
            attrs.pop("vcov", None)
            attrs["vcov_omitted"] = (
                f"the joint covariance needs an n x kK influence matrix ({self.n} x {k * K}, "
                f"> {DENSE_INFLUENCE_MAX} values): not computed; the SEs are"
            )
        elif self._rep is not None:
            th = np.hstack([p_.attrs["replicates"].values for p_ in parts])
            attrs["vcov"] = mom.AttrMatrix(self._rep_var(th, estimate), labels, labels)
            attrs["replicates"] = mom.AttrMatrix(th, None, labels)
        else:
            c = est.usable_codes(dom, Y[:, 0])
            z = np.hstack(
                [
                    est.point_estimates(
                        kind, Y[:, j], self._w, c, K, None, self._w_all_positive()
                    ).influence.dense()
                    for j in range(k)
                ]
            )
            V = self._lin_variance(z, present=None if keep.all() else keep)
            var = np.concatenate([p_["se"].to_numpy() ** 2 for p_ in parts])
            gap = np.abs(np.diag(V) - var)
            bad = gap > 1e-9 * np.maximum(var, 1e-300)
            if bad.any():  # domain-level lonely-PSU rules the joint matrix does not follow
                i = int(np.flatnonzero(bad)[0])
                warnings.warn(
                    f"the joint covariance's variance of {labels[i]} is {np.diag(V)[i]:.6g}, "
                    f"the estimate's {var[i]:.6g} ({int(bad.sum())} differ): the domain "
                    "single-PSU rules apply to the SEs only",
                    UserWarning,
                    stacklevel=3,
                )
            attrs["vcov"] = mom.AttrMatrix(V, labels, labels)
        out.attrs = attrs
        return out

    def _estimate_many(
        self, kind: str, cols: Any, *, df: Any, conf_level: float, deff: bool | str
    ) -> pd.DataFrame:
        """Means, totals or variances of several columns with their full covariance."""
        if not 0.0 < conf_level < 1.0:
            raise UsageError(f"conf_level must be in (0, 1), got {conf_level}")
        replace = _deff_replace(deff)
        Y, names = mom.design_matrix(self._data, cols)
        keep = ~np.isnan(Y).any(axis=1)
        w = np.where(keep, self._w, 0.0)
        k = len(names)
        if kind == "var":
            # R's n: rows of the design with a non-zero weight, counted before rows missing a
            # value are dropped (svyvar.survey.design)
            S, P = mom.var_products(Y, w, float((self._w != 0).sum()))
            estimate = S.reshape(-1, order="F")
            names_out = names if k == 1 else [f"{a}:{b}" for b in names for a in names]
            # influence of a mean of the products (ybar held fixed, as R)
            _, infl = mom.mean_total("mean", P, w)
        else:
            estimate, infl = mom.mean_total(kind, Y, w)
            names_out = names
        index = pd.Index(names_out)
        th = None
        if self._rep is None:
            V = self._lin_variance(infl, present=None if keep.all() else keep, labels=index)
            m = float((w != 0).sum())
        else:
            rows = np.flatnonzero(keep)
            rep, Yk = self._rep[rows], Y[rows]
            if kind == "var":
                th = mom.replicate_var(rep, Yk)
                # the full-sample figure of svyvar.svyrep.design: n = rows kept
                estimate = mom.replicate_var(self._w[rows][:, None], Yk)[0]
            else:
                th = mom.replicate_mean_total(kind, rep, Yk)
            V = self._rep_var(th, estimate)
            m = float(keep.sum())
        var = np.diag(V).copy()
        se = np.sqrt(np.maximum(var, 0.0))
        deff_v = np.full(len(estimate), np.nan)
        if kind != "var" and deff is not False:
            # svyvar(x) on the rows used, the reference of R's deff
            n_used = m
            Y0 = np.where(w[:, None] != 0, Y, 0.0)
            W = w.sum()
            ybar = (w @ Y0) / W
            s2 = (w @ (Y0 - ybar) ** 2) / W * n_used / (n_used - 1.0)
            fpc = 1.0 if replace else (W - n_used) / W
            vsrs = s2 * fpc / n_used * (W * W if kind == "total" else 1.0)
            if not replace and W <= n_used:
                vsrs = np.full(k, np.nan)
            with np.errstate(divide="ignore", invalid="ignore"):
                deff_v = var / vsrs
        dfv = self._df_vector(df, len(estimate))
        lo, hi = dci.wald_interval(estimate, se, dfv, conf_level)
        out = pd.DataFrame(
            {
                "estimate": estimate,
                "se": se,
                "ci_low": lo,
                "ci_high": hi,
                "deff": deff_v,
                "n": np.full(len(estimate), int(((w > 0) if self._rep is None else keep).sum())),
            },
            index=index,
        )
        out.attrs.update(
            statistic=kind,
            variance=self.variance_method,
            conf_level=conf_level,
            deff="replace" if replace else bool(deff),
            ci="normal" if df is None else "t",
            df=dfv.tolist(),
            vcov=mom.AttrMatrix(V, index, index),
        )
        if kind == "var":
            out.attrs["matrix"] = mom.AttrMatrix(
                S if self._rep is None else estimate.reshape(k, k, order="F"), names, names
            )
        if th is not None:
            out.attrs["replicates"] = mom.AttrMatrix(th, None, index)
        return out

    def _df_vector(self, df: Any, K: int) -> np.ndarray:
        """Degrees of freedom for Wald intervals of whole-sample estimates."""
        if df is None:
            return np.full(K, np.inf)
        if isinstance(df, str):
            if df != "design":
                raise UsageError(f"df must be None, 'design' or a number, got {df!r}")
            return np.full(K, self.degf)
        return np.full(K, float(df))

    def ratio(
        self,
        num: str,
        den: str,
        *,
        df: Any = None,
        conf_level: float = 0.95,
        deff: bool | str = True,
    ) -> pd.DataFrame:
        """Ratio of two totals (R ``svyratio``); rows missing either value are dropped.

        Notes:
            R = Y / X; influence ``w (y - R x) / X`` (Cochran 1977, Sampling Techniques,
            sec. 6.4; R ``svyratio.survey.design2``). deff as R: that of ``svytotal`` of
            ``(y - R x)/X`` (``deff="replace"`` likewise).
        """
        y, x = numeric_column(self._data, num), numeric_column(self._data, den)
        return self._estimate(
            "ratio",
            y,
            self._whole(),
            pd.Index([f"{num}/{den}"]),
            x=x,
            df=df,
            conf_level=conf_level,
            deff=deff,
        )

    def proportion(
        self, col: str, ci: str = "logit", level: Any = None, *, conf_level: float = 0.95
    ) -> pd.DataFrame:
        """Proportion with a design-based interval (R ``svyciprop``).

        Arguments:
            col: 0/1 or boolean column, or a categorical/coded column with ``level=``.
            ci: "logit" (default), "beta" (Korn-Graubard), "xlogit", "asin", "mean" (as R's
                ``svyciprop`` methods), "wilson" (effective sample size) or "clopper-pearson"
                (simple random samples only) or "likelihood" (R's profile-likelihood interval;
                Taylor designs only, as R gives NA for replicate designs: NotImplementedError);
                see :mod:`methods.design.ci`.
            level: the category whose proportion is wanted.
            conf_level: confidence level.

        Returns:
            One-row DataFrame; ``se`` and ``deff`` are those of ``svymean`` of the indicator;
            ``attrs["df"]`` the design degrees of freedom used.

        Notes:
            Intervals use t quantiles on the design degrees of freedom, as ``svyciprop`` does.
            Under linearisation the logit SE is ``se / (p (1 - p))`` (the intercept-only
            ``svyglm`` sandwich); for replicate designs it is the replicate SE of logit(p_r),
            as ``svyglm.svyrep.design``.
        """
        y = binary_column(self._data, col, level)
        name = col if level is None else f"{col}=={level}"
        return self._estimate(
            "proportion", y, self._whole(), pd.Index([name]), ci=ci, conf_level=conf_level
        )

    def by(self, col: str | Sequence[str]) -> DomainView:
        """Domain estimation by the levels of ``col`` (or several columns): R's ``svyby``.

        The whole design is kept (rows outside a domain are zeroed out, never dropped).
        Categorical columns give one row per category, used or not; otherwise the observed
        values, sorted; several columns give their observed combinations.
        """
        return DomainView(self, col)

    def compare(
        self,
        col: str,
        by: str,
        a: Any,
        b: Any,
        *,
        level: Any = None,
        conf_level: float = 0.95,
    ) -> pd.DataFrame:
        """Difference between the means (or proportions) of domains ``a`` and ``b``.

        Arguments:
            col: numeric, 0/1 or boolean column (or categorical with ``level=``).
            by: domain column; a, b: two of its levels.
            level: category of ``col`` whose proportion is compared.
            conf_level: confidence level.

        Returns:
            One-row DataFrame: ``estimate`` (a - b), ``se``, ``ci_low``, ``ci_high``,
            ``statistic`` (t), ``df``, ``p_value``, ``estimate_a``, ``estimate_b``, ``n_a``,
            ``n_b``.

        Notes:
            The variance comes from the joint influence ``z_a - z_b`` of the two domain means,
            so the covariance of domains sharing strata and PSUs is included (Lumley 2010,
            Complex Surveys, sec. 2.3; R ``svycontrast`` of ``svyratio(covmat=TRUE)``); for
            replicate designs from the replicate differences. t statistic, df = degf of the
            two-domain design - 1, p-value and interval as R's
            ``svyttest(y ~ group, subset(design, by %in% c(a, b)))``.
        """
        require_columns(self._data, col)
        column = self._data[col]
        numeric = pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column)
        if level is None and numeric:
            y = numeric_column(self._data, col)
        else:
            y = binary_column(self._data, col, level)
        codes, labels = DomainView(self, by)._codes, DomainView(self, by)._index
        ia, ib = level_index(labels, a, by), level_index(labels, b, by)
        dom = np.where(codes == ia, 0, np.where(codes == ib, 1, -1))
        c = est.usable_codes(dom, y)
        pr = est.point_estimates("mean", y, self._w, c, 2, None, self._w_all_positive())
        diff = pr.estimate[0] - pr.estimate[1]
        joint = np.where(c >= 0, 0, -1)
        if self._rep is None:
            sign = np.where(c == 0, 1.0, -1.0)
            z = DomainInfluence(pr.influence.values * sign, joint, 1)
            var = float(self._lin_variance(z)[0, 0])
        else:
            th = est.replicate_estimates("mean", self._rep, y, c, 2)
            var = float(self._rep_var(th[:, [0]] - th[:, [1]], np.array([diff]))[0, 0])
        se = float(np.sqrt(max(var, 0.0)))
        ddf = float(self._domain_degf(joint, 1)[0]) - 1.0
        q = float(dci.t_quantile(1.0 - (1.0 - conf_level) / 2.0, ddf))
        with np.errstate(divide="ignore", invalid="ignore"):
            tstat = diff / se
        p_value = float(2.0 * stats.t.sf(abs(tstat), ddf)) if ddf > 0 else np.nan
        if (pr.n <= 1).any():
            warnings.warn(
                "a compared domain has fewer than two respondents: SE set to NaN",
                UserWarning,
                stacklevel=2,
            )
            se = tstat = p_value = np.nan
        out = pd.DataFrame(
            {
                "estimate": [diff],
                "se": [se],
                "ci_low": [diff - q * se],
                "ci_high": [diff + q * se],
                "statistic": [tstat],
                "df": [ddf],
                "p_value": [p_value],
                "estimate_a": [pr.estimate[0]],
                "estimate_b": [pr.estimate[1]],
                "n_a": [int(pr.n[0])],
                "n_b": [int(pr.n[1])],
            },
            index=pd.Index([f"{a} - {b}"], name=by),
        )
        out.attrs.update(
            statistic="difference", variance=self.variance_method, ci="t", conf_level=conf_level
        )
        return out
