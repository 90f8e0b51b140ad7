"""The ``vsw`` command: one subcommand per job.

Exit codes: 0 ok, 2 usage error, 3 input refused, 1 internal error. A user's bad input never
shows a Python traceback (set ``VSW_DEBUG=1`` to see one for internal errors).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import sys
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

from methods.core.errors import InputRefused, UsageError, WorkbenchError

# Command handlers import what they use (methods.*, numpy, pandas) when their command runs, so
# `vsw --help` and argument errors answer in milliseconds instead of after the engine loads.

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3

DEFAULT_DB = "data/workbench.duckdb"
_KEY_ENV = "VSW_EXTRACT_KEY"


class _Parser(argparse.ArgumentParser):
    """argparse parser whose errors exit 2 with a one-line hint, never a traceback."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised via CLI tests
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"vsw: error: {message}\n")


def _month(value: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError(f"month must be YYYY-MM, got {value!r}")
    return value


def _month_range(value: str) -> list[str]:
    from methods.synthetic.generate import months_range

    parts = value.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"months must be YYYY-MM:YYYY-MM, got {value!r}")
    for p in parts:
        _month(p)
    if parts[0] > parts[1]:
        raise argparse.ArgumentTypeError(f"range starts after it ends: {value!r}")
    return months_range(value)


def _folder(value: str) -> str:
    """An ``--out`` folder: refused (usage error) when it, or a folder above it, is a file."""
    p = Path(value)
    for q in (p, *p.parents):
        if q.exists():
            if not q.is_dir():
                where = "is a file" if q == p else f"is inside {str(q)!r}, which is a file"
                raise argparse.ArgumentTypeError(
                    f"{value!r} {where}, not a folder: give a folder (created if missing)"
                )
            break
    return value


def _out_file(value: str) -> str:
    """An ``--out`` file: refused (usage error) when it is a folder or lies inside a file."""
    p = Path(value)
    if p.is_dir():
        raise argparse.ArgumentTypeError(f"{value!r} is a folder: give a file name")
    for q in p.parents:
        if q.exists():
            if not q.is_dir():
                raise argparse.ArgumentTypeError(
                    f"{value!r} is inside {str(q)!r}, which is a file, not a folder"
                )
            break
    return value


def _canonical_names(args: argparse.Namespace) -> None:
    """Replace ``--force`` (and ``vsw sample``'s ``--survey``) by the preset's canonical name.

    ``DURHAM`` becomes ``durham`` before any path is built from it; an unknown or path-like
    name is a :class:`ConfigError` (a usage error) listing the known presets.
    """
    from methods.config.presets import force_name, survey_name

    if isinstance(getattr(args, "force", None), str):
        args.force = force_name(args.force)
    if args.command == "sample" and isinstance(getattr(args, "survey", None), str):
        args.survey = survey_name(args.survey)


def _say(msg: str) -> None:
    print(msg, flush=True)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """Warnings as one line on stderr, without source lines."""
    print(f"vsw: warning: {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- commands


def cmd_ingest(args: argparse.Namespace) -> int:
    from methods.data.store import Store

    path = Path(args.file)
    if not path.is_file():
        raise InputRefused(f"input file not found: {path}")
    with Store(args.db) as st:
        if args.what == "victims":
            res = st.ingest_victims(
                path, month=args.month, replace=args.replace, force=getattr(args, "force", None)
            )
            verb = "replaced" if res.get("replaced") else "loaded"
            _say(f"{verb} {res['rows']} victims for {res['month']}")
        elif args.what == "sample":
            res = st.ingest_sample(
                path,
                survey=args.survey,
                month=args.month,
                replace=args.replace,
                force=getattr(args, "force", None),
            )
            verb = "replaced the sample with" if res.get("replaced") else "recorded"
            _say(f"{verb} {res['rows']} sampled cases for {args.survey} {args.month}")
            if res.get("dropped_responses"):
                _say(f"removed {res['dropped_responses']} responses of cases no longer sampled")
        else:
            res = st.ingest_responses(path, survey=args.survey, replace=args.replace)
            swapped = f" ({res['replaced']} replaced)" if res.get("replaced") else ""
            _say(f"loaded {res['rows']} responses for {args.survey}{swapped}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from methods.data.store import Store

    if not Path(args.db).exists():
        _say(f"no store yet at {args.db} (run `vsw demo` or `vsw ingest victims ...`)")
        return EXIT_OK
    with Store(args.db) as st:
        status = st.status()
    if args.json:
        _say(json.dumps(status, indent=2, default=str))
    else:
        _say(_format_status(status))
    return EXIT_OK


def _format_status(status: dict) -> str:
    lines = []
    for key, value in status.items():
        if isinstance(value, list | tuple) and value and isinstance(value[0], dict):
            lines.append(f"{key}:")
            for row in value:
                lines.append("  " + ", ".join(f"{k}={v}" for k, v in row.items()))
        elif isinstance(value, dict):
            lines.append(f"{key}:")
            for k, v in value.items():
                lines.append(f"  {k}: {v}")
        else:
            lines.append(f"{key}: {value}")
    return "\n".join(lines)


def cmd_synth(args: argparse.Namespace) -> int:
    from methods.config.presets import load_force
    from methods.workflows.synthetic import write_synthetic

    load_force(args.force)  # clear ConfigError for an unknown force before any work
    out = Path(args.out)
    res = write_synthetic(args.force, args.months, seed=args.seed, out_dir=out)
    n_files = sum(len(v) if isinstance(v, list | tuple) else 1 for v in res.values())
    _say(f"wrote {n_files} synthetic files for {args.force} ({len(args.months)} months) to {out}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from methods.workflows.demo import run_demo

    res = run_demo(
        force=args.force,
        db=args.db,
        out=args.out,
        months=args.months,
        seed=args.seed,
        progress=not args.quiet,
    )
    _say(f"demo store: {res['db']} ({len(res['months'])} months of synthetic {args.force} data)")
    _say(f"report: {res['report_dir']}")
    return EXIT_OK


def cmd_report(args: argparse.Namespace) -> int:
    """``vsw report``: one month (``--month``) or a range (``--from`` [``--to``]) of reports."""
    from methods.report import run as report_run

    common = {"force": args.force, "db": args.db, "out": args.out, "seed": args.seed}
    if args.month is not None:
        if args.month_to is not None:
            raise UsageError("--to goes with --from, not with --month")
        if args.jobs != 1:
            raise UsageError("--jobs runs several months: give --from and --to instead of --month")
        res = report_run.run_report(month=args.month, pdf=args.pdf, **common)
        _say(f"report: {res['report_dir']}")
        if res["pdf"]:
            _say(f"pdf: {res['pdf']}")
        return EXIT_OK
    last = args.month_to
    if last is None:  # --to defaults to the force's last month loaded in the store
        loaded = report_run.loaded_months(args.db, force=args.force)
        if not loaded:
            raise UsageError(
                f"no months of {args.force} are loaded in {args.db}: ingest its victims first"
            )
        last = loaded[-1]
    months = report_run.month_range(args.month_from, last)
    results = report_run.run_reports(
        months=months, jobs=args.jobs, pdf=args.pdf, progress=not args.quiet, **common
    )
    _say(f"{len(results)} reports for {args.force} {months[0]} to {months[-1]}:")
    for res in results:
        _say(f"report: {res['report_dir']}" + (f" (pdf: {res['pdf']})" if res["pdf"] else ""))
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """``vsw compare``: each force against the group mean, on a month or a rolling window."""
    from methods.workflows.compare import compare

    res = compare(
        args.month,
        args.forces.split(","),
        store_dir=args.stores,
        out=args.out,
        window=args.window,
        demo=args.demo,
        seed=args.seed,
        progress=not args.quiet,
        db=args.db if args.one_store else None,
    )
    _say(f"comparison: {res['report_dir']}")
    return EXIT_OK


def cmd_samplesize(args: argparse.Namespace) -> int:
    from methods.sampling.selection import completes_for_change, sample_size

    res = sample_size(
        args.moe,
        p=args.p,
        deff=args.deff,
        response_rate=args.response_rate,
        population=args.population,
        conf=args.conf,
    )
    out = {"completes": int(res["completes"]), "issued": int(res["issued"])}
    if args.change is not None:
        per = completes_for_change(args.p, args.change, power=args.power, deff=args.deff)
        out["completes_per_period_for_change"] = int(per)
        out["issued_per_period_for_change"] = int(-(-per // args.response_rate))
    if args.json:
        _say(json.dumps(out))
        return EXIT_OK
    pop = f" from a population of {args.population:,}" if args.population else ""
    _say(
        f"For a margin of error of +/-{100 * args.moe:.1f} points at p = {args.p} "
        f"(design effect {args.deff}){pop}: {out['completes']:,} completes; at a response "
        f"rate of {100 * args.response_rate:.0f}%, issue {out['issued']:,}."
    )
    if args.change is not None:
        _say(
            f"To detect a change of {100 * args.change:.1f} points between two periods with "
            f"{100 * args.power:.0f}% power: {out['completes_per_period_for_change']:,} completes "
            f"per period ({out['issued_per_period_for_change']:,} issued)."
        )
    return EXIT_OK


def _date(value: str):
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"date must be YYYY-MM-DD, got {value!r}") from None


def _existing_store(db: str):
    from methods.data.store import Store

    if not Path(db).exists():
        raise InputRefused(f"no store at {db}: ingest a victim extract first (vsw ingest victims)")
    return Store(db)


def _optout_file(path: Path) -> tuple[list[str], list[str]]:
    """Victim ids and phone numbers from an opt-out CSV (columns victim_id and/or phone)."""
    import numpy as np
    import pandas as pd

    from methods.core.errors import ValidationError
    from methods.frame.eligibility import check_phones, normalise_phone

    if not path.is_file():
        raise InputRefused(f"input file not found: {path}")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputRefused(
            f"{path.name} is not a readable UTF-8 CSV ({type(exc).__name__})"
        ) from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    cols = [c for c in ("victim_id", "phone") if c in df.columns]
    if not cols:
        raise InputRefused(
            f"{path.name} needs a column victim_id and/or phone (header row); "
            f"it has {len(df.columns)} other column(s)"
        )
    ids: list[str] = []
    phones: list[str] = []
    if "victim_id" in df.columns:
        v = df["victim_id"].str.strip()
        ids = v[v != ""].tolist()
    if "phone" in df.columns:
        ph = df["phone"].str.strip()
        given = ph != ""
        bad = check_phones(normalise_phone(ph[given]).reset_index(drop=True))
        if bad.size:
            rows = (np.flatnonzero(given.to_numpy())[bad] + 1).tolist()
            raise ValidationError(
                "not a telephone number (a UK number is 0 then 9-10 digits, or +44 ...; an "
                "international one + then 7-15 digits)",
                "phone",
                rows,
            )
        phones = ph[given].tolist()
    return ids, phones


def cmd_optout_add(args: argparse.Namespace) -> int:
    from methods.data.store import Store
    from methods.frame.eligibility import register_hashes

    ids = list(args.victim_id or [])
    phones = list(args.phone or [])
    source = "command line"
    if args.file:
        f_ids, f_phones = _optout_file(Path(args.file))
        ids += f_ids
        phones += f_phones
        source = Path(args.file).name
    if not ids and not phones:
        raise UsageError("nothing to add: give --victim-id ID, --phone NUMBER or --file CSV")
    with Store(args.db) as st:
        hashes = register_hashes(st, ids, phones)
        new = st.add_optout_hashes(hashes, source=source)
        total = st.optout_count()
    given = len(ids) + len(phones)
    _say(
        f"opt-out register: {new} new entr{'y' if new == 1 else 'ies'} from {given} value(s) "
        f"given ({len(ids)} victim id(s), {len(phones)} phone number(s)); {total} in total. "
        "Only keyed hashes are stored."
    )
    return EXIT_OK


def cmd_optout_list(args: argparse.Namespace) -> int:
    from methods.data.store import Store

    n = 0
    if Path(args.db).exists():
        with Store(args.db, read_only=True) as st:
            n = st.optout_count()
    if args.count:
        _say(str(n))
    else:
        _say(
            f"{n} entr{'y' if n == 1 else 'ies'} on the opt-out register (keyed hashes only: "
            "the register cannot list identifiers or numbers)"
        )
    return EXIT_OK


def cmd_sample(args: argparse.Namespace) -> int:
    from methods.data import protection
    from methods.workflows.month import draw_month

    key = protection.load_key(args.key_file)  # refuse before any work if there is no key
    with _existing_store(args.db) as st:
        draw = draw_month(
            st,
            args.month,
            args.force,
            args.survey,
            method=args.method,
            contact_from=args.contact_from,
            replace=args.replace,
            key=key,
            out_dir=Path(args.out),
        )
    _say(f"eligibility flow, {draw.force} {draw.survey} {draw.month}:")
    _say(draw.flow[["step", "label", "excluded", "remaining"]].to_string(index=False))
    for note in draw.notes:
        _say(note)
    sealed, written = draw.sealed, draw.extract
    missing = ", ".join(f"{k} blank in {v}" for k, v in sealed.missing_contact.items() if v)
    _say(
        f"selected {len(draw.sample)} of {draw.eligible} eligible ({draw.method}, "
        f"{draw.size.rule}, seed {draw.seed}); "
        f"{'replaced the' if draw.record['replaced'] else 'recorded the'} sample in the store"
    )
    _say(
        f"extract: {written['extract']} ({sealed.rows} rows; columns "
        f"{', '.join(sealed.columns)}{'; ' + missing if missing else ''})"
    )
    _say(f"manifest: {written['manifest']} (sha256 {sealed.sha256}, key {sealed.key_id})")
    if draw.new_optouts:
        _say(f"added {draw.new_optouts} victim(s) flagged opted_out to the opt-out register")
    return EXIT_OK


def cmd_extract_decrypt(args: argparse.Namespace) -> int:
    from methods.data import protection

    key = protection.load_key(args.key_file)
    plain, man = protection.decrypt_extract(args.file, key, args.manifest)
    out = protection.write_plaintext(plain, args.out, overwrite=args.overwrite)
    rows = man["rows"] if man else max(plain.count(b"\n") - 1, 0)
    checked = "checked against its manifest" if man else "no manifest found to check against"
    _say(f"decrypted {rows} rows to {out} (file mode 0600; {checked})")
    return EXIT_OK


def cmd_extract_keygen(args: argparse.Namespace) -> int:
    from methods.data import protection

    path = protection.write_key(args.out)
    key_id = protection.key_id(path.read_bytes().strip())
    _say(f"wrote a new extract key to {path} (mode 0600, key id {key_id})")
    _say("send it to the agency by a different channel from the extracts it opens")
    return EXIT_OK


def cmd_purge(args: argparse.Namespace) -> int:
    with _existing_store(args.db) as st:
        res = st.purge_personal(args.before)
    comments = int(res.get("comments", 0))
    if not res["rows"] and not comments:
        _say(f"no personal data held for months before {args.before}; nothing to purge")
        return EXIT_OK
    what = []
    if res["rows"]:
        months = ", ".join(f"{m} ({k})" for m, k in res["months"].items())
        what.append(f"destroyed the contact details of {res['rows']} victim rows ({months})")
    if comments:
        what.append(f"replaced {comments} free-text response comment(s) by their redacted text")
    _say(
        f"{' and '.join(what)} in months before {args.before}; pseudonymised "
        "analysis data and answers kept" + ("; store file rewritten" if res["compacted"] else "")
    )
    return EXIT_OK


# --------------------------------------------------------------------------- parser


def _cmd_simulate(args: argparse.Namespace) -> int:
    from methods.simulation.run import cmd_simulate

    return cmd_simulate(args)


def _add_simulate(subparsers) -> argparse.ArgumentParser:
    """``vsw simulate``, built here without importing the simulation engine (~0.9 s of scipy,
    pandas and dask imports on every ``vsw`` command); the handler is imported when it runs.
    """
    p = subparsers.add_parser(
        "simulate",
        help="Monte Carlo comparison of sampling, fieldwork and weighting designs",
        description="Run every design of a simulation config REPS times on its synthetic "
        "population and write DIR/results.csv (bias, SEs, RMSE, coverage, completes, cost per "
        "design and estimand) and DIR/manifest.json.",
    )
    p.add_argument("--config", required=True, help="TOML file, or a shipped example's name")
    p.add_argument("--reps", required=True, type=int, help="number of replicates")
    p.add_argument("--seed", required=True, type=int, help="seed of the replicates' streams")
    p.add_argument("--out", required=True, type=_folder, help="output folder")
    where = p.add_mutually_exclusive_group()
    where.add_argument(
        "--workers", type=int, default=0, help="worker processes (default 0: this process only)"
    )
    where.add_argument(
        "--scheduler",
        default=None,
        help="address of a running Dask scheduler, e.g. tcp://127.0.0.1:8786",
    )
    p.add_argument(
        "--backend",
        choices=("dask", "processes"),
        default="dask",
        help="with --workers: a Dask LocalCluster (default) or a process pool",
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=None,
        dest="batch_size",
        help="replicates per task (results do not depend on it)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_simulate)
    return p


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(
        prog="vsw",
        description="Victim Survey Workbench: sampling, weighting, estimation and reports "
        "for police victim satisfaction surveys.",
    )
    p.add_argument(
        "--db",
        default=os.environ.get("VSW_DB", DEFAULT_DB),
        help=f"DuckDB store (default {DEFAULT_DB}, or $VSW_DB)",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    ing = sub.add_parser("ingest", help="load a victim extract, a sample or survey responses")
    ing_sub = ing.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    ing_sub.required = True
    v = ing_sub.add_parser("victims", help="load a monthly victim extract (CSV or Parquet)")
    v.add_argument("file")
    v.add_argument("--month", required=True, type=_month, help="YYYY-MM the extract covers")
    v.add_argument("--replace", action="store_true", help="swap an already loaded month")
    v.add_argument(
        "--force",
        help="whose extract it is (preset name): its crime reference prefix, districts and "
        "limits are checked and the month is recorded as that force's; default: the built-in "
        "force whose prefix every crime reference carries",
    )
    v.set_defaults(func=cmd_ingest)
    s = ing_sub.add_parser("sample", help="record which cases a survey sampled in a month")
    s.add_argument("file")
    s.add_argument("--survey", required=True)
    s.add_argument("--month", required=True, type=_month)
    s.add_argument("--replace", action="store_true", help="swap the survey's sample of the month")
    s.add_argument(
        "--force",
        help="whose victims were sampled (checked); default: the force of the sampled cases "
        "(a store may hold several forces' victims for one month)",
    )
    s.set_defaults(func=cmd_ingest)
    r = ing_sub.add_parser(
        "responses",
        help="load survey responses (docs/data_contract.md section 2)",
        description="Load the final dispositions and answers of a survey's sampled cases "
        "(docs/data_contract.md section 2). Each case is identified either by case_key, the key the "
        "contractor extract of `vsw sample` gave the agency (32 hex digits; case and "
        "surrounding spaces ignored; mapped back through every recorded sample of the "
        "survey, so a file may mix months), or by both crime_ref and victim_id. A file may "
        "carry both kinds only if they name the same case on every row. Unknown, duplicate "
        "or malformed keys refuse the whole file and nothing is written.",
    )
    r.add_argument("file", help="CSV or Parquet keyed by case_key, or by crime_ref + victim_id")
    r.add_argument("--survey", required=True, help="the survey the responses belong to")
    r.add_argument(
        "--replace", action="store_true", help="let these rows replace responses already loaded"
    )
    r.set_defaults(func=cmd_ingest)

    st = sub.add_parser("status", help="what the store holds")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    sy = sub.add_parser("synth", help="write synthetic monthly extracts for a force preset")
    sy.add_argument("--force", required=True)
    sy.add_argument("--months", required=True, type=_month_range, help="YYYY-MM:YYYY-MM")
    sy.add_argument("--seed", required=True, type=int)
    sy.add_argument("--out", required=True, type=_folder)
    sy.set_defaults(func=cmd_synth)

    de = sub.add_parser("demo", help="build a year of synthetic data and a monthly report")
    de.add_argument("--force", default="durham")
    de.add_argument(
        "--out", default="reports", type=_folder, help="reports folder (default reports/)"
    )
    de.add_argument("--months", type=_month_range, default=None, help="YYYY-MM:YYYY-MM")
    de.add_argument("--seed", type=int, default=20250101)
    de.add_argument("--quiet", action="store_true", help="no progress bars")
    de.set_defaults(func=cmd_demo)

    ss = sub.add_parser("samplesize", help="completes and issued sample for a margin of error")
    ss.add_argument("--moe", type=float, required=True, help="margin of error, e.g. 0.03")
    ss.add_argument("--p", type=float, default=0.5, help="expected proportion (default 0.5)")
    ss.add_argument("--deff", type=float, default=1.0, help="design effect (default 1)")
    ss.add_argument("--response-rate", type=float, default=1.0, dest="response_rate")
    ss.add_argument("--population", type=int, default=None, help="finite population size")
    ss.add_argument("--conf", type=float, default=0.95, help="confidence level (default 0.95)")
    ss.add_argument("--change", type=float, default=None, help="change to detect, e.g. 0.05")
    ss.add_argument("--power", type=float, default=0.8, help="power for --change (default 0.8)")
    ss.add_argument("--json", action="store_true", help='print {"completes": .., "issued": ..}')
    ss.set_defaults(func=cmd_samplesize)

    _add_simulate(sub)

    rp = sub.add_parser(
        "report",
        help="run the monthly report notebook for a force and month (or a range of months)",
        description="Execute the monthly report for a force: one month (--month) or every "
        "month from --from to --to, several at a time with --jobs. Writes "
        "OUT/FORCE/YYYY-MM/ (executed notebook, HTML, figures, tables, manifest.json).",
    )
    rp.add_argument("--force", required=True)
    which = rp.add_mutually_exclusive_group(required=True)
    which.add_argument("--month", type=_month, metavar="YYYY-MM", help="the report month")
    which.add_argument(
        "--from", dest="month_from", type=_month, metavar="YYYY-MM", help="first report month"
    )
    rp.add_argument(
        "--to",
        dest="month_to",
        type=_month,
        metavar="YYYY-MM",
        help="last report month, with --from (default: the last month loaded in the store)",
    )
    rp.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="months run at once with --from, each in its own process and kernel (default 1)",
    )
    rp.add_argument(
        "--out", default="reports", type=_folder, help="reports folder (default reports/)"
    )
    rp.add_argument("--seed", type=int, default=20250101)
    rp.add_argument("--pdf", action="store_true", help="also print a PDF with headless Chromium")
    rp.add_argument("--quiet", action="store_true", help="no progress bar")
    rp.set_defaults(func=cmd_report)

    cp = sub.add_parser(
        "compare",
        help="compare forces' satisfaction with their group's mean (most similar forces)",
        description="Weight each force's survey with the monthly report's scheme and compare "
        "every force with the group mean by stage, with Holm-adjusted tests (the samples are "
        "independent). Reads STORES/<force>.duckdb for each force; writes "
        "OUT/compare/YYYY-MM/ (notebook, HTML, tables/force_comparison.csv, figures).",
    )
    cp.add_argument("--month", type=_month, required=True, metavar="YYYY-MM")
    cp.add_argument("--forces", required=True, help="comma-separated force presets (2 or more)")
    cp.add_argument(
        "--stores", default="data/forces", help="folder of <force>.duckdb stores (data/forces)"
    )
    cp.add_argument(
        "--one-store",
        action="store_true",
        help="read every force from the store given by vsw --db FILE, which holds them side "
        "by side (instead of one store per force in --stores)",
    )
    cp.add_argument(
        "--window", type=int, default=1, help="months compared: 1 (default) or e.g. 12 (rolling)"
    )
    cp.add_argument(
        "--demo", action="store_true", help="build missing stores from synthetic data first"
    )
    cp.add_argument(
        "--out", default="reports", type=_folder, help="reports folder (default reports/)"
    )
    cp.add_argument("--seed", type=int, default=20250101)
    cp.add_argument("--quiet", action="store_true", help="no progress bar")
    cp.set_defaults(func=cmd_compare)

    oo = sub.add_parser("optout", help="the opt-out register (keyed hashes only)")
    oo_sub = oo.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    oo_sub.required = True
    oa = oo_sub.add_parser(
        "add",
        help="add victims or phone numbers to the register (prefer --file: command lines "
        "are kept in shell history)",
    )
    oa.add_argument("--victim-id", action="append", dest="victim_id", metavar="ID")
    oa.add_argument("--phone", action="append", metavar="NUMBER")
    oa.add_argument("--file", help="CSV with a header and columns victim_id and/or phone")
    oa.set_defaults(func=cmd_optout_add)
    ol = oo_sub.add_parser("list", help="how many entries the register holds")
    ol.add_argument("--count", action="store_true", help="print only the number")
    ol.set_defaults(func=cmd_optout_list)

    sa = sub.add_parser(
        "sample", help="draw a month's sample and write the encrypted contractor extract"
    )
    sa.add_argument("--force", required=True)
    sa.add_argument("--survey", required=True)
    sa.add_argument("--month", required=True, type=_month)
    sa.add_argument("--key-file", dest="key_file", help=f"Fernet key file (else ${_KEY_ENV})")
    sa.add_argument("--out", default="data/extracts", type=_folder, help="folder for the extract")
    sa.add_argument(
        "--method",
        choices=("systematic", "srs"),
        default="systematic",
        help="systematic (sorted by the preset's profile variables; default) or srs",
    )
    sa.add_argument(
        "--contact-from",
        dest="contact_from",
        type=_date,
        default=None,
        help="first day of fieldwork contact, YYYY-MM-DD (default: the day after the month)",
    )
    sa.add_argument("--replace", action="store_true", help="draw a recorded sample again")
    sa.set_defaults(func=cmd_sample)

    ex = sub.add_parser("extract", help="the receiving side: decrypt an extract; make a key")
    ex_sub = ex.add_subparsers(dest="what", metavar="WHAT", parser_class=_Parser)
    ex_sub.required = True
    xd = ex_sub.add_parser("decrypt", help="decrypt a contractor extract")
    xd.add_argument("file")
    xd.add_argument("--key-file", dest="key_file", help=f"Fernet key file (else ${_KEY_ENV})")
    xd.add_argument(
        "--out", required=True, type=_out_file, help="plaintext CSV to write (mode 0600)"
    )
    xd.add_argument("--manifest", default=None, help="manifest (default: the one beside FILE)")
    xd.add_argument("--overwrite", action="store_true", help="replace an existing --out file")
    xd.set_defaults(func=cmd_extract_decrypt)
    xk = ex_sub.add_parser("keygen", help="write a new extract key (file mode 0600)")
    xk.add_argument("--out", required=True, type=_out_file)
    xk.set_defaults(func=cmd_extract_keygen)

    pu = sub.add_parser(
        "purge",
        help="destroy the contact details of closed months, redact their comments (retention)",
        description="Destroy the personal data of cases reported before a month: contact "
        "details (crime_ref, victim_id, name, phone, email, address) are deleted and free-text "
        "response comments are replaced by their redacted text. Pseudonymised analysis data, dispositions and answers are kept, so reports "
        "still rebuild; the store file is rewritten so no deleted bytes remain.",
    )
    pu.add_argument("--before", required=True, type=_month, help="purge months before YYYY-MM")
    pu.set_defaults(func=cmd_purge)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vsw`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            _canonical_names(args)
            return func(args)
    except UsageError as exc:
        print(f"vsw: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InputRefused as exc:
        print(f"vsw: input refused: {exc}", file=sys.stderr)
        print("nothing was written.", file=sys.stderr)
        return EXIT_REFUSED
    except WorkbenchError as exc:
        if os.environ.get("VSW_DEBUG"):
            traceback.print_exc()
            for where, text in getattr(exc, "details", {}).items():  # e.g. failed report months
                print(f"--- {where}:\n{text}", file=sys.stderr)
        print(f"vsw: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("vsw: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback for users
        if os.environ.get("VSW_DEBUG"):
            traceback.print_exc()
        print(
            f"vsw: internal error ({type(exc).__name__}); rerun with VSW_DEBUG=1 for details",
            file=sys.stderr,
        )
        return EXIT_INTERNAL


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
