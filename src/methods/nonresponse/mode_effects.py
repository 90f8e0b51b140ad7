"""Telephone-versus-paper mode effects: selection and measurement parts of the difference.

Public function (re-exported by :mod:`methods.nonresponse.rates`): :func:`mode_effects`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from methods.core.errors import UsageError, ValidationError
from methods.nonresponse.common import (
    NonresponseWarning,
    bootstrap_cell_totals,
    logistic_newton,
    main_effects_matrix,
    make_patterns,
    resolve,
    saturated_matrix,
    weights_array,
)

COMPONENTS: tuple[str, ...] = ("total", "selection", "measurement")


def satisfied_indicator(s: pd.Series, name: str) -> np.ndarray:
    """Binary satisfaction (1.0 / 0.0, NaN = not in the base) from 0/1 or the 1-8 answer scale.

    A column whose non-missing values are all 0 or 1 (or bool) is taken as already binary.
    Otherwise values must be answer codes 1-8 (docs/data_contract.md section 2): 1-3 satisfied,
    4-7 not, 8 (don't know / not applicable) and blank excluded from the base.
    """
    if pd.api.types.is_bool_dtype(s.dtype):
        return s.to_numpy(dtype=float)
    num = pd.to_numeric(s, errors="coerce")
    not_numeric = num.isna().to_numpy() & s.notna().to_numpy()
    v = num.to_numpy(dtype=float)
    ok = np.isfinite(v)
    binary = bool(np.isin(v[ok], [0.0, 1.0]).all())
    allowed = [0.0, 1.0] if binary else np.arange(1.0, 9.0)
    bad = not_numeric | (ok & ~np.isin(v, allowed))
    if bad.any():
        raise ValidationError(
            "outcome must be 0/1 (satisfied) or an answer code 1-8 (1-3 satisfied, 4-7 not, "
            "8 don't know); fix these values",
            column=name,
            rows=(np.flatnonzero(bad) + 1).tolist(),
        )
    if binary:
        return v
    out = np.where(v <= 3, 1.0, 0.0)
    out[~ok | (v == 8)] = np.nan
    return out


def _level_matrix(codes: np.ndarray, n_levels: Sequence[int]) -> tuple[np.ndarray, list]:
    """(sum L, P) indicator of pattern p being in level k of covariate v, and row labels."""
    P = codes.shape[0]
    blocks, labels = [], []
    for v, L in enumerate(n_levels):
        m = np.zeros((L, P))
        m[codes[:, v], np.arange(P)] = 1.0
        blocks.append(m)
        labels += [(v, k) for k in range(L)]
    return np.vstack(blocks), labels


def _decompose(
    Wa: np.ndarray,
    Wa1: np.ndarray,
    Wb: np.ndarray,
    Wb1: np.ndarray,
    X: np.ndarray,
    method: str,
    ref_a: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Total, selection and measurement differences (a minus b) for every column (replicate).

    All inputs are (patterns, B) weighted totals: Wa respondents in mode a, Wa1 those
    satisfied, and likewise for b. Returns a (3, B) array and the Newton convergence flags.
    """
    with np.errstate(invalid="ignore", divide="ignore"):
        ya = Wa1.sum(0) / Wa.sum(0)
        yb = Wb1.sum(0) / Wb.sum(0)
        if method == "weighting":
            e, conv = logistic_newton(X, Wa, Wb)  # P(mode a | x)
            e = np.clip(e, 1e-15, 1 - 1e-15)
            if ref_a:  # odds weights carry b respondents to a's covariate profile
                o = e / (1 - e)
                cf = (o * Wb1).sum(0) / (o * Wb).sum(0)
            else:
                o = (1 - e) / e
                cf = (o * Wa1).sum(0) / (o * Wa).sum(0)
        else:  # regression / g-computation
            if ref_a:
                m, conv = logistic_newton(X, Wb1, Wb - Wb1)  # P(satisfied | x, mode b)
                cf = (Wa * m).sum(0) / Wa.sum(0)
            else:
                m, conv = logistic_newton(X, Wa1, Wa - Wa1)
                cf = (Wb * m).sum(0) / Wb.sum(0)
    total = ya - yb
    if ref_a:  # cf = mean answer of a's respondents had they answered in mode b
        return np.vstack([total, cf - yb, ya - cf]), conv
    return np.vstack([total, ya - cf, cf - yb]), conv  # cf: b's respondents answering in a


def mode_effects(
    responses: pd.DataFrame,
    outcome: str,
    covariates: Sequence[str],
    mode_col: str = "mode",
    method: str = "weighting",
    a: str = "telephone",
    b: str = "paper",
    weights=None,
    bootstrap: int = 500,
    seed: int = 0,
    experiment_col: str | None = None,
    model: str = "main",
    ci: str = "normal",
    reference: str | None = None,
    level: float = 0.95,
) -> pd.DataFrame:
    """Split the mode-a minus mode-b difference in satisfaction into selection and measurement.

    Arguments:
        responses: one row per respondent (other modes and rows without a valid answer are
            left out and counted in ``attrs``).
        outcome: column with satisfaction as 0/1 or the 1-8 answer scale (see
            :func:`satisfied_indicator`).
        covariates: categorical columns that explain who responds in which mode (age band,
            gender, ethnicity, offence group, district ...). Missing values are refused.
        mode_col: column holding the mode (case-insensitive).
        method: "weighting" (odds weights from a logistic model of mode given covariates) or
            "regression" (g-computation from a logistic model of the outcome given covariates
            in the other mode).
        a, b: the two modes compared; estimates are a minus b, as proportions (0.04 = 4 points).
        weights: respondents' survey weights (array or column name), default 1.
        bootstrap: number of bootstrap replicates B (at least 50).
        seed: seed of the numpy Generator.
        experiment_col: optional boolean column marking a randomised mode experiment; only
            those rows are used and the total is analysed directly (see Notes).
        model: "main" (main-effects logistic, default) or "saturated" (one parameter per
            covariate pattern: weighting and regression then coincide with direct
            standardisation over cells).
        ci: "normal" (estimate +- z * bootstrap SE, default; agrees with the p-value) or
            "percentile" (bootstrap quantiles).
        reference: whose covariate profile the measurement effect refers to: mode ``a``'s
            respondents (default) or mode ``b``'s.
        level: confidence level of the intervals.

    Returns:
        DataFrame indexed by component (total, selection, measurement) with columns estimate,
        se, ci_low, ci_high, p_value. ``attrs`` records method, model, reference, n_a, n_b,
        rows left out, bootstrap settings and failed replicates.

    Raises:
        UsageError: bad option values; one of the modes has no respondents.
        ValidationError: bad outcome codes, missing covariates, or a covariate level (pattern,
            for ``model="saturated"``) observed in the reference mode but absent from the
            other one (no overlap: collapse categories).

    Notes:
        With reference population A (mode a's respondents), y-bar_a the respondents' mean in
        mode a and y-bar_b in mode b, and c = the mean A's respondents would have given in
        mode b:

        - total = y-bar_a - y-bar_b = selection + measurement;
        - selection = c - y-bar_b (who answers in each mode);
        - measurement = y-bar_a - c (how the same people answer).

        c is estimated by re-weighting b's respondents with the odds e(x)/(1-e(x)) of a
        weighted logistic model e(x) = P(mode a | x) ("weighting"; inverse-probability
        weighting to A's profile), or by averaging over A's respondents the predictions of a
        weighted logistic model P(satisfied | x) fitted to b's respondents ("regression",
        g-computation). With ``reference`` = b the roles are swapped (a's respondents are
        re-weighted to b's profile). Identification needs the covariates to explain mode
        selection (conditional ignorability) and overlap (Vannieuwenhuyze, Loosveldt and
        Molenberghs 2010, "A method for evaluating mode effects in mixed-mode surveys",
        Public Opinion Quarterly 74:1027-1045; 2014, "Evaluating mode effects in mixed-mode
        survey data using covariate adjustment models", J. Official Statistics 30:1-21;
        de Leeuw 2005, "To mix or not to mix data collection modes in surveys", J. Official
        Statistics 21:233-255).

        Uncertainty: a with-replacement bootstrap that resamples respondents within each mode
        (so every replicate keeps both modes) and refits the model(s) in every replicate; the
        fits are vectorised across replicates (:func:`~methods.nonresponse.common.
        logistic_newton` on units grouped by covariate pattern, mode and answer). SE = the
        replicates' standard deviation; p-value = 2(1 - Phi(|estimate / SE|)). Replicates in
        which a level of the reference mode has no counterpart are dropped (and reported).

        Randomised mode experiment (``experiment_col``): random assignment makes the two
        samples comparable, so the total difference among experiment respondents is analysed
        directly as a difference in proportions, SE^2 = sum over both arms of
        sum_i w_i^2 (y_i - y-bar)^2 / (sum_i w_i)^2 (p(1-p)/n unweighted), with a normal
        interval and a Wald test. That total still mixes measurement with differential
        non-response between the arms (Vannieuwenhuyze et al. 2010), so the selection and
        measurement rows are still given, estimated within the experiment as above.
    """
    if method not in ("weighting", "regression"):
        raise UsageError(f"method must be 'weighting' or 'regression', got {method!r}")
    if model not in ("main", "saturated"):
        raise UsageError(f"model must be 'main' or 'saturated', got {model!r}")
    if ci not in ("normal", "percentile"):
        raise UsageError(f"ci must be 'normal' or 'percentile', got {ci!r}")
    if not 0 < level < 1:
        raise UsageError(f"level must lie strictly between 0 and 1, got {level}")
    if int(bootstrap) < 50:
        raise UsageError(f"bootstrap must be at least 50 replicates, got {bootstrap}")
    a_key, b_key = str(a).strip().lower(), str(b).strip().lower()
    if a_key == b_key:
        raise UsageError(f"a and b must be different modes, got {a!r} twice")
    ref = a_key if reference is None else str(reference).strip().lower()
    if ref not in (a_key, b_key):
        raise UsageError(f"reference must be {a!r} or {b!r}, got {reference!r}")
    ref_a = ref == a_key
    if not isinstance(responses, pd.DataFrame):
        raise UsageError("responses must be a pandas DataFrame")

    n_all = len(responses)
    mode = resolve(responses, mode_col, "mode_col", n_all).astype("string").str.strip().str.lower()
    y_all = satisfied_indicator(resolve(responses, outcome, "outcome", n_all), outcome)
    w_all = weights_array(responses, weights, n_all)
    in_modes = mode.isin([a_key, b_key]).fillna(False).to_numpy(dtype=bool)
    keep = in_modes & np.isfinite(y_all)
    if experiment_col is not None:
        flag = resolve(responses, experiment_col, "experiment_col", n_all)
        flag = flag.fillna(False).astype(bool).to_numpy()
        keep &= flag
    dropped_mode = int((~in_modes).sum())
    dropped_outcome = int((in_modes & ~np.isfinite(y_all)).sum())
    df = responses.loc[keep].reset_index(drop=True)
    y = y_all[keep]
    w = w_all[keep]
    is_b = (mode[keep] == b_key).to_numpy(dtype=bool)
    n_a, n_b = int((~is_b).sum()), int(is_b.sum())
    if n_a == 0 or n_b == 0:
        raise UsageError(
            f"need respondents with a valid answer in both modes: {a_key}={n_a}, {b_key}={n_b}"
            + (" within the experiment" if experiment_col is not None else "")
        )

    pat = make_patterns(df, covariates)
    P = pat.n_patterns
    n_levels = [len(lv) for lv in pat.levels]
    X = saturated_matrix(P) if model == "saturated" else main_effects_matrix(pat.codes, n_levels)
    if model == "saturated":
        check, check_labels = np.eye(P), [("pattern", p) for p in range(P)]
    else:
        check, check_labels = _level_matrix(pat.codes, n_levels)
    g = pat.unit_pattern * 4 + is_b.astype(np.int64) * 2 + y.astype(np.int64)

    def _split(tot: np.ndarray):
        t = tot.reshape(P, 2, 2, -1)  # pattern, mode (a=0, b=1), y
        return t[:, 0].sum(1), t[:, 0, 1], t[:, 1].sum(1), t[:, 1, 1]

    point = np.bincount(g, w, 4 * P)[:, None]
    Wa, Wa1, Wb, Wb1 = _split(point)
    ref_w, oth_w = (Wa, Wb) if ref_a else (Wb, Wa)
    viol = ((check @ ref_w) > 0) & ((check @ oth_w) <= 0)
    if viol.any():
        j = int(np.flatnonzero(viol[:, 0])[0])
        lab = check_labels[j]
        if lab[0] == "pattern":
            where = ", ".join(
                f"{nm}={pat.levels[v][pat.codes[lab[1], v]]!r}" for v, nm in enumerate(pat.names)
            )
            col = None
        else:
            v, k = lab
            where = f"{pat.names[v]}={pat.levels[v][k]!r}"
            col = pat.names[v]
        oth = b_key if ref_a else a_key
        raise ValidationError(
            f"no overlap: {where} has {ref} respondents but no {oth} respondents, so their "
            f"answers in {oth} cannot be estimated; collapse categories or drop the covariate",
            column=col,
        )
    est_mat, conv = _decompose(Wa, Wa1, Wb, Wb1, X, method, ref_a)
    est = est_mat[:, 0]
    if not conv.all():
        warnings.warn(
            f"mode_effects: the {method} model did not converge in 100 Newton steps; the "
            f"estimates {np.round(est, 4).tolist()} may be unreliable -- collapse sparse categories",
            NonresponseWarning,
            stacklevel=2,
        )

    rng = np.random.default_rng(seed)
    B = int(bootstrap)
    tot = bootstrap_cell_totals(g, w, 4 * P, B, rng, strata=is_b.astype(np.int64))
    bWa, bWa1, bWb, bWb1 = _split(tot)
    reps, rconv = _decompose(bWa, bWa1, bWb, bWb1, X, method, ref_a)  # (3, B)
    rref, roth = (bWa, bWb) if ref_a else (bWb, bWa)
    bad = (((check @ rref) > 0) & ((check @ roth) <= 0)).any(axis=0) | ~np.isfinite(reps).all(0)
    bad |= ~rconv
    n_failed = int(bad.sum())
    if n_failed:
        warnings.warn(
            f"mode_effects: {n_failed} of {B} bootstrap replicates had a covariate level "
            "without overlap between the modes (or a model that did not converge) and were "
            "dropped; the SE may be understated -- consider collapsing sparse categories",
            NonresponseWarning,
            stacklevel=2,
        )
    reps = reps[:, ~bad]
    if reps.shape[1] < 2:
        raise UsageError("fewer than two usable bootstrap replicates; collapse sparse categories")
    se = reps.std(axis=1, ddof=1)
    z = float(stats.norm.ppf(0.5 + level / 2))
    if ci == "normal":
        lo, hi = est - z * se, est + z * se
    else:
        lo, hi = np.quantile(reps, [(1 - level) / 2, (1 + level) / 2], axis=1)
    total_basis = "bootstrap"
    if experiment_col is not None:
        # direct analysis of the randomised comparison: difference in proportions
        va = _linearised_var(y[~is_b], w[~is_b])
        vb = _linearised_var(y[is_b], w[is_b])
        se[0] = np.sqrt(va + vb)
        lo[0], hi[0] = est[0] - z * se[0], est[0] + z * se[0]
        total_basis = "randomised experiment: difference in proportions, linearised SE"
    with np.errstate(invalid="ignore", divide="ignore"):
        pval = 2 * stats.norm.sf(np.abs(est / se))
    out = pd.DataFrame(
        {"estimate": est, "se": se, "ci_low": lo, "ci_high": hi, "p_value": pval},
        index=pd.Index(COMPONENTS, name="component"),
    )
    out.attrs.update(
        {
            "method": method,
            "model": model,
            "a": a_key,
            "b": b_key,
            "reference": ref,
            "n_a": n_a,
            "n_b": n_b,
            "left_out_other_modes": dropped_mode,
            "left_out_no_valid_answer": dropped_outcome,
            "experiment_col": experiment_col,
            "bootstrap": B,
            "bootstrap_failed": n_failed,
            "seed": seed,
            "ci": ci,
            "level": level,
            "total_basis": total_basis,
        }
    )
    return out


def _linearised_var(y: np.ndarray, w: np.ndarray) -> float:
    """Variance of a weighted proportion by linearisation (with-replacement approximation)."""
    sw = w.sum()
    p = (w * y).sum() / sw
    return float((w**2 * (y - p) ** 2).sum() / sw**2)
