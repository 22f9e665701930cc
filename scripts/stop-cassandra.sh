#!/usr/bin/env bash
# Stop a node started by scripts/start-cassandra.sh: SIGTERM (Cassandra flushes and closes
# its commit log), then SIGKILL after a grace period. Data stays in the folder.
#
#   scripts/stop-cassandra.sh [--port CQLPORT] [--dir DATADIR] [--kill] [--grace S]
#
# --kill sends SIGKILL at once (a crash, for outage tests).
set -euo pipefail

cql_port=9042
data_dir=""
signal="TERM"
grace_s=60

while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) cql_port="$2"; shift 2 ;;
        --dir) data_dir="$2"; shift 2 ;;
        --kill) signal="KILL"; shift ;;
        --grace) grace_s="$2"; shift 2 ;;
        -h|--help) sed -n '2,8p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "stop-cassandra: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
data_dir="${data_dir:-/tmp/orchestrion-cassandra-$cql_port}"
pid_file="$data_dir/cassandra.pid"

if [[ ! -f "$pid_file" ]]; then
    echo "stop-cassandra: no pidfile in $data_dir (not running)"
    exit 0
fi
pid="$(cat "$pid_file")"
if ! kill -0 "$pid" 2>/dev/null; then
    echo "stop-cassandra: pid $pid is not running"
    rm -f "$pid_file"
    exit 0
fi
kill "-$signal" "$pid"
for _ in $(seq 1 $((grace_s * 10))); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
    echo "stop-cassandra: pid $pid still running after ${grace_s}s, killing it" >&2
    kill -KILL "$pid"
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
fi
rm -f "$pid_file"
echo "stop-cassandra: stopped pid $pid ($data_dir)"
