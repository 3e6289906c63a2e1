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
    assert sorted(names) == ["ChunkCounter", "GainNode"]
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
        {"name": "output_sample_rate", "type": "integer", "default": 44100, "doc": "target sample rate in Hz"},
        {"name": "output_channels", "type": "integer", "default": 2,
         "doc": "target channel count (down-mix averages, up-mix copies)"}]
    assert registry.describe("VAD", VoiceActivityDetector)["is_streaming"] is True
