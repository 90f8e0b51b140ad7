# Shared helpers for the reference scripts: collect results in a long table and write CSV.
# Every row: case, key (domain label or ""), est, se, lo, hi, deff, df, p.
suppressMessages(library(survey))
.res <- list()

emit <- function(case, key, est, se = NA, lo = NA, hi = NA, deff = NA, df = NA, p = NA) {
  n <- length(est)
  rep_n <- function(x) if (length(x) == n) x else rep(x, length.out = n)
  .res[[length(.res) + 1]] <<- data.frame(
    case = case, key = as.character(rep_n(key)), est = as.numeric(est),
    se = as.numeric(rep_n(se)), lo = as.numeric(rep_n(lo)), hi = as.numeric(rep_n(hi)),
    deff = as.numeric(rep_n(deff)), df = as.numeric(rep_n(df)), p = as.numeric(rep_n(p)),
    stringsAsFactors = FALSE)
}

# svymean / svytotal / svyratio result (one statistic).
emit_stat <- function(case, obj) {
  ci <- confint(obj)
  d <- attr(obj, "deff")
  d <- if (is.null(d)) NA else diag(as.matrix(d))
  emit(case, "", coef(obj), SE(obj), ci[, 1], ci[, 2], d)
}

# svyciprop result.
emit_ciprop <- function(case, obj, design) {
  ci <- attr(obj, "ci")
  emit(case, "", as.numeric(obj), sqrt(as.numeric(attr(obj, "var"))), ci[1], ci[2],
       df = degf(design))
}

# svyby result computed with vartype = c("se", "ci") (and optionally deff = TRUE).
emit_by <- function(case, b) {
  keys <- rownames(b)
  dcol <- grep("^DEff", names(b), value = TRUE)
  d <- if (length(dcol)) b[[dcol[1]]] else NA
  emit(case, keys, coef(b), SE(b), b[["ci_l"]], b[["ci_u"]], d)
}

# svyttest result.
emit_ttest <- function(case, tt) {
  emit(case, "", tt$estimate, tt$estimate / tt$statistic, tt$conf.int[1], tt$conf.int[2],
       df = tt$parameter, p = tt$p.value)
}

write_results <- function(path) {
  write.csv(do.call(rbind, .res), path, row.names = FALSE)
}
