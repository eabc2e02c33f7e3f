"""Scenario keys out of the range the engine computes exactly are refused at load time.

Issue 21: magnitudes that overflow or underflow inside a run (prices, amounts), integers
beyond 64 bits or far beyond any path, non-integers for integer keys, tables the
scenario's kind ignores, bracket tables reported with the wrong problem and non-ASCII
look-alike names. Each is refused by ``load_scenario`` (so by ``validate`` and ``run``
before anything is written) with an :class:`InputError` naming the key.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from rich.console import Console
from typer.testing import CliRunner

import stresstest.cli
from stresstest import limits
from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.scenario import load_scenario
from stresstest.scenario.json_schema import scenario_json_schema
from stresstest.scenario.templates import TEMPLATES, write_template
from tests.test_cli_errors import VOL_SCALED

REPO = Path(__file__).resolve().parents[1]
ANSI = re.compile(r"\x1b\[[0-9;]*m")

GBM: dict[str, Any] = {
    "scenario": {"name": "limits", "seed": 1},
    "paths": {"source": "gbm", "s0": 100.0, "sigma": 0.01, "n_paths": 2, "n_steps": 3},
    "book": {"source": "synthetic", "n_positions": 2},
    "margin": {"model": "static", "maintenance": 0.01},
}
GARCH_PARAMS = {"omega": 0.01, "alpha": 0.05, "beta": 0.9, "gamma": 0.05, "nu": 6.0}
ACCOUNTS: dict[str, Any] = {
    "scenario": {"name": "limits", "seed": 1},
    "paths": {
        "source": "gbm_multi",
        "assets": ["BTC", "ETH"],
        "s0": [60000.0, 3000.0],
        "sigma": [0.01, 0.02],
        "correlation": [[1.0, 0.5], [0.5, 1.0]],
        "n_paths": 2,
        "n_steps": 3,
    },
    "book": {"source": "accounts_synthetic", "n_accounts": 3},
    "margin": {"model": "static", "maintenance": 0.01},
}


def changed(base: dict[str, Any], table: str, **values: Any) -> dict[str, Any]:
    """``base`` with keys of one table set (``None`` removes a key)."""
    scenario = copy.deepcopy(base)
    target = scenario.setdefault(table, {})
    for key, value in values.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value
    return scenario


def vol_scaled(**changes: Any) -> dict[str, Any]:
    """The GBM scenario with a vol_scaled margin, some keys changed."""
    return {**copy.deepcopy(GBM), "margin": {**VOL_SCALED, **changes}}


def refused(scenario: dict[str, Any]) -> InputError:
    with pytest.raises(InputError) as caught:
        load_scenario(scenario)
    return caught.value


# ----------------------------------------------------------------------------- magnitudes
MAGNITUDES = [
    (changed(GBM, "paths", s0=1e308), "paths.s0"),
    (changed(GBM, "paths", s0=1e-300), "paths.s0"),
    (changed(GBM, "paths", s0=10**400), "paths.s0"),
    (changed(GBM, "insurance_fund", initial=1e308), "insurance_fund.initial"),
    (changed(GBM, "insurance_fund", initial=1e-300), "insurance_fund.initial"),
    (changed(GBM, "insurance_fund", initial=-1.0), "insurance_fund.initial"),
    (changed(GBM, "book", reference_price=1e-300), "book.reference_price"),
    (changed(GBM, "book", reference_price=1e300), "book.reference_price"),
    (changed(GBM, "book", notional_median=1e300), "book.notional_median"),
    (changed(GBM, "book", notional_median=1e-300), "book.notional_median"),
    (changed(GBM, "book", leverage_min=1e9, leverage_max=1e9), "book.leverage_min"),
    (changed(GBM, "market", impact="linear", depth=1e-300), "market.depth"),
    (changed(GBM, "market", impact="linear", depth=1e300), "market.depth"),
    (
        changed(GBM, "market", impact="sqrt", coefficient=0.1, reference_notional=1e300),
        "market.reference_notional",
    ),
    (changed(GBM, "market", impact="sqrt", coefficient=1e9), "market.coefficient"),
    (
        changed(GBM, "paths", source="garch", params=GARCH_PARAMS, sigma=None, s0=1e308),
        "paths.s0",
    ),
    (
        changed(GBM, "paths", source="garch", params=GARCH_PARAMS, sigma=None, sigma0=1e300),
        "paths.sigma0",
    ),
    (
        vol_scaled(**{"initial_variance": 1e300}),
        "margin.initial_variance",
    ),
    (vol_scaled(**{"k": 1e300}), "margin.k"),
    (
        changed(GBM, "liquidation", fee_model="vol_scaled", fee_k=1e300, vol_ewma_lambda=0.9),
        "liquidation.fee_k",
    ),
    (
        changed(
            GBM, "liquidation", trigger="predictive", vol_ewma_lambda=0.9, vol_initial_variance=1e9
        ),
        "liquidation.vol_initial_variance",
    ),
    # GBM whose prices would leave the range: exp overflows to inf or underflows to 0.
    (changed(GBM, "paths", drift=0.9, n_steps=10_000), "paths.drift"),
    (changed(GBM, "paths", drift=-0.9, n_steps=10_000), "paths.drift"),
    (changed(GBM, "paths", sigma=0.9, n_steps=10_000), "paths.sigma"),
    (changed(GBM, "paths", s0=limits.PRICE_MAX, sigma=0.01), "paths.sigma"),
]


@pytest.mark.parametrize(("scenario", "key"), MAGNITUDES)
def test_magnitude_out_of_range_is_refused(scenario: dict[str, Any], key: str) -> None:
    error = refused(scenario)
    assert error.key == key, str(error)
    assert error.expected, str(error)


@pytest.mark.parametrize(
    "scenario",
    [
        changed(GBM, "insurance_fund", initial=0.0),
        changed(GBM, "insurance_fund", initial=limits.AMOUNT_MAX),
        changed(GBM, "book", reference_price=0.0),
        changed(GBM, "paths", s0=limits.PRICE_MIN * 1e6),
        changed(GBM, "scenario", seed=limits.SEED_MAX),
        changed(GBM, "liquidation", latency_steps=10_000_000),
        changed(GBM, "paths", drift=0.001, sigma=0.02, n_steps=720),
    ],
)
def test_values_at_the_edges_are_accepted(scenario: dict[str, Any]) -> None:
    load_scenario(scenario)


def test_fund_message_says_zero_or_a_range() -> None:
    error = refused(changed(GBM, "insurance_fund", initial=1e-300))
    assert error.expected == "0 or a number >= 1e-12 and <= 1e+18 (quote units)"


# ----------------------------------------------------------------------------- integers
INTEGERS = [
    (changed(GBM, "scenario", seed=2**64), "scenario.seed", "out of range"),
    (changed(GBM, "scenario", seed=-1), "scenario.seed", "out of range"),
    (changed(GBM, "scenario", seed=1.5), "scenario.seed", "wrong type"),
    (changed(GBM, "liquidation", latency_steps=2**63), "liquidation.latency_steps", "out of range"),
    (changed(GBM, "liquidation", latency_steps=2**70), "liquidation.latency_steps", "out of range"),
    (changed(GBM, "liquidation", latency_steps=2.5), "liquidation.latency_steps", "wrong type"),
    (changed(GBM, "liquidation", latency_steps=True), "liquidation.latency_steps", "wrong type"),
    (
        changed(
            GBM,
            "liquidation",
            trigger="predictive",
            vol_ewma_lambda=0.9,
            trigger_horizon_steps=10**8,
        ),
        "liquidation.trigger_horizon_steps",
        "out of range",
    ),
    (changed(GBM, "oracle", model="twap", twap_steps=10**9), "oracle.twap_steps", "out of range"),
    (changed(GBM, "oracle", model="lag", lag_steps=10**8), "oracle.lag_steps", "out of range"),
    (changed(GBM, "oracle", model="lag", lag_steps=1.0), "oracle.lag_steps", "wrong type"),
    (
        changed(GBM, "oracle", model="ema", manipulation_step=2**64),
        "oracle.manipulation_step",
        "out of range",
    ),
    (
        changed(GBM, "oracle", model="ema", manipulation_step=1, manipulation_steps=10**8),
        "oracle.manipulation_steps",
        "out of range",
    ),
    (
        vol_scaled(**{"horizon_steps": 10**8}),
        "margin.horizon_steps",
        "out of range",
    ),
    (
        vol_scaled(**{"horizon_steps": 2.0}),
        "margin.horizon_steps",
        "wrong type",
    ),
    (changed(GBM, "paths", n_paths=2.5), "paths.n_paths", "wrong type"),
    (changed(GBM, "paths", n_paths=2.0), "paths.n_paths", "wrong type"),
    (changed(GBM, "paths", n_paths=True), "paths.n_paths", "wrong type"),
    (changed(GBM, "paths", n_paths=10**9), "paths.n_paths", "out of range"),
    (changed(GBM, "paths", n_steps=10**8), "paths.n_steps", "out of range"),
    (changed(GBM, "book", n_positions=float("inf")), "book.n_positions", "wrong type"),
    (changed(GBM, "book", n_positions=10**400), "book.n_positions", "out of range"),
    (changed(ACCOUNTS, "book", n_accounts=2.5), "book.n_accounts", "wrong type"),
    (changed(ACCOUNTS, "book", legs=10**20), "book.legs", "out of range"),
]


@pytest.mark.parametrize(("scenario", "key", "problem"), INTEGERS)
def test_bad_integer_is_refused(scenario: dict[str, Any], key: str, problem: str) -> None:
    error = refused(scenario)
    assert (error.key, error.problem) == (key, problem), str(error)


def test_huge_integer_is_shown_by_its_size() -> None:
    error = refused(changed(GBM, "book", n_positions=10**400))
    assert error.value == "an integer of 1329 bits"
    assert error.expected == "an integer >= 1 and <= 1e+09"


def test_seed_bound_is_printed_exactly() -> None:
    assert refused(changed(GBM, "scenario", seed=2**64)).expected == (
        "an integer >= 0 and <= 18446744073709551615"
    )


def test_every_integer_and_number_key_has_an_upper_bound() -> None:
    """No scalar key is unbounded above: each is held to a documented maximum."""
    schema = scenario_json_schema()
    unbounded = []
    for table, spec in schema["properties"].items():
        variants = spec.get("oneOf", [spec])
        for variant in variants:
            for key, field in variant.get("properties", {}).items():
                if field.get("type") in ("integer", "number") and not (
                    "maximum" in field or "exclusiveMaximum" in field
                ):
                    unbounded.append(f"{table}.{key}")
    assert unbounded == []


# ----------------------------------------------------------------------------- kinds
KINDS = [
    (changed(GBM, "accounts", mode="cross"), "accounts", "accounts scenarios only"),
    (changed(GBM, "accounts", bracket_floor=[1e5], bracket_rate=[0.02]), "accounts", "ignored"),
    (
        changed(ACCOUNTS, "book", source="synthetic", n_accounts=None, n_positions=2),
        "book.source",
        "multi-asset paths need an accounts book",
    ),
    (
        changed(GBM, "book", source="accounts_synthetic", n_positions=None, n_accounts=2),
        "paths.source",
        "an accounts book needs multi-asset paths",
    ),
    (changed(GBM, "oracle", model="ema", lag_steps=3), "oracle.lag_steps", "ignored"),
    (changed(GBM, "oracle", model="lag", twap_steps=3), "oracle.twap_steps", "ignored"),
    (changed(GBM, "market", impact="sqrt", coefficient=0.1, depth=1e6), "market.depth", "ignored"),
]


@pytest.mark.parametrize(("scenario", "key", "fragment"), KINDS)
def test_table_the_kind_ignores_is_refused(
    scenario: dict[str, Any], key: str, fragment: str
) -> None:
    error = refused(scenario)
    assert error.key == key, str(error)
    assert fragment in str(error)


def test_accounts_table_in_single_asset_message() -> None:
    error = refused(changed(GBM, "accounts", mode="cross"))
    assert "multi-asset [paths] source" in str(error)


# ----------------------------------------------------------------------------- brackets
BRACKETS = [
    ({"bracket_floor": [5e4], "bracket_rate": [1.0]}, "accounts.bracket_rate", "is not below 1"),
    ({"bracket_floor": [5e4], "bracket_rate": [1.5]}, "accounts.bracket_rate", "is not below 1"),
    ({"bracket_floor": [5e4]}, "accounts.bracket_rate", "without accounts.bracket_rate"),
    ({"bracket_rate": [0.02]}, "accounts.bracket_floor", "without accounts.bracket_floor"),
    ({"bracket_floor": [], "bracket_rate": []}, "accounts.bracket_floor", "no brackets"),
    (
        {"bracket_floor": [5e4, 1e5], "bracket_rate": [0.02]},
        "accounts.bracket_rate",
        "1 bracket rate(s) for 2 bracket floor(s)",
    ),
    (
        {"bracket_floor": [1e5, 5e4], "bracket_rate": [0.02, 0.03]},
        "accounts.bracket_floor",
        "bracket floor 2 is not above floor 1",
    ),
    ({"bracket_floor": [0.0], "bracket_rate": [0.02]}, "accounts.bracket_floor", "out of range"),
    ({"bracket_floor": [1e300], "bracket_rate": [0.02]}, "accounts.bracket_floor", "out of range"),
    (
        {"bracket_floor": [5e4], "bracket_rate": [0.005]},
        "accounts.bracket_rate",
        "below margin.maintenance (0.01)",
    ),
    (
        {"bracket_floor": [5e4, 1e5], "bracket_rate": [0.03, 0.02]},
        "accounts.bracket_rate",
        "bracket rate 2 is below rate 1 (0.03)",
    ),
]


@pytest.mark.parametrize(("table", "key", "fragment"), BRACKETS)
def test_bracket_message_names_the_real_problem(
    table: dict[str, Any], key: str, fragment: str
) -> None:
    error = refused({**copy.deepcopy(ACCOUNTS), "accounts": table})
    assert error.key == key, str(error)
    assert fragment in str(error)
    if "below 1" in fragment:
        assert "non-decreasing" not in error.problem


MULTI = [
    (changed(ACCOUNTS, "paths", s0=[60000.0]), "paths.s0", "1 value(s) for 2 assets"),
    (changed(ACCOUNTS, "paths", s0=[60000.0, 1e308]), "paths.s0", "asset ETH"),
    (changed(ACCOUNTS, "paths", s0=[1e-300, 3000.0]), "paths.s0", "asset BTC"),
    (changed(ACCOUNTS, "paths", sigma=[0.01, 1.0]), "paths.sigma", "asset ETH"),
    (changed(ACCOUNTS, "paths", drift=[0.0, -1.0]), "paths.drift", "asset ETH"),
    (changed(ACCOUNTS, "paths", drift=[0.0, 0.5], n_steps=1000), "paths.drift", "asset ETH"),
    (changed(ACCOUNTS, "book", notional_median=1e300), "book.notional_median", "out of range"),
]


@pytest.mark.parametrize(("scenario", "key", "fragment"), MULTI)
def test_multi_asset_lists_are_checked_per_asset(
    scenario: dict[str, Any], key: str, fragment: str
) -> None:
    error = refused(scenario)
    assert error.key == key, str(error)
    assert fragment in str(error)


# ----------------------------------------------------------------------------- look-alikes
CYRILLIC_A = "\u0430"
LOOKALIKES = [
    (
        f'[scenario]\nname = "x"\n\n[p{CYRILLIC_A}ths]\nsource = "gbm"\n',
        [
            "line 4: table name 'p\u0430ths' holds a non-ASCII character",
            "U+0430 CYRILLIC SMALL LETTER A",
            "at column 3",
            "did you mean [paths]?",
        ],
    ),
    (
        f'[scenario]\nn{CYRILLIC_A}me = "x"\n',
        ["line 2: key 'n\u0430me'", "U+0430", "at column 2", "did you mean name?"],
    ),
    (
        f'[scenario]\nname = "x"\n["p{CYRILLIC_A}ths"]\nsource = "gbm"\n',
        ["key 'p\u0430ths'", "unknown table", "U+0430 CYRILLIC SMALL LETTER A", "'paths'"],
    ),
    (
        f'[scenario]\n"n{CYRILLIC_A}me" = "x"\n',
        ["key 'scenario.n\u0430me'", "unknown key", "U+0430", "did you mean 'name'?"],
    ),
    (
        '[scenario]\nname = "x"\n[m\u0430rgin]\n',
        ["table name 'm\u0430rgin'", "did you mean [margin]?"],
    ),
]


@pytest.mark.parametrize(("text", "fragments"), LOOKALIKES)
def test_non_ascii_lookalike_is_named(tmp_path: Path, text: str, fragments: list[str]) -> None:
    file = tmp_path / "scenario.toml"
    file.write_text(text, encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_scenario(file)
    message = str(caught.value)
    assert message.startswith(str(file))
    for fragment in fragments:
        assert fragment in message, message


def test_plain_toml_error_is_unchanged(tmp_path: Path) -> None:
    file = tmp_path / "scenario.toml"
    file.write_text('[scenario]\nname = "x\n', encoding="utf-8")
    with pytest.raises(InputError, match="not valid TOML: Illegal character"):
        load_scenario(file)


def test_integer_literal_beyond_python_limit(tmp_path: Path) -> None:
    file = tmp_path / "scenario.toml"
    file.write_text('[scenario]\nname = "x"\nseed = 1' + "0" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(InputError, match="an integer literal of 5001 digits"):
        load_scenario(file)


# ----------------------------------------------------------------------------- CLI
@pytest.fixture
def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stresstest.cli, "err_console", Console(stderr=True, width=100_000))


@pytest.mark.parametrize(
    ("scenario", "fragments"),
    [
        (changed(GBM, "paths", s0=1e308), ["key 'paths.s0'", "1e+308", "<= 1e+12"]),
        (changed(GBM, "scenario", seed=2**64), ["key 'scenario.seed'", "18446744073709551616"]),
        (changed(GBM, "oracle", model="twap", twap_steps=10**9), ["key 'oracle.twap_steps'"]),
        (changed(GBM, "accounts", mode="cross"), ["key 'accounts'", "multi-asset"]),
        (
            {
                **copy.deepcopy(ACCOUNTS),
                "accounts": {"bracket_floor": [5e4], "bracket_rate": [1.0]},
            },
            ["key 'accounts.bracket_rate'", "not below 1"],
        ),
    ],
)
@pytest.mark.usefixtures("wide_console")
def test_validate_refuses_with_one_line_and_exit_2(
    tmp_path: Path, scenario: dict[str, Any], fragments: list[str]
) -> None:
    file = tmp_path / "scenario.toml"
    file.write_text(tomli_w.dumps(scenario), encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(file)])
    message = ANSI.sub("", result.stderr).strip()
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert "Traceback" not in result.output + result.stderr
    assert len(message.splitlines()) == 1, message
    assert message.startswith(f"error: {file}")
    for fragment in fragments:
        assert fragment in message, message
    assert sorted(path.name for path in tmp_path.iterdir()) == ["scenario.toml"]


@pytest.mark.usefixtures("wide_console")
def test_validate_names_the_lookalike_table(tmp_path: Path) -> None:
    file = tmp_path / "scenario.toml"
    file.write_text(f'[scenario]\nname = "x"\n[p{CYRILLIC_A}ths]\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(file)])
    assert result.exit_code == 2
    assert ANSI.sub("", result.stderr).strip() == (
        f"error: {file}: line 3: table name 'p\u0430ths' holds a non-ASCII character "
        "'\u0430' (U+0430 CYRILLIC SMALL LETTER A) at column 3; expected ASCII letters - "
        "did you mean [paths]?"
    )


# ----------------------------------------------------------------------------- shipped
@pytest.mark.parametrize("file", sorted((REPO / "scenarios").glob("*.toml")), ids=lambda p: p.name)
def test_shipped_scenarios_still_load(file: Path) -> None:
    load_scenario(file)


@pytest.mark.parametrize("template", sorted(TEMPLATES))
def test_templates_still_load(tmp_path: Path, template: str) -> None:
    written = write_template(tmp_path / f"{template}.toml", template)
    load_scenario(written.path)
