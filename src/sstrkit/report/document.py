"""The report's document model: sections of text, tables and figures, rendered to HTML.

A :class:`Report` is built from :class:`Section` objects; each section holds
paragraphs, :class:`TableBlock` (columns with units in their headers) and
:class:`Figure` (a PNG embedded as base64, so the HTML opens offline). The
HTML is rendered with jinja2 (autoescaped) and written atomically.

Examples
--------
>>> rep = Report(title="Demo", subtitle="synthetic patient")
>>> sec = rep.section("Doses")
>>> sec.add_table(TableBlock("Organ doses", ["organ", "dose (Gy)"], [["kidneys", 3.21]]))
>>> html = rep.to_html()
>>> "kidneys" in html and "<script" not in html
True
"""

from __future__ import annotations

import base64
import datetime as dt
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from sstrkit import __version__
from sstrkit.core.atomic import write_text_atomic

__all__ = ["Figure", "Report", "Section", "TableBlock", "format_cell", "write_text_atomic"]

_TEMPLATES = Path(__file__).parent / "templates"


def format_cell(value: Any) -> str:
    """Render a table cell: floats to 4 significant digits, None as an em dash."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


@dataclass
class TableBlock:
    """A table whose column headers carry their units, e.g. ``"dose (Gy)"``."""

    caption: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    note: str = ""

    def formatted_rows(self) -> list[list[str]]:
        return [[format_cell(v) for v in row] for row in self.rows]


@dataclass
class Figure:
    """A PNG figure with a caption, embedded in the HTML as a data URI."""

    caption: str
    png: bytes

    @classmethod
    def from_matplotlib(cls, fig: Any, caption: str, *, dpi: int = 110) -> Figure:
        """Render a matplotlib figure to PNG (and close it)."""
        import matplotlib.pyplot as plt

        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
        plt.close(fig)
        return cls(caption, buf.getvalue())

    @property
    def data_uri(self) -> str:
        return "data:image/png;base64," + base64.b64encode(self.png).decode("ascii")


@dataclass
class Section:
    """One report section: an ordered list of paragraphs, tables and figures."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)
    status: str = "ok"  # "ok", "skipped" or "partial": said in the report

    def add_text(self, text: str) -> None:
        self.blocks.append(("text", text))

    def add_table(self, table: TableBlock) -> None:
        self.blocks.append(("table", table))

    def add_figure(self, figure: Figure) -> None:
        self.blocks.append(("figure", figure))

    def add_kv(self, caption: str, items: dict[str, Any]) -> None:
        """A two-column table of named values."""
        self.add_table(TableBlock(caption, ["item", "value"], [[k, v] for k, v in items.items()]))


@dataclass
class Report:
    """A self-contained HTML report."""

    title: str
    subtitle: str = ""
    sections: list[Section] = field(default_factory=list)
    created: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def section(self, title: str) -> Section:
        sec = Section(title)
        self.sections.append(sec)
        return sec

    def to_html(self) -> str:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(_TEMPLATES),
            autoescape=jinja2.select_autoescape(["html", "j2"]),
            undefined=jinja2.StrictUndefined,
        )
        return env.get_template("report.html.j2").render(
            report=self, version=__version__, created=self.created.strftime("%Y-%m-%d %H:%M UTC")
        )

    def write(self, path: Path) -> Path:
        """Write the HTML atomically; returns the path."""
        write_text_atomic(Path(path), self.to_html())
        return Path(path)
