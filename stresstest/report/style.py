"""One place for the look of the reports: palette, page size, fonts and number formats.

Colours are the Okabe-Ito palette (Okabe and Ito, 2008), distinguishable with the
common forms of colour blindness. Pages are A4 landscape; font sizes are chosen
so that the smallest text is still readable when the page is printed.
"""

from __future__ import annotations

import math
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.axis import Axis
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.rcsetup import cycler
from matplotlib.ticker import FuncFormatter

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

#: Quote currency of the shipped scenarios; result files do not record it.
QUOTE = "USDT"
#: Axis label for money.
MONEY_LABEL = f"quote units ({QUOTE})"
#: Axis label for prices.
PRICE_LABEL = f"price ({QUOTE} per base unit)"

#: Okabe-Ito palette, by role.
BLUE = "#0072B2"
ORANGE = "#E69F00"
SKY = "#56B4E9"
GREEN = "#009E73"
YELLOW = "#F0E442"
VERMILLION = "#D55E00"
PURPLE = "#CC79A7"
BLACK = "#000000"
GREY = "#7F7F7F"
#: Cycle for series without a role.
CYCLE: tuple[str, ...] = (BLUE, ORANGE, GREEN, VERMILLION, PURPLE, SKY, YELLOW, BLACK)

#: A4 landscape, inches.
PAGE_SIZE = (11.69, 8.27)
#: Resolution of the PNG copies (dots per inch): about 1290 x 910 pixels per page.
PNG_DPI = 110
#: Fraction of the page height kept free at the bottom for the footer.
FOOTER_HEIGHT = 0.04

#: matplotlib settings for every page (points; 10 pt is the smallest printed text).
RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.titleweight": "bold",
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 14,
    "figure.titleweight": "bold",
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.prop_cycle": cycler(color=list(CYCLE)),
    "lines.linewidth": 1.6,
    "pdf.fonttype": 42,
    "savefig.facecolor": "white",
}


@contextmanager
def quote_currency(name: str) -> Iterator[None]:
    """Label money in ``name`` (e.g. a lending market's ``lending.quote_asset``) while
    pages are drawn; :data:`QUOTE`, :data:`MONEY_LABEL` and :data:`PRICE_LABEL` are
    restored afterwards."""
    global QUOTE, MONEY_LABEL, PRICE_LABEL
    saved = (QUOTE, MONEY_LABEL, PRICE_LABEL)
    QUOTE, MONEY_LABEL, PRICE_LABEL = name, f"quote units ({name})", f"price ({name} per base unit)"
    try:
        yield
    finally:
        QUOTE, MONEY_LABEL, PRICE_LABEL = saved


@contextmanager
def context() -> Iterator[None]:
    """Apply :data:`RC` while pages are drawn and saved."""
    with matplotlib.rc_context(RC):
        yield


def page(*, layout: bool = True, bottom: float = 0.0) -> Figure:
    """A blank A4-landscape page on the Agg canvas (no pyplot state).

    With ``layout``, constrained layout keeps the bottom :data:`FOOTER_HEIGHT` free,
    and ``bottom`` more (a fraction of the page height) for a key drawn there.
    """
    low = FOOTER_HEIGHT + bottom
    engine = ConstrainedLayoutEngine(rect=(0.0, low, 1.0, 1.0 - low))
    figure = Figure(figsize=PAGE_SIZE, layout=engine if layout else None)
    FigureCanvasAgg(figure)
    return figure


#: Characters per line of a page title (14 pt bold on A4 landscape).
TITLE_WIDTH = 100


def title(figure: Figure, text: str, **position: Any) -> None:
    """The page title (the finding), wrapped to fit the page width."""
    figure.suptitle("\n".join(textwrap.wrap(text, TITLE_WIDTH)), **position)


def footer(figure: Figure, text: str) -> None:
    """Small grey text at the bottom of the page."""
    figure.text(0.5, 0.012, text, ha="center", va="bottom", fontsize=9, color=GREY)


# ----------------------------------------------------------------------------- numbers
_SCALES = ((1e12, "T"), (1e9, "B"), (1e6, "M"), (1e3, "k"))


def _scale_of(value: float) -> tuple[float, str]:
    for scale, suffix in _SCALES:
        if abs(value) >= scale:
            return scale, suffix
    return 1.0, ""


def _digits(scaled: float, significant: int) -> int:
    if scaled == 0.0:
        return max(significant - 1, 0)
    magnitude = math.floor(math.log10(abs(scaled)))
    return max(significant - 1 - magnitude, 0)


def compact(value: float | None, significant: int = 3) -> str:
    """``47643318.1`` -> ``47.6M``; ``None`` or not finite -> ``n/a``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0.0:
        return "0"
    scale, suffix = _scale_of(value)
    scaled = value / scale
    return f"{scaled:,.{_digits(scaled, significant)}f}{suffix}"


def money(value: float | None, significant: int = 3) -> str:
    """An amount of quote units with its unit: ``47.6M USDT``."""
    return f"{compact(value, significant)} {QUOTE}"


def with_error(value: float | None, error: float | None, unit: str = "") -> str:
    """``value ± error`` at the value's scale: ``47.6M ± 0.66M USDT``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    tail = f" {unit}" if unit else ""
    if error is None or not math.isfinite(error):
        return f"{compact(value)}{tail}"
    scale, suffix = _scale_of(max(abs(value), abs(error)))
    scaled_error = error / scale
    digits = min(max(_digits(scaled_error, 2), _digits(value / scale, 3)), 6)
    return f"{value / scale:,.{digits}f}{suffix} ± {scaled_error:,.{digits}f}{suffix}{tail}"


def percent(value: float | None, digits: int = 1) -> str:
    """A probability as a percentage: ``0.1893`` -> ``18.9%``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{100.0 * value:.{digits}f}%"


def percent_with_error(value: float | None, error: float | None) -> str:
    """``18.9% (±1.2%)``."""
    digits = 1 if error is None or error >= 0.0005 else 2
    return f"{percent(value, digits)} (±{percent(error, digits)})"


def count(value: float | None) -> str:
    """A count, with thousands separators below a million: ``396,885`` or ``1.23M``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if abs(value) >= 1e6:
        return compact(value)
    return f"{value:,.0f}"


def tick(value: float) -> str:
    """A compact tick label without trailing zeros: ``20M``, ``1.5B``, ``0.25``."""
    if not math.isfinite(value):
        return ""
    scale, suffix = _scale_of(value)
    return f"{value / scale:.3g}{suffix}"


def compact_axis(axis: Axis) -> None:
    """Tick labels in compact form (``20M``, ``1.5B``)."""
    axis.set_major_formatter(FuncFormatter(lambda value, _position: tick(value)))


def percent_axis(axis: Axis) -> None:
    """Tick labels of a probability axis as percentages (``0.1%``, ``25%``)."""
    axis.set_major_formatter(FuncFormatter(lambda value, _position: f"{100.0 * value:.3g}%"))
