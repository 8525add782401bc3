#!/usr/bin/env bash
# Fuzzes the admin API from its own OpenAPI document with schemathesis (PyPI; pinned in
# tests/admin_api_fuzz/requirements.txt) against a freshly started gatehouse on a new SQLite
# database, with admin tokens (tests/admin_api_fuzz/hooks.py): no answer may be a server error, and every answer must
# match the document (status, content type, schema). Fails on the first such finding.
#
# Usage: bash tests/admin_api_fuzz.sh   (GATEHOUSE: the server binary, default
#        target/debug/gatehouse; FUZZ_SECONDS: the fuzzing budget, default 120)
set -euo pipefail
cd "$(dirname "$0")/.."
gatehouse=$(realpath "${GATEHOUSE:-target/debug/gatehouse}")
venv=target/admin_api_fuzz-venv
if [ ! -x "$venv/bin/schemathesis" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/admin_api_fuzz/requirements.txt
fi

work=$(mktemp -d)
server=""
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; [ -n "${FUZZ_KEEP_LOG:-}" ] && cp "$work/serve.log" "$FUZZ_KEEP_LOG"; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
export GATEHOUSE_DATABASE_URL="sqlite://$work/gatehouse.db" GATEHOUSE_LISTEN="127.0.0.1:$port"
export GATEHOUSE_ISSUER="http://127.0.0.1:$port" GATEHOUSE_ACCOUNTS_BCRYPT_COST=4
# Long enough for the whole run: the fuzzer must not lose its token halfway.
export GATEHOUSE_TOKENS_ACCESS_TOKEN_TTL_SECS=3600
"$gatehouse" serve >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done

# tests/admin_api_fuzz/hooks.py gives the fuzzer its admin token (a fresh one every 2 s).
export FUZZ_GATEHOUSE="$gatehouse" SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$PWD/tests/admin_api_fuzz${PYTHONPATH:+:$PYTHONPATH}"
# Something to find: a role, users holding it, a second client.
"$gatehouse" role create reader --scope books:read --json >/dev/null
for name in alice bob; do
  echo 'correct horse battery' | "$gatehouse" user create $name --role reader --json >/dev/null
done

if ! "$venv/bin/schemathesis" run "http://127.0.0.1:$port/admin/openapi.json" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-time "${FUZZ_SECONDS:-120}" --workers 1 --no-color ${FUZZ_ARGS:-}; then
  echo "--- gatehouse serve log:" >&2
  grep -E 'status=5|ERROR|panicked' "$work/serve.log" | tail -20 >&2 || true
  exit 1
fi
# Belt and braces: the server's own log holds no 5xx either.
if grep -E 'status=5[0-9][0-9]|panicked' "$work/serve.log"; then
  echo "gatehouse answered a server error during the fuzzing" >&2
  exit 1
fi
