"""How the worker splits its input into messages, on uvloop and on asyncio's own loop (REMOTEMEDIA_UVLOOP=0)."""

import struct
import time

import msgpack
import pytest

from remotemedia import Frame, wire


@pytest.fixture(params=["uvloop", "asyncio"])
def worker(request, worker_factory, monkeypatch):
    if request.param == "uvloop":
        pytest.importorskip("uvloop")
    else:
        monkeypatch.setenv("REMOTEMEDIA_UVLOOP", "0")
    return worker_factory()


def msg(m):
    body = msgpack.packb(m, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


def test_messages_split_and_joined_anyhow(worker):
    w = worker
    w.request({"op": "open", "session": "p", "node_type": "PassThrough"})
    big = wire.encode(Frame(kind="binary", data=bytes(range(256)) * 8192, sid="p"))  # 2 MiB: many reads
    small = wire.encode(Frame(kind="text", data="hi", sid="p"))
    stream = (msg({"op": "frame", "id": 10, "session": "p", "frame": small})
              + msg({"op": "frame", "id": 11, "session": "p", "frame": big})
              + msg({"op": "ping", "id": 12}))
    cuts = [1, 3, 4, 5, 40, len(stream) // 2, len(stream) - 2, len(stream)]
    last = 0
    for cut in cuts:  # a header, a body, and two messages at once, all cut in pieces
        w.proc.stdin.write(stream[last:cut])
        w.proc.stdin.flush()
        time.sleep(0.01)
        last = cut
    got = [w.read() for _ in range(5)]
    assert [(m["op"], m["id"]) for m in got] == [("output", 10), ("done", 10), ("output", 11), ("done", 11),
                                                  ("pong", 12)]
    assert got[0]["frame"] == small and got[2]["frame"] == big
    assert w.close() == 0


def test_oversized_message_is_skipped(worker):
    w = worker
    w.proc.stdin.write(struct.pack(">I", (1 << 30) + 1) + b"x" * 1000)
    w.proc.stdin.flush()
    err = w.read()
    assert err["op"] == "error" and err["id"] == 0 and "exceeds" in err["error"]
    w.proc.stdin.close()  # the input ends inside the skipped message: no further error
    assert w.proc.wait(timeout=30) == 0
    assert w.proc.stdout.read() == b""
