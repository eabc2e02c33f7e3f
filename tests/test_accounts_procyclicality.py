"""``[procyclicality]`` with accounts (docs/model.md 3.2 "With accounts").

The book's rate ``m_t = sum_a w_a m_a,t`` (``w_a`` the asset's share of the entry
notional) and the closes of the units that, as opened, never breach with every
asset's rate held at ``m_a,0`` on the run's marks. Here: the filtered kernel and the
defence kernel (partial liquidation by either rule, ADL, ``[market]``, the vault, the
fund's bound, oracles, penalty rates, the predictive trigger) against the plain
references (tests/reference_account_procyclicality.py), with every other column the
same bits as without the measure; by hand, a two-asset cross account liquidated only
because the buffered vol-scaled rate rose, an isolated book, and static designs
(ratio 1, increase 0, nothing procyclical); whole scenarios by thread and chunk.
"""

from __future__ import annotations

import copy
import math
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import assume, event, given, settings
from hypothesis import strategies as st

import stresstest
from stresstest.book.accounts import AccountsBook, margin_units
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.account_defences import defence_replay_paths
from stresstest.scenario import load_scenario
from tests.reference_account_defences import reference_account_defences
from tests.reference_accounts import reference_accounts, smallest_gap
from tests.test_accounts import (
    KERNEL_SETTINGS,
    NEAR_TIE_RELATIVE_GAP,
    SCENARIO,
    accounts_cases,
    book_dict,
    bracket_base_rate,
    brackets_array,
    kernel_margin,
    make_book,
    run_kernel,
)
from tests.test_accounts_apc import HAND_BOOK, HAND_BTC, HAND_ETH, HAND_MARGIN, hand_rates
from tests.test_accounts_backstop import vault_params
from tests.test_accounts_defences import (
    assert_defence_metrics,
    defence_params,
    defence_watch,
    hand_prices,
    reference_trigger,
)
from tests.test_accounts_fraction import (
    fraction_params,
    fraction_tables,
    reference_rule,
    with_other_stages,
)
from tests.test_accounts_market import impact_params
from tests.test_accounts_stages import margin_config, resolved_fee
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

INDEX = enums.METRIC_INDEX
MEASURES = enums.PROCYCLICALITY_METRIC_NAMES


def measured_margin(margin: dict[str, Any], horizon: int) -> np.ndarray:
    """The kernels' margin vector of ``margin`` with ``[procyclicality] horizon_steps``."""
    vector = kernel_margin(margin)
    vector[enums.MARGIN_ARG_PROCYC_HORIZON] = float(horizon)
    return vector


def run_filtered(case: dict[str, Any], horizon: int) -> np.ndarray:
    """The filtered kernel (``cross.cross_replay_paths``) on ``case``, rows ``N_METRICS_ALL``."""
    out, _ = run_kernel(
        case["prices"],
        case["book"],
        case["mode"],
        case["margin"],
        case["liquidation"],
        case["fund_initial"],
        case["brackets"],
        group_size=case["group_size"],
        margin_vector=measured_margin(case["margin"], horizon),
        width=enums.N_METRICS_ALL,
    )
    return out


@st.composite
def measured_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An accounts case (tests.test_accounts.accounts_cases) whose rate cannot be 0, as
    ``[procyclicality]`` asks (a static ``maintenance`` of 0 is refused, docs/model.md 3.2):
    a drawn maintenance below 1e-9 becomes 0.001, below the brackets' 0.01 and 0.05 above
    it (a subnormal rate such as 5e-324 times an asset's weight underflows to 0 in the
    book's rate, which no scenario's margin comes near)."""
    case = draw(accounts_cases())
    margin = case["margin"]
    if margin["model"] == "static" and margin["maintenance"] < 1e-9:
        case["margin"] = {**margin, "maintenance": 0.001}
    return case


def cross_of(book: AccountsBook, mode: str) -> np.ndarray:
    return book.cross if mode == "book" else np.full(book.n_accounts, mode == "cross")


# ----------------------------------------------------------------------------- filtered kernel
@settings(KERNEL_SETTINGS, max_examples=examples(200))
@given(case=measured_cases(), horizon=st.integers(1, 6))
def test_filtered_kernel_measures_as_the_reference(case: dict[str, Any], horizon: int) -> None:
    book = case["book"]
    cross = cross_of(book, case["mode"])
    gap = smallest_gap(case["prices"], book_dict(book), cross, case["margin"], case["brackets"])
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    held_gaps: list[float] = []
    expected = reference_accounts(
        case["prices"],
        book_dict(book),
        cross,
        case["margin"],
        *case["liquidation"],
        case["fund_initial"],
        case["brackets"],
        procyclicality=horizon,
        held_gaps=held_gaps,
    )
    assume(min(held_gaps) > NEAR_TIE_RELATIVE_GAP)
    actual = run_filtered(case, horizon)
    unmeasured = run_filtered(case, 0)
    width = enums.N_METRICS
    assert np.array_equal(actual[:, :width], unmeasured[:, :width])  # the measure changes nothing
    assert (unmeasured[:, width:] == 0.0).all()
    event(f"procyclical closes: {'> 0' if actual[:, INDEX[MEASURES[2]]].sum() > 0 else '0'}")
    assert_defence_metrics(actual, expected, book.entry_notional, enums.METRIC_NAMES + MEASURES)


# ----------------------------------------------------------------------------- defence kernel
@st.composite
def defence_cases(draw: st.DrawFn) -> dict[str, Any]:
    """An accounts case with a close rule (full, the target, the fraction rule) and maybe
    ADL, an empty fund, an oracle, a vol fee, impact, the vault, the predictive trigger or
    the fund's bound (tests.test_accounts_fraction.with_other_stages), and a horizon."""
    case = draw(measured_cases())
    rule = draw(st.sampled_from(["full", "target", "fraction"]))
    case["buffer"] = draw(st.floats(1e-4, 0.05)) if rule == "target" else None  # 0: a tie
    case["rule"] = draw(fraction_tables(case["book"])) if rule == "fraction" else None
    case = draw(with_other_stages(case))
    case["horizon"] = draw(st.integers(1, 6))
    return case


def defence_stage_vector(case: dict[str, Any]) -> np.ndarray:
    """The ``N_MECH`` vector of the case's stages, as engine.mechanics.mechanics_vector."""
    params = defence_params(
        case["margin"],
        case["oracle"],
        case["fee_keys"],
        case["buffer"],
        case["adl"],
        case["trigger"],
    )
    if case["rule"] is not None:
        params = fraction_params(params, case["rule"])
    if case["market"] is not None:
        params = impact_params(params, case["market"])
    if case["backstop"] is not None:
        params = vault_params(params, case["backstop"])
    if case["bound"] is not None:
        params[enums.MECH_FUND_BOUND] = 1.0
        params[enums.MECH_FUND_BOUND_FRACTION] = case["bound"]
    return params


def run_defence(case: dict[str, Any], params: np.ndarray, horizon: int) -> np.ndarray:
    """The defence kernel on ``case`` with ``params``, rows ``N_METRICS_ALL``."""
    config = margin_config(case["margin"])
    table = brackets_array(bracket_base_rate(config)[1], case["brackets"] or [])
    units = margin_units(case["book"], case["mode"])
    prices = case["prices"]
    out = np.zeros((prices.shape[0], enums.N_METRICS_ALL))
    defence_replay_paths(
        prices,
        params,
        measured_margin(case["margin"], horizon),
        table,
        np.asarray(case["liquidation"], dtype=float),
        (units.start, units.asset, units.side, units.qty, units.entry, units.collateral),
        defence_watch(units, prices, config, table),
        case["fund_initial"],
        np.empty(0, dtype=np.int64),
        out,
        np.empty((prices.shape[0], enums.N_GRID, 0)),
    )
    return out


def check_defence_measures(case: dict[str, Any]) -> None:
    """The defence kernel's measure against the reference on one case (near ties assumed
    away), and every other column the same bits as the run without the measure."""
    book = case["book"]
    cross = cross_of(book, case["mode"])
    gap = smallest_gap(
        case["prices"], book_dict(book), cross, case["margin"], case["brackets"], case["oracle"]
    )
    assume(gap > NEAR_TIE_RELATIVE_GAP)
    params = defence_stage_vector(case)
    vault_gaps: list[float] = []
    held_gaps: list[float] = []
    expected = reference_account_defences(
        case["prices"],
        book_dict(book),
        cross,
        case["margin"],
        *case["liquidation"],
        case["fund_initial"],
        case["brackets"],
        oracle=case["oracle"],
        fee_model=resolved_fee(case["margin"], case["fee_keys"]),
        buffer=case["buffer"],
        adl=case["adl"],
        trigger=reference_trigger(params),
        market=case["market"],
        bound=case["bound"],
        backstop=case["backstop"],
        gaps=vault_gaps,
        fraction=None if case["rule"] is None else reference_rule(case["rule"]),
        procyclicality=case["horizon"],
        held_gaps=held_gaps,
    )
    assume(not vault_gaps or min(vault_gaps) > NEAR_TIE_RELATIVE_GAP)
    assume(min(held_gaps) > NEAR_TIE_RELATIVE_GAP)
    actual = run_defence(case, params, case["horizon"])
    unmeasured = run_defence(case, params, 0)
    measures = {INDEX[name] for name in MEASURES}
    others = [column for column in range(enums.N_METRICS_ALL) if column not in measures]
    assert np.array_equal(actual[:, others], unmeasured[:, others])  # the measure changes nothing
    counted = actual[:, INDEX[MEASURES[2]]].sum()
    event(f"procyclical closes: {'> 0' if counted > 0 else '0'}")
    event(f"stages: {case['mode']}, rule {case['rule'] is not None}, adl {case['adl'] is not None}")
    names = enums.METRIC_NAMES + MEASURES
    names += enums.ADL_METRIC_NAMES if case["adl"] else ()
    names += enums.MARKET_METRIC_NAMES if case["market"] else ()
    names += enums.BACKSTOP_METRIC_NAMES if case["backstop"] else ()
    names += enums.FUND_BOUND_METRIC_NAMES if case["bound"] is not None else ()
    assert_defence_metrics(actual, expected, book.entry_notional, names)


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=defence_cases())
def test_defence_kernel_measures_as_the_reference(case: dict[str, Any]) -> None:
    check_defence_measures(case)


# ----------------------------------------------------------------------------- by hand
HAND_LIQUIDATION = (0, 0.0, 0.0, 0.5)  # latency 0, no slippage, no fee


def hand(value: float, expected: float, what: str) -> None:
    assert_close(value, expected, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=what)


def book_rates(horizon: int) -> tuple[float, float]:
    """Peak to trough and ``horizon``-step increase of HAND_BOOK's rate under the buffer.

    Weights by entry notional: BTC 100 / 150 = 2/3, ETH 50 / 150 = 1/3.
    """
    btc = hand_rates(HAND_BTC, 0.25)
    eth = hand_rates(HAND_ETH, 0.25)
    rate = [2.0 / 3.0 * b + 1.0 / 3.0 * e for b, e in zip(btc, eth, strict=True)]
    increase = max((rate[t + horizon] - rate[t]) / rate[t] for t in range(len(rate) - horizon))
    return max(rate) / min(rate), increase


def test_a_cross_account_liquidated_by_the_rise_of_the_buffered_rate() -> None:
    # tests/test_accounts_apc.py: the buffer holds BTC's rate at 0.03302 and the account
    # (13.7 on long 1 BTC at 100 and long 1 ETH at 50) is closed at step 4 (E 3.2 < R
    # 3.461). Held at step 0 both assets post 1.25 x 0.01 = 0.0125: the lowest equity,
    # 3.2 at BTC 89.5, is above R = 0.0125 (89.5 + 50) = 1.744, so the held rates never
    # flag it: both legs' close (2 legs, notional 89.5 + 50) counts.
    margin = {**HAND_MARGIN, "apc_buffer": 0.25}
    prices = hand_prices(HAND_BTC, HAND_ETH)
    assert 13.7 + 89.5 - 100.0 > 0.0125 * (89.5 + 50.0)
    ratio, increase = book_rates(2)
    assert ratio > 1.5 and increase > 0.5  # the spike: 0.0125 -> 2/3 0.03302 + 1/3 0.0121
    case = {
        "prices": prices,
        "book": HAND_BOOK,
        "mode": "cross",
        "margin": margin,
        "liquidation": HAND_LIQUIDATION,
        "fund_initial": 0.0,
        "brackets": None,
        "group_size": 64,
    }
    filtered = run_filtered(case, 2)[0]
    params = defence_params(margin, None, None, 0.001, "pro_rata", None)
    case.update(fund_initial=1e9)  # a fund that never empties: ADL never fires
    defended = run_defence(case, params, 2)[0]
    for row, what in ((filtered, "filtered"), (defended, "defence")):
        assert row[INDEX["n_liquidations"]] >= 2
        assert row[INDEX["procyclical_liquidations"]] == row[INDEX["n_liquidations"]]
        hand(row[INDEX["margin_peak_to_trough"]], ratio, f"{what}: ratio")
        hand(row[INDEX["margin_max_increase"]], increase, f"{what}: increase")
    hand(filtered[INDEX["procyclical_notional"]], 139.5, "notional")
    hand(filtered[INDEX["procyclical_notional"]], filtered[INDEX["liquidated_notional"]], "all")


def test_an_isolated_book_counts_only_the_position_the_held_rate_spares() -> None:
    # Long 1 BTC at 100 with 12: at step 1 (BTC 100 e^-0.1 = 90.484) E = 2.484 < R =
    # 0.03302 x 90.484 = 2.988, flagged; held, the lowest E = 1.5 at 89.5 stays above
    # 0.0125 x 89.5 = 1.119: counted, notional 90.484. Short 1 ETH at 50 with 0.3:
    # E = 0.3 < R = 0.0125 x 50 = 0.625 at step 0, flagged by both: not counted.
    book = make_book([0, 1], [0, 1], [1.0, -1.0], [1.0, 1.0], [100.0, 50.0], [12.0, 0.3], [False])
    margin = {**HAND_MARGIN, "apc_buffer": 0.25}
    case = {
        "prices": hand_prices(HAND_BTC, HAND_ETH),
        "book": book,
        "mode": "isolated",
        "margin": margin,
        "liquidation": HAND_LIQUIDATION,
        "fund_initial": 0.0,
        "brackets": None,
        "group_size": 64,
    }
    row = run_filtered(case, 3)[0]
    assert row[INDEX["n_liquidations"]] == 2
    assert row[INDEX["procyclical_liquidations"]] == 1
    hand(row[INDEX["procyclical_notional"]], 100.0 * math.exp(-0.1), "BTC's close")
    # static at the held 0.0125: the short alone is closed, and nothing counts
    static = run_filtered({**case, "margin": {"model": "static", "maintenance": 0.0125}}, 3)[0]
    assert static[INDEX["n_liquidations"]] == 1
    assert static[INDEX["procyclical_liquidations"]] == 0
    assert static[INDEX["margin_peak_to_trough"]] == 1.0


@pytest.mark.parametrize("defences", [False, True], ids=["filtered", "defences"])
def test_a_static_design_is_not_procyclical(defences: bool) -> None:
    scenario = copy.deepcopy(SCENARIO)
    scenario["procyclicality"] = {"horizon_steps": 10}
    if defences:
        scenario["partial_liquidation"] = {"buffer": 0.002}
        scenario["adl"] = {"policy": "profit_leverage"}
    result = stresstest.run(load_scenario(scenario))
    assert result.column("n_liquidations").sum() > 0
    assert (result.column("margin_peak_to_trough") == 1.0).all()
    assert (result.column("margin_max_increase") == 0.0).all()
    assert (result.column("procyclical_liquidations") == 0).all()
    assert (result.column("procyclical_notional") == 0.0).all()


def vol_scenario(**tables: Any) -> dict[str, Any]:
    """SCENARIO with vol-scaled margin and the buffer, ``[procyclicality]`` and ``tables``."""
    scenario = copy.deepcopy(SCENARIO)
    scenario["margin"] = {
        "model": "vol_scaled",
        "k": 3.0,
        "horizon_steps": 8,
        "ewma_lambda": 0.94,
        "initial_variance": 1e-4,
        "floor": 0.003,
        "cap": 0.2,
        "apc_buffer": 0.25,
    }
    scenario["procyclicality"] = {"horizon_steps": 12}
    scenario.update(copy.deepcopy(tables))
    return scenario


@pytest.mark.parametrize(
    "tables",
    [{}, {"market": {"impact": "linear", "depth": 1e8}, "partial_liquidation": {"buffer": 0.005}}],
    ids=["filtered", "market+partial"],
)
def test_the_measure_has_the_same_bytes_by_thread_and_chunk(tables: dict[str, Any]) -> None:
    from stresstest.engine.accounts import run_accounts

    loaded = load_scenario(vol_scenario(**tables))
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = run_accounts(loaded, chunk_size=3).metrics
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = run_accounts(loaded).metrics
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one, two)
    assert one[:, INDEX["procyclical_liquidations"]].sum() > 0
    assert (one[:, INDEX["margin_peak_to_trough"]] > 1.0).all()


def test_accounts_write_the_columns_and_refuse_a_rate_that_may_be_zero() -> None:
    result = stresstest.run(load_scenario(vol_scenario()))
    assert result.paths.columns[-4:] == list(MEASURES)
    scenario = copy.deepcopy(SCENARIO)
    scenario["procyclicality"] = {"horizon_steps": 10}
    scenario["margin"] = {"model": "static", "maintenance": 0.0}
    with pytest.raises(InputError) as caught:
        load_scenario(scenario)
    assert "procyclicality, margin.maintenance" in str(caught.value)


#: A case found by a search over ``defence_cases`` (9 positions, 2 paths, 8 steps):
#: ADL (``profit_leverage``, empty fund) takes a leg of a cross account of several legs
#: that the design then closes on path 0, and the held rates never flag that account as
#: opened. Counting its close would give ``procyclical_liquidations = 1`` on path 0.
ADL_WEAKENED_PRICES = [
    [
        [100.0, 98.24226119637086, 89.61043076367282, 74.7185675137352, 63.86607021979174,
         65.87210077889172, 63.62552739464409, 64.26701693098603, 62.207454010755],
        [200.0, 194.6419767995654, 182.47814356260395, 164.35816574497167, 139.35549506720287,
         135.7038002330323, 128.26838079847028, 120.91391756931455, 121.20801372553967],
        [300.0, 262.4985155697928, 251.83681322944503, 216.8335120742657, 183.94094766013663,
         192.26130375955404, 189.76908915854983, 190.55314358014212, 199.95767638591826],
    ],
    [
        [100.0, 105.15515894023481, 101.3692457621874, 98.78143894694686, 107.77334662378621,
         105.40768614610695, 100.09498061096471, 118.60863863059419, 128.42111352460918],
        [200.0, 217.18992275874157, 222.7274631030871, 231.46761225782822, 251.0611032568659,
         231.32466111103963, 222.2466437828374, 261.1540507160878, 231.8321875713479],
        [300.0, 322.13889395504754, 334.14629494602303, 339.91136898275954, 339.704064023701,
         325.52198710432765, 302.6349971984512, 351.1466570247561, 329.6316777560803],
    ],
]  # fmt: skip


def adl_weakened_case() -> dict[str, Any]:
    """The case of :data:`ADL_WEAKENED_PRICES` (keys of ``defence_cases``)."""
    book = AccountsBook(
        account=np.array([0, 0, 0, 1, 1, 2, 2, 2, 3]),
        asset=np.array([0, 1, 2, 0, 2, 2, 0, 1, 1]),
        side=np.array([1.0, 1.0, -1.0, -1.0, 1.0, 1.0, 1.0, 1.0, -1.0]),
        qty=np.array([0.23750831277414247, 0.1602207711447206, 2.433312708981124,
                      1.1380539155121516, 1.8836827189620389, 6.515188236309188,
                      8.308583986903015, 0.2532078041414812, 0.7780273974168064]),
        entry_price=np.array([98.64377774269441, 194.5225483249228, 292.3007469317263,
                              99.16926977495551, 304.04427083507136, 293.80791000183393,
                              101.93589106932843, 200.23599511716696, 194.39015930410554]),
        collateral=np.array([15.43156811432883, 7.457298820357599, 415.816377580866,
                             102.0889711976349, 126.6444346874497, 250.87624048731308,
                             232.39260470626863, 4.471181240753635, 5.6175660370797225]),
        cross=np.array([True, False, True, False]),
        assets=("A0", "A1", "A2"),
    )  # fmt: skip
    case: dict[str, Any] = {
        "prices": np.array(ADL_WEAKENED_PRICES),
        "book": book,
        "mode": "cross",
        "margin": {"model": "static", "maintenance": 0.04196571437649156},
        "liquidation": (3, 2.62351581134962e-184, 0.0959847205968995, 0.38967944947567246),
        "fund_initial": 0.0,
        "brackets": [(50.0, 0.05196571437649156), (400.0, 0.09196571437649156)],
        "group_size": 1,
        "buffer": None,
        "rule": {"rule": "fraction", "fraction": 0.7739192922511134, "cooldown_steps": 5},
        "adl": "profit_leverage",
        "oracle": {
            "model": "twap",
            "twap_steps": 6,
            "manipulation_step": 7,
            "manipulation_steps": 2,
            "manipulation_size": -0.02304130412160582,
            "manipulation_asset": None,
        },
        "fee_keys": {
            "fee_base": 1.4725059487968324e-283,
            "fee_k": 1.9515018412017016,
            "fee_min": 0.01464073770277184,
            "fee_max": 0.11464073770277183,
            "vol_ewma_lambda": 0.5474881943115183,
            "vol_initial_variance": 2.2250738585072014e-308,
        },
        "market": None,
        "backstop": None,
        "trigger": None,
        "bound": None,
        "horizon": 1,
    }
    return case


@settings(KERNEL_SETTINGS, max_examples=1)
@given(case=st.builds(adl_weakened_case))
def test_a_unit_of_several_legs_that_adl_weakened_counts_nothing(case: dict[str, Any]) -> None:
    """docs/model.md 3.2 "With accounts": a unit of several legs whose legs ADL changed
    counts none of its closes (the held test reads it as opened), so the measure stays a
    lower bound; the engine agrees with the reference, and both give 0 on path 0.

    One fixed case (``given`` only so the comparison's ``assume`` runs inside a test)."""
    check_defence_measures(case)
    actual = run_defence(case, defence_stage_vector(case), case["horizon"])
    assert actual[0, INDEX["procyclical_liquidations"]] == 0.0
    assert actual[0, enums.N_LIQUIDATIONS] > 0.0
