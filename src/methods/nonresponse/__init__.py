"""Non-response: AAPOR outcome rates, R-indicators and mode effects."""

from methods.nonresponse.common import (
    MAX_LEVELS_BEFORE_WARNING,
    Patterns,
    bootstrap_cell_totals,
    category_codes,
    group_index,
    logistic_newton,
    main_effects_matrix,
    make_patterns,
    resolve,
    saturated_matrix,
    weighted_sd,
    weights_array,
)
from methods.nonresponse.mode_effects import (
    COMPONENTS,
    satisfied_indicator,
)
from methods.nonresponse.rates import (
    AAPOR_CATEGORIES,
    NonresponseWarning,
    ProfileComparison,
    RIndicatorResult,
    classify_dispositions,
    mode_effects,
    outcome_rates,
    profile_comparison,
    r_indicator,
)
from methods.nonresponse.rindicator import (
    Z975,
    default_propensity_model,
    fit_propensities,
    responded_array,
)

__all__ = [
    "AAPOR_CATEGORIES",
    "COMPONENTS",
    "MAX_LEVELS_BEFORE_WARNING",
    "NonresponseWarning",
    "Patterns",
    "ProfileComparison",
    "RIndicatorResult",
    "Z975",
    "bootstrap_cell_totals",
    "category_codes",
    "classify_dispositions",
    "default_propensity_model",
    "fit_propensities",
    "group_index",
    "logistic_newton",
    "main_effects_matrix",
    "make_patterns",
    "mode_effects",
    "outcome_rates",
    "profile_comparison",
    "r_indicator",
    "resolve",
    "responded_array",
    "satisfied_indicator",
    "saturated_matrix",
    "weighted_sd",
    "weights_array",
]
