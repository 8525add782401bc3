#!/usr/bin/env bash
# Runs the README's quick starts as a reader would, copy-paste, and fails on the first error.
#
# The commands are the README's fenced blocks marked ```sh quickstart (and the two variants
# below); nothing else of the README runs. Each quick start runs alone against a freshly
# started `gatehouse serve` on a new SQLite database, then all of them in order against one
# more, so they neither depend on nor collide with each other. Before running, the text is
# changed only so:
#   - `cargo run --release --` becomes $README_GATEHOUSE (default target/debug/gatehouse, which
#     `cargo test` has built), and `cargo run --example bookshop` (`openid_app`)
#     becomes $README_BOOKSHOP ($README_OPENID_APP; default target/debug/examples/…, built here
#     if missing);
#   - 127.0.0.1:8080, :8081 and :8082 become free ports, so a running server is no bother.
# Block variants:
#   ```sh quickstart-background   "in another shell": one command, run in the background until
#                                 the quick start ends
#   ```sh quickstart-browser      what a person does in a browser: tests/readme_browser.py
#                                 signs in and allows, and the block's CODE=... gets the code
#   ```sh quickstart-browser-app  the same in the example app: readme_browser.py --app signs
#                                 in through it, checks the claims it shows, and signs out
#
# Usage: bash tests/readme_quickstarts.sh [README.md]
set -euo pipefail
cd "$(dirname "$0")/.."
readme=${1:-README.md}
README_GATEHOUSE=$(realpath "${README_GATEHOUSE:-target/debug/gatehouse}")
README_BOOKSHOP=${README_BOOKSHOP:-target/debug/examples/bookshop}
if [ ! -x "$README_BOOKSHOP" ]; then
  cargo build --quiet --example bookshop
fi
README_BOOKSHOP=$(realpath "$README_BOOKSHOP")
README_OPENID_APP=${README_OPENID_APP:-target/debug/examples/openid_app}
if [ ! -x "$README_OPENID_APP" ]; then
  cargo build --quiet --example openid_app
fi
README_OPENID_APP=$(realpath "$README_OPENID_APP")
export README_GATEHOUSE README_BOOKSHOP README_OPENID_APP
browser=$(realpath tests/readme_browser.py)

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# --- the blocks: one file each, numbered in README order, with their section ---------------
python3 - "$readme" "$work" <<'EOF'
import pathlib, re, sys
readme, out = sys.argv[1], pathlib.Path(sys.argv[2])
section, block, kind, n = "", None, None, 0
for line in open(readme, encoding="utf-8"):
    if block is None:
        if line.startswith("## "):
            section = line[3:].strip()
        m = re.match(r"^```sh (quickstart(?:-background|-browser|-browser-app)?)\s*$", line)
        if m:
            block, kind = [], m.group(1)
    elif line.startswith("```"):
        n += 1
        (out / f"{n:03d}.{kind}").write_text("".join(block))
        (out / f"{n:03d}.section").write_text(section)
        block = None
    else:
        block.append(line)
if n == 0:
    sys.exit(f"{readme}: no ```sh quickstart blocks")
EOF

# The sections holding blocks, in README order. The intro ("Quick starts": the `json`
# helper) runs before each quick start.
mapfile -t sections < <(for f in "$work"/*.section; do cat "$f"; echo; done | awk '!seen[$0]++')

# Writes the script for the blocks of the given sections, in README order.
script_for() {
  local f n kind section
  for f in "$work"/*.section; do
    n=${f%.section}
    section=$(cat "$f")
    for wanted in "$@"; do
      [ "$section" = "$wanted" ] || continue
      kind=$(basename "$n".quickstart* | sed 's/.*\.//')
      echo "printf '\\n--- README: %s (%s)\\n' '$section' '$(basename "$n")' >&2"
      sed -e 's/cargo run --release --/"$README_GATEHOUSE"/g' \
          -e 's/cargo run --example bookshop/"$README_BOOKSHOP"/g' \
          -e 's/cargo run --example openid_app/"$README_OPENID_APP"/g' \
          -e 's/127\.0\.0\.1:8080/127.0.0.1:$README_PORT/g' \
          -e 's/127\.0\.0\.1:8081/127.0.0.1:$README_BOOKSHOP_PORT/g' \
          -e 's/127\.0\.0\.1:8082/127.0.0.1:$README_APP_PORT/g' \
          "$n".quickstart* > "$n.sh"
      case $kind in
        quickstart) echo "source '$n.sh'" ;;
        quickstart-background)
          # One command: exec'd, so its pid is the process to stop at the end.
          echo "( eval \"exec \$(cat '$n.sh')\" ) >'$n.log' 2>&1 &"
          echo "echo \$! >> '$work/pids'"
          if grep -q openid_app "$n".quickstart*; then
            echo "wait_for http://127.0.0.1:\$README_APP_PORT/ '$n.log'"
          else
            echo "wait_for http://127.0.0.1:\$README_BOOKSHOP_PORT/books '$n.log'"
          fi ;;
        quickstart-browser)
          echo "CODE=\$(python3 '$browser' \"\$AUTHORIZE\" bella 'correct horse battery')" ;;
        quickstart-browser-app)
          echo "python3 '$browser' --app \"http://127.0.0.1:\$README_APP_PORT\" olivia 'correct horse battery'" ;;
      esac
    done
  done
}

# Waits until URL answers (any status); shows LOG if it never does.
wait_for() {
  for _ in $(seq 100); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.2
  done
  echo "nothing answers at $1" >&2
  cat "$2" >&2
  return 1
}
export -f wait_for

# Runs the quick starts of the given sections against a new server on a new database.
run_against_fresh_server() {
  local run="$work/run-$RANDOM"
  mkdir -p "$run"
  README_PORT=$(free_port)
  README_BOOKSHOP_PORT=$(free_port)
  README_APP_PORT=$(free_port)
  export README_PORT README_BOOKSHOP_PORT README_APP_PORT
  export GATEHOUSE_DATABASE_URL="sqlite://$run/gatehouse.db"
  export GATEHOUSE_LISTEN="127.0.0.1:$README_PORT"
  export GATEHOUSE_ISSUER="http://127.0.0.1:$README_PORT"
  export BOOKSHOP_LISTEN="127.0.0.1:$README_BOOKSHOP_PORT"
  export OPENID_APP_LISTEN="127.0.0.1:$README_APP_PORT"
  # The cheapest bcrypt cost keeps a debug build quick; no command's behaviour changes.
  export GATEHOUSE_ACCOUNTS_BCRYPT_COST=4
  "$README_GATEHOUSE" serve >"$run/serve.log" 2>&1 &
  local server=$!
  pids+=("$server")
  wait_for "http://127.0.0.1:$README_PORT/healthz" "$run/serve.log"
  script_for "${sections[0]}" "$@" > "$run/script.sh"
  : > "$work/pids"
  local status=0
  (cd "$run" && bash -euo pipefail "$run/script.sh") || status=$?
  while read -r pid; do kill "$pid" 2>/dev/null || true; done < "$work/pids"
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  if [ "$status" -ne 0 ]; then
    echo "README quick start failed (exit $status): $*" >&2
    echo "--- gatehouse serve log:" >&2
    tail -20 "$run/serve.log" >&2
    exit "$status"
  fi
}

for section in "${sections[@]:1}"; do
  printf "\n=== alone: %s\n" "$section"
  run_against_fresh_server "$section"
done
printf "\n=== all in order, one database\n"
run_against_fresh_server "${sections[@]:1}"
echo "README quick starts: ${#sections[@]} sections ran, alone and in order"
