"""The ``vsw`` command: one subcommand per job.

Exit codes: 0 ok, 2 usage error, 3 input refused, 1 internal error. A user's bad input never
shows a Python traceback (set ``VSW_DEBUG=1`` to see one for internal errors).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from methods.errors import InputRefused, UsageError, WorkbenchError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3

DEFAULT_DB = "data/workbench.duckdb"


class _Parser(argparse.ArgumentParser):
    """argparse parser whose errors exit 2 with a one-line hint, never a traceback."""

    def error(self, message: str) -> None:  # pragma: no cover - exercised via CLI tests
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"vsw: error: {message}\n")


def _month(value: str) -> str:
    import re

    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", value):
        raise argparse.ArgumentTypeError(f"month must be YYYY-MM, got {value!r}")
    return value


def _month_range(value: str) -> list[str]:
    from methods.synthetic import months_range

    parts = value.split(":")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"months must be YYYY-MM:YYYY-MM, got {value!r}")
    for p in parts:
        _month(p)
    if parts[0] > parts[1]:
        raise argparse.ArgumentTypeError(f"range starts after it ends: {value!r}")
    return months_range(value)


def _say(msg: str) -> None:
    print(msg, flush=True)


# --------------------------------------------------------------------------- commands


def cmd_ingest(args: argparse.Namespace) -> int:
    from methods.store import Store

    path = Path(args.file)
    if not path.is_file():
        raise InputRefused(f"input file not found: {path}")
    with Store(args.db) as st:
        if args.what == "victims":
            res = st.ingest_victims(path, month=args.month, replace=args.replace)
            verb = "replaced" if res.get("replaced") else "loaded"
            _say(f"{verb} {res['rows']} victims for {res['month']}")
        elif args.what == "sample":
            res = st.ingest_sample(path, survey=args.survey, month=args.month)
            _say(f"recorded {res['rows']} sampled cases for {args.survey} {args.month}")
        else:
            res = st.ingest_responses(path, survey=args.survey)
            _say(f"loaded {res['rows']} responses for {args.survey}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from methods.store import Store

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
    from methods.config import load_force
    from methods.synthetic import write_synthetic

    load_force(args.force)  # clear ConfigError for an unknown force before any work
    out = Path(args.out)
    res = write_synthetic(args.force, args.months, seed=args.seed, out_dir=out)
    n_files = sum(len(v) if isinstance(v, list | tuple) else 1 for v in res.values())
    _say(f"wrote {n_files} synthetic files for {args.force} ({len(args.months)} months) to {out}")
    return EXIT_OK


def cmd_demo(args: argparse.Namespace) -> int:
    from methods.demo import run_demo

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
    from methods.reporting import run_report

    res = run_report(
        force=args.force,
        month=args.month,
        db=args.db,
        out=args.out,
        seed=args.seed,
        pdf=args.pdf,
    )
    _say(f"report: {res['report_dir']}")
    return EXIT_OK


def cmd_samplesize(args: argparse.Namespace) -> int:
    from methods.sampling import completes_for_change, sample_size

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


# --------------------------------------------------------------------------- parser


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
    v.set_defaults(func=cmd_ingest)
    s = ing_sub.add_parser("sample", help="record which cases a survey sampled in a month")
    s.add_argument("file")
    s.add_argument("--survey", required=True)
    s.add_argument("--month", required=True, type=_month)
    s.set_defaults(func=cmd_ingest)
    r = ing_sub.add_parser("responses", help="load survey responses (DATA_CONTRACT section 2)")
    r.add_argument("file")
    r.add_argument("--survey", required=True)
    r.set_defaults(func=cmd_ingest)

    st = sub.add_parser("status", help="what the store holds")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_status)

    sy = sub.add_parser("synth", help="write synthetic monthly extracts for a force preset")
    sy.add_argument("--force", required=True)
    sy.add_argument("--months", required=True, type=_month_range, help="YYYY-MM:YYYY-MM")
    sy.add_argument("--seed", required=True, type=int)
    sy.add_argument("--out", required=True)
    sy.set_defaults(func=cmd_synth)

    de = sub.add_parser("demo", help="build a year of synthetic data and a monthly report")
    de.add_argument("--force", default="durham")
    de.add_argument("--out", default="reports", help="reports folder (default reports/)")
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

    rp = sub.add_parser("report", help="run the monthly report notebook for a force and month")
    rp.add_argument("--force", required=True)
    rp.add_argument("--month", required=True, type=_month)
    rp.add_argument("--out", default="reports")
    rp.add_argument("--seed", type=int, default=20250101)
    rp.add_argument("--pdf", action="store_true", help="also print a PDF with headless Chromium")
    rp.set_defaults(func=cmd_report)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vsw`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        print(f"vsw: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except InputRefused as exc:
        print(f"vsw: input refused: {exc}", file=sys.stderr)
        print("nothing was written.", file=sys.stderr)
        return EXIT_REFUSED
    except WorkbenchError as exc:
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
