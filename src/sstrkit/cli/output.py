"""Shared CLI plumbing: one JSON document on stdout, or a rich table; errors as one line.

Commands call :func:`emit` with a JSON-able result and a function that renders
it for people. Library errors (:class:`~sstrkit.errors.SstrkitError`) are
caught by :func:`guarded` and printed as a single line on stderr, exit code 2.
"""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from sstrkit.core.provenance import jsonable
from sstrkit.errors import SstrkitError

__all__ = ["console", "emit", "err_console", "guarded", "progress_reporter", "table"]

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


def guarded(func: Callable[P, R]) -> Callable[P, R]:
    """Turn :class:`SstrkitError` into one line on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return func(*args, **kwargs)
        except SstrkitError as exc:
            err_console.print(f"error: {exc.one_line()}", soft_wrap=True, markup=False)
            raise typer.Exit(code=2) from None

    return wrapper


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
