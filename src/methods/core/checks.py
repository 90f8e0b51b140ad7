"""The one validation utility: where a config value sits, and checked weights.

Every layer reports bad input the same way: config errors name the file and the dotted key
(:class:`Where`), data errors name the column and the 1-based rows (:func:`check_weights`,
raising :class:`methods.core.errors.ValidationError`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from methods.core.errors import ConfigError, ValidationError


class Where:
    """Where a value sits (file and dotted key, e.g. ``durham.toml: key 'surveys[2].modes'``)."""

    def __init__(self, path: str, key: str = ""):
        self.path = path
        self.key = key

    def sub(self, key: str | int) -> Where:
        """The location of ``key`` (a table key or a list index) inside this one."""
        if isinstance(key, int):
            return Where(self.path, f"{self.key}[{key}]")
        return Where(self.path, f"{self.key}.{key}" if self.key else key)

    def error(self, msg: str) -> ConfigError:
        """A :class:`ConfigError` naming the file and key."""
        where = f"{self.path}: key '{self.key}'" if self.key else self.path
        return ConfigError(f"{where}: {msg}")


def check_weights(values, column: str) -> np.ndarray:
    """``values`` as float64 weights, refusing non-numeric, missing, infinite or negative ones.

    Arguments:
        values: a Series or array of weights.
        column: the column (or argument) name for the message.

    Raises:
        ValidationError: naming ``column`` and the first offending rows (1-based).
    """
    s = values if isinstance(values, pd.Series) else pd.Series(np.asarray(values))
    if pd.api.types.is_bool_dtype(s) or not (pd.api.types.is_numeric_dtype(s) or s.dtype == object):
        raise ValidationError("weights must be numeric", column)
    w = pd.to_numeric(s, errors="coerce").to_numpy(dtype=float, na_value=np.nan, copy=True)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        raise ValidationError(
            "weights must be finite and non-negative (missing, infinite or negative found)",
            column,
            (np.flatnonzero(bad) + 1).tolist(),
        )
    return w
