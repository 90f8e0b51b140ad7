"""Calendar months as ``YYYY-MM`` strings: the unit of every monthly extract and report."""

from __future__ import annotations

import pandas as pd


def months_back(month: str, k: int) -> list[str]:
    """The ``k`` months ending with ``month`` (``YYYY-MM``), oldest first."""
    end = pd.Period(month, freq="M")
    return [str(end - i) for i in range(k - 1, -1, -1)]
