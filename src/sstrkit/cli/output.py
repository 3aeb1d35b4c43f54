"""Shared CLI plumbing: one JSON document on stdout, or a rich table; errors as one line.

Commands call :func:`emit` with a JSON-able result and a function that renders
it for people. Library errors (:class:`~sstrkit.errors.SstrkitError`) are
caught by :func:`guarded` and printed as a single line on stderr, exit code 2;
with ``--json`` the same error is also printed on stdout as one JSON document
``{"error": {"what", "expected", "actual", "fix", "type", "message", "exit_code"}}``
(plus ``path`` for file-system errors and ``holder`` for a locked output folder).
Any other :class:`OSError` escaping a command is turned into a
:class:`~sstrkit.errors.FileSystemError` (path, reason, fix) as a last resort.

Commands that write into a folder open it with :func:`output_folder` before
the work starts: the folder is created, checked for writing and locked
against a second writer (``OUT/.sstrkit.lock``, see :mod:`sstrkit.core.lock`).
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sstrkit.core.atomic import prepare_output_dir
from sstrkit.core.lock import output_lock
from sstrkit.core.provenance import jsonable
from sstrkit.errors import FileSystemError, SstrkitError

__all__ = [
    "console",
    "emit",
    "err_console",
    "error_document",
    "guarded",
    "output_folder",
    "progress_reporter",
    "table",
    "warn",
]

console = Console(highlight=False)
err_console = Console(stderr=True, highlight=False)

P = ParamSpec("P")
R = TypeVar("R")


def emit(result: Any, as_json: bool, render: Callable[[Any], None]) -> None:
    """Print ``result`` as one JSON document (``as_json``) or through ``render``."""
    if as_json:
        sys.stdout.write(json.dumps(jsonable(result), indent=2, allow_nan=False) + "\n")
    else:
        render(result)


def table(title: str, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> Table:
    """A rich table with string cells (``None`` shown as an em dash)."""
    t = Table(title=title, title_justify="left")
    for c in columns:
        t.add_column(c)
    for row in rows:
        t.add_row(*("—" if v is None else str(v) for v in row))
    return t


#: Exit status of every error sstrkit reports on purpose.
ERROR_EXIT_CODE = 2


def warn(message: str) -> None:
    """One warning line on stderr (never on stdout, which may carry the JSON document)."""
    err_console.print(f"warning: {message}", soft_wrap=True, markup=False)


def error_document(exc: SstrkitError) -> dict[str, Any]:
    """The ``--json`` form of an error: ``{"error": {..., "exit_code": 2}}``.

    >>> from sstrkit.errors import InvalidInputError
    >>> doc = error_document(InvalidInputError("--sex", expected="F or M", actual="X"))
    >>> doc["error"]["fix"], doc["error"]["exit_code"]
    ('correct --sex: use F or M', 2)
    """
    return {"error": {**exc.to_dict(), "exit_code": ERROR_EXIT_CODE}}


def _fail(exc: SstrkitError, as_json: bool) -> NoReturn:
    err_console.print(f"error: {exc.one_line()}", soft_wrap=True, markup=False)
    if as_json:
        text = json.dumps(error_document(exc), indent=2, default=str)
        sys.stdout.write(text + "\n")
        sys.stdout.flush()
    raise typer.Exit(code=ERROR_EXIT_CODE) from None


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn errors into one line on stderr and exit status 2.

    :class:`SstrkitError` is reported as it is; any other :class:`OSError`
    (a file that cannot be read or written) becomes a
    :class:`~sstrkit.errors.FileSystemError` naming the path and a fix. With
    ``--json`` (the command's ``as_json`` parameter) the error is also printed
    on stdout as one JSON document (:func:`error_document`).
    """

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        as_json = bool(kwargs.get("as_json", False))
        try:
            return func(*args, **kwargs)
        except SstrkitError as exc:
            _fail(exc, as_json)
        except BrokenPipeError:
            # stdout was closed by the reader (``| head``): nothing left to say there.
            raise typer.Exit(code=ERROR_EXIT_CODE) from None
        except OSError as exc:
            _fail(FileSystemError.from_os_error(exc), as_json)

    return wrapper


@contextmanager
def output_folder(out: Path, what: str = "--out", *, command: str) -> Iterator[Path]:
    """Create and check the output folder ``out``, then hold its lock for the block.

    Call it before the work starts: a path that is a file, a read-only folder
    or a folder another sstrkit process writes into fails at once (exit 2).
    A lock left by a process that no longer runs is taken over with a warning.
    """
    prepare_output_dir(out, what)
    with output_lock(out, command=command, warn=warn):
        yield out


@contextmanager
def progress_reporter(enabled: bool) -> Iterator[Callable[[str], None]]:
    """A ``progress(message)`` callback: a spinner with elapsed time on stderr.

    Disabled (a no-op) for ``--json`` so that stdout stays one JSON document.
    """
    if not enabled:
        yield lambda _message: None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("starting", total=None)
        yield lambda message: bar.update(task, description=message)
