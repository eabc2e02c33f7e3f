"""Plausibility warnings (docs/plausibility.md): the issue's three mistakes, each check's
threshold from both sides, --strict, the result files, and the shipped scenarios."""

from __future__ import annotations

import importlib
import json
import math
import warnings
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from stresstest.book import Book
from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.jobs import validate_file
from stresstest.scenario import Scenario, load_scenario
from stresstest.scenario import plausibility as plaus
from stresstest.scenario.plausibility import Finding, PlausibilityWarning

REPO = Path(__file__).resolve().parents[1]
GBM = REPO / "scenarios" / "gbm_btc.toml"
GARCH = REPO / "scenarios" / "garch_btc.toml"
#: A small GBM book: every leverage from 1 to 50 log-uniform, entries at s0 exactly,
#: so a position breaches at step 0 iff 1/L < m (docs/model.md 2 and 4).
SMALL = (
    "book.n_positions=20000",
    "book.entry_dispersion=0.0",
    "paths.n_paths=4",
    "paths.n_steps=10",
)
#: Binomial standard errors allowed between a share of the sampled book and its closed form.
SHARE_SIGMAS = 5.0
#: The GARCH sigma0 of scenarios/garch_btc.toml, percent per step.
GARCH_SIGMA0 = 0.5852462532357069


def checked(path: Path, *sets: str) -> list[dict[str, Any]]:
    """``validate_file``'s warnings, each also issued once as a PlausibilityWarning."""
    with pytest.warns(PlausibilityWarning) as caught:
        found = validate_file(path, (*SMALL[:2], *sets))["warnings"]
    assert [str(item.message) for item in caught] == [record["message"] for record in found]
    return found


def breach_share_closed_form(maintenance: float, leverage_max: float = 50.0) -> float:
    """P(1/L < m) for L log-uniform on [1, leverage_max]: ln(leverage_max m) / ln(leverage_max)."""
    return min(1.0, max(0.0, math.log(leverage_max * maintenance) / math.log(leverage_max)))


def test_maintenance_written_in_percent_names_the_share_that_breaches_at_step_0() -> None:
    (record,) = checked(GBM, "margin.maintenance=0.5")
    expected = breach_share_closed_form(0.5)  # 0.823
    assert (record["code"], record["key"], record["value"]) == (
        "breach_at_step0",
        "margin.maintenance",
        0.5,
    )
    assert f"{expected:.0%} of positions" in record["implication"]
    assert "0.5% = 0.005" in record["suggestion"]


def test_fund_written_in_millions_names_its_fraction_of_open_notional() -> None:
    scenario = load_scenario(GBM, sets=SMALL[:2])
    from stresstest.engine.run import build_book

    notional = build_book(scenario, 30000.0).entry_notional  # entries at s0: q P_0 = q e
    (record,) = checked(GBM, "insurance_fund.initial=50")
    assert (record["code"], record["key"]) == ("fund_tiny", "insurance_fund.initial")
    assert f"{50 / notional:.2g} of the open notional" in record["implication"]
    assert "50 in millions: 5e+07 quote" in record["suggestion"]


def test_initial_variance_in_percent_squared_beside_sigma0_in_percent() -> None:
    margin = (
        'margin={model="vol_scaled", k=3.0, horizon_steps=2, ewma_lambda=0.94, '
        "initial_variance=0.65, floor=0.004, cap=0.1}"
    )
    (record,) = checked(GARCH, margin)
    ratio = math.sqrt(0.65) / (GARCH_SIGMA0 / 100.0)  # 137.8
    assert (record["code"], record["key"]) == ("variance_scale", "margin.initial_variance")
    assert f"{ratio:.3g}x the paths' own volatility" in record["implication"]
    assert "percent squared: 6.5e-05" in record["suggestion"]
    meant = margin.replace("0.65", f"{0.65e-4!r}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        assert validate_file(GARCH, (*SMALL[:2], meant))["warnings"] == []


# ----------------------------------------------------------------------------- thresholds
def tiny_book(leverage: np.ndarray, entry: float = 100.0) -> Book:
    """Long positions of notional 1000 at ``entry``, collateral 1000 / leverage."""
    n = leverage.shape[0]
    qty = np.full(n, 1000.0 / entry)
    return Book(
        side=np.ones(n, dtype=np.int8),
        qty=qty,
        entry_price=np.full(n, entry),
        collateral=1000.0 / leverage,
    )


SOURCE = SimpleNamespace(start_price=lambda: 100.0)


def gbm(**overrides: Any) -> Scenario:
    return load_scenario(GBM).with_overrides(overrides)


def codes(findings: list[Finding]) -> list[str]:
    return [finding.code for finding in findings]


@pytest.mark.parametrize(("breached", "fires"), [(25, False), (26, True)])
def test_breach_share_threshold(breached: int, fires: bool) -> None:
    # 100 positions: `breached` with leverage 400 (1/L = 0.0025 < m = 0.005), the rest 10
    leverage = np.where(np.arange(100) < breached, 400.0, 10.0)
    found = plaus.pre_run_findings(gbm(), tiny_book(leverage), SOURCE)
    assert codes(found) == (["breach_at_step0"] if fires else [])
    if fires:
        assert found[0].implication.startswith("26% of positions (26% of open notional)")


def test_breach_of_a_book_far_from_the_step_0_price_names_the_book() -> None:
    # leverage 10, entry 200 for longs marked at 100: equity 100 - 500 < 0
    found = plaus.pre_run_findings(gbm(), tiny_book(np.full(10, 10.0), entry=200.0), SOURCE)
    assert [(f.code, f.key) for f in found] == [("breach_at_step0", "book")]


@pytest.mark.parametrize(("factor", "fires"), [(1.01, False), (0.99, True)])
def test_fund_threshold(factor: float, fires: bool) -> None:
    book = tiny_book(np.full(10, 10.0))  # open notional 10 x 1000 at P_0 = entry
    fund = factor * plaus.FUND_MIN_FRACTION * 10_000.0
    found = plaus.pre_run_findings(gbm(**{"insurance_fund.initial": fund}), book, SOURCE)
    assert codes(found) == (["fund_tiny"] if fires else [])


@pytest.mark.parametrize(("ratio", "fires"), [(2.9, False), (3.1, True), (1 / 3.1, True)])
def test_variance_threshold(ratio: float, fires: bool) -> None:
    sigma = 0.006  # gbm_btc's sigma per step
    margin = {
        "model": "vol_scaled",
        "k": 1.0,
        "horizon_steps": 1,
        "ewma_lambda": 0.94,
        "initial_variance": (ratio * sigma) ** 2,
        "floor": 0.004,
        "cap": 0.1,
    }
    found = plaus.pre_run_findings(gbm(margin=margin), None, SOURCE)
    assert codes(found) == (["variance_scale"] if fires else [])


@pytest.mark.parametrize(("slippage", "fires"), [(0.1, False), (0.11, True)])
def test_percent_threshold(slippage: float, fires: bool) -> None:
    found = plaus.pre_run_findings(gbm(**{"liquidation.slippage": slippage}), None, SOURCE)
    assert [(f.code, f.key) for f in found] == (
        [("rate_in_percent", "liquidation.slippage")] if fires else []
    )


@pytest.mark.parametrize(("factor", "fires"), [(5.0, False), (5.2, True)])
def test_fee_threshold(factor: float, fires: bool) -> None:
    scenario = gbm(**{"margin.maintenance": 0.01, "liquidation.fee": factor * 0.01})
    found = plaus.pre_run_findings(scenario, None, SOURCE)
    assert codes(found) == (["fee_above_maintenance"] if fires else [])


def post(fund: float, columns: dict[str, np.ndarray], n_positions: int = 100) -> list[str]:
    return codes(
        plaus.post_run_findings(gbm(**{"insurance_fund.initial": fund}), columns, n_positions)
    )


def test_fund_depleted_on_every_path_threshold() -> None:
    bad_debt = np.array([1.0e6, 2.0e6, 3.0e6])  # median 2e6
    columns = {
        "bad_debt": bad_debt,
        "socialized_loss": np.ones(3),
        "n_liquidations": np.zeros(3),
    }
    assert post(0.99 * plaus.FUND_DEPLETED_FRACTION * 2.0e6, columns) == ["fund_always_depleted"]
    assert post(1.01 * plaus.FUND_DEPLETED_FRACTION * 2.0e6, columns) == []
    one_path_spared = {**columns, "socialized_loss": np.array([1.0, 0.0, 1.0])}
    assert post(1.0, one_path_spared) == []
    assert post(0.0, columns) == []  # no fund: a stated choice


def test_liquidated_on_every_path_threshold() -> None:
    columns = {"bad_debt": np.zeros(2), "socialized_loss": np.zeros(2)}
    assert post(1e9, {**columns, "n_liquidations": np.array([90.0, 95.0])}) == [
        "liquidated_every_path"
    ]
    assert post(1e9, {**columns, "n_liquidations": np.array([89.0, 100.0])}) == []


def test_one_finding_per_key_and_post_run_skips_a_key_already_named() -> None:
    earlier = [Finding("fund_tiny", "insurance_fund.initial", 1.0, "x", "y")]
    columns = {
        "bad_debt": np.full(3, 1e6),
        "socialized_loss": np.ones(3),
        "n_liquidations": np.zeros(3),
    }
    scenario = gbm(**{"insurance_fund.initial": 1.0})
    assert plaus.post_run_findings(scenario, columns, 100, earlier) == []


# ----------------------------------------------------------------------------- CLI and files
def small_run(tmp_path: Path, *extra: str) -> list[str]:
    sets = [text for value in (*SMALL, *extra) for text in ("--set", value)]
    return ["run", str(GBM), "--out", str(tmp_path / "out"), "--quiet", *sets]


def test_strict_exits_2_before_the_run_and_writes_nothing(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*small_run(tmp_path, "margin.maintenance=0.5"), "--strict"])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert result.stderr.count("warning: margin.maintenance = 0.5:") == 1
    assert "key '--strict': 1 plausibility warning (before the run" in result.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == []  # no folder, no checkpoint


def test_validate_strict_exits_2(tmp_path: Path) -> None:
    args = ["validate", str(GBM), "--set", "insurance_fund.initial=50", "--strict"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("warning: insurance_fund.initial = 50:") == 1


def test_summary_json_records_the_warnings(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, small_run(tmp_path, "margin.maintenance=0.5"))
    assert result.exit_code == 0, result.output
    assert result.stderr.count("warning: margin.maintenance = 0.5:") == 1
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [(w["code"], w["key"], w["stage"]) for w in summary["warnings"]] == [
        ("breach_at_step0", "margin.maintenance", "pre-run")
    ]


def test_the_python_api_issues_and_keeps_them() -> None:
    import stresstest

    scenario = load_scenario(GBM, sets=(*SMALL, "margin.maintenance=0.5"))
    with pytest.warns(PlausibilityWarning, match=r"margin\.maintenance = 0\.5: 8\d% of positions"):
        result = stresstest.run(scenario)
    assert codes(list(result.warnings)) == ["breach_at_step0"]
    assert result.summary()["warnings"][0]["code"] == "breach_at_step0"
    with pytest.warns(PlausibilityWarning), pytest.raises(InputError, match="--strict"):
        stresstest.run(scenario, strict=True)


SHIPPED = sorted((REPO / "scenarios").glob("*.toml")) + sorted(
    (REPO / "scenarios" / "lending").glob("*.toml")
)


@pytest.mark.slow
@pytest.mark.parametrize("path", SHIPPED, ids=[path.stem for path in SHIPPED])
def test_no_shipped_scenario_draws_a_warning(path: Path) -> None:
    """Every shipped scenario, and each of its compare variants, as `stresstest validate`."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", PlausibilityWarning)
        assert validate_file(path)["warnings"] == []


COMPARE_TOML = """
[scenario]
name = "plausible compare"
seed = 5

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 6
n_steps = 10

[book]
source = "synthetic"
n_positions = 2000
leverage_max = 50.0

[margin]
model = "static"
maintenance = 0.005

[liquidation]
fee = 0.01

[insurance_fund]
initial = 1000000.0

[compare]
baseline = "plain"

[[compare.variants]]
name = "plain"

[[compare.variants]]
name = "percent"
margin = { model = "static", maintenance = 0.5 }
"""


def test_compare_names_the_variant_and_strict_refuses_it(tmp_path: Path) -> None:
    scenario = tmp_path / "compare.toml"
    scenario.write_text(COMPARE_TOML)
    out = tmp_path / "out"
    argv = ["compare", str(scenario), "--out", str(out), "--quiet"]
    refused = CliRunner().invoke(app, [*argv, "--strict"])
    assert refused.exit_code == 2, refused.output
    assert refused.stderr.count("warning: variant percent: margin.maintenance = 0.5:") == 1
    assert not out.exists()
    written = CliRunner().invoke(app, argv)
    assert written.exit_code == 0, written.output
    document = json.loads((out / "compare.json").read_text())
    assert [(w["variant"], w["code"]) for w in document["warnings"]] == [
        ("percent", "breach_at_step0")
    ]
    variant = json.loads((out / "variants" / "percent" / "summary.json").read_text())
    assert [w["variant"] for w in variant["warnings"]] == ["percent"]
    plain = json.loads((out / "variants" / "plain" / "summary.json").read_text())
    assert plain["warnings"] == []


def test_strict_after_the_run_writes_no_folder_and_keeps_the_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A post-run finding under --strict: exit 2, no result folder; --resume without
    --strict then writes the result from the checkpoint, recording the finding."""
    engine_run = importlib.import_module("stresstest.engine.run")  # the package exports run()

    def found_after(scenario: Scenario, *args: Any, **kwargs: Any) -> list[Finding]:
        rate = scenario.margin.maintenance  # type: ignore[union-attr]
        return [Finding("liquidated_every_path", "margin.maintenance", rate, "x", "y", "post-run")]

    monkeypatch.setattr(engine_run, "post_run_findings", found_after)
    argv = small_run(tmp_path)
    refused = CliRunner().invoke(app, [*argv, "--strict"])
    assert refused.exit_code == 2, refused.output
    assert "1 plausibility warning (after the run" in refused.stderr
    assert not (tmp_path / "out").exists()
    assert (tmp_path / ".out.checkpoint").is_dir()
    resumed = CliRunner().invoke(app, [*argv, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert [w["stage"] for w in summary["warnings"]] == ["post-run"]
    assert not (tmp_path / ".out.checkpoint").exists()


@pytest.mark.parametrize(("latency", "fires"), [(9, False), (10, True)])
def test_latency_threshold(latency: int, fires: bool) -> None:
    source = SimpleNamespace(start_price=lambda: 100.0, n_steps=10)
    found = plaus.pre_run_findings(gbm(**{"liquidation.latency_steps": latency}), None, source)
    assert codes(found) == (["latency_beyond_path"] if fires else [])


@pytest.mark.parametrize(("factor", "fires"), [(9.9, False), (10.1, True), (1 / 10.1, True)])
def test_sigma0_threshold(factor: float, fires: bool) -> None:
    from stresstest.paths import path_source
    from stresstest.paths.fit import unconditional_state

    stationary = load_scenario(GARCH, sets=("paths.params.beta=0.85",))
    source: Any = path_source(stationary)
    state = unconditional_state("gjr", source.params, source.kappa, source.e_abs)
    assert state is not None
    scenario = stationary.with_overrides({"paths.sigma0": factor * math.sqrt(state)})
    found = plaus.pre_run_findings(scenario, None, path_source(scenario))
    assert codes(found) == (["sigma0_scale"] if fires else [])


def test_sigma0_written_as_a_fraction_is_named_and_no_variance_warning_follows() -> None:
    from stresstest.paths import path_source

    margin = {
        "model": "vol_scaled",
        "k": 3.0,
        "horizon_steps": 2,
        "ewma_lambda": 0.94,
        "initial_variance": 3.4e-5,
        "floor": 0.004,
        "cap": 0.1,
    }
    scenario = load_scenario(GARCH, sets=("paths.params.beta=0.85",)).with_overrides(
        {"paths.sigma0": 0.00585, "margin": margin}
    )
    (finding,) = plaus.pre_run_findings(scenario, None, path_source(scenario))
    assert (finding.code, finding.key) == ("sigma0_scale", "paths.sigma0")
    assert "sigma0 is in percent, 0.585" in finding.suggestion


def test_every_check_is_in_the_schemas_and_the_docs() -> None:
    from stresstest.schemas import load_schema

    for name in ("summary.schema.json", "compare.schema.json"):
        record = load_schema(name)["$defs"]["plausibility_warning"]
        assert tuple(record["properties"]["code"]["enum"]) == plaus.CODES
    text = (REPO / "docs" / "plausibility.md").read_text()
    perps, lending = text.split("### Lending")

    def codes_of(table: str) -> tuple[str, ...]:
        lines = table.splitlines()
        return tuple(line.split("|")[1].strip(" `") for line in lines if line.startswith("| `"))

    assert codes_of(perps) == plaus.CODES
    assert set(codes_of(lending)) == {"breach_at_step0", "fund_tiny"}  # the loan-book checks


# ----------------------------------------------------------------------------- lending
def lending_file(tmp_path: Path, debt_scale: float = 1.0, reserve: float = 1000.0) -> Path:
    """tests/test_lending.py's two-loan market with its debts times ``debt_scale``.

    At step 0 (ETH 2,000, BTC 60,000; LT 0.83, 0.78) the health factors are
    16,600 / 15,000 = 1.107 and 8,000 / 3,000 = 2.667; the debt is 18,000 quote.
    """
    import tomli_w

    from tests.test_lending import lending_scenario

    raw = lending_scenario(tmp_path)
    rows = (tmp_path / "loans.csv").read_text(encoding="utf-8").splitlines()
    scaled = [rows[0]]
    for row in rows[1:]:
        *head, debt = row.split(",")
        scaled.append(",".join([*head, f"{float(debt) * debt_scale:g}"]))
    (tmp_path / "loans.csv").write_text("\n".join(scaled) + "\n", encoding="utf-8")
    raw["insurance_fund"] = {"initial": reserve}
    file = tmp_path / "lend.toml"
    file.write_text(tomli_w.dumps(raw), encoding="utf-8")
    return file


def test_loan_debts_written_in_cents_name_the_book(tmp_path: Path) -> None:
    """Debts 100 times too large: both loans under HF 1 at step 0 (1.107 / 100, 2.667 / 100)."""
    with pytest.warns(PlausibilityWarning) as caught:
        (record,) = validate_file(lending_file(tmp_path, debt_scale=100.0))["warnings"]
    assert len(caught) == 1
    assert (record["code"], record["key"], record["value"]) == ("breach_at_step0", "book", 1.0)
    assert "100% of loans (100% of the debt)" in record["implication"]
    assert "median 0.0189" in record["implication"]  # (1.107 + 2.667) / 2 / 100


@pytest.mark.parametrize(("scale", "fires"), [(1.0, False), (1.1, False), (1.2, True)])
def test_loan_breach_share_threshold(tmp_path: Path, scale: float, fires: bool) -> None:
    """The first loan's HF is 1.107 / scale: above 1 at 1.1 (none of two under: no
    finding), 0.92 at 1.2 (one of two, 50% > 25%: the finding)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PlausibilityWarning)
        found = validate_file(lending_file(tmp_path, debt_scale=scale))["warnings"]
    assert [record["code"] for record in found] == (["breach_at_step0"] if fires else [])
    assert len(caught) == len(found)


def test_a_reserve_written_in_thousands_names_its_fraction_of_the_debt(tmp_path: Path) -> None:
    """A reserve of 1 against 18,000 of debt: 5.6e-5 < 1e-4; 1 in thousands would be 5.6%."""
    with pytest.warns(PlausibilityWarning):
        (record,) = validate_file(lending_file(tmp_path, reserve=1.0))["warnings"]
    assert (record["code"], record["key"]) == ("fund_tiny", "insurance_fund.initial")
    assert "the reserve is 5.6e-05 of the debt 1.8e+04 quote" in record["implication"]
    assert record["suggestion"].startswith("1 in thousands: 1e+03 quote (5.56% of the debt)")


def test_a_lending_run_under_strict_writes_nothing(tmp_path: Path) -> None:
    scenario = lending_file(tmp_path, debt_scale=100.0)
    out = tmp_path / "o"
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out), "--strict", "-q"])
    assert result.exit_code == 2, result.output
    assert "[breach_at_step0]" in result.stderr
    assert not out.exists()


def test_repeated_liquidations_of_loans_are_not_read_as_a_margin_mistake() -> None:
    """A loan book's n_liquidations counts close-factor liquidations, several per loan, and
    it has no margin rate: liquidated_every_path does not run (it would name a margin key)."""
    scenario = SimpleNamespace(
        insurance_fund=SimpleNamespace(initial=1e9),
        partial_liquidation=None,
        lending=object(),
        margin=gbm().margin,
    )
    columns = {
        "bad_debt": np.zeros(2),
        "socialized_loss": np.zeros(2),
        "n_liquidations": np.array([300.0, 400.0]),
    }
    assert plaus.post_run_findings(scenario, columns, 100) == []  # type: ignore[arg-type]
    perps = SimpleNamespace(**{**vars(scenario), "lending": None})
    assert codes(plaus.post_run_findings(perps, columns, 100)) == [  # type: ignore[arg-type]
        "liquidated_every_path"
    ]
