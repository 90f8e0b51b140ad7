"""Exceptions shared across the workbench.

Every error a user can cause says what went wrong, where, and how to fix it. The CLI maps
:class:`InputRefused` (and its subclasses) to exit code 3 and :class:`UsageError` to exit code 2,
and never shows a traceback for either.
"""

from __future__ import annotations

from collections.abc import Sequence


class WorkbenchError(Exception):
    """Base class for errors raised deliberately by the workbench."""


class UsageError(WorkbenchError):
    """The request itself is malformed (bad option value, unknown force or survey)."""


class InputRefused(WorkbenchError):
    """An input file or value breaks the data contract; nothing was written."""


class ValidationError(InputRefused):
    """A data-contract rule is broken.

    Arguments:
        column: the offending column (or ``None`` for file-level problems).
        rows: 1-based data row numbers (header excluded) of offending rows; only the first 20
            are kept in the message.
        rule: the rule broken, in words.
    """

    def __init__(self, rule: str, column: str | None = None, rows: Sequence[int] | None = None):
        self.rule = rule
        self.column = column
        self.rows = list(rows or [])[:20]
        self.n_rows = len(rows or [])
        parts = []
        if column is not None:
            parts.append(f"column '{column}'")
        if self.rows:
            more = (
                f" (and {self.n_rows - len(self.rows)} more)"
                if self.n_rows > len(self.rows)
                else ""
            )
            parts.append("row(s) " + ", ".join(str(r) for r in self.rows) + more)
        where = ": ".join([", ".join(parts)]) if parts else ""
        msg = f"{where}: {rule}" if where else rule
        super().__init__(msg)


class ConfigError(UsageError):
    """A survey definition or force preset is missing or malformed."""


class IgnoredColumnsWarning(UserWarning):
    """An input file had columns the data contract does not read; they were ignored."""


class ConvergenceError(WorkbenchError):
    """An iterative method did not converge; the message gives iterations and the worst gap."""
