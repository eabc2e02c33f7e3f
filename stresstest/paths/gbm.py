"""GBM paths drawn from per-path counter-based streams."""

from __future__ import annotations

import numpy as np

from stresstest.scenario.schema import GbmPaths

#: Child index of ``SeedSequence(seed).spawn`` that keys the path streams.
PATHS_SEED_CHILD = 0


def philox_key(seed: int, child: int) -> tuple[np.uint64, np.uint64]:
    """The two 32-bit Philox key words of ``SeedSequence(seed, spawn_key=(child,))``."""
    words = np.random.SeedSequence(seed, spawn_key=(child,)).generate_state(2, dtype=np.uint32)
    return np.uint64(words[0]), np.uint64(words[1])


class GbmPathSource:
    """GBM with per-step ``sigma`` and ``drift`` from ``s0`` (see docs/model.md)."""

    def __init__(self, config: GbmPaths, seed: int) -> None:
        self.config = config
        self.n_paths = config.n_paths
        self.n_steps = config.n_steps
        self.key = philox_key(seed, PATHS_SEED_CHILD)

    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices of paths ``first .. first + count - 1``, quote per base."""
        from stresstest.kernels.gbm import gbm_paths  # compiled code only to draw paths

        out = np.empty((count, self.n_steps + 1))
        gbm_paths(
            self.key[0],
            self.key[1],
            first,
            self.config.s0,
            self.config.sigma,
            self.config.drift,
            out,
        )
        return out

    def path_ids(self) -> np.ndarray:
        """Path identifiers 0..n_paths - 1."""
        return np.arange(self.n_paths, dtype=np.int64)

    def start_price(self) -> float:
        """Price at step 0, quote per base."""
        return self.config.s0
