"""Round trip of one frame through a real worker's pipes and the PassThrough node (request -> output -> done).

Usage: python scripts/bench_roundtrip.py [N] [NODE]; prints p50/p99/mean in microseconds.
"""

import struct
import subprocess
import sys
import time

import msgpack
import numpy as np

from remotemedia import Frame, wire


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    node = sys.argv[2] if len(sys.argv) > 2 else "PassThrough"
    proc = subprocess.Popen([sys.executable, "-m", "remotemedia.worker", "--log-level", "WARNING"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    rd, wr = proc.stdout, proc.stdin

    def read() -> dict:
        size = struct.unpack(">I", rd.read(4))[0]
        buf = b""
        while len(buf) < size:
            buf += rd.read(size - len(buf))
        return msgpack.unpackb(buf)

    def send(msg: dict) -> None:
        body = msgpack.packb(msg)
        wr.write(struct.pack(">I", len(body)) + body)

    read()  # ready
    send({"op": "open", "id": 1, "session": "b", "node_type": node})
    assert read()["op"] == "done"
    samples = (0.1 * np.sin(np.arange(960) / 10)).astype("<f4")  # 20 ms of 48 kHz mono
    frame = wire.encode(Frame(kind="audio", format="f32", rate=48000, channels=1, sid="b", data=samples.tobytes()))
    times = []
    for i in range(n):
        t0 = time.perf_counter_ns()
        send({"op": "frame", "id": i + 2, "session": "b", "frame": frame})
        while read()["op"] != "done":
            pass
        times.append(time.perf_counter_ns() - t0)
    wr.close()
    proc.wait()
    us = np.array(times[n // 10:]) / 1000  # skip warm-up
    print(f"{node}: {len(us)} round trips of a {len(frame)}-byte frame: p50 {np.percentile(us, 50):.0f} µs, "
          f"p99 {np.percentile(us, 99):.0f} µs, mean {us.mean():.0f} µs")


if __name__ == "__main__":
    main()
