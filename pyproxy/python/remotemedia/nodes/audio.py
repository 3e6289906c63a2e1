"""Light audio nodes: PassThrough, AudioTransform and RemoteMedia's energy VoiceActivityDetector."""

from __future__ import annotations

from collections import deque
from typing import Any, AsyncIterator

import numpy as np

from ..dsp import mix_channels, resample, to_mono
from ..node import Node
from ..registry import register_node
from ..wire import Frame


@register_node
class PassThrough(Node):
    """Returns every frame unchanged (the worker resends its bytes); for benchmarks and wiring tests."""

    wants_frames = True
    operator_params = ()

    async def process(self, frame: Frame) -> Frame:
        return frame


@register_node
class AudioTransform(Node):
    """Resamples and remixes audio (RemoteMedia's AudioTransform).

    Args:
        output_sample_rate: target sample rate in Hz
        output_channels: target channel count (down-mix averages, up-mix copies)
    """

    operator_params = ()

    def __init__(self, output_sample_rate: int = 44100, output_channels: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if output_sample_rate <= 0 or output_channels <= 0:
            raise ValueError("AudioTransform: output_sample_rate and output_channels must be > 0")
        self.output_sample_rate = int(output_sample_rate)
        self.output_channels = int(output_channels)

    def process(self, data: Any) -> Any:
        body, meta = self.split_data_metadata(data)
        audio, rate = body
        audio = resample(np.asarray(audio, dtype=np.float32), int(rate), self.output_sample_rate)
        out = (mix_channels(audio, self.output_channels), self.output_sample_rate)
        return self.merge_data_metadata(out, meta)


@register_node
class VoiceActivityDetector(Node):
    """Energy VAD with an adaptive threshold, as RemoteMedia's VoiceActivityDetector.

    The audio is cut into analysis frames of frame_duration_ms, buffered across input chunks (a 20 ms chunk
    against 30 ms frames is analysed once a whole frame has arrived); a frame is speech when its RMS exceeds
    0.7 * (2.5 * 30th percentile of the last 100 frame energies) + 0.3 * energy_threshold; a chunk is speech
    when the ratio of speech frames among those completed with it reaches speech_threshold. A chunk that
    completes no analysis frame keeps the previous chunk's decision.

    Args:
        frame_duration_ms: analysis frame length in ms (10, 20 or 30)
        energy_threshold: fixed RMS threshold blended into the adaptive one (0.0 to 1.0)
        speech_threshold: ratio of speech frames for a chunk to count as speech
        filter_mode: output only the chunks that contain speech (without VAD metadata)
        include_metadata: in pass-through mode, add is_speech, speech_ratio, avg_energy, frame_duration_ms
    """

    is_streaming = True
    history_size = 100
    operator_params = ()

    def __init__(self, frame_duration_ms: int = 30, energy_threshold: float = 0.02, speech_threshold: float = 0.3,
                 filter_mode: bool = False, include_metadata: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if frame_duration_ms <= 0:
            raise ValueError(f"VoiceActivityDetector: frame_duration_ms must be > 0, got {frame_duration_ms}")
        self.frame_duration_ms = frame_duration_ms
        self.energy_threshold = energy_threshold
        self.speech_threshold = speech_threshold
        self.filter_mode = filter_mode
        self.include_metadata = include_metadata
        self._energy_history: deque[float] = deque(maxlen=self.history_size)
        self._pending = np.zeros(0, dtype=np.float32)  # mono samples of an analysis frame not yet complete
        self._rate = 0
        self._last: tuple[bool, dict[str, Any]] = (False, {"speech_ratio": 0.0, "avg_energy": 0.0})

    async def process(self, data_stream: AsyncIterator[Any]) -> Any:
        async for data in data_stream:
            body, meta = self.split_data_metadata(data)
            if not (isinstance(body, tuple) and len(body) == 2 and isinstance(body[0], np.ndarray)):
                self.logger.warning("VAD %r: input is not (audio, sample_rate); dropped", self.name)
                continue
            audio, rate = body
            audio = audio.reshape(1, -1) if audio.ndim == 1 else audio
            is_speech, info = self.decide(to_mono(audio), int(rate))
            if self.filter_mode:
                if is_speech:
                    yield self.merge_data_metadata((audio, rate), meta)
            elif self.include_metadata:
                vad = {"is_speech": is_speech, "speech_ratio": info["speech_ratio"],
                       "avg_energy": info["avg_energy"], "frame_duration_ms": self.frame_duration_ms}
                yield (audio, rate), {**(meta or {}), **vad}
            else:
                yield self.merge_data_metadata((audio, rate), meta)

    def decide(self, mono: np.ndarray, rate: int) -> tuple[bool, dict[str, Any]]:
        """(is_speech, details) for one input chunk: analyses the frames it completes together with the samples
        buffered from earlier chunks; a chunk that completes none keeps the last decision."""
        if rate != self._rate:  # a new rate starts the frame buffer afresh
            self._rate, self._pending = rate, np.zeros(0, dtype=np.float32)
        frame_samples = max(int(rate * self.frame_duration_ms / 1000), 1)
        buf = np.concatenate([self._pending, np.asarray(mono, dtype=np.float32)])
        n = len(buf) // frame_samples
        self._pending = buf[n * frame_samples:]
        if n:
            self._last = self.analyze(buf[: n * frame_samples], frame_samples)
        return self._last

    def analyze(self, mono: np.ndarray, frame_samples: int) -> tuple[bool, dict[str, Any]]:
        """(is_speech, details) for whole frames of mono audio (a trailing partial frame is ignored); updates
        the energy history."""
        frame_samples = max(frame_samples, 1)
        n = len(mono) // frame_samples
        threshold = self.adaptive_threshold()
        energies = np.sqrt(np.mean(mono[: n * frame_samples].reshape(n, frame_samples) ** 2, axis=1)) if n else []
        speech = 0
        for e in energies:
            self._energy_history.append(float(e))
            speech += e > threshold
        ratio = speech / max(n, 1)
        return bool(ratio >= self.speech_threshold), {
            "speech_ratio": float(ratio), "avg_energy": float(np.sum(energies) / max(n, 1)),
            "adaptive_threshold": float(threshold), "num_frames": n, "speech_frames": int(speech)}

    def adaptive_threshold(self) -> float:
        """0.7 * 2.5 * (30th percentile of recent frame energies) + 0.3 * energy_threshold."""
        if not self._energy_history:
            return self.energy_threshold
        hist = sorted(self._energy_history)
        return 0.7 * hist[int(len(hist) * 0.3)] * 2.5 + 0.3 * self.energy_threshold
