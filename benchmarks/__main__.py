"""Run one benchmark family, or all of them into docs/performance.md.

    python -m benchmarks all [--quick | --smoke] [--write]
    python -m benchmarks FAMILY [family options]     # as python benchmarks/bench_FAMILY.py

``all`` runs every family in the order of docs/performance.md (each with
``--quick`` where it has a quick grid, each with ``--smoke``), and writes all
their sections at once, only when every family passed its checks: a failure
exits 1 and leaves docs/performance.md as it was.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from benchmarks import (
    bench_accounts,
    bench_adl,
    bench_defences,
    bench_engine,
    bench_every_stage,
    bench_match,
    bench_mechanics,
    bench_memory,
    bench_paths,
    bench_startup,
)
from benchmarks.harness import cli
from benchmarks.harness.markdown import DOC, REPO, write_sections
from benchmarks.harness.parity import ParityError

#: Every family, in the order of its section in docs/performance.md.
FAMILIES: dict[str, cli.Family] = {
    "engine": bench_engine.FAMILY,
    "memory": bench_memory.FAMILY,
    "startup": bench_startup.FAMILY,
    "paths": bench_paths.FAMILY,
    "defences": bench_defences.FAMILY,
    "adl": bench_adl.FAMILY,
    "every_stage": bench_every_stage.FAMILY,
    "mechanics": bench_mechanics.FAMILY,
    "accounts": bench_accounts.FAMILY,
    "match": bench_match.FAMILY,
}


def run_all(argv: Sequence[str]) -> int:
    """Every family with its defaults; all sections written together, or none."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks all", description=__doc__)
    size = parser.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="each family's quick grid")
    size.add_argument("--smoke", action="store_true", help="each family on a tiny case")
    parser.add_argument("--write", action="store_true", help="write docs/performance.md")
    options = parser.parse_args(argv)
    if options.smoke and options.write:
        parser.error("--smoke measures nothing worth keeping: it cannot be used with --write")
    bodies: dict[str, str] = {}
    for name, family in FAMILIES.items():
        flags = ["--smoke"] if options.smoke else []
        if options.quick and family.quick is not None:
            flags.append("--quick")
        cli.say(f"== {name} {' '.join(flags)}")
        try:
            bodies[family.section] = family.run(cli.parse(family, flags))
        except ParityError as error:
            cli.say(f"PARITY FAILED ({name}; nothing written): {error}")
            return 1
        print(bodies[family.section], flush=True)
    if options.write:
        write_sections(bodies)
        cli.say(f"wrote {len(bodies)} sections of {DOC.relative_to(REPO)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``all`` or one family's name, then that command's options."""
    argv = list(sys.argv[1:] if argv is None else argv)
    names = ["all", *FAMILIES]
    if argv[:1] in (["-h"], ["--help"]):
        print(f"usage: python -m benchmarks {{{','.join(names)}}} [options]\n{__doc__}")
        return 0
    if not argv or argv[0] not in names:
        print(
            f"usage: python -m benchmarks {{{','.join(names)}}} [options]\n{__doc__}",
            file=sys.stderr,
        )
        return 2
    if argv[0] == "all":
        return run_all(argv[1:])
    return cli.main_for(FAMILIES[argv[0]], argv[1:], prog=f"python -m benchmarks {argv[0]}")


if __name__ == "__main__":
    sys.exit(main())
