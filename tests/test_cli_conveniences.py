"""What analysts expect of the command line (issue 17): --version, shipped scenarios by
name, choices as choices, shell completion, and a --resume hint after Ctrl-C."""

from __future__ import annotations

import shlex
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stresstest import cli
from stresstest._version import __version__
from stresstest.cli import app
from stresstest.engine.checkpoint import Checkpoint, checkpoint_dir_for
from stresstest.scenario.embedded import resolve_scenario, shipped_scenario_names

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"

TINY = """
[scenario]
name = "{name}"
seed = 7

[paths]
source = "gbm"
s0 = 100.0
sigma = 0.01
n_paths = 24
n_steps = 30

[book]
source = "synthetic"
n_positions = 500
leverage_max = 40.0

[margin]
model = "static"
maintenance = 0.01

[liquidation]
latency_steps = 1
slippage = 0.001
fee = 0.01

[insurance_fund]
initial = 100000.0
"""


def test_version_option_prints_the_package_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.stdout == f"stresstest {__version__}\n"
    # eager: it answers before a command's own checks
    assert CliRunner().invoke(app, ["--version", "validate", "no-such-file"]).exit_code == 0


def test_shipped_scenarios_answer_to_their_names() -> None:
    names = shipped_scenario_names()
    assert names == sorted(path.stem for path in SCENARIOS.glob("*.toml"))
    assert resolve_scenario("gbm_btc") == SCENARIOS / "gbm_btc.toml"
    assert resolve_scenario("gbm_btc.toml").resolve() == (SCENARIOS / "gbm_btc.toml").resolve()
    checked = CliRunner().invoke(app, ["validate", "gbm_btc", "--json"])
    assert checked.exit_code == 0, checked.output
    assert '"scenario": "gbm_btc"' in checked.stdout


def test_a_file_in_the_current_folder_wins_over_a_shipped_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("gbm_btc").write_text(TINY.format(name="mine"))
    assert resolve_scenario("gbm_btc") == Path("gbm_btc")
    checked = CliRunner().invoke(app, ["validate", "gbm_btc", "--json"])
    assert checked.exit_code == 0, checked.output
    assert '"scenario": "mine"' in checked.stdout


@pytest.mark.parametrize("command", ["run", "compare", "validate"])
def test_neither_file_nor_name_lists_the_shipped_names(command: str) -> None:
    result = CliRunner().invoke(app, [command, "gbm"])
    assert result.exit_code == 2
    text = " ".join(result.stderr.split())
    assert "Traceback" not in result.output
    assert "gbm: scenario file not found in the current folder" in text
    assert "no shipped scenario has that name" in text
    assert "default, event_2020_03" in text and "gbm_btc" in text


def test_a_missing_path_with_a_folder_is_not_looked_up_by_name() -> None:
    result = CliRunner().invoke(app, ["validate", "elsewhere/gbm_btc.toml"])
    assert result.exit_code == 2
    text = " ".join(result.stderr.split())
    assert "elsewhere/gbm_btc.toml: scenario file not found;" in text


def test_compare_takes_a_shipped_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The name reaches compare_to_dir's loading: --set shrinks the shipped comparison."""
    seen: list[Path] = []
    from stresstest import jobs

    def spy(source: typing.Any, **kwargs: typing.Any) -> typing.Any:
        seen.append(Path(source))
        raise KeyboardInterrupt  # stop before any work

    monkeypatch.setattr(jobs, "load_scenario", spy)
    result = CliRunner().invoke(app, ["compare", "compare_btc", "--out", str(tmp_path / "c")])
    assert seen == [SCENARIOS / "compare_btc.toml"]
    # Ctrl-C in compare: one line, exit 130, no traceback; compare keeps no checkpoints
    assert result.exit_code == 130
    assert result.stderr.strip() == f"interrupted: {cli.COMPARE_INTERRUPTED}"


CHOICES = {
    "Executor": ("stresstest.engine.executors", "EXECUTORS"),
    "MatchKind": ("stresstest.comparison.engine", "MATCH_KINDS"),
    "TemplateName": ("stresstest.scenario.templates", "TEMPLATES"),
    "FitModel": ("stresstest.paths.fit", "MODELS"),
    "FitDist": ("stresstest.paths.fit", "DISTS"),
}


@pytest.mark.parametrize("alias", sorted(CHOICES))
def test_cli_choices_are_the_library_choices(alias: str) -> None:
    import importlib

    module, name = CHOICES[alias]
    library = tuple(getattr(importlib.import_module(module), name))
    assert typing.get_args(getattr(cli, alias)) == library


@pytest.mark.parametrize(
    ("argv", "option", "shown"),
    [
        (["run", "--help"], "--executor", "local|dask"),
        (["compare", "--help"], "--match", "cost|risk"),
        (["init", "--help"], "--template", "gbm|garch|historical|compare|vol_scaled"),
        (["fit", "--help"], "--model", "garch|gjr|egarch"),
        (["fit", "--help"], "--dist", "normal|t|skewt"),
    ],
)
def test_choices_are_shown_in_help(argv: list[str], option: str, shown: str) -> None:
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    line = next(text for text in result.stdout.splitlines() if option in text)
    assert shown in line


def test_a_value_outside_the_choices_is_refused_with_the_choices() -> None:
    argv = ["compare", "compare_btc", "--match", "costs"]
    result = CliRunner().invoke(app, argv, env={"COLUMNS": "200"})
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert "'costs' is not one of 'cost', 'risk'" in text


def test_choices_complete_in_the_shell(monkeypatch: pytest.MonkeyPatch) -> None:
    """The completion protocol typer installs (--install-completion) offers the choices."""
    monkeypatch.setenv("_STRESSTEST_COMPLETE", "complete_bash")
    monkeypatch.setenv("COMP_WORDS", "stresstest compare compare_btc --match ")
    monkeypatch.setenv("COMP_CWORD", "4")
    result = CliRunner().invoke(app, [], prog_name="stresstest")
    assert result.stdout.split() == ["cost", "risk"]


def test_shell_completion_is_installable() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert "--install-completion" in result.stdout
    assert "--show-completion" in result.stdout


def test_ctrl_c_during_a_run_says_how_to_resume(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY.format(name="tiny"))
    out = tmp_path / "out"
    save = Checkpoint.save

    def save_then_stop(
        self: Checkpoint, first: int, count: int, values: typing.Any, *, last: bool = False
    ) -> None:
        save(self, first, count, values, last=last)
        if first + count >= 16:
            raise KeyboardInterrupt

    monkeypatch.setattr(Checkpoint, "save", save_then_stop)
    argv = ["run", str(scenario), "--out", str(out), "--chunk-size", "8", "--quiet"]
    result = CliRunner().invoke(app, [*argv, "--set", "scenario.seed=8"])
    assert result.exit_code == 130, result.output
    assert "Traceback" not in result.output
    hint = " ".join(result.stderr.split())
    checkpoint = checkpoint_dir_for(out)
    command = f"stresstest run {scenario} --out {out} --set scenario.seed=8 --resume"
    assert hint == (
        f"interrupted: 16 paths in 2 chunks are checkpointed in {checkpoint}; to continue "
        f"from them, run the same command with --resume: {command}"
    )
    assert not out.exists() and checkpoint.is_dir()
    # the command the hint gives continues the run (the fingerprint matches)
    monkeypatch.setattr(Checkpoint, "save", save)
    resumed = CliRunner().invoke(app, [*shlex.split(command)[1:], "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    assert (out / "summary.json").exists() and not checkpoint.exists()


def test_ctrl_c_before_any_chunk_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scenario = tmp_path / "tiny.toml"
    scenario.write_text(TINY.format(name="tiny"))

    def stop(*args: typing.Any, **kwargs: typing.Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("stresstest.jobs.run", stop)
    result = CliRunner().invoke(app, ["run", str(scenario), "--out", str(tmp_path / "o")])
    assert result.exit_code == 130
    assert result.stderr.strip() == (
        "interrupted: no chunk of paths was checkpointed yet; rerunning starts over"
    )
