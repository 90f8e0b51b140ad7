# Reference figures from R's survey package on the api data.
# Usage: Rscript api_reference.R DATADIR OUT.csv   (DATADIR holds the CSVs from export_api.R)
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)))
source(file.path(here, "helpers.R"))
dir <- args[1]
rd <- function(nm) read.csv(file.path(dir, paste0(nm, ".csv")), stringsAsFactors = FALSE)

# Derived columns (tests/test_design_r.py::api_frames builds the same ones).
derive <- function(d) {
  d$yes <- as.numeric(d$sch.wide == "Yes")
  d$both_yes <- as.numeric(d$both == "Yes")
  d$ed3 <- as.numeric(d$avg.ed > 3)
  d
}
apistrat <- derive(rd("apistrat"))
apiclus1 <- derive(rd("apiclus1"))
apisrs <- derive(rd("apisrs"))
nh <- table(apistrat$stype)
apistrat$frac <- as.numeric(nh[apistrat$stype]) / apistrat$fpc
apiclus1$lstr <- ifelse(apiclus1$dnum == min(apiclus1$dnum), "s0",
                        ifelse(apiclus1$dnum %% 2 == 0, "s1", "s2"))

vt <- c("se", "ci")

# ---- apistrat: stratified element sample, fpc as counts --------------------------------------
dstrat <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
emit_stat("strat_mean_api00", svymean(~api00, dstrat, deff = TRUE))
emit_stat("strat_total_enroll", svytotal(~enroll, dstrat, deff = TRUE))
emit_stat("strat_ratio_api00_api99", svyratio(~api00, ~api99, dstrat, deff = TRUE))
emit_stat("strat_mean_avged_na", svymean(~avg.ed, dstrat, na.rm = TRUE, deff = TRUE))
emit_stat("strat_mean_yes_deff", svymean(~yes, dstrat, deff = TRUE))
emit_by("strat_by_awards_mean", svyby(~api00, ~awards, dstrat, svymean, deff = TRUE, vartype = vt))
emit_by("strat_by_awards_total", svyby(~enroll, ~awards, dstrat, svytotal, deff = TRUE, vartype = vt))
emit_by("strat_by_both_mean_na",
        svyby(~avg.ed, ~both, dstrat, svymean, na.rm = TRUE, deff = TRUE, vartype = vt))
emit_by("strat_by_stype_ratio",
        svyby(~api00, ~stype, dstrat, svyratio, denominator = ~api99, deff = TRUE, vartype = vt))
emit_ciprop("strat_prop_logit", svyciprop(~yes, dstrat, method = "logit"), dstrat)
emit_ciprop("strat_prop_beta", svyciprop(~yes, dstrat, method = "beta"), dstrat)
emit_ciprop("strat_prop_ed3_logit_na", svyciprop(~ed3, dstrat, method = "logit", na.rm = TRUE), dstrat)
emit_ciprop("strat_prop_ed3_beta_na", svyciprop(~ed3, dstrat, method = "beta", na.rm = TRUE), dstrat)
emit_ciprop("strat_prop_ed3_likelihood_na",
            svyciprop(~ed3, dstrat, method = "likelihood", na.rm = TRUE), dstrat)
emit_by("strat_by_stype_prop_ed3_likelihood_na",
        svyby(~ed3, ~stype, dstrat, svyciprop, vartype = vt, method = "likelihood", na.rm = TRUE))
emit_by("strat_by_stype_prop_logit", svyby(~both_yes, ~stype, dstrat, svyciprop, vartype = vt, method = "logit"))
emit_by("strat_by_yrrnd_prop_beta", svyby(~both_yes, ~yr.rnd, dstrat, svyciprop, vartype = vt, method = "beta"))
emit_by("strat_by_yrrnd_prop_logit", svyby(~both_yes, ~yr.rnd, dstrat, svyciprop, vartype = vt, method = "logit"))
emit_ttest("strat_ttest_awards", svyttest(api00 ~ I(awards == "Yes"), dstrat))
emit_ttest("strat_ttest_both_na", svyttest(avg.ed ~ I(both == "Yes"), dstrat))
emit_ttest("strat_ttest_E_M", svyttest(api00 ~ I(stype == "E"), subset(dstrat, stype %in% c("E", "M"))))
# the same difference as a contrast of domain means with the joint covariance
dstrat$variables$inE <- as.numeric(apistrat$stype == "E")
dstrat$variables$inM <- as.numeric(apistrat$stype == "M")
dstrat$variables$yE <- apistrat$api00 * dstrat$variables$inE
dstrat$variables$yM <- apistrat$api00 * dstrat$variables$inM
rr <- svyratio(~yE + yM, ~inE + inM, dstrat, covmat = TRUE)
ct <- svycontrast(rr, c(1, 0, 0, -1))
emit("strat_contrast_E_M", "", coef(ct), SE(ct))

# fpc as fractions, and no fpc (with replacement)
dstratf <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~frac, data = apistrat)
emit_stat("stratfrac_mean_api00", svymean(~api00, dstratf, deff = TRUE))
emit_by("stratfrac_by_awards_mean", svyby(~api00, ~awards, dstratf, svymean, deff = TRUE, vartype = vt))
dstrat0 <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat)
emit_stat("strat0_mean_api00", svymean(~api00, dstrat0, deff = TRUE))
emit_stat("strat0_total_enroll", svytotal(~enroll, dstrat0, deff = TRUE))
emit_by("strat0_by_awards_mean", svyby(~api00, ~awards, dstrat0, svymean, deff = TRUE, vartype = vt))
# weights from the fpc alone
dstratw <- svydesign(id = ~1, strata = ~stype, fpc = ~fpc, data = apistrat)
emit_stat("stratw_mean_api00", svymean(~api00, dstratw))
emit_stat("stratw_total_enroll", svytotal(~enroll, dstratw))

# JKn replicate version (fpc enters the rscales)
rstrat <- as.svrepdesign(dstrat, type = "JKn")
emit_stat("jkn_mean_api00", svymean(~api00, rstrat, deff = TRUE))
emit_stat("jkn_total_enroll", svytotal(~enroll, rstrat, deff = TRUE))
r <- svyratio(~api00, ~api99, rstrat)
emit("jkn_ratio_api00_api99", "", coef(r), SE(r), confint(r)[, 1], confint(r)[, 2])
emit_by("jkn_by_awards_mean", svyby(~api00, ~awards, rstrat, svymean, deff = TRUE, vartype = vt))
emit_ciprop("jkn_prop_logit", svyciprop(~yes, rstrat, method = "logit"), rstrat)
emit_ciprop("jkn_prop_beta", svyciprop(~yes, rstrat, method = "beta"), rstrat)
emit_by("jkn_by_stype_prop_logit", svyby(~both_yes, ~stype, rstrat, svyciprop, vartype = vt, method = "logit"))
emit_by("jkn_by_stype_prop_beta", svyby(~both_yes, ~stype, rstrat, svyciprop, vartype = vt, method = "beta"))
emit_ttest("jkn_ttest_awards", svyttest(api00 ~ I(awards == "Yes"), rstrat))
rstrat0 <- as.svrepdesign(dstrat0, type = "JKn")
emit_stat("jkn0_mean_api00", svymean(~api00, rstrat0))
emit("jkn_degf", "", degf(rstrat))

# ---- apiclus1: one-stage cluster sample of districts -----------------------------------------
dclus1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
emit_stat("clus_mean_api00", svymean(~api00, dclus1, deff = TRUE))
emit_stat("clus_total_enroll", svytotal(~enroll, dclus1, deff = TRUE))
emit_stat("clus_ratio_api00_api99", svyratio(~api00, ~api99, dclus1, deff = TRUE))
emit_by("clus_by_stype_mean", svyby(~api00, ~stype, dclus1, svymean, deff = TRUE, vartype = vt))
emit_by("clus_by_stype_total", svyby(~enroll, ~stype, dclus1, svytotal, deff = TRUE, vartype = vt))
emit_ciprop("clus_prop_logit", svyciprop(~yes, dclus1, method = "logit"), dclus1)
emit_ciprop("clus_prop_beta", svyciprop(~yes, dclus1, method = "beta"), dclus1)
emit_ciprop("clus_prop_likelihood", svyciprop(~yes, dclus1, method = "likelihood"), dclus1)
emit_by("clus_by_stype_prop_likelihood",
        svyby(~yes, ~stype, dclus1, svyciprop, vartype = vt, method = "likelihood"))
emit_by("clus_by_stype_prop_logit", svyby(~yes, ~stype, dclus1, svyciprop, vartype = vt, method = "logit"))
emit_by("clus_by_stype_prop_beta", svyby(~yes, ~stype, dclus1, svyciprop, vartype = vt, method = "beta"))
emit_ttest("clus_ttest_E", svyttest(api00 ~ I(stype == "E"), dclus1))
dclus1n <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1)
emit_stat("clus0_mean_api00", svymean(~api00, dclus1n, deff = TRUE))
emit_by("clus0_by_stype_mean", svyby(~api00, ~stype, dclus1n, svymean, deff = TRUE, vartype = vt))

# JK1 (fpc enters the scale), with and without fpc, and mse = TRUE
rclus1 <- as.svrepdesign(dclus1, type = "JK1")
emit_stat("jk1_mean_api00", svymean(~api00, rclus1, deff = TRUE))
emit_stat("jk1_total_enroll", svytotal(~enroll, rclus1, deff = TRUE))
r <- svyratio(~api00, ~api99, rclus1)
emit("jk1_ratio_api00_api99", "", coef(r), SE(r), confint(r)[, 1], confint(r)[, 2])
emit_by("jk1_by_stype_mean", svyby(~api00, ~stype, rclus1, svymean, deff = TRUE, vartype = vt))
emit_by("jk1_by_stype_total", svyby(~enroll, ~stype, rclus1, svytotal, vartype = vt))
emit_ciprop("jk1_prop_logit", svyciprop(~yes, rclus1, method = "logit"), rclus1)
emit_ciprop("jk1_prop_beta", svyciprop(~yes, rclus1, method = "beta"), rclus1)
emit_by("jk1_by_stype_prop_logit", svyby(~yes, ~stype, rclus1, svyciprop, vartype = vt, method = "logit"))
rclus1n <- as.svrepdesign(dclus1n, type = "JK1")
emit_stat("jk10_mean_api00", svymean(~api00, rclus1n))
rclus1m <- as.svrepdesign(dclus1n, type = "JK1", mse = TRUE)
emit_stat("jk1mse_mean_api00", svymean(~api00, rclus1m))
emit_stat("jk1mse_ratio", {r <- svyratio(~api00, ~api99, rclus1m); r})

# post-stratified to the school-type counts: exercises the calibration hook of svyrecvar
pop <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
dps <- postStratify(dclus1, ~stype, pop)
emit_stat("ps_mean_api00", svymean(~api00, dps, deff = TRUE))
emit_stat("ps_total_enroll", svytotal(~enroll, dps, deff = TRUE))
emit_by("ps_by_awards_mean", svyby(~api00, ~awards, dps, svymean, deff = TRUE, vartype = vt))
emit_by("ps_by_stype_mean", svyby(~api00, ~stype, dps, svymean, vartype = vt))
emit_ciprop("ps_prop_beta", svyciprop(~both_yes, dps, method = "beta"), dps)
emit_ciprop("ps_prop_logit", svyciprop(~both_yes, dps, method = "logit"), dps)
emit_by("ps_by_yrrnd_prop_beta", svyby(~both_yes, ~yr.rnd, dps, svyciprop, vartype = vt, method = "beta"))
emit_by("ps_by_yrrnd_prop_logit", svyby(~both_yes, ~yr.rnd, dps, svyciprop, vartype = vt, method = "logit"))
emit_ttest("ps_ttest_awards", svyttest(api00 ~ I(awards == "Yes"), dps))

# ---- single-PSU strata: apiclus1 with strata lstr (stratum s0 holds one district) ------------
for (mode in c("certainty", "remove", "average", "adjust")) {
  options(survey.lonely.psu = mode)
  dl <- svydesign(id = ~dnum, strata = ~lstr, weights = ~pw, data = apiclus1)
  emit_stat(paste0("lonely_", mode, "_mean_api00"), svymean(~api00, dl))
  emit_stat(paste0("lonely_", mode, "_total_enroll"), svytotal(~enroll, dl))
  emit_by(paste0("lonely_", mode, "_by_stype_mean"), svyby(~api00, ~stype, dl, svymean, vartype = vt))
  rl <- as.svrepdesign(dl, type = "JKn")
  emit_stat(paste0("lonely_", mode, "_jkn_mean_api00"), svymean(~api00, rl))
}
options(survey.lonely.psu = "fail")

# ---- apisrs: weights from the fpc; exact binomial and Wilson intervals -----------------------
dsrs <- svydesign(id = ~1, fpc = ~fpc, data = apisrs)
emit_stat("srs_mean_api00", svymean(~api00, dsrs, deff = TRUE))
emit_stat("srs_total_enroll", svytotal(~enroll, dsrs, deff = TRUE))
emit_ciprop("srs_prop_logit", svyciprop(~yes, dsrs, method = "logit"), dsrs)
x <- sum(apisrs$yes); n <- nrow(apisrs)
b <- binom.test(x, n)$conf.int
emit("srs_binom_test", "", x / n, NA, b[1], b[2])
w <- prop.test(x, n, correct = FALSE)$conf.int
emit("srs_prop_test_wilson", "", x / n, NA, w[1], w[2])
for (xn in list(c(81, 263), c(15, 148), c(0, 20), c(1, 29))) {
  b <- binom.test(xn[1], xn[2])$conf.int
  w <- prop.test(xn[1], xn[2], correct = FALSE)$conf.int
  emit(paste0("binom_", xn[1], "_", xn[2]), "", xn[1] / xn[2], NA, b[1], b[2])
  emit(paste0("wilson_", xn[1], "_", xn[2]), "", xn[1] / xn[2], NA, w[1], w[2])
}

write_results(args[2])
