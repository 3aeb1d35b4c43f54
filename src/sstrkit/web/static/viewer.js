// Image viewer (NiiVue, served from this server): CT with the SPECT, dose or TIA overlay of
// a cycle (or the SSTR PET with its CT), VOI and lesion outlines, window/level, colour
// bar, crosshair readout in HU, Bq/mL, SUV or Gy; DVH and TAC plots; the cycle's review.
//
// window.sstrkitViewer exposes the state (NiiVue instance, loaded volumes, first-render
// time) for the browser tests and the benchmark.
import { api, clear, el, fmt, when } from "./app.js";
import { PALETTE, linePlot } from "./plot.js";

const main = document.getElementById("main");
const runId = Number(main.dataset.runId);
const status = document.getElementById("viewer-status");
const COLORMAP = { dose: "jet", spect: "hot", tia: "plasma", suv: "hot" };
const OUTLINE = { organ: [0, 230, 230], organ_part: [0, 230, 120], lesion: [255, 0, 255] };
const state = { ready: false, run: null, me: null, nv: null, view: null, volumes: {},
  firstRenderMs: null, error: null, cycle: null };
window.sstrkitViewer = state;

function say(text) {
  status.textContent = text;
}

// ---------------------------------------------------------------- views
function viewsOf(run) {
  const byKey = Object.fromEntries(run.volumes.map((v) => [v.key, v]));
  const cycles = [...new Set(run.volumes.filter((v) => v.cycle !== null).map((v) => v.cycle))]
    .sort((a, b) => a - b);
  const out = [];
  for (const c of cycles) {
    const background = byKey[`ct_cycle${c}`] || byKey[`spect_cycle${c}`] || byKey[`dose_cycle${c}`];
    const overlays = ["dose", "spect", "tia"].map((k) => byKey[`${k}_cycle${c}`])
      .filter((v) => v && v !== background);
    out.push({ id: `cycle${c}`, label: `SPECT/CT, cycle ${c}`, cycle: c, background, overlays,
      outlines: byKey[`vois_cycle${c}`] || null });
  }
  if (byKey.suv) {
    out.push({ id: "pet", label: "SSTR PET/CT (baseline)", cycle: null,
      background: byKey.pet_ct || byKey.suv, overlays: byKey.pet_ct ? [byKey.suv] : [],
      outlines: byKey.lesions || null });
  }
  return out;
}

// label value → VOI name (the most specific group holding it: kidney_left before kidneys)
function labelNames(run, view) {
  const names = {};
  if (view.outlines && view.outlines.kind === "lesions") return names;
  const groups = Object.entries(run.vois).sort((a, b) => b[1].labels.length - a[1].labels.length);
  for (const [name, spec] of groups) for (const v of spec.labels) names[v] = { name, kind: spec.kind };
  return names;
}

// ---------------------------------------------------------------- NiiVue
function windowLevel() {
  const bg = state.volumes.background;
  if (!bg || !["ct", "pet_ct"].includes(bg.entry.kind)) return;
  const w = Number(document.getElementById("ct-window").value) || 400;
  const l = Number(document.getElementById("ct-level").value) || 40;
  bg.image.cal_min = l - w / 2;
  bg.image.cal_max = l + w / 2;
  state.nv.updateGLVolume();
}

function overlayRange() {
  const ov = state.volumes.overlay;
  if (!ov) return;
  const lo = Number(document.getElementById("ov-min").value);
  const hi = Number(document.getElementById("ov-max").value);
  if (Number.isFinite(lo) && Number.isFinite(hi) && hi > lo) {
    ov.image.cal_min = lo;
    ov.image.cal_max = hi;
    state.nv.updateGLVolume();
  }
}

function setOpacity() {
  const ov = state.volumes.overlay;
  if (!ov) return;
  state.nv.setOpacity(state.nv.volumes.indexOf(ov.image), Number(document.getElementById("ov-opacity").value));
}

function setOutlines() {
  const lab = state.volumes.outlines;
  if (!lab) return;
  const on = document.getElementById("outlines").checked;
  state.nv.setOpacity(state.nv.volumes.indexOf(lab.image), on ? 1 : 0);
  state.nv.setAtlasOutline(on ? 1 : 0);
}

function outlineLut(image, view) {
  const names = labelNames(state.run, view);
  let ids = Object.keys(names).map(Number);
  if (!ids.length) {
    const max = Math.round(image.global_max || 0);
    ids = Array.from({ length: max }, (_, i) => i + 1);
  }
  ids = [0, ...ids.filter((v) => v > 0).sort((a, b) => a - b)];
  const colour = (v) => (v === 0 ? [0, 0, 0] : OUTLINE[(names[v] || { kind: "lesion" }).kind] || OUTLINE.organ);
  // NIfTI intent "label": NiiVue draws the borders of a label map at the atlas-outline
  // opacity and fills the inside with the label's alpha — 0 here: outlines only.
  image.hdr.intent_code = 1002;
  image.setColormapLabel({ R: ids.map((v) => colour(v)[0]), G: ids.map((v) => colour(v)[1]),
    B: ids.map((v) => colour(v)[2]), A: ids.map(() => 0), I: ids });
}

function defaultRange(entry, image) {
  const max = image.global_max || image.robust_max || 1;
  if (entry.kind === "dose") return [Number((0.05 * max).toPrecision(2)), Number(max.toPrecision(3))];
  const top = image.robust_max || max;
  return [Number((0.05 * top).toPrecision(2)), Number((0.8 * top).toPrecision(3))];
}

async function showView(view, overlayKey) {
  const nv = state.nv;
  const overlay = view.overlays.find((v) => v.key === overlayKey) || view.overlays[0] || null;
  const list = [{ url: view.background.url, name: `${view.background.key}.nii.gz`, colormap:
    ["ct", "pet_ct"].includes(view.background.kind) ? "gray" : COLORMAP[view.background.kind] || "gray" }];
  if (overlay) list.push({ url: overlay.url, name: `${overlay.key}.nii.gz`, colormap: COLORMAP[overlay.kind],
    opacity: Number(document.getElementById("ov-opacity").value) });
  if (view.outlines) list.push({ url: view.outlines.url, name: `${view.outlines.key}.nii.gz`, opacity: 1 });
  say(`loading ${list.length} images…`);
  await nv.loadVolumes(list);
  const [bg, ov, lab] = [nv.volumes[0], overlay ? nv.volumes[1] : null, view.outlines ? nv.volumes[nv.volumes.length - 1] : null];
  state.view = view;
  state.volumes = { background: { entry: view.background, image: bg } };
  bg.colorbarVisible = !overlay;
  if (ov) {
    state.volumes.overlay = { entry: overlay, image: ov };
    const [lo, hi] = defaultRange(overlay, ov);
    document.getElementById("ov-min").value = lo;
    document.getElementById("ov-max").value = hi;
    ov.cal_min = lo;
    ov.cal_max = hi;
  }
  if (lab) {
    state.volumes.outlines = { entry: view.outlines, image: lab };
    lab.colorbarVisible = false;
    outlineLut(lab, view);
  }
  fillOverlaySelect(view, overlay);
  windowLevel();
  setOutlines();
  nv.updateGLVolume();
  nv.drawScene();
  nv.createOnLocationChange();
  say(`${view.label}: ${list.map((v) => v.name.replace(".nii.gz", "")).join(", ")}`);
}

function fillOverlaySelect(view, chosen) {
  const select = clear(document.getElementById("overlay"));
  for (const v of view.overlays) select.append(el("option", { value: v.key, text: `${v.label} (${v.unit})`, selected: v === chosen }));
  if (!view.overlays.length) select.append(el("option", { value: "", text: "none" }));
}

function readout(data) {
  const box = clear(document.getElementById("readout"));
  const mm = data.mm || [0, 0, 0];
  box.append(el("div", { class: "muted", text: `x ${fmt(mm[0], 4)}, y ${fmt(mm[1], 4)}, z ${fmt(mm[2], 4)} mm (RAS)` }));
  const names = labelNames(state.run, state.view);
  for (const [role, item] of Object.entries(state.volumes)) {
    const idx = state.nv.volumes.indexOf(item.image);
    const value = data.values && data.values[idx] ? data.values[idx].value : null;
    let text;
    if (role === "outlines") {
      const v = Math.round(value || 0);
      const name = item.entry.kind === "lesions" ? (v ? `lesion ${v}` : "—") : (names[v] || { name: "—" }).name;
      text = `${item.entry.kind === "lesions" ? "Lesion" : "VOI"}: ${v ? name : "—"}`;
    } else {
      text = `${item.entry.label}: ${fmt(value, 4)} ${item.entry.unit}`;
    }
    box.append(el("div", { dataset: { role, unit: item.entry.unit }, text }));
  }
}

// ---------------------------------------------------------------- plots and review
async function plots(cycle) {
  const dvhBox = document.getElementById("dvh"), tacBox = document.getElementById("tac");
  if (cycle === null) {
    dvhBox.textContent = tacBox.textContent = "(dosimetry curves belong to a cycle)";
    return;
  }
  try {
    const dvh = await api(`/api/runs/${runId}/cycles/${cycle}/dvh`);
    linePlot(dvhBox, dvh.regions.map((r) => ({ name: r.name, x: r.dose_gy, y: r.volume_fraction.map((f) => 100 * f),
      dash: r.kind === "lesion" ? "4 3" : "" })), { xLabel: "absorbed dose (Gy)", yLabel: "volume (%)", yMin: 0 });
  } catch (err) { dvhBox.textContent = err.message; }
  try {
    const tac = await api(`/api/runs/${runId}/cycles/${cycle}/tac`);
    const series = [];
    tac.regions.forEach((r, i) => {
      // one colour per region (points and fit); lesions start hidden (click the legend)
      const common = { color: PALETTE[i % PALETTE.length], hidden: r.kind === "lesion" };
      series.push({ ...common, name: r.name, x: tac.times_h, y: r.activity_mbq, markers: true, line: !r.fit });
      if (r.fit) series.push({ ...common, name: `${r.name} fit (T_eff ${fmt(r.t_eff_h)} h)`, x: r.fit.times_h, y: r.fit.activity_mbq, dash: "5 3" });
    });
    linePlot(tacBox, series, { xLabel: "time after administration (h)", yLabel: "activity (MBq)", yMin: 0 });
  } catch (err) { tacBox.textContent = err.message; }
}

function reviewPanel() {
  const c = state.run.cycles.find((x) => x.cycle === state.cycle);
  const section = document.getElementById("review");
  document.getElementById("review-cycle").textContent = state.cycle === null ? "—" : state.cycle;
  const text = document.getElementById("review-state");
  const form = document.getElementById("review-form");
  if (!c) {
    text.textContent = "No dosimetry of this cycle in the run.";
    form.hidden = true;
    return;
  }
  const r = c.review;
  if (c.superseded_by_run) text.textContent = `Superseded by run ${c.superseded_by_run}: review that run.`;
  else if (r) text.textContent = `${r.decision} by ${r.user_name} (${r.user_role}) at ${when(r.signed_at)} UTC: “${r.comment}”`;
  else text.textContent = "Not yet reviewed.";
  section.dataset.state = c.superseded_by_run ? "superseded" : r ? r.decision : "pending";
  form.hidden = !(state.me && state.me.role === "physicist") || Boolean(c.superseded_by_run);
}

document.getElementById("review-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const msg = document.getElementById("review-msg");
  const pw = document.getElementById("review-password");
  try {
    const d = await api(`/api/runs/${runId}/cycles/${state.cycle}/review`, { method: "POST", body: {
      decision: document.querySelector('input[name="decision"]:checked').value,
      comment: document.getElementById("review-comment").value, password: pw.value } });
    state.run = await api(`/api/runs/${runId}`);
    reviewPanel();  // the panel shows the stored decision before the message says "Signed"
    msg.textContent = `Signed: ${d.decision} by ${d.user_name} at ${when(d.signed_at)} UTC (record ${d.record_sha256.slice(0, 12)}…)`;
  } catch (err) {
    msg.textContent = `Not signed: ${err.message}`;
  } finally {
    pw.value = "";
  }
});

// ---------------------------------------------------------------- start
async function start() {
  // the viewer library loads while the run is asked for (first render time matters)
  const library = main.dataset.niivue === "yes" ? import("/static/vendor/niivue.js") : null;
  [state.run, state.me] = await Promise.all([api(`/api/runs/${runId}`), api("/api/me")]);
  const run = state.run;
  document.getElementById("run-title").textContent =
    `patient ${run.patient_id} · ${run.is_current ? "current run" : "earlier run"} · sstrkit ${run.sstrkit_version || "?"} · ${when(run.finished_at)} UTC`;
  if (!run.report) document.getElementById("report-link").hidden = true;
  const views = viewsOf(run);
  const select = document.getElementById("view");
  for (const v of views) select.append(el("option", { value: v.id, text: v.label }));
  const wanted = Number(main.dataset.cycle) || null;
  const first = views.find((v) => v.cycle === wanted) || views[0];
  if (!first) throw new Error("this run has no images to show");
  select.value = first.id;
  state.cycle = first.cycle;
  reviewPanel();
  if (!library) throw new Error("NiiVue is not installed on this server: run 'make web-assets'");
  const { Niivue } = await library;
  const nv = new Niivue({ isColorbar: true, show3Dcrosshair: false, backColor: [0, 0, 0, 1],
    crosshairColor: [1, 1, 0, 0.8], crosshairWidth: 1, dragMode: 1 });
  state.nv = nv;
  await nv.attachTo("gl");
  nv.setSliceType(nv.sliceTypeMultiplanar);
  nv.onLocationChange = readout;
  await showView(first);
  await new Promise((resolve) => requestAnimationFrame(() => resolve()));
  state.firstRenderMs = performance.now();
  state.ready = true;
  document.body.dataset.loaded = "viewer";
  plots(first.cycle);
  select.addEventListener("change", async () => {
    const view = views.find((v) => v.id === select.value);
    state.cycle = view.cycle;
    reviewPanel();
    plots(view.cycle);
    await showView(view);
  });
  document.getElementById("overlay").addEventListener("change", (ev) => showView(state.view, ev.target.value));
  for (const id of ["ct-window", "ct-level"]) document.getElementById(id).addEventListener("input", windowLevel);
  for (const id of ["ov-min", "ov-max"]) document.getElementById(id).addEventListener("input", overlayRange);
  document.getElementById("ov-opacity").addEventListener("input", setOpacity);
  document.getElementById("outlines").addEventListener("change", setOutlines);
  const types = { axial: nv.sliceTypeAxial, coronal: nv.sliceTypeCoronal, sagittal: nv.sliceTypeSagittal, multi: nv.sliceTypeMultiplanar };
  for (const b of document.querySelectorAll("#slice-types button")) {
    b.addEventListener("click", () => nv.setSliceType(types[b.dataset.slice]));
  }
}

start().catch((err) => {
  state.error = String(err.message || err);
  if (state.run && state.cycle !== null) plots(state.cycle); // the curves need no WebGL
  say(`Viewer: ${state.error}`);
  document.body.dataset.loaded = "viewer-error";
});
