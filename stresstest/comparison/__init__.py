"""Compare margin designs on the same paths: variants, sweeps, paired differences, matching."""
