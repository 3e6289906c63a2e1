// The demo page: a WAV file or the microphone -> an editable definition -> the
// pipeline in this tab -> input and output waveforms and VAD segments on one time
// axis, per-node latency, the pipeline's graph, the events, playback.
// window.demo exposes the same steps to tests (e2e/).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const EXAMPLE = "examples/speech-frontend.yaml";
  const COLORS = { input: "#b8bec9", output: "#2b6cd4", speech: "#2fa36b", open: "#8fd3b1" };
  const worker = new URLSearchParams(location.search).has("worker");
  // timeline: what the output canvases show, all in the input's time (ms from its start).
  //   input:  {samples, channels, sampleRate} (a file) or {env: [[lo, hi], ...] per ENV_MS, rate} (the microphone)
  //   output: [{ts_us, samples, channels, sampleRate}] chunks drawn at their timestamps
  //   segments: [{start, end}] speech in ms (end null while it lasts); totalMs: the axis' length
  const state = { rm: null, input: null, result: null, capturing: null, pipeline: null, timeline: null, colors: COLORS };
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

  function segmentsOf(events) {
    const segs = [];
    let open = null;
    for (const ev of events) {
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
    for (const s of stats || []) {
      const tr = tb.insertRow();
      for (const v of [s.id, s.in, s.out, s.dropped, s.errors, us(s.work_mean_us), us(s.p50_us), us(s.p99_us), us(s.blocked_p99_us)]) tr.insertCell().textContent = v;
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
      p = await state.rm.pipeline($("def").value);
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
    } catch (err) {
      $("graph").textContent = "graph unavailable: " + err.message;
    }
  }

  // ---- the microphone ----

  async function mic() {
    if (state.capturing) { state.capturing.stop(); return; }
    showErrors(null);
    let p, ctx, redraw;
    try {
      p = await state.rm.pipeline($("def").value);
      await showGraph(p, null);
      const ms = await navigator.mediaDevices.getUserMedia({ audio: true });
      ctx = new AudioContext();
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
      $("input-info").textContent = "microphone — " + ctx.sampleRate + " Hz (the browser's rate), 1 ch";
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
          const src = o.node + "." + o.port;
          if (!audio.has(src)) audio.set(src, { node: o.node, port: o.port, chunks: [], sampleRate: o.sampleRate, channels: o.channels });
          audio.get(src).chunks.push(o);
          tl.output.push({ src, ts_us: o.ts_us, samples: o.samples, channels: o.channels, sampleRate: o.sampleRate });
          continue;
        }
        events.push(o);
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
      state.capturing = null;
      $("mic").textContent = "Use microphone";
      if (ctx) ctx.close().catch(() => {});
      if (p) p.close();
    }
  }

  // ---- the definition ----

  async function loadExample() {
    const text = await fetch(EXAMPLE).then((r) => (r.ok ? r.text() : Promise.reject(new Error(EXAMPLE + ": HTTP " + r.status))));
    $("def").value = text;
    $("def-source").textContent = "The example definition (" + EXAMPLE + ").";
    return text;
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

  async function main() {
    showMode();
    $("file").addEventListener("change", async (e) => {
      const f = e.target.files[0];
      if (f) await useFile(await f.arrayBuffer(), f.name);
    });
    $("run").addEventListener("click", run);
    $("mic").addEventListener("click", mic);
    $("example").addEventListener("click", () => loadExample().catch(showErrors));
    $("save").addEventListener("click", () => state.rm.saveDefinition("demo", $("def").value).then(() => {
      setStatus("definition saved");
      $("def-source").textContent = "Your saved definition (this browser's IndexedDB); “Load the example” goes back to " + EXAMPLE + ".";
    }, showErrors));
    try {
      const t0 = performance.now();
      // ?worker in the address runs the pipelines in a Web Worker (a runaway node is stopped).
      state.rm = await RemoteMedia.load({ worker });
      const saved = await state.rm.loadDefinition("demo").catch(() => undefined);
      if (saved) {
        $("def").value = saved;
        $("def-source").textContent = "Your saved definition (this browser's IndexedDB); “Load the example” goes back to " + EXAMPLE + ".";
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
