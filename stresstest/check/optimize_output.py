"""Write an optimize folder whole: optimize.json, frontier.parquet, optimize.png/pdf."""

from __future__ import annotations

from pathlib import Path

from stresstest.check.optimize import Optimum, frontier_rows
from stresstest.io.atomic import atomic_dir, write_json, write_parquet


def write_optimum(optimum: Optimum, out_dir: Path) -> Path:
    """Write ``out_dir`` whole (or leave it as it was); the page is drawn from the
    document just written (``report/figures_optimize.py``)."""
    import polars as pl
    from matplotlib.backends.backend_pdf import PdfPages

    from stresstest.report import style
    from stresstest.report.figures_optimize import optimize_page

    document = optimum.document()
    with atomic_dir(out_dir) as staging:
        write_json(document, staging / "optimize.json")
        write_parquet(pl.DataFrame(frontier_rows(optimum)), staging / "frontier.parquet")
        with style.context():
            figure = optimize_page(document)
            version = document["stresstest_version"]
            style.footer(figure, f"{document['scenario']}  |  stresstest {version}")
            figure.savefig(staging / "optimize.png", dpi=style.PNG_DPI, metadata={"Software": None})
            metadata = {"Title": f"optimize: {document['scenario']}", "CreationDate": None}
            with PdfPages(staging / "optimize.pdf", metadata=metadata) as pdf:
                pdf.savefig(figure)
    return out_dir
