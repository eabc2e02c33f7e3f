"""A path's margin rates in passes (kernels/margin.py ``design_rates``) are the step loop's bits.

``design_rates`` takes every log return first, then the EWMA recursion, then the
rates (issue 19: the libm ``log`` calls off the recursion's path). The reference
here is docs/model.md 3 written step by step in plain Python floats (IEEE
double, the same C library ``log`` and correctly rounded ``sqrt``), so every rate
must be equal bit for bit; the records' pass (``breach_records``) writes the
same rates.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.engine.plan import margin_arguments
from stresstest.kernels.margin import design_rates
from stresstest.kernels.records import breach_records, new_records
from stresstest.scenario.schema import StaticMargin, VolScaledMargin


def _reference(prices: np.ndarray, margin: VolScaledMargin | StaticMargin) -> list[float]:
    """``m_t`` of docs/model.md 3, one step after the other."""
    if isinstance(margin, StaticMargin):
        return [margin.maintenance] * prices.shape[0]
    variance = margin.initial_variance
    sqrt_horizon = math.sqrt(float(margin.horizon_steps))
    rates = []
    for step in range(prices.shape[0]):
        if step >= 1:
            log_return = math.log(float(prices[step]) / float(prices[step - 1]))
            variance = (
                margin.ewma_lambda * variance + (1.0 - margin.ewma_lambda) * log_return * log_return
            )
        rates.append(
            min(margin.cap, max(margin.floor, margin.k * math.sqrt(variance) * sqrt_horizon))
        )
    return rates


def _prices(log_returns: list[float]) -> np.ndarray:
    return 30_000.0 * np.exp(np.concatenate(([0.0], np.cumsum(log_returns))))


@settings(max_examples=200, deadline=None)
@given(
    log_returns=st.lists(st.floats(-0.2, 0.2), min_size=0, max_size=80),
    k=st.floats(0.5, 5.0),
    horizon=st.integers(1, 48),
    ewma_lambda=st.floats(0.5, 0.999),
    initial_variance=st.floats(1e-8, 1e-2),
    floor=st.floats(0.0, 0.05),
    cap_above=st.floats(0.0, 0.5),
)
def test_vol_scaled_rates_are_the_step_loop_bit_for_bit(
    log_returns: list[float],
    k: float,
    horizon: int,
    ewma_lambda: float,
    initial_variance: float,
    floor: float,
    cap_above: float,
) -> None:
    prices = _prices(log_returns)
    margin = VolScaledMargin(
        model="vol_scaled",
        k=k,
        horizon_steps=horizon,
        ewma_lambda=ewma_lambda,
        initial_variance=initial_variance,
        floor=floor,
        cap=min(floor + cap_above, 0.99),
    )
    rates = np.empty(prices.shape[0])
    design_rates(prices, margin_arguments(margin), rates)
    assert rates.tobytes() == np.asarray(_reference(prices, margin)).tobytes()
    records_rates, values, marks = new_records(prices.shape[0])
    breach_records(prices, margin_arguments(margin), prices[:0], records_rates, values, marks)
    assert records_rates.tobytes() == rates.tobytes()


def test_static_rates_are_the_maintenance() -> None:
    prices = _prices([0.01, -0.03, 0.02])
    margin = StaticMargin(model="static", maintenance=0.0075)
    rates = np.empty(prices.shape[0])
    design_rates(prices, margin_arguments(margin), rates)
    assert rates.tolist() == [0.0075] * 4
    records_rates, values, marks = new_records(prices.shape[0])
    breach_records(prices, margin_arguments(margin), prices[:0], records_rates, values, marks)
    assert records_rates.tolist() == [0.0075] * 4
