// remotemedia.js: the RemoteMedia browser API (docs/browser.md), one source in two
// forms. This file is the classic script:
//
//   <script src="/remotemedia.js"></script>
//   const rm = await RemoteMedia.load();
//
// and remotemedia.mjs, which the server makes from it (web/esmodule.go), is the same
// code as an ES module:
//
//   import { RemoteMedia } from "/remotemedia.mjs";
//   const rm = await RemoteMedia.load();
//
// The module leaves out the lines marked classic-only and uncomments the lines that
// start with "module:".
//
// Either way:
//   const p  = await rm.pipeline(yamlOrObject, { server: "/" });
//   const out = await p.process({ audio: float32Array, sampleRate: 48000, channels: 2 });
//   for await (const ev of p.stream(mediaStream)) { ... }
//
// It loads wasm_exec.js, wasi-shim.js and core.wasm (kept in the Cache API so a
// later visit works offline) from the directory this script came from; core.wasm
// loads node modules through an IndexedDB cache checked by sha256.
//
// RemoteMedia.load({worker: true}) runs core.wasm in a Web Worker instead (the classic
// remotemedia.js from the same directory, loaded there by importScripts) so that a
// node call that never returns can be stopped: see WorkerCore below.
(function (g) { // classic-only
  "use strict"; // classic-only
  // module: const g = globalThis;
  const inWorker = typeof document === "undefined" && typeof importScripts === "function";
  const scriptURL = inWorker ? undefined : document.currentScript?.src; // classic-only
  // module: const scriptURL = import.meta.url;
  const here = g.__remotemediaBase ?? (scriptURL ? new URL(".", scriptURL).href : new URL("/", location.href).href);
  const CACHE = "remotemedia-v1";
  // The server fills in the versions of core.wasm, wasm_exec.js and wasi-shim.js
  // (web/embed.go): NAME?v=VERSION is then a URL the browser keeps without asking
  // again (a new build has a new one). Empty (a copy of this script hosted
  // elsewhere): the files are revalidated on every load.
  const VERSIONS = {};
  const versioned = (name) => name + (VERSIONS[name] ? "?v=" + VERSIONS[name] : "");
  let coreReady = null; // one core.wasm per page

  function loadScript(url) {
    if (inWorker) {
      try { importScripts(url); } catch (err) { return Promise.reject(new Error("remotemedia: cannot load " + url + ": " + err.message)); }
      return Promise.resolve();
    }
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = url;
      s.onload = resolve;
      s.onerror = () => reject(new Error("remotemedia: cannot load " + url));
      document.head.appendChild(s);
    });
  }

  // fetchCached: a versioned URL (immutable: a new build has a new one) is
  // taken from the Cache API when it is there: that copy is stored decoded, so
  // it reads in about 25 ms where the HTTP cache's brotli copy of core.wasm
  // takes 100-250 ms to decode (docs/browser.md, "Start-up"). Otherwise the
  // network first (the HTTP cache keeps a versioned URL as it is and
  // revalidates any other by ETag, so a new build is picked up), the Cache API
  // when the network fails. The Cache API copy is rewritten only when the ETag
  // changed, in the background: the caller starts compiling the response
  // meanwhile.
  //
  // Opening the Cache API the first time in a profile takes 50-150 ms, so the
  // page's localStorage remembers which URL the Cache API holds (cachedKey): a
  // URL it does not name goes to the network at once, the cold load's case. A
  // worker has no localStorage and asks the Cache API first.
  const cachedKey = (url) => "remotemedia:cached:" + new URL(url).pathname;
  function cacheHint(url) {
    try { return g.localStorage ? g.localStorage.getItem(cachedKey(url)) === url : null; } catch { return null; }
  }
  function setCacheHint(url) {
    try { if (g.localStorage) g.localStorage.setItem(cachedKey(url), url); } catch { /* storage full or refused */ }
  }
  // It resolves to {resp, fromCache, stored}, stored settling once the copy
  // for the Cache API is written (or not). With gz (the URL of a gzip copy of url),
  // the network's copy comes from there, inflated in the page (inflated).
  // With network, the Cache API is not read first: the copy there may be the
  // one that just failed.
  async function fetchCached(url, immutable, gz, network = false) {
    const hint = immutable ? cacheHint(url) : null; // true, false, or null: unknown
    const cacheP = g.caches ? g.caches.open(CACHE).catch(() => null) : Promise.resolve(null);
    if (immutable && hint !== false && !network) {
      const cache = await cacheP;
      const hit = cache && (await cache.match(url).catch(() => null));
      if (hit) {
        if (hint === null) setCacheHint(url);
        return { resp: hit, fromCache: true };
      }
    }
    let resp;
    try {
      const opts = { cache: immutable ? "default" : "no-cache" };
      resp = gz ? await fetch(gz, opts).catch(() => null) : null;
      resp = resp?.ok ? inflated(resp) : await fetch(url, opts);
      if (!resp.ok) throw new Error("HTTP " + resp.status);
    } catch (err) {
      const cache = await cacheP;
      const hit = cache && (await cache.match(url).catch(() => null));
      if (hit) return { resp: hit, fromCache: true };
      const other = new URL(url).origin !== new URL(g.location.href).origin;
      throw new Error("remotemedia: cannot fetch " + url + ": " + err.message +
        (other ? " (a server on another origin must allow this page's origin " + new URL(g.location.href).origin + ": remotemedia serve --allow-origin)" : ""));
    }
    const copy = resp.clone();
    const stored = cacheP.then(async (cache) => {
      const old = cache && (await cache.match(url));
      const etag = resp.headers.get("etag");
      if (cache && (!old || !etag || old.headers.get("etag") !== etag)) {
        await cache.put(url, copy);
        if (immutable) setCacheHint(url);
        // Copies of other versions of the same file are of no more use.
        const path = new URL(url).pathname;
        for (const req of await cache.keys()) if (req.url !== url && new URL(req.url).pathname === path) await cache.delete(req);
      } else {
        if (copy.body) await copy.body.cancel();
        if (cache && immutable) setCacheHint(url);
      }
    }).catch(() => {});
    return { resp, fromCache: false, stored };
  }

  // inflateHere says whether core.wasm from base is better fetched as its gzip
  // copy and inflated in the page: from a loopback address (the wire is free) or
  // over plain HTTP (no brotli there).
  function inflateHere(base) {
    try {
      const u = new URL(base, g.location?.href);
      return u.protocol === "http:" || /^(localhost|127\.\d+\.\d+\.\d+|\[::1\])$/.test(u.hostname);
    } catch { return false; }
  }

  // inflated is the WebAssembly inside a gzip response (core.wasm.gz: web/embed.go),
  // as a response WebAssembly.compileStreaming takes, decoded on this thread as
  // it arrives.
  function inflated(resp) {
    return new Response(resp.body.pipeThrough(new DecompressionStream("gzip")),
      { headers: { "content-type": "application/wasm", etag: resp.headers.get("etag") ?? "" } });
  }

  // The IndexedDB database where core.wasm keeps module bytes by sha256, the last
  // module index seen and saved definitions (target/browser/cache.go names the
  // same stores). startCore starts opening it while core.wasm downloads: a first
  // open in a profile creates it, 50-70 ms, and core.wasm's own open then finds
  // it made. The promise resolves to the database, or null when the browser has
  // none (then everything is fetched); it never rejects.
  const IDB = {
    name: "remotemedia",
    version: 1,
    stores: ["modules", "meta", "definitions"],
    open() {
      return new Promise((resolve) => {
        const req = g.indexedDB.open(IDB.name, IDB.version);
        req.onupgradeneeded = () => {
          for (const s of IDB.stores) if (!req.result.objectStoreNames.contains(s)) req.result.createObjectStore(s);
        };
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => resolve(null);
      }).catch(() => null); // no indexedDB at all, or open refused
    },
    // keys resolves to the keys (module sha256s) of the modules store, or null
    // when they cannot be read: core.wasm skips the reads of modules it knows
    // are not there (every module, on a first visit).
    keys(dbP) {
      return dbP.then((db) => db && new Promise((resolve) => {
        const req = db.transaction("modules", "readonly").objectStore("modules").getAllKeys();
        req.onsuccess = () => resolve(req.result);
        req.onerror = () => resolve(null);
      })).catch(() => null);
    },
  };

  // mark records a step of the start-up as a performance mark ("remotemedia:…"),
  // for the page's own timing (performance.getEntriesByType("mark")).
  const mark = (name) => { try { performance.mark("remotemedia:" + name); } catch { /* no User Timing */ } };

  async function startCore(base) {
    mark("start");
    // The module index core.wasm's init asks for first, requested now so that it
    // arrives while core.wasm compiles (target/browser/startup.go takes it).
    const index = base + "modules/index.json";
    g.__remotemediaPrefetch = { [index]: fetch(index, { cache: "no-cache" }) };
    g.__remotemediaPrefetch[index].catch(() => {}); // a failure is init's to report
    g.__remotemediaIDB = IDB.open();
    g.__remotemediaIDBKeys = IDB.keys(g.__remotemediaIDB);
    // core.wasm is fetched and compiled while the two scripts load: compiling
    // needs no imports, only instantiating does (Go's, from wasm_exec.js).
    // From this machine, or over plain HTTP (where browsers take gzip, not
    // brotli, anyway), a first visit fetches its gzip copy and inflates it in the
    // page: 2.5 MB cross from the browser's network process instead of 9.6 MB
    // (docs/browser.md, "Start-up"). Over HTTPS from elsewhere the brotli copy's
    // 1.8 MB on the wire count for more, and the browser inflates that. Should the
    // gzip copy fail (something on the way that decoded or mangled it), core.wasm
    // itself is fetched from the network; its copy then replaces the inflated one
    // in the Cache API (another ETag).
    const gz = VERSIONS["core.wasm.gz"] && typeof DecompressionStream === "function" && inflateHere(base) ? base + versioned("core.wasm.gz") : null;
    const url = base + versioned("core.wasm");
    let storing = null; // the gzip copy's way into the Cache API
    const compile = (gz, network) => fetchCached(url, !!VERSIONS["core.wasm"], gz, network).then(({ resp, fromCache, stored }) => {
      if (gz) storing = stored;
      mark("response");
      mark(fromCache ? "core-from-cache" : "core-from-network");
      // Streaming compilation lets V8 keep the compiled code for the next visit
      // (not from the inflated copy, which has no URL to keep it under).
      const streaming = WebAssembly.compileStreaming && (resp.headers.get("content-type") || "").startsWith("application/wasm");
      const module = streaming ? WebAssembly.compileStreaming(resp) : resp.arrayBuffer().then((b) => WebAssembly.compile(b));
      return module.then((m) => ({ module: m, fromCache, streaming }));
    });
    const compiling = compile(gz).catch(async (err) => {
      if (!gz) throw err;
      // The copy that failed may be on its way into the Cache API: let it land and
      // take it out, so that the copy fetched now is the one a later visit finds.
      await storing;
      if (g.caches) await g.caches.open(CACHE).then((c) => c.delete(url)).catch(() => {});
      return compile(null, true);
    });
    compiling.catch(() => {}); // it may fail before the scripts are in: `await compiling` below reports it
    await Promise.all([
      g.Go ? null : loadScript(base + versioned("wasm_exec.js")),
      g.RemoteMediaWASI ? null : loadScript(base + versioned("wasi-shim.js")),
    ]);
    mark("scripts");
    const { module, streaming } = await compiling;
    mark(streaming ? "compiled" : "compiled-nonstreaming");
    const go = new g.Go();
    const instance = await WebAssembly.instantiate(module, go.importObject);
    go.run(instance).then(() => { coreReady = null; });
    mark("running");
    if (!g.__remotemediaCore) throw new Error("remotemedia: core.wasm did not start");
    return g.__remotemediaCore;
  }

  // The methods of core.wasm's API whose work runs node code: the watchdog of
  // WorkerCore guards these.
  const WATCHED = new Set(["process", "open", "push", "end"]);

  // errorOf rebuilds an Error sent from the worker, with its problems list.
  function errorOf(e) {
    const err = new Error(e.message);
    if (e.problems) err.problems = e.problems;
    if (e.kind) err.kind = e.kind;
    return err;
  }

  // serveWorker is the worker's side of WorkerCore: it starts core.wasm and answers
  // each message {id, method, args} with {id, value} or {id, error}. It beats every
  // quarter of the deadline while its event loop is free, and core.wasm beats
  // before node calls (__remotemediaBeat), so silence means a call that never ends.
  function serveWorker() {
    let core = null;
    const beat = () => g.postMessage({ beat: true });
    g.__remotemediaBeat = beat;
    let ticker = setInterval(beat, 250);
    g.onmessage = async (e) => {
      const { id, method, args } = e.data;
      try {
        let value;
        if (method === "init") {
          clearInterval(ticker);
          ticker = setInterval(beat, Math.max(10, (args[0].callTimeoutMs || 1000) / 4));
          core = await startCore(args[0].base);
          value = await core.init(args[0]);
        } else if (!core) {
          throw new Error("remotemedia worker: init first");
        } else if (method === "process" && args[2]) { // args[2] says: report progress
          value = await core.process(args[0], args[1], (done, total) => g.postMessage({ progress: id, done, total }));
        } else if (method === "open") {
          let sid = -1;
          value = sid = await core.open(args[0], (out) => g.postMessage({ output: sid, out }), args[1]);
        } else {
          value = await core[method](...args);
        }
        g.postMessage({ id, value });
      } catch (err) {
        g.postMessage({ id, error: { message: String(err?.message || err), problems: err?.problems, kind: err?.kind } });
      }
    };
  }

  // WorkerCore is core.wasm's API (the object core.wasm exports) served by a Web
  // Worker. A watchdog terminates the worker when a request that runs node code
  // (process, open, push, end) hears nothing from it for longer than the deadline:
  // JavaScript cannot interrupt a WebAssembly call on its own thread, but the page
  // can end the thread. Every pending request then rejects with code "timeout", the
  // worker's open sessions end, and the next request starts a fresh worker that
  // re-registers the page's custom modules and rebuilds its pipelines from their
  // definitions, so pipeline objects keep working.
  class WorkerCore {
    constructor(base, opts) {
      this.base = base;
      this.opts = opts;
      this.timeoutMs = opts.callTimeoutMs || 1000;
      this.seq = 0;
      this.gen = 0; // bumped by every new worker
      this.pending = new Map(); // request id -> {resolve, reject, watched}
      this.sessions = new Map(); // worker session id -> onOutput, for this.gen
      this.pipelines = new Map(); // page pipeline id -> {text, opts, wid, gen}
      this.modules = new Map(); // custom node type -> registerModule's arguments
      this.nextPipeline = 1;
      this.worker = null;
      this.starting = null;
    }

    // ready starts a worker if none runs and resolves to core.init's result.
    ready() {
      if (!this.starting) this.starting = this._start().catch((err) => { this._stop(); throw err; });
      return this.starting;
    }

    async _start() {
      const boot = `self.__remotemediaBase = ${JSON.stringify(this.base)}; importScripts(${JSON.stringify(this.base + "remotemedia.js")});`;
      const url = URL.createObjectURL(new Blob([boot], { type: "text/javascript" }));
      const w = new Worker(url, { name: "remotemedia" });
      setTimeout(() => URL.revokeObjectURL(url), 10000);
      this.worker = w;
      this.gen++;
      this.sessions = new Map();
      this.heard = performance.now();
      w.onmessage = (e) => this._message(e.data);
      w.onerror = (e) => { e.preventDefault(); this._kill(new Error("remotemedia worker: " + (e.message || "failed to start"))); };
      this.watch = setInterval(() => this._watch(), Math.max(10, this.timeoutMs / 4));
      const info = await this._send("init", [{ base: this.base, memoryPages: this.opts.memoryPages, callTimeoutMs: this.timeoutMs }]);
      for (const args of this.modules.values()) await this._send("registerModule", args);
      return info;
    }

    _message(m) {
      this.heard = performance.now();
      if (m.beat) return;
      if (m.progress !== undefined) {
        this.pending.get(m.progress)?.onProgress?.(m.done, m.total);
        return;
      }
      if (m.output !== undefined) {
        const on = this.sessions.get(m.output);
        if (on) on(m.out);
        return;
      }
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.error) p.reject(errorOf(m.error));
      else p.resolve(m.value);
    }

    _watch() {
      let watched = false;
      for (const p of this.pending.values()) watched = watched || p.watched;
      const silent = performance.now() - this.heard;
      if (watched && silent > this.timeoutMs * 1.25 + 50) {
        const err = new Error(`remotemedia: a node call ran past the ${this.timeoutMs} ms deadline (nothing from the worker for ${Math.round(silent)} ms); ` +
          "the worker was stopped, its open sessions are gone, and the next call starts a fresh one");
        err.code = "timeout";
        this._kill(err);
      }
    }

    // _kill ends the worker and rejects everything pending with err.
    _kill(err) {
      this._stop();
      const pending = [...this.pending.values()];
      this.pending.clear();
      for (const p of pending) p.reject(err);
    }

    _stop() {
      if (this.worker) this.worker.terminate();
      clearInterval(this.watch);
      this.worker = null;
      this.starting = null;
      this.sessions = new Map();
    }

    _send(method, args, onProgress) {
      if (!this.worker) return Promise.reject(new Error("remotemedia: the worker was stopped"));
      return new Promise((resolve, reject) => {
        const id = ++this.seq, watched = WATCHED.has(method);
        // The silence is measured from the start of the first watched request.
        if (watched && ![...this.pending.values()].some((p) => p.watched)) this.heard = performance.now();
        this.pending.set(id, { resolve, reject, watched, onProgress });
        this.worker.postMessage({ id, method, args });
      });
    }

    async _call(method, args) {
      await this.ready();
      return this._send(method, args);
    }

    // _wid is the worker's id of page pipeline id, rebuilt in a new worker.
    async _wid(id) {
      const p = this.pipelines.get(id);
      if (!p) throw new Error(`remotemedia: pipeline ${id} is closed`);
      await this.ready();
      if (p.gen !== this.gen) p.wid = await this._send("pipeline", [p.text, p.opts]), p.gen = this.gen;
      return p.wid;
    }

    async pipeline(text, opts) {
      await this.ready();
      const wid = await this._send("pipeline", [text, opts]);
      const id = this.nextPipeline++;
      this.pipelines.set(id, { text, opts, wid, gen: this.gen });
      return id;
    }
    async process(id, input, onProgress) {
      return onProgress ? this._send("process", [await this._wid(id), input, true], onProgress) : this._send("process", [await this._wid(id), input]);
    }
    async open(id, onOutput, opts) {
      const sid = await this._send("open", [await this._wid(id), opts]);
      this.sessions.set(sid, onOutput);
      return { gen: this.gen, sid };
    }
    async push(s, samples) { this._live(s); return this._send("push", [s.sid, samples]); }
    async end(s) {
      this._live(s);
      try { return await this._send("end", [s.sid]); } finally { this.sessions.delete(s.sid); }
    }
    _live(s) {
      if (s.gen !== this.gen || !this.worker) throw new Error("remotemedia: this session ended when its worker was stopped after a timeout");
    }
    async stats(id) { return this._send("stats", [await this._wid(id)]); }
    async graph(id) { return this._send("graph", [await this._wid(id)]); }
    async close(id) {
      const p = this.pipelines.get(id);
      this.pipelines.delete(id);
      if (p && p.gen === this.gen && this.worker) return this._send("close", [p.wid]);
    }
    async registerModule(type, bytes, source) {
      const r = await this._call("registerModule", [type, bytes, source]);
      this.modules.set(r.node_type, [type, bytes, source]); // once it took: a new worker replays it
      return r;
    }
    moduleHashes() { return this._call("moduleHashes", []); }
    saveDefinition(name, text) { return this._call("saveDefinition", [name, text]); }
    loadDefinition(name) { return this._call("loadDefinition", [name]); }
    nodeTypes() { return this._call("nodeTypes", []); }
  }

  // toText turns a definition object into JSON text; YAML/JSON text passes as is.
  const toText = (def) => (typeof def === "string" ? def : JSON.stringify(def));

  class RemoteMedia {
    /**
     * Loads core.wasm once per page and initialises it.
     * opts: {base: server root URL (default: where this script came from),
     *        memoryPages: WASM memory cap per node instance (default 256 = 16 MiB),
     *        callTimeoutMs: per-node-call deadline (default 1000),
     *        worker: run core.wasm in a Web Worker (default false)}
     * On the page's own thread a call that overruns the deadline fails when it
     * returns, and one that never returns freezes the page. With worker: true the
     * page stays responsive and such a call fails within about 1.25 deadlines with
     * an Error whose code is "timeout" (see WorkerCore).
     */
    static async load(opts = {}) {
      const base = new URL(opts.base || here, location.href).href;
      if (opts.worker) {
        const core = new WorkerCore(base, opts);
        const t0 = performance.now();
        const info = await core.ready();
        return new RemoteMedia(core, base, info, performance.now() - t0);
      }
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
      mark("ready");
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
     * may use, token: its bearer token, split: split placement (docs/placement.md):
     * the nodes with runtime_hint "server" and the Python nodes run on `server`
     * through one live session per session, the rest in the tab; a string names
     * the server's catalogue pipeline whose copy of those nodes runs, true sends
     * the definition inline (the server needs `serve --allow-inline`)}.
     */
    async pipeline(def, opts = {}) {
      const server = opts.server ? new URL(opts.server, location.href).href : undefined;
      const id = await this._core.pipeline(toText(def), { frameMs: opts.frameMs, server, token: opts.token, split: opts.split });
      return new Pipeline(this._core, id, opts);
    }

    /**
     * Registers a custom node type from a WebAssembly node module and resolves
     * to its spec {node_type, doc, params, inputs, outputs, example}.
     * registerModule(url) fetches the module (relative to the page) and
     * registerModule(bytes) takes it as an ArrayBuffer or Uint8Array: either
     * way the module declares its type, ports and params (docs/wasm-abi.md).
     * registerModule(nodeType, bytes) names the type of a module that declares
     * none, which then gets one audio input and one audio output.
     */
    async registerModule(a, b) {
      let type = null, bytes = b, source;
      if (b === undefined && (typeof a === "string" || a instanceof URL)) {
        source = new URL(a, location.href).href;
        const r = await fetch(source);
        if (!r.ok) throw new Error(`registerModule: ${source}: HTTP ${r.status}`);
        bytes = await r.arrayBuffer();
      } else if (b === undefined) {
        bytes = a;
      } else {
        type = a;
      }
      return this._core.registerModule(type, bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes), source);
    }
    /** The node types this tab can run. */
    nodeTypes() { return this._core.nodeTypes(); }
    /** sha256 (hex) of every module loaded so far, by file name. */
    moduleHashes() { return this._core.moduleHashes(); }
    /** Saves definition text under a name in IndexedDB. */
    saveDefinition(name, text) { return this._core.saveDefinition(name, toText(text)); }
    /** The saved definition text, or undefined. */
    loadDefinition(name) { return this._core.loadDefinition(name); }

    /** connectWebRTC on this instance's server (its base); see the static one. */
    connectWebRTC(pipeline, mediaStream, opts = {}) {
      return connectWebRTC(pipeline, mediaStream, { server: this.base, ...opts });
    }

    /**
     * Runs the server's catalogue pipeline `pipeline` over WebRTC (docs/webrtc.md):
     * mediaStream's first audio track goes to the server as Opus, the pipeline's
     * events come back on a data channel and its audio output as a track. Needs
     * no core.wasm. Resolves once connected to {pc, track (the returned audio,
     * a MediaStreamTrack, or null when the pipeline has no audio output), stream
     * (a MediaStream of it), ended (a promise of the end message
     * {end: {error, frames_in, dropped, stats}, opus_in}), stop() (ends the input,
     * waits for the last events and the end message, closes; resolves to it),
     * close() (closes at once)}. opts: {server (default: where this script came
     * from), token (bearer token), output (node.port of the audio output to send
     * back, when the pipeline has several), onEvent(event) for every event
     * ({node, port, seq, ts_us, kind, data|text|error}, as Pipeline.process gives),
     * onText(text, event) for text events, onEnd(endMessage)}.
     */
    static connectWebRTC(pipeline, mediaStream, opts = {}) { return connectWebRTC(pipeline, mediaStream, opts); }
  }

  async function connectWebRTC(pipeline, mediaStream, opts) {
    const mic = mediaStream.getAudioTracks()[0];
    if (!mic) throw new TypeError("connectWebRTC: the MediaStream has no audio track");
    const url = new URL(`v1/pipelines/${encodeURIComponent(pipeline)}/whip`, new URL(opts.server || here, location.href));
    if (opts.output) url.searchParams.set("output", opts.output);
    const headers = { "Content-Type": "application/sdp" };
    if (opts.token) headers.Authorization = `Bearer ${opts.token}`;
    const pc = new RTCPeerConnection({ iceServers: [] });
    const transceiver = pc.addTransceiver(mic, { direction: "sendrecv", streams: [mediaStream] });
    const dc = pc.createDataChannel("events", { negotiated: true, id: 0 }); // the server's events channel
    let settle;
    const ended = new Promise((resolve, reject) => (settle = { resolve, reject }));
    ended.catch(() => {}); // a caller that never awaits it sees no unhandled rejection
    dc.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.end) {
        opts.onEnd?.(msg);
        settle.resolve(msg);
        return;
      }
      opts.onEvent?.(msg);
      if (msg.kind === "text") opts.onText?.(msg.text, msg);
    };
    pc.onconnectionstatechange = () => {
      if (pc.connectionState === "failed") settle.reject(new Error(`connectWebRTC: the connection to ${url} failed`));
    };
    try {
      await pc.setLocalDescription(await pc.createOffer());
      // Non-trickle (WHIP-style): the offer carries every candidate.
      await new Promise((resolve) => {
        if (pc.iceGatheringState === "complete") return resolve();
        const t = setTimeout(resolve, 3000);
        pc.addEventListener("icegatheringstatechange", () => {
          if (pc.iceGatheringState === "complete") { clearTimeout(t); resolve(); }
        });
      });
      const r = await fetch(url, { method: "POST", headers, body: pc.localDescription.sdp });
      if (r.status !== 201) {
        const why = await r.json().then((j) => j.error, () => r.statusText);
        throw new Error(`connectWebRTC: ${url}: HTTP ${r.status}: ${why}`);
      }
      const session = new URL(r.headers.get("Location"), url);
      await pc.setRemoteDescription({ type: "answer", sdp: await r.text() });
      const dir = transceiver.currentDirection;
      const track = dir === "sendrecv" || dir === "recvonly" ? transceiver.receiver.track : null;
      return {
        pc, track, stream: track ? new MediaStream([track]) : null, ended,
        async stop() {
          await fetch(session, { method: "DELETE", headers: opts.token ? { Authorization: headers.Authorization } : {} });
          try {
            return await ended;
          } finally {
            pc.close();
          }
        },
        close() {
          pc.close();
          settle.reject(new Error("connectWebRTC: closed"));
        },
      };
    } catch (err) {
      pc.close();
      throw err;
    }
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

  // loadWorklet adds the capture worklet to ctx.
  async function loadWorklet(ctx) {
    const url = URL.createObjectURL(new Blob([WORKLET], { type: "text/javascript" }));
    try {
      await ctx.audioWorklet.addModule(url);
    } finally {
      URL.revokeObjectURL(url);
    }
  }

  // capture connects mediaStream to the capture worklet in ctx, which hands onBlock
  // interleaved blocks of about 20 ms, and resumes ctx; it resolves to a function
  // that disconnects them.
  async function capture(ctx, mediaStream, channels, onBlock) {
    const src = ctx.createMediaStreamSource(mediaStream);
    const node = new AudioWorkletNode(ctx, "rm-capture", {
      numberOfInputs: 1, numberOfOutputs: 0, channelCount: channels, channelCountMode: "explicit",
      processorOptions: { channels, block: Math.round(ctx.sampleRate / 50) },
    });
    node.port.onmessage = (e) => onBlock(e.data);
    src.connect(node);
    if (ctx.state === "suspended") await ctx.resume();
    return () => {
      src.disconnect();
      node.port.onmessage = null;
    };
  }

  // MicStream is the async iterator Pipeline.stream returns: a session of the
  // pipeline fed by a capture of the MediaStream, whose outputs wait in a queue
  // until the loop takes them. A failure (of the start, a push or the end) is
  // thrown once by next(), after the outputs queued before it.
  class MicStream {
    #pipeline;
    #queue = [];
    #wake = null; // resolves the next() waiting for an output
    #failure = null;
    #stopping = false; // no more input: stopped, or the start failed
    #finished = false; // the session ended: no more outputs
    #ctx = null;
    #ownContext = false; // #ctx was made here, so it is closed here
    #session = null;
    #disconnect = null;
    #started;
    #onInput;

    constructor(pipeline, mediaStream, opts) {
      this.#pipeline = pipeline;
      this.#onInput = typeof opts.onInput === "function" ? opts.onInput : undefined;
      this.#started = this.#start(mediaStream, opts).catch((err) => {
        this.#failure = err;
        return this.#shutdown();
      });
    }

    async #start(mediaStream, opts) {
      const channels = opts.channels || 1;
      this.#ctx = opts.audioContext ?? new AudioContext();
      this.#ownContext = !opts.audioContext;
      await loadWorklet(this.#ctx);
      this.#session = await this.#pipeline.open((out) => this.#deliver(out), { sampleRate: this.#ctx.sampleRate, channels });
      this.#disconnect = await capture(this.#ctx, mediaStream, channels, (block) => this.#push(block));
      for (const track of mediaStream.getAudioTracks()) track.addEventListener("ended", () => this.stop());
    }

    #push(block) {
      if (this.#stopping) return;
      this.#onInput?.(block);
      this.#session.push(block).catch((err) => {
        this.#failure = err;
        this.#notify();
      });
    }

    #deliver(out) {
      this.#queue.push(out);
      this.#notify();
    }

    #notify() {
      this.#wake?.();
      this.#wake = null;
    }

    // #shutdown stops the capture, ends the session (its stats become the
    // pipeline's lastStats) and lets the loop end once the queue is empty.
    async #shutdown() {
      if (this.#stopping) return;
      this.#stopping = true;
      this.#disconnect?.();
      if (this.#ownContext) await this.#ctx.close().catch(() => {});
      if (this.#session) {
        try {
          this.#pipeline.lastStats = await this.#session.end();
        } catch (err) {
          this.#failure ??= err;
        }
      }
      this.#finished = true;
      this.#notify();
    }

    /** Stops capturing; outputs still queued are delivered, then the loop ends. */
    stop = async () => {
      await this.#started;
      await this.#shutdown();
    };

    [Symbol.asyncIterator]() { return this; }

    async next() {
      await this.#started;
      for (;;) {
        if (this.#queue.length) return { value: this.#queue.shift(), done: false };
        if (this.#failure) {
          const failure = this.#failure;
          this.#failure = null;
          throw failure;
        }
        if (this.#finished) return { value: undefined, done: true };
        await new Promise((resolve) => (this.#wake = resolve));
      }
    }

    async return() {
      await this.stop();
      return { value: undefined, done: true };
    }
  }

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
     * Each audio output's runs ([{ts_us, offset, frames}]) say where its samples
     * lie in the input's time (a gate leaves gaps). opts: {onProgress(seconds
     * read, seconds in all)}, called about every 100 ms of a long run.
     */
    process(input, opts = {}) {
      const progress = typeof opts.onProgress === "function" ? opts.onProgress : undefined;
      if (input && input.wav) return this._core.process(this._id, { wav: input.wav }, progress);
      const audio = input && (input.audio || input.pcm);
      if (!(audio instanceof Float32Array)) return Promise.reject(new TypeError("process: want {audio: Float32Array, sampleRate, channels} or {wav: ArrayBuffer}"));
      return this._core.process(this._id, { pcm: audio, sampleRate: input.sampleRate, channels: input.channels || 1 }, progress);
    }

    /**
     * Opens a streaming session and feeds it raw blocks: returns
     * {push(Float32Array), end() -> stats} and calls onOutput for every
     * output frame or event as it comes. A live session (this and stream())
     * gives each speech_buffer node that leaves barge_in_ms unset 150 ms, as the
     * server's live sessions do (docs/voice.md, "Barge-in").
     */
    async open(onOutput, { sampleRate, channels = 1 }) {
      const sid = await this._core.open(this._id, onOutput, { sampleRate, channels });
      return { push: (samples) => this._core.push(sid, samples), end: () => this._core.end(sid) };
    }

    /**
     * Streams a MediaStream (a microphone) through the pipeline: an async
     * iterator of output frames ({kind: "audio", samples, ...}) and events.
     * It ends when the stream's audio track ends, or when the loop breaks.
     * opts: {channels: 1 | 2 (default 1), audioContext, onInput(block)}: onInput sees
     * each captured block (interleaved, at the context's rate) just before it is
     * pushed, so the blocks it has seen add up to the input's timestamps.
     */
    stream(mediaStream, opts = {}) { return new MicStream(this, mediaStream, opts); }

    /** Per-node counters and times of the live or last session: work time (p50_us, p99_us, work_mean_us), time blocked
     * on full queues downstream (blocked_p50_us, blocked_p99_us), and clock_us, the step of the tab's clock. */
    stats() { return this._core.stats(this._id); }
    /** The pipeline's graph: {nodes: [{id, node_type, runtime, inputs, outputs, placement}], edges: [{from, from_port, to, to_port, when}]}
     * (the shape web/inspector.js draws); placement ("server" or "tab") only with split placement. */
    graph() { return this._core.graph(this._id); }
    /** Forgets the pipeline. */
    close() { return this._core.close(this._id); }
  }

  g.RemoteMedia = RemoteMedia; // classic-only
  if (inWorker && g.name === "remotemedia") serveWorker(); // classic-only
})(globalThis); // classic-only
// module: export { RemoteMedia };
// module: export default RemoteMedia;
