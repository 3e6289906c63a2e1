"""The Node base class (the RemoteMedia node contract) and the conversions between frames and node data."""

from __future__ import annotations

import json
import logging
from typing import Any, TypedDict

import numpy as np

from .wire import Frame

_DTYPES = {"f32": "<f4", "f64": "<f8", "i8": "i1", "i16": "<i2", "i32": "<i4", "i64": "<i8", "u8": "u1"}
_DTYPE_NAMES = {np.dtype(v).newbyteorder("="): k for k, v in _DTYPES.items()}


class Node:
    """Base class of every processing node, compatible with RemoteMedia's ``remotemedia.core.node.Node``.

    ``process(data)`` may be a plain function, a coroutine function or an async generator; returning None
    drops the item. A node whose ``is_streaming`` is True (class attribute, or set in ``__init__`` as
    RemoteMedia nodes do) gets an async iterator of inputs and is an async generator. ``initialize()`` and
    ``cleanup()`` may be sync or async; an optional ``flush()`` may return or yield outputs. With
    ``wants_frames = True`` the node receives and returns ``remotemedia.Frame`` objects unconverted.
    """

    is_streaming: bool = False
    wants_frames: bool = False
    #: Constructor params only the operator may set (a program, a file or directory, a model location, a code
    #: choice such as trust_remote_code): the proxy refuses them from network clients. None (the default) lets
    #: the registry's name rule decide (registry.operator_by_name); a tuple, even empty, is the whole list.
    operator_params: tuple[str, ...] | None = None
    #: Params the node cannot run without although they have a default (e.g. ``model_path=None``); params
    #: without a default are required anyway.
    required_params: tuple[str, ...] = ()

    def __init__(self, name: str | None = None, **kwargs: Any) -> None:
        self.name = name or self.__class__.__name__
        self.config = kwargs
        self.logger = logging.getLogger(self.__class__.__name__)
        self._is_initialized = False

    @classmethod
    def unavailable(cls) -> str | None:
        """Why this node type cannot run here at its defaults (its default model or program is not installed),
        or None when it can. Cheap checks only (find_spec, shutil.which, a path's existence): it runs at worker
        start-up for the ready message, and a model must not load here."""
        return None

    def process(self, data: Any) -> Any:
        """Process one input and return the output (None drops it)."""
        raise NotImplementedError(f"{self.__class__.__name__}.process is not implemented")

    async def initialize(self) -> None:
        """Prepare the node (load models) before the first process()."""
        self._is_initialized = True

    async def cleanup(self) -> None:
        """Release what initialize() took."""
        self._is_initialized = False

    def split_data_metadata(self, data: Any) -> tuple[Any, dict[str, Any] | None]:
        """Split ``(data, metadata_dict)`` into its parts (RemoteMedia helper); plain data has no metadata."""
        if isinstance(data, tuple) and len(data) == 2 and isinstance(data[1], dict) and not isinstance(
                data[0], np.ndarray):
            return data[0], data[1]
        return data, None

    def merge_data_metadata(self, data: Any, metadata: dict[str, Any] | None) -> Any:
        """The reverse of split_data_metadata."""
        return (data, metadata) if metadata else data


def frame_to_data(f: Frame) -> Any:
    """The value a node receives for frame f, as RemoteMedia hands data to nodes."""
    k = f.kind
    if k == "audio":
        if f.format == "s16":
            a = np.frombuffer(f.payload(), dtype="<i2").astype(np.float32) / 32768.0
        else:
            a = np.frombuffer(f.payload(), dtype="<f4").astype(np.float32)  # a writable copy
        return a.reshape(-1, f.channels).T, f.rate
    if k == "text":
        return f.text()
    if k == "json":
        return json.loads(f.text())
    if k == "binary":
        return f.payload()
    if k == "tensor":
        return np.frombuffer(f.payload(), dtype=_DTYPES[f.dtype]).reshape(f.shape).copy()
    return f  # control frames are passed as frames


class _Header(TypedDict):
    """The header fields an output frame takes from its input frame."""

    sid: str
    seq: int
    ts: int
    meta: dict[str, Any]


def _json_default(o: Any) -> Any:
    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"{type(o).__name__} is not JSON serializable")


def _is_rate(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_audio(v: Any) -> bool:
    return isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], np.ndarray) and _is_rate(v[1])


ACCEPTED_OUTPUTS = ("(ndarray, sample_rate)", "(ndarray, sample_rate, dict)", "(value, dict)", "str", "bytes",
                    "dict", "list", "int", "float", "bool", "ndarray", "remotemedia.Frame", "None")


def _shape_of(v: Any) -> str:
    """A short description of a value's shape for error messages: "tuple(ndarray, str)"."""
    if isinstance(v, tuple):
        return f"tuple({', '.join(type(x).__name__ for x in v[:4])}{', ...' if len(v) > 4 else ''})"
    return type(v).__name__


def data_to_frame(v: Any, src: Frame) -> Frame | None:
    """The frame for a node's output v; header (sid, seq, ts, meta) comes from the input frame src.

    (ndarray, rate) -> f32 audio ((channels, samples), 1-D = mono); (ndarray, rate, dict) -> that audio with
    the dict merged into meta (RemoteMedia's documented return shape); (value, dict) -> value with the dict
    merged into meta; str -> text; dict/list/number/bool -> json; bytes -> binary; ndarray -> tensor;
    a Frame passes as is; None -> no frame. Anything else is a TypeError listing the accepted shapes.
    """
    if v is None or isinstance(v, Frame):
        return v
    meta = dict(src.meta)
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[1], dict) and not _is_audio(v):
        v, extra = v
        meta.update(extra)
        if isinstance(v, Frame):
            v.meta = {**v.meta, **extra}
            return v
    if (isinstance(v, tuple) and len(v) == 3 and isinstance(v[0], np.ndarray) and _is_rate(v[1])
            and (v[2] is None or isinstance(v[2], dict))):
        meta.update(v[2] or {})
        v = v[:2]
    h = _Header(sid=src.sid, seq=src.seq, ts=src.ts, meta=meta)
    if _is_audio(v):
        a, rate = v
        a = np.asarray(a, dtype=np.float32)
        if a.ndim == 1:
            a = a[None, :]
        if a.ndim != 2:
            raise TypeError(f"audio output must be (channels, samples), got shape {a.shape}")
        return Frame(kind="audio", format="f32", rate=int(rate), channels=a.shape[0],
                     data=np.ascontiguousarray(a.T, dtype="<f4").tobytes(), **h)
    if isinstance(v, str):
        return Frame(kind="text", data=v, **h)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return Frame(kind="binary", data=bytes(v), **h)
    if isinstance(v, np.ndarray):
        name = _DTYPE_NAMES.get(v.dtype.newbyteorder("="))
        if name is None:
            raise TypeError(f"tensor output dtype {v.dtype} is not one of {sorted(_DTYPES)}")
        return Frame(kind="tensor", dtype=name, shape=list(v.shape),
                     data=np.ascontiguousarray(v, dtype=_DTYPES[name]).tobytes(), **h)
    if isinstance(v, (dict, list, int, float, bool, np.generic)):
        return Frame(kind="json", data=json.dumps(v, default=_json_default, separators=(",", ":")), **h)
    raise TypeError(f"cannot convert node output of type {_shape_of(v)} to a frame; a node returns one of: "
                    f"{', '.join(ACCEPTED_OUTPUTS)}")
