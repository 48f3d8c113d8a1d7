// slolab trace view: recent traces from /api/traces, one trace's waterfall at #<trace id>.
"use strict";

const PALETTE = ["#1f6feb", "#8250df", "#1a7f37", "#bf8700", "#0a7ea4", "#cf222e"];
const colours = {};
function colour(service) {
  if (!colours[service]) colours[service] = PALETTE[Object.keys(colours).length % PALETTE.length];
  return colours[service];
}
function add(parent, tag, text, cls) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (cls) el.className = cls;
  parent.appendChild(el);
  return el;
}
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
function ms(v) { return v >= 100 ? v.toFixed(0) + " ms" : v.toFixed(1) + " ms"; }
function when(ns) { return new Date(ns / 1e6).toISOString().replace("T", " ").slice(0, 23); }

async function fetchJSON(url) {
  const resp = await fetch(url, { cache: "no-store" });
  const body = await resp.json();
  if (!resp.ok) throw Object.assign(new Error(body.error || resp.statusText), { body });
  return body;
}
function showError(e) {
  const err = document.getElementById("error");
  err.hidden = !e;
  err.textContent = e ? String(e.message || e) : "";
}

const knownServices = new Set();

async function loadList() {
  const form = new FormData(document.getElementById("filters"));
  const params = new URLSearchParams();
  for (const [k, v] of form) if (v !== "") params.set(k, v);
  try {
    const body = await fetchJSON("api/traces?" + params);
    renderList(body);
    showError(null);
  } catch (e) {
    showError(e);
  }
}

function renderList(body) {
  const s = body.stored;
  document.getElementById("stored").textContent = s.traces + " traces, " + s.spans + " spans stored";
  const tbody = document.querySelector("#trace-list tbody");
  clear(tbody);
  if (!body.traces.length) add(add(tbody, "tr"), "td", "no trace matches", "dim left").colSpan = 7;
  const select = document.querySelector("#filters select[name=service]");
  for (const t of body.traces) {
    for (const svc of t.services) {
      if (!knownServices.has(svc)) { knownServices.add(svc); add(select, "option", svc).value = svc; }
    }
    const tr = add(tbody, "tr", undefined, "trace");
    tr.dataset.traceId = t.trace_id;
    add(tr, "td", when(t.start_ns));
    add(tr, "td", t.root, "left");
    add(tr, "td", t.services.join(", "), "left");
    add(tr, "td", String(t.spans));
    add(tr, "td", String(t.errors), t.errors ? "bad" : "");
    add(tr, "td", ms(t.duration_ms));
    const a = add(add(tr, "td", undefined, "left"), "a", t.trace_id);
    a.href = "#" + t.trace_id;
    tr.addEventListener("click", () => { location.hash = t.trace_id; });
  }
}

// Depth-first from the roots, children by start time; a span whose parent was not
// received (a partial trace) is drawn as a root and marked.
function ordered(spans) {
  const ids = new Set(spans.map(s => s.span_id));
  const children = {};
  const roots = [];
  for (const s of spans) {
    if (s.parent_span_id && ids.has(s.parent_span_id)) (children[s.parent_span_id] ||= []).push(s);
    else roots.push(s);
  }
  const out = [];
  const visit = (s, depth) => {
    out.push([s, depth]);
    for (const c of (children[s.span_id] || []).sort((a, b) => a.start_ns - b.start_ns)) visit(c, depth + 1);
  };
  for (const r of roots.sort((a, b) => a.start_ns - b.start_ns)) visit(r, 0);
  return out;
}

function detail(row, s) {
  const box = document.createElement("div");
  box.className = "detail";
  const table = add(box, "table");
  const line = (k, v) => { const tr = add(table, "tr"); add(tr, "td", k, "dim"); add(tr, "td", v); };
  line("service", s.service);
  line("kind", s.kind);
  line("span id", s.span_id);
  line("parent", s.parent_span_id || "(root)");
  line("start", when(s.start_ns));
  line("duration", ms(s.duration_ms));
  if (s.error || s.status_message) line("status", (s.error ? "ERROR " : "") + (s.status_message || ""));
  for (const [k, v] of Object.entries(s.attributes)) line(k, typeof v === "string" ? v : JSON.stringify(v));
  for (const e of s.events) {
    line("event: " + e.name, Object.entries(e.attributes).map(([k, v]) => k + "=" + v).join("\n"));
  }
  row.after(box);
  return box;
}

async function showTrace(id) {
  const section = document.getElementById("trace");
  if (!/^[0-9a-f]{32}$/i.test(id)) { section.hidden = true; return; }
  section.hidden = false;
  document.getElementById("trace-id").textContent = id;
  const box = document.getElementById("waterfall");
  clear(box);
  let body;
  try {
    body = await fetchJSON("api/traces/" + id);
  } catch (e) {
    add(box, "p", String(e.message || e), "bad");
    if (e.body && e.body.jaeger_url) {
      const a = add(box, "a", "open it in Jaeger");
      a.href = e.body.jaeger_url.replace(/\/$/, "") + "/trace/" + id;
    }
    box.dataset.spans = "0";
    return;
  }
  const spans = body.spans;
  const t0 = Math.min(...spans.map(s => s.start_ns));
  const t1 = Math.max(...spans.map(s => s.start_ns + s.duration_ms * 1e6));
  const total = Math.max(t1 - t0, 1);
  const services = [...new Set(spans.map(s => s.service))];
  const errors = spans.filter(s => s.error).length;
  document.getElementById("trace-summary").textContent =
    ms(total / 1e6) + ", " + spans.length + " spans, " + services.join(" + ") +
    (errors ? ", " + errors + " failed" : "");
  const ids = new Set(spans.map(s => s.span_id));
  for (const [s, depth] of ordered(spans)) {
    const row = add(box, "div", undefined, "span-row" + (s.error ? " error" : ""));
    Object.assign(row.dataset, {
      service: s.service, kind: s.kind, spanId: s.span_id, parent: s.parent_span_id, error: String(s.error),
    });
    const label = add(row, "div", undefined, "label");
    label.style.paddingLeft = (0.4 + depth * 1.2) + "em";
    add(label, "span", s.service, "svc").style.color = colour(s.service);
    add(label, "span", s.name);
    add(label, "span", s.kind, "kind");
    // A caller outside the store (a client's traceparent) or a span that was not kept:
    // the trace cannot tell which, so it says what it sees.
    if (s.parent_span_id && !ids.has(s.parent_span_id)) add(label, "span", "parent not received", "orphan");
    const bar = add(add(row, "div", undefined, "track"), "div", undefined, "bar");
    bar.style.left = (100 * (s.start_ns - t0) / total) + "%";
    bar.style.width = (100 * s.duration_ms * 1e6 / total) + "%";
    bar.style.background = colour(s.service);
    bar.title = s.service + " " + s.name + ": " + ms(s.duration_ms);
    add(row, "div", ms(s.duration_ms), "ms");
    let open = null;
    row.addEventListener("click", () => {
      if (open) { open.remove(); open = null; } else open = detail(row, s);
    });
  }
  box.dataset.spans = String(spans.length);
  section.scrollIntoView();
}

document.getElementById("filters").addEventListener("change", loadList);
document.getElementById("lookup").addEventListener("submit", (ev) => {
  ev.preventDefault();
  location.hash = new FormData(ev.target).get("trace_id").trim().toLowerCase();
});
window.addEventListener("hashchange", () => showTrace(location.hash.slice(1)));
showTrace(location.hash.slice(1));
loadList();
setInterval(loadList, 5000);
