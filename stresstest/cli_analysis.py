"""The analysis commands: ``reverse``, ``check`` and ``optimize`` (docs/reverse.md,
docs/check.md, docs/optimize.md), registered on :data:`stresstest.cli.app`.

Thin like the rest of the command line: each parses its options, calls one function
of :mod:`stresstest.reverse` or :mod:`stresstest.check` inside the CLI's error
channel and prints the answer; nothing heavy is imported until a command runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from stresstest.cli import (
    SCENARIO_LOOKUP,
    SetOption,
    app,
    input_errors,
    out_console,
    warnings_shown,
)


@app.command("reverse")
def reverse_command(
    scenario: Annotated[
        Path, typer.Argument(help=f"Single-asset scenario TOML file, {SCENARIO_LOOKUP}")
    ],
    shock: Annotated[
        str,
        typer.Option(
            "--shock",
            help="Shock family: crash, vol, oracle, depth or leverage; A,B for the boundary "
            "in two families (docs/reverse.md).",
        ),
    ] = "crash",
    target: Annotated[
        str, typer.Option("--target", help="What breaks: fund, bad_debt, adl or backstop.")
    ] = "fund",
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for reverse.json, reverse.png and reverse.pdf."),
    ] = Path("runs/reverse"),
    probability: Annotated[
        float,
        typer.Option("--probability", help="Share of paths that must show the event; 1: all."),
    ] = 1.0,
    amount: Annotated[
        float, typer.Option("--amount", help="bad_debt target: the amount, quote units.")
    ] = 0.0,
    tolerance: Annotated[
        float, typer.Option("--tolerance", help="Width of the final bracket, family units.")
    ] = 1e-3,
    at_step: Annotated[int, typer.Option("--at-step", help="crash, oracle: first step hit.")] = 1,
    recover_steps: Annotated[
        int,
        typer.Option(
            "--recover-steps", help="crash: steps to recover (0: never); oracle: spike length."
        ),
    ] = 0,
    first_range: Annotated[
        str | None,
        typer.Option("--range", help="With A,B: LOW,HIGH of the sizes of A on the boundary."),
    ] = None,
    sets: SetOption = None,
) -> None:
    """Find the smallest shock of a family that reaches a target (a reverse stress test)."""
    from stresstest.reverse.run import parse_range, reverse_to_dir

    with input_errors():
        found, written = reverse_to_dir(
            scenario,
            out,
            family=shock,
            target=target,
            probability=probability,
            amount=amount,
            tolerance=tolerance,
            at_step=at_step,
            recover_steps=recover_steps,
            sets=sets or (),
            first_range=parse_range(first_range),
        )
    if found.boundary is not None:
        reached = sum(point["second"] is not None for point in found.boundary)
        answer = f"boundary of {shock}: {reached} of {len(found.boundary)} points reach the target"
    elif found.shock is not None:
        answer = f"smallest {shock} shock: {found.shock:.6g} ({found.document()['unit']})"
    else:
        answer = f"no {shock} shock in the searched range reaches the target"
    out_console.print(Text(f"{answer}; wrote {written}"), soft_wrap=True)


@app.command("check")
def check_command(
    current: Annotated[Path, typer.Argument(help=f"The current scenario, {SCENARIO_LOOKUP}")],
    proposed: Annotated[
        Path, typer.Argument(help="The proposed scenario: the same paths, another design.")
    ],
    tolerance: Annotated[
        float,
        typer.Option("--tolerance", help="Largest relative move of a headline figure, e.g. 0.1."),
    ] = 0.10,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write check.json to this folder.")
    ] = None,
    sets: SetOption = None,
) -> None:
    r"""Review a parameter change on the same paths: exit 1 when a headline figure moves
    beyond the tolerance, a limit of \[appetite] is broken or a new warning appears."""
    from stresstest.check.change import check_files, write_check
    from stresstest.console_tables import check_table

    with input_errors(), warnings_shown():
        result = check_files(current, proposed, tolerance=tolerance, sets=tuple(sets or ()))
        if out is not None:
            write_check(result, out)
    out_console.print(check_table(result))
    for reason in result.reasons:
        out_console.print(Text(f"fails: {reason}"), soft_wrap=True)
    verdict = "passes" if result.passed else "fails"
    out_console.print(Text(f"the change {verdict} ({len(result.reasons)} reasons)"), soft_wrap=True)
    if not result.passed:
        raise typer.Exit(code=1)


@app.command("optimize")
def optimize_command(
    scenario: Annotated[
        Path,
        typer.Argument(help=rf"Scenario with \[appetite] and \[search], {SCENARIO_LOOKUP}"),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", "-o", help="Folder for optimize.json, frontier.parquet, a page."),
    ] = Path("runs/optimize"),
    sets: SetOption = None,
) -> None:
    r"""The cheapest design of the \[search] grid that meets every \[appetite] limit, on the
    scenario's paths and again on fresh ones (docs/optimize.md)."""
    from stresstest.check.optimize import optimize
    from stresstest.check.optimize_output import write_optimum
    from stresstest.scenario import load_scenario
    from stresstest.scenario.embedded import resolve_scenario

    with input_errors():
        found = optimize(load_scenario(resolve_scenario(scenario), sets=sets or ()))
        write_optimum(found, out)
    if found.best is None:
        answer = "no design of the grid meets every limit on both sets of paths"
    else:
        shown = ", ".join(f"{key} = {value:.6g}" for key, value in found.best.parameters.items())
        answer = f"best: {shown} ({found.objective} {found.best.objective:,.6g})"
    binding = ", ".join(found.binding) or "none"
    out_console.print(Text(f"{answer}; binding: {binding}; wrote {out}"), soft_wrap=True)
