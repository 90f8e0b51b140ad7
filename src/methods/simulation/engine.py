"""The Monte Carlo engine: one replicate of every design, and batches of replicates.

A replicate of a design runs the whole chain through the workbench's own modules, nothing
re-implemented: :func:`methods.sampling.selection.select` draws the sample from the design's eligible
frame, :func:`methods.fieldwork.modes.simulate` returns dispositions and 1-8 answers,
:func:`methods.report.tables.satisfied` codes them, :class:`methods.design.survey.SurveyDesign` carries the
design weights and strata, :mod:`methods.weighting` adjusts for non-response and rakes, and
``proportion`` / ``by(...).proportion`` give the estimates with their SEs and intervals.

Random numbers: replicate ``r`` of a run seeded ``seed`` uses ``SeedSequence(seed).spawn(reps)[r]``
(O'Neill 2015; numpy ``SeedSequence``); design ``d`` of that replicate uses the child's
``spawn(n_designs)[d]``, i.e. ``SeedSequence(seed, spawn_key=(r, d))``, so every (replicate,
design) has its own independent stream and a replicate's numbers do not depend on which
batch, process or machine runs it. One Generator from that stream drives the selection and then
the fieldwork. BLAS is held to one thread while a batch runs, so floating-point sums do not
depend on the number of threads either.

The population is prepared once (:func:`prepare`) into a :class:`Payload`: the fieldwork
model's inputs as arrays (:class:`methods.fieldwork.modes.FieldworkCases`: answer keys hashed
from row numbers instead of crime references, latent log-odds, covariate codes, presence flags
instead of phone numbers and addresses: no personal data reaches a worker), integer codes of
the columns the designs use, and per design the eligible rows, the selection frame, the raking
margins and the true values. A replicate takes its sampled rows of those arrays and runs
:func:`methods.fieldwork.modes.simulate_cases` (the numbers of ``simulate`` on the same rows
with the same generator, without a DataFrame per replicate).
"""

from __future__ import annotations

import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from methods.config.presets import SurveyDef, load_force, load_survey
from methods.core.errors import ConfigError, ConvergenceError, UsageError, ValidationError
from methods.core.profile import profile_columns, satisfied
from methods.core.schema import OFFENCE_GROUPS, STAGES
from methods.design.survey import SurveyDesign
from methods.fieldwork import modes as fieldwork
from methods.sampling import selection as sampling
from methods.simulation.config import (
    NOT_SIMULATED_RULES,
    DesignSpec,
    EligibilitySpec,
    PopulationSpec,
    SimulationConfig,
)
from methods.synthetic.generate import generate_victims, simple_eligibility

__all__ = [
    "DesignPlan",
    "Payload",
    "build_population",
    "eligible_rows",
    "expected_calls_if_contacted",
    "prepare",
    "replicate_detail",
    "replicate_seed",
    "run_batch",
]

#: Columns the fieldwork simulation reads (besides ``true_p_<stage>``).
_FIELDWORK_COLUMNS = ("age", "gender", "ethnicity", "offence_group", "phone", "address")
#: Integer codes of the dispositions (methods.fieldwork.modes.DISPOSITIONS).
_DISP = {code: k for k, code in enumerate(fieldwork.DISPOSITIONS)}
#: Derived columns that may be used by name in a config (built once for the population).
DERIVED_COLUMNS = ("age_band", "gender_w", "ethnic_group", "age_group")


@dataclass
class DesignPlan:
    """What a worker needs to run one design (built once by :func:`prepare`)."""

    spec: DesignSpec
    eligible: np.ndarray  # population row positions of the eligible frame
    frame: pd.DataFrame  # selection columns over the eligible rows (RangeIndex)
    margins: dict[str, np.ndarray]  # raking variable -> eligible count per level code
    truth: np.ndarray  # true value of every estimand (NaN where a domain is empty)
    calls_if_contacted: float  # expected call attempts of a contacted case
    domain_present: np.ndarray  # domain level codes with eligible victims (sorted)


@dataclass
class Payload:
    """The prepared population: shipped to each worker once (scattered), never per task."""

    stages: tuple[str, ...]
    domain: str | None
    domain_levels: tuple[str, ...]
    estimands: tuple[str, ...]
    ci: str
    conf_level: float
    single_psu: str
    costs: tuple[float, float, float]  # per call attempt, per mailing, per complete
    cases: fieldwork.FieldworkCases  # fieldwork inputs as arrays, one entry per population row
    codes: dict[str, tuple[np.ndarray, np.ndarray]]  # column -> (codes, levels)
    designs: list[DesignPlan] = field(default_factory=list)
    population_rows: int = 0


# --------------------------------------------------------------------------- population


def build_population(spec: PopulationSpec, base_dir: str | Path | None = None) -> pd.DataFrame:
    """The finite population: synthetic months of a force preset, or the frame file given.

    Arguments:
        spec: the config's population section.
        base_dir: folder that a relative ``file`` is resolved against (the config's folder).

    Returns:
        One row per victim with the extract columns and ``true_p_<stage>`` for every stage.
    """
    if spec.file is None:
        load_force(spec.force)  # ConfigError for an unknown preset, before any work
        parts = [
            generate_victims(spec.force, m, seed=spec.seed, scale=spec.scale) for m in spec.months
        ]
        return pd.concat(parts, ignore_index=True)
    path = Path(spec.file)
    if not path.is_absolute() and base_dir is not None:
        path = Path(base_dir) / path
    if not path.is_file():
        raise ConfigError(f"population file not found: {path}")
    frame = pd.read_parquet(path) if path.suffix.lower() == ".parquet" else pd.read_csv(path)
    need = [*_FIELDWORK_COLUMNS, *(f"true_p_{s}" for s in STAGES)]
    missing = [c for c in need if c not in frame.columns]
    if missing:
        raise ValidationError(
            "a simulation frame needs the latent satisfaction model and the fieldwork covariates; "
            "add the missing column(s) or generate the frame with methods.synthetic.generate",
            column=", ".join(missing),
        )
    return frame.reset_index(drop=True)


def _survey_for(spec: EligibilitySpec, force: str | None) -> SurveyDef:
    if spec.survey is not None:
        return load_force(force).survey(spec.survey) if force else load_survey(spec.survey)

    return SurveyDef(
        name="simulation",
        title="simulation frame",
        offence_groups=spec.offence_groups or OFFENCE_GROUPS,
        exclusions=spec.exclude,
        stages=STAGES,
        modes=("telephone", "paper"),
    )


def eligible_rows(victims: pd.DataFrame, spec: EligibilitySpec, force: str | None) -> np.ndarray:
    """Population row positions of the eligible frame of a design (the eligibility hook).

    Notes:
        Uses :func:`methods.synthetic.generate.simple_eligibility` (offence groups in scope, flag and
        minimum-age rules, in the survey's order); this is the one place to switch to
        ``methods.frame.eligibility.apply`` once it is released. Rules that need a contact history,
        the opt-out register or fieldwork dates (``NOT_SIMULATED_RULES``) exclude nobody here;
        a warning names them.
    """
    survey = _survey_for(spec, force)
    idle = [r.name for r in survey.exclusions if r.name in NOT_SIMULATED_RULES]
    if idle:
        warnings.warn(
            f"eligibility rule(s) {idle} of survey {survey.name!r} exclude nobody in a simulation "
            "(a synthetic population has no contact history, register or fieldwork dates)",
            UserWarning,
            stacklevel=3,
        )
    flags = [c for c in ("opted_out", "vulnerable", "no_further_action_requested",
                         "uncooperative", "sensitive", "police_victim") if c not in victims]  # fmt: skip
    used = {r.name for r in survey.exclusions}
    missing = [c for c in flags if c in used]
    if missing:
        raise ValidationError(
            "the eligibility rules need these victim flags; add them or drop the rules",
            column=", ".join(missing),
        )
    return np.flatnonzero(simple_eligibility(victims, survey))


def expected_calls_if_contacted(plan: fieldwork.ModePlan) -> float:
    """Expected call attempts of a case contacted within ``call_attempts`` attempts.

    Notes:
        :mod:`methods.fieldwork.modes` models contact as independent attempts each succeeding with
        probability q, stopping at the first success or after k attempts. The attempt of first
        contact K is geometric, so E[K | K <= k] = (1 - (k + 1) r^k + k r^(k+1)) / (q (1 - r^k))
        with r = 1 - q (the truncated geometric mean; e.g. Johnson, Kemp and Kotz 2005,
        *Univariate Discrete Distributions*, 5.2). Fieldwork does not report attempts per case,
        so the cost model charges this expectation to contacted cases and k to non-contacts.
    """
    q, k = float(plan.contact_per_attempt), int(plan.call_attempts)
    if q <= 0.0:
        return float(k)
    r = 1.0 - q
    return (1.0 - (k + 1) * r**k + k * r ** (k + 1)) / (q * (1.0 - r**k))


def _codes(victims: pd.DataFrame, col: str) -> tuple[np.ndarray, np.ndarray]:
    codes, levels = pd.factorize(victims[col], sort=True)
    bad = np.flatnonzero(codes < 0)
    if bad.size:
        raise ValidationError(
            "missing values in a column a design uses (strata, weighting or domain); fill "
            "them with a level such as 'unknown'",
            column=col,
            rows=(bad + 1).tolist(),
        )
    return codes.astype(np.int64), np.asarray(levels, dtype=object).astype(str)


def prepare(config: SimulationConfig, victims: pd.DataFrame, *, validate: bool = True) -> Payload:
    """Prepare the population and every design once, before any replicate runs.

    Arguments:
        config: the parsed config.
        victims: the population (:func:`build_population`).
        validate: draw one sample per design to surface selection errors before the run.

    Returns:
        The :class:`Payload` the workers share.

    Raises:
        ConfigError: a column a design names is not in the population, or a design's selection
            cannot be drawn from its frame (the message names the design).
    """

    v = victims
    if not {"age_band", "gender_w", "ethnic_group"} <= set(v.columns):
        v = profile_columns(v)
    if "age_group" not in v.columns:
        v = v.assign(age_group=fieldwork.age_group(v["age"]))
    used = config.columns_used()
    missing = [c for c in used if c not in v.columns]
    if missing:
        raise ConfigError(
            f"{config.path}: column(s) {missing} are used by a design or the domain but are not "
            f"in the population; use contract columns (offence_group, gender, ethnicity, "
            f"district, ...) or the derived {', '.join(DERIVED_COLUMNS)}"
        )
    n = len(v)
    has_phone = fieldwork._has(v, "phone")
    has_address = fieldwork._has(v, "address")
    fw = pd.DataFrame(
        {
            # stable per-row key for the answers: the row number and 0, hashed once below
            "crime_ref": pd.array(np.arange(n).astype(str), dtype="str"),
            "victim_id": pd.array(np.full(n, "0"), dtype="str"),
            "age": v["age"].to_numpy(),
            **{c: v[c].astype(str).str.lower().to_numpy() for c in ("gender", "ethnicity", "offence_group")},
            "phone": pd.array(np.where(has_phone, "y", None), dtype="str"),
            "address": pd.array(np.where(has_address, "y", None), dtype="str"),
            **{f"true_p_{s}": v[f"true_p_{s}"].to_numpy(dtype=float) for s in STAGES},
        }
    )  # fmt: skip
    for c in ("gender", "ethnicity", "offence_group"):
        fw[c] = fw[c].astype("str")
    # The fieldwork model's inputs as arrays, computed once: answer keys, latent log-odds,
    # covariate codes, presence flags. A replicate only takes its sampled rows.
    variables = dict.fromkeys(v for d in config.designs for v in d.fieldwork.covariate_effects)
    cases = fieldwork.FieldworkCases.from_frame(fw, variables)
    sizes = {d.sampling.size for d in config.designs if d.sampling.size}
    codes = {c: _codes(v, c) for c in used if c not in sizes}
    domain_levels: tuple[str, ...] = ()
    if config.domain:
        domain_levels = tuple(codes[config.domain][1])
    estimands = tuple(config.stages) + tuple(
        f"{s}:{config.domain}={lv}" for s in config.stages for lv in domain_levels
    )
    cs = config.costs
    payload = Payload(
        stages=config.stages,
        domain=config.domain,
        domain_levels=domain_levels,
        estimands=estimands,
        ci=config.ci,
        conf_level=config.conf_level,
        single_psu=config.single_psu,
        costs=(cs.telephone_attempt, cs.paper_mailing, cs.complete),
        cases=cases,
        codes=codes,
        population_rows=n,
    )
    truth_p = np.column_stack([fw[f"true_p_{s}"].to_numpy() for s in config.stages])
    frames: dict[Any, np.ndarray] = {}
    for d in config.designs:
        key = d.eligibility
        if key not in frames:
            frames[key] = eligible_rows(v, key, config.population.force)
        pos = frames[key]
        if pos.size == 0:
            raise ConfigError(f"{config.path}: design {d.name!r}: nobody is eligible")
        sel_cols: dict[str, Any] = {}
        for c in (*d.sampling.strata, *d.sampling.sort_by):
            cc, lv = codes[c]
            sel_cols[c] = pd.Categorical.from_codes(cc[pos], categories=lv)
        if d.sampling.size:
            sel_cols[d.sampling.size] = pd.to_numeric(v[d.sampling.size]).to_numpy(float)[pos]
        frame = pd.DataFrame(sel_cols, index=pd.RangeIndex(pos.size))
        margins = {
            var: np.bincount(codes[var][0][pos], minlength=len(codes[var][1])).astype(float)
            for var in d.weighting.rake
        }
        tp = truth_p[pos]
        truth = [tp.mean(axis=0)]
        present = np.zeros(0, dtype=np.int64)
        if config.domain:
            dc = codes[config.domain][0][pos]
            cnt = np.bincount(dc, minlength=len(domain_levels)).astype(float)
            present = np.flatnonzero(cnt > 0)
            with np.errstate(invalid="ignore", divide="ignore"):
                for j in range(len(config.stages)):
                    truth.append(np.bincount(dc, weights=tp[:, j], minlength=len(cnt)) / cnt)
        plan = DesignPlan(
            spec=d,
            eligible=pos,
            frame=frame,
            margins=margins,
            truth=np.concatenate(truth),
            calls_if_contacted=expected_calls_if_contacted(d.fieldwork),
            domain_present=present,
        )
        if validate:
            try:
                sampling.select(frame, seed=0, **d.sampling.select_kwargs())
            except (UsageError, ValidationError) as exc:
                raise ConfigError(
                    f"{config.path}: design {d.name!r}: its selection cannot be drawn from its "
                    f"eligible frame of {pos.size} victims: {exc}"
                ) from None
        payload.designs.append(plan)
    return payload


# --------------------------------------------------------------------------- one replicate


def replicate_seed(seed: int, rep: int, design: int) -> np.random.SeedSequence:
    """Stream of design ``design`` in replicate ``rep``: ``SeedSequence(seed).spawn(reps)[rep]
    .spawn(n_designs)[design]``, built directly from its spawn key."""
    return np.random.SeedSequence(seed, spawn_key=(rep, design))


class _Failed(Exception):
    """A replicate of a design that cannot be estimated (counted and reported, not raised)."""


def _merge_sparse(
    codes: np.ndarray, totals: np.ndarray, min_cell: int
) -> tuple[np.ndarray, dict[int, float], list[int]]:
    """Merge raking levels with fewer than ``min_cell`` respondents into the largest level.

    The monthly report's rule (:mod:`methods.report.monthly`): a sparse level joins the level with
    the most respondents. Levels without eligible victims are not margins.

    Arguments:
        codes: level codes of the respondents.
        totals: eligible victims per level code.
        min_cell: smallest number of respondents a level keeps on its own.

    Returns:
        (level code -> merged level code, ``{merged level code: population total}``, the level
        codes merged away).
    """
    counts = np.bincount(codes, minlength=totals.size)
    biggest = int(np.argmax(counts))
    sparse = (counts < min_cell) & (totals > 0)
    sparse[biggest] = False
    mapping = np.arange(totals.size)
    mapping[sparse] = biggest
    merged = np.bincount(mapping, weights=totals, minlength=totals.size)
    keep = np.flatnonzero(merged > 0)
    return mapping, {int(k): float(merged[k]) for k in keep}, np.flatnonzero(sparse).tolist()


def _fieldwork(payload: Payload, plan: DesignPlan, rng: np.random.Generator, res: dict):
    """Selection and fieldwork of one replicate; fills ``res`` with completes and cost."""
    spec = plan.spec
    s = sampling.select(plan.frame, seed=rng, **spec.sampling.select_kwargs())
    pos = plan.eligible[s.index.to_numpy()]
    cases = payload.cases.take(pos)
    f = fieldwork.simulate_cases(cases, spec.fieldwork, rng)
    disp, mode_tel, responded = f.disposition, f.telephone, f.responded
    dialled = f.first_telephone & cases.has_phone
    contacted = dialled & mode_tel & (disp != _DISP["2.20"])
    posted = ~mode_tel & (disp != _DISP["3.90"])
    calls = spec.fieldwork.call_attempts * float((dialled & ~contacted).sum())
    calls += plan.calls_if_contacted * float(contacted.sum())
    mailings = float(posted.sum()) * (1 + spec.fieldwork.reminders)
    c_call, c_mail, c_done = payload.costs
    res["completes"] = int(responded.sum())
    res["cost"] = c_call * calls + c_mail * mailings + c_done * res["completes"]
    return s, pos, f, responded


def _estimate(payload: Payload, plan: DesignPlan, rng: np.random.Generator, notes: Counter, res):
    """One replicate of one design: E x 4 (estimate, se, ci_low, ci_high); completes, cost and
    the intermediate objects (sample, fieldwork, design) go to ``res``. Raises
    :class:`_Failed` when there is nothing to estimate."""
    spec, wt = plan.spec, plan.spec.weighting
    s, pos, f, responded = _fieldwork(payload, plan, rng, res)
    res.update(sample=s, outcome=f, rows=pos)
    if res["completes"] < 2:
        raise _Failed(f"{res['completes']} respondent(s): nothing to estimate")
    cols: dict[str, Any] = {st: satisfied(f.answers[:, STAGES.index(st)]) for st in payload.stages}
    cols["_w"] = s["design_weight"].to_numpy(dtype=float)
    strata = None
    if spec.sampling.strata:
        cols["_stratum"] = s["stratum"].cat.codes.to_numpy()
        strata = "_stratum"
    for c in wt.nonresponse:
        cols[c] = payload.codes[c][0][pos]
    margins = {}
    for var in wt.rake:
        codes = payload.codes[var][0][pos]
        mapping, totals, merged = _merge_sparse(codes[responded], plan.margins[var], wt.min_cell)
        for lv in merged:
            level = payload.codes[var][1][lv]
            notes[(spec.name, f"raking level {var}={level} had fewer than {wt.min_cell} "
                              "respondents and was merged into the largest level")] += 1  # fmt: skip
        cols[f"_rake_{var}"] = mapping[codes]
        margins[f"_rake_{var}"] = totals
    if payload.domain:  # categories: the levels with eligible victims, in level order
        present = plan.domain_present
        remap = np.full(len(payload.domain_levels), -1)
        remap[present] = np.arange(present.size)
        cols["_domain"] = pd.Categorical.from_codes(
            remap[payload.codes[payload.domain][0][pos]],
            categories=[payload.domain_levels[k] for k in present],
        )
    if wt.nonresponse:
        cols["_responded"] = responded
        design = SurveyDesign(pd.DataFrame(cols), weights="_w", strata=strata,
                              single_psu=payload.single_psu)  # fmt: skip
        design = design.adjust_nonresponse("_responded", cells=list(wt.nonresponse), collapse=True)
    else:
        data = pd.DataFrame({k: v[responded] for k, v in cols.items()})
        design = SurveyDesign(data, weights="_w", strata=strata, single_psu=payload.single_psu)
    if margins:
        design = design.rake(margins)
    res["design"] = design
    out = np.full((len(payload.estimands), 4), np.nan)
    keys = ["estimate", "se", "ci_low", "ci_high"]
    S = len(payload.stages)
    for j, stage in enumerate(payload.stages):
        r = design.proportion(stage, ci=payload.ci, conf_level=payload.conf_level)
        out[j] = r[keys].to_numpy(dtype=float)[0]
    if payload.domain:
        view = design.by("_domain")
        L = len(payload.domain_levels)
        for j, stage in enumerate(payload.stages):
            r = view.proportion(stage, ci=payload.ci, conf_level=payload.conf_level)
            out[S + j * L + plan.domain_present] = r[keys].to_numpy(dtype=float)
    return out


def replicate_detail(payload: Payload, design: int, seed: int, rep: int) -> dict[str, Any]:
    """Everything one replicate of one design produced, for checks and teaching.

    Returns:
        ``{"values": E x 4 (estimate, se, ci_low, ci_high), "completes", "cost", "sample"
        (the :func:`methods.sampling.selection.select` result), "rows" (population rows sampled),
        "fieldwork" (the :func:`methods.fieldwork.modes.simulate` result), "design" (the final
        weighted :class:`SurveyDesign` of the respondents), "notes"}``: the same numbers
        :func:`run_batch` files for that replicate.
    """

    plan = payload.designs[design]
    res: dict[str, Any] = {}
    notes: Counter = Counter()
    with threadpool_limits(limits=1):
        rng = np.random.default_rng(replicate_seed(seed, rep, design))
        res["values"] = _estimate(payload, plan, rng, notes, res)
    rows = res["rows"]
    ids = {"crime_ref": rows.astype(str), "victim_id": np.full(rows.size, "0")}
    res["fieldwork"] = res.pop("outcome").to_frame(pd.Index(rows), ids)
    res["notes"] = notes
    return res


#: Counts and measured figures that vary from replicate to replicate are masked as ``#`` so
#: that a note is counted once whatever its figures (fixed figures, e.g. years, are kept).
_DIGITS = re.compile(
    r"\b\d+(?= (?:estimate|respondent|row|unit|case|replicate|level|domain|iteration|stratum|strata))"
    r"|\b\d+\.\d+(?:e[-+]?\d+)?|\b\d+e[-+]?\d+"
)


def run_batch(payload: Payload, seed: int, reps: list[int] | range) -> dict[str, Any]:
    """Run replicates ``reps`` of every design (a task's unit of work).

    Arguments:
        payload: the prepared population (:func:`prepare`).
        seed: the run's seed.
        reps: replicate indices.

    Returns:
        ``{"reps": int array (b), "values": float array (D, b, E, 4) of estimate, se, ci_low,
        ci_high, "completes": (D, b), "cost": (D, b), "failed": bool (D, b), "notes":
        Counter of (design, message) -> replicates}``. Warnings raised inside a replicate are
        recorded in ``notes`` (numbers masked as ``#``) rather than printed, so the caller can
        report each once with its count.
    """

    reps = list(reps)
    D, b, E = len(payload.designs), len(reps), len(payload.estimands)
    values = np.full((D, b, E, 4), np.nan)
    completes = np.zeros((D, b))
    cost = np.full((D, b), np.nan)
    failed = np.zeros((D, b), dtype=bool)
    notes: Counter = Counter()
    with threadpool_limits(limits=1):
        for i, rep in enumerate(reps):
            for d, plan in enumerate(payload.designs):
                rng = np.random.default_rng(replicate_seed(seed, rep, d))
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always")
                    res: dict[str, Any] = {}
                    seen: Counter = Counter()  # this replicate's notes, each counted once
                    try:
                        values[d, i] = _estimate(payload, plan, rng, seen, res)
                    except (_Failed, ConvergenceError, ValidationError) as exc:
                        failed[d, i] = True
                        msg = _DIGITS.sub("#", str(exc))
                        seen[
                            (plan.spec.name, f"replicate failed: {type(exc).__name__}: {msg}")
                        ] += 1
                completes[d, i] = res.get("completes", 0)
                cost[d, i] = res.get("cost", np.nan)
                for wmsg in caught:
                    text = _DIGITS.sub("#", str(wmsg.message))
                    seen[(plan.spec.name, f"{wmsg.category.__name__}: {text}")] += 1
                notes.update(seen.keys())
    return {
        "reps": np.asarray(reps, dtype=np.int64),
        "values": values,
        "completes": completes,
        "cost": cost,
        "failed": failed,
        "notes": notes,
    }
