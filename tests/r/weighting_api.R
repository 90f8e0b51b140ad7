# Reference figures for tests/test_weighting_r.py: post-stratification, raking and calibration
# of R's apiclus1 with the population figures from the survey package's own examples.
# Usage: Rscript tests/r/weighting_api.R OUTDIR
# Writes OUTDIR/apiclus1.csv (the data), OUTDIR/jk1_repweights.csv and OUTDIR/jk1_meta.csv
# (R's JK1 replicate design), OUTDIR/weights_<scenario>.csv, OUTDIR/repweights_<scenario>.csv
# and OUTDIR/estimates.csv (scenario, design, stat, estimate, se).
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
out <- args[1]
data(api)
apiclus1$awards01 <- as.numeric(apiclus1$awards == "Yes")
# a made-up response indicator for the non-response scenario (about 3 in 4 respond)
apiclus1$resp <- as.numeric(apiclus1$api99 %% 4 != 0)
write.csv(apiclus1[, c("cds", "dnum", "pw", "fpc", "stype", "sch.wide", "api99", "api00",
                       "enroll", "awards01", "resp")], file.path(out, "apiclus1.csv"),
          row.names = FALSE)

dclus1 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1, fpc = ~fpc)
rclus1 <- as.svrepdesign(dclus1, type = "JK1", compress = FALSE)
write.csv(weights(rclus1, "analysis"), file.path(out, "jk1_repweights.csv"), row.names = FALSE)
write.csv(data.frame(scale = rclus1$scale, rscales = rclus1$rscales),
          file.path(out, "jk1_meta.csv"), row.names = FALSE)

pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
pop.schwide <- data.frame(sch.wide = c("No", "Yes"), Freq = c(1072, 5122))
pop.rake <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, sch.wideYes = 5122)
pop.cal <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = 3914069)
eps <- 1e-12
ctl <- list(maxit = 500, epsilon = 1e-14)

scenarios <- list(
  ps = function(d) postStratify(d, ~stype, pop.types),
  rake = function(d) rake(d, list(~stype, ~sch.wide), list(pop.types, pop.schwide),
                          control = ctl),
  rake_bounded = function(d) calibrate(d, ~stype + sch.wide, pop.rake, calfun = "raking",
                                       bounds = c(0.7, 1.7), epsilon = eps, maxit = 100),
  cal_linear = function(d) calibrate(d, ~stype + api99, pop.cal, compress = FALSE),
  cal_linear_bounded = function(d) calibrate(d, ~stype + api99, pop.cal, calfun = "linear",
                                             bounds = c(0.7, 1.7), epsilon = eps, maxit = 100),
  cal_raking = function(d) calibrate(d, ~stype + api99, pop.cal, calfun = "raking",
                                     epsilon = eps, maxit = 100, compress = FALSE),
  cal_logit = function(d) calibrate(d, ~stype + api99, pop.cal, calfun = "logit",
                                    bounds = c(0.7, 1.7), epsilon = eps, maxit = 100),
  ps_then_cal = function(d) calibrate(postStratify(d, ~sch.wide, pop.schwide),
                                      ~stype + api99, pop.cal, compress = FALSE),
  # trimWeights keeps design$postStrata, so the calibration still shapes the variance
  cal_linear_trim = function(d) trimWeights(calibrate(d, ~stype + api99, pop.cal),
                                            lower = 25, upper = 45, strict = TRUE),
  # strict trimming redistributes over every unit not outside in the current pass, units left
  # at a cap by an earlier pass included (R's minimum weight ends at 20.0105..., not 20)
  cal_trim_strict = function(d) trimWeights(calibrate(d, ~stype + api99, pop.cal),
                                            lower = 20, upper = 45, strict = TRUE),
  cal_trim_single = function(d) trimWeights(calibrate(d, ~stype + api99, pop.cal),
                                            lower = 20, upper = 45, strict = FALSE)
)

rows <- list()
add <- function(scen, kind, stat, est) {
  rows[[length(rows) + 1]] <<- data.frame(scenario = scen, design = kind, stat = stat,
                                          estimate = unname(coef(est)), se = unname(SE(est)))
}
# Bounded calibration is infeasible in some JK1 replicates (R then warns and keeps unconverged
# weights), so replicate references are made for the unbounded scenarios only.
on_replicates <- c("ps", "rake", "cal_linear", "cal_raking", "ps_then_cal")
options(warn = 2)  # a non-converged reference is no reference
for (s in names(scenarios)) {
  for (kind in if (s %in% on_replicates) c("lin", "jk1") else "lin") {
    d <- scenarios[[s]](if (kind == "lin") dclus1 else rclus1)
    if (kind == "lin") {
      write.csv(data.frame(w = weights(d)), file.path(out, paste0("weights_", s, ".csv")),
                row.names = FALSE)
    } else {
      write.csv(weights(d, "analysis"), file.path(out, paste0("repweights_", s, ".csv")),
                row.names = FALSE)
    }
    add(s, kind, "mean_api00", svymean(~api00, d))
    add(s, kind, "total_enroll", svytotal(~enroll, d))
    add(s, kind, "mean_awards01", svymean(~awards01, d))
    by <- svyby(~api00, ~sch.wide, d, svymean)
    add(s, kind, "mean_api00_by_schwide_No", by[1, , drop = FALSE])
    add(s, kind, "mean_api00_by_schwide_Yes", by[2, , drop = FALSE])
  }
}
# Weighting-class non-response adjustment by stype, done by hand: respondents' weights times
# (sum of weights / sum of respondents' weights) in their class; then a design of the
# respondents (clusters and fpc as before), and that design raked.
apiclus1$wnr <- apiclus1$pw * ave(apiclus1$pw, apiclus1$stype, FUN = sum) /
  ave(apiclus1$pw * apiclus1$resp, apiclus1$stype, FUN = sum)
dnr <- svydesign(id = ~dnum, weights = ~wnr, data = subset(apiclus1, resp == 1), fpc = ~fpc)
nr_scen <- list(nr = function(d) d,
                nr_rake = function(d) rake(d, list(~stype, ~sch.wide),
                                           list(pop.types, pop.schwide), control = ctl))
for (s in names(nr_scen)) {
  d <- nr_scen[[s]](dnr)
  write.csv(data.frame(w = weights(d)), file.path(out, paste0("weights_", s, ".csv")),
            row.names = FALSE)
  add(s, "lin", "mean_api00", svymean(~api00, d))
  add(s, "lin", "total_enroll", svytotal(~enroll, d))
  add(s, "lin", "mean_awards01", svymean(~awards01, d))
}
# Weights far below the population scale: grake rescales them by the mean ratio first (and
# warns that the bounds apply after rescaling). With bounds c(0.7, 1.7) R's own Newton
# iteration breaks down here (NaN misfit), so the reference uses c(0.5, 2).
apiclus1$one <- 1
d1 <- svydesign(id = ~dnum, weights = ~one, data = apiclus1)
d <- suppressWarnings(calibrate(d1, ~stype + api99, pop.cal, calfun = "logit",
                                bounds = c(0.5, 2), epsilon = eps, maxit = 100))
write.csv(data.frame(w = weights(d)), file.path(out, "weights_cal_logit_rescaled.csv"),
          row.names = FALSE)
add("cal_logit_rescaled", "lin", "mean_api00", svymean(~api00, d))
add("cal_logit_rescaled", "lin", "total_enroll", svytotal(~enroll, d))
add("cal_logit_rescaled", "lin", "mean_awards01", svymean(~awards01, d))
write.csv(do.call(rbind, rows), file.path(out, "estimates.csv"), row.names = FALSE)
