"""docs/migration.md: its snippets are the files under tests/fixtures, and the three stages run and transcribe."""

import json
import os
import shutil
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES
from remotemedia import HybridError
from remotemedia.hybrid import find_binary
from remotemedia.nodes.speech import WhisperASR

REPO = FIXTURES.parents[3]
DOC = REPO / "docs" / "migration.md"
STAGES = FIXTURES / "migration"
DEADLINE_S = 300


def block(text):
    return text if text.endswith("\n") else text + "\n"


def test_doc_quotes_the_fixtures():
    doc = DOC.read_text()
    for name, lang in (("speech.py", "python"), ("speech_wasm.py", "python"), ("speech.yaml", "yaml")):
        assert f"```{lang}\n{block((STAGES / name).read_text())}```" in doc, f"docs/migration.md does not quote {name}"
    migrated = subprocess.run([sys.executable, "-m", "remotemedia.migrate", str(FIXTURES / "rm_speech_script.py")],
                              capture_output=True, text=True, timeout=60).stdout
    assert f"```yaml\n{migrated}```" in doc, "docs/migration.md does not show migrate's output as it is"


def speak(tmp_path):
    """Two sentences spoken by espeak-ng with a second of silence around each, as 16-bit stereo at 22050 Hz."""
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    parts = []
    for i, sentence in enumerate(["Hello, this is a test of the migration.", "Please call me tomorrow morning."]):
        f = tmp_path / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-w", str(f), sentence], check=True, timeout=60)
        with wave.open(str(f)) as w:
            rate = w.getframerate()
            parts += [np.zeros(rate, "<i2"), np.frombuffer(w.readframes(w.getnframes()), "<i2")]
    mono = np.concatenate(parts + [np.zeros(rate, "<i2")])
    path = tmp_path / "call.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.repeat(mono, 2).tobytes())
    return path


def check_transcripts(texts):
    assert len(texts) == 2, texts
    assert "hello" in texts[0].lower() and "migration" in texts[0].lower()
    assert "tomorrow" in texts[1].lower()


# Stage 1 (the RemoteMedia list in HybridPipeline), stage 2 (its front end in WebAssembly, a Rust module among
# them) and stage 3 (the shared definition through `remotemedia run`) each give one transcript per sentence.
@pytest.mark.model
def test_stages_transcribe(tmp_path):
    reason = WhisperASR.unavailable()
    if reason:
        pytest.skip(reason)
    try:
        exe = find_binary()
    except HybridError as e:
        pytest.skip(str(e))
    call = speak(tmp_path)
    env = dict(os.environ, PYTHONPATH=str(STAGES), REMOTEMEDIA_BIN=exe)

    def records(script, *args):
        res = subprocess.run([sys.executable, str(STAGES / script), str(call), *args], capture_output=True,
                             text=True, timeout=DEADLINE_S, cwd=tmp_path, env=env)
        assert res.returncode == 0, res.stderr[-3000:]
        return [eval(line, {}) for line in res.stdout.splitlines()]  # noqa: S307 - the scripts print dicts

    stage1 = records("speech.py")
    check_transcripts([r["text"] for r in stage1])
    assert {r["speaker"] for r in stage1} == {"caller"}

    dc_block = REPO / "wasm-modules" / "build" / "dc_block.wasm"
    if dc_block.is_file():
        check_transcripts([r["text"] for r in records("speech_wasm.py", str(dc_block))])
        assert (tmp_path / "speech.yaml").is_file()  # to_definition()

    events = tmp_path / "transcripts.jsonl"
    res = subprocess.run([exe, "run", str(STAGES / "speech.yaml"), "--in", str(call), "--events", str(events),
                          "--module", str(STAGES / "speech.py"), "--python-bin", sys.executable],
                         capture_output=True, text=True, timeout=DEADLINE_S, cwd=tmp_path)
    assert res.returncode == 0, res.stderr[-3000:]
    lines = [json.loads(x) for x in events.read_text().splitlines()]
    check_transcripts([x["data"]["text"] for x in lines if x["node"] == "transcript"])
    assert sum(x["node"] == "utterances" for x in lines) == 2
