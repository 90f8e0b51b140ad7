"""Probability sampling: allocation, selection, the month's quota and sample sizes."""

from methods.sampling.allocation import ALLOCATIONS, allocate
from methods.sampling.quota import MonthSize, month_size, monthly_share
from methods.sampling.selection import METHODS, derive_seed, select
from methods.sampling.size import completes_for_change, sample_size

__all__ = [
    "ALLOCATIONS",
    "METHODS",
    "MonthSize",
    "allocate",
    "completes_for_change",
    "derive_seed",
    "month_size",
    "monthly_share",
    "sample_size",
    "select",
]
