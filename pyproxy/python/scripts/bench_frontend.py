"""The speech front end of examples/speech-frontend.yaml in pure Python, for `make bench` to set beside the Go one.

48 kHz stereo -> mono -> 48k->16k windowed-sinc FIR (the resample module's "high" design: Kaiser, 16 zero crossings,
90 dB) -> +6 dB -> energy VAD (10 ms windows, adaptive floor, 9 dB threshold, 60 ms to start, 200 ms hangover,
speech-only audio out), each node a task joined to the next by a bounded asyncio queue, the way a RemoteMedia
pipeline runs. The DSP is vectorized numpy: the FIR computes only the outputs it keeps (a strided window view times
the taps), the VAD works on whole windows.

Usage: python scripts/bench_frontend.py [--frames N] [--procs P] [--streams S]
Runs S streams of N 20 ms frames in each of P processes at once and prints one JSON line:
{"frames_per_s": aggregate rate, "us_per_frame": CPU-normalized cost, "procs": P, "streams": S}.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import time

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

IN_RATE, OUT_RATE, FRAME = 48000, 16000, 960
_END = None


def design_fir(zero_crossings: int = 16, atten_db: float = 90.0) -> np.ndarray:
    """The resample module's filter for 48k->16k (wasm-modules/src/resample.c setup, one phase)."""
    nyq = min(IN_RATE, OUT_RATE) / 2
    cutoff = nyq / (1 + (atten_db - 7.95) / (28.7 * zero_crossings))
    fc = cutoff / IN_RATE
    wreal = zero_crossings / (2 * fc)
    half = int(wreal) + 1
    beta = 0.1102 * (atten_db - 8.7)
    u = half - 1 - np.arange(2 * half, dtype=np.float64)
    w = np.clip(u / wreal, -1, 1)
    h = 2 * fc * np.sinc(2 * fc * u) * np.i0(beta * np.sqrt(1 - w * w)) / np.i0(beta)
    h[np.abs(u) >= wreal] = 0
    return (h / h.sum()).astype(np.float32)


class Resampler:
    """Streaming integer decimation by 3: keeps the last taps-1 inputs and computes every third output only."""

    def __init__(self) -> None:
        self.h = design_fir()[::-1].copy()
        self.m = IN_RATE // OUT_RATE
        self.hist = np.zeros(len(self.h) - 1, dtype=np.float32)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        buf = np.concatenate([self.hist, x])
        out = sliding_window_view(buf, len(self.h))[:: self.m] @ self.h
        self.hist = buf[len(buf) - len(self.hist):]
        return out


class VAD:
    """Energy VAD with the vad module's rules; returns the speech audio of a frame (empty outside speech)."""

    def __init__(self, threshold_db: float = 9, min_level_db: float = -50, window_ms: float = 10,
                 min_speech_ms: float = 60, hangover_ms: float = 200) -> None:
        self.wlen = int(window_ms * OUT_RATE / 1000)
        self.rise = 0.5 * window_ms / 1000
        self.threshold_db, self.min_level_db = threshold_db, min_level_db
        self.min_windows = max(1, round(min_speech_ms / window_ms))
        self.hang_windows = round(hangover_ms / window_ms)
        self.floor = None
        self.run = 0  # consecutive speech windows
        self.quiet = 0  # windows since the last speech one
        self.speaking = False
        self.events: list[dict] = []
        self.t = 0

    def __call__(self, x: np.ndarray) -> np.ndarray:
        n = len(x) // self.wlen
        wins = x[: n * self.wlen].reshape(n, self.wlen)
        levels = 10 * np.log10(np.mean(wins * wins, axis=1) + 1e-12)
        keep = np.zeros(n, dtype=bool)
        for i, level in enumerate(levels.tolist()):
            if self.floor is None or level < self.floor:
                self.floor = level
            else:
                self.floor += self.rise
            speech = level > max(self.floor + self.threshold_db, self.min_level_db)
            self.run = self.run + 1 if speech else 0
            self.quiet = 0 if speech else self.quiet + 1
            if not self.speaking and self.run >= self.min_windows:
                self.speaking = True
                self.events.append({"event": "speech_start", "time_ms": self.t - (self.run - 1) * 10})
            elif self.speaking and self.quiet > self.hang_windows:
                self.speaking = False
                self.events.append({"event": "speech_end", "time_ms": self.t - self.quiet * 10})
            keep[i] = self.speaking
            self.t += 10
        return wins[keep].reshape(-1)


async def node(fn, inq: asyncio.Queue, outq: asyncio.Queue | None) -> None:
    while (x := await inq.get()) is not _END:
        y = fn(x)
        if outq is not None and y is not None and len(y):
            await outq.put(y)
    if outq is not None:
        await outq.put(_END)


def test_signal(frames: int) -> list[np.ndarray]:
    """Tone bursts (a 220 Hz voice-like tone, 3 Hz envelope) with pauses, 48 kHz stereo, cut in 20 ms frames."""
    t = np.arange(frames * FRAME) / IN_RATE
    s = 0.3 * np.sin(2 * math.pi * 220 * t) * (0.5 + 0.5 * np.sin(2 * math.pi * 3 * t))
    s[(t % 2.0) > 1.2] *= 0.001  # 0.8 s pauses every 2 s
    st = np.repeat(s.astype(np.float32), 2)
    return [st[i * 2 * FRAME:(i + 1) * 2 * FRAME] for i in range(frames)]


async def run_stream(frames: list[np.ndarray]) -> int:
    gain = np.float32(10 ** (6 / 20))
    qs = [asyncio.Queue(maxsize=16) for _ in range(4)]
    out = asyncio.Queue()
    resample, vad = Resampler(), VAD()
    tasks = [
        asyncio.create_task(node(lambda x: x.reshape(-1, 2).mean(axis=1), qs[0], qs[1])),
        asyncio.create_task(node(resample, qs[1], qs[2])),
        asyncio.create_task(node(lambda x: x * gain, qs[2], qs[3])),
        asyncio.create_task(node(vad, qs[3], out)),
    ]
    for f in frames:
        await qs[0].put(f)
    await qs[0].put(_END)
    await asyncio.gather(*tasks)
    return len(vad.events)


def worker(frames: int, streams: int, conn) -> None:
    sig = test_signal(frames)

    async def main(sig: list[np.ndarray]) -> None:
        await asyncio.gather(*(run_stream(sig) for _ in range(streams)))

    asyncio.run(main(sig[:100]))  # a warm-up pass: imports, allocator, caches
    c0, t0 = time.process_time(), time.perf_counter()
    asyncio.run(main(sig))
    conn.send((time.perf_counter() - t0, time.process_time() - c0))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--frames", type=int, default=2000, help="20 ms frames per stream")
    ap.add_argument("--procs", type=int, default=os.cpu_count() or 1, help="processes run at once")
    ap.add_argument("--streams", type=int, default=4, help="concurrent streams per process")
    args = ap.parse_args()
    ctx = multiprocessing.get_context("fork")
    pipes, procs = [], []
    for _ in range(args.procs):
        r, w = ctx.Pipe(duplex=False)
        p = ctx.Process(target=worker, args=(args.frames, args.streams, w))
        p.start()
        pipes.append(r)
        procs.append(p)
    results = [r.recv() for r in pipes]
    for p in procs:
        p.join()
    total = args.frames * args.streams * args.procs
    wall = max(w for w, _ in results)
    cpu = sum(c for _, c in results)
    print(json.dumps({"frames_per_s": total / wall, "us_per_frame": cpu / total * 1e6,
                      "procs": args.procs, "streams": args.streams}))


if __name__ == "__main__":
    main()
