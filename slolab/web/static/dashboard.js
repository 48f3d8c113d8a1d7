// slolab dashboard: polls /api/state and /api/charts and redraws in place (no reload).
"use strict";

const charts = {};  // slo name -> {budget: uPlot, sli: uPlot}
let refreshMs = 5000;
let refreshCount = 0;
// Charts span the period and change slowly; their range queries cost more than the
// table's instant ones, so they are fetched at every CHARTS_EVERY-th refresh.
const CHARTS_EVERY = 6;

function pct(v, digits) {
  return v === null || v === undefined ? "-" : (v * 100).toFixed(digits) + "%";
}
function rate(v) {
  if (v === null || v === undefined) return ["-", ""];
  return [v.toFixed(2) + "x", v >= 14.4 ? "bad" : v > 1 ? "warn" : ""];
}
function duration(seconds) {
  const units = [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]];
  let left = Math.round(seconds), out = "";
  for (const [u, n] of units) {
    if (left >= n && out.split(/[a-z]/).length <= 2) { out += Math.floor(left / n) + u; left %= n; }
  }
  return out || "0s";
}
// A new element at the end of parent, with its text and class when given.
function add(parent, tag, text, cls) {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (cls) el.className = cls;
  parent.appendChild(el);
  return el;
}
function cell(row, text, cls) { return add(row, "td", text, cls); }
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

function renderTable(state) {
  const body = document.querySelector("#slo-table tbody");
  clear(body);
  for (const s of state.slos) {
    renderRow(body, state, s, s.name);
    // An SLO with several periods (periods: [30d, 7d]): a row for each further one.
    for (const p of s.periods || []) renderRow(body, state, p, s.name + " (" + p.window + ")");
  }
  renderAdjustments(state, body);
}

// Budget adjustments running now or coming up (the SLO file's), under the table; an SLO
// inside one says so in its row: its burn alerts do not page, its events leave the budget.
function renderAdjustments(state, body) {
  const list = state.adjustments || [];
  const box = document.getElementById("adjustments");
  box.hidden = !list.length;
  const ul = document.getElementById("adjustments-list");
  clear(ul);
  for (const a of list) {
    const now = a.windows.find(w => w.active);
    const when = a.windows.map(w => w.start.slice(0, 16).replace("T", " ") + " to " +
      w.end.slice(11, 16) + (w.active ? " (now)" : "")).join("; ");
    const li = add(ul, "li", a.name + ": " + a.reason + " for " + a.slos.join(", ") + ": " + when + " UTC",
      now ? "adjustment active" : "adjustment");
    li.dataset.name = a.name;
    if (!now) continue;
    for (const tr of body.querySelectorAll("tr")) {
      if (!a.slos.includes(tr.dataset.slo)) continue;
      tr.dataset.adjusted = a.name;
      const name = tr.firstChild;
      name.title = "budget adjustment " + a.name + " until " + now.end + ": " + a.reason;
      add(name, "span", " (planned work)", "dim adjusted-tag");
    }
  }
}

function renderRow(body, state, s, name) {
  const tr = add(body, "tr");
  tr.dataset.slo = s.name;
  tr.dataset.state = s.state;
  if (s.window) tr.dataset.window = s.window;
  cell(tr, name);
  cell(tr, s.service, "left");
  cell(tr, s.state, "left state-" + s.state.replace(" ", "-"));
  cell(tr, pct(s.objective, 2));
  const sli = cell(tr, pct(s.sli, 3));
  if (s.coverage_seconds !== null && s.coverage_seconds < s.period_seconds) {
    sli.title = "computed over " + duration(s.coverage_seconds) + " of " + s.period;
    sli.textContent += " (" + duration(s.coverage_seconds) + ")";
  }
  const left = s.budget_remaining;
  cell(tr, pct(left, 1), left === null ? "" : left > 0.5 ? "good" : left > 0 ? "warn" : "bad");
  for (const w of [...state.windows, "period"]) {
    const [text, cls] = rate(s.burn_rates[w]);
    cell(tr, text, cls);
  }
  cell(tr, s.alerts.join(", "), "left bad");
}

function renderFaults(state) {
  const ul = document.getElementById("faults");
  clear(ul);
  if (!state.faults.length) add(ul, "li", "none", "dim");
  for (const f of state.faults) {
    add(ul, "li", (f.job || f.service || f.instance || "?") + ": " + (f.fault || JSON.stringify(f)), "fault bad");
  }
}

function renderAlerts(state) {
  const a = state.alerts, box = document.getElementById("timeline"), ul = document.getElementById("alerts");
  clear(box); clear(ul);
  // Zoom to the alerts: a 6-hour axis would draw a fresh lab's alerts as slivers.
  const end = Date.parse(state.generated_at);
  const first = Math.min(end, ...a.timeline.map(s => Date.parse(s.start)));
  const start = Math.max(end - a.history_seconds * 1000, end - Math.max(15 * 60e3, 1.25 * (end - first)));
  document.getElementById("alerts-span").textContent = "(last " + duration((end - start) / 1000) + ")";
  const lanes = {};
  for (const s of a.timeline) {
    const key = s.alert + " " + (s.slo || "");
    if (!lanes[key]) {
      lanes[key] = add(box, "div", undefined, "lane");
      add(lanes[key], "span", key, "label");
    }
    const from = Math.max(Date.parse(s.start), start), to = s.end ? Date.parse(s.end) : end;
    const span = add(lanes[key], "div", undefined,
      "span " + (["critical", "warning"].includes(s.severity) ? s.severity : "other"));
    span.style.left = (100 * (from - start) / (end - start)) + "%";
    span.style.width = (100 * Math.max(to - from, 0) / (end - start)) + "%";
    span.title = key + ": " + s.start + " → " + (s.end || "now");
    add(ul, "li", (s.end ? "resolved " : "FIRING ") + s.alert + " " + (s.slo || "") +
      " since " + s.start + (s.end ? " until " + s.end : ""), s.end ? "resolved" : "firing bad");
  }
  if (!a.timeline.length) add(ul, "li", "no alerts fired", "dim");
}

function renderSlow(state) {
  const body = document.querySelector("#slow tbody");
  clear(body);
  if (!state.slow_requests.length) {
    cell(add(body, "tr"), "none in the last minutes", "dim left").colSpan = 5;
  }
  for (const r of state.slow_requests) {
    const tr = add(body, "tr", undefined, "slow");
    cell(tr, r.at);
    cell(tr, r.slo, "left");
    cell(tr, r.endpoint || "", "left");
    cell(tr, r.seconds.toFixed(3));
    const td = cell(tr, "", "left");
    if (r.link) {
      const a = add(td, "a", r.trace_id);
      a.href = r.link;
      if (/^https?:/.test(r.link)) a.target = "_blank";  // Jaeger; the own trace view in place
    } else {
      td.textContent = r.trace_id;
    }
  }
}

function columns(points) {
  return [points.map(p => p[0]), points.map(p => p[1])];
}

// Budget adjustments (planned work) as grey bands over a chart's plot area, each with its
// reason on hover. DOM elements over the canvas: redrawn with the chart, easy to inspect.
function shadeAdjustments(u, windows) {
  for (const old of u.over.querySelectorAll(".adjustment-band")) old.remove();
  for (const w of windows || []) {
    const [min, max] = [u.scales.x.min, u.scales.x.max];
    if (min === null || max === null || w.end <= min || w.start >= max) continue;
    const left = u.valToPos(Math.max(w.start, min), "x"), right = u.valToPos(Math.min(w.end, max), "x");
    const band = add(u.over, "div", undefined, "adjustment-band");
    band.style.left = left + "px";
    band.style.width = Math.max(right - left, 2) + "px";
    band.title = "budget adjustment " + w.name + ": " + w.reason + " (" +
      new Date(w.start * 1000).toISOString().slice(0, 16).replace("T", " ") + " to " +
      new Date(w.end * 1000).toISOString().slice(11, 16) + " UTC)";
    band.dataset.name = w.name;
  }
}

function chartOpts(title, series, yRange, xRange, entry) {
  return {
    title, width: 270, height: 170, legend: { show: false },
    hooks: { draw: [u => shadeAdjustments(u, entry.adjustments)] },
    scales: { x: { time: true, range: xRange }, y: { range: yRange } },
    axes: [{}, { size: 72, values: (u, vals) => vals.map(v => (v * 100).toFixed(v < 0.9995 && v > -10 ? 1 : 2) + "%") }],
    series: [{}, ...series],
  };
}

function renderCharts(list) {
  const root = document.getElementById("charts");
  for (const c of list) {
    let entry = charts[c.slo];
    if (!entry) {
      const card = add(root, "div", undefined, "slo-card");
      card.dataset.slo = c.slo;
      add(card, "h3", c.slo);
      const box = add(card, "div", undefined, "charts");
      // Both charts span what the server chose (the period, or the data it has).
      entry = charts[c.slo] = { card, span: [c.start, c.end] };
      const xRange = () => entry.span;
      const budget = new uPlot(chartOpts("budget left", [{ label: "budget left", stroke: "#1f6feb", width: 2, fill: "rgba(31,111,235,.08)" }],
        (u, min, max) => [Math.min(0, min ?? 0), Math.max(1, max ?? 1)], xRange, entry), [[], []], box);
      const sli = new uPlot(chartOpts("SLI per " + c.window + ", objective", [
        { label: "SLI", stroke: "#1a7f37", width: 2 },
        { label: "objective", stroke: "#d1242f", dash: [6, 4], width: 1 },
      ], (u, min, max) => [Math.min(c.objective - (1 - c.objective), min ?? 1), 1], xRange, entry), [[], [], []], box);
      const legend = add(card, "ul", undefined, "adjustments-legend");
      Object.assign(entry, { budget, sli, legend });
    }
    entry.span = [c.start, c.end];
    entry.adjustments = c.adjustments || [];
    clear(entry.legend);
    for (const w of entry.adjustments) {
      add(entry.legend, "li", "shaded: budget adjustment " + w.name + ", " + w.reason + " (" +
        new Date(w.start * 1000).toISOString().slice(0, 16).replace("T", " ") + " to " +
        new Date(w.end * 1000).toISOString().slice(11, 16) + " UTC)");
    }
    const hasData = c.budget.some(p => p[1] !== null) || c.sli.some(p => p[1] !== null);
    entry.card.dataset.points = String(c.budget.filter(p => p[1] !== null).length + c.sli.filter(p => p[1] !== null).length);
    entry.card.classList.toggle("empty", !hasData);
    entry.budget.setData(columns(c.budget));
    const [t, v] = columns(c.sli);
    entry.sli.setData([t, v, t.map(() => c.objective)]);
  }
}

async function fetchJSON(url) {
  const resp = await fetch(url, { cache: "no-store" });
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.error || resp.statusText);
  return body;
}

async function refresh() {
  const err = document.getElementById("error");
  try {
    const wantCharts = refreshCount % CHARTS_EVERY === 0;
    const [state, ch] = await Promise.all([
      fetchJSON("api/state"), wantCharts ? fetchJSON("api/charts") : Promise.resolve(null)]);
    refreshMs = (state.refresh_seconds || 5) * 1000;
    renderTable(state); renderFaults(state); renderAlerts(state); renderSlow(state);
    if (ch) renderCharts(ch.charts);
    refreshCount += 1;
    err.hidden = true;
    const up = document.getElementById("updated");
    up.textContent = "updated " + state.generated_at + " from " + state.prometheus;
    up.dataset.generatedAt = state.generated_at;
    document.body.dataset.refreshes = String(Number(document.body.dataset.refreshes || 0) + 1);
  } catch (e) {
    err.hidden = false;
    err.textContent = String(e.message || e);
  }
  setTimeout(refresh, refreshMs);
}

refresh();
