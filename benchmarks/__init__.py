"""Benchmarks that verify before they time; see docs/performance.md.

``python -m benchmarks all --write`` regenerates every generated section of
docs/performance.md; ``python -m benchmarks FAMILY [--quick | --smoke] [--write]``
runs one family (benchmarks/__main__.py lists them). The shared pieces (machine
description, timing, parity, markdown, the command line) are in
:mod:`benchmarks.harness`.
"""
