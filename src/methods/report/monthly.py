"""The monthly report's weighting scheme and comparisons, built from the workbench's methods.

The report weights each survey's respondents the same way every month (Kalton and
Flores-Cervantes 2003):

1. design weight d = 1 / inclusion probability, strata = month x survey x sampling stratum;
2. non-response adjustment within offence-group classes (weighting classes; a class without
   respondents is merged with a neighbour and reported);
3. raking to the eligible victims' profile by age band, gender, ethnicity and offence group
   (Deming and Stephan 1940), after merging sparse categories so that every raking cell has
   at least ``min_cell`` respondents (categories merged are listed in the result).

Everything is computed by :mod:`methods.design.survey` and :mod:`methods.weighting`; this module only
chooses the scheme's categories and collects what the report shows.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from methods.core.profile import AGE_BANDS, MINORITY, age_group, profile_columns  # noqa: F401
from methods.core.schema import STAGE_LABELS, STAGES
from methods.design.survey import SurveyDesign
from methods.frame.eligibility import apply
from methods.frame.register import store_history, store_register
from methods.report.disclosure import additive_constraints, suppress_counts
from methods.weighting import CellsCollapsedWarning


def _collapse(sample: pd.Series, population: pd.Series, min_cell: int) -> tuple[dict, list]:
    """Map sparse levels (fewer than ``min_cell`` respondents) onto the largest level.

    Returns the mapping level -> merged level and a list of (from, to) merges made.
    """
    counts = sample.value_counts()
    levels = sorted(set(population.unique()) | set(sample.unique()), key=str)
    if not len(counts):
        return {lv: lv for lv in levels}, []
    biggest = counts.idxmax()
    mapping = {}
    merges = []
    for lv in levels:
        if counts.get(lv, 0) < min_cell and lv != biggest:
            mapping[lv] = biggest
            merges.append((lv, biggest))
        else:
            mapping[lv] = lv
    return mapping, merges


RAKE_VARS = ("age_band", "gender_w", "ethnic_group", "offence_group")


@dataclass
class WeightedSurvey:
    """The result of :func:`weight_responses`: the final design and what each step did."""

    design: object
    steps: list[str] = field(default_factory=list)
    merges: list[tuple[str, str, str]] = field(default_factory=list)
    raked: bool = False


def weight_responses(
    sampled: pd.DataFrame,
    eligible: pd.DataFrame,
    *,
    min_cell: int = 5,
    rake_vars: tuple[str, ...] = RAKE_VARS,
) -> WeightedSurvey:
    """Weight one survey-period's respondents to its eligible victims' profile.

    Arguments:
        sampled: every sampled case of the period (respondents and non-respondents) with
            ``inclusion_prob``, ``design_stratum``, ``disposition`` and the profile columns.
        eligible: the eligible victims of the period (the population the sample represents),
            with ``age``, ``gender``, ``ethnicity``, ``offence_group``.
        min_cell: smallest number of respondents per raking category; sparser categories are
            merged (listed in ``merges``).

    Returns:
        :class:`WeightedSurvey` with the respondents' design. When fewer than ``2 * min_cell``
        respond, raking is skipped (``raked`` False) and a warning says so.
    """

    data = profile_columns(sampled)
    data["responded"] = data["disposition"].astype(str).str.startswith("1.")
    data["design_weight"] = 1.0 / data["inclusion_prob"].astype(float)
    pop = profile_columns(eligible)
    resp = data.loc[data["responded"]]
    margins = {}
    merges = []
    for var in rake_vars:
        mapping, merged = _collapse(resp[var], pop[var], min_cell)
        merges += [(var, a, b) for a, b in merged]
        data[f"{var}_r"] = data[var].map(mapping)
        margins[f"{var}_r"] = pop[var].map(mapping).value_counts().to_dict()
    design = SurveyDesign(
        data, weights="design_weight", strata="design_stratum", single_psu="average"
    )
    out = WeightedSurvey(design=design, steps=["design weights (1 / inclusion probability)"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CellsCollapsedWarning)  # merges are listed below
        design = design.adjust_nonresponse("responded", cells=["offence_group"], collapse=True)
    out.steps.append("non-response adjustment within offence groups")
    if len(resp) < 2 * min_cell:
        warnings.warn(
            f"only {len(resp)} respondents: raking to the victim profile skipped "
            f"(needs at least {2 * min_cell})",
            stacklevel=2,
        )
        out.design = design
        return out
    out.merges = merges
    # Raking reproduces the number of eligible victims; keep every margin on the same total.
    design = design.rake(margins)
    out.steps.append("raked to the eligible profile: " + ", ".join(rake_vars))
    out.design = design
    out.raked = True
    return out


def satisfaction_by_stage(design, stages=STAGES, min_base: int = 30, ci: str = "logit"):
    """Percent satisfied per stage from a weighted design, with 95% CI and unweighted base.

    Stage columns must already hold the satisfied indicator (1/0/NaN) as ``sat_<stage>``.
    Estimates on fewer than ``min_base`` valid answers are suppressed (docs/methods.md).
    """
    rows = []
    data = design.data
    for stage in stages:
        col = f"sat_{stage}"
        n = int(np.isfinite(data[col].to_numpy(dtype=float)).sum())
        row = {"stage": stage, "label": STAGE_LABELS[stage], "n": n, "suppressed": n < min_base}
        if n >= max(min_base, 2):
            est = design.proportion(col, ci=ci).iloc[0]
            row.update({k: float(est[k]) for k in ("estimate", "se", "ci_low", "ci_high")})
        else:
            row.update(dict.fromkeys(("estimate", "se", "ci_low", "ci_high"), np.nan))
        rows.append(row)
    cols = ["stage", "label", "estimate", "se", "ci_low", "ci_high", "n", "suppressed"]
    return pd.DataFrame(rows)[cols]


def eligible_frame(victims: pd.DataFrame, preset, surveys=None, store=None):
    """The victims each survey of ``preset`` could sample, month by month, and the exclusion flow.

    Applies :func:`methods.frame.eligibility.apply` (the survey's rules in their configured order,
    the opt-out register and re-survey history from ``store`` when given) to each month of
    ``victims``, with contact from the first day after the month. With ``store``, every month
    of ``victims`` must hold ``preset``'s data (:meth:`methods.data.store.Store.require_force`).

    Returns:
        ``(eligible, flow)``: the eligible rows with ``survey`` and ``month`` columns, and the
        exclusion flow tables stacked with ``survey`` and ``month`` columns.
    """

    frames, flows = [], []
    register = history = None
    if store is not None:  # a report labelled with one force never reads another's victims
        for month in sorted(victims["month"].unique()):
            store.require_force(preset, month)
        # read once for every month and survey (apply would re-read them at each call)
        register, history = store_register(store), store_history(store)
    for month, vm in victims.groupby("month", sort=True):
        reference = (pd.Period(month, freq="M") + 1).start_time.strftime("%Y-%m-%d")
        for s in preset.surveys:
            if surveys is not None and s.name not in surveys:
                continue
            with warnings.catch_warnings():
                # The analysis table holds no phone numbers: the register is matched on the
                # victim pseudonym, which the eligibility module announces with a warning.
                warnings.filterwarnings("ignore", message="the opt-out register is matched")
                res = apply(
                    vm,
                    s,
                    store=store,
                    reference_date=reference,
                    optout_hashes=register,
                    history=history,
                )
            frames.append(res.eligible.assign(survey=s.name, month=month))
            flows.append(res.flow.assign(survey=s.name, month=month))
    if not frames:
        return victims.iloc[:0], pd.DataFrame()
    return pd.concat(frames, ignore_index=True), pd.concat(flows, ignore_index=True)


def month_flow(flow: pd.DataFrame, month: str) -> pd.DataFrame:
    """One month's exclusion flow as a table: one row per rule (in the order first applied),
    one column per survey with the victims that rule excluded; the first row gives the
    victims in the month and the last the eligible victims left (CONSORT-style)."""
    f = flow[flow["month"] == month]
    order = list(dict.fromkeys(f.sort_values("step")["label"]))
    table = f.pivot_table(
        index="label", columns="survey", values="excluded", aggfunc="sum", fill_value=0, sort=False
    ).reindex(order)
    start = f[f["step"] == 0].set_index("survey")["remaining"]
    end = f.sort_values("step").groupby("survey")["remaining"].last()
    table.iloc[0] = start.reindex(table.columns).to_numpy()
    table.loc["eligible"] = end.reindex(table.columns).to_numpy()
    table.columns.name = None
    return table.astype(int).reset_index(names="step")


def flow_table(
    flow: pd.DataFrame, month: str, min_count: int = 10, suppress_zeros: bool = False
) -> pd.DataFrame:
    """One month's exclusion flow as a tidy, published table, small counts suppressed.

    Arguments:
        flow: the stacked flow tables of :func:`eligible_frame`.
        month: ``YYYY-MM``.
        min_count: counts below this (and above zero) are suppressed.
        suppress_zeros: also suppress zeros (default: zeros are shown; see
            :func:`methods.report.tables.suppress_counts`).

    Returns:
        One row per survey and step: ``survey, step, label, role, victims,
        victims_suppressed``; ``role`` is "in month" (step 0: the month's victims),
        "excluded" (victims a rule excluded, in the order applied) or "eligible" (those left,
        from which the sample was drawn). Suppressed counts are blank.

    Notes:
        The additive constraints a reader can use (:func:`methods.report.tables.suppress_counts`):
        in each survey's column, victims in month = sum of the exclusions + eligible, so one
        suppressed count in a column could be worked out and the next smallest is suppressed
        too; and every survey starts from the same victims in month, so those counts are
        equal across surveys.
    """

    f = flow[flow["month"] == month]
    surveys = list(dict.fromkeys(f["survey"]))
    f = f.assign(_s=f["survey"].map({s: i for i, s in enumerate(surveys)}))
    f = f.sort_values(["_s", "step"], kind="stable")
    start = f[f["step"] == 0].assign(role="in month", victims=lambda d: d["remaining"])
    excl = f[f["step"] > 0].assign(role="excluded", victims=lambda d: d["excluded"])
    end = f.groupby("_s", sort=True).tail(1)
    end = end.assign(
        step=end["step"] + 1, label="eligible", role="eligible", victims=end["remaining"]
    )
    cols = ["_s", "survey", "step", "label", "role", "victims"]
    table = (
        pd.concat([start[cols], excl[cols], end[cols]], ignore_index=True)
        .sort_values(["_s", "step"], kind="stable")
        .drop(columns="_s")
        .reset_index(drop=True)
    )
    table["victims"] = table["victims"].astype(np.int64)
    sign = np.where(table["role"] == "in month", -1.0, 1.0)
    per_survey = additive_constraints(table, ["victims"], by="survey", sign=sign)
    first = np.flatnonzero(table["role"].to_numpy() == "in month")
    same_start = np.zeros((max(len(first) - 1, 0), len(table)))
    same_start[np.arange(len(first) - 1), first[:-1]] = 1.0
    same_start[np.arange(len(first) - 1), first[1:]] = -1.0
    return suppress_counts(
        table,
        ["victims"],
        min_count,
        constraints=np.vstack([per_survey, same_start]),
        suppress_zeros=suppress_zeros,
    )
