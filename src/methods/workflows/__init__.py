"""Workflows that chain the layers: the month pipeline and the demo."""

from methods.workflows.demo import (
    DEFAULT_MONTHS,
    DEFAULT_SEED,
    build_store,
    ensure_store,
    run_demo,
)

__all__ = [
    "DEFAULT_MONTHS",
    "DEFAULT_SEED",
    "build_store",
    "ensure_store",
    "run_demo",
]
