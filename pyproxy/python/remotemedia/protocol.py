"""The worker pipe protocol's messages, typed (docs/worker-protocol.md; vectors in testdata/worker).

Every message, both ways, is a 4-byte big-endian length, then one msgpack map whose keys are in the order the
classes below list them. parse_request turns a decoded request into its typed form or raises ProtocolError.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict, Union

PROTOCOL_VERSION = 1
MAX_MESSAGE = 1 << 30  # bytes of one message body


class ProtocolError(ValueError):
    """A request that does not follow the worker protocol."""


# proxy -> worker


class OpenRequest(TypedDict):
    """Create a node instance of node_type with params for session; answered by done or error."""

    op: Literal["open"]
    id: int
    session: str
    node_type: str
    params: dict[str, Any]


class FrameRequest(TypedDict):
    """Process one frame (wire-format bytes); answered by outputs, then done or error."""

    op: Literal["frame"]
    id: int
    session: str
    frame: bytes


class SessionRequest(TypedDict):
    """flush (the node's flush, or a streaming node's end of input) or close (drop the instance)."""

    op: Literal["flush", "close"]
    id: int
    session: str


class PingRequest(TypedDict):
    """Answered by pong."""

    op: Literal["ping"]
    id: int


Request = Union[OpenRequest, FrameRequest, SessionRequest, PingRequest]
SessionOp = Union[OpenRequest, FrameRequest, SessionRequest]


# worker -> proxy


class ParamSpec(TypedDict):
    """One constructor parameter of a node type, in the ready message."""

    name: str
    type: str  # boolean, integer, number, string or object
    default: Any
    doc: str
    required: bool
    operator: bool


class NodeSpec(TypedDict):
    """One registered node type, in the ready message."""

    node_type: str
    doc: str
    is_streaming: bool
    params: list[ParamSpec]
    unavailable: str  # why it cannot run here; "" when it can


class ReadyMessage(TypedDict):
    """The worker's first message, once its node modules are loaded."""

    op: Literal["ready"]
    version: int
    pid: int
    nodes: list[NodeSpec]


class OutputMessage(TypedDict):
    """One output frame of request id."""

    op: Literal["output"]
    id: int
    session: str
    frame: bytes


class DoneMessage(TypedDict):
    """Request id succeeded."""

    op: Literal["done"]
    id: int
    session: str


class _ErrorFields(TypedDict):
    op: Literal["error"]
    id: int
    session: str
    error: str  # "ExceptionType: message": what a client may see
    type: str  # the exception's type name


class ErrorMessage(_ErrorFields, total=False):
    """Request id failed. traceback is for the proxy's log, never for a client; fatal: the worker exits next."""

    traceback: str
    fatal: bool


class PongMessage(TypedDict):
    """The answer to ping id."""

    op: Literal["pong"]
    id: int


Message = Union[ReadyMessage, OutputMessage, DoneMessage, ErrorMessage, PongMessage]

_SESSION_OPS = ("open", "frame", "flush", "close")


def request_id(msg: object) -> int:
    """The id of a decoded request, 0 when it has none (a protocol error is then answered with id 0)."""
    rid = msg.get("id") if isinstance(msg, dict) else None
    return rid if isinstance(rid, int) and not isinstance(rid, bool) and rid >= 0 else 0


def request_session(msg: object) -> str | None:
    """The session of a decoded request, None when it has none."""
    sid = msg.get("session") if isinstance(msg, dict) else None
    return sid if isinstance(sid, str) else None


def parse_request(msg: object) -> Request:
    """The typed form of a decoded request; ProtocolError names what is missing or wrong."""
    if not isinstance(msg, dict):
        raise ProtocolError(f"message is a {type(msg).__name__}, want a map")
    rid = msg.get("id")
    if not isinstance(rid, int) or isinstance(rid, bool) or rid < 0:
        raise ProtocolError('missing or invalid field "id"')
    op = msg.get("op")
    if op == "ping":
        return PingRequest(op="ping", id=rid)
    if op not in _SESSION_OPS:
        raise ProtocolError(f"unknown op {op!r}")
    sid = msg.get("session")
    if not isinstance(sid, str):
        raise ProtocolError(f'{op}: missing or invalid field "session"')
    if op == "open":
        node_type, params = msg.get("node_type"), msg.get("params") or {}
        if not isinstance(node_type, str):
            raise ProtocolError('open: missing or invalid field "node_type"')
        if not isinstance(params, dict):
            raise ProtocolError('open: field "params" must be a map')
        return OpenRequest(op="open", id=rid, session=sid, node_type=node_type, params=params)
    if op == "frame":
        raw = msg.get("frame")
        if not isinstance(raw, (bytes, str)):
            raise ProtocolError('frame: missing or invalid field "frame"')
        return FrameRequest(op="frame", id=rid, session=sid, frame=raw.encode() if isinstance(raw, str) else raw)
    return SessionRequest(op="flush" if op == "flush" else "close", id=rid, session=sid)
