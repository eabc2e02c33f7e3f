"""Result-folder schemas: shipped, consistent with the code, written, and able to fail.

The schemas of stresstest/schemas/ describe what the writers produce
(tests/conftest.py validates every result folder the suite writes against them);
here: the schemas are valid and agree with the column lists of the code, the
version is written, the checker refuses a broken folder (missing column, wrong
dtype, a stage column without its stage, a newer format_version, ...), and the
report reader refuses a newer version with one line (exit 2) but reads a legacy
folder without one.
"""

from __future__ import annotations

import json
import re
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import numpy as np
import polars as pl
import pytest
from rich.console import Console
from typer.testing import CliRunner

import stresstest.cli
from stresstest.backtest.coverage import backtest, write_backtest
from stresstest.cli import app
from stresstest.engine.result import INTEGER_METRICS, STEP_FILES, step_quantiles
from stresstest.errors import InputError
from stresstest.io.atomic import write_manifest
from stresstest.jobs import compare_to_dir, run_to_dir
from stresstest.kernels import enums
from stresstest.report.load import load_result
from stresstest.schemas import (
    FORMAT_VERSION,
    PARQUET_VERSION_KEY,
    load_schema,
    parquet_metadata,
    schema_names,
    validate_result_folder,
)
from tests.result_folders import validate_written, written_result_folders

SCENARIO = """
[scenario]
name = "schemas"
seed = 3

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 24
n_steps = 16

[book]
source = "synthetic"
n_positions = 400
leverage_max = 40.0

[margin]
model = "static"
maintenance = 0.005

[liquidation]
latency_steps = 1
slippage = 0.002
fee = 0.01

[insurance_fund]
initial = 500.0
"""

COMPARE = """
[compare]
baseline = "static"
bootstrap_samples = 50

[[compare.variants]]
name = "static"

[[compare.variants]]
name = "slow"
"liquidation.latency_steps" = 3
"""

REPO = Path(__file__).resolve().parents[1]
JSON_SCHEMAS = (
    "summary.schema.json",
    "compare.schema.json",
    "backtest.schema.json",
    "reverse.schema.json",
    "check.schema.json",
)
TABLE_SCHEMAS = tuple(name for name in schema_names() if name.startswith("tables/"))


@pytest.fixture(autouse=True)
def wide_error_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """Errors printed on one line however long the file name."""
    monkeypatch.setattr(stresstest.cli, "err_console", Console(stderr=True, width=100_000))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("schemas_run")
    (folder / "run.toml").write_text(SCENARIO)
    return run_to_dir(folder / "run.toml", folder / "run")[1]


@pytest.fixture(scope="module")
def compare_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("schemas_compare")
    (folder / "compare.toml").write_text(SCENARIO + COMPARE)
    return compare_to_dir(folder / "compare.toml", folder / "compare")[1]


# ----------------------------------------------------------------------------- the schemas
def test_schemas_are_shipped_and_valid() -> None:
    assert set(JSON_SCHEMAS) | {"table.schema.json"} <= set(schema_names())
    assert len(TABLE_SCHEMAS) == 12
    for name in (*JSON_SCHEMAS, "table.schema.json"):
        jsonschema.Draft202012Validator.check_schema(load_schema(name))
    form = load_schema("table.schema.json")
    for name in TABLE_SCHEMAS:
        table = load_schema(name)
        jsonschema.validate(table, form)
        assert name == f"tables/{Path(table['title']).stem}.schema.json"
        assert table["format_version"] == FORMAT_VERSION


def test_paths_schema_lists_the_metric_columns_of_every_stage() -> None:
    columns = load_schema("tables/paths.schema.json")["columns"]
    names = [column["name"] for column in columns]
    assert names == [
        "path",
        *enums.METRIC_NAMES,
        *enums.MARKET_METRIC_NAMES,
        *enums.ADL_METRIC_NAMES,
        *enums.PROCYCLICALITY_METRIC_NAMES,
        *enums.BACKSTOP_METRIC_NAMES,
        *enums.FUND_BOUND_METRIC_NAMES,
        *enums.LENDING_METRIC_NAMES,
    ]
    assert set(names[1:]) == set(enums.METRIC_INDEX)
    when = {column["name"]: column["required_when"] for column in columns}
    assert all(when[name] is None for name in ("path", *enums.METRIC_NAMES))
    assert all(when[name] == {"scenario_table": "market"} for name in enums.MARKET_METRIC_NAMES)
    assert all(when[name] == {"scenario_table": "adl"} for name in enums.ADL_METRIC_NAMES)
    assert all(
        when[name] == {"scenario_table": "procyclicality"}
        for name in enums.PROCYCLICALITY_METRIC_NAMES
    )
    assert all(when[name] == {"scenario_table": "backstop"} for name in enums.BACKSTOP_METRIC_NAMES)
    assert when["fund_passed_bad_debt"] == {"scenario_key": "insurance_fund.pays_past_bankruptcy"}
    assert all(when[name] == {"scenario_table": "lending"} for name in enums.LENDING_METRIC_NAMES)
    for column in columns[1:]:
        integer = column["name"] in INTEGER_METRICS
        assert column["dtype"] == ("Int64" if integer else "Float64"), column["name"]
        assert column["unit"] in ("count", "quote", "fraction", "dimensionless"), column["name"]


def test_summary_schema_has_one_metric_entry_per_column() -> None:
    metrics = load_schema("summary.schema.json")["properties"]["metrics"]
    assert set(metrics["properties"]) == set(enums.METRIC_INDEX)
    assert metrics["required"] == list(enums.METRIC_NAMES)


def test_step_file_schemas_match_the_step_tables() -> None:
    frame = step_quantiles(np.ones((3, 2)), np.array([0, 1]))
    for file_name in STEP_FILES:
        table = load_schema(f"tables/{Path(file_name).stem}.schema.json")
        assert [(c["name"], c["dtype"]) for c in table["columns"]] == [
            (name, str(dtype)) for name, dtype in frame.schema.items()
        ]


# ----------------------------------------------------------------------------- written
def test_run_and_compare_folders_carry_the_version(run_dir: Path, compare_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["format_version"] == FORMAT_VERSION
    document = json.loads((compare_dir / "compare.json").read_text())
    assert document["format_version"] == FORMAT_VERSION
    variant = json.loads((compare_dir / "variants" / "slow" / "summary.json").read_text())
    assert variant["format_version"] == FORMAT_VERSION
    tables = [*run_dir.glob("*.parquet"), *compare_dir.rglob("*.parquet")]
    assert len(tables) == 8 + 2 + 2 * 8  # with attribution.parquet, attribution_steps.parquet
    expected = parquet_metadata()
    for table in tables:
        metadata = pl.read_parquet_metadata(table)
        if expected is None:  # this polars cannot write metadata: the JSON carries the version
            assert PARQUET_VERSION_KEY not in metadata
        else:
            assert metadata[PARQUET_VERSION_KEY] == str(FORMAT_VERSION), table


def test_written_folders_validate(run_dir: Path, compare_dir: Path) -> None:
    validate_result_folder(run_dir)
    validate_result_folder(compare_dir)
    assert written_result_folders(run_dir.parent) == [run_dir]


# ----------------------------------------------------------------------------- broken
def _rewrite_table(path: Path, change: Callable[[pl.DataFrame], pl.DataFrame]) -> None:
    change(pl.read_parquet(path)).write_parquet(path)


def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    document = json.loads(path.read_text())
    change(document)
    path.write_text(json.dumps(document))


RUN_BREAKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "missing column": (
        lambda d: _rewrite_table(d / "paths.parquet", lambda f: f.drop("bad_debt")),
        r"paths\.parquet, key 'bad_debt': missing column",
    ),
    "wrong dtype": (
        lambda d: _rewrite_table(
            d / "paths.parquet", lambda f: f.with_columns(pl.col("n_liquidations").cast(pl.Float64))
        ),
        r"key 'n_liquidations': wrong column dtype \(got 'Float64'\); expected Int64",
    ),
    "stage column without its stage": (
        lambda d: _rewrite_table(
            d / "paths.parquet",
            lambda f: f.with_columns(cascade_depth=pl.lit(0, dtype=pl.Int64)).select(
                "path", *enums.METRIC_NAMES, "cascade_depth"
            ),
        ),
        r"key 'cascade_depth': column present without its condition.*\[market\]",
    ),
    "unexpected column": (
        lambda d: _rewrite_table(
            d / "fund_quantiles.parquet", lambda f: f.with_columns(q999=pl.col("q99"))
        ),
        r"fund_quantiles\.parquet, key 'q999': unexpected column",
    ),
    "columns out of order": (
        lambda d: _rewrite_table(
            d / "sample_paths.parquet", lambda f: f.select("step", "path", "price", "fund")
        ),
        r"sample_paths\.parquet: columns out of order",
    ),
    "nulls": (
        lambda d: _rewrite_table(
            d / "price_quantiles.parquet",
            lambda f: f.with_columns(
                mean=pl.when(pl.col("step") == 0).then(None).otherwise("mean")
            ),
        ),
        r"price_quantiles\.parquet, key 'mean': null values",
    ),
    "missing file": (
        lambda d: (d / "liquidation_quantiles.parquet").unlink(),
        r"liquidation_quantiles\.parquet: missing file",
    ),
    "unexpected file": (
        lambda d: (d / "notes.txt").write_text("x"),
        r"notes\.txt: unexpected entry in a result folder",
    ),
    "newer format_version": (
        lambda d: _edit_json(
            d / "summary.json", lambda s: s.update(format_version=FORMAT_VERSION + 1)
        ),
        r"summary\.json, key 'format_version': result folder written by a newer stresstest "
        rf"\(got {FORMAT_VERSION + 1}\); expected format_version at most {FORMAT_VERSION}",
    ),
    "format_version not a number": (
        lambda d: _edit_json(d / "summary.json", lambda s: s.update(format_version="1")),
        r"key 'format_version': not a format version",
    ),
    "summary key of the wrong type": (
        lambda d: _edit_json(d / "summary.json", lambda s: s.update(n_paths="24")),
        r"summary\.json, key 'n_paths': does not match summary\.schema\.json",
    ),
    "summary metric missing": (
        lambda d: _edit_json(d / "summary.json", lambda s: s["metrics"].pop("fund_min")),
        r"summary\.json, key 'metrics': does not match summary\.schema\.json: 'fund_min'",
    ),
    "statistic missing": (
        lambda d: _edit_json(d / "summary.json", lambda s: s["metrics"]["bad_debt"].pop("es99")),
        r"key 'metrics\.bad_debt': does not match",
    ),
    "rows differ from n_paths": (
        lambda d: _rewrite_table(d / "paths.parquet", lambda f: f.head(5)),
        r"paths\.parquet: row count differs from summary\.json n_paths \(got 5\)",
    ),
    "parquet version differs": (
        lambda d: pl.read_parquet(d / "paths.parquet").write_parquet(
            d / "paths.parquet", metadata={PARQUET_VERSION_KEY: "7"}
        ),
        r"paths\.parquet, key 'stresstest\.format_version': format version in the Parquet "
        r"metadata differs",
    ),
}


@pytest.mark.parametrize("case", list(RUN_BREAKS))
def test_a_broken_run_folder_is_refused(run_dir: Path, tmp_path: Path, case: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    validate_result_folder(broken)  # intact before the break
    breaks, message = RUN_BREAKS[case]
    breaks(broken)
    with pytest.raises(InputError, match=message):
        validate_result_folder(broken)


COMPARE_BREAKS: dict[str, tuple[Callable[[Path], None], str]] = {
    "newer format_version": (
        lambda d: _edit_json(
            d / "compare.json", lambda s: s.update(format_version=FORMAT_VERSION + 1)
        ),
        r"compare\.json, key 'format_version': result folder written by a newer stresstest",
    ),
    "variant version differs": (
        lambda d: _edit_json(d / "variants/slow/summary.json", lambda s: s.pop("format_version")),
        r"slow/summary\.json, key 'format_version': format version differs from the comparison",
    ),
    "variant folder missing": (
        lambda d: shutil.rmtree(d / "variants" / "slow"),
        r"variants: variant folders differ from compare\.json",
    ),
    "variant column broken": (
        lambda d: _rewrite_table(
            d / "variants/slow/paths.parquet", lambda f: f.drop("fund_required")
        ),
        r"slow/paths\.parquet, key 'fund_required': missing column",
    ),
    "compare table dtype": (
        lambda d: _rewrite_table(
            d / "compare.parquet", lambda f: f.with_columns(pl.col("bad_debt_mean").cast(pl.String))
        ),
        r"compare\.parquet, key 'bad_debt_mean': wrong column dtype",
    ),
    "backtest columns without backtest.json": (
        lambda d: _rewrite_table(
            d / "compare.parquet",
            lambda f: f.with_columns(
                backtest_exception_rate=pl.lit(0.0),
                backtest_expected_rate=pl.lit(0.02),
                backtest_p_kupiec=pl.lit(1.0),
                backtest_p_independence=pl.lit(1.0),
            ),
        ),
        r"key 'backtest_exception_rate': column present without its condition.*backtest\.json",
    ),
    "match without its verdict": (
        lambda d: _edit_json(
            d / "compare.json",
            lambda s: s["matches"].append({"variant": "slow", "matched_on": "cost"}),
        ),
        r"compare\.json, key 'matches\.0': does not match compare\.schema\.json",
    ),
}


@pytest.mark.parametrize("case", list(COMPARE_BREAKS))
def test_a_broken_compare_folder_is_refused(compare_dir: Path, tmp_path: Path, case: str) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(compare_dir, broken)
    validate_result_folder(broken)
    breaks, message = COMPARE_BREAKS[case]
    breaks(broken)
    with pytest.raises(InputError, match=message):
        validate_result_folder(broken)


def test_a_backtest_folder_validates_and_a_broken_one_is_refused(tmp_path: Path) -> None:
    (tmp_path / "s.toml").write_text(SCENARIO)
    data = REPO / "data" / "btc_usdt_spot_1h.parquet"
    folder = tmp_path / "bt"
    write_backtest(backtest(data, tmp_path / "s.toml", horizon_steps=4), folder)
    validate_result_folder(folder)
    breaks = {
        r"key 'timestamp': wrong column dtype \(got 'Int64'\)": lambda f: f.with_columns(
            pl.col("timestamp").dt.epoch("ms")
        ),
        r"windows\.parquet: row count differs from backtest\.json windows": lambda f: f.head(3),
    }
    for index, (message, change) in enumerate(breaks.items()):
        broken = tmp_path / f"broken{index}"
        shutil.copytree(folder, broken)
        _rewrite_table(broken / "windows.parquet", change)
        with pytest.raises(InputError, match=message):
            validate_result_folder(broken)


def test_not_a_result_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="not a result folder"):
        validate_result_folder(tmp_path)
    with pytest.raises(InputError, match="result folder not found"):
        validate_result_folder(tmp_path / "absent")


def test_without_jsonschema_required_keys_are_still_checked(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # import jsonschema -> ImportError
    broken = tmp_path / "broken"
    shutil.copytree(run_dir, broken)
    validate_result_folder(broken)
    _edit_json(broken / "summary.json", lambda s: s.pop("fund_initial"))
    with pytest.raises(InputError, match=r"key 'fund_initial': missing key"):
        validate_result_folder(broken)


# ----------------------------------------------------------------------------- the suite check
def test_the_suite_check_validates_written_folders_and_skips_broken_ones(
    run_dir: Path, tmp_path: Path
) -> None:
    written = tmp_path / "written"
    shutil.copytree(run_dir, written)
    assert validate_written(tmp_path) == 1
    # A test that breaks a folder on purpose: it no longer matches its manifest, skipped.
    _rewrite_table(written / "paths.parquet", lambda f: f.drop("bad_debt"))
    assert written_result_folders(tmp_path) == []
    assert validate_written(tmp_path) == 0
    # A writer that wrote the broken file itself (manifest agrees): refused.
    write_manifest(written)
    with pytest.raises(InputError, match="key 'bad_debt': missing column"):
        validate_written(tmp_path)
    shutil.rmtree(written)  # so that the check after this test has nothing to refuse


# ----------------------------------------------------------------------------- the reader
def test_report_reader_refuses_a_newer_version_in_one_line(run_dir: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    shutil.copytree(run_dir, newer)
    _edit_json(newer / "summary.json", lambda s: s.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(InputError, match="newer stresstest"):
        load_result(newer)
    out = tmp_path / "r.pdf"
    result = CliRunner().invoke(app, ["report", str(newer), "--out", str(out)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert str(newer / "summary.json") in lines[0]
    assert "format_version" in lines[0] and f"got {FORMAT_VERSION + 1}" in lines[0]
    assert f"at most {FORMAT_VERSION}" in lines[0]
    assert not out.exists()


def test_report_reader_refuses_a_newer_comparison(compare_dir: Path, tmp_path: Path) -> None:
    newer = tmp_path / "newer"
    shutil.copytree(compare_dir, newer)
    _edit_json(newer / "compare.json", lambda s: s.update(format_version=FORMAT_VERSION + 1))
    with pytest.raises(InputError, match=re.escape(str(newer / "compare.json"))):
        load_result(newer)


def test_legacy_folder_without_a_version_is_read(compare_dir: Path, tmp_path: Path) -> None:
    legacy = tmp_path / "legacy"
    shutil.copytree(compare_dir, legacy)
    for document in [legacy / "compare.json", *legacy.glob("variants/*/summary.json")]:
        _edit_json(document, lambda s: s.pop("format_version"))
    for table in legacy.rglob("*.parquet"):
        pl.read_parquet(table).write_parquet(table)  # no version in the metadata either
    folder = load_result(legacy)
    assert folder.label == "schemas"
    validate_result_folder(legacy)  # version 0: the same layout without the version
