#!/usr/bin/env bash
# Starts `npm start` on a spare port, waits for /healthz, then stops it. Proves the local stack boots.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${SMOKE_PORT:-8799}"
state="$(mktemp -d)"
log="$(mktemp)"
PORT="$port" SWITCHYARD_STATE_DIR="$state" npm start >"$log" 2>&1 &
pid=$!
cleanup() { kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; pkill -f "wrangler.*--port $port" 2>/dev/null || true; rm -rf "$state"; }
trap cleanup EXIT
for _ in $(seq 1 90); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "smoke: npm start serves /healthz on 127.0.0.1:$port"
    exit 0
  fi
  sleep 1
done
echo "smoke: npm start did not become healthy; log follows" >&2
cat "$log" >&2
exit 1
