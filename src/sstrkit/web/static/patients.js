// Patient list: search and filters (eligible, cycles, near a limit), traffic lights.
import { against, api, clear, el, when } from "./app.js";

const body = document.querySelector("#patients tbody");
const count = document.getElementById("count");

function query() {
  const p = new URLSearchParams();
  const q = document.getElementById("q").value.trim();
  const eligible = document.getElementById("eligible").value;
  const cycles = document.getElementById("cycles").value;
  if (q) p.set("q", q);
  if (eligible) p.set("eligible", eligible);
  if (cycles !== "") p.set("cycles", cycles);
  if (document.getElementById("near").checked) p.set("near_limit", "true");
  return p.toString();
}

function eligibleText(value) {
  if (value === true) return el("span", { class: "light green", text: "yes" });
  if (value === false) return el("span", { class: "light red", text: "no" });
  return el("span", { class: "muted", text: "unknown" });
}

function reviewText(r) {
  const parts = [];
  if (r.approved) parts.push(el("span", { class: "badge approved", text: `${r.approved} approved` }));
  if (r.rejected) parts.push(el("span", { class: "badge rejected", text: `${r.rejected} rejected` }));
  if (r.pending) parts.push(el("span", { class: "badge pending", text: `${r.pending} to review` }));
  return parts.length ? parts : "—";
}

let pending = 0;
async function load() {
  const ticket = ++pending;
  const data = await api(`/api/patients?${query()}`);
  if (ticket !== pending) return;
  clear(body);
  for (const p of data.patients) {
    const link = el("a", { href: `/patients/${encodeURIComponent(p.patient_id)}`, text: p.patient_id });
    body.append(el("tr", { dataset: { patient: p.patient_id } },
      el("td", {}, link), el("td", { text: p.cycles }), el("td", {}, eligibleText(p.eligible)),
      el("td", {}, against(p.kidney)), el("td", {}, against(p.marrow)),
      el("td", {}, reviewText(p.review)), el("td", { text: when(p.latest_run_at) })));
  }
  const lim = data.limits;
  count.textContent = `${data.patients.length} of ${data.total} patients · limits: kidney ` +
    `${lim.kidney_criterion.toUpperCase()} ${lim.kidney_gy} Gy, red marrow ${lim.marrow_gy} Gy ` +
    `(${lim.source}); amber from 80 % of the limit, red above it`;
  document.body.dataset.loaded = "patients";
}

for (const id of ["q", "eligible", "cycles", "near"]) {
  document.getElementById(id).addEventListener("input", () => load().catch(show));
}
document.getElementById("filters").addEventListener("submit", (ev) => ev.preventDefault());

function show(err) {
  count.textContent = `Could not load the patients: ${err.message}`;
}

load().catch(show);
