"""Small, strict readers for the follow-up tables (cohort, lesions, laboratory values).

Tables are read with the standard :mod:`csv` module (the main path) or, when
``pyarrow`` happens to be importable, from Parquet. Every problem is reported
as an :class:`~sstrkit.errors.InvalidInputError` that names the file, the row
(1-based, header = row 1) and the column, so that a bad cohort never turns
into a silently wrong number. Writers are atomic (temporary file in the same
folder, then :func:`os.replace`).

Examples
--------
>>> import tempfile, pathlib
>>> d = pathlib.Path(tempfile.mkdtemp())
>>> _ = (d / "c.csv").write_text("id,months,event\\na,3.5,1\\nb,7,0\\n")
>>> t = read_table(d / "c.csv")
>>> t.float_column("months"), t.bool_column("event")
((3.5, 7.0), (True, False))
>>> try:
...     t.float_column("weeks")
... except InvalidInputError as exc:
...     print(exc.what)
column 'weeks' in c.csv
"""

from __future__ import annotations

import contextlib
import csv
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from sstrkit.core import atomic as _atomic
from sstrkit.errors import InvalidInputError

__all__ = ["Table", "atomic_path", "parse_bool", "read_table", "write_text_atomic"]

_TRUE = frozenset({"1", "true", "yes", "y", "t"})
_FALSE = frozenset({"0", "false", "no", "n", "f"})
_MISSING = frozenset({"", "na", "nan", "n/a", "none", "null", "-"})


def parse_bool(text: object, *, what: str) -> bool:
    """Read 1/0, true/false, yes/no (any case) as a boolean.

    >>> parse_bool("Yes", what="event"), parse_bool(0, what="event")
    (True, False)
    """
    if isinstance(text, bool):
        return text
    s = str(text).strip().lower()
    if s.endswith(".0"):
        s = s[:-2]
    if s in _TRUE:
        return True
    if s in _FALSE:
        return False
    raise InvalidInputError(
        what, expected="1/0, true/false or yes/no", actual=repr(text), fix="recode the value"
    )


def is_missing(text: object) -> bool:
    """Whether a cell is empty / NA."""
    return text is None or str(text).strip().lower() in _MISSING


@dataclass(frozen=True)
class Table:
    """Rows of a table as strings, with typed column accessors.

    Attributes
    ----------
    name
        File name (for messages).
    columns
        Header names, in file order.
    rows
        One mapping column → cell text per data row.
    """

    name: str
    columns: tuple[str, ...]
    rows: tuple[Mapping[str, str], ...]

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[Mapping[str, str]]:
        return iter(self.rows)

    def require(self, *columns: str) -> None:
        """Raise when one of ``columns`` is absent."""
        for c in columns:
            if c not in self.columns:
                raise InvalidInputError(
                    f"column {c!r} in {self.name}",
                    expected=f"one of {sorted(self.columns)}",
                    actual=repr(c),
                    fix="name an existing column (the header is the first line)",
                )

    def has(self, column: str) -> bool:
        return column in self.columns

    def cell(self, index: int, column: str) -> str:
        self.require(column)
        return self.rows[index].get(column, "")

    def where(self, index: int, column: str) -> str:
        """Human location of a cell: ``file row N column 'c'`` (header is row 1)."""
        return f"{self.name} row {index + 2} column {column!r}"

    def float_at(
        self,
        index: int,
        column: str,
        *,
        allow_missing: bool = False,
        minimum: float | None = None,
    ) -> float | None:
        """The cell as a finite float (``None`` when missing and allowed)."""
        text = self.cell(index, column)
        if is_missing(text):
            if allow_missing:
                return None
            raise InvalidInputError(
                self.where(index, column),
                expected="a number",
                actual="an empty cell",
                fix="fill in the value or drop the row",
            )
        try:
            value = float(text)
        except ValueError:
            raise InvalidInputError(
                self.where(index, column),
                expected="a number (decimal point '.', no unit)",
                actual=repr(text),
                fix="write a plain number; the unit is in the column name",
            ) from None
        if not math.isfinite(value):
            raise InvalidInputError(
                self.where(index, column), expected="a finite number", actual=repr(text)
            )
        if minimum is not None and value < minimum:
            raise InvalidInputError(
                self.where(index, column),
                expected=f"a value ≥ {minimum:g}",
                actual=repr(text),
                fix="correct the value",
            )
        return value

    def float_column(self, column: str, *, minimum: float | None = None) -> tuple[float, ...]:
        """A whole column as floats; any missing or bad cell raises."""
        self.require(column)
        out: list[float] = []
        for i in range(len(self.rows)):
            v = self.float_at(i, column, minimum=minimum)
            assert v is not None
            out.append(v)
        return tuple(out)

    def bool_at(self, index: int, column: str, *, default: bool | None = None) -> bool:
        text = self.cell(index, column) if self.has(column) else ""
        if is_missing(text):
            if default is not None:
                return default
            raise InvalidInputError(
                self.where(index, column),
                expected="1/0, true/false or yes/no",
                actual="an empty cell",
                fix="fill in the value",
            )
        return parse_bool(text, what=self.where(index, column))

    def bool_column(self, column: str) -> tuple[bool, ...]:
        self.require(column)
        return tuple(self.bool_at(i, column) for i in range(len(self.rows)))

    def str_column(self, column: str) -> tuple[str, ...]:
        self.require(column)
        return tuple(r.get(column, "").strip() for r in self.rows)


def _read_csv(path: Path) -> Table:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInputError(
            "table file", expected="an existing CSV file", actual=str(path), fix="check the path"
        ) from None
    except UnicodeDecodeError:
        raise InvalidInputError(
            f"table file {path.name}",
            expected="UTF-8 text (CSV)",
            actual="binary or another encoding",
            fix="export the table as UTF-8 CSV",
        ) from None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        raise InvalidInputError(
            f"table file {path.name}",
            expected="a header line and at least one data row",
            actual="an empty file",
            fix="write a CSV with a header line",
        )
    dialect: type[csv.Dialect] | csv.Dialect = csv.excel
    with contextlib.suppress(csv.Error):
        dialect = csv.Sniffer().sniff(lines[0], delimiters=",;\t")
    reader = csv.reader(lines, dialect)
    header = [h.strip() for h in next(reader)]
    if len(set(header)) != len(header) or any(not h for h in header):
        raise InvalidInputError(
            f"header of {path.name}",
            expected="unique, non-empty column names",
            actual=header,
            fix="rename the duplicate or empty columns",
        )
    rows: list[dict[str, str]] = []
    for n, raw in enumerate(reader, start=2):
        if len(raw) != len(header):
            raise InvalidInputError(
                f"{path.name} row {n}",
                expected=f"{len(header)} cells like the header",
                actual=f"{len(raw)} cells",
                fix="check for a missing or extra delimiter",
            )
        rows.append({h: c.strip() for h, c in zip(header, raw, strict=True)})
    if not rows:
        raise InvalidInputError(
            f"table file {path.name}",
            expected="at least one data row",
            actual="only a header",
            fix="add data rows",
        )
    return Table(path.name, tuple(header), tuple(rows))


def _read_parquet(path: Path) -> Table:
    """A Parquet table (pyarrow) as text cells, like a CSV (empty cell for null)."""
    import pyarrow.parquet as pq

    if not path.is_file():
        raise InvalidInputError(
            f"table file {path}",
            expected="an existing Parquet file",
            actual="no such file",
            fix="check the path",
        )
    try:
        data = pq.read_table(path).to_pydict()
    except (OSError, ValueError) as exc:  # pyarrow.ArrowInvalid is a ValueError
        raise InvalidInputError(
            f"table file {path.name}",
            expected="a readable Parquet file",
            actual=f"{type(exc).__name__}: {exc}",
            fix="re-export the table (Parquet or CSV)",
        ) from None
    header = tuple(str(k) for k in data)
    n = len(next(iter(data.values()))) if data else 0
    if not n:
        raise InvalidInputError(
            f"table file {path.name}",
            expected="at least one data row",
            actual="no rows",
            fix="add data rows",
        )
    rows = tuple(
        {h: "" if data[h][i] is None else str(data[h][i]) for h in header} for i in range(n)
    )
    return Table(path.name, header, rows)


def read_table(path: str | os.PathLike[str]) -> Table:
    """Read a CSV (``,``/``;``/tab) or Parquet table into a :class:`Table`."""
    p = Path(path)
    if p.suffix.lower() in {".parquet", ".pq"}:
        return _read_parquet(p)
    return _read_csv(p)


def table_from_records(name: str, records: Sequence[Mapping[str, object]]) -> Table:
    """A :class:`Table` from in-memory records (cells converted to text)."""
    if not records:
        raise InvalidInputError(name, expected="at least one record", actual="none")
    header = tuple(dict.fromkeys(k for r in records for k in r))
    rows = tuple({h: "" if r.get(h) is None else str(r.get(h)) for h in header} for r in records)
    return Table(name, header, rows)


def atomic_path(target: str | os.PathLike[str]) -> contextlib.AbstractContextManager[Path]:
    """Atomic writing into an existing folder (follow-up outputs never create folders)."""
    return _atomic.atomic_path(target, make_parents=False)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically and return the path."""
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(target)
