"""Multistage designs: the later sampling stages of a :class:`methods.design.survey.SurveyDesign`.

R's ``svydesign(ids=~psu+ssu, fpc=~N1+N2)`` records, for every stage, the unit each row belongs
to, the number of units sampled in its stratum (stage 1) or in the unit above (later stages)
and their population count. Its Taylor variance (``survey:::svyrecvar`` -> ``multistage``) is
the recursive formula of two-stage sampling without replacement::

    V = V_1 + sum_i (n_h / N_h) V_2i        (and so on down the stages)

where ``V_1`` is the stratified between-PSU variance of the PSU totals (with the stage-1 fpc),
``V_2i`` the variance of the SSU totals within PSU i (the PSU is the stratum of stage 2, with
its own fpc ``(N_i - n_i) / N_i``), and ``n_h / N_h`` the stage-1 sampling fraction of PSU i's
stratum (Särndal, Swensson & Wretman 1992, Model Assisted Survey Sampling, ch. 4.3, result
4.3.1 and eq. 4.3.24 for the estimator; Wolter 2007, Introduction to Variance Estimation, 2nd
ed., sec. 1.4 and 2.4; Cochran 1977, Sampling Techniques, sec. 10.2). Without a stage-1 fpc the
fraction is 0 and the later stages contribute nothing: the with-replacement, "ultimate
cluster" variance (R ``options(survey.ultimate.cluster=TRUE)`` gives that always).

Everything is written over integer codes with ``np.bincount``: a stage with ``U`` units costs
one pass over the rows and a few over the units, with no Python loop over PSUs. The variance of
each later stage is :func:`methods.design.variance.taylor_variance` with the units of the stage
above as strata and the fractions above as per-stratum weights.

Validation is strict where R is lenient, and says so:

* R always nests a later stage's labels within the earlier ones (``interaction``); here an SSU
  label that appears under two PSUs is refused unless ``nest=True`` (which relabels as R), so a
  mistyped PSU code cannot silently create a new unit.
* R only warns when the fpc varies within a stratum (stage 1) or within a PSU (stage 2); here
  it is an error naming the column, the stage and the rows.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from methods.core.errors import ValidationError
from methods.design.columns import (
    fpc_values,
    group_value,
    readonly,
    rows1,
    unit_codes,
)
from methods.design.variance import (
    DomainInfluence,
    SinglePSUStratum,
    Structure,
    taylor_variance,
)


class LonelyUnit(Exception):
    """Internal signal: unit ``unit`` of stage ``stage - 1`` holds one sampled unit of ``stage``
    and ``single_psu="error"`` (R: "Stratum (...) has only one PSU at stage 2")."""

    def __init__(self, stage: int, unit: int):
        super().__init__(stage, unit)
        self.stage = stage
        self.unit = unit


@dataclass(frozen=True)
class Stage:
    """One later stage (2, 3, ...) of a multistage design.

    Attributes:
        number: the stage (2 for SSUs).
        units: global integer code of each row's unit at this stage (length n), unique across
            the units of the stage above (nested).
        parent: code of each row's unit at the stage above (length n).
        structure: the stage seen as a stratified design: strata = units of the stage above
            (``psu_stratum`` = parent of each unit, ``n_h`` = units sampled per parent, ``f_h`` =
            ``(N - n) / N`` from this stage's fpc, 1 without it).
        weight: per parent unit, the product of the sampling fractions ``n / N`` of all the
            stages above (0 when a stage above has no fpc): R's ``nPSUs[,1] / fpcs[,1]``
            factors of the recursion.
        parent_popsize: per parent unit, this stage's population count N (inf without fpc).
        recursed: R's recursion reaches this stage (the design has an fpc: ``multistage``'s
            ``!is.null(fpcs)``). Then a unit's NA term (lonely under "average") or "fail"
            counts even where the weight above is 0 (a stage-1 fraction of 0: R multiplies
            NA by 0, which stays NA, and fails before multiplying).

    The per-row figures of R's ``as.fpc`` (``popsize``, ``sampsize``) are properties, read
    out of the per-parent ones when asked for (the variance never needs them per row).
    """

    number: int
    units: np.ndarray
    parent: np.ndarray
    structure: Structure
    weight: np.ndarray
    parent_popsize: np.ndarray
    recursed: bool = True

    @property
    def popsize(self) -> np.ndarray:
        """Per row, this stage's population count N (inf without fpc)."""
        return self.parent_popsize[self.parent]

    @property
    def sampsize(self) -> np.ndarray:
        """Per row, the number of units sampled at this stage in the row's parent."""
        return self.structure.n_h.astype(float)[self.parent]


def nested_codes(
    data: pd.DataFrame, name: str, parent: np.ndarray, parent_name: str, nest: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Integer codes of the units of column ``name``, nested within the ``parent`` codes.

    Arguments:
        data: the sample.
        name: the column of this stage's unit labels.
        parent: integer code of each row's unit at the stage above (unique across strata).
        parent_name: that stage's column (for the message).
        nest: labels are only unique within the parent (R ``nest=TRUE``): relabel.

    Returns:
        (codes 0..U-1 per row, ordered by parent, then label; the parent code of each unit).

    Raises:
        ValidationError: a missing label; without ``nest``, a label under two parents (the
            column, the rule and the rows of the first such label are named).
    """
    col = data[name]
    bad = col.isna().to_numpy()
    if bad.any():
        raise ValidationError(f"stage unit ({name}) must not be missing", name, rows1(bad))
    codes, up, shared = unit_codes(col, parent, int(parent.max()) + 1, nest)
    if shared is not None:
        first = int(np.flatnonzero(shared)[0])
        label = col.iloc[first]
        label = label.item() if isinstance(label, np.generic) else label  # 11, not np.int64(11)
        raise ValidationError(
            f"units of {name!r} are not nested in {parent_name!r}: the label "
            f"{label!r} appears under more than one {parent_name} (first "
            f"offending row {first + 1}); if {name} labels are only unique within "
            f"{parent_name} pass nest=True (R's svydesign nests them)",
            name,
            rows1((col == col.iloc[first]).to_numpy()),
        )
    return codes, up


def group_sizes(unit_groups: Sequence[np.ndarray], n_groups: Sequence[int]) -> list[np.ndarray]:
    """Per stage, the number of units sampled in each group (stratum at stage 1, unit of the
    stage above later): R ``as.fpc``'s sampsize, one value per group."""
    return [np.bincount(u, minlength=g) for u, g in zip(unit_groups, n_groups, strict=True)]


def stage_popsizes(
    data: pd.DataFrame,
    fpc: Sequence[str],
    groups: Sequence[np.ndarray],
    sizes: Sequence[np.ndarray],
    group_names: Sequence[str],
    group_labels: Sequence[np.ndarray | None],
) -> list[np.ndarray]:
    """R's ``as.fpc`` for several stages: per-stage population counts N, one per group.

    Arguments:
        data: the sample.
        fpc: fpc column of stage 1, 2, ... (may be fewer than the stages: the rest are
            with replacement, with a warning as R).
        groups: per row, the "stratum" of each stage: stage-1 strata codes, then the units of
            the stage above (R: ``strata[, i] <- interaction(strata, ids[, i - 1])``).
        sizes: per stage, units sampled per group (:func:`group_sizes`).
        group_names: what a group is called in messages ("stratum", "PSU (dnum)", ...).
        group_labels: labels of stage-1 strata (or None to use codes) for messages.

    Returns:
        Per stage, the population count N of each group (inf: fraction 0 or no fpc).

    Notes:
        R's rule over all fpc columns at once: if any value exceeds 1 all are counts (each must
        be >= 1), otherwise all are sampling fractions n/N (fraction 0 = infinite population);
        all equal to 1 is ambiguous and refused (as R). N < n is refused ("FPC implies >100%
        sampling"), and so, unlike R (which only warns), is an fpc that varies within a stage's
        stratum (stage 1) or unit above (later stages). The checks run per group; only an
        error goes back to the rows.
    """
    S = len(groups)
    vals = [fpc_values(data, name) for name in fpc]
    is_count = any(bool((f > 1).any()) for f in vals)
    for name, f in zip(fpc, vals, strict=True):
        if is_count and not (f >= 1).all():
            raise ValidationError(
                "fpc mixes population counts (> 1) and sampling fractions (< 1) across the "
                "stages (R: 'Must have all fpc>=1 or all fpc<=1'); use one or the other",
                name,
                rows1(f < 1),
            )
    if not is_count and all(bool((f >= 1).all()) for f in vals):
        raise ValidationError(
            "fpc is 1 everywhere: ambiguous (count or fraction), and R refuses it too; give "
            "population sizes or sampling fractions",
            fpc[0],
        )
    if len(fpc) < S:
        warnings.warn(
            f"stages {list(range(len(fpc) + 1, S + 1))} have no fpc: treated as sampled with "
            "replacement (as R)",
            UserWarning,
            stacklevel=4,
        )
    popsize = []
    for s in range(S):
        n_g = sizes[s]
        if s >= len(fpc):
            popsize.append(np.full(n_g.shape[0], np.inf))
            continue
        name, g = fpc[s], groups[s]
        f_g, h = group_value(g, vals[s], n_g.shape[0])
        if h is not None:
            labels = group_labels[s]
            what = f"{group_names[s]} {labels[h]!r}" if labels is not None else group_names[s]
            rows = rows1(g == h)
            raise ValidationError(
                f"fpc of stage {s + 1} varies within {what} (first offending row {rows[0]}); "
                "give one population size (or fraction) per "
                f"{group_names[s].split(' ')[0]}",
                name,
                rows,
            )
        if is_count:
            N = f_g
        else:
            with np.errstate(divide="ignore", invalid="ignore"):
                N = np.where(f_g > 0, n_g / np.where(f_g > 0, f_g, 1.0), np.inf)
        too_small = N < n_g * (1 - 1e-9)
        if too_small.any():
            rows = too_small[g]
            i = int(np.flatnonzero(rows)[0])
            raise ValidationError(
                f"fpc of stage {s + 1} implies more than 100% sampling (first offending row "
                f"{i + 1}: population {N[g[i]]:g} < {int(n_g[g[i]])} units sampled)",
                name,
                rows1(rows),
            )
        popsize.append(N)
    return popsize


def build_stages(
    codes: Sequence[np.ndarray],
    unit_groups: Sequence[np.ndarray],
    sizes: Sequence[np.ndarray],
    popsize: Sequence[np.ndarray] | None,
) -> tuple[Stage, ...]:
    """The later stages (2, 3, ...) with their structures and recursion weights.

    Arguments:
        codes: per row, the unit codes of stage 1, 2, ... (stage 1 = the PSU codes, unique
            across strata).
        unit_groups: per stage, the group of each unit (stratum of each PSU, PSU of each
            SSU, ...), from :func:`methods.design.columns.unit_codes`.
        sizes: per stage, units sampled per group (:func:`group_sizes`).
        popsize: per stage, N per group (:func:`stage_popsizes`); None without any fpc (then
            every weight is 0, as R skips the recursion).

    Notes:
        Everything is per unit: the weight of unit u of stage s - 1 (the stratum of stage s) is
        the weight of its group times that group's fraction n / N (0 where N is infinite).
    """
    out = []
    n = codes[0].shape[0]
    # per group of the current stage: product of n/N of the stages above (1 at stage 1)
    w_group = np.ones(sizes[0].shape[0])
    if popsize is None:
        w_group = np.zeros_like(w_group)
    for s in range(1, len(codes)):
        up = unit_groups[s - 1]
        if popsize is not None:
            N, m = popsize[s - 1], sizes[s - 1]
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(np.isinf(N), 0.0, m / N)
            w_group = w_group * frac
        weight = w_group[up]  # per unit of stage s (the strata of this stage)
        parent, units = codes[s - 1], codes[s]
        n_h = sizes[s]
        if popsize is None:
            f_h = np.ones(n_h.shape[0])
        else:
            Nh = popsize[s]
            with np.errstate(invalid="ignore", divide="ignore"):
                f_h = np.where(np.isinf(Nh), 1.0, (Nh - n_h) / Nh)
        U = unit_groups[s].shape[0]
        identity = U == n and np.array_equal(units, np.arange(n))
        out.append(
            Stage(
                number=s + 1,
                units=units,
                parent=parent,
                structure=Structure(unit_groups[s], n_h, f_h, identity),
                weight=readonly(weight),
                parent_popsize=readonly(
                    np.full(n_h.shape[0], np.inf) if popsize is None else popsize[s]
                ),
                recursed=popsize is not None,
            )
        )
        w_group = weight
    return tuple(out)


def default_weights(
    popsize: Sequence[np.ndarray],
    sizes: Sequence[np.ndarray],
    unit_groups: Sequence[np.ndarray],
    groups: Sequence[np.ndarray],
) -> np.ndarray:
    """``prod_s N_s / n_s`` per row: R ``weights.survey_fpc(final=TRUE)`` when no weights are
    given. Raises ValidationError where a stage has no (finite) population count.

    Notes:
        The product is taken per group down the stages (a PSU's factor times its stratum's)
        and read out per row once; the order of the operations, and so every bit of the
        result, is that of the per-row product."""
    w = np.ones(1)
    for s, (N, m) in enumerate(zip(popsize, sizes, strict=True)):
        bad = ~np.isfinite(N) | (N > 1e12)
        if bad.any():
            raise ValidationError(
                f"weights not supplied and stage {s + 1} has no finite population count to "
                "compute them from (R: 'Weights not supplied and can't be computed from "
                "fpc'); pass weights=",
                None,
                rows1(bad[groups[s]]),
            )
        # w per group of stage s: the factor of its parent group times N / n
        w = (w[unit_groups[s - 1]] if s else np.ones(N.shape[0])) * N / m
    return readonly(w[groups[-1]])


def later_stage_variance(
    z: np.ndarray | DomainInfluence,
    stages: Sequence[Stage],
    single_psu: str,
    present: np.ndarray | None = None,
    adjust_domain_lonely: bool = False,
    names: Sequence[str] | None = None,
    labels: Sequence | None = None,
) -> np.ndarray | None:
    """``sum_s sum_u weight_u V_s(u)``: the within-unit variance of stages 2, 3, ... (R's
    ``multistage`` recursion), or None when no stage contributes (no stage-1 fpc).

    Arguments:
        z: n x k influence values (dense, already calibrated) or a :class:`DomainInfluence`.
        stages: from :func:`build_stages`.
        single_psu: as :func:`methods.design.variance.taylor_variance`; applied within each
            unit of the stage above, as R's per-unit ``onestage`` calls do: a unit holding one
            sampled subunit (and not sampled completely) contributes 0 under "certainty" and
            "remove", its subunit's squared total under "adjust" (R 4.1 centres it at 0), NaN
            under "average" (R's ``onestage`` divides by 0 usable strata), and raises under
            "error" (R "fail").
        present: rows present (dense z only), as ``taylor_variance``.
        adjust_domain_lonely: R's ``survey.adjust.domain.lonely``. Under "adjust", a unit
            with two or more sampled subunits of which the domain holds one is not centred
            (as at stage 1). Under "average" R's ``onestrat`` sets that unit's scale to NA, so
            ``onestage`` over the unit's single stratum has no usable stratum and returns
            ``0 * 1/0 = NaN``, which the recursion carries into the whole variance: the
            estimates of such domains get a NaN variance (and covariances), with a warning
            (R warns "Stratum (...) has only one PSU at stage 2" and prints NaN SEs). Other
            modes are unchanged, as R.
        names: the ``ids`` columns (stage 1, 2, ...), for the warning.
        labels: the labels of the k columns of ``z`` (domains), for the warning.

    Raises:
        LonelyUnit: a present unit of the stage above has one subunit, ``single_psu="error"``.
    """
    V = None
    for st in stages:
        if not st.recursed:
            continue
        mode = single_psu
        if single_psu in ("average", "error"):
            mode = "remove"
        s = st.structure
        # NA * 0 is NA in R, and "fail" stops before the weight: no weight condition
        lonely = (s.n_h == 1) & (s.f_h >= 1e-7)
        hit_cols = None
        if lonely.any() and single_psu in ("average", "error"):
            hit_cols, first = _lonely_present(z, st, lonely, present)
            if hit_cols.any() and single_psu == "error":
                raise LonelyUnit(st.number, first)
            if hit_cols.any():
                _warn_lonely_average(st.number, int(lonely.sum()), hit_cols, names, labels)
        if adjust_domain_lonely and single_psu == "average":
            dl_cols, cells = _domain_lonely_units(z, st, present)
            if dl_cols.any():
                _warn_domain_lonely(st.number, cells, dl_cols, names, labels)
                hit_cols = dl_cols if hit_cols is None else hit_cols | dl_cols
        try:
            Vs = taylor_variance(
                z,
                st.parent,
                st.units,
                s,
                mode,
                present,
                adjust_domain_lonely=adjust_domain_lonely and single_psu == "adjust",
                stratum_weight=st.weight,
            )
        except SinglePSUStratum as exc:  # not reached: mode is never "error" here
            raise LonelyUnit(st.number, exc.stratum) from None
        if hit_cols is not None and hit_cols.any():
            Vs = np.array(Vs, dtype=float)
            Vs[hit_cols, :] = np.nan
            Vs[:, hit_cols] = np.nan
        V = Vs if V is None else V + Vs
    return V


def _domain_lonely_units(z, st: Stage, present) -> tuple[np.ndarray, np.ndarray]:
    """R ``onestrat``'s ``nsubset == 1 && nPSU > 1`` at a later stage: per column of ``z``,
    whether some unit of the stage above (sampled with two or more subunits, not completely;
    whatever its recursion weight, as R's NA * 0 is NA) holds exactly one subunit among the
    column's rows; and
    the number of such units per column.

    For a :class:`DomainInfluence` a column's rows are its domain's rows; for a dense ``z``
    every column has the ``present`` rows (all rows: never, as every unit then holds its
    n_h subunits)."""
    s = st.structure
    U, Pp = s.n_psu, s.n_strata
    can = (s.n_h >= 2) & (s.f_h >= 1e-7)
    if isinstance(z, DomainInfluence):
        k = z.k
        inrow = z.column >= 0
        has = np.bincount(st.units[inrow] * k + z.column[inrow], minlength=U * k)
        has = (has > 0).reshape(U, k)
        nsub = np.empty((Pp, k))
        for j in range(k):
            nsub[:, j] = np.bincount(s.psu_stratum, weights=has[:, j], minlength=Pp)
        cells = ((nsub == 1) & can[:, None]).sum(axis=0)
        return cells > 0, cells
    k = 1 if np.ndim(z) == 1 else np.shape(z)[1]
    if present is None:
        return np.zeros(k, bool), np.zeros(k, np.intp)
    rows = np.asarray(present, bool)
    has = np.bincount(st.units[rows], minlength=U) > 0
    nsub = np.bincount(s.psu_stratum, weights=has, minlength=Pp)
    cells = int(((nsub == 1) & can).sum())
    return np.full(k, cells > 0), np.full(k, cells)


def _stage_names(stage, names) -> tuple[str, str]:
    above = f"{names[stage - 2]!r}" if names else f"stage {stage - 1}"
    below = f"{names[stage - 1]!r}" if names else f"stage {stage}"
    return above, below


def _which(idx, cols, labels, extra) -> str:
    """The first 20 estimates ``idx`` by label (``#k`` without labels), each with ``extra(j)``."""
    named = labels is not None and len(labels) == cols.shape[0]
    return ", ".join(f"{labels[j] if named else f'#{j + 1}'!s}{extra(j)}" for j in idx[:20])


def _warn_lonely_average(stage, units, cols, names, labels) -> None:
    """Say that ``single_psu="average"`` gave NaN because a unit holds one sampled subunit."""
    idx = np.flatnonzero(cols)
    which = _which(idx, cols, labels, lambda j: "")
    above, below = _stage_names(stage, names)
    warnings.warn(
        f"variance set to NaN for {len(idx)} estimate(s) ({which}): {units} unit(s) of "
        f"{above} (stage {stage - 1}) hold only one sampled unit of {below} (stage {stage}) "
        "and were not sampled completely. single_psu='average' averages over the other "
        "strata of a stage, and within such a unit there is none: R's survey:::onestage "
        "gives NaN too (even where the stage above has a sampling fraction of 0); use "
        "single_psu='certainty', 'remove' or 'adjust', or ultimate_cluster=True",
        UserWarning,
        stacklevel=6,
    )


def _warn_domain_lonely(stage, cells, cols, names, labels) -> None:
    """Say which estimates got a NaN variance, from how many units, and why (R's rule)."""
    idx = np.flatnonzero(cols)
    which = _which(idx, cols, labels, lambda j: f" ({int(cells[j])})")
    above, below = _stage_names(stage, names)
    warnings.warn(
        f"variance set to NaN for {len(idx)} estimate(s): in each, some units of {above} "
        f"(stage {stage - 1}) sampled with two or more units of {below} hold only one of "
        f"them (estimate (units): {which}). With single_psu='average' and "
        "adjust_domain_lonely=True R's survey:::onestrat makes such a unit's term NA and "
        "onestage has no other stratum to average over, so R's SE is NaN too; use "
        "single_psu='adjust', adjust_domain_lonely=False or ultimate_cluster=True for a "
        "figure",
        UserWarning,
        stacklevel=6,
    )


def _lonely_present(z, st: Stage, lonely: np.ndarray, present):
    """Columns of ``z`` in which a lonely unit has a row, and the first such unit's code."""
    if isinstance(z, DomainInfluence):
        inrow = z.column >= 0
        cell = st.parent[inrow] * z.k + z.column[inrow]
        has = np.bincount(cell, minlength=lonely.shape[0] * z.k).reshape(-1, z.k) > 0
        hit = has & lonely[:, None]
        units = np.flatnonzero(hit.any(axis=1))
        return hit.any(axis=0), int(units[0]) if units.size else -1
    k = 1 if np.ndim(z) == 1 else np.shape(z)[1]
    rows = np.ones(st.parent.shape[0], bool) if present is None else np.asarray(present, bool)
    has = np.bincount(st.parent[rows], minlength=lonely.shape[0]) > 0
    units = np.flatnonzero(has & lonely)
    return np.full(k, units.size > 0), int(units[0]) if units.size else -1
