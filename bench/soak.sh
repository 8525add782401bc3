#!/usr/bin/env bash
# Soak: two gatehouse instances on one PostgreSQL behind nginx (deploy/nginx/gatehouse.conf,
# TLS with a throw-away certificate), driven by a mixed workload (benches/soak_load.rs:
# client credentials, introspection, userinfo, refresh rotation, authorization-code round
# trips with a session) for DURATION seconds. Prints p50/p99 per operation, every answer
# by status, the refresh ledger and each instance's memory over time; exits non-zero on any
# 5xx, a broken refresh token or memory that grew by more than MEMORY_GROWTH_PCT after the
# first minute.
#
#   GATEHOUSE_BENCH_POSTGRES_URL=postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse_soak \
#     DURATION=600 bench/soak.sh
#
# The database must exist and may be empty (it is migrated; every run adds its own users and
# clients). CONNECTIONS (default 32) drive the load; USERS (default 32) log in once each.
# BENCH_BIN runs another build of the server.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=${DURATION:-600}
connections=${CONNECTIONS:-32}
users=${USERS:-32}
growth_limit=${MEMORY_GROWTH_PCT:-25}
: "${GATEHOUSE_BENCH_POSTGRES_URL:?set GATEHOUSE_BENCH_POSTGRES_URL to a PostgreSQL database}"
command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx >/dev/null; }

bin=${BENCH_BIN:-${CARGO_TARGET_DIR:-target}/release/gatehouse}
[ -n "${BENCH_BIN:-}" ] || cargo build --release --quiet
cargo bench --quiet --bench soak_load --no-run 2>/dev/null

work=$(mktemp -d)
pids=()
cleanup() {
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  kill "${pids[@]}" 2>/dev/null; wait "${pids[@]}" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# --- the settings every instance shares: database, issuer, key-encryption key ------------------
https_port=${HTTPS_PORT:-18443}
export GATEHOUSE_DATABASE_URL="$GATEHOUSE_BENCH_POSTGRES_URL"
unset GATEHOUSE_BENCH_POSTGRES_URL # not a setting: the server would warn of it
export GATEHOUSE_SERVER_ISSUER="https://127.0.0.1:$https_port"
export GATEHOUSE_SERVER_TRUST_FORWARDED_FOR=true
export GATEHOUSE_KEYS_ENCRYPTION_KEY="$(openssl rand -base64 32)"
# One login per connection, all from 127.0.0.1, before the clock starts.
export GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ADDRESS=64 GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP=1000
export GATEHOUSE_LOG_LEVEL=warn

ports=(${INSTANCE_PORTS:-18081 18082})
for i in "${!ports[@]}"; do
  GATEHOUSE_LISTEN="127.0.0.1:${ports[$i]}" "$bin" serve 2>"$work/server$i.log" &
  pids+=($!)
done
for port in "${ports[@]}"; do
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { cat "$work"/server*.log >&2; exit 1; }
done

# --- nginx with deploy/nginx/gatehouse.conf, its addresses and certificate replaced ------------
# A throw-away CA (the load driver trusts it) and the server certificate it signs.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "/CN=soak CA" \
  -keyout "$work/ca-key.pem" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=127.0.0.1 \
  -keyout "$work/key.pem" -out "$work/cert.csr" 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$work/ext"
openssl x509 -req -in "$work/cert.csr" -CA "$work/ca.pem" -CAkey "$work/ca-key.pem" -CAcreateserial \
  -days 1 -extfile "$work/ext" -out "$work/cert.pem" 2>/dev/null
upstreams=$(printf '    server 127.0.0.1:%s max_fails=1 fail_timeout=5s;\\n' "${ports[@]}")
sed -e "/^upstream gatehouse {/,/^}/{/^    server /d}" \
    -e "s|^upstream gatehouse {|upstream gatehouse {\n$upstreams|" \
    -e "s|listen 80;|listen 127.0.0.1:$((https_port - 1));|" \
    -e "s|listen 443 ssl|listen 127.0.0.1:$https_port ssl|" \
    -e "s|/etc/ssl/gatehouse/fullchain.pem|$work/cert.pem|" \
    -e "s|/etc/ssl/gatehouse/privkey.pem|$work/key.pem|" \
    deploy/nginx/gatehouse.conf >"$work/gatehouse.conf"
cat >"$work/nginx.conf" <<EOF
worker_processes 1;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  include $work/gatehouse.conf;
}
EOF
nginx -t -c "$work/nginx.conf" -p "$work" 2>&1 | grep -v "^$" >&2
nginx -c "$work/nginx.conf" -p "$work"
base="https://127.0.0.1:$https_port"
curl -sf --cacert "$work/ca.pem" "$base/readyz" >/dev/null || { echo "nginx does not answer" >&2; cat "$work/nginx-error.log" >&2; exit 1; }

# --- clients and users ---------------------------------------------------------------------------
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
run=$RANDOM
"$bin" role create "soak$run" --scope bench:read --json >/dev/null
seq 0 $((users - 1)) | xargs -P "$(nproc)" -I{} sh -c \
  "echo 'soak password' | GATEHOUSE_ACCOUNTS_BCRYPT_COST=4 $bin user create soak${run}u{} --role soak$run --json >/dev/null"
service=$("$bin" client create --name "soak service $run" --grant-type client_credentials --scope bench:read --introspect --json)
redirect=http://127.0.0.1:9/callback
app=$("$bin" client create --name "soak app $run" --redirect-uri $redirect --scope bench:read \
  --scope openid --scope profile --json)

echo "soak: ${#ports[@]} instances on PostgreSQL behind nginx (TLS), $connections connections, ${duration}s, $(nproc) cores, load generator on the same machine"
# Each instance's resident memory every 10 s.
(
  while sleep 10; do
    line=$(date +%s)
    for pid in "${pids[@]}"; do line="$line $(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo 0)"; done
    echo "$line"
  done
) >"$work/rss" &
sampler=$!

status=0
SOAK_BASES="$base" SOAK_CA="$work/ca.pem" \
  SOAK_SERVICE="$(json_field client_id <<<"$service"):$(json_field client_secret <<<"$service")" \
  SOAK_APP="$(json_field client_id <<<"$app"):$(json_field client_secret <<<"$app")" \
  SOAK_REDIRECT=$redirect SOAK_USER_PREFIX="soak${run}u" SOAK_USERS="$users" SOAK_PASSWORD="soak password" \
  SOAK_CONNECTIONS="$connections" SOAK_SECONDS="$duration" SOAK_PROGRESS_SECS="${PROGRESS_SECS:-60}" \
  cargo bench --quiet --bench soak_load || status=1
kill $sampler

python3 - "$work/rss" "$growth_limit" <<'EOF' || status=1
import sys
rows = [list(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
limit = float(sys.argv[2])
if len(rows) < 8:
    print("memory: too short a run to judge (%d samples)" % len(rows)); sys.exit(0)
t0 = rows[0][0]
failed = False
for i in range(1, len(rows[0])):
    series = [(r[0] - t0, r[i] / 1024) for r in rows]
    # From the end of the first minute (pools, caches and allocator arenas filled) to the end.
    settled = [m for t, m in series if t >= 60] or [series[-1][1]]
    growth = 100 * (settled[-1] - settled[0]) / settled[0]
    print("instance %d RSS MiB: at 1 min %.1f, at the end %.1f, peak %.1f, growth %+.1f %%"
          % (i, settled[0], settled[-1], max(m for _, m in series), growth))
    failed |= growth > limit
print("memory:", "grew" if failed else "flat")
sys.exit(1 if failed else 0)
EOF
for i in "${!ports[@]}"; do
  if grep -q -i "panic" "$work/server$i.log"; then echo "instance $i panicked:"; grep -i -A3 panic "$work/server$i.log"; status=1; fi
done
exit $status
