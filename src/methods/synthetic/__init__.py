"""Synthetic victim populations and their response behaviour, calibrated to published figures."""

from methods.synthetic.generate import (
    AGE_BANDS,
    PROFILES,
    OffenceProfile,
    calibration_table,
    census_satisfaction,
    draw_answers,
    generate_victims,
    months_range,
    satisfied_share,
    simple_eligibility,
)

__all__ = [
    "AGE_BANDS",
    "OffenceProfile",
    "PROFILES",
    "calibration_table",
    "census_satisfaction",
    "draw_answers",
    "generate_victims",
    "months_range",
    "satisfied_share",
    "simple_eligibility",
]
