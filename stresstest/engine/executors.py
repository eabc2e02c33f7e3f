"""Where chunks run: in this process (numba threads) or on a Dask cluster."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from stresstest.engine.plan import ReplayPlan, replay_chunk
from stresstest.errors import InputError

ChunkDone = Callable[[int, int, tuple[np.ndarray, np.ndarray]], None]
EXECUTORS = ("local", "dask")


def run_local(plan: ReplayPlan, ranges: list[tuple[int, int]], on_done: ChunkDone) -> None:
    """Run chunks one after another; numba parallelises over the paths of each chunk."""
    for first, count in ranges:
        on_done(first, count, replay_chunk(plan, first, count))


def run_dask(
    plan: ReplayPlan,
    ranges: list[tuple[int, int]],
    on_done: ChunkDone,
    scheduler: str | None,
) -> None:
    """Run chunks as tasks on a dask.distributed cluster.

    ``scheduler`` is the scheduler's address (``tcp://host:8786``); ``None``
    starts a local in-process cluster. The plan (book and path source) is
    broadcast once; each task generates its own paths from their counter-based
    streams, so results are identical to a local run.
    """
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
            shared_plan = client.scatter(plan, broadcast=True)
            futures = {
                client.submit(replay_chunk, shared_plan, first, count, pure=False): (first, count)
                for first, count in ranges
            }
            for future in as_completed(futures):
                first, count = futures[future]
                on_done(first, count, future.result())
    finally:
        if cluster is not None:
            cluster.close()
