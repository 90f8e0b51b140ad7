"""The data contract's rules, file by file (docs/data_contract.md sections 1 and 2).

Each ``check_*`` function reads one input (CSV, Parquet, DataFrame), applies every rule that can
be decided from the file alone, vectorised in DuckDB, and returns the *clean* table ready to be
written: codes lower-cased, dates and numbers typed, booleans decoded, and the keyed pseudonyms
``case_id`` / ``person_id`` computed. Rules that need the store (a month already loaded, a
sampled case that does not exist) are applied by :class:`methods.data.store.Store`, which also does
the writing.

Any broken rule raises :class:`methods.data.validation.IngestError` (a
:class:`methods.core.errors.ValidationError`) naming the column, the first 20 data rows and the
rule; all problems found in one pass are listed together.

Notes:
    Pseudonyms are HMAC-SHA256 (RFC 2104; FIPS 198-1) under the store's secret key, computed in
    DuckDB as ``H((K xor opad) || H((K xor ipad) || m))`` with DuckDB's ``sha256`` over BLOBs;
    the tests check them against Python's :mod:`hmac`. ``case_id`` hashes
    ``crime_ref + "\\x1f" + victim_id``; ``person_id`` hashes ``"victim:" + victim_id``. Both
    are the first 32 hex digits (128 bits) of the MAC.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from methods.config.presets import TEXT_LIMITS, ForcePreset, list_forces, load_force
from methods.core.schema import ETHNICITIES, GENDERS, MODES, OFFENCE_GROUPS, STAGES
from methods.data.readers import RawInput, read_input
from methods.data.validation import (
    RAW,
    RESPONSE_KEY_COLUMNS,
    Column,
    IngestError,
    Problem,
    Rule,
    bool_sql,
    case_key_text_sql,
    column_rules,
    duplicate_case_keys,
    int_sql,
    response_key_columns,
    run_rules,
    sql_str,
    v,
)

#: Number of hex digits kept from each HMAC-SHA256 (128 bits).
PSEUDONYM_HEX = 32

VICTIM_SPEC: tuple[Column, ...] = (
    Column("crime_ref", "key", required=True),
    Column("victim_id", "key", required=True),
    Column("offence_group", "code", required=True, codes=OFFENCE_GROUPS),
    Column("reported_date", "date", required=True),
    Column("age", "int", lo=0, hi=120, label=", or blank when unknown"),
    Column("gender", "code", required=True, codes=GENDERS),
    Column("ethnicity", "code", required=True, codes=ETHNICITIES),
    Column("district", "text", required=True),
    Column("name", "personal"),
    Column("phone", "personal"),
    Column("email", "personal"),
    Column("address", "personal"),
    Column("opted_out", "bool"),
    Column("vulnerable", "bool"),
    Column("no_further_action_requested", "bool"),
    Column("uncooperative", "bool"),
    Column("sensitive", "bool"),
    Column("police_victim", "bool"),
)
VICTIM_FLAG_COLUMNS = tuple(c.name for c in VICTIM_SPEC if c.kind == "bool")
PERSONAL = ("name", "phone", "email", "address")

SAMPLE_SPEC: tuple[Column, ...] = (
    Column("crime_ref", "key", required=True),
    Column("victim_id", "key", required=True),
    Column("inclusion_prob", "prob", required=True),
    Column("stratum", "text", optional_column=True),
)

#: Responses: the key columns may be absent; :func:`check_responses` requires ``case_key`` or
#: both ``crime_ref`` and ``victim_id`` (:func:`methods.data.validation.response_key_columns`).
RESPONSE_SPEC: tuple[Column, ...] = (
    Column("case_key", "case_key", required=True, optional_column=True),
    Column("crime_ref", "key", required=True, optional_column=True),
    Column("victim_id", "key", required=True, optional_column=True),
    Column("mode", "code", required=True, codes=MODES),
    Column("disposition", "disposition", required=True),
    Column("interview_date", "date"),
    *(Column(s, "int", lo=1, hi=8, label=" (8 = don't know / n.a.), or blank") for s in STAGES),
    Column("comment", "free"),
)

#: AAPOR final disposition codes, as text. Structure per AAPOR *Standard Definitions* (10th ed.,
#: 2023), Tables 1-5: 1.0/1.1/1.2 interviews; 2.x eligible non-interviews; 3.x unknown
#: eligibility; 4.x not eligible; sub-codes have two digits (2.10, 2.11, 2.20, ...) and may have
#: a third (2.111). Spreadsheets drop trailing zeros, so "2.1" is read as 2.10 and "3" as 3.0.
DISPOSITION_PATTERN = r"1\.[012]|[2-4]\.(0|[1-9][0-9]{1,2})"


def _disp_sql() -> str:
    d = v("disposition")
    return (
        f"(CASE WHEN regexp_full_match({d}, '[1-4]') THEN {d} || '.0'"
        f" WHEN regexp_full_match({d}, '[2-4]\\.[1-9]') THEN {d} || '0' ELSE {d} END)"
    )


@dataclass
class Checked:
    """A validated input: its canonical raw form and the clean table to write.

    ``force`` is the force whose extract it is (victim extracts: given, or inferred from the
    crime reference prefix; ``None`` when neither).
    """

    raw: RawInput
    clean: pa.Table
    force: str | None = None

    @property
    def rows(self) -> int:
        """Number of data rows."""
        return self.clean.num_rows


def _checked(raw: RawInput, clean: pa.Table, force: str | None = None) -> Checked:
    """Pair ``raw`` with ``clean`` and release the raw text columns (memory: 1M rows ~ 250 MB)."""
    raw.table = raw.table.select(["_row"]).slice(0, 0)
    return Checked(raw, clean, force)


# --------------------------------------------------------------------------- force rules


def resolve_force(force: str | ForcePreset | None) -> ForcePreset | None:
    """The preset of ``force`` (a built-in name, matched case-insensitively, or a preset)."""
    if force is None or isinstance(force, ForcePreset):
        return force
    return load_force(force)


def _crime_ref_sql(preset: ForcePreset) -> str:
    """SQL true when the trimmed crime_ref belongs to ``preset`` (its pattern or prefix)."""
    x = v("crime_ref")
    if preset.crime_ref_pattern:
        return f"regexp_full_match({x}, {sql_str(preset.crime_ref_pattern)}, 'i')"
    return f"starts_with(upper({x}), {sql_str(preset.crime_ref_prefix.upper())})"


def infer_force(con: Any) -> ForcePreset | None:
    """The built-in preset whose crime reference rule every row of :data:`RAW` follows.

    Returns ``None`` when no preset (or more than one) claims every non-blank crime_ref.
    """
    presets = [load_force(f) for f in list_forces()]
    cols = ", ".join(
        f"count_if({v('crime_ref')} <> '' AND NOT {_crime_ref_sql(p)})" for p in presets
    )
    n, *misses = con.execute(
        f"SELECT count_if({v('crime_ref')} <> ''), {cols} FROM {RAW}"
    ).fetchall()[0]
    hits = [p for p, k in zip(presets, misses) if k == 0]
    return hits[0] if n and len(hits) == 1 else None


def force_rules(preset: ForcePreset) -> list[Rule]:
    """The rules an extract of ``preset``'s force must follow: crime reference, districts.

    The district list is the preset's ``[districts]`` (any case), after its
    ``[district_aliases]`` (docs/data_contract.md, "Row rules").
    """
    where = f"configs/forces/{preset.name}.toml"
    if preset.crime_ref_pattern:
        ref_rule = (
            f"crime reference does not match {preset.title}'s pattern "
            f"{preset.crime_ref_pattern!r} ({where} crime_ref_pattern): is this "
            f"{preset.title}'s extract?"
        )
    else:
        ref_rule = (
            f"crime reference does not start with {preset.title}'s prefix "
            f"'{preset.crime_ref_prefix}' ({where} crime_ref_prefix): is this "
            f"{preset.title}'s extract?"
        )
    x = v("crime_ref")
    rules = [Rule("crime_ref", ref_rule, f"{x} <> '' AND NOT {_crime_ref_sql(preset)}")]
    names = preset.district_names
    shown = ", ".join(names[:10])
    if len(names) > 10:
        shown += f" (first 10 of {len(names)})"
    alias = ""
    if preset.district_aliases:
        alias = "; also accepted: " + ", ".join(
            f"{a} = {d}" for a, d in preset.district_aliases[:10]
        )
    allowed = ", ".join(sql_str(k) for k in preset.district_lookup)
    d = v("district")
    rules.append(
        Rule(
            "district",
            f"not a district of {preset.title} ({where} [districts]); allowed (any case): "
            f"{shown}{alias}",
            f"{d} <> '' AND lower({d}) NOT IN ({allowed})",
            d,
        )
    )
    return rules


def _district_sql(preset: ForcePreset | None) -> str:
    """SQL for the stored district: the preset's canonical spelling, else the trimmed text."""
    d = v("district")
    if preset is None:
        return d
    cases = " ".join(
        f"WHEN {sql_str(k)} THEN {sql_str(c)}" for k, c in preset.district_lookup.items()
    )
    return f"(CASE lower({d}) {cases} ELSE {d} END)"


def limit_rules(spec: tuple[Column, ...], limits: dict[str, int] | None = None) -> list[Rule]:
    """Maximum-length rules for the columns of ``spec`` that have a limit.

    Arguments:
        spec: the file's columns.
        limits: column -> characters; default :data:`methods.config.presets.TEXT_LIMITS`.
    """
    lim = {**TEXT_LIMITS, **(limits or {})}
    out = []
    for c in spec:
        if c.name in lim:
            n = lim[c.name]
            out.append(
                Rule(
                    c.name,
                    f"value longer than the maximum of {n:,} characters "
                    "(docs/data_contract.md, 'Row rules'; a force preset may change it in "
                    "[limits])",
                    f"length({v(c.name)}) > {n}",
                )
            )
    return out


def hmac_sql(msg: str) -> str:
    """SQL for the keyed pseudonym of the text expression ``msg``.

    Needs the named parameters ``$ipad`` and ``$opad`` (see :func:`hmac_pads`).
    """
    return (
        f"left(sha256($opad::BLOB || unhex(sha256($ipad::BLOB || encode({msg})))), {PSEUDONYM_HEX})"
    )


def hmac_pads(secret: bytes) -> dict[str, bytes]:
    """HMAC inner and outer padded keys (RFC 2104, block size 64 bytes for SHA-256)."""

    key = secret if len(secret) <= 64 else hashlib.sha256(secret).digest()
    key = key.ljust(64, b"\0")
    return {
        "ipad": bytes(b ^ 0x36 for b in key),
        "opad": bytes(b ^ 0x5C for b in key),
    }


CASE_ID_SQL = hmac_sql(f"{v('crime_ref')} || chr(31) || {v('victim_id')}")
PERSON_ID_SQL = hmac_sql(f"'victim:' || {v('victim_id')}")


def month_bounds(month: str) -> tuple[dt.date, dt.date]:
    """First day of ``month`` and first day of the next month."""
    y, m = (int(p) for p in month.split("-"))
    start = dt.date(y, m, 1)
    end = dt.date(y + (m == 12), m % 12 + 1, 1)
    return start, end


def _duplicate_keys(con: Any, raw: RawInput, what: str) -> list[Problem]:
    q = (
        f"SELECT _row, count(*) OVER () AS n FROM (SELECT _row, count(*) OVER "
        f"(PARTITION BY {v('crime_ref')}, {v('victim_id')}) AS c FROM {RAW} "
        f"WHERE {v('crime_ref')} <> '' AND {v('victim_id')} <> '') WHERE c > 1 "
        "ORDER BY _row LIMIT 20"
    )
    res = con.execute(q).fetchall()
    if not res:
        return []
    return [
        raw.problem(
            f"duplicate key: (crime_ref, victim_id) must be unique in the {what}; every row "
            "sharing a key is listed",
            "crime_ref",
            [r[0] for r in res],
            res[0][1],
        )
    ]


def _run(con: Any, raw: RawInput, rules: list[Rule], extra, what: str) -> None:
    """Register ``raw`` and raise one IngestError listing every broken rule."""
    personal = [c for c in raw.table.column_names if c in PERSONAL or c == "comment"]
    problems = run_rules(con, raw, rules, personal)
    for f in extra:
        problems += f()
    if problems:
        raise IngestError(problems, raw.name, what)


def check_victims(
    con: Any,
    source: Any,
    month: str,
    secret: bytes,
    today: dt.date,
    force: str | ForcePreset | None = None,
) -> Checked:
    """Read and validate a monthly victim extract (docs/data_contract.md section 1).

    Arguments:
        con: DuckDB connection (only read from; the input is registered as a view).
        source: CSV or Parquet path, or a DataFrame / pyarrow Table.
        month: ``YYYY-MM`` the extract covers.
        secret: the store's pseudonym key.
        today: reported dates after this day are refused.
        force: whose extract it is (preset name or :class:`ForcePreset`). Its crime
            reference rule and district list are enforced (:func:`force_rules`) and its
            ``[limits]`` apply. ``None``: the built-in preset whose crime reference prefix
            every row carries (:func:`infer_force`) is used the same way; when none does, the
            extract is not attributed to a force and only the force-independent rules apply.

    Returns:
        :class:`Checked` whose ``clean`` table has ``case_id, person_id, month`` and the typed
        analysis columns, the personal columns and ``_row``.

    Raises:
        IngestError: any rule broken (all problems listed).
    """
    what = "victim extract"
    preset = resolve_force(force)
    raw = read_input(source, VICTIM_SPEC, what)
    start, end = month_bounds(month)
    rules = [r for c in VICTIM_SPEC for r in column_rules(c)]
    d = v("reported_date")
    valid_date = f"regexp_full_match({d}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND try_cast({d} AS DATE) IS NOT NULL"
    rules.append(
        Rule(
            "reported_date",
            f"date is outside the month being ingested ({month}: {start} to "
            f"{end - dt.timedelta(days=1)}); is this the right file for --month {month}?",
            f"{valid_date} AND NOT (try_cast({d} AS DATE) >= DATE '{start}' AND "
            f"try_cast({d} AS DATE) < DATE '{end}')",
            d,
        )
    )
    rules.append(
        Rule(
            "reported_date",
            f"date is in the future (today is {today})",
            f"{valid_date} AND try_cast({d} AS DATE) > DATE '{today}'",
            d,
        )
    )
    con.register(RAW, raw.table)
    try:
        if preset is None:
            preset = infer_force(con)
        rules += limit_rules(VICTIM_SPEC, preset.limit_map if preset else None)
        if preset is not None:
            rules += force_rules(preset)
        _run(con, raw, rules, [lambda: _duplicate_keys(con, raw, what)], what)
        flags = ", ".join(f"{bool_sql(f)} AS {f}" for f in VICTIM_FLAG_COLUMNS)
        personal = ", ".join(f"NULLIF({v(p)}, '') AS {p}" for p in PERSONAL)
        clean = con.sql(
            f"""
            SELECT {CASE_ID_SQL} AS case_id, {PERSON_ID_SQL} AS person_id,
                   $month AS month,
                   lower({v("offence_group")}) AS offence_group,
                   CAST({d} AS DATE) AS reported_date,
                   {int_sql("age")} AS age,
                   lower({v("gender")}) AS gender,
                   lower({v("ethnicity")}) AS ethnicity,
                   {_district_sql(preset)} AS district,
                   {flags},
                   {v("crime_ref")} AS crime_ref, {v("victim_id")} AS victim_id,
                   {personal},
                   _row
            FROM {RAW} ORDER BY _row
            """,
            params={**hmac_pads(secret), "month": month},
        ).to_arrow_table()
    finally:
        con.unregister(RAW)
    return _checked(raw, clean, preset.name if preset else None)


def check_sample(con: Any, source: Any, survey: str, month: str, secret: bytes) -> Checked:
    """Read and validate a survey sample: which cases of ``month`` were drawn for ``survey``.

    Arguments:
        con: DuckDB connection.
        source: CSV/Parquet path or DataFrame with ``crime_ref, victim_id, inclusion_prob`` and
            optionally ``stratum``.
        survey: survey name.
        month: ``YYYY-MM`` of the victims sampled.
        secret: the store's pseudonym key.

    Returns:
        :class:`Checked` with ``survey, month, case_id, inclusion_prob, stratum, _row``.
    """
    what = "sample"
    raw = read_input(source, SAMPLE_SPEC, what)
    rules = [r for c in SAMPLE_SPEC for r in column_rules(c)]
    con.register(RAW, raw.table)
    try:
        _run(con, raw, rules, [lambda: _duplicate_keys(con, raw, what)], what)
        clean = con.sql(
            f"""
            SELECT $survey AS survey, $month AS month, {CASE_ID_SQL} AS case_id,
                   CAST({v("inclusion_prob")} AS DOUBLE) AS inclusion_prob,
                   NULLIF({v("stratum")}, '') AS stratum, _row
            FROM {RAW} ORDER BY _row
            """,
            params={**hmac_pads(secret), "survey": survey, "month": month},
        ).to_arrow_table()
    finally:
        con.unregister(RAW)
    return _checked(raw, clean)


def check_responses(
    con: Any,
    source: Any,
    survey: str,
    secret: bytes,
    today: dt.date,
    limits: dict[str, int] | None = None,
) -> Checked:
    """Read and validate survey responses (docs/data_contract.md section 2).

    Arguments:
        con: DuckDB connection.
        source: CSV/Parquet path or DataFrame.
        survey: survey name.
        secret: the store's pseudonym key.
        today: interview dates after this day are refused.
        limits: maximum lengths (a force preset's :attr:`ForcePreset.limit_map`); default
            :data:`methods.config.presets.TEXT_LIMITS` (``comment`` 4,000 characters).

    Returns:
        :class:`Checked` with ``survey, case_id, case_key, mode, disposition,
        interview_date``, the five stages (TINYINT, NULL = not asked), ``comment`` and
        ``_row``. ``case_id`` is the pseudonym of (crime_ref, victim_id), NULL when the file
        has no such columns; ``case_key`` the canonical case key (lower-case hex), NULL when
        the file has no ``case_key`` column. The store maps case keys to cases.

    Notes:
        Each case is identified by ``case_key`` (the contractor extract's key) or by both
        ``crime_ref`` and ``victim_id`` (:func:`methods.data.validation.response_key_columns`);
        the key columns given must be filled on every row and unique (case keys compared
        ignoring case and surrounding white space). Rules beyond the column types: the
        disposition must be an AAPOR final code (:data:`DISPOSITION_PATTERN`);
        ``interview_date`` and stage answers are blank unless the disposition is an interview
        (1.x); answers are 1-8.
    """
    what = "responses file"
    raw = read_input(source, RESPONSE_SPEC, what)
    keys = response_key_columns(raw, what)
    rules = [
        r
        for c in RESPONSE_SPEC
        if c.name in keys or c.name not in RESPONSE_KEY_COLUMNS
        for r in column_rules(c)
    ]
    rules += limit_rules(tuple(c for c in RESPONSE_SPEC if c.name == "comment"), limits)
    nd = _disp_sql()
    d = v("disposition")
    rules.append(
        Rule(
            "disposition",
            "not an AAPOR final disposition code (e.g. 1.1 complete, 1.2 partial, 2.11 "
            "refusal, 2.12 break-off, 2.20 non-contact, 2.30 other, 3.10 unknown household, "
            "3.90 unknown other, 4.10 not eligible)",
            f"{d} <> '' AND NOT regexp_full_match({nd}, '{DISPOSITION_PATTERN}')",
            d,
        )
    )
    # only judged when the disposition itself is valid (else that is the one problem to report)
    interview = f"(starts_with({nd}, '1.') OR NOT regexp_full_match({nd}, '{DISPOSITION_PATTERN}'))"
    idate = v("interview_date")
    rules.append(
        Rule(
            "interview_date",
            "interview_date must be blank unless the disposition is an interview (1.x)",
            f"{idate} <> '' AND {d} <> '' AND NOT {interview}",
        )
    )
    rules.append(
        Rule(
            "interview_date",
            f"date is in the future (today is {today})",
            f"{idate} <> '' AND try_cast({idate} AS DATE) > DATE '{today}'",
            idate,
        )
    )
    for s in STAGES:
        rules.append(
            Rule(
                s,
                "answers must be blank unless the disposition is an interview (1.x)",
                f"{v(s)} <> '' AND {d} <> '' AND NOT {interview}",
            )
        )
    con.register(RAW, raw.table)
    try:
        dups = []
        if "case_key" in keys:
            dups.append(lambda: duplicate_case_keys(con, raw, what))
        if "crime_ref" in keys:
            dups.append(lambda: _duplicate_keys(con, raw, what))
        _run(con, raw, rules, dups, what)
        stages = ", ".join(f"{int_sql(s, 'TINYINT')} AS {s}" for s in STAGES)
        params: dict[str, Any] = {"survey": survey}
        case_id = "CAST(NULL AS VARCHAR)"
        if "crime_ref" in keys:
            case_id = CASE_ID_SQL
            params.update(hmac_pads(secret))
        case_key = case_key_text_sql() if "case_key" in keys else "CAST(NULL AS VARCHAR)"
        clean = con.sql(
            f"""
            SELECT $survey AS survey, {case_id} AS case_id, {case_key} AS case_key,
                   lower({v("mode")}) AS mode, {nd} AS disposition,
                   CAST(NULLIF({idate}, '') AS DATE) AS interview_date,
                   {stages},
                   NULLIF({v("comment")}, '') AS comment, _row
            FROM {RAW} ORDER BY _row
            """,
            params=params,
        ).to_arrow_table()
    finally:
        con.unregister(RAW)
    return _checked(raw, clean)
