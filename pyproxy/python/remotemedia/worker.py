"""``python -m remotemedia.worker``: the pipe worker started by the Go proxy (worker protocol v1).

Every message, both ways, is a 4-byte big-endian length then one msgpack map. stdout carries protocol messages
only: the real stdout is kept for them and fd 1 / sys.stdout are pointed at stderr, so a print() in node code
or a native library writing to fd 1 cannot corrupt the stream.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import inspect
import logging
import os
import stat
import sys
import threading
import traceback
import types
from collections import deque
from typing import Any, NoReturn

import msgpack

from . import registry, wire
from .node import data_to_frame, frame_to_data
from .protocol import (MAX_MESSAGE, PROTOCOL_VERSION, ErrorMessage, FrameRequest, Message, OpenRequest,
                       OutputMessage, ProtocolError, SessionOp, parse_request, request_id, request_session)

__all__ = ["MAX_MESSAGE", "PROTOCOL_VERSION", "ProtocolError", "Worker", "main"]

log = logging.getLogger("remotemedia.worker")

_END = object()  # ends a streaming node's input iterator


EXIT_MEMORY = 3  # the worker's exit status after a node call hit the memory limit


def _error_text(e: BaseException) -> str:
    """What the client sees of an exception: "ExceptionType: message", never the traceback (it names server
    paths); the traceback goes to the log and to the error message's own "traceback" field."""
    msg = str(e)
    return f"{type(e).__name__}: {msg}" if msg else type(e).__name__


def _traceback_text(e: BaseException) -> str:
    """The formatted traceback of e, for the log (and the error message's "traceback" field)."""
    return "".join(traceback.format_exception(type(e), e, e.__traceback__)).rstrip()


def set_memory_limit(limit: int) -> int:
    """Limit the worker's data memory (heap and anonymous mmap, where numpy puts large arrays) to limit bytes
    with RLIMIT_DATA and return the limit in force (a lower hard limit already set wins); 0 leaves it unlimited.
    Address space merely reserved (allocator arenas, PROT_NONE guard regions) does not count, as it would with
    RLIMIT_AS."""
    if limit <= 0:
        return 0
    import resource

    _, hard = resource.getrlimit(resource.RLIMIT_DATA)
    if hard != resource.RLIM_INFINITY and hard < limit:
        limit = hard
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))
    return limit


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

    def __init__(self, out_fd: int, memory_limit: int = 0) -> None:
        self._fd = out_fd
        self.memory_limit = memory_limit  # bytes; > 0: a MemoryError ends the worker (EXIT_MEMORY)
        self._packer = msgpack.Packer(use_bin_type=True)
        self.frame_packer = wire.new_packer()
        self._lock = threading.Lock()
        self.sessions: dict[str, Session] = {}

    def send(self, *msgs: Message) -> None:
        """Write whole messages with one write call (an output and its "done" travel together)."""
        with self._lock:
            pack = self._packer.pack
            parts: list[bytes] = []
            for msg in msgs:
                body = pack(msg)
                parts += (len(body).to_bytes(4, "big"), body)
            data = b"".join(parts)
            n = os.write(self._fd, data)
            if n < len(data):  # a signal cut the write short
                view = memoryview(data)[n:]
                while view:
                    view = view[os.write(self._fd, view):]

    def send_error(self, rid: int, session: str | None, e: BaseException) -> None:
        """Answer request rid with e: "ExceptionType: message" for the client, the traceback in its own field
        (the proxy logs it). A MemoryError under a memory limit ends the worker (exit_for_memory)."""
        if isinstance(e, MemoryError) and self.memory_limit > 0:
            self.exit_for_memory(rid, session, e)
        msg: ErrorMessage = {"op": "error", "id": rid, "session": session or "", "error": _error_text(e),
                             "type": type(e).__name__}
        if e.__traceback__ is not None and not isinstance(e, ProtocolError):
            msg["traceback"] = _traceback_text(e)
        self.send(msg)

    def exit_for_memory(self, rid: int, session: str | None, e: MemoryError) -> NoReturn:
        """A node call reached the memory limit: answer it with a fatal error and exit with EXIT_MEMORY, so
        the proxy replaces this worker (its memory may be fragmented or held by a node's state)."""
        try:
            tb = _traceback_text(e)
        except MemoryError:
            tb = ""
        e.__traceback__ = None  # frees the frames (and what they allocated) before anything else is built
        del e
        gc.collect()
        mib = self.memory_limit // (1 << 20)
        try:
            log.error("session %s: worker memory limit of %d MiB reached; exiting with status %d\n%s",
                      session or "-", mib, EXIT_MEMORY, tb)
            self.send({"op": "error", "id": rid, "session": session or "", "type": "MemoryError", "fatal": True,
                       "error": f"MemoryError: worker memory limit of {mib} MiB reached", "traceback": tb})
        finally:
            sys.stderr.flush()
            os._exit(EXIT_MEMORY)

    def ready(self) -> None:
        nodes = [registry.describe(name, cls) for name, cls in sorted(registry.registered_nodes().items())]
        self.send({"op": "ready", "version": PROTOCOL_VERSION, "pid": os.getpid(), "nodes": nodes})

    def dispatch(self, body: bytes) -> None:
        """Handle one request message; never raises."""
        rid, sid = 0, None
        try:
            try:
                decoded = msgpack.unpackb(body, raw=False)
            except Exception as e:  # noqa: BLE001 - any garbage is a protocol error
                raise ProtocolError(f"malformed message ({len(body)} bytes): {e}") from None
            rid, sid = request_id(decoded), request_session(decoded)
            msg = parse_request(decoded)
            if msg["op"] == "ping":
                self.send({"op": "pong", "id": rid})
                return
            sess = self.sessions.get(msg["session"])
            if msg["op"] == "open":
                if sess is not None:
                    raise ProtocolError(f"open: session {msg['session']!r} is already open")
                sess = self.sessions[msg["session"]] = Session(self, msg["session"])
            elif sess is None:
                raise ProtocolError(f"{msg['op']}: unknown session {msg['session']!r} (not open)")
            sess.queue.put_nowait(msg)
        except Exception as e:  # noqa: BLE001 - the worker must survive any request
            self.send_error(rid, sid, e)

    async def run(self, fd: int = 0) -> None:
        """Serve the requests read from fd until it ends, then shut the sessions down."""
        loop = asyncio.get_running_loop()
        eof = loop.create_future()
        reader = _Reader(self.dispatch, lambda e: self.send_error(0, None, e))

        def ended() -> None:
            reader.eof()
            if not eof.done():
                eof.set_result(None)

        polled = _serve_pollable(loop, fd, reader, ended)
        if not polled:  # a regular file: read it in a thread
            def pump() -> None:
                with open(fd, "rb", buffering=0, closefd=False) as f:
                    while chunk := f.read(1 << 16):
                        loop.call_soon_threadsafe(reader.feed, chunk)
                loop.call_soon_threadsafe(ended)

            threading.Thread(target=pump, daemon=True).start()
        try:
            await eof
        finally:
            if polled:  # a terminal shared with the shell must not stay non-blocking
                loop.remove_reader(fd)
                os.set_blocking(fd, True)
        await self.shutdown()

    async def shutdown(self, grace_s: float = 10.0) -> None:
        """At EOF: let each session finish its queued requests and clean up; abort what is still busy."""
        sessions = list(self.sessions.values())
        for sess in sessions:
            sess.queue.put_nowait(None)
        if sessions:
            await asyncio.wait([s.task for s in sessions], timeout=grace_s)
        for sess in sessions:
            if not sess.task.done():
                await sess.abort()
        self.sessions.clear()


class _Inbox:
    """A session's request queue: a deque and at most one waiting task (lighter than asyncio.Queue); None is the
    end of input (queued to every session when stdin ends)."""

    __slots__ = ("_items", "_waiter", "_loop")

    def __init__(self) -> None:
        self._items: deque[SessionOp | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._loop = asyncio.get_running_loop()

    def put_nowait(self, item: SessionOp | None) -> None:
        self._items.append(item)
        w = self._waiter
        if w is not None:
            self._waiter = None
            if not w.done():
                w.set_result(None)

    async def get(self) -> SessionOp | None:
        while not self._items:
            w = self._waiter = self._loop.create_future()
            try:
                await w
            finally:
                if self._waiter is w:
                    self._waiter = None
        return self._items.popleft()

    def get_nowait(self) -> SessionOp | None:
        return self._items.popleft()

    def empty(self) -> bool:
        return not self._items


class Session:
    """One node instance; handles its requests in order."""

    def __init__(self, worker: Worker, sid: str) -> None:
        self.w = worker
        self.sid = sid
        self.queue = _Inbox()
        self.node: Any = None
        self._process: Any = None  # the node's process as last looked up, and whether it is async
        self._process_async = False
        self.streaming = False
        self.wants_frames = False
        self.inq: asyncio.Queue[Any] | None = None
        self.pump_task: asyncio.Task[None] | None = None
        self.pump_error: BaseException | None = None
        self.last_id = 0
        # the header source of outputs that no input frame produced (flush, a streaming node's last outputs)
        self.last_frame = wire.Frame(kind="text", sid=sid)
        self.held: list[OutputMessage] | None = None  # outputs held to go out with the request's reply
        self.task = asyncio.get_running_loop().create_task(self.run())

    async def run(self) -> None:
        while True:
            msg = await self.queue.get()
            if msg is None:
                if self.node is not None:
                    await self.close_quietly()
                return
            op, rid = msg["op"], msg["id"]
            end = op == "close"
            self.held = []
            try:
                if msg["op"] == "open":
                    await self.open(msg)
                elif msg["op"] == "frame":
                    await self.frame(rid, msg)
                elif msg["op"] == "flush":
                    await self.flush(rid)
                else:
                    await self.close()
                held, self.held = self.held or [], None
                self.w.send(*held, {"op": "done", "id": rid, "session": self.sid})
            except Exception as e:  # noqa: BLE001 - node errors end the request, not the worker
                held, self.held = self.held or [], None
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
                    if late is not None:
                        self.w.send_error(late["id"], self.sid,
                                          ProtocolError(f"session {self.sid!r} is closed"))
                return

    async def open(self, msg: OpenRequest) -> None:
        node_type, params = msg["node_type"], msg["params"]
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
        msg: OutputMessage = {"op": "output", "id": rid, "session": self.sid, "frame": b}
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
        await self.emit_value(rid, result, src, raw)

    async def emit_value(self, rid: int, result: Any, src: wire.Frame, raw: bytes | None = None) -> None:
        """emit for a result that was already awaited."""
        if result is None or type(result) is wire.Frame:  # the common cases, without the inspect calls
            self.output(rid, result, src, raw)
        elif inspect.isasyncgen(result):
            async for v in result:
                self.output(rid, v, src)
        elif inspect.isgenerator(result):
            for v in await asyncio.to_thread(list, result):
                self.output(rid, v, src)
        else:
            self.output(rid, result, src, raw)

    async def frame(self, rid: int, msg: FrameRequest) -> None:
        raw = msg["frame"]
        f = wire.decode(raw)
        if f.kind == "control":  # control frames pass through in order
            self.output(rid, f, f, raw)
            return
        data = f if self.wants_frames else frame_to_data(f)
        self.last_id, self.last_frame = rid, f
        if self.streaming:
            self.raise_pump_error()
            inq = self.inq
            if inq is None or self.pump_task is None or self.pump_task.done():  # first frame, or it returned
                inq = self.inq = asyncio.Queue()
                self.pump_task = asyncio.get_running_loop().create_task(self.pump(inq))
            inq.put_nowait(data)
            return
        process = self.node.process
        if process != self._process:  # looked up once per session, unless the node swaps its process
            self._process = process
            self._process_async = inspect.iscoroutinefunction(process) or inspect.isasyncgenfunction(process)
        if not self._process_async:  # the contract: sync nodes run in a worker thread
            await self.emit(rid, await asyncio.to_thread(process, data), f, raw)
            return
        result = process(data)
        if type(result) is types.CoroutineType:
            await self.emit_value(rid, await result, f, raw)
        else:
            await self.emit(rid, result, f, raw)

    async def pump(self, inq: asyncio.Queue[Any]) -> None:
        """Run a streaming node's generator over the inputs queued by frame requests."""

        async def inputs() -> Any:
            while (item := await inq.get()) is not _END:
                yield item

        try:
            async for v in self.node.process(inputs()):
                self.output(self.last_id, v, self.last_frame)
        except Exception as e:  # noqa: BLE001 - reported on the session's next request
            if isinstance(e, MemoryError) and self.w.memory_limit > 0:
                self.w.exit_for_memory(self.last_id, self.sid, e)
            self.pump_error = e
            log.error("session %s: streaming node failed: %s", self.sid, _traceback_text(e))

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
            await self.emit(rid, await _call(flush), self.last_frame)

    async def close(self) -> None:
        try:
            await self.end_stream(self.last_id)
        finally:
            await _call(self.node.cleanup)

    async def close_quietly(self) -> None:
        try:
            await self.close()
        except Exception as e:  # noqa: BLE001 - nobody is waiting for this reply
            log.error("session %s: close: %s", self.sid, _traceback_text(e))

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


class _Reader:
    """Splits the request stream (4-byte big-endian length, then the body) into messages and hands each one to
    dispatch as soon as it is complete, from the read callback itself: no StreamReader, no reader task and no
    copy of a message that arrived whole in one read."""

    def __init__(self, dispatch: Any, error: Any) -> None:
        self._dispatch = dispatch
        self._error = error  # reports a protocol error (no request id)
        self._buf = bytearray()  # the start of a message whose end has not arrived yet
        self.want = 4  # bytes that _buf must hold for its message to be complete
        self._skip = 0  # bytes of an oversized message still to discard

    def feed(self, data: bytes) -> None:
        if self._skip:
            if len(data) <= self._skip:
                self._skip -= len(data)
                return
            data, self._skip = data[self._skip:], 0
        if self._buf:
            self._buf += data
            if len(self._buf) < self.want:
                return
            data, self._buf = bytes(self._buf), bytearray()
        mv = memoryview(data)
        pos, end = 0, len(data)
        while end - pos >= 4:
            n = int.from_bytes(mv[pos:pos + 4], "big")
            if n > MAX_MESSAGE:
                self._error(ProtocolError(f"message of {n} bytes exceeds {MAX_MESSAGE}"))
                pos += 4
                k = min(n, end - pos)
                pos += k
                self._skip = n - k
                continue
            if end - pos - 4 < n:
                break
            pos += 4
            self._dispatch(mv[pos:pos + n])
            pos += n
        if pos < end:
            self._buf = bytearray(mv[pos:])
            self.want = 4 + int.from_bytes(self._buf[:4], "big") if len(self._buf) >= 4 else 4
        else:
            self.want = 4

    def eof(self) -> None:
        """The input ended: a message cut short is a protocol error."""
        buf, self._buf = self._buf, bytearray()
        if len(buf) >= 4:
            self._error(ProtocolError(f"input ended inside a message ({len(buf) - 4}/{self.want - 4})"))


def _serve_pollable(loop: asyncio.AbstractEventLoop, fd: int, reader: _Reader, ended: Any) -> bool:
    """Feed reader from fd in an event loop read callback; False if fd cannot be polled (a regular file)."""
    mode = os.fstat(fd).st_mode
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or stat.S_ISCHR(mode)):
        return False
    os.set_blocking(fd, False)

    def readable() -> None:
        try:  # a large message is read in as few calls as possible; 64 KiB stays off mmap
            data = os.read(fd, min(max(reader.want, 1 << 16), 1 << 24))
        except (BlockingIOError, InterruptedError):
            return
        except OSError as e:
            log.error("reading requests: %s", e)
            data = b""
        if data:
            reader.feed(data)
        else:
            loop.remove_reader(fd)
            ended()

    try:
        loop.add_reader(fd, readable)
    except PermissionError:  # e.g. /dev/null: epoll refuses it
        os.set_blocking(fd, True)
        return False
    return True


def load_nodes(modules: list[str], module_names: list[str]) -> None:
    """Register the built-in nodes, the entry-point plugins and the user modules."""
    from . import nodes  # noqa: F401 - registers the built-in node types

    registry.load_entry_points()
    for path in modules:
        log.info("--module %s: %s", path, registry.load_module_path(path))
    for name in module_names:
        log.info("--module-name %s: %s", name, registry.load_module_name(name))


async def _amain(out_fd: int, memory_limit: int = 0) -> None:
    w = Worker(out_fd, memory_limit)
    w.ready()
    await w.run(0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m remotemedia.worker", description=__doc__.split("\n")[0])
    ap.add_argument("--module", action="append", default=[], metavar="PATH",
                    help="a Python file whose nodes to register (repeatable)")
    ap.add_argument("--module-name", action="append", default=[], metavar="PKG.MOD",
                    help="an importable module whose nodes to register (repeatable)")
    ap.add_argument("--log-level", default=os.environ.get("REMOTEMEDIA_LOG_LEVEL", "INFO"))
    ap.add_argument("--memory-limit", type=_byte_count, default=0, metavar="BYTES",
                    help="limit the worker's data memory (RLIMIT_DATA) to BYTES; a node call that reaches it "
                         f"fails with a fatal MemoryError and the worker exits with status {EXIT_MEMORY} "
                         "(0 = no limit)")
    args = ap.parse_args(argv)

    out_fd = os.dup(1)  # the protocol stream; fd 1 and sys.stdout now go to stderr
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    logging.basicConfig(stream=sys.stderr, level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        args.memory_limit = set_memory_limit(args.memory_limit)
    except ImportError:  # no resource module (Windows): run, and say so
        log.warning("--memory-limit %d: this platform cannot limit a process's memory; running without a limit",
                    args.memory_limit)
        args.memory_limit = 0
    except (OSError, ValueError) as e:  # the kernel refused
        log.error("--memory-limit %d: cannot set the memory limit: %s", args.memory_limit, _error_text(e))
        return 2
    try:
        load_nodes(args.module, args.module_name)
    except Exception as e:  # noqa: BLE001 - a bad --module is fatal, before "ready"
        log.error("cannot load nodes: %s", _traceback_text(e))
        return 2
    _run(_amain(out_fd, args.memory_limit))
    return 0


def _byte_count(s: str) -> int:
    """--memory-limit's value: a whole number of bytes, at least 0."""
    try:
        n = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{s!r} is not a whole number of bytes") from None
    if n < 0:
        raise argparse.ArgumentTypeError(f"{s!r} is negative (0 means no limit)")
    return n


def _run(main: Any) -> None:
    """Run the worker on uvloop when it is installed (cheaper event loop turns: each request takes two), unless
    REMOTEMEDIA_UVLOOP=0; on asyncio's own loop otherwise."""
    if os.environ.get("REMOTEMEDIA_UVLOOP", "1") != "0":
        try:
            import uvloop
        except ImportError:
            pass
        else:
            uvloop.run(main)
            return
    asyncio.run(main)


if __name__ == "__main__":
    sys.exit(main())
