"""One writer per output folder: the lock file ``OUT/.sstrkit.lock``.

:func:`output_lock` creates the lock file atomically (``O_CREAT | O_EXCL``)
with the holder's pid, host, start time and command as JSON, and removes it
when the block ends (normally or by an exception, Ctrl-C included). A second
writer to the same folder gets :class:`~sstrkit.errors.OutputLockedError`
(exit status 2 in the CLI) naming the holder at once.

A lock whose holder is gone is taken over with a warning: the holder ran on
this host and its pid is no longer running (or now belongs to a process that
started after the lock was written, i.e. the pid was reused). A lock written
on another host cannot be checked and is respected; the error says how to
remove it by hand. The take-over renames the stale file away before creating
a new one, so that of two processes taking over at the same time only one wins.

Examples
--------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp())
>>> with output_lock(out, command="doctest") as lock:
...     read_lock(lock)["command"], lock.name
('doctest', '.sstrkit.lock')
>>> (out / LOCK_NAME).exists()
False
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sstrkit.errors import FileSystemError, OutputLockedError

__all__ = ["LOCK_NAME", "holder_alive", "output_lock", "read_lock"]

#: Name of the lock file inside the output folder.
LOCK_NAME = ".sstrkit.lock"

#: A lock file still empty after this many seconds is from a writer that died
#: between creating and filling it.
_EMPTY_GRACE_S = 10.0


def _warn_stderr(message: str) -> None:
    sys.stderr.write(f"warning: {message}\n")


def read_lock(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The holder recorded in a lock file (``None``: missing, empty or unreadable)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    try:
        data = json.loads(text)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def _process_start_time(pid: int) -> float | None:
    """Start time (Unix seconds) of process ``pid`` from ``/proc`` (Linux); else ``None``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        fields = stat[stat.rindex(")") + 2 :].split()
        ticks = int(fields[19])  # field 22 of stat: start time in clock ticks after boot
        with open("/proc/stat", encoding="ascii") as fh:
            btime = next(int(line.split()[1]) for line in fh if line.startswith("btime"))
        return btime + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def holder_alive(holder: dict[str, Any]) -> bool | None:
    """Whether the process that wrote ``holder`` still runs (``None``: cannot tell).

    Only a holder on this host can be checked. A running pid that started more
    than two seconds after the lock was written is another process (the pid was
    reused), so the holder is gone.

    >>> holder_alive({"pid": os.getpid(), "host": socket.gethostname()})
    True
    >>> holder_alive({"pid": os.getpid(), "host": "elsewhere.invalid"}) is None
    True
    """
    pid = holder.get("pid")
    if holder.get("host") != socket.gethostname() or not isinstance(pid, int) or pid <= 0:
        return None
    if os.name == "nt":  # os.kill(pid, 0) would terminate the holder on Windows
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a running process of another user
    except OSError:
        return None
    started = holder.get("started_unix")
    begun = _process_start_time(pid)
    reused = isinstance(started, int | float) and begun is not None and begun > started + 2.0
    return not reused


def _describe(holder: dict[str, Any]) -> str:
    parts = [f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}"]
    if holder.get("started"):
        parts.append(f"since {holder['started']}")
    if holder.get("command"):
        parts.append(f"({holder['command']})")
    return " ".join(parts)


def _try_create(path: Path, record: dict[str, Any]) -> bool:
    """Create the lock file with ``record``; ``False`` if it already exists."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return False
    except OSError as exc:
        raise FileSystemError.from_os_error(exc, "output lock") from None
    try:
        os.write(fd, (json.dumps(record) + "\n").encode("utf-8"))
    except OSError as exc:
        os.close(fd)
        with contextlib.suppress(OSError):
            os.unlink(path)
        raise FileSystemError.from_os_error(exc, "output lock") from None
    os.close(fd)
    return True


def _stale(path: Path, holder: dict[str, Any] | None) -> bool:
    """Whether the lock at ``path`` (holding ``holder``) may be taken over."""
    if holder is None:
        try:
            st = path.stat()
        except FileNotFoundError:
            return True
        except OSError:
            return False
        if st.st_size > 0:  # a record we cannot read (another user's lock): held
            return False
        return time.time() - st.st_mtime > _EMPTY_GRACE_S
    return holder_alive(holder) is False


def _take_over(path: Path, holder: dict[str, Any] | None) -> bool:
    """Move the stale lock away; ``False`` if another process changed it meanwhile."""
    aside = path.with_name(f"{LOCK_NAME}.stale-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return True  # already gone: simply try to create it again
    except OSError as exc:
        raise FileSystemError.from_os_error(exc, "output lock") from None
    if read_lock(aside) != holder:
        # Another process replaced the stale lock between our read and the rename:
        # put its lock back (link fails if yet another one exists) and retry.
        with contextlib.suppress(OSError):
            os.link(aside, path)
        with contextlib.suppress(OSError):
            os.unlink(aside)
        return False
    with contextlib.suppress(OSError):
        os.unlink(aside)
    return True


@contextlib.contextmanager
def output_lock(
    out: str | os.PathLike[str],
    *,
    command: str = "sstrkit",
    warn: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold ``OUT/.sstrkit.lock`` for the block; yield its path.

    ``out`` must exist (see :func:`sstrkit.core.atomic.prepare_output_dir`).
    ``warn`` receives the message when a dead holder's lock is taken over
    (default: a line on stderr).

    Raises
    ------
    OutputLockedError
        Another live process holds the lock (or one on another host, or one
        that is being created right now).
    """
    say = warn or _warn_stderr
    path = Path(out) / LOCK_NAME
    now = time.time()
    record = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "started": _dt.datetime.fromtimestamp(now).astimezone().isoformat(timespec="seconds"),
        "started_unix": now,
        "command": command,
        "token": secrets.token_hex(8),
    }
    taken: str | None = None
    for _attempt in range(5):
        if _try_create(path, record):
            if taken is not None:
                say(f"took over the lock {path} left by {taken}, which is no longer running")
            break
        holder = read_lock(path)
        if not _stale(path, holder):
            who = _describe(holder) if holder else "a process that is creating it now"
            raise OutputLockedError(
                f"output folder {out}",
                expected="no other sstrkit process writing into it",
                actual=f"locked by {who}",
                fix=(
                    "wait for that run to finish or choose another output folder; if it is no "
                    f"longer running, delete {path}"
                ),
                path=path,
                holder=holder,
            )
        if _take_over(path, holder):
            taken = _describe(holder) if holder else "a writer that died while creating it"
    else:
        raise OutputLockedError(
            f"output folder {out}",
            expected="a lock that can be taken",
            actual="other processes keep taking it over",
            fix="run one sstrkit process per output folder",
            path=path,
        )
    try:
        yield path
    finally:
        if read_lock(path) == record:
            with contextlib.suppress(OSError):
                path.unlink()
