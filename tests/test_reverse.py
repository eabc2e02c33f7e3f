"""Reverse stress tests: a closed-form case, the search's bracket, the refusals and the
command (docs/reverse.md)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.reverse.search import Target, reverse_search
from stresstest.reverse.shocks import Shock
from stresstest.scenario import load_scenario
from stresstest.schemas.validate import check_document

#: One long position of 1 BTC at 100 with 10 of collateral on a flat path; no fee,
#: no slippage, no latency: a crash of x at step 1 closes it at 100 (1 - x) with bad
#: debt max(0, 100 x - 10), and a fund F runs dry when 100 x - 10 > F.
ONE_LONG = """
[scenario]
name = "one_long"
seed = 1

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.0
n_paths = 1
n_steps = 4

[book]
source = "file"
file = "book.csv"

[margin]
model = "static"
maintenance = 0.005

[liquidation]
latency_steps = 0
slippage = 0.0
fee = 0.0

[insurance_fund]
initial = {fund}
"""

#: Tolerance of the searches below, a fraction of the price.
TOLERANCE = 1e-4


def _scenario(tmp_path: Path, fund: float) -> Path:
    (tmp_path / "book.csv").write_text("side,qty,entry_price,collateral\nlong,1,100,10\n")
    (tmp_path / "s.toml").write_text(ONE_LONG.format(fund=fund))
    return tmp_path / "s.toml"


@pytest.mark.parametrize("capital", [1.0, 30.0])
def test_the_crash_that_exhausts_the_backstop_vault_is_the_closed_form(
    tmp_path: Path, capital: float
) -> None:
    """The vault takes the long over at its bankruptcy price 90 once its equity is below
    2/3 of maintenance, holds it to the end at 100 (1 - x), and loses 100 x - 10: it is
    exhausted when that exceeds its capital K, x > (10 + K) / 100 (docs/model.md 10.3)."""
    path = _scenario(tmp_path, 0.0)
    path.write_text(path.read_text() + f"\n[backstop]\ncapital = {capital}\n")
    found = reverse_search(load_scenario(path), "crash", Target("backstop"), tolerance=TOLERANCE)
    expected = (10.0 + capital) / 100.0
    assert found.shock is not None and found.below is not None
    assert expected < found.shock <= expected + TOLERANCE
    assert found.below is not None and not found.below.met
    assert found.below.size <= expected


@pytest.mark.parametrize("fund", [0.0, 5.0, 30.0])
def test_the_crash_that_empties_the_fund_is_the_closed_form(tmp_path: Path, fund: float) -> None:
    scenario = load_scenario(_scenario(tmp_path, fund))
    found = reverse_search(scenario, "crash", Target("fund"), tolerance=TOLERANCE)
    expected = (10.0 + fund) / 100.0
    assert found.shock is not None and found.below is not None
    assert expected < found.shock <= expected + TOLERANCE
    assert found.at_shock is not None and found.at_shock.met
    assert not found.below.met and found.shock - found.below.size <= TOLERANCE
    assert math.isclose(found.at_shock.bad_debt_mean, 100.0 * found.shock - 10.0, rel_tol=1e-9)


def test_bad_debt_target_and_a_range_that_never_reaches_it(tmp_path: Path) -> None:
    scenario = load_scenario(_scenario(tmp_path, 0.0))
    found = reverse_search(scenario, "crash", Target("bad_debt", amount=40.0), tolerance=TOLERANCE)
    assert found.shock is not None and 0.5 < found.shock <= 0.5 + TOLERANCE
    never = reverse_search(scenario, "crash", Target("bad_debt", amount=1e9))
    assert never.shock is None and never.at_shock is None
    assert all(not evaluation.met for evaluation in never.evaluations)


def test_a_crash_that_recovers_and_a_vol_multiplier_reshape_the_paths() -> None:
    prices = np.array([[100.0, 110.0, 121.0, 110.0, 100.0]])
    crash = Shock("crash", 0.2, at_step=2, recover_steps=2).apply(prices)
    assert np.allclose(crash, [[100.0, 110.0, 121.0 * 0.8, 110.0 * 0.9, 100.0]])
    vol = Shock("vol", 2.0).apply(prices)
    assert np.allclose(vol, [[100.0, 121.0, 146.41, 121.0, 100.0]])


@pytest.mark.parametrize(
    ("family", "target", "fragment"),
    [
        ("depth", Target("fund"), "the depth family needs more"),
        ("oracle", Target("fund"), "the oracle family needs more"),
        ("leverage", Target("fund"), "the leverage family needs more"),
        ("wobble", Target("fund"), "unknown shock family"),
        ("crash", Target("backstop"), "needs a backstop vault"),
        ("crash", Target("adl"), "needs ADL"),
        ("crash", Target("fund", probability=0.0), "probability outside"),
    ],
)
def test_refusals_name_the_option(
    tmp_path: Path, family: str, target: Target, fragment: str
) -> None:
    scenario = load_scenario(_scenario(tmp_path, 5.0))
    with pytest.raises(InputError, match=fragment):
        reverse_search(scenario, family, target)


def test_the_command_writes_reverse_json(tmp_path: Path) -> None:
    path = _scenario(tmp_path, 5.0)
    out = tmp_path / "rev"
    result = CliRunner().invoke(
        app,
        [
            "reverse",
            str(path),
            "--shock",
            "crash",
            "--target",
            "fund",
            "--out",
            str(out),
            "--tolerance",
            "0.0001",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "reverse.json").read_text())
    check_document(document, "reverse.schema.json", out / "reverse.json", 1)
    with pytest.raises(InputError, match="shock"):
        check_document({**document, "shock": "0.15"}, "reverse.schema.json", out, 1)
    assert 0.15 < document["shock"] <= 0.1501
    assert document["unit"] == "fraction of the price"
    assert (out / "reverse.png").is_file()
    bad = CliRunner().invoke(app, ["reverse", str(path), "--shock", "depth", "--out", str(out)])
    assert bad.exit_code == 2 and "Traceback" not in bad.output


def test_an_oracle_spike_on_a_flat_market_liquidates_without_bad_debt(tmp_path: Path) -> None:
    """The spike breaches the position at the oracle, the close is at the market (100),
    above the bankruptcy price 90: no size empties the fund."""
    text = ONE_LONG.format(fund=0.0) + '\n[oracle]\nmodel = "lag"\nlag_steps = 0\n'
    _scenario(tmp_path, 0.0).write_text(text)
    found = reverse_search(load_scenario(tmp_path / "s.toml"), "oracle", Target("fund"))
    assert found.shock is None
    assert all(evaluation.bad_debt_mean == 0.0 for evaluation in found.evaluations)


SYNTHETIC = """
[scenario]
name = "levered"
seed = 9

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.004
n_paths = 40
n_steps = 48

[book]
source = "synthetic"
n_positions = 400
leverage_min = 2.0
leverage_max = 10.0

[margin]
model = "static"
maintenance = 0.005

[liquidation]
latency_steps = 2
slippage = 0.002
fee = 0.01

[market]
impact = "linear"
depth = 20000.0

[insurance_fund]
initial = 100.0
"""


@pytest.mark.parametrize(("family", "share"), [("leverage", 0.25), ("depth", 0.02)])
def test_scenario_families_bracket_their_answer(tmp_path: Path, family: str, share: float) -> None:
    """Same seed, so the same paths: the target is met at the shock and not just below."""
    (tmp_path / "s.toml").write_text(SYNTHETIC)
    scenario = load_scenario(tmp_path / "s.toml")
    found = reverse_search(scenario, family, Target("fund", probability=share), tolerance=0.01)
    check_document(found.document(), "reverse.schema.json", tmp_path / "reverse.json", 1)
    assert found.shock is not None and found.below is not None and found.at_shock is not None
    assert found.at_shock.share >= share > found.below.share
    assert 0.0 < found.shock - found.below.size <= 0.01


def test_two_families_draw_the_boundary_of_the_closed_form(tmp_path: Path) -> None:
    """crash then vol on a flat path: vol leaves a flat path flat, so the crash boundary
    is (10 + F) / 100 whatever the vol factor; and crash,oracle is refused for lack of
    an [oracle]."""
    path = _scenario(tmp_path, 5.0)
    out = tmp_path / "boundary"
    result = CliRunner().invoke(
        app,
        [
            "reverse",
            str(path),
            "--shock",
            "vol,crash",
            "--target",
            "fund",
            "--out",
            str(out),
            "--tolerance",
            "0.0001",
        ],
    )
    assert result.exit_code == 0, result.output
    document = json.loads((out / "reverse.json").read_text())
    check_document(document, "reverse.schema.json", out / "reverse.json", 1)
    assert document["boundary_family"] == "vol" and document["family"] == "crash"
    assert len(document["boundary"]) == 8
    for point in document["boundary"]:
        assert 0.15 < point["second"] <= 0.15 + 1e-4
    assert all("first" in evaluation for evaluation in document["evaluations"])
    refused = CliRunner().invoke(app, ["reverse", str(path), "--shock", "crash,oracle"])
    assert refused.exit_code == 2 and "oracle family needs" in refused.output
    narrow = ["reverse", str(path), "--shock", "vol,crash", "--out", str(out), "--range"]
    outside = CliRunner().invoke(app, [*narrow, "0,5"])
    assert outside.exit_code == 2 and "range outside the family's sizes" in outside.output
    garbled = CliRunner().invoke(app, [*narrow, "2"])
    assert garbled.exit_code == 2 and "range is not two numbers" in garbled.output
    inside = CliRunner().invoke(app, [*narrow, "1,3", "--tolerance", "0.01"])
    assert inside.exit_code == 0, inside.output
    points = json.loads((out / "reverse.json").read_text())["boundary"]
    assert [point["first"] for point in points][::7] == [1.0, 3.0]


class _HeldPrices:
    """A path source serving prices given in full (the shocked prices, computed at once)."""

    def __init__(self, prices: np.ndarray, ids: np.ndarray) -> None:
        self.prices, self.ids = prices, ids
        self.n_paths, self.n_steps = prices.shape[0], prices.shape[1] - 1

    def chunk(self, first: int, count: int) -> np.ndarray:
        return self.prices[first : first + count]

    def path_ids(self) -> np.ndarray:
        return self.ids

    def start_price(self) -> float:
        return float(self.prices[0, 0])


def test_a_path_shock_replays_the_prepared_run_on_the_shocked_paths(tmp_path: Path) -> None:
    """``PreparedRun.on_paths`` keeps the designs as prepared and swaps only the prices:
    in chunks of 7 paths its metrics are those of the same plan over the shocked prices
    of every path at once, and differ from the unshocked run's."""
    import dataclasses

    from stresstest.engine.run import execute, prepare_run
    from stresstest.reverse.shocks import ShockedSource

    (tmp_path / "s.toml").write_text(SYNTHETIC)
    prepared = prepare_run([load_scenario(tmp_path / "s.toml")], attribution=False)
    shock = Shock("crash", 0.08, at_step=5, recover_steps=10)
    shocked = prepared.on_paths(lambda source: ShockedSource(source, shock))
    assert (shocked.n_paths, shocked.n_steps, shocked.findings) == (
        prepared.n_paths,
        prepared.n_steps,
        prepared.findings,
    )
    metrics, records = shocked.execute(chunk_size=7)
    [result] = shocked.results(metrics, records, describe_paths=False)
    source = prepared.plan.source
    held = _HeldPrices(shock.apply(source.chunk(0, prepared.n_paths)), source.path_ids())
    want, _ = execute(dataclasses.replace(prepared.plan, source=held))
    assert np.array_equal(metrics, want)
    unshocked, _ = prepared.execute()
    assert not np.array_equal(metrics, unshocked)  # the shock reached the replay
    assert result.paths_record is None and result.references is None


@pytest.mark.parametrize("scenario_file", ["cross_gbm.toml", "lending/compound_v3_usdc.toml"])
def test_multi_asset_scenarios_are_refused_naming_the_book_source(scenario_file: str) -> None:
    scenario = load_scenario(Path(__file__).resolve().parents[1] / "scenarios" / scenario_file)
    with pytest.raises(InputError, match="which assets a crash or vol shock moves") as refused:
        reverse_search(scenario, "crash", Target("bad_debt"))
    assert refused.value.key == "book.source"
