"""RemoteMedia's ``remotemedia.nodes.text_collector`` import path: TextCollectorNode runs as our text_collector
(WebAssembly; docs/migration.md)."""

from ..hybrid import TextCollectorNode

__all__ = ["TextCollectorNode"]
