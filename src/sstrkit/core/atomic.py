"""Atomic output: a failed run never leaves a half-written file.

Every writer in sstrkit writes to a temporary file in the destination folder
and moves it into place with :func:`os.replace` (atomic on POSIX and Windows
within one file system). Use :func:`atomic_path` for writers that need a path
(numpy, matplotlib, pydicom, SimpleITK) and the helpers for text and JSON.

Written files get the mode every Unix tool gives a new file, ``0o666`` less
the process umask (:func:`output_file_mode`; 0644 with the usual umask 022),
not the 0600 of the temporary file. Writers outside this module that create
their own temporary files call :func:`apply_output_mode` before the rename.

Commands check their outputs *before* the work starts:
:func:`prepare_output_dir` creates an output folder and checks that it can be
written, :func:`check_output_file` does the same for the folder of an output
file and refuses an existing folder in its place. Both raise
:class:`~sstrkit.errors.FileSystemError` (exit status 2 in the CLI) with the
path and a fix.

Examples
--------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
>>> with atomic_path(out) as tmp:
...     _ = tmp.write_text("hi")
>>> out.read_text(), sorted(p.name for p in out.parent.iterdir())
('hi', ['x.txt'])
>>> out.stat().st_mode & 0o777 == output_file_mode()
True
>>> prepare_output_dir(out, "--out")  # doctest: +ELLIPSIS
Traceback (most recent call last):
    ...
sstrkit.errors.FileSystemError: --out: expected a folder (or a path that does not exist yet), \
got .../x.txt, a file. Fix: choose another folder, or move the file .../x.txt away
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sstrkit.core.provenance import jsonable
from sstrkit.errors import FileSystemError, InvalidInputError

__all__ = [
    "apply_output_mode",
    "atomic_path",
    "check_output_file",
    "current_umask",
    "output_file_mode",
    "prepare_output_dir",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]

_UMASK_LOCK = threading.Lock()
_UMASK_CACHE: list[int] = []


def _umask_from_proc() -> int | None:
    """The umask from ``/proc/self/status`` (Linux ≥ 4.7): read without changing it."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        return None
    return None


def current_umask() -> int:
    """The process umask.

    Read from ``/proc/self/status`` where the kernel offers it (no side effect,
    follows later ``os.umask`` calls). Elsewhere it is read once, at first use,
    under a lock: ``os.umask`` can only be read by setting it, so it is set to
    the restrictive 077 for that instant (a file another thread creates in that
    instant is private rather than world-writable) and restored.

    >>> 0 <= current_umask() <= 0o777
    True
    """
    mask = _umask_from_proc()
    if mask is not None:
        return mask
    with _UMASK_LOCK:
        if not _UMASK_CACHE:
            old = os.umask(0o077)
            os.umask(old)
            _UMASK_CACHE.append(old)
        return _UMASK_CACHE[0]


def output_file_mode() -> int:
    """Permission bits of a new output file: ``0o666 & ~umask`` (0644 for umask 022)."""
    return 0o666 & ~current_umask()


def apply_output_mode(path: str | os.PathLike[str]) -> None:
    """Give ``path`` (a temporary file about to be renamed) the mode of a new file.

    Best effort: file systems without Unix modes (vfat, some SMB mounts) refuse chmod;
    the file keeps the mode they give it.
    """
    with contextlib.suppress(PermissionError, NotImplementedError, OSError):
        os.chmod(path, output_file_mode())


# ------------------------------------------------------------------ output checks


def _first_existing(path: Path) -> Path:
    """``path`` or the nearest of its parents that exists (a link counts, even broken)."""
    cur = path
    while not os.path.lexists(cur):
        parent = cur.parent
        if parent == cur:
            break
        cur = parent
    return cur


def _kind(path: Path) -> str:
    if path.is_symlink() and not path.exists():
        return "a broken symbolic link"
    if path.is_file():
        return "a file"
    return "not a folder"


def _unwritable(folder: Path) -> str | None:
    """Why new files cannot be made in ``folder`` (``None``: they can)."""
    if not os.access(folder, os.W_OK | os.X_OK):
        return "no write permission"
    try:
        fd, name = tempfile.mkstemp(prefix=".sstrkit-write-test-", dir=folder)
    except OSError as exc:
        return exc.strerror.lower() if exc.strerror else type(exc).__name__
    os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(name)
    return None


def _not_writable_error(what: str, folder: Path, why: str, target: Path) -> FileSystemError:
    return FileSystemError(
        what,
        expected="a folder you may write to",
        actual=f"{folder} ({why})",
        fix=f"choose another path than {target}, or make {folder} writable (chmod u+w {folder})",
        path=folder,
    )


def prepare_output_dir(path: str | os.PathLike[str], what: str = "output folder") -> Path:
    """Create the output folder ``path`` (with its parents) and check it can be written.

    Call it at the start of a command, before any work, so that a bad output
    path fails in a second, not after the computation. ``what`` names the
    option (``"--out"``) in the error.

    Raises
    ------
    FileSystemError
        ``path`` is a file; a parent is a file; the folder cannot be created
        or written (permission, read-only file system, ...).
    """
    p = Path(path)
    existing = _first_existing(p)
    if existing == p and not p.is_dir():
        raise FileSystemError(
            what,
            expected="a folder (or a path that does not exist yet)",
            actual=f"{p}, {_kind(p)}",
            fix=f"choose another folder, or move the file {p} away",
            path=p,
        )
    if existing != p and not existing.is_dir():
        raise FileSystemError(
            what,
            expected="a path whose parents are folders",
            actual=f"{p}, whose parent {existing} is {_kind(existing)}",
            fix=f"choose another path: {existing} is not a folder",
            path=p,
        )
    if existing != p:
        why = _unwritable(existing)
        if why is not None:
            raise _not_writable_error(what, existing, why, p)
        try:
            p.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FileSystemError.from_os_error(exc, what) from None
    why = _unwritable(p)
    if why is not None:
        raise _not_writable_error(what, p, why, p)
    return p


def check_output_file(
    path: str | os.PathLike[str],
    what: str = "output file",
    *,
    make_parents: bool = True,
    example: str = "NAME",
) -> Path:
    """Check, before the work, that the file ``path`` can be written.

    Its folder is created (``make_parents``; otherwise it must exist) and must be
    writable; ``path`` itself must not be an existing folder. An existing file
    is fine: it is replaced atomically. ``example`` is the file name suggested
    when a folder is given.

    Raises
    ------
    FileSystemError
        ``path`` is a folder, a parent is a file, or the folder cannot be
        created or written.
    InvalidInputError
        ``make_parents`` is false and the folder does not exist.
    """
    p = Path(path)
    if p.is_dir():
        raise FileSystemError(
            what,
            expected="a file name",
            actual=f"{p}, an existing folder",
            fix=f"give a file name, e.g. {p / example}",
            path=p,
        )
    parent = p.parent
    existing = _first_existing(parent)
    if not existing.is_dir():
        raise FileSystemError(
            what,
            expected="a path whose parents are folders",
            actual=f"{p}, whose parent {existing} is {_kind(existing)}",
            fix=f"choose another path: {existing} is not a folder",
            path=p,
        )
    if make_parents:
        prepare_output_dir(parent, what)
        return p
    if not parent.is_dir():
        raise InvalidInputError(
            what,
            expected="a file in an existing folder",
            actual=f"{p} (no folder {parent})",
            fix=f"create the folder first (mkdir -p {parent})",
        )
    why = _unwritable(parent)
    if why is not None:
        raise _not_writable_error(what, parent, why, p)
    return p


# ------------------------------------------------------------------ writers


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it into place on success.

    The temporary name keeps the target's suffix (some writers choose the
    format from it) and starts with a dot; it is removed if the block fails.
    The file gets the mode of a new file (:func:`output_file_mode`). Failures
    to create the folder or the temporary file, or to move it into place, are
    :class:`~sstrkit.errors.FileSystemError`.
    """
    dest = Path(target)
    try:
        if make_parents:
            dest.parent.mkdir(parents=True, exist_ok=True)
        elif not dest.parent.is_dir():
            raise InvalidInputError(
                "output folder",
                expected="an existing folder",
                actual=str(dest.parent),
                fix="create the folder first",
            )
        suffix = "".join(dest.suffixes) or dest.suffix
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
        os.close(fd)
    except OSError as exc:
        raise FileSystemError.from_os_error(exc, f"output {dest}") from None
    tmp = Path(tmp_name)
    try:
        yield tmp
        try:
            apply_output_mode(tmp)
            os.replace(tmp, dest)
        except OSError as exc:
            raise FileSystemError.from_os_error(exc, f"output {dest}") from None
    finally:
        tmp.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def write_json_atomic(target: str | os.PathLike[str], data: Any) -> Path:
    """Write ``data`` (made JSON-able, NaN refused) as indented JSON atomically."""
    return write_text_atomic(target, json.dumps(jsonable(data), indent=2, allow_nan=False) + "\n")


def write_csv_atomic(
    target: str | os.PathLike[str], header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Path:
    """Write a CSV table (header with units in the names, ``None`` as empty) atomically."""
    with atomic_path(target) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for row in rows:
            writer.writerow(["" if v is None else v for v in row])
    return Path(target)
