"""Post-stratification, raking and calibration of a SurveyDesign (see :mod:`methods.weighting`).

Each function returns a new design with new weights (and replicate weights) and one more record
in ``design.steps`` (:mod:`methods.weighting.variance`), which adjusts the
linearisation variance as R's ``survey:::svyrecvar`` does and remembers the step.

Sources: R package ``survey`` (Lumley), ``postStratify``, ``rake``, ``calibrate``, ``grake``,
``regcalibrate`` and ``svyrecvar``; Deming and Stephan (1940); Holt and Smith (1979);
Deville and Sarndal (1992); Deville, Sarndal and Sautory (1993), Generalized raking procedures in
survey sampling, JASA 88, 1013-1020.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping

import numpy as np
import pandas as pd

from methods.core.errors import ConvergenceError, UsageError, ValidationError
from methods.weighting.core import (
    calibration_factors,
    check_bounds,
    factorize,
    group_sums,
    ipf_factors,
    joint_cells,
    linear_calibration_factors,
)
from methods.weighting.variance import (
    GregAdjustment,
    PostStratAdjustment,
    RakingAdjustment,
    WeightingStep,
)

__all__ = ["calibrate", "poststratify", "rake", "replay"]

CALIBRATION_KINDS = ("poststratify", "rake", "calibrate")


# --------------------------------------------------------------------------- plumbing
def rep_weights(design) -> np.ndarray | None:
    """The replicate weights as a float array, or None for a linearisation design."""
    return design.replicate_weights


def _column(design, col: str) -> pd.Series:
    data = design.frame
    if col not in data.columns:
        raise UsageError(
            f"column {col!r} is not in the design's data; available: {', '.join(map(str, data.columns))}"
        )
    return data[col]


def new_design(design, w: np.ndarray, rep: np.ndarray | None, step: WeightingStep):
    """The design with new weights (and replicate weights) and one more recorded step."""
    return design.with_weights(w, rep, step=step)


def _match_totals(levels, codes, totals: Mapping, what: str, col: str) -> np.ndarray:
    """Population totals of the sample ``levels``, checking the levels match both ways.

    Raises :class:`ValidationError` when a level in the data has no total (or a zero total),
    or a level with a positive total is absent from the sample.
    """
    known = set(totals)
    missing = [lv for lv in levels if lv not in known]
    if missing:
        idx = [k for k, lv in enumerate(levels) if lv not in known]
        raise ValidationError(
            f"{what}: level(s) {missing[:20]!r} occur in the data but have no population total "
            f"(totals given for {sorted(map(str, known))[:20]}); add them, or recode the data",
            column=col,
            rows=(np.flatnonzero(np.isin(codes, idx)) + 1).tolist(),
        )
    present = set(levels)
    absent = [k for k, v in totals.items() if k not in present and float(v) != 0.0]
    if absent:
        raise ValidationError(
            f"{what}: level(s) {absent[:20]!r} have population totals but no sample units; "
            f"collapse them with a neighbouring level (sample levels: {list(levels)[:20]!r})",
            column=col,
        )
    target = np.array([float(totals[lv]) for lv in levels])
    zero = [lv for lv, t in zip(levels, target) if t == 0.0]
    if zero:
        raise ValidationError(
            f"{what}: level(s) {zero[:20]!r} have sample units but a population total of 0 "
            "(R: 'Strata in sample absent from population'); recode or drop those units",
            column=col,
        )
    if (target < 0).any() or not np.isfinite(target).all():
        raise ValidationError(f"{what}: totals must be finite and non-negative", column=col)
    return target


def _targets_for(data: pd.DataFrame, col: str, totals, what: str):
    """Codes of ``col``, its sorted levels and their population totals (see _match_totals)."""
    codes, levels = factorize(data[col], col)
    if isinstance(totals, pd.Series):
        totals = totals.to_dict()
    if not isinstance(totals, Mapping):
        raise UsageError(f"{what}: the totals for {col!r} must be a dict of level -> total")
    return codes, levels, _match_totals(levels.tolist(), codes, totals, what, col)


def _check_positive_sums(sums: np.ndarray, labels, what: str, col: str) -> None:
    """Raise when a level (cell) has no weight in the sample or in some replicate."""
    sums2 = sums if sums.ndim == 2 else sums[:, None]
    bad = np.argwhere(~(sums2 > 0))
    if bad.size:
        k, r = bad[0]
        where = "" if sums.ndim == 1 else f" in replicate {r + 1} (of {sums2.shape[1]})"
        raise ValidationError(
            f"{what}: level {labels[k]!r} has zero total weight{where}, so no factor can "
            f"reproduce its population total ({len(bad)} such level/replicate pair(s)); "
            "collapse it with a neighbouring level",
            column=col,
        )


# --------------------------------------------------------------------------- poststratify
def _population_cells(cols: list[str], population) -> dict:
    """Population totals as ``{cell key: total}`` (scalar key for one column, tuple else)."""
    if isinstance(population, pd.DataFrame):
        other = [c for c in population.columns if c not in cols]
        if missing := [c for c in cols if c not in population.columns]:
            raise UsageError(f"population DataFrame lacks the cell column(s) {missing}")
        if len(other) != 1:
            raise UsageError(
                "a population DataFrame must hold the cell columns and exactly one column of "
                f"totals; found extra columns {other}"
            )
        keys = (
            population[cols[0]].tolist()
            if len(cols) == 1
            else list(population[cols].itertuples(index=False, name=None))
        )
        vals = population[other[0]].astype(float).tolist()
        if len(set(keys)) != len(keys):
            raise ValidationError("population DataFrame repeats a cell", column=other[0])
        return dict(zip(keys, vals))
    if isinstance(population, pd.Series):
        population = population.to_dict()
    if not isinstance(population, Mapping):
        raise UsageError("population must be a dict of cell -> total or a DataFrame")
    out = {}
    for k, v in population.items():
        key = k[0] if (len(cols) == 1 and isinstance(k, tuple) and len(k) == 1) else k
        if len(cols) > 1 and not (isinstance(key, tuple) and len(key) == len(cols)):
            raise UsageError(
                f"post-stratifying by {cols}: population keys must be tuples of "
                f"{len(cols)} levels, got {k!r}"
            )
        out[key] = float(v)
    return out


def poststratify(design, cols, population):
    """Post-stratify the weights to known population counts of joint cells.

    Arguments:
        design: a SurveyDesign.
        cols: a column name, or a list of names whose joint levels form the cells.
        population: ``{level: total}`` (one column), ``{(level1, level2, ...): total}``
            (several), or a DataFrame with the cell columns and one column of totals.

    Returns:
        A new design whose weights in each cell sum to the cell's population total
        (``w * N_c / sum_c w``); replicate weights are post-stratified replicate by replicate.

    Raises:
        ValidationError: a sample cell has no (or a zero) population total, or a cell with a
            positive total has no sample units; the message names the cells.

    Notes:
        R's ``postStratify`` (Lumley, survey package); Holt and Smith (1979). Linearisation
        variance uses R's adjustment ``x - psw * ave_oldw(x / psw | cell)``.
    """
    cols = [cols] if isinstance(cols, str) else list(cols)
    if not cols:
        raise UsageError("poststratify needs at least one column")
    pop = _population_cells(cols, population)
    codes, sizes, levels = [], [], []
    for c in cols:
        cc, lv = factorize(_column(design, c), c)
        codes.append(cc)
        sizes.append(len(lv))
        levels.append(lv)
    cell, cell_codes = joint_cells(codes, sizes)
    keys = [
        tuple(levels[j][cell_codes[j][k]] for j in range(len(cols)))
        for k in range(len(cell_codes[0]))
    ]
    if len(cols) == 1:
        keys = [k[0] for k in keys]
    target = _match_totals(keys, cell, pop, "poststratify", "+".join(cols))
    w = design.weights
    sums = np.bincount(cell, weights=w, minlength=len(keys))
    _check_positive_sums(sums, keys, "poststratify", "+".join(cols))
    w_new = w * (target / sums)[cell]
    rep = rep_weights(design)
    rep_new = None
    if rep is not None:
        rsums = group_sums(cell, rep, len(keys))
        _check_positive_sums(rsums, keys, "poststratify", "+".join(cols))
        rep_new = rep * (target[:, None] / rsums)[cell]
    info = {"targets": [("cells", tuple(cols), keys, target)], "cells": len(keys)}
    step = PostStratAdjustment(
        kind="poststratify",
        spec={"cols": cols, "population": pop},
        w_in=np.asarray(w, dtype=np.float64),
        w_out=w_new,
        info=info,
        codes=cell,
        n_cells=len(keys),
    )
    return new_design(design, w_new, rep_new, step)


# --------------------------------------------------------------------------- rake
def _margin_system(design, margins: Mapping, what: str):
    """Codes, levels and targets of each margin, with consistency checks."""
    if not isinstance(margins, Mapping) or not margins:
        raise UsageError(f"{what}: margins must be a non-empty dict of column -> {{level: total}}")
    cols = list(margins)
    codes, levels, targets = [], [], []
    for c in cols:
        _column(design, c)
        cc, lv, tg = _targets_for(design.frame, c, margins[c], what)
        codes.append(cc)
        levels.append(lv)
        targets.append(tg)
    sums = np.array([t.sum() for t in targets])
    if np.ptp(sums) > 1e-9 * sums.max():
        listing = ", ".join(f"{c}: {s:.10g}" for c, s in zip(cols, sums))
        raise ValidationError(
            f"{what}: the margins disagree on the population size ({listing}); every margin "
            "must total the same population"
        )
    return cols, codes, levels, targets


def _cell_model(cell_codes, sizes, targets):
    """R's ``model.matrix(~ a + b + ...)`` on the cells: intercept and treatment contrasts."""
    cols, tots, labels = [np.ones(len(cell_codes[0]))], [float(targets[0].sum())], [None]
    for m, (cc, size, tg) in enumerate(zip(cell_codes, sizes, targets)):
        for lev in range(1, size):
            cols.append((cc == lev).astype(np.float64))
            tots.append(tg[lev])
            labels.append((m, lev))
    return np.column_stack(cols), np.array(tots), labels


def rake(design, margins: Mapping, bounds=None, tol: float = 1e-10, max_iter: int = 200):
    """Rake the weights to population margins (iterative proportional fitting).

    Arguments:
        design: a SurveyDesign.
        margins: ``{column: {level: total}}`` for each margin (totals may be a pandas Series).
        bounds: optional ``(lower, upper)`` on the adjustment factors (new / old weight).
        tol: every margin reproduced to ``tol`` relative (default 1e-10).
        max_iter: maximum sweeps (unbounded) or Newton iterations (bounded).

    Returns:
        A new design whose weights reproduce every margin; replicate weights are raked
        replicate by replicate.

    Raises:
        ValidationError: a level in the data lacks a total, a level with a positive total has
            no sample units, a level has zero weight, or margins disagree on the total.
        ConvergenceError: not converged in ``max_iter``; the message gives the iterations and
            the worst margin gap. :class:`InfeasibleCalibrationError` (a subclass) when the
            bounds cannot be met.

    Notes:
        Unbounded: Deming and Stephan (1940) IPF run on the table of joint cells (every unit in
        a cell gets the same factor, so this is exactly unit-level raking at O(cells) per
        sweep); linearisation variance as R's ``rake``: ten sweeps of
        ``x - psw * ave(x / psw | margin)`` (``survey:::svyrecvar``). Bounded: R's bounded
        raking, ``calibrate(..., calfun = "raking", bounds = )`` (``survey:::grake``,
        truncated exponential distance, Deville and Sarndal 1992), with R's calibration
        (GREG residual) variance. Kalton and Flores-Cervantes (2003) is reproduced in
        tests/fixtures/kalton_flores_cervantes.
    """
    cols, codes, levels, targets = _margin_system(design, margins, "rake")
    sizes = [len(lv) for lv in levels]
    cell, cell_codes = joint_cells(codes, sizes)
    ncell = len(cell_codes[0])
    w = np.asarray(design.weights, dtype=np.float64)
    rep = rep_weights(design)
    for c, cc, lv in zip(cols, codes, levels):
        _check_positive_sums(np.bincount(cc, weights=w, minlength=len(lv)), lv, "rake", c)
        if rep is not None:
            _check_positive_sums(group_sums(cc, rep, len(lv)), lv, "rake", c)
    table = np.bincount(cell, weights=w, minlength=ncell)
    info = {"targets": [("cat", c, lv, tg) for c, lv, tg in zip(cols, levels, targets)]}
    spec = {
        "margins": {c: dict(zip(lv.tolist(), tg)) for c, lv, tg in zip(cols, levels, targets)},
        "bounds": bounds,
        "tol": tol,
        "max_iter": max_iter,
    }
    if bounds is None:
        f, it, gap = ipf_factors(table, cell_codes, targets, tol, max_iter, cols, levels)
        rep_new = None
        if rep is not None:
            rtable = group_sums(cell, rep, ncell)
            rf, _, _ = ipf_factors(rtable, cell_codes, targets, tol, max_iter, cols, levels)
            rep_new = rep * rf[cell]
        w_new = w * f[cell]
        info.update(iterations=it, gap=gap)
        step = RakingAdjustment(
            kind="rake",
            spec=spec,
            w_in=w,
            w_out=w_new,
            info=info,
            margin_codes=tuple(codes),
            margin_sizes=tuple(sizes),
        )
        return new_design(design, w_new, rep_new, step)
    check_bounds("raking", bounds)
    xc, totals, lab = _cell_model(cell_codes, sizes, targets)
    labels = ["(intercept)"] + [f"{cols[m]}={levels[m][lev]}" for m, lev in lab[1:]]
    checks = list(zip(cols, cell_codes, levels, targets))
    res = calibration_factors(
        xc, table, totals, "raking", bounds, tol, max_iter, labels, level_checks=checks
    )
    w_new = w * res.g[cell]
    rep_new = None
    if rep is not None:
        rep_new = np.empty_like(rep)
        rtable = group_sums(cell, rep, ncell)
        for r in range(rep.shape[1]):
            gr = _replicate_factors(
                xc, rtable[:, r], totals, "raking", bounds, tol, max_iter, labels, r, rep.shape[1]
            )
            rep_new[:, r] = rep[:, r] * gr[cell]
    info.update(iterations=res.iterations, gap=res.gap, distance="raking", bounds=bounds)
    step = GregAdjustment(kind="rake", spec=spec, w_in=w, w_out=w_new, info=info, xmat=xc[cell])
    return new_design(design, w_new, rep_new, step)


def _replicate_factors(
    x,
    d,
    totals,
    distance,
    bounds,
    tol,
    max_iter,
    labels,
    r,
    nrep,
    variance=None,
    force=False,
    alpha=1.0,
):
    """Calibration factors for one replicate; failures name the replicate."""
    try:
        if distance == "linear" and bounds is None:
            return linear_calibration_factors(x, d, totals, variance)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            res = calibration_factors(
                x,
                d,
                totals,
                distance,
                bounds,
                tol,
                max_iter,
                labels,
                variance=variance,
                force=force,
                alpha=alpha,
            )
        for w in caught:  # force=True: a replicate left unconverged is said, not hidden
            if issubclass(w.category, RuntimeWarning):
                warnings.warn(f"replicate {r + 1} of {nrep}: {w.message}", RuntimeWarning, 3)
        return res.g
    except ConvergenceError as exc:
        raise type(exc)(f"replicate {r + 1} of {nrep}: {exc}") from exc


# --------------------------------------------------------------------------- calibrate
def _calibration_system(design, population: Mapping, population_size):
    """Model matrix (n x p), totals, labels, diagnostic targets and level checks.

    R's ``model.matrix(~ a + b + x)`` basis: an intercept (total = the population size implied
    by the categorical totals, or ``population_size``), each categorical without its first
    level (treatment contrasts), numeric columns as they are. The basis matters only where R
    makes it matter (the rescaling rule of ``grake``); the calibrated weights depend only on
    the column space.
    """
    if not isinstance(population, Mapping) or not population:
        raise UsageError("calibrate: population must be a non-empty dict of column -> totals")
    data = design.frame
    cols, tots, labels, targets, checks = [], [], [], [], []
    cat_sizes = []
    for c, spec in population.items():
        s = _column(design, c)
        if isinstance(spec, Mapping | pd.Series):
            codes, lv, tg = _targets_for(data, c, spec, "calibrate")
            cat_sizes.append((c, float(tg.sum())))
            for k in range(1, len(lv)):
                cols.append((codes == k).astype(np.float64))
                tots.append(tg[k])
                labels.append(f"{c}={lv[k]}")
            targets.append(("cat", c, lv, tg))
            checks.append((c, codes, lv, tg))
        else:
            if not pd.api.types.is_numeric_dtype(s) or pd.api.types.is_bool_dtype(s):
                raise UsageError(
                    f"calibrate: {c!r} is not numeric, so its population entry must be a dict "
                    f"of level -> total, not the single number {spec!r}"
                )
            v = s.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isnan(v).any():
                raise ValidationError(
                    "missing values in a calibration variable; impute them first",
                    column=c,
                    rows=(np.flatnonzero(np.isnan(v)) + 1).tolist(),
                )
            cols.append(v)
            tots.append(float(spec))
            labels.append(c)
            targets.append(("num", c, None, float(spec)))
    if cat_sizes:
        sizes = np.array([t for _, t in cat_sizes])
        if population_size is not None:
            sizes = np.append(sizes, float(population_size))
        if np.ptp(sizes) > 1e-9 * np.abs(sizes).max():
            listing = ", ".join(f"{c}: {t:.10g}" for c, t in cat_sizes)
            if population_size is not None:
                listing += f", population_size: {float(population_size):.10g}"
            raise ValidationError(
                f"calibrate: the categorical totals imply different population sizes ({listing})"
            )
    if cat_sizes or population_size is not None:
        size = cat_sizes[0][1] if cat_sizes else float(population_size)
        cols.insert(0, 1.0)
        tots.insert(0, size)
        labels.insert(0, "(intercept)")
        if not cat_sizes:
            targets.insert(0, ("size", None, None, size))
    x = np.empty((len(data), len(cols)), order="F")  # column-wise fill: contiguous writes
    for j, c in enumerate(cols):
        x[:, j] = c
    return x, np.array(tots), labels, targets, checks


def calibrate(
    design,
    population: Mapping,
    distance: str = "linear",
    bounds=None,
    population_size: float | None = None,
    tol: float = 1e-10,
    max_iter: int = 50,
    *,
    bounds_const: bool = False,
    variance=None,
    force: bool = False,
    alpha: float = 1.0,
    aggregate_stage: int | None = None,
    aggregate_index=None,
):
    """Calibrate the weights to population totals (Deville and Sarndal 1992).

    Arguments:
        design: a SurveyDesign.
        population: ``{categorical column: {level: total}, numeric column: total}``. The
            intercept (population size) is implied by the categorical totals, which must agree.
        distance: ``"linear"`` (GREG, chi-square), ``"raking"`` (multiplicative),
            ``"logit"`` (bounded; needs finite ``bounds`` with lower < 1 < upper) or
            ``"sinh"`` (R's ``cal.sinh``, needs finite ``bounds``: ``g = F(u)`` with
            ``alpha (g - 1/g) = asinh(2 alpha u)``, between linear and raking; Deville,
            Sarndal and Sautory 1993 discuss such bounded distances).
        alpha: the sinh distance's parameter (R's ``dasinh(u, alpha)``; R's ``cal.sinh``
            uses ``alpha = 1``, the default); ignored by the other distances.
        aggregate_stage: R's ``aggregate.stage``: ``1`` solves the calibration on PSU means
            (each unit's auxiliaries and input weight replaced by their means over its PSU,
            R's ``ave(x, design$cluster[[1]])``), so the factors ``g`` are constant within
            PSUs; ``2`` does the same within the SSUs of a multistage design (nested in their
            PSUs as R's ``svydesign`` nests them), and so on. Exceptions, as R: ``bounds_const``
            bounds that differ within a group, and ``variance``, which R averages only for
            unbounded linear calibration (``regcalibrate``; ``grake`` uses each unit's own).
            The new weights are ``d_i g_i``, which meet the totals exactly when the weights are
            constant within the groups (otherwise a UserWarning with R's 1%-of-the-mean rule
            gives the largest within-group SD). The linearisation residuals use the group
            means, as R's. On a replicate design (one made by ``replicate()``, which keeps the
            stages) it is R's ``aggregate.index`` with the stage's units: every replicate's
            weights are averaged over the groups and calibrated on that system, so each
            replicate's factors are constant within the groups too
            (``survey:::calibrate.svyrep.design``, ``regcalibrate.svyrep.design``).
        aggregate_index: replicate designs only, R's ``aggregate.index``: a column name (or an
            array of length n) whose levels are the groups, e.g. the PSU column of a design
            from supplied replicate weights. Taylor designs take ``aggregate_stage``, as R.
        bounds: ``(lower, upper)`` on the factors ``g = new / old weight``.
        population_size: the population size, when there is no categorical column (adds an
            intercept), or as a check on the categorical totals.
        tol: stop when every ``|misfit| / (1 + |total|) < tol`` (R's ``epsilon``).
        max_iter: Newton iterations (R's ``maxit``).
        bounds_const: R's ``bounds.const = TRUE``: ``bounds`` are on the calibrated weights
            themselves, ``lower <= new weight <= upper``, i.e. factor bounds
            ``lower / d_i <= g_i <= upper / d_i`` (units with weight 0 keep the bounds as
            given, as R). Replicates: bounds divided by each replicate's own weights.
        variance: R's ``variance=``: a column name (or array, length n) of positive ``q_i``
            scaling each unit's distance, ``sum_i d_i G(g_i) q_i``, so the GREG uses
            ``X' D Q^{-1} X`` and ``g_i = 1 + F(x_i' lambda / q_i)`` (Deville, Sarndal and
            Sautory 1993, heteroscedastic working model; ``survey:::grake``'s ``sigma2``).
            As R, the linearisation residuals use ``q`` for unbounded linear calibration
            (``regcalibrate``) and ignore it otherwise (``grake``).
        force: R's ``force = TRUE``: if Newton has not converged after ``max_iter``
            iterations, warn (RuntimeWarning with the achieved worst relative misfit of the
            calibrated totals and the iterations; R: "Failed to converge: eps=...") and keep the
            last weights, instead of raising :class:`ConvergenceError` (R without ``force``:
            "Calibration failed").

    Returns:
        A new design; replicate weights are calibrated replicate by replicate.

    Raises:
        ValidationError: levels or totals do not match the data; a ``variance`` value is not
            positive and finite (names the column and first rows); with ``bounds_const`` and
            logit, an input weight outside the weight bounds (names the rows).
        UsageError: ``bounds`` with ``lower >= upper`` (or, on factors, excluding 1).
        InfeasibleCalibrationError: the bounds cannot be met (names the totals).
        ConvergenceError: Newton did not converge (iterations and worst gap), unless ``force``.

    Notes:
        Unbounded linear: R's ``regcalibrate`` (one solve of X'DX, p x p). Otherwise R's
        ``grake`` (see :func:`methods.weighting.core.calibration_factors`); R's
        ``survey::calibrate`` arguments ``bounds.const``, ``variance`` and ``force`` are
        ``bounds_const``, ``variance`` and ``force`` (Deville and Sarndal 1992; Deville,
        Sarndal and Sautory 1993). Linearisation
        variance: R's ``greg_calibration`` residuals. Memory O(n p); no n x n matrix is ever
        formed (samplics' ``calibrate`` allocates one). Negative weights from unbounded linear
        calibration are reported with a warning.
    """
    w = np.asarray(design.weights, dtype=np.float64)
    if bounds_const and bounds is not None:  # bounds on the weights: per-unit factor bounds
        gb = _factor_bounds(distance, bounds, w)
        check_bounds(distance, gb)
        lo_hi = (float(bounds[0]), float(bounds[1]))
    else:
        lo_hi, gb = check_bounds(distance, bounds), bounds
    x, totals, labels, targets, checks = _calibration_system(design, population, population_size)
    rep = rep_weights(design)
    q = None if variance is None else _variance_column(design, variance)
    wc, rep_c = w, rep  # the weights the calibration is solved with (group means if aggregated)
    q_lin = q  # the q of the linearisation (unbounded linear only)
    groups = _aggregation_groups(design, aggregate_stage, aggregate_index, rep is not None)
    if groups is not None:
        _warn_varying_weights(w, groups, aggregate_stage, aggregate_index)
        x = _group_means(x, groups)
        wc = _group_means(w, groups)
        if q is not None and distance == "linear" and bounds is None:
            q = q_lin = _group_means(q, groups)  # regcalibrate averages sigma2; grake does not
        rep_c = None if rep is None else _group_means(rep, groups)
        checks = []  # the indicator columns are group shares now: only x's own checks apply
    if distance == "linear" and bounds is None:
        g = linear_calibration_factors(x, wc, totals, q)
        info = {"iterations": 1, "gap": _gap(x, wc * g, totals)}
    else:
        res = calibration_factors(
            x,
            wc,
            totals,
            distance,
            gb,
            tol,
            max_iter,
            labels,
            level_checks=checks,
            variance=q,
            force=force,
            alpha=alpha,
        )
        g = res.g
        info = {"iterations": res.iterations, "gap": res.gap, "scale": res.scale}
    w_new = w * g
    neg = int((w_new < 0).sum())
    if neg:
        warnings.warn(
            f"calibrate: {neg} weight(s) are negative (smallest factor {g.min():.4g}); use "
            "bounds, e.g. distance='logit' with bounds=(0.5, 3)",
            UserWarning,
            stacklevel=2,
        )
    rep_new = None
    if rep is not None:
        rep_new = np.empty_like(rep)
        for r in range(rep.shape[1]):
            rb = _factor_bounds(distance, bounds, rep[:, r]) if gb is not bounds else bounds
            gr = _replicate_factors(
                x,
                rep_c[:, r],
                totals,
                distance,
                rb,
                tol,
                max_iter,
                labels,
                r,
                rep.shape[1],
                q,
                force,
                alpha,
            )
            rep_new[:, r] = rep[:, r] * gr
    info.update(
        targets=targets, distance=distance, bounds=None if bounds is None else lo_hi, labels=labels
    )
    spec = {
        "population": dict(population),
        "distance": distance,
        "bounds": bounds,
        "population_size": population_size,
        "tol": tol,
        "max_iter": max_iter,
        "bounds_const": bounds_const,
        "variance": variance,
        "force": force,
        "alpha": alpha,
        "aggregate_stage": aggregate_stage,
        "aggregate_index": aggregate_index,
    }
    info.update(bounds_const=bounds_const, variance=None if variance is None else "given")
    step = GregAdjustment(
        kind="calibrate",
        spec=spec,
        w_in=w,
        w_out=w_new,
        info=info,
        xmat=x,
        q=q_lin if (distance == "linear" and bounds is None) else None,
        base=None if wc is w else wc,
    )
    return new_design(design, w_new, rep_new, step)


def _aggregation_groups(design, stage, index, replicate: bool) -> np.ndarray | None:
    """Integer group of each row for R's ``aggregate.stage`` / ``aggregate.index``, or None.

    ``stage`` s takes the stage-s sampling units (R: ``design$cluster[[s]]``, nested as
    ``svydesign`` nests them); stage 1 of a design whose rows are their own PSUs aggregates
    nothing (R's ``ave`` over one row each). ``index`` (replicate designs, R's
    ``aggregate.index``) is a column name or an array of length n.
    """
    if stage is None and index is None:
        return None
    if stage is not None and index is not None:
        raise UsageError("calibrate: give aggregate_stage= or aggregate_index=, not both")
    if index is not None:
        if not replicate:
            raise UsageError(
                "calibrate: aggregate_index= is R's aggregate.index of replicate designs; a "
                "Taylor design aggregates by its sampling units: aggregate_stage=1 (PSUs) or 2 "
                "(SSUs), R's aggregate.stage"
            )
        if isinstance(index, str):
            codes, _ = factorize(_column(design, index), index)
            return codes
        arr = np.asarray(index).ravel()
        if len(arr) != design.n:
            raise UsageError(
                f"calibrate: aggregate_index has {len(arr)} values but the design has "
                f"{design.n} rows"
            )
        codes, _ = factorize(pd.Series(arr), "aggregate_index")
        return codes
    if isinstance(stage, bool) or not isinstance(stage, int | np.integer) or stage < 1:
        raise UsageError(f"calibrate: aggregate_stage must be a stage number >= 1, got {stage!r}")
    if stage > design.stages:
        raise UsageError(
            f"calibrate: aggregate_stage={stage} but the design has {design.stages} stage(s)"
        )
    units = design.stage_units(int(stage))
    if units is None and replicate:
        raise UsageError(
            f"calibrate: aggregate_stage={stage} on a replicate design that records no PSUs "
            "(every row is its own unit): give the groups as aggregate_index=<column> (R's "
            "aggregate.index)"
        )
    return None if units is None else np.asarray(units, dtype=np.intp)


def _warn_varying_weights(w: np.ndarray, groups: np.ndarray, stage, index) -> None:
    """R's check (``calibrate.svyrep.design``): warn when the largest within-group standard
    deviation of the weights exceeds 1% of their mean; the aggregated calibration then meets
    the totals only approximately (``sum d_i g_i`` differs from ``sum mean(d) g_i``)."""
    G = int(groups.max()) + 1
    size = np.bincount(groups, minlength=G).astype(np.float64)
    s1 = np.bincount(groups, weights=w, minlength=G)
    mean = s1 / np.maximum(size, 1.0)
    dev = np.bincount(groups, weights=(w - mean[groups]) ** 2, minlength=G)
    multi = size > 1
    if not multi.any():
        return
    sd = np.sqrt(dev[multi] / (size[multi] - 1.0))
    limit = 0.01 * float(w.mean())
    if sd.max() > limit:
        what = f"aggregate_stage={stage}" if stage is not None else "aggregate_index"
        first = int(np.flatnonzero(multi)[np.argmax(sd > limit)])
        warnings.warn(
            f"calibrate: the weights are not constant within the groups of {what} (R: "
            f"'Sampling weights are not constant within clusters'): {int((sd > limit).sum())} "
            f"of {int(multi.sum())} groups with two or more rows have a weight SD above 1% of "
            f"the mean weight ({limit:.4g}), largest {sd.max():.4g}, first at row "
            f"{int(np.argmax(groups == first)) + 1}; the calibrated totals are met only "
            "approximately",
            UserWarning,
            stacklevel=3,
        )


def _group_means(v: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Each row's mean over its group (R's ``ave(v, index)``), for a vector or the columns
    of a matrix (kept in the input's memory order)."""
    G = int(groups.max()) + 1
    size = np.maximum(np.bincount(groups, minlength=G), 1).astype(np.float64)
    if v.ndim == 1:
        return (np.bincount(groups, weights=v, minlength=G) / size)[groups]
    out = np.empty_like(v)
    for j in range(v.shape[1]):
        out[:, j] = (np.bincount(groups, weights=v[:, j], minlength=G) / size)[groups]
    return out


def _variance_column(design, variance) -> np.ndarray:
    """R's ``variance=``: a column name or an array of positive finite ``q_i`` (length n)."""
    name = variance if isinstance(variance, str) else "variance"
    if isinstance(variance, str):
        v = pd.to_numeric(_column(design, variance), errors="coerce").to_numpy(dtype=np.float64)
    else:
        v = np.asarray(variance, dtype=np.float64).ravel()
        if len(v) != design.n:
            raise UsageError(
                f"calibrate: variance has {len(v)} values but the design has {design.n} rows"
            )
    bad = ~(np.isfinite(v) & (v > 0))
    if bad.any():
        raise ValidationError(
            f"calibrate: the variance (heteroscedasticity) values must be positive and finite; "
            f"{int(bad.sum())} are not (first at row {int(np.argmax(bad)) + 1})",
            column=name,
            rows=(np.flatnonzero(bad) + 1).tolist(),
        )
    return v


def _factor_bounds(distance: str, bounds, w: np.ndarray):
    """R's ``bounds.const``: bounds on weights -> per-unit bounds on factors (``bound / w``)."""
    lo, hi = float(bounds[0]), float(bounds[1])
    if not lo < hi:
        raise UsageError(f"bounds must satisfy lower < upper, got ({lo:g}, {hi:g})")
    pos = w > 0
    with np.errstate(divide="ignore", invalid="ignore"):
        return (
            np.where(pos, lo / np.where(pos, w, 1.0), lo),
            np.where(pos, hi / np.where(pos, w, 1.0), hi),
        )


def _gap(x: np.ndarray, w: np.ndarray, totals: np.ndarray) -> float:
    """Worst relative misfit ``|T - X'w| / (1 + |T|)``."""
    return float(np.max(np.abs(totals - x.T @ w) / (1.0 + np.abs(totals))))


def replay(design, step: WeightingStep):
    """Re-run a recorded post-stratification, raking or calibration on ``design``."""
    s = step.spec
    if step.kind == "poststratify":
        return poststratify(design, s["cols"], s["population"])
    if step.kind == "rake":
        return rake(design, s["margins"], s["bounds"], s["tol"], s["max_iter"])
    return calibrate(
        design,
        s["population"],
        s["distance"],
        s["bounds"],
        s["population_size"],
        s["tol"],
        s["max_iter"],
        bounds_const=s.get("bounds_const", False),
        variance=s.get("variance"),
        force=s.get("force", False),
        alpha=s.get("alpha", 1.0),
        aggregate_stage=s.get("aggregate_stage"),
        aggregate_index=s.get("aggregate_index"),
    )
