"""Refused liquidations known without pricing them (docs/model.md 13.7, issue 16).

The kernel does not price a liquidatable loan's liquidation when the bound of
``stresstest/kernels/lending_refusal.py`` says its profit cannot be positive. These
tests check the bound against every liquidation the loan-by-loan reference prices
(a liquidation the bound refuses never has a positive profit), count the pricings the
bound saves on crashes that saturate the pools (single- and multi-collateral books),
check that a deliberately loosened bound (no liquidation bonus) is caught, and compare
the kernel with the reference on those crashes. The step's cut (the same bound for the
whole rest of a step's candidates, at the pools as the step's liquidations leave them) is
checked the same way.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import given, settings

from stresstest.kernels.lending_refusal import (
    leg_refused,
    pool_gain,
    pool_turn,
    sale_gains,
    step_refused,
    surely_refused,
)
from tests.reference_lending import reference_lending
from tests.test_lending import (
    KERNEL_SETTINGS,
    assert_hand,
    assert_matches,
    lending_cases,
    market,
    one_asset,
    run_kernel,
)
from tests.tiers import examples


def bonus_top(values: dict[str, Any]) -> np.ndarray:
    """The largest bonus of each asset: ``bonus_max`` with the ramp of 13.3, else the bonus."""
    if values.get("bonus_slope", 0.0) > 0.0:
        return np.array(values["bonus_max"], dtype=float)
    return np.array(values["bonus"], dtype=float)


def bound_refuses(attempt: dict[str, Any], values: dict[str, Any], top_bonus: np.ndarray) -> bool:
    """Whether the kernel's bound refuses the reference's priced liquidation ``attempt``:
    :func:`leg_refused` for a loan of one collateral row (as the kernel's scan of the
    awake single-collateral loans), :func:`surely_refused` for several."""
    n_assets = len(values["depth"])
    marks = np.array(attempt["marks"], dtype=float)[:, None]
    prices = np.array(attempt["prices"], dtype=float)[:, None]
    gain = np.zeros(n_assets + 1)
    fee = np.array(values["fee"], dtype=float)
    sale_gains(top_bonus, fee, prices, marks, 0, gain[:n_assets])
    assets = np.array(attempt["assets"], dtype=np.int64)
    debt_asset = attempt["debt_asset"]
    debt_mark = attempt["marks"][debt_asset]
    debt_price = attempt["prices"][debt_asset]
    depth = np.array(values["depth"], dtype=float)
    used = np.array(attempt["used"][:n_assets], dtype=float)
    if assets.shape[0] == 1:
        asset = int(assets[0])
        value = attempt["collateral"][0] * attempt["marks"][asset]
        debt_value = attempt["debt"] * debt_mark
        turn, peak = pool_turn(depth[asset], used[asset], gain[asset], debt_price / debt_mark)
        return bool(
            leg_refused(
                turn,
                peak,
                depth[asset],
                used[asset],
                gain[asset],
                min(
                    value / (1.0 + top_bonus[asset]), min(values["close_factor"], 1.0) * debt_value
                ),
                min(value / (1.0 + values["bonus"][asset]), debt_value),
                attempt["debt"],
                debt_mark,
                debt_price,
                attempt["gas"],
            )
        )
    return bool(
        surely_refused(
            0,
            np.array([0, assets.shape[0]], dtype=np.int64),
            assets,
            depth,
            used,
            gain,
            attempt["debt"],
            debt_mark,
            debt_price,
            attempt["gas"],
        )
    )


def cut_refuses(
    attempt: dict[str, Any],
    loans: list[dict[str, Any]],
    values: dict[str, Any],
    top_bonus: np.ndarray,
) -> bool:
    """Whether the step's cut (:func:`step_refused`) refuses the priced liquidation
    ``attempt`` at its turn: the pools as the step's earlier liquidations left them, the
    assets the book holds as collateral and borrows, and the attempt's own debt as the
    step's largest (the tightest cut the kernel can test)."""
    n_assets = len(values["depth"])
    held = np.zeros(n_assets, dtype=np.bool_)
    borrowed = np.zeros(n_assets + 1, dtype=np.bool_)
    for loan in loans:
        borrowed[loan["debt_asset"]] = True
        for asset, _ in loan["collateral"]:
            held[asset] = True
    marks = np.array(attempt["marks"], dtype=float)
    prices = np.array(attempt["prices"], dtype=float)
    gain = np.zeros(n_assets + 1)
    fee = np.array(values["fee"], dtype=float)
    sale_gains(top_bonus, fee, prices[:, None], marks[:, None], 0, gain[:n_assets])
    debt_asset = attempt["debt_asset"]
    return bool(
        step_refused(
            np.array(values["depth"], dtype=float),
            np.array(attempt["used_now"], dtype=float),
            gain,
            held,
            borrowed,
            prices[:, None],
            marks[:, None],
            0,
            attempt["debt"] * marks[debt_asset],
            attempt["debt"] * prices[debt_asset],
            attempt["gas"],
        )
    )


def priced(
    prices: np.ndarray, loans: list[dict[str, Any]], values: dict[str, Any]
) -> list[dict[str, Any]]:
    """Every liquidation the reference prices on ``prices`` ``(A, T + 1)``, in order."""
    attempts: list[dict[str, Any]] = []
    reference_lending(prices, loans, values, 0.0, attempts)
    return attempts


def unsound(
    attempts: list[dict[str, Any]], values: dict[str, Any], top_bonus: np.ndarray
) -> list[dict[str, Any]]:
    """The attempts the bound refuses although their profit is positive (must be none)."""
    return [a for a in attempts if a["profit"] > 0.0 and bound_refuses(a, values, top_bonus)]


def crash(n_assets: int, n_steps: int, seed: int) -> np.ndarray:
    """Paths that fall 45% over their first tenth, then wander 3% per step."""
    generator = np.random.default_rng(seed)
    moves = generator.normal(0.0, 0.03, (n_assets, n_steps))
    moves[:, : n_steps // 10] += np.log(0.55) / (n_steps // 10)
    return 1000.0 * np.exp(np.concatenate([np.zeros((n_assets, 1)), np.cumsum(moves, 1)], 1))


def crash_book(prices: np.ndarray, n_loans: int, legs: int, seed: int) -> list[dict[str, Any]]:
    """Loans of ``legs`` collateral assets with quote debt, health factors 1.02 to 2."""
    generator = np.random.default_rng(seed)
    n_assets = prices.shape[0]
    loans = []
    for _ in range(n_loans):
        assets = sorted(generator.choice(n_assets, legs, replace=False).tolist())
        value = float(np.exp(generator.normal(np.log(20_000.0), 1.0)))
        collateral = [(int(a), value / legs / float(prices[a, 0])) for a in assets]
        health = float(np.exp(generator.uniform(np.log(1.02), np.log(2.0))))
        loans.append(
            {"collateral": collateral, "debt_asset": n_assets, "debt": 0.8 * value / health}
        )
    return loans


# ----------------------------------------------------------------------------- soundness
@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=lending_cases())
def test_no_liquidation_the_bound_refuses_is_profitable(
    case: tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]],
) -> None:
    """Random books, depegs, oracle feeds, gas paths, bonus ramps, exhausted pools:
    every liquidation the reference prices and the bound refuses has profit <= 0."""
    prices, loans, values = case
    values.pop("curves", None)  # the bound is for constant-product pools only
    attempts = priced(prices, loans, values)
    assert unsound(attempts, values, bonus_top(values)) == []


@settings(KERNEL_SETTINGS, max_examples=examples(300))
@given(case=lending_cases())
def test_no_liquidation_the_steps_cut_refuses_is_profitable(
    case: tuple[np.ndarray, list[dict[str, Any]], dict[str, Any]],
) -> None:
    """The same random cases: every liquidation the reference prices and the step's cut
    refuses at its turn has profit <= 0."""
    prices, loans, values = case
    values.pop("curves", None)
    book = [dict(loan, collateral=list(loan["collateral"])) for loan in loans]
    attempts = priced(prices, loans, values)
    top = bonus_top(values)
    assert [a for a in attempts if a["profit"] > 0.0 and cut_refuses(a, book, values, top)] == []


def test_a_cut_without_the_bonus_is_caught() -> None:
    """The 100 USDC loan below: the step's cut keeps its profitable liquidation; the
    same cut ignoring the bonus (every pool then at its turn, no gain left) refuses it."""
    loans = [{"collateral": [(0, 0.125)], "debt_asset": 1, "debt": 100.0}]
    values = market(gas=1.0, depth=[1e6])
    attempts = priced(one_asset([1100.0, 980.0, 980.0])[0], loans, values)
    assert len(attempts) == 1 and attempts[0]["profit"] > 0.0
    assert not cut_refuses(attempts[0], loans, values, bonus_top(values))
    assert cut_refuses(attempts[0], loans, values, np.zeros(1))


def test_what_the_cut_refuses_at_the_last_step_is_unprofitable() -> None:
    """Hand case, the step's cut at T: ETH falls from 1100 to 900 at the last step, a pool
    of depth 1e6 (rested), bonus 5%, no protocol fee (k = 1.05), gas 1. Loan 0 (37.5 ETH
    against 30,000 USDC, HF 0.9 < 0.95: full close) goes first: it repays 30,000 and sells
    31,500, proceeds 1e6 x 31,500 / 1,031,500 = 30,538.0, profit 537.0. The pool is then
    past its turn (31,500 sold > y* = 1e6 (sqrt(1.05) - 1) = 24,695). Loans 1 and 2 (HF
    0.97 and 0.98 on 1,000 USDC: repay 500, sell 525) would each have made 23.7 at the
    rested pool, so the scan's bound keeps them, but both are refused at their turn
    (proceeds 493.2 against 500 + gas): loan 1 priced, then the cut, tested after that
    refusal, holds and marks loan 2 refused without pricing it. Both are unprofitable at T."""
    debts = (30_000.0, 1_000.0, 1_000.0)
    amounts = (37.5, 0.97 * 1_000.0 / (900.0 * 0.8), 0.98 * 1_000.0 / (900.0 * 0.8))

    def book() -> list[dict[str, Any]]:
        return [
            {"collateral": [(0, amount)], "debt_asset": 1, "debt": debt}
            for amount, debt in zip(amounts, debts, strict=True)
        ]

    prices = one_asset([1100.0, 900.0])
    values = market(gas=1.0, depth=[1e6], fee=[0.0])
    attempts = priced(prices[0], book(), values)
    top = bonus_top(values)
    assert [a["loan"] for a in attempts] == [0, 1, 2]
    assert_hand(attempts[0]["profit"], 1e6 * 31_500.0 / 1_031_500.0 - 30_000.0 - 1.0, "loan 0")
    for attempt in attempts[1:]:
        assert attempt["profit"] < 0.0
        assert not bound_refuses(attempt, values, top)
        assert cut_refuses(attempt, book(), values, top)
    columns, _ = run_kernel(prices, book(), values, 0.0)
    expected = reference_lending(prices[0], book(), values, 0.0)
    assert expected["n_liquidations"] == 1 and expected["unprofitable_loans"] == 2
    assert_matches(columns, expected)


def test_a_bound_without_the_bonus_is_caught() -> None:
    """A 100 USDC loan at HF 0.98 liquidated for a bonus of 2.5 quote against gas 1: the
    bound keeps it; the same bound ignoring the bonus (a deliberate loosening) refuses a
    profitable liquidation, which the check above reports."""
    loans = [{"collateral": [(0, 0.125)], "debt_asset": 1, "debt": 100.0}]
    values = market(gas=1.0, depth=[1e6])
    attempts = priced(one_asset([1100.0, 980.0, 980.0])[0], loans, values)
    assert len(attempts) == 1 and attempts[0]["profit"] > 0.0
    assert unsound(attempts, values, bonus_top(values)) == []
    assert unsound(attempts, values, np.zeros(1)) == attempts


def test_one_legs_gain_in_closed_form() -> None:
    """Hand case: a pool of depth 1e6 (quote), nothing used, bonus 5% at P = O (k = 1.05),
    repayment at par (c = 1). The marginal price falls to 1 / 1.05 at the sale
    y* = 1e6 (sqrt(1.05) - 1) = 24,695; the most the liquidator makes is
    (1e6 - 1e6 / sqrt(1.05))^2 / 1e6 = 1e6 (1 - 1.05^-1/2)^2 = 580.8 (cover 23,519 or
    more); covering at most 100 it is pool(105) - 100 = 4.989; a pool with 1e6 sold
    already (marginal price 1/4) gives nothing. The bound refuses at gas 581, not at 580."""
    assert_hand(pool_gain(1e6, 0.0, 1.05, 1.0, 1e5), 1e6 * (1.0 - 1.05**-0.5) ** 2, "peak")
    assert_hand(
        pool_gain(1e6, 0.0, 1.05, 1.0, 100.0), 1e12 * 105.0 / (1e6 * (1e6 + 105.0)) - 100.0, "edge"
    )
    assert pool_gain(1e6, 1e6, 1.05, 1.0, 1e5) == 0.0
    start = np.array([0, 1], dtype=np.int64)
    leg = np.zeros(1, dtype=np.int64)
    gain = np.array([1.05, 0.0])
    for gas, refused in ((581.0, True), (580.0, False)):
        verdict = surely_refused(
            0, start, leg, np.array([1e6]), np.zeros(1), gain, 1e5, 1.0, 1.0, gas
        )
        assert verdict == refused, gas


# ----------------------------------------------------------------------------- firing
def saved_pricings(legs: int) -> tuple[int, int, int]:
    """Liquidations the reference prices on a saturating crash, how many the bound
    refuses without pricing and how many the step's cut refuses at their turn; asserts
    the kernel matches the reference there."""
    prices = crash(2, 120, seed=legs)
    loans = crash_book(prices, 300, legs, seed=16 + legs)
    book = [dict(loan, collateral=list(loan["collateral"])) for loan in loans]
    values = market(
        threshold=[0.8, 0.75],
        bonus=[0.05, 0.07],
        fee=[0.1, 0.1],
        depth=[2e5, 1e5],
        gas=20.0,
        half_life=24.0,
    )
    attempts = priced(prices, loans, values)
    assert unsound(attempts, values, bonus_top(values)) == []
    columns, _ = run_kernel(prices[None], loans, values, 0.0)
    expected = reference_lending(prices, loans, values, 0.0)
    assert expected["unprofitable_loans"] > 0 and expected["n_liquidations"] > 0
    assert_matches(columns, expected)
    top = bonus_top(values)
    return (
        len(attempts),
        sum(bound_refuses(a, values, top) for a in attempts),
        sum(cut_refuses(a, book, values, top) for a in attempts),
    )


def test_the_bound_spares_most_pricings_of_a_saturating_single_collateral_crash() -> None:
    """300 single-collateral loans, pools drained by the crash: of the 32,877 liquidations
    the reference prices (10 executed), the bound settles 32,759 without pricing."""
    tried, spared, _ = saved_pricings(legs=1)
    assert spared >= 0.95 * tried, (tried, spared)


def test_the_bound_spares_most_pricings_of_a_saturating_two_collateral_crash() -> None:
    """300 loans of two collateral assets, the same crash: of 31,978 priced liquidations
    (9 executed) the bound for several rows settles 29,748, and the step's cut, tested at
    each one's turn, 31,233."""
    tried, spared, cut = saved_pricings(legs=2)
    assert spared >= 0.8 * tried, (tried, spared)
    assert cut >= 0.9 * tried, (tried, cut)
