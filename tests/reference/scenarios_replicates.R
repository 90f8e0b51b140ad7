# R figures for replicate designs the scenario runner cannot express (issue 14): BRR and Fay
# with R's built-in and with user-supplied Hadamard matrices, and the scale factors of R's
# three bootstraps. Read by tests/test_design_brr_r.py.
# Usage: Rscript --vanilla tests/reference/scenarios_replicates.R <out-dir>
# Writes into <out-dir>:
#   data_brr_h<H>.csv     a generated design: H strata x 2 PSUs x 4 rows (stratum, psu, w, y, x)
#   brr_se.csv            case, stat, est, se: svytotal(~y), svymean(~y), svyratio(~y, ~x) under
#                         as.svrepdesign(type = "BRR" / "Fay") with R's hadamard() and with
#                         supplied matrices (hadamard.matrix=)
#   hadamard_<case>.csv   each supplied matrix (no header)
#   repw_<case>.csv       R's replicate factors of each supplied-matrix and built-in BRR case,
#                         one row per PSU (compressed weights), PSU order as in the data
#   hadamard_orders.csv   n, order, md5: survey::hadamard(n) for n = 1..200 and a few larger
#   boot_scales.csv       type, design, replicates, scale, rscale (first), nrep for R's
#                         "bootstrap" (bootweights), "subbootstrap" and "mrbbootstrap"
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference/replicates"
dir.create(out, showWarnings = FALSE, recursive = TRUE)
wcsv <- function(x, name, ...) write.csv(x, file.path(out, name), row.names = FALSE, ...)

# Strata are labelled s01, s02, ... and PSUs p001, ... in data order, so R's character order
# of strata and first-appearance order of PSUs equal the sorted codes the engine uses.
make_data <- function(H, seed) {
  set.seed(seed)
  n <- H * 2 * 4
  stratum <- sprintf("s%02d", rep(seq_len(H), each = 8))
  psu <- sprintf("p%03d", rep(seq_len(2 * H), each = 4))
  w <- round(runif(n, 5, 40), 3)
  x <- round(rgamma(n, 4, 1) + 1, 4)
  y <- round(2 * x + rnorm(n, 0, 2) + rep(rnorm(2 * H, 0, 3), each = 4), 4)
  data.frame(stratum, psu, w, y, x)
}

rows <- list()
emit <- function(case, des) {
  t <- svytotal(~y, des)
  m <- svymean(~y, des)
  r <- svyratio(~y, ~x, des)
  rows[[length(rows) + 1]] <<- data.frame(
    case = case, stat = c("total", "mean", "ratio"),
    est = c(coef(t), coef(m), coef(r)),
    se = c(SE(t), SE(m), sqrt(as.numeric(vcov(r)))),
    nrep = if (is.null(des$repweights)) NA else ncol(des$repweights$weights)
  )
}

write_factors <- function(rep, case) {
  f <- rep$repweights$weights
  f <- f[order(unique(rep$repweights$index)), , drop = FALSE]
  write.table(f, file.path(out, sprintf("repw_%s.csv", case)), sep = ",",
              row.names = FALSE, col.names = FALSE)
}

designs <- list()
for (H in c(3, 7, 11, 12, 19, 26, 33, 40, 64, 99)) {
  d <- make_data(H, 1000 + H)
  wcsv(d, sprintf("data_brr_h%d.csv", H))
  des <- svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = d)
  designs[[as.character(H)]] <- des
  rep <- as.svrepdesign(des, type = "BRR")
  emit(sprintf("builtin_brr_h%d", H), rep)
  write_factors(rep, sprintf("builtin_brr_h%d", H))
  emit(sprintf("builtin_fay_h%d", H), as.svrepdesign(des, type = "Fay", fay.rho = 0.5))
  emit(sprintf("taylor_h%d", H), des)
}

# Supplied matrices: +/-1 coding, 0/1 coding, an order above H + 1 and one whose first row and
# column are not all one (rows permuted, columns sign-flipped: R only needs orthogonality).
pm <- function(H01) 2 * H01 - 1
supplied <- list(
  pm_h7_order8 = list(H = 7, M = pm(hadamard(7))),
  zo_h7_order8 = list(H = 7, M = hadamard(7)),
  pm_h7_order16 = list(H = 7, M = pm(hadamard(12))),
  pm_h12_order16_scrambled = list(H = 12, M = {
    S <- pm(hadamard(12))
    set.seed(7)
    S <- S[sample(nrow(S)), ]
    S %*% diag(sample(c(-1, 1), ncol(S), replace = TRUE))
  }),
  pm_h3_order4_fay = list(H = 3, M = -pm(hadamard(3)), rho = 0.3)
)
for (case in names(supplied)) {
  s <- supplied[[case]]
  rho <- if (is.null(s$rho)) 0 else s$rho
  des <- designs[[as.character(s$H)]]
  rep <- as.svrepdesign(des, type = if (rho > 0) "Fay" else "BRR", fay.rho = rho,
                        hadamard.matrix = s$M)
  emit(case, rep)
  write.table(s$M, file.path(out, sprintf("hadamard_%s.csv", case)), sep = ",",
              row.names = FALSE, col.names = FALSE)
  write_factors(rep, case)
}
wcsv(do.call(rbind, rows), "brr_se.csv")

# R's built-in Hadamard matrices: for n strata, the order of survey::hadamard(n) and the MD5 of
# its 0/1 rows written one line each ("1010...\n"), as the engine's r_hadamard must rebuild them.
ns <- c(1:200, 250, 300, 400, 500, 1000)
hm <- data.frame(n = ns, order = NA_integer_, md5 = NA_character_)
for (k in seq_along(ns)) {
  M <- hadamard(ns[k])
  f <- tempfile()
  writeLines(apply(M, 1, paste, collapse = ""), f)
  hm$order[k] <- nrow(M)
  hm$md5[k] <- unname(tools::md5sum(f))
  unlink(f)
}
wcsv(hm, "hadamard_orders.csv")

# Bootstrap scales: an unstratified cluster design and a stratified one with unequal n_h
# (3, 4, 6 and 9 PSUs), with and without fpc (bootweights uses it; mrbweights needs it).
set.seed(99)
nh <- c(3, 4, 6, 9)
b <- data.frame(stratum = rep(sprintf("b%d", seq_along(nh)), nh * 3),
                psu = rep(sprintf("q%03d", seq_len(sum(nh))), each = 3))
b$N <- rep(nh * 5, nh * 3)
b$w <- b$N / rep(nh, nh * 3)
b$y <- round(rnorm(nrow(b), 10, 3), 3)
wcsv(b, "data_boot.csv")
bd <- list(
  strat = svydesign(ids = ~psu, strata = ~stratum, weights = ~w, data = b),
  strat_fpc = svydesign(ids = ~psu, strata = ~stratum, fpc = ~N, data = b),
  clus = svydesign(ids = ~psu, weights = ~w, data = b)
)
sc <- list()
for (ty in c("bootstrap", "subbootstrap", "mrbbootstrap")) {
  for (nm in names(bd)) {
    if (ty == "subbootstrap" && nm == "strat_fpc") next  # R: fpc cannot be used
    for (R in c(50, 200)) {
      set.seed(1)
      rd <- suppressWarnings(as.svrepdesign(bd[[nm]], type = ty, replicates = R))
      sc[[length(sc) + 1]] <- data.frame(type = ty, design = nm, replicates = R,
                                         scale = rd$scale, rscale = rd$rscales[1],
                                         nrep = length(rd$rscales))
    }
  }
}
wcsv(do.call(rbind, sc), "boot_scales.csv")

# Preston's multistage rescaled bootstrap beyond the first stage (R mrbweights): a two-stage
# design with fpc at both stages (4 strata of 3-6 PSUs, 1-5 SSUs per PSU, 2 rows per SSU).
#   data_mrb.csv           stratum, psu, ssu, N1, N2, y
#   keys_mrb.csv           stage, row, r1..r20: uniform keys (6 decimals) of each data row's
#                          unit at stages 1-3 (stage 3: the rows, 2 per SSU, N3 = 4)
#   repw_mrb_supplied.csv  R's own mrbweights code with sample(su, nstar) replaced by "the
#                          nstar units of su with the smallest keys": row factors, data order
#   repw_mrb3_supplied.csv the same for the three-stage design (ids = ~psu + ssu + el)
#   mrb_se.csv             stat, taylor (R's multistage SE), boot (as.svrepdesign(type =
#                          "mrbbootstrap", replicates = 4000) after set.seed(5)), nrep; with
#                          survey.lonely.psu = "certainty" for the one-SSU PSU
set.seed(321)
nh <- c(3, 4, 5, 6)
psu <- sprintf("q%02d", seq_len(sum(nh)))
m <- sample(1:5, length(psu), replace = TRUE)
m[2] <- 1  # a PSU with one SSU: no stage-2 term
P <- data.frame(stratum = rep(sprintf("c%d", seq_along(nh)), nh), psu, m,
                N1 = rep(nh * 3, nh), N2 = m + sample(0:6, length(psu), replace = TRUE))
ms <- P[rep(seq_len(nrow(P)), P$m), ]
ms$ssu <- paste0(ms$psu, "s", ave(seq_len(nrow(ms)), ms$psu, FUN = seq_along))
ms <- ms[rep(seq_len(nrow(ms)), each = 2), c("stratum", "psu", "ssu", "N1", "N2")]
ms$y <- round(rnorm(nrow(ms), 10, 3) + as.integer(factor(ms$psu)) / 3, 3)
rownames(ms) <- NULL
wcsv(ms, "data_mrb.csv")
md <- svydesign(ids = ~psu + ssu, strata = ~stratum, fpc = ~N1 + N2, data = ms)
ms3 <- transform(ms, el = paste0(ssu, "e", ave(seq_len(nrow(ms)), ssu, FUN = seq_along)), N3 = 4)
md3 <- svydesign(ids = ~psu + ssu + el, strata = ~stratum, fpc = ~N1 + N2 + N3, data = ms3)
nrep <- 20
labs <- lapply(1:3, function(s) levels(md3$cluster[, s]))
K <- matrix(round(runif(length(unlist(labs)) * nrep), 6), ncol = nrep,
            dimnames = list(unlist(labs), paste0("r", seq_len(nrep))))
# one line per stage and data row: the key of the row's unit at that stage
rowkeys <- do.call(rbind, lapply(1:3, function(s) {
  data.frame(stage = s, row = seq_len(nrow(ms3)), K[as.character(md3$cluster[, s]), ],
             row.names = NULL)
}))
wcsv(rowkeys, "keys_mrb.csv")
mrb <- survey:::mrbweights
env <- new.env(parent = asNamespace("survey"))
environment(mrb) <- env
env$sample <- function(x, size, ...) {
  x[order(env$key[as.character(x)])][seq_len(size)]
}
for (des in list(list(md, "repw_mrb_supplied.csv"), list(md3, "repw_mrb3_supplied.csv"))) {
  fr <- sapply(seq_len(nrep), function(k) {
    env$key <- K[, k]
    mrb(des[[1]]$cluster, des[[1]]$strata, des[[1]]$fpc, replicates = 2)$repweights[, 1]
  })
  write.table(fr, file.path(out, des[[2]]), sep = ",", row.names = FALSE, col.names = FALSE)
}
op <- options(survey.lonely.psu = "certainty")  # the one-SSU PSU adds no stage-2 term
set.seed(5)
mb <- as.svrepdesign(md, type = "mrbbootstrap", replicates = 4000)
wcsv(data.frame(stat = c("total", "mean"),
                taylor = c(SE(svytotal(~y, md)), SE(svymean(~y, md))),
                boot = c(SE(svytotal(~y, mb)), SE(svymean(~y, mb))), nrep = 4000),
     "mrb_se.csv")
options(op)
