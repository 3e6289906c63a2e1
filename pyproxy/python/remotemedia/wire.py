"""The frame wire format, version 1 (docs/wire-format.md), byte-for-byte like Go's core/frame."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgpack

WIRE_VERSION = 1

KINDS = ("audio", "text", "json", "binary", "tensor", "control")
FORMATS = {"f32": 4, "s16": 2}
DTYPES = {"f32": 4, "f64": 8, "i8": 1, "i16": 2, "i32": 4, "i64": 8, "u8": 1}
OPS = ("eos", "flush", "cancel")


class WireError(ValueError):
    """Bytes that are not a valid frame; the message names the field."""


@dataclass
class Frame:
    """One unit of data: header (sid, seq, ts, meta) plus the fields of its kind."""

    kind: str
    data: bytes | str = b""
    sid: str = ""
    seq: int = 0
    ts: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    format: str = ""  # audio: f32 | s16
    rate: int = 0  # audio
    channels: int = 0  # audio
    mime: str = ""  # binary
    dtype: str = ""  # tensor
    shape: list[int] = field(default_factory=list)  # tensor
    op: str = ""  # control

    def payload(self) -> bytes:
        """The data as bytes (text and json are UTF-8)."""
        return self.data.encode() if isinstance(self.data, str) else bytes(self.data)

    def text(self) -> str:
        """The data as a str (text and json frames)."""
        return self.data if isinstance(self.data, str) else bytes(self.data).decode()

    def validate(self) -> None:
        """Raise WireError if the fields are inconsistent."""
        k = self.kind
        if k == "audio":
            if self.format not in FORMATS:
                raise WireError(f"frame: invalid: audio frame: unknown format {self.format!r}")
            if self.rate <= 0:
                raise WireError("frame: invalid: audio frame: sample_rate must be > 0")
            if self.channels <= 0:
                raise WireError("frame: invalid: audio frame: channels must be > 0")
            n = len(self.payload())
            if n % (FORMATS[self.format] * self.channels):
                raise WireError(
                    f"frame: invalid: audio frame: {n} data bytes is not a whole number of "
                    f"{self.channels}-channel {self.format} samples")
        elif k == "tensor":
            if self.dtype not in DTYPES:
                raise WireError(f"frame: invalid: tensor frame: unknown dtype {self.dtype!r}")
            if any(d < 0 for d in self.shape):
                raise WireError("frame: invalid: tensor frame: shape is negative")
            need = math.prod(self.shape) * DTYPES[self.dtype]
            if need != len(self.payload()):
                raise WireError(
                    f"frame: invalid: tensor frame: shape {self.shape} of {self.dtype} needs {need} bytes, "
                    f"data has {len(self.payload())}")
        elif k == "control":
            if self.op not in OPS:
                raise WireError(f"frame: invalid: control frame: unknown op {self.op!r}")
        elif k not in KINDS:
            raise WireError(f"frame: invalid: unknown frame kind {k!r}")


def _pack_default(o: Any) -> Any:
    """numpy scalars and arrays in metadata pack as their Python values."""
    if hasattr(o, "tolist"):
        return o.tolist()
    raise TypeError(f"cannot encode {type(o).__name__} in a frame")


def new_packer() -> msgpack.Packer:
    """A Packer configured for frames (bin for bytes, numpy values as Python values)."""
    return msgpack.Packer(use_bin_type=True, default=_pack_default)


_packer = new_packer()


def encode(f: Frame, packer: msgpack.Packer | None = None) -> bytes:
    """Encode f canonically: keys v, kind, sid, seq, ts, meta (sorted), then the kind's keys."""
    f.validate()
    m: dict[str, Any] = {"v": WIRE_VERSION, "kind": f.kind, "sid": f.sid, "seq": f.seq, "ts": f.ts}
    if f.meta:
        m["meta"] = {k: f.meta[k] for k in sorted(f.meta)}
    k = f.kind
    if k == "audio":
        m["format"] = f.format
        m["rate"] = f.rate
        m["channels"] = f.channels
        m["data"] = f.payload()
    elif k in ("text", "json"):
        m["data"] = f.text()
    elif k == "binary":
        if f.mime:
            m["mime"] = f.mime
        m["data"] = f.payload()
    elif k == "tensor":
        m["dtype"] = f.dtype
        m["shape"] = list(f.shape)
        m["data"] = f.payload()
    elif k == "control":
        m["op"] = f.op
    return (packer or _packer).pack(m)


def _from_map(m: Any) -> Frame:
    if type(m) is dict:
        f = _from_map_fast(m)
        if f is not None:
            return f
    return _from_map_checked(m)


def _from_map_fast(m: dict[Any, Any]) -> Frame | None:
    """_from_map for a well-formed map, in one pass of exact type checks; None sends anything unusual (and every
    error) through _from_map_checked, which names the offending field."""
    get = m.get
    v, kind, data = get("v"), get("kind"), get("data", b"")
    sid, seq, ts, meta = get("sid", ""), get("seq", 0), get("ts", 0), get("meta", _NO_META)
    fmt, rate, channels, op = get("format", ""), get("rate", 0), get("channels", 0), get("op", "")
    mime, dtype, shape = get("mime", ""), get("dtype", ""), get("shape", ())
    if (type(v) is not int or not 0 < v <= WIRE_VERSION or kind not in KINDS or type(sid) is not str
            or type(seq) is not int or seq < 0 or type(ts) is not int or type(fmt) is not str
            or type(rate) is not int or type(channels) is not int or type(op) is not str or type(mime) is not str
            or type(dtype) is not str or (type(shape) is not list and type(shape) is not tuple)):
        return None
    if meta is _NO_META or not meta:
        meta = {}
    elif type(meta) is not dict:
        return None
    if kind == "text" or kind == "json":
        if type(data) is bytes:
            data = data.decode()
        elif type(data) is not str:
            return None
    elif type(data) is str:
        data = data.encode()
    elif type(data) is not bytes:
        return None
    if (kind == "audio" and fmt not in FORMATS) or (kind == "control" and op not in OPS):
        return None
    f = Frame(kind=kind, data=data, sid=sid, seq=seq, ts=ts, meta=meta, format=fmt, rate=rate, channels=channels,
              mime=mime, dtype=dtype, shape=list(shape), op=op)
    f.validate()
    return f


_NO_META: dict[str, Any] = {}


def _from_map_checked(m: Any) -> Frame:
    if not isinstance(m, dict):
        raise WireError(f"frame: cannot decode: frame is {type(m).__name__}, want a map")
    if "v" not in m:
        raise WireError('frame: cannot decode: missing field "v"')
    v = m["v"]
    if not isinstance(v, int) or isinstance(v, bool) or v <= 0:
        raise WireError(f'frame: cannot decode: field "v": {v!r} is not a positive integer')
    if v > WIRE_VERSION:
        raise WireError(f"frame: unsupported wire version: {v} (this build reads up to {WIRE_VERSION})")
    if "kind" not in m:
        raise WireError('frame: cannot decode: missing field "kind"')
    kind = m["kind"]
    if kind not in KINDS:
        raise WireError(f"frame: invalid: unknown frame kind {kind!r}")

    def get(key: str, typ: type | tuple[type, ...], default: Any) -> Any:
        val = m.get(key, default)
        if not isinstance(val, typ) or (typ is int and isinstance(val, bool)):
            raise WireError(f"frame: cannot decode: field {key!r}: {type(val).__name__} is not {typ}")
        return val

    data = m.get("data", b"")
    if not isinstance(data, (bytes, str)):
        raise WireError(f"frame: cannot decode: field 'data': {type(data).__name__} is not bin or str")
    if kind in ("text", "json"):
        data = data if isinstance(data, str) else data.decode()
    elif isinstance(data, str):
        data = data.encode()
    meta = get("meta", dict, {}) or {}
    f = Frame(
        kind=kind, data=data, sid=get("sid", str, ""), seq=get("seq", int, 0), ts=get("ts", int, 0),
        meta=meta, format=get("format", str, ""), rate=get("rate", int, 0),
        channels=get("channels", int, 0), mime=get("mime", str, ""), dtype=get("dtype", str, ""),
        shape=list(get("shape", (list, tuple), [])), op=get("op", str, ""))
    if f.seq < 0:
        raise WireError("frame: cannot decode: field 'seq' is negative")
    if kind == "audio" and f.format not in FORMATS:
        raise WireError(f"frame: invalid: audio frame: unknown format {f.format!r}")
    if kind == "control" and f.op not in OPS:
        raise WireError(f"frame: invalid: control frame: unknown op {f.op!r}")
    f.validate()
    return f


def decode(b: bytes) -> Frame:
    """Decode exactly one frame from b."""
    try:
        m = msgpack.unpackb(b, raw=False, strict_map_key=False)
    except msgpack.ExtraData as e:
        extra: bytes = e.extra  # type: ignore[attr-defined]  # msgpack-types omits it
        raise WireError(f"frame: cannot decode: {len(extra)} trailing bytes after the frame") from None
    except (ValueError, msgpack.UnpackException) as e:
        raise WireError(f"frame: cannot decode: truncated or malformed frame ({len(b)} bytes): {e}") from None
    return _from_map(m)


def decode_stream(b: bytes) -> list[Frame]:
    """Decode concatenated frames until b ends; a frame cut short is an error."""
    u = msgpack.Unpacker(raw=False, strict_map_key=False)
    u.feed(b)
    out = []
    try:
        for m in u:
            out.append(_from_map(m))
    except (ValueError, msgpack.UnpackException) as e:
        raise WireError(f"frame: cannot decode: {e}") from None
    if u.tell() != len(b):
        raise WireError(f"frame: cannot decode: truncated frame at byte {u.tell()}")
    return out
