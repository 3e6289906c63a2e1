// inspector.js draws a pipeline's graph with each node's live counters:
//
//   RemoteMediaInspector.render(element, graph, stats)
//
// graph is {nodes: [{id, node_type, runtime, inputs, outputs}], edges: [{from,
// from_port, to, to_port, when}]}, as Pipeline.graph() in the tab and GET
// /v1/inspect on the server give it; stats is the per-node list of
// Pipeline.stats() (the same keys the server sends): {id, in, out, dropped,
// errors, filtered, work_mean_us, p50_us, p99_us, blocked_p99_us, wait_p99_us, queue}.
// Calling render again with the same graph only updates the numbers, so it can
// be called a few times a second. A classic script: it defines
// globalThis.RemoteMediaInspector; inspector.html and the demo use it.
(function (g) {
  "use strict";
  const NS = "http://www.w3.org/2000/svg";
  const BOX_W = 230, BOX_H = 104, GAP_X = 70, GAP_Y = 26, PAD = 12;

  function el(name, attrs, parent) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (parent) parent.appendChild(e);
    return e;
  }

  // µs with three significant digits, as `remotemedia run` prints them.
  function us(x) {
    if (!x) return "0";
    if (x < 999.5) return x.toPrecision(3);
    const p = 10 ** (Math.floor(Math.log10(x)) - 2);
    return String(Math.round(x / p) * p);
  }

  // layers puts each node in the column of its longest path from a source.
  function layers(graph) {
    const depth = new Map(graph.nodes.map((n) => [n.id, 0]));
    for (let pass = 0; pass < graph.nodes.length; pass++) {
      let changed = false;
      for (const e of graph.edges) {
        const d = (depth.get(e.from) ?? 0) + 1;
        if (depth.has(e.to) && d > depth.get(e.to)) { depth.set(e.to, d); changed = true; }
      }
      if (!changed) break;
    }
    return depth;
  }

  function layout(graph) {
    const depth = layers(graph), rows = new Map(), pos = new Map();
    for (const n of graph.nodes) {
      const col = depth.get(n.id), row = rows.get(col) ?? 0;
      rows.set(col, row + 1);
      pos.set(n.id, { x: PAD + col * (BOX_W + GAP_X), y: PAD + row * (BOX_H + GAP_Y) });
    }
    const cols = Math.max(1, ...[...rows.keys()].map((c) => c + 1)), maxRows = Math.max(1, ...rows.values());
    return { pos, width: PAD * 2 + cols * BOX_W + (cols - 1) * GAP_X, height: PAD * 2 + maxRows * BOX_H + (maxRows - 1) * GAP_Y };
  }

  function build(container, graph) {
    const { pos, width, height } = layout(graph);
    container.textContent = "";
    const svg = el("svg", { width, height, viewBox: `0 0 ${width} ${height}`, class: "rm-graph", role: "img", "aria-label": "pipeline graph" }, container);
    const defs = el("defs", {}, svg);
    const marker = el("marker", { id: "rm-arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto" }, defs);
    el("path", { d: "M0,0 L10,5 L0,10 z", fill: "#6b7380" }, marker);
    for (const e of graph.edges) {
      const a = pos.get(e.from), b = pos.get(e.to);
      if (!a || !b) continue;
      const x1 = a.x + BOX_W, y1 = a.y + BOX_H / 2, x2 = b.x, y2 = b.y + BOX_H / 2, mx = (x1 + x2) / 2;
      el("path", { d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`, fill: "none", stroke: "#6b7380", "stroke-width": 1.5, "marker-end": "url(#rm-arrow)" }, svg);
      const label = el("text", { x: mx, y: (y1 + y2) / 2 - 4, "text-anchor": "middle", class: "rm-port" }, svg);
      label.textContent = e.from_port + " → " + e.to_port + (e.when ? " when " + e.when : "");
    }
    const cells = new Map();
    for (const n of graph.nodes) {
      const p = pos.get(n.id), gr = el("g", { transform: `translate(${p.x},${p.y})`, "data-node": n.id }, svg);
      el("rect", { width: BOX_W, height: BOX_H, rx: 6, class: "rm-node rm-" + (n.runtime || "node") }, gr);
      const title = el("text", { x: 8, y: 17, class: "rm-title" }, gr);
      title.textContent = n.id;
      const type = el("tspan", { class: "rm-type" }, title);
      type.textContent = "  " + n.node_type + (n.runtime ? " · " + n.runtime : "");
      const lines = [];
      for (let i = 0; i < 4; i++) lines.push(el("text", { x: 8, y: 37 + i * 17, class: "rm-stat" }, gr));
      const ports = el("text", { x: BOX_W - 6, y: BOX_H - 6, "text-anchor": "end", class: "rm-ports" }, gr);
      ports.textContent = (n.inputs || []).join(",") + " → " + (n.outputs || []).join(",");
      cells.set(n.id, { gr, lines });
    }
    return cells;
  }

  function update(cells, stats) {
    const byId = new Map((stats || []).map((s) => [s.id, s]));
    for (const [id, c] of cells) {
      const s = byId.get(id);
      const text = s
        ? [`in ${s.in} · out ${s.out} · queue ${s.queue ?? 0}`,
          `work ${us(s.work_mean_us)} µs mean · p99 ${us(s.p99_us)}`,
          `queue wait p99 ${us(s.wait_p99_us)} · blocked p99 ${us(s.blocked_p99_us)} µs`,
          `dropped ${s.dropped} · errors ${s.errors}` + (s.filtered ? ` · filtered ${s.filtered}` : "")]
        : ["no stats yet", "", "", ""];
      c.lines.forEach((line, i) => { line.textContent = text[i]; });
      c.gr.dataset.in = s ? String(s.in) : "";
      c.gr.classList.toggle("rm-warn", !!s && (s.dropped > 0 || s.errors > 0));
    }
  }

  const CSS = `
    .rm-graph { font: 12px system-ui, sans-serif; max-width: 100%; height: auto; }
    .rm-graph .rm-node { fill: #fff; stroke: #7d8796; stroke-width: 1.2; }
    .rm-graph .rm-wasm { stroke: #2b6cd4; } .rm-graph .rm-python { stroke: #c47a1c; } .rm-graph .rm-go { stroke: #2fa36b; }
    .rm-graph .rm-warn .rm-node { fill: #fdecec; }
    .rm-graph .rm-title { font-weight: 600; fill: #1d2330; } .rm-graph .rm-type { font-weight: normal; fill: #6b7380; }
    .rm-graph .rm-stat { fill: #1d2330; font-variant-numeric: tabular-nums; }
    .rm-graph .rm-port, .rm-graph .rm-ports { fill: #6b7380; font-size: 11px; }`;

  function addStyle() {
    if (document.getElementById("rm-inspector-style")) return;
    const s = document.createElement("style");
    s.id = "rm-inspector-style";
    s.textContent = CSS;
    document.head.appendChild(s);
  }

  const RemoteMediaInspector = {
    render(container, graph, stats) {
      addStyle();
      const key = JSON.stringify(graph);
      if (container.__rmKey !== key) {
        container.__rmCells = build(container, graph);
        container.__rmKey = key;
      }
      update(container.__rmCells, stats);
    },
    us,
  };
  g.RemoteMediaInspector = RemoteMediaInspector;
})(globalThis);
