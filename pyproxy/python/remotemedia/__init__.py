"""RemoteMedia Hybrid Python SDK: the node contract, registration, the wire codec and the pipe worker."""

from .models import ModelNotAvailable
from .node import Node
from .registry import register_node, register_node_class
from .wire import Frame, WireError

__all__ = ["Frame", "ModelNotAvailable", "Node", "WireError", "register_node", "register_node_class"]
