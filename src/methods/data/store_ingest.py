"""The write side of the store: validated, transactional ingest and the opt-out register.

:class:`IngestMixin` is mixed into :class:`methods.data.store.Store`; it holds the workflows that
turn a checked input (:mod:`methods.data.ingest`) into rows, and the rules that need the store: a
month loaded twice, a key already loaded under another month, a sample key that is not a
victim of that month, a response key that was not sampled (or a contractor case key found in
no recorded sample of the survey), an interview before the report.

Every workflow is the same: (1) refuse early what needs no reading (month already loaded);
(2) read and validate everything, collecting all problems; (3) compute what the write will
remove (sampled cases absent from a replacement); (4) write in ONE transaction -- deletes,
inserts, the ``months``/``loads`` bookkeeping and the audit line -- then checkpoint. A refusal
rolls back nothing because nothing was written; it adds one ``refused`` line to the audit log,
whose text is the error message (built never to quote personal data).
"""

from __future__ import annotations

import datetime as dt
import re
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pyarrow as pa

from methods.config.presets import list_forces, load_force
from methods.core.errors import IgnoredColumnsWarning, InputRefused, UsageError, ValidationError
from methods.data.ingest import (
    STAGES,
    VICTIM_FLAG_COLUMNS,
    Checked,
    check_responses,
    check_sample,
    check_victims,
    hmac_pads,
    resolve_force,
)
from methods.data.protection import case_key_sql
from methods.data.validation import IngestError, Problem

_CLEAN = "_vsw_clean"

_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_SURVEY = re.compile(r"[a-z][a-z0-9_]{0,39}")
_HASH = re.compile(r"[0-9a-f]{32,64}")


def stored_force_name(force: Any) -> str | None:
    """The name a store keys a force by: a preset's ``name`` or a name in any case (a user's
    own preset too, unlike :func:`methods.config.presets.force_name`); ``None`` stays."""
    if force is None:
        return None
    name = getattr(force, "name", force)
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"force must be a preset name, got {force!r}")
    return name.strip().lower()


def of_force(force: str | None) -> str:
    """`` of kent`` for a force, nothing for a month loaded without one (for messages)."""
    return f" of {force}" if force else ""


def utc_now() -> dt.datetime:
    """Now, UTC, to the second, without tzinfo (DuckDB TIMESTAMP)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def check_month(month: str) -> str:
    """Return ``month`` if it is ``YYYY-MM``, else raise :class:`UsageError`."""
    if not isinstance(month, str) or not _MONTH.fullmatch(month):
        raise UsageError(f"month must be YYYY-MM (e.g. 2025-01), got {month!r}")
    return month


def check_survey(survey: str) -> str:
    """Return the survey name lower-cased, or raise :class:`UsageError` if malformed."""
    if not isinstance(survey, str) or not _SURVEY.fullmatch(survey.strip().lower()):
        raise UsageError(
            f"survey name must be lower-case letters, digits and '_' (e.g. burglary), "
            f"got {survey!r}"
        )
    return survey.strip().lower()


def _name(src: Any) -> str:
    if isinstance(src, str | Path):
        return Path(src).name
    return f"<{type(src).__name__}>"


class IngestMixin:
    """Ingest workflows of :class:`methods.data.store.Store` (needs ``con``, ``secret``, ``today``)."""

    con: Any
    path: str
    read_only: bool
    _closed: bool
    _on_phase: Callable[[str], None] | None

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
                utc_now(),
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
        except Exception as err:  # noqa: BLE001 - the refusal itself must reach the user
            warnings.warn(
                f"the refusal could not be recorded in the audit log ({type(err).__name__})",
                stacklevel=3,
            )

    def _transaction(self, body: Callable[[], None]) -> None:
        con = self.con
        con.execute("BEGIN TRANSACTION")
        try:
            self._phase("writing")
            body()
            con.execute("COMMIT")
        except BaseException:
            try:
                con.execute("ROLLBACK")
            except Exception:  # noqa: BLE001 - keep the original error; DuckDB discards the rest
                pass
            raise
        self._phase("committed")
        try:
            con.execute("CHECKPOINT")
        except Exception as err:  # noqa: BLE001 - data is committed and safe in the WAL
            warnings.warn(
                f"data committed, but the checkpoint failed ({type(err).__name__}); DuckDB "
                "replays its write-ahead log the next time the store is opened",
                stacklevel=3,
            )

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

    def ingest_victims(
        self, file: Any, month: str, replace: bool = False, force: Any = None
    ) -> dict:
        """Validate and load a monthly victim extract (docs/data_contract.md section 1).

        Arguments:
            file: CSV or Parquet path (or a DataFrame / pyarrow Table of the same columns).
            month: ``YYYY-MM`` the extract covers; every reported_date must fall inside it.
            replace: swap an already loaded month atomically; without it a second load of
                the same month is refused.
            force: whose extract it is (preset name, any case, or a
                :class:`~methods.config.presets.ForcePreset`): its crime reference prefix,
                district list and limits are enforced and the month is recorded as that
                force's. ``None``: inferred from the crime reference prefix
                (:func:`methods.data.ingest.infer_force`); when no preset matches, the month
                is recorded without a force and reports and samples refuse it
                (:meth:`methods.data.store.Store.require_force`).

        Returns:
            ``{"month", "rows", "replaced", "sha256", "dropped_sampled_cases", "force"}``;
            ``dropped_sampled_cases`` counts sampled cases (and their responses) of that month
            that the new extract no longer contains (only possible with ``replace``).

        Raises:
            ValidationError: a contract rule is broken (nothing written).
            InputRefused: the month is already loaded, or the file cannot be read.

        Notes:
            A (crime_ref, victim_id) already loaded (under another month, or in another
            force's extract) is refused: each case belongs to one force's month. A store holds
            several forces side by side, also in the same month: a month is keyed by (force,
            month), so Kent's extract for 2025-11 loads beside Durham's, and ``replace``
            swaps only the same force's month. A month loaded without a force may be replaced
            by an attributed extract: that is how it is attributed.
        """
        self._require_writable()
        month = check_month(month)
        try:
            preset = resolve_force(force)
            return self._ingest_victims(file, month, replace, preset)
        except InputRefused as exc:
            self._refused("ingest_victims", exc, month=month, source=file)
            raise

    def _month_load(self, month: str, force: str | None) -> tuple | None:
        """The ``months`` row (rows, file, loaded_at, force, load_id) a load of ``force``'s
        ``month`` would replace: that force's, else the month loaded without a force (which an
        attributed extract replaces); ``None`` when neither is loaded."""
        found = self.con.execute(
            "SELECT rows, file_name, loaded_at, force, load_id FROM months WHERE month = ? "
            "AND (force IS NOT DISTINCT FROM ? OR force IS NULL) ORDER BY force NULLS LAST",
            [month, force],
        ).fetchall()
        return found[0] if found else None

    def _twice(self, prev: tuple, month: str, src: Any) -> IngestError:
        return IngestError(
            [
                Problem(
                    f"month {month}{of_force(prev[3])} is already loaded ({prev[0]} rows from "
                    f"{prev[1]}, at {prev[2]:%Y-%m-%d %H:%M} UTC): loading it twice is "
                    "refused; use --replace (replace=True) to swap it for this file"
                )
            ],
            _name(src),
            "victim extract",
        )

    def _ingest_victims(self, file: Any, month: str, replace: bool, preset: Any) -> dict:
        con = self.con
        if preset is not None:  # refused before reading when the force is known
            prev = self._month_load(month, preset.name)
            if prev is not None and not replace:
                raise self._twice(prev, month, file)
        checked = check_victims(con, file, month, self.secret, self.today, preset)
        prev = self._month_load(month, checked.force)
        if prev is not None and not replace:
            raise self._twice(prev, month, file)
        if prev is not None and prev[3] is not None and prev[3] != checked.force:
            raise IngestError(  # an unattributed extract never replaces a force's month
                [
                    Problem(
                        f"month {month} holds the extract of {prev[3]}; replacing it with an "
                        "extract of no recorded force is refused: load it for its force "
                        "(force=..., `vsw ingest victims --force`)"
                    )
                ],
                checked.raw.name,
                "victim extract",
            )
        prev_load = -1 if prev is None else int(prev[4])
        clean = checked.clean
        con.register(_CLEAN, clean)
        try:
            # a case belongs to one force's month: any victims row outside the load replaced
            other_sql = (
                f"FROM {_CLEAN} c JOIN victims v USING (case_id) JOIN months m "
                "ON m.load_id = v.load_id WHERE v.load_id <> $p"
            )
            other = con.execute(
                "SELECT string_agg(DISTINCT v.month || coalesce(' (' || m.force || ')', ''), "
                f"', ' ORDER BY v.month || coalesce(' (' || m.force || ')', '')) {other_sql}",
                {"p": prev_load},
            ).fetchall()[0][0]
            problems = []
            if other:
                problems.append(
                    self._cross_problem(
                        checked,
                        f"SELECT c._row {other_sql}",
                        {"p": prev_load},
                        f"this (crime_ref, victim_id) is already loaded under month(s) {other}: "
                        "each case belongs to the month it was reported",
                        "crime_ref",
                    )
                )
            self._fail(checked, problems, "victim extract")
            whose = None if prev is None else prev[3]
            orphans = con.sql(
                f"SELECT survey, case_id FROM samples WHERE month = $m AND force IS NOT "
                f"DISTINCT FROM $f AND case_id NOT IN (SELECT case_id FROM {_CLEAN})",
                params={"m": month, "f": whose},
            ).to_arrow_table()
            self._phase("validated")
            load_id = self._next_id("loads", "load_id")
            now = utc_now()
            flags = ", ".join(VICTIM_FLAG_COLUMNS)

            def body() -> None:
                if prev is not None:
                    self._drop_cases(orphans)
                    con.execute(
                        "DELETE FROM personal WHERE month = $m AND case_id IN (SELECT case_id "
                        "FROM victims WHERE load_id = $p)",
                        {"m": month, "p": prev_load},
                    )
                    con.execute("DELETE FROM victims WHERE load_id = ?", [prev_load])
                    con.execute("DELETE FROM months WHERE load_id = ?", [prev_load])
                    if whose is None and checked.force is not None:  # attributed: its samples too
                        con.execute(
                            "UPDATE samples SET force = ? WHERE month = ? AND force IS NULL",
                            [checked.force, month],
                        )
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
                    "INSERT INTO months (month, rows, file_name, file_sha256, file_format, "
                    "loaded_at, load_id, force) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        month,
                        checked.rows,
                        checked.raw.name,
                        checked.raw.sha256,
                        checked.raw.fmt,
                        now,
                        load_id,
                        checked.force,
                    ],
                )
                self._record_load(load_id, "victims", None, month, checked, prev is not None, now)
                extra = checked.raw.extra_columns
                detail = f"{len(extra)} extra column(s) ignored"
                if extra:
                    detail += ": " + ", ".join(repr(c[:40]) for c in extra[:10])
                if orphans.num_rows:
                    detail += (
                        f"; {orphans.num_rows} sampled case(s) absent from the new extract "
                        "dropped with their responses"
                    )
                if checked.force:
                    detail += f"; force {checked.force}"
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
        extra = checked.raw.extra_columns
        if extra:
            shown = ", ".join(repr(c[:40]) for c in extra[:10])
            more = f" (and {len(extra) - 10} more)" if len(extra) > 10 else ""
            warnings.warn(
                IgnoredColumnsWarning(
                    f"victim extract for {month}: {len(extra)} extra column(s) ignored: "
                    f"{shown}{more} (docs/data_contract.md section 1 lists the columns read)"
                ),
                stacklevel=3,
            )
        if orphans.num_rows:
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
            "force": checked.force,
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
        self,
        file_or_df: Any,
        survey: str,
        month: str,
        replace: bool = False,
        force: Any = None,
    ) -> dict:
        """Record which cases ``survey`` sampled among ``month``'s victims.

        Arguments:
            file_or_df: CSV/Parquet path or DataFrame with ``crime_ref, victim_id,
                inclusion_prob`` (0 < p <= 1) and optionally ``stratum``.
            survey: survey name (lower-case identifier, e.g. ``burglary``).
            month: ``YYYY-MM``; the month's victims must be loaded and hold every key.
            replace: swap an existing sample of the same survey, month and force.
            force: whose victims were sampled (preset or name; checked). Default: the force
                of the sampled cases, which must all be one force's victims of ``month``
                (when the store holds several forces for the month, each keeps its own
                sample of each survey).

        Returns:
            ``{"survey", "month", "rows", "replaced", "dropped_responses", "force"}``.
        """
        self._require_writable()
        survey, month = check_survey(survey), check_month(month)
        try:
            return self._ingest_sample(file_or_df, survey, month, replace, force)
        except InputRefused as exc:
            self._refused("ingest_sample", exc, survey=survey, month=month, source=file_or_df)
            raise

    def _sample_rows(self, survey: str, month: str, force: str | None) -> int:
        """How many cases ``survey`` has recorded for ``force``'s ``month``."""
        return self.con.execute(
            "SELECT count(*) FROM samples WHERE survey = ? AND month = ? AND force IS NOT "
            "DISTINCT FROM ?",
            [survey, month, force],
        ).fetchall()[0][0]

    def _sample_force(self, table: str, month: str, force: Any) -> str | None:
        """The force whose victims of ``month`` the cases of registered ``table`` are.

        Raises InputRefused when they are several forces' victims, or not ``force``'s.
        """
        held = [
            r[0]
            for r in self.con.execute(
                f"SELECT DISTINCT m.force FROM {table} d JOIN victims v ON v.case_id = d.case_id "
                "AND v.month = $m JOIN months m ON m.load_id = v.load_id ORDER BY 1 NULLS LAST",
                {"m": month},
            ).fetchall()
        ]
        if len(held) > 1:
            names = ", ".join(h or "no recorded force" for h in held)
            raise InputRefused(
                f"the sample of {month} holds victims of several forces ({names}): a sample "
                "is drawn from one force's victims; split it by force"
            )
        whose = held[0] if held else None
        name = stored_force_name(force)
        if name is not None and (whose or "") != name:
            raise InputRefused(
                f"the sample of {month} is of {whose or 'no recorded force'}'s victims, not "
                f"{name}'s"
            )
        return whose

    def _refuse_twice(self, prev: int, survey: str, month: str, force, src: Any) -> None:
        raise IngestError(
            [
                Problem(
                    f"a sample of {prev} cases is already recorded for survey {survey}, "
                    f"{month}{of_force(force)}: use replace=True to swap it"
                )
            ],
            _name(src),
            "sample",
        )

    def _ingest_sample(self, src: Any, survey: str, month: str, replace: bool, force: Any) -> dict:
        con = self.con
        what = "sample"
        held = [
            r[0]
            for r in con.execute("SELECT force FROM months WHERE month = ?", [month]).fetchall()
        ]
        if not held:
            raise IngestError(
                [Problem(f"no victims are loaded for {month}: ingest that month's extract first")],
                _name(src),
                what,
            )
        if len(held) == 1:  # whose sample it is is known before reading: refuse early
            prev = self._sample_rows(survey, month, held[0])
            if prev and not replace:
                self._refuse_twice(prev, survey, month, held[0], src)
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
            whose = self._sample_force(_CLEAN, month, force)
            prev = self._sample_rows(survey, month, whose)
            if prev and not replace:
                self._refuse_twice(prev, survey, month, whose, src)
            orphans = con.sql(
                f"SELECT survey, case_id FROM samples WHERE survey = $s AND month = $m AND "
                f"force IS NOT DISTINCT FROM $f AND case_id NOT IN (SELECT case_id FROM {_CLEAN})",
                params={"s": survey, "m": month, "f": whose},
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
                    f"INSERT INTO samples SELECT survey, month, case_id, _row, inclusion_prob, "
                    f"stratum, {load_id}, $f FROM {_CLEAN}",
                    {"f": whose},
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
            "force": whose,
        }

    def _survey_limits(self, survey: str) -> dict[str, int] | None:
        """The ``[limits]`` of the one built-in force whose months ``survey`` sampled, if any."""
        forces = [
            r[0]
            for r in self.con.execute(
                "SELECT DISTINCT force FROM samples WHERE force IS NOT NULL AND survey = ?",
                [survey],
            ).fetchall()
        ]
        if len(forces) == 1 and forces[0] in list_forces():
            return load_force(forces[0]).limit_map
        return None

    # ------------------------------------------------------------------ ingest: responses

    def ingest_responses(self, file: Any, survey: str, replace: bool = False) -> dict:
        """Validate and load survey responses (docs/data_contract.md section 2).

        Arguments:
            file: CSV/Parquet path or DataFrame. Each case is identified either by
                ``case_key``, the key the contractor extract gave the agency, or by both
                ``crime_ref`` and ``victim_id``.
            survey: survey name; every case must be a sampled case of it.
            replace: let this file's rows replace responses already loaded for the same
                cases (others are kept); without it such rows are refused.

        Returns:
            ``{"survey", "rows", "replaced" (number of responses swapped), "months"}``; the
            audit line of a file keyed by ``case_key`` says so.

        Raises:
            ValidationError: a contract rule is broken (nothing written; one ``refused`` audit
                line), naming the column, the first 20 data rows and the rule.

        Notes:
            Case keys (:func:`methods.data.protection.case_keys`) are read ignoring case and
            surrounding white space, must be unique in the file, and are mapped back to their
            cases through every recorded sample of ``survey`` (all months: keys differ per
            survey and month, so a key names one case, and a file may mix months). A key found
            in no recorded sample of ``survey`` -- a key of another survey's extract, or of a
            case dropped by a redrawn sample -- is refused. A file may carry ``crime_ref`` and
            ``victim_id`` beside ``case_key`` (e.g. a force merged its references back in):
            then every row must give all three and they must name the same case, else the
            rows are refused. The key itself is not stored: responses are keyed by
            ``case_id`` whichever way the file names the case.
        """
        self._require_writable()
        survey = check_survey(survey)
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
        checked = check_responses(
            con, file, survey, self.secret, self.today, self._survey_limits(survey)
        )
        by_key = "case_key" in checked.raw.columns_present
        key_col = "case_key" if by_key else "crime_ref"
        if by_key:
            checked.clean = self._resolve_case_keys(checked.clean, survey)
        con.register(_CLEAN, checked.clean)
        try:
            if by_key:
                problems = [
                    self._cross_problem(
                        checked,
                        f"SELECT _row FROM {_CLEAN} WHERE case_id IS NULL",
                        {},
                        f"this case_key is in no recorded sample of survey {survey}: case keys "
                        "differ by survey and month, so is the file from another survey's "
                        "extract, or was the sample redrawn after the extract was sent?",
                        "case_key",
                    ),
                    self._cross_problem(
                        checked,
                        f"SELECT _row FROM {_CLEAN} WHERE case_id <> ref_case_id",
                        {},
                        "case_key and (crime_ref, victim_id) name different cases: when a file "
                        "gives both kinds of key they must agree (drop crime_ref and victim_id "
                        "to key the file by case_key alone)",
                        "case_key",
                    ),
                ]
            else:
                problems = [
                    self._cross_problem(
                        checked,
                        f"SELECT _row FROM {_CLEAN} c WHERE NOT EXISTS (SELECT 1 FROM samples s "
                        "WHERE s.survey = $s AND s.case_id = c.case_id)",
                        {"s": survey},
                        f"this (crime_ref, victim_id) is not a sampled case of survey {survey}",
                        "crime_ref",
                    )
                ]
            problems += [
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
                        key_col,
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
            now = utc_now()
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
                notes = ["cases identified by case_key"] if by_key else []
                if n_swap:
                    notes.append(f"{n_swap} existing response(s) replaced")
                self._audit(
                    "replace_responses" if n_swap else "ingest_responses",
                    "ok",
                    checked.rows,
                    survey,
                    ",".join(months) or None,
                    checked.raw.name,
                    checked.raw.sha256,
                    "; ".join(notes) or None,
                )

            self._transaction(body)
        finally:
            con.unregister(_CLEAN)
        return {"survey": survey, "rows": checked.rows, "replaced": int(n_swap), "months": months}

    def _resolve_case_keys(self, clean: pa.Table, survey: str) -> pa.Table:
        """Map the ``case_key`` of checked responses to ``case_id`` via ``survey``'s samples.

        Returns:
            ``clean`` without ``case_key``, with ``case_id`` the sampled case the key names
            (NULL for a key in no recorded sample of ``survey``) and ``ref_case_id`` the
            pseudonym of the row's (crime_ref, victim_id) (NULL when the file has none).

        Notes:
            The keys of every recorded sample of ``survey`` are recomputed in DuckDB
            (:func:`methods.data.protection.case_key_sql`, one HMAC per sampled case) and joined
            to the file's; nothing is written.
        """

        con = self.con
        con.register("_vsw_keyed", clean)
        try:
            return con.sql(
                f"""
                WITH k AS (
                    SELECT {case_key_sql("s.survey", "s.month", "s.case_id")} AS case_key,
                           s.case_id AS key_case_id
                    FROM samples s WHERE s.survey = $s)
                SELECT c.* EXCLUDE (case_id, case_key),
                       k.key_case_id AS case_id, c.case_id AS ref_case_id
                FROM _vsw_keyed c LEFT JOIN k USING (case_key)
                ORDER BY c._row
                """,
                params={**hmac_pads(self.secret), "s": survey},
            ).to_arrow_table()
        finally:
            con.unregister("_vsw_keyed")

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
            now = utc_now()

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
