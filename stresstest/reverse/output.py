"""Write a reverse stress test's folder whole: reverse.json, reverse.png and reverse.pdf."""

from __future__ import annotations

from pathlib import Path

from stresstest.io.atomic import atomic_dir, write_json
from stresstest.reverse.search import ReverseResult

#: Files of a reverse folder.
REVERSE_FILE = "reverse.json"
FIGURE_PNG = "reverse.png"
FIGURE_PDF = "reverse.pdf"


def write_reverse(found: ReverseResult, out_dir: Path) -> Path:
    """Write ``out_dir`` whole (or leave it as it was): the document, then its page.

    The page is drawn from the document just written (``report/figures_reverse.py``),
    as a PNG and a one-page PDF.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    from stresstest.report import style
    from stresstest.report.figures_reverse import reverse_page

    document = found.document()
    with atomic_dir(out_dir) as staging:
        write_json(document, staging / REVERSE_FILE)
        with style.context():
            figure = reverse_page(document)
            style.footer(
                figure, f"{document['scenario']}  |  stresstest {document['stresstest_version']}"
            )
            figure.savefig(staging / FIGURE_PNG, dpi=style.PNG_DPI, metadata={"Software": None})
            metadata = {
                "Title": f"reverse stress test: {document['scenario']}",
                "CreationDate": None,
            }
            with PdfPages(staging / FIGURE_PDF, metadata=metadata) as pdf:
                pdf.savefig(figure)
    return out_dir
