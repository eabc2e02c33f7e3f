"""Plausibility checks: settings that are valid but probably not what was meant.

A scenario can pass every range check and still describe something nobody
meant: ``maintenance = 0.5`` written as "0.5 %" liquidates most of the book at
step 0, an insurance fund of ``50`` written in millions is gone on every path,
a variance written in percent squared starts the margin a hundred times too
high. These checks run before the engine (over the scenario, the built book
and the path source: O(positions), never O(positions x steps)) and after it
(over the per-path results: O(paths)). Each finding is one :class:`Finding`
naming the key, its value, what it implies and what was probably meant; the
thresholds are the named constants below, documented in docs/plausibility.md.

Findings are Python warnings of class :class:`PlausibilityWarning`; the command
line prints each once on stderr, ``--strict`` turns any into exit status 2, and
``summary.json`` and ``compare.json`` record them (docs/results.md).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stresstest.errors import InputError
from stresstest.scenario import schema
from stresstest.scenario.procyclicality import apc_findings

if TYPE_CHECKING:
    from stresstest.book import Book
    from stresstest.book.loans import LoanBook

#: Share of the book's positions breaching at step 0, before any price move, above
#: which the book or the margin rate is probably mistaken (docs/plausibility.md).
BREACH_SHARE_MAX = 0.25
#: Insurance fund below this fraction of the open notional at step 0 (1 basis point).
FUND_MIN_FRACTION = 1e-4
#: Factor between the square root of a start variance and the paths' own per-step
#: volatility beyond which the variance is probably in another unit.
VARIANCE_FACTOR = 3.0
#: Factor between a GARCH ``sigma0`` and the model's own level (the fit's forecast, or
#: the long-run volatility of a stationary model) beyond which it is probably a fraction
#: written where arch's percent is expected (or the reverse).
SIGMA0_FACTOR = 10.0
#: A liquidation penalty or slippage above this fraction of notional (10 %) reads
#: like a percentage written as a number.
PENALTY_PERCENT_SUSPECT = 0.1
#: A static penalty more than this many times the step-0 maintenance rate.
FEE_MAINTENANCE_FACTOR = 5.0
#: After the run: the fund is depleted on every path although it is below this
#: fraction of the median bad debt.
FUND_DEPLETED_FRACTION = 0.1
#: After the run: every path liquidates at least this share of the positions.
LIQUIDATED_SHARE_MAX = 0.9
#: Paths' steps read to estimate a path file's per-step volatility, at most.
VOLATILITY_SAMPLE_VALUES = 1_000_000

#: Every check, in the order they run (pre-run, then post-run); the ``code`` of a Finding.
CODES = (
    "rate_in_percent",
    "sigma0_scale",
    "variance_scale",
    "breach_at_step0",
    "fund_tiny",
    "fee_above_maintenance",
    "latency_beyond_path",
    "apc_below_emir",
    "fund_always_depleted",
    "liquidated_every_path",
)

#: Scales tried for a fund that reads like an amount written in thousands, millions, ...
_FUND_SCALES = ((1e3, "thousands"), (1e6, "millions"), (1e9, "billions"))


class PlausibilityWarning(UserWarning):
    """A scenario setting that is valid but probably not what was meant (:class:`Finding`)."""


@dataclass(frozen=True)
class Finding:
    """One plausibility warning.

    Attributes
    ----------
    code
        What was checked (``breach_at_step0``, ``fund_tiny``, ...; docs/plausibility.md).
    key
        The dotted scenario key it names (``margin.maintenance``), or ``book``.
    value
        The key's value, in the key's unit.
    implication
        What the value implies, with the figure ("87% of positions breach at step 0").
    suggestion
        What was probably meant.
    stage
        ``"pre-run"`` (scenario, book and paths) or ``"post-run"`` (results).
    variant
        The compare variant it belongs to, or ``None`` for a run.
    """

    code: str
    key: str
    value: float
    implication: str
    suggestion: str
    stage: str = "pre-run"
    variant: str | None = None

    def message(self) -> str:
        """One line: key, value, implication and probable meaning."""
        where = f"variant {self.variant}: " if self.variant is not None else ""
        return (
            f"{where}{self.key} = {self.value:g}: {self.implication}; "
            f"probably meant {self.suggestion} [{self.code}]"
        )

    def record(self) -> dict[str, Any]:
        """The JSON record of summary.json's and compare.json's ``warnings`` list."""
        record: dict[str, Any] = {
            "code": self.code,
            "key": self.key,
            "value": self.value,
            "implication": self.implication,
            "suggestion": self.suggestion,
            "stage": self.stage,
            "message": self.message(),
        }
        if self.variant is not None:
            record["variant"] = self.variant
        return record


def emit(findings: Iterable[Finding]) -> None:
    """Issue each finding as a :class:`PlausibilityWarning`."""
    for finding in findings:
        warnings.warn(finding.message(), PlausibilityWarning, stacklevel=3)


def refuse_strict(findings: Sequence[Finding], stage: str) -> None:
    """``--strict``: raise :class:`InputError` (exit status 2) if there is any finding."""
    if not findings:
        return
    raise InputError(
        f"{len(findings)} plausibility warning{'s' if len(findings) > 1 else ''} "
        f"({stage}, printed above); nothing was written",
        key="--strict",
        expected="a scenario without plausibility warnings, or a run without --strict",
    )


def _unique(findings: Iterable[Finding]) -> list[Finding]:
    """One finding per key: the first (the most specific check runs first)."""
    seen: set[str] = set()
    kept = []
    for finding in findings:
        if finding.key not in seen:
            seen.add(finding.key)
            kept.append(finding)
    return kept


# ----------------------------------------------------------------------------- margin rates
def step0_rate(margin: schema.MarginConfig) -> tuple[float, str]:
    """The maintenance rate ``m_0`` at step 0 and the key that sets it (docs/model.md 3)."""
    if isinstance(margin, schema.StaticMargin):
        return margin.maintenance, "margin.maintenance"
    raw = margin.k * math.sqrt(margin.initial_variance * margin.horizon_steps)
    rate, key = raw, "margin.initial_variance"
    if raw <= margin.floor:
        rate, key = margin.floor, "margin.floor"
    elif raw >= margin.cap:
        rate = margin.cap
    if margin.apc_buffer is not None:  # m_0 = (1 + b) u_0 (docs/model.md 3.1)
        return (1.0 + margin.apc_buffer) * rate, key
    return rate, key


def _percent_checks(liquidation: schema.Liquidation) -> list[Finding]:
    """Penalties and slippage that read like a percentage written as a number."""
    names = ["slippage"]
    names += ["fee"] if liquidation.fee_model == "static" else ["fee_base", "fee_min"]
    found = []
    for name in names:
        value = float(getattr(liquidation, name))
        if value > PENALTY_PERCENT_SUSPECT:
            found.append(
                Finding(
                    "rate_in_percent",
                    f"liquidation.{name}",
                    value,
                    f"{value:.0%} of notional on every close (rates are fractions: 0.01 is 1%)",
                    f"{value:g}% = {value / 100:g}",
                )
            )
    return found


def _fee_check(scenario: schema.Scenario) -> list[Finding]:
    """A static penalty many times the step-0 maintenance rate."""
    liquidation = scenario.liquidation
    rate, _ = step0_rate(scenario.margin)
    if liquidation.fee_model != "static" or rate <= 0.0:
        return []
    if liquidation.fee <= FEE_MAINTENANCE_FACTOR * rate:
        return []
    return [
        Finding(
            "fee_above_maintenance",
            "liquidation.fee",
            liquidation.fee,
            f"the penalty is {liquidation.fee / rate:.3g}x the maintenance rate {rate:g} at "
            "step 0, so a breached position's remaining equity rarely pays it",
            f"a penalty near the maintenance rate (at most {FEE_MAINTENANCE_FACTOR:g}x, "
            f"{FEE_MAINTENANCE_FACTOR * rate:g})",
        )
    ]


# ----------------------------------------------------------------------------- variances
def path_volatility(scenario: schema.Scenario, source: Any) -> tuple[float, str] | None:
    """The paths' own per-step volatility of log returns (fraction) and where it comes from.

    GBM: ``sigma``; GARCH and FHS: the first step's conditional volatility
    (``sigma0`` or the start variance, percent / 100); historical: the root mean
    square of the data's one-bar log returns; a path file: that of the first
    paths' log returns (at most ``VOLATILITY_SAMPLE_VALUES`` prices). ``None``
    when there is none to compare with (multi-asset paths, constant prices).
    """
    config = scenario.paths
    if isinstance(config, schema.GbmPaths):
        return config.sigma, f"paths.sigma {config.sigma:g}"
    if isinstance(config, schema.GarchPaths | schema.FhsPaths):
        sigma = float(source.start_sigma()) / 100.0
        given = "sigma0" if config.sigma0 is not None else "start volatility"
        return sigma, f"the GARCH {given} {100.0 * sigma:.3g} percent per step"
    if isinstance(config, schema.HistoricalPaths):
        closes = np.asarray(source.candles.close, dtype=np.float64)
        what = "the data's one-bar log returns"
    elif isinstance(config, schema.FilePaths):
        prices = source.prices
        rows = max(1, min(prices.shape[0], VOLATILITY_SAMPLE_VALUES // prices.shape[1]))
        closes = prices[:rows]
        what = "the path file's log returns"
    else:
        return None
    returns = np.diff(np.log(closes), axis=-1)
    sigma = float(np.sqrt(np.mean(returns * returns))) if returns.size else 0.0
    if sigma <= 0.0:
        return None
    return sigma, f"{what}, {sigma:.3g} per step"


def _sigma0_check(scenario: schema.Scenario, source: Any) -> list[Finding]:
    """A GARCH ``sigma0`` far from the model's own level: a fraction where percent is meant."""
    config = scenario.paths
    if not isinstance(config, schema.GarchPaths | schema.FhsPaths) or config.sigma0 is None:
        return []
    if source.fit is not None:
        level, origin = math.sqrt(source.fit.next_variance), "the fit's forecast"
    else:
        from stresstest.paths.fit import unconditional_state

        state = unconditional_state(config.model, source.params, source.kappa, source.e_abs)
        if state is None:  # integrated: no long-run level to compare with
            return []
        variance = math.exp(state) if config.model == "egarch" else state
        level, origin = math.sqrt(variance), "the model's long-run volatility"
    ratio = config.sigma0 / level
    if 1.0 / SIGMA0_FACTOR <= ratio <= SIGMA0_FACTOR:
        return []
    if 1.0 / SIGMA0_FACTOR <= 100.0 * ratio <= SIGMA0_FACTOR:
        meant = f"a fraction: sigma0 is in percent, {100.0 * config.sigma0:.3g}"
    elif 1.0 / SIGMA0_FACTOR <= ratio / 100.0 <= SIGMA0_FACTOR:
        meant = f"percent of percent: {config.sigma0 / 100.0:.3g}"
    else:
        meant = f"a volatility near {level:.3g} percent per step"
    return [
        Finding(
            "sigma0_scale",
            "paths.sigma0",
            config.sigma0,
            f"{ratio:.3g}x {origin} {level:.3g} percent per step",
            meant,
        )
    ]


def _latency_check(liquidation: schema.Liquidation, source: Any) -> list[Finding]:
    """A latency at least as long as the paths: every close waits to the last step."""
    n_steps = getattr(source, "n_steps", None)
    latency = liquidation.latency_steps
    if n_steps is None or latency == 0 or latency < n_steps:
        return []
    return [
        Finding(
            "latency_beyond_path",
            "liquidation.latency_steps",
            latency,
            f"every liquidation waits to the last step T = {n_steps}: the latency is as "
            "long as the path",
            "a latency in steps of the paths (not seconds or minutes), shorter than n_steps",
        )
    ]


def _variance_checks(scenario: schema.Scenario, volatility: tuple[float, str]) -> list[Finding]:
    """Start variances whose square root is far from the paths' own volatility."""
    sigma, origin = volatility
    given: list[tuple[str, float]] = []
    if isinstance(scenario.margin, schema.VolScaledMargin):
        given.append(("margin.initial_variance", scenario.margin.initial_variance))
    if scenario.liquidation.vol_initial_variance is not None:
        given.append(
            ("liquidation.vol_initial_variance", scenario.liquidation.vol_initial_variance)
        )
    found = []
    for key, variance in given:
        if variance <= 0.0:  # 0: the EWMA starts from nothing, a stated choice
            continue
        ratio = math.sqrt(variance) / sigma
        if 1.0 / VARIANCE_FACTOR <= ratio <= VARIANCE_FACTOR:
            continue
        target = sigma * sigma
        if 1.0 / VARIANCE_FACTOR <= math.sqrt(variance / 1e4) / sigma <= VARIANCE_FACTOR:
            meant = f"percent squared: {variance / 1e4:.3g} (variances are fractions squared)"
        else:
            meant = f"a per-step variance near {target:.3g} (the square of {sigma:.3g})"
        found.append(
            Finding(
                "variance_scale",
                key,
                variance,
                f"its square root {math.sqrt(variance):.3g} per step is {ratio:.3g}x the "
                f"paths' own volatility ({origin})",
                meant,
            )
        )
    return found


# ----------------------------------------------------------------------------- book
def _breach_check(scenario: schema.Scenario, book: Book, price: float) -> list[Finding]:
    """The share of the book that breaches at step 0, and the key that probably causes it."""
    rate, key = step0_rate(scenario.margin)
    notional = book.qty * price
    equity = book.collateral + book.side * book.qty * (price - book.entry_price)
    breached = equity < rate * notional
    share = float(np.mean(breached)) if len(book) else 0.0
    if share <= BREACH_SHARE_MAX:
        return []
    notional_share = float(np.sum(notional[breached]) / np.sum(notional))
    initial = book.collateral / (book.qty * book.entry_price)  # 1 / leverage
    below = float(np.mean(initial < rate))
    implication = (
        f"{share:.0%} of positions ({notional_share:.0%} of open notional) breach at step 0, "
        f"before any price move"
    )
    if below >= 0.5 * share:  # the rate is above the initial margin the leverage allows
        median = float(np.median(initial))
        implication += (
            f": the maintenance rate {rate:g} is above the initial margin 1/leverage of "
            f"{below:.0%} of positions (median {median:.3g})"
        )
        if key == "margin.maintenance" and rate / 100 < median:
            meant = f"{rate:g}% = {rate / 100:g}"
        else:
            meant = f"a rate below the book's median initial margin {median:.3g}"
        return [Finding("breach_at_step0", key, rate, implication, meant)]
    mean_entry = float(np.average(book.entry_price, weights=notional))
    return [
        Finding(
            "breach_at_step0",
            "book",
            share,
            implication + f": entry prices (mean {mean_entry:.6g}) are far from the "
            f"step-0 price {price:.6g}",
            "entry prices near the step-0 price (book.reference_price or the book "
            "file's entry_price in the paths' currency and scale)",
        )
    ]


def _fund_check(scenario: schema.Scenario, book: Book, price: float) -> list[Finding]:
    """An insurance fund that is a tiny fraction of the open notional."""
    fund = scenario.insurance_fund.initial
    open_notional = float(np.sum(book.qty)) * price
    if fund <= 0.0 or open_notional <= 0.0 or fund >= FUND_MIN_FRACTION * open_notional:
        return []
    meant = f"a fund of at least {FUND_MIN_FRACTION * open_notional:.3g} quote"
    for scale, word in _FUND_SCALES:
        if fund * scale >= FUND_MIN_FRACTION * open_notional:
            meant = (
                f"{fund:g} in {word}: {fund * scale:.3g} quote "
                f"({fund * scale / open_notional:.2%} of open notional)"
            )
            break
    return [
        Finding(
            "fund_tiny",
            "insurance_fund.initial",
            fund,
            f"the fund is {fund / open_notional:.2g} of the open notional "
            f"{open_notional:.3g} quote at step 0 (amounts are in quote units)",
            meant,
        )
    ]


def lending_findings(
    scenario: schema.Scenario, book: LoanBook, start_prices: np.ndarray
) -> list[Finding]:
    """The pre-run checks of a loan book at step 0 (docs/plausibility.md, "Lending").

    ``breach_at_step0`` (key ``book``): more than ``BREACH_SHARE_MAX`` of the loans
    have ``HF < 1`` at the step-0 prices (docs/model.md 13.3), before any move;
    ``fund_tiny``: a reserve below ``FUND_MIN_FRACTION`` of the debt at step 0.
    ``start_prices`` are the step-0 prices of the path assets then the quote's 1
    (quote per base). O(loan legs).
    """
    table = scenario.lending
    if table is None or not len(book):
        return []
    threshold = np.append(np.asarray(table.liquidation_threshold, dtype=float), 0.0)
    leg_value = book.collateral * start_prices[book.asset]
    weighted = np.add.reduceat(leg_value * threshold[book.asset], book.start[:-1])
    debt_value = book.debt * start_prices[book.debt_asset]
    found = []
    liquidatable = weighted < debt_value  # HF < 1
    share = float(np.mean(liquidatable))
    if share > BREACH_SHARE_MAX:
        debt_share = float(debt_value[liquidatable].sum() / debt_value.sum())
        health = float(np.median(weighted / debt_value))
        found.append(
            Finding(
                "breach_at_step0",
                "book",
                share,
                f"{share:.0%} of loans ({debt_share:.0%} of the debt) have a health factor "
                f"below 1 at step 0, before any price move (median {health:.3g})",
                "collateral in base units of its asset and debt in units of the debt asset "
                "(not in wei or cents), at health factors above 1",
            )
        )
    found += _reserve_check(scenario, float(debt_value.sum()))
    return found


def _reserve_check(scenario: schema.Scenario, debt: float) -> list[Finding]:
    """A lending reserve (``insurance_fund.initial``) that is a tiny fraction of the debt."""
    fund = scenario.insurance_fund.initial
    if fund <= 0.0 or debt <= 0.0 or fund >= FUND_MIN_FRACTION * debt:
        return []
    meant = f"a reserve of at least {FUND_MIN_FRACTION * debt:.3g} quote"
    for scale, word in _FUND_SCALES:
        if fund * scale >= FUND_MIN_FRACTION * debt:
            share = fund * scale / debt
            meant = f"{fund:g} in {word}: {fund * scale:.3g} quote ({share:.2%} of the debt)"
            break
    return [
        Finding(
            "fund_tiny",
            "insurance_fund.initial",
            fund,
            f"the reserve is {fund / debt:.2g} of the debt {debt:.3g} quote at step 0 "
            "(amounts are in quote units)",
            meant,
        )
    ]


def pre_run_findings(
    scenario: schema.Scenario, book: Book | None, source: Any, *, variant: str | None = None
) -> list[Finding]:
    """Every check that needs no replay: scenario, book at step 0 and path volatility.

    Parameters
    ----------
    scenario
        The scenario (or compare variant) to check.
    book
        Its single-asset book, or ``None`` (accounts books: the book checks are skipped).
    source
        Its path source (``start_price()``, and what :func:`path_volatility` reads).
    variant
        The compare variant's name, recorded in each finding.
    """
    found = _percent_checks(scenario.liquidation)
    sigma0 = _sigma0_check(scenario, source)
    found += sigma0
    # a wrong sigma0 makes the paths' own volatility wrong too: no variance check then
    volatility = None if sigma0 else path_volatility(scenario, source)
    if volatility is not None:
        found += _variance_checks(scenario, volatility)
    if book is not None and len(book):
        price = float(source.start_price())
        found += _breach_check(scenario, book, price)
        found += _fund_check(scenario, book, price)
    found += _fee_check(scenario)
    found += _latency_check(scenario.liquidation, source)
    found += apc_findings(scenario)
    return [with_variant(finding, variant) for finding in _unique(found)]


def with_variant(finding: Finding, variant: str | None) -> Finding:
    """``finding`` recorded for compare variant ``variant`` (unchanged for ``None``)."""
    if variant is None:
        return finding
    return Finding(
        finding.code,
        finding.key,
        finding.value,
        finding.implication,
        finding.suggestion,
        finding.stage,
        variant,
    )


# ----------------------------------------------------------------------------- after the run
def post_run_findings(
    scenario: schema.Scenario,
    columns: dict[str, np.ndarray],
    n_positions: int,
    earlier: Sequence[Finding] = (),
    *,
    variant: str | None = None,
) -> list[Finding]:
    """Checks over the per-path results; a key an ``earlier`` finding named is skipped.

    ``liquidated_every_path`` is not checked with ``[partial_liquidation]`` or a loan
    book: their ``n_liquidations`` counts closes, several per position or loan.
    ``columns`` holds the per-path ``bad_debt``, ``socialized_loss`` (quote) and
    ``n_liquidations`` (count).
    """
    named = {finding.key for finding in earlier}
    found = []
    fund = scenario.insurance_fund.initial
    socialized, bad_debt = columns["socialized_loss"], columns["bad_debt"]
    if fund > 0.0 and socialized.size and "insurance_fund.initial" not in named:
        median = float(np.median(bad_debt))
        if bool(np.all(socialized > 0.0)) and fund < FUND_DEPLETED_FRACTION * median:
            found.append(
                Finding(
                    "fund_always_depleted",
                    "insurance_fund.initial",
                    fund,
                    f"the fund is depleted on every path (P = 1); the median bad debt "
                    f"{median:.3g} quote is {median / fund:.3g}x the fund",
                    f"a fund of the order of the bad debt ({median:.3g} quote), or the "
                    "amount in other units",
                    "post-run",
                    variant,
                )
            )
    liquidations = columns["n_liquidations"]
    rate, key = step0_rate(scenario.margin)
    # With partial liquidation a position may close many times, and a loan with its close
    # factor; the margin rate this check names does not exist in a lending scenario.
    repeated = scenario.partial_liquidation is not None or scenario.lending is not None
    counted = n_positions > 0 and liquidations.size and not repeated
    if counted and key not in named and "book" not in named:
        least = float(np.min(liquidations)) / n_positions
        if least >= LIQUIDATED_SHARE_MAX:
            found.append(
                Finding(
                    "liquidated_every_path",
                    key,
                    rate,
                    f"every path liquidates at least {least:.0%} of the positions",
                    "a maintenance rate the book's leverage allows, or paths with the "
                    "intended volatility",
                    "post-run",
                    variant,
                )
            )
    return found
