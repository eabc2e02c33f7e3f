"""The command line's process settings (cli.py ``tune_process``, docs/performance.md).

``stresstest`` (and ``python -m stresstest``) asks numpy not to request transparent
huge pages, unless the user chose (``NUMPY_MADVISE_HUGEPAGE``), and collects garbage
less often; neither changes a result (the result files of the default scenario are
compared byte for byte by benchmarks/bench_startup.py, and by the determinism tests).
"""

from __future__ import annotations

import gc
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from stresstest import cli

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def restored_thresholds() -> Iterator[None]:
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)


def test_tune_process_sets_the_defaults(
    monkeypatch: pytest.MonkeyPatch, restored_thresholds: None
) -> None:
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    cli.tune_process()
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    assert gc.get_threshold() == cli.GC_THRESHOLDS


def test_the_users_choice_wins(monkeypatch: pytest.MonkeyPatch, restored_thresholds: None) -> None:
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    cli.tune_process()
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "1"


def test_the_command_applies_them_before_numpy_is_imported() -> None:
    """numpy reads the variable once, when it is imported: ``python -m stresstest``
    must set it first. The probe reads numpy's own setting afterwards."""
    probe = (
        "import runpy, sys\n"
        "sys.argv = ['stresstest', '--version']\n"
        "try:\n"
        "    runpy.run_module('stresstest', run_name='__main__')\n"
        "except SystemExit:\n"
        "    pass\n"
        "import gc, numpy\n"
        "print(numpy._core.multiarray._get_madvise_hugepage(), gc.get_threshold())\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "NUMPY_MADVISE_HUGEPAGE"}
    env["PYTHONPATH"] = str(REPO)
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert completed.stdout.split("\n")[-2] == f"False {cli.GC_THRESHOLDS}"
