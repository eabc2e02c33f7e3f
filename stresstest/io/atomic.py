"""Write outputs whole or not at all, and never over anything stresstest did not write.

A result folder (of ``run``, ``compare`` or ``backtest``) is built in a hidden
staging folder beside it, ``.<out>.staging-XXXXXXXX``, and renamed into place
when complete. The staging folder then gets a manifest,
``.stresstest-manifest.json``, listing every file (size and SHA-256) and
sub-folder written. A folder may later be replaced only if it is empty, or if
it holds nothing but what its manifest lists, each file unchanged; a folder
written before manifests existed only if every entry is a known output name of
one kind of result (see :data:`LEGACY_KINDS`).

While a folder is being written, its writer holds an exclusive ``flock`` on
``.<out>.lock`` beside it; a second writer of the same folder is refused at
once. Under that lock, staging (``.<out>.staging-*``) and retired
(``.<out>.old-*``) folders left by a killed writer are stale and are removed.
"""

from __future__ import annotations

import contextlib
import contextvars
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from stresstest.errors import InputError, OutputError

if TYPE_CHECKING:
    import polars as pl

#: The manifest a result folder carries: what stresstest wrote there.
MANIFEST_NAME = ".stresstest-manifest.json"
MANIFEST_FORMAT = "stresstest-result-manifest"
MANIFEST_VERSION = 1

#: Files of a run folder as versions before manifests wrote them (engine/result.py
#: ``Result.write_files``). Only folders without a manifest are judged by this list, so
#: it stays as those versions left it when the files a run writes change.
RUN_FILES = frozenset(
    {
        "paths.parquet",
        "fund_quantiles.parquet",
        "price_quantiles.parquet",
        "liquidation_quantiles.parquet",
        "liquidated_notional_quantiles.parquet",
        "sample_paths.parquet",
        "reference_paths.parquet",
        "scenario.resolved.toml",
        "summary.json",
    }
)


@dataclass(frozen=True)
class LegacyKind:
    """A kind of result folder written before manifests: its file names and signature.

    A folder without a manifest is taken to be of this kind when it holds every
    file of ``required``; it may be replaced only if it then holds nothing but
    ``files`` (and, in ``variants/NAME/``, nothing but ``variant_files``).
    """

    name: str
    required: frozenset[str]
    files: frozenset[str]
    variant_files: frozenset[str] = frozenset()


#: Result folders of earlier versions, by the files that identify them.
LEGACY_KINDS = (
    LegacyKind(
        "compare",
        frozenset({"compare.parquet", "compare.json"}),
        frozenset(
            {
                "compare.parquet",
                "differences.parquet",
                "compare.json",
                "scenario.resolved.toml",
                "backtest.json",
            }
        ),
        RUN_FILES | {"backtest.json"},
    ),
    LegacyKind("run", frozenset({"summary.json", "paths.parquet"}), RUN_FILES),
    LegacyKind(
        "backtest",
        frozenset({"backtest.json", "windows.parquet"}),
        frozenset({"backtest.json", "windows.parquet"}),
    ),
)

#: What to do when a folder may not be replaced.
_FOREIGN_ADVICE = "choose another --out, or remove that folder yourself if nothing in it is needed"
#: ``tempfile.mkdtemp`` suffixes: 8 characters of this alphabet.
_RANDOM = r"[a-z0-9_]{8}"
#: The longest hidden sibling of a result folder: ``.<out>.staging-XXXXXXXX``.
_SIBLING_EXTRA = len("..staging-") + 8
_HASH_BLOCK = 1 << 20

#: (staging folder, result folder) being written in this context: errors name the latter.
_TARGET: contextvars.ContextVar[tuple[Path, Path] | None] = contextvars.ContextVar(
    "target", default=None
)
#: Lock files this process holds, by absolute path, with the holding thread.
_HELD: dict[str, int] = {}
_HELD_GUARD = threading.Lock()


# ----------------------------------------------------------------------------- errors
def _os_reason(error: BaseException) -> tuple[str, int | None]:
    """The operating system's reason for a failed write and its errno, if known."""
    if isinstance(error, OSError) and error.errno is not None:
        return error.strerror or os.strerror(error.errno), error.errno
    found = re.search(r"os error (\d+)", str(error))
    if found:
        number = int(found.group(1))
        return os.strerror(number), number
    return str(error).splitlines()[0] if str(error) else type(error).__name__, None


def output_failure(target: Path, error: BaseException, *, verb: str = "write") -> OutputError:
    """An :class:`OutputError` for an operating-system failure while writing ``target``.

    Parameters
    ----------
    target
        The output (result folder or file) the user asked for.
    error
        The ``OSError`` or polars error raised.
    verb
        ``"write"`` or ``"read"``: what failed.
    """
    reason, number = _os_reason(error)
    cause = f"{reason} (errno {number})" if number is not None else reason
    if number in (errno.ENOSPC, errno.EDQUOT):
        advice = "free space or choose another --out"
    elif number in (errno.EACCES, errno.EPERM, errno.EROFS):
        advice = "choose a writable --out or change its permissions"
    elif number == errno.ENAMETOOLONG:
        advice = "choose a shorter --out"
    else:
        advice = "choose another --out"
    return OutputError(f"cannot {verb} {target}: {cause}", file=target, expected=advice)


def _target_for(path: Path) -> Path:
    """The result folder being written if ``path`` is inside its staging folder, else ``path``."""
    target = _TARGET.get()
    if target is not None and path.is_relative_to(target[0]):
        return target[1]
    return path


def _is_io_failure(error: BaseException) -> bool:
    """An ``OSError``, or a polars error caused by one (``... (os error 28)``)."""
    if isinstance(error, OSError):
        return True
    import polars as pl  # not at module level: loading a scenario imports this module

    return isinstance(error, pl.exceptions.PolarsError) and bool(
        re.search(r"os error \d+|io error", str(error), re.IGNORECASE)
    )


# ----------------------------------------------------------------------------- files
def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _publish(path: str | Path, mode: int) -> None:
    """Give a temporary file or folder the permissions a normal one would have."""
    os.chmod(path, mode & ~_umask())


@contextlib.contextmanager
def _replacing(path: Path) -> Iterator[str]:
    """Yield a temporary file name beside ``path``; on success it replaces ``path``.

    An ``OSError`` or polars error while writing becomes an :class:`OutputError`
    naming the result folder being written (or ``path``) and the system's reason.
    """
    temporary: str | None = None
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"
        )
        os.close(handle)
        yield temporary
        _publish(temporary, 0o666)
        os.replace(temporary, path)
    except BaseException as error:
        if temporary is not None:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
        if _is_io_failure(error):
            raise output_failure(_target_for(path), error) from None
        raise


def write_parquet(frame: pl.DataFrame, path: Path, metadata: dict[str, str] | None = None) -> None:
    """Write ``frame`` to ``path`` via a temporary file in the same folder and ``os.replace``.

    ``metadata``: key-value pairs for the file's Parquet metadata (result folders
    write their format version there, :func:`stresstest.schemas.parquet_metadata`).
    """
    with _replacing(path) as temporary:
        if metadata is None:
            frame.write_parquet(temporary)
        else:
            frame.write_parquet(temporary, metadata=metadata)


def write_text(text: str, path: Path) -> None:
    """Write text atomically."""
    with _replacing(path) as temporary, open(temporary, "w", encoding="utf-8") as stream:
        stream.write(text)


def check_new_file(path: Path, *, force: bool, expected: str) -> None:
    """Refuse to write a file over a folder, or over an existing file unless ``force``.

    ``expected`` says what a valid ``path`` is (``"a scenario file name (.toml)"``).
    """
    if path.is_dir():
        raise InputError("path is a folder", file=path, expected=expected)
    if path.exists() and not force:
        raise InputError(
            "file exists", file=path, expected="a new file name, or --force to overwrite it"
        )


def write_json(data: Any, path: Path) -> None:
    """Write JSON atomically, with sorted keys so equal data gives equal bytes."""
    write_text(json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n", path)


def write_toml(data: dict[str, Any], path: Path) -> None:
    """Write TOML atomically."""
    write_text(tomli_w.dumps(data), path)


# ----------------------------------------------------------------------------- names
#: What a plain folder name is, for messages.
PLAIN_NAME = (
    "a plain folder name: not empty, not '.' or '..', without '/', '\\' or control "
    "characters, at most 100 characters"
)
MAX_NAME_CHARS = 100


def is_plain_name(name: object) -> bool:
    """Whether ``name`` can be used as one folder name (no path tricks, at most 100 chars)."""
    return (
        isinstance(name, str)
        and 0 < len(name) <= MAX_NAME_CHARS
        and name not in (".", "..")
        and not any(char in "/\\" or ord(char) < 32 or ord(char) == 127 for char in name)
    )


def check_folder_name(name: object, *, file: str | Path | None, key: str) -> None:
    """Refuse a name that would not be one plain folder (scenario and variant names).

    Raises
    ------
    InputError
        Naming ``key`` and the value, if the name is empty, ``.``, ``..``, longer
        than 100 characters or holds a path separator or control character.
    """
    if not is_plain_name(name):
        raise InputError(
            "not a plain folder name", file=file, key=key, value=name, expected=PLAIN_NAME
        )


def _name_limit(folder: Path) -> int:
    """The longest file name (bytes) the file system of ``folder`` allows."""
    with contextlib.suppress(OSError, ValueError):
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    return 255


def _existing_ancestor(out_dir: Path) -> Path:
    """The nearest ancestor of ``out_dir`` that exists (as anything)."""
    for ancestor in out_dir.parents:
        try:
            os.lstat(ancestor)
        except FileNotFoundError:
            continue
        except OSError as error:
            raise output_failure(out_dir, error) from None
        return ancestor
    return Path(os.sep)


def _check_location(out_dir: Path) -> None:
    """Refuse an output path whose name or place cannot hold a result folder."""
    name = out_dir.name
    if name in ("", ".", ".."):
        raise OutputError(
            f"output folder {out_dir} has no plain name of its own",
            file=out_dir,
            expected="an --out whose last part is a folder name",
        )
    ancestor = _existing_ancestor(out_dir)
    if not ancestor.is_dir():
        raise OutputError(
            f"cannot create {out_dir}: {ancestor} is a file, not a folder",
            file=out_dir,
            expected="choose another --out",
        )
    limit = _name_limit(ancestor)
    size = len(os.fsencode(name))
    if size + _SIBLING_EXTRA > limit:
        raise OutputError(
            f"output folder name is {size} bytes long, too long for the file system of {ancestor}",
            file=out_dir,
            expected=f"a name of at most {limit - _SIBLING_EXTRA} bytes (the hidden staging "
            f"folder beside it adds {_SIBLING_EXTRA})",
        )


# ----------------------------------------------------------------------------- manifest
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while block := stream.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _walk(folder: Path) -> Iterator[tuple[str, Path, os.stat_result]]:
    """Every entry below ``folder`` (not following links), sorted: (relative path, path, lstat)."""
    for entry in sorted(os.listdir(folder)):
        path = folder / entry
        info = os.lstat(path)
        yield entry, path, info
        if stat.S_ISDIR(info.st_mode):
            for relative, inner, inner_info in _walk(path):
                yield f"{entry}/{relative}", inner, inner_info


def manifest_entries(folder: Path) -> dict[str, dict[str, Any]]:
    """What ``folder`` holds, by relative path: folders, and files with size and SHA-256."""
    entries: dict[str, dict[str, Any]] = {}
    for relative, path, info in _walk(folder):
        if relative == MANIFEST_NAME:
            continue
        if stat.S_ISDIR(info.st_mode):
            entries[relative] = {"type": "folder"}
        elif stat.S_ISREG(info.st_mode):
            entries[relative] = {"type": "file", "size": info.st_size, "sha256": _sha256(path)}
        else:
            entries[relative] = {"type": "other"}
    return entries


def write_manifest(folder: Path) -> None:
    """Write ``.stresstest-manifest.json``: format, version and every entry of ``folder``."""
    from stresstest._version import __version__

    document = {
        "format": MANIFEST_FORMAT,
        "format_version": MANIFEST_VERSION,
        "stresstest_version": __version__,
        "entries": manifest_entries(folder),
    }
    write_json(document, folder / MANIFEST_NAME)


def _read_manifest(out_dir: Path) -> dict[str, dict[str, Any]]:
    """The entries a folder's manifest lists; refuse a manifest that is not one of ours."""
    path = out_dir / MANIFEST_NAME
    entries: dict[str, dict[str, Any]] = {}
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        entries = document["entries"]
        valid = (
            document["format"] == MANIFEST_FORMAT
            and document["format_version"] == MANIFEST_VERSION
            and isinstance(entries, dict)
            and all(isinstance(value, dict) for value in entries.values())
        )
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        valid = False
    if not valid:
        raise OutputError(
            f"output folder {out_dir} has an unreadable or altered {MANIFEST_NAME}, so what "
            "stresstest wrote there cannot be told from the rest",
            file=out_dir,
            expected=_FOREIGN_ADVICE,
        )
    return entries


def _is_empty_folder(path: Path, info: os.stat_result) -> bool:
    return stat.S_ISDIR(info.st_mode) and not os.listdir(path)


def _check_manifest(out_dir: Path) -> None:
    """Refuse unless ``out_dir`` holds only what its manifest lists, each file unchanged.

    Neither an entry listed but missing nor an empty folder not listed is a reason to
    refuse: nothing of the user's would be lost.
    """
    listed = _read_manifest(out_dir)
    for relative, path, info in _walk(out_dir):
        if relative == MANIFEST_NAME:
            continue
        entry = listed.get(relative)
        if entry is None and _is_empty_folder(path, info):
            continue  # an empty folder holds nothing to lose
        if entry is None:
            raise OutputError(
                f"output folder {out_dir} is not empty and holds '{relative}', which "
                "stresstest did not write",
                file=out_dir,
                expected=_FOREIGN_ADVICE,
            )
        if stat.S_ISDIR(info.st_mode) and entry.get("type") == "folder":
            continue
        unchanged = (
            stat.S_ISREG(info.st_mode)
            and entry.get("type") == "file"
            and entry.get("size") == info.st_size
            and entry.get("sha256") == _sha256(path)
        )
        if not unchanged:
            raise OutputError(
                f"output folder {out_dir} holds '{relative}', changed since stresstest wrote it",
                file=out_dir,
                expected=_FOREIGN_ADVICE,
            )


def _legacy_kind(names: set[str]) -> LegacyKind | None:
    for kind in LEGACY_KINDS:
        if kind.required <= names:
            return kind
    return None


def _check_legacy(out_dir: Path) -> None:
    """Refuse a folder without a manifest unless it is wholly an earlier stresstest result."""
    names = set(os.listdir(out_dir))
    kind = _legacy_kind(names)
    if kind is None:
        first = sorted(names)[0]
        raise OutputError(
            f"output folder {out_dir} is not empty and holds '{first}'; it has no stresstest "
            "manifest and is not a complete earlier run, compare or backtest result",
            file=out_dir,
            expected=_FOREIGN_ADVICE,
        )
    for relative, path, info in _walk(out_dir):
        parts = relative.split("/")
        if len(parts) == 1:
            known = parts[0] in kind.files and stat.S_ISREG(info.st_mode)
            known = known or (
                parts[0] == "variants" and bool(kind.variant_files) and stat.S_ISDIR(info.st_mode)
            )
        elif len(parts) == 2 and parts[0] == "variants":
            known = stat.S_ISDIR(info.st_mode)
        elif len(parts) == 3 and parts[0] == "variants":
            known = parts[2] in kind.variant_files and stat.S_ISREG(info.st_mode)
        else:
            known = False
        if not known and not _is_empty_folder(path, info):
            raise OutputError(
                f"output folder {out_dir} is not empty and holds '{relative}', which is not "
                f"a file of a stresstest {kind.name} result",
                file=out_dir,
                expected=_FOREIGN_ADVICE,
            )


def check_output_dir(out_dir: Path) -> None:
    """Refuse an output folder that stresstest may not create or replace.

    It may be created if its nearest existing ancestor is a folder and its name
    leaves room for the hidden staging folder. An existing one may be replaced
    only if it is an empty folder (not a link), or holds exactly what its
    manifest lists (files unchanged), or, without a manifest, nothing but the
    files of one earlier stresstest result (:data:`LEGACY_KINDS`). Empty
    sub-folders are never a reason to refuse.

    Raises
    ------
    OutputError
        Naming the folder, the first entry that is foreign or changed, and what to do.
    """
    _check_location(out_dir)
    try:
        if out_dir.is_symlink():
            raise OutputError(
                f"output folder {out_dir} is a symbolic link",
                file=out_dir,
                expected="choose a real folder for --out",
            )
        if not out_dir.exists():
            return
        if not out_dir.is_dir():
            raise OutputError(
                f"output path {out_dir} is a file",
                file=out_dir,
                expected="choose a folder for --out",
            )
        if not os.listdir(out_dir):
            return
        if os.path.lexists(out_dir / MANIFEST_NAME):
            _check_manifest(out_dir)
        else:
            _check_legacy(out_dir)
    except OSError as error:
        raise output_failure(out_dir, error, verb="read") from None


# ----------------------------------------------------------------------------- lock
def lock_path_for(out_dir: Path) -> Path:
    """The lock file of a result folder: ``.<out>.lock`` beside it."""
    return out_dir.parent / f".{out_dir.name}.lock"


def _holder_pid(handle: int) -> str:
    with contextlib.suppress(OSError, ValueError):
        text = os.pread(handle, 32, 0).decode("ascii").strip()
        if text.isdigit():
            return text
    return "unknown"


def _acquire(lock_path: Path, out_dir: Path) -> int:
    """Take the exclusive lock on ``lock_path`` (non-blocking); return its descriptor."""
    while True:
        handle = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o666)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _holder_pid(handle)
            os.close(handle)
            raise OutputError(
                f"another stresstest process (pid {pid}) is writing {out_dir}",
                file=out_dir,
                expected="wait for it or choose another --out",
            ) from None
        except BaseException:
            os.close(handle)
            raise
        try:  # the holder before us may have removed the file we opened: lock the new one
            same = os.stat(lock_path).st_ino == os.fstat(handle).st_ino
        except FileNotFoundError:
            same = False
        if same:
            os.ftruncate(handle, 0)
            os.pwrite(handle, f"{os.getpid()}\n".encode("ascii"), 0)
            return handle
        os.close(handle)


def _make_parents(out_dir: Path) -> list[Path]:
    """Create the missing ancestors of ``out_dir``; return those created, outermost first."""
    missing = [parent for parent in out_dir.parents if not parent.exists()]
    created = []
    for parent in reversed(missing):
        with contextlib.suppress(FileExistsError):
            parent.mkdir()
            created.append(parent)
    return created


def _remove_if_empty(folders: list[Path]) -> None:
    for folder in reversed(folders):
        with contextlib.suppress(OSError):
            folder.rmdir()


def remove_stale(out_dir: Path) -> list[Path]:
    """Remove staging and retired folders of ``out_dir`` left by a killed writer.

    Call only while holding the lock of ``out_dir``: every writer of ``out_dir``
    holds it while its staging folder exists, so any found then is stale. Only
    names of the exact form ``.<out>.staging-XXXXXXXX`` and ``.<out>.old-XXXXXXXX``
    are touched. Returns the folders removed.
    """
    pattern = re.compile(re.escape(f".{out_dir.name}.") + f"(staging|old)-{_RANDOM}")
    removed = []
    with contextlib.suppress(OSError):
        for entry in os.listdir(out_dir.parent):
            path = out_dir.parent / entry
            if pattern.fullmatch(entry) and path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
    return removed


@contextlib.contextmanager
def output_lock(out_dir: Path, *, check: bool = True) -> Iterator[None]:
    """Hold the exclusive right to write the result folder ``out_dir``.

    Checks the location and, once the lock is held, removes stale staging
    folders and (with ``check``) checks that ``out_dir`` may be replaced
    (:func:`check_output_dir`). Re-entrant within one thread, so a job can hold
    it from before its checkpoint until :func:`atomic_dir` has published the
    result. Folders created for the lock are removed again if nothing was written.

    Raises
    ------
    OutputError
        If another process (or thread) holds the lock, or the location is refused.
    """
    _check_location(out_dir)
    lock_path = lock_path_for(out_dir)
    key = os.path.abspath(lock_path)
    with _HELD_GUARD:
        holder = _HELD.get(key)
    if holder == threading.get_ident():
        yield
        return
    if holder is not None:
        raise OutputError(
            f"another stresstest job of this process (pid {os.getpid()}) is writing {out_dir}",
            file=out_dir,
            expected="wait for it or choose another --out",
        )
    created: list[Path] = []
    try:
        created = _make_parents(out_dir)
        handle = _acquire(lock_path, out_dir)
    except OSError as error:
        _remove_if_empty(created)
        raise output_failure(out_dir, error) from None
    except BaseException:
        _remove_if_empty(created)
        raise
    with _HELD_GUARD:
        _HELD[key] = threading.get_ident()
    try:
        remove_stale(out_dir)
        if check:
            check_output_dir(out_dir)
        yield
    finally:
        with _HELD_GUARD:
            _HELD.pop(key, None)
        with contextlib.suppress(OSError):
            os.unlink(lock_path)
        os.close(handle)
        if not os.path.lexists(out_dir):
            _remove_if_empty(created)


# ----------------------------------------------------------------------------- folder
@contextlib.contextmanager
def atomic_dir(out_dir: Path) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out_dir`` as a whole.

    The folder is written under :func:`output_lock`, checked by
    :func:`check_output_dir` and gets a manifest (:func:`write_manifest`) before
    it is published. On any error (and on ``SystemExit``/``KeyboardInterrupt``)
    the temporary folder is removed and ``out_dir`` is left as it was; an
    operating-system error becomes an :class:`OutputError` naming ``out_dir``.
    """
    with output_lock(out_dir, check=False):
        check_output_dir(out_dir)
        try:
            staging = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.staging-"))
        except OSError as error:
            raise output_failure(out_dir, error) from None
        token = _TARGET.set((staging, out_dir))
        try:
            yield staging
            write_manifest(staging)
            _publish(staging, 0o777)
            _put_in_place(staging, out_dir)
        except OSError as error:
            shutil.rmtree(staging, ignore_errors=True)
            if _is_about(error, out_dir.parent):
                raise output_failure(out_dir, error) from None
            raise
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        finally:
            _TARGET.reset(token)


def _put_in_place(staging: Path, out_dir: Path) -> None:
    """Rename ``staging`` to ``out_dir``, retiring (then removing) the folder it replaces."""
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    retired = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f".{out_dir.name}.old-"))
    os.replace(out_dir, retired / out_dir.name)
    try:
        os.replace(staging, out_dir)
    except BaseException:
        os.replace(retired / out_dir.name, out_dir)
        os.rmdir(retired)
        raise
    shutil.rmtree(retired, ignore_errors=True)


def _is_about(error: OSError, folder: Path) -> bool:
    """Whether an ``OSError`` concerns a path in ``folder`` (or names no path at all)."""
    if error.filename is None:
        return True
    named = os.path.abspath(os.fsdecode(error.filename))
    return os.path.commonpath([named, os.path.abspath(folder)]) == os.path.abspath(folder)
