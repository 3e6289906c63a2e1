"""Test-only node for pyproxy's TestResponseFraming (passed to the worker with --module)."""

import os
import time

from remotemedia import Node, register_node


@register_node
class Gate(Node):
    """Echoes each text; for "wait:PATH" it first waits (at most 60 s) until the file PATH exists, so a test
    decides when the call returns instead of guessing how long it takes."""

    def process(self, data):
        if data.startswith("wait:"):
            path = data[len("wait:"):]
            end = time.monotonic() + 60
            while not os.path.exists(path) and time.monotonic() < end:
                time.sleep(0.005)
        return data
