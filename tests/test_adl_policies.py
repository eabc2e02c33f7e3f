"""ADL policies and fairness figures by hand (docs/model.md 10.2).

Every case runs the public engine on a book of three to four positions written as
CSV. Static maintenance 1%, no fee, no slippage, latency 0, an empty fund.
The book: a long L (q 2, e 100, c 10: theta 95) and three shorts
S1 (q 1, e 100, c 50: phi 150), S2 (q 2, e 110, c 100: phi 160) and
S3 (q 1, e 120, c 20: phi 140). At a price of 60, L is flagged (60.6 < 95) and
closed with equity 10 - 2 * 40 = -70: bad debt 70, so the shorts owe 70.
The random comparison with the plain reference is in tests/test_mechanics_reference.py.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from stresstest.engine import run
from stresstest.kernels import enums
from stresstest.scenario import load_scenario
from tests.test_partial_adl import check, run_case, synthetic_scenario

BOOK = [
    ("long", 2.0, 100.0, 10.0),
    ("short", 1.0, 100.0, 50.0),
    ("short", 2.0, 110.0, 100.0),
    ("short", 1.0, 120.0, 20.0),
]


def tables(policy: str) -> dict[str, Any]:
    return {
        "margin": {"model": "static", "maintenance": 0.01},
        "liquidation": {"fee": 0.0, "slippage": 0.0, "latency_steps": 0},
        "insurance_fund": {"initial": 0.0},
        "adl": {"policy": policy},
    }


def test_profit_leverage_takes_the_top_scores_at_the_mark(tmp_path: Path) -> None:
    # At the mark 60: u = 40, 100, 60; scores S1 (40/50)(60/90) = 0.533, S2 (100/100)
    # (120/200) = 0.6, S3 (60/20)(60/80) = 2.25. S3 gives all 60, S2 gives 10 of 100.
    # Haircuts (1, 0.1, 0) over the 3 candidates: Gini = 4 / (2 * 3 * 1.1) = 20/33.
    # Deleveraged traders 60 and 10: k = ceil(0.02) = ceil(0.2) = 1, both shares 6/7.
    # t = 2 at 145: S1 (phi 150) and S2 (phi 160) stay open, S3 is gone: nothing more.
    result = run_case(tmp_path, [100.0, 60.0, 145.0], BOOK, tables("profit_leverage"))
    check(
        result,
        {
            "n_liquidations": 1,
            "bad_debt": 70.0,
            "socialized_loss": 0.0,
            "fund_end": 0.0,
            "adl_notional": 60.0 + 120.0,
            "adl_count": 2,
            "adl_top1_share": 6 / 7,
            "adl_top10_share": 6 / 7,
            "adl_gini": 20 / 33,
        },
    )
    assert result.paths_frame().columns == ["path", *enums.METRIC_NAMES, *enums.ADL_METRIC_NAMES]


def test_pro_rata_takes_the_same_fraction_and_leaves_the_rest_open(tmp_path: Path) -> None:
    # At 60, U = 40 + 100 + 60 = 200, f = 70 / 200 = 0.35: S1 gives 14, S2 35, S3 21,
    # each keeps 0.65 of its quantity and collateral. Notional 0.35 (1 + 2 + 1) 60 = 84.
    # Gini 0 (every haircut is 0.35); top 1% and 10% (one trader of 3): 35 / 70.
    # t = 2 at 145: S3 (q 0.65, c 13, phi 140 unchanged) is flagged (146.45 > 140) and
    # closed with equity 13 - 0.65 * 25 = -3.25: bad debt 3.25, notional 94.25; no long
    # is open, so it is socialized.
    result = run_case(tmp_path, [100.0, 60.0, 145.0], BOOK, tables("pro_rata"))
    check(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 120.0 + 94.25,
            "bad_debt": 73.25,
            "socialized_loss": 3.25,
            "fund_end": 0.0,
            "adl_notional": 84.0,
            "adl_count": 3,
            "adl_top1_share": 0.5,
            "adl_top10_share": 0.5,
            "adl_gini": 0.0,
        },
    )
    assert result.column("adl_gini")[0] == 0.0  # exactly: the fair reference


def test_hyperliquid_closes_at_the_previous_mark(tmp_path: Path) -> None:
    # At t = 1 the ADL price is O_0 = 100: S1 (e 100) has no profit; S2 u = 20, S3 u = 20.
    # Scores (e/A)(q A / (c + u)): S2 (110/100)(200/120) = 1.83, S3 (120/100)(100/40) = 3.
    # S3 gives 20, S2 gives 20: the need 70 is not met, 30 is socialized.
    # Notional 1 * 100 + 2 * 100 = 300. Haircuts (1, 1): Gini 0; shares 20 / 40.
    result = run_case(tmp_path, [100.0, 60.0], BOOK, tables("hyperliquid"))
    check(
        result,
        {
            "n_liquidations": 1,
            "bad_debt": 70.0,
            "socialized_loss": 30.0,
            "fund_end": 0.0,
            "adl_notional": 300.0,
            "adl_count": 2,
            "adl_top1_share": 0.5,
            "adl_top10_share": 0.5,
            "adl_gini": 0.0,
        },
    )


@pytest.mark.parametrize(
    ("policy", "expected"),
    [
        # A = 65 (step 0 has no previous mark): u = 35, 90, 55; L's bad debt 60.
        # hyperliquid: S1 (100/65)(65/85) = 1.176, S2 (110/65)(130/190) = 1.158,
        #   S3 (120/65)(65/75) = 1.6: S3 gives 55, S1 gives 5 of 35. Haircuts (1, 1/7, 0):
        #   Gini 4 / (2 * 3 * 8/7) = 7/12. Notional 65 + 65.
        ("hyperliquid", {"adl_notional": 130.0, "adl_gini": 7 / 12}),
        # profit_leverage: S1 0.535, S2 0.616, S3 2.383: S3 gives 55, S2 gives 5 of 90.
        #   Haircuts (1, 1/18, 0): Gini 4 / (2 * 3 * 19/18) = 12/19. Notional 65 + 130.
        ("profit_leverage", {"adl_notional": 195.0, "adl_gini": 12 / 19}),
    ],
)
def test_ranked_policies_at_step_zero_use_the_current_mark(
    tmp_path: Path, policy: str, expected: dict[str, float]
) -> None:
    result = run_case(tmp_path, [65.0], BOOK, tables(policy))
    check(
        result,
        {
            "bad_debt": 60.0,
            "socialized_loss": 0.0,
            "adl_count": 2,
            "adl_top1_share": 55 / 60,
            "adl_top10_share": 55 / 60,
            **expected,
        },
    )


def test_one_trader_pays_everything(tmp_path: Path) -> None:
    # At 80 L's bad debt is 10 - 2 * 20 = 30; u = 20, 60, 40; scores S1 (20/50)(80/70),
    # S2 (60/100)(160/160), S3 (40/20)(80/60): S3 gives 30 of its 40. One deleveraged
    # trader: both shares 1; haircuts (0.75, 0, 0): Gini (m - 1) / m = 2/3.
    result = run_case(tmp_path, [100.0, 80.0], BOOK, tables("profit_leverage"))
    check(
        result,
        {
            "socialized_loss": 0.0,
            "adl_count": 1,
            "adl_notional": 80.0,
            "adl_top1_share": 1.0,
            "adl_top10_share": 1.0,
            "adl_gini": 2 / 3,
        },
    )


def test_no_adl_event_gives_zero_fairness_figures(tmp_path: Path) -> None:
    # Prices that liquidate nobody: no cover, every figure 0.
    result = run_case(tmp_path, [100.0, 99.0], BOOK, tables("pro_rata"))
    check(
        result,
        {"adl_count": 0, "adl_notional": 0.0, "adl_top1_share": 0.0, "adl_gini": 0.0},
    )


def test_score_ties_go_to_the_lower_bankruptcy_price(tmp_path: Path) -> None:
    # Two shorts without collateral rank +inf: Sb (e 110, key 110) before Sa (e 120,
    # key 120), although Sa is the earlier row. At 90 L owes 10: Sb (u 20) gives 10 and
    # leaves the book. At 115 Sb (phi 110) would be flagged, Sa (phi 120) is not: one
    # liquidation only, no bad debt beyond L's 10.
    book = [("long", 2.0, 100.0, 10.0), ("short", 1.0, 120.0, 0.0), ("short", 1.0, 110.0, 0.0)]
    result = run_case(tmp_path, [100.0, 90.0, 115.0], book, tables("profit_leverage"))
    check(result, {"n_liquidations": 1, "bad_debt": 10.0, "adl_count": 1, "adl_notional": 90.0})


@pytest.mark.parametrize("policy", ["profit_leverage", "hyperliquid", "pro_rata"])
def test_every_policy_runs_with_every_crash_mechanism(policy: str) -> None:
    """Each policy composes with the oracle, price impact, the predictive trigger and the
    vol-scaled penalty through the public engine; the figures stay in their ranges."""
    raw = synthetic_scenario(
        adl={"policy": policy},
        oracle={"model": "ema", "ema_lambda": 0.5},
        market={"impact": "linear", "depth": 1e7, "permanent_fraction": 0.5},
        insurance_fund={"initial": 0.0},
    )
    raw["liquidation"].update(
        trigger="predictive",
        vol_ewma_lambda=0.94,
        fee_model="vol_scaled",
        fee_base=0.002,
        fee_k=0.5,
    )
    result = run(load_scenario(raw))
    assert result.column("adl_count").sum() > 0
    for name in ("adl_top1_share", "adl_top10_share", "adl_gini"):
        values = result.column(name)
        assert np.all((values >= 0.0) & (values <= 1.0)), name
    top1, top10 = result.column("adl_top1_share"), result.column("adl_top10_share")
    assert np.all(top1 <= top10)
    with_adl = result.column("adl_count") > 0
    assert np.all(top1[with_adl] > 0.0)
    gini = result.column("adl_gini")
    if policy == "pro_rata":
        assert np.array_equal(gini, np.zeros_like(gini))
    else:
        assert np.any(gini > 0.0)
