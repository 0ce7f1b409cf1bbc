// pacedial agent desktop: plain JavaScript, no build step. The session cookie authenticates;
// every state-changing request echoes the session's CSRF token in X-CSRF-Token.
"use strict";

const $ = (sel) => document.querySelector(sel);
const desk = { csrf: "", me: null, callId: null, wrapupFor: null, outcome: "", preview: null, previewSince: 0, previewAuto: 0 };

function showError(message) {
  $("#error").textContent = message;
  $("#error").hidden = !message;
}

async function api(method, path, body) {
  const init = { method, headers: {}, credentials: "same-origin" };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET") init.headers["X-CSRF-Token"] = desk.csrf;
  const resp = await fetch(path, init);
  const text = await resp.text();
  let doc = null;
  try { doc = text ? JSON.parse(text) : null; } catch (e) { doc = null; }
  if (!resp.ok) {
    const err = new Error(doc && doc.error ? doc.error.message : resp.status + " " + resp.statusText);
    err.status = resp.status;
    throw err;
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

function when(iso) { return iso ? new Date(iso).toLocaleString() : "–"; }

function showLogin() {
  $("#login-panel").hidden = false;
  for (const id of ["#call-panel", "#waiting-panel", "#preview-panel", "#state-controls"]) $(id).hidden = true;
  $("#me").textContent = "";
}

async function start() {
  try {
    const me = await api("GET", "/api/me");
    if (me.role !== "agent") { showError(`${me.name} is a ${me.role}, not an agent: use the floor view at /`); return; }
    desk.me = me;
    desk.csrf = me.csrf_token;
    $("#login-panel").hidden = true;
    $("#state-controls").hidden = false;
    $("#me").textContent = `${me.name} · ${me.pbx_agent}`;
    await refresh();
  } catch (e) {
    if (e.status === 401) showLogin(); else showError(e.message);
  }
}

async function refresh() {
  if (!desk.me) return;
  let doc;
  try {
    doc = await api("GET", "/api/agent/desk");
  } catch (e) {
    if (e.status === 401) { desk.me = null; showLogin(); return; }
    showError(e.message);
    return;
  }
  showError("");
  $("#agent-state").textContent = doc.state;
  $("#agent-state").className = "pill agent-" + doc.state;
  $("#state-time").textContent = doc.seconds_in_state === null ? "" : `${Math.round(doc.seconds_in_state)} s`;
  const codes = $("#pause-code");
  if (!codes.options.length) codes.replaceChildren(...doc.pause_codes.map((c) => el("option", { value: c }, c)));
  if (!$("#outcomes").children.length) renderOutcomes(doc.outcomes);
  const call = doc.call;
  $("#waiting-panel").hidden = !!call;
  $("#call-panel").hidden = !call;
  if (!call) { desk.callId = null; await refreshPreview(); return; }
  $("#preview-panel").hidden = true;
  if ((call.live || doc.state === "idle") && desk.wrapupFor !== call.call_id) {
    // The seat goes to wrap-up (paused "wrapup"): the PBX offers it no call until the
    // disposition is saved. During the call the PBX still reports the seat as talking.
    desk.wrapupFor = call.call_id;
    api("POST", "/api/agent/state", { state: "wrapup" }).catch((e) => showError("wrap-up: " + e.message));
  }
  $("#call-kind").textContent = call.live ? "On call" : "Wrap-up";
  if (desk.callId !== call.call_id) renderCall(call);
  $("#save").disabled = call.saved;
  if (call.saved) $("#save-result").textContent = "saved";
}

// Preview mode: the case the seat's next call will dial, with Dial now and Skip.
async function refreshPreview() {
  let doc;
  try { doc = await api("GET", "/api/agent/preview"); } catch (e) { showError("preview: " + e.message); return; }
  const c = doc.case;
  $("#preview-panel").hidden = !c;
  $("#waiting-panel").hidden = !!c;
  if (!c) { desk.preview = null; return; }
  if (!desk.preview || desk.preview.case_id !== c.case_id) desk.previewSince = Date.now();
  desk.preview = c;
  desk.previewAuto = doc.auto_dial_seconds || 0;
  $("#preview-name").textContent = c.debtor_name;
  $("#preview-ref").textContent = c.external_id;
  $("#preview-campaign").textContent = doc.campaign;
  const amount = (c.amount_minor / 100).toLocaleString(undefined, { minimumFractionDigits: 2 }) + " " + c.currency;
  $("#preview-facts").replaceChildren(...[["Amount", amount], ["Days past due", c.days_past_due],
    ["Product", c.product || "–"], ["Phone", c.phone], ["Where", [c.city, c.province].filter(Boolean).join(", ") || "–"],
    ["Previous attempts", c.previous_attempts]].flatMap(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]));
  const left = desk.previewAuto ? Math.max(0, desk.previewAuto - (Date.now() - desk.previewSince) / 1000) : null;
  $("#preview-timer").textContent = left === null ? "–" : left.toFixed(0);
}

$("#preview-dial").addEventListener("click", async () => {
  try { await api("POST", "/api/agent/preview/dial"); desk.preview = null; await refresh(); } catch (e) { showError("dial: " + e.message); }
});

$("#preview-skip").addEventListener("click", async () => {
  if (!desk.preview) return;
  try {
    await api("POST", "/api/agent/preview/skip", { case_id: desk.preview.case_id, minutes: Number($("#preview-minutes").value) });
    desk.preview = null;
    await refresh();
  } catch (e) { showError("skip: " + e.message); }
});

function renderOutcomes(outcomes) {
  $("#outcomes").replaceChildren(...outcomes.map((o) => {
    const input = el("input", { type: "radio", name: "outcome", value: o });
    input.addEventListener("change", () => {
      desk.outcome = o;
      $("#ptp-fields").hidden = o !== "promise_to_pay";
    });
    return el("label", { class: "outcome", "data-outcome": o }, input, o.replaceAll("_", " "));
  }));
}

function renderCall(call) {
  desk.callId = call.call_id;
  desk.outcome = "";
  $("#dispo-form").reset();
  $("#ptp-fields").hidden = true;
  $("#save-result").textContent = "";
  const c = call.case;
  $("#debtor-name").textContent = c.debtor_name;
  $("#case-ref").textContent = c.external_id;
  $("#call-campaign").textContent = call.campaign;
  $("#ptp-currency").textContent = c.currency;
  const facts = $("#case-facts");
  facts.replaceChildren();
  for (const [k, v] of [["Amount", c.amount], ["Days past due", c.days_past_due], ["Product", c.product || "–"],
    ["Due date", c.due_date || "–"], ["Phones", call.phones.map((p) => p.e164 + (p.status === "active" ? "" : " (" + p.status + ")")).join(", ")]]) {
    facts.append(el("dt", {}, k), el("dd", {}, v));
  }
  $("#script").textContent = call.script;
  $("#history tbody").replaceChildren(...call.attempts.map((a) => el("tr", {},
    el("td", {}, when(a.created_at)), el("td", {}, a.outcome || a.disposition || "in progress"),
    el("td", {}, a.talk_seconds === null ? "–" : Math.round(a.talk_seconds) + " s"))));
  $("#promises").replaceChildren(...(call.promises.length ? call.promises.map((p) =>
    el("li", {}, `${p.amount} by ${p.due_date} (${p.status}, ${p.source})`)) : [el("li", { class: "muted" }, "none")]));
  $("#notes").replaceChildren(...(call.notes.length ? call.notes.map((n) =>
    el("li", {}, `${when(n.at)} ${n.by}: ${n.outcome}${n.note ? " · " + n.note : ""}`)) : [el("li", { class: "muted" }, "none")]));
}

$("#login-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    await api("POST", "/api/login", { username: $("#username").value, password: $("#password").value });
    $("#password").value = "";
    showError("");
    await start();
  } catch (e) { showError("login: " + e.message); }
});

$("#logout").addEventListener("click", async () => {
  try { await api("POST", "/api/logout"); } catch (e) { /* the session is gone either way */ }
  desk.me = null;
  showLogin();
});

$("#ready").addEventListener("click", async () => {
  try { await api("POST", "/api/agent/state", { state: "ready" }); await refresh(); } catch (e) { showError("ready: " + e.message); }
});

$("#pause").addEventListener("click", async () => {
  try { await api("POST", "/api/agent/state", { state: "paused", code: $("#pause-code").value }); await refresh(); } catch (e) { showError("pause: " + e.message); }
});

$("#dispo-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!desk.callId) return;
  if (!desk.outcome) { $("#save-result").textContent = "choose an outcome"; return; }
  const body = { call_id: desk.callId, outcome: desk.outcome, note: $("#note").value, stay_paused: $("#stay-paused").checked };
  if (desk.outcome === "promise_to_pay") {
    body.ptp_amount = $("#ptp-amount").value;
    body.ptp_date = $("#ptp-date").value;
    body.installments = Number($("#ptp-installments").value || 1);
  }
  const cb = $("#callback-at").value;
  if (cb) body.callback_at = new Date(cb).toISOString();
  try {
    await api("POST", "/api/agent/disposition", body);
    $("#save-result").textContent = "saved";
    desk.callId = null;
    await refresh();
  } catch (e) { $("#save-result").textContent = e.message; }
});

start();
setInterval(refresh, 1000);
