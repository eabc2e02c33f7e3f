"""A command imports only what its scenario uses (docs/performance.md, "Start-up and imports").

Each case runs in a fresh interpreter (this process has imported everything already)
and reports the names in ``sys.modules`` afterwards: arch and scipy only for fitting
and the path sources that need them, the accounts machinery only for accounts
scenarios, matplotlib only for reports, dask only for ``--executor dask``. The
control cases show that the probe sees an import when a command does need it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
GBM = REPO / "scenarios" / "gbm_btc.toml"
GARCH = REPO / "scenarios" / "garch_btc.toml"
CROSS = REPO / "scenarios" / "cross_gbm.toml"

#: Third-party packages no plain GBM command needs.
HEAVY = ("arch", "scipy", "matplotlib", "dask", "distributed")
#: Also absent while a command only checks a scenario: no compiled code, no tables.
RUN_ONLY = ("numba", "polars")
#: The stage pipeline's kernels: only scenarios with mechanics or defences replay through it.
PIPELINE = (
    "stresstest.kernels.pipeline",
    "stresstest.kernels.pipeline_partial",
    "stresstest.kernels.adl",
    "stresstest.kernels.backstop",
    "stresstest.kernels.partial",
)
#: Parts of scipy our code imports (fits, backtests, matching). numba itself imports
#: ``scipy`` and ``scipy.linalg.cython_blas`` when it loads compiled code, so a run
#: has those whatever we do (the command loads the latter without the rest of
#: ``scipy.linalg``: tests/test_numba_blas.py).
SCIPY_OURS = ("scipy.stats", "scipy.optimize", "scipy.special", "scipy.integrate")
#: Our modules only accounts scenarios, reports, comparisons and fits use.
OURS_OPTIONAL = (
    "stresstest.engine.accounts",
    "stresstest.book.accounts",
    "stresstest.book.cross_index",
    "stresstest.kernels.cross",
    "stresstest.paths.multi",
    "stresstest.paths.fit",
    "stresstest.report",
    "stresstest.comparison.engine",
    "stresstest.backtest",
)

PROBE = """
import json, sys
{body}
print("MODULES=" + json.dumps(sorted(sys.modules)))
"""

CLI = """
from stresstest.cli import app
try:
    app({argv!r})
except SystemExit as stop:
    assert stop.code in (0, None), stop.code
"""


def imported(body: str) -> set[str]:
    """``sys.modules`` of a fresh interpreter after running ``body``."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    completed = subprocess.run(
        [sys.executable, "-c", PROBE.format(body=body)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    line = next(text for text in completed.stdout.splitlines() if text.startswith("MODULES="))
    return set(json.loads(line.removeprefix("MODULES=")))


def cli(*argv: str) -> set[str]:
    return imported(CLI.format(argv=list(argv)))


def loaded(modules: set[str], packages: tuple[str, ...]) -> list[str]:
    """The packages (or their submodules) among ``modules``."""
    return sorted(
        name
        for name in packages
        if name in modules or any(module.startswith(name + ".") for module in modules)
    )


def test_importing_the_cli_imports_no_engine_and_no_heavy_package() -> None:
    modules = imported("import stresstest.cli")
    assert loaded(modules, HEAVY + RUN_ONLY + ("numpy",)) == []
    assert loaded(modules, (*OURS_OPTIONAL, "stresstest.engine")) == []


def test_help_imports_no_heavy_package() -> None:
    modules = cli("--help")
    assert loaded(modules, HEAVY + RUN_ONLY) == []
    assert loaded(modules, OURS_OPTIONAL) == []


def test_validate_of_a_gbm_scenario_needs_no_compiled_code_and_no_tables() -> None:
    modules = cli("validate", str(GBM))
    assert loaded(modules, HEAVY + RUN_ONLY) == []
    assert loaded(modules, OURS_OPTIONAL) == []


def test_importing_the_engine_imports_no_compiled_code() -> None:
    modules = imported("import stresstest.engine.run, stresstest.jobs")
    assert loaded(modules, HEAVY + RUN_ONLY) == []
    assert loaded(modules, OURS_OPTIONAL) == []


@pytest.mark.slow
def test_a_gbm_run_imports_neither_fits_nor_accounts_nor_reports() -> None:
    body = f"""
import stresstest
scenario = stresstest.load_scenario({str(GBM)!r}).with_overrides(
    {{"paths.n_paths": 4, "book.n_positions": 100}}
)
stresstest.run(scenario).summary()
"""
    modules = imported(body)
    assert "numba" in modules  # the run did replay (compiled kernels)
    assert loaded(modules, ("arch", "matplotlib", "dask", "distributed", *SCIPY_OURS)) == []
    assert loaded(modules, OURS_OPTIONAL) == []
    assert loaded(modules, PIPELINE) == []  # no mechanics: the core replay kernel only
    assert loaded(imported("import stresstest.kernels.pipeline"), PIPELINE) == list(
        sorted(PIPELINE)
    )  # control: the probe sees them when they are imported


def test_probe_sees_the_imports_of_commands_that_need_them(tmp_path: Path) -> None:
    """Controls: GJR-t paths with given parameters need neither scipy (the t moments
    come from ``math.lgamma``) nor arch (nothing is fitted), while a skewed t brings
    scipy (its moments are integrals); an accounts scenario brings its machinery; the
    report package brings matplotlib."""
    garch = cli("validate", str(GARCH))
    assert loaded(garch, ("arch", *SCIPY_OURS, "stresstest.paths.fit")) == ["stresstest.paths.fit"]
    text = GARCH.read_text(encoding="utf-8").replace('dist = "t"', 'dist = "skewt"')
    skewed = tmp_path / "garch_skewt.toml"
    skewed.write_text(text.replace("[paths.params]", "[paths.params]\nlambda = -0.05"))
    garch_skewt = cli("validate", str(skewed))
    assert loaded(garch_skewt, ("arch", "scipy.special", "scipy.integrate")) == [
        "scipy.integrate",
        "scipy.special",
    ]
    accounts = cli("validate", str(CROSS))
    assert loaded(accounts, ("stresstest.engine.accounts", "stresstest.paths.multi")) == [
        "stresstest.engine.accounts",
        "stresstest.paths.multi",
    ]
    assert "matplotlib" in imported("import stresstest.report.build")


@pytest.mark.slow
def test_fitting_imports_arch() -> None:
    """Control: ``stresstest fit`` does import arch (about 300 hourly returns)."""
    data = REPO / "data" / "btc_usdt_spot_1h.parquet"
    modules = cli("fit", str(data), "--start", "2024-01-01", "--end", "2024-01-15")
    assert loaded(modules, ("arch", "scipy.optimize")) == ["arch", "scipy.optimize"]


@pytest.mark.slow
def test_a_cli_run_without_report_imports_no_plotting(tmp_path: Path) -> None:
    """``stresstest run`` checks a ``--report`` path without matplotlib (about 0.7 s of
    start-up, docs/performance.md) and imports it only to draw a report."""
    out = tmp_path / "run"
    modules = cli(
        "run",
        str(GBM),
        "--out",
        str(out),
        "--set",
        "paths.n_paths=4",
        "--set",
        "book.n_positions=100",
    )
    assert (out / "summary.json").is_file()
    assert loaded(modules, ("matplotlib", "stresstest.report.build", *SCIPY_OURS)) == []
