"""Small-area estimation: the Fay-Herriot area-level model for districts (issue 16).

See docs/small_area.md for the method, its evaluation and what is published when.
"""

from methods.smallarea.districts import district_table
from methods.smallarea.fayherriot import (
    FayHerriotResult,
    SmallAreaConvergenceWarning,
    SmallAreaExclusionWarning,
    SmallAreaInputError,
    benchmark,
    fit_fay_herriot,
    synthetic_estimates,
)

__all__ = [
    "FayHerriotResult",
    "SmallAreaConvergenceWarning",
    "SmallAreaExclusionWarning",
    "SmallAreaInputError",
    "benchmark",
    "district_table",
    "fit_fay_herriot",
    "synthetic_estimates",
]
