"""SileroVAD: Silero's neural voice activity detector run with onnxruntime on the model file a package ships."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..dsp import resample, to_mono
from ..models import ModelNotAvailable, package_dir, require_module, require_path, shared_model
from ..node import Node
from ..registry import register_node

RATE = 16000
WINDOW = 512  # samples per model call at 16 kHz
CONTEXT = 64  # samples of the previous window the model sees


def default_model_path() -> Path | None:
    """silero-vad's own ONNX file, else the copy faster-whisper ships (never downloaded)."""
    for pkg, rel in (("silero_vad", "data/silero_vad.onnx"), ("faster_whisper", "assets/silero_vad_v6.onnx")):
        d = package_dir(pkg)
        if d is not None and (d / rel).is_file():
            return d / rel
    return None


class _Model:
    """One onnxruntime session (shared by all sessions of the worker) for either ONNX export."""

    def __init__(self, path: Path) -> None:
        ort = require_module("SileroVAD", path, "onnxruntime", "'remotemedia[vad]'")
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])
        self.names = {i.name for i in self.session.get_inputs()}
        self.split_state = "h" in self.names  # faster-whisper's export: h, c; silero-vad's: state, sr

    def initial_state(self) -> Any:
        z = np.zeros((1, 1, 128), dtype=np.float32)
        return (z, z.copy()) if self.split_state else np.zeros((2, 1, 128), dtype=np.float32)

    def __call__(self, chunk: np.ndarray, state: Any) -> tuple[float, Any]:
        """Speech probability of one CONTEXT+WINDOW chunk, and the next recurrent state."""
        x = chunk[None, :].astype(np.float32)
        if self.split_state:
            prob, h, c = self.session.run(None, {"input": x, "h": state[0], "c": state[1]})
            return float(np.ravel(prob)[0]), (h, c)
        prob, state = self.session.run(None, {"input": x, "state": state, "sr": np.array(RATE, dtype=np.int64)})
        return float(np.ravel(prob)[0]), state


@register_node
class SileroVAD(Node):
    """Silero VAD on 16 kHz 512-sample windows; emits json events speech_start / speech_end.

    Events: {"event": "speech_start" | "speech_end", "time_ms": int, "probability": float}; time_ms counts
    from the first audio of the session. Input audio at any rate is mixed to mono and resampled to 16 kHz.

    Args:
        threshold: speech probability that starts speech
        neg_threshold: probability under which silence counts (default threshold - 0.15)
        min_silence_ms: silence needed before speech_end
        model_path: the ONNX file (default: silero-vad's, else faster-whisper's copy; operator-only)
    """

    operator_params = ("model_path",)

    @classmethod
    def unavailable(cls) -> str | None:
        if package_dir("onnxruntime") is None:
            return "SileroVAD: the onnxruntime library is not installed (pip install 'remotemedia[vad]')"
        if default_model_path() is None:
            return ("SileroVAD: no default model: install silero-vad (pip install --no-deps silero-vad) or "
                    "faster-whisper, or set model_path")
        return None

    def __init__(self, threshold: float = 0.5, neg_threshold: float | None = None, min_silence_ms: int = 300,
                 model_path: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.threshold = threshold
        self.neg_threshold = threshold - 0.15 if neg_threshold is None else neg_threshold
        self.min_silence_ms = min_silence_ms
        self.model_path = model_path
        self.model: _Model | None = None

    async def initialize(self) -> None:
        path = self.model_path or default_model_path()
        if path is None:
            raise ModelNotAvailable("SileroVAD: model not available at <none>: install silero-vad "
                                    "(pip install --no-deps silero-vad) or faster-whisper, or set model_path")
        path = require_path("SileroVAD", path)
        self.model = shared_model(("silero", str(path)), lambda: _Model(path))
        self.reset()

    def _loaded(self) -> _Model:
        if self.model is None:
            raise RuntimeError("SileroVAD: process before initialize (no model loaded)")
        return self.model

    def reset(self) -> None:
        self.state = self._loaded().initial_state()
        self.pending = np.zeros(0, dtype=np.float32)
        self.context = np.zeros(CONTEXT, dtype=np.float32)
        self.samples = 0  # 16 kHz samples analysed so far
        self.speaking = False
        self.silence_from: int | None = None

    def process(self, data: Any) -> Iterator[dict[str, Any]]:
        """Yields the events found in this audio (usually none)."""
        audio, rate = self.split_data_metadata(data)[0]
        mono = resample(to_mono(audio), int(rate), RATE)
        self.pending = np.concatenate([self.pending, mono])
        while len(self.pending) >= WINDOW:
            window, self.pending = self.pending[:WINDOW], self.pending[WINDOW:]
            prob, self.state = self._loaded()(np.concatenate([self.context, window]), self.state)
            self.context = window[-CONTEXT:]
            self.samples += WINDOW
            yield from self.step(prob)

    def step(self, prob: float) -> list[dict[str, Any]]:
        now_ms = (self.samples - WINDOW) * 1000 // RATE
        if prob >= self.threshold:
            self.silence_from = None
            if not self.speaking:
                self.speaking = True
                return [{"event": "speech_start", "time_ms": int(now_ms), "probability": round(prob, 3)}]
        elif self.speaking and prob < self.neg_threshold:
            if self.silence_from is None:
                self.silence_from = now_ms
            elif now_ms - self.silence_from >= self.min_silence_ms:
                self.speaking = False
                end, self.silence_from = self.silence_from, None
                return [{"event": "speech_end", "time_ms": int(end), "probability": round(prob, 3)}]
        return []

    def flush(self) -> dict[str, Any] | None:
        """End of input: close an open speech segment, and start the next stream afresh."""
        event = None
        if self.speaking:
            end = self.silence_from if self.silence_from is not None else self.samples * 1000 // RATE
            event = {"event": "speech_end", "time_ms": int(end), "probability": 0.0}
        self.reset()
        return event
