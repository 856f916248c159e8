"""Research tooling of benchmark synthesis: the sample-world oracle simulation used by the
tests and the benchmark (:mod:`memagents.browsecomp.research.oracle`)."""
