// pacedial dashboard: plain JavaScript, no build step, no network beyond this server.
// Live numbers come from the server-sent-events stream /api/campaigns/{name}/live, read with
// fetch() so the bearer token travels in a header (EventSource cannot send headers).
"use strict";

const $ = (sel) => document.querySelector(sel);
const HISTORY = 120; // chart points (about two minutes at one snapshot a second)
const AGENT_COLORS = { idle: "#1a7f37", talking: "#1f6feb", wrapup: "#8250df", paused: "#bf8700" };

const state = {
  token: localStorage.getItem("pacedial-token") || "",
  selected: null,
  stream: null, // AbortController of the live stream
  history: [],
  snapshot: null,
  previewShownAt: 0,
  previewCase: null,
};

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.token) h.Authorization = "Bearer " + state.token;
  return h;
}

function showError(message) {
  const box = $("#error");
  box.textContent = message;
  box.hidden = !message;
}

async function api(method, path, body, contentType) {
  const init = { method, headers: headers(body === undefined ? {} : { "Content-Type": contentType || "application/json" }) };
  if (body !== undefined) init.body = typeof body === "string" || body instanceof Blob ? body : JSON.stringify(body);
  const resp = await fetch(path, init);
  const text = await resp.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
  if (!resp.ok) {
    const msg = doc && doc.error ? doc.error.message : resp.status + " " + resp.statusText;
    throw new Error(msg);
  }
  return doc;
}

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

function pct(x) { return x === null || x === undefined ? "–" : (x * 100).toFixed(2) + "%"; }

// ---- campaigns ------------------------------------------------------------------------------

const ALLOWED = {
  running: ["pause", "stop"],
  paused: ["resume", "stop"],
  stopping: [],
  stopped: ["start"],
};

async function loadCampaigns() {
  let doc;
  try {
    doc = await api("GET", "/api/campaigns");
    $("#link").className = "pill on";
    $("#link").textContent = "connected";
  } catch (e) {
    $("#link").className = "pill off";
    $("#link").textContent = "offline";
    showError(e.message);
    return;
  }
  const body = $("#campaigns tbody");
  body.replaceChildren();
  for (const c of doc.campaigns) {
    const controls = el("td", { class: "controls" });
    for (const action of ["start", "pause", "resume", "stop"]) {
      const b = el("button", { "data-action": action, type: "button" }, action[0].toUpperCase() + action.slice(1));
      b.disabled = !(ALLOWED[c.state] || []).includes(action);
      b.addEventListener("click", (ev) => { ev.stopPropagation(); control(c.name, action); });
      controls.append(b);
    }
    const row = el("tr", { "data-name": c.name },
      el("td", {}, c.name), el("td", {}, c.mode),
      el("td", {}, el("span", { class: "pill " + c.state, "data-role": "state" }, c.state)),
      el("td", {}, c.scheduled_cases), controls);
    if (c.name === state.selected) row.classList.add("selected");
    row.addEventListener("click", () => select(c.name));
    body.append(row);
  }
  if (!state.selected && doc.campaigns.length) select(doc.campaigns[0].name);
}

async function control(name, action) {
  showError("");
  try {
    await api("POST", `/api/campaigns/${encodeURIComponent(name)}/${action}`);
  } catch (e) {
    showError(`${action} ${name}: ${e.message}`);
  }
  await loadCampaigns();
  if (name !== state.selected) select(name);
}

function select(name) {
  if (state.selected === name && state.stream) return;
  state.selected = name;
  state.history = [];
  for (const row of document.querySelectorAll("#campaigns tbody tr")) {
    row.classList.toggle("selected", row.dataset.name === name);
  }
  $("#live-name").textContent = name;
  for (const id of ["#live", "#agents-panel", "#callerid-panel", "#import-panel"]) $(id).hidden = false;
  startStream(name);
  loadCallerIds();
  loadPreview();
}

// ---- live stream (SSE over fetch) ------------------------------------------------------------

async function startStream(name) {
  if (state.stream) state.stream.abort();
  const ctl = new AbortController();
  state.stream = ctl;
  while (!ctl.signal.aborted && state.selected === name) {
    try {
      const resp = await fetch(`/api/campaigns/${encodeURIComponent(name)}/live`, { headers: headers(), signal: ctl.signal });
      if (!resp.ok) throw new Error(`live stream: ${resp.status}`);
      const reader = resp.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) onSnapshot(JSON.parse(data));
        }
      }
    } catch (e) {
      if (ctl.signal.aborted) return;
      showError(e.message);
    }
    await new Promise((r) => setTimeout(r, 2000)); // reconnect after a pause
  }
}

function onSnapshot(s) {
  state.snapshot = s;
  state.history.push(s);
  if (state.history.length > HISTORY) state.history.shift();
  $("#kpi-state").textContent = s.state;
  $("#kpi-state").className = "pill " + s.state;
  $("#kpi-inflight").textContent = s.in_flight;
  $("#kpi-dialrate").textContent = s.dial_rate_per_min;
  $("#kpi-launched").textContent = s.launched;
  $("#kpi-answered").textContent = s.answered;
  $("#kpi-connected").textContent = s.connected;
  $("#kpi-abandoned").textContent = s.abandoned;
  const rows = $("#windows tbody");
  rows.replaceChildren();
  for (const w of s.windows) {
    const over = w.rate !== null && w.rate > s.target_abandon_rate;
    rows.append(el("tr", { "data-window": w.label },
      el("td", {}, w.label), el("td", {}, w.connected), el("td", {}, w.abandoned),
      el("td", { class: over ? "over" : "under" }, pct(w.rate)), el("td", {}, pct(s.target_abandon_rate))));
  }
  const target = $("#pacing-target");
  if (document.activeElement !== target && !target.value) target.value = s.target_abandon_rate;
  renderAgents(s);
  drawCharts();
  // keep the campaign table's state in step with the stream
  const cell = document.querySelector(`#campaigns tr[data-name="${CSS.escape(s.campaign)}"] [data-role=state]`);
  if (cell && cell.textContent !== s.state) loadCampaigns();
  $("#preview-panel").hidden = s.mode !== "preview";
  if (s.mode === "preview") updatePreviewAgents(s);
}

function renderAgents(s) {
  const board = $("#agent-board");
  board.replaceChildren();
  if (!s.agents.length) board.append(el("span", { class: "muted" }, "no agents (campaign not running here)"));
  for (const a of s.agents) {
    board.append(el("div", { class: "agent " + a.status, "data-agent": a.agent },
      el("div", { class: "who" }, a.agent),
      el("div", { class: "state" }, `${a.status} · ${Math.round(a.seconds_in_state)} s`)));
  }
}

// ---- charts (canvas, drawn by hand) --------------------------------------------------------------

function plot(canvas, series, opts) {
  const ctx = canvas.getContext("2d");
  const W = canvas.width, H = canvas.height, pad = 28;
  ctx.clearRect(0, 0, W, H);
  let max = opts.max || 0;
  for (const s of series) for (const v of s.values) if (v !== null && v > max) max = v;
  if (max <= 0) max = 1;
  ctx.strokeStyle = "#dde3e9";
  ctx.fillStyle = "#6b7785";
  ctx.font = "10px sans-serif";
  for (let i = 0; i <= 4; i++) {
    const y = H - pad / 2 - (H - pad) * i / 4;
    ctx.beginPath(); ctx.moveTo(pad, y); ctx.lineTo(W - 4, y); ctx.stroke();
    ctx.fillText(opts.fmt(max * i / 4), 2, y + 3);
  }
  for (const s of series) {
    ctx.strokeStyle = s.color;
    ctx.lineWidth = s.width || 2;
    ctx.setLineDash(s.dash || []);
    ctx.beginPath();
    let started = false;
    s.values.forEach((v, i) => {
      if (v === null) return;
      const x = pad + (W - pad - 4) * i / Math.max(1, HISTORY - 1);
      const y = H - pad / 2 - (H - pad) * v / max;
      if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
    });
    ctx.stroke();
    ctx.setLineDash([]);
  }
}

function drawCharts() {
  const h = state.history;
  plot($("#chart-dial"), [{ values: h.map((s) => s.dial_rate_per_min), color: "#1f6feb" }], { fmt: (v) => v.toFixed(0) });
  const hour = (s) => (s.windows[0] ? s.windows[0].rate : null);
  const target = h.length ? h[h.length - 1].target_abandon_rate : 0.03;
  plot($("#chart-abandon"), [
    { values: h.map(hour), color: "#cf222e" },
    { values: h.map((s) => s.target_abandon_rate), color: "#6b7785", dash: [4, 3], width: 1 },
  ], { max: target * 1.5, fmt: (v) => (v * 100).toFixed(1) + "%" });
  plot($("#chart-agents"), Object.entries(AGENT_COLORS).map(([st, color]) => ({
    values: h.map((s) => s.agent_counts[st] || 0), color,
  })), { fmt: (v) => v.toFixed(0) });
}

// ---- caller IDs -------------------------------------------------------------------------------------

async function loadCallerIds() {
  if (!state.selected) return;
  try {
    const doc = await api("GET", `/api/campaigns/${encodeURIComponent(state.selected)}/callerid`);
    const body = $("#callerid tbody");
    body.replaceChildren();
    for (const n of doc.numbers) {
      body.append(el("tr", {},
        el("td", {}, n.number), el("td", {}, [n.province, n.city].filter(Boolean).join(" / ") || "–"),
        el("td", {}, n.calls), el("td", {}, pct(n.rate)), el("td", {}, pct(n.expected)),
        el("td", { class: "status-" + n.status, title: n.reason }, n.status)));
    }
  } catch (e) {
    showError("caller IDs: " + e.message);
  }
}

// ---- preview mode -----------------------------------------------------------------------------------

function updatePreviewAgents(s) {
  const sel = $("#preview-agent");
  const current = sel.value;
  const names = s.agents.filter((a) => a.status === "idle").map((a) => a.agent);
  if (names.join() === Array.from(sel.options).map((o) => o.value).join()) return;
  sel.replaceChildren(...names.map((n) => el("option", { value: n }, n)));
  if (names.includes(current)) sel.value = current;
}

async function loadPreview() {
  if (!state.selected) return;
  try {
    const doc = await api("GET", `/api/campaigns/${encodeURIComponent(state.selected)}/preview/next`);
    $("#preview-panel").hidden = doc.mode !== "preview";
    const dl = $("#preview-case");
    dl.replaceChildren();
    const c = doc.case;
    if (!c || (state.previewCase && state.previewCase.case_id !== c.case_id)) state.previewShownAt = Date.now();
    if (!state.previewCase) state.previewShownAt = Date.now();
    state.previewCase = c;
    state.previewAuto = doc.auto_dial_seconds;
    if (!c) { dl.append(el("dt", {}, "Next case"), el("dd", {}, "none due")); return; }
    const money = (c.amount_minor / 100).toFixed(2) + " " + c.currency;
    for (const [k, v] of [["Case", c.external_id], ["Debtor", c.debtor_name], ["Amount", money],
      ["Days past due", c.days_past_due], ["Phone", c.phone], ["Region", [c.province, c.city].filter(Boolean).join(" / ")],
      ["Previous attempts", c.previous_attempts]]) {
      dl.append(el("dt", {}, k), el("dd", {}, v));
    }
  } catch (e) {
    showError("preview: " + e.message);
  }
}

function tickPreviewTimer() {
  if (!state.previewCase || !state.previewAuto) { $("#preview-timer").textContent = "–"; return; }
  const left = Math.max(0, state.previewAuto - (Date.now() - state.previewShownAt) / 1000);
  $("#preview-timer").textContent = left.toFixed(0);
}

$("#preview-dial").addEventListener("click", async () => {
  try {
    await api("POST", `/api/campaigns/${encodeURIComponent(state.selected)}/preview/dial`, { agent: $("#preview-agent").value });
    state.previewCase = null;
    setTimeout(loadPreview, 500);
  } catch (e) { showError("dial: " + e.message); }
});

$("#preview-skip").addEventListener("click", async () => {
  if (!state.previewCase) return;
  try {
    await api("POST", `/api/campaigns/${encodeURIComponent(state.selected)}/preview/skip`, { case_id: state.previewCase.case_id, minutes: 60 });
    state.previewCase = null;
    await loadPreview();
  } catch (e) { showError("skip: " + e.message); }
});

// ---- forms --------------------------------------------------------------------------------------------

$("#pacing-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const change = {};
  if ($("#pacing-target").value) change.target_abandon_rate = Number($("#pacing-target").value);
  if ($("#pacing-lines").value) change.lines_per_agent = Number($("#pacing-lines").value);
  try {
    const doc = await api("PATCH", `/api/campaigns/${encodeURIComponent(state.selected)}/pacing`, change);
    $("#pacing-result").textContent = doc.applied_live ? "applied to the running campaign" : "saved (applies at next start)";
  } catch (e) { $("#pacing-result").textContent = e.message; }
});

$("#import-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("#import-file").files[0];
  if (!file) return;
  try {
    const doc = await api("POST", `/api/campaigns/${encodeURIComponent(state.selected)}/cases?source=${encodeURIComponent(file.name)}`, file, "text/csv");
    $("#import-result").textContent = `imported ${doc.imported}, updated ${doc.updated}, unchanged ${doc.unchanged}, rejected ${doc.rejected}`;
    $("#import-errors").replaceChildren(...doc.errors.slice(0, 50).map((e) => el("li", {}, `line ${e.line}, ${e.column}: ${e.reason}`)));
    loadCampaigns();
  } catch (e) { $("#import-result").textContent = e.message; }
});

$("#token-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  state.token = $("#token").value.trim();
  localStorage.setItem("pacedial-token", state.token);
  showError("");
  loadCampaigns();
  if (state.selected) { const name = state.selected; state.selected = null; select(name); }
});

$("#token").value = state.token;
loadCampaigns();
setInterval(loadCampaigns, 5000);
setInterval(loadCallerIds, 5000);
setInterval(() => { if (!$("#preview-panel").hidden) loadPreview(); }, 3000);
setInterval(tickPreviewTimer, 250);
