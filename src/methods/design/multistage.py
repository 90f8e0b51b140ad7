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
from methods.design.columns import first_varying, fpc_values, readonly, rows1
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
        popsize: per row, this stage's population count N (inf without fpc).
        sampsize: per row, the number of units sampled at this stage in the row's parent.
    """

    number: int
    units: np.ndarray
    parent: np.ndarray
    structure: Structure
    weight: np.ndarray
    popsize: np.ndarray
    sampsize: np.ndarray


def nested_codes(
    data: pd.DataFrame, name: str, parent: np.ndarray, parent_name: str, nest: bool
) -> np.ndarray:
    """Integer codes of the units of column ``name``, nested within the ``parent`` codes.

    Arguments:
        data: the sample.
        name: the column of this stage's unit labels.
        parent: integer code of each row's unit at the stage above (unique across strata).
        parent_name: that stage's column (for the message).
        nest: labels are only unique within the parent (R ``nest=TRUE``): relabel.

    Returns:
        Codes 0..U-1, ordered by parent, then label.

    Raises:
        ValidationError: a missing label; without ``nest``, a label under two parents (the
            column, the rule and the rows of the first such label are named).
    """
    col = data[name]
    bad = col.isna().to_numpy()
    if bad.any():
        raise ValidationError(f"stage unit ({name}) must not be missing", name, rows1(bad))
    raw, _ = pd.factorize(col, sort=True)
    m = int(raw.max()) + 1
    ukey, inv = np.unique(parent.astype(np.int64) * m + raw, return_inverse=True)
    if not nest:
        per_label = np.bincount(ukey % m, minlength=m)
        if (per_label > 1).any():
            first = np.flatnonzero(np.isin(raw, np.flatnonzero(per_label > 1)))[0]
            shared = raw == raw[first]
            raise ValidationError(
                f"units of {name!r} are not nested in {parent_name!r}: the label "
                f"{col.iloc[first]!r} appears under more than one {parent_name} (first "
                f"offending row {first + 1}); if {name} labels are only unique within "
                f"{parent_name} pass nest=True (R's svydesign nests them)",
                name,
                rows1(shared),
            )
    return inv.astype(np.intp).reshape(-1)


def _count_within(units: np.ndarray, parent: np.ndarray, n_parent: int) -> np.ndarray:
    """Per row: the number of distinct ``units`` in the row's ``parent`` (R ``as.fpc`` sampsize)."""
    U = int(units.max()) + 1
    up = np.zeros(U, np.intp)
    up[units] = parent
    n_per_parent = np.bincount(up, minlength=n_parent)
    return n_per_parent[parent].astype(float)


def stage_popsizes(
    data: pd.DataFrame,
    fpc: Sequence[str],
    codes: Sequence[np.ndarray],
    groups: Sequence[np.ndarray],
    group_names: Sequence[str],
    group_labels: Sequence[np.ndarray | None],
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """R's ``as.fpc`` for several stages: per-stage population counts N and sample counts n.

    Arguments:
        data: the sample.
        fpc: fpc column of stage 1, 2, ... (may be fewer than the stages: the rest are
            with replacement, with a warning as R).
        codes: integer unit codes of each stage (nested).
        groups: the "strata" of each stage: stage-1 strata codes, then the units of the stage
            above (R: ``strata[, i] <- interaction(strata, ids[, i - 1])``).
        group_names: what a group is called in messages ("stratum", "PSU (dnum)", ...).
        group_labels: labels of stage-1 strata (or None to use codes) for messages.

    Returns:
        (popsize per stage, sampsize per stage), each a list of per-row float arrays.

    Notes:
        R's rule over all fpc columns at once: if any value exceeds 1 all are counts (each must
        be >= 1), otherwise all are sampling fractions n/N (fraction 0 = infinite population);
        all equal to 1 is ambiguous and refused (as R). N < n is refused ("FPC implies >100%
        sampling"), and so, unlike R (which only warns), is an fpc that varies within a stage's
        stratum (stage 1) or unit above (later stages).
    """
    S = len(codes)
    sampsize = [_count_within(codes[s], groups[s], int(groups[s].max()) + 1) for s in range(S)]
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
        if s >= len(fpc):
            popsize.append(np.full(len(data), np.inf))
            continue
        f, name, g = vals[s], fpc[s], groups[s]
        h = first_varying(g, f, int(g.max()) + 1)
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
            N = f
        else:
            with np.errstate(divide="ignore"):
                N = np.where(f > 0, sampsize[s] / np.where(f > 0, f, 1.0), np.inf)
        too_small = N < sampsize[s] * (1 - 1e-9)
        if too_small.any():
            i = int(np.flatnonzero(too_small)[0])
            raise ValidationError(
                f"fpc of stage {s + 1} implies more than 100% sampling (first offending row "
                f"{i + 1}: population {N[i]:g} < {int(sampsize[s][i])} units sampled)",
                name,
                rows1(too_small),
            )
        popsize.append(N)
    return [readonly(p) for p in popsize], [readonly(n) for n in sampsize]


def build_stages(
    codes: Sequence[np.ndarray],
    strata: np.ndarray,
    popsize: Sequence[np.ndarray] | None,
    sampsize: Sequence[np.ndarray],
) -> tuple[Stage, ...]:
    """The later stages (2, 3, ...) with their structures and recursion weights.

    Arguments:
        codes: unit codes of stage 1, 2, ... (stage 1 = the PSU codes, unique across strata).
        strata: stage-1 stratum codes.
        popsize, sampsize: per-stage, per-row N and n (see :func:`stage_popsizes`); popsize
            None without any fpc (then every weight is 0, as R skips the recursion).
    """
    out = []
    n = strata.shape[0]
    # weight per row of the recursion so far: product of n/N of the stages above
    w_row = np.zeros(n) if popsize is None else np.ones(n)
    for s in range(1, len(codes)):
        if popsize is not None:
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(np.isinf(popsize[s - 1]), 0.0, sampsize[s - 1] / popsize[s - 1])
            w_row = w_row * frac
        parent, units = codes[s - 1], codes[s]
        Pp = int(parent.max()) + 1
        U = int(units.max()) + 1
        up = np.zeros(U, np.intp)
        up[units] = parent
        n_h = np.bincount(up, minlength=Pp)
        if popsize is None:
            f_h = np.ones(Pp)
        else:
            N = np.full(Pp, np.inf)
            N[parent] = popsize[s]
            with np.errstate(invalid="ignore", divide="ignore"):
                f_h = np.where(np.isinf(N), 1.0, (N - n_h) / N)
        weight = np.zeros(Pp)
        weight[parent] = w_row
        identity = U == n and np.array_equal(units, np.arange(n))
        out.append(
            Stage(
                number=s + 1,
                units=units,
                parent=parent,
                structure=Structure(up, n_h, f_h, identity),
                weight=readonly(weight),
                popsize=np.full(n, np.inf) if popsize is None else popsize[s],
                sampsize=sampsize[s],
            )
        )
    return tuple(out)


def default_weights(popsize: Sequence[np.ndarray], sampsize: Sequence[np.ndarray]) -> np.ndarray:
    """``prod_s N_s / n_s`` per row: R ``weights.survey_fpc(final=TRUE)`` when no weights are
    given. Raises ValidationError where a stage has no (finite) population count."""
    w = np.ones(popsize[0].shape[0])
    for s, (N, m) in enumerate(zip(popsize, sampsize, strict=True)):
        bad = ~np.isfinite(N) | (N > 1e12)
        if bad.any():
            raise ValidationError(
                f"weights not supplied and stage {s + 1} has no finite population count to "
                "compute them from (R: 'Weights not supplied and can't be computed from "
                "fpc'); pass weights=",
                None,
                rows1(bad),
            )
        w = w * N / m
    return readonly(w)


def later_stage_variance(
    z: np.ndarray | DomainInfluence,
    stages: Sequence[Stage],
    single_psu: str,
    present: np.ndarray | None = None,
    adjust_domain_lonely: bool = False,
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
        adjust_domain_lonely: R's ``survey.adjust.domain.lonely``; only "adjust" is carried
            to the later stages ("average" raises NotImplementedError: R makes that unit's
            term NA).

    Raises:
        LonelyUnit: a present unit of the stage above has one subunit, ``single_psu="error"``.
    """
    V = None
    for st in stages:
        if not (st.weight > 0).any():
            continue
        mode = single_psu
        if single_psu in ("average", "error"):
            mode = "remove"
        if adjust_domain_lonely and single_psu == "average":
            raise NotImplementedError(
                "adjust_domain_lonely=True with single_psu='average' in the later stages of a "
                "multistage design (R makes the unit's term NA); use ultimate_cluster=True or "
                "single_psu='adjust'"
            )
        s = st.structure
        lonely = (s.n_h == 1) & (s.f_h >= 1e-7) & (st.weight > 0)
        hit_cols = None
        if lonely.any() and single_psu in ("average", "error"):
            hit_cols, first = _lonely_present(z, st, lonely, present)
            if hit_cols.any() and single_psu == "error":
                raise LonelyUnit(st.number, first)
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
