# Reference figures for tests/test_weighting_r.py on a victim-survey-shaped data set made by the
# test (numpy): respondents of a stratified simple random sample of victims (strata = offence
# group, fpc = victims in the stratum), weighted to a synthetic victim population.
# Usage: Rscript tests/r/weighting_victim.R DIR
# Reads DIR/respondents.csv, DIR/margins.csv (variable, level, total), DIR/cells.csv
# (age_group, gender, Freq), DIR/numeric.csv (variable, total), DIR/bounds.csv (scenario,
# lower, upper). Writes DIR/boot_repweights.csv and DIR/boot_meta.csv (R's bootstrap design),
# DIR/weights_<scenario>.csv, DIR/repweights_<scenario>.csv and DIR/estimates.csv.
suppressMessages(library(survey))
dir <- commandArgs(trailingOnly = TRUE)[1]
resp <- read.csv(file.path(dir, "respondents.csv"), stringsAsFactors = TRUE)
margins <- read.csv(file.path(dir, "margins.csv"), stringsAsFactors = FALSE)
cells <- read.csv(file.path(dir, "cells.csv"))
numeric <- read.csv(file.path(dir, "numeric.csv"), stringsAsFactors = FALSE)
bounds <- read.csv(file.path(dir, "bounds.csv"), stringsAsFactors = FALSE)

des <- svydesign(ids = ~1, strata = ~offence_group, fpc = ~fpc, weights = ~w, data = resp)
set.seed(20250401)
rdes <- as.svrepdesign(des, type = "bootstrap", replicates = 50, compress = FALSE)
write.csv(weights(rdes, "analysis"), file.path(dir, "boot_repweights.csv"), row.names = FALSE)
write.csv(data.frame(scale = rdes$scale, rscales = rdes$rscales),
          file.path(dir, "boot_meta.csv"), row.names = FALSE)

margin_df <- function(v) {
  m <- margins[margins$variable == v, c("level", "total")]
  df <- data.frame(factor(m$level, levels = levels(resp[[v]])), m$total)
  names(df) <- c(v, "Freq")
  df
}
# calibrate()'s population vector: intercept + treatment contrasts (+ numeric totals)
cal_pop <- function(vars, nums) {
  first <- margins[margins$variable == vars[1], ]
  pop <- c(`(Intercept)` = sum(first$total))
  for (v in vars) {
    m <- margins[margins$variable == v, ]
    lev <- levels(resp[[v]])
    tot <- m$total[match(lev, m$level)]
    pop <- c(pop, setNames(tot[-1], paste0(v, lev[-1])))
  }
  for (v in nums) pop <- c(pop, setNames(numeric$total[numeric$variable == v], v))
  pop
}
b <- function(s) c(bounds$lower[bounds$scenario == s], bounds$upper[bounds$scenario == s])
rake_vars <- c("age_group", "gender", "ethnicity", "district")
cal_vars <- c("age_group", "gender", "ethnicity")
f_rake <- ~age_group + gender + ethnicity + district
f_cal <- ~age_group + gender + ethnicity + days_to_contact
pop_rake <- cal_pop(rake_vars, character(0))
pop_cal <- cal_pop(cal_vars, "days_to_contact")
eps <- 1e-12
cells$age_group <- factor(cells$age_group, levels = levels(resp$age_group))
cells$gender <- factor(cells$gender, levels = levels(resp$gender))

scenarios <- list(
  ps = function(d) postStratify(d, ~age_group + gender, cells),
  rake = function(d) rake(d, lapply(rake_vars, function(v) as.formula(paste0("~", v))),
                          lapply(rake_vars, margin_df),
                          control = list(maxit = 500, epsilon = 1e-14)),
  rake_bounded = function(d) calibrate(d, f_rake, pop_rake, calfun = "raking",
                                       bounds = b("rake_bounded"), epsilon = eps, maxit = 100,
                                       compress = FALSE),
  cal_linear = function(d) calibrate(d, f_cal, pop_cal, compress = FALSE),
  cal_raking = function(d) calibrate(d, f_cal, pop_cal, calfun = "raking", epsilon = eps,
                                     maxit = 100, compress = FALSE),
  cal_logit = function(d) calibrate(d, f_cal, pop_cal, calfun = "logit",
                                    bounds = b("cal_logit"), epsilon = eps, maxit = 100,
                                    compress = FALSE)
)
rows <- list()
add <- function(scen, kind, stat, est) {
  rows[[length(rows) + 1]] <<- data.frame(scenario = scen, design = kind, stat = stat,
                                          estimate = unname(coef(est)), se = unname(SE(est)))
}
# Bounded calibration is infeasible in some bootstrap replicates (R then warns and keeps
# unconverged weights), so replicate references are made for the unbounded scenarios only.
on_replicates <- c("ps", "rake", "cal_linear", "cal_raking")
options(warn = 2)  # a non-converged reference is no reference
for (s in names(scenarios)) {
  for (kind in if (s %in% on_replicates) c("lin", "boot") else "lin") {
    d <- scenarios[[s]](if (kind == "lin") des else rdes)
    if (kind == "lin") {
      write.csv(data.frame(w = weights(d)), file.path(dir, paste0("weights_", s, ".csv")),
                row.names = FALSE)
    } else {
      write.csv(weights(d, "analysis"), file.path(dir, paste0("repweights_", s, ".csv")),
                row.names = FALSE)
    }
    add(s, kind, "mean_satisfied", svymean(~satisfied, d))
    add(s, kind, "total_satisfied", svytotal(~satisfied, d))
    add(s, kind, "mean_days_to_contact", svymean(~days_to_contact, d))
  }
}
write.csv(do.call(rbind, rows), file.path(dir, "estimates.csv"), row.names = FALSE)
