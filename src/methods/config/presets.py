"""Survey definitions and force presets, read from TOML package data.

Survey definitions live in ``methods/configs/surveys/<name>.toml`` and force presets in
``methods/configs/forces/<name>.toml``; a user can load a preset of their own with
:func:`load_force_file`. Everything is validated when it is read: a missing key, a value of the
wrong type, an unknown survey, offence group, stage, mode or exclusion rule, or bad TOML syntax
raises :class:`methods.core.errors.ConfigError` naming the file and the key, and saying how to fix it.

The practice the presets reproduce is described in the forces' public pages (docs/sources.md)
and summarised in docs/methods.md; each TOML file cites its source.

Model of a survey (:class:`SurveyDef`): the offence groups in scope, the exclusion rules applied
to the force's victims (:data:`EXCLUSION_RULES`), the stages asked (a subset of
:data:`methods.core.schema.STAGES`), the modes, and the contact window in weeks after the report
(6-12 weeks by default; Durham 8-12 weeks). A force preset (:class:`ForcePreset`) says which
surveys the force runs, who does the fieldwork, how victims are selected, and carries what the
synthetic generator needs (monthly volumes, districts, ethnic mix, response rates and the
published satisfaction figures to calibrate against).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from methods.core.checks import Where
from methods.core.errors import ConfigError
from methods.core.schema import ETHNICITIES, MODES, OFFENCE_GROUPS, STAGES

__all__ = [
    "EXCLUSION_RULES",
    "FLAG_RULES",
    "SELECTION_RULES",
    "AGENCY_TYPES",
    "ExclusionRule",
    "Selection",
    "SurveyDef",
    "ForcePreset",
    "list_surveys",
    "list_forces",
    "load_survey",
    "load_force",
    "load_force_file",
    "load_survey_file",
    "force_name",
    "survey_name",
    "TEXT_LIMITS",
]

#: Default maximum lengths (characters, after trimming spaces) of the free-text and identifier
#: columns of the contract files (docs/data_contract.md, "Row rules"); a preset's ``[limits]``
#: table may change them. Names and addresses: generous for the longest UK forms (a postal
#: address is at most 7 lines of 35 characters, 245 with separators, Royal Mail PAF); e-mail:
#: 254 characters (RFC 5321 section 4.5.3.1 path limit); phone: E.164 numbers have at most 15
#: digits, 40 leaves room for spacing and an extension.
TEXT_LIMITS: dict[str, int] = {
    "crime_ref": 100,
    "victim_id": 100,
    "district": 100,
    "name": 200,
    "phone": 40,
    "email": 254,
    "address": 500,
    "comment": 4000,
}

#: Exclusion rules a survey may apply, with the parameters each accepts (and their defaults).
#: Sources (docs/sources.md): 000 (Cumbria), 001 (Warwickshire), 004 (Kent); docs/methods.md.
EXCLUSION_RULES: dict[str, dict[str, int | None]] = {
    "opted_out": {},  # victim asked not to be surveyed (extract flag)
    "under_min_age": {"min_age": 16},  # age < min_age (blank age: not excluded by this rule)
    "vulnerable": {},  # flagged vulnerable, e.g. mental health
    "no_further_action_requested": {},
    "uncooperative": {},  # unwilling to co-operate with the investigation
    "sensitive": {},  # sensitive or serious case (force judgement)
    "police_victim": {},  # officer or staff member on duty
    "outside_contact_window": {},  # cannot be contacted inside the survey's window
    "resurveyed_within_months": {"months": None},  # surveyed in the last N months (N required)
    "optout_register": {},  # on the force's register of people who asked never to be surveyed
}
#: Rules that are a plain victim-extract flag (docs/data_contract.md section 1): rule -> column.
FLAG_RULES: dict[str, str] = {
    "opted_out": "opted_out",
    "vulnerable": "vulnerable",
    "no_further_action_requested": "no_further_action_requested",
    "uncooperative": "uncooperative",
    "sensitive": "sensitive",
    "police_victim": "police_victim",
}
#: How a preset selects victims: a fixed fraction, an annual number, or every eligible victim.
SELECTION_RULES: tuple[str, ...] = ("fraction", "annual_n", "census")
#: Who does the fieldwork.
AGENCY_TYPES: tuple[str, ...] = ("agency", "other_force", "in_house")
#: When opt-outs are checked (Warwickshire honours opt-outs before details leave the force).
OPTOUT_TIMINGS: tuple[str, ...] = ("before_selection", "before_transfer")
PROFILE_VARIABLES: tuple[str, ...] = ("age", "gender", "ethnicity")

_PKG = "methods"
_SURVEY_DIR = ("configs", "surveys")
_FORCE_DIR = ("configs", "forces")


# --------------------------------------------------------------------------- dataclasses


@dataclass(frozen=True)
class ExclusionRule:
    """One exclusion rule of a survey.

    Arguments:
        name: a key of :data:`EXCLUSION_RULES`.
        min_age: for ``under_min_age``: victims younger than this are excluded (default 16).
        months: for ``resurveyed_within_months``: victims surveyed in the last N months are
            excluded.
    """

    name: str
    min_age: int | None = None
    months: int | None = None

    def describe(self) -> str:
        """The rule in words, e.g. ``under_min_age (16)``."""
        if self.name == "under_min_age":
            return f"under_min_age ({self.min_age})"
        if self.name == "resurveyed_within_months":
            return f"resurveyed_within_months ({self.months})"
        return self.name


@dataclass(frozen=True)
class Selection:
    """How victims are selected for a survey each month.

    Arguments:
        rule: ``fraction`` (each eligible victim with probability ``fraction``), ``annual_n``
            (about ``annual_n`` victims a year, ``annual_n / 12`` a month) or ``census`` (every
            eligible victim is invited).
        fraction: sampling fraction for ``fraction``.
        annual_n: victims selected a year for ``annual_n``.
    """

    rule: str
    fraction: float | None = None
    annual_n: int | None = None

    def describe(self) -> str:
        if self.rule == "fraction":
            return f"{100 * (self.fraction or 0):g}% of eligible victims"
        if self.rule == "annual_n":
            return f"about {self.annual_n:,} victims a year"
        return "census of eligible victims"


@dataclass(frozen=True)
class SurveyDef:
    """A victim survey: who is in scope, who is excluded, what is asked, how and when.

    Arguments:
        name: survey name (file stem), e.g. ``burglary``.
        title: human-readable title.
        offence_groups: offence groups in scope (codes of ``methods.core.schema.OFFENCE_GROUPS``).
        exclusions: exclusion rules, in the order they are applied.
        stages: stages asked, in report order (subset of ``methods.core.schema.STAGES``).
        modes: fieldwork modes (``methods.core.schema.MODES``), in order of preference.
        contact_window_weeks: (earliest, latest) weeks after the report when contact happens.
        mandated: a Home Office mandated survey (domestic abuse, stalking and harassment).
        description, source: what the survey is and where the definition comes from.
        agency, agency_type: who does the fieldwork (set by a force preset).
        targets: percent satisfied per stage for all five stages, set by a force preset
            (published figures or documented stand-ins; see the preset's ``targets_note``).
        targets_note: where the targets come from.
        selection: a survey-specific selection rule set by the preset, or ``None`` when the
            preset's force-wide rule applies (see :meth:`ForcePreset.selection_for`).
    """

    name: str
    title: str
    offence_groups: tuple[str, ...]
    exclusions: tuple[ExclusionRule, ...]
    stages: tuple[str, ...]
    modes: tuple[str, ...]
    contact_window_weeks: tuple[int, int] = (6, 12)
    mandated: bool = False
    description: str = ""
    source: str = ""
    agency: str | None = None
    agency_type: str | None = None
    targets: tuple[tuple[str, float], ...] = ()
    targets_note: str = ""
    selection: Selection | None = None

    @property
    def rule_names(self) -> tuple[str, ...]:
        """Names of the exclusion rules, in order."""
        return tuple(r.name for r in self.exclusions)

    def rule(self, name: str) -> ExclusionRule | None:
        """The exclusion rule called ``name``, or ``None`` when the survey does not apply it."""
        for r in self.exclusions:
            if r.name == name:
                return r
        return None

    @property
    def min_age(self) -> int | None:
        """Minimum age when the survey applies ``under_min_age``, else ``None``."""
        r = self.rule("under_min_age")
        return None if r is None else r.min_age

    @property
    def target_map(self) -> dict[str, float]:
        """Targets as ``{stage: percent satisfied}`` (empty for a survey outside a preset)."""
        return dict(self.targets)


@dataclass(frozen=True)
class ForcePreset:
    """A force's survey practice and the figures the synthetic generator needs.

    Arguments:
        name, title: preset name (file stem) and the force's name.
        crime_ref_prefix: prefix of the force's crime references, e.g. ``DU`` ->
            ``DU/25/012345``; ingest checks every ``crime_ref`` of an extract loaded for the
            force starts with it (any case) and infers the force from it when none is given.
        crime_ref_pattern: optional regular expression (RE2, whole value, case-insensitive) a
            crime reference must match instead of the prefix rule.
        district_aliases: other spellings of districts (alias, canonical district), applied
            case-insensitively before the district check of ingest.
        limits: maximum lengths overriding :data:`TEXT_LIMITS` (column, characters).
        surveys: the surveys the force runs, with the preset's overrides applied.
        agency, agency_type: default fieldwork organisation and its type (``agency``,
            ``other_force``, ``in_house``); a survey may name its own.
        selection: the force-wide selection rule (surveys with their own rule are excluded
            from it); ``None`` when every survey has its own.
        modes: fieldwork modes in order of preference (applied to every survey unless its
            ``[surveys.<name>]`` table names its own).
        response_rates: expected response rate by mode (fraction), for synthetic fieldwork.
        contact_window_weeks: the preset's contact window when it overrides the surveys'.
            (The TOML key ``add_exclusions`` adds rules to every survey before the surveys'
            own overrides; a survey's full ``exclusions`` list replaces everything.)
        optout_timing: ``before_selection`` or ``before_transfer`` (opt-outs recorded after
            selection are still honoured before details leave the force).
        diversity_monitoring: the force monitors the respondent profile against all reporters.
        profile_monitoring: victim characteristics whose respondent profile is checked.
        monthly_volume: mean victims a month by offence group (all ten groups, zeros allowed).
        districts: policing districts and their shares of victims.
        ethnicity: shares of the five ONS groups among victims of known ethnicity.
        targets: default percent satisfied per stage (all five stages).
        targets_note, notes, source: provenance in words.
        path: the TOML file read; fingerprint: SHA-256 of its parsed content.
    """

    name: str
    title: str
    crime_ref_prefix: str
    surveys: tuple[SurveyDef, ...]
    agency: str
    agency_type: str
    selection: Selection | None
    modes: tuple[str, ...]
    response_rates: tuple[tuple[str, float], ...]
    monthly_volume: tuple[tuple[str, float], ...]
    districts: tuple[tuple[str, float], ...]
    ethnicity: tuple[tuple[str, float], ...]
    targets: tuple[tuple[str, float], ...]
    contact_window_weeks: tuple[int, int] | None = None
    optout_timing: str = "before_selection"
    diversity_monitoring: bool = False
    profile_monitoring: tuple[str, ...] = PROFILE_VARIABLES
    targets_note: str = ""
    notes: str = ""
    source: str = ""
    path: str = field(default="", compare=False)
    fingerprint: str = ""
    crime_ref_pattern: str = ""
    district_aliases: tuple[tuple[str, str], ...] = ()
    limits: tuple[tuple[str, int], ...] = ()

    @property
    def survey_names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.surveys)

    def survey(self, name: str) -> SurveyDef:
        """The preset's survey ``name`` (overrides applied); ConfigError if it has none."""
        for s in self.surveys:
            if s.name == name:
                return s
        raise ConfigError(
            f"force preset '{self.name}' has no survey '{name}'; "
            f"its surveys are: {', '.join(self.survey_names)}"
        )

    def survey_for_offence(self, offence_group: str) -> SurveyDef | None:
        """The survey covering ``offence_group``, or ``None`` if the force does not survey it."""
        for s in self.surveys:
            if offence_group in s.offence_groups:
                return s
        return None

    def selection_for(self, survey: str) -> tuple[Selection, str]:
        """The selection rule of ``survey`` and its scope (``survey`` or ``force``).

        A survey with its own rule is selected on its own; the others share the force-wide
        rule (for ``annual_n`` the annual number is shared among them in proportion to their
        eligible victims, so every eligible victim has the same chance).
        """
        s = self.survey(survey)
        if s.selection is not None:
            return s.selection, "survey"
        assert self.selection is not None  # guaranteed by the loader
        return self.selection, "force"

    @property
    def volume_map(self) -> dict[str, float]:
        return dict(self.monthly_volume)

    @property
    def district_names(self) -> tuple[str, ...]:
        return tuple(d for d, _ in self.districts)

    @property
    def district_weights(self) -> tuple[float, ...]:
        return tuple(w for _, w in self.districts)

    @property
    def district_lookup(self) -> dict[str, str]:
        """Lower-case district or alias -> canonical district name (the ingest check)."""
        out = {d.lower(): d for d in self.district_names}
        out.update({a.lower(): d for a, d in self.district_aliases})
        return out

    @property
    def limit_map(self) -> dict[str, int]:
        """Maximum length of each free-text column: :data:`TEXT_LIMITS` and the preset's."""
        return {**TEXT_LIMITS, **dict(self.limits)}

    @property
    def response_rate_map(self) -> dict[str, float]:
        return dict(self.response_rates)

    @property
    def ethnicity_map(self) -> dict[str, float]:
        return dict(self.ethnicity)

    @property
    def target_map(self) -> dict[str, float]:
        return dict(self.targets)


# --------------------------------------------------------------------------- validation helpers


_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    list: "an array",
    dict: "a table",
}


def _typename(types: tuple[type, ...]) -> str:
    if float in types and int in types:
        types = tuple(t for t in types if t is not int)
    return " or ".join(_TYPE_NAMES.get(t, t.__name__) for t in types)


def _check_type(value: Any, types: tuple[type, ...], where: Where) -> Any:
    ok = isinstance(value, types)
    if isinstance(value, bool) and bool not in types:
        ok = False  # TOML true/false is not a number
    if not ok:
        raise where.error(
            f"must be {_typename(types)}, got {type(value).__name__} {value!r}"
            if not isinstance(value, dict | list)
            else f"must be {_typename(types)}, got {_TYPE_NAMES.get(type(value), 'a value')}"
        )
    return value


def _take(
    table: Mapping[str, Any],
    key: str,
    types: tuple[type, ...],
    where: Where,
    *,
    required: bool = True,
    default: Any = None,
) -> Any:
    if key not in table:
        if required:
            raise where.sub(key).error(f"missing required key (add `{key} = ...` to the file)")
        return default
    return _check_type(table[key], types, where.sub(key))


def _no_unknown_keys(table: Mapping[str, Any], known: tuple[str, ...], where: Where) -> None:
    unknown = [k for k in table if k not in known]
    if unknown:
        raise where.sub(unknown[0]).error(
            f"unknown key (known keys here: {', '.join(known)}); check the spelling"
        )


def _codes(
    values: Any, allowed: tuple[str, ...], what: str, where: Where, *, nonempty: bool = True
) -> tuple[str, ...]:
    _check_type(values, (list,), where)
    if nonempty and not values:
        raise where.error(f"must list at least one {what}")
    out = []
    for i, v in enumerate(values):
        _check_type(v, (str,), where.sub(i))
        code = v.strip().lower()
        if code not in allowed:
            raise where.sub(i).error(f"unknown {what} '{v}'; known: {', '.join(allowed)}")
        if code in out:
            raise where.sub(i).error(f"{what} '{v}' is listed twice")
        out.append(code)
    return tuple(out)


def _window(value: Any, where: Where) -> tuple[int, int]:
    _check_type(value, (list,), where)
    if len(value) != 2:
        raise where.error("must be [earliest, latest] weeks after the report, e.g. [6, 12]")
    lo, hi = (_check_type(v, (int,), where.sub(i)) for i, v in enumerate(value))
    if not 0 <= lo <= hi <= 52:
        raise where.error(f"needs 0 <= earliest <= latest <= 52 weeks, got [{lo}, {hi}]")
    return int(lo), int(hi)


def _exclusions(value: Any, where: Where) -> tuple[ExclusionRule, ...]:
    _check_type(value, (list,), where)
    rules: list[ExclusionRule] = []
    for i, item in enumerate(value):
        w = where.sub(i)
        if isinstance(item, str):
            item = {"rule": item}
        _check_type(item, (dict,), w)
        name = _take(item, "rule", (str,), w)
        if name not in EXCLUSION_RULES:
            raise w.sub("rule").error(
                f"unknown exclusion rule '{name}'; known rules: {', '.join(EXCLUSION_RULES)}"
            )
        params = EXCLUSION_RULES[name]
        _no_unknown_keys(item, ("rule", *params), w)
        min_age = months = None
        if name == "under_min_age":
            min_age = _take(item, "min_age", (int,), w, required=False, default=16)
            if not 0 < min_age <= 120:
                raise w.sub("min_age").error(f"must be between 1 and 120, got {min_age}")
        if name == "resurveyed_within_months":
            months = _take(item, "months", (int,), w)
            if months < 1:
                raise w.sub("months").error(f"must be at least 1 month, got {months}")
        if any(r.name == name for r in rules):
            raise w.sub("rule").error(f"exclusion rule '{name}' is listed twice")
        rules.append(ExclusionRule(name=name, min_age=min_age, months=months))
    return tuple(rules)


def _selection(value: Any, where: Where) -> Selection:
    _check_type(value, (dict,), where)
    rule = _take(value, "rule", (str,), where)
    if rule not in SELECTION_RULES:
        raise where.sub("rule").error(
            f"unknown selection rule '{rule}'; known: {', '.join(SELECTION_RULES)}"
        )
    if rule == "fraction":
        _no_unknown_keys(value, ("rule", "fraction"), where)
        f = float(_take(value, "fraction", (float, int), where))
        if not 0 < f <= 1:
            raise where.sub("fraction").error(f"must be in (0, 1], got {f}")
        return Selection("fraction", fraction=f)
    if rule == "annual_n":
        _no_unknown_keys(value, ("rule", "annual_n"), where)
        n = _take(value, "annual_n", (int,), where)
        if n < 1:
            raise where.sub("annual_n").error(f"must be a positive integer, got {n}")
        return Selection("annual_n", annual_n=int(n))
    _no_unknown_keys(value, ("rule",), where)
    return Selection("census")


def _shares(
    value: Any, allowed: tuple[str, ...], what: str, where: Where, *, lo: float, hi: float
) -> tuple[tuple[str, float], ...]:
    _check_type(value, (dict,), where)
    out = []
    for k, v in value.items():
        w = where.sub(k)
        if allowed and k not in allowed:
            raise w.error(f"unknown {what} '{k}'; known: {', '.join(allowed)}")
        x = float(_check_type(v, (float, int), w))
        if not lo <= x <= hi:
            raise w.error(f"must be between {lo:g} and {hi:g}, got {x:g}")
        out.append((k, x))
    return tuple(out)


def _aliases(value: Any, lowered: Mapping[str, str], where: Where) -> tuple[tuple[str, str], ...]:
    """``[district_aliases]``: alias = canonical district (one of ``[districts]``, any case)."""
    _check_type(value, (dict,), where)
    out = []
    for alias, target in value.items():
        w = where.sub(alias)
        _check_type(target, (str,), w)
        if target.lower() not in lowered:
            shown = ", ".join(list(lowered.values())[:10])
            raise w.error(f"'{target}' is not a district of [districts] ({shown})")
        if alias.lower() in lowered:
            raise w.error("is already a district of [districts]; an alias must be another name")
        if not alias.strip() or len(alias) > TEXT_LIMITS["district"]:
            raise w.error(f"an alias must be non-blank, at most {TEXT_LIMITS['district']} chars")
        out.append((alias.strip(), lowered[target.lower()]))
    return tuple(out)


def _limits(value: Any, where: Where) -> tuple[tuple[str, int], ...]:
    """``[limits]``: column = maximum length (characters), for the columns of TEXT_LIMITS."""
    _check_type(value, (dict,), where)
    out = []
    for col, n in value.items():
        w = where.sub(col)
        if col not in TEXT_LIMITS:
            raise w.error(f"unknown column; limits exist for: {', '.join(TEXT_LIMITS)}")
        n = _check_type(n, (int,), w)
        if isinstance(n, bool) or not 1 <= n <= 1_000_000:
            raise w.error(f"must be a whole number of characters from 1 to 1000000, got {n!r}")
        out.append((col, int(n)))
    return tuple(out)


def _targets(value: Any, where: Where, *, complete: bool) -> tuple[tuple[str, float], ...]:
    t = _shares(value, STAGES, "stage", where, lo=0.0, hi=100.0)
    for k, x in t:
        if not 0 < x < 100:
            raise where.sub(k).error(
                f"percent satisfied must be strictly between 0 and 100, got {x:g}"
            )
    if complete:
        missing = [s for s in STAGES if s not in dict(t)]
        if missing:
            raise where.error(
                f"needs a percent satisfied for every stage; missing: {', '.join(missing)}"
            )
    return t


def _read_toml(path: str, text: str | bytes) -> dict[str, Any]:
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{path}: not UTF-8 text ({exc}); save the file as UTF-8") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}; fix the syntax there") from None


def _fingerprint(raw: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, default=str).encode()).hexdigest()


# --------------------------------------------------------------------------- surveys

_SURVEY_KEYS = (
    "name",
    "title",
    "description",
    "source",
    "offence_groups",
    "exclusions",
    "stages",
    "modes",
    "contact_window_weeks",
    "mandated",
)


def _parse_survey(raw: Mapping[str, Any], path: str, expect_name: str | None) -> SurveyDef:
    root = Where(path)
    _no_unknown_keys(raw, _SURVEY_KEYS, root)
    name = _take(raw, "name", (str,), root)
    if expect_name is not None and name != expect_name:
        raise root.sub("name").error(
            f"is '{name}' but the file is {expect_name}.toml; make them agree"
        )
    stages = _codes(_take(raw, "stages", (list,), root), STAGES, "stage", root.sub("stages"))
    stages = tuple(s for s in STAGES if s in stages)  # report order
    return SurveyDef(
        name=name,
        title=_take(raw, "title", (str,), root),
        offence_groups=_codes(
            _take(raw, "offence_groups", (list,), root),
            OFFENCE_GROUPS,
            "offence group",
            root.sub("offence_groups"),
        ),
        exclusions=_exclusions(_take(raw, "exclusions", (list,), root), root.sub("exclusions")),
        stages=stages,
        modes=_codes(_take(raw, "modes", (list,), root), MODES, "mode", root.sub("modes")),
        contact_window_weeks=_window(
            _take(raw, "contact_window_weeks", (list,), root, required=False, default=[6, 12]),
            root.sub("contact_window_weeks"),
        ),
        mandated=_take(raw, "mandated", (bool,), root, required=False, default=False),
        description=_take(raw, "description", (str,), root, required=False, default=""),
        source=_take(raw, "source", (str,), root, required=False, default=""),
    )


def _resource_dir(parts: tuple[str, ...]):
    return resources.files(_PKG).joinpath(*parts)


def _list_dir(parts: tuple[str, ...]) -> list[str]:
    d = _resource_dir(parts)
    return sorted(p.name[: -len(".toml")] for p in d.iterdir() if p.name.endswith(".toml"))


def list_surveys() -> list[str]:
    """Names of the built-in survey definitions (sorted)."""
    return _list_dir(_SURVEY_DIR)


def list_forces() -> list[str]:
    """Names of the built-in force presets (sorted)."""
    return _list_dir(_FORCE_DIR)


def _clean_name(name: Any, kind: str) -> str:
    """The canonical (lower-case) form of a preset name; path-like names are refused."""
    known = list_forces() if kind == "force" else list_surveys()
    listing = f"known {kind}s: {', '.join(known)}"
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(f"{kind} name must be a non-empty string, got {name!r}; {listing}")
    key = name.strip().lower()
    if "/" in key or "\\" in key or ".." in key or "\x00" in key or os.sep in key:
        raise ConfigError(
            f"{kind} name {name!r} looks like a path: give a preset name, not a path; {listing}"
        )
    if key not in known:
        raise ConfigError(f"unknown {kind} '{name}'; {listing}")
    return key


def force_name(name: str) -> str:
    """The canonical name of a built-in force preset, matched case-insensitively.

    It is the one name used for every path (``reports/<force>/...``), so ``DURHAM`` and
    ``durham`` cannot end up in two folders.

    Raises:
        ConfigError: unknown force, or a name with a path separator or ``..`` (the message lists
            the known forces).
    """
    return _clean_name(name, "force")


def survey_name(name: str) -> str:
    """The canonical name of a built-in survey definition (as :func:`force_name`)."""
    return _clean_name(name, "survey")


def load_survey(name: str) -> SurveyDef:
    """Load a built-in survey definition.

    Arguments:
        name: survey name (case-insensitive), one of :func:`list_surveys`.

    Returns:
        The :class:`SurveyDef` (without a force's overrides: ``agency`` and ``targets`` empty).

    Raises:
        ConfigError: unknown survey (the message lists the known ones) or a broken file.
    """
    return _load_survey(_clean_name(name, "survey"))


@lru_cache(maxsize=64)
def _load_survey(key: str) -> SurveyDef:
    res = _resource_dir(_SURVEY_DIR).joinpath(f"{key}.toml")
    path = f"configs/surveys/{key}.toml"
    return _parse_survey(_read_toml(path, res.read_bytes()), path, key)


def load_survey_file(path: str | Path) -> SurveyDef:
    """Load a survey definition from a TOML file of the user's own (same keys as built-ins)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"survey file not found: {p}")
    return _parse_survey(_read_toml(str(p), p.read_bytes()), str(p), None)


# --------------------------------------------------------------------------- force presets

_FORCE_KEYS = (
    "name",
    "title",
    "crime_ref_prefix",
    "agency",
    "agency_type",
    "selection",
    "modes",
    "response_rates",
    "contact_window_weeks",
    "add_exclusions",
    "optout_timing",
    "diversity_monitoring",
    "profile_monitoring",
    "monthly_volume",
    "districts",
    "district_aliases",
    "crime_ref_pattern",
    "limits",
    "ethnicity",
    "targets",
    "targets_note",
    "notes",
    "source",
    "surveys",
)
_OVERRIDE_KEYS = (
    "agency",
    "agency_type",
    "exclusions",
    "add_exclusions",
    "drop_exclusions",
    "stages",
    "modes",
    "contact_window_weeks",
    "selection",
    "targets",
    "targets_note",
)


def _apply_overrides(
    base: SurveyDef,
    ov: Mapping[str, Any],
    where: Where,
    *,
    preset_agency: tuple[str, str],
    preset_modes: tuple[str, ...],
    preset_window: tuple[int, int] | None,
    preset_targets: tuple[tuple[str, float], ...],
    preset_targets_note: str,
) -> SurveyDef:
    _no_unknown_keys(ov, _OVERRIDE_KEYS, where)
    exclusions = base.exclusions
    if "exclusions" in ov:
        if "add_exclusions" in ov or "drop_exclusions" in ov:
            raise where.sub("exclusions").error(
                "give either `exclusions` (the full list) or `add_exclusions`/`drop_exclusions`"
            )
        exclusions = _exclusions(ov["exclusions"], where.sub("exclusions"))
    if "drop_exclusions" in ov:
        drop = _codes(
            ov["drop_exclusions"],
            tuple(EXCLUSION_RULES),
            "exclusion rule",
            where.sub("drop_exclusions"),
        )
        missing = [d for d in drop if d not in base.rule_names]
        if missing:
            raise where.sub("drop_exclusions").error(
                f"survey '{base.name}' does not apply {', '.join(missing)}; "
                f"its rules are: {', '.join(base.rule_names)}"
            )
        exclusions = tuple(r for r in exclusions if r.name not in drop)
    if "add_exclusions" in ov:
        add = _exclusions(ov["add_exclusions"], where.sub("add_exclusions"))
        added = {r.name for r in add}
        exclusions = tuple(r for r in exclusions if r.name not in added) + add
    stages = base.stages
    if "stages" in ov:
        st = _codes(ov["stages"], STAGES, "stage", where.sub("stages"))
        stages = tuple(s for s in STAGES if s in st)
    modes = preset_modes
    if "modes" in ov:
        modes = _codes(ov["modes"], MODES, "mode", where.sub("modes"))
    window = preset_window or base.contact_window_weeks
    if "contact_window_weeks" in ov:
        window = _window(ov["contact_window_weeks"], where.sub("contact_window_weeks"))
    selection = None
    if "selection" in ov:
        selection = _selection(ov["selection"], where.sub("selection"))
    targets = dict(preset_targets)
    note = preset_targets_note
    if "targets" in ov:
        targets.update(dict(_targets(ov["targets"], where.sub("targets"), complete=False)))
        note = _take(ov, "targets_note", (str,), where, required=False, default=note)
    agency = _take(ov, "agency", (str,), where, required=False, default=preset_agency[0])
    agency_type = _take(ov, "agency_type", (str,), where, required=False, default=preset_agency[1])
    if agency_type not in AGENCY_TYPES:
        raise where.sub("agency_type").error(
            f"unknown agency type '{agency_type}'; known: {', '.join(AGENCY_TYPES)}"
        )
    return replace(
        base,
        exclusions=exclusions,
        stages=stages,
        modes=modes,
        contact_window_weeks=window,
        selection=selection,
        targets=tuple((s, float(targets[s])) for s in STAGES),
        targets_note=note,
        agency=agency,
        agency_type=agency_type,
    )


def _parse_force(raw: Mapping[str, Any], path: str, expect_name: str | None) -> ForcePreset:
    root = Where(path)
    _no_unknown_keys(raw, _FORCE_KEYS, root)
    name = _take(raw, "name", (str,), root)
    if expect_name is not None and name != expect_name:
        raise root.sub("name").error(
            f"is '{name}' but the file is {expect_name}.toml; make them agree"
        )
    prefix = _take(raw, "crime_ref_prefix", (str,), root)
    if not (prefix.isascii() and prefix.isalnum() and prefix.isupper() and 1 <= len(prefix) <= 4):
        raise root.sub("crime_ref_prefix").error(
            f"must be 1-4 upper-case letters or digits, got {prefix!r}"
        )
    agency = _take(raw, "agency", (str,), root)
    agency_type = _take(raw, "agency_type", (str,), root)
    if agency_type not in AGENCY_TYPES:
        raise root.sub("agency_type").error(
            f"unknown agency type '{agency_type}'; known: {', '.join(AGENCY_TYPES)}"
        )
    selection = None
    if "selection" in raw:
        selection = _selection(raw["selection"], root.sub("selection"))
    preset_add: tuple[ExclusionRule, ...] = ()
    if "add_exclusions" in raw:
        preset_add = _exclusions(raw["add_exclusions"], root.sub("add_exclusions"))
    modes = _codes(_take(raw, "modes", (list,), root), MODES, "mode", root.sub("modes"))
    rates = _shares(
        _take(raw, "response_rates", (dict,), root),
        MODES,
        "mode",
        root.sub("response_rates"),
        lo=0.0,
        hi=1.0,
    )
    for m in modes:
        if m not in dict(rates):
            raise root.sub("response_rates").error(
                f"needs a response rate for mode '{m}' (listed in `modes`)"
            )
    window = None
    if "contact_window_weeks" in raw:
        window = _window(raw["contact_window_weeks"], root.sub("contact_window_weeks"))
    timing = _take(raw, "optout_timing", (str,), root, required=False, default="before_selection")
    if timing not in OPTOUT_TIMINGS:
        raise root.sub("optout_timing").error(
            f"unknown value '{timing}'; known: {', '.join(OPTOUT_TIMINGS)}"
        )
    profile = _codes(
        _take(
            raw,
            "profile_monitoring",
            (list,),
            root,
            required=False,
            default=list(PROFILE_VARIABLES),
        ),
        PROFILE_VARIABLES,
        "profile variable",
        root.sub("profile_monitoring"),
    )
    volume = dict(
        _shares(
            _take(raw, "monthly_volume", (dict,), root),
            OFFENCE_GROUPS,
            "offence group",
            root.sub("monthly_volume"),
            lo=0.0,
            hi=1e7,
        )
    )
    monthly_volume = tuple((g, float(volume.get(g, 0.0))) for g in OFFENCE_GROUPS)
    districts = _shares(
        _take(raw, "districts", (dict,), root), (), "district", root.sub("districts"), lo=0, hi=1e9
    )
    if not districts:
        raise root.sub("districts").error("must name at least one district")
    tot = sum(w for _, w in districts)
    if tot <= 0:
        raise root.sub("districts").error("district weights must not all be zero")
    districts = tuple((d, w / tot) for d, w in districts)
    lowered: dict[str, str] = {}
    for d, _ in districts:
        if d.lower() in lowered:
            raise root.sub("districts").error(
                f"districts '{lowered[d.lower()]}' and '{d}' differ only in case; ingest "
                "matches districts case-insensitively"
            )
        if not d.strip() or d != d.strip() or len(d) > TEXT_LIMITS["district"]:
            raise (
                root.sub("districts")
                .sub(d)
                .error(
                    f"a district must be non-blank, without surrounding spaces and at most "
                    f"{TEXT_LIMITS['district']} characters"
                )
            )
        lowered[d.lower()] = d
    aliases = _aliases(
        _take(raw, "district_aliases", (dict,), root, required=False, default={}),
        lowered,
        root.sub("district_aliases"),
    )
    pattern = _take(raw, "crime_ref_pattern", (str,), root, required=False, default="")
    if pattern:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise root.sub("crime_ref_pattern").error(
                f"not a regular expression ({exc}); e.g. 'DU/[0-9]{{2}}/[0-9]{{6}}'"
            ) from None
    limits = _limits(
        _take(raw, "limits", (dict,), root, required=False, default={}), root.sub("limits")
    )
    eth = _shares(
        _take(raw, "ethnicity", (dict,), root),
        tuple(e for e in ETHNICITIES if e != "unknown"),
        "ethnic group",
        root.sub("ethnicity"),
        lo=0.0,
        hi=1.0,
    )
    eth_map = dict(eth)
    tot = sum(eth_map.values())
    if abs(tot - 1.0) > 0.01:
        raise root.sub("ethnicity").error(
            f"shares of victims of known ethnicity must sum to 1, got {tot:.3f}"
        )
    ethnicity = tuple((e, eth_map.get(e, 0.0) / tot) for e in ETHNICITIES if e != "unknown")
    targets = _targets(_take(raw, "targets", (dict,), root), root.sub("targets"), complete=True)
    targets = tuple((s, dict(targets)[s]) for s in STAGES)
    targets_note = _take(raw, "targets_note", (str,), root, required=False, default="")

    surveys_raw = _take(raw, "surveys", (dict,), root)
    if not surveys_raw:
        raise root.sub("surveys").error("must list at least one survey ([surveys.<name>] table)")
    known = list_surveys()
    surveys: list[SurveyDef] = []
    covered: dict[str, str] = {}
    for sname, ov in surveys_raw.items():
        w = root.sub("surveys").sub(sname)
        if sname not in known:
            raise w.error(f"unknown survey '{sname}'; known surveys: {', '.join(known)}")
        _check_type(ov, (dict,), w)
        base = load_survey(sname)
        if preset_add:
            added = {r.name for r in preset_add}
            base = replace(
                base,
                exclusions=tuple(r for r in base.exclusions if r.name not in added) + preset_add,
            )
        s = _apply_overrides(
            base,
            ov,
            w,
            preset_agency=(agency, agency_type),
            preset_modes=modes,
            preset_window=window,
            preset_targets=targets,
            preset_targets_note=targets_note,
        )
        for m in s.modes:
            if m not in dict(rates):
                raise w.sub("modes").error(
                    f"mode '{m}' has no response rate in the preset's `response_rates`"
                )
        for g in s.offence_groups:
            if g in covered:
                raise w.error(
                    f"offence group '{g}' is already surveyed by '{covered[g]}'; a preset may "
                    "survey each offence group once"
                )
            covered[g] = sname
        if s.selection is None and selection is None:
            raise w.error(
                "has no `selection` of its own and the preset has no force-wide `selection`; "
                "add one of them"
            )
        surveys.append(s)
    return ForcePreset(
        name=name,
        title=_take(raw, "title", (str,), root),
        crime_ref_prefix=prefix,
        surveys=tuple(surveys),
        agency=agency,
        agency_type=agency_type,
        selection=selection,
        modes=modes,
        response_rates=rates,
        monthly_volume=monthly_volume,
        districts=districts,
        ethnicity=ethnicity,
        targets=targets,
        contact_window_weeks=window,
        optout_timing=timing,
        diversity_monitoring=_take(
            raw, "diversity_monitoring", (bool,), root, required=False, default=False
        ),
        profile_monitoring=profile,
        targets_note=targets_note,
        notes=_take(raw, "notes", (str,), root, required=False, default=""),
        source=_take(raw, "source", (str,), root, required=False, default=""),
        path=path,
        fingerprint=_fingerprint(raw),
        crime_ref_pattern=pattern,
        district_aliases=aliases,
        limits=limits,
    )


def load_force(name: str) -> ForcePreset:
    """Load a built-in force preset.

    Arguments:
        name: preset name (case-insensitive), one of :func:`list_forces`.

    Returns:
        The :class:`ForcePreset`; ``.surveys`` holds its surveys with its overrides applied.

    Raises:
        ConfigError: unknown force (the message lists the known ones) or a broken file.
    """
    return _load_force(_clean_name(name, "force"))


@lru_cache(maxsize=32)
def _load_force(key: str) -> ForcePreset:
    res = _resource_dir(_FORCE_DIR).joinpath(f"{key}.toml")
    path = f"configs/forces/{key}.toml"
    return _parse_force(_read_toml(path, res.read_bytes()), path, key)


def load_force_file(path: str | Path) -> ForcePreset:
    """Load a force preset from a TOML file of the user's own.

    The file has the same keys as the built-in presets (see ``configs/forces/durham.toml``);
    its ``[surveys.<name>]`` tables name built-in surveys and may override them.

    Raises:
        ConfigError: the file is missing or broken; the message names the file and the key.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"force preset file not found: {p}")
    return _parse_force(_read_toml(str(p), p.read_bytes()), str(p), None)
