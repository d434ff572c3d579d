#!/usr/bin/env bash
# The README's API walkthrough as a script: run it against `npm start` and `npm run handler`.
# CI runs it (scripts/smoke-start.sh) so the README's commands are known to work as written.
set -euo pipefail
SY="${SY:-http://127.0.0.1:8787}"
TOKEN="${TOKEN:-dev-admin-token}"
HANDLER="${HANDLER:-http://127.0.0.1:9000}"
SECRET="${SECRET:-my-github-secret}"
AUTH=(-H "authorization: Bearer $TOKEN" -H "content-type: application/json")
run=$(date +%s%N)

# 1. A source for GitHub webhooks.
curl -fsS -X PUT "$SY/v1/sources/github" "${AUTH[@]}" -d "{\"verify\":{\"style\":\"github\",\"secret\":\"$SECRET\"}}"; echo

# 2. Script the local handler: "ok" answers 200; "flaky" 500, 500, then 200; "down" always 500.
curl -fsS -X PUT "$HANDLER/__script/ok" -d '{"responses":[],"otherwise":{"status":200,"body":{"handled":true}}}'
curl -fsS -X PUT "$HANDLER/__script/flaky" -d '{"responses":[{"status":500},{"status":500}],"otherwise":{"status":200,"body":{"ok":true}}}'
curl -fsS -X PUT "$HANDLER/__script/down" -d '{"responses":[],"otherwise":{"status":500,"body":{"error":"database unavailable"}}}'

# 3. Three bindings for GitHub "issues.opened" events, one per handler.
curl -fsS -X PUT "$SY/v1/bindings/triage" "${AUTH[@]}" \
  -d "{\"provider\":\"github\",\"events\":[\"issues.opened\"],\"handler\":\"$HANDLER/h/ok\"}"; echo
curl -fsS -X PUT "$SY/v1/bindings/flaky" "${AUTH[@]}" \
  -d "{\"provider\":\"github\",\"events\":[\"issues.opened\"],\"handler\":\"$HANDLER/h/flaky\",\"retry\":{\"max_attempts\":5,\"policy\":{\"linear\":{\"delay_ms\":\"1s\"}}}}"; echo
curl -fsS -X PUT "$SY/v1/bindings/down" "${AUTH[@]}" \
  -d "{\"provider\":\"github\",\"events\":[\"issues.opened\"],\"handler\":\"$HANDLER/h/down\",\"retry\":{\"max_attempts\":3,\"policy\":{\"linear\":{\"delay_ms\":\"500ms\"}}}}"; echo

# 4. A correctly signed GitHub webhook.
body='{"action":"opened","issue":{"number":42,"title":"Crash on start"},"repository":{"full_name":"acme/app"}}'
sig="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$SECRET" | sed 's/^.* //')"
accepted=$(curl -fsS -X POST "$SY/hooks/github" -H "content-type: application/json" \
  -H "x-github-event: issues" -H "x-github-delivery: delivery-$run" -H "x-hub-signature-256: $sig" -d "$body")
echo "$accepted"
event_id=$(echo "$accepted" | sed -E 's/.*"event_id":"([^"]+)".*/\1/')

# 5. Watch the dispatches settle: triage succeeds at once, flaky after 3 attempts, down lands in the DLQ.
for _ in $(seq 1 30); do
  sleep 1
  statuses=$(curl -fsS "$SY/v1/events/$event_id" "${AUTH[@]}" | grep -o '"status":"[a-z_]*"' | sort | tr '\n' ' ')
  echo "$statuses"
  case "$statuses" in *dlq*succeeded*succeeded*) break ;; esac
done
curl -fsS "$SY/v1/dispatches/triage@v1/$event_id" "${AUTH[@]}"; echo
curl -fsS "$SY/v1/dispatches/flaky@v1/$event_id" "${AUTH[@]}"; echo
curl -fsS "$SY/v1/dlq?binding_id=down" "${AUTH[@]}"; echo
curl -fsS "$SY/v1/records?event_id=$event_id&binding_key=triage@v1" "${AUTH[@]}"; echo

# The checks CI relies on.
curl -fsS "$SY/v1/dispatches/triage@v1/$event_id" "${AUTH[@]}" | grep -q '"status":"succeeded"'
curl -fsS "$SY/v1/dispatches/flaky@v1/$event_id" "${AUTH[@]}" | grep -q '"attempt_count":3,"status":"succeeded"'
curl -fsS "$SY/v1/dlq?binding_id=down" "${AUTH[@]}" | grep -q '"reason":"retry_exhausted"'
echo "walkthrough: ok"
