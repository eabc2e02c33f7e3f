"""numba's BLAS check loads ``scipy.linalg.cython_blas`` alone in a command (numba_blas.py).

Each case runs in a fresh interpreter (this one has imported scipy.linalg already):
a command's run imports the extension module but not the ``scipy.linalg`` package,
numba still finds BLAS, ``scipy.linalg`` imported afterwards works and shares the
module, numba compiles a BLAS call, and without the finder (the control) numba's
check imports all of ``scipy.linalg``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
GBM = REPO / "scenarios" / "gbm_btc.toml"

RUN = """
import json, sys
{setup}
from stresstest.cli import app
try:
    app(["run", {gbm!r}, "--out", {out!r}, "--quiet",
         "--set", "paths.n_paths=4", "--set", "book.n_positions=100"])
except SystemExit as stop:
    assert stop.code in (0, None), stop.code
import numba.np.arraymath
{after}
print("RESULT=" + json.dumps({{
    "blas": bool(numba.np.arraymath._HAVE_BLAS),
    "linalg": "scipy.linalg" in sys.modules,
    "cython_blas": "scipy.linalg.cython_blas" in sys.modules,
    "finders": [type(finder).__name__ for finder in sys.meta_path],
    "extra": extra,
}}))
"""


def run_python(body: str) -> str:
    """Standard output of ``body`` run in a fresh interpreter from this tree (must succeed)."""
    completed = subprocess.run(
        [sys.executable, "-c", body],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    return completed.stdout


def probe(tmp_path: Path, setup: str, after: str = "extra = None") -> dict[str, object]:
    """Run a small GBM scenario through the CLI in a fresh interpreter; what it imported."""
    body = RUN.format(setup=setup, gbm=str(GBM), out=str(tmp_path / "run"), after=after)
    output = run_python(body)
    line = next(text for text in output.splitlines() if text.startswith("RESULT="))
    result: dict[str, object] = json.loads(line.removeprefix("RESULT="))
    return result


def test_a_command_loads_the_blas_module_without_scipy_linalg(tmp_path: Path) -> None:
    """``tune_process`` (what ``main()`` runs first) installs the finder; it acts once."""
    result = probe(tmp_path, "from stresstest.cli import tune_process\ntune_process()")
    assert result["blas"] is True
    assert result["cython_blas"] is True
    assert result["linalg"] is False
    assert "BlasBeforeNumba" not in result["finders"]  # removed after acting


def test_without_the_finder_numba_imports_scipy_linalg(tmp_path: Path) -> None:
    """Control: the probe sees ``scipy.linalg`` when numba's check imports it as usual."""
    result = probe(tmp_path, "")
    assert result["blas"] is True
    assert result["linalg"] is True


def test_scipy_linalg_and_numba_blas_work_after_it(tmp_path: Path) -> None:
    """Later imports of ``scipy.linalg`` share the module; BLAS calls compile and agree."""
    after = """
import numba
import numpy as np
import scipy.linalg
import scipy.stats
from scipy.linalg import cython_blas

@numba.njit
def product(a, b):
    return np.dot(a, b)

a = np.arange(12.0).reshape(3, 4) / 7.0
extra = {
    "same": cython_blas is sys.modules["scipy.linalg.cython_blas"],
    "dot": bool(np.array_equal(product(a, a.T), a @ a.T)),
    "solve": bool(np.allclose(scipy.linalg.solve(np.eye(3) * 2.0, np.ones(3)), 0.5)),
    "ppf": round(float(scipy.stats.norm.ppf(0.975)), 6),
}
"""
    result = probe(tmp_path, "from stresstest.cli import tune_process\ntune_process()", after)
    assert result["linalg"] is True  # imported by the probe after the run
    assert result["extra"] == {"same": True, "dot": True, "solve": True, "ppf": 1.959964}


def test_nothing_changes_once_scipy_linalg_is_imported() -> None:
    """With ``scipy.linalg`` imported the module is the one it imported; no module is added."""
    body = """
import sys
import scipy.linalg
from stresstest import numba_blas
before = set(sys.modules)
module = numba_blas.load_blas_module()
same = module is sys.modules["scipy.linalg.cython_blas"]
found = numba_blas.blas_module_file().name.startswith("cython_blas.")
print("RESULT=" + str([same, set(sys.modules) == before, found]))
"""
    assert "RESULT=[True, True, True]" in run_python(body)
