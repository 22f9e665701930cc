#!/usr/bin/env bash
# Start Debian's redis-server on 127.0.0.1:PORT, daemonised, with its own folder, pidfile
# and log, and AOF on (appendfsync everysec) so that a restart keeps the data.
#
#   scripts/start-redis.sh PORT [DIR]      (DIR defaults to /tmp/orchestrion-redis-PORT)
#
# Installs redis-server with apt-get when it is missing (CI runs as root). Waits until
# `redis-cli -p PORT ping` answers. Stop it with scripts/stop-redis.sh PORT [DIR]. With
# ORCHESTRION_OWNER_PID set, the server is killed once that process has exited.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 PORT [DIR]" >&2
    exit 2
fi
port="$1"
dir="${2:-/tmp/orchestrion-redis-$port}"

if ! command -v redis-server >/dev/null || ! command -v redis-cli >/dev/null; then
    echo "start-redis: installing redis-server with apt-get"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q redis-server
fi

mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
if redis-cli -p "$port" ping >/dev/null 2>&1; then
    echo "start-redis: something already answers on port $port" >&2
    exit 1
fi

# Options on the command line, no config file: nothing to keep in step with the script.
redis-server --port "$port" --bind 127.0.0.1 --daemonize yes \
    --dir "$dir" --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --appendonly yes --appendfsync everysec \
    --save "" --protected-mode yes

for _ in $(seq 1 200); do
    if [[ "$(redis-cli -p "$port" ping 2>/dev/null)" == "PONG" ]]; then
        if [[ -n "${ORCHESTRION_OWNER_PID:-}" ]]; then
            "$(dirname "${BASH_SOURCE[0]}")/kill-with-owner.sh" "$ORCHESTRION_OWNER_PID" \
                "$(cat "$dir/redis.pid")"
        fi
        echo "start-redis: redis-server up on 127.0.0.1:$port (dir $dir)"
        exit 0
    fi
    sleep 0.05
done
echo "start-redis: no PING answer on port $port within 10 s; log:" >&2
tail -n 20 "$dir/redis.log" >&2 || true
exit 1
