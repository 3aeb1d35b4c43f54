"""Atomic output: a failed run never leaves a half-written file.

Every writer in sstrkit writes to a temporary file in the destination folder
and moves it into place with :func:`os.replace` (atomic on POSIX and Windows
within one file system). Use :func:`atomic_path` for writers that need a path
(numpy, matplotlib, pydicom, SimpleITK) and the helpers for text and JSON.

Examples
--------
>>> import tempfile, pathlib
>>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
>>> with atomic_path(out) as tmp:
...     _ = tmp.write_text("hi")
>>> out.read_text(), sorted(p.name for p in out.parent.iterdir())
('hi', ['x.txt'])
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sstrkit.core.provenance import jsonable

__all__ = [
    "atomic_path",
    "write_bytes_atomic",
    "write_csv_atomic",
    "write_json_atomic",
    "write_text_atomic",
]


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], *, make_parents: bool = True) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it into place on success.

    The temporary name keeps the target's suffix (some writers choose the
    format from it) and starts with a dot; it is removed if the block fails.
    """
    dest = Path(target)
    if make_parents:
        dest.parent.mkdir(parents=True, exist_ok=True)
    elif not dest.parent.is_dir():
        from sstrkit.errors import InvalidInputError

        raise InvalidInputError(
            "output folder",
            expected="an existing folder",
            actual=str(dest.parent),
            fix="create the folder first",
        )
    suffix = "".join(dest.suffixes) or dest.suffix
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=suffix, dir=dest.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, dest)
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
