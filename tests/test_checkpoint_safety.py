"""Damaged, crafted and linked checkpoints; nothing left behind by bad scenarios; budget refusals.

Every resume from a damaged or crafted checkpoint gives the bytes of an
uninterrupted run (paths.parquet and summary.json) and says which chunk it
recomputed; a checkpoint that is a symbolic link is refused with exit 2.
"""

from __future__ import annotations

import copy
import shutil
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tomli_w
from typer.testing import CliRunner

from stresstest.cli import app
from stresstest.engine import budget
from stresstest.engine import checkpoint as checkpoint_module
from stresstest.engine.checkpoint import (
    MAX_WRITE_SHARE,
    MIN_WRITE_INTERVAL_SECONDS,
    Checkpoint,
    CheckpointWarning,
    checkpoint_dir_for,
    chunk_digest,
    missing_ranges,
)
from stresstest.engine.executors import execute_chunks
from stresstest.errors import InputError
from stresstest.jobs import run_to_dir, validate_file
from stresstest.scenario import load_scenario
from tests.test_accounts import SCENARIO as ACCOUNTS_SCENARIO
from tests.test_resume_and_executors import SCENARIO_TOML

N_PATHS = 40
CHUNK = 8
COMPARED = ("paths.parquet", "summary.json")


class InterruptedRunError(Exception):
    """Stands for a Ctrl-C once every chunk is checkpointed."""


def interrupt_at_end(done: int, total: int) -> None:
    if done >= total:
        raise InterruptedRunError


def chunk_name(first: int, count: int) -> str:
    return f"paths-{first:012d}-{count:012d}.npz"


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """An uninterrupted run, and a full checkpoint of the same scenario in chunks of 8."""
    root = tmp_path_factory.mktemp("reference")
    scenario = root / "scenario.toml"
    scenario.write_text(SCENARIO_TOML)
    run_to_dir(scenario, root / "whole", chunk_size=CHUNK)
    with pytest.raises(InterruptedRunError):
        run_to_dir(scenario, root / "partial", chunk_size=CHUNK, progress=interrupt_at_end)
    folder = checkpoint_dir_for(root / "partial")
    assert sorted(p.name for p in folder.glob("*.npz")) == [
        chunk_name(first, CHUNK) for first in range(0, N_PATHS, CHUNK)
    ]
    return {"scenario": scenario, "whole": root / "whole", "checkpoint": folder}


@pytest.fixture
def work(tmp_path: Path, reference: dict[str, Any]) -> tuple[Path, Path]:
    """A copy of the full checkpoint beside ``tmp_path/out``: ``(out, checkpoint folder)``."""
    out = tmp_path / "out"
    folder = checkpoint_dir_for(out)
    shutil.copytree(reference["checkpoint"], folder)
    return out, folder


def resume(reference: dict[str, Any], out: Path, chunk_size: int = 5) -> list[str]:
    """Resume into ``out``; the messages of rejected chunks. Asserts the bytes of the whole run."""
    with pytest.warns(CheckpointWarning) as caught:
        run_to_dir(reference["scenario"], out, chunk_size=chunk_size, resume=True)
    for name in COMPARED:
        assert (out / name).read_bytes() == (reference["whole"] / name).read_bytes(), name
    assert not checkpoint_dir_for(out).exists()
    return [str(warning.message) for warning in caught]


def chunk_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {name: archive[name] for name in archive.files}


# ----------------------------------------------------------------------------- crafted chunks
def test_overlapping_chunks_first_by_path_wins(
    reference: dict[str, Any], work: tuple[Path, Path]
) -> None:
    out, folder = work
    # Genuine chunks of another chunking that overlap the chunks of 8.
    other = Checkpoint(
        folder, (folder / "fingerprint.txt").read_text().strip(), resume=True, min_interval=0.0
    )
    whole = chunk_arrays(folder / chunk_name(0, 8))
    pair = chunk_arrays(folder / chunk_name(8, 8))
    metrics = np.concatenate([whole["metrics"], pair["metrics"]], axis=1)
    records = np.concatenate([whole["records"], pair["records"]], axis=1)
    other.save(4, 8, (metrics[:, 4:12], records[:, 4:12]))
    # A crafted overlap: path 8-15's values under the name of paths 12-19.
    shutil.copy(folder / chunk_name(8, 8), folder / chunk_name(12, 8))
    messages = resume(reference, out)
    assert any(chunk_name(4, 8) in m and "overlaps" in m for m in messages), messages
    assert any(chunk_name(12, 8) in m for m in messages), messages
    assert len(messages) == 2, messages


def test_renamed_chunk_is_refused_by_its_recorded_range(
    reference: dict[str, Any], work: tuple[Path, Path]
) -> None:
    out, folder = work
    shutil.copy(folder / chunk_name(0, 8), folder / chunk_name(16, 8))  # over the real 16-23
    (folder / chunk_name(8, 8)).replace(folder / chunk_name(8, 9))  # a count its shape lacks
    messages = resume(reference, out)
    assert len(messages) == 2, messages
    assert "recorded range or shape differs" in messages[1], messages
    assert "paths 16-23" in messages[1], messages
    assert chunk_name(8, 9) in messages[0] and "shape" in messages[0], messages


@pytest.mark.parametrize(("first", "count"), [(36, 8), (40, 8), (0, 0)])
def test_out_of_range_chunk_is_ignored(
    reference: dict[str, Any], work: tuple[Path, Path], first: int, count: int
) -> None:
    out, folder = work
    shutil.copy(folder / chunk_name(32, 8), folder / chunk_name(first, count))
    messages = resume(reference, out)
    assert any("outside 0-39" in m and chunk_name(first, count) in m for m in messages)


# ----------------------------------------------------------------------------- damaged chunks
def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def flip_raw_byte(path: Path) -> None:
    """Flip a byte inside the metrics data: the zip's CRC no longer agrees."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("metrics.npy")
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0x01
    path.write_bytes(bytes(data))


def flip_directory_byte(path: Path) -> None:
    """Break the zip's end-of-central-directory record."""
    data = bytearray(path.read_bytes())
    data[-20] ^= 0xFF
    data[-22:-18] = b"XXXX"
    path.write_bytes(bytes(data))


def flip_array_bit_keep_zip(path: Path) -> None:
    """A bit flipped in the metrics, written as a well-formed zip: only the SHA-256 tells."""
    arrays = chunk_arrays(path)
    metrics = arrays["metrics"].copy()
    metrics.reshape(-1).view(np.uint8)[17] ^= 0x04
    np.savez(path, **{**arrays, "metrics": metrics})


def empty(path: Path) -> None:
    path.write_bytes(b"")


def old_format(path: Path) -> None:
    """The format before checksums: metrics and records only."""
    arrays = chunk_arrays(path)
    np.savez(path, metrics=arrays["metrics"], records=arrays["records"])


def huge_header(path: Path) -> None:
    """A header claiming an enormous array: refused before numpy allocates it."""
    arrays = chunk_arrays(path)
    with zipfile.ZipFile(path, "w") as archive:
        for name, array in arrays.items():
            with archive.open(f"{name}.npy", "w") as stream:
                if name == "metrics":
                    header = {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
                    np.lib.format.write_array_header_1_0(stream, header)
                    stream.write(b"\0" * 64)
                else:
                    np.lib.format.write_array(stream, array)


DAMAGE = {
    "truncated": (truncate, "BadZipFile"),
    "bit flipped, zip broken": (flip_raw_byte, "BadZipFile"),
    "directory broken": (flip_directory_byte, "BadZipFile"),
    "bit flipped, zip intact": (flip_array_bit_keep_zip, "checksum mismatch"),
    "empty": (empty, "BadZipFile"),
    "old format": (old_format, "old format"),
    "huge header": (huge_header, "metrics has shape"),
}


@pytest.mark.parametrize("damage", list(DAMAGE.values()), ids=list(DAMAGE))
def test_damaged_chunk_is_recomputed(
    reference: dict[str, Any], work: tuple[Path, Path], damage: tuple[Any, str]
) -> None:
    out, folder = work
    spoil, reason = damage
    spoil(folder / chunk_name(16, 8))
    messages = resume(reference, out)
    assert len(messages) == 1, messages
    assert f"{chunk_name(16, 8)} is damaged" in messages[0], messages
    assert reason in messages[0] and "recomputing paths 16-23" in messages[0], messages


def test_keyboard_interrupt_while_reading_is_not_swallowed(
    reference: dict[str, Any], work: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    out, _ = work

    def interrupted(*args: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("stresstest.engine.checkpoint.read_chunk", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_to_dir(reference["scenario"], out, chunk_size=5, resume=True)


def test_cli_resume_prints_one_line_per_rejected_chunk(
    reference: dict[str, Any], work: tuple[Path, Path]
) -> None:
    out, folder = work
    empty(folder / chunk_name(0, 8))
    (folder / chunk_name(24, 8)).write_bytes(b"not a zip")
    result = CliRunner().invoke(
        app, ["run", str(reference["scenario"]), "--out", str(out), "--resume", "--quiet"]
    )
    assert result.exit_code == 0, (result.stderr, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, lines
    assert all(line.startswith("warning: checkpoint chunk ") for line in lines), lines
    assert "recomputing paths 0-7" in lines[0] and "recomputing paths 24-31" in lines[1]
    for name in COMPARED:
        assert (out / name).read_bytes() == (reference["whole"] / name).read_bytes()


def test_digest_covers_header_and_values() -> None:
    header = np.arange(4, dtype=np.int64)
    values = np.zeros((1, 2, 3))
    base = chunk_digest(header, values, values)
    assert not np.array_equal(base, chunk_digest(header + 1, values, values))
    assert not np.array_equal(base, chunk_digest(header, values + 1, values))
    assert missing_ranges(10, [(0, 4), (2, 4), (8, 5)]) == [(6, 8)]


# ----------------------------------------------------------------------------- symbolic links
@pytest.mark.parametrize("resume_flag", [True, False], ids=["resume", "fresh"])
def test_linked_checkpoint_folder_is_refused(
    reference: dict[str, Any], tmp_path: Path, resume_flag: bool
) -> None:
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(reference["checkpoint"], elsewhere)
    before = sorted(p.name for p in elsewhere.iterdir())
    out = tmp_path / "out"
    checkpoint_dir_for(out).symlink_to(elsewhere, target_is_directory=True)
    args = ["run", str(reference["scenario"]), "--out", str(out), "--quiet"]
    result = CliRunner().invoke(app, args + (["--resume"] if resume_flag else []))
    assert result.exit_code == 2, (result.stderr, result.exception)
    message = " ".join(result.stderr.split())
    assert message.startswith("error:") and "symbolic link" in message, message
    assert checkpoint_dir_for(out).name in message
    assert sorted(p.name for p in elsewhere.iterdir()) == before
    assert checkpoint_dir_for(out).is_symlink() and not out.exists()


def test_linked_chunk_file_is_refused(reference: dict[str, Any], work: tuple[Path, Path]) -> None:
    out, folder = work
    target = folder.parent / "kept.npz"
    (folder / chunk_name(8, 8)).replace(target)
    (folder / chunk_name(8, 8)).symlink_to(target)
    with pytest.raises(InputError, match="symbolic link"):
        run_to_dir(reference["scenario"], out, chunk_size=5, resume=True)
    assert target.exists() and (folder / chunk_name(8, 8)).is_symlink()


# ----------------------------------------------------------------------------- accounts runs
#: tests/test_accounts.py's two-asset scenario, shorter and with fewer accounts.
ACCOUNTS: dict[str, Any] = copy.deepcopy(ACCOUNTS_SCENARIO)
ACCOUNTS["scenario"]["name"] = "cross_checkpoint"
ACCOUNTS["paths"]["n_steps"] = 30
ACCOUNTS["book"]["n_accounts"] = 300


def test_accounts_resume_from_damaged_chunks(tmp_path: Path) -> None:
    scenario = tmp_path / "accounts.toml"
    scenario.write_text(tomli_w.dumps(ACCOUNTS))
    run_to_dir(scenario, tmp_path / "whole", chunk_size=4)
    out = tmp_path / "out"
    with pytest.raises(InterruptedRunError):
        run_to_dir(scenario, out, chunk_size=4, progress=interrupt_at_end)
    folder = checkpoint_dir_for(out)
    flip_array_bit_keep_zip(folder / chunk_name(4, 4))
    truncate(folder / chunk_name(8, 3))
    shutil.copy(folder / chunk_name(0, 4), folder / chunk_name(2, 4))
    with pytest.warns(CheckpointWarning) as caught:
        run_to_dir(scenario, out, chunk_size=3, resume=True)
    messages = [str(warning.message) for warning in caught]
    assert len(messages) == 3, messages
    for name in COMPARED:
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


# ----------------------------------------------------------------------------- nothing behind
def accounts_with(**tables: Any) -> dict[str, Any]:
    """The accounts scenario with whole tables replaced (``None``: removed)."""
    scenario = {key: dict(value) for key, value in ACCOUNTS.items()}
    for table, values in tables.items():
        if values is None:
            scenario.pop(table)
        else:
            scenario[table] = values
    return scenario


FILE_BOOK = {"source": "accounts_file", "file": "book.csv"}
THREE_ASSETS = {
    **ACCOUNTS["paths"],
    "assets": ["BTC", "ETH", "SOL"],
    "s0": [60000.0, 3000.0, 150.0],
    "sigma": [0.01, 0.012, 0.02],
    "correlation": [[1.0, 0.9, -0.9], [0.9, 1.0, 0.9], [-0.9, 0.9, 1.0]],
}
#: Scenarios that load but fail while their paths or accounts are prepared.
BAD_ACCOUNTS = {
    "more legs than assets": (accounts_with(book={**ACCOUNTS["book"], "legs": 3}), None),
    "unknown asset in file": (accounts_with(book=FILE_BOOK), "0,DOGE,long,1.0,0.1,1.0\n"),
    "zero quantity": (accounts_with(book=FILE_BOOK), "0,BTC,long,0.0,60000.0,1.0\n"),
    "correlation not positive definite": (accounts_with(paths=THREE_ASSETS), None),
}
BOOK_HEADER = "account,asset,side,qty,entry_price,collateral\n"


@pytest.mark.parametrize("case", list(BAD_ACCOUNTS.values()), ids=list(BAD_ACCOUNTS))
def test_bad_accounts_scenario_leaves_nothing(
    tmp_path: Path, case: tuple[dict[str, Any], str | None]
) -> None:
    scenario, book_row = case
    path = tmp_path / "scenario.toml"
    path.write_text(tomli_w.dumps(scenario))
    inputs = ["scenario.toml"]
    if book_row is not None:
        (tmp_path / "book.csv").write_text(BOOK_HEADER + book_row)
        inputs.append("book.csv")
    load_scenario(path)  # the scenario loads: the error is found while preparing the run
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2, (result.stderr, result.exception)
    assert result.stderr.startswith("error:"), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(inputs)


# ----------------------------------------------------------------------------- budget
def big_scenario(tmp_path: Path, n_paths: int) -> Path:
    text = SCENARIO_TOML.replace("n_paths = 40", f"n_paths = {n_paths}")
    text = text.replace("n_steps = 50", "n_steps = 720")
    path = tmp_path / "big.toml"
    path.write_text(text)
    return path


def test_hundred_million_paths_are_refused_before_anything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "available_memory", lambda: 11_300_000_000)
    path = big_scenario(tmp_path, 100_000_000)
    with pytest.raises(InputError) as caught:
        validate_file(path)
    message = str(caught.value)
    assert "needs about" in message and "n_paths = 100,000,000" in message, message
    assert "11.3 GB available" in message and "lower paths.n_paths" in message, message
    result = CliRunner().invoke(app, ["run", str(path), "--out", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 2 and "needs about" in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml"]


def test_refused_on_this_machine_without_patching(tmp_path: Path) -> None:
    memory = budget.available_memory()
    need = budget.estimate(n_paths=100_000_000, n_steps=720, n_positions=3000)
    if memory is None or need.memory <= memory:
        pytest.skip("this machine has room for 1e8 paths")
    with pytest.raises(InputError, match="of memory for n_paths = 100,000,000"):
        validate_file(big_scenario(tmp_path, 100_000_000))


def test_full_disk_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(budget, "free_disk", lambda location: (tmp_path, 1_000_000))
    path = big_scenario(tmp_path, 2_000)
    with pytest.raises(InputError, match=r"of disk at .*checkpoint .*1\.0 MB free"):
        run_to_dir(path, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.toml"]


def test_an_earlier_checkpoint_counts_as_free_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(budget, "free_disk", lambda location: (tmp_path, 1_000_000))
    path = big_scenario(tmp_path, 200)
    stale = checkpoint_dir_for(tmp_path / "out")
    stale.mkdir()
    with (stale / "paths-000000000000-000000000001.npz").open("wb") as stream:
        stream.truncate(200_000_000)  # sparse: its size, not its blocks, is counted
    run_to_dir(path, tmp_path / "out")
    assert (tmp_path / "out" / "paths.parquet").exists() and not stale.exists()


def test_estimate_formula() -> None:
    need = budget.estimate(n_paths=1000, n_steps=9, n_positions=10, n_grid=10, chunk_size=100)
    per_path = 12 + 4 * 10
    assert need.results == 8 * 1000 * per_path
    assert need.prices == 16 * 100 * 10 + 8 * 100 * per_path
    assert need.book == 2560
    assert need.checkpoint == need.results + 10 * budget.CHUNK_FILE_OVERHEAD
    assert need.memory == need.results + need.writing + need.prices + need.book


@pytest.mark.parametrize(
    "name", ["default.toml", "cross_btc_eth.toml", "garch_btc.toml", "compare_btc.toml"]
)
def test_shipped_scenarios_fit_in_a_few_gigabytes(name: str) -> None:
    scenario = load_scenario(Path(__file__).parents[1] / "scenarios" / name)
    sizes = budget.scenario_sizes(scenario)
    if sizes is None:
        pytest.skip("sizes come from data files")
    need = budget.estimate(**sizes, n_metrics=budget.scenario_metrics(scenario))
    assert need.memory < 4e9 and need.disk < 1e9, (need.memory, need.disk)
    budget.check_scenario_budget(scenario)


# ----------------------------------------------------------------------------- bounded rate
class FakeClock:
    """``perf_counter`` of :mod:`stresstest.engine.checkpoint`, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


def test_chunks_are_written_at_a_bounded_rate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Queued chunks are written no sooner than MIN_WRITE_INTERVAL_SECONDS after the last
    write, and after a write of d seconds no sooner than d (1 - share) / share: a write
    takes at most MAX_WRITE_SHARE of the time from its start to the next write. Each
    chunk keeps its own file."""
    clock = FakeClock()
    monkeypatch.setattr(checkpoint_module, "time", clock)
    write = Checkpoint._write

    def slow_write(self: Checkpoint, first: int, count: int, values: Any) -> None:
        clock.now += 1.0  # each chunk file takes one second to write
        write(self, first, count, values)

    monkeypatch.setattr(Checkpoint, "_write", slow_write)
    folder = tmp_path / "checkpoint"
    checkpoint = Checkpoint(folder, "f" * 64, resume=False)
    metrics, records = np.zeros((1, 40, 3)), np.zeros((1, 40, 4, 5))

    def save(first: int, at: float) -> list[str]:
        clock.now = at
        checkpoint.save(first, 8, (metrics[:, first : first + 8], records[:, first : first + 8]))
        return sorted(path.name for path in folder.glob("*.npz"))

    assert save(0, 1.0) == [] and save(8, 9.9) == []
    assert checkpoint.pending_paths == 16
    assert save(16, MIN_WRITE_INTERVAL_SECONDS) == [chunk_name(f, 8) for f in (0, 8, 16)]
    assert checkpoint.pending_paths == 0
    # The write took 3 s (three files), so the next waits 3 x 0.95 / 0.05 = 57 s.
    wait = 3.0 * (1 - MAX_WRITE_SHARE) / MAX_WRITE_SHARE
    assert save(24, 13.0 + wait - 0.01) == [chunk_name(f, 8) for f in (0, 8, 16)]
    written = save(32, 13.0 + wait)
    assert written == [chunk_name(f, 8) for f in range(0, 40, 8)]
    # Writing (3 s) took at most the share of the cycle from its start to the next write.
    assert 3.0 / (13.0 + wait - 10.0) <= MAX_WRITE_SHARE + 1e-12


def test_flush_writes_the_queue_at_once(tmp_path: Path) -> None:
    folder = tmp_path / "checkpoint"
    checkpoint = Checkpoint(folder, "f" * 64, resume=False)
    values = (np.zeros((1, 8, 3)), np.zeros((1, 8, 4, 5)))
    checkpoint.save(0, 8, values)
    assert list(folder.glob("*.npz")) == []
    checkpoint.flush()
    assert [path.name for path in folder.glob("*.npz")] == [chunk_name(0, 8)]


def test_the_final_chunk_is_queued_not_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's last chunk never triggers a write (the checkpoint is deleted right after),
    even when one is due; a flush, as on an interruption, still writes it."""
    monkeypatch.setattr(checkpoint_module, "MAX_WRITE_SHARE", 1.0)  # every write is due
    folder = tmp_path / "checkpoint"
    checkpoint = Checkpoint(folder, "f" * 64, resume=False, min_interval=0.0)

    def chunk(plan: object, first: int, count: int) -> tuple[np.ndarray, np.ndarray]:
        return np.full((1, count, 3), float(first)), np.zeros((1, count, 4, 5))

    metrics, _ = execute_chunks(
        None,
        chunk_function=chunk,
        n_variants=1,
        n_paths=24,
        n_metrics=3,
        grid_shape=(4, 5),
        chunk_size=8,
        checkpoint=checkpoint,
    )
    assert sorted(path.name for path in folder.glob("*.npz")) == [
        chunk_name(0, 8),
        chunk_name(8, 8),
    ]
    assert checkpoint.pending_paths == 8
    assert metrics[0, 16:, 0].tolist() == [16.0] * 8
    checkpoint.flush()
    assert sorted(path.name for path in folder.glob("*.npz")) == [
        chunk_name(f, 8) for f in (0, 8, 16)
    ]
