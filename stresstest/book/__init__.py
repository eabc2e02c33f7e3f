"""Books of positions: loaded from a file or generated, then sorted by breach threshold."""

from stresstest.book.positions import Book
from stresstest.book.sorted_book import SortedBook, sort_book

__all__ = ["Book", "SortedBook", "sort_book"]
