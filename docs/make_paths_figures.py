"""Realism of the path sources against BTC and ETH hourly history: tables and figures.

    python docs/make_paths_figures.py [--write]

For each asset (data/btc_usdt_spot_1h.parquet, data/eth_usdt_spot_1h.parquet) it
compares the data with four sources built through the package's own scenario
loader and path sources, all seeded (seed 20261124):

- ``garch``: GJR-GARCH(1,1,1) with Student-t innovations fitted on the asset's
  whole history, started at the fit's forecast (``start_variance = "fitted"``);
- ``fhs``: filtered historical simulation on the Gaussian quasi-likelihood GJR fit;
- ``bootstrap``: stationary block bootstrap, Politis-White mean block length;
- ``gbm``: GBM with the data's hourly volatility (standard deviation of hourly
  log returns) and no drift;

at two horizons (``HORIZONS``: 2,000 paths of 720 hours, the scenarios'
horizon, and 200 paths of a year). Statistics of hourly log
returns: standard deviation, kurtosis (Pearson, 3 for a normal; pooled over
paths), the share of hours with a move beyond 5 of the data's hourly
standard deviations, autocorrelation of squared returns at lags 1, 24 and 168 hours (pooled
over paths; the data's over its gap-free runs), and for each crash event of
data/events/events.toml the share of 24-hour windows (25 hourly closes, starting
at every hour) whose peak-to-trough fall is at least the event's own worst
24-hour fall. Figures go to docs/figures/paths_realism_{btc,eth}.png and
docs/figures/paths_examples.png; ``--write`` replaces the text between
``<!-- realism:begin -->`` and ``<!-- realism:end -->`` in docs/paths.md.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from stresstest.data import contiguous_segments, load_candles, select_window  # noqa: E402
from stresstest.paths import path_source  # noqa: E402
from stresstest.paths.historical import event_windows  # noqa: E402
from stresstest.scenario import load_scenario  # noqa: E402

SEED = 20261124
FIGURES = REPO / "docs" / "figures"
DOC = REPO / "docs" / "paths.md"
BEGIN, END = "<!-- realism:begin -->", "<!-- realism:end -->"
WINDOW = 24  # hours
LAGS = (1, 24, 168)
SOURCES = ("data", "garch", "fhs", "bootstrap", "gbm")
COLOURS = {
    "data": "black",
    "garch": "tab:red",
    "fhs": "tab:orange",
    "bootstrap": "tab:green",
    "gbm": "tab:blue",
}


def source(paths: dict[str, Any]) -> Any:
    raw = {
        "scenario": {"name": "realism", "seed": SEED},
        "paths": paths,
        "book": {"source": "synthetic", "n_positions": 10},
        "margin": {"model": "static", "maintenance": 0.005},
    }
    return path_source(load_scenario(raw))


def window_drawdowns(prices: np.ndarray) -> np.ndarray:
    """Worst peak-to-trough fall (fraction) in every window of 25 consecutive closes."""
    if prices.shape[-1] <= WINDOW:
        return np.empty(0)
    rows = np.atleast_2d(prices)
    parts = []
    for first in range(0, rows.shape[0], 100):
        logs = sliding_window_view(np.log(rows[first : first + 100]), WINDOW + 1, axis=-1)
        falls = logs - np.maximum.accumulate(logs, axis=-1)
        parts.append((1.0 - np.exp(falls.min(axis=-1))).ravel())
    return np.concatenate(parts)


def squared_acf(series: list[np.ndarray], lags: Any = LAGS) -> dict[int, float]:
    """Autocorrelation of squared returns at ``lags``, pooled over the series."""
    squares = [r**2 for r in series]
    mean = np.concatenate(squares).mean()
    centred = [s - mean for s in squares]
    denominator = sum(float(np.sum(c * c)) for c in centred)
    return {
        int(lag): sum(float(np.sum(c[lag:] * c[:-lag])) for c in centred if c.shape[0] > lag)
        / denominator
        for lag in lags
    }


def kurtosis(returns: np.ndarray) -> float:
    centred = returns - returns.mean()
    return float(np.mean(centred**4) / np.mean(centred**2) ** 2)


def describe(series: list[np.ndarray], drawdowns: np.ndarray, depths: dict[str, float]) -> dict:
    returns = np.concatenate(series)
    return {
        "std": float(returns.std()),
        "kurtosis": kurtosis(returns),
        "acf": squared_acf(series),
        "tail": {name: float(np.mean(drawdowns >= depth)) for name, depth in depths.items()},
        "returns": returns,
        "series": series,
        "drawdowns": drawdowns,
    }


def data_study(asset: str) -> tuple[Path, dict, dict]:
    """The asset's file, the data's statistics and each event's worst 24-hour fall."""
    data_file = REPO / "data" / f"{asset}_usdt_spot_1h.parquet"
    candles = load_candles(data_file)
    runs = [candles.close[lo:hi] for lo, hi in contiguous_segments(candles) if hi - lo > 1]
    depths = {}
    for name, (start, end) in event_windows().items():
        depths[name] = float(window_drawdowns(select_window(candles, start, end).close).max())
    data_drawdowns = np.concatenate([window_drawdowns(run) for run in runs])
    data = describe([np.diff(np.log(r)) for r in runs], data_drawdowns, depths)
    data["last_close"] = float(candles.close[-1])
    return data_file, data, depths


def model_study(
    asset: str, data_file: Path, data: dict, depths: dict, n_paths: int, hours: int
) -> tuple[dict, dict]:
    """Statistics of every source's paths, and their provenance records."""
    common = {"n_paths": n_paths, "n_steps": hours}
    configs = {
        "garch": {"source": "garch", "model": "gjr", "dist": "t", "data": str(data_file), **common},
        "fhs": {
            "source": "fhs",
            "model": "gjr",
            "dist": "normal",
            "data": str(data_file),
            **common,
        },
        "bootstrap": {
            "source": "historical",
            "mode": "bootstrap",
            "data": str(data_file),
            **common,
        },
        "gbm": {"source": "gbm", "s0": data["last_close"], "sigma": data["std"], **common},
    }
    results, provenance = {"data": data}, {}
    for name, config in configs.items():
        started = time.perf_counter()
        generator = source(config)
        prices = generator.chunk(0, n_paths)
        provenance[name] = generator.provenance() if hasattr(generator, "provenance") else {}
        series = list(np.diff(np.log(prices), axis=1))
        results[name] = describe(series, window_drawdowns(prices), depths)
        seconds = time.perf_counter() - started
        print(f"{asset} {name} {n_paths} x {hours}: {seconds:.1f} s", file=sys.stderr)
    return results, provenance


def realism_figure(asset: str, results: dict, depths: dict) -> Path:
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    grid = np.linspace(0.0, 15.0, 151)
    sigma = results["data"]["std"]
    for name in SOURCES:
        scaled = np.sort(np.abs(results[name]["returns"]) / sigma)
        survival = 1.0 - np.searchsorted(scaled, grid, side="right") / scaled.shape[0]
        axes[0].semilogy(
            grid, np.where(survival > 0, survival, np.nan), color=COLOURS[name], label=name
        )
    axes[0].set(
        xlabel="|hourly log return| / data's hourly std",
        ylabel="share exceeding",
        title="Tails of hourly returns",
    )
    lags = np.arange(1, 169)
    for name in SOURCES:
        curve = squared_acf(results[name]["series"], lags)
        axes[1].plot(lags, list(curve.values()), color=COLOURS[name], label=name)
    axes[1].set(
        xlabel="lag (hours)",
        ylabel="autocorrelation of squared returns",
        title="Volatility clustering",
        xscale="log",
    )
    levels = np.linspace(0.0, 0.45, 91)
    for name in SOURCES:
        falls = np.sort(results[name]["drawdowns"])
        share = 1.0 - np.searchsorted(falls, levels, side="left") / falls.shape[0]
        axes[2].semilogy(
            levels * 100, np.where(share > 0, share, np.nan), color=COLOURS[name], label=name
        )
    for event, depth in depths.items():
        axes[2].axvline(depth * 100, color="grey", linestyle=":", linewidth=1)
        axes[2].text(
            depth * 100,
            0.5,
            event[:7],
            rotation=90,
            fontsize=7,
            color="grey",
            transform=axes[2].get_xaxis_transform(),
            va="center",
        )
    axes[2].set(
        xlim=(0.0, 50.0),
        xlabel="24-hour peak-to-trough fall (%)",
        ylabel="share of 24-hour windows",
        title="24-hour drawdowns (dotted: crash events)",
    )
    axes[0].legend()
    fig.suptitle(f"{asset.upper()}/USDT hourly: data vs path sources", fontsize=12)
    fig.tight_layout()
    target = FIGURES / f"paths_realism_{asset}.png"
    fig.savefig(target, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return target


def examples_figure(hours: int = 720) -> Path:
    data_file = REPO / "data" / "btc_usdt_spot_1h.parquet"
    common = {"n_paths": 5, "n_steps": hours}
    configs = {
        "gbm (sigma 0.006)": {"source": "gbm", "s0": 30000.0, "sigma": 0.006, **common},
        "garch (scenarios/garch_btc.toml)": load_scenario(
            REPO / "scenarios" / "garch_btc.toml"
        ).raw["paths"]
        | {"s0": 30000.0, **common},
        "historical windows": {
            "source": "historical",
            "mode": "windows",
            "data": str(data_file),
            "n_steps": hours,
            "s0": 30000.0,
        },
        "historical bootstrap": {
            "source": "historical",
            "mode": "bootstrap",
            "data": str(data_file),
            "s0": 30000.0,
            "mean_block": 24.0,
            **common,
        },
    }
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), sharey=True)
    for axis, (title, config) in zip(axes, configs.items(), strict=True):
        generator = source(config)
        picks = np.linspace(0, generator.n_paths - 1, 5).astype(int)
        for pick in picks:
            axis.plot(generator.chunk(int(pick), 1)[0], linewidth=0.8)
        axis.set(title=title, xlabel="hour")
    axes[0].set_ylabel("price (USDT), started at 30,000")
    fig.tight_layout()
    target = FIGURES / "paths_examples.png"
    fig.savefig(target, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return target


def fit_line(provenance: dict) -> str:
    fit = provenance["garch"]["params"]
    return (
        f"GJR-t fit: omega {fit['omega']:.4g}, alpha {fit['alpha']:.4f}, gamma "
        f"{fit['gamma']:.4f}, beta {fit['beta']:.4f}, nu {fit['nu']:.3f} (persistence "
        f"{provenance['garch']['persistence']:.6f}, start sigma "
        f"{provenance['garch']['start_sigma_percent']:.3f}%); FHS (Gaussian QML GJR) persistence "
        f"{provenance['fhs']['persistence']:.4f}, start sigma "
        f"{provenance['fhs']['start_sigma_percent']:.3f}%; bootstrap mean block "
        f"{provenance['bootstrap']['mean_block']:.0f} hours."
    )


def tables(title: str, results: dict, depths: dict) -> str:
    sigma = results["data"]["std"]
    lines = [
        title,
        "",
        "| | std (%/h) | kurtosis | moves > 5 sd (per 10k h) | acf(r²) lag 1 | lag 24 | lag 168 |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name in SOURCES:
        r = results[name]
        acf = r["acf"]
        big = 1e4 * float(np.mean(np.abs(r["returns"]) > 5.0 * sigma))
        lines.append(
            f"| {name} | {100 * r['std']:.3f} | {r['kurtosis']:.1f} | {big:.1f} | {acf[1]:.3f} | "
            f"{acf[24]:.3f} | {acf[168]:.3f} |"
        )
    lines += [
        "",
        "| event: share of 24-hour windows (per 10k) falling as deep | depth | "
        + " | ".join(SOURCES)
        + " |",
        "|---|---:|" + "---:|" * len(SOURCES),
    ]
    for event, depth in depths.items():
        cells = " | ".join(f"{1e4 * results[name]['tail'][event]:.2f}" for name in SOURCES)
        lines.append(f"| {event} | {100 * depth:.1f}% | {cells} |")
    return "\n".join(lines)


def write_doc(body: str) -> None:
    text = DOC.read_text(encoding="utf-8")
    start, stop = text.find(BEGIN), text.find(END)
    if start == -1 or stop < start:
        raise SystemExit(f"{DOC} lacks the {BEGIN} ... {END} markers")
    DOC.write_text(text[:start] + f"{BEGIN}\n{body}\n{END}" + text[stop + len(END) :])


#: (paths, hours) per horizon: the scenarios' 30 days, then one year.
HORIZONS = ((2000, 720), (200, 8760))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--write", action="store_true", help="update docs/paths.md")
    options = parser.parse_args()
    FIGURES.mkdir(parents=True, exist_ok=True)
    horizons = ", ".join(f"{n:,} paths x {h:,} hours" for n, h in HORIZONS)
    sections = [
        f"Generated by `python docs/make_paths_figures.py --write` (seed {SEED}); per source "
        f"and asset: {horizons}, every path started at the data's last close (the GARCH and "
        "FHS paths at the fit's forecast volatility). The data column is the whole history."
    ]
    for asset in ("btc", "eth"):
        data_file, data, depths = data_study(asset)
        section = [f"#### {asset.upper()}/USDT hourly"]
        for index, (n_paths, hours) in enumerate(HORIZONS):
            results, provenance = model_study(asset, data_file, data, depths, n_paths, hours)
            if index == 0:
                section.insert(1, fit_line(provenance))
                realism_figure(asset, results, depths)
            title = f"Paths of {hours:,} hours ({n_paths:,} per source):"
            section.append(tables(title, results, depths))
        sections.append("\n\n".join(section))
    examples_figure()
    body = "\n\n".join(sections)
    print(body)
    if options.write:
        write_doc(body)


if __name__ == "__main__":
    main()
