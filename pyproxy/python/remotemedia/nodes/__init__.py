"""Built-in node types; importing this package registers them. Heavy libraries load in initialize()."""

from .audio import AudioTransform, PassThrough, VoiceActivityDetector
from .silero import SileroVAD
from .speech import EspeakTTS, KokoroTTS, UltravoxNode, WhisperASR
from .twins import Resample

__all__ = ["AudioTransform", "EspeakTTS", "KokoroTTS", "PassThrough", "Resample", "SileroVAD", "UltravoxNode",
           "VoiceActivityDetector", "WhisperASR"]
