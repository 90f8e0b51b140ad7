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

Every ingest reads and validates everything first (:mod:`methods.readers`,
:mod:`methods.validation`, :mod:`methods.ingest`), then writes in one transaction
(:mod:`methods.store_ingest`); any error leaves the data tables unchanged (a refusal adds one
line to ``audit``). DuckDB's write-ahead log makes a commit atomic, so a process killed at any
point leaves either the old or the new state, never a mixture (``tests/test_ingest_kill.py``).

No primary-key constraints are declared: uniqueness of ``case_id`` is enforced by validation
(within a file and against other months), which also avoids DuckDB's restrictions on deleting
and re-inserting the same key in one transaction. ``case_id`` values depend on the store's own
secret, so two stores built from the same files hold different pseudonyms; readers return rows
in file order (``row_no``), never in pseudonym order, so results do not depend on the key.

The secret lives in the same file as the personal data it pseudonymises: the pseudonyms protect
the analysis tables and everything derived from them, not the file itself.
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

from methods.errors import InputRefused, UsageError
from methods.ingest import (
    CASE_ID_SQL,
    PERSON_ID_SQL,
    STAGES,
    VICTIM_FLAG_COLUMNS,
    hmac_pads,
    hmac_sql,
)
from methods.store_ingest import IngestMixin, check_month, check_survey, utc_now

SCHEMA_VERSION = 1
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


def _months_list(months: str | Iterable[str] | None) -> list[str] | None:
    if months is None:
        return None
    if isinstance(months, str):
        months = [months]
    return [check_month(m) for m in months]


class Store(IngestMixin):
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
        try:
            self.con.execute("SET enable_progress_bar = false")
        except duckdb.Error:  # inside Jupyter DuckDB refuses the setting without ipywidgets
            pass
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
                    "INSERT INTO meta VALUES ('created_at', ?)", [utc_now().isoformat().encode()]
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
        survey, month = check_survey(survey), check_month(month)
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
            params["s"] = check_survey(survey)
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
        month = check_month(month)
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


__all__: Sequence[str] = ("Store", "TABLES", "ANALYSIS_COLUMNS", "PERSONAL_COLUMNS")
