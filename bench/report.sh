#!/usr/bin/env bash
# The performance report: every grant and endpoint on both databases (bench/load.sh), the
# mixed load on one and on two instances behind nginx (bench/soak.sh), then the table and
# chart for BENCHMARKS.md (bench/report.py). Raw outputs, the CSV and the SVG chart land in
# OUT (default bench/results/).
#
#   GATEHOUSE_BENCH_POSTGRES_URL=postgres://gatehouse:gatehouse@127.0.0.1:5432/gatehouse_bench \
#     bench/report.sh
#
# The PostgreSQL database is dropped and created again before each run (createdb/dropdb as
# the postgres user: run as root on the bench machine). DURATION (default 10s) per level,
# SOAK_SECONDS (default 60) per instance count.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-bench/results}
mkdir -p "$out/raw"
: "${GATEHOUSE_BENCH_POSTGRES_URL:?set GATEHOUSE_BENCH_POSTGRES_URL}"
db=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).path.lstrip("/"))' "$GATEHOUSE_BENCH_POSTGRES_URL")
owner=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.urlparse(sys.argv[1]).username)' "$GATEHOUSE_BENCH_POSTGRES_URL")
fresh_db() {
  runuser -u postgres -- dropdb --if-exists "$db"
  runuser -u postgres -- createdb -O "$owner" "$db"
}
cargo build --release --quiet
export BENCH_BIN=${BENCH_BIN:-target/release/gatehouse}
{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (modified)')"
  echo "date $(date -u +%FT%TZ)"
  echo "cpu $(nproc) × $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  echo "memory $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "postgres $(psql --version | awk '{print $3}')"
  echo "load before $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/raw/machine.txt"
for backend in sqlite postgres; do
  for mode in token introspect refresh userinfo password code; do
    [ "$backend" = postgres ] && fresh_db
    echo "== $backend $mode"
    FLOWS="session remembered consent" bash bench/load.sh "$backend" "$mode" | tee "$out/raw/$backend-$mode.txt"
  done
done
for instances in "18081" "18081 18082"; do
  fresh_db
  n=$(wc -w <<<"$instances")
  echo "== soak, $n instance(s) behind nginx"
  INSTANCE_PORTS="$instances" DURATION=${SOAK_SECONDS:-60} PROGRESS_SECS=30 bash bench/soak.sh | tee "$out/raw/soak-$n.txt"
done
python3 bench/report.py "$out"
