"""The command line every benchmark family shares.

    python benchmarks/bench_NAME.py [--quick | --smoke] [--write] [family options]

``--smoke`` runs the family's verification on a tiny case and prints the section
it would write, timing nothing long: it shows the family works, not how fast it
is, so it cannot be combined with ``--write``. A failed parity check exits 1
before anything is timed, and nothing is written.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from benchmarks.harness.markdown import DOC, REPO, write_sections
from benchmarks.harness.parity import ParityError


def say(message: str) -> None:
    """Progress on standard error (standard output carries the section)."""
    print(message, file=sys.stderr, flush=True)


@dataclass(frozen=True)
class Family:
    """A benchmark family: its section of docs/performance.md and how to produce it.

    Attributes
    ----------
    section : str
        Marker name: the section sits between ``<!-- section:begin -->`` and
        ``<!-- section:end -->``.
    description : str or None
        The module's docstring; its first line is the ``--help`` description.
    run : callable
        ``run(options) -> markdown`` of the section (without the markers); raises
        :class:`~benchmarks.harness.parity.ParityError` when a check fails.
    quick : str or None
        Help for ``--quick`` (a smaller grid), or None when the family has none.
    add_arguments : callable or None
        Adds the family's own options to the parser.
    """

    section: str
    description: str | None
    run: Callable[[argparse.Namespace], str]
    quick: str | None = None
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


def parser_for(family: Family, prog: str | None = None) -> argparse.ArgumentParser:
    """The family's argument parser: ``--quick`` (if any), ``--smoke``, ``--write``."""
    summary = (family.description or family.section).strip().splitlines()[0]
    parser = argparse.ArgumentParser(prog=prog, description=summary)
    size = parser.add_mutually_exclusive_group()
    if family.quick is not None:
        size.add_argument("--quick", action="store_true", help=family.quick)
    size.add_argument(
        "--smoke",
        action="store_true",
        help="verify on a tiny case and print the section; times nothing long, writes nothing",
    )
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"replace the {family.section} section of docs/performance.md",
    )
    if family.add_arguments is not None:
        family.add_arguments(parser)
    parser.set_defaults(quick=False)
    return parser


def parse(family: Family, argv: Sequence[str] | None, prog: str | None = None):
    """Parse ``argv``; ``--smoke --write`` exits 2 (smoke figures are not measurements)."""
    parser = parser_for(family, prog)
    options = parser.parse_args(argv)
    if options.smoke and options.write:
        parser.error("--smoke measures nothing worth keeping: it cannot be used with --write")
    return options


def main_for(family: Family, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Run one family: verify, time, print the section, write it with ``--write``.

    Returns
    -------
    int
        0, or 1 when a parity check failed (nothing timed after it, nothing written).
    """
    options = parse(family, argv, prog)
    try:
        body = family.run(options)
    except ParityError as error:
        say(f"PARITY FAILED ({family.section}; nothing written): {error}")
        return 1
    print(body, flush=True)
    if options.write:
        write_sections({family.section: body})
        say(f"wrote the {family.section} section of {DOC.relative_to(REPO)}")
    return 0


class Main(Protocol):
    """A family module's ``main``: command-line arguments (``sys.argv`` by default) -> status."""

    def __call__(self, argv: Sequence[str] | None = None) -> int: ...


def main_function(family: Family) -> Main:
    """The family module's ``main(argv=None) -> int``: :func:`main_for` bound to ``family``."""

    def main(argv: Sequence[str] | None = None) -> int:
        return main_for(family, argv)

    main.__doc__ = (
        f"Verify, time and print the {family.section} section; ``--write`` puts it in "
        "docs/performance.md. Returns the exit status."
    )
    return main
