"""A plain reference of the backstop vault (docs/model.md 10.3), position by position.

Used by :mod:`tests.reference_mechanics`: each taken-over position is kept on its
own with its side, quantity, bankruptcy price and due step; nothing is summed in
cohorts or sorted. Units: prices quote per base, quantities base units, money
quote units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Vault:
    """The vault's positions and capital over one path.

    ``hold`` is ``[backstop] hold_steps`` (``None``: to the path's end).
    """

    capital: float
    fraction: float
    hold: int | None
    held: list[tuple[float, float, float, int]] = field(default_factory=list)
    takeovers: int = 0
    notional: list[float] = field(default_factory=list)
    realized: list[float] = field(default_factory=list)
    passed: float = 0.0
    min_equity: float = math.nan

    def __post_init__(self) -> None:
        self.min_equity = self.capital

    @classmethod
    def of(cls, table: dict[str, Any] | None) -> Vault | None:
        """The vault of a ``[backstop]`` table (defaults filled), ``None`` without one."""
        if table is None:
            return None
        fraction = float(table.get("takeover_fraction", 2.0 / 3.0))
        return cls(float(table["capital"]), fraction, table.get("hold_steps"))

    def equity(self, price: float) -> float:
        """``V`` plus each held position's ``s q (P - b)`` at ``price``."""
        return self.capital + math.fsum(s * q * (price - b) for s, q, b, _ in self.held)

    def takes(self, s: float, q: float, e: float, c: float, mark: float, rate: float) -> bool:
        """The takeover rule in the direct form: ``c + s q (O - e) < k m q O``."""
        return c + s * q * (mark - e) < self.fraction * rate * q * mark

    def take(
        self, s: float, q: float, e: float, c: float, mark: float, step: int, last: int
    ) -> None:
        """Take the position at its bankruptcy price ``e - s c / q``."""
        due = last if self.hold is None else min(step + self.hold, last)
        self.held.append((s, q, e - s * c / q, due))
        self.takeovers += 1
        self.notional.append(q * mark)

    def take_over(
        self,
        closing: list[int],
        book: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray],
        remain: list[float],
        mark: float,
        rate: float,
        step: int,
        last: int,
    ) -> tuple[list[int], float]:
        """Take over what the rule takes of ``closing``; returns the rest and the tie gap.

        ``book`` is ``(side, qty, entry, collateral)``, ``remain`` each position's
        remaining fraction after ADL reductions; the gap is the smallest
        ``|E - k m q O| / (q O)`` (a rounding tie where it is tiny).
        """
        side, qty, entry, collateral = book
        market = []
        gap = math.inf
        for i in closing:
            s = float(side[i])
            q = float(qty[i]) * remain[i]
            c = float(collateral[i]) * remain[i]
            e = float(entry[i])
            equity = c + s * q * (mark - e)
            gap = min(gap, abs(equity - self.fraction * rate * q * mark) / (q * mark))
            if self.takes(s, q, e, c, mark, rate):
                self.take(s, q, e, c, mark, step, last)
            else:
                market.append(i)
        return market, gap

    def step(self, step: int, price: float) -> tuple[float, float]:
        """Close what is due at ``step`` at ``price``; returns the loss passed on by side."""
        due = [held for held in self.held if held[3] == step]
        self.held = [held for held in self.held if held[3] != step]
        passed_long = passed_short = 0.0
        if due:
            long_pnl = math.fsum(q * (price - b) for s, q, b, _ in due if s > 0)
            short_pnl = math.fsum(q * (b - price) for s, q, b, _ in due if s < 0)
            self.realized.append(long_pnl + short_pnl)
            capital = self.capital + long_pnl + short_pnl
            if capital < 0.0:
                loss_long = max(0.0, -long_pnl)
                loss_short = max(0.0, -short_pnl)
                passed_long = -capital * loss_long / (loss_long + loss_short)
                passed_short = -capital * loss_short / (loss_long + loss_short)
                self.passed += -capital
                capital = 0.0
            self.capital = capital
        self.min_equity = min(self.min_equity, self.equity(price))
        return passed_long, passed_short

    def columns(self) -> dict[str, float]:
        """The ``backstop_*`` columns of the path."""
        return {
            "backstop_takeovers": float(self.takeovers),
            "backstop_notional": math.fsum(self.notional),
            "backstop_pnl": math.fsum(self.realized),
            "backstop_loss_passed": self.passed,
            "backstop_min_equity": self.min_equity,
            "backstop_exhausted": 1.0 if self.passed > 0.0 else 0.0,
        }


def bounded_bad_debt(bad: float, bound: float | None, notional: float) -> tuple[float, float]:
    """``(the fund's part, the part passed on)`` of one close's bad debt (docs/model.md 10.4)."""
    if bound is None:
        return bad, 0.0
    fund_part = min(bad, bound * notional)
    return fund_part, bad - fund_part
