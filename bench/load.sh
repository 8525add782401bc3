#!/usr/bin/env bash
# Load test of the client-credentials grant: builds the release binary, starts it on a fresh
# database, registers a client with the CLI and drives POST /token with oha at 1, 16 and 64
# connections. Prints requests/s, p50/p99 latency, non-2xx responses and the server's peak RSS.
#
#   bench/load.sh                      # SQLite in a temp dir, 10 s per level
#   DURATION=30s bench/load.sh
#   GATEHOUSE_BENCH_POSTGRES_URL=postgres://u:p@127.0.0.1:5432/db bench/load.sh postgres
#
# The load generator runs on the same machine as the server: the figures include its cost.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-sqlite}
duration=${DURATION:-10s}
levels=${LEVELS:-"1 16 64"}

command -v oha >/dev/null || cargo install oha --locked
cargo build --release --quiet
bin=target/release/gatehouse

work=$(mktemp -d)
case "$backend" in
  sqlite) export GATEHOUSE_DATABASE_URL="sqlite://$work/gatehouse.db" ;;
  postgres)
    : "${GATEHOUSE_BENCH_POSTGRES_URL:?set GATEHOUSE_BENCH_POSTGRES_URL to an empty database}"
    export GATEHOUSE_DATABASE_URL="$GATEHOUSE_BENCH_POSTGRES_URL" ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
export GATEHOUSE_LISTEN=127.0.0.1:0

"$bin" serve 2>"$work/server.log" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do
  addr=$(grep -o 'address=[0-9.:]*' "$work/server.log" | head -1 | cut -d= -f2) || true
  [ -n "$addr" ] && curl -sf "http://$addr/healthz" >/dev/null && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

created=$("$bin" client create --name load --grant-type client_credentials --scope bench:read --json)
id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_id"])' <<<"$created")
secret=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["client_secret"])' <<<"$created")
auth="Authorization: Basic $(printf '%s:%s' "$id" "$secret" | base64 -w0)"
url="http://$addr/token"

run() { # connections duration
  oha -z "$2" -c "$1" -w --no-tui --output-format json -m POST -H "$auth" \
    -T application/x-www-form-urlencoded -d grant_type=client_credentials "$url"
}

run 16 2s >/dev/null # warm-up: pool, caches, signer
echo "backend=$backend duration=$duration $(nproc) cores, oha on the same machine"
printf '%-12s %12s %10s %10s %8s\n' connections requests/s p50_ms p99_ms non2xx
for c in $levels; do
  run "$c" "$duration" | python3 -c '
import json, sys
r = json.load(sys.stdin)
codes = r.get("statusCodeDistribution", {})
non2xx = sum(n for code, n in codes.items() if not code.startswith("2")) + sum(r.get("errorDistribution", {}).values())
p = r["latencyPercentiles"]
rps = r["summary"]["requestsPerSec"]
print("%-12s %12.0f %10.2f %10.2f %8d" % (sys.argv[1], rps, p["p50"] * 1000, p["p99"] * 1000, non2xx))
' "$c"
done
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$server/status)"
