"""The worker protocol against the vectors shared with Go (testdata/worker, docs/worker-protocol.md).

Each NAME.msgpack is one message body as it goes on the pipe (after the 4-byte length); NAME.json is its twin:
direction, doc, the message (a key ending in _hex is a bin field, named without the suffix) and, for a request
of the numbered conversation, the replies the worker sends, in order. REMOTEMEDIA_UPDATE_VECTORS=1 rewrites the
.msgpack files from the .json twins (keys in their JSON order).
"""

import json
import os
import typing

import msgpack
import pytest

from conftest import WORKER_DIR
from remotemedia import protocol

DESCS = sorted(WORKER_DIR.glob("*.json"))
REPLY_TYPES = {"ready": protocol.ReadyMessage, "output": protocol.OutputMessage, "done": protocol.DoneMessage,
               "error": protocol.ErrorMessage, "pong": protocol.PongMessage}


def load(path):
    desc = json.loads(path.read_text())
    msg = {k.removesuffix("_hex"): bytes.fromhex(v) if k.endswith("_hex") else v for k, v in desc["message"].items()}
    return desc, msg


def body(path):
    return path.with_suffix(".msgpack").read_bytes()


if os.environ.get("REMOTEMEDIA_UPDATE_VECTORS"):
    for p in DESCS:
        p.with_suffix(".msgpack").write_bytes(msgpack.packb(load(p)[1], use_bin_type=True))


def test_vectors_found():
    assert len(DESCS) >= 15, WORKER_DIR


@pytest.mark.parametrize("path", DESCS, ids=lambda p: p.stem)
def test_twins_agree(path):
    desc, msg = load(path)
    assert desc["direction"] in ("proxy_to_worker", "worker_to_proxy")
    got = msgpack.unpackb(body(path), raw=False)
    assert list(got) == list(msg), "keys and their order on the pipe"
    for key, want in msg.items():
        assert got[key] == want, key
        assert type(got[key]) is type(want), key
    assert msgpack.packb(msg, use_bin_type=True) == body(path)


@pytest.mark.parametrize("path", [p for p in DESCS if load(p)[0]["direction"] == "proxy_to_worker"],
                         ids=lambda p: p.stem)
def test_requests_parse(path):
    _, msg = load(path)
    assert protocol.parse_request(msgpack.unpackb(body(path), raw=False)) == msg


@pytest.mark.parametrize("path", [p for p in DESCS if load(p)[0]["direction"] == "worker_to_proxy"],
                         ids=lambda p: p.stem)
def test_replies_typed(path):
    """Every reply has its TypedDict's required keys, no others than it allows, of the declared types."""
    got = msgpack.unpackb(body(path), raw=False)
    typ = REPLY_TYPES[got["op"]]
    assert typ.__required_keys__ <= set(got) <= typ.__required_keys__ | typ.__optional_keys__
    hints = typing.get_type_hints(typ)
    for key, value in got.items():
        want = typing.get_origin(hints[key]) or hints[key]
        if want is typing.Literal:
            assert value in typing.get_args(hints[key]), key
        elif want is not typing.Any:
            assert isinstance(value, want), key


def test_conversation_with_a_real_worker(worker_factory):
    """The numbered requests, written to a real worker as they are, get exactly the replies' bytes."""
    w = worker_factory()
    for path in [p for p in DESCS if p.stem[:2].isdigit() and load(p)[0]["direction"] == "proxy_to_worker"]:
        desc, _ = load(path)
        w.write_raw(body(path))
        for reply in desc["replies"]:
            assert w.read_raw() == body(WORKER_DIR / f"{reply}.json"), f"{path.stem}: reply {reply}"
    assert w.close() == 0


def test_ready_has_the_vectors_shape(worker_factory):
    """The real ready message has the keys of the ready vector at every level, in the same order."""
    w = worker_factory()
    _, want = load(WORKER_DIR / "ready.json")
    got = w.ready
    assert list(got) == list(want)
    assert list(got["nodes"][0]) == list(want["nodes"][0])
    params = [p for n in got["nodes"] for p in n["params"]]
    assert params and all(list(p) == list(want["nodes"][0]["params"][0]) for p in params)
    assert w.close() == 0


@pytest.mark.parametrize("name, given, expect_err", [
    ("not a map", [1], "message is a list, want a map"),
    ("no id", {"op": "ping"}, 'missing or invalid field "id"'),
    ("bool id", {"op": "ping", "id": True}, 'missing or invalid field "id"'),
    ("unknown op", {"op": "exec", "id": 1}, "unknown op 'exec'"),
    ("no session", {"op": "close", "id": 1}, 'close: missing or invalid field "session"'),
    ("no node_type", {"op": "open", "id": 1, "session": "s"}, 'open: missing or invalid field "node_type"'),
    ("params not a map", {"op": "open", "id": 1, "session": "s", "node_type": "T", "params": [1]},
     'open: field "params" must be a map'),
    ("no frame", {"op": "frame", "id": 1, "session": "s"}, 'frame: missing or invalid field "frame"'),
])
def test_parse_request_errors(name, given, expect_err):
    with pytest.raises(protocol.ProtocolError, match=expect_err):
        protocol.parse_request(given)
