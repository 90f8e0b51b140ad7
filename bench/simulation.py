"""Benchmark: 1,000 replicates of a stratified 15% sample, telephone fieldwork, raking and the
five stage estimates on a 200,000-victim year, on Dask with 2 workers; speed-up from 1 to 2.

Acceptance: the 1,000 replicates on 2 workers in under 30 s on the 2-core machine (issue 17;
issue 8 asked for 60 s); print the speed-up from 1 to 2 workers and the Dask fixed cost
(cluster start, scatter, close) apart. Exits 1 if the 2-worker run takes 30 s or more. The
machine is shared: compare the load averages printed with each run before reading a figure.

Usage::

    .venv/bin/python bench/simulation.py [--reps 1000] [--speedup-reps 1000] [--seed 1]

What one replicate does (all through the workbench's modules, see methods.simulation.engine):
``methods.sampling.selection.select`` draws 15% of the eligible frame, stratified by offence group with
proportional allocation; ``methods.fieldwork.modes.simulate_cases`` (the array form of
``simulate``, on the study's precomputed ``FieldworkCases``) runs the telephone plan (five call
attempts) on the sampled cases; the respondents' design weights are raked
(``methods.weighting.rake``) to the eligible victims by age band, gender and ethnic group; and
``SurveyDesign.proportion`` gives the five stages' satisfied proportions with logit intervals.

Population: twelve months of the Kent preset at 1.25 times its volumes (about 200,000 victims),
generated once and not timed. The 15% is of the victims eligible under the usual exclusions
(opted out, under 16, vulnerable, no further action wanted, unwilling, sensitive, on-duty
officers), about 125,000, so about 18,700 cases are issued and 9,500 complete per replicate.
``--all-victims`` samples 15% of every victim instead (about 30,000 cases a replicate).

Timings are wall clock (``time.perf_counter``) around ``methods.simulation.run.simulate``: they
include starting the Dask LocalCluster, scattering the population and summarising. The machine
is shared with other work: the load average before and after each run is printed with it.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings

import numpy as np

from methods.simulation.config import parse_config
from methods.simulation.engine import build_population
from methods.simulation.run import SimulationWarning, simulate

TARGET_S = 30.0  # issue 17: at least 2x faster than the 68 s measured for issue 8

EXCLUDE = [
    "opted_out",
    {"rule": "under_min_age", "min_age": 16},
    "vulnerable",
    "no_further_action_requested",
    "uncooperative",
    "sensitive",
    "police_victim",
]


def config(all_victims: bool) -> dict:
    return {
        "title": "bench: stratified 15% sample, telephone, raked, five stages",
        "population": {"force": "kent", "months": "2024-01:2024-12", "scale": 1.25, "seed": 1},
        "defaults": {
            "eligibility": {"exclude": [] if all_victims else EXCLUDE},
            "weighting": {"rake": ["age_band", "gender_w", "ethnic_group"]},
        },
        "designs": [
            {
                "name": "stratified_15pc_telephone",
                "sampling": {"strata": "offence_group", "fraction": 0.15},
                "fieldwork": {"plan": "telephone"},
            }
        ],
    }


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def timed(cfg, pop, reps: int, seed: int, workers: int):
    before = load()
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SimulationWarning)
        res = simulate(cfg, reps, seed, workers=workers, population=pop, progress=False)
    seconds = time.perf_counter() - t0
    print(
        f"  {workers} worker(s): {reps} replicates in {seconds:6.1f} s "
        f"({1000 * seconds / reps:5.1f} ms a replicate; load average before {before}, "
        f"after {load()})",
        flush=True,
    )
    return res, seconds


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--reps", type=int, default=1000)
    ap.add_argument("--speedup-reps", type=int, default=None, help="default: --reps")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--all-victims", action="store_true", help="15%% of every victim")
    args = ap.parse_args(argv)
    cfg = parse_config(config(args.all_victims), "bench/simulation.py")
    t0 = time.perf_counter()
    pop = build_population(cfg.population)
    print(
        f"population: {len(pop):,} victims ({time.perf_counter() - t0:.1f} s to generate); "
        f"{os.cpu_count()} CPUs; Dask LocalCluster, one thread per worker",
        flush=True,
    )
    # Fixed cost of a run: LocalCluster start, scattering the population, summarising, close.
    _, t_fixed = timed(cfg, pop, 2, args.seed, 2)
    print(f"  Dask fixed cost (start, scatter, close; a 2-replicate run): {t_fixed:.1f} s")
    two, t2 = timed(cfg, pop, args.reps, args.seed, 2)
    print(f"  of which replicates (run minus the fixed cost): {t2 - t_fixed:.1f} s "
          f"({1000 * (t2 - t_fixed) / args.reps:.1f} ms a replicate)")  # fmt: skip
    row = two.results.iloc[0]
    print(
        f"  eligible {two.run['eligible']['stratified_15pc_telephone']:,}; "
        f"{row['mean_completes']:,.0f} completes a replicate"
    )
    print(two.results[["estimand", "truth", "bias", "se_empirical", "se_estimated",
                       "coverage"]].round(4).to_string(index=False))  # fmt: skip
    k = args.speedup_reps or args.reps
    one, t1 = timed(cfg, pop, k, args.seed, 1)
    t2k = t2 if k == args.reps else timed(cfg, pop, k, args.seed, 2)[1]
    same = np.array_equal(one.values, two.values[:, :k], equal_nan=True)
    print(f"speed-up from 1 to 2 workers ({k} replicates): {t1 / t2k:.2f}x")
    print(f"1-worker and 2-worker replicates identical: {same}")
    ok = t2 < TARGET_S
    print(f"acceptance: {args.reps} replicates on 2 workers in {t2:.1f} s "
          f"({'under' if ok else 'NOT under'} {TARGET_S:.0f} s)")  # fmt: skip
    return 0 if ok and same else 1


if __name__ == "__main__":
    sys.exit(main())
