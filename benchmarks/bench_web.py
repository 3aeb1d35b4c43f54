"""Web review benchmark: patient-list latency for 1 000 patients, first viewer render.

Usage (from the repository root, after ``make web-assets``; the viewer part needs the
demo run, ``sstrkit demo --out demo-output``, and Debian's chromium + chromium-driver)::

    .venv/bin/python benchmarks/bench_web.py [--patients 1000] [--run demo-output]

* **Patient list**: 1 000 synthetic patients (one run each, shaped like the demo's:
  4 cycles, 12 organ-level regions, labs, a reading; ``synthetic_run`` of
  benchmarks/bench_registry.py) in a SQLite registry; ``GET /api/patients`` over HTTP
  on a loopback port, logged in (session lookup included), median and best of 20.
  Target < 200 ms.
* **First viewer render**: the viewer page of the demo run (cycle 1: CT, dose map, VOI
  outlines) in headless Chromium with software WebGL (SwiftShader); the page's own
  measurement ``performance.now()`` from navigation start to the first frame after
  the three images are loaded and drawn (``window.sstrkitViewer.firstRenderMs``),
  median and best of 5 page loads (the CT conversion is cached after the first).
  Target < 2 s. The volume sizes are printed.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import statistics
import struct
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PASSWORD = "benchmark password"
ROOT = Path(__file__).resolve().parents[1]
# the web tests' helpers (a live uvicorn server, a chromedriver client)
sys.path.insert(0, str(ROOT / "tests" / "web"))


def _synthetic_run() -> Any:
    spec = importlib.util.spec_from_file_location(
        "bench_registry", ROOT / "benchmarks" / "bench_registry.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.synthetic_run


def _login(base: str) -> Any:
    import re

    import httpx

    c = httpx.Client(base_url=base, timeout=60)
    page = c.get("/").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token is not None
    c.post("/login", data={"name": "bench", "password": PASSWORD, "csrf_token": token.group(1)})
    return c


def patient_list(n: int, tmp: Path) -> None:
    import numpy as np
    from live import serve_app  # type: ignore[import-not-found]

    from sstrkit.registry import open_registry
    from sstrkit.registry.accounts import Accounts
    from sstrkit.web import WebSettings, create_app

    synthetic_run = _synthetic_run()
    db = tmp / "list.sqlite"
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    with open_registry(db) as reg:
        for p in range(n):
            reg.add_run_data(synthetic_run(p, 0, rng))
        Accounts(reg).add_user("bench", "physician", PASSWORD)
    print(f"recorded {n} patients in {time.perf_counter() - t0:.1f} s")
    app = create_app(WebSettings(registry=str(db), cache_dir=tmp / "cache"))
    with serve_app(app) as base:
        c = _login(base)
        times = []
        for _ in range(20):
            t = time.perf_counter()
            res = c.get("/api/patients")
            times.append(time.perf_counter() - t)
            assert res.status_code == 200 and res.json()["total"] == n
        c.close()
    print(
        f"GET /api/patients ({n} patients, {len(res.content) / 1e6:.2f} MB JSON): median "
        f"{statistics.median(times) * 1e3:.0f} ms, best {min(times) * 1e3:.0f} ms "
        "(target < 200 ms)"
    )


def _dims(data: bytes) -> tuple[int, ...]:
    raw = gzip.decompress(data)[:348]
    dim = struct.unpack("<8h", raw[40:56])
    return tuple(dim[1 : 1 + dim[0]])


def first_render(run: Path, tmp: Path, repeat: int = 5) -> None:
    from live import serve_app
    from webdriver import start_browser  # type: ignore[import-not-found]

    from sstrkit.registry import open_registry
    from sstrkit.registry.accounts import Accounts
    from sstrkit.web import WebSettings, create_app

    if not (run / "results.json").is_file():
        print(f"first viewer render: skipped, no run in {run} (sstrkit demo --out {run})")
        return
    db = tmp / "viewer.sqlite"
    with open_registry(db) as reg:
        rec = reg.add_run(run)
        Accounts(reg).add_user("bench", "physician", PASSWORD)
    app = create_app(WebSettings(registry=str(db), cache_dir=tmp / "cache"))
    with serve_app(app) as base:
        c = _login(base)
        for v in c.get(f"/api/runs/{rec.run_id}").json()["volumes"]:
            if v["key"] in ("ct_cycle1", "dose_cycle1", "vois_cycle1"):
                data = c.get(v["url"]).content  # also fills the CT cache
                print(f"  {v['key']}: {'x'.join(map(str, _dims(data)))} voxels, "
                      f"{len(data) / 1e6:.2f} MB gzip")  # fmt: skip
        c.close()
        with start_browser() as b:
            b.get(base + "/")
            b.type("#name", "bench")
            b.type("#password", PASSWORD)
            b.click("#login")
            b.wait("document.body.dataset.loaded === 'patients'")
            times = []
            for _ in range(repeat):
                b.get(f"{base}/runs/{rec.run_id}/viewer?cycle=1")
                b.wait("document.body.dataset.loaded === 'viewer'", 120)
                times.append(float(b.js("return window.sstrkitViewer.firstRenderMs")))
    print(
        f"first viewer render (CT + dose + VOIs, software WebGL): median "
        f"{statistics.median(times):.0f} ms, best {min(times):.0f} ms (target < 2000 ms)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=1000)
    parser.add_argument("--run", type=Path, default=ROOT / "demo-output")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    with tempfile.TemporaryDirectory() as tmp:
        patient_list(args.patients, Path(tmp))
        first_render(args.run, Path(tmp))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
