#!/usr/bin/env bash
# Installs what building and testing need and a fresh machine may lack: the C-to-wasm
# toolchain, espeak-ng and sox (test speech), Chromium (e2e), HAProxy (the load-balancer
# test), valgrind (instruction counts), Go modules, and the Python package with its
# dependencies in .venv; with the argument bench, also what make bench uses. Safe to run again: it only installs what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang || need+=(clang)
have wasm-ld || need+=(lld)
have wasm-strip || need+=(wabt)
have wasm-opt || need+=(binaryen)
# The Rust node module (wasm-modules/rust): Debian's rustc and its wasm32 standard
# library, which the Makefile prefers to a rustup toolchain without that target.
[ -x /usr/bin/rustc ] || need+=(rustc)
[ -d /usr/lib/rustlib/wasm32-unknown-unknown ] || need+=(libstd-rust-dev-wasm32)
have espeak-ng || need+=(espeak-ng)
have sox || need+=(sox)
have chromium || need+=(chromium)
have node || need+=(nodejs)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
# make test: the load-balancer test (deploy/lb_test.go) and the instruction-count gate (valgrind)
have haproxy || [ -x /usr/sbin/haproxy ] || need+=(haproxy)
have valgrind || need+=(valgrind)
# WebRTC audio (target/server/webrtc): libopus through cgo (github.com/hraban/opus, which links libopusfile too)
pkg-config --exists opus opusfile 2>/dev/null || need+=(libopus-dev libopusfile-dev pkg-config)
have gcc || need+=(gcc libc6-dev) # cgo's default C compiler
if [ "${1:-}" = bench ]; then # make bench: one-CPU rows
	have taskset || need+=(util-linux)
fi
if ((${#need[@]})); then
	echo "deps: installing ${need[*]} from Debian"
	sudo=""
	[ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

go mod download
(cd e2e && go mod download)
(cd deploy && go mod download)

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
	echo "deps: creating $venv"
	python3 -m venv "$venv"
fi
stamp="$venv/.installed"
if [ ! -f "$stamp" ] || [ pyproxy/python/pyproject.toml -nt "$stamp" ]; then
	echo "deps: installing the remotemedia Python package and its dependencies into $venv"
	"$venv/bin/python" -m pip install -q --upgrade pip
	"$venv/bin/python" -m pip install -q -e 'pyproxy/python[test,vad,asr]'
	touch "$stamp"
fi
# the Python baselines of docs/benchmarks.md and its plot (make bench; make test runs them on tiny inputs)
"$venv/bin/python" -c 'import librosa, matplotlib' 2>/dev/null || "$venv/bin/python" -m pip install -q librosa matplotlib
if [ "${1:-}" = bench ]; then # make bench: the reference resamplers beside resample.wasm (pyproxy/python/scripts/resample_ref.py)
	"$venv/bin/python" -c 'import soxr, scipy.signal' 2>/dev/null || "$venv/bin/python" -m pip install -q soxr scipy
fi
if [ "${1:-}" = bench ]; then # make bench: the webrtcvad baseline beside the vad node (tools/vadeval, docs/vad.md)
	"$venv/bin/python" -c 'import webrtcvad' 2>/dev/null || "$venv/bin/python" -m pip install -q webrtcvad-wheels
fi
