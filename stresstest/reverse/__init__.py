"""Reverse stress tests: the smallest shock of a family that reaches a target (docs/reverse.md)."""
