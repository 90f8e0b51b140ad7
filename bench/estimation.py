"""Benchmark the design-based estimation engine against samplics' TaylorEstimator.

Same data, same run:

1. n = 1,000,000 respondents, 10 strata (stratified element sample, unequal weights):
   overall proportion with a logit interval, and the proportion in each of 6 domains.
2. n = 100,000, 200 Rao-Wu bootstrap replicates, proportion by a 6-level domain (target < 1 s
   for building the replicate weights and estimating).

Prints timings (best of ``--repeat`` runs, each on a freshly built design so nothing is
cached between runs), the samplics/ours ratio (target: at least 8x),
and the largest differences between the two libraries' estimates and SEs as a sanity check.

Usage: ``.venv/bin/python bench/estimation.py [--n 1000000] [--repeat 3] [--skip-samplics]``
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
import pandas as pd

from methods.design.survey import SurveyDesign


def make_data(n: int, n_strata: int = 10, n_domains: int = 6, seed: int = 12345) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    stratum = rng.integers(0, n_strata, n)
    domain = rng.integers(0, n_domains, n)
    p = 0.55 + 0.05 * domain / n_domains + 0.02 * (stratum % 3)
    y = (rng.random(n) < p).astype(np.float64)
    w = rng.uniform(5.0, 25.0, n) * (1 + stratum / n_strata)
    return pd.DataFrame({"stratum": stratum, "domain": domain, "y": y, "w": w})


def best_of(f, repeat: int):
    times = []
    out = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def samplics_prop(df: pd.DataFrame, domain: bool):
    from samplics import PopParam, TaylorEstimator

    est = TaylorEstimator(PopParam.prop)
    est.estimate(
        y=df["y"].to_numpy(),
        samp_weight=df["w"].to_numpy(),
        stratum=df["stratum"].to_numpy(),
        domain=df["domain"].to_numpy() if domain else None,
    )
    return est


def _samplics_p1(est, domain: bool):
    """(estimate, se) of P(y = 1) from samplics' nested dicts."""
    if not domain:
        return np.array([est.point_est[1.0]]), np.array([est.stderror[1.0]])
    keys = sorted(est.point_est)
    return (
        np.array([est.point_est[k][1.0] for k in keys]),
        np.array([est.stderror[k][1.0] for k in keys]),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--n-boot", type=int, default=100_000)
    ap.add_argument("--replicates", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-samplics", action="store_true")
    args = ap.parse_args()
    warnings.filterwarnings("ignore", category=FutureWarning)

    print(f"Taylor linearisation: n = {args.n:,}, 10 strata, 6 domains")
    df = make_data(args.n)

    def fresh_taylor():
        """Build the design, then estimate once overall and once by domain (no caches)."""
        t0 = time.perf_counter()
        design = SurveyDesign(df, weights="w", strata="stratum")
        t1 = time.perf_counter()
        overall = design.proportion("y")
        t2 = time.perf_counter()
        by_domain = design.by("domain").proportion("y")
        t3 = time.perf_counter()
        return t1 - t0, t2 - t1, t3 - t2, overall, by_domain

    runs = [fresh_taylor() for _ in range(args.repeat)]
    t_build = min(r[0] for r in runs)
    t_all = min(r[1] for r in runs)
    t_dom = min(r[2] for r in runs)
    ours_all, ours_dom = runs[0][3], runs[0][4]
    rows = [
        ("design construction", t_build, None),
        ("overall proportion (logit CI)", t_all, "all"),
        ("proportion by 6 domains", t_dom, "dom"),
    ]
    sam = {}
    if not args.skip_samplics:
        rep = max(1, min(args.repeat, 2))
        sam["all"] = best_of(lambda: samplics_prop(df, False), rep)
        sam["dom"] = best_of(lambda: samplics_prop(df, True), rep)

    print(f"{'step':34s} {'ours (s)':>9s} {'samplics (s)':>13s} {'ratio':>7s}")
    for label, t, key in rows:
        if key is None or key not in sam:
            print(f"{label:34s} {t:9.4f}")
            continue
        ts, est = sam[key]
        print(f"{label:34s} {t:9.4f} {ts:13.4f} {ts / t:6.1f}x")
    if sam:
        for key, ours in (("all", ours_all), ("dom", ours_dom)):
            p, se = _samplics_p1(sam[key][1], key == "dom")
            dp = np.max(np.abs(p - ours["estimate"].to_numpy()))
            dse = np.max(np.abs(se / ours["se"].to_numpy() - 1))
            print(f"  {key}: max |estimate diff| = {dp:.2e}, max relative SE diff = {dse:.2e}")
        t_sum = t_build + t_all + t_dom
        s_sum = sam["all"][0] + sam["dom"][0]
        print(
            f"  incl. design construction: ours {t_sum:.4f} s vs samplics {s_sum:.4f} s "
            f"({s_sum / t_sum:.1f}x)"
        )
        ok = all(sam[k][0] / t >= 8 for _, t, k in rows if k in sam)
        print(f"  target (>= 8x faster for both): {'met' if ok else 'NOT met'}")

    print(f"\nBootstrap: n = {args.n_boot:,}, {args.replicates} Rao-Wu replicates, 6 domains")
    dfb = make_data(args.n_boot, seed=999)
    base = SurveyDesign(dfb, weights="w", strata="stratum")

    def fresh_run():
        """Build the replicate weights and estimate once, from scratch (nothing cached)."""
        t0 = time.perf_counter()
        rep = base.replicate("subbootstrap", replicates=args.replicates, seed=1)
        t1 = time.perf_counter()
        res = rep.by("domain").proportion("y")
        t2 = time.perf_counter()
        return t1 - t0, t2 - t1, rep, res

    runs = [fresh_run() for _ in range(args.repeat)]
    t_rep, t_est, rep, res = min(runs, key=lambda r: r[0] + r[1])
    t_mean, _ = best_of(lambda: rep.by("domain").mean("y"), args.repeat)
    print(f"{'build replicate weights':34s} {t_rep:9.4f}")
    print(f"{'proportion by 6 domains (logit)':34s} {t_est:9.4f}")
    print(f"{'mean by 6 domains (normal CI)':34s} {t_mean:9.4f}")
    total = t_rep + t_est
    print(
        f"  build + proportion by domain: {total:.4f} s "
        f"(target < 1 s: {'met' if total < 1 else 'NOT met'})"
    )
    lin = base.by("domain").proportion("y")
    ratio = (res["se"] / lin["se"]).to_numpy()
    print(f"  bootstrap SE / linearisation SE by domain: {np.round(ratio, 3).tolist()}")


if __name__ == "__main__":
    main()
