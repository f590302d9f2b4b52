// The durable-xstate inspector page: plain DOM, no framework; Mermaid (vendored) draws the statechart.
// Every value from the store is written with textContent; only Mermaid's SVG (strict mode) is HTML.
"use strict";

const $ = (sel) => document.querySelector(sel);
const page = {
  info: null,
  filters: {},
  after: null, // the cursor of the page shown (null: the first)
  next: null,
  selected: null, // actor id
  version: null, // its record version, for the live check
  revision: null, // the journal revision being viewed, null: now
  detail: null,
  diagramCount: 0,
};

async function api(path, body) {
  const options = { credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    options.method = "POST";
    options.headers["content-type"] = "application/json";
    options.headers["x-durable-xstate"] = "1";
    options.body = JSON.stringify(body);
  }
  const response = await fetch(path, options);
  let data = null;
  try { data = await response.json(); } catch (e) { data = null; }
  if (!response.ok) throw new Error((data && data.error) || `${response.status} ${response.statusText}`);
  return data;
}

function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== null && v !== undefined && v !== "") q.set(k, v);
  return q.toString();
}

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  if (cls) node.className = cls;
  return node;
}

function show(sel, on) { $(sel).hidden = !on; }

function json(value) { return value === undefined ? "" : JSON.stringify(value, null, 2); }

function duration(ms) {
  const s = Math.abs(ms) / 1000;
  if (s < 1) return `${ms} ms`;
  const units = [[86400, "d"], [3600, "h"], [60, "m"], [1, "s"]];
  const [size, unit] = units.find(([size]) => s >= size);
  return `${Number((s / size).toFixed(1))}${unit}`;
}

function when(ms) {
  if (ms === null || ms === undefined) return "-";
  const delta = ms - Date.now();
  const s = Math.abs(delta) / 1000;
  const amount = s >= 86400 ? `${(s / 86400).toFixed(1)}d` : s >= 3600 ? `${(s / 3600).toFixed(1)}h`
    : s >= 60 ? `${(s / 60).toFixed(1)}m` : `${s.toFixed(1)}s`;
  const rel = s < 0.05 ? "due now" : delta > 0 ? `in ${amount}` : `${amount} overdue`;
  let iso;
  try { iso = new Date(ms).toISOString(); } catch (e) { iso = `${ms} ms`; }
  return `${iso} (${rel})`;
}

function statusCell(status) { return el("td", status ?? "-", `status-${status}`); }

function eventTypes(events) {
  return (events || []).map((d) => {
    const type = d && d.event && d.event.type;
    return d.from && d.from !== "send" ? `${type} (${d.from})` : type;
  }).join(", ");
}

// ------------------------------------------------------------------------------------------ the list
async function loadList() {
  try {
    const data = await api(`/api/actors?${query({ ...page.filters, after: page.after, limit: page.info.pageSize })}`);
    const body = $("#actors tbody");
    body.replaceChildren();
    for (const a of data.actors) {
      const row = el("tr");
      row.dataset.id = a.id;
      if (a.id === page.selected) row.classList.add("selected");
      row.append(el("td", a.id));
      if (a.error) {
        row.append(el("td", "-"), el("td", a.error, "error"), el("td", "unreadable", "status-error"), el("td", "-"));
      } else {
        row.append(el("td", `${a.machine.id}@${a.machine.version}`), el("td", a.stateText), statusCell(a.status),
          el("td", a.revision));
      }
      row.addEventListener("click", () => selectActor(a.id));
      body.append(row);
    }
    page.next = data.next;
    show("#actors-empty", data.actors.length === 0);
    show("#more", data.next !== null);
    show("#first", page.after !== null);
    show("#list-error", false);
  } catch (err) {
    $("#list-error").textContent = err.message;
    show("#list-error", true);
  }
}

// ------------------------------------------------------------------------------------------ one actor
function location_(id, revision) {
  const parts = [`actor=${encodeURIComponent(id)}`];
  if (revision !== null) parts.push(`rev=${revision}`);
  history.replaceState(null, "", `#${parts.join("&")}`);
}

async function selectActor(id, revision = null) {
  page.selected = id;
  page.version = null;
  page.revision = null;
  show("#viewing", false);
  show("#revision-detail", false);
  for (const row of document.querySelectorAll("#actors tbody tr")) row.classList.toggle("selected", row.dataset.id === id);
  location_(id, null);
  await refreshActor();
  if (revision !== null) await viewRevision(revision);
}

async function refreshActor() {
  const id = page.selected;
  if (id === null) return;
  let data;
  try {
    data = await api(`/api/actor?${query({ id, known: page.version })}`);
  } catch (err) {
    $("#actor-error").textContent = err.message;
    show("#actor-error", true);
    show("#actor", false);
    show("#pick", false);
    return;
  }
  if (id !== page.selected || data.unchanged) return;
  page.version = data.version;
  page.detail = data;
  show("#actor-error", false);
  show("#pick", false);
  show("#actor", true);
  $("#actor-id").textContent = data.id;
  $("#actor-machine").textContent = `${data.machine.id}@${data.machine.version}`;
  $("#actor-state").textContent = data.stateText;
  $("#actor-status").textContent = data.status ?? "-";
  $("#actor-status").className = `status-${data.status}`;
  $("#actor-revision").textContent = data.revision;
  $("#actor-updated").textContent = data.updatedAt ?? "-";
  renderTimers(data.timers);
  renderOutbox(data.outbox);
  show("#send", Boolean(page.info && page.info.allowSend));
  if (page.revision === null) {
    $("#context").textContent = json(data.context);
    await renderDiagram(data.diagram);
  }
  await loadJournal();
}

function renderTimers(timers) {
  const body = $("#timers tbody");
  body.replaceChildren();
  for (const t of timers) {
    const row = el("tr");
    row.append(el("td", when(t.dueAt)), el("td", t.name), el("td", duration(t.delay)));
    body.append(row);
  }
  show("#timers", timers.length > 0);
  show("#timers-empty", timers.length === 0);
}

function renderOutbox(outbox) {
  const body = $("#outbox tbody");
  body.replaceChildren();
  for (const item of outbox) {
    const row = el("tr");
    row.append(el("td", item.id), el("td", item.emittedAt ?? "-"), el("td", JSON.stringify(item.event)));
    body.append(row);
  }
  show("#outbox", outbox.length > 0);
  show("#outbox-empty", outbox.length === 0);
}

async function renderDiagram(drawn) {
  const target = $("#diagram");
  $("#diagram-note").textContent = drawn.note || "";
  show("#diagram-note", Boolean(drawn.note));
  if (!drawn.mermaid) {
    target.replaceChildren();
    show("#diagram", false);
    return;
  }
  show("#diagram", true);
  if (target.dataset.source === drawn.mermaid) return; // the same drawing: keep it (no flicker)
  try {
    const { svg } = await window.mermaid.render(`diagram-${++page.diagramCount}`, drawn.mermaid);
    target.innerHTML = svg; // Mermaid's own output, sanitized by it (securityLevel "strict")
    target.dataset.source = drawn.mermaid;
  } catch (err) {
    target.replaceChildren(el("pre", drawn.mermaid));
    $("#diagram-note").textContent = `the diagram could not be drawn: ${err.message || err}`;
    show("#diagram-note", true);
  }
}

// ------------------------------------------------------------------------------------------ journal
async function loadJournal() {
  const id = page.selected;
  const data = await api(`/api/journal?${query({ id })}`);
  if (id !== page.selected) return;
  const list = $("#journal");
  list.replaceChildren();
  for (const entry of data.entries.slice().reverse()) {
    const item = el("li");
    item.dataset.revision = entry.revision;
    if (entry.revision === page.revision) item.classList.add("selected");
    item.append(el("span", `rev ${entry.revision}${entry.checkpoint ? " *" : ""}`, "rev"),
      el("span", eventTypes(entry.events) || "(created)"), el("span", ` → ${entry.stateText}`),
      el("span", entry.at, "at"));
    item.addEventListener("click", () => viewRevision(entry.revision));
    list.append(item);
  }
  show("#journal-empty", data.entries.length === 0);
}

async function viewRevision(revision) {
  const id = page.selected;
  let view;
  try {
    view = await api(`/api/revision?${query({ id, rev: revision })}`);
  } catch (err) {
    $("#actor-error").textContent = err.message;
    show("#actor-error", true);
    return;
  }
  if (id !== page.selected) return;
  page.revision = revision;
  location_(id, revision);
  for (const li of document.querySelectorAll("#journal li")) {
    li.classList.toggle("selected", Number(li.dataset.revision) === revision);
  }
  $("#viewing-text").textContent = `State at revision ${revision} (${view.at}): ${view.stateText} (${view.status})`;
  $("#replay-result").textContent = "";
  show("#replay", Boolean(page.detail && page.detail.canReplay));
  show("#viewing", true);
  $("#context").textContent = view.context === undefined
    ? "(the journal keeps the context at checkpoints only: replay to see it)" : json(view.context);
  $("#revision-events").textContent = json(view.events);
  $("#revision-emitted").textContent = json(view.emitted);
  show("#revision-detail", true);
  await renderDiagram(view.diagram);
}

async function backToLive() {
  page.revision = null;
  show("#viewing", false);
  show("#revision-detail", false);
  for (const li of document.querySelectorAll("#journal li")) li.classList.remove("selected");
  location_(page.selected, null);
  page.version = null; // draw the current state again
  await refreshActor();
}

async function replayHere() {
  const result = $("#replay-result");
  result.textContent = "replaying…";
  result.className = "";
  try {
    const r = await api("/api/replay", { id: page.selected, to: page.revision });
    if (r.reproduces) {
      result.textContent = `the machine reproduces revisions ${r.from}..${r.to} (${r.checked} replayed)`;
      result.className = "ok";
      $("#context").textContent = json(r.context);
    } else {
      result.textContent = `the machine does not reproduce revision ${r.divergedAt}: journal ${JSON.stringify(r.expected)}, machine ${JSON.stringify(r.actual)}`;
      result.className = "bad";
    }
  } catch (err) {
    result.textContent = err.message;
    result.className = "bad";
  }
}

// ------------------------------------------------------------------------------------------ send
async function sendEvent(ev) {
  ev.preventDefault();
  const result = $("#send-result");
  const type = $("#send-type").value.trim();
  let data = {};
  const text = $("#send-data").value.trim();
  if (text) {
    try { data = JSON.parse(text); } catch (err) { result.textContent = `payload: ${err.message}`; result.className = "bad"; return; }
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      result.textContent = "the payload must be a JSON object"; result.className = "bad"; return;
    }
  }
  try {
    const r = await api("/api/send", { id: page.selected, event: { ...data, type } });
    result.textContent = r.handled
      ? `${type} → ${JSON.stringify(r.state)} (${r.status}), revision ${r.revision}`
      : `${type} was not handled in this state; saved as revision ${r.revision}`;
    result.className = r.handled ? "ok" : "bad";
  } catch (err) {
    result.textContent = err.message;
    result.className = "bad";
  }
  await refreshActor();
  await loadList();
}

// ------------------------------------------------------------------------------------------ start
async function poll() {
  try {
    await loadList();
    if (page.selected !== null) await refreshActor();
    $("#live").textContent = `live · ${new Date().toLocaleTimeString()}`;
  } catch (err) {
    $("#live").textContent = `not live: ${err.message}`;
  }
}

async function start() {
  window.mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "default" });
  try {
    page.info = await api("/api/info");
  } catch (err) {
    $("#list-error").textContent = err.message;
    show("#list-error", true);
    return;
  }
  $("#store").textContent = page.info.store;
  $("#filters").addEventListener("submit", (ev) => {
    ev.preventDefault();
    page.filters = Object.fromEntries(new FormData(ev.target).entries());
    page.after = null;
    loadList();
  });
  $("#more").addEventListener("click", () => { page.after = page.next; loadList(); });
  $("#first").addEventListener("click", () => { page.after = null; loadList(); });
  $("#back-to-live").addEventListener("click", backToLive);
  $("#replay").addEventListener("click", replayHere);
  $("#send").addEventListener("submit", sendEvent);
  await loadList();
  const wanted = new URLSearchParams(location.hash.slice(1));
  if (wanted.get("actor")) {
    const rev = wanted.get("rev");
    await selectActor(wanted.get("actor"), rev === null ? null : Number(rev));
  }
  document.body.dataset.ready = "1";
  setInterval(poll, page.info.pollMs);
}

window.addEventListener("DOMContentLoaded", start);
