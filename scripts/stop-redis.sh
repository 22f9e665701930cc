#!/usr/bin/env bash
# Stop a redis-server started by scripts/start-redis.sh; the AOF in its folder is kept.
#
#   scripts/stop-redis.sh PORT [DIR]
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 PORT [DIR]" >&2
    exit 2
fi
port="$1"
dir="${2:-/tmp/orchestrion-redis-$port}"
pid_file="$dir/redis.pid"

if ! redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "stop-redis: nothing answers on port $port"
    rm -f "$pid_file"
    exit 0
fi
pid=""
[[ -f "$pid_file" ]] && pid="$(cat "$pid_file")"
# SHUTDOWN rewrites nothing with --save "": the AOF (fsynced every second) holds the data.
redis-cli -p "$port" shutdown >/dev/null 2>&1 || true
for _ in $(seq 1 200); do
    if [[ -n "$pid" ]]; then
        kill -0 "$pid" 2>/dev/null || break
    else
        redis-cli -p "$port" ping >/dev/null 2>&1 || break
    fi
    sleep 0.05
done
echo "stop-redis: stopped redis-server on port $port"
