#!/usr/bin/env bash
# The README's first command: install Orchestrion and run its main job on the embedded
# default (SQLite store, server-less broker; no Redis or Cassandra). It starts
# `orchestrion serve`, starts a session of examples/approval.scxml over the Genesys ORS
# HTTP paths, lets a durable delayed <send> fire, approves it, queries it, and stops.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo="$PWD"
port="${ORCHESTRION_DEMO_PORT:-8765}"
work="$(mktemp -d /tmp/orchestrion-demo.XXXXXX)"

PIP_ROOT_USER_ACTION=ignore python -m pip install -q --disable-pip-version-check -e . >/dev/null

cat > "$work/orchestrion.ini" <<INI
[persistence]
sqlite-path = $work/orchestrion.db

[broker]
data-dir = $work/broker

[api]
port = $port
allowed-locations = $repo/examples
INI

orchestrion --config "$work/orchestrion.ini" serve > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$work"' EXIT

base="http://127.0.0.1:$port"
for _ in $(seq 100); do
    curl -sf "$base/health" >/dev/null && break
    sleep 0.2
done
say() { printf '\n$ %s\n' "$*"; }

say "POST /scxml/session/start src=examples/approval.scxml"
answer=$(curl -sf -d "src=file://$repo/examples/approval.scxml" "$base/scxml/session/start")
echo "$answer"
id=$(python -c 'import json,sys; print(json.loads(sys.argv[1])["sessionid"])' "$answer")

sleep 3
say "GET /scxml/session/$id/query  (after the 2 s reminder fired)"
curl -sf "$base/scxml/session/$id/query"; echo

say "POST /scxml/session/$id/event/approve by=alice"
curl -sf -d by=alice "$base/scxml/session/$id/event/approve"; echo

for _ in $(seq 50); do
    state=$(curl -sf "$base/scxml/session/$id/query")
    case "$state" in *'"finished"'*) break ;; esac
    sleep 0.2
done
say "GET /scxml/session/$id/query"
echo "$state"
case "$state" in
    *'"approved"'*) echo; echo "demo: the session reached its final state 'approved'" ;;
    *) echo "demo: the session did not finish as expected; server log:" >&2
       cat "$work/serve.log" >&2; exit 1 ;;
esac
