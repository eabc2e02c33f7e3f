"""``stresstest reverse``: load the scenario, search, write the folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stresstest.errors import InputError
from stresstest.reverse.output import write_reverse
from stresstest.reverse.search import ReverseResult, Target, reverse_search


def reverse_to_dir(
    scenario_file: Path,
    out_dir: Path,
    *,
    family: str,
    target: str,
    probability: float = 1.0,
    amount: float = 0.0,
    tolerance: float = 1e-3,
    at_step: int = 1,
    recover_steps: int = 0,
    sets: Sequence[str] = (),
) -> tuple[ReverseResult, Path]:
    """Run a reverse stress test of a scenario file (or shipped name) into ``out_dir``.

    Raises
    ------
    InputError
        Bad input, including a two-parameter ``--shock A,B`` (not built yet).
    """
    from stresstest.scenario import load_scenario
    from stresstest.scenario.embedded import resolve_scenario

    if "," in family:
        raise InputError(
            "two-parameter boundaries are not built yet",
            key="shock",
            value=family,
            expected="one family: crash, vol, oracle, depth or leverage",
        )
    scenario = load_scenario(resolve_scenario(scenario_file), sets=sets)
    found = reverse_search(
        scenario,
        family,
        Target(target, probability=probability, amount=amount),
        tolerance=tolerance,
        at_step=at_step,
        recover_steps=recover_steps,
    )
    return found, write_reverse(found, out_dir)
