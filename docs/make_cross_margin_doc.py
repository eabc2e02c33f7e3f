"""Write the isolated-against-cross table of docs/cross-margin.md.

    python docs/make_cross_margin_doc.py [--paths N] [--write]

Runs scenarios/cross_btc_eth.toml (synthetic BTC/ETH accounts on a joint block
bootstrap of the real hourly BTC and ETH history) with every account isolated,
then cross with the same collateral, then cross with the collateral scaled
down, all on the same paths, and prints the table (``--write`` replaces the
text between ``<!-- cross:begin -->`` and ``<!-- cross:end -->`` in
docs/cross-margin.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from stresstest.engine.accounts import (  # noqa: E402
    execute_accounts,
    plan_for_mode,
    prepare_accounts,
)
from stresstest.estimators import describe  # noqa: E402
from stresstest.kernels import enums  # noqa: E402
from stresstest.scenario import load_scenario  # noqa: E402

SCENARIO = REPO / "scenarios" / "cross_btc_eth.toml"
DOC = REPO / "docs" / "cross-margin.md"
BEGIN = "<!-- cross:begin -->"
END = "<!-- cross:end -->"
#: (label, margin mode, collateral scale)
DESIGNS = [
    ("isolated", "isolated", 1.0),
    ("cross", "cross", 1.0),
    ("cross, 75 % of the collateral", "cross", 0.75),
    ("cross, 50 % of the collateral", "cross", 0.5),
]


def money(value: float) -> str:
    return f"{value / 1e6:,.2f}M"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--paths", type=int, default=None, help="override paths.n_paths")
    parser.add_argument("--write", action="store_true")
    options = parser.parse_args()
    scenario = load_scenario(SCENARIO)
    if options.paths is not None:
        scenario = scenario.with_overrides({"paths.n_paths": options.paths})
    source, book = prepare_accounts(scenario)
    grid = np.empty(0, dtype=np.int64)
    lines = [
        "| design | collateral posted | positions liquidated (mean) | bad debt mean | "
        "bad debt q99 | bad debt ES99 | fund needed q99 | P(fund depleted) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, mode, scale in DESIGNS:
        scaled = dataclasses.replace(book, collateral=book.collateral * scale)
        metrics, _ = execute_accounts(plan_for_mode(scenario, source, scaled, mode, grid))
        bad = describe(metrics[:, enums.BAD_DEBT])
        required = describe(metrics[:, enums.FUND_REQUIRED])
        depleted = float(np.mean(metrics[:, enums.SOCIALIZED_LOSS] > 0))
        lines.append(
            f"| {label} | {money(float(scaled.collateral.sum()))} | "
            f"{metrics[:, enums.N_LIQUIDATIONS].mean():,.0f} | {money(bad['mean'])} "
            f"(± {money(bad['mean_se'])}) | {money(bad['q99'])} | {money(bad['es99'])} | "
            f"{money(required['q99'])} | {depleted:.3f} |"
        )
        print(lines[-1], flush=True)
    paths = scenario.paths
    command = "python docs/make_cross_margin_doc.py" + (
        "" if options.paths is None else f" --paths {options.paths}"
    )
    first, last = source.timestamps[0], source.timestamps[-1]
    text = "\n".join(
        [
            f"`{command} --write`: {source.n_paths:,} paths of {source.n_steps} hours, joint "
            f"block bootstrap (mean block {paths.mean_block:g} h) of the BTC and ETH hourly "
            f"returns from {first} to {last} ({source.returns.shape[0]:,} joint hours); "
            f"{book.n_accounts:,} accounts, {len(book):,} positions, entry notional "
            f"{money(book.entry_notional)}; insurance fund "
            f"{money(scenario.insurance_fund.initial)}.",
            "",
            *lines,
        ]
    )
    print(text)
    if options.write:
        content = DOC.read_text()
        block = f"{BEGIN}\n{text}\n{END}"
        content = re.sub(
            re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, content, flags=re.S
        )
        DOC.write_text(content)


if __name__ == "__main__":
    main()
