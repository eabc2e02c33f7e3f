"""``[procyclicality]`` with partial liquidation: which positions to tally (docs/model.md 3.2).

The rate held at ``m_0`` flags a position the first time its state *as opened*
breaches on the run's marks; one it never flags is never closed by it, so "never
flagged at the held rate" is decided by the position's opening threshold alone:
longs ``theta <= L = min_t O_t (1 - m_0)``, shorts ``phi >= H = max_t O_t (1 + m_0)``,
the sorted book's longs ``[0, held[0])`` and shorts ``[held[1], n)``. A partially
closed position is closed again at later steps, its closes in cohorts whose members
need not share that status, so the pipeline tallies each close as it happens and
must know ``L`` and ``H`` before the path: they need the path's last mark, so a path
with ``[procyclicality]`` is replayed twice, the first time to find its marks (the
same deterministic run: the tally changes nothing else), the second to tally. A
path without ``[procyclicality]``, under the predictive trigger (the held rate flags
what the design flags: nothing to tally) or the replay without impact that
``[market]``'s cascade compares with (its columns are not kept) runs once.
"""

from __future__ import annotations

import numpy as np

from stresstest.kernels import enums
from stresstest.kernels.adl_index import AdlIndex, AdlWork
from stresstest.kernels.jit import kernel
from stresstest.kernels.partial_adl import PartialAdlWork
from stresstest.kernels.pipeline_partial import partial_pipeline_path


@kernel
def measured_partial_path(
    prices: np.ndarray,
    margin: np.ndarray,
    liquidation: np.ndarray,
    params: np.ndarray,
    long_threshold: np.ndarray,
    long_prefix: np.ndarray,
    long_positions: np.ndarray,
    short_threshold: np.ndarray,
    short_prefix: np.ndarray,
    short_positions: np.ndarray,
    fund_initial: float,
    with_impact: bool,
    baseline_long_from: np.ndarray,
    baseline_short_to: np.ndarray,
    long_from_at: np.ndarray,
    short_to_at: np.ndarray,
    market: np.ndarray,
    flows: np.ndarray,
    out_row: np.ndarray,
    long_index: AdlIndex,
    long_work: AdlWork,
    short_index: AdlIndex,
    short_work: AdlWork,
    heap_keys: np.ndarray,
    heap_tags: np.ndarray,
    long_partial: PartialAdlWork,
    short_partial: PartialAdlWork,
) -> int:
    """:func:`~stresstest.kernels.pipeline_partial.partial_pipeline_path` with its ``held``.

    The arguments and result of :func:`stresstest.kernels.pipeline.pipeline_path`.
    ``held`` starts empty (longs ``[0, 0)``, shorts ``[n, n)``); with
    ``[procyclicality]`` (not predictive, not the baseline of a ``[market]`` replay) a
    first run on scratch outputs finds the positions the rate held at ``m_0`` never
    flags, and the run that writes the outputs tallies their closes.
    """
    held = np.array([0.0, float(short_threshold.shape[0])])
    measured = margin[enums.MARGIN_ARG_PROCYC_HORIZON] > 0.0
    predictive = int(params[enums.MECH_TRIGGER]) == enums.TRIGGER_PREDICTIVE
    baseline = not with_impact and int(params[enums.MECH_IMPACT]) != enums.IMPACT_NONE
    n_runs = 2 if measured and not predictive and not baseline else 1
    depth = 0
    for run in range(n_runs):
        final = run == n_runs - 1  # the first of two runs writes scratch outputs
        depth = partial_pipeline_path(
            prices,
            margin,
            liquidation,
            params,
            long_threshold,
            long_prefix,
            long_positions,
            short_threshold,
            short_prefix,
            short_positions,
            fund_initial,
            with_impact,
            baseline_long_from,
            baseline_short_to,
            long_from_at if final else np.empty_like(long_from_at),
            short_to_at if final else np.empty_like(short_to_at),
            market if final else np.empty_like(market),
            flows if final else np.zeros_like(flows),
            out_row if final else np.empty_like(out_row),
            long_index,
            long_work,
            short_index,
            short_work,
            heap_keys,
            heap_tags,
            long_partial,
            short_partial,
            held,
        )
    return depth
