"""Benchmark: Fay-Herriot REML fit + Prasad-Rao MSE for 1,000 areas (issue 16: under 1 s).

The areas are synthetic (seeded): three covariates and an intercept, design variances of
proportions from 5..500 respondents. The Python time is the best of 5 runs of
``fit_fay_herriot(..., method="REML")`` (which includes the MSE). When R and a copy of the sae
sources are available (``--sae``: a cran/sae checkout or its bare git mirror), R's
``mseFH(method="REML")`` (which refits with eblupFH) is timed on the same data (best of 3) and
the ratio printed; the two EBLUP vectors are also compared.

Usage::

    .venv/bin/python bench/fayherriot.py [--areas 1000] [--sae /work/.mirror/cran+sae/repo/.git]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from methods.smallarea import fit_fay_herriot

TARGET_S = 1.0
R_SCRIPT = r"""
args <- commandArgs(trailingOnly = TRUE)
src <- args[1]; d <- read.csv(args[2])
sae_file <- function(path) {
  if (file.exists(file.path(src, path))) return(file.path(src, path))
  tmp <- tempfile(fileext = ".R")
  system2("git", c(paste0("--git-dir=", src), "show", paste0("HEAD:", path)), stdout = tmp)
  tmp
}
library(MASS)
source(sae_file("R/eblupFH.R")); source(sae_file("R/mseFH.R"))
X <- as.matrix(d[, grep("^x", names(d))])
best <- Inf
for (i in 1:3) {
  t <- system.time(r <- mseFH(d$y ~ X - 1, d$vardir, method = "REML"))[["elapsed"]]
  best <- min(best, t)
}
write.csv(data.frame(eblup = r$est$eblup, mse = r$mse), args[3], row.names = FALSE)
cat(sprintf("%.6f\n", best))
"""


def make_areas(m: int, seed: int = 20261207) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(5, 501, m)
    x = rng.uniform(-1, 1, (m, 3))
    p = 1 / (1 + np.exp(-(1.0 + x @ np.array([0.4, -0.3, 0.2]) + rng.normal(0, 0.3, m))))
    y = rng.binomial(n, p) / n
    y = np.clip(y, 0.5 / n, 1 - 0.5 / n)
    d = pd.DataFrame({"y": y, "vardir": y * (1 - y) / n, "x0": 1.0})
    for j in range(3):
        d[f"x{j + 1}"] = x[:, j]
    return d


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--areas", type=int, default=1000)
    ap.add_argument("--sae", default="/work/.mirror/cran+sae/repo/.git")
    args = ap.parse_args(argv)
    d = make_areas(args.areas)
    X = d.filter(regex="^x").to_numpy()
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        fit = fit_fay_herriot(d.y, d.vardir, X, method="REML")
        best = min(best, time.perf_counter() - t0)
    print(
        f"Fay-Herriot REML + MSE, {args.areas} areas: {best * 1000:.1f} ms "
        f"({fit.iterations} iterations; target < {TARGET_S:g} s: "
        f"{'met' if best < TARGET_S else 'NOT met'})"
    )
    rscript = shutil.which("Rscript")
    if rscript and Path(args.sae).exists():
        with tempfile.TemporaryDirectory(prefix="vsw-bench-fh-") as tmp:
            data, script, out = Path(tmp, "d.csv"), Path(tmp, "b.R"), Path(tmp, "r.csv")
            d.to_csv(data, index=False, float_format="%.17g")
            script.write_text(R_SCRIPT)
            res = subprocess.run(
                [rscript, "--vanilla", str(script), args.sae, str(data), str(out)],
                capture_output=True,
                text=True,
                check=True,
            )
            r_s = float(res.stdout.strip().splitlines()[-1])
            r = pd.read_csv(out)
        gap = max(np.abs(r.eblup - fit.eblup).max(), np.abs(r.mse - fit.mse).max())
        print(
            f"R sae mseFH REML on the same data: {r_s * 1000:.1f} ms; R / Python = "
            f"{r_s / best:.1f}x; largest |EBLUP or MSE difference| = {gap:.2e}"
        )
    else:
        print("R or the sae sources not found: R timing skipped")
    return 0 if best < TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
