"""The fund walk (docs/model.md 5) against a plain step-by-step walk, bit for bit; the
core replay's close events (step 0 and the steps with closes) against the dense flows.

``walk_fund`` skips the comparisons of a step whose net flow is zero while the fund
is positive; the plain walk below never skips. Flows are drawn mostly zero (as on a
path, where few steps have closes), with steps whose fee and bad debt cancel, and
funds starting at zero, minus zero and tiny values.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.kernels import enums
from stresstest.kernels.fund import (
    FLOW_BAD_DEBT,
    FLOW_FUND,
    FLOW_TO_FUND,
    N_FLOWS,
    N_TOTALS,
    event_at,
    record_close,
    record_grid,
    record_grid_events,
    start_events,
    walk_fund,
)

OUT_COLUMNS = (
    enums.FUND_END,
    enums.FUND_MIN,
    enums.FUND_MAX_DRAWDOWN,
    enums.SOCIALIZED_LOSS,
    enums.FUND_REQUIRED,
)


def plain_walk(to_fund: list[float], bad_debt: list[float], initial: float) -> tuple:
    """Every step walked in full, as docs/model.md 5 states it."""
    fund = peak = low = initial
    drawdown = socialized = cumulative = required = 0.0
    funds = []
    for fee, loss in zip(to_fund, bad_debt, strict=True):
        net = fee - loss
        fund += net
        cumulative += net
        if -cumulative > required:
            required = -cumulative
        if fund < 0.0:
            socialized += -fund
            fund = 0.0
        funds.append(fund)
        low = fund if fund < low else low
        peak = fund if fund > peak else peak
        drawdown = peak - fund if peak - fund > drawdown else drawdown
    return funds, (fund, low, drawdown, socialized, required)


amount = st.one_of(
    st.just(0.0),
    st.just(0.0),
    st.just(0.0),
    st.floats(min_value=1e-9, max_value=1e6),
)


@settings(deadline=None, max_examples=300)
@given(
    steps=st.lists(st.tuples(amount, amount, st.booleans()), min_size=1, max_size=60),
    initial=st.one_of(st.sampled_from([0.0, -0.0, 1e-12, 5.0]), st.floats(0.0, 1e6)),
)
def test_walk_fund_equals_the_plain_walk(
    steps: list[tuple[float, float, bool]], initial: float
) -> None:
    to_fund = [fee for fee, _, _ in steps]
    # Some steps pay the fund exactly what their bad debt takes: net flow zero.
    bad_debt = [fee if cancel else loss for fee, loss, cancel in steps]
    flows = np.zeros((N_FLOWS, len(steps)))
    flows[FLOW_TO_FUND] = to_fund
    flows[FLOW_BAD_DEBT] = bad_debt
    out_row = np.zeros(enums.N_METRICS)
    walk_fund(flows, initial, out_row)
    funds, metrics = plain_walk(to_fund, bad_debt, initial)
    assert flows[FLOW_FUND].tolist() == funds
    for column, expected in zip(OUT_COLUMNS, metrics, strict=True):
        got = out_row[column]
        assert got == expected and math.copysign(1.0, got) == math.copysign(1.0, expected)


def test_a_fund_at_minus_zero_walks_its_first_quiet_step_in_full() -> None:
    """``-0.0 + 0.0`` is ``+0.0``: the walk must not keep the sign of an initial -0.0."""
    flows = np.zeros((N_FLOWS, 3))
    out_row = np.zeros(enums.N_METRICS)
    walk_fund(flows, -0.0, out_row)
    assert [math.copysign(1.0, value) for value in flows[FLOW_FUND]] == [1.0, 1.0, 1.0]
    assert math.copysign(1.0, out_row[enums.FUND_END]) == 1.0


# --- The core replay's sparse close events against the dense per-step flows -------------

# Penalties, bad debt and notionals: mostly zero of either sign, some tiny, some large
# enough to empty the fund; shares that send all, half or none of a penalty to the fund.
close_amount = st.one_of(
    st.sampled_from([0.0, -0.0, 0.0, 5e-324, 1e-12]),
    st.floats(min_value=1e-9, max_value=1e6),
)


@st.composite
def paths_of_closes(draw: st.DrawFn) -> tuple:
    """``(n_points, closes, grid)``: closes in non-decreasing step order (as the replay
    books them), several sometimes at one step, sometimes one at ``T``."""
    n_points = draw(st.integers(1, 40))
    last = n_points - 1
    steps = draw(st.lists(st.integers(0, last), max_size=25))
    if draw(st.booleans()):
        steps += [last] * draw(st.integers(1, 3))
    closes = [
        (
            step,
            float(draw(st.integers(0, 3))),
            draw(close_amount),
            draw(close_amount),
            draw(close_amount),
        )
        for step in sorted(steps)
    ]
    if draw(st.booleans()):
        grid = np.arange(n_points, dtype=np.int64)
    else:
        chosen = draw(st.sets(st.integers(0, last), min_size=1))
        if draw(st.booleans()):
            chosen |= {0, last}
        grid = np.array(sorted(chosen), dtype=np.int64)
    return n_points, closes, grid


def _bits(values: np.ndarray) -> list[int]:
    return np.ascontiguousarray(values).view(np.int64).ravel().tolist()


@settings(deadline=None, max_examples=400)
@given(
    case=paths_of_closes(),
    share=st.sampled_from([0.0, 0.3, 1.0]),
    initial=st.sampled_from([0.0, -0.0, 1e-12, 3.0, 50.0, 1e6, -2.0]),
)
def test_close_events_equal_the_dense_flows_bit_for_bit(
    case: tuple, share: float, initial: float
) -> None:
    """The fund walk over step 0 and the close steps, and the grid from them, write the
    bits of the walk over every step and the grid of the dense flows: metrics, the
    fund after each step with closes, and every grid record, signs of zero included."""
    n_points, closes, grid = case
    prices = np.linspace(100.0, 90.0, n_points)
    dense_totals, sparse_totals = np.zeros(N_TOTALS), np.zeros(N_TOTALS)
    flows = np.zeros((N_FLOWS, n_points))
    # scratch as the replay gets it, not zeroed: NaN wherever a column was not opened
    events = np.full((N_FLOWS, n_points), np.nan)
    event_steps = np.full(n_points, -7, dtype=np.int64)
    n_events = start_events(events, event_steps)
    for step, count, notional, paid, bad in closes:
        record_close(dense_totals, flows, step, count, notional, paid, bad, share)
        n_events = event_at(events, event_steps, n_events, step)
        record_close(sparse_totals, events, n_events - 1, count, notional, paid, bad, share)
    dense_row = np.zeros(enums.N_METRICS)
    sparse_row = np.zeros(enums.N_METRICS)
    walk_fund(flows, initial, dense_row)
    walk_fund(events[:, :n_events], initial, sparse_row)
    dense_grid = np.zeros((enums.N_GRID, grid.shape[0]))
    sparse_grid = np.full((enums.N_GRID, grid.shape[0]), np.nan)
    record_grid(prices, flows, grid, dense_grid)
    record_grid_events(prices, events, event_steps, n_events, grid, sparse_grid)

    close_steps = sorted({0} | {step for step, *_ in closes})
    assert event_steps[:n_events].tolist() == close_steps
    assert _bits(events[:, :n_events]) == _bits(flows[:, close_steps])
    assert _bits(sparse_row) == _bits(dense_row)
    assert _bits(sparse_totals) == _bits(dense_totals)
    assert _bits(sparse_grid) == _bits(dense_grid)


def test_a_fund_emptied_and_refilled_between_grid_steps() -> None:
    """A hand case: fund 10; at step 2 one close leaves bad debt 15 and a second pays
    the fund 4 (netted: 10 + 4 - 15 = -1, socialized 1, F = 0, C = -11); at step 5 a
    close pays 3 (F = 3). Grid 0, 3, 6: F = 10, 0, 3; closes 0, 2, 1."""
    event_steps = np.empty(7, dtype=np.int64)
    events = np.full((N_FLOWS, 7), np.nan)
    totals = np.zeros(N_TOTALS)
    n_events = start_events(events, event_steps)
    for step, paid, bad in ((2, 0.0, 15.0), (2, 4.0, 0.0), (5, 3.0, 0.0)):
        n_events = event_at(events, event_steps, n_events, step)
        record_close(totals, events, n_events - 1, 1.0, 100.0, paid, bad, 0.0)
    out_row = np.zeros(enums.N_METRICS)
    walk_fund(events[:, :n_events], 10.0, out_row)
    grid_row = np.zeros((enums.N_GRID, 3))
    record_grid_events(np.arange(7.0), events, event_steps, n_events, np.array([0, 3, 6]), grid_row)
    assert grid_row[enums.GRID_FUND].tolist() == [10.0, 0.0, 3.0]
    assert grid_row[enums.GRID_COUNT].tolist() == [0.0, 2.0, 1.0]
    assert grid_row[enums.GRID_NOTIONAL].tolist() == [0.0, 200.0, 100.0]
    assert out_row[enums.SOCIALIZED_LOSS] == 1.0
    assert out_row[enums.FUND_MIN] == 0.0 and out_row[enums.FUND_END] == 3.0
    assert out_row[enums.FUND_REQUIRED] == 11.0 and out_row[enums.FUND_MAX_DRAWDOWN] == 10.0
