"""The resolved scenario records what the path source used, and reproduces the run."""

from __future__ import annotations

import tomllib
from pathlib import Path

from stresstest.jobs import run_to_dir
from stresstest.scenario import load_scenario

REPO = Path(__file__).resolve().parents[1]


def test_resolved_scenario_records_the_paths_and_reproduces_the_bytes(tmp_path: Path) -> None:
    scenario = load_scenario(REPO / "scenarios" / "event_2020_03.toml").with_overrides(
        {"book.n_positions": 2000}
    )
    import tomli_w

    source = tmp_path / "event.toml"
    raw = {key: value for key, value in scenario.raw.items() if key != "compare"}
    raw["paths"]["data"] = str(scenario.paths.data)
    source.write_text(tomli_w.dumps(raw))
    _, first = run_to_dir(source, tmp_path / "first")
    resolved = tomllib.loads((first / "scenario.resolved.toml").read_text())
    assert resolved["provenance"]["paths"]["source"] == "historical"
    assert len(resolved["provenance"]["inputs"]["paths.data"]) == 64  # SHA-256 of the candles
    _, again = run_to_dir(first / "scenario.resolved.toml", tmp_path / "again")
    assert (again / "paths.parquet").read_bytes() == (first / "paths.parquet").read_bytes()
