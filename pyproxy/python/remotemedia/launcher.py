"""The `remotemedia` command of an installed wheel: it runs the Go binary that the platform wheel carries
(remotemedia/bin/), with this interpreter as the one the binary's Python workers run on.

In a source checkout (an editable install) there is no binary in the package; the repository's bin/remotemedia
(`make build`) is used instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_EXE = "remotemedia.exe" if sys.platform == "win32" else "remotemedia"


def binary_path() -> Path | None:
    """The remotemedia binary this installation runs: the wheel's own, else a checkout's bin/, else None."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "bin" / _EXE, here.parents[2] / "bin" / _EXE):
        if candidate.is_file():
            return candidate
    return None


def main() -> None:
    exe = binary_path()
    if exe is None:
        sys.exit(
            f"remotemedia: this installation carries no binary ({Path(__file__).parent / 'bin' / _EXE} is missing): "
            "install a platform wheel (linux x86_64 or aarch64, macOS arm64, Windows x64) or use a release binary"
        )
    env = dict(os.environ)
    # The workers run on this interpreter, where this package and its dependencies are installed.
    env.setdefault("REMOTEMEDIA_PYTHON", sys.executable)
    args = [str(exe), *sys.argv[1:]]
    if sys.platform == "win32":  # no exec on Windows: run it and pass its exit status on
        sys.exit(subprocess.call(args, env=env))
    os.execve(exe, args, env)  # the binary takes this process over, so SIGTERM reaches it directly


if __name__ == "__main__":
    main()
