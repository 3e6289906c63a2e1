"""Built-in nodes on real audio: resampling, the energy VAD, espeak-ng speech, Silero VAD, Whisper ASR."""

import asyncio
import json
import re

import numpy as np
import pytest

from conftest import espeak_wav
from remotemedia import Frame, ModelNotAvailable, wire
from remotemedia.nodes import (AudioTransform, EspeakTTS, KokoroTTS, SileroVAD, UltravoxNode,
                               VoiceActivityDetector, WhisperASR)
from remotemedia.nodes.speech import parse_wav

SENTENCE = "The quick brown fox jumps over the lazy dog. Please call me tomorrow morning at nine o'clock."


def tone(freq, rate, seconds, channels=1, amp=0.5):
    t = np.arange(int(rate * seconds)) / rate
    return np.tile(amp * np.sin(2 * np.pi * freq * t, dtype=np.float64), (channels, 1)).astype(np.float32)


def dominant_hz(x, rate):
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return np.argmax(spec) * rate / len(x)


def word_error_rate(reference, hypothesis):
    ref = re.sub(r"[^a-z' ]", " ", reference.lower()).split()
    hyp = re.sub(r"[^a-z' ]", " ", hypothesis.lower()).split()
    d = np.arange(len(hyp) + 1)
    for i, r in enumerate(ref, 1):
        prev, d[0] = d.copy(), i
        for j, h in enumerate(hyp, 1):
            d[j] = min(prev[j] + 1, d[j - 1] + 1, prev[j - 1] + (r != h))
    return d[-1] / len(ref)


async def collect(agen):
    return [x async for x in agen]


async def aiter_of(items):
    for x in items:
        yield x


@pytest.mark.parametrize("name, rate_in, ch_in, rate_out, ch_out", [
    ("48k stereo to 16k mono", 48000, 2, 16000, 1),
    ("16k mono to 44.1k stereo", 16000, 1, 44100, 2),
    ("22.05k mono to 16k mono", 22050, 1, 16000, 1),
    ("same rate, channels only", 16000, 2, 16000, 1),
])
def test_audio_transform(name, rate_in, ch_in, rate_out, ch_out):
    node = AudioTransform(output_sample_rate=rate_out, output_channels=ch_out)
    (out, rate), meta = node.process(((tone(440, rate_in, 0.5, ch_in), rate_in), {"session_id": "x"}))
    assert rate == rate_out and out.shape == (ch_out, int(round(0.5 * rate_out)))
    assert meta == {"session_id": "x"}
    assert abs(dominant_hz(out[0], rate_out) - 440) < 3
    assert abs(np.sqrt(np.mean(out[0, 200:-200] ** 2)) - 0.5 / np.sqrt(2)) < 0.01


def test_energy_vad_passthrough_and_filter():
    silence = (np.zeros((1, 4800), np.float32), 16000)
    loud = (tone(300, 16000, 0.3), 16000)
    out = asyncio.run(collect(VoiceActivityDetector().process(aiter_of([silence, loud, silence]))))
    assert [meta["is_speech"] for _, meta in out] == [False, True, False]
    assert out[1][1]["speech_ratio"] == 1.0 and out[1][1]["frame_duration_ms"] == 30
    kept = asyncio.run(collect(VoiceActivityDetector(filter_mode=True).process(aiter_of([silence, loud, silence]))))
    assert len(kept) == 1 and kept[0][0] is loud[0]


def test_energy_vad_at_defaults_over_20ms_frames_of_speech(tmp_path):
    speech, rate = parse_wav(espeak_wav(tmp_path, SENTENCE).read_bytes())
    gap = np.zeros(rate, np.float32)  # one second of silence on each side, in a quiet room
    audio = np.concatenate([gap, speech, gap])
    audio += np.random.default_rng(1).normal(0, 0.001, len(audio)).astype(np.float32)
    step = rate // 50  # 20 ms chunks against the default 30 ms analysis frames
    chunks = [(audio[None, i:i + step], rate) for i in range(0, len(audio) - step + 1, step)]
    speech_chunks = range(rate // step, (rate + len(speech)) // step)

    flags = [m["is_speech"] for _, m in asyncio.run(collect(VoiceActivityDetector().process(aiter_of(chunks))))]
    assert len(flags) == len(chunks) and flags[0] is False
    assert not any(flags[:speech_chunks.start]), "speech in the leading silence"
    assert not any(flags[speech_chunks.stop + 2:]), "speech in the trailing silence"  # at most 40 ms late
    assert sum(flags[i] for i in speech_chunks) >= 0.5 * len(speech_chunks), flags

    kept = asyncio.run(collect(VoiceActivityDetector(filter_mode=True).process(aiter_of(chunks))))
    assert sum(1 for f in flags if f) == len(kept) > 0
    assert all(k[0] is chunks[i][0] for k, i in zip(kept, [i for i, f in enumerate(flags) if f]))


@pytest.mark.parametrize("voice, ok", [
    ("en", True), ("en-us", True), ("gmw/en-US", True), ("mb/mb-en1", True), ("en+f3", True), ("en-us+klatt", True),
    ("/etc/passwd", False), ("../../tmp/voice", False), ("mb/../../x", False), ("-x", False), ("en; id", False),
    ("en us", False), ("", False), ("./en", False), ("a" * 65, False), (3, False),
])
def test_espeak_voice_is_a_name_not_a_path(voice, ok):
    if ok:
        assert EspeakTTS(voice=voice).voice == voice
    else:
        with pytest.raises(ValueError, match=r"EspeakTTS: voice .* is not an espeak-ng voice name"):
            EspeakTTS(voice=voice)


def test_espeak_voice_variant_speaks(tmp_path):
    pytest.importorskip("shutil").which("espeak-ng") or pytest.skip("espeak-ng is not installed")
    audio, rate = asyncio.run(EspeakTTS(voice="en-us+f3").process("Hello."))
    assert rate == 22050 and audio.shape[1] > rate // 4


def test_kokoro_voice_is_a_name():
    assert KokoroTTS(voice="af_heart").voice == "af_heart"
    for voice in ("../../../etc/x", "a/b", "/abs"):
        with pytest.raises(ValueError, match="KokoroTTS: voice .* is not a voice name"):
            KokoroTTS(voice=voice)


class FakeTransformers:
    def __init__(self):
        self.calls = []

    def pipeline(self, **kwargs):
        self.calls.append(kwargs)
        return lambda *a, **k: "reply"


@pytest.mark.parametrize("auto_map, trust, expect", [
    (False, None, False),  # the default never trusts the model's code
    (True, None, "ships its own Python code"),
    (True, True, True),  # only when the operator says so
])
def test_ultravox_trusts_remote_code_only_when_told(tmp_path, monkeypatch, auto_map, trust, expect):
    from remotemedia.nodes import speech
    fake = FakeTransformers()
    monkeypatch.setattr(speech, "require_module", lambda *a: fake)
    (tmp_path / "config.json").write_text(json.dumps({"auto_map": {"AutoModel": "x.Y"}} if auto_map else {}))
    node = UltravoxNode(model_path=str(tmp_path), **({} if trust is None else {"trust_remote_code": trust}))
    if isinstance(expect, str):
        with pytest.raises(ModelNotAvailable, match=expect):
            asyncio.run(node.initialize())
        assert fake.calls == []
        return
    asyncio.run(node.initialize())
    assert [c["trust_remote_code"] for c in fake.calls] == [expect]


def test_espeak_tts_makes_speech():
    pytest.importorskip("shutil").which("espeak-ng") or pytest.skip("espeak-ng is not installed")
    node = EspeakTTS()
    asyncio.run(node.initialize())
    audio, rate = asyncio.run(node.process("Hello from the speech node."))
    assert rate == 22050 and audio.shape[0] == 1 and audio.shape[1] > rate  # more than a second
    assert np.sqrt(np.mean(audio ** 2)) > 0.02 and np.abs(audio).max() < 1.0
    assert asyncio.run(node.process("   ")) is None


def skip_unless_available(cls):
    """Skip a test whose node needs an optional extra that is not installed, with the node's own reason."""
    reason = cls.unavailable()
    if reason:
        pytest.skip(reason)


@pytest.mark.model
def test_silero_vad_finds_espeak_speech(tmp_path):
    skip_unless_available(SileroVAD)
    speech, rate = parse_wav(espeak_wav(tmp_path, SENTENCE).read_bytes())
    gap = np.zeros(rate, np.float32)  # one second of silence on each side
    audio = np.concatenate([gap, speech, gap])
    node = SileroVAD()
    asyncio.run(node.initialize())
    events = []
    for i in range(0, len(audio), rate // 50):  # 20 ms frames
        events += list(node.process((audio[None, i:i + rate // 50], rate)))
    events += [e for e in [node.flush()] if e]
    starts = [e["time_ms"] for e in events if e["event"] == "speech_start"]
    ends = [e["time_ms"] for e in events if e["event"] == "speech_end"]
    speech_ms = len(speech) * 1000 // rate
    assert starts and ends and len(starts) == len(ends), events
    assert 800 <= starts[0] <= 1400, events
    assert 1000 + speech_ms - 600 <= ends[-1] <= 1000 + speech_ms + 700, (events, speech_ms)


@pytest.mark.model
def test_whisper_transcribes_espeak_speech_through_the_worker(tmp_path, worker_factory):
    skip_unless_available(WhisperASR)
    speech, rate = parse_wav(espeak_wav(tmp_path, SENTENCE).read_bytes())
    pcm = np.clip(speech * 32768, -32768, 32767).astype("<i2")
    w = worker_factory()
    _, done = w.request({"op": "open", "session": "asr", "node_type": "WhisperASR"})
    assert done["op"] == "done", done
    step = rate // 50
    for seq, i in enumerate(range(0, len(pcm), step)):
        f = Frame(kind="audio", format="s16", rate=rate, channels=1, sid="call", seq=seq, ts=seq * 20000,
                  data=pcm[i:i + step].tobytes())
        outs, done = w.request({"op": "frame", "session": "asr", "frame": wire.encode(f)})
        assert outs == [] and done["op"] == "done"
    outs, done = w.request({"op": "flush", "session": "asr"})
    assert done["op"] == "done" and len(outs) == 1, (outs, done)
    text = wire.decode(outs[0]["frame"])
    assert text.kind == "text" and text.sid == "call"
    wer = word_error_rate(SENTENCE, text.text())
    print(f"\nWhisperASR tiny.en on espeak-ng speech: {text.text()!r}  WER = {wer:.1%}")
    assert wer <= 0.40


def test_word_error_rate():
    assert word_error_rate("a b c d", "a b c d") == 0
    assert word_error_rate("a b c d", "a x c") == 0.5


@pytest.mark.parametrize("cls", [UltravoxNode, KokoroTTS])
def test_large_models_report_missing_weights(cls, tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(ModelNotAvailable, match=f"model not available at {re.escape(str(missing))}"):
        asyncio.run(cls(model_path=str(missing)).initialize())
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ModelNotAvailable, match=f"{cls.__name__}: model not available at {re.escape(str(empty))}: "):
        asyncio.run(cls(model_path=str(empty)).initialize())
    with pytest.raises(ModelNotAvailable, match="<unset>"):
        asyncio.run(cls().initialize())


def test_kokoro_reports_missing_library(tmp_path):
    for name in ("config.json", "kokoro-v1_0.pth", "voices/af_heart.pt"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}")
    try:
        import kokoro  # noqa: F401
        pytest.skip("kokoro is installed")
    except ImportError:
        pass
    with pytest.raises(ModelNotAvailable, match="the 'kokoro' library is not installed"):
        asyncio.run(KokoroTTS(model_path=str(tmp_path)).initialize())


def test_model_not_available_through_the_worker(worker_factory):
    w = worker_factory()
    _, err = w.request({"op": "open", "session": "u", "node_type": "UltravoxNode",
                        "params": {"model_path": "/nonexistent/ultravox"}})
    assert err["type"] == "ModelNotAvailable" and "model not available at /nonexistent/ultravox" in err["error"]
    assert json.loads(json.dumps(w.request({"op": "ping"})[1]))["op"] == "pong"
