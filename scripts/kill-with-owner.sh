#!/usr/bin/env bash
# Detach a watcher that kills PID once OWNER_PID has exited, so that servers started for a
# test run or a CI job never outlive it (even when it is killed). Used by start-*.sh when
# ORCHESTRION_OWNER_PID is set.
#
#   scripts/kill-with-owner.sh OWNER_PID PID
set -euo pipefail
owner_pid="$1"
pid="$2"
nohup bash -c '
    while kill -0 "$0" 2>/dev/null && kill -0 "$1" 2>/dev/null; do sleep 2; done
    kill -KILL "$1" 2>/dev/null || true
' "$owner_pid" "$pid" >/dev/null 2>&1 < /dev/null &
