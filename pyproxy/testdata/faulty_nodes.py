"""Test-only nodes for the pyproxy fault-injection tests and benchmarks (passed to the worker with --module)."""

import os
import time

from remotemedia import Node, register_node


@register_node
class Echo(Node):
    """Returns text prefixed with the worker's pid: "<pid>:<text>"."""

    def process(self, data):
        return f"{os.getpid()}:{data}"


@register_node
class Raise(Node):
    """Raises ValueError for the text "raise", echoes anything else."""

    def process(self, data):
        if data == "raise":
            raise ValueError("boom from Raise node")
        return data


@register_node
class Sleep(Node):
    """Sleeps `seconds` (blocking the worker's thread) for each frame, then echoes it."""

    def __init__(self, seconds: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.seconds = float(seconds)

    def process(self, data):
        time.sleep(self.seconds)
        return data


@register_node
class Counter(Node):
    """Counts the frames of its session; flush() returns the total as JSON."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.n = 0

    def process(self, data):
        self.n += 1
        return f"{data}#{self.n}"

    def flush(self):
        return {"total": self.n}


@register_node
class Spawn(Node):
    """Starts a `sleep 60` child process and returns its pid (the proxy must kill it with the worker)."""

    def process(self, data):
        import subprocess

        return str(subprocess.Popen(["sleep", "60"]).pid)


@register_node
class Pairs(Node):
    """A streaming node: joins its inputs two by two ("a+b"); flush yields a lone last one."""

    is_streaming = True

    async def process(self, stream):
        buf = []
        async for item in stream:
            buf.append(item)
            if len(buf) == 2:
                yield "+".join(buf)
                buf = []
        if buf:
            yield "+".join(buf)


@register_node
class Busy(Node):
    """Spends `ms` milliseconds of pure-Python CPU (holding the GIL) on each frame, then returns it."""

    def __init__(self, ms: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        self.seconds = float(ms) / 1000

    def process(self, data):
        end = time.perf_counter() + self.seconds
        while time.perf_counter() < end:
            pass
        return data
