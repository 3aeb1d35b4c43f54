// Patient page: doses against limits per cycle, timeline (administrations, labs), runs,
// review decisions and comments.
import { against, api, clear, decisionBadge, el, fmt, when } from "./app.js";
import { linePlot } from "./plot.js";

const main = document.getElementById("main");
const pid = main.dataset.patientId;
const DAY_MS = 86400000;

function cyclesTable(doc) {
  const body = clear(document.querySelector("#cycles tbody"));
  for (const c of doc.cycles) {
    const view = el("a", { href: `/runs/${c.run_id}/viewer?cycle=${c.cycle}`, text: "view" });
    body.append(el("tr", { dataset: { cycle: c.cycle, run: c.run_id } },
      el("td", { text: c.study_key.slice(0, 16) }), el("td", { text: c.cycle }),
      el("td", { text: when(c.time) }),
      el("td", { text: c.activity_bq === null ? "—" : fmt(c.activity_bq / 1e9, 4) }),
      el("td", { text: fmt(c.kidney_dose_gy) }), el("td", { text: fmt(c.kidney_bed_gy) }),
      el("td", {}, against(c.kidney_cumulative)), el("td", { text: fmt(c.marrow_dose_gy) }),
      el("td", {}, against(c.marrow_cumulative)), el("td", { text: fmt(c.lesion_max_dose_gy) }),
      el("td", {}, decisionBadge(c.review)), el("td", {}, view)));
  }
}

function timeline(doc) {
  const admins = doc.administrations.filter((a) => a.cycle !== null && a.time);
  const t0 = admins.length ? Date.parse(admins[0].time)
    : (doc.labs.length ? Date.parse(doc.labs[0].time) : Date.now());
  const days = (iso) => (Date.parse(iso) - t0) / DAY_MS;
  const vlines = admins.map((a) => ({ x: days(a.time), label: `C${a.cycle}` }));
  const names = [...new Set(doc.labs.map((l) => l.name))];
  const select = clear(document.getElementById("lab"));
  for (const n of names) select.append(el("option", { value: n, text: n }));
  const draw = () => {
    const rows = doc.labs.filter((l) => l.name === select.value);
    const unit = rows.length ? rows[0].unit : "";
    linePlot(document.getElementById("timeline"), [{ name: select.value || "no laboratory values",
      x: rows.map((r) => days(r.time)), y: rows.map((r) => r.value), markers: true }],
    { xLabel: "days after the first cycle", yLabel: `${select.value} (${unit})`, vlines });
  };
  select.addEventListener("change", draw);
  draw();
  const cyc = doc.cycles;
  const pct = (key) => cyc.map((c) => (c[key].fraction === null ? null : 100 * c[key].fraction));
  linePlot(document.getElementById("cumulative"), [
    { name: "cumulative kidney (% of limit)", x: cyc.map((c) => c.cycle), y: pct("kidney_cumulative"), markers: true },
    { name: "cumulative red marrow (% of limit)", x: cyc.map((c) => c.cycle), y: pct("marrow_cumulative"), markers: true },
  ], { xLabel: "cycle", yLabel: "% of the limit", xTicks: cyc.map((c) => c.cycle), yMin: 0,
    hlines: [{ y: 100, label: "limit" }, { y: 80, label: "80 %", color: "#8a6d00" }] });
  const events = clear(document.getElementById("events"));
  const items = [
    ...doc.administrations.map((a) => [a.time, `${a.cycle === null ? "diagnostic" : `cycle ${a.cycle}`}: ${fmt(a.activity_bq / 1e9, 4)} GBq ${a.radiopharmaceutical || ""}`]),
    ...doc.responses.map((r) => [r.time, `response ${r.response} (${r.criteria || ""})`]),
  ].filter(([t]) => t).sort((a, b) => Date.parse(a[0]) - Date.parse(b[0]));
  for (const [t, text] of items) events.append(el("li", {}, el("b", { text: when(t) }), ` ${text}`));
}

function runsTable(doc) {
  const body = clear(document.querySelector("#runs tbody"));
  for (const st of doc.studies) {
    for (const r of st.runs) {
      body.append(el("tr", { dataset: { run: r.run_id } },
        el("td", { text: st.study_key.slice(0, 16) }), el("td", { text: r.run_id }),
        el("td", { text: r.is_current ? "current" : "earlier" }),
        el("td", { text: when(r.finished_at) }), el("td", { text: r.sstrkit_version || "—" }),
        el("td", {}, el("a", { href: `/runs/${r.run_id}/viewer`, text: "viewer" }), " · ",
          el("a", { href: `/runs/${r.run_id}/report`, text: "report" }))));
    }
  }
}

function decisionsTable(doc) {
  const body = clear(document.querySelector("#decisions tbody"));
  for (const d of doc.decisions) {
    const state = d.state === "superseded" ? `superseded by run ${d.superseded_by_run}` : d.state;
    body.append(el("tr", { dataset: { decision: d.decision_id, state: d.state } },
      el("td", { text: d.run_id }), el("td", { text: d.cycle }),
      el("td", {}, el("span", { class: `badge ${d.decision}`, text: d.decision })),
      el("td", { text: state + (d.intact ? "" : " (record altered!)") }),
      el("td", { text: `${d.user_name} (${d.user_role})` }), el("td", { text: when(d.signed_at) }),
      el("td", { text: d.comment })));
  }
}

function commentsList(doc) {
  const list = clear(document.getElementById("comments"));
  for (const c of doc.comments) {
    list.append(el("li", {}, el("b", { text: `${c.user_name} (${c.user_role}), ${when(c.created_at)}` }),
      c.run_id ? ` on run ${c.run_id}${c.cycle ? ` cycle ${c.cycle}` : ""}` : "", ": ", c.text));
  }
}

async function load() {
  const doc = await api(`/api/patients/${encodeURIComponent(pid)}`);
  const s = doc.summary;
  document.getElementById("summary").textContent =
    `sex ${doc.sex || "—"} · ${s.studies} course(s), ${s.cycles} cycle(s) · cumulative kidney BED ` +
    `${fmt(s.kidney_bed_gy)} Gy, red marrow ${fmt(s.marrow_dose_gy)} Gy` +
    (doc.studies.length ? ` · limits: ${doc.studies.map((st) => `kidney ${st.limits.kidney_criterion.toUpperCase()} ${st.limits.kidney_gy} Gy, marrow ${st.limits.marrow_gy} Gy (${st.limits.source})`).join("; ")}` : "");
  cyclesTable(doc);
  timeline(doc);
  runsTable(doc);
  decisionsTable(doc);
  commentsList(doc);
  document.body.dataset.loaded = "patient";
}

document.getElementById("comment-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const box = document.getElementById("comment-text");
  try {
    await api(`/api/patients/${encodeURIComponent(pid)}/comments`, { method: "POST", body: { text: box.value } });
    box.value = "";
    await load();
  } catch (err) {
    box.setCustomValidity(err.message);
    box.reportValidity();
    box.setCustomValidity("");
  }
});

load().catch((err) => { document.getElementById("summary").textContent = err.message; });
