"""Compare: variants equal separate runs; paired intervals, matching and fund_required."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from stresstest.comparison.engine import DIFFERENCE_STATISTICS, columns_of, compare, cost_of
from stresstest.comparison.matching import amount
from stresstest.comparison.paired import expected_shortfall_99, mean, paired_differences
from stresstest.engine.run import run
from stresstest.errors import InputError
from stresstest.jobs import compare_to_dir, run_to_dir
from stresstest.scenario import load_scenario
from stresstest.scenario.compare import parse_compare

BASE = """
[scenario]
name = "cmp"
seed = 5

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 60
n_steps = 120

[book]
source = "synthetic"
n_positions = 4000
leverage_max = 30.0

[margin]
model = "static"
maintenance = 0.01

[liquidation]
latency_steps = 2
slippage = 0.002
fee = 0.01

[insurance_fund]
initial = 20000.0
"""

VOL_TABLE = (
    '{ model = "vol_scaled", k = 1.0, horizon_steps = 4, ewma_lambda = 0.94, '
    "initial_variance = 1e-4, floor = 0.004, cap = 0.2 }"
)

COMPARE = f"""
[compare]
baseline = "static_0.01"
bootstrap_samples = 200

[[compare.variants]]
name = "vol_k1"
margin = {VOL_TABLE}

[[compare.variants]]
name = "slow"
"liquidation.latency_steps" = 6

[[compare.sweep]]
parameter = "margin.maintenance"
values = [0.01, 0.03]
name = "static_{{value}}"
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "compare.toml"
    path.write_text(BASE + COMPARE)
    return path


def test_variant_folder_equals_a_separate_run(scenario_file: Path, tmp_path: Path) -> None:
    comparison, target = compare_to_dir(scenario_file, tmp_path / "out")
    assert comparison.names == ("vol_k1", "slow", "static_0.01", "static_0.03")
    for name, overrides in [
        (
            "vol_k1",
            {"margin": load_scenario(scenario_file).raw["compare"]["variants"][0]["margin"]},
        ),
        ("slow", {"liquidation.latency_steps": 6}),
        ("static_0.03", {"margin.maintenance": 0.03}),
    ]:
        separate_file = tmp_path / f"{name}.toml"
        base = load_scenario(scenario_file).with_overrides(overrides)
        import tomli_w

        raw = {key: value for key, value in base.raw.items() if key != "compare"}
        separate_file.write_text(tomli_w.dumps(raw))
        _, separate_dir = run_to_dir(separate_file, tmp_path / f"run_{name}")
        variant_dir = target / "variants" / name
        assert (variant_dir / "paths.parquet").read_bytes() == (
            separate_dir / "paths.parquet"
        ).read_bytes(), name
        # the same record, but for the scenario file a top-level folder names (model.md 8)
        separate = tomllib.loads((separate_dir / "scenario.resolved.toml").read_text())
        assert separate["provenance"].pop("scenario_file") == str(separate_file.resolve())
        variant = tomllib.loads((variant_dir / "scenario.resolved.toml").read_text())
        assert variant == separate, name
    table = pl.read_parquet(target / "compare.parquet")
    assert table["variant"].to_list() == list(comparison.names)
    differences = pl.read_parquet(target / "differences.parquet")
    baseline_rows = differences.filter(pl.col("variant") == "static_0.01")
    assert (baseline_rows["difference"] == 0.0).all()


def test_an_earlier_comparison_folder_is_replaced_whole(
    scenario_file: Path, tmp_path: Path
) -> None:
    """Rerunning a comparison into its own folder replaces it (it is a stresstest result)."""
    _, target = compare_to_dir(scenario_file, tmp_path / "out")
    (target / "variants" / "stale").mkdir()
    first = (target / "compare.parquet").read_bytes()
    _, again = compare_to_dir(scenario_file, tmp_path / "out")
    assert again == target
    assert (target / "compare.parquet").read_bytes() == first
    assert not (target / "variants" / "stale").exists()


def test_higher_maintenance_lowers_bad_debt_with_an_interval_excluding_zero(
    scenario_file: Path,
) -> None:
    comparison = compare(load_scenario(scenario_file))
    difference = comparison.differences["static_0.03"]["bad_debt_mean"]
    assert difference.high < 0.0 < -difference.low  # strictly lower, interval excludes 0
    assert difference.low <= difference.estimate <= difference.high
    cost = comparison.differences["static_0.03"]["requirement_mean"]
    assert cost.low > 0.0  # and it costs traders more margin


def _plain_paired(
    variant: dict[str, np.ndarray],
    baseline: dict[str, np.ndarray],
    samples: int,
    confidence: float,
    seed: int,
) -> dict[str, tuple[float, float, float]]:
    """The paired bootstrap as docs/compare.md states it, one pair at a time, plainly."""
    generator = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(2,)))
    n = baseline["bad_debt"].shape[0]
    draws = {name: [] for name in DIFFERENCE_STATISTICS}
    for _ in range(samples):
        indices = generator.integers(0, n, n)
        for name, (column, function) in DIFFERENCE_STATISTICS.items():
            draws[name].append(
                function(variant[column][indices]) - function(baseline[column][indices])
            )
    tail = 0.5 * (1.0 - confidence)
    found = {}
    for name, (column, function) in DIFFERENCE_STATISTICS.items():
        low, high = np.quantile(np.asarray(draws[name]), [tail, 1.0 - tail])
        found[name] = (function(variant[column]) - function(baseline[column]), low, high)
    return found


def test_differences_equal_a_plain_pairwise_bootstrap(scenario_file: Path) -> None:
    """compare resamples every design once and pairs the resampled values; each
    difference is the one a plain bootstrap of that pair alone gives, exactly."""
    comparison = compare(load_scenario(scenario_file))
    spec = comparison.spec
    baseline = columns_of(comparison.result(spec.baseline))
    for name in comparison.names:
        plain = _plain_paired(
            columns_of(comparison.result(name)),
            baseline,
            spec.bootstrap_samples,
            spec.confidence,
            comparison.scenario.seed,
        )
        for statistic, (estimate, low, high) in plain.items():
            found = comparison.differences[name][statistic]
            assert (found.estimate, found.low, found.high) == (estimate, low, high), statistic
    # Not vacuous: the designs differ, with intervals of some width.
    assert comparison.differences["static_0.03"]["bad_debt_mean"].low < 0.0


def test_paired_bootstrap_is_deterministic_and_can_fail() -> None:
    generator = np.random.default_rng(0)
    baseline = {"x": generator.normal(size=500)}
    same = paired_differences(
        baseline, baseline, {"m": ("x", mean)}, samples=100, confidence=0.9, seed=1
    )
    assert (same["m"].estimate, same["m"].low, same["m"].high) == (0.0, 0.0, 0.0)
    shifted = {"x": baseline["x"] + 0.5}
    first = paired_differences(
        shifted,
        baseline,
        {"m": ("x", mean), "es": ("x", expected_shortfall_99)},
        samples=100,
        confidence=0.9,
        seed=1,
    )
    again = paired_differences(
        shifted,
        baseline,
        {"m": ("x", mean), "es": ("x", expected_shortfall_99)},
        samples=100,
        confidence=0.9,
        seed=1,
    )
    assert first == again
    assert first["m"].low == pytest.approx(0.5, abs=1e-12)  # a pure shift: every resample agrees
    noise = generator.normal(size=500)
    noisy = {"x": baseline["x"] + noise}
    interval = paired_differences(
        noisy, baseline, {"m": ("x", mean)}, samples=2000, confidence=0.9, seed=1
    )["m"]
    # The percentile interval of a mean difference is close to the normal one,
    # estimate +- 1.645 std(d) / sqrt(n), with d the paired differences.
    assert interval.estimate == pytest.approx(float(np.mean(noise)), rel=1e-12)
    normal_half_width = 1.645 * float(np.std(noise, ddof=1)) / np.sqrt(500)
    assert (interval.high - interval.low) / 2 == pytest.approx(normal_half_width, rel=0.15)


def test_match_cost_finds_a_static_rate_of_equal_average_requirement(scenario_file: Path) -> None:
    comparison = compare(load_scenario(scenario_file), match="cost")
    (found,) = comparison.matches
    assert found.variant == "vol_k1" and found.static_variant == "vol_k1@static-cost"
    matched = comparison.result("vol_k1@static-cost")
    target = cost_of(comparison.result("vol_k1"))
    assert abs(cost_of(matched) / target - 1.0) < 1e-3
    assert "at equal cost" in found.verdict


def test_fund_required_against_brute_force(scenario_file: Path) -> None:
    base = load_scenario(scenario_file).with_overrides({"insurance_fund.initial": 0.0})
    result = run(base)
    required = result.column("fund_required")
    path = int(np.argmax(required))
    assert required[path] > 0.0
    below = run(base.with_overrides({"insurance_fund.initial": required[path] * (1 - 1e-9)}))
    above = run(base.with_overrides({"insurance_fund.initial": required[path] * (1 + 1e-9)}))
    assert below.column("socialized_loss")[path] > 0.0
    assert above.column("socialized_loss")[path] == 0.0
    assert np.all((above.column("socialized_loss") > 0) == (required > required[path] * (1 + 1e-9)))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('[[compare.variants]]\nname = "x"\n"paths.sigma" = 0.02\n', "share the paths"),
        (
            '[[compare.variants]]\nname = "x"\n[[compare.variants]]\nname = "x"\n',
            "duplicate variant",
        ),
        ('[compare]\nbaseline = "nope"\n[[compare.variants]]\nname = "x"\n', "unknown baseline"),
        ('[compare]\ncolour = 1\n[[compare.variants]]\nname = "x"\n', "unknown key"),
        ('[[compare.sweep]]\nparameter = "margin.maintenance"\nvalues = []\n', "empty values"),
        ('[[compare.variants]]\nname = "x"\n"margin.maintenance" = 2.0\n', "out of range"),
    ],
)
def test_bad_compare_tables(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(BASE + text)
    with pytest.raises(InputError, match=fragment) as caught:
        parse_compare(load_scenario(path))
    assert str(path) in str(caught.value)


def test_backtest_of_every_variant(tmp_path: Path) -> None:
    repo = Path(__file__).resolve().parents[1]
    path = tmp_path / "with_backtest.toml"
    data = repo / "data" / "btc_usdt_spot_1h.parquet"
    text = COMPARE.replace(
        "bootstrap_samples = 200\n",
        f'bootstrap_samples = 200\nbacktest_data = "{data}"\nbacktest_horizon_steps = 2\n',
    )
    path.write_text(BASE + text)
    _, target = compare_to_dir(path, tmp_path / "out")
    table = pl.read_parquet(target / "compare.parquet")
    rates = dict(zip(table["variant"], table["backtest_exception_rate"], strict=True))
    assert rates["static_0.03"] < rates["static_0.01"]  # a wider margin is exceeded less often
    assert (target / "backtest.json").exists()
    assert (target / "variants" / "vol_k1" / "backtest.json").exists()


def test_match_risk_finds_a_static_rate_of_equal_tail_bad_debt(scenario_file: Path) -> None:
    comparison = compare(load_scenario(scenario_file), match="risk")
    (found,) = comparison.matches
    assert found.matched_on == "risk"
    assert found.static_variant is not None, found.verdict
    matched = comparison.result(found.static_variant)
    target = expected_shortfall_99(comparison.result("vol_k1").column("bad_debt"))
    achieved = expected_shortfall_99(matched.column("bad_debt"))
    # ES99 is a step function of the rate on a finite sample: Brent lands on the step
    # that crosses the target, so allow the size of one position's bad debt.
    assert abs(achieved - target) <= 0.02 * target
    assert "at equal risk" in found.verdict


#: A book of 2-50x leverage and a volatility-scaled design that holds a lot of margin:
#: the average requirement of a static rate rises with the rate, then falls once the
#: rate liquidates most of the book at once (at 0.5, every position of 2x and more).
#: The volatility-scaled design's cost lies above the cost of both ends of the search
#: interval, so only a scan finds the two static rates of equal cost.
NON_MONOTONE = (
    BASE.replace("leverage_max = 30.0", "leverage_min = 2.0\nleverage_max = 50.0")
    + """
[compare]
baseline = "static"
bootstrap_samples = 200

[[compare.variants]]
name = "static"

[[compare.variants]]
name = "vol_k2"
margin = { model = "vol_scaled", k = 2.0, horizon_steps = 4, ewma_lambda = 0.94, \
initial_variance = 1e-4, floor = 0.004, cap = 0.2 }
"""
)


def test_match_cost_finds_every_static_rate_of_equal_cost_when_cost_is_not_monotone(
    tmp_path: Path,
) -> None:
    path = tmp_path / "non_monotone.toml"
    path.write_text(NON_MONOTONE)
    scenario = load_scenario(path)
    static = scenario.with_overrides({"margin.maintenance": 0.5})
    vol = compare(scenario).result("vol_k2")
    target = cost_of(vol)
    assert cost_of(run(static)) < target  # the premise: both ends of [1e-4, 0.5] cost less
    assert cost_of(run(scenario.with_overrides({"margin.maintenance": 1e-4}))) < target
    comparison = compare(scenario, match="cost")
    (found,) = comparison.matches
    assert found.static_variant == "vol_k2@static-cost", found.verdict
    rates = found.matching_rates
    assert len(rates) == 2 and rates[0] < rates[1]  # one on each side of the peak
    assert found.static_maintenance == rates[0]  # the documented rule: the lowest
    assert abs(cost_of(comparison.result(found.static_variant)) / target - 1.0) < 1e-3
    upper = run(scenario.with_overrides({"margin.maintenance": rates[1]}))
    assert abs(cost_of(upper) / target - 1.0) < 1e-3  # the other one matches too
    assert f"{rates[1]:.6g}" in found.verdict  # and the verdict names it


def test_no_match_says_what_was_tried(tmp_path: Path) -> None:
    """A design that holds no margin (floor = cap = 0) costs nothing, less than any
    static rate of [1e-4, 0.5]: the verdict gives the interval, grid and range met."""
    path = tmp_path / "no_match.toml"
    path.write_text(NON_MONOTONE.replace("floor = 0.004, cap = 0.2", "floor = 0.0, cap = 0.0"))
    comparison = compare(load_scenario(path), match="cost")
    (found,) = comparison.matches
    assert found.static_variant is None and found.matching_rates == ()
    assert comparison.names == ("static", "vol_k2")
    assert len(found.scan_rates) == len(found.scan_values) == 17
    assert found.target < min(found.scan_values)
    low = min(found.scan_values)
    assert f"from {amount(low)} (rate " in found.verdict
    assert "no static rate in [0.0001, 0.5] has the same cost" in found.verdict
    assert (
        "17 log-spaced rates scanned" in found.verdict and "all above the target" in found.verdict
    )
