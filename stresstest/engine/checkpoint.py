"""Checkpoints of completed chunks, so an interrupted run can resume.

A checkpoint folder sits beside the result folder (``.<name>.checkpoint``). It
holds ``fingerprint.txt`` (SHA-256 of the resolved scenario, which includes the
input files' hashes) and one ``.npz`` file per completed chunk of paths, named
by its path range and written atomically. Per-path results do not depend on
the chunking, so a resumed run may use another chunk size and still gives the
same bytes.

Chunk format 2 holds four arrays: ``metrics`` and ``records`` (float64),
``header`` (int64: format, first path, path count, then the shapes of both
arrays) and ``sha256`` (uint8, the SHA-256 of the header's, the metrics' and
the records' bytes). On resume a chunk is used only if it parses, its name,
header, shapes, dtypes and checksum agree, it lies in ``[0, n_paths)`` and it
does not overlap a chunk accepted before it (chunks are taken in order of
their first path, then their file name). Every other chunk file is deleted,
its paths are recomputed, and one :class:`CheckpointWarning` says so. Files
are read with ``allow_pickle=False``; a checkpoint folder or entry that is a
symbolic link is refused, never followed.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import tempfile
import time
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from stresstest.errors import InputError, warnings_to

#: Version of the chunk files; chunks of another version are recomputed.
CHUNK_FORMAT = 2
_CHUNK_FILE = re.compile(r"^paths-(\d{12})-(\d{12})\.npz$")
_MEMBERS = ("header", "metrics", "records", "sha256")
#: Bytes an ``.npy`` header may take beyond the array data (numpy caps headers far lower).
_NPY_HEADER_BYTES = 1 << 16

ChunkValues = tuple[np.ndarray, np.ndarray]

#: Completed chunks are written at most this often, seconds (a bounded rate: a run
#: shorter than this writes none unless it is interrupted).
MIN_WRITE_INTERVAL_SECONDS = 10.0
#: Largest share of a run's wall time spent writing chunk files: after a write of
#: ``d`` seconds the next waits at least ``d (1 - share) / share``.
MAX_WRITE_SHARE = 0.05


class CheckpointWarning(UserWarning):
    """A checkpoint chunk could not be used and its paths are recomputed."""


def checkpoint_dir_for(out_dir: Path) -> Path:
    """The checkpoint folder of a result folder."""
    return out_dir.parent / f".{out_dir.name}.checkpoint"


def warn_checkpoint(message: str) -> None:
    """The default notice for a rejected chunk: a :class:`CheckpointWarning`."""
    warnings.warn(message, CheckpointWarning, stacklevel=3)


def checkpoint_warnings_to(show: Callable[[str], None]) -> contextlib.AbstractContextManager[None]:
    """Within the block, hand every :class:`CheckpointWarning` to ``show(message)``.

    Other warnings keep their filters and display. The CLI prints the message
    as one ``warning: ...`` line on stderr (:func:`~stresstest.errors.warnings_to`).
    """
    return warnings_to(show, CheckpointWarning)


class RunInterrupted(KeyboardInterrupt):
    """A checkpointed run stopped by Ctrl-C; its completed chunks stay in ``checkpoint_dir``.

    A :class:`KeyboardInterrupt`, so code that stops on Ctrl-C still does; the
    command line turns it into one line saying how to resume (:func:`resume_hint`).
    """

    def __init__(self, checkpoint_dir: Path) -> None:
        super().__init__(str(checkpoint_dir))
        self.checkpoint_dir = checkpoint_dir


def checkpointed_paths(folder: Path) -> tuple[int, int]:
    """``(chunks, paths)`` the chunk files in ``folder`` cover, by their names (not verified)."""
    chunks = paths = 0
    if folder.is_dir() and not folder.is_symlink():
        for entry in folder.iterdir():
            match = _CHUNK_FILE.match(entry.name)
            if match is not None:
                chunks += 1
                paths += int(match.group(2))
    return chunks, paths


def resume_hint(checkpoint_dir: Path | None, command: str) -> str:
    """What an interrupted run left checkpointed and how to continue, in one line.

    Parameters
    ----------
    checkpoint_dir
        The run's checkpoint folder, or ``None`` if it was interrupted before
        its result folder was known (while loading the scenario).
    command
        The command that continues the run (the same one with ``--resume``).
    """
    chunks, paths = checkpointed_paths(checkpoint_dir) if checkpoint_dir else (0, 0)
    if chunks == 0:
        return "no chunk of paths was checkpointed yet; rerunning starts over"
    return (
        f"{paths:,} paths in {chunks:,} chunks are checkpointed in "
        f"{checkpoint_dir}; to continue from them, run the same command with --resume: "
        f"{command}"
    )


def _refuse_link(path: Path) -> None:
    if path.is_symlink():
        raise InputError(
            "checkpoint folder or file is a symbolic link; it is neither followed nor deleted",
            file=path,
            expected="a plain folder written by stresstest; remove the link and rerun",
        )


def chunk_digest(header: np.ndarray, metrics: np.ndarray, records: np.ndarray) -> np.ndarray:
    """SHA-256 of the header's, metrics' and records' bytes (C order), as 32 uint8."""
    digest = hashlib.sha256()
    for array in (header, metrics, records):
        digest.update(np.ascontiguousarray(array).tobytes())
    return np.frombuffer(digest.digest(), dtype=np.uint8).copy()


def chunk_header(first: int, count: int, metrics: np.ndarray, records: np.ndarray) -> np.ndarray:
    """``(format, first, count, ndim_m, *metrics.shape, ndim_r, *records.shape)``, int64."""
    return np.asarray(
        [CHUNK_FORMAT, first, count, metrics.ndim, *metrics.shape, records.ndim, *records.shape],
        dtype=np.int64,
    )


class Checkpoint:
    """Completed chunks of one run, keyed by path range.

    Parameters
    ----------
    folder
        The checkpoint folder; created (emptied without ``resume``).
    fingerprint
        SHA-256 of the resolved scenario(s) the chunks belong to.
    resume
        Keep the chunks of an earlier run of the same fingerprint.
    notify
        Called with one message per rejected chunk; by default a
        :class:`CheckpointWarning`.
    min_interval
        Seconds between two writes of completed chunks at the least
        (:data:`MIN_WRITE_INTERVAL_SECONDS`; 0 writes every chunk as it completes).

    Notes
    -----
    :meth:`save` queues a completed chunk and writes the queue only when a write
    is due: ``min_interval`` seconds after the end of the previous write, and at
    least ``d (1 - MAX_WRITE_SHARE) / MAX_WRITE_SHARE`` after a write that took
    ``d`` seconds, so a write takes at most 5 % of the time from its start to the
    next one, over a whole run too: the run's final chunk is queued without a
    write (``last``), so no write is followed at once by the end of the run. The
    queue holds views of the run's own arrays (no copy). :meth:`flush` writes it at
    once; the executor calls it when the replay stops with an exception (a
    Ctrl-C, an error) and the run when ``--strict`` refuses the result, so only
    a hard kill (``SIGKILL``, a power cut) loses the chunks of the last interval,
    which a resumed run recomputes to the same bytes.
    """

    def __init__(
        self,
        folder: Path,
        fingerprint: str,
        *,
        resume: bool,
        notify: Callable[[str], None] | None = None,
        min_interval: float = MIN_WRITE_INTERVAL_SECONDS,
    ) -> None:
        self.min_interval = min_interval
        self._pending: list[tuple[int, int, ChunkValues]] = []
        self._last_write_seconds = 0.0
        self.folder = folder
        self.fingerprint = fingerprint
        self.notify = notify or warn_checkpoint
        stamp = folder / "fingerprint.txt"
        _refuse_link(folder)
        if folder.exists() and not folder.is_dir():
            raise InputError(
                "checkpoint location is not a folder",
                file=folder,
                expected="a folder, or nothing; move the file away",
            )
        if folder.exists():
            for entry in folder.iterdir():
                _refuse_link(entry)
        if folder.exists() and resume:
            try:
                recorded = stamp.read_bytes().decode("utf-8", "replace").strip()
            except OSError:
                recorded = ""
            if recorded != fingerprint:
                raise InputError(
                    "checkpoint was made by a different scenario or input files",
                    file=folder,
                    value=recorded[:64] or "no fingerprint",
                    expected="the same resolved scenario; rerun without --resume to start over",
                )
        elif folder.exists():
            shutil.rmtree(folder)
        folder.mkdir(parents=True, exist_ok=True)
        stamp.write_text(fingerprint + "\n")
        self._last_write_end = time.perf_counter()

    def restore(self, metrics: np.ndarray, records: np.ndarray) -> list[tuple[int, int]]:
        """Copy the verified chunks into ``metrics`` and ``records``; their ``(first, count)``.

        ``metrics`` is ``(n_variants, n_paths, n_metrics)`` and ``records``
        ``(n_variants, n_paths, *grid_shape)``. Chunks are taken by first path
        (then file name); one is used only if it lies in ``[0, n_paths)``, does
        not overlap one taken before, parses and agrees with its name, this
        run's shapes and its checksum. Every other chunk file is deleted and
        reported through ``notify``; its paths are then missing and get
        recomputed. Chunks are read one at a time.
        """
        n_variants, n_paths, n_metrics = metrics.shape
        grid_shape = records.shape[2:]
        candidates: list[tuple[int, int, str, Path]] = []
        for entry in self.folder.iterdir():
            match = _CHUNK_FILE.match(entry.name)
            if match is not None:
                candidates.append((int(match.group(1)), int(match.group(2)), entry.name, entry))
        done: list[tuple[int, int]] = []
        covered_to = 0
        last_name = ""
        for first, count, name, entry in sorted(candidates):
            span = f"paths {first}-{first + count - 1}" if count > 0 else "no paths"
            if count < 1 or first + count > n_paths:
                self._reject(entry, f"covers {span}, outside 0-{n_paths - 1}", "; ignoring it")
                continue
            if first < covered_to:
                self._reject(
                    entry,
                    f"overlaps {last_name} ({span})",
                    "; ignoring it and recomputing the paths no other chunk holds",
                )
                continue
            expected = ((n_variants, count, n_metrics), (n_variants, count, *grid_shape))
            try:
                chunk_metrics, chunk_records = read_chunk(entry, first, count, expected)
            except KeyboardInterrupt:
                raise
            except Exception as error:  # a damaged file may raise anything
                self._reject(entry, f"is damaged ({_reason(error)})", f"; recomputing {span}")
                continue
            metrics[:, first : first + count] = chunk_metrics
            records[:, first : first + count] = chunk_records
            done.append((first, count))
            covered_to, last_name = first + count, name
        return done

    def _reject(self, entry: Path, problem: str, action: str) -> None:
        with contextlib.suppress(OSError):
            entry.unlink()
        self.notify(f"checkpoint chunk {entry} {problem}{action}")

    def save(self, first: int, count: int, values: ChunkValues, *, last: bool = False) -> None:
        """Queue a completed chunk; write the queue when a write is due (see Notes above).

        ``values`` must not change afterwards (the executor passes views of the
        run's arrays, which are final once a chunk is done). ``last``: the run's
        final chunk, after which nothing is left to resume; it is queued and never
        triggers a write, so a run does not write its whole queue just before it
        deletes the checkpoint (:meth:`flush` still writes it if the run then stops).
        """
        self._pending.append((first, count, values))
        if last:
            return
        wait = max(
            self.min_interval, self._last_write_seconds * (1 - MAX_WRITE_SHARE) / MAX_WRITE_SHARE
        )
        if time.perf_counter() - self._last_write_end >= wait:
            self.flush()

    @property
    def pending_paths(self) -> int:
        """Paths of the completed chunks queued but not written yet."""
        return sum(count for _, count, _ in self._pending)

    def flush(self) -> None:
        """Write every queued chunk now, each atomically in its own file."""
        started = time.perf_counter()
        while self._pending:
            first, count, values = self._pending[0]
            self._write(first, count, values)
            self._pending.pop(0)
        self._last_write_end = time.perf_counter()
        self._last_write_seconds = self._last_write_end - started

    def _write(self, first: int, count: int, values: ChunkValues) -> None:
        """Record a completed chunk atomically, with its range, shapes and checksum."""
        metrics = np.ascontiguousarray(values[0], dtype=np.float64)
        records = np.ascontiguousarray(values[1], dtype=np.float64)
        header = chunk_header(first, count, metrics, records)
        target = self.folder / f"paths-{first:012d}-{count:012d}.npz"
        handle, temporary = tempfile.mkstemp(dir=self.folder, suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                np.savez(
                    stream,
                    header=header,
                    metrics=metrics,
                    records=records,
                    sha256=chunk_digest(header, metrics, records),
                )
            os.replace(temporary, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise

    def remove(self) -> None:
        """Delete the checkpoint once the result is written (never through a link)."""
        if not self.folder.is_symlink():
            shutil.rmtree(self.folder, ignore_errors=True)


class ChunkCheckError(ValueError):
    """A chunk file parses but fails a check (format, range, shape, checksum)."""


def _reason(error: Exception) -> str:
    if isinstance(error, ChunkCheckError):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _read_member(
    archive: zipfile.ZipFile, member: str, shape: tuple[int, ...], dtype: np.dtype
) -> np.ndarray:
    """One ``.npy`` member, its header checked against ``shape`` and ``dtype`` before reading.

    A crafted header cannot make numpy allocate more than the expected array,
    and no object array (pickle) is ever read.
    """
    info = archive.getinfo(f"{member}.npy")
    size = int(np.prod(shape)) * dtype.itemsize
    if info.file_size > size + _NPY_HEADER_BYTES:
        raise ChunkCheckError(f"{member} is larger than the chunk's shape")
    with archive.open(info) as stream:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            stored_shape, fortran, stored_dtype = np.lib.format.read_array_header_1_0(stream)
        else:
            stored_shape, fortran, stored_dtype = np.lib.format.read_array_header_2_0(stream)
        if stored_dtype != dtype or fortran:
            raise ChunkCheckError(f"{member} is {stored_dtype}, expected {dtype}")
        if tuple(stored_shape) != shape:
            raise ChunkCheckError(
                f"{member} has shape {tuple(stored_shape)}, this run needs {shape}"
            )
        data = stream.read(size + 1)
    if len(data) != size:
        raise ChunkCheckError(f"{member} holds {len(data)} bytes, expected {size}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def read_chunk(
    path: Path, first: int, count: int, shapes: tuple[tuple[int, ...], tuple[int, ...]]
) -> ChunkValues:
    """Read and verify one chunk file of paths ``first .. first + count - 1``.

    Raises on anything that does not agree: members, format, shapes, dtypes,
    the recorded range and the checksum.
    """
    metrics_shape, records_shape = shapes
    float64, int64 = np.dtype(np.float64), np.dtype(np.int64)
    with zipfile.ZipFile(path) as archive:
        names = sorted(archive.namelist())
        if names != sorted(f"{member}.npy" for member in _MEMBERS):
            raise ChunkCheckError(f"old format or foreign file: members {names}")
        header_length = 5 + len(metrics_shape) + len(records_shape)
        header = _read_member(archive, "header", (header_length,), int64)
        if int(header[0]) != CHUNK_FORMAT:
            raise ChunkCheckError(f"format {int(header[0])}, expected {CHUNK_FORMAT}")
        metrics = _read_member(archive, "metrics", metrics_shape, float64)
        records = _read_member(archive, "records", records_shape, float64)
        stored = _read_member(archive, "sha256", (32,), np.dtype(np.uint8))
    if not np.array_equal(header, chunk_header(first, count, metrics, records)):
        raise ChunkCheckError("its recorded range or shape differs from its name")
    if not np.array_equal(stored, chunk_digest(header, metrics, records)):
        raise ChunkCheckError("checksum mismatch")
    return metrics, records


def missing_ranges(n_paths: int, done: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``(first, stop)`` intervals of ``[0, n_paths)`` not covered by ``done`` chunks."""
    gaps: list[tuple[int, int]] = []
    position = 0
    for first, count in sorted(done):
        start, stop = max(first, 0), min(first + count, n_paths)
        if start > position:
            gaps.append((position, min(start, n_paths)))
        position = max(position, stop)
    if position < n_paths:
        gaps.append((position, n_paths))
    return [(start, stop) for start, stop in gaps if stop > start]
