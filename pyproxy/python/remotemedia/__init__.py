"""RemoteMedia Hybrid Python SDK: the node contract, registration, the wire codec and the pipe worker."""

from .functions import node_function
from .hybrid import HybridError, HybridPipeline, RuntimeNode, WasmNode
from .models import ModelNotAvailable
from .node import Node
from .registry import register_node, register_node_class
from .wire import Frame, WireError

__all__ = ["Frame", "HybridError", "HybridPipeline", "ModelNotAvailable", "Node", "RuntimeNode", "WasmNode",
           "WireError", "node_function", "register_node", "register_node_class"]
