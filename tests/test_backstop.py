"""Hand-computed cases of the backstop vault and the fund's bound (docs/model.md 10.3, 10.4).

One long (``q = 1``, entry 100, collateral 10: bankruptcy price ``theta = 90``) and
sometimes one short, over one short path; every expected value is derived in the
comments from the formulas of docs/model.md. Then the scenario layer: the tables
load, bad values name their key, the stages' columns appear in a run, and the
shipped example validates.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import stresstest
from stresstest.book import Book
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.backstop import (
    N_COHORT,
    VAULT_SHORT_QT,
    init_vault,
    take_cohort,
    vault_equity,
    vault_step,
)
from stresstest.scenario import load_scenario
from tests.reference_mechanics import Mechanisms
from tests.test_composition import GBM
from tests.test_mechanics_reference import liquidation_table, run_mechanics_kernel
from tests.test_replay_reference import ReplayCase
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close

REPO = Path(__file__).resolve().parents[1]


def book(*positions: tuple[int, float]) -> Book:
    """Positions of ``q = 1`` entered at 100: ``(side, collateral)`` each."""
    return Book(
        side=np.array([side for side, _ in positions], dtype=np.int8),
        qty=np.ones(len(positions)),
        entry_price=np.full(len(positions), 100.0),
        collateral=np.array([collateral for _, collateral in positions], dtype=float),
    )


def replay(
    prices: list[float],
    positions: Book,
    *,
    maintenance: float,
    fund: float = 0.0,
    backstop: dict[str, Any] | None = None,
    bound: float | None = None,
    adl: dict[str, Any] | None = None,
) -> dict[str, float]:
    """The pipeline on one path with latency, slippage and fee 0; every column by name."""
    margin = {"model": "static", "maintenance": maintenance}
    case = ReplayCase(
        prices=np.array([prices]),
        book=positions,
        margin=margin,
        latency_steps=0,
        slippage=0.0,
        fee=0.0,
        liquidator_share=0.5,
        fund_initial=fund,
    )
    mechanisms = Mechanisms(
        margin=margin,
        liquidation=liquidation_table(case),
        fund_initial=fund,
        adl=adl,
        backstop=backstop,
        fund_bound=bound,
    )
    row = run_mechanics_kernel(case, mechanisms)[0]
    return {  # every column of the perps kernels (a lending run's own slots lie beyond)
        name: float(row[index])
        for name, index in enums.METRIC_INDEX.items()
        if index < enums.N_METRICS_ALL
    }


def check(actual: dict[str, float], expected: dict[str, float]) -> None:
    for name, value in expected.items():
        assert_close(
            actual[name], value, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=name
        )


ONE_LONG = book((1, 10.0))
#: m = 0.05. At t = 1, P = 93: E = 10 - 7 = 3 < R = 0.05 * 93 = 4.65 flags and closes
#: the long at once; 3 < (2/3) 4.65 = 3.1, so the vault takes it over at theta = 90.
PRICES = [100.0, 93.0, 80.0, 85.0, 95.0]


def test_a_takeover_held_to_the_end_books_the_vaults_profit() -> None:
    # Held to T = 4: realized 95 - 90 = 5. Equity W_t = 20 + (P_t - 90): 23, 10, 15 at
    # t = 1..3, then V = 25 at t = 4: minimum 10. No market close, no bad debt, the fund
    # untouched; the trader lost all 10 of collateral (the vault's buffer).
    result = replay(PRICES, ONE_LONG, maintenance=0.05, backstop={"capital": 20.0})
    check(
        result,
        {
            "n_liquidations": 0,
            "liquidated_notional": 0.0,
            "bad_debt": 0.0,
            "socialized_loss": 0.0,
            "backstop_takeovers": 1,
            "backstop_notional": 93.0,
            "backstop_pnl": 5.0,
            "backstop_loss_passed": 0.0,
            "backstop_min_equity": 10.0,
            "backstop_exhausted": 0,
        },
    )


def test_a_vault_loss_beyond_its_capital_is_socialized_or_covered_by_adl() -> None:
    # hold_steps = 1: the vault closes at t = 2 at 80, realized 80 - 90 = -10; with
    # capital 4, V = -6: 6 passes on, V = 0 (exhausted). W_1 = 4 + 3 = 7, W_2 = 0.
    vault = {"capital": 4.0, "hold_steps": 1}
    alone = replay(PRICES, ONE_LONG, maintenance=0.05, backstop=vault)
    check(
        alone,
        {
            "backstop_takeovers": 1,
            "backstop_pnl": -10.0,
            "backstop_loss_passed": 6.0,
            "backstop_min_equity": 0.0,
            "backstop_exhausted": 1,
            "socialized_loss": 6.0,
            "fund_end": 0.0,
        },
    )
    # With a short (c = 50, phi = 150, never flagged) and ADL: at t = 2 its profit at the
    # mark 80 is 20 >= 6, so it is closed and gives up 6: nothing is socialized.
    with_adl = replay(
        PRICES,
        book((1, 10.0), (-1, 50.0)),
        maintenance=0.05,
        backstop=vault,
        adl={"policy": "profit_leverage"},
    )
    check(
        with_adl,
        {"backstop_loss_passed": 6.0, "socialized_loss": 0.0, "adl_count": 1, "adl_notional": 80.0},
    )


def test_a_position_above_the_takeover_line_closes_in_the_market() -> None:
    # takeover_fraction 0.5: 3 >= 0.5 * 4.65 = 2.325, so the long is sold at 93 with
    # remaining equity 3 (no fee): no takeover, no bad debt.
    result = replay(
        PRICES, ONE_LONG, maintenance=0.05, backstop={"capital": 20.0, "takeover_fraction": 0.5}
    )
    check(
        result,
        {
            "n_liquidations": 1,
            "liquidated_notional": 93.0,
            "backstop_takeovers": 0,
            "backstop_pnl": 0.0,
            "backstop_min_equity": 20.0,
        },
    )


def test_the_fund_pays_bad_debt_only_up_to_its_bound_past_bankruptcy() -> None:
    # m = 0: the long flags at t = 1 (80 < 90) and closes at 80: bad debt 10. Bound
    # f = 0.05: the fund pays min(10, 0.05 * 80) = 4, 6 passes on and is socialized
    # (no ADL), the fund ends at 100 - 4 = 96.
    prices = [100.0, 80.0, 80.0]
    bounded = replay(prices, ONE_LONG, maintenance=0.0, fund=100.0, bound=0.05)
    check(
        bounded,
        {
            "bad_debt": 10.0,
            "fund_passed_bad_debt": 6.0,
            "fund_end": 96.0,
            "socialized_loss": 6.0,
            "fund_required": 4.0,
        },
    )
    # f = 0.2: the bound 16 is above the bad debt, the fund pays all 10.
    loose = replay(prices, ONE_LONG, maintenance=0.0, fund=100.0, bound=0.2)
    check(loose, {"fund_passed_bad_debt": 0.0, "fund_end": 90.0, "socialized_loss": 0.0})
    # A short (c = 10, phi = 110) at 120: bad debt 10, bound 0.05 * 120 = 6, 4 passes on.
    short = replay([100.0, 120.0, 120.0], book((-1, 10.0)), maintenance=0.0, fund=100.0, bound=0.05)
    check(short, {"bad_debt": 10.0, "fund_passed_bad_debt": 4.0, "fund_end": 94.0})
    # f = 0 with ADL: all 10 passes to ADL although the fund is full; a short
    # (c = 50) with profit 20 at 80 covers it.
    covered = replay(
        prices,
        book((1, 10.0), (-1, 50.0)),
        maintenance=0.0,
        fund=100.0,
        bound=0.0,
        adl={"policy": "profit_leverage"},
    )
    check(
        covered,
        {"fund_passed_bad_debt": 10.0, "fund_end": 100.0, "socialized_loss": 0.0, "adl_count": 1},
    )


def scenario_with(**tables: dict[str, Any]) -> dict[str, Any]:
    """tests/test_composition.py's small GBM scenario with ``tables`` merged in."""
    scenario = copy.deepcopy(GBM)
    for table, values in tables.items():
        scenario.setdefault(table, {}).update(values)
    return scenario


@pytest.mark.parametrize(
    ("tables", "key"),
    [
        ({"backstop": {}}, "backstop.capital"),
        ({"backstop": {"capital": 1e6, "takeover_fraction": 0.0}}, "backstop.takeover_fraction"),
        ({"backstop": {"capital": 1e6, "hold_steps": -1}}, "backstop.hold_steps"),
        ({"insurance_fund": {"pays_past_bankruptcy": 1.0}}, "insurance_fund.pays_past_bankruptcy"),
    ],
)
def test_bad_values_name_their_key(tables: dict[str, Any], key: str) -> None:
    with pytest.raises(InputError) as caught:
        load_scenario(scenario_with(**tables))
    assert key in str(caught.value)


def test_a_run_writes_the_waterfall_columns() -> None:
    plain = stresstest.run(load_scenario(scenario_with()))
    # A bound no close reaches (bad debt above 0.99 of notional): the core columns bit
    # for bit, nothing passed on.
    bound = stresstest.run(
        load_scenario(scenario_with(insurance_fund={"pays_past_bankruptcy": 0.99}))
    )
    np.testing.assert_array_equal(
        bound.metrics[:, : enums.N_METRICS], plain.metrics[:, : enums.N_METRICS]
    )
    assert (bound.column("fund_passed_bad_debt") == 0.0).all()
    assert bound.paths.columns == ["path", *enums.METRIC_NAMES, *enums.FUND_BOUND_METRIC_NAMES]
    # The vault moves no price, so the closing positions are those of the plain run:
    # each is either sold or taken over; what is taken over has no bad debt.
    vault = stresstest.run(load_scenario(scenario_with(backstop={"capital": 1e6})))
    assert vault.paths.columns == ["path", *enums.METRIC_NAMES, *enums.BACKSTOP_METRIC_NAMES]
    taken = vault.column("backstop_takeovers")
    assert taken.sum() > 0
    np.testing.assert_array_equal(
        vault.column("n_liquidations") + taken, plain.column("n_liquidations")
    )
    assert (vault.column("bad_debt") <= plain.column("bad_debt")).all()


def test_the_shipped_example_loads() -> None:
    scenario = load_scenario(REPO / "scenarios" / "backstop_events.toml")
    assert scenario.backstop is not None and scenario.insurance_fund.pays_past_bankruptcy == 0.01


def test_an_empty_vault_holds_exactly_nothing() -> None:
    """Once every held cohort is closed the held sums are 0, not a rounding residue.

    (0.1 + 0.2) - 0.1 - 0.2 is 2.8e-17 in float64: before the count of held positions a
    vault whose capital was 0 could keep a positive equity W of that size and go on
    taking positions over (docs/model.md 10.3: it takes nothing when W <= 0).
    """
    vault = init_vault(0.0)
    cohorts = np.zeros((N_COHORT, 4))
    take_cohort(vault, cohorts, 0, -1, 1.0, 0.1, 1.0, 0.1)  # short q = 1 at phi = 0.1
    take_cohort(vault, cohorts, 1, -1, 1.0, 0.2, 1.0, 0.2)
    vault_step(vault, cohorts, 1, 3, 1, 0.1)  # closes the cohort of step 0 at 0.1
    vault_step(vault, cohorts, 2, 3, 1, 0.2)  # and that of step 1 at 0.2: P&L 0 each
    assert vault[VAULT_SHORT_QT] == 0.0
    assert vault_equity(vault, 0.2) == 0.0


def test_a_one_sided_vault_loss_passes_nothing_to_the_other_side() -> None:
    """A loss of the vault's longs alone passes exactly 0 for shorts (docs/model.md 10.3).

    Capital 4.786, one long taken at theta = 90.06 and closed at 81.3: realized
    81.3 - 90.06 = -8.76, V = 4.786 - 8.76 < 0, so -V (3.974 up to rounding) passes,
    all of it for the longs. Before the fix the shorts' share was computed as the
    complement -V - (-V) L / L, which is 4.4e-16 for these floats: a positive need
    that made ADL deleverage a profitable long (CI, 4 Dec 2026).
    """
    vault = init_vault(4.786)
    cohorts = np.zeros((N_COHORT, 3))
    take_cohort(vault, cohorts, 0, 1, 1.0, 90.06, 1.0, 90.06)
    passed_long, passed_short = vault_step(vault, cohorts, 1, 2, 1, 81.3)
    assert passed_short == 0.0
    assert passed_long == -(4.786 + (81.3 - 90.06))
