"""Markdown for generated sections, and writing them into docs/performance.md.

A family's section is the text between ``<!-- NAME:begin -->`` and
``<!-- NAME:end -->``. :func:`write_sections` replaces those texts (appending a
section whose markers are absent) and touches nothing else; the file is written
to a temporary file beside it and renamed over it, so a reader sees the old
document or the new one, never a mix.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "performance.md"


def markers(name: str) -> tuple[str, str]:
    """The begin and end markers of section ``name``."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def table(columns: Sequence[tuple[str, str]], rows: Sequence[Sequence[str]]) -> list[str]:
    """A markdown table.

    Parameters
    ----------
    columns : sequence of (title, align)
        ``align`` is ``"l"`` (``---``) or ``"r"`` (``---:``).
    rows : sequence of sequences of str
        Cells, already formatted; each row has one per column.

    Returns
    -------
    list of str
        The header, the alignment row and one line per row.
    """
    for row in rows:
        if len(row) != len(columns):
            raise ValueError(f"a row has {len(row)} cells for {len(columns)} columns: {row}")
    rule = {"l": "---", "r": "---:"}
    return [
        "| " + " | ".join(title for title, _ in columns) + " |",
        "|" + "|".join(rule[align] for _, align in columns) + "|",
        *("| " + " | ".join(row) + " |" for row in rows),
    ]


def seconds(value: float) -> str:
    """Seconds with about three significant digits: ``1,538``, ``2.62``, ``0.028``."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def gigabytes(value: float) -> str:
    """Bytes as ``"1.15 GB"`` (10^9 bytes)."""
    return f"{value / 1e9:.2f} GB"


def replace_section(text: str, name: str, body: str) -> str:
    """``text`` with section ``name`` holding ``body`` (appended if its markers are absent)."""
    begin, end = markers(name)
    block = f"{begin}\n{body}\n{end}"
    start = text.find(begin)
    stop = text.find(end, start + len(begin)) if start != -1 else -1
    if start != -1 and stop != -1:
        return text[:start] + block + text[stop + len(end) :]
    return text.rstrip("\n") + "\n\n" + block + "\n"


def write_sections(bodies: Mapping[str, str], path: Path = DOC) -> None:
    """Replace the generated sections ``bodies`` (name -> markdown) of ``path``, atomically.

    A missing file is created with a ``# Performance`` title. Nothing else in the
    file changes; the new text is written to a temporary file in the same folder
    and renamed over ``path``.
    """
    text = path.read_text(encoding="utf-8") if path.exists() else "# Performance\n"
    mode = path.stat().st_mode & 0o777 if path.exists() else 0o644
    for name, body in bodies.items():
        text = replace_section(text, name, body)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temporary, mode)  # mkstemp makes it private; keep the document's mode
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
