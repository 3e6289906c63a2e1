"""Shared test helpers: the golden-vector directory and a client that drives a real worker subprocess."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import msgpack
import pytest

HERE = Path(__file__).resolve().parent
WIRE_DIR = HERE.parent.parent.parent / "testdata" / "wire"
WORKER_DIR = HERE.parent.parent.parent / "testdata" / "worker"  # the worker protocol's vectors
FIXTURES = HERE / "fixtures"


class WorkerClient:
    """A `python -m remotemedia.worker` subprocess spoken to over its pipes, as the Go proxy does. A watchdog kills
    it after deadline_s, so a read that would wait forever ends with EOFError instead."""

    def __init__(self, *args: str, deadline_s: float = 60.0) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "remotemedia.worker", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.watchdog = threading.Timer(deadline_s, self.proc.kill)
        self.watchdog.daemon = True
        self.watchdog.start()
        self.next_id = 0
        self.ready = self.read()
        assert self.ready["op"] == "ready", self.ready

    def write_raw(self, body: bytes) -> None:
        self.proc.stdin.write(struct.pack(">I", len(body)) + body)
        self.proc.stdin.flush()

    def send(self, msg: dict[str, Any]) -> int:
        if "id" not in msg:
            self.next_id += 1
            msg["id"] = self.next_id
        self.write_raw(msgpack.packb(msg, use_bin_type=True))
        return msg["id"]

    def read(self) -> dict[str, Any]:
        return msgpack.unpackb(self.read_raw(), raw=False)

    def read_raw(self) -> bytes:
        """The body of the worker's next message, as it came off the pipe."""
        header = self.proc.stdout.read(4)
        if len(header) < 4:
            raise EOFError(f"worker closed its stdout (killed by the test's watchdog if it ran past its deadline); "
                           f"stderr:\n{self.proc.stderr.read().decode()}")
        return self.proc.stdout.read(struct.unpack(">I", header)[0])

    def request(self, msg: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        """Send one request; return the messages before its done/error/pong (outputs) and that reply."""
        rid = self.send(msg)
        outputs = []
        while True:
            m = self.read()
            if m["op"] in ("done", "error", "pong") and m["id"] == rid:
                return outputs, m
            outputs.append(m)

    def close(self) -> int:
        self.proc.stdin.close()
        code = self.proc.wait(timeout=30)
        self.proc.stdout.close()
        self.proc.stderr.close()
        return code


@pytest.fixture
def worker_factory():
    workers: list[WorkerClient] = []

    def make(*args: str, **kwargs: float) -> WorkerClient:
        w = WorkerClient(*args, **kwargs)
        workers.append(w)
        return w

    yield make
    for w in workers:
        w.watchdog.cancel()
        if w.proc.poll() is None:
            w.proc.kill()
            w.proc.wait()


def espeak_wav(tmp_path: Path, text: str) -> Path:
    """Speech of text as a WAV file made by espeak-ng; skips the test when espeak-ng is missing."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    out = tmp_path / "speech.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-w", str(out), text], check=True, env={**os.environ})
    return out
