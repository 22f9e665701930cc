#!/usr/bin/env bash
# Start one Apache Cassandra node on 127.0.0.1, detached, and wait until it answers CQL.
#
#   scripts/start-cassandra.sh [--port CQLPORT] [--dir DATADIR] [--storage-port PORT]
#                              [--auth] [--cluster-name NAME] [--heap SIZE] [--timeout S]
#                              [--fast-schema]
#
# The server (org.apache.cassandra:cassandra-all from Maven Central) and its dependencies
# are fetched once with Maven into a cache outside the repository
# ($ORCHESTRION_CACHE_DIR, default ~/.cache/orchestrion) and reused on later runs.
# Defaults: CQL port 9042, storage port CQLPORT+1 and ssl storage port CQLPORT+2, data in
# /tmp/orchestrion-cassandra-CQLPORT. --auth turns on PasswordAuthenticator (login
# cassandra/cassandra). A restart with the same --dir keeps the data. --fast-schema
# (-Dcassandra.unsafesystem=true) makes DDL about 4x faster by not flushing the schema
# tables on each change: a node killed with SIGKILL then forgets recent schema changes
# (a clean stop flushes them), so use it only for test nodes that are never crashed.
# Stop it with scripts/stop-cassandra.sh --dir DATADIR (or --port CQLPORT). With
# ORCHESTRION_OWNER_PID set, the node is killed once that process has exited.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
version="${ORCHESTRION_CASSANDRA_VERSION:-5.0.6}"
cache_root="${ORCHESTRION_CACHE_DIR:-${HOME:-/root}/.cache/orchestrion}"
lib_dir="$cache_root/cassandra-$version/lib"

cql_port=9042
data_dir=""
storage_port=""
authenticator="AllowAllAuthenticator"
cluster_name=""
heap="1g"
timeout_s=300
fast_schema=""

while [[ $# -gt 0 ]]; do
    case "$1" in
        --port) cql_port="$2"; shift 2 ;;
        --dir) data_dir="$2"; shift 2 ;;
        --storage-port) storage_port="$2"; shift 2 ;;
        --auth) authenticator="PasswordAuthenticator"; shift ;;
        --cluster-name) cluster_name="$2"; shift 2 ;;
        --heap) heap="$2"; shift 2 ;;
        --timeout) timeout_s="$2"; shift 2 ;;
        --fast-schema) fast_schema="-Dcassandra.unsafesystem=true"; shift ;;
        -h|--help) sed -n '2,19p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) echo "start-cassandra: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
data_dir="${data_dir:-/tmp/orchestrion-cassandra-$cql_port}"
storage_port="${storage_port:-$((cql_port + 1))}"
ssl_storage_port=$((storage_port + 1))
cluster_name="${cluster_name:-orchestrion-$cql_port}"
mkdir -p "$data_dir"
data_dir="$(cd "$data_dir" && pwd)"
pid_file="$data_dir/cassandra.pid"
log_dir="$data_dir/logs"

started=$EPOCHREALTIME

# --- the server's jars (fetched once, under a lock so that parallel starts share it) ----
fetch_server() {
    mkdir -p "$cache_root"
    exec 9>"$cache_root/cassandra-$version.lock"
    flock 9
    if [[ ! -f "$lib_dir/.complete" ]]; then
        echo "start-cassandra: fetching cassandra-all $version with Maven into $lib_dir"
        rm -rf "$lib_dir"
        mkdir -p "$lib_dir"
        mvn -B -q -f "$here/cassandra/pom.xml" -Dcassandra.version="$version" \
            dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$lib_dir"
        touch "$lib_dir/.complete"
    fi
    flock -u 9
}

if [[ -f "$pid_file" ]] && kill -0 "$(cat "$pid_file")" 2>/dev/null; then
    echo "start-cassandra: already running (pid $(cat "$pid_file")) in $data_dir" >&2
    exit 1
fi
for port in "$cql_port" "$storage_port" "$ssl_storage_port"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "start-cassandra: port $port on 127.0.0.1 is already in use" >&2
        exit 1
    fi
done

fetch_server
if ! command -v java >/dev/null; then
    echo "start-cassandra: java (JDK 17) is not on PATH" >&2
    exit 1
fi
jamm_jar="$(ls "$lib_dir"/jamm-*.jar | head -n 1)"

# --- configuration ---------------------------------------------------------------------
mkdir -p "$log_dir" "$data_dir/conf"
sed -e "s|@CLUSTER_NAME@|$cluster_name|g" \
    -e "s|@AUTHENTICATOR@|$authenticator|g" \
    -e "s|@DATA_DIR@|$data_dir|g" \
    -e "s|@STORAGE_PORT@|$storage_port|g" \
    -e "s|@SSL_STORAGE_PORT@|$ssl_storage_port|g" \
    -e "s|@CQL_PORT@|$cql_port|g" \
    "$here/cassandra/cassandra.yaml.in" > "$data_dir/conf/cassandra.yaml"
sed -e "s|@LOG_DIR@|$log_dir|g" "$here/cassandra/logback.xml.in" > "$data_dir/conf/logback.xml"

# --- launch ----------------------------------------------------------------------------
log_lines_before=0
if [[ -f "$log_dir/system.log" ]]; then
    log_lines_before=$(wc -l < "$log_dir/system.log")
fi
# No JMX port (none of cassandra.jmx.*.port is set): nothing here uses nodetool, and two
# nodes then need no extra port. The -D options below skip the waits that matter only
# when a node joins a real multi-node ring.
nohup java \
    "@$here/cassandra/jvm17.options" \
    -Xms512m "-Xmx$heap" -Xss512k \
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 \
    -XX:+ExitOnOutOfMemoryError \
    -XX:CICompilerCount=2 \
    "-javaagent:$jamm_jar" \
    -Dcassandra-foreground=yes \
    "-Dcassandra.config=file://$data_dir/conf/cassandra.yaml" \
    "-Dcassandra.storagedir=$data_dir" \
    "-Dcassandra.logdir=$log_dir" \
    "-Dlogback.configurationFile=file://$data_dir/conf/logback.xml" \
    -Dcassandra.skip_wait_for_gossip_to_settle=0 \
    -Dcassandra.ring_delay_ms=100 \
    -Dcassandra.gossip_settle_min_wait_ms=0 \
    -Dcassandra.superuser_setup_delay_ms=0 \
    -Dcassandra.migration_delay_ms=0 \
    ${fast_schema:+"$fast_schema"} \
    -cp "$lib_dir/*" \
    org.apache.cassandra.service.CassandraDaemon \
    > "$log_dir/stdout.log" 2>&1 < /dev/null &
echo $! > "$pid_file"
pid=$(cat "$pid_file")
if [[ -n "${ORCHESTRION_OWNER_PID:-}" ]]; then
    "$here/kill-with-owner.sh" "$ORCHESTRION_OWNER_PID" "$pid"
fi

# --- wait for CQL ----------------------------------------------------------------------
# A real query when cassandra-driver is importable (the port opens a moment before the
# node serves requests); else the node's own "Startup complete" line.
if python3 -c 'import cassandra.cluster' 2>/dev/null; then
    query_check=yes
else
    query_check=no
    echo "start-cassandra: cassandra-driver not importable; waiting for the log line instead"
fi
cql_ready() {
    (exec 3<>"/dev/tcp/127.0.0.1/$cql_port") 2>/dev/null || return 1
    if [[ "$query_check" == no ]]; then
        tail -n "+$((log_lines_before + 1))" "$log_dir/system.log" | grep -q "Startup complete"
        return
    fi
    python3 - "$cql_port" "$authenticator" <<'PY' >/dev/null 2>&1
import sys
from cassandra.auth import PlainTextAuthProvider
from cassandra.cluster import Cluster

port, authenticator = int(sys.argv[1]), sys.argv[2]
auth = PlainTextAuthProvider("cassandra", "cassandra") if authenticator != "AllowAllAuthenticator" else None
cluster = Cluster(["127.0.0.1"], port=port, auth_provider=auth, connect_timeout=5,
                  control_connection_timeout=5)
try:
    cluster.connect().execute("SELECT release_version FROM system.local", timeout=10)
finally:
    cluster.shutdown()
PY
}

deadline=$(( $(date +%s) + timeout_s ))
until cql_ready; do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "start-cassandra: the node exited during start-up; last lines of its logs:" >&2
        tail -n 40 "$log_dir/stdout.log" "$log_dir/system.log" >&2 || true
        rm -f "$pid_file"
        exit 1
    fi
    if (( $(date +%s) > deadline )); then
        echo "start-cassandra: no CQL answer on port $cql_port within ${timeout_s}s" >&2
        tail -n 40 "$log_dir/stdout.log" "$log_dir/system.log" >&2 || true
        exit 1
    fi
    sleep 0.5
done
elapsed=$(awk -v a="$started" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
echo "start-cassandra: node up on 127.0.0.1:$cql_port (pid $pid, dir $data_dir) in ${elapsed} s"
