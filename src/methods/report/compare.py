"""Comparison with similar forces: each force's satisfaction against the group's mean.

Inspectorate-style "most similar group" comparisons ask whether a force's satisfaction differs
from that of forces like it. Each force's estimate comes from its own survey, weighted with the
same scheme as the monthly report (:func:`methods.report.tables.period_estimates`: design
weights, non-response classes, raking to the force's eligible victims), so the estimates are
comparable and, the samples being drawn independently force by force, independent.

For stage s and the K forces with an estimate, the group mean is the unweighted mean of the
force estimates, ``m = (1/K) sum_j p_j`` (every force counts once, as in the inspectorate's
comparisons), and force k's difference from it is

    d_k = p_k - m = (1 - 1/K) p_k - (1/K) sum_{j != k} p_j,
    Var(d_k) = (1 - 1/K)^2 V_k + (1/K^2) sum_{j != k} V_j          (independent samples),

with ``V_j`` the design-based variance of force j's estimate. The test of ``d_k = 0`` is a Wald
z test; the p-values of a stage's K tests are adjusted for multiple comparisons by Holm's
step-down method (Holm 1979; R ``p.adjust(method = "holm")``), which controls the
family-wise error rate at ``alpha`` over the forces compared on that stage.
"""

from __future__ import annotations

import multiprocessing
import warnings
from collections.abc import Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from methods.config.presets import load_force
from methods.core.errors import UsageError
from methods.core.periods import months_back
from methods.core.schema import STAGE_LABELS, STAGES
from methods.data.store import Store
from methods.frame.eligibility import apply
from methods.frame.register import store_history, store_register
from methods.report.tables import period_estimates, prepare_responses

#: Columns of ``tables/force_comparison.csv``.
COMPARISON_COLUMNS = (
    "force",
    "stage",
    "estimate",
    "ci_low",
    "ci_high",
    "n",
    "difference",
    "difference_ci_low",
    "difference_ci_high",
    "p_value",
    "p_adjusted",
    "significant",
    "note",
)


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm's step-down adjusted p-values (R ``p.adjust(p, "holm")``); NaN stays NaN."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.maximum.accumulate((m - np.arange(m)) * p[order])
    out[order] = np.minimum(adj, 1.0)
    return out


def window_months(month: str, window: int) -> list[str]:
    """The months compared: ``month`` alone (window 1) or the ``window`` months ending with it."""
    if window < 1:
        raise UsageError(f"the comparison window must be at least 1 month, got {window}")
    return months_back(month, window)


def _month_number(months: pd.Series) -> np.ndarray:
    """``YYYY-MM`` as ``year * 12 + month - 1``."""
    m = months.astype("str")
    return (m.str[:4].astype(int) * 12 + m.str[5:7].astype(int) - 1).to_numpy()


def first_contact_dates(months: pd.Series) -> np.ndarray:
    """The contact reference date of each row's month: the first day after it, as
    :func:`methods.report.monthly.eligible_frame` and the month pipeline use."""
    idx = _month_number(months) + 1  # the next month, as year * 12 + month - 1
    return (idx - (1970 * 12)).astype("datetime64[M]").astype("datetime64[D]")


def _eligible(victims: pd.DataFrame, preset, store: Store) -> pd.DataFrame:
    """The eligible victims of every survey of ``preset``, month by month: the rows
    :func:`methods.report.monthly.eligible_frame` gives (same rules in the same order, same
    contact reference date, same rows in the same order), for less work.

    :func:`methods.frame.eligibility.apply` decides row by row, each row against its own
    month (the re-survey window and one case per person a month look at the row's ``month``;
    the contact window at its month's reference date, given per row), so all the months are
    judged in one call per survey instead of one per month and survey:

    - each survey gets only its offence groups' victims (the others are excluded as out of
      scope at its first step), every month at once, with each row's reference date;
    - the store's opt-out register and re-survey history are read once for all months and
      surveys, and the history is cut to the months a survey's re-survey rule can look at
      (``[first - N, last]``: a sample in any other month cannot exclude anyone);
    - the eligible rows are put back in the order of the month-by-month path (month, then
      survey in the preset's order, then file order).

    The exclusion flow (counts per rule) is not kept: the comparison does not show it.
    """
    if not len(victims) or not preset.surveys:
        return victims.iloc[:0].assign(survey=pd.Series(dtype=object))
    # in month order, file order within a month, as a one-month read gives each month
    order = np.argsort(victims["month"].astype("str").to_numpy(), kind="stable")
    v = victims.iloc[order].reset_index(drop=True)
    v_month = _month_number(v["month"])
    reference = first_contact_dates(v["month"])
    offence = v["offence_group"].astype("str").str.lower()
    register = store_register(store)
    history = store_history(store)
    h_month = _month_number(history["month"]) if len(history) else np.zeros(0, dtype=int)
    rows, keys = [], []
    for j, s in enumerate(preset.surveys):
        scope = np.flatnonzero(offence.isin(s.offence_groups).to_numpy(dtype=bool))
        rule = s.rule("resurveyed_within_months")
        hist = history
        if rule is not None and len(scope):
            lo, hi = v_month[scope].min() - int(rule.months or 0), v_month[scope].max()
            hist = history[(h_month >= lo) & (h_month <= hi)].reset_index(drop=True)
        with warnings.catch_warnings():
            # matched on the victim pseudonym: the analysis table holds no phone numbers
            warnings.filterwarnings("ignore", message="the opt-out register is matched")
            res = apply(
                v.iloc[scope].reset_index(drop=True),
                s,
                store=store,
                reference_date=reference[scope],
                optout_hashes=register,
                history=hist,
            )
        kept = scope[res.mask]
        rows.append(kept)
        keys.append(np.full(len(kept), j))
    pos, survey_no = np.concatenate(rows), np.concatenate(keys)
    by = np.lexsort((pos, survey_no, v_month[pos]))  # month, survey, file order
    pos, survey_no = pos[by], survey_no[by]
    names = np.array([s.name for s in preset.surveys], dtype=object)
    out = v.iloc[pos].reset_index(drop=True)
    out["survey"] = names[survey_no]
    out["month"] = out["month"].astype("str").to_numpy(dtype=object)
    return out


def force_period_estimates(
    db: str | Path,
    force: str,
    periods: Sequence[Sequence[str]],
    *,
    min_base: int = 30,
    min_cell: int = 5,
) -> list[pd.DataFrame]:
    """One force's five-stage estimates for each period of ``periods`` (a list of month lists),
    weighted as the monthly report; the store is read once for all the periods' months.

    Each period's table is the one :func:`force_estimates` gives for that period alone (the
    same rows in the same order, so the same floating-point sums).

    Raises:
        UsageError: the store does not exist or lacks some of the months (named), or a period
            has no completed interviews.
    """
    preset = load_force(force)
    path = Path(db)
    if not path.is_file():
        raise UsageError(f"no store for {preset.title}: {path.name} does not exist")
    months = sorted({m for period in periods for m in period})
    with Store(path, read_only=True) as st:
        loaded = set(st.loaded_months())
        missing = [m for m in months if m not in loaded]
        if missing:
            raise UsageError(
                f"{preset.title}'s store does not hold {', '.join(missing)} "
                f"(it holds {len(loaded)} month(s)); load them or choose other months"
            )
        # every month must be this force's (a store may hold several forces side by side)
        whose = {st.require_force(preset, m) for m in months}.pop()
        responses = st.responses(months=months, force=whose)
        victims = st.victims(months=months, force=whose)
        eligible = _eligible(victims, preset, st)
    asked = {s for sv in preset.surveys for s in sv.stages}
    r_month = responses["month"].to_numpy()
    e_month = eligible["month"].to_numpy()
    out = []
    for period in periods:
        period = list(period)
        sampled = prepare_responses(responses[np.isin(r_month, period)].reset_index(drop=True))
        elig = eligible[np.isin(e_month, period)].reset_index(drop=True)
        table = period_estimates(sampled, elig, period, min_base=min_base, min_cell=min_cell)
        if table is None:
            raise UsageError(f"{preset.title} has no completed interviews in {', '.join(period)}")
        out.append(table.assign(force=preset.name, asked=table["stage"].isin(asked)))
    return out


def _period_job(job: tuple) -> list[pd.DataFrame]:
    db, force, periods, min_base, min_cell = job
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # category merges: listed in each report
        return force_period_estimates(db, force, periods, min_base=min_base, min_cell=min_cell)


def estimate_forces(
    jobs: Sequence[tuple[str | Path, str, Sequence[Sequence[str]]]],
    *,
    workers: int = 1,
    min_base: int = 30,
    min_cell: int = 5,
) -> list[list[pd.DataFrame]]:
    """:func:`force_period_estimates` for each ``(store, force, periods)`` of ``jobs``, in
    order, on ``workers`` processes (1: in this process).

    The forces are independent, so they run side by side on a process pool (spawned
    workers); each force's tables are exactly those of a run in this process.
    """
    if workers < 1:
        raise UsageError(f"workers must be at least 1, got {workers}")
    tasks = [
        (db, force, [list(p) for p in periods], min_base, min_cell) for db, force, periods in jobs
    ]
    if workers == 1 or len(tasks) < 2:
        return [_period_job(t) for t in tasks]
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        return list(pool.map(_period_job, tasks))


def force_estimates(
    db: str | Path,
    force: str,
    months: Sequence[str],
    *,
    min_base: int = 30,
    min_cell: int = 5,
) -> pd.DataFrame:
    """One force's five-stage estimates for ``months`` pooled, weighted as the monthly report.

    Raises:
        UsageError: the store does not exist or lacks some of ``months`` (named).
    """
    return force_period_estimates(db, force, [list(months)], min_base=min_base, min_cell=min_cell)[
        0
    ]


def compare_forces(
    estimates: pd.DataFrame, *, conf_level: float = 0.95, alpha: float = 0.05
) -> pd.DataFrame:
    """Each force against its group's mean, stage by stage (see the module notes).

    Arguments:
        estimates: one row per force and stage with ``force, stage, estimate, se, ci_low,
            ci_high, n`` and optionally ``asked`` (False when the force's questionnaire does
            not ask the stage) and ``suppressed``.
        conf_level: of the difference's interval.
        alpha: family-wise error rate of a stage's Holm-adjusted tests.

    Returns:
        The :data:`COMPARISON_COLUMNS` table; a force left out of a stage's comparison keeps its
        row with a plain ``note`` saying why (stage not asked, base too small, no variance
        estimate) instead of a silent NaN.

    Raises:
        UsageError: fewer than two forces, or missing columns.
    """
    need = {"force", "stage", "estimate", "se", "ci_low", "ci_high", "n"}
    missing = need - set(estimates.columns)
    if missing:
        raise UsageError(f"the estimates lack column(s) {sorted(missing)}")
    if estimates["force"].nunique() < 2:
        raise UsageError("a comparison needs at least two forces")
    z = stats.norm.ppf(0.5 + conf_level / 2)
    rows = []
    for stage in [s for s in STAGES if s in set(estimates["stage"])]:
        t = estimates[estimates["stage"] == stage].reset_index(drop=True)
        note = np.full(len(t), "", dtype=object)
        asked = t["asked"].to_numpy(bool) if "asked" in t else np.ones(len(t), bool)
        p, v = t["estimate"].to_numpy(float), t["se"].to_numpy(float) ** 2
        note[~asked] = "stage not asked in this force's survey"
        small = asked & ~np.isfinite(p)
        note[small] = "too few answers to publish an estimate"
        novar = asked & np.isfinite(p) & ~np.isfinite(v)
        note[novar] = "no variance estimate"
        use = asked & np.isfinite(p) & np.isfinite(v)
        k = int(use.sum())
        diff = np.full(len(t), np.nan)
        sd = np.full(len(t), np.nan)
        if k >= 2:
            mean = p[use].mean()
            total_v = v[use].sum()
            diff[use] = p[use] - mean
            var = (1 - 1 / k) ** 2 * v[use] + (total_v - v[use]) / k**2
            sd[use] = np.sqrt(var)
        elif k == 1:
            note[use] = "the only force with an estimate for this stage"
        with np.errstate(divide="ignore", invalid="ignore"):
            zstat = diff / sd
            pval = np.where(sd > 0, 2 * stats.norm.sf(np.abs(zstat)), np.nan)
        zero = use & (sd == 0)
        note[zero] = "no sampling variance in any force: no test"
        padj = holm(pval)
        for i in range(len(t)):
            rows.append(
                {
                    "force": t.loc[i, "force"],
                    "stage": stage,
                    "estimate": p[i],
                    "ci_low": t.loc[i, "ci_low"],
                    "ci_high": t.loc[i, "ci_high"],
                    "n": int(t.loc[i, "n"]),
                    "difference": diff[i],
                    "difference_ci_low": diff[i] - z * sd[i],
                    "difference_ci_high": diff[i] + z * sd[i],
                    "p_value": pval[i],
                    "p_adjusted": padj[i],
                    "significant": bool(np.isfinite(padj[i]) and padj[i] < alpha),
                    "note": note[i],
                }
            )
    return pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))


def compare_stores(
    stores: Mapping[str, str | Path],
    month: str,
    *,
    window: int = 1,
    min_base: int = 30,
    conf_level: float = 0.95,
    alpha: float = 0.05,
    workers: int = 1,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Estimates of every force in ``stores`` (force -> store file) and their comparison.

    Returns ``(estimates, comparison)``; forces are compared on the ``window`` months ending
    with ``month`` (1: the month alone; 12: a rolling year); ``workers`` processes estimate
    the forces side by side (:func:`estimate_forces`).
    """
    months = window_months(month, window)
    jobs = [(db, force, [months]) for force, db in stores.items()]
    done = estimate_forces(jobs, workers=workers, min_base=min_base)
    estimates = pd.concat([tables[0] for tables in done], ignore_index=True)
    return estimates, compare_forces(estimates, conf_level=conf_level, alpha=alpha)


def comparison_view(table: pd.DataFrame, titles: Mapping[str, str]) -> pd.DataFrame:
    """The comparison in plain English for the report (percentages, one decimal)."""
    out = pd.DataFrame(
        {
            "Force": table["force"].map(titles),
            "Stage": table["stage"].map(STAGE_LABELS),
            "Satisfied (95% CI)": [
                "" if not np.isfinite(e) else f"{100 * e:.1f}% ({100 * lo:.1f}% to {100 * hi:.1f}%)"
                for e, lo, hi in zip(table["estimate"], table["ci_low"], table["ci_high"])
            ],
            "Difference from the group mean (95% CI)": [
                ""
                if not np.isfinite(d)
                else f"{100 * d:+.1f} points ({100 * lo:+.1f} to {100 * hi:+.1f})"
                for d, lo, hi in zip(
                    table["difference"], table["difference_ci_low"], table["difference_ci_high"]
                )
            ],
            "Adjusted p-value": [
                "" if not np.isfinite(p) else ("below 0.001" if p < 0.001 else f"{p:.3f}")
                for p in table["p_adjusted"]
            ],
            "Significantly different": np.where(table["significant"], "yes", "no"),
            "Note": table["note"],
        }
    )
    return out


def plot_comparison(table: pd.DataFrame, stage: str, titles: Mapping[str, str], ax=None):
    """Dot-and-interval chart of the forces' estimates for ``stage``, ordered by estimate,
    with the group mean as a line; significant differences are filled dots."""
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    t = table[(table["stage"] == stage) & np.isfinite(table["estimate"])]
    t = t.sort_values("estimate").reset_index(drop=True)
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.5 * len(t) + 1.5))
    y = np.arange(len(t))
    est = 100 * t["estimate"].to_numpy(float)
    lo, hi = 100 * t["ci_low"].to_numpy(float), 100 * t["ci_high"].to_numpy(float)
    ax.hlines(y, lo, hi, color="#4d4d4d", linewidth=2)
    sig = t["significant"].to_numpy(bool)
    ax.plot(est[~sig], y[~sig], "o", mfc="white", mec="#0072b2", mew=2, ms=8, label="not different")
    ax.plot(est[sig], y[sig], "o", color="#d55e00", ms=8, label="significantly different")
    mean = est[np.isfinite(t["difference"].to_numpy(float))]
    if len(mean):
        ax.axvline(
            float(np.mean(100 * (t["estimate"] - t["difference"]).dropna())),
            color="#999999",
            linestyle="--",
            label="group mean",
        )
    ax.set_yticks(y, [titles.get(f, f) for f in t["force"]])
    ax.set_xlabel(f"{STAGE_LABELS[stage]}: percent satisfied (95% CI)")
    ax.legend(loc="lower right", frameon=False, fontsize=8)
    ax.spines[["top", "right"]].set_visible(False)
    return ax
