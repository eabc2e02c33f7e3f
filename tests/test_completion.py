"""Shell completion of the scenario and result arguments (issue 17), through the completion
protocol typer installs with ``--install-completion`` (no shell needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.completion import complete_result_folder, complete_scenario
from stresstest.scenario.embedded import shipped_scenario_names


def completions(words: str) -> list[str]:
    """What bash would be offered for the command line ``words`` (the last word incomplete)."""
    cword = len(words.split()) - (0 if words.endswith(" ") else 1)
    env = {"_STRESSTEST_COMPLETE": "complete_bash", "COMP_WORDS": words, "COMP_CWORD": str(cword)}
    result = CliRunner().invoke(app, [], prog_name="stresstest", env=env)
    assert result.exit_code == 0, result.output
    return result.stdout.split()


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder with a scenario, a data file, a hidden file and two result folders."""
    monkeypatch.chdir(tmp_path)
    for name in ("mine.toml", "data.csv", ".hidden.toml", "scenarios/a.toml", "scenarios/b.txt"):
        Path(name).parent.mkdir(parents=True, exist_ok=True)
        Path(name).write_text("")
    for name in ("runs/default", "runs/cmp"):
        Path(name).mkdir(parents=True)
    return tmp_path


@pytest.mark.parametrize("command", ["run", "compare", "validate"])
def test_scenario_arguments_complete_shipped_names_and_toml_files(
    folder: Path, command: str
) -> None:
    offered = completions(f"stresstest {command} ")
    names = shipped_scenario_names()
    assert offered == [*names, "mine.toml", "runs/", "scenarios/"]
    assert "default" in names and "data.csv" not in offered and ".hidden.toml" not in offered
    assert completions(f"stresstest {command} defa") == ["default"]
    assert completions(f"stresstest {command} mi") == ["mine.toml"]


def test_a_typed_folder_completes_files_only_as_typed(folder: Path) -> None:
    assert completions("stresstest validate scenarios/") == ["scenarios/a.toml"]
    assert completions("stresstest validate ./scenarios/") == ["./scenarios/a.toml"]
    assert completions("stresstest run ./") == ["./mine.toml", "./runs/", "./scenarios/"]
    assert completions("stresstest run .h") == [".hidden.toml"]
    assert complete_scenario("nowhere/x") == []


def test_options_before_the_argument_do_not_change_it(folder: Path) -> None:
    assert completions("stresstest run --out x --quiet defa") == ["default"]


def test_report_completes_result_folders(folder: Path) -> None:
    assert completions("stresstest report ") == [
        "runs/cmp/",
        "runs/default/",
        "runs/",
        "scenarios/",
    ]
    assert completions("stresstest report runs/d") == ["runs/default/"]
    assert complete_result_folder("mine") == []  # a file is no result folder
