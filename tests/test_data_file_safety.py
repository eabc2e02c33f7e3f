"""Data files a user can get wrong: refused at the file, column and row, exit 2, nothing written.

Fractional ids and steps, Boolean or text numbers, magnitudes outside
``stresstest.limits``, integers wider than int64, and files that are symbolic
link loops, directories, unreadable, missing or removed during the run. Every
case runs ``stresstest run`` in process on a tiny scenario (2 paths of 4 steps,
2 positions; or 2 assets of 10 hourly candles) and checks the promise: exit
status 2, one line on stderr naming the file and the column or row, no
traceback, no output folder (nor a hidden staging or checkpoint folder) left.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import tomli_w
from typer.testing import CliRunner

from stresstest.book.accounts import read_accounts
from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.paths.file import read_path_file
from stresstest.scenario import load_scenario
from stresstest.scenario.provenance import resolved_dict, sha256_of
from tests.test_cli_errors import (  # noqa: F401 - wide_error_console is an autouse fixture
    GOOD_BOOK,
    GOOD_PATHS,
    Workspace,
    base_scenario,
    unwrap,
    wide_error_console,
)

HOURS = [f"2024-01-01T{hour:02d}:00:00Z" for hour in range(10)]
ACCOUNTS = (
    "account,asset,side,qty,entry_price,collateral\n"
    "0,BTC,long,0.1,60000,600\n"
    "1,ETH,short,2,3000,300\n"
)


def candles(closes: list[str] | None = None, start: float = 100.0) -> str:
    """A gap-free hourly candle CSV of 10 bars (closes as text)."""
    values = closes or [repr(start * (1.0 + 0.01 * ((hour % 3) - 1))) for hour in range(10)]
    return "timestamp,close\n" + "".join(
        f"{stamp},{value}\n" for stamp, value in zip(HOURS, values, strict=True)
    )


def multi_scenario(data: list[str], book: dict[str, Any] | None = None) -> dict[str, Any]:
    """Joint windows over two candle files, with a synthetic or file accounts book."""
    return {
        "scenario": {"name": "tiny_multi", "seed": 1},
        "paths": {
            "source": "historical_multi",
            "assets": ["BTC", "ETH"],
            "data": data,
            "mode": "windows",
            "n_steps": 4,
        },
        "book": book or {"source": "accounts_synthetic", "n_accounts": 4},
        "margin": {"model": "static", "maintenance": 0.01},
        "liquidation": {"latency_steps": 1},
    }


def write_multi(ws: Workspace, book: dict[str, Any] | None = None) -> Path:
    (ws.root / "btc.csv").write_text(candles(start=60000.0))
    (ws.root / "eth.csv").write_text(candles(start=3000.0))
    (ws.root / "accounts.csv").write_text(ACCOUNTS)
    ws.scenario.write_text(tomli_w.dumps(multi_scenario(["btc.csv", "eth.csv"], book)))
    return ws.scenario


def file_book() -> dict[str, Any]:
    return {"source": "accounts_file", "file": "accounts.csv"}


def run_cli(ws: Workspace, command: str = "run") -> tuple[int, str]:
    args = [command, str(ws.scenario)] + (
        ["--out", str(ws.out), "--quiet"] if command == "run" else []
    )
    result = CliRunner().invoke(app, args)
    assert "Traceback" not in result.output + result.stderr, result.stderr
    return result.exit_code, unwrap(result.stderr)


def assert_refused(ws: Workspace, fragments: list[str]) -> None:
    """Exit 2, one line naming every fragment, and nothing left in the folder but the inputs."""
    before = sorted(path.name for path in ws.root.iterdir())
    code, message = run_cli(ws)
    assert code == 2, message
    assert message.startswith("error:") and "\n" not in message, message
    for fragment in fragments:
        assert fragment in message, f"{fragment!r} not in {message!r}"
    assert sorted(path.name for path in ws.root.iterdir()) == before


# ----------------------------------------------------------------------------- path and book files
#: name -> (book text, paths text, fragments the message must hold, given the workspace)
Case = tuple[str, str, Callable[[Workspace], list[str]]]
CASES: dict[str, Case] = {
    "fractional path id": (
        GOOD_BOOK,
        GOOD_PATHS.replace("\n1,", "\n2.5,"),
        lambda ws: [str(ws.paths), "key 'path'", "row 4", "2.5", "a whole number"],
    ),
    "fractional step": (
        GOOD_BOOK,
        GOOD_PATHS.replace("0,2,94.0", "0,1.5,94.0"),
        lambda ws: [str(ws.paths), "key 'step'", "row 2", "1.5", "a whole number"],
    ),
    "whole float path id beyond 2**53": (
        GOOD_BOOK,
        GOOD_PATHS.replace("\n1,", "\n1e17,"),
        lambda ws: [str(ws.paths), "key 'path'", "row 4", "1e+17", "2**53"],
    ),
    "path id beyond int64": (
        GOOD_BOOK,
        GOOD_PATHS.replace("\n1,", "\n99999999999999999999,"),
        lambda ws: [str(ws.paths), "key 'path'", "row 4", "99999999999999999999"],
    ),
    "Boolean qty in a CSV": (
        GOOD_BOOK.replace("long,1.0", "long,true").replace("short,2.0", "short,false"),
        GOOD_PATHS,
        lambda ws: [str(ws.book), "key 'qty'", "wrong column type", "Boolean"],
    ),
    "text step": (
        GOOD_BOOK,
        GOOD_PATHS.replace("0,2,94.0", "0,two,94.0"),
        lambda ws: [str(ws.paths), "key 'step'", "row 2", "'two'"],
    ),
    "price 1e308": (
        GOOD_BOOK,
        GOOD_PATHS.replace("97.5", "1e308"),
        lambda ws: [str(ws.paths), "key 'price'", "row 1", "1e+308", "1e+12"],
    ),
    "price 1e-300": (
        GOOD_BOOK,
        GOOD_PATHS.replace("108.0", "1e-300"),
        lambda ws: [str(ws.paths), "key 'price'", "row 6", "1e-300", "1e-12"],
    ),
    "entry price 1e308": (
        GOOD_BOOK.replace("1.0,100.0", "1.0,1e308"),
        GOOD_PATHS,
        lambda ws: [str(ws.book), "key 'entry_price'", "row 0", "1e+308"],
    ),
    "qty 1e300 (was an OverflowError in the summary statistics)": (
        GOOD_BOOK.replace("long,1.0", "long,1e300"),
        GOOD_PATHS,
        lambda ws: [str(ws.book), "key 'qty'", "row 0", "1e+300", "1e+15"],
    ),
    "qty 1e-300": (
        GOOD_BOOK.replace("short,2.0", "short,1e-300"),
        GOOD_PATHS,
        lambda ws: [str(ws.book), "key 'qty'", "row 1", "1e-300", "1e-12"],
    ),
    "qty as a 30-digit integer": (
        GOOD_BOOK.replace("1.0,", "1" + "0" * 29 + ",").replace("2.0,", "2,"),
        GOOD_PATHS,
        lambda ws: [str(ws.book), "key 'qty'", "row 0", "1e+29", "1e+15"],
    ),
    "collateral 1e308": (
        GOOD_BOOK.replace("10.0", "1e308"),
        GOOD_PATHS,
        lambda ws: [str(ws.book), "key 'collateral'", "row 1", "1e+308", "0 or"],
    ),
    "collateral 1e-300": (
        GOOD_BOOK.replace("5.0", "1e-300"),
        GOOD_PATHS,
        lambda ws: [str(ws.book), "key 'collateral'", "row 0", "1e-300"],
    ),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_bad_data_file_is_refused_at_its_row(tmp_path: Path, case: Case) -> None:
    ws = Workspace(tmp_path)
    book, paths, fragments = case
    ws.write(book=book, paths=paths)
    assert_refused(ws, fragments(ws))


def test_boolean_qty_in_parquet_is_refused_naming_the_type(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write({**base_scenario(), "book": {"source": "file", "file": "book.parquet"}})
    pl.DataFrame(
        {
            "side": ["long", "short"],
            "qty": [True, True],
            "entry_price": [100.0, 100.0],
            "collateral": [5.0, 10.0],
        }
    ).write_parquet(ws.root / "book.parquet")
    assert_refused(ws, [str(ws.root / "book.parquet"), "key 'qty'", "Boolean"])


def test_whole_float_ids_are_the_same_paths_as_integers(tmp_path: Path) -> None:
    """Accepted, exactly: a float column of whole numbers ("1.0") reads as the integers."""
    integers = tmp_path / "int.csv"
    floats = tmp_path / "float.csv"
    integers.write_text(GOOD_PATHS)
    floats.write_text(GOOD_PATHS.replace("\n0,", "\n0.0,").replace("\n1,", "\n1.0,"))
    assert pl.read_csv(floats)["path"].dtype == pl.Float64
    ids, prices = read_path_file(integers)
    float_ids, float_prices = read_path_file(floats)
    assert ids.dtype == float_ids.dtype == np.int64
    np.testing.assert_array_equal(ids, float_ids)
    np.testing.assert_array_equal(prices, float_prices)


# ----------------------------------------------------------------------------- accounts and candles
def test_fractional_account_id_is_refused_not_merged(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_multi(ws, file_book())
    (ws.root / "accounts.csv").write_text(ACCOUNTS.replace("\n1,ETH", "\n0.5,ETH"))
    accounts = str(ws.root / "accounts.csv")
    assert_refused(ws, [accounts, "key 'account'", "row 1", "0.5", "a whole number"])
    with pytest.raises(InputError) as caught:  # and from Python, with the row
        read_accounts(ws.root / "accounts.csv", ("BTC", "ETH"))
    assert (caught.value.key, caught.value.row) == ("account", 1)


def test_accounts_quantity_out_of_range_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_multi(ws, file_book())
    (ws.root / "accounts.csv").write_text(ACCOUNTS.replace("short,2,", "short,1e300,"))
    assert_refused(ws, [str(ws.root / "accounts.csv"), "key 'qty'", "row 1", "1e+300"])


def test_multi_asset_candle_price_out_of_range_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_multi(ws)
    closes = candles(start=3000.0).splitlines()[1:]
    values = [line.split(",")[1] for line in closes]
    values[3] = "1e308"
    (ws.root / "eth.csv").write_text(candles(values))
    assert_refused(ws, [str(ws.root / "eth.csv"), "key 'close'", "row 3", "1e+308", "1e+12"])


def test_historical_candle_price_out_of_range_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    paths = {"source": "historical", "data": "btc.csv", "mode": "replay"}
    ws.write({**base_scenario(), "paths": paths})
    values = [repr(100.0 + hour) for hour in range(10)]
    values[5] = "1e-300"
    (ws.root / "btc.csv").write_text(candles(values))
    assert_refused(ws, [str(ws.root / "btc.csv"), "key 'close'", "row 5", "1e-300"])


def test_missing_multi_asset_file_is_refused_by_run_as_by_validate(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_multi(ws)
    (ws.root / "eth.csv").unlink()
    code, message = run_cli(ws, "validate")
    assert code == 2 and str(ws.root / "eth.csv") in message, message
    assert_refused(ws, [str(ws.root / "eth.csv"), "paths.data", "not found"])


def test_provenance_of_a_missing_multi_asset_file_is_an_input_error(tmp_path: Path) -> None:
    """Hashing for the checkpoint fingerprint and scenario.resolved.toml names the file."""
    ws = Workspace(tmp_path)
    scenario = load_scenario(write_multi(ws))
    (ws.root / "eth.csv").unlink()
    with pytest.raises(InputError) as caught:
        resolved_dict(scenario, "test")
    assert caught.value.file == str(ws.root / "eth.csv")
    assert caught.value.key == "paths.data[1]"


def test_multi_asset_file_that_is_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    write_multi(ws)
    (ws.root / "eth.csv").unlink()
    (ws.root / "eth.csv").symlink_to(ws.root / "eth.csv")
    assert_refused(ws, [str(ws.root / "eth.csv")])


# ----------------------------------------------------------------------------- unreadable files
def test_book_that_is_a_symlink_loop_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write()
    ws.book.unlink()
    (ws.root / "a.csv").symlink_to(ws.root / "b.csv")
    (ws.root / "b.csv").symlink_to(ws.root / "a.csv")
    ws.book.symlink_to(ws.root / "a.csv")
    assert_refused(ws, [str(ws.book), "'book.file'", "symbolic link loop"])


def test_book_that_is_a_directory_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write()
    ws.book.unlink()
    ws.book.mkdir()
    assert_refused(ws, [str(ws.book), "'book.file'"])


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_unreadable_book_is_refused(tmp_path: Path) -> None:
    ws = Workspace(tmp_path)
    ws.write()
    ws.book.chmod(0)
    try:
        assert_refused(ws, [str(ws.book), "Permission denied"])
    finally:
        ws.book.chmod(0o644)


def test_unreadable_files_give_input_errors_from_python(tmp_path: Path) -> None:
    """The readers themselves (behind the scenario checks): a directory and a link loop."""
    folder = tmp_path / "paths.csv"
    folder.mkdir()
    with pytest.raises(InputError, match=r"not a regular file|Is a directory") as caught:
        read_path_file(folder)
    assert caught.value.file == str(folder)
    loop = tmp_path / "loop.csv"
    loop.symlink_to(loop)
    with pytest.raises(InputError, match="symbolic links") as caught:
        read_path_file(loop)
    assert caught.value.file == str(loop)
    with pytest.raises(InputError, match="symbolic links"):
        sha256_of(loop)


def test_book_removed_during_the_run_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read, then removed before its hash is recorded: a message, not an OSError."""
    # engine/run.py imports read_book when it builds the book (no polars before that)
    positions = importlib.import_module("stresstest.book.positions")
    ws = Workspace(tmp_path)
    ws.write()
    read_book = positions.read_book

    def read_then_remove(path: Path, columns: Any = None) -> Any:
        book = read_book(path, columns)
        path.unlink()
        return book

    monkeypatch.setattr(positions, "read_book", read_then_remove)
    code, message = run_cli(ws)
    assert code == 2, message
    assert message.startswith("error:") and "\n" not in message, message
    assert str(ws.book) in message and "not found" in message, message
    assert sorted(path.name for path in ws.root.iterdir()) == ["paths.csv", "scenario.toml"]


def test_hash_is_of_the_bytes_read_until_the_file_changes(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text(GOOD_BOOK)
    first = sha256_of(book)
    ids_file = tmp_path / "paths.csv"
    ids_file.write_text(GOOD_PATHS)
    read_path_file(ids_file)
    assert sha256_of(ids_file) == sha256_of(ids_file)
    book.write_text(GOOD_BOOK + "long,3.0,100.0,5.0\n")
    assert sha256_of(book) != first  # a changed file is hashed again
