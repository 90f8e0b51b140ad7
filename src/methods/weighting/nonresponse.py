"""Non-response adjustment: weighting classes, or response-propensity classes.

Public entry point :func:`adjust_nonresponse` (re-exported by :mod:`methods.weighting` and
attached to ``SurveyDesign``).

Sources:
    Kalton, G. and Flores-Cervantes, I. (2003). Weighting methods. J. Official Statistics 19,
    81-97 (weighting-class adjustment, cell collapsing).
    Little, R. J. A. (1986). Survey nonresponse adjustments for estimates of means.
    Int. Statist. Rev. 54, 139-157 (response propensity stratification into classes).
    Eltinge, J. L. and Yansaneh, I. S. (1997). Diagnostics for formation of nonresponse
    adjustment cells. Survey Methodology 23, 33-40 (about five propensity classes).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression

from methods.core.errors import UsageError, ValidationError
from methods.design.survey import SurveyDesign
from methods.weighting.core import factorize, group_sums, joint_cells
from methods.weighting.variance import NonresponseStep

__all__ = ["CellsCollapsedWarning", "adjust_nonresponse"]


class CellsCollapsedWarning(UserWarning):
    """Adjustment cells were merged because they had too few respondents."""


def _responded(design, responded) -> np.ndarray:
    data = design.frame
    if isinstance(responded, str):
        if responded not in data.columns:
            raise UsageError(f"adjust_nonresponse: column {responded!r} is not in the data")
        s, name = data[responded], responded
    else:
        s, name = pd.Series(np.asarray(responded)), "responded"
        if len(s) != len(data):
            raise UsageError(
                f"adjust_nonresponse: responded has length {len(s)}, the design has {len(data)} rows"
            )
    if s.isna().any():
        raise ValidationError(
            "response indicator is missing; code every sampled unit 1/True (responded) or "
            "0/False (did not)",
            column=name,
            rows=(np.flatnonzero(s.isna().to_numpy()) + 1).tolist(),
        )
    v = s.to_numpy()
    if v.dtype != bool:
        vals = pd.to_numeric(s, errors="coerce")
        bad = ~vals.isin([0, 1]).to_numpy()
        if bad.any():
            raise ValidationError(
                "response indicator must be boolean or 0/1",
                column=name,
                rows=(np.flatnonzero(bad) + 1).tolist(),
            )
        v = vals.to_numpy() == 1
    if not v.any():
        raise ValidationError("no unit responded; nothing to weight", column=name)
    return v


def _main_effects(data: pd.DataFrame, covariates: list[str]) -> tuple[np.ndarray, list[str]]:
    """Main-effects matrix: numeric columns as they are, others one-hot without first level."""
    cols, names = [], []
    for c in covariates:
        if c not in data.columns:
            raise UsageError(f"adjust_nonresponse: covariate {c!r} is not in the data")
        s = data[c]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            v = s.to_numpy(dtype=np.float64, na_value=np.nan)
            if np.isnan(v).any():
                raise ValidationError(
                    "missing covariate values; impute them first",
                    column=c,
                    rows=(np.flatnonzero(np.isnan(v)) + 1).tolist(),
                )
            cols.append(v)
            names.append(c)
        else:
            codes, levels = factorize(s, c)
            for k in range(1, len(levels)):
                cols.append((codes == k).astype(np.float64))
                names.append(f"{c}={levels[k]}")
    if not cols:
        raise UsageError("adjust_nonresponse: covariates give an empty model matrix")
    return np.column_stack(cols), names


def _propensity_classes(design, r, covariates, model, classes, fit_weighted, seed):
    """Fit the response model, return (class codes, labels, propensities)."""

    if model is None:
        # unpenalised (C = inf; scikit-learn 1.8 deprecates penalty=None) maximum likelihood by
        # Newton's method, so the fit is R's glm(family = binomial) to ~1e-8
        model = LogisticRegression(C=np.inf, solver="newton-cholesky", tol=1e-10, max_iter=1000)
    est = clone(model)
    if seed is not None and "random_state" in est.get_params():
        est.set_params(random_state=seed)
    x, _ = _main_effects(design.frame, list(covariates))
    kw = {"sample_weight": np.asarray(design.weights)} if fit_weighted else {}
    est.fit(x, r.astype(int), **kw)
    classes_ = list(est.classes_)
    if 1 not in classes_:
        raise ValidationError("the fitted model never predicts response")
    p = est.predict_proba(x)[:, classes_.index(1)]
    if int(classes) < 1:
        raise UsageError("classes must be at least 1")
    edges = np.unique(np.quantile(p, np.linspace(0, 1, int(classes) + 1)))
    codes = (
        np.searchsorted(edges[1:-1], p, side="right") if len(edges) > 2 else np.zeros(len(p), int)
    )
    codes = np.asarray(codes, dtype=np.int64)
    k = int(codes.max()) + 1
    if k < int(classes):
        warnings.warn(
            f"adjust_nonresponse: only {k} distinct propensity classes (asked for {classes}); "
            "many units share the same estimated propensity",
            UserWarning,
            stacklevel=3,
        )
    lo = np.array([p[codes == j].min() for j in range(k)])
    hi = np.array([p[codes == j].max() for j in range(k)])
    labels = [f"class {j + 1} (propensity {lo[j]:.3f}-{hi[j]:.3f})" for j in range(k)]
    cell_codes = [np.arange(k)]
    return codes, labels, cell_codes, p


def _collapse(cell_codes, n_c, resp_c, min_resp):
    """Merge cells with fewer than ``min_resp`` respondents into neighbours.

    Cells are in lexicographic order of their codes. A deficient group (fewest respondents
    first) is merged with the group holding the neighbouring cell in that order, preferring a
    neighbour that shares every variable but the last (an adjacent level of the last
    variable), and among those the one with fewer sampled units. Returns the group of each
    cell and the list of merges (deficient group's cells, receiving group's cells).
    """
    ncell = len(n_c)
    group = np.arange(ncell)
    prefix = (
        np.zeros(ncell, dtype=np.int64)
        if len(cell_codes) == 1
        else np.ravel_multi_index(
            tuple(c for c in cell_codes[:-1]), tuple(int(c.max()) + 1 for c in cell_codes[:-1])
        )
    )
    merges = []
    while True:
        ng = np.bincount(group, weights=n_c, minlength=ncell)
        rg = np.bincount(group, weights=resp_c, minlength=ncell)
        live = np.unique(group)
        bad = [g for g in live if rg[g] < min_resp]
        if not bad:
            break
        if len(live) == 1:
            raise ValidationError(
                f"adjust_nonresponse: even one cell for everyone has fewer than {min_resp} "
                "respondents"
            )
        g = min(bad, key=lambda j: (rg[j], j))
        members = np.flatnonzero(group == g)
        cands = []
        for m in members:
            for nb in (m - 1, m + 1):
                if 0 <= nb < ncell and group[nb] != g:
                    cands.append((prefix[nb] != prefix[m], ng[group[nb]], nb < m, group[nb]))
        cands.sort(key=lambda t: (t[0], t[1], not t[2]))
        target = cands[0][3]
        merges.append((members.tolist(), np.flatnonzero(group == target).tolist()))
        group[group == g] = target
    return group, merges


def adjust_nonresponse(
    design,
    responded,
    cells=None,
    model=None,
    covariates=None,
    classes: int = 5,
    collapse: bool = False,
    min_respondents: int = 1,
    fit_weighted: bool = False,
    seed: int | None = None,
):
    """Drop non-respondents and inflate respondents' weights within adjustment classes.

    Arguments:
        design: a SurveyDesign of the whole sample (respondents and non-respondents).
        responded: column name or array: True/1 for respondents, False/0 otherwise.
        cells: column name(s) forming weighting classes (joint cells). Without ``cells`` and
            ``covariates``, one class holds everyone.
        model: a scikit-learn classifier (cloned, then fitted on ``covariates``); default an
            unpenalised main-effects ``LogisticRegression(C=inf, solver="newton-cholesky")``
            (the same maximum-likelihood fit as R's ``glm(family = binomial)``).
        covariates: columns for the propensity model (numeric as is, others one-hot).
        classes: number of propensity classes (equal-count quantile groups of the estimated
            propensity; Little 1986, about five per Eltinge and Yansaneh 1997).
        collapse: merge classes with fewer than ``min_respondents`` respondents into a
            neighbour (warning :class:`CellsCollapsedWarning`, recorded in
            ``history(new)[-1].info["merged"]``) instead of raising.
        min_respondents: smallest acceptable number of respondents per class.
        fit_weighted: fit the propensity model with the design weights as sample weights.
        seed: random_state for models that use one.

    Returns:
        A new design of the respondents only, with weight ``d_i * sum_c d / sum_c d r``
        within each class c (the inverse weighted response rate); replicate weights get the
        same adjustment computed from each replicate's weights.

    Raises:
        ValidationError: a class has no (or too few) respondents and ``collapse`` is False; the
            message lists the classes with sample sizes.
        UsageError: both ``cells`` and a propensity model given, or a step order problem.

    Notes:
        Kalton and Flores-Cervantes (2003, section 2); Little (1986). The linearisation
        variance treats the adjusted weights as given (see
        :class:`methods.weighting.variance.NonresponseStep`). The respondents' design: for one
        stage (or ``ultimate_cluster=True``) R's ``svydesign`` on the respondents (PSUs and
        strata recounted from them); for several stages with the full multistage variance,
        R's ``subset()`` of the whole design (every stage's ids, fpc, nesting and sampled
        counts kept: units without respondents are zero totals, the domain variance).
    """
    if design.steps and any(
        getattr(s, "kind", None) in ("poststratify", "rake", "calibrate", "trim", "nonresponse")
        for s in design.steps
    ):
        raise UsageError(
            "adjust_nonresponse must be the first weighting step (before post-stratification, "
            "raking, calibration or trimming)"
        )
    if cells is not None and (model is not None or covariates is not None):
        raise UsageError("give either cells= (weighting classes) or covariates= (propensity)")
    if model is not None and covariates is None:
        raise UsageError("a propensity model needs covariates=")
    r = _responded(design, responded)
    data = design.frame
    n = len(data)
    p = None
    if covariates is not None:
        codes, labels, cell_codes, p = _propensity_classes(
            design, r, covariates, model, classes, fit_weighted, seed
        )
        method = "propensity"
    elif cells is not None:
        cols = [cells] if isinstance(cells, str) else list(cells)
        cc, sizes, levels = [], [], []
        for c in cols:
            if c not in data.columns:
                raise UsageError(f"adjust_nonresponse: cell column {c!r} is not in the data")
            k, lv = factorize(data[c], c)
            cc.append(k)
            sizes.append(len(lv))
            levels.append(lv)
        codes, cell_codes = joint_cells(cc, sizes)
        labels = [
            ", ".join(f"{c}={levels[j][cell_codes[j][i]]}" for j, c in enumerate(cols))
            for i in range(len(cell_codes[0]))
        ]
        method = "cells"
    else:
        codes, labels, cell_codes = np.zeros(n, np.int64), ["all"], [np.zeros(1, np.int64)]
        method = "overall"
    ncell = len(labels)
    n_c = np.bincount(codes, minlength=ncell).astype(float)
    resp_c = np.bincount(codes, weights=r.astype(float), minlength=ncell)
    merged = []
    bad = np.flatnonzero(resp_c < min_respondents)
    if bad.size and not collapse:
        listing = "; ".join(
            f"{labels[i]}: {int(n_c[i])} sampled, {int(resp_c[i])} responded" for i in bad[:20]
        )
        raise ValidationError(
            f"adjust_nonresponse: {bad.size} class(es) with fewer than {min_respondents} "
            f"respondent(s): {listing}. Use coarser cells, or collapse=True to merge them "
            "into neighbouring cells"
        )
    if bad.size:
        group, merges = _collapse(cell_codes, n_c, resp_c, min_respondents)
        for src, dst in merges:
            merged.append(
                {"cells": [labels[i] for i in src], "merged_into": [labels[i] for i in dst]}
            )
        uniq, inv = np.unique(group, return_inverse=True)
        new_labels = [" + ".join(labels[i] for i in np.flatnonzero(group == g)) for g in uniq]
        codes, labels, ncell = inv[codes], new_labels, len(uniq)
        warnings.warn(
            "adjust_nonresponse: merged "
            + "; ".join(
                f"[{' + '.join(m['cells'])}] into [{' + '.join(m['merged_into'])}]" for m in merged
            ),
            CellsCollapsedWarning,
            stacklevel=2,
        )
    w = np.asarray(design.weights, dtype=np.float64)
    sum_d = np.bincount(codes, weights=w, minlength=ncell)
    sum_dr = np.bincount(codes, weights=w * r, minlength=ncell)
    if (sum_dr <= 0).any():
        k = int(np.flatnonzero(sum_dr <= 0)[0])
        raise ValidationError(f"adjust_nonresponse: respondents in {labels[k]} have zero weight")
    factor = sum_d / sum_dr
    rep = design.replicate_weights
    rep_new = None
    if rep is not None:
        rs = group_sums(codes, rep, ncell)
        rr = group_sums(codes, rep * r[:, None], ncell)
        if (rr <= 0).any():
            k, j = np.argwhere(rr <= 0)[0]
            raise ValidationError(
                f"adjust_nonresponse: class {labels[k]} has no respondent weight in replicate "
                f"{j + 1}; use coarser cells or collapse=True with a larger min_respondents"
            )
        rep_new = (rep * (rs / rr)[codes])[r]
    w_new = (w * factor[codes])[r]
    table = pd.DataFrame(
        {
            "cell": labels,
            "sampled": np.bincount(codes, minlength=ncell),
            "responded": np.bincount(codes, weights=r.astype(float), minlength=ncell).astype(int),
            "response_rate_weighted": sum_dr / sum_d,
            "factor": factor,
        }
    )
    info = {
        "method": method,
        "cells": table,
        "merged": merged,
        "n_sampled": n,
        "n_respondents": int(r.sum()),
    }
    if p is not None:
        info["propensity"] = p
    step = NonresponseStep(
        kind="nonresponse",
        spec={"cells": cells, "covariates": covariates},
        w_in=w[r],
        w_out=w_new,
        info=info,
    )
    return _subset(design, r, w_new, rep_new, step)


def _subset(design, keep: np.ndarray, w_new, rep_new, step):
    """The design restricted to rows ``keep`` (respondents), with new weights and the step.

    One stage (or ``ultimate_cluster=True``): rebuilt through the public ``SurveyDesign``
    constructor from the design's own strata, PSU and fpc codes (so PSUs or strata without
    respondents drop out, as when R's ``svydesign`` is called on the respondents), then the
    data, replicate settings and history are carried over with ``carried_to``.

    Several stages with the full multistage variance: :meth:`SurveyDesign.keep_rows`, R's
    ``subset()`` of the design: every stage's ids, fpc and nesting, and the units sampled at
    each stage, are kept, so PSUs and SSUs without respondents count as zero totals (the domain
    variance). Calling ``svydesign`` on the respondents instead would recount the SSUs sampled
    in each PSU from the respondents (and in R fails as soon as a PSU keeps one respondent:
    "Stratum has only one PSU at stage 2").
    """

    if not design.ultimate_cluster:
        return design.keep_rows(keep, w_new, step=step, replicate_weights=rep_new)
    data = design.frame.loc[keep].reset_index(drop=True)
    helper = pd.DataFrame({"w": w_new})
    kw = {}
    if design.has_strata:
        helper["s"] = design.strata_labels[design.strata[keep]]
        kw["strata"] = "s"
    if design.clusters is not None:
        helper["p"] = design.clusters[keep]
        kw["psu"] = "p"
    if design.fpc is not None:
        helper["f"] = design.fpc[keep]
        kw["fpc"] = "f"
    new = SurveyDesign(helper, weights="w", single_psu=design.single_psu, **kw)
    return design.carried_to(new, data, step=step, replicate_weights=rep_new)
