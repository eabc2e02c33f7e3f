"""The margin design vector of a scenario, with the APC volatility floor resolved.

The floor of EMIR RTS 153/2013 Art. 28(1)(c) (``[margin] vol_floor_lookback_years``,
docs/model.md 3.1) depends on the path source: the mean squared step log return
of the last ``years`` of its data file (all of it when shorter), or ``sigma^2``
for GBM. It is computed here, once per scenario, and passed to the kernels in
the design vector with the ``[procyclicality]`` horizon (docs/model.md 3.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from stresstest.engine.plan import margin_arguments
from stresstest.scenario.procyclicality import history_source
from stresstest.scenario.schema import VolScaledMargin

if TYPE_CHECKING:
    from pathlib import Path

    from stresstest.scenario.schema import Scenario

#: Milliseconds in a year of 365.25 days.
YEAR_MS = 365.25 * 24 * 3600 * 1000


def history_variance(data: Path, years: float) -> float:
    """Mean squared log close-to-close return over the last ``years`` of a candle file.

    Returns within gap-free segments only (a return across a gap is dropped, as in
    :func:`stresstest.data.candles.log_returns_segments`), each dated by the open
    time of its later bar, kept when that is at most ``years`` before the last bar;
    per step of the file. The mean of ``r^2``, not the variance about the mean, as
    the EWMA of docs/model.md 3 uses ``r^2``. 0 for a file without a return.
    """
    from stresstest.data.candles import contiguous_segments, load_candles

    candles = load_candles(data)
    times = candles.timestamp.astype("datetime64[ms]").astype(np.int64)
    cutoff = float(times[-1]) - years * YEAR_MS
    squares = [
        np.square(np.log(candles.close[first + 1 : stop] / candles.close[first : stop - 1]))[
            times[first + 1 : stop] >= cutoff
        ]
        for first, stop in contiguous_segments(candles)
    ]
    kept = np.concatenate(squares)
    return float(np.mean(kept)) if kept.shape[0] > 0 else 0.0


def vol_floor_variance(scenario: Scenario) -> float:
    """The APC variance floor ``f`` of docs/model.md 3.1 (per step); 0 when off."""
    margin = scenario.margin
    if not isinstance(margin, VolScaledMargin) or margin.vol_floor_lookback_years is None:
        return 0.0
    paths = scenario.paths
    kind = history_source(paths)
    if kind == "gbm":
        sigma = float(getattr(paths, "sigma"))  # noqa: B009 (a GbmPaths)
        return sigma * sigma
    assert kind == "data"  # validation refuses the other sources
    return history_variance(getattr(paths, "data"), margin.vol_floor_lookback_years)  # noqa: B009


def asset_vol_floor_variances(scenario: Scenario, source: Any) -> list[float] | None:
    """Each asset's APC variance floor ``f_a`` of an accounts scenario (docs/model.md 3.1, 11.3).

    Per step, in the order of ``paths.assets``: ``sigma_a^2`` for ``gbm_multi``; for
    ``historical_multi`` and ``fhs_multi`` :func:`history_variance` of asset ``a``'s
    own candle file (``source.files[a]``, resolved), over the last
    ``vol_floor_lookback_years`` before that file's last bar. ``None`` when the
    floor is off.
    """
    margin = scenario.margin
    if not isinstance(margin, VolScaledMargin) or margin.vol_floor_lookback_years is None:
        return None
    years = margin.vol_floor_lookback_years
    if getattr(scenario.paths, "source", None) == "gbm_multi":  # its own per-step variance
        return [float(value) * float(value) for value in getattr(scenario.paths, "sigma")]  # noqa: B009
    return [history_variance(path, years) for path in source.files]


def scenario_margin_arguments(scenario: Scenario) -> np.ndarray:
    """:func:`~stresstest.engine.plan.margin_arguments` of a scenario, floor and horizon set."""
    table = scenario.procyclicality
    return margin_arguments(
        scenario.margin,
        vol_floor_variance=vol_floor_variance(scenario),
        procyclicality_horizon=0 if table is None else table.horizon_steps,
    )
