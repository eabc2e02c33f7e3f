"""Two scenario files sharing a ``[scenario] name`` (issue 17): the default folder runs/<name>
belongs to the file whose results it holds, and another file is refused (exit 2) rather than
silently replacing them. The same file, edited or with --set, replaces its folder as before."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.jobs import recorded_identity
from tests.test_cli_conveniences import TINY

COMPARE = """
[compare]
baseline = "static_0.01"
bootstrap_samples = 50

[[compare.sweep]]
parameter = "margin.maintenance"
values = [0.01, 0.02]
name = "static_{value}"
"""


@pytest.fixture
def two_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path]:
    """a.toml and other/b.toml, different scenarios with the one name "same"."""
    monkeypatch.chdir(tmp_path)
    first = tmp_path / "a.toml"
    first.write_text(TINY.format(name="same"))
    (tmp_path / "other").mkdir()
    second = tmp_path / "other" / "b.toml"
    second.write_text(TINY.format(name="same").replace("maintenance = 0.01", "maintenance = 0.02"))
    return first, second


def run(*argv: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, [*argv, "--quiet"])
    assert "Traceback" not in result.output
    return result.exit_code, " ".join(result.stderr.split())


def identity(folder: Path) -> str:
    resolved = tomllib.loads((folder / "scenario.resolved.toml").read_text())
    return str(resolved["provenance"]["scenario_file"])


def test_another_file_with_the_same_name_is_refused(two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    assert run("run", str(first)) == (0, "")
    folder = Path("runs/same")
    assert identity(folder) == str(first.resolve())
    before = (folder / "paths.parquet").read_bytes()
    code, message = run("run", str(second))
    assert code == 2
    assert message == (
        f"error: runs/same holds the results of the scenario file {first.resolve()}, and "
        f"{second.resolve()} has the same [scenario] name 'same'; run with --out "
        "ANOTHER_FOLDER, give one of them another [scenario] name, or remove runs/same "
        "to replace it"
    )
    assert (folder / "paths.parquet").read_bytes() == before  # untouched
    assert identity(folder) == str(first.resolve())
    # an explicit --out is the user's choice of folder: no refusal
    assert run("run", str(second), "--out", "runs/b") == (0, "")
    assert identity(Path("runs/b")) == str(second.resolve())


def test_the_same_file_still_replaces_its_folder(two_files: tuple[Path, Path]) -> None:
    first, _ = two_files
    assert run("run", str(first)) == (0, "")
    folder = Path("runs/same")
    before = (folder / "paths.parquet").read_bytes()
    # --set, then an edit of the file: the same scenario, its folder replaced
    assert run("run", str(first), "--set", "margin.maintenance=0.05") == (0, "")
    after_set = (folder / "paths.parquet").read_bytes()
    assert after_set != before
    first.write_text(first.read_text().replace("maintenance = 0.01", "maintenance = 0.03"))
    assert run("run", "a.toml") == (0, "")  # a relative spelling of the same file
    assert (folder / "paths.parquet").read_bytes() not in (before, after_set)
    # a rerun of the folder's own record is a run of the same scenario
    assert run("run", str(folder / "scenario.resolved.toml")) == (0, "")
    assert identity(folder) == str(first.resolve())


def test_a_folder_that_records_no_file_is_replaced_as_before(tmp_path: Path) -> None:
    assert recorded_identity(tmp_path / "missing") is None
    (tmp_path / "scenario.resolved.toml").write_text('[provenance]\nstresstest_version = "0"\n')
    assert recorded_identity(tmp_path) is None
    (tmp_path / "scenario.resolved.toml").write_text("not = [toml")
    assert recorded_identity(tmp_path) is None


def test_compare_refuses_too_and_variants_record_no_file(two_files: tuple[Path, Path]) -> None:
    first, second = two_files
    first.write_text(first.read_text() + COMPARE)
    second.write_text(second.read_text() + COMPARE)
    assert run("compare", str(first)) == (0, "")
    folder = Path("runs/same")
    assert identity(folder) == str(first.resolve())
    variant = tomllib.loads((folder / "variants/static_0.01/scenario.resolved.toml").read_text())
    assert "scenario_file" not in variant["provenance"]  # a variant's record as a run's
    code, message = run("compare", str(second))
    assert code == 2 and "has the same [scenario] name 'same'" in message
    # a run of another file is refused over a comparison's folder as well
    code, message = run("run", str(second))
    assert code == 2 and f"scenario file {first.resolve()}" in message
