"""What every benchmark family shares: verification first, then timing, then a section.

- :mod:`~benchmarks.harness.parity`: named tolerances and comparisons that raise
  :class:`~benchmarks.harness.parity.ParityError` before anything is timed;
- :mod:`~benchmarks.harness.timing`: interleaved best-of timing with the CPU share
  of each best run;
- :mod:`~benchmarks.harness.machine`: one description of the machine;
- :mod:`~benchmarks.harness.markdown`: tables, number formats, and writing a
  generated section of docs/performance.md atomically;
- :mod:`~benchmarks.harness.cli`: the command line every family's ``main()`` shares.
"""
