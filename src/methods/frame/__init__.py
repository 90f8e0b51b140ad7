"""The sampling frame: eligibility rules and exclusions (the flow from victims to frame)."""

from methods.frame.eligibility import (
    FLOW_COLUMNS,
    OUT_OF_SCOPE_DISPOSITION,
    EligibilityResult,
    apply,
    normalise_phone,
    plot_flow,
    register_hashes,
    store_history,
    store_register,
    synthetic_rule,
)

__all__ = [
    "EligibilityResult",
    "FLOW_COLUMNS",
    "OUT_OF_SCOPE_DISPOSITION",
    "apply",
    "normalise_phone",
    "plot_flow",
    "register_hashes",
    "store_history",
    "store_register",
    "synthetic_rule",
]
