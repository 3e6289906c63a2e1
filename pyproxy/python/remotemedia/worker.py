"""``python -m remotemedia.worker``: the pipe worker started by the Go proxy (worker protocol v1).

Every message, both ways, is a 4-byte big-endian length then one msgpack map. stdout carries protocol messages
only: the real stdout is kept for them and fd 1 / sys.stdout are pointed at stderr, so a print() in node code
or a native library writing to fd 1 cannot corrupt the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import logging
import os
import struct
import sys
import threading
import traceback
from typing import Any

import msgpack

from . import registry, wire
from .node import data_to_frame, frame_to_data

PROTOCOL_VERSION = 1
MAX_MESSAGE = 1 << 30

log = logging.getLogger("remotemedia.worker")


class ProtocolError(ValueError):
    """A request that does not follow the worker protocol."""


_END = object()  # ends a streaming node's input iterator
_EOF = {"op": "eof", "id": 0}  # queued to every session when stdin ends


def _error_text(e: BaseException) -> str:
    tb = traceback.format_exception(type(e), e, e.__traceback__, limit=-4)
    return f"{type(e).__name__}: {e}\n" + "".join(tb[1:-1]).rstrip()


async def _call(fn: Any, *args: Any) -> Any:
    """Call a sync (in a worker thread) or async hook and return its result."""
    if inspect.iscoroutinefunction(fn) or inspect.isasyncgenfunction(fn):
        r = fn(*args)
    else:
        r = await asyncio.to_thread(fn, *args)
    if inspect.isawaitable(r):
        r = await r
    return r


class Worker:
    """Reads requests, runs one asyncio task per session, writes responses (one lock, whole messages)."""

    def __init__(self, out_fd: int) -> None:
        self._fd = out_fd
        self._packer = msgpack.Packer(use_bin_type=True)
        self.frame_packer = wire.new_packer()
        self._lock = threading.Lock()
        self.sessions: dict[str, Session] = {}

    def send(self, *msgs: dict[str, Any]) -> None:
        """Write whole messages with one write call (an output and its "done" travel together)."""
        with self._lock:
            parts = []
            for msg in msgs:
                body = self._packer.pack(msg)
                parts += (struct.pack(">I", len(body)), body)
            view = memoryview(b"".join(parts))
            while view:
                view = view[os.write(self._fd, view):]

    def send_error(self, rid: int, session: str | None, e: BaseException) -> None:
        msg = {"op": "error", "id": rid, "session": session or "", "error": _error_text(e),
               "type": type(e).__name__}
        self.send(msg)

    def ready(self) -> None:
        nodes = [registry.describe(name, cls) for name, cls in sorted(registry.registered_nodes().items())]
        self.send({"op": "ready", "version": PROTOCOL_VERSION, "pid": os.getpid(), "nodes": nodes})

    def dispatch(self, body: bytes) -> None:
        """Handle one request message; never raises."""
        rid, sid = 0, None
        try:
            try:
                msg = msgpack.unpackb(body, raw=False)
            except Exception as e:  # noqa: BLE001 - any garbage is a protocol error
                raise ProtocolError(f"malformed message ({len(body)} bytes): {e}") from None
            if not isinstance(msg, dict):
                raise ProtocolError(f"message is a {type(msg).__name__}, want a map")
            rid = msg.get("id")
            if not isinstance(rid, int) or isinstance(rid, bool) or rid < 0:
                rid = 0
                raise ProtocolError('missing or invalid field "id"')
            op = msg.get("op")
            if op == "ping":
                self.send({"op": "pong", "id": rid})
                return
            if op not in ("open", "frame", "flush", "close"):
                raise ProtocolError(f"unknown op {op!r}")
            sid = msg.get("session")
            if not isinstance(sid, str):
                sid = None
                raise ProtocolError(f'{op}: missing or invalid field "session"')
            sess = self.sessions.get(sid)
            if op == "open":
                if sess is not None:
                    raise ProtocolError(f"open: session {sid!r} is already open")
                sess = self.sessions[sid] = Session(self, sid)
            elif sess is None:
                raise ProtocolError(f"{op}: unknown session {sid!r} (not open)")
            sess.queue.put_nowait(msg)
        except Exception as e:  # noqa: BLE001 - the worker must survive any request
            self.send_error(rid, sid, e)

    async def run(self, reader: asyncio.StreamReader) -> None:
        while True:
            try:
                header = await reader.readexactly(4)
            except asyncio.IncompleteReadError:
                break
            n = int.from_bytes(header, "big")
            if n > MAX_MESSAGE:
                self.send_error(0, None, ProtocolError(f"message of {n} bytes exceeds {MAX_MESSAGE}"))
                while n > 0:
                    chunk = await reader.read(min(n, 1 << 20))
                    if not chunk:
                        break
                    n -= len(chunk)
                continue
            try:
                body = await reader.readexactly(n)
            except asyncio.IncompleteReadError as e:
                self.send_error(0, None, ProtocolError(f"input ended inside a message ({len(e.partial)}/{n})"))
                break
            self.dispatch(body)
        await self.shutdown()

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """At EOF: let each session finish its queued requests and clean up; abort what is still busy."""
        sessions = list(self.sessions.values())
        for sess in sessions:
            sess.queue.put_nowait(_EOF)
        if sessions:
            await asyncio.wait([s.task for s in sessions], timeout=grace_s)
        for sess in sessions:
            if not sess.task.done():
                await sess.abort()
        self.sessions.clear()


class Session:
    """One node instance; handles its requests in order."""

    def __init__(self, worker: Worker, sid: str) -> None:
        self.w = worker
        self.sid = sid
        self.queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.node: Any = None
        self.streaming = False
        self.wants_frames = False
        self.inq: asyncio.Queue[Any] | None = None
        self.pump_task: asyncio.Task[None] | None = None
        self.pump_error: BaseException | None = None
        self.last_id = 0
        self.last_frame: wire.Frame | None = None
        self.held: list[dict[str, Any]] | None = None  # outputs held to go out with the request's reply
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while True:
            msg = await self.queue.get()
            if msg is _EOF:
                if self.node is not None:
                    await self.close_quietly()
                return
            op, rid = msg["op"], msg["id"]
            end = op == "close"
            self.held = []
            try:
                if op == "open":
                    await self.open(msg)
                elif op == "frame":
                    await self.frame(rid, msg)
                elif op == "flush":
                    await self.flush(rid)
                else:
                    await self.close()
                held, self.held = self.held, None
                self.w.send(*held, {"op": "done", "id": rid, "session": self.sid})
            except Exception as e:  # noqa: BLE001 - node errors end the request, not the worker
                held, self.held = self.held, None
                if held:
                    self.w.send(*held)
                self.w.send_error(rid, self.sid, e)
                end = end or op == "open"
                if op == "open" and self.node is not None:
                    await self.close_quietly()
            if end:
                self.w.sessions.pop(self.sid, None)
                while not self.queue.empty():
                    late = self.queue.get_nowait()
                    if late is not _EOF:
                        self.w.send_error(late["id"], self.sid,
                                          ProtocolError(f"session {self.sid!r} is closed"))
                return

    async def open(self, msg: dict[str, Any]) -> None:
        node_type, params = msg.get("node_type"), msg.get("params") or {}
        if not isinstance(node_type, str):
            raise ProtocolError('open: missing or invalid field "node_type"')
        if not isinstance(params, dict):
            raise ProtocolError('open: field "params" must be a map')
        cls = registry.get_node_class(node_type)
        self.node = cls(**params)
        await _call(self.node.initialize)
        self.streaming = bool(getattr(self.node, "is_streaming", False))
        self.wants_frames = bool(getattr(self.node, "wants_frames", False))
        if self.streaming and not inspect.isasyncgenfunction(self.node.process):
            raise TypeError(f"{node_type}: a streaming node's process must be an async generator")

    def output(self, rid: int, value: Any, src: wire.Frame, raw: bytes | None = None) -> None:
        """Send one node output; the input frame's own bytes are reused when the node returns it as is."""
        f = data_to_frame(value, src)
        if f is None:
            return
        b = raw if (f is src and raw is not None) else wire.encode(f, self.w.frame_packer)
        msg = {"op": "output", "id": rid, "session": self.sid, "frame": b}
        if self.held is None:
            self.w.send(msg)
            return
        self.held.append(msg)
        if len(self.held) >= 64:
            self.w.send(*self.held)
            self.held.clear()

    async def emit(self, rid: int, result: Any, src: wire.Frame, raw: bytes | None = None) -> None:
        """Send what a node hook produced: a value, an awaitable, an async or sync generator."""
        if inspect.isawaitable(result):
            result = await result
        if inspect.isasyncgen(result):
            async for v in result:
                self.output(rid, v, src)
        elif inspect.isgenerator(result):
            for v in await asyncio.to_thread(list, result):
                self.output(rid, v, src)
        else:
            self.output(rid, result, src, raw)

    async def frame(self, rid: int, msg: dict[str, Any]) -> None:
        raw = msg.get("frame")
        if not isinstance(raw, (bytes, str)):
            raise ProtocolError('frame: missing or invalid field "frame"')
        raw = raw.encode() if isinstance(raw, str) else raw
        f = wire.decode(raw)
        if f.kind == "control":  # control frames pass through in order
            self.output(rid, f, f, raw)
            return
        data = f if self.wants_frames else frame_to_data(f)
        self.last_id, self.last_frame = rid, f
        if self.streaming:
            self.raise_pump_error()
            if self.pump_task is None or self.pump_task.done():  # first frame, or the generator returned
                self.inq = asyncio.Queue()
                self.pump_task = asyncio.get_running_loop().create_task(self.pump(self.inq))
            self.inq.put_nowait(data)
            return
        process = self.node.process
        if inspect.iscoroutinefunction(process) or inspect.isasyncgenfunction(process):
            await self.emit(rid, process(data), f, raw)
        else:
            await self.emit(rid, await asyncio.to_thread(process, data), f, raw)

    async def pump(self, inq: asyncio.Queue[Any]) -> None:
        """Run a streaming node's generator over the inputs queued by frame requests."""

        async def inputs() -> Any:
            while (item := await inq.get()) is not _END:
                yield item

        try:
            async for v in self.node.process(inputs()):
                self.output(self.last_id, v, self.last_frame)
        except Exception as e:  # noqa: BLE001 - reported on the session's next request
            self.pump_error = e
            log.error("session %s: streaming node failed: %s", self.sid, _error_text(e))

    def raise_pump_error(self) -> None:
        if self.pump_error is not None:
            e, self.pump_error, self.pump_task = self.pump_error, None, None
            raise e

    async def end_stream(self, rid: int) -> None:
        if self.pump_task is not None and self.inq is not None:
            self.last_id = rid
            self.inq.put_nowait(_END)
            await self.pump_task
            self.pump_task = None
        self.raise_pump_error()

    async def flush(self, rid: int) -> None:
        await self.end_stream(rid)
        flush = getattr(self.node, "flush", None)
        if callable(flush):
            src = self.last_frame or wire.Frame(kind="text", sid=self.sid)
            await self.emit(rid, await _call(flush), src)

    async def close(self) -> None:
        try:
            await self.end_stream(self.last_id)
        finally:
            await _call(self.node.cleanup)

    async def close_quietly(self) -> None:
        try:
            await self.close()
        except Exception as e:  # noqa: BLE001 - nobody is waiting for this reply
            log.error("session %s: close: %s", self.sid, _error_text(e))

    async def abort(self) -> None:
        """End the session at worker shutdown: stop its task, then clean the node up."""
        self.task.cancel()
        if self.pump_task is not None:
            self.pump_task.cancel()
        if self.node is not None:
            try:
                await _call(self.node.cleanup)
            except Exception as e:  # noqa: BLE001
                log.error("session %s: cleanup: %s", self.sid, e)


async def _stdin_reader() -> asyncio.StreamReader:
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=1 << 20)
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(0, "rb", 0))
    except ValueError:  # stdin is a regular file: read it in a thread
        def pump() -> None:
            with open(0, "rb", buffering=0, closefd=False) as f:
                while chunk := f.read(1 << 16):
                    loop.call_soon_threadsafe(reader.feed_data, chunk)
            loop.call_soon_threadsafe(reader.feed_eof)

        threading.Thread(target=pump, daemon=True).start()
    return reader


def load_nodes(modules: list[str], module_names: list[str]) -> None:
    """Register the built-in nodes, the entry-point plugins and the user modules."""
    from . import nodes  # noqa: F401 - registers the built-in node types

    registry.load_entry_points()
    for path in modules:
        log.info("--module %s: %s", path, registry.load_module_path(path))
    for name in module_names:
        log.info("--module-name %s: %s", name, registry.load_module_name(name))


async def _amain(out_fd: int) -> None:
    w = Worker(out_fd)
    reader = await _stdin_reader()
    w.ready()
    await w.run(reader)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m remotemedia.worker", description=__doc__.split("\n")[0])
    ap.add_argument("--module", action="append", default=[], metavar="PATH",
                    help="a Python file whose nodes to register (repeatable)")
    ap.add_argument("--module-name", action="append", default=[], metavar="PKG.MOD",
                    help="an importable module whose nodes to register (repeatable)")
    ap.add_argument("--log-level", default=os.environ.get("REMOTEMEDIA_LOG_LEVEL", "INFO"))
    args = ap.parse_args(argv)

    out_fd = os.dup(1)  # the protocol stream; fd 1 and sys.stdout now go to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        load_nodes(args.module, args.module_name)
    except Exception as e:  # noqa: BLE001 - a bad --module is fatal, before "ready"
        log.error("cannot load nodes: %s", _error_text(e))
        return 2
    asyncio.run(_amain(out_fd))
    return 0


if __name__ == "__main__":
    sys.exit(main())
