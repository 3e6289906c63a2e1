"""python -m remotemedia.migrate: a RemoteMedia script's Pipeline as a definition, read statically."""

import subprocess
import sys

import pytest
import yaml

from conftest import FIXTURES
from remotemedia import HybridError
from remotemedia.hybrid import find_binary
from remotemedia.migrate import main, migrate

SCRIPT = FIXTURES / "rm_speech_script.py"


def test_speech_script():
    res = migrate(SCRIPT.read_text(), str(SCRIPT))
    d = res.definition
    assert [(n["id"], n["node_type"], n.get("params"), n.get("runtime_hint")) for n in d["nodes"]] == [
        ("AudioTransform", "AudioTransform", {"output_sample_rate": 16000, "output_channels": 1}, None),
        ("VAD", "VoiceActivityDetector", {"frame_duration_ms": 30, "energy_threshold": 0.02, "filter_mode": False},
         None),
        ("Buffer", "VADTriggeredBuffer", {"min_speech_duration_s": 0.5, "max_speech_duration_s": 8.0}, None),
        ("UtteranceLength", "UtteranceLength", {"unit": "ms"}, "python"),
    ]
    assert d["connections"] == [{"from": "AudioTransform", "to": "VAD"}, {"from": "VAD", "to": "Buffer"},
                                {"from": "Buffer", "to": "UtteranceLength"}]
    assert len(res.unmapped) == 1 and "MediaReaderNode: a file source" in res.unmapped[0]
    assert res.user_classes == ["UtteranceLength"]


# The printed definition (comments and all) passes `remotemedia validate` with the script as a module.
def test_output_validates(tmp_path, capsys):
    try:
        exe = find_binary()
    except HybridError as e:
        pytest.skip(str(e))
    out = tmp_path / "speech.yaml"
    assert main([str(SCRIPT), "--out", str(out)]) == 1  # MediaReaderNode is not mapped
    assert "not mapped: line" in capsys.readouterr().err
    assert out.read_text().startswith("# not mapped: line ")
    res = subprocess.run([exe, "validate", str(out), "--module", str(SCRIPT), "--python-bin", sys.executable],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    # VAD -> Buffer gained the events edge the speech buffer needs: 4 connections.
    assert "ok (4 nodes, 4 connections)" in res.stdout


def test_list_form_remote_and_unmappable():
    src = '''
from remotemedia.nodes import WhisperTranscriptionNode, KokoroTTSNode
asr = WhisperTranscriptionNode(language="en", name="asr")
remote = RemoteObjectExecutionNode(obj_to_execute=KokoroTTSNode(voice="af_bella", speed=speed), remote_config=cfg)
p = Pipeline([asr, remote, Wrapper(asr), AudioResampler(16000), VoiceActivityDetector(runtime_hint="python")])
'''
    res = migrate(src, "voice.py")
    assert [(n["id"], n["node_type"], n.get("params"), n.get("runtime_hint")) for n in res.definition["nodes"]] == [
        ("asr", "WhisperTranscriptionNode", {"language": "en"}, None),
        ("KokoroTTSNode", "KokoroTTSNode", {"voice": "af_bella"}, None),
        ("AudioResampler", "AudioResampler", None, None),
        ("VoiceActivityDetector", "VoiceActivityDetector", None, "python"),
    ]
    assert res.unmapped == [
        "line 4: KokoroTTSNode(speed=speed): not a literal",
        "line 5: Wrapper: no node type of that name here (register the class: docs/python-nodes.md)",
        "line 5: AudioResampler: positional arguments are not mapped; give them by keyword",
    ]
    assert any("RemoteObjectExecutionNode" in n for n in res.notes)


def test_no_pipeline(tmp_path, capsys):
    f = tmp_path / "empty.py"
    f.write_text("print('hi')\n")
    assert main([str(f)]) == 2
    assert "no Pipeline([...])" in capsys.readouterr().err


def test_module_entry_point():
    res = subprocess.run([sys.executable, "-m", "remotemedia.migrate", str(SCRIPT)], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 1
    d = yaml.safe_load(res.stdout)
    assert d["nodes"][1]["node_type"] == "VoiceActivityDetector"
