"""Benchmark: two-stage Taylor variance of a mean (R ``svymean`` on
``svydesign(id=~psu+ssu, strata=~st, fpc=~N1+N2)``) on 1,000,000 rows, 20 strata, 2,000 PSUs,
10 SSUs per PSU (target: design + estimate under 1 s).

Same run, same data:

* ours, full multistage variance (R's default) and ultimate cluster;
* samplics' TaylorEstimator: it supports one stage of PSUs only, so it is compared with the
  same ultimate-cluster computation (stratified, PSU = stage 1, with the stage-1 fpc);
* R ``svymean`` (full multistage) timed inside Rscript where it is installed (data passed as
  a CSV outside the timing; R's own ``system.time`` of ``svydesign`` + ``svymean``).

Prints timings (best of ``--repeat``), the ratios and the differences between the libraries,
and whether the acceptance holds: ours at least 10x faster than samplics on the same
ultimate-cluster computation, and the full multistage design + estimate under 1 s.

Usage: ``PYTHONPATH=src .venv/bin/python bench/multistage.py [--n 1000000] [--repeat 3]
[--skip-r]``
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from methods.design.survey import SurveyDesign


def make_data(n: int, n_strata: int = 20, n_psu: int = 2000, ssu_per_psu: int = 10, seed=7):
    """Seeded two-stage sample: PSUs split evenly over strata, SSUs within PSUs, rows in SSUs."""
    rng = np.random.default_rng(seed)
    psu = np.sort(rng.integers(0, n_psu, n))
    ssu = psu * ssu_per_psu + rng.integers(0, ssu_per_psu, n)
    st = psu % n_strata
    n_h = n_psu // n_strata
    N1 = np.full(n, 4.0 * n_h)
    N2 = np.full(n, 3.0 * ssu_per_psu)
    y = rng.normal(50, 10, n) + rng.normal(0, 5, n_psu)[psu] + rng.normal(0, 3, ssu.max() + 1)[ssu]
    return pd.DataFrame({"st": st, "psu": psu, "ssu": ssu, "N1": N1, "N2": N2, "y": y})


def best_of(f, repeat):
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t0)
    return min(times), out


def ours(df, uc):
    d = SurveyDesign(df, strata="st", ids=["psu", "ssu"], fpc=["N1", "N2"], ultimate_cluster=uc)
    r = d.mean("y", deff=False)
    return float(r["estimate"].iloc[0]), float(r["se"].iloc[0])


def samplics_uc(df, w):
    from samplics import PopParam, TaylorEstimator

    est = TaylorEstimator(PopParam.mean)
    est.estimate(
        y=df["y"].to_numpy(),
        samp_weight=w,
        stratum=df["st"].to_numpy(),
        psu=df["psu"].to_numpy(),
        fpc=dict(zip(range(20), 1 - (2000 / 20) / df.groupby("st")["N1"].first().to_numpy())),
    )
    return float(est.point_est), float(est.stderror)


R_CODE = """
suppressMessages(library(survey))
d <- read.csv("{csv}")
best <- Inf
for (i in 1:{repeat}) {{
  t <- system.time({{ des <- svydesign(id=~psu+ssu, strata=~st, fpc=~N1+N2, data=d)
                      m <- svymean(~y, des) }})[["elapsed"]]
  best <- min(best, t)
}}
cat(format(c(best, coef(m), SE(m)), digits = 17), "\\n")
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--skip-r", action="store_true", help="do not time R (about a minute)")
    args = ap.parse_args()
    df = make_data(args.n)
    print(f"n={args.n:,}, strata=20, PSUs={df['psu'].nunique()}, SSUs={df['ssu'].nunique()}")
    t_full, (e_full, se_full) = best_of(lambda: ours(df, False), args.repeat)
    t_uc, (e_uc, se_uc) = best_of(lambda: ours(df, True), args.repeat)
    print(f"ours, full multistage  {t_full:8.4f} s  mean {e_full:.6f} se {se_full:.6f}")
    print(f"ours, ultimate cluster {t_uc:8.4f} s  mean {e_uc:.6f} se {se_uc:.6f}")
    w = SurveyDesign(df, strata="st", ids=["psu", "ssu"], fpc=["N1", "N2"]).weights
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t_s, (e_s, se_s) = best_of(lambda: samplics_uc(df, w), args.repeat)
        print(
            f"samplics (one stage: ultimate cluster only) {t_s:8.4f} s; ratio samplics/ours(UC) "
            f"{t_s / t_uc:6.1f}x; |diff| mean {abs(e_s - e_uc):.2e} se {abs(se_s - se_uc):.2e}"
        )
        ok = t_s / t_uc >= 10 and t_full < 1.0
        print(
            f"acceptance (>= 10x samplics, full multistage < 1 s): {'met' if ok else 'NOT met'} "
            f"({t_s / t_uc:.1f}x, {t_full:.3f} s)"
        )
    except ImportError:
        print("samplics not installed: skipped")
    rs = shutil.which("Rscript")
    if args.skip_r:
        print("R skipped (--skip-r)")
        return
    if rs is None:
        print("Rscript not found: R skipped")
        return
    with tempfile.TemporaryDirectory() as tmp:
        csv = Path(tmp) / "d.csv"
        df.to_csv(csv, index=False)
        code = R_CODE.format(csv=csv, repeat=args.repeat)
        out = subprocess.run([rs, "--vanilla", "-e", code], capture_output=True, text=True)
    if out.returncode != 0:
        print("R failed:", out.stderr[-500:])
        return
    t_r, e_r, se_r = map(float, out.stdout.split()[:3])
    print(
        f"R svymean (full multistage) {t_r:8.4f} s; ratio R/ours {t_r / t_full:6.1f}x; "
        f"|diff| mean {abs(e_r - e_full):.2e} se {abs(se_r - se_full):.2e}"
    )


if __name__ == "__main__":
    main()
