"""Report document model: escaping, self-contained HTML, atomic writing."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pytest

from sstrkit.report.document import Figure, Report, TableBlock, format_cell


def _report() -> Report:
    rep = Report(title="Theranostic report", subtitle="seed 7")
    sec = rep.section("Organ doses")
    sec.add_text("Kidney dose <check> & limits")
    sec.add_table(TableBlock("Doses", ["organ", "dose (Gy)"], [["kidneys", 3.14159], ["x", None]]))
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    sec.add_figure(Figure.from_matplotlib(fig, "TAC"))
    rep.section("Follow-up").status = "skipped"
    return rep


def test_html_is_escaped_and_self_contained() -> None:
    html = _report().to_html()
    assert "Kidney dose &lt;check&gt; &amp; limits" in html
    assert "3.142" in html and "—" in html  # 4 significant digits; None as em dash
    assert "data:image/png;base64," in html
    # Opens offline: no external resources.
    assert not re.search(r'(src|href)="(https?:)?//', html)
    assert "Section status: skipped" in html


def test_write_is_atomic(tmp_path: Path) -> None:
    out = _report().write(tmp_path / "report" / "index.html")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert [p.name for p in out.parent.iterdir()] == ["index.html"]


@pytest.mark.parametrize(
    ("value", "text"), [(None, "—"), (True, "yes"), (0.000123456, "0.0001235"), (12, "12")]
)
def test_format_cell(value: object, text: str) -> None:
    assert format_cell(value) == text
