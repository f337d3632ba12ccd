# Converts mlbench's DNA data set (Statlog splice junctions) once to FASTA + a labels CSV.
#   Rscript convert.R    (needs Debian r-base-core and r-cran-mlbench)
# mlbench stores each of the 60 nucleotides as 3 binary indicators (Statlog coding):
# A = 100, C = 010, G = 001, T = 000. The EI sequences carry GT at positions 31-32 and the IE
# sequences AG at 29-30, which confirms the coding.
library(mlbench)
data(DNA)
m <- sapply(DNA[, 1:180], function(x) as.integer(as.character(x)))
code <- c("100" = "A", "010" = "C", "001" = "G", "000" = "T")
seqs <- apply(m, 1, function(r) {
  paste0(code[sapply(0:59, function(i) paste0(r[(3 * i + 1):(3 * i + 3)], collapse = ""))], collapse = "")
})
stopifnot(!any(is.na(seqs)), all(nchar(seqs) == 60))
ids <- sprintf("s%04d", seq_along(seqs))
cls <- toupper(as.character(DNA$Class))
fa <- gzfile("splice.fa.gz", "w")
writeLines(paste0(">", ids, " class=", cls, "\n", seqs), fa)
close(fa)
write.csv(data.frame(id = ids, class = cls), "labels.csv", row.names = FALSE, quote = FALSE)
