// Accounts page (admin): list, create, disable, enable.
import { api, clear, el, when } from "./app.js";

const body = document.querySelector("#users tbody");
const msg = document.getElementById("user-msg");

async function load() {
  const users = await api("/api/users");
  clear(body);
  for (const u of users) {
    const action = u.disabled ? "enable" : "disable";
    const button = el("button", { type: "button", text: action, dataset: { user: u.name } });
    button.addEventListener("click", async () => {
      try {
        await api(`/api/users/${encodeURIComponent(u.name)}/${action}`, { method: "POST" });
        msg.textContent = `${u.name}: ${action}d`;
        await load();
      } catch (err) {
        msg.textContent = err.message;
      }
    });
    body.append(el("tr", {}, el("td", { text: u.name }), el("td", { text: u.role }),
      el("td", { text: when(u.created_at) }), el("td", { text: u.created_by || "—" }),
      el("td", { text: u.disabled ? "disabled" : "active" }), el("td", {}, button)));
  }
  document.body.dataset.loaded = "users";
}

document.getElementById("user-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = document.getElementById("new-name").value.trim();
  try {
    await api("/api/users", { method: "POST", body: {
      name, role: document.getElementById("new-role").value,
      password: document.getElementById("new-password").value } });
    msg.textContent = `account ${name} created`;
    ev.target.reset();
    await load();
  } catch (err) {
    msg.textContent = err.message;
  }
});

load().catch((err) => { msg.textContent = err.message; });
