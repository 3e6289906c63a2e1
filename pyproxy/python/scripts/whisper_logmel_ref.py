"""A numpy reference of Whisper's log-mel front end (openai/whisper, whisper/audio.py log_mel_spectrogram),
for wasm-modules/logmel_test.go.

Reads little-endian float32 16 kHz mono samples on stdin and writes the log-mel spectrogram as float32,
frame-major ([frames][n_mels]), on stdout.

    whisper_logmel_ref.py N_MELS whisper       # Whisper's: clamped at the maximum of the whole input
    whisper_logmel_ref.py N_MELS running       # each frame clamped at the maximum of the frames so far
    whisper_logmel_ref.py N_MELS faster-whisper  # faster_whisper.FeatureExtractor (padding=0); nothing if not installed

Whisper: torch.stft(audio, 400, 160, window=hann_window(400), center=True, pad_mode="reflect"), the last
frame dropped, |X|^2, librosa's Slaney mel filterbank (norm="slaney": what mel_filters.npz holds),
log10(max(., 1e-10)), max(x, x.max() - 8), (x + 4) / 4.
"""

from __future__ import annotations

import sys

import numpy as np

N_FFT, HOP, RATE = 400, 160, 16000


def slaney_mel_filters(n_mels: int) -> np.ndarray:
    """librosa.filters.mel(sr=16000, n_fft=400, n_mels=n_mels) (htk=False, norm="slaney"), float32."""

    def hz_to_mel(f: np.ndarray) -> np.ndarray:
        f = np.asarray(f, dtype=np.float64)
        return np.where(f < 1000, f / (200 / 3), 15 + np.log(np.maximum(f, 1e-9) / 1000) / (np.log(6.4) / 27))

    def mel_to_hz(m: np.ndarray) -> np.ndarray:
        return np.where(m < 15, (200 / 3) * m, 1000 * np.exp((np.log(6.4) / 27) * (m - 15)))

    fft_freqs = np.fft.rfftfreq(N_FFT, 1 / RATE)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(0.0), hz_to_mel(RATE / 2), n_mels + 2))
    fdiff = np.diff(mel_f)
    ramps = mel_f[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / fdiff[:-1, None]
    upper = ramps[2:] / fdiff[1:, None]
    weights = np.maximum(0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights.astype(np.float32)


def log10_mel(audio: np.ndarray, n_mels: int) -> np.ndarray:
    """log10 of the mel energies, [n_mels][frames], before Whisper's clamp and scaling."""
    window = (0.5 - 0.5 * np.cos(2 * np.pi * np.arange(N_FFT) / N_FFT)).astype(np.float32)  # periodic Hann
    padded = np.pad(audio.astype(np.float32), N_FFT // 2, mode="reflect")
    n_frames = 1 + (len(padded) - N_FFT) // HOP
    frames = np.lib.stride_tricks.sliding_window_view(padded, N_FFT)[::HOP][:n_frames]
    power = np.abs(np.fft.rfft(frames * window, axis=-1)[:-1]) ** 2  # Whisper drops the last frame
    mel = slaney_mel_filters(n_mels) @ power.T.astype(np.float32)
    return np.log10(np.maximum(mel, 1e-10))


def main() -> None:
    n_mels, mode = int(sys.argv[1]), sys.argv[2]
    audio = np.frombuffer(sys.stdin.buffer.read(), dtype="<f4")
    if mode == "faster-whisper":
        try:
            from faster_whisper.feature_extractor import FeatureExtractor
        except ImportError:
            return  # not installed: no output, and the test skips this comparison

        out = FeatureExtractor(feature_size=n_mels)(audio, padding=0)
    else:
        log_spec = log10_mel(audio, n_mels)
        if mode == "whisper":
            floor = log_spec.max() - 8.0
        elif mode == "running":
            floor = np.maximum.accumulate(log_spec.max(axis=0)) - 8.0
        else:
            raise SystemExit(f"whisper_logmel_ref: unknown mode {mode!r}")
        out = (np.maximum(log_spec, floor) + 4.0) / 4.0
    sys.stdout.buffer.write(np.ascontiguousarray(out.T, dtype="<f4").tobytes())


if __name__ == "__main__":
    main()
