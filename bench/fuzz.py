"""Fuzz ingest with 10,000 generated extracts and print the outcomes and the time.

The generators and the checked property are those of ``tests/test_fuzz_ingest.py`` (mutated
Durham extracts: cells, encodings, delimiters, line endings, truncation, header changes, byte
flips; plus plain random bytes): every case must end in a clean load or an ``IngestError``
naming the rule (column and rows for a row rule) with the store's data unchanged. Any other
outcome is printed with its hypothesis reproduction and makes the exit status 1.

Usage::

    PYTHONPATH=src python bench/fuzz.py [--cases 10000] [--bytes-share 0.1] [--seed-free]

``--seed-free`` draws new examples (``derandomize=False``); by default the run is
reproducible.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import test_fuzz_ingest as fz  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000)
    ap.add_argument("--bytes-share", type=float, default=0.1, help="share of random-bytes cases")
    ap.add_argument("--seed-free", action="store_true")
    args = ap.parse_args(argv)

    counts: Counter = Counter()
    kinds: Counter = Counter()
    failures: list[str] = []
    n_bytes = int(round(args.cases * args.bytes_share))
    plan = [("mutated", fz.extracts().map(lambda c: c[0]), args.cases - n_bytes)]
    plan.append(("random bytes", st.binary(max_size=4096), n_bytes))
    t0 = time.perf_counter()
    for kind, strategy, n in plan:
        if n <= 0:
            continue

        @settings(
            max_examples=n,
            deadline=None,
            derandomize=not args.seed_free,
            database=None,
            suppress_health_check=list(HealthCheck),
            phases=["generate"],
        )
        @given(strategy, st.just(kind))
        def case(data: bytes, kind: str) -> None:
            kinds[kind] += 1
            try:
                out = fz.run_case(data)
            except Exception as exc:  # noqa: BLE001 - every other outcome is a finding
                out = f"FAILED {type(exc).__name__}"
                if len(failures) < 20:
                    failures.append(f"{kind}: {type(exc).__name__}: {str(exc)[:300]}")
            counts[(kind, out.split(":")[0])] += 1
            counts[("by column", out)] += 1

        case()
    wall = time.perf_counter() - t0
    total = sum(kinds.values())
    print(
        f"fuzz ingest: {total} cases in {wall:.1f} s ({1000 * wall / max(total, 1):.1f} ms a case)"
    )
    for kind in kinds:
        sub = {o: c for (k, o), c in counts.items() if k == kind}
        print(
            f"  {kind}: {kinds[kind]} cases: "
            + ", ".join(f"{o} {c}" for o, c in sorted(sub.items()))
        )
    top = sorted(((c, o) for (k, o), c in counts.items() if k == "by column"), reverse=True)
    print("  outcomes: " + ", ".join(f"{o} {c}" for c, o in top[:15]))
    bad = sum(c for (k, o), c in counts.items() if k != "by column" and o.startswith("FAILED"))
    print(f"  property failures: {bad}")
    for f in failures:
        print("   ", f)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
