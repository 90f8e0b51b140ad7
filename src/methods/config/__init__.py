"""Survey definitions and force presets (TOML files under methods/configs/)."""

from methods.config.presets import (
    AGENCY_TYPES,
    EXCLUSION_RULES,
    FLAG_RULES,
    SELECTION_RULES,
    ExclusionRule,
    ForcePreset,
    Selection,
    SurveyDef,
    force_name,
    list_forces,
    list_surveys,
    load_force,
    load_force_file,
    load_survey,
    load_survey_file,
    survey_name,
)

__all__ = [
    "AGENCY_TYPES",
    "EXCLUSION_RULES",
    "ExclusionRule",
    "FLAG_RULES",
    "ForcePreset",
    "SELECTION_RULES",
    "Selection",
    "SurveyDef",
    "force_name",
    "list_forces",
    "list_surveys",
    "load_force",
    "load_force_file",
    "load_survey",
    "load_survey_file",
    "survey_name",
]
