#!/usr/bin/env bash
# Fault tests, each under the mixed load of benches/soak_load.rs (client credentials,
# introspection, userinfo, refresh rotation, code round trips, dynamic registrations):
#
#   kill       two instances on one PostgreSQL; one is killed with SIGKILL mid-load. The
#              driver moves to the other when a connection is refused (as a load balancer
#              does); the other keeps serving, every refresh token a client received still
#              works or was rotated by an answer the kill cut off, every acknowledged
#              registration is in the database.
#   pgrestart  two instances; PostgreSQL is restarted mid-load. Requests answer 503 (never
#              500) while it is down, and the instances serve again without a restart.
#   sqlite     one instance on SQLite, killed with SIGKILL during writes: the database's
#              integrity check is clean, and every acknowledged registration is there when
#              a new server opens the file.
#
#   GATEHOUSE=target/debug/gatehouse FAULT_SECONDS=12 bash tests/faults.sh [kill pgrestart sqlite]
#
# .ci/run runs the short form (FAULT_SECONDS=12); locally, FAULT_SECONDS=120 is the long one.
# Needs GATEHOUSE_TEST_POSTGRES_URL (a database whose role may CREATEDB) and, for pgrestart,
# a local cluster this user may restart (PG_RESTART, default pg_ctlcluster's newest main).
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${GATEHOUSE:-target/debug/gatehouse}
seconds=${FAULT_SECONDS:-12}
scenarios=${*:-kill pgrestart sqlite}
admin_url=${GATEHOUSE_TEST_POSTGRES_URL:?set GATEHOUSE_TEST_POSTGRES_URL}
pg_restart=${PG_RESTART:-"pg_ctlcluster $(ls /usr/lib/postgresql 2>/dev/null | sort -V | tail -1) main restart"}

# The driver, built in the dev profile like the server under test.
driver=$(cargo build --quiet --bench soak_load --message-format=json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "soak_load" and m.get("executable"):
        print(m["executable"])')
[ -x "$driver" ] || { echo "faults: could not build benches/soak_load.rs" >&2; exit 1; }

work=$(mktemp -d)
pids=()
stop_all() { kill -9 "${pids[@]}" 2>/dev/null || true; wait "${pids[@]}" 2>/dev/null || true; pids=(); }
trap 'stop_all; rm -rf "$work"' EXIT
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

export GATEHOUSE_KEYS_ENCRYPTION_KEY="$(python3 -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"
export GATEHOUSE_LIMITS_PASSWORD_CHECKS_PER_ADDRESS=64 GATEHOUSE_LIMITS_LOGIN_FAILURES_PER_IP=1000
export GATEHOUSE_LOG_LEVEL=warn GATEHOUSE_ACCOUNTS_BCRYPT_COST=4
export GATEHOUSE_SERVER_ISSUER=http://127.0.0.1:18181
# Refused at once when down, so the driver fails over without waiting.
export GATEHOUSE_DATABASE_CONNECT_TIMEOUT_MS=2000

start() { # index port: an instance on $GATEHOUSE_DATABASE_URL
  GATEHOUSE_LISTEN="127.0.0.1:$2" "$bin" serve 2>>"$work/server$1.log" &
  pids[$1]=$!
  for _ in $(seq 150); do curl -sf "http://127.0.0.1:$2/readyz" >/dev/null && return; sleep 0.2; done
  echo "instance $1 did not start:" >&2; cat "$work/server$1.log" >&2; exit 1
}

setup() { # clients, users and an admin token on $GATEHOUSE_DATABASE_URL, for the driver's env
  "$bin" role create faults --scope bench:read --json >/dev/null
  seq 0 7 | xargs -P 2 -I{} sh -c "echo 'fault password' | $bin user create faultu{} --role faults --json >/dev/null"
  service=$("$bin" client create --name service --grant-type client_credentials --scope bench:read --introspect --json)
  app=$("$bin" client create --name app --redirect-uri http://127.0.0.1:9/cb --scope bench:read --scope openid --scope profile --json)
  ops=$("$bin" client create --name ops --grant-type client_credentials --scope gatehouse:admin --json)
  export SOAK_SERVICE="$(json_field client_id <<<"$service"):$(json_field client_secret <<<"$service")"
  export SOAK_APP="$(json_field client_id <<<"$app"):$(json_field client_secret <<<"$app")"
  export SOAK_REDIRECT=http://127.0.0.1:9/cb SOAK_USER_PREFIX=faultu SOAK_USERS=8 SOAK_PASSWORD="fault password"
  export SOAK_ADMIN_ID_SECRET="$(json_field client_id <<<"$ops"):$(json_field client_secret <<<"$ops")"
  export SOAK_REGISTERED="$work/registered" SOAK_CONNECTIONS=8 SOAK_SECONDS=$seconds SOAK_PROGRESS_SECS=1
}

admin_token() { # base
  curl -sf -u "$SOAK_ADMIN_ID_SECRET" -d 'grant_type=client_credentials&scope=gatehouse%3Aadmin' "$1/token" | json_field access_token
}

registered_all_present() { # every acknowledged registration is a client in the database
  "$bin" client list --json >"$work/clients.json"
  python3 - "$work/registered" "$work/clients.json" <<'EOF'
import json, sys
acknowledged = {l.strip() for l in open(sys.argv[1]) if l.strip()}
clients = json.load(open(sys.argv[2]))
present = {c["client_id"] for c in (clients["clients"] if isinstance(clients, dict) else clients)}
missing = acknowledged - present
print("registrations: %d acknowledged, %d missing" % (len(acknowledged), len(missing)))
sys.exit(1 if missing or not acknowledged else 0)
EOF
}

served_after() { # t: the driver's progress shows operations after t seconds and no failure in its last second
  python3 - "$work/driver.out" "$1" <<'EOF'
import re, sys
rows = [tuple(map(float, m.groups())) for m in
        (re.match(r"progress t=\s*(\d+)s ops/s=\s*(\d+) 5xx\+transport so far=(\d+)", l) for l in open(sys.argv[1])) if m]
after = [r for r in rows if r[0] > float(sys.argv[2]) + 1]
ok = len(after) >= 2 and all(r[1] > 0 for r in after[-2:]) and after[-1][2] == after[-2][2]
print("after the fault: %s" % ", ".join("t=%ds %d ops/s" % (r[0], r[1]) for r in after[-3:]))
sys.exit(0 if ok else 1)
EOF
}

fresh_postgres() { # a new database per scenario, dropped on exit
  db="gatehouse_faults_$1_$$"
  base_url=${admin_url%%\?*}
  query=${admin_url#"$base_url"}
  psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
  export GATEHOUSE_DATABASE_URL="${base_url%/*}/$db$query"
}

failed=0
for scenario in $scenarios; do
  echo "=== $scenario ($seconds s of load)"
  : >"$work/registered"
  fault_at=$((seconds / 3))
  case "$scenario" in
    kill | pgrestart)
      fresh_postgres "$scenario"
      setup
      start 0 18181
      start 1 18182
      export SOAK_BASES=http://127.0.0.1:18181,http://127.0.0.1:18182 SOAK_REGISTER_EVERY=5 SOAK_EXPECT_CUTS=1
      export SOAK_ADMIN_TOKEN="$(admin_token http://127.0.0.1:18181)"
      [ "$scenario" = pgrestart ] && export SOAK_ALLOW_503=1 || export SOAK_ALLOW_503=0
      "$driver" >"$work/driver.out" 2>&1 &
      load=$!
      sleep "$fault_at"
      if [ "$scenario" = kill ]; then
        echo "kill -9 instance 0 at ${fault_at}s"; kill -9 "${pids[0]}"
      else
        echo "restarting PostgreSQL at ${fault_at}s"; $pg_restart
      fi
      status=0; wait $load || status=$?
      grep -v '^progress' "$work/driver.out"
      [ $status = 0 ] || { echo "FAIL: the driver saw a failure"; failed=1; }
      served_after "$fault_at" || { echo "FAIL: service did not carry on after the fault"; failed=1; }
      registered_all_present || { echo "FAIL: an acknowledged registration is missing"; failed=1; }
      if [ "$scenario" = pgrestart ]; then
        n503=$(python3 -c 'import re,sys; print(sum(int(n) for n in re.findall(r"503×(\d+)", open(sys.argv[1]).read())))' "$work/driver.out")
        echo "503 answers while PostgreSQL restarted: ${n503:-0}"
      fi
      stop_all
      psql "$admin_url" -qc "DROP DATABASE IF EXISTS $db" >/dev/null || true ;;
    sqlite)
      export GATEHOUSE_DATABASE_URL="sqlite://$work/faults.db"
      setup
      start 0 18181
      export SOAK_BASES=http://127.0.0.1:18181 SOAK_REGISTER_EVERY=2 SOAK_ALLOW_503=0 SOAK_EXPECT_CUTS=1
      export SOAK_ADMIN_TOKEN="$(admin_token http://127.0.0.1:18181)"
      # The load stops just after the kill: a refused connection has nowhere else to go.
      SOAK_SECONDS=$((fault_at + 1)) "$driver" >"$work/driver.out" 2>&1 &
      load=$!
      sleep "$fault_at"
      echo "kill -9 the SQLite instance at ${fault_at}s, during writes"; kill -9 "${pids[0]}"
      wait $load || true # its connections are refused from now on
      grep -E '^(register|refresh) ' "$work/driver.out" || true
      check=$(python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$work/faults.db")
      echo "integrity_check: $check"
      [ "$check" = ok ] || { echo "FAIL: integrity check"; failed=1; }
      registered_all_present || { echo "FAIL: an acknowledged registration is missing"; failed=1; }
      start 0 18181 # a new server opens the file and serves
      curl -sf -u "${SOAK_SERVICE}" -d grant_type=client_credentials http://127.0.0.1:18181/token >/dev/null ||
        { echo "FAIL: the restarted server does not serve"; failed=1; }
      stop_all ;;
    *) echo "unknown scenario $scenario" >&2; exit 2 ;;
  esac
  if grep -qi panic "$work"/server*.log 2>/dev/null; then echo "FAIL: a server panicked"; grep -i -A3 panic "$work"/server*.log; failed=1; fi
  rm -f "$work"/server*.log
done
[ $failed = 0 ] && echo "faults: all passed" || echo "faults: FAILED"
exit $failed
