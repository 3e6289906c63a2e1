"""The Python twins of WebAssembly node types (remotemedia.nodes.twins); their agreement with the modules is
checked in Go (target/server/cli/auto_test.go)."""

from __future__ import annotations

import numpy as np
import pytest

from remotemedia.nodes.twins import Resample
from remotemedia.registry import get_node_class


def run(node: Resample, audio: np.ndarray, rate: int, sizes: list[int]) -> np.ndarray:
    outs, i, k = [], 0, 0
    while i < audio.shape[1]:
        n = sizes[k % len(sizes)]
        out = node.process((audio[:, i:i + n], rate))
        if out is not None:
            outs.append(out[0])
        i, k = i + n, k + 1
    tail = node.flush()
    if tail is not None:
        outs.append(tail[0])
    return np.concatenate(outs, axis=1)


@pytest.mark.parametrize("rate_in,rate_out,quality", [(48000, 16000, "high"), (44100, 16000, "fast"),
                                                      (16000, 48000, "best"), (48000, 44101, "high")])
def test_resample_streams_like_one_call(rate_in: int, rate_out: int, quality: str) -> None:
    t = np.arange(rate_in // 4) / rate_in
    audio = np.stack([0.5 * np.sin(2 * np.pi * 997 * t), 0.3 * np.sin(2 * np.pi * 300 * t + 1)]).astype(np.float32)
    whole = run(Resample(rate=rate_out, quality=quality), audio, rate_in, [audio.shape[1]])
    ragged = run(Resample(rate=rate_out, quality=quality), audio, rate_in, [333, 1, 960, 17])
    assert whole.shape == (2, -(-audio.shape[1] * rate_out // rate_in))
    np.testing.assert_allclose(ragged, whole, atol=1e-6)
    ref = 0.5 * np.sin(2 * np.pi * 997 * np.arange(whole.shape[1]) / rate_out)
    skip = rate_out // 20
    assert np.abs(whole[0, skip:-skip] - ref[skip:-skip]).max() < (1e-3 if quality == "fast" else 1e-4)


def test_resample_is_registered_under_the_wasm_type_name() -> None:
    assert get_node_class("resample") is Resample
    with pytest.raises(ValueError, match="quality"):
        Resample(quality="superb")
    with pytest.raises(ValueError, match="rate"):
        Resample(rate=10)
