// tlspeek web UI. Plain modern JavaScript, no dependencies.
// Everything shown comes from captured traffic, which is hostile: text only
// ever goes in through textContent, never as HTML.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);
const state = {
  flows: new Map(),      // id -> flow record (as /api/flows gives it)
  rows: new Map(),       // id -> <tr>
  selected: null,        // id
  filter: "",
  lastId: 0,             // newest id seen, for since= after a reconnect
  pending: new Set(),    // ids with news, fetched in one batch
  timer: null,
  generation: 0,         // bumped by each new filter; older answers are dropped
};

// The token came in the URL; the page's answer set a cookie, so drop it
// from the address bar (and from history) at once.
if (location.search.includes("token=")) history.replaceState(null, "", "/");

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") e.className = v;
    else if (k.startsWith("data-")) e.setAttribute(k, v);
    else e[k] = v;
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

async function api(path, options) {
  const resp = await fetch(path, { credentials: "same-origin", ...options });
  if (!resp.ok) {
    let message = `${resp.status}`;
    try { message = (await resp.json()).error || message; } catch (_) { /* not JSON */ }
    throw new Error(message);
  }
  return resp;
}

// ---- formatting -----------------------------------------------------------

function fmtBytes(n) {
  if (n == null) return "";
  if (n < 1000) return `${n} B`;
  if (n < 1e6) return `${(n / 1e3).toFixed(1)} kB`;
  return `${(n / 1e6).toFixed(1)} MB`;
}
function fmtMs(ms) {
  if (ms == null || ms < 0) return "";
  return ms < 1000 ? `${ms.toFixed(ms < 10 ? 1 : 0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
function splitUrl(url) {
  try {
    const u = new URL(url);
    return { host: u.host, path: u.pathname + u.search };
  } catch (_) {
    return { host: "", path: url || "" };
  }
}
function protocolOf(f) {
  if (f.websocket) return "websocket";
  return f.client_protocol || f.http_version;
}
function statusClass(f) {
  if (f.error) return "err";
  return f.status ? `s${String(f.status)[0]}` : "";
}
function header(list, name) {
  const h = (list || []).find(([n]) => n.toLowerCase() === name);
  return h ? h[1] : null;
}

// ---- the list -------------------------------------------------------------

function cells(f) {
  const { host, path } = splitUrl(f.url);
  const time = (f.start || "").slice(11, 23);
  const type = (f.content_type || "").split(";")[0];
  const done = f.phase === "done" || f.phase === "error";
  return [
    [String(f.id), "n"], [time, ""], [`${f.replay_of != null ? "» " : ""}${f.method || ""}`, "m"], [host, ""], [path, ""],
    [f.error ? "error" : f.status ? String(f.status) : "…", `n ${statusClass(f)}`],
    [type, ""], [done || f.response_bytes ? fmtBytes(f.response_bytes) : "", "n"],
    [done ? fmtMs(f.duration_ms) : "", "n"], [protocolOf(f), ""],
    [(f.tls && ((f.tls.client && f.tls.client.version) || (f.tls.upstream && f.tls.upstream.version))) || "", ""],
  ];
}

function renderRow(f) {
  let tr = state.rows.get(f.id);
  const fresh = !tr;
  if (fresh) {
    tr = el("tr", { "data-flow-id": String(f.id) });
    tr.addEventListener("click", () => select(f.id));
    state.rows.set(f.id, tr);
  }
  tr.replaceChildren(...cells(f).map(([text, cls]) => el("td", { class: cls, title: text }, text)));
  tr.classList.toggle("inflight", f.phase === "request" || f.phase === "response");
  tr.classList.toggle("replay", f.replay_of != null);
  tr.classList.toggle("selected", state.selected === f.id);
  if (fresh) insertRow(tr, f.id);
}

// Rows stay in id order even when updates arrive out of order.
function insertRow(tr, id) {
  const body = $("[data-rows]");
  let after = null;
  for (let r = body.lastElementChild; r; r = r.previousElementSibling) {
    if (Number(r.dataset.flowId) < id) { after = r; break; }
  }
  const list = $("[data-list]");
  const atBottom = list.scrollTop + list.clientHeight >= list.scrollHeight - 4;
  if (after) after.after(tr); else body.prepend(tr);
  if (atBottom) list.scrollTop = list.scrollHeight; // follow the tail
}

function removeRow(id) {
  const tr = state.rows.get(id);
  if (tr) tr.remove();
  state.rows.delete(id);
  state.flows.delete(id);
}

function updateCount() {
  const n = state.rows.size;
  $("[data-count]").textContent = `${n} flow${n === 1 ? "" : "s"}`;
  $("[data-empty]").hidden = n > 0;
}

function setFilterError(message) {
  const box = $("[data-filter-error]");
  box.textContent = message || "";
  box.hidden = !message;
  $("input[name=filter]").classList.toggle("bad", !!message);
}

function query(since) {
  const q = new URLSearchParams({ since: String(since) });
  if (state.filter) q.set("filter", state.filter);
  return q.toString();
}

// Take flows after since (under the current filter) into the list; ids in
// `expected` that did not come back no longer match and go.
async function load(since, expected = null) {
  const generation = state.generation;
  let data;
  try {
    data = await (await api(`/api/flows?${query(since)}`)).json();
    if (generation !== state.generation) return; // a newer filter took over
    setFilterError(null);
  } catch (e) {
    setFilterError(e.message);
    return;
  }
  const seen = new Set();
  for (const f of data.flows) {
    seen.add(f.id);
    state.flows.set(f.id, f);
    renderRow(f);
    if (f.id === state.selected) showDetail(f);
  }
  if (expected) for (const id of expected) if (!seen.has(id)) removeRow(id);
  state.lastId = Math.max(state.lastId, data.last_id || 0);
  updateCount();
}

// A new filter: the rows change in one step when the answer is there (no
// empty list in between); those that no longer match go.
async function reload() {
  state.generation++;
  await load(0, [...state.rows.keys()]);
}

function schedule(id) {
  state.pending.add(id);
  if (state.timer) return;
  // Batch a burst of events into one request.
  state.timer = setTimeout(async () => {
    const ids = [...state.pending];
    state.pending.clear();
    state.timer = null;
    await load(Math.min(...ids) - 1, state.filter ? ids : null);
  }, 60);
}

// ---- live updates ---------------------------------------------------------

function connect() {
  const live = $("[data-live]");
  const es = new EventSource("/api/events");
  es.addEventListener("hello", () => {
    live.textContent = "live"; live.className = "live on";
    load(state.lastId); // catch up on what happened while away
  });
  es.addEventListener("flow", (ev) => {
    const { id } = JSON.parse(ev.data);
    state.lastId = Math.max(state.lastId, id);
    schedule(id);
  });
  es.addEventListener("clear", () => { for (const id of [...state.rows.keys()]) removeRow(id); clearDetail(); updateCount(); });
  es.onerror = () => { live.textContent = "reconnecting…"; live.className = "live off"; };
}

// ---- selection and keyboard -------------------------------------------------

function select(id) {
  if (state.selected != null) state.rows.get(state.selected)?.classList.remove("selected");
  state.selected = id;
  const tr = state.rows.get(id);
  if (!tr) return;
  tr.classList.add("selected");
  tr.scrollIntoView({ block: "nearest" });
  showDetail(state.flows.get(id));
}

function move(delta) {
  const ids = [...$("[data-rows]").children].map((r) => Number(r.dataset.flowId));
  if (!ids.length) return;
  const at = ids.indexOf(state.selected);
  const next = at < 0 ? (delta > 0 ? 0 : ids.length - 1)
                      : Math.min(ids.length - 1, Math.max(0, at + delta));
  select(ids[next]);
}

document.addEventListener("keydown", (ev) => {
  const input = $("input[name=filter]");
  if (ev.target === input) {
    if (ev.key === "Escape" || ev.key === "Enter") input.blur();
    return;
  }
  if (ev.key === "/") { ev.preventDefault(); input.focus(); input.select(); }
  else if (ev.key === "ArrowDown" || ev.key === "j") { ev.preventDefault(); move(1); }
  else if (ev.key === "ArrowUp" || ev.key === "k") { ev.preventDefault(); move(-1); }
});

let filterTimer = null;
$("input[name=filter]").addEventListener("input", (ev) => {
  clearTimeout(filterTimer);
  filterTimer = setTimeout(() => { state.filter = ev.target.value.trim(); reload(); }, 150);
});

// ---- the detail pane --------------------------------------------------------

function clearDetail() {
  state.selected = null;
  $("[data-detail]").replaceChildren(el("p", { class: "placeholder" }, "Select a flow to see it here."));
}

function kvTable(pairs) {
  if (!pairs || !pairs.length) return el("p", { class: "note" }, "none");
  return el("table", { class: "kv" },
    el("tbody", {}, ...pairs.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", {}, v ?? "—")))));
}

function hexDump(bytes) {
  const lines = [];
  const n = Math.min(bytes.length, 16384);
  for (let off = 0; off < n; off += 16) {
    const row = bytes.subarray(off, off + 16);
    const hex = [...row].map((b) => b.toString(16).padStart(2, "0")).join(" ");
    const text = [...row].map((b) => (b >= 32 && b < 127 ? String.fromCharCode(b) : ".")).join("");
    lines.push(`${off.toString(16).padStart(8, "0")}  ${hex.padEnd(47)}  ${text}`);
  }
  if (bytes.length > n) lines.push(`… ${bytes.length - n} more bytes`);
  return lines.join("\n");
}

// A body, fetched on demand, shown by what it is.
function bodyView(f, which) {
  const kept = f[`${which}_body_kept`] || { bytes: 0, truncated: false };
  const box = el("div", { class: "body" });
  const total = which === "request" ? f.request_bytes : f.response_bytes;
  if (!kept.bytes) {
    box.append(el("p", { class: "note" }, total ? `${fmtBytes(total)} (not kept)` : "no body"));
    return box;
  }
  const headers = which === "request" ? f.request_headers : f.response_headers;
  const type = (header(headers, "content-type") || "").toLowerCase();
  const encoding = header(headers, "content-encoding");
  box.append(el("p", { class: "note" }, `${fmtBytes(kept.bytes)}${kept.truncated ? ` of ${fmtBytes(total)} (over --body-limit)` : ""}${encoding ? `, ${encoding}-encoded as sent` : ""}`));
  api(`/api/flows/${f.id}/${which}/body`).then((r) => r.arrayBuffer()).then((buf) => {
    const bytes = new Uint8Array(buf);
    if (type.startsWith("image/") && !encoding) {
      const url = URL.createObjectURL(new Blob([bytes], { type: type.split(";")[0] }));
      box.append(el("img", { src: url, alt: "response image" }));
      return;
    }
    let text = null;
    if (!encoding) {
      try { text = new TextDecoder("utf-8", { fatal: true }).decode(bytes); } catch (_) { text = null; }
    }
    if (text != null && text.includes("\u0000")) text = null;
    if (text != null && /json/.test(type)) {
      try { text = JSON.stringify(JSON.parse(text), null, 2); } catch (_) { /* as sent */ }
    }
    box.append(text != null ? el("pre", {}, text) : el("pre", { class: "hex" }, hexDump(bytes)));
  }).catch((e) => box.append(el("p", { class: "note" }, `cannot load: ${e.message}`)));
  return box;
}

function timingView(f) {
  const t = f.timing || {};
  const total = f.duration_ms || 0;
  const send = t.request_end >= 0 ? t.request_end : 0;
  const wait = t.response_start >= 0 ? t.response_start - send : 0;
  const recv = t.end >= 0 && t.response_start >= 0 ? t.end - t.response_start : 0;
  const bar = el("div", { class: "timing" });
  for (const [cls, ms] of [["t-send", send], ["t-wait", wait], ["t-recv", recv]]) {
    const s = el("span", { class: cls, title: fmtMs(ms) });
    s.style.width = total > 0 ? `${Math.max(0, (100 * ms) / total)}%` : "0";
    bar.append(s);
  }
  return el("div", {}, bar, kvTable([["started", f.start], ["request sent", fmtMs(send)],
    ["waiting", fmtMs(wait)], ["receiving", fmtMs(recv)], ["total", fmtMs(total)]]));
}

function tlsView(f) {
  const leg = (t) => (t ? kvTable([["version", t.version], ["cipher", t.cipher], ["SNI", t.sni], ["ALPN", t.alpn]])
                        : el("p", { class: "note" }, "plain (no TLS)"));
  return el("div", { class: "sides" },
    el("div", {}, el("h3", {}, "Client ⇄ tlspeek"), leg(f.tls && f.tls.client)),
    el("div", {}, el("h3", {}, "tlspeek ⇄ server"), leg(f.tls && f.tls.upstream)));
}

function showDetail(f) {
  if (!f) return;
  const pane = $("[data-detail]");
  const status = f.error ? "failed" : f.status ? `${f.status} ${f.reason || ""}` : "waiting for the response…";
  const actions = el("div", { class: "actions" },
    el("button", { type: "button", "data-action": "replay", onclick: () => replay(f.id) }, "Replay"),
    el("button", { type: "button", "data-action": "curl", onclick: () => copyCurl(f.id) }, "Copy as curl"));
  const output = el("div", { "data-action-output": "" });
  pane.replaceChildren(...[
    el("h2", {}, `${f.method} ${f.url}`),
    el("p", { class: `note ${statusClass(f)}` }, `#${f.id} · ${status} · ${protocolOf(f)} · ${f.phase}${f.replay_of != null ? ` · replay of #${f.replay_of}` : ""}`),
    actions, output,
    f.error ? el("div", { class: "error-box" }, f.error) : null,
    el("div", { class: "sides" },
      el("div", {}, el("h3", {}, "Request headers"), kvTable(f.request_headers)),
      el("div", {}, el("h3", {}, "Response headers"), kvTable(f.response_headers))),
    el("div", { class: "sides" },
      el("div", {}, el("h3", {}, "Request body"), bodyView(f, "request")),
      el("div", {}, el("h3", {}, "Response body"), bodyView(f, "response"))),
    (f.request_trailers.length || f.response_trailers.length)
      ? el("div", { class: "sides" },
          el("div", {}, el("h3", {}, "Request trailers"), kvTable(f.request_trailers)),
          el("div", {}, el("h3", {}, "Response trailers"), kvTable(f.response_trailers)))
      : null,
    f.websocket ? el("div", {}, el("h3", {}, "Websocket"),
      kvTable([["messages up", String(f.ws_messages_up)], ["messages down", String(f.ws_messages_down)]])) : null,
    el("h3", {}, "Timing"), timingView(f),
    el("h3", {}, "TLS"), tlsView(f),
    el("h3", {}, "Connection"),
    kvTable([["client", f.client], ["server", f.upstream], ["answered by tlspeek", f.answered_by_proxy ? "yes" : "no"]]),
  ].filter(Boolean));
}

// ---- actions ----------------------------------------------------------------

function showOutput(...nodes) {
  const out = $("[data-action-output]");
  if (out) out.replaceChildren(...nodes);
}

async function copyCurl(id) {
  try {
    const text = await (await api(`/api/flows/${id}/curl`)).text();
    const pre = el("pre", { "data-curl": "" }, text);
    let note = "copied to the clipboard";
    // A clipboard the browser refuses (or never answers) is no failure.
    const refused = new Promise((_, reject) => setTimeout(() => reject(new Error("timeout")), 500));
    try { await Promise.race([navigator.clipboard.writeText(text), refused]); }
    catch (_) { note = "select and copy:"; }
    showOutput(el("p", { class: "note" }, note), pre);
  } catch (e) {
    showOutput(el("p", { class: "err" }, `curl: ${e.message}`));
  }
}

async function replay(id) {
  try {
    const { id: newId } = await (await api(`/api/flows/${id}/replay`, { method: "POST" })).json();
    showOutput(el("p", { class: "note", "data-replayed": String(newId) }, `replayed as #${newId}`));
  } catch (e) {
    showOutput(el("p", { class: "err" }, `replay: ${e.message}`));
  }
}

document.addEventListener("click", async (ev) => {
  const action = ev.target.closest("[data-action]")?.dataset.action;
  if (action === "har") {
    const q = state.filter ? `?${new URLSearchParams({ filter: state.filter })}` : "";
    const blob = await (await api(`/api/har${q}`)).blob();
    const a = el("a", { href: URL.createObjectURL(blob), download: "tlspeek.har" });
    document.body.append(a); a.click(); a.remove();
  } else if (action === "clear") {
    await api("/api/flows", { method: "DELETE" });
  } else if (action === "help") {
    $("[data-help]").hidden = !$("[data-help]").hidden;
  }
});

connect();
