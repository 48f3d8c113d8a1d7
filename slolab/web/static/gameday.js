// slolab dashboard, game-day view: polls /api/gameday, draws the running scenario's
// timeline (fault bands, each expected alert's deadline, the firings, now) and its
// scorecard filling in. Apart from dashboard.js: the SLO views do not depend on it.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const COLOURS = ["#cf222e", "#0969da", "#8250df", "#1a7f37", "#bf8700"];

  function el(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text !== undefined) node.textContent = text;
    return node;
  }
  function secs(s) {
    return s < 120 ? Math.round(s) + " s" : s < 7200 ? (s / 60).toFixed(1) + " min" : (s / 3600).toFixed(1) + " h";
  }

  function timeline(state) {
    const width = 900, left = 260, right = 20, rowH = 22;
    const span = Math.max(state.duration_s, 1);
    const x = (t) => left + (width - left - right) * Math.min(Math.max(t / span, 0), 1);
    const rows = [];
    const bands = new Map();  // one row per fault setting, a band each time it is on
    for (const f of state.faults) {
      if (!bands.has(f.label)) bands.set(f.label, []);
      bands.get(f.label).push([f.start_s, f.end_s, "#cf222e", 0.35]);
    }
    for (const [label, bars] of bands) rows.push({ label: "fault: " + label, bars: bars });
    // Budget adjustments (planned work): the SLOs they cover neither page nor spend.
    for (const a of state.adjustments || []) {
      rows.push({ label: "adjustment: " + a.label, title: a.label + ": " + a.slos.join(", "),
                  bars: [[a.start_s, a.end_s, "#8c959f", 0.35, "gameday-adjustment"]] });
    }
    const named = new Set();
    state.expectations.forEach((e, i) => {
      named.add(e.alert + " " + e.slo);
      const got = state.firings.find((f) => f.alert === e.alert && f.slo === e.slo);
      const bars = got ? [[got.first_s, got.last_s === null ? state.elapsed_s : got.last_s,
                           COLOURS[i % COLOURS.length], 1]] : [];
      const times = got && got.starts > 1 ? ` (${got.starts} times)` : "";
      rows.push({ label: (e.fire ? "fires: " : "silent: ") + e.alert.replace("SLOErrorBudget", "") + " " + e.slo + times,
                  bars: bars, deadline: e.deadline_s, slo: e.slo });
    });
    for (const f of state.firings) {
      if (!named.has(f.alert + " " + f.slo)) {
        rows.push({ label: "not expected: " + f.alert.replace("SLOErrorBudget", "") + " " + f.slo,
                    bars: [[f.first_s, f.last_s === null ? state.elapsed_s : f.last_s, "#777", 1]] });
      }
    }
    const height = 30 + rowH * rows.length + 20;
    const svg = el("svg", { width: width, height: height, viewBox: `0 0 ${width} ${height}`,
                            role: "img", "aria-label": "game day timeline", id: "gameday-svg" });
    rows.forEach((r, k) => {
      const y = 20 + rowH * k;
      svg.appendChild(el("text", { x: left - 8, y: y + 11, "font-size": 11, "text-anchor": "end" }, r.label));
      svg.appendChild(el("line", { x1: left, x2: width - right, y1: y + 7, y2: y + 7, stroke: "#ddd" }));
      for (const [a, b, colour, opacity, cls] of r.bars) {
        const bar = el("rect", { x: x(a), y: y, width: Math.max(x(b) - x(a), 3), height: 14,
                                 fill: colour, opacity: opacity, class: cls || "gameday-bar" });
        if (r.title) bar.appendChild(el("title", {}, r.title));
        svg.appendChild(bar);
      }
      if (r.deadline !== null && r.deadline !== undefined) {
        const dx = x(r.deadline);
        svg.appendChild(el("path", { d: `M${dx},${y} l5,7 l-5,7 l-5,-7 z`, fill: "none",
                                     stroke: "#222", "stroke-width": 1.5, class: "gameday-deadline" }));
      }
    });
    if (state.elapsed_s !== null) {
      const nx = x(state.elapsed_s);
      svg.appendChild(el("line", { x1: nx, x2: nx, y1: 14, y2: height - 18, stroke: "#0969da",
                                   "stroke-dasharray": "3 3" }));
    }
    for (const frac of [0, 0.25, 0.5, 0.75, 1]) {
      svg.appendChild(el("text", { x: x(span * frac), y: height - 4, "font-size": 10,
                                   "text-anchor": "middle" }, secs(span * frac)));
    }
    return svg;
  }

  function render(state) {
    const section = document.getElementById("gameday");
    if (!state.scenario) { section.hidden = true; return; }
    section.hidden = false;
    document.getElementById("gameday-name").textContent = state.scenario +
      (state.running ? ` (${secs(state.elapsed_s || 0)} of ${secs(state.duration_s)})` : " (ended)");
    const verdict = document.getElementById("gameday-verdict");
    verdict.textContent = state.passed === true ? "PASSED" : state.passed === false ? "FAILED" : "running";
    verdict.className = state.passed === true ? "good" : state.passed === false ? "bad" : "dim";
    document.getElementById("gameday-lesson").textContent = state.lesson;
    const box = document.getElementById("gameday-timeline");
    while (box.firstChild) box.removeChild(box.firstChild);
    box.appendChild(timeline(state));
    const body = document.querySelector("#gameday-card tbody");
    while (body.firstChild) body.removeChild(body.firstChild);
    for (const c of state.checks) {
      const tr = document.createElement("tr");
      const result = c.passed === true ? ["pass", "good"] : c.passed === false ? ["FAIL", "bad"] : ["open", "dim"];
      for (const [text, cls] of [[c.expectation, ""], result, [c.observed, ""], [c.predicted, ""],
                                 [c.workbook, ""], [c.detail, ""]]) {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      }
      body.appendChild(tr);
    }
  }

  async function poll() {
    try {
      const resp = await fetch("api/gameday", { cache: "no-store" });
      if (resp.ok) render(await resp.json());
    } catch (err) {
      // the SLO views show the connection error; this one waits for the next poll
    }
    setTimeout(poll, 2000);
  }
  poll();
})();
