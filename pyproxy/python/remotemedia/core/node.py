"""``from remotemedia.core.node import Node`` (the original RemoteMedia SDK's path) gives the same class."""

from ..node import Node

__all__ = ["Node"]
