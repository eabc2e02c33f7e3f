r"""The engine against closed forms: one isolated long on driftless GBM.

Setup (docs/model.md sections 1.1, 3, 4): one long, ``q = 1``, ``e = 100``, ``c = 5``;
static maintenance ``m = 0.02``; latency 60 steps; no slippage, no fee, no fund.
Paths: GBM with ``s0 = 100``, ``sigma = 0.002`` per step, ``drift = 0``, ``T = 1440``.

Breach. ``E_t < R_t`` reads ``P_t (1 - m) < theta = e - c / q = 95``, i.e.
``P_t < B = 95 / 0.98``. The log price ``X_t = ln(P_t / s0)`` is a Brownian motion
with drift ``nu = -sigma^2 / 2`` and volatility ``sigma`` per step, monitored at the
integer steps ``0..T``.

(a) Probability of liquidation. For continuous monitoring, the probability that a BM
with drift ``nu`` started at 0 hits ``b < 0`` by ``T`` is (reflection principle)

    P(b) = Phi((b - nu T) / (sigma sqrt T))
           + exp(2 nu b / sigma^2) Phi((b + nu T) / (sigma sqrt T)),

and ``exp(2 nu b / sigma^2) = (B' / s0)^(2 nu / sigma^2)``. Discrete monitoring
(step ``dt = 1``) is corrected by Broadie, Glasserman and Kou (1997): use the
continuous formula with the barrier moved away from the start,
``B' = B exp(-beta sigma sqrt dt)``, ``beta = -zeta(1/2) / sqrt(2 pi) = 0.5826``, so
``b = ln(B' / s0)``. The engine's share of liquidated paths is a binomial mean with
standard error ``sqrt(p (1 - p) / n)``.

(b) Mean bad debt of liquidated paths. A position flagged at step ``t`` closes at
``tau = min(t + 60, T)`` at ``x = P_tau`` and leaves bad debt
``max(0, -(c + q (x - e))) = max(0, 95 - P_tau)``. Given the breach at ``t`` with
price ``P_t``, and the price a martingale (zero drift), the expected bad debt is the
Black-Scholes put with zero rate, vol ``sigma`` per step, strike 95 (the bankruptcy
price), spot ``P_t`` and maturity ``min(60, T - t)``. The hitting price is
approximated by the same shifted barrier ``B'`` (the BGK overshoot), and ``t`` is
distributed with the first-passage density of the BM to ``b``,

    f(t) = |b| / (sigma sqrt(2 pi t^3)) exp(-(b - nu t)^2 / (2 sigma^2 t)),

so ``E[bad debt | liquidated] = (1 / P(b)) int_0^T f(t) put(B', 95, min(60, T - t)) dt``.
The engine's figure is a sample mean over the ``n_liq`` liquidated paths with
standard error ``std / sqrt(n_liq)``.

Power. With 50,000 paths the binomial standard error is about 0.0021, while the
BGK shift moves the probability by about 0.011: the uncorrected barrier ``B`` is
rejected at about 5 standard errors (measured z about -5.8 with this seed), so the
probability check can tell a discretely monitored engine from a continuous
formula. (At 40,000 paths the uncorrected z was -4.7, at 20,000 only about -3.3.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, stats

from stresstest.engine import Result, run
from stresstest.scenario import load_scenario
from tests.tolerances import MONTE_CARLO_SIGMAS, QUADRATURE_RTOL, assert_close

S0 = 100.0
SIGMA = 0.002  # per step
N_STEPS = 1440
N_PATHS = 50_000
SEED = 7
QTY = 1.0
ENTRY = 100.0
COLLATERAL = 5.0
MAINTENANCE = 0.02
LATENCY = 60
#: Broadie-Glasserman-Kou constant -zeta(1/2) / sqrt(2 pi).
BGK_BETA = 0.5826

BANKRUPTCY = ENTRY - COLLATERAL / QTY  # theta = 95: equity is zero at this price
BARRIER = BANKRUPTCY / (1.0 - MAINTENANCE)  # breach when P < B
SHIFTED_BARRIER = BARRIER * math.exp(-BGK_BETA * SIGMA * math.sqrt(1.0))
NU = -0.5 * SIGMA**2  # drift of the log price per step


def hitting_probability(barrier: float) -> float:
    """P(min_{t <= T} X_t <= ln(barrier / s0)) for X a BM with drift NU, vol SIGMA."""
    b = math.log(barrier / S0)
    scale = SIGMA * math.sqrt(N_STEPS)
    reflected = (barrier / S0) ** (2.0 * NU / SIGMA**2)
    return float(
        stats.norm.cdf((b - NU * N_STEPS) / scale)
        + reflected * stats.norm.cdf((b + NU * N_STEPS) / scale)
    )


def first_passage_density(t: float, b: float) -> float:
    """Density of the first time a BM with drift NU, vol SIGMA from 0 hits ``b < 0``."""
    return (
        -b
        / (SIGMA * math.sqrt(2.0 * math.pi * t**3))
        * math.exp(-((b - NU * t) ** 2) / (2.0 * SIGMA**2 * t))
    )


def put_price(spot: float, strike: float, steps: float) -> float:
    """Black-Scholes put, zero rate, vol SIGMA per step, maturity ``steps``."""
    if steps <= 0.0:
        return max(strike - spot, 0.0)
    total_vol = SIGMA * math.sqrt(steps)
    d1 = (math.log(spot / strike) + 0.5 * total_vol**2) / total_vol
    d2 = d1 - total_vol
    return float(strike * stats.norm.cdf(-d2) - spot * stats.norm.cdf(-d1))


def expected_bad_debt_given_liquidation() -> tuple[float, float]:
    """``(E[bad debt | liquidated], int_0^T f)`` from the first-passage integral."""
    b = math.log(SHIFTED_BARRIER / S0)
    start_of_short_window = float(N_STEPS - LATENCY)

    def weighted_put(t: float) -> float:
        maturity = min(float(LATENCY), N_STEPS - t)
        return first_passage_density(t, b) * put_price(SHIFTED_BARRIER, BANKRUPTCY, maturity)

    numerator, _ = integrate.quad(
        weighted_put, 0.0, N_STEPS, points=[start_of_short_window], limit=200
    )
    mass, _ = integrate.quad(
        first_passage_density, 0.0, N_STEPS, args=(b,), points=[start_of_short_window], limit=200
    )
    return numerator / hitting_probability(SHIFTED_BARRIER), mass


@dataclass(frozen=True)
class Measured:
    """Engine figures with their Monte-Carlo standard errors."""

    probability: float
    probability_se: float
    mean_bad_debt: float
    mean_bad_debt_se: float
    n_liquidated: int


@pytest.fixture(scope="module")
def measured(tmp_path_factory: pytest.TempPathFactory) -> Measured:
    folder: Path = tmp_path_factory.mktemp("closed_form")
    book = folder / "book.csv"
    book.write_text(
        f"side,qty,entry_price,collateral\nlong,{QTY},{ENTRY},{COLLATERAL}\n", encoding="utf-8"
    )
    scenario = load_scenario(
        {
            "scenario": {"name": "closed_form", "seed": SEED},
            "paths": {
                "source": "gbm",
                "s0": S0,
                "sigma": SIGMA,
                "drift": 0.0,
                "n_paths": N_PATHS,
                "n_steps": N_STEPS,
            },
            "book": {"source": "file", "file": str(book)},
            "margin": {"model": "static", "maintenance": MAINTENANCE},
            "liquidation": {"latency_steps": LATENCY, "slippage": 0.0, "fee": 0.0},
            "insurance_fund": {"initial": 0.0},
        }
    )
    result: Result = run(scenario)
    liquidated = result.column("n_liquidations") > 0
    bad_debt = result.column("bad_debt")[liquidated]
    probability = float(np.mean(liquidated))
    return Measured(
        probability=probability,
        probability_se=math.sqrt(probability * (1.0 - probability) / N_PATHS),
        mean_bad_debt=float(np.mean(bad_debt)),
        mean_bad_debt_se=float(np.std(bad_debt, ddof=1) / math.sqrt(bad_debt.size)),
        n_liquidated=int(bad_debt.size),
    )


def test_formulas_are_consistent() -> None:
    """The first-passage density integrates to the closed-form hitting probability."""
    _, mass = expected_bad_debt_given_liquidation()
    assert_close(
        mass,
        hitting_probability(SHIFTED_BARRIER),
        rtol=QUADRATURE_RTOL,
        atol=0.0,
        what="int f(t) dt vs P(b)",
    )


def test_liquidation_probability_matches_corrected_barrier(measured: Measured) -> None:
    expected = hitting_probability(SHIFTED_BARRIER)
    assert_close(
        measured.probability,
        expected,
        rtol=0.0,
        atol=MONTE_CARLO_SIGMAS * measured.probability_se,
        what="share of liquidated paths vs BGK-corrected barrier-hitting probability",
    )


def test_uncorrected_barrier_is_rejected(measured: Measured) -> None:
    """The check has power: the continuous-monitoring formula at B is many SEs off."""
    uncorrected = hitting_probability(BARRIER)
    z = (measured.probability - uncorrected) / measured.probability_se
    assert abs(z) > MONTE_CARLO_SIGMAS, f"uncorrected barrier not rejected: z = {z:.2f}"


def test_mean_bad_debt_matches_first_passage_integral(measured: Measured) -> None:
    expected, _ = expected_bad_debt_given_liquidation()
    assert measured.n_liquidated > 1000
    assert_close(
        measured.mean_bad_debt,
        expected,
        rtol=0.0,
        atol=MONTE_CARLO_SIGMAS * measured.mean_bad_debt_se,
        what="mean bad debt of liquidated paths vs first-passage put integral",
    )
