// The demo page: a WAV file or the microphone -> an editable definition -> the
// pipeline in this tab -> waveform, VAD timeline, per-node latency, playback.
// window.demo exposes the same steps to tests (e2e/).
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const state = { rm: null, input: null, result: null, capturing: null };
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

  function draw(input, out) {
    const c = $("wave"), g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    const plot = (samples, channels, color, dur, total) => {
      if (!samples || !samples.length) return;
      const frames = samples.length / channels, w = c.width * Math.min(1, dur / total), mid = c.height / 2;
      g.strokeStyle = color;
      g.beginPath();
      for (let x = 0; x < w; x++) {
        let lo = 0, hi = 0;
        const a = Math.floor((x / w) * frames), b = Math.floor(((x + 1) / w) * frames);
        for (let i = a; i < b; i++) { const v = samples[i * channels]; if (v < lo) lo = v; if (v > hi) hi = v; }
        g.moveTo(x + 0.5, mid - hi * mid); g.lineTo(x + 0.5, mid - lo * mid + 1);
      }
      g.stroke();
    };
    const total = input ? input.samples.length / input.channels / input.sampleRate : 1;
    if (input) plot(input.samples, input.channels, "#b8bec9", total, total);
    if (out) plot(out.samples, out.channels, "#2b6cd4", out.samples.length / out.channels / out.sampleRate, total);
  }

  function drawVAD(events, totalMs) {
    const c = $("vad"), g = c.getContext("2d");
    g.clearRect(0, 0, c.width, c.height);
    g.fillStyle = "#2fa36b";
    let start = null;
    const x = (ms) => (ms / totalMs) * c.width;
    for (const ev of events) {
      const d = ev.data;
      if (!d || !d.event) continue;
      if (d.event === "speech_start") start = d.time_ms;
      if (d.event === "speech_end" && start !== null) { g.fillRect(x(start), 4, Math.max(1, x(d.time_ms) - x(start)), c.height - 8); start = null; }
    }
    if (start !== null) g.fillRect(x(start), 4, c.width - x(start), c.height - 8);
  }

  // µs with three significant digits, as `remotemedia run` prints them: 0.456, 1.23, 12.3, 123, 1230.
  function us(x) {
    if (x === 0) return "0";
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
    $("stats").caption.textContent = step === undefined ? "" : `µs per frame; this tab's clock ticks every ${us(step)} µs, so below that only the mean is true`;
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

  function showResult(res, input) {
    state.result = res;
    const out = res.audio[0];
    draw(input, out);
    const totalMs = input ? (input.samples.length / input.channels / input.sampleRate) * 1000 : 1;
    drawVAD(res.events, totalMs);
    showStats(res.stats);
    const errors = res.events.filter((e) => e.kind === "error");
    if (errors.length) showErrors({ kind: "node error", message: errors.length + " frame(s) failed; first: " + errors[0].node + ": " + errors[0].error });
    $("events").textContent = res.events.map((e) => JSON.stringify(e)).join("\n");
    if (out) $("player").src = URL.createObjectURL(wavBlob(out.samples, out.sampleRate, out.channels));
    const speech = res.events.filter((e) => e.data && e.data.event === "speech_start").length;
    $("summary").textContent = (out ? (out.samples.length / out.channels / out.sampleRate).toFixed(2) + " s of " + out.sampleRate + " Hz audio out, " : "no audio out, ") +
      speech + " speech segment(s), " + res.events.length + " event(s)";
  }

  // decodeInput reads a WAV file to interleaved f32 for drawing (the pipeline
  // gets the WAV bytes themselves, read by core.wasm as the CLI reads them).
  async function decodeInput(bytes) {
    const ctx = new OfflineAudioContext(1, 1, 48000);
    const ab = await ctx.decodeAudioData(bytes.slice(0));
    const ch = ab.numberOfChannels, n = ab.length, s = new Float32Array(n * ch);
    for (let c = 0; c < ch; c++) { const d = ab.getChannelData(c); for (let i = 0; i < n; i++) s[i * ch + c] = d[i]; }
    return { samples: s, sampleRate: ab.sampleRate, channels: ch };
  }

  // run builds the definition in the textarea and runs the chosen WAV through it.
  async function run() {
    showErrors(null);
    if (!state.input) { showErrors({ message: "choose a WAV file or use the microphone first" }); return null; }
    setStatus("running…", "running");
    let p;
    try {
      p = await state.rm.pipeline($("def").value);
      const t0 = performance.now();
      const res = await p.process({ wav: state.input.bytes });
      showResult(res, state.input.decoded);
      setStatus("done in " + (performance.now() - t0).toFixed(0) + " ms", "done");
      return res;
    } catch (err) {
      showErrors(err);
      setStatus("failed: " + (err.kind || "error"), "failed");
      return null;
    } finally {
      if (p) p.close();
    }
  }

  async function useFile(bytes, name) {
    state.input = { bytes, decoded: await decodeInput(bytes).catch(() => null), name };
    $("input-info").textContent = name + (state.input.decoded ? " — " + state.input.decoded.sampleRate + " Hz, " + state.input.decoded.channels + " ch, " +
      (state.input.decoded.samples.length / state.input.decoded.channels / state.input.decoded.sampleRate).toFixed(2) + " s" : "");
    draw(state.input.decoded, null);
  }

  async function mic() {
    if (state.capturing) { state.capturing.stop(); return; }
    showErrors(null);
    let p;
    try {
      p = await state.rm.pipeline($("def").value);
      const ms = await navigator.mediaDevices.getUserMedia({ audio: true });
      const it = p.stream(ms);
      state.capturing = it;
      $("mic").textContent = "Stop microphone";
      setStatus("listening…", "running");
      const events = [], t0 = performance.now();
      let out = [], rate = 16000, ch = 1;
      for await (const o of it) {
        if (o.kind === "audio") { out.push(o.samples); rate = o.sampleRate; ch = o.channels; continue; }
        events.push(o);
        $("events").textContent = events.map((e) => JSON.stringify(e)).join("\n");
        drawVAD(events, performance.now() - t0);
        showStats(await p.stats());
      }
      ms.getTracks().forEach((t) => t.stop());
      const all = new Float32Array(out.reduce((n, a) => n + a.length, 0));
      let o = 0; for (const a of out) { all.set(a, o); o += a.length; }
      showResult({ audio: all.length ? [{ samples: all, sampleRate: rate, channels: ch }] : [], events, stats: p.lastStats || [] }, null);
      setStatus("microphone stopped", "done");
    } catch (err) {
      showErrors(err);
      setStatus("failed: " + (err.kind || "error"), "failed");
    } finally {
      state.capturing = null;
      $("mic").textContent = "Use microphone";
      if (p) p.close();
    }
  }

  state.run = run;
  state.useFile = useFile;

  async function main() {
    $("file").addEventListener("change", async (e) => {
      const f = e.target.files[0];
      if (f) await useFile(await f.arrayBuffer(), f.name);
    });
    $("run").addEventListener("click", run);
    $("mic").addEventListener("click", mic);
    $("save").addEventListener("click", () => state.rm.saveDefinition("demo", $("def").value).then(() => setStatus("definition saved"), showErrors));
    try {
      const t0 = performance.now();
      // ?worker in the address runs the pipelines in a Web Worker (a runaway node is stopped).
      state.rm = await RemoteMedia.load({ worker: new URLSearchParams(location.search).has("worker") });
      const saved = await state.rm.loadDefinition("demo").catch(() => undefined);
      $("def").value = saved || (await fetch("examples/speech-frontend.yaml").then((r) => (r.ok ? r.text() : "")).catch(() => ""));
      $("run").disabled = false;
      setStatus("ready: core.wasm loaded in " + (performance.now() - t0).toFixed(0) + " ms" + (state.rm.info.warning ? " (" + state.rm.info.warning + ")" : ""), "ready");
    } catch (err) {
      showErrors(err);
      setStatus("cannot start: " + err.message, "error");
    }
  }
  main();
})();
