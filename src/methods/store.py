"""The DuckDB store: validated, transactional ingest; pseudonymised analysis tables; audit log.

One file holds a force's data. Tables (schema version 1):

``meta``              key/value: the store's secret pseudonym key, schema version, created_at.
``victims``           analysis columns, keyed by ``case_id`` (keyed pseudonym of crime_ref +
                      victim_id) with ``person_id`` (keyed pseudonym of victim_id) and ``month``.
``personal``          crime_ref, victim_id, name, phone, email, address, keyed by ``case_id``,
                      with ``month`` so that a retention purge can delete it month by month.
``months``            months loaded: rows, file name, file SHA-256, loaded_at.
``samples``           which cases each survey sampled each month, with inclusion probabilities.
``responses``         final dispositions and answers, keyed by (survey, case_id).
``response_comments`` free-text comments (may hold personal data), kept apart.
``optout``            opt-out register: keyed hashes only.
``loads``             every successful load (kind, survey, month, rows, file SHA-256).
``audit``             every ingest, replace and refusal: what, how many rows, when. Never
                      personal data: refusal messages are built not to quote it.

Every ingest validates everything first (:mod:`methods.ingest`, :mod:`methods.validation`),
then writes in one transaction; any error leaves the data tables unchanged (a refusal adds one
line to ``audit``). DuckDB's write-ahead log makes a commit atomic, so a process killed at any
point leaves either the old or the new state, never a mixture.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets as _secrets
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from methods.errors import InputRefused, UsageError, ValidationError
from methods.ingest import (
    CASE_ID_SQL,
    PERSON_ID_SQL,
    STAGES,
    VICTIM_FLAG_COLUMNS,
    Checked,
    check_responses,
    check_sample,
    check_victims,
    hmac_pads,
    hmac_sql,
)
from methods.validation import IngestError, Problem

SCHEMA_VERSION = 1
_CLEAN = "_vsw_clean"
_FLAGS_DDL = ", ".join(f"{f} BOOLEAN NOT NULL" for f in VICTIM_FLAG_COLUMNS)
_STAGES_DDL = ", ".join(f"{s} TINYINT" for s in STAGES)

_DDL = (
    "CREATE TABLE IF NOT EXISTS meta (key VARCHAR NOT NULL, value BLOB)",
    f"""CREATE TABLE IF NOT EXISTS victims (
        case_id VARCHAR NOT NULL, person_id VARCHAR NOT NULL, month VARCHAR NOT NULL,
        row_no BIGINT NOT NULL, offence_group VARCHAR NOT NULL, reported_date DATE NOT NULL,
        age SMALLINT, gender VARCHAR NOT NULL, ethnicity VARCHAR NOT NULL,
        district VARCHAR NOT NULL, {_FLAGS_DDL}, load_id BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS personal (
        case_id VARCHAR NOT NULL, month VARCHAR NOT NULL, crime_ref VARCHAR NOT NULL,
        victim_id VARCHAR NOT NULL, name VARCHAR, phone VARCHAR, email VARCHAR,
        address VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS months (
        month VARCHAR NOT NULL, rows BIGINT NOT NULL, file_name VARCHAR, file_sha256 VARCHAR,
        file_format VARCHAR, loaded_at TIMESTAMP NOT NULL, load_id BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS samples (
        survey VARCHAR NOT NULL, month VARCHAR NOT NULL, case_id VARCHAR NOT NULL,
        row_no BIGINT NOT NULL, inclusion_prob DOUBLE NOT NULL, stratum VARCHAR,
        load_id BIGINT NOT NULL)""",
    f"""CREATE TABLE IF NOT EXISTS responses (
        survey VARCHAR NOT NULL, case_id VARCHAR NOT NULL, row_no BIGINT NOT NULL,
        mode VARCHAR NOT NULL, disposition VARCHAR NOT NULL, interview_date DATE,
        {_STAGES_DDL}, load_id BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS response_comments (
        survey VARCHAR NOT NULL, case_id VARCHAR NOT NULL, comment VARCHAR NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS optout (
        hash VARCHAR NOT NULL, added_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS loads (
        load_id BIGINT NOT NULL, kind VARCHAR NOT NULL, survey VARCHAR, month VARCHAR,
        rows BIGINT NOT NULL, file_name VARCHAR, file_sha256 VARCHAR, file_format VARCHAR,
        replaced BOOLEAN NOT NULL, loaded_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS audit (
        entry_id BIGINT NOT NULL, at_utc TIMESTAMP NOT NULL, action VARCHAR NOT NULL,
        outcome VARCHAR NOT NULL, survey VARCHAR, month VARCHAR, rows BIGINT,
        file_name VARCHAR, file_sha256 VARCHAR, detail VARCHAR)""",
)

#: Every table of the store, in dependency order.
TABLES: tuple[str, ...] = (
    "meta",
    "victims",
    "personal",
    "months",
    "samples",
    "responses",
    "response_comments",
    "optout",
    "loads",
    "audit",
)
ANALYSIS_COLUMNS: tuple[str, ...] = (
    "case_id",
    "person_id",
    "month",
    "offence_group",
    "reported_date",
    "age",
    "gender",
    "ethnicity",
    "district",
    *VICTIM_FLAG_COLUMNS,
)
PERSONAL_COLUMNS: tuple[str, ...] = ("crime_ref", "victim_id", "name", "phone", "email", "address")
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_SURVEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_HASH = re.compile(r"[0-9a-f]{32,64}")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def _check_month(month: str) -> str:
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise UsageError(f"month must be YYYY-MM (e.g. 2025-01), got {month!r}")
    return month


def _check_survey(survey: str) -> str:
    if not isinstance(survey, str) or not _SURVEY.fullmatch(survey.strip().lower()):
        raise UsageError(
            f"survey name must be lower-case letters, digits and '_' (e.g. burglary), "
            f"got {survey!r}"
        )
    return survey.strip().lower()


def _months_list(months: str | Iterable[str] | None) -> list[str] | None:
    if months is None:
        return None
    if isinstance(months, str):
        months = [months]
    return [_check_month(m) for m in months]


class Store:
    """A force's DuckDB store.

    Arguments:
        path: the DuckDB file (created with its schema if missing; parent folders too), or
            ``":memory:"``.
        read_only: open without write access (several readers may share a file).
        today: the day against which "in the future" is judged (default: the system date).

    Notes:
        Use as a context manager or call :meth:`close`. DuckDB allows one writing process per
        file: a second writer gets a clear :class:`~methods.errors.InputRefused`.
    """

    def __init__(
        self, path: str | Path, read_only: bool = False, today: dt.date | None = None
    ) -> None:
        import duckdb

        self.path = str(path)
        self.read_only = read_only
        self._today = today
        #: test hook: called with "validated", "writing", "committed" during an ingest
        self._on_phase: Callable[[str], None] | None = None
        if self.path != ":memory:":
            p = Path(self.path)
            if read_only and not p.exists():
                raise InputRefused(f"no store at {p}: ingest an extract first")
            if p.exists() and p.is_dir():
                raise UsageError(f"store path is a folder, not a DuckDB file: {p}")
            if not read_only:
                p.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(self.path, read_only=read_only)
        except duckdb.Error as exc:
            text = str(exc)
            if "lock" in text.lower():
                raise InputRefused(
                    f"the store {self.path} is in use by another process; wait for it to finish "
                    "(DuckDB allows one writer at a time)"
                ) from None
            raise InputRefused(
                f"{self.path} cannot be opened as a workbench store (not a DuckDB file, or "
                f"written by a newer DuckDB): {type(exc).__name__}"
            ) from None
        self._closed = False
        self.con.execute("SET enable_progress_bar = false")
        if not read_only:
            self._create_schema()
        self._check_schema()
        self._pads = hmac_pads(self.secret)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Close the connection (idempotent)."""
        if not self._closed:
            self.con.close()
            self._closed = True

    def __repr__(self) -> str:
        return f"Store({self.path!r})"

    def _create_schema(self) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            for ddl in _DDL:
                con.execute(ddl)
            have = {r[0] for r in con.execute("SELECT key FROM meta").fetchall()}
            if "secret" not in have:
                con.execute("INSERT INTO meta VALUES ('secret', ?)", [_secrets.token_bytes(32)])
            if "schema_version" not in have:
                con.execute(
                    "INSERT INTO meta VALUES ('schema_version', ?)",
                    [str(SCHEMA_VERSION).encode()],
                )
                con.execute(
                    "INSERT INTO meta VALUES ('created_at', ?)", [_now().isoformat().encode()]
                )
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _check_schema(self) -> None:
        try:
            row = self.con.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchall()[0]
        except Exception:  # noqa: BLE001 - any catalog error means "not our store"
            row = None
        if row is None:
            raise InputRefused(f"{self.path} is not a workbench store (no schema version)")
        version = int(bytes(row[0]).decode())
        if version != SCHEMA_VERSION:
            raise InputRefused(
                f"{self.path} has store schema version {version}; this workbench reads "
                f"version {SCHEMA_VERSION}"
            )

    # ------------------------------------------------------------------ keys

    @property
    def secret(self) -> bytes:
        """The store's pseudonym key (32 random bytes, generated once, kept in ``meta``)."""
        return bytes(
            self.con.execute("SELECT value FROM meta WHERE key = 'secret'").fetchall()[0][0]
        )

    @property
    def today(self) -> dt.date:
        """The day against which dates "in the future" are judged."""
        return self._today or dt.date.today()

    def _keyed(self, sql: str, table: pa.Table) -> np.ndarray:
        self.con.register("_vsw_keys", table)
        try:
            out = self.con.execute(f"SELECT {sql} AS h FROM _vsw_keys", self._pads).fetchnumpy()
        finally:
            self.con.unregister("_vsw_keys")
        return np.asarray(out["h"], dtype=object)

    def pseudonym(self, crime_ref: Any, victim_id: Any) -> Any:
        """``case_id`` of (crime_ref, victim_id): HMAC-SHA256 under the store secret, 32 hex.

        Arguments:
            crime_ref, victim_id: scalars or equal-length array-likes (values are trimmed, as
                at ingest).

        Returns:
            a ``str`` for scalar input, else a numpy object array of ``str``.
        """
        scalar = np.ndim(crime_ref) == 0 and np.ndim(victim_id) == 0
        a = np.atleast_1d(np.asarray(crime_ref, dtype=object)).astype(str)
        b = np.atleast_1d(np.asarray(victim_id, dtype=object)).astype(str)
        if a.shape != b.shape:
            raise UsageError(f"crime_ref and victim_id differ in length: {a.size} vs {b.size}")
        out = self._keyed(CASE_ID_SQL, pa.table({"crime_ref": a, "victim_id": b}))
        return str(out[0]) if scalar else out

    def person_pseudonym(self, victim_id: Any) -> Any:
        """``person_id`` of ``victim_id`` (HMAC of ``"victim:" + victim_id``); see pseudonym."""
        scalar = np.ndim(victim_id) == 0
        b = np.atleast_1d(np.asarray(victim_id, dtype=object)).astype(str)
        out = self._keyed(PERSON_ID_SQL, pa.table({"victim_id": b}))
        return str(out[0]) if scalar else out

    def optout_hash(self, values: Any, kind: str = "victim") -> Any:
        """Keyed hash of ``kind + ":" + value`` for the opt-out register (32 hex digits).

        With ``kind="victim"`` it equals the victims' ``person_id``.
        """
        if not re.fullmatch(r"[a-z]+", kind):
            raise UsageError(f"opt-out kind must be lower-case letters, got {kind!r}")
        scalar = np.ndim(values) == 0
        b = np.atleast_1d(np.asarray(values, dtype=object)).astype(str)
        sql = hmac_sql(f"'{kind}:' || trim(value)")
        out = self._keyed(sql, pa.table({"value": b}))
        return str(out[0]) if scalar else out

    # ------------------------------------------------------------------ write helpers

    def _phase(self, name: str) -> None:
        if self._on_phase is not None:
            self._on_phase(name)

    def _require_writable(self) -> None:
        if self.read_only:
            raise UsageError(f"the store {self.path} was opened read-only")

    def _next_id(self, table: str, col: str) -> int:
        return int(
            self.con.execute(f"SELECT coalesce(max({col}), 0) + 1 FROM {table}").fetchall()[0][0]
        )

    def _audit(
        self,
        action: str,
        outcome: str,
        rows: int | None = None,
        survey: str | None = None,
        month: str | None = None,
        file_name: str | None = None,
        sha: str | None = None,
        detail: str | None = None,
    ) -> None:
        self.con.execute(
            "INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                self._next_id("audit", "entry_id"),
                _now(),
                action,
                outcome,
                survey,
                month,
                rows,
                file_name,
                sha,
                detail,
            ],
        )

    def _refused(self, action: str, exc: Exception, survey=None, month=None, source=None) -> None:
        """Record a refusal in the audit log (its own tiny transaction)."""
        if self.read_only or self._closed:
            return
        name = Path(str(source)).name if isinstance(source, str | Path) else None
        rows = getattr(exc, "n_rows", None) or None
        try:
            self._audit(action, "refused", rows, survey, month, name, None, str(exc)[:4000])
        except Exception:  # noqa: BLE001 - the refusal itself must reach the user
            pass

    def _transaction(self, body: Callable[[], None]) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            self._phase("writing")
            body()
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        self._phase("committed")
        try:
            con.execute("CHECKPOINT")
        except Exception:  # noqa: BLE001 - data is committed; the WAL will be folded in later
            pass

    def _cross_problem(self, checked: Checked, sql: str, params: dict, rule: str, column: str):
        res = self.con.execute(
            f"SELECT _row, count(*) OVER () FROM ({sql}) ORDER BY _row LIMIT 20", params
        ).fetchall()
        if not res:
            return None
        return checked.raw.problem(rule, column, [r[0] for r in res], res[0][1])

    def _fail(self, checked: Checked, problems: list, what: str) -> None:
        problems = [p for p in problems if p is not None]
        if problems:
            raise IngestError(problems, checked.raw.name, what)

    # ------------------------------------------------------------------ ingest: victims

    def ingest_victims(self, file: Any, month: str, replace: bool = False) -> dict:
        """Validate and load a monthly victim extract (DATA_CONTRACT.md section 1).

        Arguments:
            file: CSV or Parquet path (or a DataFrame / pyarrow Table of the same columns).
            month: ``YYYY-MM`` the extract covers; every reported_date must fall inside it.
            replace: swap an already loaded month atomically; without it a second load of
                the same month is refused.

        Returns:
            ``{"month", "rows", "replaced", "sha256", "dropped_sampled_cases"}``;
            ``dropped_sampled_cases`` counts sampled cases (and their responses) of that month
            that the new extract no longer contains (only possible with ``replace``).

        Raises:
            ValidationError: a contract rule is broken (nothing written).
            InputRefused: the month is already loaded, or the file cannot be read.

        Notes:
            A (crime_ref, victim_id) already loaded under another month is refused: each case
            belongs to one month.
        """
        self._require_writable()
        month = _check_month(month)
        try:
            return self._ingest_victims(file, month, replace)
        except InputRefused as exc:
            self._refused("ingest_victims", exc, month=month, source=file)
            raise

    def _ingest_victims(self, file: Any, month: str, replace: bool) -> dict:
        con = self.con
        found = con.execute(
            "SELECT rows, file_name, loaded_at FROM months WHERE month = ?", [month]
        ).fetchall()
        prev = found[0] if found else None
        if prev is not None and not replace:
            raise IngestError(
                [
                    Problem(
                        f"month {month} is already loaded ({prev[0]} rows from {prev[1]}, "
                        f"at {prev[2]:%Y-%m-%d %H:%M} UTC): loading it twice is refused; use "
                        "--replace (replace=True) to swap it for this file"
                    )
                ],
                _name(file),
                "victim extract",
            )
        checked = check_victims(con, file, month, self.secret, self.today)
        clean = checked.clean
        con.register(_CLEAN, clean)
        try:
            other = con.execute(
                f"SELECT string_agg(DISTINCT v.month, ', ' ORDER BY v.month) FROM {_CLEAN} c "
                "JOIN victims v USING (case_id) WHERE v.month <> $m",
                {"m": month},
            ).fetchall()[0][0]
            problems = []
            if other:
                problems.append(
                    self._cross_problem(
                        checked,
                        f"SELECT c._row FROM {_CLEAN} c JOIN victims v USING (case_id) "
                        "WHERE v.month <> $m",
                        {"m": month},
                        f"this (crime_ref, victim_id) is already loaded under month(s) {other}: "
                        "each case belongs to the month it was reported",
                        "crime_ref",
                    )
                )
            self._fail(checked, problems, "victim extract")
            orphans = con.sql(
                f"SELECT survey, case_id FROM samples WHERE month = $m AND case_id NOT IN "
                f"(SELECT case_id FROM {_CLEAN})",
                params={"m": month},
            ).to_arrow_table()
            self._phase("validated")
            load_id = self._next_id("loads", "load_id")
            now = _now()
            flags = ", ".join(VICTIM_FLAG_COLUMNS)

            def body() -> None:
                if prev is not None:
                    self._drop_cases(orphans)
                    con.execute("DELETE FROM victims WHERE month = ?", [month])
                    con.execute("DELETE FROM personal WHERE month = ?", [month])
                    con.execute("DELETE FROM months WHERE month = ?", [month])
                con.execute(
                    f"""INSERT INTO victims SELECT case_id, person_id, month, _row,
                        offence_group, reported_date, age, gender, ethnicity, district, {flags},
                        {load_id} FROM {_CLEAN}"""
                )
                con.execute(
                    f"""INSERT INTO personal SELECT case_id, month, crime_ref, victim_id, name,
                        phone, email, address FROM {_CLEAN}"""
                )
                con.execute(
                    "INSERT INTO months VALUES (?, ?, ?, ?, ?, ?, ?)",
                    [
                        month,
                        checked.rows,
                        checked.raw.name,
                        checked.raw.sha256,
                        checked.raw.fmt,
                        now,
                        load_id,
                    ],
                )
                self._record_load(load_id, "victims", None, month, checked, prev is not None, now)
                detail = f"{len(checked.raw.extra_columns)} extra column(s) ignored"
                if orphans.num_rows:
                    detail += (
                        f"; {orphans.num_rows} sampled case(s) absent from the new extract "
                        "dropped with their responses"
                    )
                self._audit(
                    "replace_victims" if prev is not None else "ingest_victims",
                    "ok",
                    checked.rows,
                    None,
                    month,
                    checked.raw.name,
                    checked.raw.sha256,
                    detail,
                )

            self._transaction(body)
        finally:
            con.unregister(_CLEAN)
        if orphans.num_rows:
            import warnings

            warnings.warn(
                f"replacing {month}: {orphans.num_rows} sampled case(s) are not in the new "
                "extract; they were dropped from their samples together with their responses",
                stacklevel=3,
            )
        return {
            "month": month,
            "rows": checked.rows,
            "replaced": prev is not None,
            "sha256": checked.raw.sha256,
            "dropped_sampled_cases": orphans.num_rows,
        }

    def _drop_cases(self, cases: pa.Table) -> None:
        """Delete sampled cases ``(survey, case_id)`` with their responses (in a transaction)."""
        if not cases.num_rows:
            return
        self.con.register("_vsw_drop", cases)
        try:
            for table in ("response_comments", "responses", "samples"):
                self.con.execute(
                    f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM _vsw_drop d "
                    "WHERE d.survey = t.survey AND d.case_id = t.case_id)"
                )
        finally:
            self.con.unregister("_vsw_drop")

    def _record_load(self, load_id, kind, survey, month, checked: Checked, replaced, now) -> None:
        self.con.execute(
            "INSERT INTO loads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                load_id,
                kind,
                survey,
                month,
                checked.rows,
                checked.raw.name,
                checked.raw.sha256,
                checked.raw.fmt,
                replaced,
                now,
            ],
        )

    # ------------------------------------------------------------------ ingest: samples

    def ingest_sample(
        self, file_or_df: Any, survey: str, month: str, replace: bool = False
    ) -> dict:
        """Record which cases ``survey`` sampled among ``month``'s victims.

        Arguments:
            file_or_df: CSV/Parquet path or DataFrame with ``crime_ref, victim_id,
                inclusion_prob`` (0 < p <= 1) and optionally ``stratum``.
            survey: survey name (lower-case identifier, e.g. ``burglary``).
            month: ``YYYY-MM``; the month's victims must be loaded and hold every key.
            replace: swap an existing sample of the same survey and month.

        Returns:
            ``{"survey", "month", "rows", "replaced", "dropped_responses"}``.
        """
        self._require_writable()
        survey, month = _check_survey(survey), _check_month(month)
        try:
            return self._ingest_sample(file_or_df, survey, month, replace)
        except InputRefused as exc:
            self._refused("ingest_sample", exc, survey=survey, month=month, source=file_or_df)
            raise

    def _ingest_sample(self, src: Any, survey: str, month: str, replace: bool) -> dict:
        con = self.con
        what = "sample"
        loaded = con.execute("SELECT count(*) FROM months WHERE month = ?", [month]).fetchall()[0][
            0
        ]
        if not loaded:
            raise IngestError(
                [Problem(f"no victims are loaded for {month}: ingest that month's extract first")],
                _name(src),
                what,
            )
        prev = con.execute(
            "SELECT count(*) FROM samples WHERE survey = ? AND month = ?", [survey, month]
        ).fetchall()[0][0]
        if prev and not replace:
            raise IngestError(
                [
                    Problem(
                        f"a sample of {prev} cases is already recorded for survey {survey}, "
                        f"{month}: use replace=True to swap it"
                    )
                ],
                _name(src),
                what,
            )
        checked = check_sample(con, src, survey, month, self.secret)
        con.register(_CLEAN, checked.clean)
        try:
            p = self._cross_problem(
                checked,
                f"SELECT _row FROM {_CLEAN} c WHERE NOT EXISTS (SELECT 1 FROM victims v "
                "WHERE v.case_id = c.case_id AND v.month = $m)",
                {"m": month},
                f"no victim with this (crime_ref, victim_id) is loaded for {month}: a sample "
                "must be drawn from that month's victims",
                "crime_ref",
            )
            self._fail(checked, [p], what)
            orphans = con.sql(
                f"SELECT survey, case_id FROM samples WHERE survey = $s AND month = $m AND "
                f"case_id NOT IN (SELECT case_id FROM {_CLEAN})",
                params={"s": survey, "m": month},
            ).to_arrow_table()
            n_resp = 0
            if orphans.num_rows:
                con.register("_vsw_o", orphans)
                n_resp = con.execute(
                    "SELECT count(*) FROM responses r JOIN _vsw_o o USING (survey, case_id)"
                ).fetchall()[0][0]
                con.unregister("_vsw_o")
            self._phase("validated")
            load_id = self._next_id("loads", "load_id")
            now = _now()

            def body() -> None:
                if prev:
                    self._drop_cases(orphans)
                    con.execute(
                        "DELETE FROM samples WHERE survey = ? AND month = ?", [survey, month]
                    )
                con.execute(
                    f"INSERT INTO samples SELECT survey, month, case_id, _row, inclusion_prob, "
                    f"stratum, {load_id} FROM {_CLEAN}"
                )
                self._record_load(load_id, "sample", survey, month, checked, bool(prev), now)
                detail = f"{n_resp} response(s) of dropped cases removed" if n_resp else None
                self._audit(
                    "replace_sample" if prev else "ingest_sample",
                    "ok",
                    checked.rows,
                    survey,
                    month,
                    checked.raw.name,
                    checked.raw.sha256,
                    detail,
                )

            self._transaction(body)
        finally:
            con.unregister(_CLEAN)
        if n_resp:
            import warnings

            warnings.warn(
                f"replacing the {survey} sample of {month}: {n_resp} response(s) of cases no "
                "longer sampled were removed",
                stacklevel=3,
            )
        return {
            "survey": survey,
            "month": month,
            "rows": checked.rows,
            "replaced": bool(prev),
            "dropped_responses": int(n_resp),
        }

    # ------------------------------------------------------------------ ingest: responses

    def ingest_responses(self, file: Any, survey: str, replace: bool = False) -> dict:
        """Validate and load survey responses (DATA_CONTRACT.md section 2).

        Arguments:
            file: CSV/Parquet path or DataFrame.
            survey: survey name; every (crime_ref, victim_id) must be a sampled case of it.
            replace: let this file's rows replace responses already loaded for the same
                cases (others are kept); without it such rows are refused.

        Returns:
            ``{"survey", "rows", "replaced" (number of responses swapped), "months"}``.
        """
        self._require_writable()
        survey = _check_survey(survey)
        try:
            return self._ingest_responses(file, survey, replace)
        except InputRefused as exc:
            self._refused("ingest_responses", exc, survey=survey, source=file)
            raise

    def _ingest_responses(self, file: Any, survey: str, replace: bool) -> dict:
        con = self.con
        what = "responses file"
        if not con.execute("SELECT count(*) FROM samples WHERE survey = ?", [survey]).fetchall()[0][
            0
        ]:
            raise IngestError(
                [
                    Problem(
                        f"no sample is recorded for survey {survey}: responses must match "
                        "sampled cases (ingest the sample first)"
                    )
                ],
                _name(file),
                what,
            )
        checked = check_responses(con, file, survey, self.secret, self.today)
        con.register(_CLEAN, checked.clean)
        try:
            problems = [
                self._cross_problem(
                    checked,
                    f"SELECT _row FROM {_CLEAN} c WHERE NOT EXISTS (SELECT 1 FROM samples s "
                    "WHERE s.survey = $s AND s.case_id = c.case_id)",
                    {"s": survey},
                    f"this (crime_ref, victim_id) is not a sampled case of survey {survey}",
                    "crime_ref",
                ),
                self._cross_problem(
                    checked,
                    f"SELECT c._row FROM {_CLEAN} c JOIN victims v USING (case_id) "
                    "WHERE c.interview_date < v.reported_date",
                    {},
                    "interview_date is before the crime was reported (the victim's reported_date)",
                    "interview_date",
                ),
            ]
            if not replace:
                problems.append(
                    self._cross_problem(
                        checked,
                        f"SELECT _row FROM {_CLEAN} c WHERE EXISTS (SELECT 1 FROM responses r "
                        "WHERE r.survey = $s AND r.case_id = c.case_id)",
                        {"s": survey},
                        "a response is already loaded for this case: use replace=True to swap it",
                        "crime_ref",
                    )
                )
            self._fail(checked, problems, what)
            n_swap = con.execute(
                f"SELECT count(*) FROM responses r JOIN {_CLEAN} c USING (survey, case_id)"
            ).fetchall()[0][0]
            months = [
                r[0]
                for r in con.execute(
                    f"SELECT DISTINCT s.month FROM {_CLEAN} c JOIN samples s "
                    "USING (survey, case_id) ORDER BY 1"
                ).fetchall()
            ]
            self._phase("validated")
            load_id = self._next_id("loads", "load_id")
            now = _now()
            stages = ", ".join(STAGES)

            def body() -> None:
                if n_swap:
                    for table in ("response_comments", "responses"):
                        con.execute(
                            f"DELETE FROM {table} t WHERE EXISTS (SELECT 1 FROM {_CLEAN} c "
                            "WHERE c.survey = t.survey AND c.case_id = t.case_id)"
                        )
                con.execute(
                    f"INSERT INTO responses SELECT survey, case_id, _row, mode, disposition, "
                    f"interview_date, {stages}, {load_id} FROM {_CLEAN}"
                )
                con.execute(
                    f"INSERT INTO response_comments SELECT survey, case_id, comment "
                    f"FROM {_CLEAN} WHERE comment IS NOT NULL"
                )
                self._record_load(load_id, "responses", survey, None, checked, bool(n_swap), now)
                self._audit(
                    "replace_responses" if n_swap else "ingest_responses",
                    "ok",
                    checked.rows,
                    survey,
                    ",".join(months) or None,
                    checked.raw.name,
                    checked.raw.sha256,
                    f"{n_swap} existing response(s) replaced" if n_swap else None,
                )

            self._transaction(body)
        finally:
            con.unregister(_CLEAN)
        return {"survey": survey, "rows": checked.rows, "replaced": int(n_swap), "months": months}

    # ------------------------------------------------------------------ opt-out register

    def add_optout_hashes(self, hashes: Iterable[str], source: str | None = None) -> int:
        """Add keyed hashes (see :meth:`optout_hash`) to the opt-out register.

        Arguments:
            hashes: lower-case hex strings, 32 to 64 digits; duplicates are ignored.
            source: where the list came from (a file name), for the audit log.

        Returns:
            how many hashes were new.
        """
        self._require_writable()
        items = [str(h).strip().lower() for h in hashes]
        bad = [i + 1 for i, h in enumerate(items) if not _HASH.fullmatch(h)]
        if bad:
            exc = ValidationError(
                "opt-out entries must be keyed hashes (32-64 hex digits), never raw "
                "identifiers: hash them with Store.optout_hash",
                "hash",
                bad,
            )
            self._refused("add_optout", exc, source=source)
            raise exc
        table = pa.table({"hash": pa.array(sorted(set(items)), pa.string())})
        con = self.con
        con.register("_vsw_h", table)
        try:
            new = con.execute(
                "SELECT count(*) FROM _vsw_h WHERE hash NOT IN (SELECT hash FROM optout)"
            ).fetchall()[0][0]
            now = _now()

            def body() -> None:
                con.execute(
                    "INSERT INTO optout SELECT hash, ? FROM _vsw_h "
                    "WHERE hash NOT IN (SELECT hash FROM optout)",
                    [now],
                )
                self._audit(
                    "add_optout",
                    "ok",
                    int(new),
                    file_name=source,
                    detail=f"{len(items)} given, {new} new",
                )

            self._transaction(body)
        finally:
            con.unregister("_vsw_h")
        return int(new)

    def optout_count(self) -> int:
        """Number of entries in the opt-out register."""
        return int(self.con.execute("SELECT count(*) FROM optout").fetchall()[0][0])

    # ------------------------------------------------------------------ reading

    def _df(self, sql: str, params: Any = None) -> pd.DataFrame:
        return self.con.execute(sql, params or []).df()

    def loaded_months(self) -> list[str]:
        """Months loaded, in order."""
        return [
            r[0] for r in self.con.execute("SELECT month FROM months ORDER BY month").fetchall()
        ]

    def status(self) -> dict:
        """What the store holds (JSON-friendly).

        Returns:
            ``{"store", "months": [{month, rows, file, sha256, loaded_at}], "samples":
            [{survey, month, rows}], "responses": [{survey, rows, interviews}], "optouts",
            "audit_entries", "refusals"}``.
        """
        con = self.con
        months = [
            {"month": m, "rows": int(n), "file": f, "sha256": s, "loaded_at": str(t)}
            for m, n, f, s, t in con.execute(
                "SELECT month, rows, file_name, file_sha256, loaded_at FROM months ORDER BY month"
            ).fetchall()
        ]
        samples = [
            {"survey": s, "month": m, "rows": int(n)}
            for s, m, n in con.execute(
                "SELECT survey, month, count(*) FROM samples GROUP BY ALL ORDER BY 1, 2"
            ).fetchall()
        ]
        responses = [
            {"survey": s, "rows": int(n), "interviews": int(k)}
            for s, n, k in con.execute(
                "SELECT survey, count(*), count_if(starts_with(disposition, '1.')) "
                "FROM responses GROUP BY ALL ORDER BY 1"
            ).fetchall()
        ]
        n_audit, n_refused = con.execute(
            "SELECT count(*), count_if(outcome = 'refused') FROM audit"
        ).fetchall()[0]
        return {
            "store": self.path,
            "months": months,
            "samples": samples,
            "responses": responses,
            "optouts": self.optout_count(),
            "audit_entries": int(n_audit),
            "refusals": int(n_refused),
        }

    def victims(self, months: str | Iterable[str] | None = None, personal: bool = False):
        """The victims frame: analysis columns keyed by ``case_id``, in file order per month.

        Arguments:
            months: a month or list of months (default: all).
            personal: also return crime_ref, victim_id, name, phone, email and address. Only
                the contractor extract may ask for this.

        Returns:
            pandas DataFrame with :data:`ANALYSIS_COLUMNS` (+ :data:`PERSONAL_COLUMNS`).
        """
        ms = _months_list(months)
        cols = ", ".join(f"v.{c}" for c in ANALYSIS_COLUMNS)
        join = ""
        if personal:
            cols += ", " + ", ".join(f"p.{c}" for c in PERSONAL_COLUMNS)
            join = "LEFT JOIN personal p USING (case_id)"
        where = "" if ms is None else "WHERE v.month IN (SELECT unnest($ms::VARCHAR[]))"
        return self._df(
            f"SELECT {cols} FROM victims v {join} {where} ORDER BY v.month, v.row_no",
            {"ms": ms} if ms is not None else None,
        )

    def sample(self, survey: str, month: str) -> pd.DataFrame:
        """The cases ``survey`` sampled in ``month`` (``case_id, inclusion_prob, stratum``)."""
        survey, month = _check_survey(survey), _check_month(month)
        return self._df(
            "SELECT survey, month, case_id, inclusion_prob, stratum FROM samples "
            "WHERE survey = ? AND month = ? ORDER BY row_no",
            [survey, month],
        )

    def responses(
        self,
        survey: str | None = None,
        months: str | Iterable[str] | None = None,
        comments: bool = False,
    ) -> pd.DataFrame:
        """Responses joined with their sample and the victim profile; no personal data.

        Arguments:
            survey: one survey (default: all).
            months: sample month(s) (default: all).
            comments: add the free-text ``comment`` column (may hold personal data: redact it
                before any report shows it).

        Returns:
            DataFrame with ``survey, case_id, month, inclusion_prob, stratum, mode,
            disposition, interview_date``, the five stages, ``offence_group, age, gender,
            ethnicity, district, reported_date`` (+ ``comment``).
        """
        ms = _months_list(months)
        conds, params = [], {}
        if survey is not None:
            conds.append("r.survey = $s")
            params["s"] = _check_survey(survey)
        if ms is not None:
            conds.append("s.month IN (SELECT unnest($ms::VARCHAR[]))")
            params["ms"] = ms
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        stages = ", ".join(f"r.{s}" for s in STAGES)
        extra, join = "", ""
        if comments:
            extra = ", c.comment"
            join = "LEFT JOIN response_comments c ON c.survey = r.survey AND c.case_id = r.case_id"
        return self._df(
            f"""SELECT r.survey, r.case_id, s.month, s.inclusion_prob, s.stratum, r.mode,
                       r.disposition, r.interview_date, {stages}, v.offence_group, v.age,
                       v.gender, v.ethnicity, v.district, v.reported_date{extra}
                FROM responses r
                JOIN samples s ON s.survey = r.survey AND s.case_id = r.case_id
                JOIN victims v ON v.case_id = r.case_id {join}
                {where}
                ORDER BY r.survey, s.month, s.row_no""",
            params,
        )

    def audit(
        self, action: str | None = None, outcome: str | None = None, limit: int | None = None
    ) -> pd.DataFrame:
        """The audit log, oldest first (optionally one action / outcome, last ``limit``)."""
        conds, params = [], []
        if action is not None:
            conds.append("action = ?")
            params.append(action)
        if outcome is not None:
            conds.append("outcome = ?")
            params.append(outcome)
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        sql = f"SELECT * FROM audit {where} ORDER BY entry_id"
        if limit is not None:
            sql = f"SELECT * FROM (SELECT * FROM audit {where} ORDER BY entry_id DESC LIMIT {int(limit)}) ORDER BY entry_id"
        return self._df(sql, params)

    def input_hashes(self, month: str) -> dict[str, str]:
        """SHA-256 of every input behind ``month``: its extract, samples and responses files.

        Returns:
            ``{label: sha256}``, e.g. ``{"victims 2025-01 (victims_2025-01.csv)": "ab12..."}``;
            in-memory inputs (DataFrames) have no hash and are left out.
        """
        month = _check_month(month)
        rows = self.con.execute(
            """
            SELECT 'victims ' || month || ' (' || file_name || ')', file_sha256
              FROM months WHERE month = $m
            UNION ALL
            SELECT DISTINCT 'sample ' || l.survey || ' ' || l.month || ' (' || l.file_name || ')',
                   l.file_sha256
              FROM loads l WHERE l.kind = 'sample' AND l.month = $m
               AND l.load_id IN (SELECT load_id FROM samples)
            UNION ALL
            SELECT DISTINCT 'responses ' || l.survey || ' (' || l.file_name || ')', l.file_sha256
              FROM loads l WHERE l.kind = 'responses' AND l.load_id IN (
                   SELECT r.load_id FROM responses r JOIN samples s USING (survey, case_id)
                    WHERE s.month = $m)
            ORDER BY 1
            """,
            {"m": month},
        ).fetchall()
        return {k: s for k, s in rows if s is not None}

    def table_digests(self) -> dict[str, str]:
        """SHA-256 of each table's rows in sorted order: a fingerprint of the store's contents.

        Used by the tests to prove a refused or killed ingest changed nothing.
        """
        out = {}
        for t in TABLES:
            # each row rendered as text by DuckDB, rows sorted: independent of storage layout
            n, digest = self.con.execute(
                f"SELECT count(*), sha256(coalesce(string_agg(r, chr(10) ORDER BY r), '')) "
                f"FROM (SELECT CAST(x AS VARCHAR) AS r FROM {t} AS x)"
            ).fetchall()[0]
            out[t] = f"{n}:{digest}"
        return out


def _name(src: Any) -> str:
    if isinstance(src, str | Path):
        return Path(src).name
    return f"<{type(src).__name__}>"


__all__: Sequence[str] = ("Store", "TABLES", "ANALYSIS_COLUMNS", "PERSONAL_COLUMNS")
