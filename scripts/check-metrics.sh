#!/usr/bin/env bash
# Fetches a live Switchyard /metrics and checks it with `promtool check metrics` (SPEC 14: the
# exposition must be valid for promtool). promtool comes from Debian: apt-get install -y prometheus.
#
#   scripts/check-metrics.sh http://127.0.0.1:8787/metrics
#
# METRICS_TOKEN, when set, is sent as the bearer token. Exit status: 0 valid and lint-clean;
# 1 the exposition does not parse (or the fetch failed); 3 promtool's lint findings (names, units,
# suffixes) — they are printed either way, and CHECK_METRICS_LINT=warn reports them without failing.
set -euo pipefail

url="${1:?usage: $0 <metrics-url>}"
if ! command -v promtool >/dev/null; then
  echo "check-metrics: promtool not found (apt-get install -y prometheus)" >&2
  exit 2
fi

body=$(mktemp)
trap 'rm -f "$body"' EXIT
auth=()
if [ -n "${METRICS_TOKEN:-}" ]; then auth=(-H "authorization: Bearer $METRICS_TOKEN"); fi
content_type=$(curl -fsS "${auth[@]}" -o "$body" -w '%{content_type}' "$url") || {
  echo "check-metrics: GET $url failed" >&2
  exit 1
}
case "$content_type" in
  "text/plain; version=0.0.4"*) ;;
  *) echo "check-metrics: unexpected content-type '$content_type'" >&2; exit 1 ;;
esac

set +e
findings=$(promtool check metrics <"$body" 2>&1)
rc=$?
set -e
[ -n "$findings" ] && printf '%s\n' "$findings"
families=$(grep -c '^# TYPE ' "$body" || true)
samples=$(grep -vc '^#' "$body" || true)
case "$rc" in
  0) echo "check-metrics: ok ($families families, $samples samples)" ;;
  3)
    if [ "${CHECK_METRICS_LINT:-fail}" = "warn" ]; then
      echo "check-metrics: valid, with lint findings above (CHECK_METRICS_LINT=warn)"
    else
      echo "check-metrics: lint findings above" >&2
      exit 3
    fi
    ;;
  *) echo "check-metrics: promtool could not parse the exposition (exit $rc)" >&2; exit 1 ;;
esac
