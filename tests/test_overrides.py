"""``--set KEY=VALUE`` on run, compare and validate: parsed as TOML, applied before
validation, recorded in the result folder, refused with exit status 2 when bad.

A run with ``--set`` must equal a run of the file edited by hand, and the recorded
``scenario.resolved.toml`` must rerun to the same paths without any ``--set``.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.errors import InputError
from stresstest.scenario import load_scenario
from stresstest.scenario.overrides import parse_set

SCENARIO = """
[scenario]
name = "sets"
seed = 3

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 24
n_steps = 40

[book]
source = "{book}"
{book_keys}

[margin]
model = "static"
maintenance = 0.01

[liquidation]
latency_steps = 1
slippage = 0.002
fee = 0.01

[insurance_fund]
initial = 2000.0
"""
SYNTHETIC = "n_positions = 500\nleverage_max = 30.0"

COMPARE = """
[compare]
baseline = "static"
bootstrap_samples = 50

[[compare.variants]]
name = "static"

[[compare.variants]]
name = "wide"
"margin.maintenance" = 0.03
"""

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def _scenario(tmp_path: Path, text: str | None = None, name: str = "s.toml") -> Path:
    path = tmp_path / name
    path.write_text(
        text if text is not None else SCENARIO.format(book="synthetic", book_keys=SYNTHETIC)
    )
    return path


def _invoke(*arguments: str) -> Any:
    result = CliRunner().invoke(app, list(arguments))
    result.message = ANSI.sub("", result.stderr).strip()  # type: ignore[attr-defined]
    return result


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("margin.maintenance=0.01", "margin.maintenance", 0.01),
        ("paths.n_paths=100", "paths.n_paths", 100),
        ('scenario.name="text"', "scenario.name", "text"),
        ("liquidation.fee = 0", "liquidation.fee", 0),
        ("x.flag=true", "x.flag", True),
        ("x.list=[1, 2]", "x.list", [1, 2]),
        (
            'margin={ model = "static", maintenance = 0.02 }',
            "margin",
            {"model": "static", "maintenance": 0.02},
        ),
        ('scenario.description="a=b"', "scenario.description", "a=b"),  # the first = splits
    ],
)
def test_values_are_toml_values(text: str, key: str, value: Any) -> None:
    assert parse_set(text) == (key, value)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("margin.maintenance", "needs KEY=VALUE"),
        ("=0.01", "needs KEY=VALUE"),
        ("margin..maintenance=0.01", "empty or padded part"),
        ("scenario.name=renamed", "not a TOML value"),
        ("margin.maintenance=", "not a TOML value"),
        ("margin.maintenance=0.01\npaths.n_paths = 3", "more than one TOML value"),
    ],
)
def test_bad_set_texts_are_refused_naming_what_is_valid(text: str, problem: str) -> None:
    with pytest.raises(InputError, match=problem) as caught:
        parse_set(text)
    assert "a TOML value" in str(caught.value.expected)
    if "=" in text and not text.startswith("="):
        assert caught.value.key == text.partition("=")[0].strip()


def test_a_bare_word_gets_the_quoted_form_to_type(tmp_path: Path) -> None:
    result = _invoke("validate", str(_scenario(tmp_path)), "--set", "scenario.name=renamed")
    assert result.exit_code == 2
    assert "--set 'scenario.name=\"renamed\"'" in result.message
    assert "Traceback" not in result.output + result.stderr


def test_run_with_sets_equals_a_run_of_the_edited_file_and_is_recorded(tmp_path: Path) -> None:
    base = _scenario(tmp_path)
    sets = ["--set", "margin.maintenance=0.02", "--set", "paths.n_paths=10"]
    result = _invoke("run", str(base), "--out", str(tmp_path / "set"), "--quiet", *sets)
    assert result.exit_code == 0, result.stderr
    edited = _scenario(
        tmp_path,
        base.read_text()
        .replace("maintenance = 0.01", "maintenance = 0.02")
        .replace("n_paths = 24", "n_paths = 10"),
        "edited.toml",
    )
    result = _invoke("run", str(edited), "--out", str(tmp_path / "edited"), "--quiet")
    assert result.exit_code == 0, result.stderr
    ran = (tmp_path / "set" / "paths.parquet").read_bytes()
    assert ran == (tmp_path / "edited" / "paths.parquet").read_bytes()
    assert pl.read_parquet(tmp_path / "set" / "paths.parquet").height == 10
    resolved = tomllib.loads((tmp_path / "set" / "scenario.resolved.toml").read_text())
    assert resolved["margin"]["maintenance"] == 0.02 and resolved["paths"]["n_paths"] == 10
    assert resolved["provenance"]["overrides"] == ["margin.maintenance=0.02", "paths.n_paths=10"]
    assert (
        "overrides"
        not in tomllib.loads((tmp_path / "edited" / "scenario.resolved.toml").read_text())[
            "provenance"
        ]
    )
    again = _invoke(
        "run",
        str(tmp_path / "set" / "scenario.resolved.toml"),
        "--out",
        str(tmp_path / "again"),
        "--quiet",
    )
    assert again.exit_code == 0, again.stderr
    assert (tmp_path / "again" / "paths.parquet").read_bytes() == ran


def test_a_later_set_of_the_same_key_wins(tmp_path: Path) -> None:
    scenario = load_scenario(
        _scenario(tmp_path), sets=["margin.maintenance=0.02", "margin.maintenance=0.03"]
    )
    assert scenario.margin.maintenance == 0.03
    assert scenario.overrides == ("margin.maintenance=0.02", "margin.maintenance=0.03")
    with pytest.raises(InputError, match=r"from --set margin.maintenance=2\)"):
        load_scenario(_scenario(tmp_path), sets=["margin.maintenance=0.5", "margin.maintenance=2"])


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (
            "margin.maintenance=2",
            [
                "key 'margin.maintenance'",
                "out of range",
                "(from --set margin.maintenance=2)",
                "(got 2.0)",
                "expected a number >= 0 and < 1",
            ],
        ),
        (
            "margin.maintenanse=0.01",
            ["key 'margin.maintenanse'", "unknown key", "(got 0.01)", "'maintenance'"],
        ),
        ("colour.red=1", ["key 'colour'", "unknown table", "(from --set colour.red=1)"]),
        ('paths.n_paths="10"', ["key 'paths.n_paths'", "wrong type", "expected an integer"]),
        ("margin.maintenance.x=1", ["key 'margin.maintenance'", "is not a table", "(got 0.01)"]),
        (
            'margin.model="vol_scaled"',  # the file's maintenance is no key of vol_scaled
            [
                "s.toml, key 'margin.maintenance'",
                "unknown key (after --set margin.model=\"vol_scaled\"; --set 'margin={ ... }' "
                "replaces the whole table)",
            ],
        ),
    ],
)
@pytest.mark.parametrize("command", ["run", "validate", "compare"])
def test_a_bad_set_exits_2_naming_key_value_and_what_is_valid(
    tmp_path: Path, text: str, fragments: list[str], command: str
) -> None:
    scenario = _scenario(tmp_path, SCENARIO.format(book="synthetic", book_keys=SYNTHETIC) + COMPARE)
    out = tmp_path / "out"
    arguments = [command, str(scenario), "--set", text]
    if command != "validate":
        arguments += ["--out", str(out), "--quiet"]
    result = _invoke(*arguments)
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    assert "Traceback" not in result.output + result.stderr
    for fragment in fragments:
        assert fragment in result.message, (fragment, result.message)
    assert not out.exists()


def test_validate_checks_the_effective_scenario(tmp_path: Path) -> None:
    """A file missing a key validates once --set supplies it, and reports the set."""
    text = SCENARIO.format(book="synthetic", book_keys=SYNTHETIC).replace(
        "maintenance = 0.01\n", ""
    )
    path = _scenario(tmp_path, text)
    missing = _invoke("validate", str(path))
    assert missing.exit_code == 2 and "margin.maintenance" in missing.message
    assert str(path) in missing.message  # the file's own problem names the file
    result = _invoke("validate", str(path), "--json", "--set", "margin.maintenance=0.02")
    assert result.exit_code == 0, result.stderr
    checked = json.loads(result.stdout)
    assert checked["overrides"] == ["margin.maintenance=0.02"]
    plain = _invoke("validate", str(path), "--set", "margin.maintenance=0.02")
    assert "with 1 --set" in plain.stdout


def test_compare_variants_inherit_sets_unless_they_set_the_key(tmp_path: Path) -> None:
    path = _scenario(tmp_path, SCENARIO.format(book="synthetic", book_keys=SYNTHETIC) + COMPARE)
    out = tmp_path / "cmp"
    result = _invoke(
        "compare",
        str(path),
        "--out",
        str(out),
        "--quiet",
        "--set",
        "margin.maintenance=0.02",
        "--set",
        "liquidation.fee=0.02",
        "--set",
        'compare.baseline="wide"',
    )
    assert result.exit_code == 0, result.stderr
    document = json.loads((out / "compare.json").read_text())
    assert document["baseline"] == "wide"
    for name, maintenance in (("static", 0.02), ("wide", 0.03)):
        resolved = tomllib.loads((out / "variants" / name / "scenario.resolved.toml").read_text())
        assert resolved["margin"]["maintenance"] == maintenance
        assert resolved["liquidation"]["fee"] == 0.02
        assert len(resolved["provenance"]["overrides"]) == 3
    top = tomllib.loads((out / "scenario.resolved.toml").read_text())
    assert top["compare"]["baseline"] == "wide"
    assert top["provenance"]["overrides"][0] == "margin.maintenance=0.02"


def test_an_overridden_input_file_drops_its_recorded_hash(tmp_path: Path) -> None:
    """Rerunning a resolved scenario on another book file: the old book's hash no longer applies."""
    book_keys = 'file = "book.csv"'
    row = "long,1.0,100.0,5.0\nshort,2.0,100.0,10.0\n"
    (tmp_path / "book.csv").write_text("side,qty,entry_price,collateral\n" + row)
    (tmp_path / "other.csv").write_text("side,qty,entry_price,collateral\n" + row * 3)
    path = _scenario(tmp_path, SCENARIO.format(book="file", book_keys=book_keys))
    first = _invoke("run", str(path), "--out", str(tmp_path / "first"), "--quiet")
    assert first.exit_code == 0, first.stderr
    resolved = tmp_path / "first" / "scenario.resolved.toml"
    other = str(tmp_path / "other.csv")
    changed = _invoke(
        "run", str(resolved), "--out", str(tmp_path / "second"), "--quiet",
        "--set", f'book.file="{other}"',
    )  # fmt: skip
    assert changed.exit_code == 0, changed.stderr
    summary = json.loads((tmp_path / "second" / "summary.json").read_text())
    assert summary["book"]["n_positions"] == 6
    recorded = tomllib.loads((tmp_path / "second" / "scenario.resolved.toml").read_text())
    assert recorded["book"]["file"] == other
