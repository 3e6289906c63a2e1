"""HybridPipeline against the real `remotemedia` binary (make build's bin/remotemedia, or $REMOTEMEDIA_BIN)."""

import asyncio
import subprocess
import sys

import numpy as np
import pytest
import yaml

from conftest import FIXTURES
from remotemedia import Frame, HybridError, HybridPipeline, RuntimeNode, WasmNode
from remotemedia.hybrid import AudioResampler, VADTriggeredBuffer, WhisperTranscriptionNode, find_binary
from remotemedia.node import data_to_frame, frame_to_data
from remotemedia.nodes import VoiceActivityDetector

sys.path.insert(0, str(FIXTURES))
from hybrid_nodes import Forgetful, Scale, offset, shout  # noqa: E402

DEADLINE_S = 120


def binary():
    try:
        return find_binary()
    except HybridError as e:
        pytest.skip(str(e))


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, DEADLINE_S))


def speech_like(rate=16000):
    """1 s of faint noise, 1 s of a loud 220 Hz tone with noise, 1 s of faint noise."""
    rng = np.random.default_rng(7)
    n = rate
    quiet = lambda: (rng.standard_normal(n) * 0.002).astype(np.float32)  # noqa: E731
    t = np.arange(n) / rate
    loud = (0.4 * np.sin(2 * np.pi * 220 * t) + rng.standard_normal(n) * 0.002).astype(np.float32)
    return np.concatenate([quiet(), loud, quiet()])


def chunks(audio, rate=16000, ms=20):
    step = rate * ms // 1000
    return [(audio[None, i:i + step], rate) for i in range(0, len(audio), step)]


def as_worker_sees(v):
    """A value as it crosses a frame: what a node receives and what the client gets back."""
    return frame_to_data(data_to_frame(v, Frame(kind="control")))


async def plain_python(nodes, items):
    """The nodes run in this process, as a RemoteMedia pipeline runs them, each value crossing a frame."""
    async def source():
        for it in items:
            yield as_worker_sees(it)

    stream = source()
    for node in nodes:
        await node.initialize()
        if node.is_streaming:
            stream = node.process(stream)
        else:
            async def per_item(upstream, node=node):
                async for x in upstream:
                    out = node.process(x)
                    if asyncio.iscoroutine(out):
                        out = await out
                    if out is not None:
                        yield as_worker_sees(out)
            stream = per_item(stream)
    return [as_worker_sees(v) async for v in stream]


def concat(outputs):
    return np.concatenate([a for a, _ in outputs], axis=1)


# A user-defined RemoteMedia-style node and a built-in one (the VAD, in its Python port) give on the Go runtime
# exactly what the same node objects give when run in plain Python.
def test_user_node_and_builtin_equal_plain_python():
    binary()
    items = chunks(speech_like())
    make = lambda: [Scale(factor=0.5), VoiceActivityDetector(filter_mode=True, runtime_hint="python")]  # noqa: E731
    expect = run(plain_python(make(), items))

    async def hybrid():
        async with HybridPipeline(make()) as p:
            return [v async for v in p.process(items)]

    got = run(hybrid())
    assert 20 <= len(expect) <= 60  # the loud second passes (about 50 chunks), the quiet ones do not
    assert len(got) == len(expect)
    for (ga, gr), (ea, er) in zip(got, expect):
        assert gr == er == 16000
        np.testing.assert_array_equal(ga, ea)


# A function node and a built-in that runs as WebAssembly (RemoteMedia's AudioResampler is our resample), through
# the one-call run(); to_definition() passes `remotemedia validate`, and from_definition() runs it again.
def test_function_node_wasm_builtin_and_definition(tmp_path):
    exe = binary()
    audio = (0.25 * np.sin(2 * np.pi * 100 * np.arange(16000) / 16000)).astype(np.float32)
    p = HybridPipeline([offset(amount=0.5), AudioResampler(target_sample_rate=8000)], name="offset-rs")
    d = yaml.safe_load(p.to_definition())
    assert [(n["node_type"], n.get("params"), n.get("runtime_hint")) for n in d["nodes"]] == [
        ("offset", {"amount": 0.5}, "python"), ("AudioResampler", {"target_sample_rate": 8000}, None)]
    assert d["connections"] == [{"from": "offset", "to": "AudioResampler"}]

    path = tmp_path / "offset-rs.yaml"
    p.to_definition(path)
    args = [exe, "validate", str(path), "--python-bin", sys.executable]
    for m in p.modules:
        args += ["--module", m]
    res = subprocess.run(args, capture_output=True, text=True, timeout=DEADLINE_S)
    assert res.returncode == 0, res.stderr
    assert "ok (2 nodes, 1 connections)" in res.stdout

    async def both():
        try:
            first = await p.run(audio, 16000)
        finally:
            await p.close()
        q = HybridPipeline.from_definition(path, modules=p.modules)
        try:
            return first, await q.run(audio, 16000)
        finally:
            await q.close()

    first, again = run(both())
    out = concat(first)
    assert {r for _, r in first} == {8000}
    assert abs(out.shape[1] - 8000) <= 160  # the resampler's delay may hold back a few ms
    # 0.5 + a 100 Hz sine of 0.25 survives resampling to 8 kHz: mean 0.5, peak about 0.75.
    assert abs(float(out[0, 800:-800].mean()) - 0.5) < 0.01
    assert 0.72 < float(out[0, 800:-800].max()) < 0.78
    np.testing.assert_array_equal(concat(again), out)


# Text through a coroutine node registered by the decorator, streamed with process().
def test_coroutine_node_streams_text():
    binary()

    async def go():
        async with HybridPipeline([shout(suffix="?")]) as p:
            return [v async for v in p.process(["hello", "two words"])]

    assert run(go()) == ["HELLO?", "TWO WORDS?"]


# A definition the runtime refuses fails start with the server's reasons.
def test_refused_definition_names_the_problem():
    binary()
    p = HybridPipeline([RuntimeNode("resample", rate=-5)])
    with pytest.raises(HybridError, match=r"rate: must be >= 1000"):
        run(p.start())


def test_definition_of_runtime_nodes():
    p = HybridPipeline([VoiceActivityDetector(), VADTriggeredBuffer(min_speech_duration_s=0.5),
                        WhisperTranscriptionNode(), WasmNode("/m/polarity.wasm", invert=True),
                        RuntimeNode("gain", name="gain", gain_db=6)])
    d = yaml.safe_load(p.to_definition())
    assert d["nodes"] == [
        {"id": "VoiceActivityDetector", "node_type": "VoiceActivityDetector"},
        {"id": "VADTriggeredBuffer", "node_type": "VADTriggeredBuffer", "params": {"min_speech_duration_s": 0.5}},
        {"id": "WhisperTranscriptionNode", "node_type": "WhisperTranscriptionNode"},
        {"id": "polarity", "node_type": "polarity", "params": {"invert": True}, "module": "/m/polarity.wasm"},
        {"id": "gain", "node_type": "gain", "params": {"gain_db": 6}},
    ]
    assert p.modules == []  # built-ins need no --module


def test_unkept_constructor_argument_is_named():
    with pytest.raises(HybridError, match=r"Forgetful\(level=...\).*self.level"):
        HybridPipeline([Forgetful(3)])


def test_not_a_node():
    with pytest.raises(HybridError, match="is not a node"):
        HybridPipeline([lambda x: x])


# A pipeline given a server's URL runs as an inline definition there; the server this package starts wants its
# random token even on loopback.
def test_running_server_by_url():
    import urllib.error
    import urllib.request

    binary()

    async def go():
        async with HybridPipeline([RuntimeNode("gain", linear=1.0)], serve_args=["--allow-inline"]) as server:
            with pytest.raises(urllib.error.HTTPError, match="401"):
                urllib.request.urlopen(server.url + "/v1/pipelines", timeout=30)
            client = HybridPipeline([RuntimeNode("gain", linear=2.0)], url=server.url, token=server.token)
            return await client.run(np.full(640, 0.25, np.float32), 16000)

    out = run(go())
    assert [a.shape for a, _ in out] == [(1, 320), (1, 320)]
    assert {float(v) for a, _ in out for v in a.ravel()} == {0.5}


# WasmNode runs a module by path: the Rust DC blocker from `make modules` takes a constant to zero.
def test_wasm_node_by_path():
    binary()
    from pathlib import Path

    module = Path(__file__).resolve().parents[3] / "wasm-modules" / "build" / "dc_block.wasm"
    if not module.is_file():
        pytest.skip(f"{module} is not built (make modules)")

    async def go():
        async with HybridPipeline([WasmNode(module)]) as p:
            return await p.run(np.full(16000, 0.5, np.float32), 16000)

    out = concat(run(go()))
    assert out.shape == (1, 16000)
    assert out[0, 0] == pytest.approx(0.5, abs=1e-6) and abs(float(out[0, -1])) < 1e-3


def test_find_binary_honours_env(tmp_path, monkeypatch):
    exe = tmp_path / "remotemedia"
    exe.write_text("#!/bin/sh\n")
    monkeypatch.setenv("REMOTEMEDIA_BIN", str(exe))
    with pytest.raises(HybridError, match="not an executable file"):
        find_binary()
    exe.chmod(0o755)
    assert find_binary() == str(exe)
