"""The `remotemedia` command of the wheels (remotemedia.launcher): it runs the binary with this interpreter for the
workers, passing the arguments through."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="the stand-in binary is a shell script")


def run_launcher(tmp_path: Path, env: dict[str, str], *args: str, binary: bool = True) -> subprocess.CompletedProcess[str]:
    fake = tmp_path / "remotemedia"
    if binary:
        fake.write_text('#!/bin/sh\necho "python=$REMOTEMEDIA_PYTHON"\nfor a in "$@"; do echo "arg=$a"; done\n')
        fake.chmod(0o755)
    code = (
        "import sys; from pathlib import Path; import remotemedia.launcher as l\n"
        f"l.binary_path = lambda: Path({str(fake)!r}) if Path({str(fake)!r}).exists() else None\n"
        "l.main()\n"
    )
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=60)


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "REMOTEMEDIA_PYTHON"}


def test_runs_the_binary_with_this_interpreter(tmp_path: Path) -> None:
    out = run_launcher(tmp_path, clean_env(), "serve", "--listen", "a b")
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines() == [f"python={os.path.normpath(sys.executable)}", "arg=serve", "arg=--listen", "arg=a b"]


def test_keeps_an_interpreter_set_by_the_user(tmp_path: Path) -> None:
    out = run_launcher(tmp_path, {**clean_env(), "REMOTEMEDIA_PYTHON": "/opt/py/bin/python"}, "--version")
    assert out.stdout.splitlines() == ["python=/opt/py/bin/python", "arg=--version"]


def test_says_when_there_is_no_binary(tmp_path: Path) -> None:
    out = run_launcher(tmp_path, clean_env(), "--version", binary=False)
    assert out.returncode == 1
    assert "carries no binary" in out.stderr and "platform wheel" in out.stderr
