"""A book of loans: collateral in one or more assets, debt in one (docs/model.md 13.1).

Loans are stored as parallel arrays grouped by loan (compressed rows): loan
``j``'s collateral legs are ``start[j] .. start[j + 1] - 1``. Asset indices
number ``paths.assets`` then the quote asset (index ``A``, price 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from stresstest.book.accounts import _string_column
from stresstest.errors import InputError
from stresstest.io.tables import ROW_INDEX, check_positive, numeric_column, read_table
from stresstest.limits import AMOUNT_MAX
from stresstest.scenario.lending import LendingTable, LoansSyntheticBook

LOAN_COLUMNS = ("loan", "asset", "collateral", "debt_asset", "debt")
#: Child of ``SeedSequence(seed)`` seeding a synthetic loan book (accounts use 1).
LOAN_SEED_CHILD = 2


@dataclass(frozen=True)
class LoanBook:
    """Loans as arrays.

    Attributes
    ----------
    start
        ``(n_loans + 1,)`` int64: loan ``j``'s legs are ``start[j] .. start[j+1] - 1``.
    asset, collateral
        Per leg: asset index (int64, into ``assets``) and amount (base units, >= 0).
    debt_asset, debt
        Per loan: asset index (``len(assets) - 1`` is the quote asset) and amount
        (units of the debt asset, > 0).
    assets
        Path assets then the quote asset.
    """

    start: np.ndarray
    asset: np.ndarray
    collateral: np.ndarray
    debt_asset: np.ndarray
    debt: np.ndarray
    assets: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.debt.shape[0])

    def debt_value(self, start_prices: np.ndarray) -> float:
        """Debt at step-0 prices, quote units (``start_prices`` with the quote's 1 last)."""
        return float((self.debt * start_prices[self.debt_asset]).sum())

    def collateral_value(self, start_prices: np.ndarray) -> float:
        """Collateral at step-0 prices, quote units."""
        return float((self.collateral * start_prices[self.asset]).sum())


def _names(frame: pl.DataFrame, column: str, path: Path, allowed: tuple[str, ...]) -> np.ndarray:
    """A string column as indices into ``allowed``; the first unknown name is refused."""
    series = _string_column(frame, column, path, allowed)
    index = {name: position for position, name in enumerate(allowed)}
    return np.array([index[name] for name in series.to_list()], dtype=np.int64)


def _first_row(frame: pl.DataFrame, positions: np.ndarray) -> int:
    return int(frame[ROW_INDEX][int(positions[0])])


def read_loans(path: Path, assets: tuple[str, ...]) -> LoanBook:
    """Read a loan file (docs/model.md 13.1) and validate every row.

    ``assets`` are the path assets then the quote asset. Loan ids (whole numbers
    >= 0) are renumbered 0..n-1 ascending; a loan's legs keep their file order.
    A collateral asset must be a path asset; ``debt_asset`` and ``debt`` must
    agree on every row of a loan and a loan may name an asset once.

    Raises
    ------
    InputError
        Naming the file, the column, the row, the value and what is valid.
    """
    frame = read_table(path, LOAN_COLUMNS)
    if frame.height == 0:
        raise InputError("loan file has no rows", file=path, expected="at least one loan")
    loan_id = numeric_column(frame, "loan", path, integer=True)
    check_positive(loan_id, frame, "loan", path, allow_zero=True)
    asset = _names(frame, "asset", path, assets[:-1])
    debt_asset = _names(frame, "debt_asset", path, assets)
    collateral = numeric_column(frame, "collateral", path, integer=False)
    debt = numeric_column(frame, "debt", path, integer=False)
    check_positive(collateral, frame, "collateral", path, allow_zero=True)
    check_positive(debt, frame, "debt", path, allow_zero=False)
    for column, values in (("collateral", collateral), ("debt", debt)):
        too_large = np.flatnonzero(values > AMOUNT_MAX)
        if too_large.size:
            raise InputError(
                "out of range",
                file=path,
                key=column,
                row=_first_row(frame, too_large),
                value=float(values[too_large[0]]),
                expected=f"amounts up to {AMOUNT_MAX:g}",
            )
    order = np.argsort(loan_id, kind="stable")
    ids, loan = np.unique(loan_id[order], return_inverse=True)
    first_leg = np.searchsorted(loan, np.arange(ids.shape[0]))
    start = np.append(first_leg, loan.shape[0]).astype(np.int64)
    for column, values in (("debt_asset", debt_asset), ("debt", debt)):
        sorted_values = values[order]
        differs = np.flatnonzero(sorted_values != sorted_values[first_leg[loan]])
        if differs.size:
            raise InputError(
                f"a loan has rows with different {column}",
                file=path,
                key=column,
                row=_first_row(frame, order[differs]),
                value=values[order[differs[0]]].item(),
                expected=f"the same {column} on every row of a loan",
            )
    pair = loan * (len(assets) + 1) + asset[order]
    _, first_seen = np.unique(pair, return_index=True)
    repeated = np.setdiff1d(np.arange(pair.shape[0]), first_seen)
    if repeated.size:
        raise InputError(
            "a loan names the same collateral asset twice",
            file=path,
            key="asset",
            row=_first_row(frame, order[repeated]),
            value=assets[int(asset[order[repeated[0]]])],
            expected="one row per collateral asset of a loan",
        )
    legs_value = np.bincount(loan, weights=collateral[order], minlength=ids.shape[0])
    empty = np.flatnonzero(legs_value <= 0.0)
    if empty.size:
        rows = order[first_leg[empty[0]] : start[empty[0] + 1]]
        raise InputError(
            "a loan has no collateral",
            file=path,
            key="collateral",
            row=_first_row(frame, rows),
            value=int(ids[empty[0]]),
            expected="at least one row of the loan with collateral > 0",
        )
    return LoanBook(
        start=start,
        asset=asset[order],
        collateral=collateral[order],
        debt_asset=debt_asset[order][first_leg],
        debt=debt[order][first_leg],
        assets=tuple(assets),
    )


def synthetic_loans(
    config: LoansSyntheticBook,
    table: LendingTable,
    seed: int,
    start_prices: np.ndarray,
    assets: tuple[str, ...],
) -> LoanBook:
    """Seeded random loans (docs/model.md 13.1).

    Drawn in this order from ``default_rng(SeedSequence(seed, spawn_key=(2,)))``:

    1. collateral value ``V = value_median exp(value_sigma Z1)`` (n);
    2. ``U_asset`` (n x E, E the eligible assets: LT > 0 and not the debt asset, in
       path order); a loan's legs are the ``legs`` assets with the smallest draws;
    3. weights ``w = exp(leg_sigma Z2)`` normalized over the legs (n x k);
    4. health factor ``H = exp(Uniform[ln hf_min, ln hf_max))`` (n).

    Then ``c = w V / P_a,0`` and ``d = sum_legs c P_a,0 LT_a / (H P_debt,0)``.

    Parameters
    ----------
    start_prices
        ``P_a,0`` of the path assets then 1 for the quote asset, quote per base.
    assets
        The path assets then the quote asset.
    """
    names = tuple(assets)
    debt_name = config.debt_asset if config.debt_asset is not None else table.quote_asset
    debt_index = names.index(debt_name)
    thresholds = np.asarray(table.liquidation_threshold, dtype=float)
    eligible = np.array(
        [a for a in range(thresholds.shape[0]) if a != debt_index and thresholds[a] > 0.0],
        dtype=np.int64,
    )
    generator = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(LOAN_SEED_CHILD,)))
    n, k = config.n_loans, config.legs
    value = config.value_median * np.exp(config.value_sigma * generator.standard_normal(n))
    asset_draw = generator.random((n, eligible.shape[0]))
    weight = np.exp(config.leg_sigma * generator.standard_normal((n, k)))
    weight /= weight.sum(axis=1, keepdims=True)
    health = np.exp(generator.uniform(np.log(config.hf_min), np.log(config.hf_max), n))
    legs = eligible[np.argsort(asset_draw, axis=1, kind="stable")[:, :k]]
    collateral = weight * value[:, None] / start_prices[legs]
    weighted = (collateral * start_prices[legs] * thresholds[legs]).sum(axis=1)
    debt = weighted / (health * start_prices[debt_index])
    return LoanBook(
        start=np.arange(0, n * k + 1, k, dtype=np.int64),
        asset=legs.ravel().astype(np.int64),
        collateral=collateral.ravel(),
        debt_asset=np.full(n, debt_index, dtype=np.int64),
        debt=debt,
        assets=names,
    )
