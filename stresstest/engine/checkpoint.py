"""Checkpoints of completed chunks, so an interrupted run can resume.

A checkpoint folder sits beside the result folder (``.<name>.checkpoint``). It
holds ``fingerprint.txt`` (SHA-256 of the resolved scenario, which includes the
input files' hashes) and one ``.npz`` file per completed chunk of paths (metrics
and grid records), named by its path range and written atomically. Per-path
results do not depend on the chunking, so a resumed run may use another chunk
size and still gives the same bytes.
Files are read with ``allow_pickle=False``.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from pathlib import Path

import numpy as np

from stresstest.errors import InputError

_CHUNK_FILE = re.compile(r"^paths-(\d{12})-(\d{12})\.npz$")


def checkpoint_dir_for(out_dir: Path) -> Path:
    """The checkpoint folder of a result folder."""
    return out_dir.parent / f".{out_dir.name}.checkpoint"


class Checkpoint:
    """Completed chunks of one run, keyed by path range."""

    def __init__(self, folder: Path, fingerprint: str, *, resume: bool) -> None:
        self.folder = folder
        self.fingerprint = fingerprint
        stamp = folder / "fingerprint.txt"
        if folder.exists() and resume:
            recorded = stamp.read_text().strip() if stamp.exists() else ""
            if recorded != fingerprint:
                raise InputError(
                    "checkpoint was made by a different scenario or input files",
                    file=folder,
                    value=recorded or "no fingerprint",
                    expected="the same resolved scenario; rerun without --resume to start over",
                )
        elif folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint + "\n")

    def completed(
        self, n_variants: int, n_metrics: int, grid_shape: tuple[int, int]
    ) -> dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]:
        """Chunks already done: ``{(first, count): (metrics, grid records)}``."""
        done: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
        for entry in sorted(self.folder.iterdir()):
            match = _CHUNK_FILE.match(entry.name)
            if match is None:
                continue
            first, count = int(match.group(1)), int(match.group(2))
            try:
                with np.load(entry, allow_pickle=False) as archive:
                    metrics, records = archive["metrics"], archive["records"]
            except (OSError, ValueError, KeyError):
                continue  # a damaged file is recomputed
            if (
                metrics.shape == (n_variants, count, n_metrics)
                and records.shape == (n_variants, count, *grid_shape)
                and metrics.dtype == records.dtype == np.float64
            ):
                done[(first, count)] = (metrics, records)
        return done

    def save(self, first: int, count: int, values: tuple[np.ndarray, np.ndarray]) -> None:
        """Record a completed chunk atomically."""
        target = self.folder / f"paths-{first:012d}-{count:012d}.npz"
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(stream, metrics=values[0], records=values[1])
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def remove(self) -> None:
        """Delete the checkpoint once the result is written."""
        shutil.rmtree(self.folder, ignore_errors=True)


def missing_ranges(n_paths: int, done: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(first, stop)`` intervals of ``[0, n_paths)`` not covered by ``done`` chunks."""
    covered = np.zeros(n_paths, dtype=bool)
    for first, count in done:
        covered[first : first + count] = True
    gaps: list[tuple[int, int]] = []
    start = None
    for index in range(n_paths + 1):
        is_missing = index < n_paths and not covered[index]
        if is_missing and start is None:
            start = index
        elif not is_missing and start is not None:
            gaps.append((start, index))
            start = None
    return gaps
