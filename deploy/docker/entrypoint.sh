#!/bin/sh
# The container's entry point. With no arguments, or arguments that start with "-", it runs
# `remotemedia serve` configured from the environment; `healthcheck` asks the running server's /healthz
# (the image's HEALTHCHECK); anything else runs as a remotemedia command (`remotemedia validate DEF`, ...).
#
#   REMOTEMEDIA_LISTEN         address to listen on (default 0.0.0.0:8080)
#   REMOTEMEDIA_TOKEN_FILE     file holding the bearer token (or REMOTEMEDIA_TOKEN, which serve reads itself);
#                              serve refuses to listen beyond loopback without one
#   REMOTEMEDIA_ALLOW_HOST     Host names clients reach the server by (comma list), e.g. the load balancer's name
#   REMOTEMEDIA_ALLOW_ORIGIN   origins of pages allowed to call the API (comma list)
#   REMOTEMEDIA_DRAIN_TIMEOUT  how long live sessions get to finish on SIGTERM (default 30s)
#   REMOTEMEDIA_DEFINITIONS    folder of pipeline definitions (default: the bundled examples)
#   REMOTEMEDIA_WORKERS        Python worker processes (default 1)
#
# It execs the binary, so the binary is the container's main process and gets SIGTERM itself.
set -eu

bin=${REMOTEMEDIA_BIN:-/usr/local/bin/remotemedia}
listen=${REMOTEMEDIA_LISTEN:-0.0.0.0:8080}

if [ "${1:-}" = healthcheck ]; then
	port=${listen##*:}
	exec "${REMOTEMEDIA_PYTHON:-python3}" -c '
import sys, urllib.request
try:
    with urllib.request.urlopen("http://127.0.0.1:" + sys.argv[1] + "/healthz", timeout=5) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception as e:
    print("healthcheck:", e, file=sys.stderr)
    sys.exit(1)
' "$port"
fi

case "${1:-}" in
"" | -*) ;;
serve) shift ;;
*) exec "$bin" "$@" ;;
esac

# The flags from the environment first, then the container's own arguments (which can add to them or, given
# again, override them): append the environment's flags, then rotate the n arguments given to the end.
n=$#
set -- "$@" serve --listen "$listen" --drain-timeout "${REMOTEMEDIA_DRAIN_TIMEOUT:-30s}" --workers "${REMOTEMEDIA_WORKERS:-1}"
if [ -n "${REMOTEMEDIA_TOKEN_FILE:-}" ]; then set -- "$@" --token-file "$REMOTEMEDIA_TOKEN_FILE"; fi
if [ -n "${REMOTEMEDIA_ALLOW_HOST:-}" ]; then set -- "$@" --allow-host "$REMOTEMEDIA_ALLOW_HOST"; fi
if [ -n "${REMOTEMEDIA_ALLOW_ORIGIN:-}" ]; then set -- "$@" --allow-origin "$REMOTEMEDIA_ALLOW_ORIGIN"; fi
if [ -n "${REMOTEMEDIA_DEFINITIONS:-}" ]; then set -- "$@" --definitions "$REMOTEMEDIA_DEFINITIONS"; fi
while [ "$n" -gt 0 ]; do
	set -- "$@" "$1"
	shift
	n=$((n - 1))
done
exec "$bin" "$@"
