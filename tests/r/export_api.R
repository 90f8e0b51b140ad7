# Export R's api data sets (survey package) to CSV: Rscript export_api.R OUTDIR
suppressMessages(library(survey))
out <- commandArgs(trailingOnly = TRUE)[1]
data(api)
for (nm in c("apistrat", "apiclus1", "apisrs")) {
  write.csv(get(nm), file.path(out, paste0(nm, ".csv")), row.names = FALSE)
}
