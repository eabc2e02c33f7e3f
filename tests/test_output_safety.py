"""Result folders: only stresstest's own are replaced, one writer at a time, nothing left
behind, and every unwritable location is one line and exit status 2.

Each case uses the tiny scenario workspace of tests/test_cli_errors.py (2 file paths of
4 steps, 2 positions).
"""

from __future__ import annotations

import contextlib
import dataclasses
import errno
import fcntl
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stresstest import jobs
from stresstest.cli import app
from stresstest.errors import InputError, OutputError
from stresstest.io import atomic
from stresstest.report.load import load_result
from stresstest.scenario import load_scenario
from stresstest.scenario.compare import parse_compare
from tests.test_cli_errors import (
    Workspace,
    base_scenario,
    unwrap,
    wide_error_console,  # noqa: F401 - autouse fixture: errors on one line in process
)

REPO = Path(__file__).resolve().parents[1]
RUN_FILES = [
    "attribution.parquet",
    "attribution_steps.parquet",
    "fund_quantiles.parquet",
    "liquidated_notional_quantiles.parquet",
    "liquidation_quantiles.parquet",
    "paths.parquet",
    "price_quantiles.parquet",
    "sample_paths.parquet",
    "scenario.resolved.toml",
    "summary.json",
]
COMPARE = {
    "variants": [
        {"name": "a", "margin.maintenance": 0.01},
        {"name": "b", "margin.maintenance": 0.02},
    ]
}


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace(tmp_path)


def invoke(*args: str) -> Any:
    return CliRunner().invoke(app, [*args, "--quiet"])


def run_cli(ws: Workspace, out: Path | None = None) -> Any:
    return invoke("run", str(ws.scenario), "--out", str(out or ws.out))


def one_line(result: Any) -> str:
    """The error message; it must be one line, exit status 2, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.stderr, result.exception)
    lines = [line for line in unwrap(result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "Traceback" not in result.stderr
    return lines[0]


def siblings(out: Path) -> list[str]:
    """Hidden files and folders of ``out`` beside it (staging, retired, lock)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


def listing(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def snapshot(folder: Path) -> dict[str, object]:
    """Every entry of ``folder``: a link's target, a file's bytes, or None for a folder."""
    return {
        str(path.relative_to(folder)): (
            os.readlink(path)
            if path.is_symlink()
            else path.read_bytes()
            if path.is_file()
            else None
        )
        for path in sorted(folder.rglob("*"))
    }


def make_file(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_text("mine\n", encoding="utf-8")


def flip_a_bit(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 1
    path.write_bytes(bytes(data))


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- manifest
def test_manifest_lists_every_file_and_output_bytes_are_unchanged(ws: Workspace) -> None:
    ws.write()
    result, target = jobs.run_to_dir(ws.scenario, ws.out)
    assert sorted(p.name for p in target.iterdir()) == [atomic.MANIFEST_NAME, *RUN_FILES]
    manifest = json.loads((target / atomic.MANIFEST_NAME).read_text(encoding="utf-8"))
    assert manifest["format"] == "stresstest-result-manifest"
    assert manifest["format_version"] == 1
    assert manifest["stresstest_version"]
    files = listing(target)
    del files[atomic.MANIFEST_NAME]
    assert manifest["entries"] == {
        name: {"type": "file", "size": len(data), "sha256": sha256(data)}
        for name, data in files.items()
    }
    plain = ws.root / "plain"
    plain.mkdir()
    result.write_files(plain, identity=True)  # as write() does, without atomic_dir, manifest
    assert listing(plain) == files
    assert load_result(target).path == target  # the report reads it as before
    assert siblings(target) == []


def test_rerun_replaces_its_own_result(ws: Workspace) -> None:
    ws.write()
    assert run_cli(ws).exit_code == 0
    first = listing(ws.out)
    assert run_cli(ws).exit_code == 0
    assert listing(ws.out) == first
    assert siblings(ws.out) == []


def test_compare_manifest_lists_variant_folders(ws: Workspace) -> None:
    ws.write({**base_scenario(), "compare": COMPARE})
    for _ in range(2):  # the second replaces the first
        result = invoke("compare", str(ws.scenario), "--out", str(ws.out))
        assert result.exit_code == 0, (result.stderr, result.exception)
    entries = json.loads((ws.out / atomic.MANIFEST_NAME).read_text(encoding="utf-8"))["entries"]
    assert entries["variants"] == {"type": "folder"}
    assert entries["variants/a"] == {"type": "folder"}
    assert entries["variants/b/summary.json"]["type"] == "file"
    (ws.out / "variants" / "a" / "notes.txt").write_text("mine\n", encoding="utf-8")
    message = one_line(invoke("compare", str(ws.scenario), "--out", str(ws.out)))
    assert "'variants/a/notes.txt'" in message and "did not write" in message
    assert (ws.out / "variants" / "a" / "notes.txt").exists()


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda out: (out / "notes.txt").write_text("mine\n"), "'notes.txt', which stresstest"),
        (lambda out: make_file(out / "mine" / "a.txt"), "'mine', which stresstest did not write"),
        (lambda out: (out / "summary.json").write_text("{}\n"), "'summary.json', changed"),
        (lambda out: flip_a_bit(out / "paths.parquet"), "'paths.parquet', changed"),
        (lambda out: (out / atomic.MANIFEST_NAME).write_text("{}"), "unreadable or altered"),
        (lambda out: (out / "link").symlink_to(out / "summary.json"), "'link', which"),
    ],
    ids=["file-added", "folder-added", "file-replaced", "bit-flipped", "manifest", "symlink"],
)
def test_result_folder_with_anything_else_is_refused_and_untouched(
    ws: Workspace, change: Any, fragment: str
) -> None:
    ws.write()
    assert run_cli(ws).exit_code == 0
    change(ws.out)
    before = snapshot(ws.out)
    message = one_line(run_cli(ws))
    assert str(ws.out) in message and fragment in message, message
    assert "choose another --out" in message
    assert snapshot(ws.out) == before
    assert siblings(ws.out) == []


def test_listed_file_missing_or_empty_folder_added_is_still_ours(ws: Workspace) -> None:
    ws.write()
    assert run_cli(ws).exit_code == 0
    (ws.out / "paths.parquet").unlink()  # nothing of the user's would be lost
    (ws.out / "empty").mkdir()  # nor here
    assert run_cli(ws).exit_code == 0
    assert (ws.out / "paths.parquet").exists()
    assert not (ws.out / "empty").exists()


def test_foreign_summary_beside_users_files_is_refused(ws: Workspace) -> None:
    """The reported loss: an unrelated summary.json made a user's folder replaceable."""
    ws.write()
    ws.out.mkdir()
    (ws.out / "summary.json").write_text('{"mine": 1}\n', encoding="utf-8")
    (ws.out / "thesis.tex").write_text("chapter 1\n", encoding="utf-8")
    message = one_line(run_cli(ws))
    assert "not empty" in message and str(ws.out) in message
    assert sorted(p.name for p in ws.out.iterdir()) == ["summary.json", "thesis.tex"]


@pytest.mark.parametrize(
    ("names", "replaced"),
    [
        (["summary.json"], False),  # alone: not a complete earlier result
        (["summary.json", "paths.parquet", "notes.txt"], False),
        (["summary.json", "paths.parquet", "sub/summary.json"], False),
        (["summary.json", "paths.parquet", "reference_paths.parquet"], True),
        (["compare.json", "compare.parquet", "variants/x/summary.json"], True),
        (["compare.json", "compare.parquet", "variants/x/notes.txt"], False),
        (["backtest.json", "windows.parquet"], True),
    ],
)
def test_folder_without_manifest(ws: Workspace, names: list[str], replaced: bool) -> None:
    ws.write()
    for name in names:
        (ws.out / name).parent.mkdir(parents=True, exist_ok=True)
        (ws.out / name).write_text("{}\n", encoding="utf-8")
    result = run_cli(ws)
    if replaced:
        assert result.exit_code == 0, (result.stderr, result.exception)
        assert sorted(p.name for p in ws.out.iterdir()) == [atomic.MANIFEST_NAME, *RUN_FILES]
    else:
        assert "not empty" in one_line(result)
        assert sorted(
            str(p.relative_to(ws.out)) for p in ws.out.rglob("*") if p.is_file()
        ) == sorted(names)


def test_backtest_folder_gets_a_manifest_and_is_guarded(tmp_path: Path) -> None:
    out = tmp_path / "bt"
    args = (
        "backtest",
        str(REPO / "data" / "btc_usdt_spot_1h.parquet"),
        str(REPO / "scenarios" / "default.toml"),
    )
    for _ in range(2):
        result = CliRunner().invoke(app, [*args, "--out", str(out), "--json"])
        assert result.exit_code == 0, (result.stderr, result.exception)
    assert sorted(p.name for p in out.iterdir()) == [
        atomic.MANIFEST_NAME,
        "backtest.json",
        "windows.parquet",
    ]
    (out / "x.csv").write_text("mine\n", encoding="utf-8")
    message = one_line(CliRunner().invoke(app, [*args, "--out", str(out), "--json"]))
    assert "'x.csv'" in message


# ----------------------------------------------------------------------------- names
BAD_NAMES = [".", "..", "", "a/b", "a\\b", "a\x00b", "tab\there", "x" * 101]


@pytest.mark.parametrize("name", BAD_NAMES, ids=repr)
def test_scenario_name_must_be_a_plain_folder_name(
    ws: Workspace, name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    scenario = base_scenario()
    scenario["scenario"]["name"] = name
    ws.write(scenario)
    with pytest.raises(InputError) as caught:
        load_scenario(ws.scenario)
    assert caught.value.key == "scenario.name"
    assert caught.value.value == name
    assert "plain folder name" in str(caught.value) and "at most 100" in str(caught.value)
    monkeypatch.chdir(ws.root)
    (ws.root / "runs" / "other").mkdir(parents=True)  # another result under runs/
    message = one_line(invoke("run", str(ws.scenario)))  # default --out: runs/<name>
    assert "scenario.name" in message
    assert sorted(p.name for p in (ws.root / "runs").iterdir()) == ["other"]


def test_plain_names_still_load(ws: Workspace) -> None:
    for name in ("x" * 100, "with space", "v1.2-final_ok", "..."):
        scenario = base_scenario()
        scenario["scenario"]["name"] = name
        ws.write(scenario)
        assert load_scenario(ws.scenario).name == name


@pytest.mark.parametrize("name", [".", "..", "x" * 101, "a/b"], ids=repr)
def test_variant_name_must_be_a_plain_folder_name(ws: Workspace, name: str) -> None:
    compare = {"variants": [{"name": "a"}, {"name": name, "margin.maintenance": 0.02}]}
    ws.write({**base_scenario(), "compare": compare})
    with pytest.raises(InputError) as caught:
        parse_compare(load_scenario(ws.scenario))
    assert caught.value.key == "compare.variants" and caught.value.value == name
    message = one_line(invoke("compare", str(ws.scenario), "--out", str(ws.out)))
    assert "bad variant name" in message and "not '.' or '..'" in message
    assert not ws.out.exists() and siblings(ws.out) == []


@pytest.mark.parametrize("name", ["", ".", "..", "a/../..", "/", "x" * 300, "a\x00b"], ids=repr)
def test_default_output_dir_is_one_folder_below_runs(ws: Workspace, name: str) -> None:
    ws.write()
    scenario = load_scenario(ws.scenario)
    odd = dataclasses.replace(scenario, info=dataclasses.replace(scenario.info, name=name))
    target = jobs.default_output_dir(odd)
    assert target.parent == Path("runs")
    assert target.name not in ("", ".", "..") and len(target.name) <= 100
    assert "/" not in target.name and "\x00" not in target.name


# ----------------------------------------------------------------------------- locations
def test_out_below_a_file(ws: Workspace) -> None:
    ws.write()
    (ws.root / "file.txt").write_text("mine\n", encoding="utf-8")
    out = ws.root / "file.txt" / "result"
    message = one_line(run_cli(ws, out))
    assert f"cannot create {out}" in message and "is a file" in message
    assert (ws.root / "file.txt").read_text(encoding="utf-8") == "mine\n"


def test_out_is_a_file(ws: Workspace) -> None:
    ws.write()
    ws.out.write_text("mine\n", encoding="utf-8")
    assert "is a file" in one_line(run_cli(ws))
    assert ws.out.read_text(encoding="utf-8") == "mine\n"


def test_out_is_a_symlink(ws: Workspace) -> None:
    ws.write()
    (ws.root / "real").mkdir()
    ws.out.symlink_to(ws.root / "real")
    assert "symbolic link" in one_line(run_cli(ws))


@pytest.mark.parametrize("length", [300, 240])
def test_out_name_too_long(ws: Workspace, length: int) -> None:
    ws.write()
    out = ws.root / ("a" * length)
    message = one_line(run_cli(ws, out))
    assert f"name is {length} bytes long" in message and "at most 237 bytes" in message
    assert sorted(p.name for p in ws.root.iterdir()) == ["book.csv", "paths.csv", "scenario.toml"]


@pytest.mark.parametrize("out", [".", "..", "result/.."])
def test_out_without_a_name_of_its_own(
    ws: Workspace, out: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.write()
    monkeypatch.chdir(ws.root)
    assert "no plain name of its own" in one_line(run_cli(ws, Path(out)))
    assert sorted(p.name for p in ws.root.iterdir()) == ["book.csv", "paths.csv", "scenario.toml"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_parent(ws: Workspace) -> None:
    ws.write()
    parent = ws.root / "locked"
    parent.mkdir()
    parent.chmod(0o555)
    try:
        message = one_line(run_cli(ws, parent / "result"))
        assert f"cannot write {parent / 'result'}: Permission denied (errno 13)" in message
        assert list(parent.iterdir()) == []
    finally:
        parent.chmod(0o755)


@contextlib.contextmanager
def tmpfs(folder: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted at ``folder`` (root only), unmounted afterwards; else skip."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def test_read_only_file_system(ws: Workspace) -> None:
    ws.write()
    with tmpfs(ws.root / "ro", "ro,size=1m") as mount:
        message = one_line(run_cli(ws, mount / "result"))
        assert f"cannot write {mount / 'result'}: Read-only file system (errno 30)" in message
        assert "choose a writable --out" in message


def fill(folder: Path) -> None:
    """Fill the file system of ``folder`` to the last byte."""
    handle = os.open(folder / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for block in (1 << 16, 1):
            with contextlib.suppress(OSError):
                while os.write(handle, b"\0" * block):
                    pass
    finally:
        os.close(handle)


def test_full_disk_while_writing(ws: Workspace, monkeypatch: pytest.MonkeyPatch) -> None:
    """The disk fills during the run (after the up-front estimate passed): one line, no staging."""
    ws.write()
    real_run = jobs.run

    with tmpfs(ws.root / "full", "size=4m") as mount:
        out = mount / "result"

        def run_then_fill(*args: Any, **kwargs: Any) -> Any:
            result = real_run(*args, **kwargs)
            fill(mount)
            return result

        monkeypatch.setattr(jobs, "run", run_then_fill)
        message = one_line(run_cli(ws, out))
        assert message == (
            f"error: cannot write {out}: No space left on device (errno 28); "
            "free space or choose another --out"
        )
        assert not out.exists()
        # the checkpoint is kept for --resume (it is engine/run.py's); no staging, no lock
        assert [name for name in siblings(out) if not name.endswith(".checkpoint")] == []


def test_full_disk_in_write_text_and_parquet(tmp_path: Path) -> None:
    import polars as pl

    with tmpfs(tmp_path / "full", "size=1m") as mount:
        out = mount / "result"
        expected = rf"^cannot write {out}: No space left on device \(errno 28\); free space"
        with pytest.raises(OutputError, match=expected), atomic.atomic_dir(out) as staging:
            fill(mount)  # polars: ComputeError "... (os error 28)"
            atomic.write_parquet(pl.DataFrame({"x": range(100_000)}), staging / "a.parquet")
        assert sorted(p.name for p in mount.iterdir()) == ["filler"]
        with pytest.raises(OutputError, match=expected), atomic.atomic_dir(out):
            pass  # the lock file cannot be written
        with pytest.raises(OutputError, match=r"cannot write .*file.txt: .*errno 28"):
            atomic.write_text("x" * 100_000, mount / "file.txt")
        assert sorted(p.name for p in mount.iterdir()) == ["filler"]


# ----------------------------------------------------------------------------- one writer
def hold_lock(out: Path) -> int:
    handle = os.open(atomic.lock_path_for(out), os.O_RDWR | os.O_CREAT)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.write(handle, b"424242\n")
    return handle


@pytest.mark.parametrize("command", ["run", "compare"])
def test_busy_output_is_refused_at_once(ws: Workspace, command: str) -> None:
    ws.write({**base_scenario(), "compare": COMPARE})
    handle = hold_lock(ws.out)
    try:
        started = time.perf_counter()
        message = one_line(invoke(command, str(ws.scenario), "--out", str(ws.out)))
        assert time.perf_counter() - started < 30
        assert message == (
            f"error: another stresstest process (pid 424242) is writing {ws.out}; "
            "wait for it or choose another --out"
        )
        assert not ws.out.exists()
        assert siblings(ws.out) == [f".{ws.out.name}.lock"]  # ours, still held
    finally:
        os.close(handle)
    assert run_cli(ws).exit_code == 0  # a stale lock file is harmless
    assert siblings(ws.out) == []


def test_lock_is_reentrant_in_one_job_and_refused_to_another_thread(tmp_path: Path) -> None:
    import threading

    out = tmp_path / "result"
    with atomic.output_lock(out):
        with atomic.atomic_dir(out) as staging:  # the job's own write: same lock
            (staging / "result.txt").write_text("{}\n")
        errors: list[BaseException] = []

        def other() -> None:
            try:
                with atomic.output_lock(out):
                    pass
            except OutputError as error:
                errors.append(error)

        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert len(errors) == 1 and "is writing" in str(errors[0])
    assert siblings(out) == []


def python_stresstest(*args: str, cwd: Path, script: str | None = None) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "FORCE_COLOR")}
    env["PYTHONPATH"] = str(REPO)
    command = (
        [sys.executable, "-c", script, *args]
        if script
        else [sys.executable, "-m", "stresstest", *args]
    )
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


@pytest.mark.slow
def test_two_processes_writing_one_folder(ws: Workspace) -> None:
    """One wins cleanly; the other, if it overlapped, says why (never a traceback)."""
    ws.write()
    args = ("run", str(ws.scenario), "--out", str(ws.out), "--quiet")
    processes = [python_stresstest(*args, cwd=ws.root) for _ in range(2)]
    outcomes = []
    for process in processes:
        with process:
            _, stderr = process.communicate(timeout=180)
            outcomes.append((process.returncode, stderr))
    codes = sorted(code for code, _ in outcomes)
    assert codes in ([0, 0], [0, 2]), outcomes
    for code, stderr in outcomes:
        assert "Traceback" not in stderr
        if code == 2:
            assert "another stresstest process (pid" in stderr and "is writing" in stderr
    assert sorted(p.name for p in ws.out.iterdir()) == [atomic.MANIFEST_NAME, *RUN_FILES]
    assert siblings(ws.out) == []


# ----------------------------------------------------------------------------- leftovers
SLOW_WRITE = """
import sys, time
import stresstest.engine.result as result
write_files = result.Result.write_files
def slow(self, folder, **options):
    write_files(self, folder, **options)
    print("WRITING", flush=True)
    time.sleep(120)
result.Result.write_files = slow
from stresstest.cli import app
sys.argv[0] = "stresstest"
app(sys.argv[1:])
"""


def killed_while_writing(ws: Workspace, signum: int) -> int:
    """Run the tiny scenario, send ``signum`` once its result files are in staging."""
    with python_stresstest(
        "run", str(ws.scenario), "--out", str(ws.out), "--quiet", cwd=ws.root, script=SLOW_WRITE
    ) as process:
        assert process.stdout is not None
        line = process.stdout.readline()
        if line.strip() != "WRITING":
            process.kill()
            pytest.fail(f"no WRITING line: {line!r} {process.communicate()}")
        assert any(".staging-" in name for name in siblings(ws.out))
        process.send_signal(signum)
        process.communicate(timeout=60)
        return process.returncode


@pytest.mark.slow
def test_sigterm_while_writing_removes_staging(ws: Workspace) -> None:
    ws.write()
    assert killed_while_writing(ws, signal.SIGTERM) == 128 + signal.SIGTERM
    assert not ws.out.exists()
    assert [name for name in siblings(ws.out) if not name.endswith(".checkpoint")] == []


@pytest.mark.slow
def test_stale_staging_of_a_killed_run_is_removed(ws: Workspace) -> None:
    ws.write()
    assert killed_while_writing(ws, signal.SIGKILL) == -signal.SIGKILL
    assert any(".staging-" in name for name in siblings(ws.out))
    retired = ws.root / f".{ws.out.name}.old-abcd_123"  # as if killed while replacing
    (retired / ws.out.name).mkdir(parents=True)
    keep = [
        ws.root / f".{ws.out.name}.staging-user-notes",
        ws.root / f".{ws.out.name}x.staging-abcdefgh",
    ]
    for folder in keep:  # not of the form .<out>.staging-XXXXXXXX: not ours to remove
        folder.mkdir()
    assert run_cli(ws).exit_code == 0
    assert sorted(p.name for p in ws.out.iterdir()) == [atomic.MANIFEST_NAME, *RUN_FILES]
    assert siblings(ws.out) == [f".{ws.out.name}.staging-user-notes"]
    assert all(folder.exists() for folder in keep)


def test_sigterm_handler_is_installed_only_while_a_command_works() -> None:
    from stresstest.cli import input_errors

    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    with input_errors():
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)
        with pytest.raises(SystemExit) as caught:
            handler(signal.SIGTERM, None)
        assert caught.value.code == 143
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL


def test_output_failure_reasons() -> None:
    out = Path("somewhere/result")
    cases = {
        OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)): "free space or choose another --out",
        OSError(errno.EACCES, os.strerror(errno.EACCES)): "choose a writable --out",
        OSError(errno.ENAMETOOLONG, os.strerror(errno.ENAMETOOLONG)): "choose a shorter --out",
        RuntimeError("parquet: underlying IO error: No space left on device (os error 28)"): (
            "No space left on device (errno 28); free space"
        ),
    }
    for error, fragment in cases.items():
        failure = atomic.output_failure(out, error)
        assert isinstance(failure, InputError) and failure.file == str(out)
        assert str(failure).startswith(f"cannot write {out}: ") and fragment in str(failure)


def test_failed_run_leaves_no_folder_made_for_its_lock(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The book is read after the lock is taken: its error must still leave nothing."""
    ws.write(book="side,qty,entry_price,collateral\nlong,abc,100.0,5.0\n")
    monkeypatch.chdir(ws.root)
    assert "key 'qty', row 0" in one_line(invoke("run", str(ws.scenario)))
    assert sorted(p.name for p in ws.root.iterdir()) == ["book.csv", "paths.csv", "scenario.toml"]
    nested = ws.root / "a" / "b" / "result"
    one_line(run_cli(ws, nested))
    assert not (ws.root / "a").exists()
