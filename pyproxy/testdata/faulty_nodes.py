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


@register_node
class Hog(Node):
    """Allocates (and touches) 16 MiB blocks on each frame until the worker's memory limit stops it with a
    MemoryError; returns "allocated N MiB" if it reaches `max_mb` first (a guard for a worker without a limit)."""

    def __init__(self, max_mb: int = 4096, **kwargs):
        super().__init__(**kwargs)
        self.max_mb = int(max_mb)

    def process(self, data):
        blocks = []
        while len(blocks) * 16 < self.max_mb:
            blocks.append(bytearray(16 << 20))
        return f"allocated {len(blocks) * 16} MiB"


@register_node
class Program(Node):
    """Names a program (an operator-only param) and a greeting (a client's); returns "<binary> <greeting> <text>"
    without running anything."""

    operator_params = ("binary",)

    def __init__(self, binary: str = "/bin/echo", greeting: str = "hi", **kwargs):
        super().__init__(**kwargs)
        self.binary, self.greeting = binary, greeting

    def process(self, data):
        return f"{self.binary} {self.greeting} {data}"


@register_node
class Missing(Node):
    """A node whose model is never installed: it is listed, but cannot be opened."""

    @classmethod
    def unavailable(cls):
        return "its model is not installed"

    def process(self, data):
        return data


@register_node
class Big(Node):
    """Returns `kib` KiB of text for each frame (to fill a client's socket)."""

    def __init__(self, kib: int = 1024, **kwargs):
        super().__init__(**kwargs)
        self.kib = int(kib)

    def process(self, data):
        return "x" * (self.kib << 10)


@register_node
class Exit(Node):
    """Ends the worker at once with the exit status given as the frame's text (3: the memory-limit status)."""

    def process(self, data):
        os._exit(int(data))
