"""The DuckDB store: validated, transactional ingest; pseudonymised analysis tables; audit log.

A file holds one or several forces' data side by side: each loaded month records its force, and
several forces may hold the same month (each read names the force it wants when the store holds
more than one for the months asked; :meth:`Store.require_force`). Tables (schema version 3):

``meta``              key/value: the store's secret pseudonym key, schema version, created_at.
``victims``           analysis columns, keyed by ``case_id`` (keyed pseudonym of crime_ref +
                      victim_id) with ``person_id`` (keyed pseudonym of victim_id) and ``month``.
``personal``          crime_ref, victim_id, name, phone, email, address, keyed by ``case_id``,
                      with ``month`` so that a retention purge can delete it month by month.
``months``            months loaded, one row per (force, month): rows, file name, file SHA-256,
                      loaded_at, load_id (the ``victims`` rows it loaded), and the force whose
                      extract it is (NULL: not attributed; :meth:`Store.require_force`).
``samples``           which cases each survey sampled each month, with inclusion probabilities,
                      and the force whose victims they are.
``responses``         final dispositions and answers, keyed by (survey, case_id).
``response_comments`` free-text comments (may hold personal data), kept apart; replaced by
                      their redacted text when the retention purge destroys the contact details.
``optout``            opt-out register: keyed hashes only.
``loads``             every successful load (kind, survey, month, rows, file SHA-256).
``audit``             every ingest, replace, drawn sample, purge and refusal: what, how many
                      rows, when. Never personal data: refusal messages are built not to
                      quote it.

Every ingest reads and validates everything first (:mod:`methods.data.readers`,
:mod:`methods.data.validation`, :mod:`methods.data.ingest`), then writes in one transaction
(:mod:`methods.data.store_ingest`); any error leaves the data tables unchanged (a refusal adds one
line to ``audit``). DuckDB's write-ahead log makes a commit atomic, so a process killed at any
point leaves either the old or the new state, never a mixture (``tests/test_ingest_kill.py``).

No primary-key constraints are declared: uniqueness of ``case_id`` is enforced by validation
(within a file and against other months), which also avoids DuckDB's restrictions on deleting
and re-inserting the same key in one transaction. ``case_id`` values depend on the store's own
secret, so two stores built from the same files hold different pseudonyms; readers return rows
in file order (``row_no``), never in pseudonym order, so results do not depend on the key.

Samples drawn in-process (``vsw sample``) are recorded by :meth:`Store.record_sample`; the
retention purge (:meth:`Store.purge_personal`) deletes the ``personal`` rows of closed months,
replaces their free-text ``response_comments`` by the redacted text, and rewrites the file (:meth:`Store.compact`) so the
deleted bytes do not linger in free blocks.

The secret lives in the same file as the personal data it pseudonymises: the pseudonyms protect
the analysis tables and everything derived from them, not the file itself.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import secrets as _secrets
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

from methods.comments.redact import redact
from methods.config.presets import ForcePreset, list_forces, load_force
from methods.core.errors import InputRefused, UsageError, ValidationError
from methods.data.ingest import (
    CASE_ID_SQL,
    PERSON_ID_SQL,
    STAGES,
    VICTIM_FLAG_COLUMNS,
    hmac_pads,
    hmac_sql,
)
from methods.data.store_ingest import (
    IngestMixin,
    check_month,
    check_survey,
    of_force,
    stored_force_name,
    utc_now,
)

SCHEMA_VERSION = 3
#: Schema versions a writable open upgrades in place: 1 -> 2 adds ``months.force`` (NULL for
#: the months already loaded: they must be reloaded with their force before reports use them);
#: 2 -> 3 adds ``samples.force`` (filled from the month's force: a version-2 month held one).
_UPGRADABLE = (1, 2)
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
        file_format VARCHAR, loaded_at TIMESTAMP NOT NULL, load_id BIGINT NOT NULL,
        force VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS samples (
        survey VARCHAR NOT NULL, month VARCHAR NOT NULL, case_id VARCHAR NOT NULL,
        row_no BIGINT NOT NULL, inclusion_prob DOUBLE NOT NULL, stratum VARCHAR,
        load_id BIGINT NOT NULL, force VARCHAR)""",
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


def _same_references(force: Any, held: str) -> bool:
    """A user's preset (not built in) with the crime reference rule of built-in ``held``."""
    if not isinstance(force, ForcePreset) or force.name in list_forces():
        return False
    if held not in list_forces():
        return False
    ref = load_force(held)
    return (force.crime_ref_prefix, force.crime_ref_pattern) == (
        ref.crime_ref_prefix,
        ref.crime_ref_pattern,
    )


def _month_force_conditions(
    ms: list[str] | None, force: str | None, month_col: str, force_cond: str
) -> tuple[list[str], dict]:
    """SQL conditions (and parameters ``$ms``, ``$f``) keeping months ``ms`` and ``force``."""
    conds, params = [], {}
    if ms is not None:
        conds.append(f"{month_col} IN (SELECT unnest($ms::VARCHAR[]))")
        params["ms"] = ms
    if force is not None:
        conds.append(force_cond)
        params["f"] = force
    return conds, params


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
        file: a second writer gets a clear :class:`~methods.core.errors.InputRefused`.
    """

    def __init__(
        self, path: str | Path, read_only: bool = False, today: dt.date | None = None
    ) -> None:

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
            self._upgrade_schema()
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

    def _version(self) -> int | None:
        try:
            row = self.con.execute(
                "SELECT value FROM meta WHERE key = 'schema_version'"
            ).fetchall()[0]
        except Exception:  # noqa: BLE001 - any catalog error means "not our store"
            return None
        return int(bytes(row[0]).decode())

    def _upgrade_schema(self) -> None:
        """Upgrade a version-1 or -2 store in place (one transaction): add ``months.force``
        (version 1) and ``samples.force`` (versions 1 and 2, filled from the month's force)."""
        version = self._version()
        if version not in _UPGRADABLE:
            return
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            if version == 1:
                con.execute("ALTER TABLE months ADD COLUMN force VARCHAR")
            con.execute("ALTER TABLE samples ADD COLUMN force VARCHAR")
            # a version-2 store held one force's extract per month
            con.execute(
                "UPDATE samples SET force = m.force FROM months m WHERE samples.month = m.month"
            )
            con.execute(
                "UPDATE meta SET value = ? WHERE key = 'schema_version'",
                [str(SCHEMA_VERSION).encode()],
            )
            self._audit(
                "upgrade_store",
                "ok",
                None,
                None,
                None,
                None,
                None,
                f"schema {version} -> {SCHEMA_VERSION}: months and samples record their force"
                + (
                    "; the months already loaded have none until they are reloaded with "
                    "--replace and their force"
                    if version == 1
                    else ""
                ),
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
        if version in _UPGRADABLE and self.read_only:
            raise InputRefused(
                f"{self.path} has store schema version {version}, which does not record whose "
                f"data each month{' and sample' if version == 2 else ''} is; open it once for "
                f"writing (any `vsw ingest`) to upgrade it to version {SCHEMA_VERSION}, or "
                "rebuild the store"
            )
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

    def loaded_months(self, force: Any = None) -> list[str]:
        """Months loaded (for any force, or for ``force``: preset or name), in order."""
        f = stored_force_name(force)
        return [
            r[0]
            for r in self.con.execute(
                "SELECT DISTINCT month FROM months WHERE $f IS NULL OR force = $f ORDER BY month",
                {"f": f},
            ).fetchall()
        ]

    def _read_force(self, months: list[str] | None, force: Any) -> str | None:
        """The force a read keeps: ``force`` by name, or ``None`` (no filter) when the months
        read hold one force's data; refused when they hold several and none is named."""
        f = stored_force_name(force)
        if f is not None:
            return f
        held = [
            r[0]
            for r in self.con.execute(
                "SELECT DISTINCT coalesce(force, '') FROM months WHERE $ms IS NULL OR month IN "
                "(SELECT unnest($ms::VARCHAR[])) ORDER BY 1",
                {"ms": months},
            ).fetchall()
        ]
        if len(held) > 1:
            what = "" if months is None else f" for {', '.join(months)}"
            names = ", ".join(h or "no recorded force" for h in held)
            raise UsageError(
                f"the store holds several forces' data{what} ({names}): name the force to "
                "read (force=...)"
            )
        return None

    def forces(self) -> dict[str, list[str]]:
        """Months held by each force, ``{force: [months]}``; months loaded without a force
        are listed under ``""``."""
        out: dict[str, list[str]] = {}
        for f, m in self.con.execute(
            "SELECT DISTINCT coalesce(force, ''), month FROM months ORDER BY 1, 2"
        ).fetchall():
            out.setdefault(f, []).append(m)
        return out

    def require_force(self, force: Any, month: str) -> str:
        """Refuse to use ``month`` for ``force`` unless the store holds that force's data.

        The one check behind ``vsw report``, ``vsw sample`` and the monthly report notebook:
        a report or sample labelled with one force but built from another force's victims is
        refused (issue 17: Durham's demo store reported as Kent).

        Arguments:
            force: preset name (any case) or a preset (its ``name``). A user's own preset
                (:func:`methods.config.presets.load_force_file`, a name that is not built in)
                is accepted for a month of a built-in force whose crime reference rule
                (prefix and pattern) it shares: that rule is all the store knows of the
                extract's origin.
            month: ``YYYY-MM``.

        Returns:
            the force name as stored.

        Raises:
            InputRefused: ``month`` is not loaded, was loaded without a force, or holds
                another force's extract; the message names the force, the month and the
                forces the store holds (with their months).
        """
        month = check_month(month)
        name = stored_force_name(force)
        if name is None:
            raise UsageError("force must be a preset name, got None")
        have = [
            r[0]
            for r in self.con.execute(
                "SELECT force FROM months WHERE month = ? ORDER BY force NULLS LAST", [month]
            ).fetchall()
        ]
        held = self._forces_text()
        where = f"the store {self.path} holds: {held}"
        if not have:
            raise InputRefused(
                f"no victims of {name} for {month}: the month is not loaded; {where}"
            )
        if name in have:
            return name
        same = [h for h in have if h is not None and _same_references(force, h)]
        if len(same) == 1:
            return same[0]
        named = [h for h in have if h is not None]
        if not named:
            raise InputRefused(
                f"{month} is not recorded as {name}'s data (loaded without a force its crime "
                f"references name): reload it with `vsw ingest victims --replace` for {name} "
                f"before reporting or sampling it; {where}"
            )
        whose = " and ".join(f"{h}'s" for h in named)
        raise InputRefused(
            f"{month} holds {whose} victims, not {name}'s: refusing to report or sample "
            f"{name} from another force's data; {where}"
        )

    def _forces_text(self) -> str:
        parts = []
        for f, ms in self.forces().items():
            span = ms[0] if len(ms) == 1 else f"{ms[0]} to {ms[-1]}, {len(ms)} months"
            parts.append(f"{f or 'no recorded force'} ({span})")
        return "; ".join(parts) or "no months"

    def status(self) -> dict:
        """What the store holds (JSON-friendly).

        Returns:
            ``{"store", "months": [{month, rows, file, sha256, loaded_at, force}], "samples":
            [{survey, month, rows, force}], "responses": [{survey, rows, interviews}], "optouts",
            "audit_entries", "refusals"}``.
        """
        con = self.con
        months = [
            {"month": m, "rows": int(n), "file": f, "sha256": s, "loaded_at": str(t), "force": fc}
            for m, n, f, s, t, fc in con.execute(
                "SELECT month, rows, file_name, file_sha256, loaded_at, force FROM months "
                "ORDER BY month, force NULLS FIRST"
            ).fetchall()
        ]
        samples = [
            {"survey": s, "month": m, "rows": int(n), "force": fc}
            for s, m, fc, n in con.execute(
                "SELECT survey, month, force, count(*) FROM samples GROUP BY ALL "
                "ORDER BY 1, 2, 3 NULLS FIRST"
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

    def victims(
        self,
        months: str | Iterable[str] | None = None,
        personal: bool = False,
        force: Any = None,
    ):
        """The victims frame: analysis columns keyed by ``case_id``, in file order per month.

        Arguments:
            months: a month or list of months (default: all).
            personal: also return crime_ref, victim_id, name, phone, email and address. Only
                the contractor extract may ask for this.
            force: one force's victims (preset or name; as :meth:`require_force` returns it).
                Needed when the months read hold several forces' data (else UsageError).

        Returns:
            pandas DataFrame with :data:`ANALYSIS_COLUMNS` (+ :data:`PERSONAL_COLUMNS`).
        """
        ms = _months_list(months)
        f = self._read_force(ms, force)
        cols = ", ".join(f"v.{c}" for c in ANALYSIS_COLUMNS)
        join = ""
        if personal:
            cols += ", " + ", ".join(f"p.{c}" for c in PERSONAL_COLUMNS)
            join = "LEFT JOIN personal p USING (case_id)"
        conds, params = _month_force_conditions(
            ms, f, "v.month", "v.load_id IN (SELECT load_id FROM months WHERE force = $f)"
        )
        where = ("WHERE " + " AND ".join(conds)) if conds else ""
        return self._df(
            f"SELECT {cols} FROM victims v {join} {where} ORDER BY v.month, v.row_no",
            params or None,
        )

    def sample(self, survey: str, month: str, force: Any = None) -> pd.DataFrame:
        """The cases ``survey`` sampled in ``month`` (``case_id, inclusion_prob, stratum``),
        among ``force``'s victims (needed when the month holds several forces' data)."""
        survey, month = check_survey(survey), check_month(month)
        f = self._read_force([month], force)
        return self._df(
            "SELECT survey, month, case_id, inclusion_prob, stratum FROM samples "
            "WHERE survey = $s AND month = $m AND ($f IS NULL OR force = $f) ORDER BY row_no",
            {"s": survey, "m": month, "f": f},
        )

    def responses(
        self,
        survey: str | None = None,
        months: str | Iterable[str] | None = None,
        comments: bool = False,
        force: Any = None,
    ) -> pd.DataFrame:
        """Responses joined with their sample and the victim profile; no personal data.

        Arguments:
            survey: one survey (default: all).
            months: sample month(s) (default: all).
            comments: add the free-text ``comment`` column (may hold personal data: redact it
                before any report shows it; missing once the case's month is purged).
            force: one force's responses (needed when the months read hold several forces').

        Returns:
            DataFrame with ``survey, case_id, month, inclusion_prob, stratum, mode,
            disposition, interview_date``, the five stages, ``offence_group, age, gender,
            ethnicity, district, reported_date`` (+ ``comment``).
        """
        ms = _months_list(months)
        f = self._read_force(ms, force)
        conds, params = _month_force_conditions(ms, f, "s.month", "s.force = $f")
        if survey is not None:
            conds.append("r.survey = $s")
            params["s"] = check_survey(survey)
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

    def input_hashes(self, month: str, force: Any = None) -> dict[str, str]:
        """SHA-256 of every input behind ``month`` (of ``force``, needed when the month holds
        several forces' data): its extract, samples and responses files.

        Returns:
            ``{label: sha256}``, e.g. ``{"victims 2025-01 (victims_2025-01.csv)": "ab12..."}``;
            in-memory inputs (DataFrames) have no hash and are left out.
        """
        month = check_month(month)
        f = self._read_force([month], force)
        rows = self.con.execute(
            """
            SELECT 'victims ' || month || ' (' || file_name || ')', file_sha256
              FROM months WHERE month = $m AND ($f IS NULL OR force = $f)
            UNION ALL
            SELECT DISTINCT 'sample ' || l.survey || ' ' || l.month || ' (' || l.file_name || ')',
                   l.file_sha256
              FROM loads l WHERE l.kind = 'sample' AND l.month = $m
               AND l.load_id IN (SELECT load_id FROM samples WHERE $f IS NULL OR force = $f)
            UNION ALL
            SELECT DISTINCT 'responses ' || l.survey || ' (' || l.file_name || ')', l.file_sha256
              FROM loads l WHERE l.kind = 'responses' AND l.load_id IN (
                   SELECT r.load_id FROM responses r JOIN samples s USING (survey, case_id)
                    WHERE s.month = $m AND ($f IS NULL OR s.force = $f))
            ORDER BY 1
            """,
            {"m": month, "f": f},
        ).fetchall()
        return {k: s for k, s in rows if s is not None}

    # ------------------------------------------------------------------ drawn samples, purge

    def record_sample(
        self,
        sample: pd.DataFrame,
        survey: str,
        month: str,
        replace: bool = False,
        detail: str | None = None,
        force: Any = None,
    ) -> dict:
        """Record a sample drawn in-process (``vsw sample``), keyed by ``case_id``.

        Arguments:
            sample: ``case_id`` (victims of ``month``), ``inclusion_prob`` (0 < p <= 1) and
                optionally ``stratum``; row order is kept.
            survey, month: which sample.
            replace: swap an existing sample of the same survey and month (responses of cases
                no longer sampled are removed, as in :meth:`ingest_sample`).
            detail: what drew it (method, seed, ...), for the audit log.
            force: whose victims were sampled (checked; default: the force of the sampled
                cases, which must all be one force's victims of ``month``).

        Returns:
            ``{"survey", "month", "rows", "replaced", "dropped_responses", "sha256", "force"}``;
            ``sha256`` fingerprints the recorded rows (``case_id,inclusion_prob,stratum``
            as CSV) and stands in for a file hash in report manifests.
        """
        self._require_writable()
        survey, month = check_survey(survey), check_month(month)
        try:
            return self._record_sample(sample, survey, month, replace, detail, force)
        except InputRefused as exc:
            self._refused("draw_sample", exc, survey=survey, month=month)
            raise

    def _record_sample(self, sample, survey, month, replace, detail, force) -> dict:
        con = self.con
        missing = [c for c in ("case_id", "inclusion_prob") if c not in sample.columns]
        if missing:
            raise UsageError(f"a drawn sample needs column(s) {missing}")
        ids = sample["case_id"].astype("str").to_numpy(dtype=object)
        pi = pd.to_numeric(sample["inclusion_prob"], errors="coerce").to_numpy(dtype=float)
        stratum = (
            sample["stratum"].astype("str").to_numpy(dtype=object)
            if "stratum" in sample.columns
            else np.full(len(ids), None, dtype=object)
        )
        bad = np.flatnonzero(~((pi > 0) & (pi <= 1)))
        if bad.size:
            raise ValidationError(
                "inclusion_prob must be in (0, 1]", "inclusion_prob", (bad + 1).tolist()
            )
        dup = np.flatnonzero(pd.Series(ids).duplicated().to_numpy())
        if dup.size:
            raise ValidationError("a case is sampled twice", "case_id", (dup + 1).tolist())
        table = pa.table(
            {
                "case_id": pa.array(ids, pa.string()),
                "row_no": pa.array(np.arange(1, len(ids) + 1), pa.int64()),
                "inclusion_prob": pa.array(pi, pa.float64()),
                "stratum": pa.array(stratum, pa.string()),
            }
        )
        text = pd.DataFrame({"case_id": ids, "inclusion_prob": pi, "stratum": stratum}).to_csv(
            index=False, lineterminator="\n", float_format="%.17g"
        )
        sha = hashlib.sha256(text.encode()).hexdigest()
        con.register("_vsw_drawn", table)
        try:
            foreign = con.execute(
                "SELECT d.row_no FROM _vsw_drawn d WHERE NOT EXISTS (SELECT 1 FROM victims v "
                "WHERE v.case_id = d.case_id AND v.month = $m) ORDER BY 1",
                {"m": month},
            ).fetchall()
            if foreign:
                raise ValidationError(
                    f"not a victim loaded for {month}: a sample must be drawn from that "
                    "month's victims",
                    "case_id",
                    [r[0] for r in foreign],
                )
            whose = self._sample_force("_vsw_drawn", month, force)
            prev = self._sample_rows(survey, month, whose)
            if prev and not replace:
                raise InputRefused(
                    f"a sample of {prev} cases is already recorded for survey {survey}, {month}"
                    f"{of_force(whose)}: use --replace (replace=True) to draw it again"
                )
            orphans = con.sql(
                "SELECT survey, case_id FROM samples WHERE survey = $s AND month = $m AND "
                "force IS NOT DISTINCT FROM $f AND case_id NOT IN (SELECT case_id FROM "
                "_vsw_drawn)",
                params={"s": survey, "m": month, "f": whose},
            ).to_arrow_table()
            n_resp = 0
            if orphans.num_rows:
                con.register("_vsw_o", orphans)
                n_resp = con.execute(
                    "SELECT count(*) FROM responses r JOIN _vsw_o o USING (survey, case_id)"
                ).fetchall()[0][0]
                con.unregister("_vsw_o")
            load_id = self._next_id("loads", "load_id")
            now = utc_now()

            def body() -> None:
                if prev:
                    self._drop_cases(orphans)
                    con.execute(
                        "DELETE FROM samples WHERE survey = ? AND month = ? AND force IS NOT "
                        "DISTINCT FROM ?",
                        [survey, month, whose],
                    )
                con.execute(
                    "INSERT INTO samples SELECT $s, $m, case_id, row_no, inclusion_prob, "
                    f"stratum, {load_id}, $f FROM _vsw_drawn",
                    {"s": survey, "m": month, "f": whose},
                )
                con.execute(
                    "INSERT INTO loads VALUES (?, 'sample', ?, ?, ?, 'drawn in-process', ?, "
                    "'drawn', ?, ?)",
                    [load_id, survey, month, len(ids), sha, bool(prev), now],
                )
                extra = f"; {n_resp} response(s) of dropped cases removed" if n_resp else ""
                self._audit(
                    "redraw_sample" if prev else "draw_sample",
                    "ok",
                    len(ids),
                    survey,
                    month,
                    None,
                    sha,
                    (detail or "") + extra or None,
                )

            self._transaction(body)
        finally:
            con.unregister("_vsw_drawn")
        return {
            "survey": survey,
            "month": month,
            "rows": len(ids),
            "replaced": bool(prev),
            "dropped_responses": int(n_resp),
            "sha256": sha,
            "force": whose,
        }

    def purge_personal(self, before: str, compact: bool = True) -> dict:
        """Destroy the personal data (contact details) of every closed month before ``before``.

        Arguments:
            before: ``YYYY-MM``; months strictly earlier are purged. It may not pass the
                current month (judged by :attr:`today`): a month is closed once it has ended.
            compact: rewrite the store file afterwards (:meth:`compact`), so that the deleted
                rows leave no bytes behind in DuckDB's free blocks.

        Returns:
            ``{"before", "rows", "months": {month: rows}, "comments", "comment_months":
            {month: comments}, "compacted"}``: ``rows`` counts the victims whose contact
            details were destroyed, ``comments`` the free-text comments that redaction changed
            (rewritten in place; a comment with nothing to redact is left as it is).

        Notes:
            Deletes the ``personal`` rows (crime_ref, victim_id, name, phone, email, address)
            of cases reported in those months, and replaces their free-text
            ``response_comments`` (which may quote names, numbers or addresses;
            docs/data_contract.md section 2) by the redacted text every report reads
            (:func:`methods.comments.redact.redact`: names, phone numbers, e-mail and street
            addresses, postcodes, vehicle and crime references become tags), in one transaction
            with its audit record (what, how many, when). The raw wording is gone; the analysis
            tables (victims, samples, responses with their dispositions and answers) keep their
            pseudonymised rows, and since redaction is idempotent the reports for purged months,
            their comment themes and quotes included, rebuild unchanged.
        """
        self._require_writable()
        before = check_month(before)
        current = f"{self.today:%Y-%m}"
        if before > current:
            raise UsageError(
                f"cannot purge months up to {before}: {current} and later are not closed yet "
                f"(today is {self.today}); the latest allowed --before is {current}"
            )
        per_month = {
            m: int(k)
            for m, k in self.con.execute(
                "SELECT month, count(*) FROM personal WHERE month < ? GROUP BY month "
                "ORDER BY month",
                [before],
            ).fetchall()
        }
        # a comment's month is its case's month (victims.month; samples agree); only comments
        # that redaction changes are rewritten (and counted): a second purge finds none left
        comments = self.con.execute(
            "SELECT c.survey, c.case_id, c.comment, v.month FROM response_comments c "
            "JOIN victims v USING (case_id) WHERE v.month < $b ORDER BY v.month, c.survey, "
            "c.case_id",
            {"b": before},
        ).df()
        if len(comments):
            redacted = redact(comments["comment"]).astype(object)
            comments = comments.loc[redacted != comments["comment"]].assign(
                comment=redacted[redacted != comments["comment"]]
            )
        per_month_comments = {
            str(m): int(k) for m, k in comments.groupby("month", sort=True).size().items()
        }
        n = sum(per_month.values())
        n_comments = len(comments)
        what = ", ".join(f"{m} ({k})" for m, k in per_month.items()) or "none held"
        what_c = ", ".join(f"{m} ({k})" for m, k in per_month_comments.items()) or "none held"
        detail = (
            f"contact details (crime_ref, victim_id, name, phone, email, address) destroyed "
            f"for months before {before}: {what}; free-text response comments replaced by "
            f"their redacted text: {what_c}; pseudonymised analysis data and answers kept"
        )

        def body() -> None:
            self.con.execute("DELETE FROM personal WHERE month < ?", [before])
            if n_comments:
                self.con.register("_redacted_comments", comments[["survey", "case_id", "comment"]])
                try:
                    self.con.execute(
                        "UPDATE response_comments c SET comment = r.comment "
                        "FROM _redacted_comments r "
                        "WHERE c.survey = r.survey AND c.case_id = r.case_id"
                    )
                finally:
                    self.con.unregister("_redacted_comments")
            self._audit("purge_personal", "ok", n, None, None, None, None, detail)

        self._transaction(body)
        compacted = bool(n or n_comments) and compact and self.compact()
        return {
            "before": before,
            "rows": n,
            "months": per_month,
            "comments": n_comments,
            "comment_months": per_month_comments,
            "compacted": compacted,
        }

    def compact(self) -> bool:
        """Rewrite the store into a fresh file, so deleted rows leave no bytes behind.

        DuckDB marks the blocks of deleted rows free but does not overwrite them. This copies
        every table into a new file (``COPY FROM DATABASE``), swaps it in with an atomic
        rename, and overwrites the old file's bytes with zeros through a handle kept open on
        it (best effort: a copy-on-write file system or an SSD may still keep old blocks; use
        disk encryption as well).

        Returns:
            ``True`` when the file was rewritten; ``False`` for an in-memory store.
        """

        self._require_writable()
        if self.path == ":memory:":
            return False
        src = Path(self.path)
        fresh = src.with_name(src.name + ".compact")
        fresh.unlink(missing_ok=True)
        db = self.con.execute("SELECT current_database()").fetchall()[0][0]
        self.con.execute("CHECKPOINT")
        quoted = str(fresh).replace("'", "''")
        self.con.execute(f"ATTACH '{quoted}' AS vsw_compact")
        try:
            self.con.execute(f'COPY FROM DATABASE "{db}" TO vsw_compact')
        except BaseException:
            self.con.execute("DETACH vsw_compact")
            fresh.unlink(missing_ok=True)
            raise
        self.con.execute("DETACH vsw_compact")
        wal = src.with_name(src.name + ".wal")
        old = os.open(src, os.O_RDWR)
        try:
            self.con.close()
            if wal.exists():  # never pair the new file with the old file's log
                os.close(old)
                old = -1
                fresh.unlink(missing_ok=True)
                raise InputRefused(
                    f"{src} still has a write-ahead log after a checkpoint; the store was not "
                    "rewritten (the purge itself is committed): run the purge again"
                )
            with open(fresh, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(fresh, src)
            size = os.fstat(old).st_size
            zeros = bytes(1 << 20)
            os.lseek(old, 0, os.SEEK_SET)
            for start in range(0, size, len(zeros)):
                os.write(old, zeros[: min(len(zeros), size - start)])
            os.fsync(old)
        finally:
            if old >= 0:
                os.close(old)
            self.con = duckdb.connect(self.path)
            try:
                self.con.execute("SET enable_progress_bar = false")
            except duckdb.Error:
                pass
        return True

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
