"""Books of positions: loaded from a file or generated, then sorted by breach threshold."""

from typing import TYPE_CHECKING

from stresstest.book.positions import Book

if TYPE_CHECKING:
    from stresstest.book.sorted_book import SortedBook, sort_book

# The sorted book needs the compiled prefix sums (numba); `stresstest validate` builds
# a book for its plausibility checks without them, so it is imported on first use.

__all__ = ["Book", "SortedBook", "sort_book"]


def __getattr__(name: str) -> object:
    """``SortedBook`` and ``sort_book``, imported on first use."""
    if name in ("SortedBook", "sort_book"):
        from stresstest.book import sorted_book

        return getattr(sorted_book, name)
    raise AttributeError(f"module 'stresstest.book' has no attribute {name!r}")
