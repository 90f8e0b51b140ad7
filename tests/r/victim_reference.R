# Reference figures on the synthetic victim survey (tests/r_support.py::make_victim_survey).
# Usage: Rscript victim_reference.R victim.csv boot_weights.csv fay_weights.csv OUT.csv
# The replicate-weight CSVs hold our own bootstrap and Fay-BRR weights (one column per
# replicate); R must get the same variances from them with svrepdesign().
args <- commandArgs(trailingOnly = TRUE)
here <- dirname(sub("^--file=", "", grep("^--file=", commandArgs(), value = TRUE)))
source(file.path(here, "helpers.R"))
v <- read.csv(args[1], stringsAsFactors = FALSE)
v$offence <- factor(v$offence, levels = c("burglary", "vehicle", "violent", "hate", "asb", "fraud"))
bootw <- as.matrix(read.csv(args[2]))
fayw <- as.matrix(read.csv(args[3]))
vt <- c("se", "ci")

# stratified element sample with fpc
vd <- svydesign(id = ~1, strata = ~district, weights = ~w, fpc = ~N_h, data = v)
emit_ciprop("v_prop_logit", svyciprop(~sat, vd, na.rm = TRUE), vd)
emit_ciprop("v_prop_beta", svyciprop(~sat, vd, method = "beta", na.rm = TRUE), vd)
emit_by("v_by_offence_prop_logit", svyby(~sat, ~offence, vd, svyciprop, vartype = vt, na.rm = TRUE))
emit_by("v_by_offence_prop_beta",
        svyby(~sat, ~offence, vd, svyciprop, vartype = vt, method = "beta", na.rm = TRUE))
emit_by("v_by_offence_mean_score",
        svyby(~score, ~offence, vd, svymean, na.rm = TRUE, deff = TRUE, vartype = vt))
emit_by("v_by_offence_total_sat",
        svyby(~sat, ~offence, vd, svytotal, na.rm = TRUE, deff = TRUE, vartype = vt))
emit_by("v_by_eth_mode_mean", svyby(~score, ~ethnic2 + mode, vd, svymean, na.rm = TRUE, vartype = vt))
emit_stat("v_ratio_sat_answered", svyratio(~sat0, ~answered, vd, deff = TRUE))
emit_ttest("v_ttest_eth", svyttest(sat ~ I(ethnic2 == "white"), subset(vd, !is.na(ethnic2))))
emit_ttest("v_ttest_mode_score", svyttest(score ~ I(mode == "paper"), vd))

# interviewer batches as PSUs (labels reused across districts: nest = TRUE), no fpc
vc <- svydesign(id = ~batch, strata = ~district, weights = ~w, nest = TRUE, data = v)
emit_stat("vc_mean_score", svymean(~score, vc, na.rm = TRUE, deff = TRUE))
emit_by("vc_by_offence_prop_logit", svyby(~sat, ~offence, vc, svyciprop, vartype = vt, na.rm = TRUE))
emit_ttest("vc_ttest_eth", svyttest(sat ~ I(ethnic2 == "white"), subset(vc, !is.na(ethnic2))))
rc <- as.svrepdesign(vc, type = "JKn")
emit_stat("vjkn_mean_score", svymean(~score, rc, na.rm = TRUE, deff = TRUE))
emit_by("vjkn_by_offence_prop_logit", svyby(~sat, ~offence, rc, svyciprop, vartype = vt, na.rm = TRUE))
emit_by("vjkn_by_offence_total_sat", svyby(~sat, ~offence, rc, svytotal, na.rm = TRUE, vartype = vt))
emit_ttest("vjkn_ttest_eth", svyttest(sat ~ I(ethnic2 == "white"), subset(rc, !is.na(ethnic2))))

# our Rao-Wu bootstrap weights (replicate("subbootstrap"), clusters = batches); svrepdesign has
# no "subbootstrap" type, and its "bootstrap" has the same 1/(R-1) scale
rb <- svrepdesign(data = v, repweights = bootw, weights = ~w, type = "bootstrap",
                  combined.weights = TRUE, mse = FALSE)
emit_stat("vboot_mean_score", svymean(~score, rb, na.rm = TRUE, deff = TRUE))
emit_stat("vboot_total_sat", svytotal(~sat, rb, na.rm = TRUE))
emit_ciprop("vboot_prop_logit", svyciprop(~sat, rb, na.rm = TRUE), rb)
emit_ciprop("vboot_prop_beta", svyciprop(~sat, rb, method = "beta", na.rm = TRUE), rb)
emit_by("vboot_by_offence_prop_logit", svyby(~sat, ~offence, rb, svyciprop, vartype = vt, na.rm = TRUE))
emit_by("vboot_by_offence_mean_score", svyby(~score, ~offence, rb, svymean, na.rm = TRUE, vartype = vt))
emit_ttest("vboot_ttest_eth", svyttest(sat ~ I(ethnic2 == "white"), subset(rb, !is.na(ethnic2))))
r <- svyratio(~sat0, ~answered, rb)
emit("vboot_ratio", "", coef(r), SE(r), confint(r)[, 1], confint(r)[, 2])
emit("vboot_degf", "", degf(rb))

# our Fay BRR weights (rho = 0.5) on the two half-samples per district
rf <- svrepdesign(data = v, repweights = fayw, weights = ~w, type = "Fay", rho = 0.5,
                  combined.weights = TRUE, mse = FALSE)
emit_stat("vfay_mean_score", svymean(~score, rf, na.rm = TRUE))
emit_stat("vfay_total_sat", svytotal(~sat, rf, na.rm = TRUE))
emit_by("vfay_by_offence_prop_logit", svyby(~sat, ~offence, rf, svyciprop, vartype = vt, na.rm = TRUE))
emit_ttest("vfay_ttest_eth", svyttest(sat ~ I(ethnic2 == "white"), subset(rf, !is.na(ethnic2))))
vh <- svydesign(id = ~half, strata = ~district, weights = ~w, nest = TRUE, data = v)
emit_stat("vh_total_sat", svytotal(~sat, vh, na.rm = TRUE))

write_results(args[4])
