"""The screenshots of docs/web.md, taken with headless Chromium from a real run.

Usage (from the repository root, after ``make web-assets``)::

    .venv/bin/python tests/web/screenshots.py [--run demo-output] [--out docs/img]

Records the run folder (default: the demo's, ``sstrkit demo --out demo-output``) in a new
registry in a temporary folder, adds a physicist account, serves the web review on a
loopback port and saves ``web-login.png``, ``web-patients.png``, ``web-patient.png``,
``web-viewer.png``, ``web-review.png`` and ``web-report.png`` into ``--out``: the pages
as a reviewer sees them, with the approval of cycle 1 signed on the way.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

PASSWORD = "screenshots only"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=Path("demo-output"))
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    args = parser.parse_args(argv)
    sys.path.insert(0, str(Path(__file__).parent))
    from live import serve_app  # type: ignore[import-not-found]
    from webdriver import start_browser  # type: ignore[import-not-found]

    from sstrkit.registry import open_registry
    from sstrkit.registry.accounts import Accounts
    from sstrkit.web import WebSettings, create_app

    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "registry.sqlite"
        with open_registry(db) as reg:
            rec = reg.add_run(args.run)
            Accounts(reg).add_user("m.curie", "physicist", PASSWORD)
        app = create_app(WebSettings(registry=str(db), cache_dir=Path(tmp) / "cache"))
        with serve_app(app) as base, start_browser() as b:

            def shot(name: str) -> None:
                (args.out / f"web-{name}.png").write_bytes(b.screenshot())
                print(f"{args.out / f'web-{name}.png'}")

            b.get(base + "/")
            b.type("#name", "m.curie")
            shot("login")
            b.type("#password", PASSWORD)
            b.click("#login")
            b.wait("document.body.dataset.loaded === 'patients'")
            shot("patients")
            b.get(f"{base}/patients/{rec.patient_id}")
            b.wait("document.body.dataset.loaded === 'patient'")
            shot("patient")
            b.get(f"{base}/runs/{rec.run_id}/viewer?cycle=1")
            b.wait("document.body.dataset.loaded === 'viewer'", 120)
            b.wait("document.querySelectorAll('#tac svg circle').length > 0", 60)
            shot("viewer")
            b.type("#review-comment", "Kidney and lesion VOIs on the SPECT/CT; dose map plausible")
            b.type("#review-password", PASSWORD)
            b.click("#review-sign")
            b.wait("document.getElementById('review-msg').textContent.startsWith('Signed')", 60)
            b.js("document.getElementById('dvh').scrollIntoView()")
            shot("review")
            b.get(f"{base}/runs/{rec.run_id}/report")
            shot("report")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
