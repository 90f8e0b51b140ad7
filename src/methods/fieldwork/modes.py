"""Fieldwork simulation: from a drawn sample to AAPOR final dispositions and answers.

A simulated fieldwork takes a sample drawn from a synthetic population (which carries the
latent satisfaction model in its hidden ``true_p_<stage>`` columns, see
:mod:`methods.synthetic.generate`) and a mode plan, and returns one row per sampled case in the
docs/data_contract.md section 2 format, plus hidden ``true_`` columns so that the truth is known:

- ``true_mode_assigned``: the mode first offered; ``true_sat_<stage>``: whether the victim is
  satisfied under the reference (paper, self-completion) measurement.

Model (documented so a methodologist can check it):

- Telephone: a case without a phone number cannot be called (AAPOR 3.90, unknown other). Each
  of ``call_attempts`` attempts reaches the victim with probability ``contact_per_attempt``
  (contact within k attempts: 1 - (1 - q)^k); a contacted victim co-operates with a logistic
  propensity on age group, gender, ethnicity, offence and, when ``nmar`` != 0, on their own
  whole-experience satisfaction (not missing at random). Outcomes: 1.1 complete, 1.2 partial,
  2.11 refusal, 2.12 break-off, 2.20 non-contact, 2.30 other, 4.10 not eligible (out of scope).
- Paper: a case without an address gets no questionnaire (3.90). A questionnaire is returned
  with a logistic propensity on the same covariates; each reminder adds a further chance
  (1 - (1 - p)^(1 + reminder_effect * reminders)). No return is AAPOR 3.10 (unknown whether
  eligible: nothing returned), undeliverable post 4.10.
- Plans: ``telephone``, ``paper``, ``sequential`` (telephone first; paper for victims without a
  phone and for telephone non-contacts), ``concurrent`` (telephone to those with a phone, paper
  to the rest, in parallel), ``experiment`` (a random half offered each mode; the assignment is
  recorded in ``true_mode_assigned``).
- Measurement: answers come from the latent ordinal model of
  :func:`methods.synthetic.generate.draw_answers`; telephone answers add ``mode_shift`` to the latent
  log-odds with the same random numbers as the reference (self-completion) answer, so no one
  answers less positively by telephone (Dillman et al. 2009: telephone answers are more
  positive). The true measurement effect of a set of respondents is
  ``mean(expit(logit(p) + mode_shift) - p)`` (see :func:`true_measurement_effect`).
- Contact happens inside the survey's window, ``window_weeks`` after the report (6-12 weeks by
  default; Durham 8-12 weeks).

Calibration of the defaults: overall telephone response about 50% (Cumbria: 45-55%) and paper
about 22% (20-25%) on the synthetic populations (checked in tests/test_fieldwork.py).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from methods.core.errors import UsageError
from methods.core.profile import age_group  # also re-exported
from methods.core.schema import STAGES
from methods.synthetic.generate import answer_codes, answer_uniforms, latent_logits, row_keys

PLANS = ("telephone", "paper", "sequential", "concurrent", "experiment")


@dataclass(frozen=True)
class ModePlan:
    """A fieldwork mode plan and its response and measurement model.

    Arguments:
        plan: one of ``telephone``, ``paper``, ``sequential``, ``concurrent``, ``experiment``.
        call_attempts: telephone call attempts per case.
        contact_per_attempt: probability that one call attempt reaches the victim.
        telephone_cooperation: co-operation probability of a contacted reference victim
            (aged 35-54, white, female, burglary), before covariate effects.
        paper_return: questionnaire return probability of the reference victim, no reminder.
        reminders: paper reminders sent; ``reminder_effect`` scales their extra chance.
        nmar: log-odds change in response per unit of (satisfied - 0.5) on whole experience;
            0 means missing at random given the covariates.
        mode_shift: measurement effect of telephone: log-odds added to the latent satisfaction
            score of telephone answers (:func:`methods.synthetic.generate.draw_answers`).
        window_weeks: (earliest, latest) weeks after the report when contact happens.
        partial_share, breakoff_share, other_share, ineligible_share: small shares of
            contacted cases ending as 1.2, 2.12, 2.30 and 4.10.
        covariate_effects: log-odds effects on co-operation/return by covariate and level.
    """

    plan: str = "telephone"
    call_attempts: int = 5
    contact_per_attempt: float = 0.30
    telephone_cooperation: float = 0.78
    paper_return: float = 0.25
    reminders: int = 1
    reminder_effect: float = 0.35
    nmar: float = 0.0
    mode_shift: float = 0.0
    window_weeks: tuple[int, int] = (6, 12)
    partial_share: float = 0.02
    breakoff_share: float = 0.03
    other_share: float = 0.02
    ineligible_share: float = 0.01
    experiment_share: float = 0.5
    covariate_effects: dict = field(
        default_factory=lambda: {
            "age_group": {
                "16-24": -0.55,
                "25-34": -0.3,
                "35-54": 0.0,
                "55-74": 0.3,
                "75+": 0.15,
                "unknown": -0.2,
            },
            "ethnicity": {
                "white": 0.0,
                "mixed": -0.3,
                "asian": -0.35,
                "black": -0.4,
                "other": -0.35,
                "unknown": -0.2,
            },
            "gender": {"female": 0.0, "male": -0.1, "other": -0.1, "unknown": -0.1},
            "offence_group": {
                "burglary": 0.0,
                "vehicle": -0.05,
                "violent": -0.3,
                "hate": -0.2,
                "asb": -0.15,
                "fraud": 0.05,
                "domestic_abuse": -0.25,
                "stalking_harassment": -0.2,
                "rape": -0.3,
                "rtc": 0.0,
            },
        }
    )

    def __post_init__(self) -> None:
        if self.plan not in PLANS:
            raise UsageError(f"unknown mode plan {self.plan!r}; choose one of {', '.join(PLANS)}")
        for name in (
            "contact_per_attempt",
            "telephone_cooperation",
            "paper_return",
            "experiment_share",
        ):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise UsageError(f"{name} must be a probability in [0, 1], got {v}")
        if self.call_attempts < 1 or self.reminders < 0:
            raise UsageError("call_attempts must be >= 1 and reminders >= 0")
        lo, hi = self.window_weeks
        if not 0 <= lo <= hi:
            raise UsageError(
                f"window_weeks must be (earliest, latest) with 0 <= earliest <= latest, got {self.window_weeks}"
            )

    def with_(self, **changes) -> ModePlan:
        """A copy with some settings changed."""
        return replace(self, **changes)


def _true_probabilities(sample: pd.DataFrame) -> np.ndarray:
    cols = [f"true_p_{s}" for s in STAGES]
    missing = [c for c in cols if c not in sample.columns]
    if missing:
        raise UsageError(
            "fieldwork simulation needs the latent satisfaction columns of a synthetic population "
            f"(missing: {', '.join(missing)}); draw the sample from methods.synthetic.generate data"
        )
    return sample[cols].to_numpy(dtype=float)


def _logit(p: np.ndarray | float) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _has(sample: pd.DataFrame, col: str) -> np.ndarray:
    if col not in sample:
        return np.ones(len(sample), dtype=bool)
    s = sample[col]
    return (s.notna() & (s.astype(str).str.strip() != "")).to_numpy()


def true_measurement_effect(
    sample: pd.DataFrame, mode_shift: float, stage: str = "whole_experience"
) -> float:
    """Mean increase in the probability of being satisfied that telephone causes for ``sample``.

    ``mean(expit(logit(p) + mode_shift) - p)`` over the rows, with ``p`` the latent
    ``true_p_<stage>``: the estimand a mode-effect decomposition should recover when applied
    to telephone respondents.
    """
    p = np.clip(sample[f"true_p_{stage}"].to_numpy(dtype=float), 1e-12, 1 - 1e-12)
    return float(np.mean(_expit(_logit(p) + mode_shift) - p))


#: AAPOR final dispositions the simulation gives, in the order of their integer codes.
DISPOSITIONS: tuple[str, ...] = (
    "1.1",
    "1.2",
    "2.11",
    "2.12",
    "2.20",
    "2.30",
    "3.10",
    "3.90",
    "4.10",
)
_D = {code: k for k, code in enumerate(DISPOSITIONS)}
_DISPOSITION_LABELS = np.array(DISPOSITIONS, dtype=object)


@dataclass(frozen=True)
class FieldworkCases:
    """What the fieldwork model reads of each case, as arrays (no personal data).

    Build it once for a population with :meth:`from_frame` and :meth:`take` the rows of each
    sample: :func:`simulate_cases` on ``cases.take(rows)`` gives the same fieldwork as
    :func:`simulate` on those rows of the frame, with the same generator.

    Attributes:
        keys: the 64-bit answer keys (:func:`methods.synthetic.generate.row_keys`).
        logits: rows x the five stages, logit of ``true_p_<stage>``
            (:func:`methods.synthetic.generate.latent_logits`).
        covariates: variable -> (integer code per row, -1 for missing; the levels, lower case
            as matched against ``ModePlan.covariate_effects``); ``age_group`` is derived from
            ``age``.
        has_phone, has_address: whether a phone number / an address is held.
        reported: report dates (``datetime64[ns]``) or ``None`` when the frame has none (then
            no interview dates are drawn).
    """

    keys: np.ndarray
    logits: np.ndarray
    covariates: dict[str, tuple[np.ndarray, np.ndarray]]
    has_phone: np.ndarray
    has_address: np.ndarray
    reported: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.keys)

    @classmethod
    def from_frame(cls, sample: pd.DataFrame, variables=None) -> FieldworkCases:
        """The arrays of ``sample`` (see :func:`simulate` for the columns read).

        Arguments:
            sample: victims with ``crime_ref``, ``victim_id`` and ``true_p_<stage>``.
            variables: covariates to code (default those of the default :class:`ModePlan`);
                those not in ``sample`` are left out, and a plan's effects on them ignored.
        """
        p = _true_probabilities(sample)
        missing = [c for c in ("crime_ref", "victim_id") if c not in sample.columns]
        if missing:
            raise UsageError(
                f"fieldwork simulation needs columns {', '.join(missing)} (the answers' "
                "row keys); pass rows of methods.synthetic.generate.generate_victims()"
            )
        if variables is None:
            variables = ModePlan().covariate_effects
        covariates = {}
        for var in variables:
            if var == "age_group" and "age" in sample:
                values = age_group(sample["age"])
            elif var in sample:
                values = sample[var].astype(str).str.lower().to_numpy()
            else:
                continue
            codes, levels = pd.factorize(values)
            covariates[var] = (codes.astype(np.int64), np.asarray(levels, dtype=object))
        reported = None
        if "reported_date" in sample:
            reported = pd.to_datetime(sample["reported_date"]).to_numpy(dtype="datetime64[ns]")
        return cls(
            keys=row_keys(sample),
            logits=latent_logits(p),
            covariates=covariates,
            has_phone=_has(sample, "phone"),
            has_address=_has(sample, "address"),
            reported=reported,
        )

    def take(self, rows: np.ndarray) -> FieldworkCases:
        """The cases at positions ``rows`` (integer array)."""
        return FieldworkCases(
            keys=self.keys[rows],
            logits=self.logits[rows],
            covariates={k: (c[rows], lv) for k, (c, lv) in self.covariates.items()},
            has_phone=self.has_phone[rows],
            has_address=self.has_address[rows],
            reported=None if self.reported is None else self.reported[rows],
        )


@dataclass(frozen=True)
class FieldworkOutcome:
    """The result of :func:`simulate_cases`, as arrays (one entry per case).

    Attributes:
        first_telephone: telephone was the mode first offered (``true_mode_assigned``).
        telephone: the final mode is telephone (else paper).
        disposition: index into :data:`DISPOSITIONS` of the AAPOR final disposition.
        responded: disposition 1.1 or 1.2.
        answers: cases x five stages, 1-8, NaN when not answered.
        sat_ref: cases x five stages, satisfied under the reference (paper) measurement.
        days: days from report to interview (``None`` when the cases have no report dates).
    """

    first_telephone: np.ndarray
    telephone: np.ndarray
    disposition: np.ndarray
    responded: np.ndarray
    answers: np.ndarray
    sat_ref: np.ndarray
    days: np.ndarray | None = None

    def to_frame(
        self,
        index: pd.Index | np.ndarray,
        ids: dict[str, np.ndarray] | None = None,
        reported: np.ndarray | None = None,
    ) -> pd.DataFrame:
        """The :func:`simulate` DataFrame of this outcome.

        Arguments:
            index: the index of the result (the sample's).
            ids: ``crime_ref`` / ``victim_id`` columns to put first (when known).
            reported: report dates of the cases (with ``days``: the interview dates).
        """
        out = pd.DataFrame(index=index)
        for key, values in (ids or {}).items():
            out[key] = values
        mode_labels = np.array(["paper", "telephone"], dtype=object)
        out["mode"] = mode_labels[self.telephone.astype(np.int8)]
        out["disposition"] = _DISPOSITION_LABELS[self.disposition]
        if reported is not None and self.days is not None:
            dates = pd.Series(reported, index=out.index) + pd.to_timedelta(self.days, unit="D")
            out["interview_date"] = np.where(self.responded, dates.dt.strftime("%Y-%m-%d"), None)
        for j, stage in enumerate(STAGES):
            out[stage] = self.answers[:, j]
        out["true_mode_assigned"] = mode_labels[self.first_telephone.astype(np.int8)]
        out["true_responded"] = self.responded
        for j, stage in enumerate(STAGES):
            out[f"true_sat_{stage}"] = self.sat_ref[:, j]
        return out


def covariate_logodds(cases: FieldworkCases, plan: ModePlan) -> np.ndarray:
    """Log-odds of co-operation / return from the plan's covariate effects (0 for a level the
    plan does not list, or a missing value)."""
    eta = np.zeros(len(cases))
    for var, effects in plan.covariate_effects.items():
        if var not in cases.covariates:
            continue
        codes, levels = cases.covariates[var]
        lut = np.array([effects.get(lv, 0.0) for lv in levels] + [0.0], dtype=float)
        eta += lut[codes]  # missing values (code -1) take the last entry: 0
    return eta


def simulate_cases(
    cases: FieldworkCases, plan: ModePlan | str, rng: np.random.Generator
) -> FieldworkOutcome:
    """The fieldwork model of :func:`simulate` on arrays: the same numbers from the same
    generator, without building a DataFrame (the Monte Carlo engine's per-replicate path)."""
    if isinstance(plan, str):
        plan = ModePlan(plan=plan)
    n = len(cases)

    # Latent answers from the synthetic model (counter-based random numbers, so the reference
    # and telephone answers of a victim share their draws: a pure measurement effect).
    answer_seed = int(rng.integers(0, 2**31 - 1))
    uniforms = answer_uniforms(cases.keys, answer_seed)
    sat_ref = answer_codes(cases.logits, uniforms) <= 3  # reference (paper) answers 1-3

    eta_cov = covariate_logodds(cases, plan)
    eta_nmar = plan.nmar * (sat_ref[:, STAGES.index("whole_experience")] - 0.5)
    has_phone, has_address = cases.has_phone, cases.has_address

    # Assign the first mode.
    if plan.plan == "telephone":
        first = np.ones(n, dtype=bool)
    elif plan.plan == "paper":
        first = np.zeros(n, dtype=bool)
    elif plan.plan == "experiment":
        first = rng.random(n) < plan.experiment_share
    else:  # sequential and concurrent both start by phone where a number is held
        first = has_phone.copy()

    disp = np.full(n, -1, dtype=np.int8)
    draws = rng.random((n, 6))

    # Telephone.
    tel = first
    no_number = tel & ~has_phone
    disp[no_number] = _D["3.90"]
    dial = tel & has_phone
    p_contact = 1.0 - (1.0 - plan.contact_per_attempt) ** plan.call_attempts
    contacted = dial & (draws[:, 0] < p_contact)
    disp[dial & ~contacted] = _D["2.20"]
    p_coop = _expit(_logit(plan.telephone_cooperation) + eta_cov + eta_nmar)
    inel = contacted & (draws[:, 1] < plan.ineligible_share)
    disp[inel] = _D["4.10"]
    other = contacted & ~inel & (draws[:, 1] < plan.ineligible_share + plan.other_share)
    disp[other] = _D["2.30"]
    live = contacted & ~inel & ~other
    coop = live & (draws[:, 2] < p_coop)
    disp[live & ~coop] = _D["2.11"]
    brk = coop & (draws[:, 3] < plan.breakoff_share)
    part = coop & ~brk & (draws[:, 3] < plan.breakoff_share + plan.partial_share)
    disp[brk] = _D["2.12"]
    disp[part] = _D["1.2"]
    disp[coop & ~brk & ~part] = _D["1.1"]

    # Paper: first mode paper, or sequential follow-up of telephone non-contacts.
    paper = ~first
    if plan.plan == "sequential":
        paper = paper | (disp == _D["2.20"]) | no_number
    no_addr = paper & ~has_address
    disp[no_addr] = _D["3.90"]
    post = paper & has_address
    p_ret0 = _expit(_logit(plan.paper_return) + eta_cov + eta_nmar)
    p_ret = 1.0 - (1.0 - p_ret0) ** (1.0 + plan.reminder_effect * plan.reminders)
    undeliv = post & (draws[:, 4] < plan.ineligible_share)
    disp[undeliv] = _D["4.10"]
    returned = post & ~undeliv & (draws[:, 5] < p_ret)
    disp[post & ~undeliv & ~returned] = _D["3.10"]
    part_p = returned & (draws[:, 3] < plan.partial_share)
    disp[part_p] = _D["1.2"]
    disp[returned & ~part_p] = _D["1.1"]

    mode_tel = ~paper
    responded = (disp == _D["1.1"]) | (disp == _D["1.2"])
    answers = answer_codes(cases.logits, uniforms, mode_tel, plan.mode_shift).astype(float)
    answers[~responded] = np.nan
    # Partials answer the first stages only.
    answers[disp == _D["1.2"], 3:] = np.nan
    days = None
    if cases.reported is not None:
        lo, hi = plan.window_weeks
        days = rng.integers(7 * lo, 7 * hi + 1, size=n)
    return FieldworkOutcome(
        first_telephone=first,
        telephone=mode_tel,
        disposition=disp,
        responded=responded,
        answers=answers,
        sat_ref=sat_ref,
        days=days,
    )


def simulate(sample: pd.DataFrame, plan: ModePlan | str = "telephone", seed=0) -> pd.DataFrame:
    """Simulate fieldwork on a drawn sample.

    Arguments:
        sample: sampled victims with the contract columns (``age``, ``gender``, ``ethnicity``,
            ``offence_group``, ``reported_date``, ``phone``, ``address``) and the latent
            ``true_p_<stage>`` columns of :mod:`methods.synthetic.generate`.
        plan: a :class:`ModePlan` or a plan name with default settings.
        seed: an int, a ``numpy.random.SeedSequence`` or a ``Generator``.

    Returns:
        A DataFrame, index as ``sample``, with ``crime_ref, victim_id`` (when present),
        ``mode, disposition, interview_date``, the five stage answers (1-8 scale, NaN when not
        answered), and hidden columns ``true_mode_assigned``, ``true_sat_<stage>``,
        ``true_responded``.

    Notes:
        :func:`simulate_cases` on :meth:`FieldworkCases.from_frame` of ``sample``: to simulate
        many samples of one population, build the cases once and take each sample's rows.
    """
    if isinstance(plan, str):
        plan = ModePlan(plan=plan)
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    cases = FieldworkCases.from_frame(sample, plan.covariate_effects)
    outcome = simulate_cases(cases, plan, rng)
    ids = {k: sample[k].to_numpy() for k in ("crime_ref", "victim_id") if k in sample}
    return outcome.to_frame(sample.index, ids, cases.reported)
