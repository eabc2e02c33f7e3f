"""Paths from real closes: replay, every window, block bootstrap, crash events.

Nothing here bridges a gap (docs/data.md): a replayed window or an event must
be gap-free, windows never span a gap, and the bootstrap only chains returns
that follow each other in the data, wrapping within a gap-free segment.
See docs/model.md 1.4.
"""

from __future__ import annotations

import math
import tomllib
import warnings
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from stresstest.data import Candles, contiguous_segments, load_candles, log_returns_segments
from stresstest.data import select_window as _select_window
from stresstest.errors import InputError
from stresstest.kernels.resample import bootstrap_paths
from stresstest.paths.gbm import PATHS_SEED_CHILD, philox_key
from stresstest.scenario.embedded import embedded_dir
from stresstest.scenario.schema import HistoricalPaths

#: Keys each mode reads; any other optional key given is an error.
MODE_KEYS: dict[str, frozenset[str]] = {
    "replay": frozenset({"start", "end", "n_steps", "s0"}),
    "windows": frozenset({"start", "end", "n_steps", "s0"}),
    "bootstrap": frozenset({"start", "end", "n_steps", "n_paths", "mean_block", "s0"}),
    "events": frozenset({"events", "n_steps", "s0"}),
}
_OPTIONAL = ("start", "end", "n_steps", "n_paths", "mean_block", "events", "s0")


def events_file() -> Path:
    """The shipped event catalogue, ``data/events/events.toml``."""
    return embedded_dir("data") / "events" / "events.toml"


def event_windows() -> dict[str, tuple[str, str]]:
    """``name -> (start, end)`` of every event in the catalogue (UTC, end exclusive)."""
    path = events_file()
    catalogue = tomllib.loads(path.read_text(encoding="utf-8"))
    return {event["name"]: (event["start"], event["end"]) for event in catalogue["event"]}


def _iso(stamp: np.datetime64) -> str:
    return str(stamp.astype("datetime64[s]")) + "Z"


def rescale(closes: np.ndarray, s0: float | None) -> np.ndarray:
    """``s0 * (close_t / close_0)`` per row, or the closes unchanged if ``s0`` is ``None``."""
    if s0 is None:
        return np.ascontiguousarray(closes, dtype=np.float64)
    return np.ascontiguousarray(s0 * (closes / closes[:, :1]))


def politis_white_block(returns: np.ndarray) -> float:
    """Politis-White (2004; Patton, Politis and White, 2009) mean block length for the
    stationary bootstrap of the squared returns, at least 1 (steps)."""
    from arch.bootstrap import optimal_block_length

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        estimate = float(optimal_block_length(returns**2)["stationary"].iloc[0])
    return max(1.0, estimate) if math.isfinite(estimate) else 1.0


def successors(segment: np.ndarray) -> np.ndarray:
    """``successor[i]``: ``i + 1`` within a segment, the segment's first return after its last."""
    n = segment.shape[0]
    following = np.arange(1, n + 1, dtype=np.int64)
    ends = np.flatnonzero(np.r_[segment[1:] != segment[:-1], True])
    starts = np.r_[0, ends[:-1] + 1]
    following[ends] = starts
    return following


class HistoricalPathSource:
    """Paths cut from one candle file's closes; see :class:`HistoricalPaths` for the modes.

    Raises
    ------
    InputError
        A key the mode does not use, a missing ``n_steps``/``n_paths``, a window
        or event with a gap or too few bars, an unknown event, or a data file that
        does not cover an event; data problems name the data file.
    """

    def __init__(
        self, config: HistoricalPaths, seed: int, scenario_file: Path | None = None
    ) -> None:
        self.config = config
        self.scenario_file = scenario_file
        self.key = philox_key(seed, PATHS_SEED_CHILD)
        self._check_keys()
        candles = load_candles(config.data)
        self.candles = candles
        self.data_sha256 = candles.sha256
        self.details: dict[str, Any] = {}
        self.prices: np.ndarray | None = None
        if config.mode == "events":
            self._events(candles)
            return
        window = candles
        if config.start is not None or config.end is not None:
            window = _select_window(candles, config.start, config.end)
        self.details["first_bar"] = _iso(window.timestamp[0])
        self.details["last_bar"] = _iso(window.timestamp[-1])
        setup = {"replay": self._replay, "windows": self._windows, "bootstrap": self._bootstrap}
        setup[config.mode](window)

    # ------------------------------------------------------------------ set-up per mode
    def _fail(
        self, problem: str, key: str, value: Any = None, expected: str | None = None
    ) -> NoReturn:
        raise InputError(
            problem, file=self.scenario_file, key=f"paths.{key}", value=value, expected=expected
        )

    def _check_keys(self) -> None:
        mode = self.config.mode
        for name in _OPTIONAL:
            if getattr(self.config, name) is not None and name not in MODE_KEYS[mode]:
                self._fail(
                    f"key not used in mode {mode!r}",
                    name,
                    getattr(self.config, name),
                    "only " + ", ".join(sorted(MODE_KEYS[mode])),
                )
        required = {"windows": ("n_steps",), "bootstrap": ("n_steps", "n_paths")}.get(mode, ())
        for name in required:
            if getattr(self.config, name) is None:
                self._fail(
                    f"missing key (required in mode {mode!r})", name, expected="an integer >= 1"
                )

    def _required(self, value: int | None, name: str) -> int:
        """A key the mode requires; ``_check_keys`` has refused its absence already."""
        if value is None:  # pragma: no cover - refused by _check_keys
            self._fail(
                f"missing key (required in mode {self.config.mode!r})",
                name,
                expected="an integer >= 1",
            )
        return int(value)

    def _no_gap(self, window: Candles, what: str) -> None:
        if window.gaps:
            gap = window.gaps[0]
            raise InputError(
                f"{what} has a gap; a path never bridges one",
                file=window.path,
                key="paths.start" if self.config.mode == "replay" else "paths.events",
                value=f"{gap.missing_bars} bar(s) missing between {_iso(gap.start)} and "
                f"{_iso(gap.end)}",
                expected="a window inside one gap-free run (see Candles.gaps)",
            )

    def _steps(self, available: int, what: str) -> int:
        n_steps = self.config.n_steps
        if n_steps is None:
            return available
        if n_steps > available:
            self._fail(f"n_steps longer than {what}", "n_steps", n_steps, f"at most {available}")
        return n_steps

    def _replay(self, window: Candles) -> None:
        self._no_gap(window, "the replay window")
        if len(window) < 2:
            self._fail("the window holds one bar", "start", expected="at least two bars")
        self.n_steps = self._steps(len(window) - 1, "the window")
        self.n_paths = 1
        self.prices = rescale(window.close[None, : self.n_steps + 1], self.config.s0)

    def _windows(self, window: Candles) -> None:
        points = self._required(self.config.n_steps, "n_steps") + 1
        starts = [
            np.arange(lo, hi - points + 1, dtype=np.int64)
            for lo, hi in contiguous_segments(window)
            if hi - lo >= points
        ]
        self.starts = np.concatenate(starts) if starts else np.empty(0, dtype=np.int64)
        if self.starts.shape[0] == 0:
            self._fail(
                "no gap-free window of n_steps + 1 bars in the data",
                "n_steps",
                self.config.n_steps,
                f"at most {max(hi - lo for lo, hi in contiguous_segments(window)) - 1}",
            )
        self.close = np.ascontiguousarray(window.close)
        self.timestamps = window.timestamp
        self.n_steps = points - 1
        self.n_paths = int(self.starts.shape[0])
        self.details["n_segments_used"] = len(starts)

    def _bootstrap(self, window: Candles) -> None:
        returns, segment = log_returns_segments(window)
        if returns.shape[0] == 0:
            self._fail("no return in the window (no two consecutive bars)", "start")
        self.returns = np.ascontiguousarray(returns)
        self.successor = successors(segment)
        if self.config.mean_block is not None:
            self.mean_block, rule = float(self.config.mean_block), "given"
        else:
            self.mean_block, rule = politis_white_block(returns), "politis-white"
        stay = 1.0 - 1.0 / self.mean_block
        self.inv_log_stay = 1.0 / math.log(stay) if stay > 0.0 else -0.0
        self.s0 = float(self.config.s0) if self.config.s0 is not None else float(window.close[-1])
        self.n_steps = self._required(self.config.n_steps, "n_steps")
        self.n_paths = self._required(self.config.n_paths, "n_paths")
        self.details.update(
            n_returns=int(returns.shape[0]),
            n_segments=int(segment[-1] + 1),
            mean_block=self.mean_block,
            mean_block_rule=rule,
        )

    def _events(self, candles: Candles) -> None:
        catalogue = event_windows()
        names = list(self.config.events) if self.config.events is not None else list(catalogue)
        if not names:
            self._fail("empty list of events", "events", expected="at least one event name")
        closes, records = [], []
        for name in names:
            if name not in catalogue:
                self._fail(
                    "unknown event",
                    "events",
                    name,
                    f"names from {events_file()}: " + ", ".join(catalogue),
                )
            start, end = catalogue[name]
            try:
                window = _select_window(candles, start, end)
            except InputError:
                raise InputError(
                    "the data has no bar in the event's window",
                    file=candles.path,
                    key="paths.events",
                    value=f"{name}: [{start}, {end})",
                    expected="a candle file covering the event",
                ) from None
            self._no_gap(window, f"event {name!r}")
            if len(window) < 2:
                self._fail("the event holds one bar in this data", "events", name)
            closes.append(window.close)
            records.append(
                {
                    "name": name,
                    "first_bar": _iso(window.timestamp[0]),
                    "last_bar": _iso(window.timestamp[-1]),
                    "bars": len(window),
                }
            )
        shortest = min(range(len(closes)), key=lambda i: closes[i].shape[0])
        self.n_steps = self._steps(
            closes[shortest].shape[0] - 1, f"event {names[shortest]!r} in this data"
        )
        self.n_paths = len(closes)
        stacked = np.stack([close[: self.n_steps + 1] for close in closes])
        self.prices = rescale(stacked, self.config.s0)
        self.details["events"] = records

    # ------------------------------------------------------------------ PathSource
    def chunk(self, first: int, count: int) -> np.ndarray:
        """Prices of paths ``first .. first + count - 1``, quote per base."""
        mode = self.config.mode
        if self.prices is not None:
            return np.ascontiguousarray(self.prices[first : first + count])
        if mode == "windows":
            rows = self.starts[first : first + count, None] + np.arange(self.n_steps + 1)
            return rescale(self.close[rows], self.config.s0)
        out = np.empty((count, self.n_steps + 1))
        bootstrap_paths(
            self.key[0],
            self.key[1],
            first,
            self.returns,
            self.successor,
            self.inv_log_stay,
            self.s0,
            out,
        )
        return out

    def path_ids(self) -> np.ndarray:
        """Path identifiers 0..n_paths - 1 (windows: in time order of their first bar)."""
        return np.arange(self.n_paths, dtype=np.int64)

    def start_price(self) -> float:
        """Mean step-0 price over the paths, quote per base."""
        if self.config.s0 is not None:
            return float(self.config.s0)
        if self.config.mode == "bootstrap":
            return self.s0
        if self.config.mode == "windows":
            return float(np.mean(self.close[self.starts]))
        assert self.prices is not None
        return float(np.mean(self.prices[:, 0]))

    def reference_paths(self) -> dict[str, np.ndarray]:
        """The catalogue's crash events found gap-free in the data, for comparison.

        Each event's closes are rescaled to start at :meth:`start_price` and cut
        to at most ``n_steps + 1`` points (quote per base). Events the data does
        not cover, or covers with a gap, are left out.
        """
        references = {}
        for name, (start, end) in event_windows().items():
            try:
                window = _select_window(self.candles, start, end)
            except InputError:
                continue
            if len(window) < 2 or window.gaps:
                continue
            closes = np.asarray(window.close[: self.n_steps + 1], dtype=np.float64)
            references[name] = self.start_price() * closes / closes[0]
        return references

    def window_starts(self) -> np.ndarray:
        """Windows mode: the open time (UTC) of each path's first bar."""
        return self.timestamps[self.starts]

    def provenance(self) -> dict[str, Any]:
        """What the paths were cut from, TOML-ready (for the resolved scenario)."""
        record: dict[str, Any] = {
            "source": "historical",
            "mode": self.config.mode,
            "data": str(self.config.data),
            "data_sha256": self.data_sha256,
            "n_paths": self.n_paths,
            "n_steps": self.n_steps,
            "s0": self.config.s0 if self.config.s0 is not None else "each path's first close",
        }
        if self.config.mode == "bootstrap":
            record["s0"] = self.s0
        record.update(self.details)
        return record
