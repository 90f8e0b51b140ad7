"""Foundations every layer may use: errors, the data contract's code lists, validation."""

from methods.core.errors import (
    ConfigError,
    ConvergenceError,
    InputRefused,
    UsageError,
    ValidationError,
    WorkbenchError,
)
from methods.core.schema import (
    DONT_KNOW_CODE,
    ETHNICITIES,
    GENDERS,
    MODES,
    OFFENCE_GROUPS,
    PERSONAL_COLUMNS,
    RESPONSE_COLUMNS,
    SATISFIED_CODES,
    STAGE_LABELS,
    STAGES,
    VALID_ANSWER_CODES,
    VICTIM_COLUMNS,
    VICTIM_FLAGS,
)

__all__ = [
    "ConfigError",
    "ConvergenceError",
    "DONT_KNOW_CODE",
    "ETHNICITIES",
    "GENDERS",
    "InputRefused",
    "MODES",
    "OFFENCE_GROUPS",
    "PERSONAL_COLUMNS",
    "RESPONSE_COLUMNS",
    "SATISFIED_CODES",
    "STAGES",
    "STAGE_LABELS",
    "UsageError",
    "VALID_ANSWER_CODES",
    "VICTIM_COLUMNS",
    "VICTIM_FLAGS",
    "ValidationError",
    "WorkbenchError",
]
