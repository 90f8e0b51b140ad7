# Scenario files for tests/test_reference_scenarios.py: one CSV per feature, each row a figure R's
# survey package gives (case, key, est, se, lo, hi, deff, df, p) and the Python-side spec of the
# case beside the R call that made it:
#   design  "data=<file>;weights=pw;strata=stype;psu=dnum;fpc=fpc;single_psu=adjust;replicate=jkn"
#   call    "<method>:<arg>,<arg>;<kw>=<value>" on the design, with "by=<col>|" for domains
# Usage: Rscript scenarios.R APIDIR OUTDIR (APIDIR holds R's api data from tests/r/export_api.R)
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
api_dir <- args[1]
out <- args[2]
rd <- function(nm) read.csv(file.path(api_dir, paste0(nm, ".csv")), stringsAsFactors = FALSE)

.rows <- list()
put <- function(case, design, call, key, est, se = NA, lo = NA, hi = NA, deff = NA, df = NA,
                p = NA) {
  n <- length(est)
  r <- function(x) if (length(x) == n) x else rep(x, length.out = n)
  .rows[[length(.rows) + 1]] <<- data.frame(
    case = case, key = as.character(r(key)), est = as.numeric(est), se = as.numeric(r(se)),
    lo = as.numeric(r(lo)), hi = as.numeric(r(hi)), deff = as.numeric(r(deff)),
    df = as.numeric(r(df)), p = as.numeric(r(p)), design = design, call = call,
    stringsAsFactors = FALSE)
}
stat <- function(case, design, call, obj) {
  ci <- confint(obj)
  d <- attr(obj, "deff")
  d <- if (is.null(d)) NA else diag(as.matrix(d))
  nm <- if (length(coef(obj)) > 1) rnames(names(coef(obj))) else ""
  put(case, design, call, nm, coef(obj), SE(obj), ci[, 1], ci[, 2], d)
}
# R's names of factor terms, "factor(awards)Yes", as the engine names them: "awardsYes"
rnames <- function(nm) gsub("factor\\((\\w+)\\)", "\\1", nm)
by <- function(case, design, call, b) {
  dcol <- grep("^DEff", names(b), value = TRUE)
  put(case, design, call, rownames(b), coef(b), SE(b), b[["ci_l"]], b[["ci_u"]],
      if (length(dcol)) b[[dcol[1]]] else NA)
}
ciprop <- function(case, design, call, obj, des) {
  ci <- attr(obj, "ci")
  put(case, design, call, "", as.numeric(obj), sqrt(as.numeric(attr(obj, "var"))), ci[1], ci[2],
      df = degf(des))
}
flush <- function(feature) {
  write.csv(do.call(rbind, .rows), file.path(out, paste0(feature, ".csv")), row.names = FALSE)
  .rows <<- list()
}
save_data <- function(d, name) {
  write.csv(d, file.path(out, paste0("data_", name, ".csv")), row.names = FALSE)
}
vt <- c("se", "ci")

# ---- data: R's api samples with the 0/1 and grouping columns the cases use ------------------
apistrat <- rd("apistrat")
apistrat$yes <- as.numeric(apistrat$sch.wide == "Yes")
apistrat$meals_hi <- as.numeric(apistrat$meals > 50)
apistrat$api00_na <- ifelse(seq_len(nrow(apistrat)) %% 23 == 4, NA, apistrat$api00)  # 9 NAs
apistrat <- apistrat[, c("cds", "stype", "pw", "fpc", "api00", "api99", "enroll", "meals",
                         "yes", "meals_hi", "awards", "cname", "api00_na")]
save_data(apistrat, "apistrat")
apiclus1 <- rd("apiclus1")
apiclus1$yes <- as.numeric(apiclus1$sch.wide == "Yes")
apiclus1$meals_hi <- as.numeric(apiclus1$meals > 50)
# three strata of districts, one of them holding a single district (a lonely PSU)
apiclus1$lstr <- ifelse(apiclus1$dnum == min(apiclus1$dnum), "s0",
                        ifelse(apiclus1$dnum %% 2 == 0, "s1", "s2"))
# domains for lonely_domains: "one" = the single school of district 413 (n = 1, one PSU of s2
# within the domain), "pair" = district 406 (one PSU of s1) and district 61 (lonely s0)
apiclus1$dom1 <- ifelse(apiclus1$dnum == 413, "one",
                        ifelse(apiclus1$dnum %in% c(406, 61), "pair", "rest"))
apiclus1$lstr2 <- ifelse(apiclus1$lstr == "s0", "s1", apiclus1$lstr)  # no lonely stratum
apiclus1 <- apiclus1[, c("cds", "dnum", "stype", "lstr", "pw", "fpc", "api00", "api99",
                         "enroll", "yes", "meals_hi", "awards", "dom1", "lstr2")]
save_data(apiclus1, "apiclus1")

# ---- feature: Taylor-linearised totals, means, ratios and domains (svytotal/svymean/svyratio/
# svyby, deff = TRUE); stratified with fpc, one-stage cluster with and without fpc -------------
S <- "data=apistrat;weights=pw;strata=stype;fpc=fpc"
ds <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
stat("strat_mean_meals", S, "mean:meals", svymean(~meals, ds, deff = TRUE))
stat("strat_total_api99", S, "total:api99", svytotal(~api99, ds, deff = TRUE))
stat("strat_ratio_api99_enroll", S, "ratio:api99,enroll", svyratio(~api99, ~enroll, ds, deff = TRUE))
by("strat_by_awards_mean_meals", S, "by=awards|mean:meals",
   svyby(~meals, ~awards, ds, svymean, deff = TRUE, vartype = vt))
by("strat_by_stype_total_api99", S, "by=stype|total:api99",
   svyby(~api99, ~stype, ds, svytotal, deff = TRUE, vartype = vt))
C <- "data=apiclus1;weights=pw;psu=dnum;fpc=fpc"
dc <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
stat("clus_mean_api99", C, "mean:api99", svymean(~api99, dc, deff = TRUE))
stat("clus_ratio_api00_enroll", C, "ratio:api00,enroll", svyratio(~api00, ~enroll, dc, deff = TRUE))
by("clus_by_awards_mean_api99", C, "by=awards|mean:api99",
   svyby(~api99, ~awards, dc, svymean, deff = TRUE, vartype = vt))
C0 <- "data=apiclus1;weights=pw;psu=dnum"
dc0 <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1)
stat("clus0_total_enroll", C0, "total:enroll", svytotal(~enroll, dc0, deff = TRUE))
flush("taylor_estimators")

# ---- feature: replicate designs made from the design (as.svrepdesign JKn, JK1, JK1 mse) ------
SJ <- paste0(S, ";replicate=jkn")
rs <- as.svrepdesign(ds, type = "JKn")
stat("jkn_mean_meals", SJ, "mean:meals", svymean(~meals, rs))
stat("jkn_total_api99", SJ, "total:api99", svytotal(~api99, rs))
by("jkn_by_awards_mean_meals", SJ, "by=awards|mean:meals",
   svyby(~meals, ~awards, rs, svymean, vartype = vt))
CJ <- paste0(C, ";replicate=jk1")
rc <- as.svrepdesign(dc, type = "JK1")
stat("jk1_mean_api99", CJ, "mean:api99", svymean(~api99, rc))
by("jk1_by_awards_total_enroll", CJ, "by=awards|total:enroll",
   svyby(~enroll, ~awards, rc, svytotal, vartype = vt))
CM <- paste0(C0, ";replicate=jk1;mse=1")
rm <- as.svrepdesign(dc0, type = "JK1", mse = TRUE)
stat("jk1mse_total_enroll", CM, "total:enroll", svytotal(~enroll, rm))
flush("replicate_designs")

# ---- feature: proportions with logit and Clopper-Pearson-on-effective-n (beta) intervals ----
ciprop("strat_prop_meals_logit", S, "proportion:meals_hi",
       svyciprop(~meals_hi, ds, method = "logit"), ds)
ciprop("strat_prop_meals_beta", S, "proportion:meals_hi;ci=beta",
       svyciprop(~meals_hi, ds, method = "beta"), ds)
ciprop("clus_prop_yes_logit", C, "proportion:yes", svyciprop(~yes, dc, method = "logit"), dc)
ciprop("jk1_prop_yes_beta", CJ, "proportion:yes;ci=beta",
       svyciprop(~yes, rc, method = "beta"), rc)
flush("proportions")

# ---- feature: strata with a single PSU under each survey.lonely.psu option ------------------
for (mode in c("certainty", "remove", "average", "adjust")) {
  options(survey.lonely.psu = mode)
  L <- paste0("data=apiclus1;weights=pw;strata=lstr;psu=dnum;single_psu=", mode)
  dl <- svydesign(id = ~dnum, strata = ~lstr, weights = ~pw, data = apiclus1)
  stat(paste0("lonely_", mode, "_mean_api99"), L, "mean:api99", svymean(~api99, dl))
  by(paste0("lonely_", mode, "_by_awards_total"), L, "by=awards|total:enroll",
     svyby(~enroll, ~awards, dl, svytotal, vartype = vt))
}
options(survey.lonely.psu = "fail")
flush("lonely_psu")

# ---- feature: one-respondent domains and domains with one PSU in a stratum, each lonely-PSU
# option, with and without survey.adjust.domain.lonely; Taylor and JKn replicate designs -----
for (mode in c("certainty", "remove", "average", "adjust")) {
  for (adl in c(FALSE, TRUE)) {
    options(survey.lonely.psu = mode, survey.adjust.domain.lonely = adl)
    L <- paste0("data=apiclus1;weights=pw;strata=lstr;psu=dnum;single_psu=", mode,
                if (adl) ";adjust_domain_lonely=1" else "")
    tag <- paste0("dom_", mode, if (adl) "_adl" else "")
    dl <- svydesign(id = ~dnum, strata = ~lstr, weights = ~pw, data = apiclus1)
    by(paste0(tag, "_mean"), L, "by=dom1|mean:api99", svyby(~api99, ~dom1, dl, svymean, vartype = vt))
    by(paste0(tag, "_total"), L, "by=dom1|total:enroll",
       svyby(~enroll, ~dom1, dl, svytotal, vartype = vt))
    if (!adl) {
      rl <- as.svrepdesign(dl, type = "JKn")
      by(paste0(tag, "_jkn_total"), paste0(L, ";replicate=jkn"), "by=dom1|total:enroll",
         svyby(~enroll, ~dom1, rl, svytotal, vartype = vt))
    }
  }
}
# "fail": no stratum of the whole design is lonely, so the domains' one-PSU strata only warn
for (adl in c(FALSE, TRUE)) {
  options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = adl)
  L <- paste0("data=apiclus1;weights=pw;strata=lstr2;psu=dnum;single_psu=error",
              if (adl) ";adjust_domain_lonely=1" else "")
  dl <- svydesign(id = ~dnum, strata = ~lstr2, weights = ~pw, data = apiclus1)
  by(paste0("dom_fail", if (adl) "_adl" else "", "_total"), L, "by=dom1|total:enroll",
     svyby(~enroll, ~dom1, dl, svytotal, vartype = vt))
}
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)
flush("lonely_domains")

# ---- feature: svyciprop's other interval methods (mean, asin, xlogit), Taylor and replicate --
ci_methods <- function(tag, spec, des, var) {
  for (m in c("mean", "asin", "xlogit", "logit", "beta")) {
    f <- as.formula(paste0("~", var))
    ciprop(paste0(tag, "_ciprop_", m), spec, paste0("proportion:", var, ";ci=", m),
           svyciprop(f, des, method = m), des)
  }
}
ci_methods("strat", S, ds, "meals_hi")
ci_methods("clus", C, dc, "yes")
ci_methods("jkn", SJ, rs, "meals_hi")
ci_methods("jk1", CJ, rc, "yes")
flush("ciprop_methods")

# ---- feature: several variables and factors at once with the full covariance (R vcov), and
# svyvar (population variance / covariance matrix with its SE), Taylor and replicate ---------
# call "mean:a+b" = several columns; ">>vcov" = the covariance entries, keyed "row:col"
vc <- function(case, design, call, obj) {
  V <- as.matrix(vcov(obj))
  nm <- rnames(names(coef(obj)))
  put(case, design, call, as.vector(outer(nm, nm, paste, sep = ":")), as.vector(V))
}
svar <- function(case, design, call, obj) {
  nm <- colnames(as.matrix(obj))
  key <- if (length(nm) == 1) nm else as.vector(outer(nm, nm, paste, sep = ":"))
  put(case, design, call, key, as.vector(as.matrix(obj)), sqrt(diag(as.matrix(attr(obj, "var")))))
}
many <- function(tag, spec, des, rep) {
  f2 <- ~api00 + api99
  stat(paste0(tag, "_mean_api00_api99"), spec, "mean:api00+api99",
       svymean(f2, des, deff = !rep))
  vc(paste0(tag, "_vcov_mean_api00_api99"), spec, "mean:api00+api99>>vcov", svymean(f2, des))
  stat(paste0(tag, "_total_enroll_api00"), spec, "total:enroll+api00",
       svytotal(~enroll + api00, des, deff = !rep))
  vc(paste0(tag, "_vcov_total_enroll_api00"), spec, "total:enroll+api00>>vcov",
     svytotal(~enroll + api00, des))
  stat(paste0(tag, "_mean_factor_awards"), spec, "mean:awards", svymean(~factor(awards), des))
  vc(paste0(tag, "_vcov_mean_api00_awards"), spec, "mean:api00+awards>>vcov",
     svymean(~api00 + factor(awards), des))
  vc(paste0(tag, "_vcov_total_awards"), spec, "total:awards>>vcov",
     svytotal(~factor(awards), des))
  svar(paste0(tag, "_var_api00"), spec, "var:api00", svyvar(~api00, des))
  svar(paste0(tag, "_var_api00_api99_enroll"), spec, "var:api00+api99+enroll",
       svyvar(~api00 + api99 + enroll, des))
  b <- svyby(~api00, ~awards, des, svyvar, vartype = if (rep) "se" else vt)
  put(paste0(tag, "_by_awards_var_api00"), spec, "by=awards|var:api00", rownames(b), b[[2]],
      b[["se"]], if (rep) NA else b[["ci_l"]], if (rep) NA else b[["ci_u"]])
}
many("strat", S, ds, FALSE)
many("clus", C, dc, FALSE)
many("jkn", SJ, rs, TRUE)
many("jk1", CJ, rc, TRUE)
flush("variance_vcov")

# ---- feature: design effects against SRS without (deff=TRUE) and with replacement
# (deff="replace"), Taylor and replicate, whole sample and domains ------------------------
for (dd in list(list("strat", S, ds), list("clus", C, dc), list("clus0", C0, dc0),
                list("jkn", SJ, rs), list("jk1", CJ, rc))) {
  tag <- dd[[1]]; spec <- dd[[2]]; des <- dd[[3]]
  for (df_ in c("TRUE", "replace")) {
    de <- if (df_ == "TRUE") TRUE else "replace"
    sfx <- if (df_ == "TRUE") "" else ";deff=replace"
    stat(paste0(tag, "_deff", df_, "_mean_api00"), spec, paste0("mean:api00", sfx),
         svymean(~api00, des, deff = de))
    stat(paste0(tag, "_deff", df_, "_total_enroll"), spec, paste0("total:enroll", sfx),
         svytotal(~enroll, des, deff = de))
    stat(paste0(tag, "_deff", df_, "_mean_api00_enroll"), spec,
         paste0("mean:api00+enroll", sfx), svymean(~api00 + enroll, des, deff = de))
    if (!inherits(des, "svyrep.design"))
      stat(paste0(tag, "_deff", df_, "_ratio_api00_enroll"), spec,
           paste0("ratio:api00,enroll", sfx), svyratio(~api00, ~enroll, des, deff = de))
    by(paste0(tag, "_deff", df_, "_by_awards_mean_api00"), spec,
       paste0("by=awards|mean:api00", sfx),
       svyby(~api00, ~awards, des, svymean, deff = de, vartype = vt))
  }
}
flush("design_effects")

# ---- feature: linear and nonlinear contrasts (svycontrast) with their vcov, Taylor and
# replicate (replicate designs: the contrast of each replicate, return.replicates=TRUE) -------
# call "<estimator>>>contrast:<name>=<spec>&<name>=<spec>[>>vcov]", spec "[a=1 b=-1]" (linear)
# or an expression of the estimates' names (nonlinear)
cstat <- function(case, design, call, obj) {
  ci <- confint(obj)
  put(case, design, call, if (length(coef(obj)) > 1) names(coef(obj)) else "",
      as.vector(coef(obj)), sqrt(diag(as.matrix(vcov(obj)))), ci[, 1], ci[, 2])
}
cvc <- function(case, design, call, obj) {
  V <- as.matrix(vcov(obj))
  nm <- names(coef(obj))
  put(case, design, call, as.vector(outer(nm, nm, paste, sep = ":")), as.vector(V))
}
contrasts_for <- function(tag, spec, des) {
  rep <- inherits(des, "svyrep.design")
  m <- if (rep) svymean(~api00 + api99, des, return.replicates = TRUE) else
    svymean(~api00 + api99, des)
  m0 <- svymean(~api00 + api99, des)  # R's linear svycontrast fails on return.replicates
  M <- "mean:api00+api99>>contrast:"
  cstat(paste0(tag, "_lin_diff"), spec, paste0(M, "contrast=[api00=1 api99=-1]"),
        svycontrast(m0, c(api00 = 1, api99 = -1)))
  two <- svycontrast(m0, list(diff = c(api00 = 1, api99 = -1), avg = c(api00 = 0.5, api99 = 0.5)))
  L2 <- paste0(M, "diff=[api00=1 api99=-1]&avg=[api00=0.5 api99=0.5]")
  cstat(paste0(tag, "_lin_two"), spec, L2, two)
  cvc(paste0(tag, "_lin_two_vcov"), spec, paste0(L2, ">>vcov"), two)
  cstat(paste0(tag, "_nl_ratio"), spec, paste0(M, "contrast=api00/api99"),
        svycontrast(m, quote(api00 / api99)))
  nl <- svycontrast(m, list(r = quote(api00 / api99), l = quote(log(api00) - log(api99)),
                            g = quote(sqrt(api00 * api99))))
  N2 <- paste0(M, "r=api00/api99&l=log(api00)-log(api99)&g=sqrt(api00*api99)")
  cstat(paste0(tag, "_nl_three"), spec, N2, nl)
  cvc(paste0(tag, "_nl_three_vcov"), spec, paste0(N2, ">>vcov"), nl)
  t2 <- if (rep) svytotal(~api00 + enroll, des, return.replicates = TRUE) else
    svytotal(~api00 + enroll, des)
  cstat(paste0(tag, "_nl_total_ratio"), spec, "total:api00+enroll>>contrast:contrast=api00/enroll",
        svycontrast(t2, quote(api00 / enroll)))
  b <- svyby(~api00, ~awards, des, svymean, covmat = TRUE)
  cstat(paste0(tag, "_by_lin"), spec, "by=awards|mean:api00>>contrast:contrast=[Yes=1 No=-1]",
        svycontrast(b, c(Yes = 1, No = -1)))
  b <- if (rep) svyby(~api00, ~awards, des, svymean, covmat = TRUE, return.replicates = TRUE) else b
  cstat(paste0(tag, "_by_nl"), spec, "by=awards|mean:api00>>contrast:contrast=Yes/No",
        svycontrast(b, quote(Yes / No)))
}
contrasts_for("strat", S, ds)
contrasts_for("clus", C, dc)
contrasts_for("jkn", SJ, rs)
contrasts_for("jk1", CJ, rc)
flush("contrasts")

# ---- R's own bootstrap replicate weights (as.svrepdesign(type="subbootstrap"), fixed seed),
# committed as data_rep_strat_boot.csv (n x 50 analysis weights) so the engine uses exactly
# R's replicates: design "...;repweights=strat_boot;scale=<R's scale>" (rscales all 1)
set.seed(20261207)
rb <- as.svrepdesign(ds, type = "subbootstrap", replicates = 50)
stopifnot(all(rb$rscales == 1))
write.csv(as.data.frame(weights(rb, "analysis")), file.path(out, "data_rep_strat_boot.csv"),
          row.names = FALSE)
SB <- paste0(S, ";repweights=strat_boot;scale=", format(rb$scale, digits = 17))

# ---- feature: quantiles (svyquantile, survey >= 4.1): every qrule, every interval.type,
# Taylor and replicate designs, whole sample and domains (svyby's subsets), ci=FALSE --------
# keys "<variable>.<p>" (whole sample) and "<level>.<p>" (domains); call kw "probs=a+b"
qput <- function(case, design, call, obj, lab = names(obj)) {
  for (i in seq_along(obj)) {
    r <- obj[[i]]
    if (is.null(rownames(r)) || !attr(obj, "hasci")) {  # ci = FALSE: one row of estimates
      put(case, design, call, paste(lab[i], colnames(r), sep = "."), as.vector(r))
    } else {
      put(case, design, call, paste(lab[i], rownames(r), sep = "."), r[, 1], r[, 4], r[, 2],
          r[, 3])
    }
  }
}
qcase <- function(case, spec, des, var, probs, qrule = "math", it = "mean", ci = TRUE,
                  by = NULL, alpha = 0.05) {
  call <- paste0("quantile:", var, ";probs=", paste(probs, collapse = "+"))
  if (alpha != 0.05) call <- paste0(call, ";conf_level=", 1 - alpha)
  if (qrule != "math") call <- paste0(call, ";qrule=", qrule)
  if (it != "mean") call <- paste0(call, ";interval_type=", it)
  if (!ci) call <- paste0(call, ";ci=False")
  f <- as.formula(paste0("~", var))
  # svyquantile.svyrep.design ignores interval.type "beta"/"xlogit"/"asin" (it calls
  # woodruffCI with its default method, "mean"); the engine does what was asked, so R's own
  # woodruffCI is called with that method on the replicate design
  svq <- if (inherits(des, "svyrep.design") && it %in% c("beta", "xlogit", "asin")) {
    function(f, d, probs, qrule, interval.type, ci, alpha) {
      x <- d$variables[[var]]
      w <- weights(d, "sampling")
      qf <- get(paste0("qrule_", qrule), envir = asNamespace("survey"))
      df <- degf(d)
      r <- t(sapply(probs, function(p) {
        qhat <- qf(x, w, p)
        cc <- survey:::woodruffCI(x, qhat, p, d, qf, alpha, df, method = interval.type)
        c(qhat, cc, diff(cc) / (2 * qt(1 - alpha / 2, df)))
      }))
      rownames(r) <- probs
      structure(list(r), names = var, hasci = TRUE)
    }
  } else svyquantile
  if (is.null(by)) {
    qput(case, spec, call, svq(f, des, probs, qrule = qrule, interval.type = it, ci = ci,
                               alpha = alpha))
  } else {
    call <- paste0("by=", by, "|", call)
    for (lev in sort(unique(des$variables[[by]]))) {
      sub <- des[des$variables[[by]] == lev, ]
      qput(case, spec, call, svq(f, sub, probs, qrule = qrule, interval.type = it, ci = ci,
                                 alpha = alpha), lev)
    }
  }
}
P5 <- c(0.1, 0.25, 0.5, 0.75, 0.9)
rules <- c("math", "school", "shahvaish", paste0("hf", 1:9))
for (dd in list(list("strat", S, ds, "api00"), list("clus", C, dc, "enroll"),
                list("clus0", C0, dc0, "api99"), list("jkn", SJ, rs, "api00"),
                list("jk1", CJ, rc, "enroll"), list("boot", SB, rb, "api00"))) {
  tag <- dd[[1]]; spec <- dd[[2]]; des <- dd[[3]]; v <- dd[[4]]
  rep <- inherits(des, "svyrep.design")
  its <- if (rep) c("mean", "beta", "xlogit", "asin", "quantile") else
    c("mean", "beta", "xlogit", "asin", "score")
  for (qr in rules) qcase(paste0(tag, "_q_", qr), spec, des, v, P5, qrule = qr)
  for (it in its) for (qr in c("math", "hf7", "school"))
    qcase(paste0(tag, "_q_", it, "_", qr), spec, des, v, c(0.25, 0.5, 0.9), qrule = qr, it = it)
  qcase(paste0(tag, "_q_noci"), spec, des, v, P5, ci = FALSE)
  qcase(paste0(tag, "_q_noci_hf7"), spec, des, v, P5, qrule = "hf7", ci = FALSE)
  for (it in its) qcase(paste0(tag, "_q_by_awards_", it), spec, des, v, c(0.25, 0.5), it = it,
                        by = "awards")
  qcase(paste0(tag, "_q_by_stype_hf7"), spec, des, v, c(0.5, 0.75), qrule = "hf7", by = "stype")
  for (it in its[c(1, 2, 5)])
    qcase(paste0(tag, "_q_alpha10_", it), spec, des, v, c(0.25, 0.5), it = it, alpha = 0.1)
}
flush("quantiles")

# ---- feature: the other statistics on R's own bootstrap replicates (svymean/svytotal/svyvar,
# vcov, deff, svycontrast) -----------------------------------------------------------------
many("boot", SB, rb, TRUE)
stat("boot_deffreplace_mean_api00", SB, "mean:api00;deff=replace",
     svymean(~api00, rb, deff = "replace"))
stat("boot_deffTRUE_total_enroll", SB, "total:enroll", svytotal(~enroll, rb, deff = TRUE))
contrasts_for("boot", SB, rb)
flush("bootstrap_supplied")

# ---- feature: missing values (na.rm=TRUE) in the new estimators: a row missing any variable
# is dropped for all; svyvar's n/(n-1) counts the design's rows before dropping (as R) ------
for (dd in list(list("strat", S, ds), list("jkn", SJ, rs))) {
  tag <- dd[[1]]; spec <- dd[[2]]; des <- dd[[3]]
  rep <- inherits(des, "svyrep.design")
  stat(paste0(tag, "_na_mean_two"), spec, "mean:api00_na+api99",
       svymean(~api00_na + api99, des, na.rm = TRUE, deff = TRUE))
  vc(paste0(tag, "_na_vcov_total_two"), spec, "total:api00_na+enroll>>vcov",
     svytotal(~api00_na + enroll, des, na.rm = TRUE))
  svar(paste0(tag, "_na_var"), spec, "var:api00_na", svyvar(~api00_na, des, na.rm = TRUE))
  svar(paste0(tag, "_na_var_two"), spec, "var:api00_na+api99",
       svyvar(~api00_na + api99, des, na.rm = TRUE))
  qput(paste0(tag, "_na_quantile"), spec, "quantile:api00_na;probs=0.25+0.5",
       svyquantile(~api00_na, des, c(0.25, 0.5), na.rm = TRUE))
  it <- if (rep) "quantile" else "score"
  qput(paste0(tag, "_na_quantile_", it), spec,
       paste0("quantile:api00_na;probs=0.25+0.5;interval_type=", it),
       svyquantile(~api00_na, des, c(0.25, 0.5), na.rm = TRUE, interval.type = it))
}
flush("missing_values")

# ---- feature: the new estimators on a post-stratified design (postStratify on stype with
# the api population counts, R's own example): svyrecvar's postStrata adjustment ----------
# design key "poststratify=<col>:<level>=<N>,<level>=<N>"
pop.types <- data.frame(stype = c("E", "H", "M"), Freq = c(4421, 755, 1018))
CP <- paste0(C, ";poststratify=stype:E=4421,H=755,M=1018")
dcp <- postStratify(dc, ~stype, pop.types)
stat("ps_mean_two", CP, "mean:api00+api99", svymean(~api00 + api99, dcp, deff = TRUE))
vc("ps_vcov_mean_two", CP, "mean:api00+api99>>vcov", svymean(~api00 + api99, dcp))
svar("ps_var_two", CP, "var:api00+enroll", svyvar(~api00 + enroll, dcp))
stat("ps_deffreplace_total", CP, "total:enroll;deff=replace",
     svytotal(~enroll, dcp, deff = "replace"))
cstat("ps_nl_ratio", CP, "mean:api00+api99>>contrast:contrast=api00/api99",
      svycontrast(svymean(~api00 + api99, dcp), quote(api00 / api99)))
for (it in c("mean", "beta", "xlogit", "asin", "score"))
  qcase(paste0("ps_q_", it), CP, dcp, "api00", c(0.25, 0.5, 0.9), it = it)
qcase("ps_q_hf7", CP, dcp, "api00", c(0.25, 0.5, 0.9), qrule = "hf7")
for (it in c("mean", "beta", "score"))
  qcase(paste0("ps_q_by_awards_", it), CP, dcp, "api00", c(0.5, 0.75), it = it, by = "awards")

# ---- calibrate's options (issue 14) on the stratified sample, R's api totals (stype counts
# and the api99 total of R's calibrate examples), epsilon = 1e-10 as the engine's tol:
# variance= (heteroscedastic q_k = enroll), bounds.const = TRUE (bounds on the weights
# themselves), force = TRUE after too few iterations (R warns "Failed to converge").
# design key "calibrate=<col>:<level>=<N>,..&<numeric col>=<total>" with the options as
# "cal_distance=raking;cal_bounds=<lo>+<hi>;cal_bounds_const=1;cal_variance=<col>;
# cal_max_iter=<k>;cal_force=1" (calfun, bounds, bounds.const, variance, maxit, force) -------
cal_pop <- c(`(Intercept)` = 6194, stypeH = 755, stypeM = 1018, api99 = 3914069)
CALS <- paste0(S, ";calibrate=stype:E=4421,H=755,M=1018&api99=3914069")
cal_case <- function(case, opts, ...) {
  des <- suppressWarnings(calibrate(ds, ~stype + api99, cal_pop, epsilon = 1e-10, ...))
  spec <- paste0(CALS, opts)
  stat(paste0(case, "_total"), spec, "total:api00+enroll",
       svytotal(~api00 + enroll, des, deff = TRUE))
  stat(paste0(case, "_mean"), spec, "mean:api00", svymean(~api00, des, deff = TRUE))
}
cal_case("cal_linear", "")
cal_case("cal_linear_var", ";cal_variance=enroll", variance = apistrat$enroll)
cal_case("cal_raking_var", ";cal_distance=raking;cal_variance=enroll", calfun = "raking",
         variance = apistrat$enroll)
cal_case("cal_logit_var", ";cal_distance=logit;cal_bounds=0.5+2;cal_variance=enroll",
         calfun = "logit", bounds = c(0.5, 2), variance = apistrat$enroll)
cal_case("cal_linear_const", ";cal_bounds=15+45;cal_bounds_const=1", bounds = c(15, 45),
         bounds.const = TRUE)
cal_case("cal_raking_const", ";cal_distance=raking;cal_bounds=14.8+45;cal_bounds_const=1",
         calfun = "raking", bounds = c(14.8, 45), bounds.const = TRUE)
cal_case("cal_logit_const", ";cal_distance=logit;cal_bounds=14+45.5;cal_bounds_const=1",
         calfun = "logit", bounds = c(14, 45.5), bounds.const = TRUE)
cal_case("cal_raking_force", ";cal_distance=raking;cal_max_iter=1;cal_force=1",
         calfun = "raking", maxit = 1, force = TRUE)
cal_case("cal_linear_var_const", ";cal_bounds=15+45;cal_bounds_const=1;cal_variance=enroll",
         bounds = c(15, 45), bounds.const = TRUE, variance = apistrat$enroll)
# calfun = cal.sinh (alpha = 1), and R's own dasinh/ddasinh formulas with alpha = 0.5 (R's
# cal.sinh fixes alpha at 1), the upper bound binding: design option cal_alpha=<alpha>
cal_case("cal_sinh", ";cal_distance=sinh;cal_bounds=0.95+1.02", calfun = cal.sinh,
         bounds = c(0.95, 1.02))
sinh_alpha <- function(alpha) make.calfun(
  function(u, bounds) {
    p <- asinh(2 * alpha * u)
    pmin(pmax((p + sqrt(p^2 + 4 * alpha^2)) / (2 * alpha), bounds$lower), bounds$upper) - 1
  },
  function(u, bounds) {
    p <- asinh(2 * alpha * u)
    ifelse(u < bounds$upper - 1 & u > bounds$lower - 1,
           1 / sqrt(1 + (2 * alpha * u)^2) * (1 + p / sqrt(p^2 + 4 * alpha^2)), 0)
  }, paste("sinh, alpha", alpha))
cal_case("cal_sinh_alpha05", ";cal_distance=sinh;cal_bounds=0.95+1.02;cal_alpha=0.5",
         calfun = sinh_alpha(0.5), bounds = c(0.95, 1.02))
# aggregate.stage = 1 on the one-stage cluster sample: calibration on district means, so g is
# constant within districts (design option cal_aggregate_stage=1)
CALC <- paste0(C, ";calibrate=stype:E=4421,H=755,M=1018&api99=3914069;cal_aggregate_stage=1")
agg_case <- function(case, opts, ...) {
  des <- suppressWarnings(calibrate(dc, ~stype + api99, cal_pop, epsilon = 1e-10,
                                    aggregate.stage = 1, ...))
  spec <- paste0(CALC, opts)
  stat(paste0(case, "_total"), spec, "total:api00+enroll",
       svytotal(~api00 + enroll, des, deff = TRUE))
  stat(paste0(case, "_mean"), spec, "mean:api00", svymean(~api00, des, deff = TRUE))
}
agg_case("cal_agg_linear", "")
agg_case("cal_agg_raking", ";cal_distance=raking", calfun = "raking")
agg_case("cal_agg_linear_var", ";cal_variance=enroll", variance = apiclus1$enroll)
agg_case("cal_agg_logit", ";cal_distance=logit;cal_bounds=0.2+3.2", calfun = "logit",
         bounds = c(0.2, 3.2))
flush("calibrated")

# ---- feature: replicate designs from supplied weights (svrepdesign): R's JK1 weights of the
# one-stage cluster design, committed as data_rep_clus_jk1.csv, given back to svrepdesign under
# each type (its default scale), as multipliers (combined.weights=FALSE), and with mse and a
# user scale/rscales. Design "data=apiclus1;weights=pw;repweights=clus_jk1;reptype=<type>;..."
rj <- as.svrepdesign(svydesign(id = ~dnum, weights = ~pw, data = apiclus1), type = "JK1")
rw <- as.data.frame(weights(rj, "analysis"))
names(rw) <- paste0("r", seq_len(ncol(rw)))
write.csv(rw, file.path(out, "data_rep_clus_jk1.csv"), row.names = FALSE)
mult <- as.matrix(rw) / apiclus1$pw
for (ty in c("JK1", "BRR", "bootstrap")) {
  sd <- svrepdesign(data = apiclus1, repweights = as.matrix(rw), weights = ~pw, type = ty)
  D <- paste0("data=apiclus1;weights=pw;repweights=clus_jk1;reptype=", ty)
  stat(paste0("sup_", ty, "_mean"), D, "mean:api99", svymean(~api99, sd))
  by(paste0("sup_", ty, "_by_total"), D, "by=awards|total:enroll",
     svyby(~enroll, ~awards, sd, svytotal, vartype = vt))
}
sd <- svrepdesign(data = apiclus1, repweights = as.matrix(rw), weights = ~pw, type = "Fay",
                  rho = 0.3)
stat("sup_Fay_mean", "data=apiclus1;weights=pw;repweights=clus_jk1;reptype=Fay;rho=0.3",
     "mean:api99", svymean(~api99, sd))
sd <- svrepdesign(data = apiclus1, repweights = mult, weights = ~pw, type = "JK1",
                  combined.weights = FALSE)
stat("sup_JK1_mult_total", "data=apiclus1;weights=pw;repweights=clus_jk1;reptype=JK1;multipliers=1",
     "total:enroll", svytotal(~enroll, sd))
sd <- svrepdesign(data = apiclus1, repweights = as.matrix(rw), weights = ~pw, type = "other",
                  scale = 0.5, rscales = 1.5, mse = TRUE)
stat("sup_other_mse_total",
     "data=apiclus1;weights=pw;repweights=clus_jk1;reptype=other;scale=0.5;rscales=1.5;mse=1",
     "total:enroll", svytotal(~enroll, sd))
flush("supplied_replicates")

# ---- feature: multistage designs (svydesign ids=~psu+ssu, fpc per stage): full multistage
# variance (survey:::multistage) and ultimate cluster (options(survey.ultimate.cluster=TRUE)).
# R's own two-stage samples apiclus2 (fpc as counts) and mu284 (SSU labels repeated across
# PSUs: R nests them silently, the engine needs nest=TRUE), and a stratified two-stage sample
# drawn here with a fixed seed (PSU labels repeated across strata, fpc as fractions) -----------
data(api, package = "survey")
data(mu284, package = "survey")
apiclus2 <- apiclus2[, c("dnum", "snum", "fpc1", "fpc2", "stype", "api00", "api99", "enroll")]
apiclus2$fpc2 <- as.numeric(apiclus2$fpc2)
# district 200 (5 of its schools sampled) keeps api00 for its first school only: na.rm=TRUE
# subsets the design to rows where it is present, leaving that district one school
apiclus2$api00_na <- apiclus2$api00
apiclus2$api00_na[which(apiclus2$dnum == 200)[-1]] <- NA
save_data(apiclus2, "apiclus2")
mu <- data.frame(id1 = mu284$id1, id2 = mu284$id2, n1 = mu284$n1, n2 = mu284$n2,
                 y1 = mu284$y1, g = ifelse(mu284$id1 %in% c(19, 45), "a", "b"))
save_data(mu, "mu284")
set.seed(20261207)
sm <- do.call(rbind, lapply(1:4, function(h) {
  N1 <- 10 + 5 * h; n1 <- 3 + (h %% 2)
  do.call(rbind, lapply(seq_len(n1), function(i) {
    N2 <- sample(4:9, 1); n2 <- 2 + (i %% 2)
    do.call(rbind, lapply(seq_len(n2), function(j) {
      m <- 3
      data.frame(st = paste0("h", h), psu = i, ssu = j, f1 = n1 / N1, f2 = n2 / N2,
                 w = (N1 / n1) * (N2 / n2) * 2, y = round(rnorm(m, 50 + 5 * h + 3 * i, 8), 2),
                 x = round(runif(m, 1, 3), 3), g = sample(c("u", "v"), m, replace = TRUE))
    }))
  }))
}))
# d2: "one" = the first SSU of every PSU (each PSU of 2-3 SSUs holds one SSU of the domain:
# lonely within the domain at stage 2), "p1" = the other SSUs of PSU 1 (each stratum holds one
# PSU of the domain: lonely within the domain at stage 1), "rest"
sm$d2 <- ifelse(sm$ssu == 1, "one", ifelse(sm$psu == 1, "p1", "rest"))
# y_na: missing in stratum h1 outside PSU 1, so na.rm=TRUE leaves h1 one PSU (stage 1)
sm$y_na <- ifelse(sm$st == "h1" & sm$psu != 1, NA, sm$y)
save_data(sm, "stratms")
for (uc in c(FALSE, TRUE)) {
  options(survey.ultimate.cluster = uc)
  u <- if (uc) ";ultimate_cluster=1" else ""
  tag <- if (uc) "_uc" else ""
  A <- paste0("data=apiclus2;ids=dnum+snum;fpc=fpc1+fpc2", u)
  da <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
  stat(paste0("apiclus2", tag, "_mean_api00"), A, "mean:api00", svymean(~api00, da, deff = TRUE))
  stat(paste0("apiclus2", tag, "_total_enroll"), A, "total:enroll",
       svytotal(~enroll, da, na.rm = TRUE, deff = TRUE))
  stat(paste0("apiclus2", tag, "_ratio"), A, "ratio:api00,api99",
       svyratio(~api00, ~api99, da, deff = TRUE))
  by(paste0("apiclus2", tag, "_by_stype_mean"), A, "by=stype|mean:api00",
     svyby(~api00, ~stype, da, svymean, deff = TRUE, vartype = vt))
  by(paste0("apiclus2", tag, "_by_stype_total"), A, "by=stype|total:enroll",
     svyby(~enroll, ~stype, da, svytotal, na.rm = TRUE, vartype = vt))
  M <- paste0("data=mu284;ids=id1+id2;fpc=n1+n2;nest=1", u)
  dm <- svydesign(id = ~id1 + id2, fpc = ~n1 + n2, data = mu)
  stat(paste0("mu284", tag, "_mean"), M, "mean:y1", svymean(~y1, dm, deff = TRUE))
  stat(paste0("mu284", tag, "_total"), M, "total:y1", svytotal(~y1, dm, deff = TRUE))
  by(paste0("mu284", tag, "_by_g_mean"), M, "by=g|mean:y1",
     svyby(~y1, ~g, dm, svymean, vartype = vt))
  X <- paste0("data=stratms;weights=w;strata=st;ids=psu+ssu;fpc=f1+f2;nest=1", u)
  dx <- svydesign(id = ~psu + ssu, strata = ~st, fpc = ~f1 + f2, weights = ~w, data = sm,
                  nest = TRUE)
  stat(paste0("stratms", tag, "_mean"), X, "mean:y", svymean(~y, dx, deff = TRUE))
  stat(paste0("stratms", tag, "_total"), X, "total:y", svytotal(~y, dx, deff = TRUE))
  stat(paste0("stratms", tag, "_ratio"), X, "ratio:y,x", svyratio(~y, ~x, dx))
  by(paste0("stratms", tag, "_by_g_mean"), X, "by=g|mean:y",
     svyby(~y, ~g, dx, svymean, vartype = vt))
}
options(survey.ultimate.cluster = FALSE)
# domains in which a PSU holds one of its sampled SSUs, under each survey.lonely.psu option
# with and without survey.adjust.domain.lonely: "adjust" leaves that PSU's SSU total
# uncentred; "average" makes onestrat's scale NA, and onestage, with no other stratum in the
# PSU to average over, gives NaN, so R's SE of such a domain is NaN (apiclus2: H and M)
for (mode in c("certainty", "remove", "average", "adjust")) {
  for (adl in c(FALSE, TRUE)) {
    options(survey.lonely.psu = mode, survey.adjust.domain.lonely = adl)
    o <- paste0(";single_psu=", mode, if (adl) ";adjust_domain_lonely=1" else "")
    tag <- paste0("_", mode, if (adl) "_adl" else "")
    da <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
    by(paste0("apiclus2_dom", tag), paste0("data=apiclus2;ids=dnum+snum;fpc=fpc1+fpc2", o),
       "by=stype|mean:api00", suppressWarnings(svyby(~api00, ~stype, da, svymean, vartype = vt)))
    # the same rule on a subset (na.rm=TRUE keeps the complete rows): stage 2 (apiclus2)
    stat(paste0("apiclus2_na", tag), paste0("data=apiclus2;ids=dnum+snum;fpc=fpc1+fpc2", o),
         "mean:api00_na+enroll", suppressWarnings(svymean(~api00_na + enroll, da, na.rm = TRUE)))
    dx <- svydesign(id = ~psu + ssu, strata = ~st, fpc = ~f1 + f2, weights = ~w, data = sm,
                    nest = TRUE)
    X <- paste0("data=stratms;weights=w;strata=st;ids=psu+ssu;fpc=f1+f2;nest=1", o)
    by(paste0("stratms_dom", tag, "_total"), X, "by=d2|total:y",
       suppressWarnings(svyby(~y, ~d2, dx, svytotal, vartype = vt)))
    # ... and stage 1 (stratum h1 keeps one PSU of its three)
    stat(paste0("stratms_na", tag), X, "total:y_na+x",
         suppressWarnings(svytotal(~y_na + x, dx, na.rm = TRUE)))
  }
}
options(survey.lonely.psu = "fail", survey.adjust.domain.lonely = FALSE)
# a PSU holding one SSU in a stratum with stage-1 fraction 0 (popsize Inf): its term enters
# with weight n/N = 0, yet "average" still gives NaN (R: NA * 0 is NA)
set.seed(20261208)
ez <- data.frame(st = rep(c("a", "b"), each = 12), psu = rep(1:6, each = 4),
                 ssu = rep(1:2, each = 2, times = 6))
ez$ssu[ez$psu == 2] <- 1
ez$f1 <- ifelse(ez$st == "a", 0, 0.3)
ez$f2 <- 0.5
ez$w <- 1
ez$y <- round(rnorm(24, 10, 3), 2)
save_data(ez, "msedge")
for (mode in c("certainty", "remove", "average", "adjust")) {
  options(survey.lonely.psu = mode)
  de <- svydesign(id = ~psu + ssu, strata = ~st, fpc = ~f1 + f2, weights = ~w, data = ez)
  stat(paste0("msedge_", mode, "_total"),
       paste0("data=msedge;weights=w;strata=st;ids=psu+ssu;fpc=f1+f2;nest=1;single_psu=", mode),
       "total:y", svytotal(~y, de))
}
options(survey.lonely.psu = "fail")
flush("multistage")

# ---- feature: svyciprop(method = "likelihood"), the profile-likelihood interval of the
# intercept-only quasibinomial svyglm (confint.svyglm(method = "likelihood")), at levels 0.95
# and 0.9: stratified, one-stage cluster, two-stage (apiclus2; a stratified two-stage sample
# for domains), post-stratified (R keeps every row in a calibrated domain), whole and domains.
# Taylor designs only: R gives NA for replicate designs (the engine refuses them) ------------
A <- "data=apiclus2;ids=dnum+snum;fpc=fpc1+fpc2"
da <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
X <- "data=stratms;weights=w;strata=st;ids=psu+ssu;fpc=f1+f2;nest=1"
dx <- svydesign(id = ~psu + ssu, strata = ~st, fpc = ~f1 + f2, weights = ~w, data = sm,
                nest = TRUE)
for (lev in c(0.95, 0.9)) {
  tag <- if (lev == 0.95) "95" else "90"
  cl <- if (lev == 0.95) "" else ";conf_level=0.9"
  lk <- function(case, spec, call, f, des) {
    ciprop(paste0(case, "_lik", tag), spec, paste0(call, ";ci=likelihood", cl),
           svyciprop(f, des, method = "likelihood", level = lev), des)
  }
  lkby <- function(case, spec, call, f, b, des) {
    by(paste0(case, "_lik", tag), spec, paste0(call, ";ci=likelihood", cl),
       svyby(f, b, des, svyciprop, method = "likelihood", level = lev, vartype = vt))
  }
  lk("strat_meals", S, "proportion:meals_hi", ~meals_hi, ds)
  lk("clus_yes", C, "proportion:yes", ~yes, dc)
  lk("apiclus2_E", A, "proportion:stype;level=E", ~I(stype == "E"), da)
  lk("ps_yes", CP, "proportion:yes", ~yes, dcp)
  lkby("strat_by_stype_yes", S, "by=stype|proportion:yes", ~yes, ~stype, ds)
  lkby("clus_by_awards_meals", C, "by=awards|proportion:meals_hi", ~meals_hi, ~awards, dc)
  lkby("stratms_by_st_u", X, "by=st|proportion:g;level=u", ~I(g == "u"), ~st, dx)
  lkby("ps_by_awards_meals", CP, "by=awards|proportion:meals_hi", ~meals_hi, ~awards, dcp)
}
flush("ciprop_likelihood")

# ---- feature: domain means and totals of several variables at once (svyby(~a+b, ~by, ...,
# covmat = TRUE)): figures per domain and variable, keyed "<domain>:<variable>" as R's coef
# (call suffix ">>long"), and the joint covariance (">>vcov"); Taylor (stratified, cluster)
# and replicate (JKn, JK1); with missing values (a row missing either variable is dropped) --
bymany <- function(case, design, call, b) {
  v <- attr(b, "svyby")$variables
  cl <- function(pre) as.vector(as.matrix(b[, paste0(pre, v), drop = FALSE]))
  d <- if (any(startsWith(names(b), "DEff."))) cl("DEff.") else NA
  put(case, design, call, names(coef(b)), coef(b), as.vector(as.matrix(SE(b))), cl("ci_l."),
      cl("ci_u."), d)
}
rs <- as.svrepdesign(ds, type = "JKn")
rc <- as.svrepdesign(dc, type = "JK1")
for (kind in c("mean", "total")) {
  fn <- if (kind == "mean") svymean else svytotal
  for (des in list(list("strat", S, ds, TRUE), list("clus", C, dc, TRUE),
                   list("jkn", SJ, rs, FALSE), list("jk1", CJ, rc, FALSE))) {
    tag <- paste0(des[[1]], "_by_awards_", kind)
    call <- paste0("by=awards|", kind, ":api00+enroll")
    b <- svyby(~api00 + enroll, ~awards, des[[3]], fn, deff = des[[4]], covmat = TRUE,
               vartype = vt)
    bymany(tag, des[[2]], paste0(call, if (des[[4]]) "" else ";deff=False", ">>long"), b)
    vc(paste0(tag, "_vcov"), des[[2]], paste0(call, ">>vcov"), b)
  }
}
# (no covmat here: R's svyby.survey.design2 fails with covmat = TRUE and na.rm = TRUE,
# "number of items to replace is not a multiple of replacement length")
b <- svyby(~api00_na + meals, ~stype, ds, svymean, na.rm = TRUE, deff = TRUE, vartype = vt)
bymany("strat_by_stype_mean_na", S, "by=stype|mean:api00_na+meals>>long", b)
b <- svyby(~api00_na + meals, ~awards, rs, svymean, na.rm = TRUE, covmat = TRUE, vartype = vt)
bymany("jkn_by_awards_mean_na", SJ, "by=awards|mean:api00_na+meals;deff=False>>long", b)
vc("jkn_by_awards_mean_na_vcov", SJ, "by=awards|mean:api00_na+meals>>vcov", b)
# a factor: one 0/1 variable per level (R's names "<domain>:stypeE")
b <- svyby(~stype, ~awards, dc, svymean, deff = TRUE, covmat = TRUE, vartype = vt)
bymany("clus_by_awards_mean_factor", C, "by=awards|mean:stype>>long", b)
vc("clus_by_awards_mean_factor_vcov", C, "by=awards|mean:stype>>vcov", b)
# domain variance matrices of several variables (svyby(~a+b, ~by, des, svyvar)): keys
# "<domain>:<row variable>:<column variable>", R's column-major order of each matrix
for (des in list(list("strat", S, ds), list("clus", C, dc), list("jkn", SJ, rs),
                 list("jk1", CJ, rc))) {
  b <- svyby(~api00 + api99, ~awards, des[[3]], svyvar)
  v <- c("api00", "api99")
  ent <- as.vector(outer(v, v, function(r, c) paste0(r, ":", c)))
  keys <- as.vector(outer(as.character(b$awards), ent, paste, sep = ":"))
  se <- as.vector(as.matrix(b[, grep("^se", names(b))]))
  put(paste0(des[[1]], "_by_awards_var"), des[[2]], "by=awards|var:api00+api99>>long",
      keys, as.vector(as.matrix(b[, paste0("V", 1:4)])), se)
}
flush("by_many")
# ---- feature: calibration with aggregation (R's aggregate.stage on multistage designs and
# aggregate.index on replicate designs): the g-weights are constant within the stage-s units
# (or the index's groups), every replicate calibrated on its own group means. Design option
# cal_aggregate_stage=<s> / cal_aggregate_index=<col>; calibration after replicate= (R's
# calibrate(as.svrepdesign(d), ...)). apiclus2 (SSU = school: stage 2 aggregates nothing),
# stratms (three rows per SSU), JK1 of apiclus1 (made here and R's own supplied weights) -----
agg_stat <- function(case, spec, des, total = "api00") {
  f <- as.formula(paste0("~", total))
  stat(paste0(case, "_total"), spec, paste0("total:", total), svytotal(f, des))
  stat(paste0(case, "_mean"), spec, "mean:api00", svymean(~api00, des, deff = TRUE))
}
A2 <- "data=apiclus2;ids=dnum+snum;fpc=fpc1+fpc2;calibrate=stype:E=4421,H=755,M=1018&api99=3914069"
da2 <- svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = apiclus2)
for (st in 1:2) {
  for (cf in c("linear", "raking")) {
    spec <- paste0(A2, ";cal_aggregate_stage=", st, if (cf == "raking") ";cal_distance=raking")
    des <- calibrate(da2, ~stype + api99, cal_pop, aggregate.stage = st, calfun = cf,
                     epsilon = 1e-10)
    agg_stat(paste0("agg_apiclus2_s", st, "_", cf), spec, des)
  }
}
sm_pop <- c(`(Intercept)` = 3400, gv = 1900, x = 6900)
XC <- "data=stratms;weights=w;strata=st;ids=psu+ssu;fpc=f1+f2;nest=1;calibrate=g:u=1500,v=1900&x=6900"
for (st in 1:2) {
  for (cf in c("linear", "logit")) {
    b <- if (cf == "logit") c(0.5, 2) else c(-Inf, Inf)
    spec <- paste0(XC, ";cal_aggregate_stage=", st,
                   if (cf == "logit") ";cal_distance=logit;cal_bounds=0.5+2")
    des <- calibrate(dx, ~g + x, sm_pop, aggregate.stage = st, calfun = cf, bounds = b,
                     epsilon = 1e-10)
    stat(paste0("agg_stratms_s", st, "_", cf, "_total"), spec, "total:y", svytotal(~y, des))
    stat(paste0("agg_stratms_s", st, "_", cf, "_mean"), spec, "mean:y", svymean(~y, des))
    by(paste0("agg_stratms_s", st, "_", cf, "_by"), spec, "by=g|mean:y",
       svyby(~y, ~g, des, svymean, vartype = vt))
  }
}
# grake keeps each unit's own variance= (R averages it only in regcalibrate)
des <- calibrate(dc, ~stype + api99, cal_pop, aggregate.stage = 1, calfun = "raking",
                 variance = apiclus1$enroll, epsilon = 1e-10)
agg_stat("agg_apiclus1_raking_var", paste0(CALC, ";cal_distance=raking;cal_variance=enroll"),
         des, "api00+enroll")
CALJ <- paste0(C, ";replicate=jk1;calibrate=stype:E=4421,H=755,M=1018&api99=3914069")
# (logit is left out: R's replicate grake fails to converge on 14-district replicates and R
# keeps those replicates without a word; the engine raises)
for (cf in c("linear", "raking")) {
  opt <- if (cf == "raking") ";cal_distance=raking" else ""
  des <- calibrate(rc, ~stype + api99, cal_pop, aggregate.index = ~dnum, calfun = cf,
                   epsilon = 1e-10)
  agg_stat(paste0("agg_jk1_index_", cf), paste0(CALJ, ";cal_aggregate_index=dnum", opt), des,
           "api00+enroll")
  agg_stat(paste0("agg_jk1_stage_", cf), paste0(CALJ, ";cal_aggregate_stage=1", opt), des,
           "api00+enroll")
}
des <- calibrate(rc, ~stype + api99, cal_pop, aggregate.index = ~dnum, variance = apiclus1$enroll,
                 epsilon = 1e-10)
agg_stat("agg_jk1_linear_var", paste0(CALJ, ";cal_aggregate_index=dnum;cal_variance=enroll"), des,
         "api00+enroll")
rj <- svrepdesign(data = apiclus1, repweights = as.matrix(rw), weights = ~pw, type = "JK1")
# compress = FALSE: R's default (NA) fails on uncompressed supplied weights ("missing value")
des <- calibrate(rj, ~stype + api99, cal_pop, aggregate.index = ~dnum, calfun = "raking",
                 epsilon = 1e-10, compress = FALSE)
agg_stat("agg_sup_jk1_raking",
         paste0("data=apiclus1;weights=pw;repweights=clus_jk1;reptype=JK1;",
                "calibrate=stype:E=4421,H=755,M=1018&api99=3914069;cal_aggregate_index=dnum;",
                "cal_distance=raking"), des, "api00+enroll")
flush("calibrated_aggregate")

# ---- feature: weighting-class non-response adjustment of multistage designs, full multistage
# variance: the adjusted weights by hand (w * sum of w in the class / sum of respondents' w in
# the class), a design of the whole sample with them, then subset() to the respondents (R keeps
# every stage's sample counts: the PSUs and SSUs without respondents are zero totals). Design
# option nonresponse=<indicator>:<class column>. apiclus2 (districts 456 and 552 have no
# respondent) and stratms (strata, fpc as fractions, nest; 3 rows per SSU) ------------------
nr_by_hand <- function(des, data, cls) {
  w <- weights(des)
  w * ave(w, data[[cls]], FUN = sum) / ave(w * data$resp, data[[cls]], FUN = sum)
}
nr2 <- apiclus2
nr2$resp <- as.numeric(nr2$api99 %% 4 != 0)
save_data(nr2, "apiclus2_nr")
nr2$wnr <- nr_by_hand(svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, data = nr2), nr2, "stype")
nrsm <- sm
nrsm$resp <- as.numeric(seq_len(nrow(nrsm)) %% 3 != 0 | nrsm$psu == 2)
nrsm$resp[nrsm$st == "h2" & nrsm$psu == 1] <- 0  # a PSU without respondents
save_data(nrsm, "stratms_nr")
nrsm$wnr <- nr_by_hand(svydesign(id = ~psu + ssu, strata = ~st, fpc = ~f1 + f2, weights = ~w,
                                 data = nrsm, nest = TRUE), nrsm, "g")
A <- "data=apiclus2_nr;ids=dnum+snum;fpc=fpc1+fpc2;nonresponse=resp:stype"
da <- subset(svydesign(id = ~dnum + snum, fpc = ~fpc1 + fpc2, weights = ~wnr, data = nr2),
             resp == 1)
stat("nr_apiclus2_mean", A, "mean:api00", svymean(~api00, da, deff = TRUE))
stat("nr_apiclus2_total", A, "total:api00", svytotal(~api00, da))
stat("nr_apiclus2_ratio", A, "ratio:api00,api99", svyratio(~api00, ~api99, da))
by("nr_apiclus2_by_stype", A, "by=stype|mean:api00",
   svyby(~api00, ~stype, da, svymean, vartype = vt))
X <- "data=stratms_nr;weights=w;strata=st;ids=psu+ssu;fpc=f1+f2;nest=1;nonresponse=resp:g"
dx <- subset(svydesign(id = ~psu + ssu, strata = ~st, fpc = ~f1 + f2, weights = ~wnr,
                       data = nrsm, nest = TRUE), resp == 1)
stat("nr_stratms_mean", X, "mean:y", svymean(~y, dx, deff = TRUE))
stat("nr_stratms_total", X, "total:y", svytotal(~y, dx))
stat("nr_stratms_ratio", X, "ratio:y,x", svyratio(~y, ~x, dx))
by("nr_stratms_by_g", X, "by=g|mean:y", svyby(~y, ~g, dx, svymean, vartype = vt))
# then calibrated with g constant within SSUs (R: calibrate on the subset design)
des <- calibrate(dx, ~g + x, sm_pop, aggregate.stage = 2, epsilon = 1e-10)
XA <- paste0(X, ";calibrate=g:u=1500,v=1900&x=6900;cal_aggregate_stage=2")
stat("nr_stratms_cal_agg2_mean", XA, "mean:y", svymean(~y, des, deff = TRUE))
stat("nr_stratms_cal_agg2_total", XA, "total:y", svytotal(~y, des))
flush("nonresponse_multistage")
