#!/usr/bin/env bash
# Installs what building and testing need and a fresh machine may lack: the C-to-wasm
# toolchain, espeak-ng and sox (test speech), Chromium (e2e), Go modules, and the
# Python package with its dependencies in .venv; with the argument bench, also what
# make bench uses (valgrind, taskset). Safe to run again: it only installs what is
# missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
have() { command -v "$1" >/dev/null 2>&1; }
have clang || need+=(clang)
have wasm-ld || need+=(lld)
have wasm-strip || need+=(wabt)
have wasm-opt || need+=(binaryen)
have espeak-ng || need+=(espeak-ng)
have sox || need+=(sox)
have chromium || need+=(chromium)
have node || need+=(nodejs)
python3 -c 'import venv, ensurepip' 2>/dev/null || need+=(python3-venv)
if [ "${1:-}" = bench ]; then # make bench: instruction counts and one-CPU rows
	have valgrind || need+=(valgrind)
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
