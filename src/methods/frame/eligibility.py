"""Eligibility: a survey's exclusion rules -> the eligible frame and a CONSORT-style flow table.

:func:`apply` takes a month's victims (from :meth:`methods.data.store.Store.victims` or a synthetic
extract) and a survey definition (:mod:`methods.config.presets`), keeps the victims whose offence group
the survey covers, then applies the survey's exclusion rules **in their configured order**.
Each victim is counted against the first rule that excludes them, so the flow table reads like
a CONSORT diagram (Schulz, Altman and Moher 2010, CONSORT 2010 statement, item 13 and its flow
diagram): victims at the start, then per step the number excluded and the number remaining,
ending with the eligible frame.

Rules (:data:`methods.config.presets.EXCLUSION_RULES`):

- flag rules (opted_out, vulnerable, no_further_action_requested, uncooperative, sensitive,
  police_victim): the victim extract's flag (docs/data_contract.md section 1) is true.
- ``under_min_age``: a known age below the survey's minimum (blank ages are kept).
- ``outside_contact_window``: the survey's contact window (``contact_window_weeks`` after the
  report) has closed before ``reference_date``, the first day fieldwork can contact anyone.
- ``resurveyed_within_months`` (N): the same person (``person_id``) was sampled by any survey
  in the N months before this one, or by another survey this month (the store's ``samples``
  history). A survey applying this rule also keeps, as a last step, only the first eligible
  case of each person in the month (one case per victim a month, so nobody is called twice;
  the sample then represents victims rather than crimes).
- ``optout_register``: the victim's ``person_id`` (= keyed hash of the victim id) or the keyed
  hash of their normalised phone number is on the force's opt-out register. The register is
  force-wide and permanent: with ``enforce_register=True`` (the default) it is applied, as a
  last step, even to a survey whose rules do not list it.

Exclusions after selection (``when="after"``): the rules are applied again to the sampled
units just before their details leave the force (a case turned sensitive, a late opt-out, a
contact window that closed), optionally with ad-hoc reasons (``extra_rules``, e.g. the victim
died). Such units are **out of scope**: they are removed from the sample and recorded with
AAPOR final disposition 4.10 (not eligible; AAPOR Standard Definitions 2023, section on
disposition codes 4.x). Their design weights are not spread over the others: the remaining
units keep d_i = 1 / pi_i and the eligible population of stratum h is estimated by the sum of
the remaining units' weights, i.e. the out-of-scope units are treated as ineligible and taken
out of the frame count too (Valliant, Dever and Kreuter 2018, *Practical Tools for Designing
and Weighting Survey Samples*, 2nd edn, ch. 13: known ineligibles keep their base weights out
of every later adjustment). :attr:`EligibilityResult.totals` gives those estimated eligible
totals per stratum, for post-stratification and the finite population correction. The
re-survey rule is not re-applied after selection (the sample itself is now in the history).

Everything is vectorised over rows (boolean masks; one merge for the re-survey window).
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from methods.config.presets import FLAG_RULES, ExclusionRule, SurveyDef, load_survey
from methods.core.errors import UsageError, ValidationError
from methods.frame.register import (
    check_phones,
    normalise_phone,
    register_hashes,
    store_history,
    store_register,
)

__all__ = [
    "EligibilityResult",
    "FLOW_COLUMNS",
    "OUT_OF_SCOPE_DISPOSITION",
    "apply",
    "check_phones",
    "normalise_phone",
    "plot_flow",
    "register_hashes",
    "store_history",
    "store_register",
    "synthetic_rule",
]

#: Columns of the flow table.
FLOW_COLUMNS: tuple[str, ...] = ("step", "rule", "label", "excluded", "remaining", "note")
#: AAPOR final disposition of a sampled unit found out of scope after selection.
OUT_OF_SCOPE_DISPOSITION = "4.10"
_ONE_CASE = "one_case_per_victim"
_WHEN = ("before", "after")


# --------------------------------------------------------------------------- result


@dataclass(frozen=True)
class EligibilityResult:
    """What :func:`apply` returns; unpacks as ``eligible, flow = apply(...)``.

    Attributes:
        eligible: the rows of the input that pass every rule (index kept).
        flow: the exclusion flow table (:data:`FLOW_COLUMNS`): step 0 the start, then one row
            per step in order; ``remaining`` of the last row equals ``len(eligible)`` and every
            ``remaining`` is the previous one minus ``excluded``.
        reason: for every excluded input row (index kept), the rule that excluded it first.
        mask: boolean array over the input rows (True = eligible).
        when: ``"before"`` or ``"after"`` selection.
        survey: the survey name.
        totals: ``when="after"`` with ``inclusion_prob`` in the input: per stratum the
            estimated frame size, out-of-scope and eligible totals (sums of 1 / pi); else None.
    """

    eligible: pd.DataFrame
    flow: pd.DataFrame
    reason: pd.Series
    mask: np.ndarray
    when: str
    survey: str
    totals: pd.DataFrame | None = None

    def __iter__(self) -> Iterator[pd.DataFrame]:
        yield self.eligible
        yield self.flow

    def out_of_scope(self, victims: pd.DataFrame) -> pd.DataFrame:
        """The excluded rows of ``victims`` (the input) with ``rule`` and AAPOR
        ``disposition`` 4.10 (meant for ``when="after"``)."""
        out = victims.loc[self.reason.index].copy()
        out["rule"] = self.reason.to_numpy()
        out["disposition"] = OUT_OF_SCOPE_DISPOSITION
        return out


# --------------------------------------------------------------------------- helpers


def _month_index(frame: pd.DataFrame) -> np.ndarray:
    """Month of each row as ``year * 12 + month - 1``: the ``month`` column, else the report
    date."""
    if "month" in frame.columns:
        m = frame["month"].astype("str")
        bad = np.flatnonzero(~m.str.fullmatch(r"\d{4}-(0[1-9]|1[0-2])").fillna(False))
        if bad.size:
            raise ValidationError("month must be YYYY-MM", "month", (bad + 1).tolist())
        return (m.str[:4].astype(int) * 12 + m.str[5:7].astype(int) - 1).to_numpy()
    if "reported_date" not in frame.columns:
        raise UsageError("the victims frame needs a 'month' or a 'reported_date' column")
    d = pd.to_datetime(frame["reported_date"])
    return (d.dt.year * 12 + d.dt.month - 1).to_numpy()


def _history_index(history: pd.DataFrame) -> np.ndarray:
    if "month" not in history.columns or "person_id" not in history.columns:
        raise UsageError(
            "history needs columns person_id and month (and optionally survey); "
            f"got {list(history.columns)}"
        )
    return _month_index(history[["month"]])


def _flag(frame: pd.DataFrame, column: str) -> np.ndarray:
    col = frame[column]
    na = col.isna().to_numpy()
    if na.any():
        raise ValidationError(
            "exclusion flag is missing: every victim needs true or false",
            column,
            (np.flatnonzero(na) + 1).tolist(),
        )
    return col.to_numpy(dtype=bool)


def _require(frame: pd.DataFrame, columns: Iterable[str], why: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise UsageError(
            f"the victims frame lacks column(s) {missing} needed for {why}; "
            f"its columns are {list(frame.columns)}"
        )


def _person_ids(frame: pd.DataFrame, store: Any) -> np.ndarray:
    if "person_id" in frame.columns:
        return frame["person_id"].to_numpy(dtype=object)
    if "victim_id" in frame.columns and store is not None:
        return np.asarray(store.person_pseudonym(frame["victim_id"].to_numpy(dtype=object)))
    raise UsageError(
        "matching the opt-out register or the re-survey history needs a person_id column "
        "(or victim_id and store=)"
    )


def _phone_hashes(frame: pd.DataFrame, store: Any) -> np.ndarray | None:
    """Keyed hash of each row's normalised phone (None where blank); None if unavailable."""
    if "phone_hash" in frame.columns:
        return frame["phone_hash"].to_numpy(dtype=object)
    if "phone" not in frame.columns or store is None:
        return None
    norm = normalise_phone(frame["phone"].reset_index(drop=True))
    out = np.full(len(frame), None, dtype=object)
    have = norm.notna().to_numpy()
    if have.any():
        out[have] = np.asarray(store.optout_hash(norm[have].to_numpy(dtype=object), "phone"))
    return out


def _window_closed(
    frame: pd.DataFrame, weeks: tuple[int, int], reference_date: dt.date | np.ndarray
) -> np.ndarray:
    """The survey's contact window (report + latest weeks) closed before ``reference_date``
    (one date, or one ``datetime64[D]`` per row)."""
    reported = pd.to_datetime(frame["reported_date"]).to_numpy().astype("datetime64[D]")
    last = reported + np.timedelta64(7 * int(weeks[1]), "D")
    if isinstance(reference_date, np.ndarray):
        return last < reference_date
    return last < np.datetime64(reference_date, "D")


def _reference_dates(reference_date: Any, n: int) -> dt.date | np.ndarray | None:
    """``reference_date`` as a date, or (an array-like of n) as ``datetime64[D]`` per row."""
    if reference_date is None or isinstance(reference_date, dt.date):
        return reference_date
    if isinstance(reference_date, str):
        return dt.date.fromisoformat(reference_date)
    ref = np.asarray(reference_date)
    if ref.ndim != 1 or len(ref) != n:
        raise UsageError(
            f"reference_date must be one date or one date per victim ({n}); got shape {ref.shape}"
        )
    try:
        out = ref.astype("datetime64[D]")
    except (TypeError, ValueError) as exc:
        raise UsageError(f"reference_date: not dates (YYYY-MM-DD): {exc}") from None
    bad = np.flatnonzero(np.isnat(out))
    if bad.size:
        raise ValidationError("reference date is missing", "reference_date", (bad + 1).tolist())
    return out


def _resurveyed(
    frame: pd.DataFrame,
    person: np.ndarray,
    history: pd.DataFrame,
    months: int,
    survey: str,
) -> np.ndarray:
    """Rows whose person was sampled in [m - N, m - 1] by any survey, or in m by another."""
    n = len(frame)
    if n == 0 or len(history) == 0:
        return np.zeros(n, dtype=bool)
    h = pd.DataFrame(
        {
            "person_id": history["person_id"].to_numpy(dtype=object),
            "_hm": _history_index(history),
            "_same": (
                history["survey"].astype("str").str.lower().to_numpy() == survey
                if "survey" in history.columns
                else np.zeros(len(history), dtype=bool)
            ),
        }
    )
    f = pd.DataFrame({"person_id": person, "_m": _month_index(frame), "_row": np.arange(n)})
    j = f.merge(h, on="person_id", how="inner")
    lag = j["_m"].to_numpy() - j["_hm"].to_numpy()
    hit = ((lag >= 1) & (lag <= months)) | ((lag == 0) & ~j["_same"].to_numpy(dtype=bool))
    out = np.zeros(n, dtype=bool)
    out[j["_row"].to_numpy()[hit]] = True
    return out


def _survey_def(survey: SurveyDef | str) -> SurveyDef:
    if isinstance(survey, SurveyDef):
        return survey
    if isinstance(survey, str):
        return load_survey(survey)
    raise UsageError(f"survey must be a SurveyDef or a survey name, got {type(survey).__name__}")


# --------------------------------------------------------------------------- apply


def apply(
    victims: pd.DataFrame,
    survey: SurveyDef | str,
    when: str = "before",
    optout_hashes: Iterable[str] | None = None,
    history: pd.DataFrame | None = None,
    reference_date: dt.date | str | None = None,
    store: Any = None,
    *,
    extra_rules: Mapping[str, Any] | None = None,
    enforce_register: bool = True,
    one_case_per_person: bool | None = None,
    match_on: tuple[str, ...] = ("victim", "phone"),
) -> EligibilityResult:
    """Apply a survey's exclusion rules to a month's victims.

    Arguments:
        victims: one row per victim per crime: the analysis columns of
            :meth:`Store.victims` (``person_id``, ``month``, ``offence_group``,
            ``reported_date``, ``age``, the six flags), optionally ``phone`` (personal data,
            used only to match the opt-out register by phone) or a ``phone_hash`` column.
            With ``when="after"``: the sampled units, with ``inclusion_prob`` (and
            ``stratum``) for :attr:`EligibilityResult.totals`.
        survey: the survey (a preset's :class:`SurveyDef`, overrides applied) or a built-in
            survey name.
        when: ``"before"`` selection (build the frame) or ``"after"`` (drop sampled units now
            out of scope; see the module notes).
        optout_hashes: the opt-out register's keyed hashes (default: read from ``store``).
        history: earlier samples, ``person_id, month[, survey]`` (default: read from
            ``store``).
        reference_date: first day fieldwork can contact anyone (before) or the transfer day
            (after); needed by ``outside_contact_window``. One date, or one per row of
            ``victims`` (several months judged in one call, each row against its own month's
            date: every other rule already looks at the row's own ``month``).
        store: a :class:`methods.data.store.Store`, for the register, the history and the keyed
            hash of phone numbers.
        extra_rules: ``{name: boolean array over rows}`` applied after the configured rules
            (e.g. ``{"deceased": mask}``).
        enforce_register: apply the opt-out register even when the survey does not list
            ``optout_register`` (a force-wide, permanent register).
        one_case_per_person: as a last step keep only the first eligible case of a person in
            the month; default: when the survey applies ``resurveyed_within_months`` and
            ``when="before"``.
        match_on: what the register is matched on: ``"victim"`` (person_id) and/or
            ``"phone"``.

    Returns:
        :class:`EligibilityResult` (unpacks as ``eligible, flow``).

    Raises:
        UsageError: a missing column, an unknown ``when``, or a rule that needs the register,
            the history or a reference date when none is available.
        ValidationError: a missing flag value.

    Notes:
        Each victim is counted once, against the first rule (in configured order) that
        excludes them (CONSORT 2010 flow diagram, Schulz et al. 2010). Blank ages are not
        excluded by ``under_min_age``.
    """
    if when not in _WHEN:
        raise UsageError(f"when must be 'before' or 'after', got {when!r}")
    if not isinstance(victims, pd.DataFrame):
        raise UsageError(f"victims must be a pandas DataFrame, got {type(victims).__name__}")
    s = _survey_def(survey)
    bad_match = [m for m in match_on if m not in ("victim", "phone")]
    if bad_match:
        raise UsageError(f"match_on takes 'victim' and/or 'phone', got {bad_match}")
    n = len(victims)
    reference_date = _reference_dates(reference_date, n)
    _require(victims, ["offence_group"], "the survey's scope")

    rules: list[ExclusionRule] = list(s.exclusions)
    if when == "after":
        rules = [r for r in rules if r.name != "resurveyed_within_months"]
    register = None
    needs_register = any(r.name == "optout_register" for r in rules)
    if needs_register or enforce_register:
        if optout_hashes is not None:
            register = np.asarray(list(optout_hashes), dtype=object)
        elif store is not None:
            register = store_register(store)
        elif needs_register:
            raise UsageError(
                f"survey {s.name} applies optout_register: pass optout_hashes= (the register) "
                "or store="
            )
    if not needs_register and register is not None and len(register):
        rules.append(ExclusionRule("optout_register"))  # force-wide, permanent

    remaining = np.ones(n, dtype=bool)
    reason = np.full(n, None, dtype=object)
    steps: list[dict] = []
    start = "victims in month" if when == "before" else "sampled units"
    steps.append(dict(rule="start", label=start, excluded=0, remaining=n, note=""))

    def step(name: str, label: str, hit: np.ndarray, note: str = "") -> None:
        new = remaining & hit
        reason[new] = name
        remaining[new] = False
        steps.append(
            dict(rule=name, label=label, excluded=int(new.sum()), remaining=int(remaining.sum()),
                 note=note)
        )  # fmt: skip

    scope = victims["offence_group"].astype("str").str.lower().isin(s.offence_groups)
    step(
        "out_of_scope",
        "offence group not covered by the survey",
        ~scope.to_numpy(dtype=bool),
        note="in scope: " + ", ".join(s.offence_groups),
    )

    person = None
    for r in rules:
        name, label, note = r.name, r.describe(), ""
        if name in FLAG_RULES:
            _require(victims, [FLAG_RULES[name]], f"rule {name}")
            hit = _flag(victims, FLAG_RULES[name])
        elif name == "under_min_age":
            _require(victims, ["age"], f"rule {name}")
            age = pd.to_numeric(victims["age"], errors="coerce").to_numpy(
                dtype=float, na_value=np.nan
            )
            hit = age < (r.min_age if r.min_age is not None else 16)
        elif name == "outside_contact_window":
            _require(victims, ["reported_date"], f"rule {name}")
            if reference_date is None:
                raise UsageError(
                    f"survey {s.name} applies outside_contact_window: give reference_date "
                    "(the first day fieldwork can contact victims, YYYY-MM-DD)"
                )
            lo, hi = s.contact_window_weeks
            hit = _window_closed(victims, s.contact_window_weeks, reference_date)
            if isinstance(reference_date, np.ndarray):
                span = [str(d) for d in np.unique(reference_date)]  # sorted
                when_ = (
                    "none (no rows)"
                    if not span
                    else span[0]
                    if len(span) == 1
                    else f"{span[0]} to {span[-1]} (per row)"
                )
                note = f"window {lo}-{hi} weeks after the report; reference date {when_}"
            else:
                note = f"window {lo}-{hi} weeks after the report; reference date {reference_date}"
        elif name == "resurveyed_within_months":
            if history is None:
                if store is None:
                    raise UsageError(
                        f"survey {s.name} applies resurveyed_within_months: pass history= "
                        "(person_id, month, survey of earlier samples) or store="
                    )
                history = store_history(store)
            person = _person_ids(victims, store) if person is None else person
            hit = _resurveyed(victims, person, history, int(r.months or 0), s.name)
            note = f"sampled by any survey in the {r.months} months before, or this month"
        elif name == "optout_register":
            if register is None:  # enforce_register=False and the rule is not listed
                continue
            if person is None and "victim" in match_on:
                person = _person_ids(victims, store)
            reg = pd.Index(register)
            hit = np.zeros(n, dtype=bool)
            how = []
            if "victim" in match_on:
                hit |= reg.get_indexer(person) >= 0
                how.append("victim id")
            if "phone" in match_on:
                ph = _phone_hashes(victims, store)
                if ph is None:
                    warnings.warn(
                        "the opt-out register is matched on victim id only: the frame has no "
                        "phone (or phone_hash) column, or no store to hash it with",
                        stacklevel=2,
                    )
                else:
                    hit |= reg.get_indexer(ph) >= 0
                    how.append("phone number")
            note = f"{len(register)} register entries, matched on {' and '.join(how)}"
            if name not in s.rule_names:
                note += "; force-wide register applied although the survey does not list it"
        else:  # pragma: no cover - config validation knows every rule
            raise UsageError(f"unknown exclusion rule {name!r}")
        step(name, label, np.asarray(hit, dtype=bool), note)

    dedupe = one_case_per_person
    if dedupe is None:
        dedupe = when == "before" and s.rule("resurveyed_within_months") is not None
    if dedupe:
        person = _person_ids(victims, store) if person is None else person
        key = pd.DataFrame({"p": person, "m": _month_index(victims)})
        again = np.zeros(n, dtype=bool)
        idx = np.flatnonzero(remaining)
        again[idx[key.iloc[idx].duplicated(keep="first").to_numpy()]] = True
        step(
            _ONE_CASE,
            "another case of the same victim this month",
            again,
            note="among the eligible, the first case in file order is kept",
        )

    for name, hit in (extra_rules or {}).items():
        arr = np.asarray(hit, dtype=bool)
        if arr.shape != (n,):
            raise UsageError(f"extra rule {name!r} must be a boolean array of length {n}")
        step(str(name), str(name), arr, "given after selection" if when == "after" else "")

    flow = pd.DataFrame(steps)
    flow.insert(0, "step", np.arange(len(flow)))
    flow = flow[list(FLOW_COLUMNS)]
    excluded_idx = np.flatnonzero(~remaining)
    reason_s = pd.Series(reason[excluded_idx], index=victims.index[excluded_idx], name="rule")
    totals = _totals(victims, remaining) if when == "after" else None
    return EligibilityResult(
        eligible=victims[remaining],
        flow=flow,
        reason=reason_s,
        mask=remaining.copy(),
        when=when,
        survey=s.name,
        totals=totals,
    )


def _totals(sample: pd.DataFrame, keep: np.ndarray) -> pd.DataFrame | None:
    """Per stratum: N_hat = sum 1/pi over the sample, out-of-scope and eligible totals."""
    if "inclusion_prob" not in sample.columns:
        return None
    d = 1.0 / sample["inclusion_prob"].to_numpy(dtype=float)
    strata = sample["stratum"].astype("str") if "stratum" in sample.columns else None
    if strata is None:
        codes, labels = np.zeros(len(sample), dtype=np.intp), np.array(["all"])
    else:
        codes, labels = pd.factorize(strata, sort=True)
    h = len(labels)
    tot = np.bincount(codes, weights=d, minlength=h)
    out = np.bincount(codes, weights=d * ~keep, minlength=h)
    return pd.DataFrame(
        {
            "stratum": np.asarray(labels, dtype=object),
            "sampled": np.bincount(codes, minlength=h),
            "out_of_scope": np.bincount(codes, weights=~keep, minlength=h).astype(int),
            "frame_total": tot,
            "out_of_scope_total": out,
            "eligible_total": tot - out,
        }
    )


# --------------------------------------------------------------------------- synthetic hook


def synthetic_rule(
    victims: pd.DataFrame,
    survey: SurveyDef,
    *,
    optout_register: np.ndarray | None = None,
    last_surveyed: pd.Series | None = None,
    month_index: int | None = None,
) -> np.ndarray:
    """:func:`apply` with the signature of :func:`methods.synthetic.generate.simple_eligibility`.

    It checks the synthetic population model's rules against this module. In memory the register
    holds raw victim ids and ``last_surveyed`` maps victim id -> month index; the rules match
    them through ``person_id = victim_id`` (nothing leaves memory). The contact window is judged
    on the first day after the month (synthetic fieldwork always contacts inside the window),
    and one-case-per-victim is left to the caller.

    Returns:
        Boolean array over the rows of ``victims``.
    """
    frame = victims.assign(person_id=victims["victim_id"].to_numpy(dtype=object))
    history = None
    if last_surveyed is not None:
        mi = last_surveyed.to_numpy(dtype=np.int64)
        years, months = np.divmod(mi, 12)
        history = pd.DataFrame(
            {
                "person_id": last_surveyed.index.to_numpy(dtype=object),
                "month": pd.Series(years).astype(str).str.zfill(4)
                + "-"
                + pd.Series(months + 1).astype(str).str.zfill(2),
            }
        )
    reported = pd.to_datetime(victims["reported_date"])
    ref = None
    if len(victims):
        last = reported.max()
        ref = (last + pd.offsets.MonthBegin(1)).date()
    uses_register = survey.rule("optout_register") is not None
    rules = survey
    if survey.rule("resurveyed_within_months") is not None and history is None:
        rules = _without(survey, "resurveyed_within_months")
    if survey.rule("outside_contact_window") is not None and ref is None:
        rules = _without(rules, "outside_contact_window")
    res = apply(
        frame,
        rules,
        optout_hashes=(optout_register if optout_register is not None else [])
        if uses_register
        else None,
        history=history,
        reference_date=ref,
        enforce_register=False,
        one_case_per_person=False,
        match_on=("victim",),
    )
    return res.mask


def _without(survey: SurveyDef, rule: str) -> SurveyDef:

    return replace(survey, exclusions=tuple(r for r in survey.exclusions if r.name != rule))


# --------------------------------------------------------------------------- chart


def plot_flow(flow: pd.DataFrame, title: str = "", ax: Any = None):
    """CONSORT-style flow chart of an exclusion flow table.

    Arguments:
        flow: :attr:`EligibilityResult.flow`.
        title: figure title.
        ax: a matplotlib Axes to draw on (default: a new figure).

    Returns:
        The matplotlib Figure: a column of boxes (victims remaining after each step, top to
        bottom) with, beside each arrow, a box giving the number excluded by that step's rule
        (Schulz et al. 2010, CONSORT 2010 flow diagram).
    """
    import matplotlib.pyplot as plt  # heavy optional import: loaded only when a chart is drawn

    missing = [c for c in ("label", "excluded", "remaining") if c not in flow.columns]
    if missing:
        raise UsageError(f"flow table lacks column(s) {missing}: pass EligibilityResult.flow")
    k = len(flow)
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.9 * k + 0.8), dpi=100)
    else:
        fig = ax.figure
    ax.set_xlim(0, 10)
    ax.set_ylim(-k + 0.4, 0.8)
    ax.axis("off")
    box = dict(boxstyle="round,pad=0.35", fc="#eef2f8", ec="#4c72b0")
    side = dict(boxstyle="round,pad=0.3", fc="#fbeeee", ec="#c44e52")
    labels = flow["label"].astype(str).to_numpy()
    excl = flow["excluded"].to_numpy(dtype=int)
    rem = flow["remaining"].to_numpy(dtype=int)
    for i in range(k):
        y = -i
        text = f"{labels[0]}: {rem[0]:,}" if i == 0 else f"remaining: {rem[i]:,}"
        if i == k - 1:
            text = f"eligible: {rem[i]:,}"
        ax.text(3, y, text, ha="center", va="center", fontsize=9, bbox=box)
        if i > 0:
            ax.annotate(
                "",
                xy=(3, y + 0.22),
                xytext=(3, y + 0.78),
                arrowprops=dict(arrowstyle="->", color="#4c72b0"),
            )
            ax.annotate(
                "",
                xy=(5.6, y + 0.5),
                xytext=(3, y + 0.5),
                arrowprops=dict(arrowstyle="->", color="#c44e52" if excl[i] else "#bbbbbb"),
            )
            ax.text(
                5.7,
                y + 0.5,
                f"excluded: {labels[i]} ({excl[i]:,})",
                ha="left",
                va="center",
                fontsize=8,
                bbox=side if excl[i] else dict(boxstyle="round,pad=0.3", fc="white", ec="#bbb"),
            )
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig
