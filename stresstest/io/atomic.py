"""Write outputs whole or not at all: build under a temporary name, then rename."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import tomli_w

from stresstest.errors import InputError

#: A folder holding one of these files is a stresstest result (of ``run``, or of
#: ``compare``) that may be replaced.
RESULT_MARKERS = ("summary.json", "compare.parquet")


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _publish(path: str | Path, mode: int) -> None:
    """Give a temporary file or folder the permissions a normal one would have."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; on success it replaces ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(handle)
    try:
        yield temporary
        _publish(temporary, 0o666)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def write_parquet(frame: pl.DataFrame, path: Path) -> None:
    """Write ``frame`` to ``path`` via a temporary file in the same folder and ``os.replace``."""
    with _replacing(path) as temporary:
        frame.write_parquet(temporary)


def write_text(text: str, path: Path) -> None:
    """Write text atomically."""
    with _replacing(path) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)


def write_json(data: Any, path: Path) -> None:
    """Write JSON atomically, with sorted keys so equal data gives equal bytes."""
    write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n", path)


def write_toml(data: dict[str, Any], path: Path) -> None:
    """Write TOML atomically."""
    write_text(tomli_w.dumps(data), path)


def check_output_dir(out_dir: Path) -> None:
    """Refuse to replace a folder that is not empty and not a stresstest result."""
    if out_dir.exists():
        if not out_dir.is_dir():
            raise InputError("output path is a file", file=out_dir, expected="a folder path")
        is_result = any((out_dir / marker).exists() for marker in RESULT_MARKERS)
        if any(out_dir.iterdir()) and not is_result:
            raise InputError(
                "output folder is not empty and holds no stresstest result",
                file=out_dir,
                expected="a new or empty folder, or an earlier result folder to replace",
            )


@contextlib.contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out_dir`` as a whole.

    On any error the temporary folder is removed and ``out_dir`` is left as it was.
    """
    check_output_dir(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-"))
    try:
        yield staging
        _publish(staging, 0o777)
        if out_dir.exists():
            retired = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-"))
            os.replace(out_dir, retired / out_dir.name)
            os.replace(staging, out_dir)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
