"""Benchmark: a mean from 80 supplied replicate weights over 1,000,000 rows, time and peak memory.

Acceptance (issue 14): replicate-weight estimation with 80 replicates over 1M rows holds the
n x R float64 replicate matrix at most once beyond the caller's own data (no extra copies); the
peak is reported. The design is built with ``SurveyDesign.from_replicates`` (R
``svrepdesign(type="bootstrap", repweights=..., combined.weights=TRUE)``) from a DataFrame
whose 80 columns the caller already holds, and ``d.mean("y")`` is estimated. Memory is traced
with :mod:`tracemalloc` (numpy reports its buffers to it), from after the data are built to the
end of the estimate, so the figure is what the workbench adds. samplics' ``ReplicateEstimator``
(bootstrap, mean) runs on the same arrays in the same run, and the two standard errors are
compared.

Usage::

    .venv/bin/python bench/replicates.py [--rows 1000000] [--reps 80]
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
import pandas as pd

from methods.design import SurveyDesign


def build(rows: int, reps: int, seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    w = rng.uniform(5, 50, rows)
    y = (rng.random(rows) < 0.8).astype(float)
    mult = rng.poisson(1.0, size=(rows, reps)).astype(np.float64)  # bootstrap multipliers
    cols = {"w": w, "y": y}
    cols.update({f"rw{r + 1}": w * mult[:, r] for r in range(reps)})
    return pd.DataFrame(cols)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--reps", type=int, default=80)
    args = ap.parse_args()
    n, R = args.rows, args.reps
    data = build(n, R)
    one_copy = n * R * 8
    print(f"{n:,} rows x {R} replicate weights: the replicate matrix is {one_copy / 2**20:,.0f} MiB")

    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    t0 = time.perf_counter()
    d = SurveyDesign.from_replicates(data, weights="w", repweights="^rw", type="bootstrap")
    t_build = time.perf_counter() - t0
    t1 = time.perf_counter()
    est = d.mean("y")
    t_est = time.perf_counter() - t1
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    added = peak - base
    ours_se = float(est["se"].iloc[0])
    print(f"workbench: build {t_build:.2f} s, mean {t_est:.2f} s; peak added memory "
          f"{added / 2**20:,.0f} MiB = {added / one_copy:.2f} x the replicate matrix")  # fmt: skip

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from samplics import PopParam
            from samplics.estimation import ReplicateEstimator
            from samplics.utils.types import RepMethod
    except ImportError:  # pragma: no cover - samplics is in the lock file
        print("samplics not installed: no ratio")
        return
    rw = data.filter(regex="^rw").to_numpy()
    t2 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sm = ReplicateEstimator(RepMethod.bootstrap, PopParam.mean).estimate(
            data["y"].to_numpy(), data["w"].to_numpy(), rw
        )
    t_sm = time.perf_counter() - t2
    sm_se = float(np.sqrt(np.asarray(list(sm.variance.values())
                                     if isinstance(sm.variance, dict) else sm.variance).ravel()[0]))  # fmt: skip
    print(f"samplics ReplicateEstimator: {t_sm:.2f} s (on an array it is handed); "
          f"workbench build + mean {t_build + t_est:.2f} s: ratio {t_sm / (t_build + t_est):.1f}x")
    # samplics scales the bootstrap variance by 1/R, R's svrepdesign(type="bootstrap") by 1/(R-1)
    sm_r = sm_se * np.sqrt(R / (R - 1))
    print(f"standard errors: workbench {ours_se:.6g}, samplics {sm_se:.6g}; samplics on R's "
          f"1/(R-1) scale {sm_r:.6g} (relative difference {abs(ours_se - sm_r) / sm_r:.1e})")
    if added > 1.5 * one_copy:
        raise SystemExit(f"peak added memory {added / one_copy:.2f} x the replicate matrix (> 1.5)")


if __name__ == "__main__":
    main()
