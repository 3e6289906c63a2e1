// remotemedia.js: the RemoteMedia script-tag API (docs/browser.md). Plain script,
// no build step:
//
//   <script src="/remotemedia.js"></script>
//   const rm = await RemoteMedia.load();
//   const p  = await rm.pipeline(yamlOrObject, { server: "/" });
//   const out = await p.process({ audio: float32Array, sampleRate: 48000, channels: 2 });
//   for await (const ev of p.stream(mediaStream)) { ... }
//
// It loads wasm_exec.js, wasi-shim.js and core.wasm (kept in the Cache API so a
// later visit works offline) from the directory this script came from; core.wasm
// loads node modules through an IndexedDB cache checked by sha256.
(function (g) {
  "use strict";
  const here = document.currentScript ? new URL(".", document.currentScript.src).href : new URL("/", location.href).href;
  const CACHE = "remotemedia-v1";
  let coreReady = null; // one core.wasm per page

  function loadScript(url) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = url;
      s.onload = resolve;
      s.onerror = () => reject(new Error("remotemedia: cannot load " + url));
      document.head.appendChild(s);
    });
  }

  // fetchCached: the network first (so a new build is picked up; the HTTP cache
  // revalidates it by ETag), the Cache API when the network fails. The Cache API
  // copy is rewritten only when the ETag changed.
  async function fetchCached(url) {
    const cache = g.caches ? await g.caches.open(CACHE).catch(() => null) : null;
    try {
      const resp = await fetch(url, { cache: "no-cache" });
      if (!resp.ok) throw new Error(url + ": HTTP " + resp.status);
      if (cache) {
        const old = await cache.match(url).catch(() => null);
        const etag = resp.headers.get("etag");
        if (!old || !etag || old.headers.get("etag") !== etag) cache.put(url, resp.clone()).catch(() => {});
      }
      return resp;
    } catch (err) {
      const hit = cache && (await cache.match(url));
      if (hit) return hit;
      throw err;
    }
  }

  async function startCore(base) {
    if (!g.Go) await loadScript(base + "wasm_exec.js");
    if (!g.RemoteMediaWASI) await loadScript(base + "wasi-shim.js");
    const resp = await fetchCached(base + "core.wasm");
    const go = new g.Go();
    // Streaming compilation lets V8 keep the compiled code for the next visit.
    const streaming = WebAssembly.instantiateStreaming && (resp.headers.get("content-type") || "").startsWith("application/wasm");
    const { instance } = streaming
      ? await WebAssembly.instantiateStreaming(resp, go.importObject)
      : await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
    go.run(instance).then(() => { coreReady = null; });
    if (!g.__remotemediaCore) throw new Error("remotemedia: core.wasm did not start");
    return g.__remotemediaCore;
  }

  // toText turns a definition object into JSON text; YAML/JSON text passes as is.
  const toText = (def) => (typeof def === "string" ? def : JSON.stringify(def));

  class RemoteMedia {
    /**
     * Loads core.wasm once per page and initialises it.
     * opts: {base: server root URL (default: where this script came from),
     *        memoryPages: WASM memory cap per node instance (default 256 = 16 MiB),
     *        callTimeoutMs: per-call deadline checked after each call (default 1000)}
     */
    static async load(opts = {}) {
      const base = new URL(opts.base || here, location.href).href;
      if (!coreReady) coreReady = startCore(base);
      let core;
      try {
        core = await coreReady;
      } catch (err) {
        coreReady = null;
        throw err;
      }
      const t0 = performance.now();
      const info = await core.init({ base, memoryPages: opts.memoryPages, callTimeoutMs: opts.callTimeoutMs });
      return new RemoteMedia(core, base, info, performance.now() - t0);
    }

    constructor(core, base, info, initMs) {
      this._core = core;
      this.base = base;
      /** {cache: IndexedDB available, warning: why the module index came from the cache} */
      this.info = info;
      this.initMs = initMs;
    }

    /**
     * Builds a pipeline from a definition (YAML or JSON text, or an object).
     * A bad definition rejects with an Error whose `problems` lists every
     * problem as {path, message}. opts: {frameMs: frame length (default 20),
     * server: the URL of a RemoteMedia server whose Python nodes the definition
     * may use, token: its bearer token}.
     */
    async pipeline(def, opts = {}) {
      const server = opts.server ? new URL(opts.server, location.href).href : undefined;
      const id = await this._core.pipeline(toText(def), { frameMs: opts.frameMs, server, token: opts.token });
      return new Pipeline(this._core, id, opts);
    }

    /** Registers a custom node type (audio in, audio out) from module bytes. */
    registerModule(nodeType, bytes) { return this._core.registerModule(nodeType, bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes)); }
    /** The node types this tab can run. */
    nodeTypes() { return this._core.nodeTypes(); }
    /** sha256 (hex) of every module loaded so far, by file name. */
    moduleHashes() { return this._core.moduleHashes(); }
    /** Saves definition text under a name in IndexedDB. */
    saveDefinition(name, text) { return this._core.saveDefinition(name, toText(text)); }
    /** The saved definition text, or undefined. */
    loadDefinition(name) { return this._core.loadDefinition(name); }
  }

  // The capture worklet: interleaves the input's channels and posts blocks of
  // about 20 ms to the page.
  const WORKLET = `
    class RMCapture extends AudioWorkletProcessor {
      constructor(o) { super(); this.ch = o.processorOptions.channels; this.buf = []; this.n = 0; this.block = o.processorOptions.block; }
      process(inputs) {
        const inp = inputs[0];
        if (!inp || inp.length === 0) return true;
        const len = inp[0].length, out = new Float32Array(len * this.ch);
        for (let c = 0; c < this.ch; c++) {
          const src = inp[Math.min(c, inp.length - 1)];
          for (let i = 0; i < len; i++) out[i * this.ch + c] = src[i];
        }
        this.buf.push(out); this.n += len;
        if (this.n >= this.block) {
          const all = new Float32Array(this.n * this.ch); let o = 0;
          for (const b of this.buf) { all.set(b, o); o += b.length; }
          this.port.postMessage(all, [all.buffer]); this.buf = []; this.n = 0;
        }
        return true;
      }
    }
    registerProcessor("rm-capture", RMCapture);`;

  class Pipeline {
    constructor(core, id, opts) {
      this._core = core;
      this._id = id;
      this.opts = opts;
    }

    /**
     * Runs the whole input through a fresh session: {audio: Float32Array,
     * sampleRate, channels} (interleaved) or {wav: ArrayBuffer}. Resolves to
     * {audio: [{node, port, sampleRate, channels, frames, samples: Float32Array}],
     *  events: [{node, port, seq, ts_us, kind, data|text|error}], stats}.
     * The audio is cut into frames exactly as `remotemedia run` cuts a file.
     */
    process(input) {
      if (input && input.wav) return this._core.process(this._id, { wav: input.wav });
      const audio = input && (input.audio || input.pcm);
      if (!(audio instanceof Float32Array)) return Promise.reject(new TypeError("process: want {audio: Float32Array, sampleRate, channels} or {wav: ArrayBuffer}"));
      return this._core.process(this._id, { pcm: audio, sampleRate: input.sampleRate, channels: input.channels || 1 });
    }

    /**
     * Opens a streaming session and feeds it raw blocks: returns
     * {push(Float32Array), end() -> stats} and calls onOutput for every
     * output frame or event as it comes.
     */
    async open(onOutput, { sampleRate, channels = 1 }) {
      const sid = await this._core.open(this._id, onOutput, { sampleRate, channels });
      return { push: (samples) => this._core.push(sid, samples), end: () => this._core.end(sid) };
    }

    /**
     * Streams a MediaStream (a microphone) through the pipeline: an async
     * iterator of output frames ({kind: "audio", samples, ...}) and events.
     * It ends when the stream's audio track ends, or when the loop breaks.
     * opts: {channels: 1 | 2 (default 1), audioContext}
     */
    stream(mediaStream, opts = {}) {
      const self = this;
      const queue = [];
      let wake = null, done = false, finished = false, failure = null, session = null, ctx = null, node = null, src = null;
      const notify = () => { if (wake) { wake(); wake = null; } };
      async function start() {
        const channels = opts.channels || 1;
        ctx = opts.audioContext || new AudioContext();
        const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
        await ctx.audioWorklet.addModule(url);
        URL.revokeObjectURL(url);
        session = await self.open((out) => { queue.push(out); notify(); }, { sampleRate: ctx.sampleRate, channels });
        src = ctx.createMediaStreamSource(mediaStream);
        node = new AudioWorkletNode(ctx, "rm-capture", {
          numberOfInputs: 1, numberOfOutputs: 0, channelCount: channels, channelCountMode: "explicit",
          processorOptions: { channels, block: Math.round(ctx.sampleRate / 50) },
        });
        node.port.onmessage = (e) => { if (!done) session.push(e.data).catch((err) => { failure = err; notify(); }); };
        src.connect(node);
        if (ctx.state === "suspended") await ctx.resume();
        for (const t of mediaStream.getAudioTracks()) t.addEventListener("ended", () => stop());
      }
      async function stop() {
        if (done) return;
        done = true;
        if (src) src.disconnect();
        if (node) node.port.onmessage = null;
        if (ctx && !opts.audioContext) await ctx.close().catch(() => {});
        if (session) {
          try { self.lastStats = await session.end(); } catch (err) { failure = failure || err; }
        }
        finished = true;
        notify();
      }
      const started = start().catch((err) => { failure = err; done = finished = true; notify(); });
      return {
        [Symbol.asyncIterator]() { return this; },
        async next() {
          await started;
          for (;;) {
            if (queue.length) return { value: queue.shift(), done: false };
            if (failure) { const f = failure; failure = null; throw f; }
            if (finished) return { value: undefined, done: true };
            await new Promise((r) => (wake = r));
          }
        },
        async return() { await stop(); return { value: undefined, done: true }; },
        /** Stops capturing; outputs still queued are delivered, then the loop ends. */
        stop,
      };
    }

    /** Per-node counters and latency (p50_us, p99_us) of the live or last session. */
    stats() { return this._core.stats(this._id); }
    /** Forgets the pipeline. */
    close() { return this._core.close(this._id); }
  }

  g.RemoteMedia = RemoteMedia;
})(globalThis);
