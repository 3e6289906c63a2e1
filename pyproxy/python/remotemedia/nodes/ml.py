"""RemoteMedia's ``remotemedia.nodes.ml`` import path: WhisperTranscriptionNode runs as our WhisperASR, UltravoxNode
is our Python node (docs/migration.md)."""

from ..hybrid import WhisperTranscriptionNode
from .speech import UltravoxNode

__all__ = ["UltravoxNode", "WhisperTranscriptionNode"]
