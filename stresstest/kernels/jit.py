"""The one compile policy for every kernel.

All kernels are compiled with the same explicit flags:

- ``cache=True``: the machine code is cached on disk, so a second run starts
  computing without recompiling.
- ``error_model="numpy"``: division by zero gives inf/nan instead of raising,
  which keeps loops vectorisable; inputs are validated before they get here.
- ``fastmath=False``: IEEE semantics, so results are bit-reproducible and the
  compiled kernels agree with the plain references in the tests.
- ``nogil=True``: kernels release the GIL.

The decorators are typed with ``ParamSpec``: a compiled kernel keeps the
parameter and return types of the Python function it compiles, so mypy checks
the engine's calls into the kernels (numba's ``njit`` itself returns ``Any``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar, cast

import numba

P = ParamSpec("P")
R = TypeVar("R")

_FLAGS: dict[str, Any] = {
    "cache": True,
    "error_model": "numpy",
    "fastmath": False,
    "nogil": True,
}


def thread_limit() -> int:
    """The most threads the parallel kernels may use (``NUMBA_NUM_THREADS``, fixed at start)."""
    # numba.config sets its options at run time from the environment, so mypy sees none.
    limit: int = numba.config.NUMBA_NUM_THREADS  # type: ignore[attr-defined]
    return limit


def kernel(function: Callable[P, R]) -> Callable[P, R]:
    """Compile a serial kernel with the project's flags."""
    return cast("Callable[P, R]", numba.njit(**_FLAGS)(function))


def parallel_kernel(function: Callable[P, R]) -> Callable[P, R]:
    """Compile a kernel whose outer loop is ``numba.prange`` over independent paths."""
    return cast("Callable[P, R]", numba.njit(parallel=True, **_FLAGS)(function))


def inline_kernel(function: Callable[P, R]) -> Callable[P, R]:
    """Compile a small serial kernel that numba inlines into its callers.

    For the arithmetic of :mod:`stresstest.kernels.fast_math`, so the loops over
    SIMD lanes that call it hold no call and vectorise.
    """
    return cast("Callable[P, R]", numba.njit(inline="always", **_FLAGS)(function))
