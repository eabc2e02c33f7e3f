"""The insurance fund of one path, walked step by step over its net flows."""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.jit import kernel


@kernel
def walk_fund(
    fees_to_fund_by_step: np.ndarray,
    bad_debt_by_step: np.ndarray,
    fund_initial: float,
    out_row: np.ndarray,
) -> None:
    """Walk the fund over steps 0..T and write its per-path metrics into ``out_row``.

    ``F`` starts at ``fund_initial``; at each step ``F += fees_to_fund[t] - bad_debt[t]``;
    if ``F < 0`` the shortfall ``-F`` is added to the socialized loss and ``F = 0``.
    ``fund_min`` includes the initial value, ``fund_max_drawdown`` is the largest
    ``peak - F`` with the peak starting at ``fund_initial``, and ``fund_required``
    is ``max(0, max_t -C_t)`` with ``C_t`` the cumulative net flow up to step t.
    All amounts in quote units.
    """
    fund = fund_initial
    peak = fund_initial
    fund_min = fund_initial
    max_drawdown = 0.0
    socialized = 0.0
    cumulative = 0.0
    required = 0.0
    for step in range(fees_to_fund_by_step.shape[0]):
        net = fees_to_fund_by_step[step] - bad_debt_by_step[step]
        fund += net
        cumulative += net
        if -cumulative > required:
            required = -cumulative
        if fund < 0.0:
            socialized += -fund
            fund = 0.0
        if fund < fund_min:
            fund_min = fund
        if fund > peak:
            peak = fund
        if peak - fund > max_drawdown:
            max_drawdown = peak - fund
    out_row[enums.FUND_END] = fund
    out_row[enums.FUND_MIN] = fund_min
    out_row[enums.FUND_MAX_DRAWDOWN] = max_drawdown
    out_row[enums.SOCIALIZED_LOSS] = socialized
    out_row[enums.FUND_REQUIRED] = required
