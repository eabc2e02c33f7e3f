"""Where a report goes: the default PDF path and the checks made before any work.

No matplotlib here, so a command can refuse a bad ``--report`` path before it
runs without paying for the plotting imports (about 0.7 s).
"""

from __future__ import annotations

from pathlib import Path

from stresstest.errors import InputError


def default_report_path(result_dir: Path) -> Path:
    """``reports/<result folder name>.pdf`` under the current folder."""
    return Path("reports") / f"{result_dir.resolve().name or 'report'}.pdf"


def check_report_path(out_pdf: Path) -> None:
    """Refuse a report path that is not a ``.pdf`` file name or names a folder."""
    if out_pdf.suffix.lower() != ".pdf":
        raise InputError("report file name does not end in .pdf", file=out_pdf, expected="NAME.pdf")
    if out_pdf.is_dir():
        raise InputError("report path is a folder", file=out_pdf, expected="a file path")
    for parent in out_pdf.parents:
        if parent.exists():
            if not parent.is_dir():
                raise InputError("report folder is a file", file=parent, expected="a folder")
            break
