"""Simulation configs: TOML files describing a population and the candidate designs to compare.

A config names one synthetic population (a force preset and months, from
:mod:`methods.synthetic.generate`, or a frame file the user supplies), what to estimate (the stages'
satisfied proportion, overall and by a domain), what things cost, and a list of designs. Each
design names its eligibility rules, its selection (:func:`methods.sampling.selection.select` arguments),
its fieldwork plan (:class:`methods.fieldwork.modes.ModePlan` fields) and its weighting scheme
(optional non-response adjustment within cells, raking to the eligible population's margins).
A ``[defaults]`` table is merged into every design (the design's own keys win, table by table).

Example (``src/methods/configs/simulations/allocation_and_mode.toml`` is a full one)::

    title = "SRS against stratified designs"
    [population]
    force = "durham"
    months = "2024-01:2024-12"
    [estimation]
    domain = "offence_group"
    [costs]
    telephone_attempt = 1.60
    paper_mailing = 1.10
    complete = 4.00
    [defaults.weighting]
    rake = ["age_band", "gender_w", "ethnic_group", "offence_group"]
    [[designs]]
    name = "srs_telephone"
    sampling = { n = 1200 }
    fieldwork = { plan = "telephone" }

Every problem raises :class:`methods.core.errors.ConfigError` (a :class:`UsageError`, exit code 2
in the CLI) naming the file, the key and how to fix it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from methods.config.presets import EXCLUSION_RULES, ExclusionRule
from methods.core.checks import Where
from methods.core.errors import ConfigError, UsageError
from methods.core.schema import OFFENCE_GROUPS, STAGES
from methods.fieldwork.modes import ModePlan
from methods.sampling.selection import ALLOCATIONS, METHODS
from methods.synthetic.generate import months_range

__all__ = [
    "CostSpec",
    "DesignSpec",
    "EligibilitySpec",
    "PopulationSpec",
    "SamplingSpec",
    "SimulationConfig",
    "WeightingSpec",
    "list_configs",
    "load_config",
    "parse_config",
]

#: Proportion intervals accepted (see :mod:`methods.design.ci`).
CI_METHODS = ("logit", "beta", "wilson")
SINGLE_PSU = ("error", "certainty", "remove", "average", "adjust")
_MODEPLAN_FIELDS = tuple(f.name for f in dataclasses.fields(ModePlan))
#: Rules that need a contact history, an opt-out register or fieldwork dates; a synthetic
#: population has none of them, so they exclude nobody in a simulation.
NOT_SIMULATED_RULES = ("outside_contact_window", "resurveyed_within_months", "optout_register")


@dataclass(frozen=True)
class PopulationSpec:
    """Where the finite population comes from.

    Arguments:
        force: synthetic force preset (``methods.config.presets.list_forces``), or ``None`` with ``file``.
        months: months generated (``YYYY-MM``), each by :func:`methods.synthetic.generate.generate_victims`.
        seed: population seed: the population is fixed; replicates vary the sample and fieldwork.
        scale: multiplies the preset's monthly volumes.
        file: a CSV or Parquet frame instead (victim-extract columns plus ``true_p_<stage>``).
    """

    force: str | None = None
    months: tuple[str, ...] = ()
    seed: int = 20250101
    scale: float = 1.0
    file: str | None = None


@dataclass(frozen=True)
class EligibilitySpec:
    """Who is in the frame: a preset's survey definition, or offence groups and rules.

    Arguments:
        survey: a survey of the force preset (its offence groups and exclusion rules).
        offence_groups: offence groups in scope (``None`` = all).
        exclude: exclusion rules (``methods.config.presets.EXCLUSION_RULES``), in order.
    """

    survey: str | None = None
    offence_groups: tuple[str, ...] | None = None
    exclude: tuple[ExclusionRule, ...] = ()


@dataclass(frozen=True)
class SamplingSpec:
    """Arguments of :func:`methods.sampling.selection.select` (``seed`` comes from the replicate)."""

    strata: tuple[str, ...] = ()
    n: int | tuple[tuple[str, int], ...] | None = None
    fraction: float | None = None
    allocation: str | None = None
    method: str = "srs"
    sort_by: tuple[str, ...] = ()
    size: str | None = None
    priors: tuple[tuple[str, tuple[tuple[str, float], ...]], ...] | None = None
    target_completes: int | None = None
    response_rate: float | None = None

    def select_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`methods.sampling.selection.select`."""
        kw: dict[str, Any] = {"method": self.method}
        if self.strata:
            kw["strata"] = list(self.strata)
        if self.n is not None:
            kw["n"] = dict(self.n) if isinstance(self.n, tuple) else self.n
        for key in ("fraction", "allocation", "size", "target_completes", "response_rate"):
            if getattr(self, key) is not None:
                kw[key] = getattr(self, key)
        if self.sort_by:
            kw["sort_by"] = list(self.sort_by)
        if self.priors is not None:
            kw["priors"] = {k: dict(v) for k, v in self.priors}
        return kw


@dataclass(frozen=True)
class WeightingSpec:
    """The weighting scheme (Kalton and Flores-Cervantes 2003).

    Arguments:
        nonresponse: cells for the weighting-class non-response adjustment
            (:func:`methods.weighting.adjust_nonresponse`, ``collapse=True``); empty = none.
        rake: variables raked to the eligible population's counts
            (:func:`methods.weighting.rake`); empty = design weights only.
        min_cell: a raking level with fewer respondents than this in a replicate is merged
            into that variable's largest level for that replicate (the monthly report's rule,
            :mod:`methods.report.monthly`), so that raking is always defined.
    """

    nonresponse: tuple[str, ...] = ()
    rake: tuple[str, ...] = ()
    min_cell: int = 5


@dataclass(frozen=True)
class DesignSpec:
    """One candidate design: eligibility, selection, fieldwork and weighting."""

    name: str
    label: str
    eligibility: EligibilitySpec
    sampling: SamplingSpec
    fieldwork: ModePlan
    weighting: WeightingSpec


@dataclass(frozen=True)
class CostSpec:
    """Unit costs (any currency): per telephone call attempt, per paper mailing, per complete."""

    telephone_attempt: float = 0.0
    paper_mailing: float = 0.0
    complete: float = 0.0
    currency: str = "GBP"


@dataclass(frozen=True)
class SimulationConfig:
    """A parsed simulation config (see the module docstring)."""

    title: str
    description: str
    population: PopulationSpec
    stages: tuple[str, ...]
    domain: str | None
    ci: str
    conf_level: float
    single_psu: str
    costs: CostSpec
    designs: tuple[DesignSpec, ...]
    path: str = ""
    sha256: str = ""

    def columns_used(self) -> tuple[str, ...]:
        """Population columns the designs and estimands need (strata, sort, size, weighting,
        domain), in first-use order."""
        out: list[str] = []
        for d in self.designs:
            s = d.sampling
            out += [*s.strata, *s.sort_by, *([s.size] if s.size else [])]
            out += [*d.weighting.nonresponse, *d.weighting.rake]
        if self.domain:
            out.append(self.domain)
        return tuple(dict.fromkeys(out))


# --------------------------------------------------------------------------- parsing helpers


def _table(value: Any, where: Where) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise where.error(f"must be a table, got {type(value).__name__}")
    return value


def _known(table: Mapping[str, Any], known: tuple[str, ...], where: Where) -> None:
    bad = [k for k in table if k not in known]
    if bad:
        raise where.error(f"unknown key(s) {bad}; allowed: {', '.join(known)}")


def _str(value: Any, where: Where) -> str:
    if not isinstance(value, str) or not value.strip():
        raise where.error(f"must be a non-empty string, got {value!r}")
    return value.strip()


def _strs(value: Any, where: Where) -> tuple[str, ...]:
    if isinstance(value, str):
        return (_str(value, where),)
    if not isinstance(value, list):
        raise where.error(f"must be a string or a list of strings, got {value!r}")
    return tuple(_str(v, where.sub(i)) for i, v in enumerate(value))


def _number(value: Any, where: Where, lo: float | None = None, hi: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise where.error(f"must be a number, got {value!r}")
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise where.error(f"must be in [{lo}, {hi}], got {value!r}")
    return float(value)


def _int(value: Any, where: Where, lo: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < lo:
        raise where.error(f"must be an integer >= {lo}, got {value!r}")
    return int(value)


def _merge(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults merged with a design's tables: sub-tables merge key by key, the design wins."""
    out = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(out.get(k), Mapping):
            out[k] = {**out[k], **v}
        else:
            out[k] = v
    return out


# --------------------------------------------------------------------------- sections


def _population(raw: Any, where: Where) -> PopulationSpec:
    t = _table(raw, where)
    _known(t, ("force", "months", "seed", "scale", "file"), where)
    if ("force" in t) == ("file" in t):
        raise where.error("give either force (a synthetic preset) or file (a frame), not both")
    if "file" in t:
        return PopulationSpec(file=_str(t["file"], where.sub("file")))
    months_raw = t.get("months")
    if months_raw is None:
        raise where.error('a synthetic population needs months, e.g. months = "2024-01:2024-12"')
    if isinstance(months_raw, str) and ":" in months_raw:
        try:
            months = tuple(months_range(months_raw))
        except Exception as exc:  # noqa: BLE001 - re-raised with the key named
            raise where.sub("months").error(str(exc)) from None
    else:
        months = _strs(months_raw, where.sub("months"))
    seed = _int(t.get("seed", 20250101), where.sub("seed"))
    scale = _number(t.get("scale", 1.0), where.sub("scale"), 1e-6, 1e6)
    return PopulationSpec(force=_str(t["force"], where.sub("force")), months=months, seed=seed,
                          scale=scale)  # fmt: skip


def _rules(value: Any, where: Where) -> tuple[ExclusionRule, ...]:
    if not isinstance(value, list):
        raise where.error("must be a list of rule names or {rule = ..., ...} tables")
    out = []
    for i, item in enumerate(value):
        w = where.sub(i)
        params: dict[str, Any] = {}
        if isinstance(item, str):
            name = item
        else:
            item = _table(item, w)
            name = _str(item.get("rule"), w.sub("rule"))
            params = {k: v for k, v in item.items() if k != "rule"}
        if name not in EXCLUSION_RULES:
            raise w.error(f"unknown exclusion rule {name!r}; rules: {', '.join(EXCLUSION_RULES)}")
        allowed = tuple(EXCLUSION_RULES[name])
        _known(params, allowed, w)
        kw = {k: params.get(k, EXCLUSION_RULES[name][k]) for k in allowed}
        out.append(ExclusionRule(name=name, **kw))
    return tuple(out)


def _eligibility(raw: Any, where: Where) -> EligibilitySpec:
    t = _table(raw, where)
    _known(t, ("survey", "offence_groups", "exclude"), where)
    if "survey" in t:
        if len(t) > 1:
            raise where.error("survey = ... takes its offence groups and rules from the preset; "
                              "do not also give offence_groups or exclude")  # fmt: skip
        return EligibilitySpec(survey=_str(t["survey"], where.sub("survey")))
    groups = None
    if "offence_groups" in t:
        groups = _strs(t["offence_groups"], where.sub("offence_groups"))
        bad = [g for g in groups if g not in OFFENCE_GROUPS]
        if bad:
            raise where.sub("offence_groups").error(
                f"unknown offence group(s) {bad}; codes: {', '.join(OFFENCE_GROUPS)}"
            )
    return EligibilitySpec(offence_groups=groups, exclude=_rules(t.get("exclude", []),
                                                                  where.sub("exclude")))  # fmt: skip


def _sampling(raw: Any, where: Where) -> SamplingSpec:
    t = _table(raw, where)
    fields = tuple(f.name for f in dataclasses.fields(SamplingSpec))
    _known(t, fields, where)
    kw: dict[str, Any] = {}
    if "strata" in t:
        kw["strata"] = _strs(t["strata"], where.sub("strata"))
    if "sort_by" in t:
        kw["sort_by"] = _strs(t["sort_by"], where.sub("sort_by"))
    if "n" in t:
        n = t["n"]
        if isinstance(n, Mapping):
            kw["n"] = tuple((str(k), _int(v, where.sub("n").sub(str(k)))) for k, v in n.items())
        else:
            kw["n"] = _int(n, where.sub("n"), lo=1)
    if "fraction" in t:
        kw["fraction"] = _number(t["fraction"], where.sub("fraction"), 1e-9, 1.0)
    if "allocation" in t:
        kw["allocation"] = _str(t["allocation"], where.sub("allocation"))
        if kw["allocation"] not in ALLOCATIONS:
            raise where.sub("allocation").error(f"choose one of {', '.join(ALLOCATIONS)}")
    if "method" in t:
        kw["method"] = _str(t["method"], where.sub("method"))
        if kw["method"] not in METHODS:
            raise where.sub("method").error(f"choose one of {', '.join(METHODS)}")
    if "size" in t:
        kw["size"] = _str(t["size"], where.sub("size"))
    if "priors" in t:
        pr = _table(t["priors"], where.sub("priors"))
        kw["priors"] = tuple(
            (str(k), tuple((str(a), _number(b, where.sub("priors").sub(str(k)))) for a, b in
                           _table(v, where.sub("priors").sub(str(k))).items()))
            for k, v in pr.items()
        )  # fmt: skip
    if "target_completes" in t:
        kw["target_completes"] = _int(t["target_completes"], where.sub("target_completes"), 1)
    if "response_rate" in t:
        kw["response_rate"] = _number(t["response_rate"], where.sub("response_rate"), 1e-9, 1.0)
    if (
        not any(k in kw for k in ("n", "fraction", "target_completes"))
        and kw.get("allocation") != "census"
    ):
        raise where.error("say how many to sample: n, fraction, or target_completes with "
                          "response_rate (or allocation = \"census\")")  # fmt: skip
    return SamplingSpec(**kw)


def _fieldwork(raw: Any, where: Where) -> ModePlan:
    t = _table(raw, where)
    _known(t, _MODEPLAN_FIELDS, where)
    kw = dict(t)
    if "window_weeks" in kw:
        kw["window_weeks"] = tuple(kw["window_weeks"])
    if "covariate_effects" in kw:
        kw["covariate_effects"] = {k: dict(v) for k, v in kw["covariate_effects"].items()}
    try:
        return ModePlan(**kw)
    except (TypeError, ValueError, UsageError) as exc:  # ModePlan's own checks raise UsageError
        raise where.error(str(exc)) from None


def _weighting(raw: Any, where: Where) -> WeightingSpec:
    t = _table(raw, where)
    _known(t, ("nonresponse", "rake", "min_cell"), where)
    return WeightingSpec(
        nonresponse=_strs(t.get("nonresponse", []), where.sub("nonresponse")),
        rake=_strs(t.get("rake", []), where.sub("rake")),
        min_cell=_int(t.get("min_cell", 5), where.sub("min_cell"), lo=1),
    )


def _costs(raw: Any, where: Where) -> CostSpec:
    t = _table(raw, where)
    _known(t, ("telephone_attempt", "paper_mailing", "complete", "currency"), where)
    return CostSpec(
        telephone_attempt=_number(
            t.get("telephone_attempt", 0.0), where.sub("telephone_attempt"), 0
        ),
        paper_mailing=_number(t.get("paper_mailing", 0.0), where.sub("paper_mailing"), 0),
        complete=_number(t.get("complete", 0.0), where.sub("complete"), 0),
        currency=_str(t.get("currency", "GBP"), where.sub("currency")),
    )


def parse_config(raw: Mapping[str, Any], path: str = "<config>") -> SimulationConfig:
    """Validate a config held as a dict (parsed TOML) and return a :class:`SimulationConfig`.

    Raises:
        ConfigError: naming ``path`` and the key, with how to fix it.
    """
    top = Where(path)
    raw = _table(raw, top)
    _known(raw, ("title", "description", "population", "estimation", "costs", "defaults",
                 "designs"), top)  # fmt: skip
    if "population" not in raw:
        raise top.error("missing [population] (force and months, or file)")
    pop = _population(raw["population"], top.sub("population"))
    est = _table(raw.get("estimation", {}), top.sub("estimation"))
    w_est = top.sub("estimation")
    _known(est, ("stages", "domain", "ci", "conf_level", "single_psu"), w_est)
    stages = _strs(est.get("stages", list(STAGES)), w_est.sub("stages"))
    bad = [s for s in stages if s not in STAGES]
    if bad:
        raise w_est.sub("stages").error(f"unknown stage(s) {bad}; stages: {', '.join(STAGES)}")
    ci = _str(est.get("ci", "logit"), w_est.sub("ci"))
    if ci not in CI_METHODS:
        raise w_est.sub("ci").error(f"choose one of {', '.join(CI_METHODS)}")
    single_psu = _str(est.get("single_psu", "average"), w_est.sub("single_psu"))
    if single_psu not in SINGLE_PSU:
        raise w_est.sub("single_psu").error(f"choose one of {', '.join(SINGLE_PSU)}")
    domain = _str(est["domain"], w_est.sub("domain")) if "domain" in est else None
    conf = _number(est.get("conf_level", 0.95), w_est.sub("conf_level"), 0.5, 0.999)

    defaults = _table(raw.get("defaults", {}), top.sub("defaults"))
    sections = ("eligibility", "sampling", "fieldwork", "weighting")
    _known(defaults, sections, top.sub("defaults"))
    designs_raw = raw.get("designs")
    if not isinstance(designs_raw, list) or not designs_raw:
        raise top.error("needs at least one [[designs]] table")
    designs = []
    for i, d in enumerate(designs_raw):
        w = top.sub("designs").sub(i)
        d = _table(d, w)
        _known(d, ("name", "label", *sections), w)
        name = _str(d.get("name"), w.sub("name"))
        m = _merge(defaults, {k: v for k, v in d.items() if k in sections})
        if "sampling" not in m:
            raise w.error("needs a sampling table (here or in [defaults.sampling])")
        designs.append(
            DesignSpec(
                name=name,
                label=_str(d.get("label", name), w.sub("label")),
                eligibility=_eligibility(m.get("eligibility", {}), w.sub("eligibility")),
                sampling=_sampling(m["sampling"], w.sub("sampling")),
                fieldwork=_fieldwork(m.get("fieldwork", {}), w.sub("fieldwork")),
                weighting=_weighting(m.get("weighting", {}), w.sub("weighting")),
            )
        )
    names = [d.name for d in designs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise top.sub("designs").error(f"design names must be unique; repeated: {dup}")
    return SimulationConfig(
        title=str(raw.get("title", "")),
        description=str(raw.get("description", "")),
        population=pop,
        stages=stages,
        domain=domain,
        ci=ci,
        conf_level=conf,
        single_psu=single_psu,
        costs=_costs(raw.get("costs", {}), top.sub("costs")),
        designs=tuple(designs),
        path=path,
    )


def _configs_dir():
    return resources.files("methods").joinpath("configs", "simulations")


def list_configs() -> list[str]:
    """Names of the example configs shipped with the package."""
    return sorted(p.name[:-5] for p in _configs_dir().iterdir() if p.name.endswith(".toml"))


def load_config(name_or_path: str | Path) -> SimulationConfig:
    """Read a simulation config: a TOML file path, or the name of a shipped example.

    Raises:
        ConfigError: the file is missing, is not valid TOML, or breaks a rule above.
    """
    p = Path(name_or_path)
    if p.is_file():
        data, where = p.read_bytes(), str(p)
    else:
        res = _configs_dir().joinpath(f"{name_or_path}.toml")
        if not res.is_file():
            raise ConfigError(
                f"simulation config {str(name_or_path)!r} is neither a file nor a shipped "
                f"example; examples: {', '.join(list_configs())}"
            )
        data, where = res.read_bytes(), f"{name_or_path}.toml"
    try:
        raw = tomllib.loads(data.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where}: not valid TOML: {exc}") from None
    cfg = parse_config(raw, where)
    return dataclasses.replace(cfg, sha256=hashlib.sha256(data).hexdigest())
