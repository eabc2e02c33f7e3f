"""The venue-style rule of ``[partial_liquidation]``: a fixed fraction per close (10.1).

``rule = "fraction"`` closes ``fraction`` of a breached position's current quantity,
closes it in full during the cool-down of ``cooldown_steps`` after a partial close and
when its notional at the mark is at most ``min_notional``. The pipeline (sorted book,
binary searches, one cohort row per remainder) is compared with the plain reference
``tests/reference_mechanics.py`` (position by position, direct form) on random books,
paths and stages, counts exactly and money at the tolerances of tests/tolerances.py;
hand-computed cases check the rule itself; validation refuses keys without meaning.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from stresstest.book import Book
from stresstest.errors import InputError
from stresstest.kernels import enums
from tests.reference_mechanics import Mechanisms, reference_mechanics
from tests.test_mechanics_reference import (
    backstop_tables,
    compare_with_reference,
    liquidation_table,
    mechanism_cases,
    run_mechanics_kernel,
)
from tests.test_partial_adl import (
    PARTIAL_ADL_BOOK,
    PARTIAL_ADL_PRICES,
    PARTIAL_ADL_TABLES,
    run_case,
    threads_case,
)
from tests.test_partial_adl import check as check_result
from tests.test_replay_reference import KERNEL_SETTINGS, ReplayCase
from tests.tiers import examples
from tests.tolerances import HAND_COMPUTED_ATOL, HAND_COMPUTED_RTOL, assert_close


@st.composite
def fraction_rules(draw: st.DrawFn, case: ReplayCase) -> dict[str, Any]:
    """A ``[partial_liquidation]`` table with ``rule = "fraction"`` the validation accepts.

    ``min_notional`` is drawn around the book's position notionals, so that it splits
    the positions breached at one step (some closed in full, some partially).
    """
    notional = case.book.qty * case.book.entry_price
    table: dict[str, Any] = {
        "rule": "fraction",
        "fraction": draw(st.sampled_from([0.2, 0.5, 1.0]) | st.floats(0.05, 0.95)),
        "cooldown_steps": draw(st.sampled_from([None, 0, 1, 2, 5])),
    }
    if draw(st.booleans()):
        table["min_notional"] = float(np.quantile(notional, draw(st.floats(0.0, 1.0))))
    return table


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(drawn=mechanism_cases(), data=st.data())
def test_fraction_rule_matches_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """The fraction rule drawn every time, with whatever other stages were drawn (no ADL)."""
    case, mechanisms = drawn
    mechanisms = replace(
        mechanisms,
        adl=None,
        partial=data.draw(fraction_rules(case)),
        backstop=None,
        fund_bound=None,
    )
    compare_with_reference(case, mechanisms, "pipeline_paths with rule 'fraction' vs reference")
    repeated_closes(case, mechanisms)


@settings(KERNEL_SETTINGS, max_examples=examples(150))
@given(drawn=mechanism_cases(), data=st.data())
def test_fraction_rule_with_the_waterfall_matches_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """The fraction rule with the vault (a remainder taken whole) and the fund's bound."""
    case, mechanisms = drawn
    notional = float(np.sum(case.book.qty * case.book.entry_price))
    mechanisms = replace(
        mechanisms,
        adl=None,
        partial=data.draw(fraction_rules(case)),
        backstop=data.draw(backstop_tables(notional)),
        fund_bound=data.draw(st.sampled_from([None, 0.0, 0.005, 0.05])),
    )
    compare_with_reference(case, mechanisms, "pipeline_paths with rule 'fraction' and waterfall")
    repeated_closes(case, mechanisms)


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(drawn=mechanism_cases(), data=st.data())
def test_fraction_rule_with_adl_matches_reference(
    drawn: tuple[ReplayCase, Mechanisms], data: st.DataObject
) -> None:
    """The fraction rule and ADL (10.1.1, 10.2) drawn every time, the vault and bound sometimes.

    The pipeline keeps each remainder as a one-position cohort row and gives each
    position the rule touches its own state for ADL (kernels/partial_fraction_adl.py);
    the reference carries every position's own quantity and collateral through
    fraction closes and ADL alike. A small or empty fund makes ADL fire.
    """
    case, mechanisms = drawn
    notional = float(np.sum(case.book.qty * case.book.entry_price))
    policy = data.draw(st.sampled_from(["profit_leverage", "hyperliquid", "pro_rata"]))
    mechanisms = replace(
        mechanisms,
        adl={"policy": policy},
        # f < 1: remainders to rank (f = 1 is the core close, drawn by the tests above)
        partial=data.draw(fraction_rules(case).filter(lambda table: table["fraction"] < 1.0)),
        fund_initial=case.fund_initial * data.draw(st.sampled_from([0.01, 0.0])),
        backstop=data.draw(backstop_tables(notional)),
        fund_bound=data.draw(st.sampled_from([None, None, 0.005])),
    )
    compare_with_reference(case, mechanisms, "pipeline_paths with rule 'fraction' and ADL")
    actual = run_mechanics_kernel(case, mechanisms)
    both = (actual[:, enums.N_LIQUIDATIONS] > case.book.qty.size) & (actual[:, enums.ADL_COUNT] > 0)
    event(f"a path with a position closed more than once and ADL: {bool(np.any(both))}")


def repeated_closes(case: ReplayCase, mechanisms: Mechanisms) -> None:
    """A hypothesis event: some path closed a position more than once (a partial close)."""
    closes = run_mechanics_kernel(case, mechanisms)[:, enums.N_LIQUIDATIONS]
    event(f"a position closed more than once: {bool(np.any(closes > case.book.qty.size))}")


def longs(*pairs: tuple[float, float]) -> Book:
    """Longs entered at 100, each ``(q, c)``."""
    n = len(pairs)
    return Book(
        side=np.ones(n, dtype=np.int8),
        qty=np.array([q for q, _ in pairs]),
        entry_price=np.full(n, 100.0),
        collateral=np.array([c for _, c in pairs]),
    )


def replay(prices: list[float], book: Book, partial: dict[str, Any]) -> dict[str, float]:
    """The pipeline on one path: m = 0.05, fee 0.01, share 0.5, no latency, slippage or fund.

    The reference on the same case gives the same figures (checked here too), so a
    hand case also pins the reference.
    """
    margin = {"model": "static", "maintenance": 0.05}
    case = ReplayCase(
        prices=np.array([prices]),
        book=book,
        margin=margin,
        latency_steps=0,
        slippage=0.0,
        fee=0.01,
        liquidator_share=0.5,
        fund_initial=0.0,
    )
    mechanisms = Mechanisms(margin=margin, liquidation=liquidation_table(case), partial=partial)
    row = run_mechanics_kernel(case, mechanisms)[0]
    expected, _ = reference_mechanics(
        case.prices, book.side, book.qty, book.entry_price, book.collateral, mechanisms
    )
    actual = {name: float(row[enums.METRIC_INDEX[name]]) for name in enums.METRIC_NAMES}
    for name in enums.METRIC_NAMES:
        assert_close(
            actual[name],
            float(expected[0, enums.METRIC_INDEX[name]]),
            rtol=HAND_COMPUTED_RTOL,
            atol=HAND_COMPUTED_ATOL,
            what=f"reference: {name}",
        )
    return actual


def check(actual: dict[str, float], expected: dict[str, float]) -> None:
    for name, value in expected.items():
        assert_close(
            actual[name], value, rtol=HAND_COMPUTED_RTOL, atol=HAND_COMPUTED_ATOL, what=name
        )


def test_twenty_percent_then_cool_down_then_twenty_percent_again() -> None:
    """Long q 1, e 100, c 10 (theta 90); f 0.2; m 0.05, fee 0.01, latency 0.

    Prices 100, 94, 95, 93, 93; the breach series O (1 - m) = 95, 89.3, 90.25, 88.35, 88.35.
    t = 1: 89.3 < 90: closed 0.2 at 94 (F = 93.06 > 90): notional 18.8, penalty 0.188;
      theta' = (90 - 0.2 * 93.06) / 0.8 = 89.235 (c' = 10 - 1.2 - 0.188 = 8.612, q' 0.8).
    t = 2: 90.25 > 89.235: not flagged (the cool-down t = 2 passes unused).
    t = 3: 88.35 < 89.235: 3 > 1 + 1, out of the cool-down: 0.16 closed at 93
      (F = 92.07): notional 14.88, penalty 0.1488; theta'' = (89.235 - 18.414) / 0.8
      = 88.52625, q'' = 0.64.
    t = 4: 88.35 < 88.52625 again; with cooldown_steps 1, 4 <= 3 + 1: closed in full at
      93: notional 59.52, penalty 0.5952 (theta'' < F), no bad debt. With cooldown_steps
      0 the third close is 20% too: 0.128 at 93, notional 11.904, penalty 0.11904.
    Armed quantity 1, 1, 0.8, 0.8, 0.64 at O: requirement 0.05 (100 + 94 + 76 + 74.4
    + 59.52) / 5.
    """
    prices = [100.0, 94.0, 95.0, 93.0, 93.0]
    cooled = replay(
        prices, longs((1.0, 10.0)), {"rule": "fraction", "fraction": 0.2, "cooldown_steps": 1}
    )
    check(
        cooled,
        {
            "n_liquidations": 3,
            "liquidated_notional": 18.8 + 14.88 + 59.52,
            "bad_debt": 0.0,
            "fees_to_fund": (0.188 + 0.1488 + 0.5952) / 2,
            "fees_to_liquidators": (0.188 + 0.1488 + 0.5952) / 2,
            "requirement_mean": 0.05 * (100.0 + 94.0 + 76.0 + 74.4 + 59.52) / 5,
        },
    )
    again = replay(prices, longs((1.0, 10.0)), {"rule": "fraction", "fraction": 0.2})
    check(
        again,
        {
            "n_liquidations": 3,
            "liquidated_notional": 18.8 + 14.88 + 11.904,
            "bad_debt": 0.0,
            "fees_to_fund": (0.188 + 0.1488 + 0.11904) / 2,
        },
    )
    # A cool-down of 2 covers t = 3 too: the second liquidation already closes in full,
    # 0.8 at 93: notional 74.4, penalty 0.744.
    longer = replay(
        prices, longs((1.0, 10.0)), {"rule": "fraction", "fraction": 0.2, "cooldown_steps": 2}
    )
    check(longer, {"n_liquidations": 2, "liquidated_notional": 18.8 + 74.4})


def test_min_notional_closes_small_positions_in_full_and_splits_a_step() -> None:
    """Two longs breached at the same step, min_notional 100, f 0.2, no cool-down.

    A: q 1, c 10 (theta 90); B: q 2, c 20 (theta 90). Prices 100, 94, 93, 92, 91.
    t = 1: both flagged (89.3 < 90). A's notional at the mark 94 <= 100: closed in full,
      notional 94, penalty 0.94. B's 188 > 100: 0.4 closed, notional 37.6; B keeps 1.6,
      theta 89.235 (as in the case above, per unit).
    t = 2: 88.35 < 89.235; 1.6 * 93 = 148.8 > 100: 0.32 at 93 (29.76); 1.28 left, theta
      88.52625.
    t = 3: 87.4 < 88.52625; 1.28 * 92 = 117.76 > 100: 0.256 at 92 (23.552); 1.024 left,
      theta (88.52625 - 0.2 * 91.08) / 0.8 = 87.8878125.
    t = 4: 86.45 < 87.888; 1.024 * 91 = 93.184 <= 100: closed in full at 91 (F = 90.09),
      notional 93.184. Every close pays 1% of its notional; no bad debt.
    """
    book = longs((1.0, 10.0), (2.0, 20.0))
    result = replay(
        [100.0, 94.0, 93.0, 92.0, 91.0],
        book,
        {"rule": "fraction", "fraction": 0.2, "min_notional": 100.0},
    )
    notional = 94.0 + 37.6 + 29.76 + 23.552 + 93.184
    check(
        result,
        {
            "n_liquidations": 5,
            "liquidated_notional": notional,
            "bad_debt": 0.0,
            "fees_to_fund": 0.01 * notional / 2,
        },
    )
    # Equality is 'at or below': min_notional 94 still closes A in full at t = 1.
    equal = replay([100.0, 94.0], book, {"rule": "fraction", "fraction": 0.2, "min_notional": 94.0})
    check(equal, {"n_liquidations": 2, "liquidated_notional": 94.0 + 37.6})


def test_a_position_past_its_full_close_bound_closes_in_full_and_recovered_ones_rearm() -> None:
    """The full-close bound and re-arming, with latency.

    Long q 1, c 10 (theta 90), f 0.5. Prices 100, 89, 85: breached at t = 1 (84.55 < 90),
    due at t = 2 (latency 1) where the exit 85 has F = 84.15 < 90: closed in full at 85,
    bad debt 5, no penalty. With prices 100, 94, 96 it is flagged at t = 1 and at t = 2
    not in breach any more (96 * 0.95 = 91.2 >= 90): re-armed, nothing closed.
    """
    margin = {"model": "static", "maintenance": 0.05}
    for prices, expected in (
        ([100.0, 89.0, 85.0], {"n_liquidations": 1, "liquidated_notional": 85.0, "bad_debt": 5.0}),
        ([100.0, 94.0, 96.0], {"n_liquidations": 0, "liquidated_notional": 0.0}),
    ):
        case = ReplayCase(
            prices=np.array([prices]),
            book=longs((1.0, 10.0)),
            margin=margin,
            latency_steps=1,
            slippage=0.0,
            fee=0.01,
            liquidator_share=0.5,
            fund_initial=0.0,
        )
        mechanisms = Mechanisms(
            margin=margin,
            liquidation=liquidation_table(case),
            partial={"rule": "fraction", "fraction": 0.5},
        )
        row = run_mechanics_kernel(case, mechanisms)[0]
        check({name: float(row[enums.METRIC_INDEX[name]]) for name in expected}, expected)


def test_to_buffer_is_the_default_and_written_out_unchanged() -> None:
    """An absent rule is 'to_buffer': the same vector, and no new key in the resolved file."""
    from stresstest.scenario import load_scenario
    from stresstest.scenario.provenance import resolved_dict

    plain = load_scenario({**SCENARIO, "partial_liquidation": {"buffer": 0.01}})
    named = load_scenario(
        {**SCENARIO, "partial_liquidation": {"buffer": 0.01, "rule": "to_buffer"}}
    )
    from stresstest.engine.mechanics import mechanics_vector

    np.testing.assert_array_equal(mechanics_vector(plain), mechanics_vector(named))
    assert resolved_dict(plain, "0")["partial_liquidation"] == {"buffer": 0.01}


SCENARIO: dict[str, Any] = {
    "scenario": {"name": "venue_partial", "seed": 4},
    "paths": {"source": "gbm", "s0": 100.0, "sigma": 0.01, "n_paths": 20, "n_steps": 40},
    "book": {"source": "synthetic", "n_positions": 1000},
    "margin": {"model": "static", "maintenance": 0.01},
}


@pytest.mark.parametrize(
    ("table", "key"),
    [
        ({"rule": "fraction"}, "partial_liquidation.fraction"),
        ({"rule": "fraction", "fraction": 0.0}, "partial_liquidation.fraction"),
        ({"rule": "fraction", "fraction": 1.5}, "partial_liquidation.fraction"),
        (
            {"rule": "fraction", "fraction": 0.2, "cooldown_steps": -1},
            "partial_liquidation.cooldown_steps",
        ),
        (
            {"rule": "fraction", "fraction": 0.2, "min_notional": -1.0},
            "partial_liquidation.min_notional",
        ),
        ({"rule": "halves"}, "partial_liquidation.rule"),
        (
            {"rule": "fraction", "fraction": 0.2, "buffer": 0.01},
            "partial_liquidation.rule, partial_liquidation.buffer",
        ),
        ({"fraction": 0.2}, "partial_liquidation.rule, partial_liquidation.fraction"),
        (
            {"rule": "to_buffer", "cooldown_steps": 2},
            "partial_liquidation.rule, partial_liquidation.cooldown_steps",
        ),
        ({"min_notional": 1e5}, "partial_liquidation.rule, partial_liquidation.min_notional"),
    ],
)
def test_bad_rule_input_names_its_keys(table: dict[str, Any], key: str) -> None:
    from stresstest.scenario import load_scenario

    with pytest.raises(InputError) as raised:
        load_scenario({**SCENARIO, "partial_liquidation": table})
    assert raised.value.key == key
    assert raised.value.expected


def test_fraction_rule_with_accounts_loads() -> None:
    """Once refused; accounts run the rule per margin unit since issue 15 (docs/model.md
    11.8; tests/test_accounts_fraction.py compares it with its reference)."""
    from stresstest.scenario import load_scenario

    accounts = {
        **SCENARIO,
        "paths": {
            "source": "gbm_multi",
            "assets": ["BTC", "ETH"],
            "s0": [100.0, 10.0],
            "sigma": [0.01, 0.01],
            "correlation": [[1.0, 0.5], [0.5, 1.0]],
            "n_paths": 4,
            "n_steps": 10,
        },
        "book": {"source": "accounts_synthetic", "n_accounts": 10},
        "partial_liquidation": {"rule": "fraction", "fraction": 0.2},
    }
    loaded = load_scenario(accounts)
    assert loaded.partial_liquidation is not None
    assert loaded.partial_liquidation.rule == "fraction"


FRACTION_ADL_TABLES: dict[str, Any] = {
    **PARTIAL_ADL_TABLES,
    "partial_liquidation": {"rule": "fraction", "fraction": 0.2},
}


def test_a_long_closed_twenty_percent_is_then_deleveraged_whole(tmp_path: Path) -> None:
    """Book of tests/test_partial_adl.py (L q 1 e 100 c 10, L2 q 1 e 120 c 60, S q 1 e 100 c 22).

    m 0.05, fee 0.01, share 0.5, f 0.2, fund 0; prices 100, 94, 130, 80.
    t = 1: L flagged (89.3 < 90), F = 93.06 > 90: 0.2 closed at 94, notional 18.8,
      penalty 0.188 (0.094 to the fund); L keeps q' 0.8, theta' = (90 - 0.2 * 93.06) /
      0.8 = 89.235, c' = 0.8 (100 - 89.235) = 8.612.
    t = 2: S flagged (136.5 > 122), closed in full at 130: E = -8, bad debt 8. Fund
      0.094 - 8: the longs cover 7.906 at 130. L: u = 0.8 * 30 = 24, score (24 / 8.612)
      (104 / 32.612) = 8.89; L2: u 10, c 60, score 0.31. L first, 7.906 < 24: closed
      whole, notional 0.8 * 130 = 104; the need is met, fund 0. Haircuts (7.906 / 24, 0)
      over 2 candidates: Gini 1/2.
    t = 3: L is gone; L2 (60 < 76) is not flagged.
    Q_t = 3, 3, 2.8 (L's remainder armed from t = 2), 1: requirement 0.05 (300 + 282 +
    364 + 80) / 4. Without ADL L's remainder is closed in full at t = 3 at 80 (theta'
    >= F = 79.2): bad debt 0.8 * 20 - 8.612 = 7.388.
    """
    tables = {**FRACTION_ADL_TABLES, "adl": {"policy": "profit_leverage"}}
    result = run_case(tmp_path, PARTIAL_ADL_PRICES, PARTIAL_ADL_BOOK, tables)
    check_result(
        result,
        {
            "n_liquidations": 2,
            "liquidated_notional": 18.8 + 130.0,
            "bad_debt": 8.0,
            "fees_to_fund": 0.094,
            "fees_to_liquidators": 0.094,
            "socialized_loss": 0.0,
            "fund_end": 0.0,
            "fund_max_drawdown": 0.094,
            "fund_required": 7.906,
            "requirement_mean": 0.05 * (300.0 + 282.0 + 364.0 + 80.0) / 4,
            "adl_notional": 104.0,
            "adl_count": 1,
            "adl_top1_share": 1.0,
            "adl_gini": 0.5,
        },
    )
    assert result.column("socialized_loss")[0] == 0.0
    alone = {key: value for key, value in FRACTION_ADL_TABLES.items() if key != "adl"}
    check_result(
        run_case(tmp_path, PARTIAL_ADL_PRICES, PARTIAL_ADL_BOOK, alone),
        {"n_liquidations": 3, "bad_debt": 8.0 + 7.388},
    )


def test_pro_rata_reduces_a_remainder_which_is_then_closed_at_what_is_left(
    tmp_path: Path,
) -> None:
    """As above with pro_rata: at t = 2 U = 24 + 10, f = 7.906 / 34; L keeps (1 - f) 0.8
    (its row's quantity) and its threshold 89.235, L2 (1 - f). adl_notional f 1.8 * 130.

    t = 3: L's remainder is flagged (76 < 89.235) and closed in full at 80 (theta' >= F):
    notional (1 - f) 0.8 * 80, bad debt (1 - f) 7.388, which no short is left to cover:
    socialized. Q_3 = (1 - f) 1.8.
    """
    tables = {**FRACTION_ADL_TABLES, "adl": {"policy": "pro_rata"}}
    result = run_case(tmp_path, PARTIAL_ADL_PRICES, PARTIAL_ADL_BOOK, tables)
    fraction = 7.906 / 34.0
    kept = 1.0 - fraction
    check_result(
        result,
        {
            "n_liquidations": 3,
            "liquidated_notional": 148.8 + kept * 0.8 * 80.0,
            "bad_debt": 8.0 + kept * 7.388,
            "socialized_loss": kept * 7.388,
            "fund_end": 0.0,
            "adl_notional": fraction * 1.8 * 130.0,
            "adl_count": 2,
            "adl_gini": 0.0,
            "requirement_mean": 0.05 * (300.0 + 282.0 + 364.0 + kept * 1.8 * 80.0) / 4,
        },
    )


def test_fraction_rule_with_adl_gives_the_same_bits_on_one_thread_and_two() -> None:
    """The per-position state is per thread and restored after each path (10.2)."""
    case = threads_case()
    before = numba.get_num_threads()
    for policy in ("profit_leverage", "pro_rata"):
        mechanisms = Mechanisms(
            margin=case.margin,
            liquidation=liquidation_table(case),
            fund_initial=0.0,
            adl={"policy": policy},
            partial={"rule": "fraction", "fraction": 0.2, "min_notional": 1000.0},
        )
        results = []
        for threads in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(threads)
            try:
                results.append(run_mechanics_kernel(case, mechanisms))
            finally:
                numba.set_num_threads(before)
        assert np.array_equal(results[0], results[1], equal_nan=True), policy
        assert results[0][:, enums.ADL_COUNT].sum() > 0, policy
        assert (results[0][:, enums.N_LIQUIDATIONS] > 0).all(), policy


def test_adl_ranks_a_remainder_by_its_collateral_after_the_close(tmp_path: Path) -> None:
    """The first case above with L3 (long q 1, e 90, c 11, theta 79, never flagged by t = 2).

    At t = 2, A = 130: L's remainder (q' 0.8, c' 8.612, u 24) scores (24 / 8.612) (104 /
    32.612) = 8.89; L3 (u 40) (40 / 11) (130 / 51) = 9.27; L2 0.31. L3 goes first and
    covers the 7.906 whole: adl_notional 130, one trader. (Ranked with its collateral
    before the close, 0.8 * 10 = 8, L's remainder would score (24 / 8) (104 / 32) = 9.75
    and go first, notional 104.) t = 3, at 80: L's remainder is closed in full (bad debt
    7.388, no fee); L3 is gone; no short is left, so 7.388 is socialized.
    """
    book = [*PARTIAL_ADL_BOOK, ("long", 1.0, 90.0, 11.0)]
    tables = {**FRACTION_ADL_TABLES, "adl": {"policy": "profit_leverage"}}
    result = run_case(tmp_path, PARTIAL_ADL_PRICES, book, tables)
    check_result(
        result,
        {
            "adl_notional": 130.0,
            "adl_count": 1,
            "n_liquidations": 3,
            "bad_debt": 8.0 + 7.388,
            "socialized_loss": 7.388,
        },
    )
