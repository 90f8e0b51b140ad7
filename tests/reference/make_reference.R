# Writes every R figure the offline comparisons use into tests/reference/ (committed), so the
# checks against R's survey package also run where R is not installed.
# Usage (from the repository root): make r-reference
#   = Rscript tests/reference/make_reference.R tests/reference
# What it writes:
#   api/             R's api data (apistrat, apiclus1, apisrs; survey package, data(api)) and
#                    api_reference.csv, the figures of tests/r/api_reference.R
#   weighting_api/   the outputs of tests/r/weighting_api.R (weights, replicate weights, estimates)
#   scenarios/*.csv  one file per feature (tests/reference/scenarios.R): the long figures table
#                    (case, key, est, se, lo, hi, deff, df, p) plus the Python-side spec of each
#                    case (design, call), read by tests/test_reference_scenarios.py
#   replicates/      BRR with built-in and supplied Hadamard matrices, bootstrap scales
#                    (tests/reference/scenarios_replicates.R), read by tests/test_design_brr_r.py
# The live tests (tests/test_design_r_api.py, tests/test_weighting_r.py) still call R when it is
# there, and tests/test_reference_scenarios.py checks the committed files are what R gives now.
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference"
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)))
r_dir <- file.path(here, "..", "r")
run <- function(script, ...) {
  status <- system2(file.path(R.home("bin"), "Rscript"),
                    c("--vanilla", file.path(r_dir, script), ...))
  if (status != 0) stop(script, " failed")
}
dir.create(file.path(out, "api"), showWarnings = FALSE, recursive = TRUE)
dir.create(file.path(out, "weighting_api"), showWarnings = FALSE)
dir.create(file.path(out, "scenarios"), showWarnings = FALSE)
api <- file.path(out, "api")
run("export_api.R", api)
run("api_reference.R", api, file.path(api, "api_reference.csv"))
run("weighting_api.R", file.path(out, "weighting_api"))
status <- system2(file.path(R.home("bin"), "Rscript"),
                  c("--vanilla", file.path(here, "scenarios.R"), api, file.path(out, "scenarios")))
if (status != 0) stop("scenarios.R failed")
dir.create(file.path(out, "replicates"), showWarnings = FALSE)
status <- system2(file.path(R.home("bin"), "Rscript"),
                  c("--vanilla", file.path(here, "scenarios_replicates.R"), file.path(out, "replicates")))
if (status != 0) stop("scenarios_replicates.R failed")
