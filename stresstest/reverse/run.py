"""``stresstest reverse``: load the scenario, search, write the folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from stresstest.errors import InputError
from stresstest.reverse.output import write_reverse
from stresstest.reverse.search import ReverseResult, Target, boundary_search, reverse_search


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
    first_range: tuple[float, float] | None = None,
) -> tuple[ReverseResult, Path]:
    """Run a reverse stress test of a scenario file (or shipped name) into ``out_dir``.

    Raises
    ------
    InputError
        Bad input. ``family`` ``"A,B"`` searches the boundary in two families
        (:func:`~stresstest.reverse.search.boundary_search`), at sizes of ``A`` in
        ``first_range`` (default: all of ``A``'s range).
    """
    from stresstest.scenario import load_scenario
    from stresstest.scenario.embedded import resolve_scenario

    scenario = load_scenario(resolve_scenario(scenario_file), sets=sets)
    names = tuple(name.strip() for name in family.split(","))
    if len(names) == 2:
        found = boundary_search(
            scenario,
            (names[0], names[1]),
            Target(target, probability=probability, amount=amount),
            tolerance=tolerance,
            at_step=at_step,
            recover_steps=recover_steps,
            first_range=first_range,
        )
        return found, write_reverse(found, out_dir)
    if len(names) > 2:
        raise InputError(
            "at most two shock families",
            key="shock",
            value=family,
            expected="FAMILY or FAMILY_A,FAMILY_B",
        )
    found = reverse_search(
        scenario,
        family,
        Target(target, probability=probability, amount=amount),
        tolerance=tolerance,
        at_step=at_step,
        recover_steps=recover_steps,
    )
    return found, write_reverse(found, out_dir)


def parse_range(text: str | None) -> tuple[float, float] | None:
    """``"1,4"`` -> ``(1.0, 4.0)``; ``None`` stays ``None``.

    Raises
    ------
    InputError
        Not two numbers separated by a comma.
    """
    if text is None:
        return None
    parts = text.split(",")
    try:
        if len(parts) != 2:
            raise ValueError(text)
        return float(parts[0]), float(parts[1])
    except ValueError:
        raise InputError(
            "range is not two numbers", key="range", value=text, expected="LOW,HIGH, e.g. 1,4"
        ) from None
