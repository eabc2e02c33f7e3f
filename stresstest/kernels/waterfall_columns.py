"""The per-path columns of the loss waterfall's optional layers (docs/model.md 10.2-10.4).

One writer for both stage loops (:mod:`stresstest.kernels.pipeline` and
:mod:`stresstest.kernels.pipeline_partial`): ADL's notional, count and fairness
figures, the backstop vault's columns and what the fund's bound passed on, each
only when its stage is on. Pure numba over arrays.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl_index import (
    TOUCHED,
    W_COUNTERS,
    W_GIVEN,
    W_TOUCHED,
    AdlWork,
    touched_top_shares,
)
from stresstest.kernels.backstop import (
    VAULT_MIN_EQUITY,
    VAULT_NOTIONAL,
    VAULT_PASSED,
    VAULT_PNL,
    VAULT_TAKEOVERS,
)
from stresstest.kernels.jit import kernel


@kernel
def write_waterfall_columns(
    out_row: np.ndarray,
    with_adl: bool,
    adl_notional: float,
    adl_count: float,
    gini_weighted: float,
    gini_cover: float,
    long_work: AdlWork,
    short_work: AdlWork,
    with_backstop: bool,
    vault: np.ndarray,
    with_bound: bool,
    fund_passed: float,
) -> None:
    """Write the path's ADL (quote, count, fractions), vault and fund-bound columns.

    ``adl_gini`` is the cover-weighted mean ``gini_weighted / gini_cover`` (0 without
    cover); the top shares come from the touched positions of both sides' work.
    """
    if with_adl:
        out_row[enums.ADL_NOTIONAL] = adl_notional
        out_row[enums.ADL_COUNT] = adl_count
        top1, top10 = touched_top_shares(
            long_work[W_GIVEN],
            long_work[W_TOUCHED],
            long_work[W_COUNTERS][TOUCHED],
            short_work[W_GIVEN],
            short_work[W_TOUCHED],
            short_work[W_COUNTERS][TOUCHED],
        )
        out_row[enums.ADL_TOP1_SHARE] = top1
        out_row[enums.ADL_TOP10_SHARE] = top10
        out_row[enums.ADL_GINI] = gini_weighted / gini_cover if gini_cover > 0.0 else 0.0
    if with_backstop:
        write_vault_columns(out_row, vault)
    if with_bound:
        out_row[enums.FUND_PASSED_BAD_DEBT] = fund_passed


@kernel
def write_vault_columns(out_row: np.ndarray, vault: np.ndarray) -> None:
    """Write the ``backstop_*`` columns (docs/model.md 10.3) from the vault's state vector.

    The state is :mod:`stresstest.kernels.backstop`'s, shared by the single-asset
    loops and the accounts defence kernel (11.11).
    """
    out_row[enums.BACKSTOP_TAKEOVERS] = vault[VAULT_TAKEOVERS]
    out_row[enums.BACKSTOP_NOTIONAL] = vault[VAULT_NOTIONAL]
    out_row[enums.BACKSTOP_PNL] = vault[VAULT_PNL]
    out_row[enums.BACKSTOP_LOSS_PASSED] = vault[VAULT_PASSED]
    out_row[enums.BACKSTOP_MIN_EQUITY] = vault[VAULT_MIN_EQUITY]
    out_row[enums.BACKSTOP_EXHAUSTED] = 1.0 if vault[VAULT_PASSED] > 0.0 else 0.0
