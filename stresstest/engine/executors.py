"""Where chunks run: in this process (numba threads) or on a Dask cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stresstest.engine.checkpoint import Checkpoint, missing_ranges
from stresstest.engine.plan import chunk_ranges, replay_chunk
from stresstest.errors import InputError

ChunkValues = tuple[np.ndarray, np.ndarray]
ChunkDone = Callable[[int, int, ChunkValues], None]
Progress = Callable[[int, int], None]
#: ``chunk_function(plan, first, count)``: generate paths ``first .. first + count - 1``
#: and replay them; a module-level function, so a remote worker can import it.
ChunkFunction = Callable[[Any, int, int], ChunkValues]
EXECUTORS = ("local", "dask")


def run_local(
    plan: Any,
    ranges: list[tuple[int, int]],
    on_done: ChunkDone,
    chunk_function: ChunkFunction | None = None,
) -> None:
    """Run chunks one after another; numba parallelises over the paths of each chunk.

    ``chunk_function`` defaults to the single-asset :func:`replay_chunk`.
    """
    function = chunk_function or replay_chunk
    for first, count in ranges:
        on_done(first, count, function(plan, first, count))


def run_dask(
    plan: Any,
    ranges: list[tuple[int, int]],
    on_done: ChunkDone,
    scheduler: str | None,
    chunk_function: ChunkFunction | None = None,
) -> None:
    """Run chunks as tasks on a dask.distributed cluster.

    ``scheduler`` is the scheduler's address (``tcp://host:8786``); ``None``
    starts a local in-process cluster. The plan (book and path source, or the
    accounts plans of every variant) is broadcast once; each task generates its
    own paths from their counter-based streams, so results are identical to a
    local run. ``chunk_function`` defaults to the single-asset :func:`replay_chunk`.
    """
    function = chunk_function or replay_chunk
    try:
        from distributed import Client, LocalCluster, as_completed
    except ImportError:
        raise InputError(
            "the dask executor needs dask.distributed",
            key="executor",
            value="dask",
            expected="pip install 'dask[distributed]', or --executor local",
        ) from None
    cluster = None
    try:
        if scheduler is None:
            cluster = LocalCluster(n_workers=1, processes=False, dashboard_address=None)
            client = Client(cluster)
        else:
            try:
                client = Client(scheduler, timeout=30)
            except (OSError, TimeoutError, ValueError) as error:
                raise InputError(
                    f"cannot reach the Dask scheduler: {error}",
                    key="scheduler",
                    value=scheduler,
                    expected="the address of a running scheduler, e.g. tcp://host:8786",
                ) from None
        with client:
            # A list of one, so that a tuple of plans is shipped whole, not split.
            [shared_plan] = client.scatter([plan], broadcast=True)
            futures = {
                client.submit(function, shared_plan, first, count, pure=False): (first, count)
                for first, count in ranges
            }
            for future in as_completed(futures):
                first, count = futures[future]
                on_done(first, count, future.result())
    finally:
        if cluster is not None:
            cluster.close()


def execute_chunks(
    plan: Any,
    *,
    chunk_function: ChunkFunction | None = None,
    n_variants: int,
    n_paths: int,
    n_metrics: int,
    grid_shape: tuple[int, int],
    chunk_size: int,
    executor: str = "local",
    scheduler: str | None = None,
    checkpoint: Checkpoint | None = None,
    progress: Progress | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Replay every chunk of ``chunk_size`` paths and gather the per-path values.

    Returns metrics ``(n_variants, n_paths, n_metrics)`` and records
    ``(n_variants, n_paths, *grid_shape)``; each path's values come from its own
    streams, so they depend neither on ``chunk_size`` nor on ``executor``.
    Chunks already in ``checkpoint`` are taken from it once verified (the others
    are recomputed), new ones are saved to it as they finish;
    ``progress(paths_done, n_paths)`` is called after each.
    ``chunk_function`` defaults to the single-asset :func:`replay_chunk`.
    """
    metrics = np.empty((n_variants, n_paths, n_metrics))
    records = np.empty((n_variants, n_paths, *grid_shape))
    done = checkpoint.restore(metrics, records) if checkpoint is not None else []
    finished = sum(count for _, count in done)
    ranges = [
        piece
        for start, stop in missing_ranges(n_paths, done)
        for piece in chunk_ranges(start, stop, chunk_size)
    ]
    if progress is not None:
        progress(finished, n_paths)

    def on_done(first: int, count: int, values: ChunkValues) -> None:
        nonlocal finished
        metrics[:, first : first + count] = values[0]
        records[:, first : first + count] = values[1]
        finished += count
        if checkpoint is not None:  # views: final once the chunk is done
            checkpoint.save(
                first,
                count,
                (metrics[:, first : first + count], records[:, first : first + count]),
                last=finished == n_paths,
            )
        if progress is not None:
            progress(finished, n_paths)

    if executor == "local" and checkpoint is None and ranges == [(0, n_paths)]:
        # One chunk of every path: its arrays are the result as they are (copying the
        # records, hundreds of MB for a compare, cost more than some replays).
        values = (chunk_function or replay_chunk)(plan, 0, n_paths)
        if _same_layout(values[0], metrics) and _same_layout(values[1], records):
            if progress is not None:
                progress(n_paths, n_paths)
            return values
        on_done(0, n_paths, values)
        return metrics, records
    try:
        if executor == "dask":
            run_dask(plan, ranges, on_done, scheduler, chunk_function)
        else:
            run_local(plan, ranges, on_done, chunk_function)
    except BaseException:
        if checkpoint is not None:  # an interruption keeps every chunk completed so far
            checkpoint.flush()
        raise
    return metrics, records


def _same_layout(values: np.ndarray, gathered: np.ndarray) -> bool:
    """Whether a chunk's array can stand for the gathered one: same shape and dtype."""
    return values.shape == gathered.shape and values.dtype == gathered.dtype
