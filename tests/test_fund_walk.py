"""The fund walk (docs/model.md 5) against a plain step-by-step walk, bit for bit.

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
