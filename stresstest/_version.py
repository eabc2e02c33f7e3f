"""The package version: the one place it is written (hatch reads it from here for the wheel).

A literal rather than ``importlib.metadata.version("stresstest")``: importing
importlib.metadata costs about 50 ms at every start of the command line
(docs/performance.md, "Start-up and imports"), and a literal is also right when
running from a source tree.
"""

__version__ = "0.1.0"
