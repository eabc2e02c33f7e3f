"""numba's BLAS check without ``scipy.linalg``'s package import, for the command line.

When numba loads its first compiled kernel it imports ``numba.np.arraymath``, which
checks that BLAS is there with ``import scipy.linalg.cython_blas``. That statement
runs ``scipy/linalg/__init__.py`` first: all of ``scipy.linalg`` and, through
``scipy._lib._array_api``, numpy's f2py, testing and fft modules, about 0.1 s of
CPU in every run (docs/performance.md), while only the extension module
``cython_blas`` (the BLAS functions' addresses) is wanted, and no kernel of this
project calls BLAS.

:func:`install` adds an import finder that, just before ``numba.np.arraymath`` is
imported, loads the extension module ``scipy.linalg.cython_blas`` itself from its
file, the module Python would load, and records it in ``sys.modules``; numba's
``import`` then finds it there and imports no parent package. ``scipy.linalg``
imported later (a fit, a backtest) runs as usual and uses the same module (its
own modules import it by name). The finder acts once and then removes itself; if
the file is not where scipy keeps it, or ``scipy.linalg`` is already imported, it
does nothing and numba imports as before. Nothing it does changes a result.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

#: The module whose import runs numba's BLAS check.
BLAS_CHECK_MODULE = "numba.np.arraymath"
#: The extension module numba's check imports.
BLAS_MODULE = "scipy.linalg.cython_blas"


def blas_module_file() -> Path | None:
    """The file of ``scipy.linalg.cython_blas`` (``None`` if scipy or the file is missing).

    Found without importing scipy: from the location of the ``scipy`` package.
    """
    try:
        spec = importlib.util.find_spec("scipy")
    except (ImportError, ValueError):
        return None
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "linalg"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = folder / f"cython_blas{suffix}"
        if candidate.is_file():
            return candidate
    return None


def load_blas_module() -> ModuleType | None:
    """Load ``scipy.linalg.cython_blas`` from its file into ``sys.modules``, alone.

    Returns the module (``None``, and nothing changed, when it is not found or
    ``scipy.linalg`` is imported already: then the usual import costs nothing more).
    """
    if BLAS_MODULE in sys.modules:
        return sys.modules[BLAS_MODULE]
    if "scipy.linalg" in sys.modules:
        return None
    path = blas_module_file()
    if path is None:
        return None
    spec = importlib.util.spec_from_file_location(BLAS_MODULE, path)
    if spec is None or spec.loader is None:
        return None
    module = importlib.util.module_from_spec(spec)
    sys.modules[BLAS_MODULE] = module
    try:
        spec.loader.exec_module(module)
    except Exception:  # then numba's own import decides, as without this module
        del sys.modules[BLAS_MODULE]
        return None
    return module


class BlasBeforeNumba(importlib.abc.MetaPathFinder):
    """Loads :data:`BLAS_MODULE` alone when :data:`BLAS_CHECK_MODULE` is about to be imported.

    It finds nothing itself (the usual finders import ``numba.np.arraymath``) and
    leaves ``sys.meta_path`` after it has acted once.
    """

    def find_spec(
        self,
        fullname: str,
        path: Sequence[str] | None = None,
        target: ModuleType | None = None,
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == BLAS_CHECK_MODULE:
            uninstall()
            load_blas_module()
        return None


def install() -> None:
    """Add the finder (once) in front of ``sys.meta_path``."""
    if not any(isinstance(finder, BlasBeforeNumba) for finder in sys.meta_path):
        sys.meta_path.insert(0, BlasBeforeNumba())


def uninstall() -> None:
    """Remove the finder from ``sys.meta_path``."""
    sys.meta_path[:] = [
        finder for finder in sys.meta_path if not isinstance(finder, BlasBeforeNumba)
    ]
