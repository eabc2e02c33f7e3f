"""The command line's process settings (cli.py ``tune_process``, docs/performance.md).

``stresstest`` (and ``python -m stresstest``) asks numpy not to request transparent
huge pages, unless the user chose (``NUMPY_MADVISE_HUGEPAGE``), collects garbage
less often and lets numba check for BLAS without ``scipy.linalg``
(tests/test_numba_blas.py); none changes a result (the result files of the default scenario are
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

from stresstest import cli, numba_blas

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def restored_thresholds() -> Iterator[None]:
    """This process's collection thresholds and import finders as they were."""
    thresholds = gc.get_threshold()
    yield
    gc.set_threshold(*thresholds)
    numba_blas.uninstall()


def test_tune_process_sets_the_defaults(
    monkeypatch: pytest.MonkeyPatch, restored_thresholds: None
) -> None:
    monkeypatch.delenv("NUMPY_MADVISE_HUGEPAGE", raising=False)
    cli.tune_process()
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "0"
    assert gc.get_threshold() == cli.GC_THRESHOLDS
    assert any(isinstance(finder, numba_blas.BlasBeforeNumba) for finder in sys.meta_path)


def test_the_users_choice_wins(monkeypatch: pytest.MonkeyPatch, restored_thresholds: None) -> None:
    monkeypatch.setenv("NUMPY_MADVISE_HUGEPAGE", "1")
    cli.tune_process()
    assert os.environ["NUMPY_MADVISE_HUGEPAGE"] == "1"


def test_the_command_applies_them_before_numpy_is_imported() -> None:
    """numpy reads the variable once, when it is imported: ``python -m stresstest``
    must set it first. The probe reads numpy's own setting as the command exits."""
    probe = (
        "import atexit, gc, runpy, sys\n"
        "def report():\n"
        "    import numpy\n"
        "    print(numpy._core.multiarray._get_madvise_hugepage(), gc.get_threshold())\n"
        "atexit.register(report)\n"
        "sys.argv = ['stresstest', '--version']\n"
        "runpy.run_module('stresstest', run_name='__main__')\n"
    )
    env = {key: value for key, value in os.environ.items() if key != "NUMPY_MADVISE_HUGEPAGE"}
    env["PYTHONPATH"] = str(REPO)
    completed = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert completed.stdout.split("\n")[-2] == f"False {cli.GC_THRESHOLDS}"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def test_exit_now_keeps_what_an_ordinary_exit_does() -> None:
    """Threads finish, ``atexit`` handlers run, buffered output is flushed, status kept."""
    completed = run_python(
        "import atexit, sys, threading, time\n"
        "from stresstest.cli import exit_now\n"
        "atexit.register(lambda: print('atexit ran'))\n"
        "def late():\n"
        "    time.sleep(0.2)\n"
        "    print('thread finished')\n"
        "threading.Thread(target=late).start()\n"
        "sys.stdout.write('buffered, no newline')\n"
        "exit_now(3)\n"
    )
    assert completed.returncode == 3
    assert completed.stdout == "buffered, no newlinethread finished\natexit ran\n"


@pytest.mark.parametrize(("code", "status", "stderr"), [(None, 0, ""), ("refused", 1, "refused\n")])
def test_exit_now_statuses(code: str | None, status: int, stderr: str) -> None:
    completed = run_python(f"from stresstest.cli import exit_now\nexit_now({code!r})\n")
    assert (completed.returncode, completed.stderr) == (status, stderr)


def test_the_command_exits_with_its_status() -> None:
    """A refused input still exits 2 with its message, without a traceback."""
    missing = run_python(
        "import sys\nsys.argv = ['stresstest', 'validate', 'no_such_file.toml']\n"
        "from stresstest.cli import main\nmain()\n"
    )
    assert missing.returncode == 2
    assert "no_such_file.toml" in missing.stderr and "Traceback" not in missing.stderr
