#!/usr/bin/env bash
# Load tests: builds the release binary, starts it on a fresh database, registers clients and
# users with the CLI, and drives one endpoint. Prints requests/s, p50/p99 latency, failures
# and the server's peak RSS.
#
#   bench/load.sh [sqlite|postgres] [MODE]
#     token       client-credentials grant with oha at 1, 16, 64 connections (default)
#     introspect  POST /introspect of an access token with oha at 16, 64 connections
#     refresh     refresh-token rotation chains (benches/refresh_load.rs) at 16, 64 connections
#     contention  client-credentials p99 at 16 connections, alone and beside 20 concurrent
#                 password logins (bcrypt cost 12): closed loop (saturation), then at fixed
#                 rates of 5,000 and 10,000 requests/s (open loop, latency-corrected)
#     guessing    the latency of an uninvolved user's logins (bob, one at a time, from his own
#                 address, bcrypt cost 12) alone, during 150 parallel bad guesses at alice from
#                 another address, and while 64 connections saturate the token endpoint; the
#                 server runs with the default limits
#     code        authorization-code round trips (benches/code_flow_load.rs) at 1 and 8
#                 connections: login + consent, login with remembered consent, and an
#                 existing session (FLOWS picks some: FLOWS=session); users hashed at
#                 BCRYPT_COST (default 12); the client's scopes are SCOPES (default
#                 bench:read; SCOPES="bench:read openid profile email" for OpenID Connect,
#                 whose exchange also signs an id_token)
#     password    the password grant (bcrypt cost BCRYPT_COST, default 12) with oha at 16
#                 connections, the limits widened as for contention: password checks/s
#     userinfo    GET /userinfo with a Bearer token granted `openid profile email`, then the
#                 client-credentials grant, each at 64 connections in the same run
#     ceiling     client credentials against the ceiling (../shared/bench/ceiling: HTTP, one
#                 secret check, one ES256 signature, nothing else), run beside gatehouse and
#                 loaded with the same oha command (64 connections, scope api:read) in
#                 ROUNDS (default 3) alternating rounds; prints each figure and the share
#
#     admin       the admin API's list pages (first page of users, a page deep in them, a
#                 name search, a page of clients) at 16 connections with an admin token, on a
#                 database of 100 users and 10 clients, then of ADMIN_USERS (100,000) users
#                 and ADMIN_CLIENTS (10,000) clients seeded in SQL (bench/seed_admin.py)
#
#   DURATION=30s bench/load.sh
#   BENCH_BIN=/tmp/gatehouse-before bench/load.sh sqlite code
#   GATEHOUSE_BENCH_POSTGRES_URL=postgres://u:p@127.0.0.1:5432/db bench/load.sh postgres refresh
#
# The load generator runs on the same machine as the server: the figures include its cost.
set -euo pipefail
cd "$(dirname "$0")/.."

backend=${1:-sqlite}
mode=${2:-token}
duration=${DURATION:-10s}
case "$mode" in
  token) levels=${LEVELS:-"1 16 64"} ;;
  introspect|refresh) levels=${LEVELS:-"16 64"} ;;
  code) levels=${LEVELS:-"1 8"} ;;
  userinfo) levels=${LEVELS:-64} ;;
  password) levels=${LEVELS:-16} ;;
  contention|guessing) levels=16 ;;
  ceiling) levels=64 ;;
  admin) levels=${LEVELS:-16} ;;
  *) echo "unknown mode $mode" >&2; exit 2 ;;
esac

command -v oha >/dev/null || cargo install oha --locked
# BENCH_BIN runs another build of the server (an earlier commit's, to compare side by
# side); the load drivers are this checkout's.
bin=${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/gatehouse}
[ -n "${BENCH_BIN:-}" ] || cargo build --release --quiet
[ "$mode" = refresh ] && cargo bench --quiet --bench refresh_load --no-run 2>/dev/null
[ "$mode" = code ] && cargo bench --quiet --bench code_flow_load --no-run 2>/dev/null
if [ "$mode" = ceiling ]; then
  # Built outside the project's tree (its README says how), once per machine.
  ceiling_src=${CEILING_SRC:-../shared/bench/ceiling}
  ceiling_dir=${CEILING_DIR:-/tmp/ceiling}
  if [ ! -x "$ceiling_dir/target/release/ceiling" ]; then
    rm -rf "$ceiling_dir" && cp -r "$ceiling_src" "$ceiling_dir"
    (cd "$ceiling_dir" && cargo build --release --quiet)
  fi
fi

work=$(mktemp -d)
case "$backend" in
  sqlite) export GATEHOUSE_DATABASE_URL="sqlite://$work/gatehouse.db" ;;
  postgres)
    : "${GATEHOUSE_BENCH_POSTGRES_URL:?set GATEHOUSE_BENCH_POSTGRES_URL to an empty database}"
    export GATEHOUSE_DATABASE_URL="$GATEHOUSE_BENCH_POSTGRES_URL" ;;
  *) echo "usage: $0 [sqlite|postgres]" >&2; exit 2 ;;
esac
export GATEHOUSE_LISTEN=127.0.0.1:0
# The contention mode's "20 concurrent logins" are one user at one address, as in issue #3's
# measurement of what password work does to token latency: the login limits and the shares of
# the password line are widened so that they queue for bcrypt (as 20 people would) instead of
# being answered 429 at once in a closed loop. The guessing mode speaks as several addresses
# through X-Forwarded-For, with every limit at its default.
# The code mode's connections are that many people, all at 127.0.0.1: their logins (one each
# in the session flow, before the clock starts) queue instead of taking the address's share.
# The refresh mode's connections are that many sessions of one user, all logged in at once
# before the clock starts (a login in flight counts against the limits until it succeeds).
case "$mode" in
  code)
    export GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ADDRESS=32 GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP=1000 ;;
  refresh)
    export GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ACCOUNT=128 GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ADDRESS=128
    export GATEHOUSE_ACCOUNTS_PASSWORD_QUEUE_LIMIT=128
    export GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT=1000 GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP=1000 ;;
  contention | password)
    export GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ACCOUNT=32 GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ADDRESS=32
    export GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_ACCOUNT=1000 GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP=1000 ;;
  guessing) export GATEHOUSE_SERVER_TRUST_FORWARDED_FOR=true ;;
esac

"$bin" serve 2>"$work/server.log" &
server=$!
ceiling=""
trap 'kill $server $ceiling 2>/dev/null; wait $server $ceiling 2>/dev/null; rm -rf "$work"' EXIT
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

RATE=""
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

run() { # connections duration [url body auth-header [oha options...]]
  oha -z "$2" -c "$1" $RATE -w --no-tui --output-format json -m POST -H "${5:-$auth}" "${@:6}" \
    -T application/x-www-form-urlencoded -d "${4:-grant_type=client_credentials}" "${3:-$url}"
}

summarise() { # label  (oha JSON on stdin)
  python3 -c '
import json, sys
r = json.load(sys.stdin)
codes = r.get("statusCodeDistribution", {})
non2xx = sum(n for code, n in codes.items() if not code.startswith("2")) + sum(r.get("errorDistribution", {}).values())
p = r["latencyPercentiles"]
rps = r["summary"]["requestsPerSec"]
print("%-12s %12.0f %10.2f %10.2f %8d" % (sys.argv[1], rps, p["p50"] * 1000, p["p99"] * 1000, non2xx))
' "$1"
}

run 16 2s >/dev/null # warm-up: pool, caches, signer
echo "backend=$backend mode=$mode duration=$duration $(nproc) cores, load generator on the same machine"
printf '%-12s %12s %10s %10s %8s\n' connections requests/s p50_ms p99_ms failed
secs=${duration%s}
case "$mode" in
  token)
    for c in $levels; do run "$c" "$duration" | summarise "$c"; done ;;
  introspect)
    access=$(curl -s -H "$auth" -d grant_type=client_credentials "$url" | json_field access_token)
    for c in $levels; do run "$c" "$duration" "http://$addr/introspect" "token=$access" | summarise "$c"; done ;;
  refresh)
    "$bin" role create bench --scope bench:read --json >/dev/null
    # A cheap bcrypt cost for this user only: the logins before the loop are not measured.
    echo "bench password" | GATEHOUSE_ACCOUNTS_BCRYPT_COST=4 "$bin" user create bench --role bench --json >/dev/null
    app=$("$bin" client create --name app --grant-type password --grant-type refresh_token --scope bench:read --json)
    app_id=$(json_field client_id <<<"$app"); app_secret=$(json_field client_secret <<<"$app")
    for c in $levels; do
      cargo bench --quiet --bench refresh_load -- "$url" "$app_id" "$app_secret" bench "bench password" "$c" "$secs"
    done ;;
  contention)
    "$bin" role create staff --scope bench:read --json >/dev/null
    echo "a real password" | "$bin" user create alice --role staff --json >/dev/null # bcrypt cost 12
    app=$("$bin" client create --name app --grant-type password --scope bench:read --json)
    app_auth="Authorization: Basic $(printf '%s:%s' "$(json_field client_id <<<"$app")" "$(json_field client_secret <<<"$app")" | base64 -w0)"
    for rate in saturation 5000 10000; do
      if [ "$rate" = saturation ]; then RATE=""; else RATE="-q $rate --latency-correction"; fi
      RATE=$RATE run 16 "$duration" | summarise "cc@$rate"
      RATE="" run 20 "$((secs + 4))s" "$url" "grant_type=password&username=alice&password=a+real+password" "$app_auth" > "$work/logins.json" &
      logins=$!
      sleep 2
      RATE=$RATE run 16 "$duration" | summarise "+20 logins"
      wait $logins
      summarise "logins" < "$work/logins.json"
    done ;;
  guessing)
    "$bin" role create staff --scope bench:read --json >/dev/null
    echo "a real password" | "$bin" user create alice --role staff --json >/dev/null
    echo "a real password" | "$bin" user create bob --role staff --json >/dev/null
    app=$("$bin" client create --name app --grant-type password --scope bench:read --json)
    app_auth="Authorization: Basic $(printf '%s:%s' "$(json_field client_id <<<"$app")" "$(json_field client_secret <<<"$app")" | base64 -w0)"
    echo "bob logs in one at a time from his own address (bcrypt cost 12); 'failed' of the"
    echo "guesses counts the ones refused (429) without a password check:"
    bob() { # duration
      RATE="" run 1 "$1" "$url" "grant_type=password&username=bob&password=a+real+password" "$app_auth" \
        -H "X-Forwarded-For: 198.51.100.1"
    }
    RATE="" bob "$duration" | summarise "bob alone"
    # 150 guesses at alice at once from one address, for the whole run.
    RATE="" run 150 "$((secs + 4))s" "$url" "grant_type=password&username=alice&password=guess" "$app_auth" \
      -H "X-Forwarded-For: 203.0.113.1" > "$work/guesses.json" &
    guesses=$!
    sleep 2
    RATE="" bob "$duration" | summarise "bob+guesses"
    wait $guesses
    summarise "guesses" < "$work/guesses.json"
    RATE="" run 64 "$((secs + 4))s" > "$work/tokens.json" &
    tokens=$!
    sleep 2
    RATE="" bob "$duration" | summarise "bob+tokens"
    wait $tokens
    summarise "cc@64" < "$work/tokens.json"
    ;;
  code)
    cost=${BCRYPT_COST:-12}
    users=${USERS:-160}
    "$bin" role create bench --scope bench:read --json >/dev/null
    echo "creating $users users at bcrypt cost $cost"
    seq 0 $((users - 1)) | xargs -P "$(nproc)" -I{} sh -c \
      "echo 'bench password' | GATEHOUSE_ACCOUNTS_BCRYPT_COST=$cost $bin user create user{} --role bench --json >/dev/null"
    redirect=http://127.0.0.1:9/callback
    printf '%-11s %5s %9s %9s %9s %9s %9s %9s %9s %6s\n' mode conns trips/s p50_ms p99_ms login_p50 login_p99 rest_p50 rest_p99 failed
    for flow in ${FLOWS:-consent remembered session}; do
      for c in $levels; do
        # A client nobody has approved yet, so `consent` really asks.
        scopes=""; for s in ${SCOPES:-bench:read}; do scopes="$scopes --scope $s"; done
        app=$("$bin" client create --name "bench $flow $c" --redirect-uri $redirect $scopes --json)
        cargo bench --quiet --bench code_flow_load -- "http://$addr" "$(json_field client_id <<<"$app")" \
          "$(json_field client_secret <<<"$app")" $redirect "$flow" user "$users" "bench password" "$c" "$secs"
      done
    done ;;
  password)
    "$bin" role create staff --scope bench:read --json >/dev/null
    echo "a real password" | GATEHOUSE_ACCOUNTS_BCRYPT_COST=${BCRYPT_COST:-12} "$bin" user create alice --role staff --json >/dev/null
    app=$("$bin" client create --name app --grant-type password --scope bench:read --json)
    app_auth="Authorization: Basic $(printf '%s:%s' "$(json_field client_id <<<"$app")" "$(json_field client_secret <<<"$app")" | base64 -w0)"
    for c in $levels; do
      run "$c" "$duration" "$url" "grant_type=password&username=alice&password=a+real+password" "$app_auth" | summarise "password@$c"
    done ;;
  userinfo)
    "$bin" role create bench --scope bench:read --json >/dev/null
    echo "bench password" | GATEHOUSE_ACCOUNTS_BCRYPT_COST=4 "$bin" user create bench --role bench \
      --email bench@example.com --name "Bench User" --json >/dev/null
    app=$("$bin" client create --name app --grant-type password --scope openid --scope profile --scope email --json)
    app_auth="Authorization: Basic $(printf '%s:%s' "$(json_field client_id <<<"$app")" "$(json_field client_secret <<<"$app")" | base64 -w0)"
    access=$(curl -s -H "$app_auth" -d 'grant_type=password&username=bench&password=bench+password' "$url" | json_field access_token)
    for c in $levels; do
      oha -z "$duration" -c "$c" -w --no-tui --output-format json -H "Authorization: Bearer $access" \
        "http://$addr/userinfo" | summarise "userinfo@$c"
      run "$c" "$duration" | summarise "cc@$c"
    done ;;
  admin)
    ops=$("$bin" client create --name ops --grant-type client_credentials --scope gatehouse:admin --json)
    ops_auth="$(json_field client_id <<<"$ops"):$(json_field client_secret <<<"$ops")"
    admin=$(curl -s -u "$ops_auth" -d 'grant_type=client_credentials&scope=gatehouse%3Aadmin' "$url" | json_field access_token)
    lists() { # label: each list page at $levels connections
      for page in "users/first /admin/api/users?limit=50" \
                  "users/deep /admin/api/users?limit=50&after=user050000" \
                  "users/search /admin/api/users?limit=50&search=user0999" \
                  "clients/deep /admin/api/clients?limit=50&after=seeded-client-005000"; do
        set -- $page
        oha -z "$duration" -c "$levels" -w --no-tui --output-format json \
          -H "Authorization: Bearer $admin" "http://$addr$2" | summarise "$1"
      done
    }
    python3 bench/seed_admin.py "$GATEHOUSE_DATABASE_URL" 100 10
    echo "-- 100 users, 10 clients"
    lists
    python3 bench/seed_admin.py "$GATEHOUSE_DATABASE_URL" "${ADMIN_USERS:-100000}" "${ADMIN_CLIENTS:-10000}"
    echo "-- ${ADMIN_USERS:-100000} users, ${ADMIN_CLIENTS:-10000} clients"
    lists ;;
  ceiling)
    port=${CEILING_PORT:-18400}
    PORT=$port WORKERS=${CEILING_WORKERS:-$(nproc)} "$ceiling_dir/target/release/ceiling" &
    ceiling=$!
    for _ in $(seq 50); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
    svc=$("$bin" client create --name ceiling --grant-type client_credentials --scope api:read --json)
    svc_auth="$(json_field client_id <<<"$svc"):$(json_field client_secret <<<"$svc")"
    same() { # credentials url: the one oha command both servers get
      oha --no-tui -z "$duration" -c "$levels" -w --output-format json -m POST \
        -T application/x-www-form-urlencoded -a "$1" \
        -d 'grant_type=client_credentials&scope=api%3Aread' "$2"
    }
    same "$svc_auth" "$url" >/dev/null; same bench:bench-secret "http://127.0.0.1:$port/token" >/dev/null
    rounds=${ROUNDS:-3}
    : >"$work/rounds"
    for round in $(seq "$rounds"); do
      # Alternate which goes first, so neither always follows the other's heat.
      order="gatehouse ceiling"; [ $((round % 2)) = 0 ] && order="ceiling gatehouse"
      for who in $order; do
        if [ "$who" = gatehouse ]; then same "$svc_auth" "$url"; else same bench:bench-secret "http://127.0.0.1:$port/token"; fi \
          >"$work/$who.json"
        summarise "$who" <"$work/$who.json"
      done
      python3 -c '
import json, sys
g, c = (json.load(open(f))["summary"]["requestsPerSec"] for f in sys.argv[1:3])
print("%.0f %.0f" % (g, c))
print("share        %11.1f %%" % (100 * g / c), file=sys.stderr)
' "$work/gatehouse.json" "$work/ceiling.json" >>"$work/rounds"
    done
    python3 -c '
import sys
rows = [tuple(map(float, l.split())) for l in open(sys.argv[1])]
g, c = sum(r[0] for r in rows), sum(r[1] for r in rows)
print("all %d rounds: gatehouse %.0f/s, ceiling %.0f/s, share %.1f %%" % (len(rows), g / len(rows), c / len(rows), 100 * g / c))
' "$work/rounds" ;;
esac
echo "server peak RSS: $(awk '/VmHWM/ {printf "%.1f MiB", $2/1024}' /proc/$server/status)"
# CPU the server used over the whole run (set-up included), to compare builds per request.
echo "server CPU: $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.2f s", ($14 + $15) / hz}' /proc/$server/stat)"
