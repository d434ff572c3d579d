#!/usr/bin/env bash
# Boots `npm start` and the demo handler on spare ports with fresh state, waits for /healthz, runs
# the README walkthrough against them, checks the live /metrics with promtool and the OpenAPI
# document, bursts 500 signed webhooks from 50 clients (no 5xx, none lost), then stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${SMOKE_PORT:-8799}"
hport="${SMOKE_HANDLER_PORT:-9099}"
state="$(mktemp -d)"
log="$(mktemp)"
had_vars=0; [ -f .dev.vars ] && had_vars=1
PORT="$port" SWITCHYARD_STATE_DIR="$state" setsid npm start >"$log" 2>&1 &
pid=$!
HANDLER_PORT="$hport" setsid npm run handler >/dev/null 2>&1 &
hpid=$!
cleanup() {
  kill -- -"$pid" -"$hpid" 2>/dev/null || true
  rm -rf "$state"
  [ "$had_vars" = 1 ] || rm -f .dev.vars
}
trap cleanup EXIT
for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
    echo "smoke: npm start serves /healthz on 127.0.0.1:$port"
    SY="http://127.0.0.1:$port" HANDLER="http://127.0.0.1:$hport" bash scripts/walkthrough.sh >"$log.walk" 2>&1 || {
      cat "$log.walk" >&2; echo "--- server log" >&2; tail -50 "$log" >&2; exit 1; }
    tail -1 "$log.walk"
    bash scripts/check-metrics.sh "http://127.0.0.1:$port/metrics"
    npx node scripts/check-openapi.mjs "http://127.0.0.1:$port/openapi.json"
    npx node scripts/load-smoke.mjs "http://127.0.0.1:$port" "http://127.0.0.1:$hport" || {
      echo "--- server log" >&2; tail -50 "$log" >&2; exit 1; }
    exit 0
  fi
  sleep 1
done
echo "smoke: npm start did not become healthy; log follows" >&2
cat "$log" >&2
exit 1
