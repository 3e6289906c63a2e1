"""Reference resamplers for the resampler rows of `make bench` (wasm-modules/resample_ref_bench_test.go).

A pipe server: each request is one JSON line on stdin, {"method": "soxr-hq" | "scipy-poly", "in": RATE,
"out": RATE, "n": N}, followed by N little-endian float32 samples (mono); the reply on stdout is a 4-byte
little-endian sample count and the resampled float32 samples. A request with "speed": SECONDS instead
resamples that much white noise as one array and replies with one JSON line, {"x_realtime": X}: seconds of
audio per second of this process's CPU. The Go benchmark measures every quality figure from these outputs
with the same signals and code it uses for resample.wasm.
"""

from __future__ import annotations

import json
import struct
import sys
import time
from math import gcd

import numpy as np


def resample(method: str, x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    if method == "soxr-hq":
        import soxr

        return soxr.resample(x, rate_in, rate_out, quality="HQ").astype(np.float32)
    if method == "scipy-poly":
        from scipy.signal import resample_poly

        g = gcd(rate_in, rate_out)
        return resample_poly(x, rate_out // g, rate_in // g).astype(np.float32)
    raise ValueError(f"resample_ref: unknown method {method!r}")


def main() -> None:
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in stdin:
        req = json.loads(line)
        if "speed" in req:
            seconds = float(req["speed"])
            x = np.random.default_rng(1).standard_normal(int(seconds * req["in"])).astype(np.float32) * 0.1
            resample(req["method"], x[: req["in"]], req["in"], req["out"])  # warm up (imports, plans)
            start = time.process_time()
            resample(req["method"], x, req["in"], req["out"])
            cpu = time.process_time() - start
            stdout.write((json.dumps({"x_realtime": seconds / max(cpu, 1e-9)}) + "\n").encode())
            stdout.flush()
            continue
        n = int(req["n"])
        x = np.frombuffer(stdin.read(4 * n), dtype="<f4")
        y = resample(req["method"], x, int(req["in"]), int(req["out"]))
        stdout.write(struct.pack("<I", len(y)) + y.astype("<f4").tobytes())
        stdout.flush()


if __name__ == "__main__":
    main()
