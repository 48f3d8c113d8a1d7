// The main page's trace panel: how many traces the lab's store holds (the trace view's door).
"use strict";

async function refreshTracePanel() {
  const panel = document.getElementById("trace-panel");
  try {
    const resp = await fetch("api/traces/count", { cache: "no-store" });
    const body = await resp.json();
    const text = document.getElementById("trace-count");
    if (resp.ok) {
      const s = body.stored;
      text.textContent = s.traces + " traces (" + s.spans + " spans) stored; trace ids above open their waterfall.";
      panel.dataset.traces = String(s.traces);
      panel.hidden = false;
    } else if (body.jaeger_url) {
      clear(text);
      const a = add(text, "a", "Traces are in Jaeger");
      a.href = body.jaeger_url; a.target = "_blank";
      panel.querySelector("h2 a").hidden = true;
      panel.hidden = false;
    }
  } catch (e) {
    // The main page shows connection errors already.
  }
  setTimeout(refreshTracePanel, 10000);
}

refreshTracePanel();
