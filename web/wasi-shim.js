// The imports of node modules in the browser (docs/wasm-abi.md): the ABI's own
// (module "rm") and the WASI preview1 subset, for core.wasm (target/browser).
//
// core.wasm calls RemoteMediaWASI.imports(ref) once per instance and sets
// ref.memory to the instance's memory after instantiation. Nothing here calls
// back into Go during a node call: rm.emit, rm.log, rm.error and WASI fd_write
// append records to ref.out (ref.outLen bytes used), which core.wasm reads in
// one copy after the call returns. A record is
//   u8 type (0 emit, 1 log, 2 error) | u8 log level | u16 0 | u32 n (LE) |
//   for emit the 32-byte frame header | n bytes (payload or message).
// WASI behaves as the server's wazero host does: no arguments, no environment,
// no files; clocks and random bytes only.
(function (g) {
  "use strict";
  const ESUCCESS = 0, EBADF = 8, EINVAL = 28;
  const EMIT = 0, LOG = 1, ERROR = 2;

  /** Thrown when the guest passes a range outside its memory (an ABI violation). */
  class ABIError extends Error {
    constructor(msg) { super(msg); this.name = "RMABIError"; }
  }

  /** Thrown by proc_exit: it ends the instance, and the current call fails. */
  class ProcExit extends Error {
    constructor(code) { super("proc_exit(" + code + ")"); this.name = "ProcExit"; this.code = code; }
  }

  function imports(ref) {
    ref.out = new Uint8Array(1 << 16);
    ref.outLen = 0;
    let view = null;
    const mem = () => {
      if (!view || view.buffer !== ref.memory.buffer) view = new Uint8Array(ref.memory.buffer);
      return view;
    };
    const range = (imp, ptr, n) => {
      ptr >>>= 0; n >>>= 0;
      const m = mem();
      if (ptr + n > m.length) throw new ABIError(imp + ": " + n + " bytes at " + ptr + " are outside the " + m.length + "-byte memory");
      return m.subarray(ptr, ptr + n);
    };
    const stage = (type, level, header, data) => {
      const need = ref.outLen + 8 + (header ? 32 : 0) + data.length;
      if (need > ref.out.length) {
        const bigger = new Uint8Array(Math.max(need, ref.out.length * 2));
        bigger.set(ref.out.subarray(0, ref.outLen));
        ref.out = bigger;
      }
      const out = ref.out, n = data.length;
      let o = ref.outLen;
      out[o] = type; out[o + 1] = level; out[o + 2] = 0; out[o + 3] = 0;
      out[o + 4] = n & 255; out[o + 5] = (n >>> 8) & 255; out[o + 6] = (n >>> 16) & 255; out[o + 7] = n >>> 24;
      o += 8;
      if (header) { out.set(header, o); o += 32; }
      out.set(data, o);
      ref.outLen = o + n;
    };

    const dv = () => new DataView(ref.memory.buffer);
    const zeroPair = (a, b) => { const d = dv(); d.setUint32(a, 0, true); d.setUint32(b, 0, true); return ESUCCESS; };
    const ebadf = () => EBADF;
    const rm = {
      emit(h, d, n) { stage(EMIT, 0, range("rm.emit", h, 32), range("rm.emit", d, n)); },
      log(level, p, n) { stage(LOG, level & 255, null, range("rm.log", p, n)); },
      error(p, n) { stage(ERROR, 0, null, range("rm.error", p, n)); },
    };
    const wasi = {
      args_sizes_get: zeroPair,
      args_get: () => ESUCCESS,
      environ_sizes_get: zeroPair,
      environ_get: () => ESUCCESS,
      clock_time_get(id, _precision, out) {
        let ns;
        if (id === 0) ns = BigInt(Date.now()) * 1000000n;
        else if (id === 1) ns = BigInt(Math.round((performance.timeOrigin + performance.now()) * 1e6));
        else return EINVAL;
        dv().setBigUint64(out, ns, true);
        return ESUCCESS;
      },
      clock_res_get(id, out) {
        if (id !== 0 && id !== 1) return EINVAL;
        dv().setBigUint64(out, 1000n, true);
        return ESUCCESS;
      },
      random_get(ptr, len) {
        const b = range("random_get", ptr, len);
        for (let i = 0; i < b.length; i += 65536) crypto.getRandomValues(b.subarray(i, Math.min(b.length, i + 65536)));
        return ESUCCESS;
      },
      fd_write(fd, iovs, iovsLen, nwritten) {
        if (fd !== 1 && fd !== 2) return EBADF;
        const d = dv();
        let total = 0;
        for (let i = 0; i < iovsLen; i++) {
          const p = d.getUint32(iovs + 8 * i, true), n = d.getUint32(iovs + 8 * i + 4, true);
          stage(LOG, fd === 1 ? 1 : 2, null, range("fd_write", p, n));
          total += n;
        }
        d.setUint32(nwritten, total, true);
        return ESUCCESS;
      },
      fd_close: ebadf, fd_fdstat_get: ebadf, fd_seek: ebadf, fd_read: ebadf,
      fd_prestat_get: ebadf, fd_prestat_dir_name: ebadf,
      poll_oneoff(subs, events, nsubs, nevents) {
        // Clock subscriptions only, and they fire at once (no sleeping).
        if (nsubs === 0) return EINVAL;
        const d = dv();
        for (let i = 0; i < nsubs; i++) {
          const s = subs + 48 * i, e = events + 32 * i, tag = d.getUint8(s + 8);
          d.setBigUint64(e, d.getBigUint64(s, true), true);
          d.setUint16(e + 8, tag === 0 ? ESUCCESS : EBADF, true);
          d.setUint8(e + 10, tag);
        }
        d.setUint32(nevents, nsubs, true);
        return ESUCCESS;
      },
      sched_yield: () => ESUCCESS,
      proc_exit(code) { throw new ProcExit(code); },
    };
    return { rm, wasi_snapshot_preview1: wasi };
  }

  // wrap returns an export as core.wasm calls it: the i32 result (as unsigned,
  // 0 for none) plus 2^32 when the call staged output, so that a call without
  // output needs no second crossing to learn it. Each call first clears
  // ref.refused, the module's __rm_grow_refused global (set when a memory.grow
  // returned -1: the host then reports a trap as the memory cap), so that it
  // speaks of this call only.
  const STAGED = 4294967296;
  function wrap(ref, f) {
    const g = ref.refused || {};
    switch (f.length) {
      case 0: return () => { g.value = 0; const r = f(); return (r === undefined ? 0 : r >>> 0) + (ref.outLen ? STAGED : 0); };
      case 1: return (a) => { g.value = 0; const r = f(a); return (r === undefined ? 0 : r >>> 0) + (ref.outLen ? STAGED : 0); };
      case 2: return (a, b) => { g.value = 0; const r = f(a, b); return (r === undefined ? 0 : r >>> 0) + (ref.outLen ? STAGED : 0); };
      default: return (...args) => { g.value = 0; const r = f(...args); return (r === undefined ? 0 : r >>> 0) + (ref.outLen ? STAGED : 0); };
    }
  }

  const api = { imports, wrap, ABIError, ProcExit };
  g.RemoteMediaWASI = api;
  if (typeof module !== "undefined" && module.exports) module.exports = api;
})(globalThis);
