"""The voice pipeline's Python side, turn by turn: WhisperASR per utterance, UltravoxNode's conversation."""

from types import SimpleNamespace

import numpy as np
import pytest

from conftest import espeak_wav
from remotemedia import Frame, wire
from remotemedia.nodes import UltravoxNode, WhisperASR
from remotemedia.nodes.speech import parse_wav
from test_nodes import skip_unless_available, word_error_rate

UTTERANCES = ["Please turn on the kitchen lights.", "What is the weather like tomorrow morning?"]


class FakeWhisper:
    """Stands in for faster-whisper's model: records the audio it gets, answers with its length."""

    def __init__(self):
        self.calls = []

    def transcribe(self, audio, **kwargs):
        self.calls.append(audio)
        return [SimpleNamespace(text=f" {len(audio)} samples ")], None


def test_whisper_per_utterance_transcribes_each_frame_with_its_times():
    node = WhisperASR(per_utterance=True)
    node.model = FakeWhisper()
    audio = np.zeros((1, 24000), np.float32)  # 0.5 s at 48 kHz
    f = Frame(kind="audio", format="f32", rate=48000, channels=1, sid="s", seq=3, ts=2_500_000,
              data=audio.T.astype("<f4").tobytes())
    text, meta = node.process(f)
    assert text == "8000 samples"  # resampled to 16 kHz before the model
    assert meta == {"start_ms": 2500.0, "end_ms": 3000.0}
    # Plain Python callers (no frame header) pass (audio, rate): the times then count from 0.
    assert node.process((audio, 48000)) == ("8000 samples", {"start_ms": 0.0, "end_ms": 500.0})
    # Under a tenth of a second is no utterance: no model call.
    assert node.process((audio[:, :4000], 48000)) is None and len(node.model.calls) == 2
    assert node.flush() is None  # nothing is buffered per utterance


def test_whisper_default_still_accumulates_until_flush():
    node = WhisperASR()
    node.model = FakeWhisper()
    for _ in range(3):
        assert node.process((np.zeros((1, 1600), np.float32), 16000)) is None
    assert node.flush() == "4800 samples" and len(node.model.calls) == 1


class FakeUltravox:
    def __init__(self):
        self.turns = []

    def __call__(self, inputs, **kwargs):
        turns = inputs["turns"]
        self.turns.append([dict(t) for t in turns])
        turns.append({"role": "user", "content": "<|audio|>"})  # as Ultravox's pipeline does, on the list given
        return f"reply {len(self.turns)}"


def test_ultravox_keeps_the_sessions_conversation():
    node = UltravoxNode(model_path="/unused", system_prompt="Be brief.", max_history_turns=2)
    node.pipe = FakeUltravox()
    utterance = (np.zeros((1, 16000), np.float32), 16000)
    assert [node.process(utterance) for _ in range(4)] == ["reply 1", "reply 2", "reply 3", "reply 4"]
    system = {"role": "system", "content": "Be brief."}
    spoken = {"role": "user", "content": "(spoken)"}
    assert node.pipe.turns[0] == [system]
    assert node.pipe.turns[1] == [system, spoken, {"role": "assistant", "content": "reply 1"}]
    # At most max_history_turns exchanges, the latest ones.
    assert node.pipe.turns[3] == [system, spoken, {"role": "assistant", "content": "reply 2"},
                                  spoken, {"role": "assistant", "content": "reply 3"}]
    other = UltravoxNode(model_path="/unused")  # another session starts its own conversation
    other.pipe = FakeUltravox()
    other.process(utterance)
    assert other.pipe.turns[0] == [{"role": "system", "content": "You are a helpful assistant."}]


@pytest.mark.model
def test_whisper_per_utterance_through_the_worker(tmp_path, worker_factory):
    skip_unless_available(WhisperASR)
    w = worker_factory()
    _, done = w.request({"op": "open", "session": "asr", "node_type": "WhisperASR",
                         "params": {"per_utterance": True}})
    assert done["op"] == "done", done
    texts, start_us = [], 1_000_000
    for i, sentence in enumerate(UTTERANCES):
        speech, rate = parse_wav(espeak_wav(tmp_path, sentence).read_bytes())
        f = Frame(kind="audio", format="f32", rate=rate, channels=1, sid="call", seq=i, ts=start_us,
                  data=speech.astype("<f4").tobytes())
        outs, done = w.request({"op": "frame", "session": "asr", "frame": wire.encode(f)})
        assert done["op"] == "done" and len(outs) == 1, (outs, done)  # one transcript per utterance, at once
        text = wire.decode(outs[0]["frame"])
        assert text.kind == "text" and text.ts == start_us and text.seq == i
        assert text.meta == {"start_ms": start_us / 1000, "end_ms": start_us / 1000 + len(speech) * 1000 / rate}
        texts.append(text.text())
        start_us += len(speech) * 1_000_000 // rate + 2_000_000
    outs, done = w.request({"op": "flush", "session": "asr"})
    assert outs == [] and done["op"] == "done"
    wer = word_error_rate(" ".join(UTTERANCES), " ".join(texts))
    print(f"\nWhisperASR per utterance: {texts}  WER = {wer:.1%}")
    assert wer <= 0.30

