"""Another source's paths generated once and served from memory.

A family of replays on the same paths (the static rates a ``compare --match``
scans and refines) would otherwise generate every path again for every replay.
A path's prices never depend on the chunk it is generated in (every source's
stream is per path), so serving slices of one array gives the same bytes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from stresstest.paths.source import PathSource

#: Largest price array held in memory for a family of replays, bytes.
MEMORY_PATHS_BYTES = 512 * 1024 * 1024
#: Paths generated per call of the wrapped source while filling the array.
_FILL_PATHS = 4096


class MemoryPathSource:
    """The prices of ``source``, all paths, generated at construction.

    ``chunk(first, count)`` returns rows ``first .. first + count - 1`` of the
    array (C-contiguous, float64, quote per base); every other attribute
    (``provenance``, ``references``, ...) is the wrapped source's.
    """

    def __init__(self, source: PathSource) -> None:
        self.source = source
        self.n_paths = int(source.n_paths)
        self.n_steps = int(source.n_steps)
        self.prices = np.empty((self.n_paths, self.n_steps + 1))
        for first in range(0, self.n_paths, _FILL_PATHS):
            count = min(_FILL_PATHS, self.n_paths - first)
            self.prices[first : first + count] = source.chunk(first, count)

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices of paths ``first .. first + count - 1``, ``(count, n_steps + 1)``."""
        return self.prices[first : first + count]

    def path_ids(self) -> np.ndarray:
        """The wrapped source's path ids."""
        return self.source.path_ids()

    def start_price(self) -> float:
        """The wrapped source's start price (quote per base)."""
        return self.source.start_price()

    def __getattr__(self, name: str) -> Any:
        if name == "source":  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.source, name)


def held_in_memory(source: PathSource) -> PathSource:
    """``source`` served from memory when its prices fit :data:`MEMORY_PATHS_BYTES`, else itself."""
    if isinstance(source, MemoryPathSource):
        return source
    if source.n_paths * (source.n_steps + 1) * 8 > MEMORY_PATHS_BYTES:
        return source
    return MemoryPathSource(source)


def unwrapped(source: PathSource) -> PathSource:
    """The source a :class:`MemoryPathSource` serves, else ``source`` itself."""
    return source.source if isinstance(source, MemoryPathSource) else source
