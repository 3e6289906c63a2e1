"""The worker as a real subprocess speaking the pipe protocol (docs/python-nodes.md, worker protocol v1)."""

import json
import os
import struct

import msgpack
import numpy as np

from conftest import FIXTURES, WIRE_DIR
from remotemedia import Frame, wire

CONTRACT = ("--module", str(FIXTURES / "contract_nodes.py"))


def text(s, seq=1, meta=None):
    return wire.encode(Frame(kind="text", data=s, sid="s1", seq=seq, ts=1000 * seq, meta=meta or {}))


def js(obj):
    return wire.encode(Frame(kind="json", data=json.dumps(obj), sid="s1", seq=1))


def audio(samples, rate=16000, channels=1, fmt="f32"):
    dtype = "<f4" if fmt == "f32" else "<i2"
    return wire.encode(Frame(kind="audio", format=fmt, rate=rate, channels=channels, sid="mic", seq=3, ts=60000,
                             meta={"src": "test"}, data=np.asarray(samples, dtype=dtype).tobytes()))


def frames(outputs):
    assert all(o["op"] == "output" for o in outputs), outputs
    return [wire.decode(o["frame"]) for o in outputs]


def test_ready_lists_builtin_and_module_nodes(worker_factory):
    w = worker_factory(*CONTRACT)
    r = w.ready
    assert r["version"] == 1 and r["pid"] == w.proc.pid
    by_type = {n["node_type"]: n for n in r["nodes"]}
    assert {"PassThrough", "AudioTransform", "WhisperASR", "Upper", "Joiner"} <= set(by_type)
    assert by_type["Joiner"]["is_streaming"] and not by_type["Upper"]["is_streaming"]
    assert by_type["Repeat"]["params"] == [{"name": "times", "type": "integer", "default": 3, "doc": "",
                                            "required": False, "operator": False}]
    assert by_type["Repeat"]["unavailable"] == ""
    assert [(p["name"], p["operator"]) for p in by_type["EspeakTTS"]["params"]] == [
        ("voice", False), ("speed", False), ("binary", True)]
    assert [(p["name"], p["required"]) for p in by_type["KokoroTTS"]["params"]][0] == ("model_path", True)
    assert w.request({"op": "ping"}) == ([], {"op": "pong", "id": w.next_id})


def test_session_lifecycle_and_contract(worker_factory, tmp_path):
    w = worker_factory(*CONTRACT)
    cases = [  # node_type, params, input frames, expected output frames' data (after all inputs + flush)
        ("Upper", {}, [text("hi", meta={"k": "v"})], ["HI"]),
        ("Upper", {}, [text("drop")], []),
        ("Repeat", {"times": 2}, [text("a")], ["a#0", "a#1"]),
        ("Collect", {"marker": str(tmp_path / "m")}, [text("x"), text("y")], ["x,y"]),
    ]
    for i, (node_type, params, inputs, expect) in enumerate(cases):
        sid = f"s{i}"
        assert w.request({"op": "open", "session": sid, "node_type": node_type, "params": params})[1]["op"] == "done"
        got = []
        for fr in inputs:
            outs, done = w.request({"op": "frame", "session": sid, "frame": fr})
            assert done["op"] == "done", done
            got += frames(outs)
        outs, done = w.request({"op": "flush", "session": sid})
        assert done["op"] == "done", done
        got += frames(outs)
        assert [f.text() for f in got] == expect, node_type
        for f in got:  # header and metadata of the input are preserved
            assert (f.sid, f.seq, f.ts) == ("s1", 1, 1000)
        if node_type == "Upper" and got:
            assert got[0].meta == {"k": "v"}
        assert w.request({"op": "close", "session": sid})[1]["op"] == "done"
    assert (tmp_path / "m").read_text() == "cleaned"
    assert w.close() == 0


def test_async_node_json_and_initialize(worker_factory):
    w = worker_factory(*CONTRACT)
    w.request({"op": "open", "session": "a", "node_type": "AsyncEcho"})
    outs, done = w.request({"op": "frame", "session": "a", "frame": js({"n": 1})})
    [f] = frames(outs)
    assert f.kind == "json" and json.loads(f.text()) == {"n": 1, "echo": True, "initialized": True}


def test_streaming_node(worker_factory):
    w = worker_factory(*CONTRACT)
    w.request({"op": "open", "session": "st", "node_type": "Joiner"})
    got = []
    for i, s in enumerate(["a", "b", "c"]):
        outs, done = w.request({"op": "frame", "session": "st", "frame": text(s, seq=i)})
        assert done["op"] == "done"
        got += outs
    outs, done = w.request({"op": "flush", "session": "st"})
    got += outs
    assert [wire.decode(o["frame"]).text() for o in got] == ["a", "b", "c", "a+b+c"]
    assert got[-1]["id"] == done["id"]  # outputs after the input ended carry the flush's id
    outs, _ = w.request({"op": "frame", "session": "st", "frame": text("again")})  # fed again after flush
    outs += w.request({"op": "flush", "session": "st"})[0]
    assert [wire.decode(o["frame"]).text() for o in outs] == ["again", "again"]


def test_own_frame_and_added_metadata(worker_factory):
    w = worker_factory(*CONTRACT)
    w.request({"op": "open", "session": "a", "node_type": "Stamp"})
    w.request({"op": "open", "session": "b", "node_type": "Tagger"})
    [own] = frames(w.request({"op": "frame", "session": "a", "frame": text("x", meta={"in": 1})})[0])
    assert own == Frame(kind="text", data="own", sid="other", seq=99, ts=5, meta={"mine": 1})
    [tagged] = frames(w.request({"op": "frame", "session": "b", "frame": text("x", meta={"in": 1})})[0])
    assert tagged.meta == {"in": 1, "tag": "x"} and tagged.text() == "x"


def test_errors_and_worker_survives(worker_factory):
    w = worker_factory(*CONTRACT)
    _, err = w.request({"op": "open", "session": "u", "node_type": "NoSuchNode"})
    assert err["op"] == "error" and "unknown node type 'NoSuchNode'" in err["error"]
    _, err = w.request({"op": "open", "session": "p", "node_type": "AudioTransform",
                        "params": {"output_sample_rate": 0}})
    assert err["op"] == "error" and err["type"] == "ValueError" and "must be > 0" in err["error"]
    _, err = w.request({"op": "frame", "session": "p", "frame": text("x")})
    assert "unknown session 'p'" in err["error"]  # a failed open leaves no session
    w.request({"op": "open", "session": "b", "node_type": "Boom"})
    _, err = w.request({"op": "frame", "session": "b", "frame": text("boom")})
    assert err == {**err, "op": "error", "session": "b", "type": "ValueError", "error": "ValueError: boom requested"}
    assert "fixtures/contract_nodes.py" in err["traceback"] and 'raise ValueError("boom requested")' in err["traceback"]
    outs, done = w.request({"op": "frame", "session": "b", "frame": text("fine")})
    assert done["op"] == "done" and frames(outs)[0].text() == "fine"
    _, err = w.request({"op": "frame", "session": "b", "frame": b"\x81\xa1v\x01"})
    assert err["type"] == "WireError" and 'missing field "kind"' in err["error"]
    _, err = w.request({"op": "frame", "session": "zz", "frame": text("x")})
    assert "unknown session 'zz'" in err["error"]
    _, err = w.request({"op": "dance", "session": "b"})
    assert "unknown op 'dance'" in err["error"]
    _, err = w.request({"op": "frame", "session": "b"})
    assert 'missing or invalid field "frame"' in err["error"]
    _, err = w.request({"op": "open", "session": "b", "node_type": "Boom"})
    assert "already open" in err["error"]
    w.write_raw(b"\xc1\xff garbage")
    err = w.read()
    assert err["op"] == "error" and err["id"] == 0 and "malformed message" in err["error"]
    w.write_raw(msgpack.packb({"op": "ping"}))
    err = w.read()
    assert err["id"] == 0 and 'field "id"' in err["error"]
    w.write_raw(msgpack.packb([1, 2]))
    assert "want a map" in w.read()["error"]
    assert w.request({"op": "ping"})[1]["op"] == "pong"
    assert w.close() == 0


def test_error_text_names_no_server_path(worker_factory):
    w = worker_factory(*CONTRACT)
    _, err = w.request({"op": "open", "session": "u", "node_type": "UltravoxNode",
                        "params": {"model_path": "/nonexistent/ultravox"}})
    assert err["error"] == ("ModelNotAvailable: UltravoxNode: model not available at /nonexistent/ultravox: "
                            "no such file or directory")  # the node's own message stays helpful
    assert "remotemedia/" not in err["error"] and "remotemedia/models.py" in err["traceback"]
    _, err = w.request({"op": "frame", "session": "zz", "frame": text("x")})
    assert err["error"] == "ProtocolError: frame: unknown session 'zz' (not open)" and "traceback" not in err


FAULTY = ("--module", str(FIXTURES.parents[2] / "testdata" / "faulty_nodes.py"))  # shared with the Go tests


def test_memory_limit_fails_the_call_and_exits_3(worker_factory):
    w = worker_factory(*FAULTY, "--memory-limit", str(256 << 20))
    assert w.request({"op": "open", "session": "ok", "node_type": "Echo"})[1]["op"] == "done"
    assert w.request({"op": "open", "session": "h", "node_type": "Hog"})[1]["op"] == "done"
    _, err = w.request({"op": "frame", "session": "h", "frame": text("eat")})
    assert err == {**err, "op": "error", "session": "h", "type": "MemoryError", "fatal": True,
                   "error": "MemoryError: worker memory limit of 256 MiB reached"}
    assert "faulty_nodes.py" in err["traceback"]
    assert w.proc.wait(timeout=30) == 3
    assert b"worker memory limit of 256 MiB reached; exiting with status 3" in w.proc.stderr.read()


def test_memory_limit_in_a_streaming_node(worker_factory, tmp_path):
    mod = tmp_path / "stream_hog.py"
    mod.write_text("from remotemedia import Node\n\n\n"
                   "class StreamHog(Node):\n"
                   "    is_streaming = True\n\n"
                   "    async def process(self, stream):\n"
                   "        async for item in stream:\n"
                   "            blocks = []\n"
                   "            while True:\n"
                   "                blocks.append(bytearray(16 << 20))\n"
                   "            yield item\n")
    w = worker_factory("--module", str(mod), "--memory-limit", str(200 << 20), deadline_s=20)
    w.request({"op": "open", "session": "s", "node_type": "StreamHog"})
    _, done = w.request({"op": "frame", "session": "s", "frame": text("eat")})  # accepted, then the generator runs
    err = w.read()
    assert err == {**err, "op": "error", "id": done["id"], "session": "s", "fatal": True,
                   "error": "MemoryError: worker memory limit of 200 MiB reached"}
    assert w.proc.wait(timeout=30) == 3


def test_memory_limit_zero_is_no_limit(worker_factory):
    w = worker_factory(*FAULTY, "--memory-limit", "0")
    w.request({"op": "open", "session": "h", "node_type": "Hog", "params": {"max_mb": 32}})
    outs, done = w.request({"op": "frame", "session": "h", "frame": text("eat")})
    assert done["op"] == "done" and frames(outs)[0].text() == "allocated 32 MiB"
    assert w.close() == 0


def test_memory_limit_flag_is_checked():
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "remotemedia.worker", "--memory-limit", "4G"], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60, env={**os.environ})
    assert r.returncode == 2 and r.stdout == b"" and b"'4G' is not a whole number of bytes" in r.stderr


def test_prints_stay_off_the_protocol(worker_factory):
    w = worker_factory(*CONTRACT)
    w.request({"op": "open", "session": "p", "node_type": "Printer"})
    outs, done = w.request({"op": "frame", "session": "p", "frame": text("x")})
    assert done["op"] == "done" and frames(outs)[0].text() == "x"
    w.close()


def test_passthrough_resends_exact_bytes_and_control(worker_factory):
    w = worker_factory()
    w.request({"op": "open", "session": "p", "node_type": "PassThrough"})
    for path in sorted(WIRE_DIR.glob("*.msgpack")):
        if path.name.endswith(".bad.msgpack"):
            continue
        outs, done = w.request({"op": "frame", "session": "p", "frame": path.read_bytes()})
        assert done["op"] == "done" and [o["frame"] for o in outs] == [path.read_bytes()], path.name


def test_legacy_nodes_from_command_line(worker_factory):
    w = worker_factory("--module", str(FIXTURES / "legacy_nodes.py"))
    assert w.request({"op": "open", "session": "g", "node_type": "GainNode", "params": {"gain": 0.5}})[1]["op"] == "done"
    stereo_s16 = [1000, -2000, 16384, 0]  # two stereo samples
    outs, _ = w.request({"op": "frame", "session": "g", "frame": audio(stereo_s16, 48000, 2, "s16")})
    [f] = frames(outs)
    assert (f.format, f.rate, f.channels, f.sid, f.seq, f.ts, f.meta) == ("f32", 48000, 2, "mic", 3, 60000,
                                                                         {"src": "test"})
    np.testing.assert_allclose(np.frombuffer(f.payload(), "<f4"), np.array(stereo_s16) / 32768 * 0.5)

    w.request({"op": "open", "session": "m", "node_type": "LevelMeter"})
    outs, done = w.request({"op": "frame", "session": "m", "frame": audio([0.5, -0.75])})
    [f] = frames(outs)  # RemoteMedia's (audio, sample_rate, metadata): metadata merged into the frame's
    assert (done["op"], f.rate, f.meta) == ("done", 16000, {"src": "test", "peak": 0.75})
    np.testing.assert_array_equal(np.frombuffer(f.payload(), "<f4"), [0.5, -0.75])

    w.request({"op": "open", "session": "c", "node_type": "ChunkCounter"})
    for n in (160, 320):
        assert w.request({"op": "frame", "session": "c", "frame": audio(np.zeros(n))})[1]["op"] == "done"
    outs, _ = w.request({"op": "flush", "session": "c"})
    # streaming outputs may arrive before or after their frame's "done"; collect all by now
    got = [wire.decode(o["frame"]).text() for o in outs]
    assert got[-1] == "total 480"


def test_eof_cleans_up_and_exits_zero(worker_factory, tmp_path):
    w = worker_factory(*CONTRACT)
    w.request({"op": "open", "session": "c", "node_type": "Collect", "params": {"marker": str(tmp_path / "m")}})
    assert w.close() == 0
    assert (tmp_path / "m").read_text() == "cleaned"


def test_truncated_input_at_eof(worker_factory):
    w = worker_factory()
    w.proc.stdin.write(struct.pack(">I", 100) + b"abc")
    w.proc.stdin.close()
    err = w.read()
    assert err["op"] == "error" and "input ended inside a message" in err["error"]
    assert w.proc.wait(timeout=30) == 0


def test_bad_module_fails_before_ready(tmp_path):
    import subprocess
    import sys
    bad = tmp_path / "bad.py"
    bad.write_text("raise RuntimeError('broken user module')\n")
    r = subprocess.run([sys.executable, "-m", "remotemedia.worker", "--module", str(bad)], capture_output=True,
                       stdin=subprocess.DEVNULL, timeout=60, env={**os.environ})
    assert r.returncode == 2 and r.stdout == b"" and b"broken user module" in r.stderr


def test_streaming_node_error_is_reported_and_session_recovers(worker_factory):
    w = worker_factory(*CONTRACT)
    w.request({"op": "open", "session": "sb", "node_type": "StreamBoom"})
    assert w.request({"op": "frame", "session": "sb", "frame": text("boom")})[1]["op"] == "done"  # accepted
    _, err = w.request({"op": "flush", "session": "sb"})
    assert err["op"] == "error" and err["type"] == "ValueError" and "stream boom" in err["error"]
    outs, done = w.request({"op": "frame", "session": "sb", "frame": text("ok")})
    outs += w.request({"op": "flush", "session": "sb"})[0]
    assert [wire.decode(o["frame"]).text() for o in outs] == ["ok"]


def test_eof_finishes_queued_requests(worker_factory, tmp_path):
    w = worker_factory(*CONTRACT)
    w.send({"op": "open", "session": "c", "node_type": "Collect", "params": {"marker": str(tmp_path / "m")}})
    ids = [w.send({"op": "frame", "session": "c", "frame": text(s)}) for s in "abc"]
    ids.append(w.send({"op": "flush", "session": "c"}))
    w.proc.stdin.close()
    replies = [w.read() for _ in range(6)]  # open, 3 frames, the flush's output and done
    assert [r["id"] for r in replies if r["op"] == "done"] == [1] + ids
    assert [wire.decode(r["frame"]).text() for r in replies if r["op"] == "output"] == ["a,b,c"]
    assert w.proc.wait(timeout=30) == 0 and (tmp_path / "m").read_text() == "cleaned"
