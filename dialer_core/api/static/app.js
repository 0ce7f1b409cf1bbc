// pacedial dashboard: plain JavaScript, no build step, no network beyond this server.
// Live numbers come from the server-sent-events stream /api/campaigns/{name}/live, read with
// fetch() so the bearer token travels in a header (EventSource cannot send headers).
"use strict";

const $ = (sel) => document.querySelector(sel);
const HISTORY = 120; // chart points (about two minutes at one snapshot a second)
const AGENT_COLORS = { idle: "#1a7f37", talking: "#1f6feb", wrapup: "#8250df", paused: "#bf8700" };

const state = {
  token: localStorage.getItem("pacedial-token") || "",
  csrf: "", // the login session's CSRF token (people); API tokens need none
  floor: null,
  selected: null,
  stream: null, // AbortController of the live stream
  history: [],
  snapshot: null,
  previewShownAt: 0,
  previewCase: null,
};

function headers(extra) {
  const h = Object.assign({}, extra || {});
  if (state.csrf) h["X-CSRF-Token"] = state.csrf;
  else if (state.token) h.Authorization = "Bearer " + state.token;
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
  if (!state.selected && doc.campaigns.length) {
    const order = { running: 0, paused: 1, stopping: 2, stopped: 3 };
    const first = [...doc.campaigns].sort((a, b) => (order[a.state] ?? 9) - (order[b.state] ?? 9))[0];
    select(first.name);
  }
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
  for (const id of ["#floor", "#live", "#agents-panel", "#callerid-panel", "#import-panel", "#detail-panel"]) $(id).hidden = false;
  $("#floor-name").textContent = name;
  startStream(name);
  loadFloor();
  loadDetail();
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
  drawCharts();
  // keep the campaign table's state in step with the stream
  const cell = document.querySelector(`#campaigns tr[data-name="${CSS.escape(s.campaign)}"] [data-role=state]`);
  if (cell && cell.textContent !== s.state) loadCampaigns();
  $("#preview-panel").hidden = s.mode !== "preview";
  if (s.mode === "preview") updatePreviewAgents(s);
}

function mmss(seconds) {
  const s = Math.round(seconds || 0);
  return s < 3600 ? `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}` : `${(s / 3600).toFixed(1)} h`;
}

function renderAgents() {
  const f = state.floor;
  const board = $("#agent-board");
  board.replaceChildren();
  if (!f || !f.agents.length) { board.append(el("span", { class: "muted" }, "no agents (campaign not running here)")); return; }
  for (const a of f.agents) {
    const spy = el("div", { class: "spy" });
    if (a.on_call) {
      for (const mode of ["listen", "whisper", "barge"]) {
        const b = el("button", { type: "button", "data-spy": mode }, mode);
        b.addEventListener("click", () => startSpy(a.seat, mode));
        spy.append(b);
      }
    }
    const rpc = a.right_party_rate === null ? "–" : pct(a.right_party_rate).replace(".00", "");
    board.append(el("div", { class: "agent " + a.state, "data-agent": a.seat, title: a.seat },
      el("div", { class: "who" }, a.name),
      el("div", { class: "state" }, `${a.state} · ${mmss(a.seconds_in_state)}`),
      el("div", { class: "figs" }, `${a.calls} calls · talk ${mmss(a.talk_seconds)} · ${a.promises} PTP · RPC ${rpc}`),
      spy));
  }
}

async function loadFloor() {
  if (!state.selected) return;
  try {
    const f = await api("GET", `/api/campaigns/${encodeURIComponent(state.selected)}/floor`);
    state.floor = f;
    const t = f.today;
    $("#floor-day").textContent = `${f.day} (${f.time_zone})`;
    $("#tile-promises").textContent = t.promises;
    $("#tile-promised").textContent = `${t.promised} · robot ${t.robot_promises} / human ${t.human_promises}`;
    $("#tile-handled").textContent = `${t.robot} / ${t.human}`;
    $("#tile-drop").textContent = pct(t.drop_rate);
    $("#tile-drop").className = "value " + (t.drop_rate !== null && t.drop_rate > f.target_abandon_rate ? "over" : "");
    $("#tile-target").textContent = `target ${pct(f.target_abandon_rate)} · ${t.abandoned} of ${t.connected + t.abandoned}`;
    $("#tile-leads").textContent = t.leads_scheduled;
    $("#tile-due").textContent = `${t.leads_due} due now`;
    const live = f.live;
    $("#tile-waiting").textContent = live ? live.waiting : "–";
    $("#tile-longest").textContent = live ? `longest ${live.longest_wait_seconds.toFixed(1)} s` : "not running here";
    $("#tile-robot-live").textContent = live ? `${live.robot_sessions} robot dialogs now` : "";
    $("#tile-level").textContent = live && live.lines_per_agent !== null ? live.lines_per_agent.toFixed(2) : "–";
    $("#tile-mode").textContent = `${f.mode} · lines ringing per staffed agent`;
    $("#dispositions").replaceChildren(...Object.entries(t.dispositions).map(([d, n]) => el("span", { "data-disposition": d }, `${d} ${n}`)));
    renderAgents();
  } catch (e) {
    showError("floor: " + e.message);
  }
}

async function startSpy(seat, mode) {
  const body = { agent: seat, mode };
  if ($("#spy-phone").value.trim()) body.phone = $("#spy-phone").value.trim();
  try {
    const r = await api("POST", "/api/agents/spy", body);
    $("#spy-result").textContent = `${mode} call placed (${r.spy_call_id.slice(0, 8)})`;
  } catch (e) { $("#spy-result").textContent = `${mode}: ${e.message}`; }
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
  if (opts.integer) max = Math.max(4, Math.ceil(max / 4) * 4); // whole-number ticks, none repeated
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
  plot($("#chart-dial"), [{ values: h.map((s) => s.dial_rate_per_min), color: "#1f6feb" }], { fmt: (v) => v.toFixed(0), integer: true });
  const hour = (s) => (s.windows[0] ? s.windows[0].rate : null);
  const target = h.length ? h[h.length - 1].target_abandon_rate : 0.03;
  plot($("#chart-abandon"), [
    { values: h.map(hour), color: "#cf222e" },
    { values: h.map((s) => s.target_abandon_rate), color: "#6b7785", dash: [4, 3], width: 1 },
  ], { max: target * 1.2, fmt: (v) => (v * 100).toFixed(1) + "%" }); // grows with the data
  plot($("#chart-agents"), Object.entries(AGENT_COLORS).map(([st, color]) => ({
    values: h.map((s) => s.agent_counts[st] || 0), color,
  })), { fmt: (v) => v.toFixed(0), integer: true });
}

// ---- caller IDs -------------------------------------------------------------------------------------

async function loadCallerIds() {
  if (!state.selected) return;
  try {
    const doc = await api("GET", `/api/campaigns/${encodeURIComponent(state.selected)}/callerid`);
    const body = $("#callerid tbody");
    body.replaceChildren();
    for (const n of doc.numbers) {
      const judged = n.status !== "insufficient";
      const status = judged ? n.status : `needs ${n.needs_calls} more calls`;
      body.append(el("tr", { "data-number": n.number },
        el("td", {}, n.number), el("td", {}, [n.province, n.city].filter(Boolean).join(" / ") || "–"),
        el("td", {}, n.calls), el("td", {}, n.calls ? pct(n.answered / n.calls) : "–"),
        el("td", {}, n.expected ? pct(n.expected) : "–"),
        el("td", { class: "status-" + n.status }, status), el("td", { class: "muted why" }, n.reason)));
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

// ---- campaign detail: settings, DNC, reports, recordings --------------------------------------------

async function loadDetail() {
  if (!state.selected) return;
  try {
    const c = await api("GET", `/api/campaigns/${encodeURIComponent(state.selected)}`);
    $("#config-editor").value = JSON.stringify(c.config, null, 2);
    $("#config-result").textContent = "";
  } catch (e) { $("#config-result").textContent = e.message; }
  const today = new Date().toISOString().slice(0, 10);
  if (!$("#report-to").value) $("#report-to").value = today;
  if (!$("#report-from").value) $("#report-from").value = new Date(Date.now() - 6 * 864e5).toISOString().slice(0, 10);
  loadRecordings();
}

async function saveConfig(asNew) {
  let doc;
  try { doc = JSON.parse($("#config-editor").value); } catch (e) { $("#config-result").textContent = "not valid JSON: " + e.message; return; }
  if (asNew) {
    const name = prompt("Name of the new campaign");
    if (!name) return;
    doc.campaign = Object.assign({}, doc.campaign, { name });
  }
  try {
    const r = await api("POST", "/api/campaigns" + (asNew ? "" : "?replace=true"), doc);
    $("#config-result").textContent = asNew ? `created ${r.name}` : "saved (applies at the next start)";
    await loadCampaigns();
    if (asNew) select(r.name);
  } catch (e) { $("#config-result").textContent = e.message; }
}

$("#config-save").addEventListener("click", () => saveConfig(false));
$("#config-new").addEventListener("click", () => saveConfig(true));

$("#dnc-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const file = $("#dnc-file").files[0];
  if (!file) return;
  try {
    const r = await api("POST", `/api/dnc/import?source=${encodeURIComponent(file.name)}`, file, "text/csv");
    $("#dnc-result").textContent = `added ${r.added}, already listed ${r.already_listed}, rejected ${r.rejected}`;
  } catch (e) { $("#dnc-result").textContent = e.message; }
});

async function fetchBlob(path) {
  const resp = await fetch(path, { headers: headers(), credentials: "same-origin" });
  if (!resp.ok) {
    let msg = resp.status + " " + resp.statusText;
    try { msg = (await resp.json()).error.message; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return URL.createObjectURL(await resp.blob());
}

$("#report-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const q = new URLSearchParams({ from: $("#report-from").value, to: $("#report-to").value, tz: $("#report-tz").value });
  try {
    const url = await fetchBlob(`/api/campaigns/${encodeURIComponent(state.selected)}/report?${q}`);
    $("#report-result").replaceChildren(el("a", { href: url, target: "_blank", rel: "noopener" }, "report ready: open"));
  } catch (e) { $("#report-result").textContent = e.message; }
});

async function loadRecordings() {
  const body = $("#recordings tbody");
  try {
    const r = await api("GET", "/api/recordings?limit=20");
    body.replaceChildren(...r.recordings.map((rec) => {
      const play = el("button", { type: "button" }, "play");
      play.addEventListener("click", async () => {
        try {
          $("#player").src = await fetchBlob("/api/recordings/" + rec.path.split("/").map(encodeURIComponent).join("/"));
          $("#player").hidden = false;
          $("#player").play();
        } catch (e) { showError("recording: " + e.message); }
      });
      return el("tr", {}, el("td", {}, (rec.call_id || rec.path).slice(0, 8)), el("td", {}, new Date(rec.modified).toLocaleString()),
        el("td", {}, Math.round(rec.bytes / 1024) + " kB"), el("td", {}, play));
    }));
    if (!r.recordings.length) body.append(el("tr", {}, el("td", { class: "muted", colSpan: 4 }, "no recordings")));
  } catch (e) {
    body.replaceChildren(el("tr", {}, el("td", { class: "muted", colSpan: 4 }, e.message)));
  }
}

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

for (const id of ["#pacing-target", "#pacing-lines"]) $(id).addEventListener("input", () => { $("#pacing-result").textContent = ""; });

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

function showPerson(me) {
  state.csrf = me ? me.csrf_token : "";
  $("#who").textContent = me ? `${me.name} (${me.role.replace("_", " ")})` : "";
  $("#logout").hidden = !me;
  $("#login-form").hidden = !!me;
  $("#token-form").hidden = !!me;
}

async function whoAmI() {
  try {
    const resp = await fetch("/api/me", { credentials: "same-origin" });
    showPerson(resp.ok ? await resp.json() : null);
  } catch (e) { showPerson(null); }
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const me = await api("POST", "/api/login", { username: $("#username").value, password: $("#password").value });
    $("#password").value = "";
    if (me.role === "agent") { location.href = "/agent"; return; }
    showPerson(me);
    showError("");
    await loadCampaigns();
    if (state.selected) { const name = state.selected; state.selected = null; select(name); }
  } catch (e) { showError("login: " + e.message); }
});

$("#logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout"); } catch (e) { /* gone either way */ }
  showPerson(null);
});

$("#token").value = state.token;
whoAmI().then(loadCampaigns);
setInterval(loadFloor, 1000);
setInterval(loadCampaigns, 5000);
setInterval(loadCallerIds, 5000);
setInterval(() => { if (!$("#preview-panel").hidden) loadPreview(); }, 3000);
setInterval(tickPreviewTimer, 250);
