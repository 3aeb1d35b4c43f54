"""docs/web.md documents every route of the OpenAPI schema and shows existing screenshots."""

from __future__ import annotations

import re
from pathlib import Path

from sstrkit.web import WebSettings, create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "web.md"


def test_every_route_is_in_the_guide(tmp_path: Path) -> None:
    app = create_app(WebSettings(registry=str(tmp_path / "r.sqlite"), cache_dir=tmp_path))
    text = DOC.read_text("utf-8")
    rows = [line for line in text.splitlines() if line.startswith("| GET") or
            line.startswith("| POST")]  # fmt: skip
    documented = set()
    for line in rows:
        methods, path = (cell.strip() for cell in line.split("|")[1:3])
        for m in methods.split(","):
            documented.add((m.strip(), path.strip("`")))
    schema = app.openapi()
    routes = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert documented == routes
    assert "/openapi.json" in text
    app.state.registry.close()


def test_the_screenshots_exist() -> None:
    images = re.findall(r"!\[[^\]]*\]\((img/[^)]+)\)", DOC.read_text("utf-8"))
    assert len(images) == 6
    for rel in images:
        assert (DOC.parent / rel).is_file(), rel
