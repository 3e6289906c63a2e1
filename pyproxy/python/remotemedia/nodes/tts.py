"""RemoteMedia's ``remotemedia.nodes.tts`` import path: KokoroTTSNode runs as our KokoroTTS (docs/migration.md)."""

from ..hybrid import KokoroTTSNode

__all__ = ["KokoroTTSNode"]
