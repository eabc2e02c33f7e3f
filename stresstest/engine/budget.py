"""Memory and disk a run will need, estimated before anything is allocated or written.

A run holds the book, one chunk of prices and the per-path results of every
path (metrics and grid records) in memory, and writes every completed chunk to
its checkpoint beside the result folder until the result files are written.
:func:`estimate` adds these up from the run's sizes; :func:`check_budget`
refuses with an :class:`~stresstest.errors.InputError` that gives the figures
and what to lower when the estimate exceeds the memory available
(``MemAvailable`` of ``/proc/meminfo``, and the cgroup limit if one is set) or
the free space at the output location. The estimate is an upper bound of the
arrays, not of the interpreter (already running when it is taken).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from stresstest.engine.plan import CHUNK_BUDGET_VALUES, record_grid_points
from stresstest.errors import InputError
from stresstest.kernels import enums
from stresstest.kernels.enums import N_GRID
from stresstest.scenario import schema

#: Bytes per position while a book is built and sorted (peak, single-asset and accounts).
BOOK_BYTES_PER_POSITION = 256
#: Bytes per price value of a chunk: the prices and the generators' and kernels' work arrays.
CHUNK_BYTES_PER_PRICE = 16
#: Memory the writers take beside the results, in per-path rows of one variant.
WRITE_COPIES = 2
#: Bytes written per chunk file beyond its arrays (zip and ``.npy`` headers).
CHUNK_FILE_OVERHEAD = 4096
#: Result files beside paths.parquet (summary, resolved scenario, small tables), bytes.
RESULT_FILES_BYTES = 1 << 20


@dataclass(frozen=True)
class Estimate:
    """What a run needs, in bytes, by part.

    Attributes
    ----------
    n_paths
        Paths of the run.
    results
        Per-path metrics and grid records of every variant,
        ``n_variants x n_paths x (n_metrics + N_GRID x n_grid) x 8``.
    writing
        Copies the result writers make, ``WRITE_COPIES x n_paths x (n_metrics + n_grid) x 8``.
    prices
        One chunk of prices, ``CHUNK_BYTES_PER_PRICE x chunk x n_assets x (n_steps + 1)``.
    book
        The book while it is built, ``BOOK_BYTES_PER_POSITION x n_positions``
        (0 when it is already in memory).
    checkpoint
        Chunk files on disk: the per-path results and one file header per chunk.
    files
        Result files: paths.parquet at 8 bytes a value and the small files.
    """

    n_paths: int
    results: int
    writing: int
    prices: int
    book: int
    checkpoint: int
    files: int

    @property
    def memory(self) -> int:
        """Peak memory of the arrays, bytes."""
        return self.results + self.writing + self.prices + self.book

    @property
    def disk(self) -> int:
        """Disk taken at once beside the result folder, bytes."""
        return self.checkpoint + self.files

    @property
    def per_path_memory(self) -> float:
        """Memory that grows with the number of paths, bytes per path."""
        return (self.results + self.writing) / max(self.n_paths, 1)


def estimate(
    *,
    n_paths: int,
    n_steps: int,
    n_positions: int,
    n_assets: int = 1,
    n_variants: int = 1,
    n_metrics: int = enums.N_METRICS,
    n_grid: int | None = None,
    chunk_size: int | None = None,
) -> Estimate:
    """Memory and disk of a run of these sizes (see :class:`Estimate` for each part)."""
    grid = n_grid if n_grid is not None else record_grid_points(n_paths, n_steps, n_variants)
    per_path = n_metrics + N_GRID * grid
    points = n_assets * (n_steps + 1)
    chunk = chunk_size or max(1, min(n_paths, CHUNK_BUDGET_VALUES // max(points, 1)))
    chunk = min(chunk, n_paths)
    results = 8 * n_variants * n_paths * per_path
    return Estimate(
        n_paths=n_paths,
        results=results,
        writing=8 * WRITE_COPIES * n_paths * (n_metrics + grid),
        prices=CHUNK_BYTES_PER_PRICE * chunk * points + 8 * n_variants * chunk * per_path,
        book=BOOK_BYTES_PER_POSITION * n_positions,
        checkpoint=results + CHUNK_FILE_OVERHEAD * -(-n_paths // chunk),
        files=8 * n_paths * (n_metrics + 1) + RESULT_FILES_BYTES,
    )


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (OSError, ValueError, AttributeError):
        return None


def _cgroup_available() -> int | None:
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = Path("/sys/fs/cgroup/memory.current").read_text().strip()
    except OSError:
        return None
    if not limit.isdigit() or not used.isdigit():
        return None
    return max(0, int(limit) - int(used))


def available_memory() -> int | None:
    """Memory this process may still take, bytes; ``None`` when it cannot be told."""
    values = [value for value in (_meminfo_available(), _cgroup_available()) if value is not None]
    return min(values) if values else None


def free_disk(location: Path) -> tuple[Path, int] | None:
    """Free bytes at ``location`` or its nearest existing parent; ``None`` if unknown."""
    place = Path(os.path.abspath(location))
    while not place.exists() and place.parent != place:
        place = place.parent
    try:
        return place, shutil.disk_usage(place).free
    except OSError:
        return None


def checkpoint_bytes(folder: Path | None) -> int:
    """Bytes of the files in a checkpoint folder (0 if absent or a link; links not followed)."""
    if folder is None or folder.is_symlink() or not folder.is_dir():
        return 0
    total = 0
    for entry in folder.iterdir():
        try:
            if not entry.is_symlink() and entry.is_file():
                total += entry.stat().st_size
        except OSError:
            continue
    return total


def size_text(value: float) -> str:
    """Bytes as ``17.2 GB`` (decimal units)."""
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value:.0f} B"


def check_budget(
    need: Estimate,
    *,
    out_location: Path | None,
    file: str | Path | None = None,
    positions_key: str = "book.n_positions",
    held_disk: int = 0,
) -> None:
    """Refuse a run whose estimate exceeds the memory available or the free disk.

    ``held_disk`` bytes are on disk already and count as free (the chunk files
    of an earlier checkpoint, reused or replaced).

    Raises
    ------
    InputError
        Naming ``paths.n_paths``, the estimate by part, what is available and
        the largest ``n_paths`` that would fit.
    """
    memory = available_memory()
    if memory is not None and need.memory > memory:
        fixed = need.memory - need.per_path_memory * need.n_paths
        fits = max(0, int((memory - fixed) // max(need.per_path_memory, 1)))
        raise InputError(
            f"needs about {size_text(need.memory)} of memory for n_paths = {need.n_paths:,} "
            f"(per-path results {size_text(need.results)}, writing them "
            f"{size_text(need.writing)}, one chunk of prices {size_text(need.prices)}, "
            f"book {size_text(need.book)}), {size_text(memory)} available",
            file=file,
            key="paths.n_paths",
            value=need.n_paths,
            expected=f"n_paths <= about {fits:,} here; lower paths.n_paths or {positions_key}, "
            "or --chunk-size, or free memory",
        )
    if out_location is None:
        return
    disk = free_disk(out_location)
    if disk is not None and need.disk > disk[1] + held_disk:
        place, free = disk[0], disk[1] + held_disk
        per_path = need.disk / max(need.n_paths, 1)
        fits = max(0, int(free // max(per_path, 1)))
        raise InputError(
            f"needs about {size_text(need.disk)} of disk at {place} for n_paths = "
            f"{need.n_paths:,} (checkpoint {size_text(need.checkpoint)}, result files "
            f"{size_text(need.files)}), {size_text(free)} free",
            file=file,
            key="paths.n_paths",
            value=need.n_paths,
            expected=f"n_paths <= about {fits:,} there; lower paths.n_paths, "
            "or choose --out on a disk with more room",
        )


def scenario_sizes(scenario: schema.Scenario) -> dict[str, int] | None:
    """Sizes a scenario's tables state: paths, steps, assets, positions; ``None`` if unstated.

    Paths read from a file or cut from history have no stated count (their data
    bounds them); a book read from a file counts 0 positions here.
    """
    paths = scenario.paths
    n_paths, n_steps = getattr(paths, "n_paths", None), getattr(paths, "n_steps", None)
    if not isinstance(n_paths, int) or not isinstance(n_steps, int):
        return None
    book = scenario.book
    n_positions = getattr(book, "n_positions", None)
    if n_positions is None and hasattr(book, "n_accounts"):
        n_positions = int(book.n_accounts) * int(getattr(book, "legs", 1))
    return {
        "n_paths": n_paths,
        "n_steps": n_steps,
        "n_assets": len(getattr(paths, "assets", None) or [None]),
        "n_positions": int(n_positions or 0),
    }


def scenario_metrics(scenario: schema.Scenario) -> int:
    """Metric columns per path, at most: the core ones, and the widest row with a stage table,
    then the attribution's columns (docs/model.md 6b)."""
    from stresstest.engine.attribution import attribution_width

    if getattr(scenario, "market", None) is None and getattr(scenario, "adl", None) is None:
        return enums.N_METRICS + attribution_width(scenario)
    return enums.N_METRICS_ALL + attribution_width(scenario)


def check_scenario_budget(
    scenario: schema.Scenario,
    out_location: Path | None = None,
    *,
    check_disk: bool = True,
    held_disk: int = 0,
    n_variants: int = 1,
) -> None:
    """Refuse a scenario whose stated sizes need more memory or disk than there is.

    Cheap: nothing is read or built. ``out_location`` is where the result
    folder would go (``runs/`` under the current folder when ``None``); with
    ``check_disk=False`` (nothing will be written) only memory is checked.
    ``n_variants`` designs share the paths (a comparison's variants).
    """
    sizes = scenario_sizes(scenario)
    if sizes is None:
        return
    need = estimate(**sizes, n_variants=n_variants, n_metrics=scenario_metrics(scenario))
    check_budget(
        need,
        out_location=None if not check_disk else (out_location or Path.cwd() / "runs"),
        file=scenario.source_file,
        positions_key="book.n_accounts"
        if hasattr(scenario.book, "n_accounts")
        else "book.n_positions",
        held_disk=held_disk,
    )
