#!/usr/bin/env bash
# Runs panva's openid-client (npm; an OpenID Certified relying party library) against a
# freshly started gatehouse on a new SQLite database: tests/openid_client/rp.mjs signs a
# user in with it, asks userinfo, refreshes, and builds the end-session URL. Needs Node.js
# 20 or later and npm (.ci/run installs them); the library's version is pinned by
# tests/openid_client/package-lock.json.
#
# Usage: bash tests/openid_client.sh   (GATEHOUSE: the server binary, default target/debug/gatehouse)
set -euo pipefail
cd "$(dirname "$0")/.."
gatehouse=$(realpath "${GATEHOUSE:-target/debug/gatehouse}")
(cd tests/openid_client && npm ci --no-audit --no-fund --silent)

work=$(mktemp -d)
server=""
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export GATEHOUSE_DATABASE_URL="sqlite://$work/gatehouse.db" GATEHOUSE_LISTEN="127.0.0.1:$port"
export GATEHOUSE_ISSUER="http://127.0.0.1:$port" GATEHOUSE_ACCOUNTS_BCRYPT_COST=4
"$gatehouse" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

redirect=http://127.0.0.1:9/callback
app=$("$gatehouse" client create --name "openid-client" --redirect-uri $redirect \
  --post-logout-redirect-uri $redirect --scope openid --scope profile --scope email --json)
json() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
echo 'correct horse battery' | "$gatehouse" user create rachel --email rachel@example.com --json >/dev/null
if ! node tests/openid_client/rp.mjs "$GATEHOUSE_ISSUER" "$(json client_id <<<"$app")" \
    "$(json client_secret <<<"$app")" $redirect rachel 'correct horse battery'; then
  echo "--- gatehouse serve log:" >&2
  tail -20 "$work/serve.log" >&2
  exit 1
fi
