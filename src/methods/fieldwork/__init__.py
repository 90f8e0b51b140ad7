"""Fieldwork: modes, contact and simulated response."""

from methods.fieldwork.modes import (
    DISPOSITIONS,
    PLANS,
    FieldworkCases,
    FieldworkOutcome,
    ModePlan,
    age_group,
    covariate_logodds,
    simulate,
    simulate_cases,
    true_measurement_effect,
)

__all__ = [
    "DISPOSITIONS",
    "FieldworkCases",
    "FieldworkOutcome",
    "ModePlan",
    "PLANS",
    "age_group",
    "covariate_logodds",
    "simulate",
    "simulate_cases",
    "true_measurement_effect",
]
