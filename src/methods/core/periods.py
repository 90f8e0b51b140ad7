"""Calendar months as ``YYYY-MM`` strings: the unit of every monthly extract and report."""

from __future__ import annotations

import pandas as pd


def months_back(month: str, k: int) -> list[str]:
    """The ``k`` months ending with ``month`` (``YYYY-MM``), oldest first."""
    end = pd.Period(month, freq="M")
    return [str(end - i) for i in range(k - 1, -1, -1)]


_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip


def month_label(month: str) -> str:
    """A calendar month for readers: ``"2025-12"`` -> ``"December 2025"``."""
    y, m = (int(x) for x in str(month).split("-"))
    return f"{_MONTH_NAMES[m - 1]} {y}"
