"""A worked example of the Python API: run a scenario, read its results, compare two designs.

Run it from the repository's top folder (a few seconds)::

    python docs/examples/worked_example.py

or read it like a notebook: each ``# %%`` starts a cell that VS Code, Spyder or
Jupytext runs on its own. Every number it prints is defined in docs/model.md.
"""

# %% 1. Load a shipped scenario.
# A scenario is a TOML file (docs/scenario-reference.md lists every key).
# load_scenario validates it: a bad key raises stresstest.InputError naming the
# file, the key, the value and what is valid.
from pathlib import Path

import polars as pl

import stresstest

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
scenario = stresstest.load_scenario(SCENARIOS / "default.toml")
print(f"loaded {scenario.name!r}: {scenario.info.description}")

# %% 2. Make it small enough to run in seconds.
# with_overrides takes dotted keys ("table.key") or whole tables and validates the result.
small = scenario.with_overrides({"paths.n_paths": 200, "book.n_positions": 100_000})

# %% 3. Run it. The result holds one row of metrics per path; nothing is written to disk
# (`stresstest run` would write the same numbers to paths.parquet and summary.json).
result = stresstest.run(small)

# %% 4. Read the results as polars.
paths: pl.DataFrame = result.paths  # the columns of paths.parquet, one row per path
print(paths.select("path", "n_liquidations", "bad_debt", "fund_min", "socialized_loss").head())
tail = paths.select(
    pl.col("bad_debt").mean().alias("bad_debt_mean"),
    pl.col("bad_debt").quantile(0.99, interpolation="linear").alias("bad_debt_q99"),
    (pl.col("socialized_loss") > 0).mean().alias("p_fund_depleted"),
)
print(tail)

summary = result.summary()  # the content of summary.json, with Monte-Carlo errors
bad_debt = summary["metrics"]["bad_debt"]
depleted = summary["probability_fund_depleted"]
print(
    f"bad debt per path: mean {bad_debt['mean']:,.0f} ± {bad_debt['mean_se']:,.0f} USDT, "
    f"ES99 {bad_debt['es99']:,.0f} USDT; "
    f"P(fund depleted) {depleted['p']:.3f} ± {depleted['se']:.3f}"
)

# %% 5. Compare a static and a volatility-scaled margin on the same paths.
# A [compare] table lists variants as overrides of the scenario. Here two designs;
# match="cost" adds, for the volatility-scaled one, the static rate with the same
# average margin requirement (docs/compare.md), so the two are compared at equal cost.
designs = small.with_overrides(
    {
        "compare": {
            "baseline": "static",
            "bootstrap_samples": 200,
            "variants": [
                {"name": "static", "margin.maintenance": 0.005},
                {
                    "name": "vol_scaled",
                    "margin": {
                        "model": "vol_scaled",
                        "k": 2.0,
                        "horizon_steps": 2,
                        "ewma_lambda": 0.94,
                        "initial_variance": 3.6e-5,
                        "floor": 0.004,
                        "cap": 0.05,
                    },
                },
            ],
        }
    }
)
comparison = stresstest.compare(designs, match="cost")

# %% 6. Read the comparison: one row per design (the columns of compare.parquet).
table = comparison.table.select(
    "variant", "bad_debt_mean", "bad_debt_es99", "requirement_mean", "margin_rate_mean"
)
print(table)
for found in comparison.matches:
    print(found.verdict)

# Paired differences against the baseline, with bootstrap intervals.
difference = comparison.differences["vol_scaled"]["bad_debt_es99"]
print(
    f"ES99 of bad debt, vol_scaled - static: {difference.estimate:,.0f} USDT "
    f"(interval {difference.low:,.0f} .. {difference.high:,.0f})"
)
