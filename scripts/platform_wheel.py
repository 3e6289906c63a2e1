#!/usr/bin/env python3
"""Makes a platform wheel of the remotemedia Python package: the pure wheel (pip wheel) plus the Go binary under
remotemedia/bin/, tagged for the binary's platform, so that `pip install` gives the `remotemedia` command, the worker
and the package in one step (scripts/dist.sh runs it once per target).

The binary is static (cgo off), so the Linux wheels claim manylinux2014 and musllinux 1.1: they need no C library.

usage: platform_wheel.py PURE.whl BINARY GOOS/GOARCH OUTDIR   (prints the wheel's path)
"""

from __future__ import annotations

import base64
import hashlib
import stat
import sys
import zipfile
from pathlib import Path

TAGS = {
    "linux/amd64": "manylinux_2_17_x86_64.manylinux2014_x86_64.musllinux_1_1_x86_64",
    "linux/arm64": "manylinux_2_17_aarch64.manylinux2014_aarch64.musllinux_1_1_aarch64",
    "darwin/arm64": "macosx_11_0_arm64",
    "windows/amd64": "win_amd64",
}


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def platform_wheel(pure: Path, binary: Path, target: str, outdir: Path) -> Path:
    if target not in TAGS:
        raise SystemExit(f"platform_wheel: no wheel tag for {target!r}; known: {', '.join(TAGS)}")
    platforms = TAGS[target]
    exe = "remotemedia.exe" if target.startswith("windows/") else "remotemedia"
    with zipfile.ZipFile(pure) as zin:
        names = zin.namelist()
        dist_info = next((n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info")), None)
        if dist_info is None:
            raise SystemExit(f"platform_wheel: {pure} has no .dist-info folder")
        name_version = dist_info.removesuffix(".dist-info")
        out = outdir / f"{name_version}-py3-none-{platforms}.whl"
        records: list[str] = []
        with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zout:

            def add(arcname: str, data: bytes, mode: int) -> None:
                info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = (stat.S_IFREG | mode) << 16  # pip keeps the executable bit
                info.compress_type = zipfile.ZIP_DEFLATED
                zout.writestr(info, data)
                records.append(f"{arcname},{record_hash(data)},{len(data)}")

            for item in zin.infolist():
                if item.is_dir() or item.filename == f"{dist_info}/RECORD":
                    continue
                data = zin.read(item)
                if item.filename == f"{dist_info}/WHEEL":
                    lines = [
                        "Root-Is-Purelib: false" if line.startswith("Root-Is-Purelib:") else line
                        for line in data.decode().splitlines()
                        if line and not line.startswith("Tag:")
                    ]
                    lines += [f"Tag: py3-none-{p}" for p in platforms.split(".")]
                    data = ("\n".join(lines) + "\n").encode()
                add(item.filename, data, 0o644)
            add(f"remotemedia/bin/{exe}", binary.read_bytes(), 0o755)
            record = "\n".join([*records, f"{dist_info}/RECORD,,"]) + "\n"
            info = zipfile.ZipInfo(f"{dist_info}/RECORD", date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            zout.writestr(info, record, zipfile.ZIP_DEFLATED)
    return out


if __name__ == "__main__":
    if len(sys.argv) != 5:
        raise SystemExit(__doc__)
    print(platform_wheel(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3], Path(sys.argv[4])))
