"""Build a report: every page of a run or comparison into one PDF, optionally PNGs.

Pages are drawn from the result folder's files only (never by running the
engine). The PDF and every PNG are written to temporary names beside their
targets and renamed into place only once all of them were written, so a failure
leaves no partial report and an earlier report untouched.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path

from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from stresstest.report import style
from stresstest.report.figures_attribution import attribution_page
from stresstest.report.figures_compare import (
    backtest_page,
    compare_summary_page,
    differences_pages,
    frontier_page,
)
from stresstest.report.figures_lending import (
    LENDING_RUN_PAGES,
    is_lending_run,
    lending_compare_page,
    lending_differences_pages,
    quote_asset,
)
from stresstest.report.figures_procyclicality import has_procyclicality, procyclicality_page
from stresstest.report.figures_run import RUN_PAGES
from stresstest.report.load import CompareFolder, RunFolder, load_result, load_run
from stresstest.report.target import check_report_path, default_report_path
from stresstest.report.verdicts import recommend

#: A page: file-name slug and the figure.
Page = tuple[str, Figure]


def run_pages(run: RunFolder, prefix: str = "", *, backtest: bool = True) -> list[Page]:
    """The pages of a run report (summary, bad debt, fund, depletion, liquidations, price).

    With ``backtest`` (and a backtest.json in the folder), its coverage page too; a
    comparison that showed its own backtest page leaves it out, so no page is printed
    twice. A lending run (docs/lending.md) gets the lending pages instead of the perps
    ones.
    """
    if is_lending_run(run):  # a loan book: no margin, positions or attribution
        with style.quote_currency(quote_asset(run)):
            return [(prefix + slug, draw(run)) for slug, draw in LENDING_RUN_PAGES.items()]
    pages = [(prefix + slug, draw(run)) for slug, draw in RUN_PAGES.items()]
    if run.attribution is not None:  # docs/model.md 6b
        pages.append((prefix + "attribution", attribution_page(run)))
    if backtest and run.backtest is not None:
        pages.append((prefix + "backtest", backtest_page(run.backtest, run.label)))
    return pages


def compare_pages(folder: CompareFolder) -> list[Page]:
    """The pages of a comparison report, then the run pages of its baseline variant."""
    if is_lending_run(folder.baseline):
        with style.quote_currency(quote_asset(folder.baseline)):
            return lending_compare_pages(folder)
    pages: list[Page] = [
        ("variants", compare_summary_page(folder)),
        ("frontier", frontier_page(folder)),
    ]
    if has_procyclicality(folder):  # docs/procyclicality.md
        pages.append(("procyclicality", procyclicality_page(folder)))
    differences = differences_pages(folder)
    pages += [
        ("differences" + (f"-{number}" if number > 1 else ""), figure)
        for number, figure in enumerate(differences, start=1)
    ]
    if folder.backtest is not None:
        pages.append(("backtest", backtest_page(folder.backtest, folder.label)))
    shown_backtest = folder.backtest is not None
    pages += run_pages(folder.baseline, prefix="baseline-", backtest=not shown_backtest)
    recommended = recommend(folder.table, folder.differences, str(folder.document["baseline"]))
    if recommended.reason != "none":
        run = load_run(
            folder.path / "variants" / recommended.variant,
            label=f"recommended {recommended.variant}",
        )
        pages += run_pages(run, prefix="recommended-", backtest=not shown_backtest)
    return pages


def lending_compare_pages(folder: CompareFolder) -> list[Page]:
    """A comparison of lending designs: the designs, their paired differences, the baseline.

    No frontier (a loan book has no maintenance requirement to trade against), no
    backtest (refused for a loan book) and no recommended design (docs/reports.md).
    """
    differences = lending_differences_pages(folder)
    return [
        ("designs", lending_compare_page(folder)),
        *(
            ("differences" + (f"-{number}" if number > 1 else ""), figure)
            for number, figure in enumerate(differences, start=1)
        ),
        *run_pages(folder.baseline, prefix="baseline-", backtest=False),
    ]


def report_figures(result_dir: Path) -> list[Page]:
    """Read ``result_dir`` (a run or a comparison) and draw every page, with footers."""
    result = load_result(result_dir)
    with style.context():
        pages = run_pages(result) if isinstance(result, RunFolder) else compare_pages(result)
        version = (
            result.summary.get("stresstest_version")
            if isinstance(result, RunFolder)
            else result.document.get("stresstest_version")
        )
        for number, (_slug, figure) in enumerate(pages, start=1):
            style.footer(
                figure,
                f"{result.label}  |  {result_dir.name}  |  stresstest {version}  |  "
                f"page {number} of {len(pages)}",
            )
    return pages


def png_path(out_pdf: Path, number: int, slug: str) -> Path:
    """``<stem>-NN-<slug>.png`` beside the PDF."""
    return out_pdf.with_name(f"{out_pdf.stem}-{number:02d}-{slug}.png")


def _stale_pngs(out_pdf: Path, keep: set[Path]) -> list[Path]:
    pattern = re.compile(rf"{re.escape(out_pdf.stem)}-\d{{2}}-[a-z0-9-]+\.png")
    if not out_pdf.parent.is_dir():
        return []
    return [
        path
        for path in out_pdf.parent.iterdir()
        if pattern.fullmatch(path.name) and path not in keep
    ]


def _temporary(target: Path) -> Path:
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    return Path(name)


def _write_all(writers: list[tuple[Path, Callable[[Path], None]]]) -> None:
    """Write each target via a temporary file; rename them all only if all succeeded."""
    staged: list[tuple[Path, Path]] = []
    try:
        for target, write in writers:
            temporary = _temporary(target)
            staged.append((temporary, target))
            write(temporary)
        mask = os.umask(0)
        os.umask(mask)
        for temporary, target in staged:
            os.chmod(temporary, 0o666 & ~mask)
            os.replace(temporary, target)
    except BaseException:
        for temporary, _target in staged:
            with contextlib.suppress(FileNotFoundError):
                temporary.unlink()
        raise


def build_report(result_dir: Path, out_pdf: Path, *, png: bool) -> list[Path]:
    """Write the report of ``result_dir`` to ``out_pdf`` (and PNGs); return the files written.

    Parameters
    ----------
    result_dir
        A run folder (``stresstest run``) or a comparison folder (``stresstest compare``).
    out_pdf
        The PDF to write (replaced whole); its folder is created if needed.
    png
        Also write one PNG per page beside the PDF, ``<stem>-NN-<slug>.png``
        (:data:`~stresstest.report.style.PNG_DPI` dots per inch); PNGs of an earlier
        report with the same stem that the new one does not have are removed.

    Returns
    -------
    list of Path
        The PDF, then the PNGs in page order.
    """
    pages = report_figures(result_dir)
    out_pdf.parent.mkdir(parents=True, exist_ok=True)
    title = f"stresstest report: {result_dir.name}"

    def write_pdf(temporary: Path) -> None:
        metadata = {"Title": title, "Creator": "stresstest", "CreationDate": None}
        with style.context(), PdfPages(temporary, metadata=metadata) as pdf:
            for _slug, figure in pages:
                pdf.savefig(figure)

    def png_writer(figure: Figure) -> Callable[[Path], None]:
        def write(temporary: Path) -> None:
            with style.context():
                figure.savefig(
                    temporary, format="png", dpi=style.PNG_DPI, metadata={"Software": None}
                )

        return write

    writers: list[tuple[Path, Callable[[Path], None]]] = [(out_pdf, write_pdf)]
    if png:
        writers += [
            (png_path(out_pdf, number, slug), png_writer(figure))
            for number, (slug, figure) in enumerate(pages, start=1)
        ]
    _write_all(writers)
    written = [target for target, _write in writers]
    for stale in _stale_pngs(out_pdf, set(written)) if png else []:
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    return written


def report_to_file(result_dir: Path, out: Path | None = None, *, png: bool = False) -> list[Path]:
    """Check the target, then :func:`build_report`; ``out`` defaults to reports/NAME.pdf."""
    target = out if out is not None else default_report_path(result_dir)
    check_report_path(target)
    return build_report(result_dir, target, png=png)
