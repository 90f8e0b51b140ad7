"""Survey definitions and force presets: the seeds' practice, the published figures, and clear
errors for broken configuration files.

Outside references: the forces' public pages (shared docs docs/sources.md, source 000-004) and the published
satisfaction figures in docs/methods.md.
"""

from __future__ import annotations

import dataclasses
import math
from importlib import resources

import pytest

from methods.config.presets import (
    EXCLUSION_RULES,
    ConfigError,
    list_forces,
    list_surveys,
    load_force,
    load_force_file,
    load_survey,
    load_survey_file,
)
from methods.core.errors import UsageError
from methods.core.schema import MODES, OFFENCE_GROUPS, STAGES

NORTHUMBRIA = {  # docs/methods.md: 12 months to Feb 2017
    "ease_of_contact": 98.2,
    "actions": 87.1,
    "follow_up": 84.0,
    "treatment": 96.4,
    "whole_experience": 89.9,
}
SURVEYS = (
    "burglary",
    "vehicle",
    "violent",
    "hate",
    "asb",
    "fraud",
    "domestic_abuse",
    "stalking_harassment",
    "rape",
)


def _logit(p: float) -> float:
    return math.log(p / (1 - p))


def test_the_nine_surveys_and_five_forces_are_built_in():
    assert sorted(list_surveys()) == sorted(SURVEYS)
    assert list_forces() == ["cumbria", "durham", "kent", "met", "warwickshire"]


@pytest.mark.parametrize("name", SURVEYS)
def test_each_survey_definition_is_well_formed(name):
    s = load_survey(name)
    assert s.name == name
    assert set(s.offence_groups) <= set(OFFENCE_GROUPS) and s.offence_groups
    assert set(s.stages) <= set(STAGES) and "whole_experience" in s.stages
    assert set(s.modes) <= set(MODES)
    assert s.contact_window_weeks == (6, 12)  # docs/methods.md: contact 6-12 weeks after
    assert set(s.rule_names) <= set(EXCLUSION_RULES)
    # Every survey excludes opt-outs and children (docs/sources.md, sources 000, 001, 004).
    assert "opted_out" in s.rule_names and s.min_age is not None and s.min_age >= 16
    assert s.targets == () and s.agency is None  # only a preset sets these


def test_survey_specific_rules():
    # Rape: asks why a victim did not pursue a prosecution (seed 004), so NFA/withdrawn
    # co-operation do not exclude; adults only.
    rape = load_survey("rape")
    assert "no_further_action_requested" not in rape.rule_names
    assert "uncooperative" not in rape.rule_names
    assert rape.min_age == 18
    assert load_survey("burglary").rule("resurveyed_within_months").months == 12
    # Fraud is reported to Action Fraud: ease of contacting the force is not asked.
    assert "ease_of_contact" not in load_survey("fraud").stages
    assert load_survey("domestic_abuse").mandated and load_survey("stalking_harassment").mandated
    assert load_survey("BURGLARY") is load_survey("burglary")  # case-insensitive, cached


def test_durham_preset_follows_seed_002():
    p = load_force("durham")
    assert p.selection.rule == "fraction" and p.selection.fraction == 0.15  # "15 per cent"
    assert all(s.contact_window_weeks == (8, 12) for s in p.surveys)  # "up to 8 to 12 weeks"
    assert all(s.agency == "SMSR Ltd" and s.modes == ("telephone",) for s in p.surveys)
    assert all("optout_register" in s.rule_names for s in p.surveys)
    # Published annual figures; actions is our documented choice.
    expected = {
        "ease_of_contact": 96,
        "actions": 78,
        "follow_up": 77,
        "treatment": 93,
        "whole_experience": 82,
    }
    assert p.target_map == expected
    assert all(s.target_map == expected for s in p.surveys)
    assert "Actions taken is not published" in p.targets_note


def test_cumbria_records_the_fieldwork_agency_per_survey():
    p = load_force("cumbria")
    smsr = {"burglary", "fraud", "violent", "hate", "asb"}
    assert set(p.survey_names) == smsr | {"domestic_abuse", "stalking_harassment"}
    for s in p.surveys:
        if s.name in smsr:
            assert (s.agency, s.agency_type) == ("SMSR Ltd", "agency")
        else:
            assert (s.agency, s.agency_type) == ("Leicestershire Police", "other_force")
        assert s.modes == ("telephone",)
    assert p.response_rate_map["telephone"] == pytest.approx(0.50)  # 45-55% telephone
    assert 0.20 <= p.response_rate_map["paper"] <= 0.25  # 20-25% paper


def test_warwickshire_invites_all_and_honours_opt_outs_before_transfer():
    p = load_force("warwickshire")
    assert p.selection.rule == "census"
    assert p.optout_timing == "before_transfer"
    assert all({"opted_out", "optout_register"} <= set(s.rule_names) for s in p.surveys)


def test_met_samples_20000_a_year_by_telephone_with_diversity_monitoring():
    p = load_force("met")
    assert p.selection.rule == "annual_n" and p.selection.annual_n == 20000
    assert p.modes == ("telephone",) and all(s.modes == ("telephone",) for s in p.surveys)
    assert p.diversity_monitoring and set(p.profile_monitoring) == {"age", "gender", "ethnicity"}
    assert all(p.selection_for(s.name) == (p.selection, "force") for s in p.surveys)
    # London: the biggest force by far.
    assert sum(p.volume_map.values()) > 5 * sum(load_force("kent").volume_map.values()) / 2


def test_kent_in_house_bureau_with_own_exclusions_and_published_figures():
    p = load_force("kent")
    assert p.survey_names == ("hate", "rape", "domestic_abuse")
    assert all(s.agency_type == "in_house" for s in p.surveys)
    rules = {s.name: frozenset(r.describe() for r in s.exclusions) for s in p.surveys}
    assert len(set(rules.values())) == 3  # "each survey having slightly different exclusion rules"
    published = {"hate": (177, 78.5), "rape": (70, 91.4), "domestic_abuse": (150, 90.0)}
    rate = p.response_rate_map["telephone"]
    for name, (surveyed_3m, pct) in published.items():
        s = p.survey(name)
        assert s.target_map["whole_experience"] == pct
        sel, scope = p.selection_for(name)
        assert scope == "survey" and sel.annual_n == round(surveyed_3m * 4 / rate)
        # The unpublished stages keep Northumbria's logit gaps to whole experience.
        shift = _logit(pct / 100) - _logit(NORTHUMBRIA["whole_experience"] / 100)
        for stage, n_pct in NORTHUMBRIA.items():
            derived = 100 / (1 + math.exp(-(_logit(n_pct / 100) + shift)))
            assert s.target_map[stage] == pytest.approx(derived, abs=0.051), (name, stage)
    # Groups Kent does not survey fall back on Northumbria's figures.
    assert p.target_map == NORTHUMBRIA


@pytest.mark.parametrize("force", ["cumbria", "warwickshire", "met"])
def test_forces_without_published_figures_use_northumbria(force):
    p = load_force(force)
    assert p.target_map == NORTHUMBRIA
    assert "Northumbria" in p.targets_note
    assert all(s.target_map == NORTHUMBRIA for s in p.surveys)


@pytest.mark.parametrize("force", ["cumbria", "durham", "kent", "met", "warwickshire"])
def test_every_preset_carries_what_the_generator_needs(force):
    p = load_force(force)
    assert len(p.districts) >= 5 and sum(p.district_weights) == pytest.approx(1.0)
    assert sum(w for _, w in p.ethnicity) == pytest.approx(1.0)
    assert set(p.volume_map) == set(OFFENCE_GROUPS)
    for s in p.surveys:
        assert all(p.volume_map[g] > 0 for g in s.offence_groups)
        assert set(s.target_map) == set(STAGES)
        assert 0.45 <= p.response_rate_map["telephone"] <= 0.55  # seed 000
    # Each offence group is surveyed at most once.
    groups = [g for s in p.surveys for g in s.offence_groups]
    assert len(groups) == len(set(groups))
    assert p.crime_ref_prefix.isupper() and p.fingerprint


def test_presets_are_frozen():
    p = load_force("durham")
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.surveys[0].stages = ()  # type: ignore[misc]
    assert hash(p) == hash(load_force("durham"))


def test_unknown_force_lists_the_known_ones():
    with pytest.raises(ConfigError) as e:
        load_force("northumbria")
    msg = str(e.value)
    assert "northumbria" in msg and all(f in msg for f in list_forces())
    assert isinstance(e.value, UsageError)  # the CLI maps it to exit code 2
    with pytest.raises(ConfigError, match="known surveys: asb, burglary"):
        load_survey("burglery")


# --------------------------------------------------------------------------- broken files


def _durham_text() -> str:
    return resources.files("methods").joinpath("configs", "forces", "durham.toml").read_text()


def _write(tmp_path, text: str):
    path = tmp_path / "myforce.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_a_users_own_preset_loads(tmp_path):
    text = _durham_text().replace('name = "durham"', 'name = "mine"')
    text = text.replace('modes = ["telephone"]', 'modes = ["telephone", "paper"]')
    p = load_force_file(_write(tmp_path, text))
    assert p.name == "mine" and p.path.endswith("myforce.toml")
    assert all(s.modes == ("telephone", "paper") for s in p.surveys)


BROKEN = [
    # (what, replace this, with this, words the message must contain)
    ("missing key", 'crime_ref_prefix = "DU"\n', "", ["key 'crime_ref_prefix'", "missing"]),
    ("unknown survey", "[surveys.asb]", "[surveys.anti_social]", ["surveys.anti_social", "asb"]),
    ("unknown offence", "rtc = 70", "rtcs = 70", ["monthly_volume.rtcs", "rtc"]),
    ("unknown stage", "follow_up = 77.0", "followup = 77.0", ["targets.followup", "follow_up"]),
    (
        "unknown rule",
        '{ rule = "optout_register" }',
        '{ rule = "opt_out_list" }',
        ["add_exclusions[0].rule", "optout_register"],
    ),
    ("bad type", "fraction = 0.15", 'fraction = "15%"', ["selection.fraction", "a number"]),
    ("bad value", "fraction = 0.15", "fraction = 15", ["selection.fraction", "(0, 1]"]),
    ("bad TOML", "[districts]", "[districts", ["not valid TOML"]),
    ("unknown key", "contact_window_weeks =", "contact_windw_weeks =", ["contact_windw_weeks"]),
    ("bad window", "contact_window_weeks = [8, 12]", "contact_window_weeks = [12, 8]", ["[12, 8]"]),
    ("stage missing", "actions = 78.0\n", "", ["targets", "missing: actions"]),
    ("unknown mode", 'modes = ["telephone"]', 'modes = ["sms"]', ["modes[0]", "telephone"]),
    ("bad selection", '"fraction", fraction', '"quota", fraction', ["selection.rule", "census"]),
    (
        "bad rule param",
        '{ rule = "optout_register" }',
        '{ rule = "under_min_age", min_age = "sixteen" }',
        ["min_age", "an integer"],
    ),
    (
        "rule without N",
        '{ rule = "optout_register" }',
        '{ rule = "resurveyed_within_months" }',
        ["months", "missing"],
    ),
    ("ethnic mix", "white = 0.960", "white = 0.5", ["ethnicity", "sum to 1"]),
    (
        "survey override",
        "[surveys.hate]",
        '[surveys.hate]\nstages = ["ease_of_contact", "whole"]',
        ["surveys.hate.stages[1]", "whole_experience"],
    ),
]


@pytest.mark.parametrize("what,old,new,words", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_preset_names_the_file_and_the_key(tmp_path, what, old, new, words):
    text = _durham_text()
    assert old in text, f"fixture out of date: {old!r}"
    path = _write(tmp_path, text.replace(old, new, 1))
    with pytest.raises(ConfigError) as e:
        load_force_file(path)
    msg = str(e.value)
    assert str(path) in msg, msg
    for w in words:
        assert w in msg, f"{what}: {w!r} not in {msg!r}"


def test_broken_survey_file_and_missing_files(tmp_path):
    text = (
        resources.files("methods").joinpath("configs", "surveys", "hate.toml").read_text()
    ).replace('offence_groups = ["hate"]', 'offence_groups = ["hate", "arson"]')
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"offence_groups\[1\].*unknown offence group 'arson'"):
        load_survey_file(path)
    with pytest.raises(ConfigError, match="not found"):
        load_force_file(tmp_path / "nope.toml")
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('name = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="UTF-8"):
        load_force_file(bad)
