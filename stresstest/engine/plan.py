"""A replay plan: everything one chunk of paths needs, picklable for remote workers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from stresstest.book import SortedBook
from stresstest.kernels import enums
from stresstest.kernels.replay import replay_paths
from stresstest.paths import PathSource
from stresstest.scenario import schema

MarginArguments = tuple[int, float, float, float, float, float, float, float]
LiquidationArguments = tuple[int, float, float, float]


def margin_arguments(margin: schema.MarginConfig) -> MarginArguments:
    """Kernel arguments ``(model, maintenance, k, horizon, lambda, v0, floor, cap)``."""
    if isinstance(margin, schema.StaticMargin):
        return (enums.MARGIN_STATIC, margin.maintenance, 0.0, 1.0, 0.5, 0.0, 0.0, 0.0)
    return (
        enums.MARGIN_VOL_SCALED,
        0.0,
        margin.k,
        float(margin.horizon_steps),
        margin.ewma_lambda,
        margin.initial_variance,
        margin.floor,
        margin.cap,
    )


def liquidation_arguments(liquidation: schema.Liquidation) -> LiquidationArguments:
    """Kernel arguments ``(latency_steps, slippage, fee, liquidator_share)``."""
    return (
        liquidation.latency_steps,
        liquidation.slippage,
        liquidation.fee,
        liquidation.liquidator_share,
    )


@dataclass(frozen=True)
class VariantPlan:
    """One margin/liquidation/fund design replayed over the shared paths."""

    book: SortedBook
    margin: MarginArguments
    liquidation: LiquidationArguments
    fund_initial: float


@dataclass(frozen=True)
class ReplayPlan:
    """Paths shared by one or more variants (several for ``compare``)."""

    source: PathSource
    variants: tuple[VariantPlan, ...]

    @property
    def n_paths(self) -> int:
        """Number of paths."""
        return int(self.source.n_paths)


def replay_chunk(plan: ReplayPlan, first: int, count: int) -> np.ndarray:
    """Generate paths ``first .. first + count - 1`` once and replay every variant on them.

    Returns ``(n_variants, count, N_METRICS)`` float64.
    """
    prices = plan.source.chunk(first, count)
    out = np.empty((len(plan.variants), count, enums.N_METRICS))
    for index, variant in enumerate(plan.variants):
        replay_paths(
            prices,
            *variant.margin,
            *variant.liquidation,
            variant.book.long_threshold,
            variant.book.long_prefix,
            variant.book.short_threshold,
            variant.book.short_prefix,
            variant.fund_initial,
            out[index],
        )
    return out


def chunk_ranges(first: int, stop: int, chunk_size: int) -> list[tuple[int, int]]:
    """``(first, count)`` pairs covering ``[first, stop)`` in chunks of at most ``chunk_size``."""
    return [(start, min(chunk_size, stop - start)) for start in range(first, stop, chunk_size)]
