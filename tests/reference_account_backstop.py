"""A plain reference of the backstop vault with margin units (docs/model.md 11.11, 10.3).

Used by :mod:`tests.reference_account_defences`: every leg the vault takes is kept on
its own with its asset, side, quantity, the price it is held from and its due step;
nothing is summed by (asset, side) or in cohorts. Written from the text of 11.11.
Units: prices quote per base, quantities base units, money quote units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from tests.reference_backstop import Vault


@dataclass
class AccountVault(Vault):
    """The vault's legs and capital over one path; ``hold`` ``None``: to the path's end.

    :class:`tests.reference_backstop.Vault` with legs ``(asset, s, q, theta, due)`` in
    ``legs`` instead of one asset's positions, and the smallest distance of a takeover
    decision from its tie in ``gap``.
    """

    legs: list[tuple[int, float, float, float, int]] = field(default_factory=list)
    gap: float = math.inf  # smallest |E - k R| / (sum q O) of a decided takeover

    @classmethod
    def of_table(cls, table: dict[str, Any] | None) -> AccountVault | None:
        """The vault of a ``[backstop]`` table (defaults filled), ``None`` without one."""
        vault = cls.of(table)
        return vault if isinstance(vault, AccountVault) else None

    def equity_at(self, prices: list[float]) -> float:
        """``V`` plus each held leg's ``s q (P~_a - theta)`` at the market ``prices``."""
        return self.capital + math.fsum(
            s * q * (prices[a] - theta) for a, s, q, theta, _ in self.legs
        )

    def decide(self, equity: float, requirement: float, notional: float) -> bool:
        """``E_u < k R_u`` at the marks; records the distance from the tie."""
        self.gap = min(self.gap, abs(equity - self.fraction * requirement) / notional)
        return equity < self.fraction * requirement

    def take_legs(
        self,
        legs: list[tuple[int, float, float, float]],
        collateral: float,
        marks: list[float],
        step: int,
        last: int,
    ) -> None:
        """Take a unit's ``legs`` ``(asset, s, q, e)`` and its ``collateral``.

        Leg ``k`` gets ``c q_k e_k / sum_j q_j e_j`` of the collateral and is held from
        ``theta_k = e_k - s_k c'_k / q_k``.
        """
        due = last if self.hold is None else min(step + self.hold, last)
        entry_notional = math.fsum(q * e for _, _, q, e in legs)
        for a, s, q, e in legs:
            share = collateral * q * e / entry_notional
            self.legs.append((a, s, q, e - s * share / q, due))
            self.takeovers += 1
            self.notional.append(q * marks[a])

    def close_due(self, step: int, prices: list[float]) -> dict[tuple[int, float], float]:
        """Close what is due at ``step`` at ``prices``; the loss passed on by (asset, side)."""
        due = [leg for leg in self.legs if leg[4] == step]
        self.legs = [leg for leg in self.legs if leg[4] != step]
        passed: dict[tuple[int, float], float] = {}
        if due:
            by: dict[tuple[int, float], list[float]] = {}
            for a, s, q, theta, _ in due:
                by.setdefault((a, s), []).append(s * q * (prices[a] - theta))
            realized = {key: math.fsum(values) for key, values in by.items()}
            total = math.fsum(realized.values())
            self.realized.append(total)
            capital = self.capital + total
            if capital < 0.0:
                losses = {key: -value for key, value in realized.items() if value < 0.0}
                lost = math.fsum(losses.values())
                passed = {key: -capital * loss / lost for key, loss in losses.items()}
                self.passed += -capital
                capital = 0.0
            self.capital = capital
        self.min_equity = min(self.min_equity, self.equity_at(prices))
        return passed
