"""Conversions between frames and the values nodes see and return."""

import json

import numpy as np
import pytest

from remotemedia import Frame
from remotemedia.node import data_to_frame, frame_to_data

SRC = Frame(kind="text", data="in", sid="s", seq=4, ts=80, meta={"a": 1})


def test_audio_in_is_channels_by_samples_float32():
    s16 = Frame(kind="audio", format="s16", rate=8000, channels=2, data=np.array([0, 16384, -32768, 8192], "<i2").tobytes())
    audio, rate = frame_to_data(s16)
    assert rate == 8000 and audio.dtype == np.float32 and audio.tolist() == [[0.0, -1.0], [0.5, 0.25]]
    audio *= 2  # writable


@pytest.mark.parametrize("name, given, expect", [
    ("mono 1-D audio", (np.array([0.5, -0.5], np.float32), 16000),
     dict(kind="audio", format="f32", rate=16000, channels=1, data=np.array([0.5, -0.5], "<f4").tobytes())),
    ("stereo audio interleaved", (np.array([[1, 2], [3, 4]], np.float32), 48000),
     dict(kind="audio", format="f32", rate=48000, channels=2, data=np.array([1, 3, 2, 4], "<f4").tobytes())),
    ("text", "hi", dict(kind="text", data="hi")),
    ("json dict with numpy values", {"x": np.float32(0.5), "ok": np.bool_(True)},
     dict(kind="json", data='{"x":0.5,"ok":true}')),
    ("json list", [1, 2], dict(kind="json", data="[1,2]")),
    ("binary", b"\x00\x01", dict(kind="binary", data=b"\x00\x01")),
    ("tensor", np.arange(6, dtype=np.int16).reshape(2, 3),
     dict(kind="tensor", dtype="i16", shape=[2, 3], data=np.arange(6, dtype="<i2").tobytes())),
])
def test_outputs(name, given, expect):
    assert data_to_frame(given, SRC) == Frame(sid="s", seq=4, ts=80, meta={"a": 1}, **expect)


def test_value_with_metadata_and_frames_pass():
    f = data_to_frame(("x", {"b": 2}), SRC)
    assert f.meta == {"a": 1, "b": 2} and f.text() == "x"
    own = Frame(kind="text", data="own")
    assert data_to_frame(own, SRC) is own
    assert data_to_frame(None, SRC) is None


def test_tensor_and_json_in():
    t = Frame(kind="tensor", dtype="f32", shape=[2], data=np.array([1, 2], "<f4").tobytes())
    assert frame_to_data(t).tolist() == [1.0, 2.0]
    assert frame_to_data(Frame(kind="json", data=json.dumps({"k": [1]}))) == {"k": [1]}


def test_remotemedia_audio_with_metadata():
    for given, meta in [((np.array([0.25], np.float32), np.int64(8000), {"b": 2}), {"a": 1, "b": 2}),
                        ((np.array([0.25], np.float32), 8000, None), {"a": 1})]:
        assert data_to_frame(given, SRC) == Frame(kind="audio", format="f32", rate=8000, channels=1, sid="s", seq=4,
                                                  ts=80, meta=meta, data=np.array([0.25], "<f4").tobytes())


def test_unconvertible_output():
    with pytest.raises(TypeError, match="cannot convert node output of type object"):
        data_to_frame(object(), SRC)
    for given in [(np.zeros(2), "rate"), (np.zeros(2), 8000, "meta"), (1, 2, 3)]:
        with pytest.raises(TypeError, match=r"of type tuple\(.*\) to a frame; a node returns one of: "
                                            r"\(ndarray, sample_rate\), \(ndarray, sample_rate, dict\), "):
            data_to_frame(given, SRC)
    with pytest.raises(TypeError, match="complex64"):
        data_to_frame(np.zeros(2, np.complex64), SRC)
