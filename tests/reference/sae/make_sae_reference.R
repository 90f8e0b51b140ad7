# Reference figures for the Fay-Herriot module (src/methods/smallarea/fayherriot.py), written by
# R's sae package (Molina & Marhuenda, sae 1.3, CRAN; functions eblupFH and mseFH), so that
# tests/test_smallarea.py checks the Python fit against code someone else wrote, without R.
# Debian has no r-cran-sae, so this script sources sae's R files (they need only base R and MASS)
# from a copy of the CRAN sources, e.g. the mirror of github.com/cran/sae.
#
# Regenerate (from the repository root):
#   Rscript --vanilla tests/reference/sae/make_sae_reference.R <sae sources> tests/reference/sae
# where <sae sources> is either a checkout of cran/sae (holding R/eblupFH.R and data/milk.rda) or
# its bare git directory (e.g. /work/.mirror/cran+sae/repo/.git; files are read with git show).
#
# What it writes (all numbers with 17 significant digits):
#   <data>_input.csv    area, direct estimate y, design variance vardir, covariate columns (x_*)
#                       exactly as given to eblupFH (an intercept column x_1 included)
#   <data>_results.csv  long table: method (REML, ML, FH), quantity, area_or_term, value
#                       quantity: eblup, mse (per area, mseFH), beta, se_beta (per term),
#                       refvar, iterations, loglike (one row each)
# Data sets: milk (sae's example data, data(milk): yi ~ as.factor(MajorArea), vardir SD^2, as in
# ?eblupFH) and districts (40 synthetic police districts of 5..200 respondents, seed 20261207).
args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2) stop("usage: make_sae_reference.R <sae sources> <output folder>")
src <- args[1]
out <- args[2]
dir.create(out, showWarnings = FALSE, recursive = TRUE)
sae_file <- function(path) {
  if (file.exists(file.path(src, path))) return(file.path(src, path))
  tmp <- tempfile(fileext = paste0(".", tools::file_ext(path)))
  status <- system2("git", c(paste0("--git-dir=", src), "show", paste0("HEAD:", path)),
                    stdout = tmp)
  if (status != 0) stop("cannot read ", path, " from ", src)
  tmp
}
library(MASS)
source(sae_file("R/eblupFH.R"))
source(sae_file("R/mseFH.R"))
load(sae_file("data/milk.rda"))

fmt <- function(x) sprintf("%.17g", x)

write_case <- function(name, y, vardir, X) {
  colnames(X) <- paste0("x_", seq_len(ncol(X)))
  inp <- data.frame(area = seq_along(y), y = fmt(y), vardir = fmt(vardir))
  for (j in seq_len(ncol(X))) inp[[colnames(X)[j]]] <- fmt(X[, j])
  write.csv(inp, file.path(out, paste0(name, "_input.csv")), row.names = FALSE, quote = FALSE)
  rows <- list()
  for (method in c("REML", "ML", "FH")) {
    r <- mseFH(y ~ X - 1, vardir, method = method)
    if (!r$est$fit$convergence) stop(name, " ", method, " did not converge")
    fit <- r$est$fit
    m <- length(y)
    p <- ncol(X)
    rows[[length(rows) + 1]] <- rbind(
      data.frame(method, quantity = "eblup", key = seq_len(m), value = fmt(r$est$eblup)),
      data.frame(method, quantity = "mse", key = seq_len(m), value = fmt(r$mse)),
      data.frame(method, quantity = "beta", key = seq_len(p), value = fmt(fit$estcoef$beta)),
      data.frame(method, quantity = "se_beta", key = seq_len(p),
                 value = fmt(fit$estcoef$std.error)),
      data.frame(method, quantity = "refvar", key = 0, value = fmt(fit$refvar)),
      data.frame(method, quantity = "iterations", key = 0, value = fmt(fit$iterations)),
      data.frame(method, quantity = "loglike", key = 0, value = fmt(fit$goodness[["loglike"]])))
  }
  write.csv(do.call(rbind, rows), file.path(out, paste0(name, "_results.csv")),
            row.names = FALSE, quote = FALSE)
}

# (a) sae's own example (?eblupFH): milk expenditure, 43 areas, major-area dummies.
X_milk <- model.matrix(~ as.factor(MajorArea), data = milk)
write_case("milk", milk$yi, milk$SD^2, unname(X_milk))

# (b) synthetic districts: satisfaction proportion from deprivation and violent-crime share plus
# an area effect; direct estimate = binomial sample proportion of n_d respondents, design
# variance p(1-p)/n_d times a design effect of 1.3, floored so that no variance is zero.
set.seed(20261207)
m <- 40
n <- round(exp(seq(log(5), log(200), length.out = m)))
deprivation <- runif(m, -1, 1)
violent <- runif(m, 0.1, 0.5)
eta <- 1.2 - 0.5 * deprivation - 1.5 * violent + rnorm(m, 0, 0.3)
p_true <- plogis(eta)
y <- rbinom(m, n, p_true) / n
y <- pmin(pmax(y, 0.5 / n), 1 - 0.5 / n)
vardir <- 1.3 * y * (1 - y) / n
write_case("districts", y, vardir, cbind(1, deprivation, violent))
cat("wrote", file.path(out, c("milk_input.csv", "milk_results.csv", "districts_input.csv",
                              "districts_results.csv")), sep = "\n")
