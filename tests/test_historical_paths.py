"""Historical paths (docs/model.md 1.4): replay, windows, bootstrap and events.

Tiny hand-made candle files (written to tmp_path) make every expected path
computable by hand; the shipped sample checks events against the event slices.
No path ever bridges a gap.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from stresstest.errors import InputError
from stresstest.kernels.resample import bootstrap_paths
from stresstest.paths import path_source
from stresstest.paths.gbm import PATHS_SEED_CHILD, philox_key
from stresstest.paths.historical import event_windows, successors
from stresstest.scenario import load_scenario
from tests import garch_twin
from tests.tiers import examples
from tests.tolerances import MONTE_CARLO_SIGMAS

REPO = Path(__file__).resolve().parents[1]
HOUR = np.timedelta64(1, "h")


def write_csv(
    path: Path, start: str, closes: list[float], skip_after: dict[int, int] | None = None
) -> Path:
    """Hourly closes from ``start``; ``skip_after[i] = k`` omits ``k`` hours after row ``i``."""
    skip_after = skip_after or {}
    t = np.datetime64(start, "ms")
    lines = ["timestamp,close"]
    for row, close in enumerate(closes):
        lines.append(f"{t.astype('datetime64[s]')!s}Z,{close!r}")
        t = t + HOUR * (1 + skip_after.get(row, 0))
    path.write_text("\n".join(lines) + "\n")
    return path


def source_for(data: Path, tmp_path: Path, **paths: Any) -> Any:
    raw = {
        "scenario": {"name": "h", "seed": 11},
        "paths": {"source": "historical", "data": str(data), **paths},
        "book": {"source": "synthetic", "n_positions": 10},
        "margin": {"model": "static", "maintenance": 0.01},
    }
    return path_source(load_scenario(raw))


CLOSES = [100.0, 101.0, 99.5, 102.0, 103.0, 101.0, 90.0, 92.0, 95.0, 94.0]  # gap after row 5


def test_replay_is_the_window_and_refuses_a_gap(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "c.csv", "2024-01-01T00:00:00", CLOSES, {5: 3})
    source = source_for(data, tmp_path, mode="replay", end="2024-01-01T06:00Z")
    assert (source.n_paths, source.n_steps) == (1, 5)
    assert np.array_equal(source.chunk(0, 1), np.array([CLOSES[:6]]))
    scaled = source_for(
        data,
        tmp_path,
        mode="replay",
        start="2024-01-01T01:00Z",
        end="2024-01-01T04:00Z",
        s0=50.0,
        n_steps=2,
    )
    assert np.array_equal(
        scaled.chunk(0, 1), [[50.0, 50.0 * (99.5 / 101.0), 50.0 * (102.0 / 101.0)]]
    )
    with pytest.raises(InputError, match="has a gap") as error:
        source_for(data, tmp_path, mode="replay")
    assert error.value.file == str(data) and "3 bar(s) missing" in str(error.value)
    with pytest.raises(InputError, match="n_steps longer"):
        source_for(data, tmp_path, mode="replay", end="2024-01-01T06:00Z", n_steps=6)


def test_windows_by_hand(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "c.csv", "2024-01-01T00:00:00", CLOSES, {5: 3})
    source = source_for(data, tmp_path, mode="windows", n_steps=2)
    starts = [0, 1, 2, 3, 6, 7]  # rows 4 and 5 would span the gap
    expected = np.array([CLOSES[s : s + 3] for s in starts])
    assert source.n_paths == 6
    assert np.array_equal(source.chunk(0, 6), expected)
    assert np.array_equal(np.vstack([source.chunk(i, 1) for i in range(6)]), expected)
    assert source.start_price() == pytest.approx(np.mean(expected[:, 0]))
    rescaled = source_for(data, tmp_path, mode="windows", n_steps=2, s0=10.0).chunk(0, 6)
    assert np.all(rescaled[:, 0] == 10.0)
    assert np.allclose(rescaled, 10.0 * expected / expected[:, :1], rtol=1e-15)
    with pytest.raises(InputError, match="no gap-free window") as error:
        source_for(data, tmp_path, mode="windows", n_steps=6)
    assert "at most 5" in str(error.value)


@settings(deadline=None, max_examples=examples(25))
@given(
    lengths=st.lists(st.integers(1, 12), min_size=1, max_size=5),
    holes=st.lists(st.integers(1, 30), min_size=4, max_size=4),
    n_steps=st.integers(1, 6),
)
def test_windows_never_span_a_gap(
    lengths: list[int], holes: list[int], n_steps: int, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # The bar is the modal spacing (docs/data.md); the oracle below takes it to be the hour,
    # which holds only while hourly spacings are at least as many as any one hole's.
    gaps = holes[: len(lengths) - 1]
    hourly = sum(length - 1 for length in lengths)
    assume(hourly >= max((gaps.count(gap) for gap in gaps), default=0))
    closes = [float(c) for c in 100.0 + np.cumsum(np.arange(sum(lengths)) % 7 - 3.0)]
    skips, row = {}, -1
    for index, length in enumerate(lengths[:-1]):
        row += length
        skips[row] = holes[index]
    data = write_csv(tmp_path_factory.mktemp("w") / "c.csv", "2024-03-01T00:00:00", closes, skips)
    expected = sum(max(0, length - n_steps) for length in lengths)
    if expected == 0:
        with pytest.raises(InputError):
            source_for(data, Path(), mode="windows", n_steps=n_steps)
        return
    source = source_for(data, Path(), mode="windows", n_steps=n_steps)
    assert source.n_paths == expected
    times = source.window_starts()
    spacing = np.diff(source.timestamps.astype(np.int64))
    for start in np.searchsorted(source.timestamps, times):
        assert np.all(spacing[start : start + n_steps] == 3_600_000)


def test_bootstrap_kernel_equals_its_twin_and_follows_segments(tmp_path: Path) -> None:
    returns = np.arange(1, 12, dtype=np.float64) * 1e-6  # distinct, so indices can be read back
    segment = np.array([0, 0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    successor = successors(segment)
    assert successor.tolist() == [1, 2, 3, 0, 5, 4, 7, 8, 9, 10, 6]
    k0, k1 = philox_key(5, PATHS_SEED_CHILD)
    mean_block, n_steps = 3.0, 40
    out = np.empty((4, n_steps + 1))
    bootstrap_paths(k0, k1, 1000, returns, successor, 1.0 / math.log(1 - 1 / mean_block), 7.0, out)
    for row in range(4):
        twin, used = garch_twin.bootstrap_path(
            int(k0), int(k1), 1000 + row, returns, successor, mean_block, 7.0, n_steps
        )
        assert np.array_equal(out[row], twin)
        read_back = np.rint(np.diff(np.log(out[row])) / 1e-6).astype(int) - 1
        assert read_back.tolist() == used


def test_bootstrap_block_lengths_and_uniform_coverage() -> None:
    returns = np.arange(1, 31, dtype=np.float64) * 1e-6
    segment = np.repeat([0, 1, 2], [5, 10, 15])
    successor = successors(segment)
    k0, k1 = philox_key(9, PATHS_SEED_CHILD)
    mean_block, n_paths, n_steps = 4.0, 4000, 50
    out = np.empty((n_paths, n_steps + 1))
    bootstrap_paths(k0, k1, 0, returns, successor, 1.0 / math.log(1 - 1 / mean_block), 1.0, out)
    used = np.rint(np.diff(np.log(out), axis=1) / 1e-6).astype(int) - 1
    follows = used[:, 1:] == successor[used[:, :-1]]
    # a new block starts with probability 1/mean_block per step (a restart may land on
    # the successor by chance, 1 time in 30)
    restarts = 1.0 - follows.mean()
    expected = (1 / mean_block) * (1 - 1 / 30)
    se = math.sqrt(expected * (1 - expected) / follows.size) * math.sqrt(2 * mean_block)
    assert abs(restarts - expected) < MONTE_CARLO_SIGMAS * se
    counts = np.bincount(used.ravel(), minlength=30) / used.size  # stationary: uniform
    assert np.all(np.abs(counts - 1 / 30) < 0.1 / 30)


def test_bootstrap_source(tmp_path: Path) -> None:
    data = write_csv(tmp_path / "c.csv", "2024-01-01T00:00:00", CLOSES, {5: 3})
    source = source_for(data, tmp_path, mode="bootstrap", n_paths=30, n_steps=25, mean_block=2.0)
    prices = source.chunk(0, 30)
    assert np.all(prices[:, 0] == CLOSES[-1])  # default s0: the last close
    steps = np.diff(np.log(prices), axis=1)
    data_returns = np.log(np.array(CLOSES[1:]) / np.array(CLOSES[:-1]))
    data_returns = np.delete(data_returns, 5)  # the return across the gap does not exist
    distance = np.abs(steps[..., None] - data_returns).min(axis=-1)
    assert distance.max() < 1e-12
    assert np.array_equal(source.chunk(7, 5), prices[7:12])
    record = source.provenance()
    assert record["mean_block"] == 2.0 and record["n_returns"] == 8 and record["n_segments"] == 2
    automatic = source_for(data, tmp_path, mode="bootstrap", n_paths=2, n_steps=3)
    assert automatic.provenance()["mean_block_rule"] == "politis-white"
    assert automatic.mean_block >= 1.0


def test_events_on_a_hand_made_file(tmp_path: Path) -> None:
    start, _ = event_windows()["2022-11-ftx"]
    n_bars = 240
    closes = [20000.0 - 10.0 * i for i in range(n_bars + 48)]
    data = write_csv(tmp_path / "ftx.csv", "2022-11-04T00:00:00", closes)
    source = source_for(data, tmp_path, mode="events", events=["2022-11-ftx"])
    assert (source.n_paths, source.n_steps) == (1, n_bars - 1)
    assert np.array_equal(source.chunk(0, 1)[0], closes[24 : 24 + n_bars])
    assert source.provenance()["events"][0]["first_bar"] == start
    short = source_for(data, tmp_path, mode="events", events=["2022-11-ftx"], n_steps=10, s0=1.0)
    assert short.chunk(0, 1)[0, 0] == 1.0 and short.n_steps == 10
    with pytest.raises(InputError, match="no bar in the event") as error:
        source_for(data, tmp_path, mode="events")  # all events: the file covers only one
    assert error.value.file == str(data)
    with pytest.raises(InputError, match="unknown event") as error:
        source_for(data, tmp_path, mode="events", events=["2022-11-ftxx"])
    assert "2020-03-black-thursday" in str(error.value)
    gappy = write_csv(tmp_path / "gap.csv", "2022-11-04T00:00:00", closes, {100: 2})
    with pytest.raises(InputError, match="has a gap"):
        source_for(gappy, tmp_path, mode="events", events=["2022-11-ftx"])


@pytest.mark.parametrize(
    ("mode", "extra", "key"),
    [
        ("replay", {"n_paths": 3}, "paths.n_paths"),
        ("windows", {}, "paths.n_steps"),
        ("windows", {"n_steps": 2, "mean_block": 3.0}, "paths.mean_block"),
        ("bootstrap", {"n_steps": 2}, "paths.n_paths"),
        ("events", {"start": "2022-01-01"}, "paths.start"),
        ("replay", {"events": ["2022-11-ftx"]}, "paths.events"),
    ],
)
def test_keys_a_mode_does_not_use_or_needs(
    mode: str, extra: dict, key: str, tmp_path: Path
) -> None:
    data = write_csv(tmp_path / "c.csv", "2024-01-01T00:00:00", CLOSES)
    with pytest.raises(InputError) as error:
        source_for(data, tmp_path, mode=mode, **extra)
    assert error.value.key == key


def test_events_from_the_shipped_history_equal_the_event_slices() -> None:
    import polars as pl

    data = REPO / "data" / "btc_usdt_spot_1h.parquet"
    source = source_for(data, Path(), mode="events")
    names = [record["name"] for record in source.provenance()["events"]]
    assert names == list(event_windows())
    history = source_for(data, Path(), mode="events", events=["2020-03-black-thursday"])
    piece = pl.read_parquet(REPO / "data" / "events" / "2020-03-black-thursday_btc_spot_1h.parquet")
    assert np.array_equal(history.chunk(0, 1)[0], piece["close"].to_numpy())
    for name in event_windows():
        scenario = load_scenario(REPO / "scenarios" / f"event_{name[:4]}_{name[5:7]}.toml")
        assert scenario.paths.events == (name,)
