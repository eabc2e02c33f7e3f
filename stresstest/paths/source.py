"""The interface every path source offers to the engine, and the factory."""

from __future__ import annotations

from typing import Any, Protocol

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


def source_provenance(source: object) -> dict[str, Any] | None:
    """A source's ``provenance()`` record (fitted parameters, data used), if it has one.

    Sources that generate from data or fits (historical, garch, fhs) describe
    what they used as a TOML-ready dict; GBM and path files return ``None``.
    """
    method = getattr(source, "provenance", None)
    return method() if callable(method) else None


def source_references(source: object) -> dict[str, np.ndarray]:
    """Real crash paths a source offers for comparison (historical sources), else none."""
    method = getattr(source, "reference_paths", None)
    return method() if callable(method) else {}


def path_source(scenario: schema.Scenario) -> PathSource:
    """The path source a scenario's ``[paths]`` table describes."""
    config = scenario.paths
    if isinstance(config, schema.GbmPaths):
        from stresstest.paths.gbm import GbmPathSource

        return GbmPathSource(config, scenario.seed)
    if isinstance(config, schema.FilePaths):
        from stresstest.paths.file import FilePathSource

        return FilePathSource(config.file)
    if isinstance(config, schema.HistoricalPaths):
        from stresstest.paths.historical import HistoricalPathSource

        return HistoricalPathSource(config, scenario.seed, scenario.source_file)
    if isinstance(config, schema.GarchPaths | schema.FhsPaths):
        from stresstest.paths.garch import GarchPathSource

        return GarchPathSource(config, scenario.seed, scenario.source_file)
    from stresstest.scenario.accounts import MULTI_PATHS

    if isinstance(config, MULTI_PATHS):  # docs/model.md 11: run by engine/accounts.py
        from stresstest.errors import InputError

        raise InputError(
            "multi-asset paths need an accounts scenario (stresstest run); this command "
            "replays single-asset books",
            file=scenario.source_file,
            key="paths.source",
            value=config.source,
            expected="a single-asset source for this command",
        )
    raise TypeError(f"no path source for {type(config).__name__}")  # pragma: no cover
