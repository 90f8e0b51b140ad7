"""Reading contract files (CSV, Parquet, DataFrame) into one canonical form.

The canonical form is a pyarrow Table holding the contract's columns as *text* (blank = ``""``)
plus a 1-based ``_row`` column, ready for the rules of :mod:`methods.data.validation`. Everything
that can be wrong with a file as a whole -- empty, binary, UTF-16, not UTF-8, wrong delimiter,
missing or duplicated column, rows with too few or too many fields, Parquet columns of the
wrong type, no data rows -- is refused here with a :class:`~methods.data.validation.IngestError`.

Row numbers are data rows counted from 1 under the header; for a CSV the file line is given too
(they differ when a quoted value spans lines or blank lines are skipped). Arrow's own parse
messages quote row text, so they are never shown: a slow exact pass with Python's :mod:`csv`
module diagnoses the problem instead (error path only).
"""

from __future__ import annotations

import csv
import hashlib
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from methods.core.errors import InputRefused
from methods.data.validation import _MAX_ROWS, Column, IngestError, Problem

_CHUNK = 8 << 20


#: Accepted parquet/arrow types per column kind (checked before converting to text).
def _type_ok(kind: str, name: str, t: pa.DataType) -> bool:
    if pa.types.is_null(t):
        return True
    if pa.types.is_dictionary(t):
        t = t.value_type
    is_str = pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t)
    if is_str:
        return True
    if kind in ("key", "text"):
        return pa.types.is_integer(t) and name in ("crime_ref", "victim_id", "district")
    if kind == "date":
        return pa.types.is_date(t) or pa.types.is_timestamp(t)
    if kind == "int":
        return pa.types.is_integer(t) or pa.types.is_floating(t)
    if kind == "bool":
        return pa.types.is_boolean(t) or pa.types.is_integer(t)
    if kind == "prob":
        return pa.types.is_floating(t) or pa.types.is_decimal(t)
    if kind == "disposition":
        return pa.types.is_floating(t) or pa.types.is_integer(t) or pa.types.is_decimal(t)
    return False


_EXPECTED = {
    "key": "text (or integer)",
    "text": "text",
    "code": "text",
    "date": "date or ISO text YYYY-MM-DD",
    "int": "integer",
    "bool": "boolean",
    "personal": "text",
    "free": "text",
    "prob": "floating point number",
    "disposition": "text such as '1.1'",
    "case_key": "text (32 hex digits)",
}


# --------------------------------------------------------------------------- canonical input


@dataclass
class RawInput:
    """A contract file in canonical form.

    Attributes:
        table: the contract columns present, as ``string`` with blanks as ``""``, plus ``_row``
            (int64, 1-based data row).
        name: base name of the file (or ``"<DataFrame>"``).
        fmt: ``csv``, ``parquet`` or ``table``.
        sha256: SHA-256 of the file bytes (``None`` for in-memory tables).
        path: the file (``None`` for in-memory tables).
        columns_present: contract columns found in the input.
        extra_columns: other columns (ignored).
    """

    table: pa.Table
    name: str
    fmt: str
    sha256: str | None
    path: Path | None
    columns_present: list[str]
    extra_columns: list[str]
    simple_lines: bool = True
    _line_map: dict[int, int] | None = None

    @property
    def n(self) -> int:
        """Number of data rows."""
        return self.table.num_rows

    def lines_for(self, rows: Sequence[int]) -> list[int] | None:
        """File line numbers (header = line 1) of the given data rows, or None if not a CSV."""
        if self.fmt != "csv":
            return None
        if self.simple_lines:
            return [int(r) + 1 for r in rows]
        if self._line_map is None:
            self._line_map = _scan_csv(self.path, want_rows=True)[0]
        return [self._line_map.get(int(r), -1) for r in rows]

    def problem(self, rule: str, column: str | None, rows: Sequence[int], n_rows: int) -> Problem:
        """A :class:`Problem` with the file lines filled in."""
        rows = [int(r) for r in rows][:_MAX_ROWS]
        return Problem(rule, column, rows, n_rows, self.lines_for(rows) if rows else None)


def _refuse(source: str, rule: str, column: str | None = None, rows=(), n_rows=0, lines=None):
    return IngestError([Problem(rule, column, list(rows), n_rows, lines)], source)


def read_input(source: Any, columns: Sequence[Column], what: str) -> RawInput:
    """Read a CSV/Parquet file, a pandas DataFrame or a pyarrow Table into canonical form.

    Arguments:
        source: path (``str``/``Path``), ``pandas.DataFrame`` or ``pyarrow.Table``.
        columns: the contract's columns.
        what: what the file is, for messages (e.g. ``"victim extract"``).

    Returns:
        :class:`RawInput`.

    Raises:
        IngestError: empty file, wrong encoding or delimiter, binary file, missing or
            duplicated column, wrong number of fields on a row, Parquet column of the wrong
            type, no data rows.
        InputRefused: the file does not exist or cannot be read.

    Notes:
        CSV is read by ``pyarrow.csv`` with every column as bytes, then each column is checked
        to be UTF-8 (so a Latin-1 byte is reported with its column and row). Quoted values may
        span lines. A UTF-8 byte-order mark and CRLF line ends are accepted. Slow diagnostics
        (Python's ``csv`` module) run only when something is wrong.
    """

    if isinstance(source, pd.DataFrame):
        try:
            table = pa.Table.from_pandas(source, preserve_index=False)
        except (pa.ArrowException, TypeError, ValueError) as exc:
            raise _refuse(
                "<DataFrame>", f"the {what} cannot be converted: {type(exc).__name__}"
            ) from None
        return _from_typed(table, columns, what, "<DataFrame>", "table", None, None)
    if isinstance(source, pa.Table):
        return _from_typed(source, columns, what, "<Table>", "table", None, None)
    path = Path(source)
    name = path.name
    if not path.exists():
        raise InputRefused(f"{what} file not found: {path}")
    if not path.is_file():
        raise InputRefused(f"{what} path is not a file: {path}")
    try:
        info = _scan_bytes(path)
    except OSError as exc:
        raise InputRefused(f"cannot read {what} file {name}: {exc.strerror or exc}") from None
    if info["size"] == 0:
        raise _refuse(
            name, f"the {what} is empty (0 bytes): expected a CSV with a header row, or Parquet"
        )
    head: bytes = info["head"]
    if head.startswith(b"PAR1"):
        return _read_parquet(path, columns, what, info["sha256"])
    if head.startswith(b"PK\x03\x04"):
        raise _refuse(
            name,
            f"the {what} is a zip archive or an Excel workbook, not a CSV: save it as "
            "'CSV UTF-8 (comma delimited)' or Parquet",
        )
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _refuse(
            name, f"the {what} is encoded as UTF-16: save it as UTF-8 CSV ('CSV UTF-8' in Excel)"
        )
    if info["nul"]:
        raise _refuse(
            name,
            f"the {what} contains NUL bytes, so it is not UTF-8 text: it is a binary file or "
            "is encoded as UTF-16/UTF-32; save it as UTF-8 CSV or Parquet",
        )
    return _read_csv(path, columns, what, info)


def _scan_bytes(path: Path) -> dict:
    """One pass over the file: SHA-256, size, newline count, NUL bytes, first bytes."""
    h = hashlib.sha256()
    size = newlines = 0
    nul = False
    head = b""
    last = b""
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            if not head:
                head = chunk[:4096]
            h.update(chunk)
            size += len(chunk)
            newlines += chunk.count(b"\n")
            nul = nul or b"\x00" in chunk
            last = chunk[-1:]
    return {
        "sha256": h.hexdigest(),
        "size": size,
        "newlines": newlines,
        "nul": nul,
        "head": head,
        "ends_nl": last == b"\n",
    }


def _normalise(name: str) -> str:
    return name.strip().strip("\ufeff").strip().lower()


def _match_header(
    names: Sequence[str], columns: Sequence[Column], what: str, source: str, header_line: str
) -> tuple[dict[str, str], list[str]]:
    """Map contract column -> original header name; refuse missing or duplicated columns."""
    norm = [_normalise(n) for n in names]
    wanted = {c.name: c for c in columns}
    seen: dict[str, str] = {}
    dup = []
    for orig, nm in zip(names, norm):
        if nm in wanted:
            if nm in seen:
                dup.append(nm)
            seen[nm] = orig
    problems = []
    for nm in dict.fromkeys(dup):
        problems.append(
            Problem(
                f"the header has the column '{nm}' more than once; keep one (column names are "
                "matched ignoring case and surrounding spaces)",
                nm,
            )
        )
    missing = [c.name for c in columns if c.name not in seen and not c.optional_column]
    if missing:
        hint = ""
        if header_line and "," not in header_line:
            for delim, label in ((";", "semicolons"), ("\t", "tabs"), ("|", "vertical bars")):
                if delim in header_line:
                    hint = (
                        f" -- the header is separated by {label}, not commas: save the file as "
                        "comma-separated CSV"
                    )
                    break
        if not hint and not (set(norm) & set(wanted)):
            hint = " -- none of the contract's columns was found: is the first line the header?"
        if hint.startswith(" -- the header is separated"):
            rule = f"required columns not found in the {what}{hint}"
        else:
            rule = (
                f"required column(s) missing from the {what}: {', '.join(missing)}"
                f"{hint}. The contract (docs/data_contract.md) needs: {', '.join(wanted)}"
            )
        problems.insert(0, Problem(rule, missing[0]))
    if problems:
        raise IngestError(problems, source)
    extra = [o for o, nm in zip(names, norm) if nm not in wanted]
    return seen, extra


def _read_csv(path: Path, columns: Sequence[Column], what: str, info: dict) -> RawInput:

    name = path.name
    # ---- header: first line, strict UTF-8
    with path.open("rb") as f:
        first = f.readline(1 << 20)
    try:
        header_line = re.split(r"\r\n|\r|\n", first.decode("utf-8-sig"), maxsplit=1)[0]
    except UnicodeDecodeError:
        raise _refuse(
            name,
            f"the header line of the {what} is not valid UTF-8 (saved as Latin-1/Windows-1252?): "
            "save the file as UTF-8 CSV",
            lines=None,
        ) from None
    if not header_line.strip(" ,;\t\r\n\ufeff"):
        raise _refuse(name, f"the {what} has no header row: its first line is blank")
    try:
        names = next(csv.reader([header_line]))
    except (csv.Error, StopIteration):
        raise _refuse(name, f"the header line of the {what} cannot be parsed as CSV") from None
    mapping, extra = _match_header(names, columns, what, name, header_line)

    # ---- body: pyarrow, every wanted column as bytes; rows with a wrong field count collected
    bad_rows: list[int] = []

    def on_invalid(row: Any) -> str:  # never look at row.text: it may hold personal data
        bad_rows.append(1)
        return "skip"

    orig_cols = list(mapping.values())
    # pyarrow decodes a ragged row's text to str before calling on_invalid; when the row is
    # not UTF-8 that fails inside Cython, is printed as "Exception ignored ..." and the read
    # then fails (ArrowInvalid, handled below). Keep the noise (and the row's bytes position)
    # off the user's terminal: the refusal explains the structure problem instead.
    previous_hook = sys.unraisablehook

    def quiet(unraisable: Any) -> None:
        if isinstance(unraisable.exc_value, UnicodeDecodeError):
            bad_rows.append(1)
            return
        previous_hook(unraisable)

    sys.unraisablehook = quiet
    try:
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(use_threads=True, block_size=8 << 20),
            parse_options=pacsv.ParseOptions(
                newlines_in_values=True, invalid_row_handler=on_invalid
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={c: pa.binary() for c in orig_cols},
                include_columns=orig_cols,
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowException):
        # the message from Arrow may quote a row: never show it; diagnose ourselves
        raise _csv_structure_error(path, what, len(names)) from None
    finally:
        sys.unraisablehook = previous_hook
    if bad_rows:
        raise _csv_structure_error(path, what, len(names))
    if table.num_rows == 0:
        raise _refuse(
            name,
            f"the {what} has a header but no data rows: an empty extract is refused (if the "
            "month truly had no victims, say so to the survey lead rather than loading it)",
        )
    # ---- UTF-8 check, column by column (vectorised; row-level search only on failure)
    out = {}
    problems = []
    for col, orig in mapping.items():
        arr = table.column(orig)
        try:
            # zero-copy: reinterpret the bytes as UTF-8 text, then check they are valid UTF-8
            chunks = [c.view(pa.string()) for c in arr.chunks]
            for c in chunks:
                c.validate(full=True)
            out[col] = pa.chunked_array(chunks, pa.string())
        except (pa.ArrowInvalid, pa.ArrowException):
            rows = _bad_utf8_rows(arr)
            problems.append(
                Problem(
                    "value is not valid UTF-8 text (the file was saved as Latin-1/Windows-1252 "
                    "or another encoding?): save the file as UTF-8 CSV",
                    col,
                    rows[:_MAX_ROWS],
                    len(rows),
                )
            )
    del table
    n = len(next(iter(out.values())))
    simple = info["newlines"] == n + 1 or (info["newlines"] == n and not info["ends_nl"])
    raw = RawInput(
        table=pa.table({**out, "_row": pa.array(range(1, n + 1), pa.int64())}),
        name=name,
        fmt="csv",
        sha256=info["sha256"],
        path=path,
        columns_present=list(mapping),
        extra_columns=extra,
        simple_lines=simple,
    )
    if problems:
        for p in problems:
            p.lines = raw.lines_for(p.rows)
        raise IngestError(problems, name)
    return _add_optional(raw, columns)


def _bad_utf8_rows(arr: pa.ChunkedArray) -> list[int]:
    rows = []
    i = 0
    for chunk in arr.chunks:
        for v in chunk.to_pylist():
            i += 1
            try:
                v.decode("utf-8")
            except UnicodeDecodeError:
                rows.append(i)
    return rows


def _scan_csv(path: Path | None, want_rows: bool = False, n_fields: int | None = None):
    """Slow, exact pass with Python's csv module (error path only).

    Returns ``(row -> first line, field-count problems, parse error line or None)`` where a
    field-count problem is ``(row, line, n_fields_found)``.
    """
    csv.field_size_limit(sys.maxsize)
    line_of: dict[int, int] = {}
    wrong: list[tuple[int, int, int]] = []
    parse_error_line = None
    assert path is not None
    with path.open("r", encoding="utf-8-sig", errors="replace", newline="") as f:
        reader = csv.reader(f, strict=True)
        prev_end = 0
        row = -1  # header is row 0
        try:
            for rec in reader:
                start = prev_end + 1
                prev_end = reader.line_num
                if not rec:
                    continue  # a blank line: skipped by the reader
                row += 1
                if row == 0:
                    continue
                if want_rows:
                    line_of[row] = start
                if n_fields is not None and len(rec) != n_fields:
                    # a lone trailing empty field is still "too many": the row is misaligned
                    wrong.append((row, start, len(rec)))
        except csv.Error:
            parse_error_line = prev_end + 1
    return line_of, wrong, parse_error_line


def _csv_structure_error(path: Path, what: str, n_header: int) -> IngestError:
    """Diagnose rows whose field count differs from the header (truncated row, stray comma)."""
    _, wrong, parse_error_line = _scan_csv(path, n_fields=n_header)
    problems = []
    fewer = [w for w in wrong if w[2] < n_header]
    more = [w for w in wrong if w[2] > n_header]
    if fewer:
        counts = sorted({w[2] for w in fewer})
        problems.append(
            Problem(
                f"row has fewer fields ({', '.join(map(str, counts))}) than the header "
                f"({n_header}): a truncated row, or a value with an unquoted line break",
                None,
                [w[0] for w in fewer],
                len(fewer),
                [w[1] for w in fewer][:_MAX_ROWS],
            )
        )
    if more:
        counts = sorted({w[2] for w in more})
        problems.append(
            Problem(
                f"row has more fields ({', '.join(map(str, counts))}) than the header "
                f"({n_header}): a value with an unquoted comma? Quote values containing commas",
                None,
                [w[0] for w in more],
                len(more),
                [w[1] for w in more][:_MAX_ROWS],
            )
        )
    if parse_error_line is not None:
        problems.append(
            Problem(
                f"the {what} cannot be parsed as CSV from line {parse_error_line} on: an "
                'unbalanced quote (a value opened with " but never closed, e.g. a truncated '
                "file?)"
            )
        )
    if not problems:
        problems.append(
            Problem(
                f"the {what} cannot be parsed as CSV (unbalanced quotes or a truncated file?); "
                "check it opens in a spreadsheet and save it again as UTF-8 CSV"
            )
        )
    return IngestError(problems, path.name)


def _read_parquet(path: Path, columns: Sequence[Column], what: str, sha: str) -> RawInput:

    try:
        pf = pq.ParquetFile(path)
        names = pf.schema_arrow.names
        mapping, _ = _match_header(names, columns, what, path.name, ",".join(names))
        table = pf.read(columns=list(mapping.values()))
    except IngestError:
        raise
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise _refuse(
            path.name, f"the {what} looks like Parquet but cannot be read ({type(exc).__name__})"
        ) from None
    return _from_typed(table, columns, what, path.name, "parquet", sha, path)


def _from_typed(
    table: pa.Table,
    columns: Sequence[Column],
    what: str,
    name: str,
    fmt: str,
    sha: str | None,
    path: Path | None,
) -> RawInput:
    """Check column types of a typed table (Parquet, DataFrame) and convert to text."""
    mapping, extra = _match_header(table.column_names, columns, what, name, "")
    spec = {c.name: c for c in columns}
    problems = []
    out = {}
    n = table.num_rows
    for col, orig in mapping.items():
        arr = table.column(orig)
        c = spec[col]
        if not _type_ok(c.kind, col, arr.type):
            problems.append(
                Problem(
                    f"column has type {arr.type}; expected {_EXPECTED[c.kind]}"
                    f" (write the {what} with the contract's types, or as text)",
                    col,
                )
            )
            continue
        try:
            text, bad = _to_text(arr, c)
        except (pa.ArrowException, ValueError) as exc:
            problems.append(Problem(f"cannot convert column to text: {type(exc).__name__}", col))
            continue
        if bad:
            problems.append(Problem(bad[0], col, bad[1][:_MAX_ROWS], len(bad[1])))
        out[col] = text
    if problems:
        raise IngestError(problems, name)
    if n == 0:
        raise _refuse(name, f"the {what} has no data rows: an empty extract is refused")
    raw = RawInput(
        table=pa.table({**out, "_row": pa.array(range(1, n + 1), pa.int64())}),
        name=name,
        fmt=fmt,
        sha256=sha,
        path=path,
        columns_present=list(mapping),
        extra_columns=extra,
    )
    return _add_optional(raw, columns)


def _to_text(arr: pa.ChunkedArray, c: Column) -> tuple[pa.ChunkedArray, tuple | None]:
    """Typed column -> canonical text (blank = ""); returns (text, (rule, bad rows) or None)."""
    t = arr.type
    if pa.types.is_dictionary(t):
        arr = arr.cast(t.value_type)
        t = arr.type
    bad = None
    if pa.types.is_null(t):
        return pa.chunked_array([pa.array([""] * len(arr), pa.string())]), None
    if pa.types.is_timestamp(t):
        d = pc.cast(arr, pa.date32(), safe=False)
        back = pc.cast(d, t)
        notmid = pc.fill_null(pc.not_equal(back, arr), False)
        if pc.any(notmid).as_py():
            rows = (pc.indices_nonzero(pc.cast(notmid, pa.bool_()).combine_chunks())).to_pylist()
            bad = ("timestamp has a time of day: give the date only", [r + 1 for r in rows])
        arr = d
    elif pa.types.is_floating(t):
        isnan = pc.fill_null(pc.is_nan(arr), False)
        arr = pc.if_else(isnan, pa.scalar(None, t), arr)
        if c.kind in ("int", "bool"):
            integral = pc.fill_null(pc.equal(pc.floor(arr), arr), True)
            whole = pc.if_else(integral, pc.cast(pc.floor(arr), pa.int64(), safe=False), None)
            # non-integral values stay as they are, so the int rule reports them
            arr = pc.if_else(integral, pc.cast(whole, pa.string()), pc.cast(arr, pa.string()))
    text = pc.cast(arr, pa.string())
    text = pc.fill_null(text, "")
    if not isinstance(text, pa.ChunkedArray):
        text = pa.chunked_array([text])
    return text, bad


def _add_optional(raw: RawInput, columns: Sequence[Column]) -> RawInput:
    """Add absent optional columns as all-blank text, so every rule sees every column."""
    for c in columns:
        if c.name not in raw.table.column_names:
            raw.table = raw.table.append_column(c.name, pa.array([""] * raw.n, pa.string()))
    return raw
