"""Write the crash-event table of docs/mechanics.md.

    python docs/make_mechanics_doc.py

Runs scenarios/event_2020_03.toml and scenarios/event_2025_10.toml (historical
mode "events": the real BTC hourly closes through the crash, 1M synthetic
positions) without impact and with a ``[market]`` table at two depth levels,
then with the EMA oracle of scenarios/cascade_2020_03.toml added, and with an
oracle manipulated by -5% and +5% for one hour at step 24, and replaces
the text between ``<!-- mechanics:begin -->`` and ``<!-- mechanics:end -->`` in
docs/mechanics.md. Nothing in that section is typed by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from stresstest.engine.run import run  # noqa: E402
from stresstest.scenario import load_scenario  # noqa: E402

DOC = Path(__file__).with_name("mechanics.md")
BEGIN, END = "<!-- mechanics:begin -->", "<!-- mechanics:end -->"
EVENTS = ("event_2020_03", "event_2025_10")
#: Depth levels, USDT per 1% move.
DEPTHS = (1e9, 1e8)
PERMANENT = 0.5
ORACLE = {"model": "ema", "ema_lambda": 0.5}


def variants() -> list[tuple[str, dict[str, Any]]]:
    """(label, overrides) in table order."""
    rows: list[tuple[str, dict[str, Any]]] = [("no impact", {})]
    for depth in DEPTHS:
        market = {"impact": "linear", "depth": depth, "permanent_fraction": PERMANENT}
        rows.append((f"depth {depth / 1e6:,.0f}M / 1%", {"market": market}))
    rows.append(("ema oracle, no impact", {"oracle": ORACLE}))
    market = {"impact": "linear", "depth": DEPTHS[-1], "permanent_fraction": PERMANENT}
    rows.append(
        (f"ema oracle, depth {DEPTHS[-1] / 1e6:,.0f}M / 1%", {"oracle": ORACLE, "market": market})
    )
    return rows


def money(value: float) -> str:
    """USDT in millions with one decimal."""
    return f"{value / 1e6:,.1f}M"


def table() -> list[str]:
    lines = [
        "| event | variant | liquidations | liquidated notional | bad debt | fund max drawdown "
        "| socialized loss | impact bad debt | cascade depth |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for event in EVENTS:
        base = load_scenario(REPO / "scenarios" / f"{event}.toml")
        for label, overrides in variants():
            result = run(base.with_overrides(overrides) if overrides else base)
            row = result.paths_frame().row(0, named=True)
            impact = (
                (money(row["impact_bad_debt"]), f"{row['cascade_depth']}")
                if "cascade_depth" in row
                else ("-", "-")
            )
            lines.append(
                f"| {event} | {label} | {row['n_liquidations']:,} "
                f"| {money(row['liquidated_notional'])} | {money(row['bad_debt'])} "
                f"| {money(row['fund_max_drawdown'])} | {money(row['socialized_loss'])} "
                f"| {impact[0]} | {impact[1]} |"
            )
    return lines


#: Oracle manipulation: the published price is moved by SIZE at step MANIPULATION_STEP, 1 step.
MANIPULATION_STEP = 24
SIZES = (-0.05, 0.05)


def manipulation_table() -> list[str]:
    """What a one-hour oracle manipulation extracts, against the same run without it."""
    lines = [
        "| event | oracle at step 24 | liquidations | to liquidators | bad debt "
        "| extra liquidations | extra to liquidators | extra bad debt |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for event in EVENTS:
        base = load_scenario(REPO / "scenarios" / f"{event}.toml")
        honest = (
            run(base.with_overrides({"oracle": {"model": "lag"}})).paths_frame().row(0, named=True)
        )
        for size in SIZES:
            oracle = {
                "model": "lag",
                "manipulation_step": MANIPULATION_STEP,
                "manipulation_size": size,
                "manipulation_steps": 1,
            }
            row = run(base.with_overrides({"oracle": oracle})).paths_frame().row(0, named=True)
            lines.append(
                f"| {event} | {size:+.0%} | {row['n_liquidations']:,} "
                f"| {money(row['fees_to_liquidators'])} | {money(row['bad_debt'])} "
                f"| {row['n_liquidations'] - honest['n_liquidations']:+,} "
                f"| {money(row['fees_to_liquidators'] - honest['fees_to_liquidators'])} "
                f"| {money(row['bad_debt'] - honest['bad_debt'])} |"
            )
    return lines


def main() -> None:
    block = "\n".join([BEGIN, *table(), "", *manipulation_table(), END])
    text = DOC.read_text()
    text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text, flags=re.DOTALL)
    DOC.write_text(text)
    print(block)


if __name__ == "__main__":
    main()
