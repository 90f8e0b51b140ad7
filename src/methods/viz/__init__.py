"""Plots in one house style."""

from methods.viz.plots import (
    plot_forest,
    plot_grouped_bars,
    plot_partial_indicators,
    plot_profile_comparison,
    profile_grid,
)

__all__ = [
    "plot_forest",
    "plot_grouped_bars",
    "plot_partial_indicators",
    "plot_profile_comparison",
    "profile_grid",
]
