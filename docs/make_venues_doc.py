"""Write the table of docs/venues.md: five venue rulebooks over the five shipped crash events.

    python docs/make_venues_doc.py

Runs each scenario of scenarios/venues/ once per crash event of
data/events/events.toml (single-asset venues on that event's hourly BTC closes,
``mode = "events"``; the one-asset accounts venues on the same hours as one
``historical_multi`` window) and replaces the text between ``<!-- venues:begin -->``
and ``<!-- venues:end -->`` in docs/venues.md; nothing in that section is typed by
hand. About half a minute on two cores.
"""

from __future__ import annotations

import os
import tempfile
import tomllib
import warnings
from datetime import datetime
from pathlib import Path
from typing import Any

import stresstest
from stresstest.scenario.plausibility import PlausibilityWarning

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "venues.md"
VENUES = REPO / "scenarios" / "venues"
EVENTS = REPO / "data" / "events" / "events.toml"
BEGIN, END = "<!-- venues:begin -->", "<!-- venues:end -->"
#: Venue scenario files in the order of the table.
ORDER = ("binance_btcusdt", "hyperliquid_btc", "dydx_v4_btc", "drift_sol_perp", "bitmex_xbtusd")
DATA = "../../data/btc_usdt_spot_1h.parquet"  # relative to scenarios/venues/


def event_windows() -> list[tuple[str, str, str, int]]:
    """``(name, start, end, hours)`` of every shipped crash event."""
    events = tomllib.loads(EVENTS.read_text(encoding="utf-8"))["event"]
    windows = []
    for event in events:
        start = datetime.fromisoformat(event["start"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(event["end"].replace("Z", "+00:00"))
        hours = int((end - start).total_seconds() // 3600)
        windows.append((event["name"], event["start"], event["end"], hours))
    return windows


def event_overrides(scenario: Any, name: str, start: str, end: str, hours: int) -> dict[str, Any]:
    """Overrides that replay ``scenario`` over one event's hourly closes."""
    if scenario.paths.source == "historical_multi":
        return {"paths.start": start, "paths.end": end, "paths.n_steps": hours - 1}
    return {"paths": {"source": "historical", "mode": "events", "data": DATA, "events": [name]}}


def money(value: float) -> str:
    """Quote units in millions with two decimals (``-`` for a column the venue lacks)."""
    return f"{value / 1e6:,.2f}M"


def cell(result: Any, name: str, form: Any = money) -> str:
    """The single path's value of column ``name``, or ``-`` when its stage is off."""
    if name not in result.metric_names:
        return "-"
    return str(form(float(result.column(name)[0])))


def table_lines() -> list[str]:
    """The rows of the table: every venue over every event, in :data:`ORDER`."""
    lines = [
        "| venue | event | liquidations | bad debt | fund drawdown | backstop P&L "
        "| ADL notional | ADL Gini | socialized |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for venue in ORDER:
        base = stresstest.load_scenario(VENUES / f"{venue}.toml")
        for name, start, end, hours in event_windows():
            event = base.with_overrides(event_overrides(base, name, start, end, hours))
            with warnings.catch_warnings():  # one path per run: "depleted on every path" is
                warnings.simplefilter("ignore", PlausibilityWarning)  # by construction
                result = stresstest.run(event)
            lines.append(
                f"| {venue} | {name} | {cell(result, 'n_liquidations', lambda v: f'{v:,.0f}')} "
                f"| {cell(result, 'bad_debt')} | {cell(result, 'fund_max_drawdown')} "
                f"| {cell(result, 'backstop_pnl')} | {cell(result, 'adl_notional')} "
                f"| {cell(result, 'adl_gini', lambda v: f'{v:.2f}')} "
                f"| {cell(result, 'socialized_loss')} |"
            )
    return lines


def main() -> None:
    lines = table_lines()
    text = DOC.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    handle, temporary = tempfile.mkstemp(dir=DOC.parent, suffix=".tmp")
    with os.fdopen(handle, "w", encoding="utf-8") as stream:
        stream.write(head + BEGIN + "\n" + "\n".join(lines) + "\n" + END + tail)
    os.replace(temporary, DOC)


if __name__ == "__main__":
    main()
