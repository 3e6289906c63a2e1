"""The Python codec against the golden vectors shared with Go and JavaScript (testdata/wire)."""

import json

import pytest

from conftest import WIRE_DIR
from remotemedia import Frame, WireError, wire

GOOD = sorted(p for p in WIRE_DIR.glob("*.msgpack") if not p.name.endswith(".bad.msgpack"))
BAD = sorted(WIRE_DIR.glob("*.bad.msgpack"))


def expected(desc: dict) -> Frame:
    """The frame a .json description stands for. Go reads the description's meta numbers as float64 (JSON
    numbers in a map[string]any), so they are floats here too, and encode as msgpack float64."""
    if "meta" in desc:
        desc["meta"] = {k: float(v) if type(v) is int else v for k, v in desc["meta"].items()}
    data = bytes.fromhex(desc["data_hex"]) if "data_hex" in desc else desc.get("data_text", b"")
    keys = ("sid", "seq", "ts", "meta", "format", "rate", "channels", "mime", "dtype", "shape", "op")
    return Frame(kind=desc["kind"], data=data, **{k: desc[k] for k in keys if k in desc})


def test_vectors_found():
    assert len(GOOD) >= 8 and len(BAD) >= 3, WIRE_DIR


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.stem)
def test_golden_decode_and_reencode(path):
    given = path.read_bytes()
    want = expected(json.loads(path.with_suffix(".json").read_text()))
    got = wire.decode(given)
    assert got == want
    assert wire.encode(got) == given
    assert wire.encode(want) == given


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_bad_vectors_rejected(path):
    desc = json.loads(path.with_name(path.name.replace(".msgpack", ".json")).read_text())
    assert bytes.fromhex(desc["msgpack_hex"]) == path.read_bytes()
    with pytest.raises(WireError, match=desc["invalid"]):
        wire.decode(path.read_bytes())


@pytest.mark.parametrize("name, given, expect_err", [
    ("missing kind", {"v": 1}, 'missing field "kind"'),
    ("missing v", {"kind": "text"}, 'missing field "v"'),
    ("unknown kind", {"v": 1, "kind": "video"}, "unknown frame kind"),
    ("unknown format", {"v": 1, "kind": "audio", "format": "u8", "rate": 8000, "channels": 1}, "unknown format"),
    ("zero rate", {"v": 1, "kind": "audio", "format": "f32", "rate": 0, "channels": 1}, "sample_rate must be > 0"),
    ("zero channels", {"v": 1, "kind": "audio", "format": "f32", "rate": 1, "channels": 0}, "channels must be > 0"),
    ("unknown dtype", {"v": 1, "kind": "tensor", "dtype": "f16", "shape": [1], "data": b"\0\0"}, "unknown dtype"),
    ("shape mismatch", {"v": 1, "kind": "tensor", "dtype": "f32", "shape": [2], "data": b"\0" * 4}, "needs 8 bytes"),
    ("unknown op", {"v": 1, "kind": "control", "op": "pause"}, "unknown op"),
    ("not a map", [1, 2], "want a map"),
])
def test_invalid_frames(name, given, expect_err):
    import msgpack
    with pytest.raises(WireError, match=expect_err):
        wire.decode(msgpack.packb(given, use_bin_type=True))


def test_unknown_keys_skipped_and_any_order():
    import msgpack
    b = msgpack.packb({"data": "hi", "future": [1, 2], "kind": "text", "v": 1}, use_bin_type=True)
    assert wire.decode(b) == Frame(kind="text", data="hi")


def test_stream_of_frames():
    text = (WIRE_DIR / "text.msgpack").read_bytes()
    audio = (WIRE_DIR / "audio_s16_mono.msgpack").read_bytes()
    frames = wire.decode_stream(text + audio + text)
    assert [f.kind for f in frames] == ["text", "audio", "text"]
    with pytest.raises(WireError, match="truncated"):
        wire.decode_stream(text + audio[:-3])
