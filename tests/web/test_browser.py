"""End to end in a real headless Chromium (chromedriver, WebDriver protocol).

Log in through the form, find the patient in the list, open the patient page and the
viewer, check that the dose overlay is drawn with its colour map, sign the approval of a
cycle in the review panel and see it in the run's report.

**The pixel check.** The viewer shows the cycle's CT with the dose map (colour map
``jet``) in one axial slice, nearest-neighbour sampling, overlay opacity 1, outlines and
crosshair hidden, the overlay range set by the test. The crosshair goes to the centre of
a CT voxel (the background's grid) whose centre lies well inside one dose voxel (within
0.35 voxel of its centre on every axis, so that nearest-neighbour resampling cannot pick
a neighbour). The expected colour is NiiVue's own colour table of ``jet`` (256 entries,
read from the page) at the dose of that voxel read by the test from
``OUT/dose/dose_cycle1.nii.gz``, with the shader's lookup: texture coordinate
(d − min)/(max − min), linearly interpolated between table entries. Tolerance 3 of 255
per channel: 8-bit rounding of the table and of the framebuffer (±1 each) and
SwiftShader's float arithmetic; ``jet`` changes by up to 2 units per table entry, so a
dose off by 1 % of the displayed range (2.6 entries) moves the colour by up to 5 units.

The documentation's screenshots are made by tests/web/screenshots.py the same way.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import SimpleITK as sitk
from PIL import Image

from .conftest import PASSWORD, WebCohort, registry_copy, serve
from .webdriver import Browser, require_browser, start_browser

TOLERANCE = 3


def _candidates(dose_path: Path) -> list[tuple[float, list[float]]]:
    """High-dose voxels (dose, RAS mm of the voxel centre), highest first."""
    img = sitk.ReadImage(str(dose_path))
    arr = sitk.GetArrayFromImage(img)  # z, y, x
    top = float(arr.max())
    zyx = np.argwhere(arr >= 0.4 * top)
    order = np.argsort(-arr[tuple(zyx.T)])
    out = []
    for z, y, x in zyx[order][:60]:
        lps = img.TransformIndexToPhysicalPoint((int(x), int(y), int(z)))
        out.append((float(arr[z, y, x]), [-lps[0], -lps[1], lps[2]]))
    return out


def _dose_at(dose_path: Path, ras: list[float]) -> tuple[float, float]:
    """Dose of the voxel holding ``ras`` and the largest distance to its centre (voxels)."""
    img = sitk.ReadImage(str(dose_path))
    idx = np.asarray(img.TransformPhysicalPointToContinuousIndex((-ras[0], -ras[1], ras[2])))
    near = np.rint(idx).astype(int)
    value = float(sitk.GetArrayFromImage(img)[near[2], near[1], near[0]])
    return value, float(np.max(np.abs(idx - near)))


def _expected_rgb(lut: list[int], value: float, lo: float, hi: float) -> np.ndarray:
    table = np.asarray(lut, dtype=float).reshape(256, 4)[:, :3]
    txl = max((value - lo) / (hi - lo), 2.0 / 256.0)
    u = min(max(txl * 256.0 - 0.5, 0.0), 255.0)
    i = int(np.floor(u))
    j = min(i + 1, 255)
    return table[i] + (u - i) * (table[j] - table[i])


PREPARE = """
const [lo, hi] = arguments;
const v = window.sstrkitViewer, nv = v.nv;
const set = (id, value, ev) => { const e = document.getElementById(id);
  if (e.type === 'checkbox') e.checked = value; else e.value = value;
  e.dispatchEvent(new Event(ev)); };
set('outlines', false, 'change');
set('ov-opacity', 1, 'input');
set('ov-min', lo, 'input');
set('ov-max', hi, 'input');
nv.setSliceType(nv.sliceTypeAxial);
nv.setInterpolation(true);
nv.setCrosshairWidth(0);
window.scrollTo(0, 0);
return v.volumes.overlay.entry.key + ' ' + nv.volumes[1].colormap;
"""
SNAP = """
const nv = window.sstrkitViewer.nv;
const frac = nv.mm2frac(arguments[0]);
const vox = nv.frac2vox(frac);
const centre = nv.vox2frac(vox);
return Array.from(nv.frac2mm(centre)).slice(0, 3);
"""
FRAME = """
const done = arguments[arguments.length - 1];
requestAnimationFrame(() => requestAnimationFrame(() => done(true)));
"""
POINT = """
const nv = window.sstrkitViewer.nv;
const frac = nv.mm2frac(arguments[0]);
nv.scene.crosshairPos = frac;
nv.updateGLVolume();
nv.drawScene();
nv.createOnLocationChange();
const pos = nv.frac2canvasPos(frac);
const r = nv.canvas.getBoundingClientRect();
const dpr = window.devicePixelRatio || 1;
const line = document.querySelector('#readout [data-role="overlay"]');
return {x: r.left + pos[0] / dpr, y: r.top + pos[1] / dpr, readout: line ? line.textContent : '',
        lut: Array.from(nv.colormap('jet'))};
"""


def _check_dose_colour(b: Browser, dose_path: Path) -> dict[str, Any]:
    top = float(sitk.GetArrayFromImage(sitk.ReadImage(str(dose_path))).max())
    lo, hi = round(0.1 * top, 3), round(top, 3)
    assert b.js(PREPARE, lo, hi) == "dose_cycle1 jet"
    for _dose, ras in _candidates(dose_path):
        centre = b.js(SNAP, ras)
        value, off = _dose_at(dose_path, centre)
        if off > 0.35 or value < lo * 1.5:
            continue
        point = b.js(POINT, centre)
        b.js_async(FRAME)  # let the frame reach the screen
        png = Image.open(io.BytesIO(b.screenshot())).convert("RGB")
        got = np.asarray(png.getpixel((round(point["x"] - 0.5), round(point["y"] - 0.5))), float)
        want = _expected_rgb(point["lut"], value, lo, hi)
        return {"value": value, "got": got, "want": want, "readout": point["readout"]}
    pytest.fail("no dose voxel well inside a CT voxel found")


def test_review_in_the_browser(web_cohort: WebCohort, tmp_path: Path) -> None:
    require_browser()
    pid = web_cohort.patient_ids[0]
    dose_path = web_cohort.outs[pid] / "dose" / "dose_cycle1.nii.gz"
    with serve(registry_copy(web_cohort, tmp_path), tmp_path) as s, start_browser() as b:
        b.get(s.base + "/")
        b.type("#name", "phys")
        b.type("#password", PASSWORD)
        b.click("#login")
        b.wait("document.body.dataset.loaded === 'patients'")
        rows = b.js("return [...document.querySelectorAll('#patients tbody tr')]"
                    ".map(r => r.dataset.patient)")  # fmt: skip
        assert rows == web_cohort.patient_ids

        b.click(f'#patients tr[data-patient="{pid}"] a')
        b.wait("document.body.dataset.loaded === 'patient'")
        assert b.js("return document.querySelectorAll('#cycles tbody tr').length") == 2

        b.click('#cycles tr[data-cycle="1"] a')
        b.wait(
            "document.body.dataset.loaded && document.body.dataset.loaded.startsWith('viewer')", 90
        )
        state = b.js("const v = window.sstrkitViewer; return {error: v.error, "
                     "ms: v.firstRenderMs, vols: v.nv.volumes.map(x => x.name)}")  # fmt: skip
        assert state["error"] is None
        assert state["vols"] == ["ct_cycle1.nii.gz", "dose_cycle1.nii.gz", "vois_cycle1.nii.gz"]
        b.wait("document.querySelectorAll('#dvh svg polyline').length > 0", 30)
        b.wait("document.querySelectorAll('#tac svg circle').length > 0", 30)
        print(f"first viewer render {state['ms']:.0f} ms after navigation start")

        check = _check_dose_colour(b, dose_path)
        print(f"dose {check['value']:.3f} Gy: screen {check['got']}, colour map {check['want']}")
        assert np.all(np.abs(check["got"] - check["want"]) <= TOLERANCE), check
        shown = float(check["readout"].split(":")[1].split()[0])
        assert check["readout"].endswith("Gy")
        assert shown == pytest.approx(check["value"], rel=1e-3)  # 4 significant digits

        b.get(s.base + f"/patients/{pid}")
        b.wait("document.body.dataset.loaded === 'patient'")
        run_id = b.js("return document.querySelector('#cycles tr[data-cycle=\"1\"]').dataset.run")
        b.get(s.base + f"/runs/{run_id}/viewer?cycle=1")
        b.wait("document.body.dataset.loaded === 'viewer'", 90)
        b.type("#review-comment", "VOIs on the organs, dose map plausible")
        b.type("#review-password", PASSWORD)
        b.click("#review-sign")
        b.wait("document.getElementById('review-msg').textContent.startsWith('Signed')", 30)
        # the message comes after the panel was refreshed from the stored record
        assert b.js("return document.getElementById('review').dataset.state") == "approved"

        b.get(s.base + f"/runs/{run_id}/report")
        cell = b.js("const c = document.querySelector('#sstrkit-review td[data-cycle=\"1\"]');"
                    "return [c.dataset.state, c.textContent]")  # fmt: skip
        assert cell[0] == "approved"
        assert "approved by phys (physicist)" in cell[1]
        assert "VOIs on the organs, dose map plausible" in cell[1]
        assert b.console_errors() == []
