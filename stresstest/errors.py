"""The one exception type that bad user input raises.

Every check at the boundary (scenario files, data files, CLI options) raises
:class:`InputError`. It carries where the problem is (``file``, ``key`` or
``row``), the offending ``value`` and what would be ``expected``, so Python
callers can inspect it and the CLI can print it and exit with status 2.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TextIO


class InputError(ValueError):
    """Bad user input: a scenario key, a data file, a row or a CLI option.

    Parameters
    ----------
    problem
        What is wrong, in a few words (``"unknown key"``, ``"missing column"``).
    file
        The file the input came from, if any.
    key
        The dotted scenario key or column name, if any.
    row
        The 0-based data row (after the header), if any.
    value
        The offending value, if any.
    expected
        What would be valid.
    """

    def __init__(
        self,
        problem: str,
        *,
        file: str | Path | None = None,
        key: str | None = None,
        row: int | None = None,
        value: Any = None,
        expected: str | None = None,
    ) -> None:
        self.problem = problem
        self.file = None if file is None else str(file)
        self.key = key
        self.row = row
        self.value = value
        self.expected = expected
        super().__init__(self._message())

    def _message(self) -> str:
        where = []
        if self.file is not None:
            where.append(self.file)
        if self.key is not None:
            where.append(f"key '{self.key}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        text = ": ".join([", ".join(where), self.problem]) if where else self.problem
        if self.value is not None:
            text += f" (got {self.value!r})"
        if self.expected is not None:
            text += f"; expected {self.expected}"
        return text


class OutputError(InputError):
    """An output location that cannot be written: busy, foreign, read-only, full or too long.

    ``problem`` names the location and says what is wrong; ``expected`` says what to
    do instead (choose another ``--out``, free space, ...). The CLI prints it on one
    line with exit status 2, like every :class:`InputError`.
    """

    def _message(self) -> str:
        text = self.problem
        if self.expected is not None:
            text += f"; {self.expected}"
        return text


class CombinedInputError(InputError):
    """Several problems of one input, found together (a scenario file's tables).

    ``errors`` holds each as an :class:`InputError`, in the order they were
    found; the attributes of the group (``file``, ``key``, ...) are the first
    one's, so a caller that reads one problem still gets one. ``str()`` gives
    one problem per line; the CLI prints each as its own ``error:`` line.
    """

    def __init__(self, errors: list[InputError]) -> None:
        self.errors = tuple(errors)
        first = self.errors[0]
        super().__init__(
            first.problem,
            file=first.file,
            key=first.key,
            row=first.row,
            value=first.value,
            expected=first.expected,
        )

    def _message(self) -> str:
        return "\n".join(str(error) for error in self.errors)


def raise_all(errors: list[InputError]) -> None:
    """Raise the one problem of ``errors``, or all as :class:`CombinedInputError`; none: return.

    A :class:`CombinedInputError` among ``errors`` adds each of its problems.
    """
    flat = [item for error in errors for item in getattr(error, "errors", (error,))]
    if len(flat) == 1:
        raise flat[0]
    if flat:
        raise CombinedInputError(flat)


@contextlib.contextmanager
def warnings_to(show: Callable[[str], None], *categories: type[Warning]) -> Iterator[None]:
    """Within the block, hand every warning of ``categories`` to ``show(message)``, each time.

    Other warnings keep their filters and display. The CLI prints each message as
    one ``warning: ...`` line on stderr (checkpoint chunks recomputed, plausibility).
    """
    with warnings.catch_warnings():
        original = warnings.showwarning

        def display(
            message: Warning | str,
            category: type[Warning],
            filename: str,
            lineno: int,
            file: TextIO | None = None,
            line: str | None = None,
        ) -> None:
            if issubclass(category, categories):
                show(str(message))
            else:
                original(message, category, filename, lineno, file, line)

        warnings.showwarning = display
        for category in categories:
            warnings.simplefilter("always", category)
        yield
