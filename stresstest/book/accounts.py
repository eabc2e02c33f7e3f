"""A book of accounts holding positions in several assets, and its margin units.

An account has positions in one or more assets and a margin mode: *isolated*
(each position is margined and liquidated on its own, with the collateral
allotted to it) or *cross* (the account's collateral is pooled, its equity and
requirement are summed over its positions and a breach closes all of them). A
*margin unit* is what is checked and closed as one: a cross account, or one
position of an isolated account. See docs/model.md 11.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from stresstest.book.positions import check_position_ranges
from stresstest.errors import InputError
from stresstest.io.tables import ROW_INDEX, check_positive, numeric_column, read_table
from stresstest.scenario.accounts import AccountsSyntheticBook

ACCOUNT_COLUMNS = ("account", "asset", "side", "qty", "entry_price", "collateral")
#: Child of ``SeedSequence(seed).spawn`` seeding a synthetic book (as the single-asset one).
BOOK_SEED_CHILD = 1


@dataclass(frozen=True)
class AccountsBook:
    """Positions of accounts as parallel arrays, grouped by account (ascending).

    Attributes
    ----------
    account
        Account index of each position, 0..n_accounts-1, non-decreasing (int64).
    asset
        Asset index of each position into ``assets`` (int64).
    side
        +1 long, -1 short (float64).
    qty, entry_price, collateral
        Base units (> 0), quote per base (> 0), quote units (>= 0; the position's
        isolated margin, pooled by a cross account).
    cross
        Per account: True for cross margin, False for isolated.
    assets
        Asset names.
    """

    account: np.ndarray
    asset: np.ndarray
    side: np.ndarray
    qty: np.ndarray
    entry_price: np.ndarray
    collateral: np.ndarray
    cross: np.ndarray
    assets: tuple[str, ...]

    @property
    def n_accounts(self) -> int:
        """Number of accounts."""
        return int(self.cross.shape[0])

    def __len__(self) -> int:
        return int(self.account.shape[0])

    @property
    def entry_notional(self) -> float:
        """Sum of ``q e`` over positions, quote units."""
        return float(np.sum(self.qty * self.entry_price))


@dataclass(frozen=True)
class MarginUnits:
    """Margin units in CSR form: unit ``u`` holds positions ``start[u] .. start[u+1]-1``.

    Arrays are what the kernels take: ``start`` (int64, n_units + 1), per
    position ``asset`` (int64), ``side`` (float64, +1/-1), ``qty`` (base units),
    ``entry`` (quote per base), and per unit ``collateral`` (quote units) and
    ``account`` (int64, the account it belongs to).
    """

    start: np.ndarray
    asset: np.ndarray
    side: np.ndarray
    qty: np.ndarray
    entry: np.ndarray
    collateral: np.ndarray
    account: np.ndarray

    @property
    def n_units(self) -> int:
        """Number of margin units."""
        return int(self.collateral.shape[0])


def margin_units(book: AccountsBook, mode: str) -> MarginUnits:
    """Split a book into margin units.

    ``mode`` is ``"book"`` (each account's own mode), ``"isolated"`` or ``"cross"``
    (every account). A cross account is one unit with collateral
    ``sum c_k`` of its positions; an isolated account gives one unit per
    position with that position's ``c_k``. Units keep the book's order.
    """
    if mode == "book":
        cross_position = book.cross[book.account]
    else:
        cross_position = np.full(len(book), mode == "cross")
    n = len(book)
    new_account = np.ones(n, dtype=bool)
    new_account[1:] = book.account[1:] != book.account[:-1]
    # a position opens a unit if it is isolated or the first of its (cross) account
    opens = new_account | ~cross_position
    unit_of_position = np.cumsum(opens) - 1
    n_units = int(unit_of_position[-1]) + 1 if n else 0
    start = np.zeros(n_units + 1, dtype=np.int64)
    start[:-1] = np.flatnonzero(opens)
    start[-1] = n
    collateral = np.zeros(n_units)
    np.add.at(collateral, unit_of_position, book.collateral)
    return MarginUnits(
        start=start,
        asset=np.ascontiguousarray(book.asset, dtype=np.int64),
        side=np.ascontiguousarray(book.side, dtype=np.float64),
        qty=np.ascontiguousarray(book.qty, dtype=np.float64),
        entry=np.ascontiguousarray(book.entry_price, dtype=np.float64),
        collateral=collateral,
        account=np.ascontiguousarray(book.account[start[:-1]], dtype=np.int64),
    )


def synthetic_accounts(
    config: AccountsSyntheticBook,
    seed: int,
    start_prices: np.ndarray,
    assets: tuple[str, ...],
) -> AccountsBook:
    """Draw ``config.n_accounts`` accounts of ``config.legs`` positions each.

    Draws, in this order, from ``numpy.random.default_rng(SeedSequence(seed,
    spawn_key=(1,)))``, ``n`` = n_accounts, ``k`` = legs, ``A`` = number of assets:

    1. ``U_side`` (n): first leg long if ``U_side < long_fraction``;
    2. ``U_hedge`` (n): hedged if ``U_hedge < hedged_fraction`` (other legs take the
       opposite side), else every leg has the first leg's side;
    3. account leverage ``L = exp(Uniform[ln leverage_min, ln leverage_max))`` (n);
    4. gross notional ``G = notional_median exp(notional_sigma Z1)`` (n), quote units;
    5. ``U_asset`` (n x A): the legs' assets are the ``k`` smallest, in order;
    6. leg weights ``w_j = exp(leg_sigma Z2_j) / sum_j exp(leg_sigma Z2_j)`` (n x k);
    7. entry ``e_j = P_a,0 exp(entry_dispersion Z3_j)`` (n x k);
    8. ``U_cross`` (n): cross margin if ``U_cross < cross_fraction``.

    Then leg notional ``N_j = w_j G``, ``q_j = N_j / e_j`` and ``c_j = N_j / L``.

    Parameters
    ----------
    start_prices
        ``P_a,0`` of each asset, quote per base.
    """
    n_assets = len(assets)
    if config.legs > n_assets:
        raise InputError(
            "more legs than assets",
            key="book.legs",
            value=config.legs,
            expected=f"an integer <= {n_assets} (the number of paths.assets)",
        )
    generator = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(BOOK_SEED_CHILD,)))
    n, k = config.n_accounts, config.legs
    side_draw = generator.random(n)
    hedge_draw = generator.random(n)
    leverage = np.exp(
        generator.uniform(np.log(config.leverage_min), np.log(config.leverage_max), n)
    )
    gross = config.notional_median * np.exp(config.notional_sigma * generator.standard_normal(n))
    asset_draw = generator.random((n, n_assets))
    weight = np.exp(config.leg_sigma * generator.standard_normal((n, k)))
    weight /= weight.sum(axis=1, keepdims=True)
    entry_noise = np.exp(config.entry_dispersion * generator.standard_normal((n, k)))
    cross = generator.random(n) < config.cross_fraction
    leg_asset = np.argsort(asset_draw, axis=1, kind="stable")[:, :k]
    first_side = np.where(side_draw < config.long_fraction, 1.0, -1.0)
    other_side = np.where(hedge_draw < config.hedged_fraction, -first_side, first_side)
    side = np.repeat(other_side[:, None], k, axis=1)
    side[:, 0] = first_side
    entry = np.asarray(start_prices, dtype=float)[leg_asset] * entry_noise
    notional = weight * gross[:, None]
    return AccountsBook(
        account=np.repeat(np.arange(n, dtype=np.int64), k),
        asset=leg_asset.ravel().astype(np.int64),
        side=side.ravel(),
        qty=(notional / entry).ravel(),
        entry_price=entry.ravel(),
        collateral=(notional / leverage[:, None]).ravel(),
        cross=cross,
        assets=tuple(assets),
    )


def _string_column(
    frame: pl.DataFrame, column: str, path: Path, allowed: tuple[str, ...]
) -> pl.Series:
    series = frame[column]
    if series.dtype != pl.String:
        raise InputError(
            "wrong column type",
            file=path,
            key=column,
            value=str(series.dtype),
            expected=f"one of {list(allowed)}",
        )
    unknown = ~series.is_in(list(allowed)).fill_null(value=False)
    if unknown.any():
        row = frame.filter(unknown).row(0, named=True)
        raise InputError(
            f"unknown {column}",
            file=path,
            key=column,
            row=int(row[ROW_INDEX]),
            value=row[column],
            expected=f"one of {list(allowed)}",
        )
    return series


def read_accounts(path: Path, assets: tuple[str, ...]) -> AccountsBook:
    """Read an accounts file (docs/model.md 11.2) and validate every row.

    Account identifiers may be any whole numbers >= 0 (a float column only if
    every value is whole: ``0.5`` is refused at its row, never merged into
    account 0); they are renumbered
    0..n_accounts-1 in ascending order, and positions are grouped by account
    (stable, so an account's positions keep their file order).
    """
    frame = read_table(path, ACCOUNT_COLUMNS)
    if frame.height == 0:
        raise InputError("accounts file has no positions", file=path, expected="at least one row")
    account_id = numeric_column(frame, "account", path, integer=True)
    check_positive(account_id, frame, "account", path, allow_zero=True)
    asset_names = _string_column(frame, "asset", path, assets)
    side_names = _string_column(frame, "side", path, ("long", "short"))
    qty = numeric_column(frame, "qty", path, integer=False)
    entry = numeric_column(frame, "entry_price", path, integer=False)
    collateral = numeric_column(frame, "collateral", path, integer=False)
    check_positive(qty, frame, "qty", path, allow_zero=False)
    check_positive(entry, frame, "entry_price", path, allow_zero=False)
    check_positive(collateral, frame, "collateral", path, allow_zero=True)
    check_position_ranges(qty, entry, collateral, frame, path)
    if "mode" in frame.columns:
        cross_row = (
            _string_column(frame, "mode", path, ("isolated", "cross")) == "cross"
        ).to_numpy()
    else:
        cross_row = np.ones(frame.height, dtype=bool)
    order = np.argsort(account_id, kind="stable")
    ids, account = np.unique(account_id[order], return_inverse=True)
    cross = np.zeros(ids.shape[0], dtype=bool)
    cross[account] = cross_row[order]
    mixed = cross[account] != cross_row[order]
    if mixed.any():
        first = int(order[np.flatnonzero(mixed)[0]])
        raise InputError(
            "an account has rows of both modes",
            file=path,
            key="mode",
            row=first,
            value=int(account_id[first]),
            expected="the same mode on every row of an account",
        )
    asset_index = {name: index for index, name in enumerate(assets)}
    asset = np.array([asset_index[name] for name in asset_names.to_list()], dtype=np.int64)
    side = np.where((side_names == "long").to_numpy(), 1.0, -1.0)
    return AccountsBook(
        account=account.astype(np.int64),
        asset=asset[order],
        side=side[order],
        qty=qty[order],
        entry_price=entry[order],
        collateral=collateral[order],
        cross=cross,
        assets=tuple(assets),
    )
