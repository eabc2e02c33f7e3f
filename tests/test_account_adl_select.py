"""ADL's choice of legs in accounts (docs/model.md 11.8): the kernel's candidate search.

:func:`stresstest.kernels.account_adl.deleverage_legs` visits only the profitable
prefix of an (asset, side) bucket sorted by entry, skips legs that can never be
candidates again and ranks with a heap. Here a plain reference does what the rule
says position by position (every leg of the book scanned in book order, a stable
sort of the keys, legs taken in that order) and the two are compared **exactly**
(the same floating-point operations in the same order) over a sequence of events on
one path's work arrays, on books with tied scores (identical legs), ``+inf`` scores
(accounts with no value), legs already closed, units flagged, closed or taken over,
and all three policies. Also: the units it lists as changed are exactly those whose
legs or collateral changed.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from stresstest.kernels import enums
from stresstest.kernels.account_adl import (
    ARMED,
    CLOSED,
    FLAGGED,
    TAKEN,
    TOP_LEGS,
    adl_buckets,
    adl_work,
    changed_units,
    deleverage_legs,
)
from stresstest.kernels.adl import adl_score
from tests.test_accounts import KERNEL_SETTINGS
from tests.tiers import examples

POLICIES = (enums.ADL_PROFIT_LEVERAGE, enums.ADL_HYPERLIQUID, enums.ADL_PRO_RATA)


def reference_deleverage(
    policy: int,
    asset: int,
    side: float,
    need: float,
    prices: np.ndarray,
    units: tuple[np.ndarray, ...],
    pos_unit: np.ndarray,
    state: np.ndarray,
    qty: np.ndarray,
    collateral: np.ndarray,
    gave: np.ndarray,
) -> tuple[float, float, float, float, float]:
    """The rule of 11.8 leg by leg: scan the book, stable sort, take in order."""
    unit_start, pos_asset, pos_side, _, pos_entry, _ = units
    price = prices[asset]
    found: list[tuple[int, float, float]] = []  # position, profit, key
    for position in range(pos_asset.shape[0]):
        unit = int(pos_unit[position])
        if pos_asset[position] != asset or pos_side[position] != side or qty[position] == 0.0:
            continue
        if state[unit] != ARMED:
            continue
        gain = side * qty[position] * (price - pos_entry[position])
        if not gain > 0.0:
            continue
        key = 0.0
        if policy != enums.ADL_PRO_RATA:
            value = float(collateral[unit])
            for leg in range(unit_start[unit], unit_start[unit + 1]):
                value += pos_side[leg] * qty[leg] * (prices[pos_asset[leg]] - pos_entry[leg])
            margin = collateral[unit]
            score = (
                np.inf
                if value <= 0.0
                else adl_score(
                    policy,
                    int(side),
                    qty[position],
                    pos_entry[position],
                    margin,
                    value - margin,
                    price,
                )
            )
            key = -score
        found.append((position, gain, key))

    def close_if_empty(unit: int) -> None:
        if all(qty[leg] <= 0.0 for leg in range(unit_start[unit], unit_start[unit + 1])):
            state[unit] = CLOSED

    n_all = len(found)
    if n_all == 0:
        return 0.0, need, 0.0, 0.0, 0.0
    cover = notional = count = 0.0
    if policy == enums.ADL_PRO_RATA:
        total = 0.0
        for _, gain, _ in found:
            total += gain
        fraction = 1.0 if need >= total else need / total
        for position, gain, _ in found:
            unit = int(pos_unit[position])
            taken = gain * fraction
            cover += taken
            gave[position] += taken
            notional += qty[position] * fraction * price
            count += 1.0
            qty[position] = 0.0 if fraction >= 1.0 else qty[position] * (1.0 - fraction)
            if unit_start[unit + 1] - unit_start[unit] == 1:
                collateral[unit] = 0.0 if fraction >= 1.0 else collateral[unit] * (1.0 - fraction)
            close_if_empty(unit)
        return cover, need - total if fraction >= 1.0 else 0.0, notional, count, 0.0
    ranked = sorted(found, key=lambda item: item[2])  # stable: ties in book order
    left = need
    weighted = haircuts = 0.0
    for position, gain, _ in ranked:
        if not left > 0.0:
            break
        unit = int(pos_unit[position])
        taken = min(gain, left)
        left -= taken
        cover += taken
        gave[position] += taken
        notional += qty[position] * price
        count += 1.0
        qty[position] = 0.0
        collateral[unit] += gain - taken
        close_if_empty(unit)
        haircut = taken / gain
        weighted += (n_all - count + 1.0) * haircut
        haircuts += haircut
    gini = 0.0
    if haircuts > 0.0:
        gini = max(0.0, 2.0 * weighted / (n_all * haircuts) - (n_all + 1.0) / n_all)
    return cover, max(0.0, left), notional, count, gini


@st.composite
def adl_cases(draw: st.DrawFn) -> dict:
    """A two-asset book of units of one to three legs, with ties and dead legs."""
    n_units = draw(st.integers(1, 40))
    legs = draw(st.lists(st.integers(1, 3), min_size=n_units, max_size=n_units))
    n_positions = sum(legs)
    # few distinct values, so scores and entries tie often; 50 and 140 rare, so at
    # prices 80 and 130 a short profitable prefix is visited in entry order
    entry_values = (50.0, 90.0, 100.0, 100.0, 100.0, 110.0, 120.0, 120.0, 140.0)
    pos_asset = np.array(
        draw(st.lists(st.integers(0, 1), min_size=n_positions, max_size=n_positions))
    )
    pos_side = np.array(
        draw(st.lists(st.sampled_from((-1.0, 1.0)), min_size=n_positions, max_size=n_positions))
    )
    pos_entry = np.array(
        draw(st.lists(st.sampled_from(entry_values), min_size=n_positions, max_size=n_positions))
    )
    qty = np.array(
        draw(
            st.lists(
                st.sampled_from((0.0, 1.0, 2.0, 0.5)), min_size=n_positions, max_size=n_positions
            )
        )
    )
    # often every margin positive, so finite scores compete and the bound decides
    margins = draw(st.sampled_from(((-5.0, 0.0, 10.0, 40.0), (0.5, 2.0, 10.0, 40.0))))
    collateral = np.array(
        draw(st.lists(st.sampled_from(margins), min_size=n_units, max_size=n_units))
    )
    state = np.array(
        draw(
            st.lists(
                st.sampled_from((ARMED, ARMED, ARMED, FLAGGED, CLOSED, TAKEN)),
                min_size=n_units,
                max_size=n_units,
            )
        ),
        dtype=np.int64,
    )
    events = draw(
        st.lists(
            st.tuples(
                st.integers(0, 1),
                st.sampled_from((-1.0, 1.0)),
                st.sampled_from((1.0, 7.5, 30.0, 1e6)),
                st.sampled_from((80.0, 100.0, 105.0, 130.0)),
                st.sampled_from((80.0, 100.0, 130.0)),
                st.booleans(),  # a new step (a new stamp) before the event
            ),
            min_size=1,
            max_size=8,
        )
    )
    return {
        "policy": draw(st.sampled_from(POLICIES)),
        # few kept legs: the need often outruns them and every candidate is heaped
        "top_legs": draw(st.sampled_from((1, 2, 3, TOP_LEGS))),
        "legs": legs,
        "pos_asset": pos_asset.astype(np.int64),
        "pos_side": pos_side,
        "pos_entry": pos_entry,
        "qty": qty,
        "collateral": collateral,
        "state": state,
        "events": events,
    }


@settings(KERNEL_SETTINGS, max_examples=examples(400))
@given(case=adl_cases())
def test_candidate_search_equals_the_book_scan(case: dict) -> None:
    legs = case["legs"]
    unit_start = np.concatenate(([0], np.cumsum(legs))).astype(np.int64)
    pos_unit = np.repeat(np.arange(len(legs)), legs).astype(np.int64)
    units = (
        unit_start,
        case["pos_asset"],
        case["pos_side"],
        case["qty"].copy(),
        case["pos_entry"],
        case["collateral"].copy(),
    )
    policy = case["policy"]
    buckets = adl_buckets(units, 2, True)
    work = adl_work(pos_unit.shape[0], len(legs), buckets, case["top_legs"])
    mine = [case["qty"].copy(), case["collateral"].copy(), case["state"].copy()]
    theirs = [case["qty"].copy(), case["collateral"].copy(), case["state"].copy()]
    gave_mine = np.zeros(pos_unit.shape[0])
    gave_theirs = np.zeros(pos_unit.shape[0])
    step = 0
    for asset, side, need, price_0, price_1, new_step in case["events"]:
        prices = np.array([price_0, price_1])
        qty_before = mine[0].copy()
        collateral_before = mine[1].copy()
        event = (policy, asset, side, need, prices, units, pos_unit)
        got = deleverage_legs(*event, mine[2], mine[0], mine[1], gave_mine, buckets, work, step)
        expected = reference_deleverage(*event, theirs[2], theirs[0], theirs[1], gave_theirs)
        assert got == expected
        for ours, reference in zip(mine, theirs, strict=True):
            np.testing.assert_array_equal(ours, reference)
        np.testing.assert_array_equal(gave_mine, gave_theirs)
        if new_step:  # the step ends: its changed units, against a comparison of the book
            changed = changed_units(work)
            moved = {
                int(pos_unit[position])
                for position in range(pos_unit.shape[0])
                if mine[0][position] != qty_before[position]
            } | {unit for unit in range(len(legs)) if mine[1][unit] != collateral_before[unit]}
            assert moved <= set(changed.tolist())
            assert list(changed) == sorted(set(changed.tolist()))
            step += 1
            # between steps a unit may be flagged, re-armed or closed by a liquidation
            unit = step % len(legs)
            mine[2][unit] = theirs[2][unit] = (
                FLAGGED
                if mine[2][unit] == ARMED
                else (ARMED if mine[2][unit] == FLAGGED else mine[2][unit])
            )


def one_leg_shorts(
    quantities: np.ndarray, need: float, price: float, top_legs: int = TOP_LEGS
) -> tuple[tuple[float, float, float, float, float], np.ndarray, np.ndarray, np.ndarray]:
    """One ``profit_leverage`` event on one-leg shorts (entry 100, collateral 10).

    Returns the event's result, the quantities and what each leg gave after it, and
    the units it changed.
    """
    n_legs = quantities.shape[0]
    units = (
        np.arange(n_legs + 1, dtype=np.int64),
        np.zeros(n_legs, dtype=np.int64),
        np.full(n_legs, -1.0),
        quantities.copy(),
        np.full(n_legs, 100.0),
        np.full(n_legs, 10.0),
    )
    buckets = adl_buckets(units, 1, True)
    work = adl_work(n_legs, n_legs, buckets, top_legs)
    gave = np.zeros(n_legs)
    left_qty = quantities.copy()
    result = deleverage_legs(
        enums.ADL_PROFIT_LEVERAGE,
        0,
        -1.0,
        need,
        np.array([price]),
        units,
        np.arange(n_legs, dtype=np.int64),
        np.zeros(n_legs, dtype=np.int64),
        left_qty,
        np.full(n_legs, 10.0),
        gave,
        buckets,
        work,
        0,
    )
    return result, left_qty, gave, changed_units(work)


def test_tied_scores_go_to_the_lower_position_index() -> None:
    """Three identical one-leg shorts in profit; need covers one and a half: positions 0, 1."""
    (cover, left, notional, count, _), quantities, gave, changed = one_leg_shorts(
        np.ones(3), 15.0, 90.0
    )
    # each short gains 10 at 90: the first gives 10, the second 5, the third nothing
    assert (cover, left, count) == (15.0, 0.0, 2.0)
    assert notional == 180.0
    np.testing.assert_array_equal(gave, [10.0, 5.0, 0.0])
    np.testing.assert_array_equal(quantities, [0.0, 0.0, 1.0])
    assert list(changed) == [0, 1]


def test_one_kept_leg_is_the_best_one() -> None:
    """One kept leg: the second short (score 12.8) is kept over the first (5.33).

    Two one-leg shorts, entry 100, collateral 10, quantities 1 and 2, ADL price 80:
    profits 20 and 40, scores ``(20 / 10) (80 / 30)`` and ``(40 / 10) (160 / 50)``; a
    need of 1 takes the second only, a need of 50 both (the kept leg leaves need, so
    every candidate is heaped).
    """
    (cover, left, notional, count, _), quantities, gave, _ = one_leg_shorts(
        np.array([1.0, 2.0]), 1.0, 80.0, 1
    )
    assert (cover, left, notional, count) == (1.0, 0.0, 160.0, 1.0)
    np.testing.assert_array_equal(quantities, [1.0, 0.0])
    np.testing.assert_array_equal(gave, [0.0, 1.0])
    (cover, left, notional, count, _), quantities, gave, _ = one_leg_shorts(
        np.array([1.0, 2.0]), 50.0, 80.0, 1
    )
    assert (cover, left, notional, count) == (50.0, 0.0, 240.0, 2.0)
    np.testing.assert_array_equal(quantities, [0.0, 0.0])
    np.testing.assert_array_equal(gave, [10.0, 40.0])
