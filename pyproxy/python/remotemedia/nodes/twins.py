"""Python implementations of node types that also have a WebAssembly one (wasm-modules/src): with
``runtime_hint: auto`` a definition runs the WebAssembly module and falls back to these where the module is not
there (docs/definitions.md). They take the same params and give the same outputs within a stated tolerance
(target/server/cli/auto_test.go)."""

from __future__ import annotations

from math import gcd
from typing import Any

import numpy as np

from ..node import Node
from ..registry import register_node

_QUALITIES = {"fast": (0.7, 62.0), "high": (0.9, 92.0), "best": (0.94, 110.0)}  # passband edge, stopband dB
_MAX_PHASES = 1024


@register_node("resample")
class Resample(Node):
    """Resamples f32 audio to another rate: the polyphase Kaiser-windowed sinc of resample.wasm, in numpy.

    Output n is at input position n*in/out; input before the stream's start reads as zeros and flush() pads
    zeros through the filter, so the output has ceil(len * out / in) samples. A change of input rate or channel
    count ends the previous stream.

    Args:
        rate: output sample rate in Hz
        quality: "fast", "high" or "best" (passband to 0.7, 0.9, 0.94 of the lower Nyquist; 62, 92, 110 dB)
    """

    operator_params = ()

    def __init__(self, rate: int = 16000, quality: str = "high", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 1000 <= int(rate) <= 384000:
            raise ValueError(f"resample: rate must be in [1000, 384000], got {rate}")
        if quality not in _QUALITIES:
            raise ValueError(f"resample: quality must be one of {', '.join(_QUALITIES)}, got {quality!r}")
        self.rate, self.quality = int(rate), quality
        self._in_rate = 0
        self._channels = 0

    def _setup(self, rate: int, channels: int) -> None:
        g = gcd(self.rate, rate)
        self._l, self._m, self._in_rate, self._channels = self.rate // g, rate // g, rate, channels
        pas, atten = _QUALITIES[self.quality]
        nyq = min(rate, self.rate) / 2
        fc = nyq * (1 + pas) / 2 / rate
        wreal = (atten - 7.95) * rate / (28.72 * nyq * (1 - pas))
        beta = 0.1102 * (atten - 8.7)
        self._half = int(wreal) + 1
        self._taps = (2 * self._half + 3) & ~3
        self._phases = min(self._l, _MAX_PHASES)
        ph = np.arange(self._phases + 1)[:, None] / self._phases
        u = (self._half - 1 - np.arange(self._taps))[None, :] + ph
        w = np.clip(1 - (u / wreal) ** 2, 0, None)
        v = np.where(np.abs(u) < wreal, 2 * fc * np.sinc(2 * fc * u) * np.i0(beta * np.sqrt(w)) / np.i0(beta), 0)
        self._table = (v / v.sum(axis=1, keepdims=True)).astype(np.float32)
        self._hist = np.zeros((channels, self._half), dtype=np.float32)
        self._hbase = -self._half
        self._count = self._cur_i = self._cur_p = 0

    def _produce(self, limit: int) -> np.ndarray:
        hlen = self._hist.shape[1]
        last, look = self._hbase + hlen - 1, self._taps - self._half
        # the positions (input index, phase) of every output whose taps are in
        n = 0
        i, p = self._cur_i, self._cur_p
        idx, phs = [], []
        while i + look <= last and i < limit:
            idx.append(i)
            phs.append(p)
            n += 1
            i += self._m // self._l
            p += self._m % self._l
            if p >= self._l:
                p -= self._l
                i += 1
        self._cur_i, self._cur_p = i, p
        out = np.zeros((self._channels, n), dtype=np.float32)
        if n:
            starts = np.asarray(idx) - self._half + 1 - self._hbase
            if self._l <= _MAX_PHASES:
                h = self._table[np.asarray(phs)]
            else:
                x = np.asarray(phs) * self._phases / self._l
                k = x.astype(int)
                a = (x - k).astype(np.float32)[:, None]
                h = self._table[k] + a * (self._table[k + 1] - self._table[k])
            windows = np.lib.stride_tricks.sliding_window_view(self._hist, self._taps, axis=1)[:, starts]
            out = np.einsum("cnt,nt->cn", windows, h).astype(np.float32)
        keep = self._cur_i - self._half + 1
        if keep > self._hbase:
            drop = min(keep - self._hbase, hlen)
            self._hist = self._hist[:, drop:]
            self._hbase += drop
        return out

    def process(self, data: Any) -> Any:
        body, meta = self.split_data_metadata(data)
        audio, rate = body
        audio = np.asarray(audio, dtype=np.float32)
        audio = audio[None, :] if audio.ndim == 1 else audio
        if int(rate) == self.rate:
            tail = self._finish()
            out = audio if tail is None else np.concatenate([tail, audio], axis=1)
            return self.merge_data_metadata((out, self.rate), meta)
        head = None
        if int(rate) != self._in_rate or audio.shape[0] != self._channels:
            head = self._finish()
            self._setup(int(rate), audio.shape[0])
        self._hist = np.concatenate([self._hist, audio], axis=1)
        self._count += audio.shape[1]
        out = self._produce(2**62)
        if head is not None:
            out = np.concatenate([head, out], axis=1)
        return self.merge_data_metadata((out, self.rate), meta) if out.shape[1] else None

    def _finish(self) -> np.ndarray | None:
        if not self._in_rate:
            return None
        self._hist = np.concatenate([self._hist, np.zeros((self._channels, self._taps), np.float32)], axis=1)
        out = self._produce(self._count)
        self._in_rate = 0
        return out if out.shape[1] else None

    def flush(self) -> Any:
        out = self._finish()
        return None if out is None else (out, self.rate)
