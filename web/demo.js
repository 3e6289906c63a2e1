// The demo page: a WAV file or the microphone -> an editable definition -> the
// pipeline in this tab, its server nodes (runtime_hint: server, Python nodes) on
// the server that serves the page (split placement, docs/placement.md) -> input
// and output waveforms and VAD segments on one time axis, per-node latency, the
// pipeline's graph with where each node ran, the events, playback; for a voice
// pipeline, its transcripts and replies as they come, the reply audio played and
// stopped when the user barges in. window.demo exposes the same steps to tests (e2e/).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const DEFAULT_EXAMPLE = "speech-frontend";
  // The examples bundled with remotemedia: the server offers those it can run
  // (GET /v1/pipelines); the others are listed as not offered, with why.
  const BUNDLED = ["speech-frontend", "split-frontend", "voice", "fanout", "transcribe"];
  const COLORS = { input: "#b8bec9", output: "#2b6cd4", speech: "#2fa36b", open: "#8fd3b1" };
  const worker = new URLSearchParams(location.search).has("worker");
  // timeline: what the output canvases show, all in the input's time (ms from its start).
  //   input:  {samples, channels, sampleRate} (a file) or {env: [[lo, hi], ...] per ENV_MS, rate} (the microphone)
  //   output: [{ts_us, samples, channels, sampleRate}] chunks drawn at their timestamps
  //   segments: [{start, end}] speech in ms (end null while it lasts); totalMs: the axis' length
  // server: what the server that serves the page offers: {pipelines: Map name -> catalogue entry,
  //   python: true | false (serve --python off) | null (unknown), pythonTypes: Map type -> unavailable reason or ""}
  // example: {name, text} of the example last loaded: the definition runs split by that name while unchanged
  // placement: where the last pipeline's nodes ran ({server: [ids], tab: [ids], how}) or null (all in the tab)
  // voice: the conversation of the last microphone run: {turns, bargeIns, stops, played, dropped}
  const state = { rm: null, input: null, result: null, capturing: null, pipeline: null, timeline: null, colors: COLORS,
    server: { pipelines: new Map(), python: null, pythonTypes: new Map() }, example: null, placement: null, voice: null };
  window.demo = state;

  function setStatus(text, s = "ok") { $("status").textContent = text; $("status").dataset.state = s; }

  function showErrors(err) {
    const ul = $("errors");
    ul.textContent = "";
    if (!err) return;
    const items = err.problems && err.problems.length
      ? err.problems.map((p) => [p.path, p.message])
      : [["", (err.kind && err.kind !== "error" ? err.kind + ": " : "") + (err.message || String(err))]];
    for (const [path, msg] of items) {
      const li = document.createElement("li");
      if (path) { const c = document.createElement("code"); c.textContent = path; li.append(c, ": "); }
      li.append(msg);
      ul.append(li);
    }
    const hint = hintFor(err);
    if (hint) {
      const li = document.createElement("li");
      li.className = "hint";
      li.textContent = hint;
      ul.append(li);
    }
  }

  // ---- the server: its catalogue, its Python nodes, split placement ----

  // probeServer reads what the page's server offers. A failure leaves the lists
  // empty: the demo still runs definitions wholly in the tab.
  async function probeServer() {
    const sv = state.server;
    try {
      const r = await fetch("v1/pipelines");
      if (r.ok) for (const p of (await r.json()).pipelines || []) sv.pipelines.set(p.name, p);
    } catch { /* no catalogue */ }
    try {
      const r = await fetch("v1/nodes");
      sv.python = r.ok ? true : r.status === 404 ? false : null;
      if (r.ok) for (const t of await r.json()) sv.pythonTypes.set(t.node_type, t.unavailable || "");
    } catch { sv.python = null; }
  }

  // typesIn lists the node types a definition's text names (YAML or JSON).
  function typesIn(text) {
    return [...new Set([...text.matchAll(/["']?node_type["']?\s*:\s*["']?([A-Za-z_][\w.-]*)/g)].map((m) => m[1]))];
  }

  // whyNotOffered says why the server does not offer example name, or "".
  function whyNotOffered(name) {
    if (state.server.pipelines.has(name)) return "";
    if (state.server.python === false) return `the server runs without Python (remotemedia serve --python off), and ${name} has Python nodes: ` +
      "start it with Python (make deps installs the packages and models) to run it";
    return `the server does not offer ${name}: some of its nodes cannot run there (a Python package or model is missing; ` +
      "the server's log at start-up names them, and make deps installs them)";
  }

  // hintFor turns an error into what to do about it, or "".
  function hintFor(err) {
    const msg = String((err && err.message) || err || "") + " " + ((err && err.problems) || []).map((p) => p.message).join(" ");
    if (/403/.test(msg) && /inline/.test(msg)) {
      const ex = state.example;
      return "This server does not run definitions sent from the page (inline): the definition has nodes for the server and is not " +
        (ex ? `the example ${ex.name} as loaded` : "an example as loaded") + ". Load the example unchanged (the server runs its own copy by name), " +
        "or start the server with remotemedia serve --allow-inline.";
    }
    const py = typesIn($("def").value).filter((t) => /unknown node type "?/.test(msg) && msg.includes(t) && !state.server.pythonTypes.has(t));
    if (py.length && state.server.python === false) {
      return `${py.join(", ")}: the server runs without Python (remotemedia serve --python off), so its Python node types are not there. ` +
        "Start the server with Python to run this definition.";
    }
    const missing = typesIn($("def").value).filter((t) => state.server.pythonTypes.get(t));
    if (missing.length) return missing.map((t) => state.server.pythonTypes.get(t)).join("; ") + " (on the server)";
    return "";
  }

  // pipelineOpts: split placement on the page's server, by the example's name
  // while the text is the example's, else inline (which needs serve --allow-inline).
  // A definition with no node for the server runs wholly in the tab either way.
  // A server whose node list could not be read (behind a token, say) is left out:
  // the definition then runs wholly in the tab, as it did before split placement.
  function pipelineOpts(text) {
    const ex = state.example;
    if (state.server.python === null) return {};
    if (ex && text === ex.text && state.server.pipelines.has(ex.name)) return { server: "/", split: ex.name };
    return { server: "/", split: true };
  }

  // newPipeline builds the definition in the textarea, split where it has server nodes.
  // An example the server does not offer fails here, saying why, before any input is read.
  async function newPipeline() {
    const text = $("def").value, opts = pipelineOpts(text), ex = state.example;
    if (ex && text === ex.text && whyNotOffered(ex.name)) {
      const err = new Error(`${ex.name} cannot run here: ${whyNotOffered(ex.name)}`);
      err.kind = "not offered";
      throw err;
    }
    const p = await state.rm.pipeline(text, opts);
    state.pipeline = p;
    const graph = await p.graph().catch(() => null);
    state.graph = graph;
    const server = graph ? graph.nodes.filter((n) => n.placement === "server").map((n) => n.id) : [];
    state.placement = server.length
      ? { server, tab: graph.nodes.filter((n) => n.placement !== "server").map((n) => n.id),
        how: opts.split === true ? "the definition sent inline" : "the server's catalogue pipeline " + opts.split }
      : null;
    showPlacement();
    return p;
  }

  function showPlacement() {
    const pl = state.placement, el = $("placement");
    el.dataset.split = pl ? "true" : "false";
    el.textContent = pl
      ? `Split placement: ${pl.server.join(", ")} on the server (${pl.how}); ${pl.tab.join(", ")} in this tab.`
      : "Runs wholly in this tab" + (state.server.python === null ? " (the server's node list could not be read, so nothing runs there)." : ".");
  }

  // ---- the timeline: waveforms, VAD segments and the time axis, sharing x(ms) ----

  const ENV_MS = 10; // the microphone's input envelope: one [lo, hi] per 10 ms

  function xOf(ms, width, totalMs) { return (ms / totalMs) * width; }

  // The waveform canvas has two lanes on one time axis: the input above, the output below.
  function lane(c, which) { const h = c.height / 2; return { mid: which === "input" ? h / 2 : h + h / 2, half: h / 2 - 2 }; }

  // column draws a vertical min..max line at x in a lane.
  function column(g, x, lo, hi, ln) {
    const clamp = (v) => Math.max(-1, Math.min(1, v));
    g.moveTo(x + 0.5, ln.mid - clamp(hi) * ln.half); g.lineTo(x + 0.5, ln.mid - clamp(lo) * ln.half + 1);
  }

  // plotSamples draws interleaved samples (channel 0) starting at startMs in lane ln.
  function plotSamples(g, c, tl, samples, channels, rate, startMs, ln) {
    const frames = samples.length / channels;
    if (!frames) return;
    const x0 = Math.floor(xOf(startMs, c.width, tl.totalMs)), x1 = Math.ceil(xOf(startMs + (frames / rate) * 1000, c.width, tl.totalMs));
    const framesPerX = (rate * tl.totalMs) / 1000 / c.width;
    for (let x = Math.max(0, x0); x < Math.min(c.width, x1); x++) {
      const a = Math.max(0, Math.floor((x - xOf(startMs, c.width, tl.totalMs)) * framesPerX));
      const b = Math.min(frames, Math.max(a + 1, Math.floor((x + 1 - xOf(startMs, c.width, tl.totalMs)) * framesPerX)));
      let lo = 0, hi = 0;
      for (let i = a; i < b; i++) { const v = samples[i * channels]; if (v < lo) lo = v; if (v > hi) hi = v; }
      column(g, x, lo, hi, ln);
    }
  }

  function drawWave(tl) {
    const c = $("wave"), g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    g.fillStyle = "#8a919c";
    g.font = "11px system-ui, sans-serif";
    g.fillText("input", 4, 12);
    g.fillText("output", 4, c.height / 2 + 12);
    g.strokeStyle = "#e3e6ea";
    g.beginPath();
    g.moveTo(0, c.height / 2 + 0.5); g.lineTo(c.width, c.height / 2 + 0.5);
    g.stroke();
    const inLane = lane(c, "input"), outLane = lane(c, "output");
    g.strokeStyle = COLORS.input;
    g.beginPath();
    if (tl.input && tl.input.samples) plotSamples(g, c, tl, tl.input.samples, tl.input.channels, tl.input.sampleRate, 0, inLane);
    if (tl.input && tl.input.env) {
      const env = tl.input.env;
      for (let x = 0; x < c.width; x++) {
        const a = Math.floor(((x / c.width) * tl.totalMs) / ENV_MS), b = Math.max(a + 1, Math.floor((((x + 1) / c.width) * tl.totalMs) / ENV_MS));
        if (a >= env.length) break;
        let lo = 0, hi = 0;
        for (let i = a; i < Math.min(b, env.length); i++) { lo = Math.min(lo, env[i][0]); hi = Math.max(hi, env[i][1]); }
        column(g, x, lo, hi, inLane);
      }
    }
    g.stroke();
    g.strokeStyle = COLORS.output;
    g.beginPath();
    for (const o of tl.output) plotSamples(g, c, tl, o.samples, o.channels, o.sampleRate, o.ts_us / 1000, outLane);
    g.stroke();
  }

  function drawVAD(tl) {
    const c = $("vad"), g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    for (const s of tl.segments) {
      const end = s.end ?? tl.nowMs ?? tl.totalMs;
      const x0 = Math.round(xOf(s.start, c.width, tl.totalMs)), x1 = Math.round(xOf(end, c.width, tl.totalMs));
      g.fillStyle = s.end === null ? COLORS.open : COLORS.speech;
      g.fillRect(x0, 4, Math.max(1, x1 - x0), c.height - 8);
    }
  }

  // tickStep picks 1, 2 or 5 × 10^k ms so that the axis has at most about 12 ticks.
  function tickStep(totalMs) {
    for (let p = 10; ; p *= 10) for (const m of [1, 2, 5]) if (totalMs / (m * p) <= 12) return m * p;
  }

  function drawAxis(tl) {
    const c = $("axis"), g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    g.strokeStyle = "#6b7380";
    g.fillStyle = "#4a5260";
    g.font = "11px system-ui, sans-serif";
    g.beginPath();
    g.moveTo(0, 0.5); g.lineTo(c.width, 0.5);
    const step = tickStep(tl.totalMs);
    for (let ms = 0; ms <= tl.totalMs + 1e-6; ms += step) {
      const x = Math.min(c.width - 1, Math.round(xOf(ms, c.width, tl.totalMs))) + 0.5;
      g.moveTo(x, 0); g.lineTo(x, 5);
      const label = step >= 1000 ? ms / 1000 + " s" : ms >= 1000 ? (ms / 1000).toFixed(1) + " s" : ms + " ms";
      g.textAlign = x < 10 ? "left" : x > c.width - 20 ? "right" : "center";
      g.fillText(label, x, 17);
    }
    g.stroke();
  }

  function drawTimeline() {
    const tl = state.timeline;
    if (!tl) return;
    drawWave(tl); drawVAD(tl); drawAxis(tl);
    const srcs = [...new Set(tl.output.map((o) => o.src).filter(Boolean))];
    $("legend-out").textContent = "output" + (srcs.length ? " (" + srcs.join(", ") + ")" : "") + ", at its timestamps";
  }

  // vadChange reads a VAD event: "start" or "end" and its time in ms, or null.
  // Both the {event: "speech_start", time_ms} form and {is_speech_start, ...} are read.
  function vadChange(ev) {
    const d = ev && ev.data;
    if (!d || typeof d !== "object") return null;
    const ms = typeof d.time_ms === "number" ? d.time_ms : typeof ev.ts_us === "number" ? ev.ts_us / 1000 : null;
    if (ms === null) return null;
    if (d.event === "speech_start" || d.is_speech_start === true) return { what: "start", ms, d };
    if (d.event === "speech_end" || d.is_speech_end === true) return { what: "end", ms, d };
    return null;
  }

  // segmentsOf reads the speech segments of a run's events: the VAD's, or, where
  // they are not an output (a voice pipeline's vad feeds its speech_buffer), the
  // utterances speech_buffer cut ({"event": "utterance", start_ms, end_ms}).
  function segmentsOf(events) {
    const segs = [];
    let open = null;
    for (const ev of events) {
      const d = ev && ev.data;
      if (d && d.event === "utterance" && typeof d.start_ms === "number" && typeof d.end_ms === "number") {
        segs.push({ start: d.start_ms, end: d.end_ms, utterance: true });
        continue;
      }
      const ch = vadChange(ev);
      if (!ch) continue;
      if (ch.what === "start" && !open) { open = { start: ch.ms, end: null }; segs.push(open); }
      if (ch.what === "end" && open) { open.end = ch.ms; open = null; }
    }
    return segs;
  }

  // chunksOf turns a process() audio output into chunks at the timestamps of its runs.
  function chunksOf(a) {
    const src = a.node + "." + a.port;
    const runs = a.runs && a.runs.length ? a.runs : [{ ts_us: 0, offset: 0, frames: a.samples.length / a.channels }];
    return runs.map((r) => ({ src, ts_us: r.ts_us, sampleRate: a.sampleRate, channels: a.channels,
      samples: a.samples.subarray(r.offset * a.channels, (r.offset + r.frames) * a.channels) }));
  }

  // ---- stats, events ----

  // µs with three significant digits, as `remotemedia run` prints them (sched.FormatMicros): 0.456, 1.23, 12.3, 123, 1230.
  function us(x) {
    if (!x) return "0";
    if (x < 999.5) return x.toPrecision(3);
    const p = 10 ** (Math.floor(Math.log10(x)) - 2);
    return String(Math.round(x / p) * p);
  }

  function showStats(stats) {
    const tb = $("stats").tBodies[0];
    tb.textContent = "";
    const onServer = new Set(state.placement ? state.placement.server : []);
    for (const s of stats || []) {
      const tr = tb.insertRow();
      // The server's end frame gives percentiles only: no mean for its nodes.
      const mean = onServer.has(s.id) && !s.work_mean_us ? "–" : us(s.work_mean_us);
      for (const v of [s.id + (onServer.has(s.id) ? " (server)" : ""), s.in, s.out, s.dropped, s.errors, mean, us(s.p50_us), us(s.p99_us), us(s.blocked_p99_us)]) tr.insertCell().textContent = v;
    }
    const step = (stats || [])[0]?.clock_us;
    $("stats").caption.textContent = step === undefined ? "" : step <= 20
      ? `µs per frame, measured with this tab's ${us(step)} µs clock (the page is cross-origin isolated)`
      : `µs per frame; this tab's clock ticks every ${us(step)} µs, so below that only the mean is true`;
  }

  function seconds(ms) { return (ms / 1000).toFixed(2) + " s"; }

  // describe turns an event into a line a person reads.
  function describe(ev) {
    if (ev.kind === "error") return { text: "error: " + ev.error, cls: "error" };
    const ch = vadChange(ev);
    if (ch && ch.what === "start") return { text: "speech starts" + (typeof ch.d.probability === "number" ? " (p " + ch.d.probability.toFixed(2) + ")" : "") };
    if (ch && ch.what === "end") return { text: "speech ends" + (typeof ch.d.duration_ms === "number" ? " after " + seconds(ch.d.duration_ms) : "") };
    if (ev.kind === "text") return { text: "“" + ev.text + "”" };
    const d = ev.data && typeof ev.data === "object" ? ev.data : {};
    if (d.event === "utterance") return { text: `utterance ${seconds(d.start_ms)}–${seconds(d.end_ms)} (${seconds(d.speech_ms)} of speech) to the ASR` };
    if (d.event === "barge_in") return { text: `barge-in: speech at ${seconds(d.time_ms)} over the reply; the reply is cancelled`, cls: "barge" };
    if (ev.kind === "control") return { text: ev.text + " (control frame)" + (ev.text === "cancel" ? ": the reply in flight is dropped" : ""), cls: "barge" };
    return { text: JSON.stringify(ev.data ?? ev.text ?? null) };
  }

  const MAX_EVENT_ROWS = 500;

  function showEvents(events) {
    const tb = $("events").tBodies[0];
    tb.textContent = "";
    const shown = events.length > MAX_EVENT_ROWS ? events.slice(-MAX_EVENT_ROWS) : events;
    for (const ev of shown) {
      const tr = tb.insertRow(), d = describe(ev);
      tr.insertCell().textContent = typeof ev.ts_us === "number" ? seconds(ev.ts_us / 1000) : "";
      tr.insertCell().textContent = ev.node + (ev.port ? "." + ev.port : "");
      const td = tr.insertCell();
      td.textContent = d.text;
      if (d.cls) tr.className = d.cls;
    }
    if (events.length > shown.length) tb.insertRow(0).insertCell().textContent = `(${events.length - shown.length} earlier events not shown)`;
  }

  function wavBlob(samples, rate, channels) {
    const n = samples.length, buf = new ArrayBuffer(44 + n * 4), d = new DataView(buf);
    const str = (o, s) => { for (let i = 0; i < s.length; i++) d.setUint8(o + i, s.charCodeAt(i)); };
    str(0, "RIFF"); d.setUint32(4, 36 + n * 4, true); str(8, "WAVE"); str(12, "fmt ");
    d.setUint32(16, 16, true); d.setUint16(20, 3, true); d.setUint16(22, channels, true);
    d.setUint32(24, rate, true); d.setUint32(28, rate * channels * 4, true); d.setUint16(32, channels * 4, true);
    d.setUint16(34, 32, true); str(36, "data"); d.setUint32(40, n * 4, true);
    new Float32Array(buf, 44).set(samples);
    return new Blob([buf], { type: "audio/wav" });
  }

  // showResult shows a finished run: res as process() gives it, on timeline tl
  // (whose input is the file's or the microphone's).
  function showResult(res, tl) {
    state.result = res;
    tl.output = res.audio.flatMap(chunksOf);
    tl.segments = segmentsOf(res.events);
    tl.nowMs = null;
    state.timeline = tl;
    drawTimeline();
    showStats(res.stats);
    const errors = res.events.filter((e) => e.kind === "error");
    if (errors.length) showErrors({ kind: "node error", message: errors.length + " frame(s) failed; first: " + errors[0].node + ": " + errors[0].error });
    showEvents(res.events);
    const out = res.audio[0];
    if (out) $("player").src = URL.createObjectURL(wavBlob(out.samples, out.sampleRate, out.channels));
    $("summary").textContent = (out ? seconds((out.samples.length / out.channels / out.sampleRate) * 1000) + " of " + out.sampleRate + " Hz audio out, " : "no audio out, ") +
      tl.segments.length + " speech segment(s), " + res.events.length + " event(s)";
  }

  // ---- the input ----

  // wavInfo reads a WAV header: {sampleRate, channels, bits, format, frames}, or null.
  function wavInfo(bytes) {
    const d = new DataView(bytes);
    const tag = (o) => String.fromCharCode(d.getUint8(o), d.getUint8(o + 1), d.getUint8(o + 2), d.getUint8(o + 3));
    if (bytes.byteLength < 12 || tag(0) !== "RIFF" || tag(8) !== "WAVE") return null;
    let fmt = null;
    for (let off = 12; off + 8 <= bytes.byteLength;) {
      const id = tag(off), n = d.getUint32(off + 4, true);
      if (id === "fmt " && off + 24 <= bytes.byteLength) {
        let format = d.getUint16(off + 8, true);
        if (format === 0xfffe && off + 34 <= bytes.byteLength) format = d.getUint16(off + 32, true); // WAVE_FORMAT_EXTENSIBLE's subformat
        fmt = { format: format === 3 ? "float" : format === 1 ? "PCM" : "format " + format, channels: d.getUint16(off + 10, true),
          sampleRate: d.getUint32(off + 12, true), bits: d.getUint16(off + 22, true) };
      }
      if (id === "data" && fmt) {
        const len = Math.min(n, bytes.byteLength - off - 8);
        return { ...fmt, frames: Math.floor(len / Math.max(1, (fmt.bits / 8) * fmt.channels)) };
      }
      off += 8 + n + (n % 2);
    }
    return null;
  }

  // decodeInput reads a WAV file to interleaved f32 for drawing, at the file's own
  // rate (the pipeline gets the WAV bytes themselves, read by core.wasm as the CLI reads them).
  async function decodeInput(bytes, info) {
    const ctx = new OfflineAudioContext(1, 1, info ? info.sampleRate : 48000);
    const ab = await ctx.decodeAudioData(bytes.slice(0));
    const ch = ab.numberOfChannels, n = ab.length, s = new Float32Array(n * ch);
    for (let c = 0; c < ch; c++) { const d = ab.getChannelData(c); for (let i = 0; i < n; i++) s[i * ch + c] = d[i]; }
    return { samples: s, sampleRate: ab.sampleRate, channels: ch };
  }

  async function useFile(bytes, name) {
    const info = wavInfo(bytes);
    const decoded = await decodeInput(bytes, info).catch(() => null);
    state.input = { bytes, info, decoded, name };
    $("input-info").textContent = name + " — " + (info
      ? `${info.sampleRate} Hz, ${info.channels} ch, ${info.bits}-bit ${info.format}, ${seconds((info.frames / info.sampleRate) * 1000)}`
      : "not a WAV file the page can read");
    const totalMs = info ? (info.frames / info.sampleRate) * 1000 : decoded ? (decoded.samples.length / decoded.channels / decoded.sampleRate) * 1000 : 1000;
    state.timeline = { input: decoded, output: [], segments: [], totalMs: Math.max(1, totalMs) };
    drawTimeline();
  }

  function progress(done, total) {
    $("progress-row").hidden = false;
    $("progress").value = total > 0 ? Math.min(1, done / total) : 0;
    $("progress-text").textContent = seconds(done * 1000) + " of " + seconds(total * 1000);
    state.progress = { done, total };
  }

  // run builds the definition in the textarea and runs the chosen WAV through it.
  async function run() {
    showErrors(null);
    if (state.capturing) { showErrors({ message: "stop the microphone first" }); return null; }
    if (!state.input) { showErrors({ message: "choose a WAV file or use the microphone first" }); return null; }
    setStatus("running…", "running");
    let p;
    try {
      p = await newPipeline();
      showGraph(p, null);
      const t0 = performance.now();
      progress(0, state.input.info ? state.input.info.frames / state.input.info.sampleRate : 0);
      const res = await p.process({ wav: state.input.bytes }, { onProgress: progress });
      const tl = state.timeline || { input: state.input.decoded, totalMs: 1000 };
      showResult(res, tl);
      await showGraph(p, res.stats);
      setStatus("done in " + (performance.now() - t0).toFixed(0) + " ms", "done");
      return res;
    } catch (err) {
      showErrors(err);
      setStatus("failed: " + (err.kind || "error"), "failed");
      return null;
    } finally {
      $("progress-row").hidden = true;
      if (p) p.close();
    }
  }

  // ---- the pipeline's graph (web/inspector.js) ----

  async function showGraph(p, stats) {
    if (!globalThis.RemoteMediaInspector) return;
    try {
      const graph = await p.graph();
      RemoteMediaInspector.render($("graph"), graph, stats || []);
      markPlacement(graph);
    } catch (err) {
      $("graph").textContent = "graph unavailable: " + err.message;
    }
  }

  // markPlacement labels each node of the drawn graph with where it ran: a
  // "server" or "tab" tag in its box (split placement only).
  function markPlacement(graph) {
    const NS = "http://www.w3.org/2000/svg";
    for (const n of graph.nodes) {
      if (!n.placement) continue;
      const gr = $("graph").querySelector(`g[data-node="${CSS.escape(n.id)}"]`);
      if (!gr || gr.querySelector(".placement")) continue;
      gr.dataset.placement = n.placement;
      const h = Number(gr.querySelector("rect").getAttribute("height"));
      const tag = document.createElementNS(NS, "text"); // bottom left; the ports are bottom right
      tag.setAttribute("x", "8");
      tag.setAttribute("y", String(h - 6));
      tag.setAttribute("class", "placement placement-" + n.placement);
      tag.textContent = n.placement === "server" ? "on the server" : "in this tab";
      gr.append(tag);
    }
  }

  // ---- a voice pipeline: transcripts, replies, reply audio, barge-in ----

  // Voice keeps the conversation of a microphone run and plays the reply audio:
  // the audio outputs of Python nodes (a TTS) are replies. A barge_in event
  // (speech_buffer, docs/voice.md) or a cancel frame on a reply output stops
  // what is playing and scheduled, and reply audio stamped before the
  // interrupting utterance's start is dropped when it comes late.
  class Voice {
    constructor(ctx, replyNodes) {
      this.ctx = ctx;
      this.replyNodes = new Set(replyNodes);
      this.playing = [];
      this.playhead = 0;
      this.dropBeforeUs = -1;
      this.log = { turns: [], bargeIns: 0, stops: [], played: 0, dropped: 0 };
      $("voice").hidden = false;
      $("turns").textContent = "";
      $("reply-state").textContent = "";
    }

    isReply(o) { return this.replyNodes.has(o.node); }

    audio(o) {
      if (!this.isReply(o)) return;
      if (o.ts_us < this.dropBeforeUs) { this.log.dropped++; return; }
      const frames = o.samples.length / o.channels, buf = this.ctx.createBuffer(o.channels, frames, o.sampleRate);
      for (let c = 0; c < o.channels; c++) {
        const ch = buf.getChannelData(c);
        for (let i = 0; i < frames; i++) ch[i] = o.samples[i * o.channels + c];
      }
      const src = this.ctx.createBufferSource();
      src.buffer = buf;
      src.connect(this.ctx.destination);
      const at = Math.max(this.ctx.currentTime, this.playhead);
      src.start(at);
      this.playhead = at + buf.duration;
      this.playing.push(src);
      src.onended = () => { this.playing = this.playing.filter((x) => x !== src); this.showState(); };
      this.log.played++;
      // A reply carries the timestamp of the utterance it answers, as its transcript does.
      const turn = this.log.turns.findLast((t) => t.ts_us <= o.ts_us);
      if (turn && !turn.reply) {
        turn.reply = o.node;
        this.line("reply", `reply audio from ${o.node}, for “${turn.text.trim()}”`, o.ts_us);
      }
      this.showState();
    }

    // event reads a non-audio output; it reports whether it was a voice one.
    event(o) {
      const d = o.data && typeof o.data === "object" ? o.data : null;
      if (d && d.event === "barge_in") {
        this.log.bargeIns++;
        const stopped = this.stop("barge-in at " + seconds(d.time_ms), typeof d.start_ms === "number" ? d.start_ms * 1000 : o.ts_us);
        this.line("barge", stopped ? "you spoke over the reply: its playback stopped, the rest of it is dropped" : "you spoke again: the reply still in flight is dropped", d.time_ms * 1000);
        return true;
      }
      if (o.kind === "control" && o.text === "cancel" && this.isReply(o)) {
        // The server's part passes the barge-in's cancel on to each reply output:
        // it stops what still plays, else it is the stop already made.
        if (this.playing.length) this.stop("cancel on " + o.node + "." + o.port, o.ts_us);
        else this.dropBeforeUs = Math.max(this.dropBeforeUs, o.ts_us);
        return true;
      }
      if (o.kind === "text") {
        const reply = this.isReply(o);
        if (!reply) this.log.turns.push({ ts_us: o.ts_us, text: o.text, node: o.node });
        this.line(reply ? "reply" : "heard", (reply ? "reply (" + o.node + "): " : "heard: ") + "“" + o.text.trim() + "”", o.ts_us);
        return true;
      }
      return false;
    }

    stop(why, dropBeforeUs) {
      const stopped = this.playing.length;
      for (const src of this.playing) { try { src.stop(); } catch { /* not started */ } }
      this.playing = [];
      this.playhead = 0;
      this.dropBeforeUs = Math.max(this.dropBeforeUs, dropBeforeUs);
      this.log.stops.push({ why, stopped });
      this.showState("stopped (" + why + ")");
      return stopped;
    }

    // end: the microphone stopped and the audio context closes: nothing plays.
    end() {
      this.playing = [];
      this.showState("the microphone stopped");
    }

    line(cls, text, tsUs) {
      const li = document.createElement("li");
      li.className = cls;
      li.textContent = (typeof tsUs === "number" ? seconds(tsUs / 1000) + "  " : "") + text;
      $("turns").append(li);
    }

    showState(note) {
      $("reply-state").textContent = (this.playing.length ? "playing the reply" : "reply audio: idle") +
        ` · ${this.log.played} chunk(s) played` + (this.log.dropped ? `, ${this.log.dropped} dropped after a barge-in` : "") + (note ? " · " + note : "");
    }
  }

  // ---- the microphone ----

  async function mic() {
    if (state.capturing) { state.capturing.stop(); return; }
    showErrors(null);
    let p, ctx, redraw, voice;
    try {
      p = await newPipeline();
      await showGraph(p, null);
      const ms = await navigator.mediaDevices.getUserMedia({ audio: true });
      ctx = new AudioContext();
      const replies = (state.graph ? state.graph.nodes : []).filter((n) => n.runtime === "python" && /TTS|Ultravox/.test(n.node_type)).map((n) => n.id);
      voice = replies.length || /speech_buffer/.test($("def").value) ? new Voice(ctx, replies) : null;
      state.voice = voice ? voice.log : null;
      // The envelope of every captured block, in the pipeline's time: the blocks
      // onInput sees are the samples pushed, so their count is the frames' ts_us.
      const env = [], per = (ctx.sampleRate * ENV_MS) / 1000;
      let pushed = 0, lo = 0, hi = 0;
      const tl = { input: { env, rate: ctx.sampleRate }, output: [], segments: [], totalMs: 10000, nowMs: 0 };
      state.timeline = tl;
      const it = p.stream(ms, { audioContext: ctx, onInput: (block) => {
        for (let i = 0; i < block.length; i++) {
          const v = block[i];
          if (v < lo) lo = v;
          if (v > hi) hi = v;
          if (++pushed % per === 0) { env.push([lo, hi]); lo = hi = 0; }
        }
        tl.nowMs = (pushed / ctx.sampleRate) * 1000;
        tl.totalMs = Math.max(10000, Math.ceil(tl.nowMs / 5000) * 5000);
      } });
      state.capturing = it;
      $("input-info").textContent = "microphone — " + ctx.sampleRate + " Hz (the browser's rate), 1 ch" +
        (state.placement ? "; split: " + state.placement.server.join(", ") + " on the server" : "");
      $("mic").textContent = "Stop microphone";
      setStatus("listening…", "running");
      const events = [], audio = new Map(); // src -> {chunks, rate, channels}
      redraw = setInterval(async () => {
        drawTimeline();
        const stats = await p.stats().catch(() => null);
        if (stats) { showStats(stats); await showGraph(p, stats); }
      }, 250);
      for await (const o of it) {
        if (o.kind === "audio") {
          voice?.audio(o);
          const src = o.node + "." + o.port;
          if (!audio.has(src)) audio.set(src, { node: o.node, port: o.port, chunks: [], sampleRate: o.sampleRate, channels: o.channels });
          audio.get(src).chunks.push(o);
          tl.output.push({ src, ts_us: o.ts_us, samples: o.samples, channels: o.channels, sampleRate: o.sampleRate });
          continue;
        }
        events.push(o);
        voice?.event(o);
        tl.segments = segmentsOf(events);
        showEvents(events);
      }
      ms.getTracks().forEach((t) => t.stop());
      // The result in process()'s shape: each output concatenated, with its runs.
      const outs = [...audio.values()].map((a) => {
        const n = a.chunks.reduce((k, c) => k + c.samples.length, 0), all = new Float32Array(n), runs = [];
        let off = 0;
        for (const c of a.chunks) {
          all.set(c.samples, off);
          runs.push({ ts_us: c.ts_us, offset: off / a.channels, frames: c.samples.length / a.channels });
          off += c.samples.length;
        }
        return { node: a.node, port: a.port, sampleRate: a.sampleRate, channels: a.channels, frames: a.chunks.length, samples: all, runs };
      });
      const heardMs = tl.nowMs;
      tl.totalMs = Math.max(1, heardMs);
      showResult({ audio: outs, events, stats: p.lastStats || [] }, tl);
      await showGraph(p, p.lastStats || []);
      setStatus("microphone stopped after " + seconds(heardMs), "done");
    } catch (err) {
      showErrors(err);
      setStatus("failed: " + (err.kind || "error"), "failed");
    } finally {
      clearInterval(redraw);
      voice?.end();
      state.capturing = null;
      $("mic").textContent = "Use microphone";
      if (ctx) ctx.close().catch(() => {});
      if (p) p.close();
    }
  }

  // ---- the definition ----

  // loadExample puts example name (default: the one picked in the list) in the textarea.
  async function loadExample(name) {
    name = name || $("examples").value || DEFAULT_EXAMPLE;
    const url = "examples/" + name + ".yaml";
    const text = await fetch(url).then((r) => (r.ok ? r.text() : Promise.reject(new Error(url + ": HTTP " + r.status))));
    $("def").value = text;
    $("examples").value = name;
    state.example = { name, text };
    const why = whyNotOffered(name);
    $("def-source").textContent = `The example ${name} (${url}).` + (why ? " Not runnable here: " + why + "." : "") +
      (!why && state.server.pipelines.get(name)?.description ? " " + state.server.pipelines.get(name).description : "");
    $("def-source").dataset.offered = why ? "false" : "true";
    return text;
  }

  // listExamples fills the example list: the server's catalogue, then the bundled examples it does not offer.
  function listExamples() {
    const sel = $("examples");
    sel.textContent = "";
    const names = [...state.server.pipelines.keys()];
    for (const n of BUNDLED) if (!names.includes(n)) names.push(n);
    for (const n of names) {
      const o = document.createElement("option");
      o.value = n;
      o.textContent = n + (state.server.pipelines.has(n) ? "" : " (not offered by this server)");
      sel.append(o);
    }
    sel.value = state.server.pipelines.has(DEFAULT_EXAMPLE) || !names.length ? DEFAULT_EXAMPLE : names[0];
  }

  function showMode() {
    $("mode").textContent = worker ? "core.wasm runs in a Web Worker (a runaway node is stopped)" : "core.wasm runs on the page's thread";
    $("mode").dataset.mode = worker ? "worker" : "page";
    const u = new URL(location.href);
    if (worker) u.searchParams.delete("worker"); else u.searchParams.set("worker", "");
    $("mode-switch").href = u.search ? u.pathname + u.search.replace("worker=", "worker") : u.pathname;
    $("mode-switch").textContent = worker ? "run it on the page's thread" : "run it in a Web Worker";
  }

  state.run = run;
  state.useFile = useFile;
  state.loadExample = loadExample;
  state.mic = mic;
  state.newPipeline = newPipeline;

  async function main() {
    showMode();
    $("file").addEventListener("change", async (e) => {
      const f = e.target.files[0];
      if (f) await useFile(await f.arrayBuffer(), f.name);
    });
    $("run").addEventListener("click", run);
    $("mic").addEventListener("click", mic);
    $("example").addEventListener("click", () => loadExample().catch(showErrors));
    $("examples").addEventListener("change", () => loadExample().catch(showErrors));
    $("save").addEventListener("click", () => state.rm.saveDefinition("demo", $("def").value).then(() => {
      setStatus("definition saved");
      $("def-source").textContent = "Your saved definition (this browser's IndexedDB); “Load the example” goes back to the example picked.";
    }, showErrors));
    await probeServer();
    listExamples();
    try {
      const t0 = performance.now();
      // ?worker in the address runs the pipelines in a Web Worker (a runaway node is stopped).
      state.rm = await RemoteMedia.load({ worker });
      const saved = await state.rm.loadDefinition("demo").catch(() => undefined);
      if (saved) {
        $("def").value = saved;
        $("def-source").textContent = "Your saved definition (this browser's IndexedDB); “Load the example” goes back to the example picked.";
      } else {
        await loadExample().catch(() => {});
      }
      $("run").disabled = false;
      setStatus("ready: core.wasm loaded in " + (performance.now() - t0).toFixed(0) + " ms" + (state.rm.info.warning ? " (" + state.rm.info.warning + ")" : ""), "ready");
    } catch (err) {
      showErrors(err);
      setStatus("cannot start: " + err.message, "error");
    }
  }
  main();
})();
