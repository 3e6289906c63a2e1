"""The Python baselines of docs/benchmarks.md (`make bench`): the speech front end of examples/speech-frontend.yaml
and a model stage, per 20 ms frame of 48 kHz stereo, written two ways.

--style remotemedia  as RemoteMedia ships its nodes: librosa.resample on each 20 ms chunk (librosa's default,
                     soxr_hq, no filter state kept across chunks), RemoteMedia's RMS VoiceActivityDetector (this
                     package's port of it), each node a task fed by an unbounded asyncio.Queue.
--style competent    as a competent Python engineer writes it: bench_frontend.py's nodes (a streaming FIR that
                     keeps its history, a vectorized VAD with the vad module's rules, bounded queues).

The model stage is a pass-through node (the model's own work is the same in every column): its cost is the hop.

Prints one JSON line, CPU µs per frame (process time): preprocessing_us (to mono, resample, gain) and vad_us, each
stage over every frame without queues; orchestration_us, S streams at once through four pass-through nodes joined
as the style joins them; model_us, what a fifth such node adds; total_us, S streams at once through the whole
pipeline; kib_per_stream, resident memory while those S streams run less before, over S; and frames, streams.
--startup imports, builds one stream, processes one frame and exits (make bench times the process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_frontend as competent  # noqa: E402  (the same folder)

IN_RATE, OUT_RATE = competent.IN_RATE, competent.OUT_RATE
GAIN = np.float32(10 ** (6 / 20))
_END = None


def remotemedia_nodes() -> list[Callable[[np.ndarray], Any]]:
    """One stream's nodes as RemoteMedia ships them."""
    import librosa  # imported here: --style competent does not need it

    from remotemedia.nodes.audio import VoiceActivityDetector

    vad = VoiceActivityDetector(filter_mode=True)

    def gate(x: np.ndarray) -> np.ndarray | None:
        speech, _ = vad.decide(x, OUT_RATE)
        return x if speech else None

    return [
        lambda x: x.reshape(-1, 2).T.mean(axis=0),  # AudioTransform's down-mix of (channels, samples)
        lambda x: librosa.resample(x, orig_sr=IN_RATE, target_sr=OUT_RATE),
        lambda x: x * GAIN,
        gate,
    ]


def competent_nodes() -> list[Callable[[np.ndarray], Any]]:
    resample, vad = competent.Resampler(), competent.VAD()
    return [lambda x: x.reshape(-1, 2).mean(axis=1), resample, lambda x: x * GAIN, vad]


def nodes_of(style: str) -> list[Callable[[np.ndarray], Any]]:
    return remotemedia_nodes() if style == "remotemedia" else competent_nodes()


_PAGE_KIB = resource.getpagesize() // 1024
_peak_kib = 0


def rss_kib() -> int:
    """This process's resident memory now."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE_KIB


async def node(fn: Callable[[np.ndarray], Any], inq: asyncio.Queue[Any], outq: asyncio.Queue[Any] | None) -> None:
    global _peak_kib
    n = 0
    while (x := await inq.get()) is not _END:
        n += 1
        if n % 50 == 0:  # resident memory while the streams are in flight
            _peak_kib = max(_peak_kib, rss_kib())
        y = fn(x)
        if outq is not None and y is not None and len(y):
            await outq.put(y)
    if outq is not None:
        await outq.put(_END)


async def run_stream(style: str, frames: list[np.ndarray], fns: list[Callable[[np.ndarray], Any]] | None) -> None:
    """One stream through the style's nodes plus the model stage, or through fns when given."""
    if fns is None:
        fns = [*nodes_of(style), lambda x: x]  # the model stage: what a model node's hop costs
    size = 0 if style == "remotemedia" else 16  # 0: unbounded
    qs: list[asyncio.Queue[Any]] = [asyncio.Queue(maxsize=size) for _ in fns]
    tasks = [asyncio.create_task(node(fn, qs[i], qs[i + 1] if i + 1 < len(qs) else None)) for i, fn in enumerate(fns)]
    for f in frames:
        await qs[0].put(f)
    await qs[0].put(_END)
    await asyncio.gather(*tasks)


def pipeline_us(style: str, frames: list[np.ndarray], streams: int, hops: int = 0) -> float:
    """CPU µs per frame of streams at once: the whole pipeline, or (hops > 0) that many pass-through nodes."""

    async def main() -> None:
        fns = [(lambda x: x) for _ in range(hops)] if hops else None
        await asyncio.gather(*(run_stream(style, frames, fns) for _ in range(streams)))

    c0 = time.process_time()
    asyncio.run(main())
    return (time.process_time() - c0) / (len(frames) * streams) * 1e6


def stages_us(style: str, frames: list[np.ndarray]) -> tuple[float, float]:
    """(preprocessing, VAD) CPU µs per frame: each stage over every frame, without queues."""
    mono, resample, gain, vad = nodes_of(style)
    c0 = time.process_time()
    pre = [gain(resample(mono(f))) for f in frames]
    c1 = time.process_time()
    for y in pre:
        vad(y)
    c2 = time.process_time()
    return (c1 - c0) / len(frames) * 1e6, (c2 - c1) / len(frames) * 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--style", choices=["remotemedia", "competent"], required=True)
    ap.add_argument("--frames", type=int, default=1000, help="20 ms frames per stream")
    ap.add_argument("--streams", type=int, default=8, help="streams run at once in the pipeline runs")
    ap.add_argument("--startup", action="store_true", help="process one frame and exit")
    args = ap.parse_args()
    sig = competent.test_signal(max(args.frames, 2))
    if args.startup:
        asyncio.run(run_stream(args.style, sig[:1], None))
        return
    global _peak_kib
    pipeline_us(args.style, sig[:100], args.streams)  # warm-up: imports, allocator, caches
    pre, vad = stages_us(args.style, sig)
    orchestration = pipeline_us(args.style, sig, args.streams, hops=4)  # the four nodes' queues and tasks
    model = max(pipeline_us(args.style, sig, args.streams, hops=5) - orchestration, 0.0)
    before = rss_kib()
    _peak_kib = before
    total = pipeline_us(args.style, sig, args.streams)
    print(json.dumps({
        "style": args.style, "frames": args.frames, "streams": args.streams,
        "orchestration_us": orchestration, "preprocessing_us": pre, "vad_us": vad, "model_us": model,
        "total_us": total, "kib_per_stream": max(_peak_kib - before, 0) / args.streams,
    }))


if __name__ == "__main__":
    main()
