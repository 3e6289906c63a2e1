#!/usr/bin/env bash
# make dist: the release artifacts, in dist/ (or $DIST_OUT):
#   remotemedia-VERSION-OS-ARCH[.exe]   the binary (cgo off, modules built in) per target
#   remotemedia-PYVERSION.tar.gz         the Python package's sdist (no binary: its `remotemedia` command says so)
#   remotemedia-PYVERSION-py3-none-PLATFORM.whl  a platform wheel per target, carrying that binary
#   SHA256SUMS                           sha256sum -c checks them
# $DIST_TARGETS narrows the targets (the deploy test builds linux/amd64 only); $VERSION is what
# `remotemedia --version` prints (make passes git describe). The modules and core.wasm must be built (make dist
# does that first): the binary embeds them.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
VERSION=${VERSION:-$(git describe --tags --always --dirty 2>/dev/null || echo dev)}
out=${DIST_OUT:-dist}
targets=${DIST_TARGETS:-linux/amd64 linux/arm64 darwin/arm64 windows/amd64}
py=${PYTHON:-$root/.venv/bin/python}
[ -x "$py" ] || py=python3

mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -f "$out"/remotemedia-* "$out"/SHA256SUMS
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The Python package: its sdist, and the pure wheel the platform wheels are made from. pip builds it in an
# isolated environment (setuptools from PyPI, or pip's cache) unless this Python has setuptools and wheel.
build_isolation=()
"$py" -c 'import setuptools, wheel' 2>/dev/null && build_isolation=(--no-build-isolation)
"$py" -m pip wheel -q --no-deps "${build_isolation[@]}" -w "$tmp/pure" pyproxy/python
(cd pyproxy/python && "$py" -c 'from setuptools import setup; setup()' -q sdist -d "$out" >"$tmp/sdist.log" 2>&1) ||
	{ cat "$tmp/sdist.log"; exit 1; }
rm -rf pyproxy/python/build
pure=("$tmp"/pure/remotemedia-*-py3-none-any.whl)

for target in $targets; do
	os=${target%/*} arch=${target#*/}
	ext=""
	[ "$os" = windows ] && ext=.exe
	bin="$tmp/$os-$arch/remotemedia$ext"
	echo "dist: $target"
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch go build -trimpath \
		-ldflags "-s -w -X github.com/remotemedia/hybrid/target/server/cli.version=$VERSION" \
		-o "$bin" ./target/server/cmd/remotemedia
	cp "$bin" "$out/remotemedia-$VERSION-$os-$arch$ext"
	"$py" scripts/platform_wheel.py "${pure[0]}" "$bin" "$target" "$out" >/dev/null
done

(cd "$out" && sha256sum remotemedia-* >SHA256SUMS)
echo "dist: $(ls "$out" | wc -l) files in $out"
