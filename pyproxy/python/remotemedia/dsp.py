"""Small audio helpers shared by the built-in nodes."""

from __future__ import annotations

from functools import cache
from math import gcd
from typing import Any, Callable

import numpy as np


@cache
def _scipy_resample_poly() -> Callable[..., Any] | None:
    """scipy's resample_poly, or None without scipy. Imported at first use, not with this module: scipy maps
    large libraries, more than a worker under --memory-limit may have, and most workers never resample."""
    try:
        from scipy.signal import resample_poly  # type: ignore[import-untyped]
    except ImportError:  # scipy is optional
        return None
    return resample_poly  # type: ignore[no-any-return]


_HALF_TAPS = 16  # windowed-sinc half length, in input samples at the lower of the two rates


def resample(x: np.ndarray, rate_in: int, rate_out: int) -> np.ndarray:
    """Resample float audio of shape (channels, samples) or (samples,) from rate_in to rate_out Hz.

    scipy's polyphase resampler when scipy is installed; otherwise a Kaiser-windowed sinc interpolator in
    numpy that low-passes at the lower Nyquist frequency (about 50 dB of stop-band rejection)."""
    if rate_in == rate_out:
        return x
    x = np.asarray(x, dtype=np.float32)
    resample_poly = _scipy_resample_poly()
    if resample_poly is not None:
        g = gcd(rate_in, rate_out)
        y: np.ndarray = resample_poly(x, rate_out // g, rate_in // g, axis=-1)
        return y.astype(np.float32)
    g = gcd(rate_in, rate_out)
    up, down = rate_out // g, rate_in // g
    n_in = x.shape[-1]
    n_out = int(round(n_in * up / down))
    cutoff = min(1.0, up / down)  # relative to the input Nyquist frequency
    half = int(np.ceil(_HALF_TAPS / cutoff))
    offsets = np.arange(-half + 1, half + 1)
    n = np.arange(n_out)
    base, phase = np.divmod(n * down, up)  # output n sits at input base + phase/up
    used = np.unique(phase)
    d = (used / up)[:, None] - offsets[None, :]
    window = np.i0(5.0 * np.sqrt(np.clip(1.0 - (d / half) ** 2, 0.0, 1.0))) / np.i0(5.0)
    weights = np.zeros((up, 2 * half), dtype=np.float32)
    weights[used] = cutoff * np.sinc(cutoff * d) * window
    flat = x.reshape(-1, n_in)
    padded = np.pad(flat, ((0, 0), (half - 1, half + 1)))
    out = np.empty((flat.shape[0], n_out), dtype=np.float32)
    for c in range(flat.shape[0]):
        taps = np.lib.stride_tricks.sliding_window_view(padded[c], 2 * half)[base]
        out[c] = np.einsum("ij,ij->i", taps, weights[phase])
    return out.reshape(x.shape[:-1] + (n_out,))

def mix_channels(x: np.ndarray, channels: int) -> np.ndarray:
    """(channels_in, samples) to (channels, samples): average to mono, copy mono up, else keep the first."""
    if x.ndim == 1:
        x = x[None, :]
    have = x.shape[0]
    if have == channels:
        return x
    if channels == 1:
        mean: np.ndarray = x.mean(axis=0, keepdims=True)
        return mean
    if have == 1:
        return np.repeat(x, channels, axis=0)
    if have > channels:
        return x[:channels]
    return np.concatenate([x, np.repeat(x[-1:], channels - have, axis=0)], axis=0)


def to_mono(x: np.ndarray) -> np.ndarray:
    """The mono mix of (channels, samples) or (samples,) audio, as a 1-D float32 array."""
    x = np.asarray(x, dtype=np.float32)
    return x if x.ndim == 1 else x.mean(axis=0)
