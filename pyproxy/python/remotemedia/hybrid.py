"""HybridPipeline: a RemoteMedia-style list of nodes run on the Go runtime (docs/migration.md).

``HybridPipeline([VoiceActivityDetector(), WhisperTranscriptionNode(), KokoroTTSNode()])`` builds a pipeline
definition from the list, starts ``remotemedia serve`` on a loopback port with a random token (or uses a server
given by URL) and streams over its live WebSocket API. Node types with a WebAssembly implementation run as
WebAssembly unless a node says ``runtime_hint="python"``; user-defined ``Node`` classes run in the server's Python
workers, rebuilt there from their constructor arguments.
"""

from __future__ import annotations

import asyncio
import atexit
import ctypes
import inspect
import itertools
import json
import logging
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import weakref
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Iterable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml

from . import wire
from .node import Node, data_to_frame, frame_to_data
from .registry import registered_nodes
from .wire import Frame

log = logging.getLogger("remotemedia.hybrid")

_ID_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_SERVING = re.compile(r"serving the demo on (http://\S+?)/? ")


class HybridError(RuntimeError):
    """The runtime refused the pipeline, a node failed, or the server could not be started or reached."""


class RuntimeNode:
    """A node the Go runtime runs, named by its node type and params: one of ours (``remotemedia nodes`` lists
    them) or a RemoteMedia name that resolves to one (docs/migration.md). It runs nothing in this process.

    ``RuntimeNode("resample", rate=16000)``; the RemoteMedia classes below are RuntimeNodes with their type set.
    """

    node_type: ClassVar[str] = ""

    def __init__(self, node_type: str | None = None, *, name: str | None = None, runtime_hint: str | None = None,
                 **params: Any) -> None:
        t = node_type or self.node_type
        if not t:
            raise TypeError("RuntimeNode needs a node_type")
        self.type = t
        self.name = name or (self.__class__.__name__ if self.node_type else t)
        self.runtime_hint = runtime_hint
        self.params = params

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.type!r}, name={self.name!r}, params={self.params!r})"


class WasmNode(RuntimeNode):
    """A WebAssembly node module by path: ``WasmNode("path/to/node.wasm", gain=2.0)``. The module declares its
    node type (docs/wasm-abi.md); ``node_type`` names it when it differs from the file's stem."""

    def __init__(self, path: str | os.PathLike[str], node_type: str | None = None, *, name: str | None = None,
                 **params: Any) -> None:
        p = Path(path).resolve()
        super().__init__(node_type or p.stem, name=name or p.stem, **params)
        self.path = p


# RemoteMedia's node classes that run on the Go runtime (WebAssembly, or our Python ports of its model nodes).
# VoiceActivityDetector, AudioTransform, PassThrough and UltravoxNode are the Node classes of remotemedia.nodes.
class AudioBuffer(RuntimeNode):
    """RemoteMedia's AudioBuffer: runs as our ``chunker``."""

    node_type = "AudioBuffer"


class AudioResampler(RuntimeNode):
    """RemoteMedia's AudioResampler: runs as our ``resample`` (WebAssembly)."""

    node_type = "AudioResampler"


class FastResampleNode(RuntimeNode):
    """RemoteMedia's FastResampleNode: runs as our ``resample`` (WebAssembly)."""

    node_type = "FastResampleNode"


class AudioChunkerNode(RuntimeNode):
    """RemoteMedia's AudioChunkerNode: runs as our ``chunker`` (WebAssembly)."""

    node_type = "AudioChunkerNode"


class SileroVADNode(RuntimeNode):
    """RemoteMedia's SileroVADNode: runs as our ``SileroVAD`` (Python, ONNX)."""

    node_type = "SileroVADNode"


class WhisperTranscriptionNode(RuntimeNode):
    """RemoteMedia's WhisperTranscriptionNode: runs as our ``WhisperASR`` (Python, faster-whisper)."""

    node_type = "WhisperTranscriptionNode"


class KokoroTTSNode(RuntimeNode):
    """RemoteMedia's KokoroTTSNode: runs as our ``KokoroTTS`` (Python)."""

    node_type = "KokoroTTSNode"


class VADTriggeredBuffer(RuntimeNode):
    """RemoteMedia's VADTriggeredBuffer: runs as our ``speech_buffer`` (WebAssembly)."""

    node_type = "VADTriggeredBuffer"


class TextCollectorNode(RuntimeNode):
    """RemoteMedia's TextCollectorNode: runs as our ``text_collector`` (WebAssembly)."""

    node_type = "TextCollectorNode"


class AudioLevel(RuntimeNode):
    """RemoteMedia's AudioLevel(Node): runs as our ``level`` (levels per window)."""

    node_type = "AudioLevel"


class SilenceDetector(RuntimeNode):
    """RemoteMedia's SilenceDetector(Node): runs as our ``level`` (silence events)."""

    node_type = "SilenceDetector"


class ClippingDetector(RuntimeNode):
    """RemoteMedia's ClippingDetector(Node): runs as our ``level`` (clipped samples)."""

    node_type = "ClippingDetector"


def find_binary() -> str:
    """The ``remotemedia`` binary: $REMOTEMEDIA_BIN, else the one a platform wheel carries in the package
    (``remotemedia/bin/``), else the repository's ``bin/remotemedia`` (``make build``) when the package runs from
    a checkout, else ``remotemedia`` on the PATH."""
    env = os.environ.get("REMOTEMEDIA_BIN")
    if env:
        if not os.access(env, os.X_OK) or not os.path.isfile(env):
            raise HybridError(f"REMOTEMEDIA_BIN={env}: not an executable file")
        return env
    packaged = Path(__file__).resolve().parent / "bin" / ("remotemedia.exe" if os.name == "nt" else "remotemedia")
    if os.access(packaged, os.X_OK):
        return str(packaged)
    repo_bin = Path(__file__).resolve().parents[3] / "bin" / "remotemedia"
    if os.access(repo_bin, os.X_OK):
        return str(repo_bin)
    found = shutil.which("remotemedia")
    if found:
        return found
    raise HybridError("the remotemedia binary was not found: set REMOTEMEDIA_BIN, put it on the PATH, or run "
                      f"`make build` in the repository (looked for {repo_bin})")


def _portable(v: Any, where: str) -> Any:
    """v as a YAML/JSON value, or a HybridError naming where it is."""
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (Path,)):
        return str(v)
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, (list, tuple)):
        return [_portable(x, f"{where}[{i}]") for i, x in enumerate(v)]
    if isinstance(v, dict):
        return {str(k): _portable(x, f"{where}.{k}") for k, x in v.items()}
    raise HybridError(f"{where}: a {type(v).__name__} cannot go into a pipeline definition (numbers, strings, "
                      "booleans, lists and mappings can)")


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except (TypeError, ValueError):  # numpy arrays
        return False


def constructor_params(node: Node) -> dict[str, Any]:
    """The constructor arguments a Node instance was made with, read back from the attributes of the same
    names (the RemoteMedia convention, ``self.gain = gain``); values equal to the defaults are left out. A
    parameter without a default that the node does not keep as an attribute is a HybridError."""
    cls = type(node)
    out: dict[str, Any] = {}
    for p in list(inspect.signature(cls.__init__).parameters.values())[1:]:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) or p.name in ("name", "runtime_hint"):
            continue
        where = f"{cls.__name__}({p.name}=...)"
        if p.name in node.__dict__:
            v = node.__dict__[p.name]
        elif p.name in node.config:
            v = node.config[p.name]
        elif p.default is p.empty:
            raise HybridError(f"{where}: the node does not keep this argument as self.{p.name}, so it cannot be "
                              "rebuilt in a worker; store each constructor argument as an attribute of its name")
        else:
            log.warning("%s: not kept as self.%s; the worker uses the default %r", where, p.name, p.default)
            continue
        if p.default is not p.empty and _same(v, p.default):
            continue
        out[p.name] = _portable(v, where)
    return out


def _node_entry(n: Any, ids: set[str], modules: list[str]) -> dict[str, Any]:
    """The definition entry of one list item; a user class's source file is added to modules."""
    if isinstance(n, RuntimeNode):
        typ, name, hint, params = n.type, n.name, n.runtime_hint, dict(n.params)
        entry: dict[str, Any] = {}
        if isinstance(n, WasmNode):
            entry["module"] = str(n.path)
    elif isinstance(n, Node):
        cls = type(n)
        builtin = [k for k, v in registered_nodes().items() if v is cls]
        typ = builtin[0] if builtin else cls.__name__
        name = n.name
        hint = getattr(n, "runtime_hint", None) or n.config.get("runtime_hint")
        params = constructor_params(n)
        entry = {}
        if not builtin or not cls.__module__.startswith("remotemedia."):
            src = inspect.getsourcefile(cls)
            if src is None:
                raise HybridError(f"{cls.__name__}: its source file is unknown, so a worker cannot load it; "
                                  "define the class in a .py file")
            if src not in modules:
                modules.append(src)
            hint = "python"
    else:
        raise HybridError(f"{n!r} is not a node: HybridPipeline takes remotemedia Node instances, RuntimeNodes "
                          "(RemoteMedia class names such as WhisperTranscriptionNode) and WasmNode")
    base = _ID_CHARS.sub("_", name) or "node"
    nid = base
    for i in itertools.count(2):
        if nid not in ids:
            break
        nid = f"{base}_{i}"
    ids.add(nid)
    out: dict[str, Any] = {"id": nid, "node_type": typ}
    if params:
        out["params"] = {k: _portable(v, f"{name}.{k}") for k, v in params.items()}
    if hint and hint != "auto":
        out["runtime_hint"] = hint
    out.update(entry)
    return out


_servers: weakref.WeakSet[_Server] = weakref.WeakSet()


@atexit.register
def _stop_servers() -> None:
    for s in list(_servers):
        s.close()


def _die_with_parent() -> None:
    """In the child before exec (Linux): SIGTERM when the Python process dies, so no server outlives it."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, 15)  # PR_SET_PDEATHSIG, SIGTERM
    except (OSError, AttributeError):
        pass


class _Server:
    """A ``remotemedia serve`` child process on a loopback port, with a random token. It stops with close(), at
    the interpreter's exit, and (on Linux) when this process dies."""

    def __init__(self, binary: str, name: str, definition: dict[str, Any], modules: list[str],
                 extra_args: list[str]) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="remotemedia-hybrid-")
        defs = Path(self.dir.name) / "definitions"
        defs.mkdir()
        (defs / f"{name}.yaml").write_text(yaml.safe_dump(definition, sort_keys=False))
        self.token = secrets.token_hex(32)
        args = [binary, "serve", "--listen", "127.0.0.1:0", "--definitions", str(defs),
                "--python-bin", sys.executable]
        for m in modules:
            args += ["--module", m]
        args += extra_args
        env = dict(os.environ, REMOTEMEDIA_TOKEN=self.token)
        self.log: deque[str] = deque(maxlen=40)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
                                     preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        _servers.add(self)
        self.url = ""
        started = threading.Event()

        def read_stdout() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                m = _SERVING.search(line)
                if m and not self.url:
                    self.url = m.group(1)
                    started.set()
                self.log.append(line.rstrip())
            started.set()

        def read_stderr() -> None:
            assert self.proc.stderr is not None
            for line in self.proc.stderr:
                self.log.append(line.rstrip())

        for fn in (read_stdout, read_stderr):
            threading.Thread(target=fn, daemon=True).start()
        self._started = started

    def wait_started(self, timeout: float) -> str:
        self._started.wait(timeout)
        if not self.url:
            self.close()
            raise HybridError("remotemedia serve did not start:\n" + "\n".join(self.log))
        return self.url

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()


Item = Any  # (ndarray, rate) audio, str text, dict/list json, bytes binary, or a wire Frame


class HybridPipeline:
    """A RemoteMedia-style pipeline run on the Go runtime.

    ``nodes`` is a list run as a chain (each node's first output into the next node's first input): Node
    instances (built-in or your own classes), RuntimeNodes (RemoteMedia class names, ``RuntimeNode(type)``) and
    WasmNodes. ``url`` (and ``token``) use a running ``remotemedia serve --allow-inline`` instead of starting
    one; then only client-settable params may be set. ``binary``: the remotemedia executable (see
    find_binary); ``modules``: more Python files of node classes for the workers; ``serve_args``: more flags
    for ``remotemedia serve``.
    """

    def __init__(self, nodes: Iterable[Any] = (), *, name: str = "hybrid", url: str | None = None,
                 token: str | None = None, binary: str | None = None, modules: Iterable[str] = (),
                 serve_args: Iterable[str] = (), start_timeout: float = 60.0) -> None:
        self.name = _ID_CHARS.sub("-", name) or "hybrid"
        self.modules = [str(Path(m).resolve()) for m in modules]
        ids: set[str] = set()
        entries = [_node_entry(n, ids, self.modules) for n in nodes]
        self.definition: dict[str, Any] = {
            "version": "1",
            "metadata": {"name": self.name, "description": "built by remotemedia.HybridPipeline"},
            "nodes": entries,
            "connections": [{"from": a["id"], "to": b["id"]} for a, b in zip(entries, entries[1:])],
        }
        self.url, self.token = url, token
        self.binary = binary
        self.serve_args = list(serve_args)
        self.start_timeout = start_timeout
        self._server: _Server | None = None
        self._streams = itertools.count(1)

    @classmethod
    def from_definition(cls, source: str | os.PathLike[str] | dict[str, Any], **kwargs: Any) -> HybridPipeline:
        """A pipeline of a definition: a file path, YAML/JSON text, or the parsed mapping (ours or a RemoteMedia
        manifest: the runtime reads both). Keyword arguments as for the constructor (modules=, url=, ...)."""
        if isinstance(source, dict):
            d = source
        else:
            text = str(source)
            if isinstance(source, os.PathLike) or ("\n" not in text and Path(text).is_file()):
                text = Path(source).read_text()
            d = yaml.safe_load(text)
        if not isinstance(d, dict) or not isinstance(d.get("nodes"), list) or not d["nodes"]:
            raise HybridError("a definition is a mapping with a non-empty list of nodes")
        p = cls(**kwargs)
        p.definition = d
        md = d.get("metadata")
        if isinstance(md, dict) and md.get("name"):
            p.name = str(md["name"])  # the server names a pipeline by its metadata.name, else by its file
        elif not isinstance(source, dict) and "\n" not in str(source) and Path(str(source)).is_file():
            p.name = Path(str(source)).stem
        return p

    def to_definition(self, path: str | os.PathLike[str] | None = None) -> str:
        """The pipeline definition as YAML (``remotemedia run``/``validate``/``serve`` read it); written to path
        when given. Python user classes need ``--module FILE`` for each of self.modules."""
        text = yaml.safe_dump(self.definition, sort_keys=False)
        if path is not None:
            Path(path).write_text(text)
        return text

    @property
    def _last(self) -> str:
        nodes = self.definition["nodes"]
        consumed = {str(c.get("from", "")).split(".")[0] for c in self.definition.get("connections") or []}
        ends = [str(n["id"]) for n in nodes if str(n["id"]) not in consumed]
        return ends[-1] if ends else str(nodes[-1]["id"])

    async def start(self) -> None:
        """Start the server (nothing to do with a url). process() and run() call it when needed."""
        if self.url or self._server:
            return
        server = _Server(self.binary or find_binary(), self.name, self.definition, self.modules, self.serve_args)
        try:
            self.url = await asyncio.get_running_loop().run_in_executor(None, server.wait_started,
                                                                        self.start_timeout)
        except BaseException:
            server.close()
            raise
        self._server, self.token = server, server.token

    async def close(self) -> None:
        """Stop the server this pipeline started."""
        server, self._server = self._server, None
        if server is not None:
            self.url = None
            await asyncio.get_running_loop().run_in_executor(None, server.close)

    async def __aenter__(self) -> HybridPipeline:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def __del__(self) -> None:
        if getattr(self, "_server", None) is not None:
            assert self._server is not None
            self._server.close()

    async def process(self, stream: AsyncIterable[Item] | Iterable[Item]) -> AsyncIterator[Any]:
        """Stream items through the pipeline; yields the values of the last node's outputs as they come:
        (ndarray (channels, samples), rate) for audio, str for text, parsed JSON, bytes."""
        last = self._last + "."
        async for port, value in self.process_outputs(stream):
            if port.startswith(last):
                yield value

    async def process_outputs(self, stream: AsyncIterable[Item] | Iterable[Item]) -> AsyncIterator[
            tuple[str, Any]]:
        """Like process, but yields (port, value) for every output of the pipeline ("vad.events", ...)."""
        from websockets.asyncio.client import connect  # the client is only needed to stream

        await self.start()
        assert self.url is not None
        ws_url = "ws" + self.url.removeprefix("http").rstrip("/")
        inline = self._server is None
        ws_url += "/v1/inline/ws" if inline else f"/v1/pipelines/{self.name}/ws"
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else None
        sid = f"py-{os.getpid()}-{next(self._streams)}"
        async with connect(ws_url, additional_headers=headers, max_size=None, compression=None) as ws:
            if inline:
                await ws.send(yaml.safe_dump(self.definition, sort_keys=False))
            sender = asyncio.create_task(self._send(ws, stream, sid))
            try:
                async for msg in ws:
                    if isinstance(msg, str):
                        raise HybridError(f"the server sent a text message: {msg[:200]}")
                    for f in wire.decode_stream(msg):
                        if f.meta.get("end"):
                            end = json.loads(f.text())
                            if end.get("error"):
                                raise HybridError(f"the pipeline failed: {end['error']}")
                            return
                        if f.meta.get("error"):
                            raise HybridError(f"{f.meta.get('port') or 'the server'}: "
                                              f"{json.loads(f.text()).get('error')}")
                        if f.meta.get("draining") or f.kind == "control":
                            # The server shutting down ends the input after a grace (docs/server.md);
                            # a cancel (barge-in) is the pipeline's own, not a value.
                            continue
                        yield str(f.meta.get("port", "")), frame_to_data(f)
                raise HybridError(f"the server closed the session before its end{self._server_log()}")
            finally:
                if not sender.done():
                    sender.cancel()
                    await asyncio.gather(sender, return_exceptions=True)
                elif sender.exception() is not None:
                    raise HybridError(f"sending input failed: {sender.exception()}")

    async def _send(self, ws: Any, stream: AsyncIterable[Item] | Iterable[Item], sid: str) -> None:
        packer = wire.new_packer()
        seq, ts = 0, 0
        async for item in _aiter(stream):
            f = item if isinstance(item, Frame) else data_to_frame(item, Frame(kind="control", sid=sid, seq=seq,
                                                                                  ts=ts))
            if f is None:
                continue
            f.sid, f.seq = sid, seq
            if not isinstance(item, Frame):
                f.ts = ts
            if f.kind == "audio":
                ts += len(f.payload()) // (4 * f.channels) * 1_000_000 // f.rate
            seq += 1
            await ws.send(wire.encode(f, packer))
        await ws.send(wire.encode(Frame(kind="control", op="eos", sid=sid, seq=seq, ts=ts), packer))

    def _server_log(self) -> str:
        if self._server is None or not self._server.log:
            return ""
        return "; server log:\n" + "\n".join(self._server.log)

    async def run(self, audio: np.ndarray, sample_rate: int, frame_ms: int = 20) -> list[Any]:
        """Run audio ((channels, samples) or mono 1-D float32) through the pipeline in frame_ms frames and
        return the last node's outputs in order."""
        a = np.asarray(audio, dtype=np.float32)
        if a.ndim == 1:
            a = a[None, :]
        step = max(1, sample_rate * frame_ms // 1000)
        chunks = [(a[:, i:i + step], sample_rate) for i in range(0, a.shape[1], step)]
        return [v async for v in self.process(chunks)]


async def _aiter(stream: AsyncIterable[Item] | Iterable[Item]) -> AsyncIterator[Item]:
    if isinstance(stream, AsyncIterable):
        async for x in stream:
            yield x
    else:
        for x in stream:
            yield x
