"""PDF and PNG reports of a run or a comparison, drawn only from its result folder.

``build_report`` and ``report_to_file`` are loaded on first use (PEP 562), so
importing a light module of the package (:mod:`stresstest.report.target`,
:mod:`stresstest.report.style`) does not import matplotlib's PDF backend.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stresstest.report.build import build_report, report_to_file

__all__ = ["build_report", "report_to_file"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from stresstest.report import build

        return getattr(build, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
