"""The voice pipeline of examples/voice.yaml in plain Python: make bench's baseline for its voice rows.

The package's own node classes, called in a plain asyncio loop as a RemoteMedia user's pipeline runs them (one
async generator per stage, pulled by the last): RemoteMedia's energy VoiceActivityDetector on 20 ms chunks, a
VADTriggeredBuffer-style segment buffer with voice.yaml's figures and speech_buffer's cut (300 ms of pre-roll; the
utterance goes out once the vad's 300 ms hangover has passed without speech, with 150 ms of post-roll after the
last speech; shorter than 250 ms is dropped),
WhisperASR (per_utterance, tiny.en, the same defaults as voice.yaml's asr node) in a thread, and the route on the
transcript's length: EspeakTTS (en-us) for 40 characters or fewer, else the text cut into sentences, each to
EspeakTTS (en-us, speed 190: voice.yaml's fallback for KokoroTTS). The models are the Go pipeline's, so only
orchestration, preprocessing and the VAD differ.

Each turn feeds one WAV (16 kHz mono, 16-bit) at real-time pace, 20 ms a chunk (--fast: as fast as it goes),
and times, from the moment the chunk holding the end of speech (--turn WAV:SECONDS) is fed, the utterance leaving
the segment buffer, the transcript and the first reply audio. One untimed warm-up turn first (model load). Prints
one JSON object: {"utterance_ms": [...], "transcript_ms": [...], "reply_ms": [...], "transcripts": [...],
"load_ms": L}.

    bench_voice.py --turn a.wav:3.61 --turn b.wav:2.2 --turns 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
import wave
from collections import deque
from pathlib import Path
from typing import Any, AsyncIterator

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from remotemedia.nodes.audio import VoiceActivityDetector  # noqa: E402
from remotemedia.nodes.speech import EspeakTTS, WhisperASR  # noqa: E402

CHUNK_MS = 20
PRE_ROLL_MS, HANGOVER_MS, POST_ROLL_MS, MIN_SPEECH_MS, MAX_SPEECH_MS = 300, 300, 150, 250, 20000
SHORT_REPLY_CHARS = 40  # voice.yaml's route: len(text) <= 40 to short_reply
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")


def read_wav(path: str) -> tuple[np.ndarray, int]:
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            raise SystemExit(f"bench_voice.py: {path}: want 16-bit samples, got {8 * w.getsampwidth()}-bit")
        a = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float32) / 32768.0
        return a.reshape(-1, w.getnchannels()).mean(axis=1), w.getframerate()


class Turn:
    """One utterance's clock: when its end of speech was fed, and when its transcript and reply came."""

    def __init__(self) -> None:
        self.ended = self.utterance_at = self.transcript_at = self.reply_at = 0.0
        self.transcript = ""


async def source(audio: np.ndarray, rate: int, speech_end: float, pace: bool, turn: Turn
                 ) -> AsyncIterator[tuple[np.ndarray, int]]:
    """20 ms chunks of audio, each at its time (pace) or at once; stamps the chunk holding the end of speech."""
    n, end = rate * CHUNK_MS // 1000, int(speech_end * rate)
    start = time.monotonic()
    for k, i in enumerate(range(0, len(audio), n)):
        if pace:
            await asyncio.sleep(max(0.0, start + k * CHUNK_MS / 1000 - time.monotonic()))
        if i <= end < i + n:
            turn.ended = time.monotonic()
        yield audio[None, i:i + n], rate


async def segments(chunks: AsyncIterator[Any]) -> AsyncIterator[tuple[np.ndarray, int]]:
    """One (audio, rate) per utterance from the VAD's annotated chunks (RemoteMedia's VADTriggeredBuffer)."""
    pre: deque[np.ndarray] = deque(maxlen=PRE_ROLL_MS // CHUNK_MS)
    speech: list[np.ndarray] = []
    speech_ms = silence_ms = 0
    rate = 16000
    async for (audio, rate), meta in chunks:
        mono = audio.reshape(-1)
        if not speech:
            if meta.get("is_speech"):
                speech, speech_ms, silence_ms = [*pre, mono], CHUNK_MS, 0
                pre.clear()
            else:
                pre.append(mono)
            continue
        speech.append(mono)
        if meta.get("is_speech"):
            speech_ms += CHUNK_MS + silence_ms
            silence_ms = 0
        else:
            silence_ms += CHUNK_MS
        if silence_ms >= max(HANGOVER_MS, POST_ROLL_MS) or speech_ms >= MAX_SPEECH_MS:
            if speech_ms >= MIN_SPEECH_MS:  # up to post-roll after the last speech, as speech_buffer cuts it
                yield np.concatenate(speech[:len(speech) - max(0, silence_ms - POST_ROLL_MS) // CHUNK_MS]), rate
            speech, speech_ms, silence_ms = [], 0, 0
    if speech and speech_ms >= MIN_SPEECH_MS:
        yield np.concatenate(speech), rate


class Pipeline:
    """voice.yaml's nodes, built once (the model loads once, as in a worker) and run turn by turn."""

    def __init__(self) -> None:
        self.asr = WhisperASR(per_utterance=True)
        self.short_reply = EspeakTTS(voice="en-us")
        self.long_reply = EspeakTTS(voice="en-us", speed=190)

    async def initialize(self) -> None:
        for n in (self.asr, self.short_reply, self.long_reply):
            await n.initialize()

    async def run(self, audio: np.ndarray, rate: int, speech_end: float, pace: bool) -> Turn:
        turn = Turn()
        vad = VoiceActivityDetector()  # a session's own state
        async for utterance, urate in segments(vad.process(source(audio, rate, speech_end, pace, turn))):
            if not turn.utterance_at:
                turn.utterance_at = time.monotonic()
            out = await asyncio.to_thread(self.asr.process, (utterance[None, :], urate))
            if out is None:
                continue
            text = out[0]
            if not turn.transcript_at:
                turn.transcript_at, turn.transcript = time.monotonic(), text
            if len(text) <= SHORT_REPLY_CHARS:
                replies = [(self.short_reply, text)]
            else:
                replies = [(self.long_reply, s) for s in _SENTENCE_END.split(text) if s.strip()]
            for tts, sentence in replies:
                if await tts.process(sentence) is not None and not turn.reply_at:
                    turn.reply_at = time.monotonic()
        return turn


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--turn", action="append", required=True, metavar="WAV:SECONDS",
                    help="an utterance's WAV and where its speech ends, in seconds (repeatable)")
    ap.add_argument("--turns", type=int, default=3, help="timed turns (cycling through the --turn WAVs)")
    ap.add_argument("--fast", action="store_true", help="feed the chunks as fast as they go, not at real-time pace")
    args = ap.parse_args()
    turns = []
    for t in args.turn:
        path, _, end = t.rpartition(":")
        audio, rate = read_wav(path)
        turns.append((audio, rate, float(end)))

    start = time.monotonic()
    p = Pipeline()
    await p.initialize()
    await p.run(*turns[0], pace=False)  # warm-up: the model's first call
    load_ms = (time.monotonic() - start) * 1000
    result: dict[str, Any] = {"utterance_ms": [], "transcript_ms": [], "reply_ms": [], "transcripts": [], "load_ms": load_ms}
    for i in range(args.turns):
        t = await p.run(*turns[i % len(turns)], pace=not args.fast)
        if not t.transcript_at or not t.reply_at:
            raise SystemExit(f"bench_voice.py: turn {i} got no transcript or no reply (transcript {t.transcript!r})")
        result["utterance_ms"].append((t.utterance_at - t.ended) * 1000)
        result["transcript_ms"].append((t.transcript_at - t.ended) * 1000)
        result["reply_ms"].append((t.reply_at - t.ended) * 1000)
        result["transcripts"].append(t.transcript)
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
