"""Bad input at the command line: exit status 2, a message that locates the problem, no
traceback and no output folder (not even a hidden staging folder) left behind.

Each case writes a tiny scenario (2 file paths of 4 steps, 2 positions) into its own
folder and breaks one thing.
"""

from __future__ import annotations

import math
import os
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from rich.console import Console
from typer.testing import CliRunner

import stresstest.cli
from stresstest.cli import app
from stresstest.engine import run
from stresstest.errors import InputError
from stresstest.scenario import load_scenario

GOOD_BOOK = "side,qty,entry_price,collateral\nlong,1.0,100.0,5.0\nshort,2.0,100.0,10.0\n"
GOOD_PATHS = (
    "path,step,price\n"
    "0,0,100.0\n0,1,97.5\n0,2,94.0\n0,3,99.0\n"
    "1,0,100.0\n1,1,102.5\n1,2,108.0\n1,3,101.0\n"
)
VOL_SCALED = {
    "model": "vol_scaled",
    "k": 3.0,
    "horizon_steps": 1,
    "ewma_lambda": 0.94,
    "initial_variance": 1e-4,
    "floor": 0.005,
    "cap": 0.5,
}
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def base_scenario() -> dict[str, Any]:
    return {
        "scenario": {"name": "tiny", "seed": 1},
        "paths": {"source": "file", "file": "paths.csv"},
        "book": {"source": "file", "file": "book.csv"},
        "margin": {"model": "static", "maintenance": 0.01},
        "liquidation": {"latency_steps": 1},
    }


@dataclass
class Workspace:
    """A folder with a scenario, its book and path files, and a result path."""

    root: Path

    @property
    def scenario(self) -> Path:
        return self.root / "scenario.toml"

    @property
    def book(self) -> Path:
        return self.root / "book.csv"

    @property
    def paths(self) -> Path:
        return self.root / "paths.csv"

    @property
    def out(self) -> Path:
        return self.root / "result"

    def write(
        self,
        scenario: dict[str, Any] | None = None,
        book: str = GOOD_BOOK,
        paths: str = GOOD_PATHS,
    ) -> Path:
        self.scenario.write_text(tomli_w.dumps(scenario or base_scenario()), encoding="utf-8")
        self.book.write_text(book, encoding="utf-8")
        self.paths.write_text(paths, encoding="utf-8")
        return self.scenario


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def with_table(table: str, **values: Any) -> dict[str, Any]:
    scenario = base_scenario()
    scenario[table] = {**scenario.get(table, {}), **values}
    return scenario


@pytest.fixture(autouse=True)
def wide_error_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process runs print errors on a console too wide to wrap them.

    rich wraps at 80 columns when stderr is not a terminal (see
    ``test_subprocess_message_is_one_line``); the subprocess tests use the real console.
    """
    monkeypatch.setattr(stresstest.cli, "err_console", Console(stderr=True, width=100_000))


def unwrap(text: str) -> str:
    """The message without colour codes and surrounding blank lines."""
    return ANSI.sub("", text).strip()


def assert_nothing_written(out: Path) -> None:
    assert not out.exists(), f"{out} was created"
    leftovers = [p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.")]
    assert not leftovers, f"staging folders left behind: {leftovers}"


# ----------------------------------------------------------------------------- cases
#: A case breaks a workspace and returns (scenario file, fragments the message must hold).
Breaker = Callable[[Workspace], tuple[Path, list[str]]]


def missing_scenario(ws: Workspace) -> tuple[Path, list[str]]:
    missing = ws.root / "nowhere.toml"
    return missing, [str(missing), "not found"]


def missing_path_file(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(with_table("paths", file="no_paths.csv"))
    return ws.scenario, [str(ws.scenario), "'paths.file'", str(ws.root / "no_paths.csv")]


def missing_book_file(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(with_table("book", file="no_book.csv"))
    return ws.scenario, [str(ws.scenario), "'book.file'", str(ws.root / "no_book.csv")]


def book_missing_column(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(book=GOOD_BOOK.replace("qty", "quantity"))
    return ws.scenario, [str(ws.book), "key 'qty'", "missing column", "'quantity'"]


def paths_missing_column(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(paths=GOOD_PATHS.replace("price", "px"))
    return ws.scenario, [str(ws.paths), "key 'price'", "missing column", "'px'"]


def negative_qty(ws: Workspace) -> tuple[Path, list[str]]:
    """A negative quantity on a long row: the side column and the sign disagree."""
    ws.write(book=GOOD_BOOK.replace("short,2.0", "long,-2.0"))
    return ws.scenario, [str(ws.book), "key 'qty'", "row 1", "-2.0", "negative quantity on a long"]


def unknown_side(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(book=GOOD_BOOK.replace("short", "flat"))
    return ws.scenario, [str(ws.book), "key 'side'", "row 1", "'flat'"]


def gap_in_steps(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(paths=GOOD_PATHS.replace("0,2,94.0", "0,4,94.0"))
    return ws.scenario, [str(ws.paths), "key 'step'", "gap in steps", "path 0 has no step 2"]


def duplicate_step(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(paths=GOOD_PATHS.replace("1,3,101.0", "1,2,101.0"))
    return ws.scenario, [str(ws.paths), "key 'step'", "row 7", "path 1, step 2"]


def nan_price(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(paths=GOOD_PATHS.replace("97.5", "NaN"))
    return ws.scenario, [str(ws.paths), "key 'price'", "row 1", "nan"]


def zero_price(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(paths=GOOD_PATHS.replace("102.5", "0.0"))
    return ws.scenario, [str(ws.paths), "key 'price'", "row 5", "0.0"]


def negative_price(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(paths=GOOD_PATHS.replace("108.0", "-108.0"))
    return ws.scenario, [str(ws.paths), "key 'price'", "row 6", "-108.0"]


def unknown_margin_key(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write(with_table("margin", maintenence=0.02))
    return ws.scenario, [str(ws.scenario), "'margin.maintenence'", "unknown key", "0.02"]


def wrong_type(ws: Workspace) -> tuple[Path, list[str]]:
    gbm = {"source": "gbm", "s0": 100.0, "sigma": 0.01, "n_paths": "many", "n_steps": 3}
    ws.write({**base_scenario(), "paths": gbm})
    return ws.scenario, [str(ws.scenario), "'paths.n_paths'", "wrong type", "'many'"]


def ewma_lambda_zero(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write({**base_scenario(), "margin": {**VOL_SCALED, "ewma_lambda": 0.0}})
    return ws.scenario, [str(ws.scenario), "'margin.ewma_lambda'", "out of range", "0.0"]


def ewma_lambda_above_one(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write({**base_scenario(), "margin": {**VOL_SCALED, "ewma_lambda": 1.5}})
    return ws.scenario, [str(ws.scenario), "'margin.ewma_lambda'", "out of range", "1.5"]


def floor_above_cap(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write({**base_scenario(), "margin": {**VOL_SCALED, "floor": 0.3, "cap": 0.2}})
    return ws.scenario, [str(ws.scenario), "'margin.floor'", "0.3", "0.2"]


def invalid_toml(ws: Workspace) -> tuple[Path, list[str]]:
    ws.write()
    ws.scenario.write_text(
        '[scenario]\nname = "tiny"\n\n[paths\nsource = "file"\n', encoding="utf-8"
    )
    return ws.scenario, [str(ws.scenario), "not valid TOML", "line 4"]


CASES: dict[str, Breaker] = {
    "missing scenario file": missing_scenario,
    "missing path file": missing_path_file,
    "missing book file": missing_book_file,
    "book missing column": book_missing_column,
    "path file missing column": paths_missing_column,
    "negative qty": negative_qty,
    "unknown side": unknown_side,
    "gap in steps": gap_in_steps,
    "duplicate step": duplicate_step,
    "NaN price": nan_price,
    "zero price": zero_price,
    "negative price": negative_price,
    "unknown key in [margin]": unknown_margin_key,
    "wrong type": wrong_type,
    "ewma_lambda = 0": ewma_lambda_zero,
    "ewma_lambda = 1.5": ewma_lambda_above_one,
    "floor above cap": floor_above_cap,
    "invalid TOML": invalid_toml,
}


@pytest.mark.parametrize("breaker", list(CASES.values()), ids=list(CASES))
def test_bad_input_exits_2_with_a_located_message(ws: Workspace, breaker: Breaker) -> None:
    scenario, fragments = breaker(ws)
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(ws.out), "--quiet"])
    message = unwrap(result.stderr)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert "Traceback" not in result.output + result.stderr
    assert message.startswith("error:") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert_nothing_written(ws.out)


def test_lowercase_nan_price_is_located(ws: Workspace) -> None:
    scenario = ws.write(paths=GOOD_PATHS.replace("97.5", "nan"))
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(ws.out), "--quiet"])
    assert result.exit_code == 2
    message = unwrap(result.stderr)
    for fragment in (str(ws.paths), "key 'price'", "row 1", "got nan"):
        assert fragment in message, f"{fragment!r} not in {message!r}"


# ----------------------------------------------------------------------------- subprocess
def run_module(*args: str, columns: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "stresstest", "run", *args],
        capture_output=True,
        stdin=subprocess.DEVNULL,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.mark.slow
@pytest.mark.parametrize("breaker", [negative_qty, invalid_toml], ids=["negative qty", "toml"])
def test_subprocess_exits_2_without_traceback(ws: Workspace, breaker: Breaker) -> None:
    scenario, fragments = breaker(ws)
    completed = run_module(str(scenario), "--out", str(ws.out), "--quiet", columns=1000)
    assert completed.returncode == 2, completed.stderr
    assert "Traceback" not in completed.stderr
    assert completed.stdout == ""
    for fragment in fragments:
        assert fragment in completed.stderr
    assert_nothing_written(ws.out)


@pytest.mark.slow
def test_subprocess_message_is_one_line(ws: Workspace) -> None:
    deep = ws.root / ("a_rather_long_folder_name_" * 4)
    deep.mkdir()
    missing = deep / "scenario_that_does_not_exist.toml"
    completed = run_module(str(missing), "--out", str(ws.out), "--quiet")
    assert completed.returncode == 2
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert str(missing) in lines[0]


@pytest.mark.parametrize("folder", ["data[v2]", "data[/v2]"])
def test_brackets_in_a_path_are_printed(ws: Workspace, folder: str) -> None:
    missing = ws.root / folder / "scenario.toml"
    result = CliRunner().invoke(app, ["run", str(missing), "--out", str(ws.out), "--quiet"])
    assert result.exit_code == 2, (result.exit_code, result.exception)
    assert str(missing) in unwrap(result.stderr)


# ----------------------------------------------------------------------------- output folder
def test_foreign_output_folder_is_refused_and_untouched(ws: Workspace) -> None:
    scenario = ws.write()
    ws.out.mkdir()
    (ws.out / "notes.txt").write_text("mine\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(ws.out), "--quiet"])
    assert result.exit_code == 2, (result.stderr, result.exception)
    message = unwrap(result.stderr)
    assert str(ws.out) in message and "not empty" in message
    assert sorted(p.name for p in ws.out.iterdir()) == ["notes.txt"]
    assert (ws.out / "notes.txt").read_text(encoding="utf-8") == "mine\n"
    leftovers = [p.name for p in ws.root.iterdir() if p.name.startswith(f".{ws.out.name}.")]
    assert not leftovers


def test_earlier_result_folder_is_replaced_whole(ws: Workspace) -> None:
    scenario = ws.write()
    ws.out.mkdir()  # as written before result folders had a manifest
    (ws.out / "summary.json").write_text("{}\n", encoding="utf-8")
    (ws.out / "paths.parquet").write_bytes(b"PAR1")
    (ws.out / "reference_paths.parquet").write_bytes(b"PAR1")  # stale: not written this time
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(ws.out), "--quiet"])
    assert result.exit_code == 0, (result.stderr, result.exception)
    assert sorted(p.name for p in ws.out.iterdir()) == [
        ".stresstest-manifest.json",
        "attribution.parquet",
        "attribution_steps.parquet",
        "fund_quantiles.parquet",
        "liquidated_notional_quantiles.parquet",
        "liquidation_quantiles.parquet",
        "paths.parquet",
        "price_quantiles.parquet",
        "sample_paths.parquet",
        "scenario.resolved.toml",
        "summary.json",
    ]
    assert '"scenario": "tiny"' in (ws.out / "summary.json").read_text(encoding="utf-8")
    leftovers = [p.name for p in ws.root.iterdir() if p.name.startswith(f".{ws.out.name}.")]
    assert not leftovers


# ----------------------------------------------------------------------------- Python API
def test_api_unknown_key_carries_location(ws: Workspace) -> None:
    ws.write(with_table("margin", maintenence=0.02))
    with pytest.raises(InputError) as caught:
        load_scenario(ws.scenario)
    error = caught.value
    assert error.file == str(ws.scenario.resolve())
    assert error.key == "margin.maintenence"
    assert error.row is None
    assert error.value == 0.02


def test_api_negative_qty_carries_row(ws: Workspace) -> None:
    ws.write(book=GOOD_BOOK.replace("short,2.0", "long,-2.0"))
    scenario = load_scenario(ws.scenario)
    with pytest.raises(InputError) as caught:
        run(scenario)
    error = caught.value
    assert error.file == str(ws.book.resolve())
    assert error.key == "qty"
    assert error.row == 1
    assert error.value == -2.0


def test_api_nan_price_carries_row(ws: Workspace) -> None:
    ws.write(paths=GOOD_PATHS.replace("97.5", "NaN"))
    scenario = load_scenario(ws.scenario)
    with pytest.raises(InputError) as caught:
        run(scenario)
    error = caught.value
    assert error.file == str(ws.paths.resolve())
    assert error.key == "price"
    assert error.row == 1
    assert isinstance(error.value, float) and math.isnan(error.value)


def test_api_duplicate_step_carries_row(ws: Workspace) -> None:
    ws.write(paths=GOOD_PATHS.replace("1,3,101.0", "1,2,101.0"))
    scenario = load_scenario(ws.scenario)
    with pytest.raises(InputError) as caught:
        run(scenario)
    error = caught.value
    assert error.file == str(ws.paths.resolve())
    assert error.key == "step"
    assert error.row == 7
    assert error.value == "path 1, step 2"


def test_text_in_a_numeric_column_names_row_and_value(tmp_path: Path) -> None:
    from stresstest.book.positions import read_book
    from stresstest.errors import InputError

    book = tmp_path / "book.csv"
    book.write_text("side,qty,entry_price,collateral\nlong,1,100,5\nshort,abc,100,5\n")
    with pytest.raises(InputError) as caught:
        read_book(book)
    assert (caught.value.key, caught.value.row, caught.value.value) == ("qty", 1, "abc")
