"""Write the isolated-against-cross table of docs/cross-margin.md.

    python docs/make_cross_margin_doc.py [--fhs] [--paths N] [--write]

Runs scenarios/cross_btc_eth.toml (synthetic BTC/ETH accounts on a joint block
bootstrap of the real hourly BTC and ETH history) with every account isolated,
then cross with the same collateral, then cross with the collateral scaled
down, all on the same paths, and prints the table (``--write`` replaces the
text between ``<!-- cross:begin -->`` and ``<!-- cross:end -->`` in
docs/cross-margin.md). ``--fhs`` does the same on scenarios/cross_fhs_btc_eth.toml
(multi-asset filtered historical simulation, docs/model.md 11.1.1) between
``<!-- cross-fhs:begin -->`` and ``<!-- cross-fhs:end -->``.
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
FHS_SCENARIO = REPO / "scenarios" / "cross_fhs_btc_eth.toml"
FHS_BEGIN = "<!-- cross-fhs:begin -->"
FHS_END = "<!-- cross-fhs:end -->"
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
    parser.add_argument("--fhs", action="store_true", help="the fhs_multi scenario")
    options = parser.parse_args()
    scenario = load_scenario(FHS_SCENARIO if options.fhs else SCENARIO)
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
    if options.fhs:
        command = command.replace(".py", ".py --fhs")
        fits = source.provenance()["fits"]
        sigma = ", ".join(
            f"{name} {fit['start_sigma_percent']:.2f} %" for name, fit in fits.items()
        )
        persistence = ", ".join(f"{name} {fit['persistence']:.4f}" for name, fit in fits.items())
        how = (
            f"filtered historical simulation ({paths.model.upper()} per asset, start "
            f"volatility {sigma} per hour, persistence {persistence}; whole rows of the joint "
            "standardized residuals, correlation "
            f"{np.corrcoef(source.residuals.T)[0, 1]:.3f}) fitted on the BTC and ETH hourly "
            f"returns from {first} to {last} ({source.residuals.shape[0]:,} joint hours)"
        )
    else:
        how = (
            f"joint block bootstrap (mean block {paths.mean_block:g} h) of the BTC and ETH "
            f"hourly returns from {first} to {last} ({source.returns.shape[0]:,} joint hours)"
        )
    text = "\n".join(
        [
            f"`{command} --write`: {source.n_paths:,} paths of {source.n_steps} hours, {how}; "
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
        begin, end = (FHS_BEGIN, FHS_END) if options.fhs else (BEGIN, END)
        block = f"{begin}\n{text}\n{end}"
        content = re.sub(
            re.escape(begin) + ".*?" + re.escape(end), lambda _: block, content, flags=re.S
        )
        DOC.write_text(content)


if __name__ == "__main__":
    main()
