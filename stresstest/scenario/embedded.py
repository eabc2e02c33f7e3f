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
