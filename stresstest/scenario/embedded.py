"""Where the scenarios and data shipped with stresstest live."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parents[1]


def embedded_dir(name: str) -> Path:
    """The shipped ``scenarios`` or ``data`` folder.

    An installed wheel carries them under ``stresstest/_embedded/``; an
    editable install or a source checkout has them at the repository's top level.
    """
    for candidate in (_PACKAGE_DIR / "_embedded" / name, _PACKAGE_DIR.parent / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the shipped '{name}' folder is missing from this installation")


def default_scenario_path() -> Path:
    """``scenarios/default.toml``, the scenario ``stresstest run`` uses when given none."""
    return embedded_dir("scenarios") / "default.toml"


def shipped_scenario_names() -> list[str]:
    """The names the shipped scenarios answer to: their file names without ``.toml``, sorted."""
    return sorted(path.stem for path in embedded_dir("scenarios").glob("*.toml"))


def resolve_scenario(argument: str | Path) -> Path:
    """The scenario file a SCENARIO argument means: a file, else a shipped scenario by name.

    An existing path is used as given, so a file in the current folder always
    wins over a shipped scenario of the same name. Otherwise a bare name
    (``default`` or ``default.toml``, no folder part) is looked up among the
    shipped scenarios (``stresstest scenarios`` lists them).

    Raises
    ------
    InputError
        If the argument is neither an existing path nor a shipped scenario's
        name: the message names both places looked in and lists the shipped names.
    """
    from stresstest.errors import InputError

    path = Path(argument)
    if path.exists():
        return path
    names = shipped_scenario_names()
    bare = len(path.parts) == 1
    if bare and path.name.removesuffix(".toml") in names:
        return embedded_dir("scenarios") / f"{path.name.removesuffix('.toml')}.toml"
    raise InputError(
        "scenario file not found in the current folder, and no shipped scenario has that name"
        if bare
        else "scenario file not found",
        file=path,
        expected="a scenario TOML file, or a shipped scenario by name: " + ", ".join(names),
    )
