"""A book loaded from an exchange's positions export (issue 17): ``[book.columns]`` maps the
book's columns to the file's names, a signed quantity gives the side when there is no side
column, and sides are read case-insensitively (``buy``/``sell`` too). docs/model.md 2.1."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stresstest.book.positions import read_book
from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.scenario import load_scenario

#: Shaped like Binance's futures "Positions" export: a signed Size (negative: short), no
#: side column, and columns the book does not use (Mark Price, PNL with text).
BINANCE = (
    "Symbol,Size,Entry Price,Mark Price,Margin,PNL (ROI %)\n"
    "BTCUSDT,0.500,100.0,101.0,5.0,0.50 USDT (10.00%)\n"
    "BTCUSDT,-2.000,100.0,101.0,10.0,-2.00 USDT (-20.00%)\n"
    "BTCUSDT,1.250,98.0,101.0,12.25,3.75 USDT (30.61%)\n"
)
BINANCE_COLUMNS = '{qty = "Size", entry_price = "Entry Price", collateral = "Margin"}'
#: The same three positions in the canonical columns.
CANONICAL = (
    "side,qty,entry_price,collateral\n"
    "long,0.5,100.0,5.0\nshort,2.0,100.0,10.0\nlong,1.25,98.0,12.25\n"
)
PATHS = "path,step,price\n0,0,100.0\n0,1,92.0\n0,2,96.0\n1,0,100.0\n1,1,107.0\n1,2,111.0\n"


def scenario_text(book: str, columns: str | None) -> str:
    mapping = f"columns = {columns}\n" if columns is not None else ""
    return f"""
[scenario]
name = "export"

[paths]
source = "file"
file = "paths.csv"

[book]
source = "file"
file = "{book}"
{mapping}
[margin]
model = "static"
maintenance = 0.05

[liquidation]
latency_steps = 0
slippage = 0.0
fee = 0.01

[insurance_fund]
initial = 10.0
"""


def write(folder: Path, book_text: str, columns: str | None, name: str = "book.csv") -> Path:
    (folder / name).write_text(book_text)
    (folder / "paths.csv").write_text(PATHS)
    scenario = folder / f"{Path(name).stem}.toml"
    scenario.write_text(scenario_text(name, columns))
    return scenario


def test_a_binance_export_reads_as_the_canonical_book(tmp_path: Path) -> None:
    export = tmp_path / "positions.csv"
    export.write_text(BINANCE)
    book = read_book(export, {"qty": "Size", "entry_price": "Entry Price", "collateral": "Margin"})
    assert book.side.tolist() == [1, -1, 1]
    assert book.qty.tolist() == [0.5, 2.0, 1.25]
    assert book.entry_price.tolist() == [100.0, 100.0, 98.0]
    assert book.collateral.tolist() == [5.0, 10.0, 12.25]


def test_a_run_on_the_export_equals_a_run_on_the_canonical_file(tmp_path: Path) -> None:
    """Same positions, same result: the mapping changes how the file is read, nothing else."""
    runs = {}
    for label, text, columns in (
        ("export", BINANCE, BINANCE_COLUMNS),
        ("canonical", CANONICAL, None),
    ):
        scenario = write(tmp_path, text, columns, name=f"{label}.csv")
        out = tmp_path / f"out_{label}"
        result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(out), "--quiet"])
        assert result.exit_code == 0, result.output
        runs[label] = (out / "paths.parquet").read_bytes()
    assert runs["export"] == runs["canonical"]
    resolved = (tmp_path / "out_export" / "scenario.resolved.toml").read_text()
    assert "[book.columns]" in resolved and 'qty = "Size"' in resolved


def test_validate_reads_the_export(tmp_path: Path) -> None:
    scenario = write(tmp_path, BINANCE, BINANCE_COLUMNS)
    result = CliRunner().invoke(app, ["validate", str(scenario), "--json"])
    assert result.exit_code == 0, result.output
    assert '"n_positions": 3' in result.stdout


@pytest.mark.parametrize(
    ("cells", "sides"),
    [
        (("LONG", "Short", " long "), [1, -1, 1]),
        (("Buy", "SELL", "buy"), [1, -1, 1]),
    ],
)
def test_sides_are_read_in_any_case(
    tmp_path: Path, cells: tuple[str, ...], sides: list[int]
) -> None:
    rows = "".join(f"{side},1.0,100.0,5.0\n" for side in cells)
    book = tmp_path / "book.csv"
    book.write_text("Side,Size,Entry Price,Margin\n" + rows)
    columns = {"side": "Side", "qty": "Size", "entry_price": "Entry Price", "collateral": "Margin"}
    assert read_book(book, columns).side.tolist() == sides


def test_a_signed_short_that_also_says_short_is_a_short(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("side,qty,entry_price,collateral\nshort,-2.0,100.0,10.0\nlong,1.0,100.0,5.0\n")
    read = read_book(book)
    assert read.side.tolist() == [-1, 1]
    assert read.qty.tolist() == [2.0, 1.0]
    assert np.all(read.qty > 0)


def refusal(book_text: str, columns: dict[str, str] | None, tmp_path: Path) -> InputError:
    book = tmp_path / "book.csv"
    book.write_text(book_text)
    with pytest.raises(InputError) as caught:
        read_book(book, columns)
    assert caught.value.file == str(book)
    return caught.value


def test_a_negative_quantity_on_a_long_row_is_refused_at_its_row(tmp_path: Path) -> None:
    text = "Side,Size,Entry Price,Margin\nSELL,-1.0,100.0,5.0\nBuy,-2.0,100.0,5.0\n"
    columns = {"side": "Side", "qty": "Size", "entry_price": "Entry Price", "collateral": "Margin"}
    error = refusal(text, columns, tmp_path)
    assert (error.key, error.row, error.value) == ("Size", 1, -2.0)
    assert "negative quantity on a long row (column 'Side' says long)" in str(error)
    assert "expected a quantity > 0 for a long, or a side column that says short" in str(error)


def test_an_unknown_side_names_the_file_column_and_the_valid_words(tmp_path: Path) -> None:
    text = "Side,Size,Entry Price,Margin\nLONG,1.0,100.0,5.0\nflat,1.0,100.0,5.0\n"
    columns = {"side": "Side", "qty": "Size", "entry_price": "Entry Price", "collateral": "Margin"}
    error = refusal(text, columns, tmp_path)
    assert (error.key, error.row, error.value) == ("Side", 1, "flat")
    assert "'long' or 'short' (any case; 'buy' and 'sell' also)" in str(error)


def test_a_zero_signed_quantity_is_refused(tmp_path: Path) -> None:
    text = BINANCE.replace("-2.000", "0.000")
    error = refusal(
        text, {"qty": "Size", "entry_price": "Entry Price", "collateral": "Margin"}, tmp_path
    )
    assert (error.key, error.row) == ("Size", 1)


def test_a_mapped_column_missing_from_the_file_is_named(tmp_path: Path) -> None:
    error = refusal(
        BINANCE, {"qty": "Quantity", "entry_price": "Entry Price", "collateral": "Margin"}, tmp_path
    )
    assert error.problem == "missing column (book.columns.qty)" and error.key == "Quantity"
    assert "'Margin'], and 'side' unless quantities are signed (found ['Symbol', 'Size'" in str(
        error
    )


def test_values_out_of_range_name_the_file_column(tmp_path: Path) -> None:
    text = BINANCE.replace("98.0,101.0", "-98.0,101.0")
    error = refusal(
        text, {"qty": "Size", "entry_price": "Entry Price", "collateral": "Margin"}, tmp_path
    )
    assert (error.key, error.row, error.value) == ("Entry Price", 2, -98.0)


@pytest.mark.parametrize(
    ("columns", "key", "fragment"),
    [
        (
            '{quantity = "Size"}',
            "book.columns.quantity",
            "one of ['collateral', 'entry_price', 'qty', 'side']",
        ),
        ('{qty = "Size", collateral = "Size"}', "book.columns.collateral", "already mapped"),
        ('{qty = ""}', "book.columns.qty", "empty column name"),
        ("{qty = 3}", "book.columns", "a table of strings"),
    ],
)
def test_a_bad_column_mapping_is_refused_at_load(
    tmp_path: Path, columns: str, key: str, fragment: str
) -> None:
    scenario = write(tmp_path, BINANCE, columns)
    with pytest.raises(InputError) as caught:
        load_scenario(scenario)
    assert caught.value.key == key
    assert caught.value.file == str(scenario)
    assert fragment in str(caught.value)
