"""``stresstest init``: a commented scenario to start from, copied from a shipped one.

The template keeps every comment of the shipped scenario. Relative data paths
(``"../data/btc_usdt_spot_1h.parquet"``), which resolve against the shipped
``scenarios/`` folder, are rewritten to absolute paths of the shipped data, so the
written file validates wherever it is put. ``[scenario] name`` becomes the new
file's stem, so its default result folder is ``runs/<stem>``.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stresstest._version import __version__
from stresstest.errors import InputError
from stresstest.io.atomic import check_new_file, write_text
from stresstest.scenario.embedded import embedded_dir
from stresstest.scenario.provenance import toml_strings

#: Template name -> shipped scenario it is copied from.
TEMPLATES: dict[str, str] = {
    "gbm": "gbm_btc.toml",
    "garch": "garch_btc.toml",
    "historical": "historical_windows_btc.toml",
    "compare": "compare_btc.toml",
    "vol_scaled": "vol_scaled_btc.toml",
}

_SCENARIO_HEADER = re.compile(r"^\s*\[\s*scenario\s*\]\s*(#.*)?$")
_TABLE_HEADER = re.compile(r"^\s*\[")
_NAME_LINE = re.compile(r"^(\s*name\s*=\s*)(\"[^\"]*\"|'[^']*')(.*)$")


@dataclass(frozen=True)
class WrittenTemplate:
    """What ``stresstest init`` wrote.

    Attributes
    ----------
    path
        The scenario file written.
    template
        The template name (a key of :data:`TEMPLATES`).
    source
        The shipped scenario it was copied from.
    rewritten
        ``(relative, absolute)`` data paths that were made absolute.
    """

    path: Path
    template: str
    source: Path
    rewritten: tuple[tuple[str, str], ...]


def template_source(template: str) -> Path:
    """The shipped scenario file a template is copied from.

    Raises
    ------
    InputError
        If ``template`` is not a key of :data:`TEMPLATES`, or its shipped scenario
        is missing from this installation.
    """
    if template not in TEMPLATES:
        raise InputError(
            "unknown template",
            key="--template",
            value=template,
            expected=f"one of {list(TEMPLATES)}",
        )
    source = embedded_dir("scenarios") / TEMPLATES[template]
    if not source.is_file():
        raise InputError(
            "the template's shipped scenario is missing from this installation",
            file=source,
            key="--template",
            value=template,
            expected=f"one of {[name for name in TEMPLATES if _exists(name)]}",
        )
    return source


def _exists(template: str) -> bool:
    return (embedded_dir("scenarios") / TEMPLATES[template]).is_file()


def _relative_files(raw: dict[str, Any], base_dir: Path) -> dict[str, str]:
    """Relative path strings that name an existing file beside ``base_dir``, made absolute."""
    found = {}
    for value in toml_strings(raw):
        if not value or Path(value).is_absolute():
            continue
        candidate = (base_dir / value).resolve()
        if candidate.is_file():
            found[value] = candidate.as_posix()
    return found


def _split_comment(line: str) -> tuple[str, str]:
    """``(code, comment)`` of a TOML line: the comment starts at the first ``#`` outside quotes."""
    quote = None
    index = 0
    while index < len(line):
        char = line[index]
        if quote is None:
            if char in "\"'":
                quote = char
            elif char == "#":
                return line[:index], line[index:]
        elif char == "\\" and quote == '"':
            index += 1
        elif char == quote:
            quote = None
        index += 1
    return line, ""


def template_text(
    template: str, name: str, path_hint: str = "FILE"
) -> tuple[str, Path, dict[str, str]]:
    """The text of a template, with data paths absolute and ``[scenario] name = name``.

    ``path_hint`` is the file name the header's ``stresstest validate`` hint shows.

    Returns
    -------
    text
        The scenario file to write.
    source
        The shipped scenario it was copied from.
    rewritten
        Relative data path -> the absolute path it was replaced with.
    """
    source = template_source(template)
    original = source.read_text(encoding="utf-8")
    rewritten = _relative_files(tomllib.loads(original), source.parent)
    lines = []
    in_scenario = False
    for line in original.splitlines(keepends=True):
        code, comment = _split_comment(line.rstrip("\r\n"))
        ending = line[len(line.rstrip("\r\n")) :]
        if _TABLE_HEADER.match(code):
            in_scenario = bool(_SCENARIO_HEADER.match(code))
        for relative, absolute in rewritten.items():
            for quote in ('"', "'"):
                code = code.replace(f"{quote}{relative}{quote}", json.dumps(absolute))
        match = _NAME_LINE.match(code) if in_scenario else None
        if match:
            code = f"{match.group(1)}{json.dumps(name)}{match.group(3)}"
            in_scenario = False
        lines.append(code + comment + ending)
    header = (
        f"# Written by `stresstest init --template {template}` (stresstest {__version__})\n"
        f"# from the shipped scenarios/{source.name}.\n"
        "# Data paths are absolute, so this file validates wherever it is.\n"
        "# Every key: docs/scenario-reference.md; every formula: docs/model.md.\n"
        f"# Check edits with `stresstest validate {path_hint}`.\n#\n"
    )
    text = header + "".join(lines)
    left = _relative_files(tomllib.loads(text), source.parent)
    if left:  # pragma: no cover - a shipped scenario written in a way the rewrite misses
        raise RuntimeError(f"relative data paths left in template {template!r}: {sorted(left)}")
    return text, source, rewritten


def write_template(path: Path, template: str = "gbm", *, force: bool = False) -> WrittenTemplate:
    """Write a commented scenario copied from a shipped one (``stresstest init``).

    Parameters
    ----------
    path
        The scenario file to write; missing parent folders are created.
    template
        ``"gbm"``, ``"garch"``, ``"historical"``, ``"compare"`` or ``"vol_scaled"``
        (:data:`TEMPLATES`).
    force
        Overwrite ``path`` if it exists.

    Raises
    ------
    InputError
        If the template is unknown, ``path`` is a folder, or ``path`` exists and
        ``force`` is false. Nothing is written then.
    """
    path = Path(path)
    check_new_file(path, force=force, expected="a scenario file name (.toml)")
    name = _scenario_name(path)
    text, source, rewritten = template_text(template, name, path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(text, path)
    return WrittenTemplate(path, template, source, tuple(rewritten.items()))


def _scenario_name(path: Path) -> str:
    """The file's stem, kept to characters that make a clean folder name."""
    stem = "".join(char if char.isalnum() or char in "-_." else "_" for char in path.stem)
    return stem or "scenario"
