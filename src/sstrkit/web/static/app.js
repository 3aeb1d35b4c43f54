// Shared helpers of the review pages: API calls with the CSRF token, DOM building, formats.
// Text is always set with textContent (never innerHTML), so data cannot inject markup.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

export function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json" };
  if (method !== "GET") headers["X-CSRF-Token"] = csrfToken();
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const res = await fetch(path, {
    method,
    headers,
    credentials: "same-origin",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (res.status === 401) {
    location.href = "/?next=" + encodeURIComponent(location.pathname + location.search);
    throw new ApiError(401, "login required");
  }
  const isJson = (res.headers.get("content-type") || "").includes("json");
  const data = isJson ? await res.json() : null;
  if (!res.ok) {
    const detail = data && data.detail;
    throw new ApiError(res.status, typeof detail === "string" ? detail : res.statusText);
  }
  return data;
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "—";
  if (typeof value !== "number") return String(value);
  if (value !== 0 && (Math.abs(value) >= 1e5 || Math.abs(value) < 1e-3)) {
    return value.toExponential(digits - 1);
  }
  return Number(value.toPrecision(digits)).toString();
}

export function when(iso) {
  return iso ? String(iso).slice(0, 16).replace("T", " ") : "—";
}

// A cumulative value against its limit: "12.3 (31 %)" with a traffic-light class.
export function against(entry) {
  if (!entry || entry.value_gy === null || entry.value_gy === undefined) {
    return el("span", { class: "muted", text: "—" });
  }
  const pct = entry.fraction === null ? "" : ` (${Math.round(entry.fraction * 100)} % of ${fmt(entry.limit_gy)})`;
  return el("span", { class: `light ${entry.status || ""}`, title: entry.status || "" },
    `${fmt(entry.value_gy)}${pct}`);
}

export function decisionBadge(decision) {
  if (!decision) return el("span", { class: "badge pending", text: "to review" });
  return el("span", { class: `badge ${decision.decision}`,
    title: `${decision.user_name}, ${when(decision.signed_at)} UTC: ${decision.comment}` },
    `${decision.decision} (${decision.user_name})`);
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}
