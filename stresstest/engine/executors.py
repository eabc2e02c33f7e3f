"""Where chunks run: in this process (numba threads) or on a Dask cluster."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from stresstest.engine.plan import replay_chunk
from stresstest.errors import InputError

ChunkValues = tuple[np.ndarray, np.ndarray]
ChunkDone = Callable[[int, int, ChunkValues], None]
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
