"""Checking contract files: error type, column specs and vectorised row rules.

:mod:`methods.data.readers` turns an input file into a canonical table of text columns with a 1-based
``_row``; the rules here run over it in DuckDB. The contract-specific rules (which columns,
which codes, cross-table keys) live in :mod:`methods.data.ingest`; the writing in
:mod:`methods.data.store_ingest`.

Row numbers in every message are *data rows*, counted from 1 under the header, the way a user
sees them in a spreadsheet whose first line is the header: for a CSV, row 3 is line 4 of the
file, and the message gives the file line as well.

Personal data (names, phones, emails, addresses, comments, and the force's identifiers
``crime_ref`` / ``victim_id``) is never quoted in a message, nor is a contractor ``case_key``:
only values of code, date and number columns are quoted, and only when they look like a code
(one short token, few digits) and do not occur in any personal column of the same file.

A responses file identifies each case either by the ``case_key`` of the contractor extract
(:mod:`methods.data.protection`) or by the force's ``crime_ref`` and ``victim_id``
(:func:`response_key_columns`); case keys are compared in canonical form
(:func:`case_key_text_sql`: surrounding white space removed, lower-case hex).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from methods.core.errors import ValidationError

if TYPE_CHECKING:
    from methods.data.readers import RawInput

#: The name under which the canonical input table is registered on the DuckDB connection.
RAW = "_vsw_raw"
_MAX_PROBLEMS_SHOWN = 8
_MAX_ROWS = 20
#: Hex digits of a contractor case key (:func:`methods.data.protection.case_keys`).
CASE_KEY_HEX = 32
#: The columns that can identify a case in a responses file.
RESPONSE_KEY_COLUMNS = ("case_key", "crime_ref", "victim_id")


# --------------------------------------------------------------------------- error type


@dataclass
class Problem:
    """One broken rule: which column, which data rows (first 20, 1-based), and why.

    ``n_rows`` is how many rows break the rule in all; ``lines`` the file lines of ``rows``
    (CSV only).
    """

    rule: str
    column: str | None = None
    rows: list[int] = field(default_factory=list)
    n_rows: int = 0
    lines: list[int] | None = None

    def __post_init__(self) -> None:
        self.rows = [int(r) for r in self.rows]
        self.n_rows = max(int(self.n_rows), len(self.rows))
        self.rows = self.rows[:_MAX_ROWS]


class IngestError(ValidationError):
    """A :class:`~methods.core.errors.ValidationError` that also knows file lines and other problems.

    ``rule``, ``column`` and ``rows`` (first 20 data rows, 1-based) describe the first problem
    found; ``problems`` lists every problem found in the same pass, so that a user can fix them
    all at once; ``source`` names the input (its base name).
    """

    def __init__(self, problems: Sequence[Problem], source: str = "input", what: str = ""):
        first = problems[0]
        super().__init__(first.rule, first.column, first.rows)
        self.n_rows = first.n_rows
        self.problems = list(problems)
        self.source = source
        parts = [_describe(p) for p in self.problems[:_MAX_PROBLEMS_SHOWN]]
        head = f"{what} {source}".strip()
        msg = f"{head}: {parts[0]}"
        if len(parts) > 1:
            msg += "\nalso:\n" + "\n".join(f"  - {p}" for p in parts[1:])
        if len(self.problems) > _MAX_PROBLEMS_SHOWN:
            msg += f"\n  ... and {len(self.problems) - _MAX_PROBLEMS_SHOWN} more problem(s)"
        if any(p.lines for p in self.problems):
            msg += (
                "\n(rows are data rows counted from 1 under the header, as in a spreadsheet;"
                " 'line' is the line of the file, the header being line 1)"
            )
        elif any(p.rows for p in self.problems):
            msg += "\n(rows are data rows counted from 1, as in a spreadsheet under its header)"
        Exception.__init__(self, msg)


def _describe(p: Problem) -> str:
    where = []
    if p.column is not None:
        where.append(f"column '{p.column}'")
    if p.rows:
        label = "row" if p.n_rows == 1 else "rows"
        txt = f"{label} " + ", ".join(str(r) for r in p.rows)
        if p.n_rows > len(p.rows):
            txt += f" and {p.n_rows - len(p.rows)} more ({p.n_rows} rows in all)"
        if p.lines is not None and len(p.lines) == len(p.rows):
            lab = "line" if len(p.lines) == 1 else "lines"
            txt += f" ({lab} " + ", ".join(str(ln) for ln in p.lines)
            txt += " ...)" if p.n_rows > len(p.rows) else ")"
        where.append(txt)
    head = ", ".join(where)
    return f"{head}: {p.rule}" if head else p.rule


# --------------------------------------------------------------------------- column specs


@dataclass(frozen=True)
class Column:
    """One contract column.

    Arguments:
        name: column name (lower-case; headers are matched case-insensitively).
        kind: ``key`` (identifier, personal), ``text``, ``code``, ``date``, ``int``, ``bool``,
            ``personal``, ``prob`` (0 < p <= 1), ``disposition`` (AAPOR code), ``free``
            (free text that may hold personal data), ``case_key`` (a contractor extract's
            case key: 32 hex digits, any case, surrounding white space ignored; never quoted).
        required: a blank value breaks the contract.
        codes: allowed codes for ``code`` columns (lower-case).
        lo, hi: inclusive bounds for ``int`` columns.
        optional_column: the column may be absent from the file (treated as all blank).
        label: how the rule names the allowed values, e.g. ``"0-120, blank = unknown"``.
    """

    name: str
    kind: str
    required: bool = False
    codes: tuple[str, ...] = ()
    lo: int | None = None
    hi: int | None = None
    optional_column: bool = False
    label: str = ""

    @property
    def personal(self) -> bool:
        """True when values of this column must never be quoted."""
        return self.kind in ("key", "personal", "free", "case_key")


# --------------------------------------------------------------------------- rules


@dataclass(frozen=True)
class Rule:
    """A row-level rule: ``bad`` is a DuckDB SQL condition over ``RAW`` true on broken rows.

    ``quote`` (SQL expression) is the value quoted in the message for this column, or ``None``
    for columns whose values must never be shown.
    """

    column: str | None
    rule: str
    bad: str
    quote: str | None = None


def sql_str(s: str) -> str:
    """A SQL string literal."""
    return "'" + s.replace("'", "''") + "'"


def v(col: str) -> str:
    """The trimmed text of ``col`` (the canonical value every rule looks at)."""
    return f'trim("{col}")'


def case_key_text_sql(col: str = "case_key") -> str:
    """SQL for the canonical text of a case key column: white space stripped, lower-cased.

    Notes:
        Strips spaces, tabs and line breaks at both ends (RE2 ``\\s``), unlike :func:`v`,
        which trims spaces only: keys pasted from a spreadsheet often carry a tab.
    """
    return f"lower(regexp_replace(\"{col}\", '^\\s+|\\s+$', '', 'g'))"


def column_rules(c: Column) -> list[Rule]:
    """The value rules of one column (blank, code list, date, integer, boolean, ...)."""
    x = case_key_text_sql(c.name) if c.kind == "case_key" else v(c.name)
    q = None if c.personal else x
    out: list[Rule] = []
    if c.required:
        hint = " (use 'unknown' when not known)" if "unknown" in c.codes else ""
        out.append(Rule(c.name, f"required value is blank{hint}", f"{x} = ''"))
    if c.kind == "key":
        out.append(
            Rule(
                c.name,
                "identifier contains a control character (tab, line break or similar)",
                f"regexp_matches({x}, '[\\x00-\\x1f\\x7f]')",
            )
        )
    elif c.kind == "case_key":
        out.append(
            Rule(
                c.name,
                f"not a case key: expected the {CASE_KEY_HEX} hex digits (0-9, a-f, any case) "
                "of the case_key column of the contractor extract",
                f"{x} <> '' AND NOT regexp_full_match({x}, '[0-9a-f]{{{CASE_KEY_HEX}}}')",
            )
        )
    elif c.kind == "code":
        allowed = ", ".join(sql_str(s) for s in c.codes)
        out.append(
            Rule(
                c.name,
                f"unknown code; allowed (any case): {', '.join(c.codes)}",
                f"{x} <> '' AND lower({x}) NOT IN ({allowed})",
                q,
            )
        )
    elif c.kind == "date":
        out.append(
            Rule(
                c.name,
                "not a valid ISO date YYYY-MM-DD (e.g. 2025-01-31)",
                f"{x} <> '' AND (NOT regexp_full_match({x}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}')"
                f" OR try_cast({x} AS DATE) IS NULL)",
                q,
            )
        )
    elif c.kind == "int":
        out.append(
            Rule(
                c.name,
                f"must be a whole number from {c.lo} to {c.hi}{c.label}",
                f"{x} <> '' AND (NOT regexp_full_match({x}, '[+-]?[0-9]{{1,6}}(\\.0*)?')"
                f" OR NOT (try_cast({x} AS DOUBLE) BETWEEN {c.lo} AND {c.hi}))",
                q,
            )
        )
    elif c.kind == "bool":
        out.append(
            Rule(
                c.name,
                "not a boolean: use true/false, 1/0 or yes/no (any case; blank = false)",
                f"lower({x}) NOT IN ('', 'true', 'false', '1', '0', 'yes', 'no')",
                q,
            )
        )
    elif c.kind == "prob":
        px = f"try_cast({x} AS DOUBLE)"
        out.append(
            Rule(
                c.name,
                "inclusion probability must be a number with 0 < p <= 1",
                f"{x} <> '' AND ({px} IS NULL OR isnan({px}) OR NOT ({px} > 0 AND {px} <= 1))",
                q,
            )
        )
    return out


def bool_sql(col: str) -> str:
    """SQL turning a validated boolean text column into BOOLEAN (blank = false)."""
    return f"(lower({v(col)}) IN ('true', '1', 'yes'))"


def int_sql(col: str, typ: str = "SMALLINT") -> str:
    """SQL turning a validated integer text column into an integer (blank = NULL)."""
    return f"CAST(CAST(NULLIF({v(col)}, '') AS DOUBLE) AS {typ})"


def run_rules(con: Any, raw: RawInput, rules: Sequence[Rule], personal: Sequence[str]) -> list:
    """Evaluate ``rules`` in one vectorised pass; return a :class:`Problem` per broken rule.

    Arguments:
        con: DuckDB connection on which ``raw.table`` is registered as :data:`RAW`.
        raw: the canonical input.
        rules: row-level rules.
        personal: columns whose values must never be quoted (their values are also used to
            withhold any quoted value that happens to equal one of them).

    Returns:
        list of :class:`Problem`, in rule order.
    """
    if not rules:
        return []
    counts = con.execute(
        "SELECT " + ", ".join(f"count_if({r.bad})" for r in rules) + f" FROM {RAW}"
    ).fetchall()[0]
    problems = []
    for r, n in zip(rules, counts):
        if not n:
            continue
        rows = [
            x[0]
            for x in con.execute(
                f"SELECT _row FROM {RAW} WHERE {r.bad} ORDER BY _row LIMIT {_MAX_ROWS}"
            ).fetchall()
        ]
        rule = r.rule
        if r.quote is not None:
            rule += quoted_values(con, r, personal)
        problems.append(raw.problem(rule, r.column, rows, int(n)))
    return problems


_CODE_LIKE = re.compile(r"[A-Za-z0-9_.:/+\-]{1,24}")


def quoted_values(con: Any, r: Rule, personal: Sequence[str]) -> str:
    """Up to 5 distinct offending values, each only if it cannot be personal data."""
    vals = [
        x[0]
        for x in con.execute(
            f"SELECT DISTINCT {r.quote} AS q FROM {RAW} WHERE {r.bad} ORDER BY q LIMIT 50"
        ).fetchall()
    ]
    safe = [
        s
        for s in vals
        if s is not None and _CODE_LIKE.fullmatch(s) and sum(ch.isdigit() for ch in s) <= 8
    ]
    if safe and personal:
        cond = " OR ".join(f"{v(p)} = q" for p in personal)
        clash = {
            x[0]
            for x in con.execute(
                f"SELECT q FROM (SELECT unnest(?::VARCHAR[]) AS q) AS c "
                f"WHERE EXISTS (SELECT 1 FROM {RAW} WHERE {cond})",
                [safe],
            ).fetchall()
        }
        safe = [s for s in safe if s not in clash]
    shown = safe[:5]
    hidden = len(vals) - len(shown)
    txt = ""
    if shown:
        txt = " (found " + ", ".join(repr(s) for s in shown)
        txt += f" and {hidden} more)" if hidden else ")"
    elif vals:
        txt = " (values not quoted: they might be personal data)"
    return txt


# --------------------------------------------------------------------------- response keys


def response_key_columns(raw: RawInput, what: str) -> tuple[str, ...]:
    """Which columns identify the cases of a responses file (docs/data_contract.md section 2).

    Arguments:
        raw: the canonical input (its ``columns_present``).
        what: what the file is, for messages.

    Returns:
        ``("case_key",)``, ``("crime_ref", "victim_id")`` or all three (in
        :data:`RESPONSE_KEY_COLUMNS` order).

    Raises:
        IngestError: neither ``case_key`` nor both ``crime_ref`` and ``victim_id`` are columns
            of the file, or only one of ``crime_ref`` / ``victim_id`` is.

    Notes:
        A file keyed by ``case_key`` (the key the contractor extract gave the agency) may also
        carry ``crime_ref`` and ``victim_id`` (a force that merged its own references back in);
        then every row must give all three and they must name the same case, which the store
        checks (:meth:`methods.data.store.Store.ingest_responses`).
    """
    present = set(raw.columns_present)
    found = tuple(c for c in RESPONSE_KEY_COLUMNS if c in present)
    ref = [c for c in ("crime_ref", "victim_id") if c in present]
    how = (
        "each case is identified either by case_key (the key of the contractor extract) or by "
        "both crime_ref and victim_id"
    )
    if len(ref) == 1:
        other = "victim_id" if ref[0] == "crime_ref" else "crime_ref"
        rule = f"column '{ref[0]}' is given without '{other}': in the {what} {how}"
        if "case_key" in present:
            rule += f"; drop '{ref[0]}' to key the file by case_key alone"
        raise IngestError([Problem(rule, other)], raw.name, what)
    if not found:
        raise IngestError(
            [Problem(f"no key column in the {what}: {how}", "case_key")], raw.name, what
        )
    return found


def duplicate_case_keys(con: Any, raw: RawInput, what: str, col: str = "case_key") -> list:
    """A :class:`Problem` listing every row whose canonical case key occurs more than once.

    Arguments:
        con: DuckDB connection on which ``raw.table`` is registered as :data:`RAW`.
        raw: the canonical input.
        what: what the file is, for messages.
        col: the case key column.

    Returns:
        ``[]`` or a one-element list.
    """
    x = case_key_text_sql(col)
    res = con.execute(
        f"SELECT _row, count(*) OVER () AS n FROM (SELECT _row, count(*) OVER "
        f"(PARTITION BY {x}) AS c FROM {RAW} WHERE {x} <> '') WHERE c > 1 "
        f"ORDER BY _row LIMIT {_MAX_ROWS}"
    ).fetchall()
    if not res:
        return []
    return [
        raw.problem(
            f"duplicate key: {col} must be unique in the {what} (compared ignoring case and "
            "surrounding white space); every row sharing a key is listed",
            col,
            [r[0] for r in res],
            res[0][1],
        )
    ]
