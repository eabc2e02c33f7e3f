"""``stresstest check``: a parameter change reviewed against the current design and a
written risk appetite, on the same paths (docs/check.md)."""
