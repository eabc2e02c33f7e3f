"""The one compile policy for every kernel.

All kernels are compiled with the same explicit flags:

- ``cache=True``: the machine code is cached on disk, so a second run starts
  computing without recompiling.
- ``error_model="numpy"``: division by zero gives inf/nan instead of raising,
  which keeps loops vectorisable; inputs are validated before they get here.
- ``fastmath=False``: IEEE semantics, so results are bit-reproducible and the
  compiled kernels agree with the plain references in the tests.
- ``nogil=True``: kernels release the GIL.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numba

F = TypeVar("F", bound=Callable[..., Any])

_FLAGS: dict[str, Any] = {
    "cache": True,
    "error_model": "numpy",
    "fastmath": False,
    "nogil": True,
}


def kernel(function: F) -> F:
    """Compile a serial kernel with the project's flags."""
    return numba.njit(**_FLAGS)(function)  # type: ignore[return-value]


def parallel_kernel(function: F) -> F:
    """Compile a kernel whose outer loop is ``numba.prange`` over independent paths."""
    return numba.njit(parallel=True, **_FLAGS)(function)  # type: ignore[return-value]
