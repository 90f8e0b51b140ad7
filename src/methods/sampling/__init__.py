"""Probability sampling: allocation, selection and sample sizes."""

from methods.sampling.selection import (
    ALLOCATIONS,
    METHODS,
    allocate,
    completes_for_change,
    derive_seed,
    sample_size,
    select,
)

__all__ = [
    "ALLOCATIONS",
    "METHODS",
    "allocate",
    "completes_for_change",
    "derive_seed",
    "sample_size",
    "select",
]
