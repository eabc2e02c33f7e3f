"""The filtered accounts defence kernel against its dense twin, bit for bit (docs/model.md 11.8).

The engine's defence kernel keeps the units no close or ADL has changed in the
cross filter (kernels/account_watch.py); with a filter holding no unit
(``dense_watch_index``) the same kernel checks every unit at every step, as the
dense replay did. On a large random book with price impact, partial liquidation
and ADL with an empty fund, both must give the same bytes: the filter may only
skip units that cannot breach, and the settlements keep unit order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from stresstest.book.accounts import margin_units
from stresstest.book.cross_index import dense_watch_index, watch_index
from stresstest.engine.accounts import bracket_base_rate, plan_for_mode, prepare_accounts
from stresstest.engine.plan import margin_arguments
from stresstest.kernels import enums
from stresstest.kernels.account_defences import defence_replay_paths
from stresstest.scenario.validate import scenario_from_dict
from tests.test_accounts import brackets_array, make_book
from tests.test_accounts_defences import STATIC, defence_params, defence_watch
from tests.test_accounts_stages import margin_config

INDEX = enums.METRIC_INDEX
N_ACCOUNTS = 3000
N_PATHS = 3
N_STEPS = 300
GRID = np.array([0, 100, 299], dtype=np.int64)
MARKET = {
    "impact": "sqrt",
    "coefficient": 0.01,
    "reference_notional": 1e7,
    "permanent_fraction": 0.3,
    "max_impact": 0.05,
}


def large_case(
    policy: str, *, market: bool, brackets: bool, legs: int, oracle: bool
) -> dict[str, Any]:
    """Two-asset cross accounts on volatile GBM with partial liquidation and ADL, fund 0."""
    scenario: dict[str, Any] = {
        "scenario": {"name": "watch_twin", "seed": 7},
        "paths": {
            "source": "gbm_multi",
            "assets": ["BTC", "ETH"],
            "s0": [60000.0, 3000.0],
            "sigma": [0.012, 0.016],
            "correlation": [[1.0, 0.3], [0.3, 1.0]],
            "n_paths": N_PATHS,
            "n_steps": N_STEPS,
        },
        "book": {"source": "accounts_synthetic", "n_accounts": N_ACCOUNTS, "legs": legs},
        "accounts": {"mode": "cross"},
        "margin": {"model": "static", "maintenance": 0.005},
        "liquidation": {"latency_steps": 1, "slippage": 0.001, "fee": 0.005},
        "insurance_fund": {"initial": 0.0},
        "partial_liquidation": {"buffer": 0.01},
        "adl": {"policy": policy},
    }
    if market:
        scenario["market"] = dict(MARKET)
    if oracle:
        scenario["oracle"] = {"model": "ema", "ema_lambda": 0.5}
    if brackets:
        scenario["accounts"]["bracket_floor"] = [50000.0, 200000.0]
        scenario["accounts"]["bracket_rate"] = [0.01, 0.02]
    return scenario


@pytest.mark.parametrize(
    ("policy", "market", "brackets", "legs", "oracle"),
    [
        ("profit_leverage", True, False, 2, False),
        ("pro_rata", False, False, 2, True),
        ("hyperliquid", True, True, 1, False),
    ],
)
def test_filtered_defence_kernel_equals_dense_twin(
    policy: str, market: bool, brackets: bool, legs: int, oracle: bool
) -> None:
    scenario = scenario_from_dict(
        large_case(policy, market=market, brackets=brackets, legs=legs, oracle=oracle), file=None
    )
    source, book = prepare_accounts(scenario)
    plan = plan_for_mode(scenario, source, book, "cross", GRID)
    assert plan.defences is not None
    params, units = plan.defences
    prices = source.chunk(0, N_PATHS)
    rows = []
    for index in (watch_index(plan.index), dense_watch_index(units[5].shape[0], 2)):
        out = np.zeros((N_PATHS, plan.width))
        grid_out = np.zeros((N_PATHS, enums.N_GRID, GRID.shape[0]))
        defence_replay_paths(
            prices,
            params,
            plan.margin,
            plan.brackets,
            plan.liquidation,
            units,
            index,
            plan.fund_initial,
            GRID,
            out,
            grid_out,
        )
        rows.append((out, grid_out))
    (filtered, filtered_grid), (dense, dense_grid) = rows
    # every defence acted, so the comparison covers changed units
    assert dense[:, INDEX["n_liquidations"]].sum() > 0
    assert dense[:, INDEX["adl_count"]].sum() > 0
    assert plan.index.index[1].shape[0] > 0  # the filter holds units
    assert filtered.tobytes() == dense.tobytes()
    assert filtered_grid.tobytes() == dense_grid.tobytes()


def test_armed_quantities_do_not_depend_on_the_order_of_the_checks() -> None:
    """Units breached at one step leave the armed quantities in unit order (docs/model.md 11.5).

    Unit 0 has three legs (the direct list), unit 1 two (the filter, whose candidates are
    checked before the direct list), unit 2 stays open; both breach at step 2 (A and B
    halve) with the same asset A. In floating point ``(Q - 0.1) - 0.2`` and
    ``(Q - 0.2) - 0.1`` differ for ``Q = 0.1 + 0.2 + 0.3``, and A at 1e6 afterwards
    makes the last bit of the open quantity show in ``requirement_mean``: taken out in
    the order of the checks, the filtered kernel and its dense twin would differ.
    """
    book = make_book(
        [0, 0, 0, 1, 1, 2],
        [0, 1, 2, 0, 1, 0],
        [1.0] * 6,
        [0.1, 1.0, 1.0, 0.2, 1.0, 0.3],
        [100.0] * 6,
        [0.5, 0.25, 0.25, 0.5, 0.5, 1000.0],
        [True, True, True],
        assets=("A", "B", "C"),
    )
    prices = np.array(
        [
            [
                [100.0, 100.0, 50.0, 1e6, 1e6],
                [100.0, 100.0, 50.0, 50.0, 50.0],
                [100.0, 100.0, 100.0, 100.0, 100.0],
            ]
        ]
    )
    config = margin_config(STATIC)
    table = brackets_array(bracket_base_rate(config)[1], [])
    units = margin_units(book, "cross")
    rows = []
    for index in (defence_watch(units, prices, config, table), dense_watch_index(3, 3)):
        out = np.zeros((1, enums.N_METRICS_ADL))
        defence_replay_paths(
            prices,
            defence_params(STATIC, None, None, None, None, None),
            margin_arguments(config),
            table,
            np.asarray((0, 0.0, 0.005, 0.5)),
            (units.start, units.asset, units.side, units.qty, units.entry, units.collateral),
            index,
            0.0,
            np.empty(0, dtype=np.int64),
            out,
            np.empty((1, enums.N_GRID, 0)),
        )
        rows.append(out[0])
    assert rows[0][INDEX["n_liquidations"]] == 5.0  # units 0 and 1, every leg, at step 2
    assert rows[0].tobytes() == rows[1].tobytes()
