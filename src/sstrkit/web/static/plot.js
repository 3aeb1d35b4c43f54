// Small interactive SVG line plots (no library): legend entries toggle a series, the
// pointer shows the nearest point's values, optional horizontal reference lines (limits)
// and vertical markers (administrations).
import { el, fmt } from "./app.js";

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b",
  "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"];

function svg(tag, attrs = {}) {
  const node = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  return node;
}

function ticks(lo, hi, n = 5) {
  if (!(hi > lo)) return [lo];
  const step = Math.pow(10, Math.floor(Math.log10((hi - lo) / n)));
  const mult = [1, 2, 5, 10].find((m) => (hi - lo) / (step * m) <= n) || 10;
  const s = step * mult;
  const out = [];
  for (let v = Math.ceil(lo / s) * s; v <= hi + 1e-9 * s; v += s) out.push(Number(v.toPrecision(12)));
  return out;
}

// series: [{name, x: [], y: [], color?, dash?, markers?, line?, hidden?}]; options: {xLabel, yLabel,
// xFormat, hlines: [{y, label, color}], vlines: [{x, label}], yMin, width, height}
export function linePlot(container, series, options = {}) {
  container.replaceChildren();
  const W = options.width || 560, H = options.height || 300;
  const m = { l: 58, r: 12, t: 10, b: 40 };
  const hidden = new Set(series.filter((s) => s.hidden).map((s) => s.name));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, width: "100%", role: "img",
    "aria-label": options.yLabel || "plot" });
  const tip = el("div", { class: "tip" });
  const legend = el("div", { class: "legend" });
  container.append(root, legend, tip);
  series.forEach((s, i) => { s.color = s.color || PALETTE[i % PALETTE.length]; });

  function draw() {
    root.replaceChildren();
    const shown = series.filter((s) => !hidden.has(s.name));
    const xs = shown.flatMap((s) => s.x).concat((options.vlines || []).map((v) => v.x));
    const ys = shown.flatMap((s) => s.y).filter((v) => v !== null && Number.isFinite(v))
      .concat((options.hlines || []).map((h) => h.y));
    if (!xs.length || !ys.length) {
      root.append(Object.assign(svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }),
        { textContent: "no data" }));
      return;
    }
    const x0 = Math.min(...xs), x1 = Math.max(...xs) === x0 ? x0 + 1 : Math.max(...xs);
    const y0 = options.yMin !== undefined ? options.yMin : Math.min(0, ...ys);
    const y1 = Math.max(...ys) === y0 ? y0 + 1 : Math.max(...ys) * 1.05;
    const X = (v) => m.l + ((v - x0) / (x1 - x0)) * (W - m.l - m.r);
    const Y = (v) => H - m.b - ((v - y0) / (y1 - y0)) * (H - m.t - m.b);
    const fx = options.xFormat || fmt;
    for (const t of ticks(y0, y1)) {
      root.append(svg("line", { x1: m.l, x2: W - m.r, y1: Y(t), y2: Y(t), class: "grid" }));
      root.append(Object.assign(svg("text", { x: m.l - 4, y: Y(t) + 4, "text-anchor": "end", class: "tick" }), { textContent: fmt(t) }));
    }
    for (const t of options.xTicks || ticks(x0, x1)) {
      root.append(Object.assign(svg("text", { x: X(t), y: H - m.b + 16, "text-anchor": "middle", class: "tick" }), { textContent: fx(t) }));
    }
    root.append(Object.assign(svg("text", { x: (W + m.l) / 2, y: H - 6, "text-anchor": "middle", class: "axis" }), { textContent: options.xLabel || "" }));
    root.append(Object.assign(svg("text", { x: 12, y: (H - m.b) / 2, transform: `rotate(-90 12 ${(H - m.b) / 2})`, "text-anchor": "middle", class: "axis" }), { textContent: options.yLabel || "" }));
    for (const v of options.vlines || []) {
      root.append(svg("line", { x1: X(v.x), x2: X(v.x), y1: m.t, y2: H - m.b, class: "vline" }));
      root.append(Object.assign(svg("text", { x: X(v.x) + 3, y: m.t + 10, class: "tick" }), { textContent: v.label || "" }));
    }
    for (const h of options.hlines || []) {
      root.append(svg("line", { x1: m.l, x2: W - m.r, y1: Y(h.y), y2: Y(h.y), class: "hline", stroke: h.color || "#b3261e" }));
      root.append(Object.assign(svg("text", { x: W - m.r - 4, y: Y(h.y) - 4, "text-anchor": "end", class: "tick", fill: h.color || "#b3261e" }), { textContent: h.label || "" }));
    }
    for (const s of shown) {
      const pts = s.x.map((x, i) => [x, s.y[i]]).filter(([, y]) => y !== null && Number.isFinite(y));
      if (s.line !== false && pts.length > 1) {
        root.append(svg("polyline", { points: pts.map(([x, y]) => `${X(x)},${Y(y)}`).join(" "),
          fill: "none", stroke: s.color, "stroke-width": 2, "stroke-dasharray": s.dash || "" }));
      }
      if (s.markers) {
        for (const [x, y] of pts) root.append(svg("circle", { cx: X(x), cy: Y(y), r: 3.5, fill: s.color }));
      }
    }
    const overlay = svg("rect", { x: m.l, y: m.t, width: W - m.l - m.r, height: H - m.t - m.b, fill: "transparent" });
    overlay.addEventListener("mousemove", (ev) => {
      const box = root.getBoundingClientRect();
      const px = ((ev.clientX - box.left) / box.width) * W;
      const xv = x0 + ((px - m.l) / (W - m.l - m.r)) * (x1 - x0);
      const lines = [];
      for (const s of shown) {
        let best = -1, dist = Infinity;
        s.x.forEach((x, i) => { const d = Math.abs(x - xv); if (d < dist && s.y[i] !== null) { dist = d; best = i; } });
        if (best >= 0) lines.push(`${s.name}: ${fmt(s.y[best])} at ${fx(s.x[best])}`);
      }
      tip.textContent = lines.join(" · ");
    });
    overlay.addEventListener("mouseleave", () => { tip.textContent = ""; });
    root.append(overlay);
  }

  for (const s of series) {
    const item = el("button", { type: "button", class: "legend-item",
      "aria-pressed": hidden.has(s.name) ? "false" : "true" },
      el("span", { class: "swatch", style: `background:${s.color}` }), s.name);
    item.addEventListener("click", () => {
      if (hidden.has(s.name)) hidden.delete(s.name); else hidden.add(s.name);
      item.setAttribute("aria-pressed", hidden.has(s.name) ? "false" : "true");
      draw();
    });
    legend.append(item);
  }
  draw();
  return { redraw: draw };
}
