"""The interface every path source offers to the engine, and the factory."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from stresstest.scenario import schema


class PathSource(Protocol):
    """Paths the engine can stream in chunks.

    ``chunk(first, count)`` returns prices of paths ``first .. first + count - 1``
    as a C-contiguous float64 array of shape ``(count, n_steps + 1)``, quote
    per base. A path's prices never depend on which chunk it is generated in.
    """

    n_paths: int
    n_steps: int

    def chunk(self, first: int, count: int) -> np.ndarray: ...

    def path_ids(self) -> np.ndarray: ...

    def start_price(self) -> float: ...


def path_source(scenario: schema.Scenario) -> PathSource:
    """The path source a scenario's ``[paths]`` table describes."""
    from stresstest.paths.file import FilePathSource
    from stresstest.paths.gbm import GbmPathSource

    config = scenario.paths
    if isinstance(config, schema.GbmPaths):
        return GbmPathSource(config, scenario.seed)
    if isinstance(config, schema.FilePaths):
        return FilePathSource(config.file)
    raise TypeError(f"no path source for {type(config).__name__}")  # pragma: no cover
