# Reference summary of each example file as Biostrings reads it, one CSV row per record:
# file, name (the whole header), width, G+C count, A+C+G+T count, sum of quality characters.
#   Rscript reference.R FILE... > reference.csv
suppressMessages(library(Biostrings))
cat("file,name,width,gc,acgt,qualsum\n")
for (f in commandArgs(trailingOnly = TRUE)) {
  fastq <- grepl("sequence", f)
  x <- readDNAStringSet(f, format = if (fastq) "fastq" else "fasta", with.qualities = fastq)
  lf <- letterFrequency(x, c("A", "C", "G", "T"))
  q <- if (fastq) sapply(as.character(mcols(x)$qualities), function(s) sum(utf8ToInt(s))) else rep(0, length(x))
  nm <- gsub('"', '""', names(x))
  cat(sprintf('%s,"%s",%d,%d,%d,%d\n', basename(f), nm, width(x), lf[, "C"] + lf[, "G"], rowSums(lf), as.integer(q)), sep = "")
}
