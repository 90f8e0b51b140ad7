"""Fieldwork: modes, contact and simulated response."""

from methods.fieldwork.modes import (
    PLANS,
    ModePlan,
    age_group,
    simulate,
    true_measurement_effect,
)

__all__ = [
    "ModePlan",
    "PLANS",
    "age_group",
    "simulate",
    "true_measurement_effect",
]
