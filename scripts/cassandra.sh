#!/usr/bin/env bash
# A real CQL server for tests, without Docker: Apache Cassandra 5.0 from Maven Central's jars,
# run on JDK 17 with a minimal cassandra.yaml. `scripts/test.sh` runs the ScyllaDB backend's
# tests against it (the CQL is the same; ScyllaDB itself does not install here).
#
#   scripts/cassandra.sh start DIR [PORT]   # data in DIR, CQL on 127.0.0.1:PORT (default 9042);
#                                          # returns once the node answers CQL (or fails, with
#                                          # the node's errors)
#   scripts/cassandra.sh stop DIR           # SIGTERM, wait for the exit
#
# Heap: $PULSE_CASSANDRA_HEAP (default 2g; the tests make a keyspace per test, ~20 tables each,
# and 512m ran out of heap), fixed at that size and collected with the G1 settings of
# Cassandra's own conf/jvm17-server.options; memtables off the heap (`offheap_objects`, as
# Cassandra's shipped cassandra.yaml has it). A growing heap with G1's default start of
# concurrent marking spent a fifth of the CPU in the collector under the benchmark's writes.
#
# The jars (~67 MB) are fetched once into $PULSE_CASSANDRA_CACHE (default
# ~/.cache/pulse/cassandra-$VERSION). Cassandra 5.0 runs on JDK 11 or 17 only; the newer JDK on
# this machine's PATH makes it exit at start, so JDK 17 is picked explicitly.
set -euo pipefail

VERSION=5.0.9
CACHE="${PULSE_CASSANDRA_CACHE:-$HOME/.cache/pulse/cassandra-$VERSION}"
say() { printf '\033[1;34m==>\033[0m %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

java17() {
  local j
  for j in /usr/lib/jvm/*17*/bin/java; do
    [ -x "$j" ] && { echo "$j"; return; }
  done
  die "Cassandra $VERSION needs JDK 17 (apt-get install openjdk-17-jre-headless); none in /usr/lib/jvm"
}

fetch_jars() {
  [ -f "$CACHE/lib/.complete" ] && return
  command -v mvn >/dev/null || die "mvn (Maven) is needed once to fetch the Cassandra jars"
  say "fetching Cassandra $VERSION jars from Maven Central into $CACHE (once)"
  mkdir -p "$CACHE"
  cat > "$CACHE/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>pulse</groupId><artifactId>cassandra-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.cassandra</groupId><artifactId>cassandra-all</artifactId><version>$VERSION</version></dependency>
  </dependencies>
</project>
EOF
  if ! (cd "$CACHE" && mvn -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib > mvn.log 2>&1); then
    tail -30 "$CACHE/mvn.log" >&2
    die "Maven could not fetch the jars (log: $CACHE/mvn.log)"
  fi
  touch "$CACHE/lib/.complete"
}

write_config() {
  local dir=$1 port=$2 storage=$3
  mkdir -p "$dir/data" "$dir/commitlog" "$dir/saved_caches" "$dir/hints" "$dir/cdc_raw"
  cat > "$dir/cassandra.yaml" <<EOF
cluster_name: pulse-test
num_tokens: 1
partitioner: org.apache.cassandra.dht.Murmur3Partitioner
endpoint_snitch: SimpleSnitch
seed_provider:
  - class_name: org.apache.cassandra.locator.SimpleSeedProvider
    parameters:
      - seeds: "127.0.0.1:$storage"
listen_address: 127.0.0.1
rpc_address: 127.0.0.1
storage_port: $storage
native_transport_port: $port
start_native_transport: true
commitlog_sync: periodic
commitlog_sync_period: 10000ms
data_file_directories: [$dir/data]
commitlog_directory: $dir/commitlog
saved_caches_directory: $dir/saved_caches
hints_directory: $dir/hints
cdc_raw_directory: $dir/cdc_raw
auto_snapshot: false
memtable_allocation_type: offheap_objects
EOF
  cat > "$dir/logback.xml" <<EOF
<configuration>
  <appender name="FILE" class="ch.qos.logback.core.FileAppender">
    <file>$dir/system.log</file>
    <encoder><pattern>%-5level %date{ISO8601} %msg%n</pattern></encoder>
  </appender>
  <root level="INFO"><appender-ref ref="FILE"/></root>
</configuration>
EOF
}

# Waits until 127.0.0.1:PORT answers a CQL OPTIONS request (protocol v4) with SUPPORTED.
wait_cql() {
  local port=$1 pid=$2
  python3 - "$port" "$pid" <<'EOF'
import os, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
deadline = time.time() + 90
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(2)  # the node died
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(bytes([0x04, 0, 0, 0, 0x05, 0, 0, 0, 0]))  # OPTIONS
            head = s.recv(9)
            if len(head) == 9 and head[4] == 0x06:  # SUPPORTED
                sys.exit(0)
    except OSError:
        pass
    time.sleep(0.2)
sys.exit(1)
EOF
}

start() {
  local dir port storage java started
  dir=$(mkdir -p "$1" && cd "$1" && pwd)
  port=${2:-9042}
  storage=$((port + 10000))
  java=$(java17)
  fetch_jars
  write_config "$dir" "$port" "$storage"
  local heap=${PULSE_CASSANDRA_HEAP:-2g}
  local opts=(
    "-Xms$heap" "-Xmx$heap" -XX:+ExitOnOutOfMemoryError
    -XX:+UseG1GC -XX:+ParallelRefProcEnabled -XX:MaxTenuringThreshold=1 -XX:G1HeapRegionSize=16m
    -XX:G1RSetUpdatingPauseTimePercent=5 -XX:MaxGCPauseMillis=300 -XX:InitiatingHeapOccupancyPercent=70
    -Djdk.attach.allowAttachSelf=true
    --add-exports java.base/jdk.internal.misc=ALL-UNNAMED
    --add-exports java.management.rmi/com.sun.jmx.remote.internal.rmi=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.registry=ALL-UNNAMED
    --add-exports java.rmi/sun.rmi.server=ALL-UNNAMED
    --add-exports java.sql/java.sql=ALL-UNNAMED
    --add-exports java.base/java.lang.ref=ALL-UNNAMED
    --add-exports jdk.unsupported/sun.misc=ALL-UNNAMED
    --add-exports jdk.compiler/com.sun.tools.javac.file=ALL-UNNAMED
    --add-exports jdk.attach/sun.tools.attach=ALL-UNNAMED
    --add-opens java.base/java.lang.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.loader=ALL-UNNAMED
    --add-opens java.base/jdk.internal.ref=ALL-UNNAMED
    --add-opens java.base/jdk.internal.reflect=ALL-UNNAMED
    --add-opens java.base/jdk.internal.math=ALL-UNNAMED
    --add-opens java.base/jdk.internal.module=ALL-UNNAMED
    --add-opens java.base/jdk.internal.util.jar=ALL-UNNAMED
    --add-opens jdk.management/com.sun.management.internal=ALL-UNNAMED
    --add-opens java.base/sun.nio.ch=ALL-UNNAMED
    --add-opens java.base/java.io=ALL-UNNAMED
    --add-opens java.base/java.lang.reflect=ALL-UNNAMED
    --add-opens jdk.compiler/com.sun.tools.javac=ALL-UNNAMED
    --add-opens java.base/java.lang=ALL-UNNAMED
    --add-opens java.base/java.util=ALL-UNNAMED
    -Dio.netty.tryReflectionSetAccessible=true
    "-javaagent:$(ls "$CACHE"/lib/jamm-*.jar | head -1)"
    -Dcassandra-foreground=yes
    "-Dcassandra.config=file://$dir/cassandra.yaml"
    "-Dcassandra.storagedir=$dir"
    -Dcassandra.skip_wait_for_gossip_to_settle=0
    -Dcassandra.shutdown_announce_in_ms=0
    "-Dlogback.configurationFile=$dir/logback.xml"
    -cp "$CACHE/lib/*"
    org.apache.cassandra.service.CassandraDaemon
  )
  say "starting Cassandra $VERSION on 127.0.0.1:$port (data in $dir)"
  started=$(date +%s.%N)
  setsid "$java" "${opts[@]}" > "$dir/stdout.log" 2>&1 < /dev/null &
  echo $! > "$dir/pid"
  if wait_cql "$port" "$(cat "$dir/pid")"; then
    say "CQL answers after $(python3 -c "import time; print(round(time.time() - $started, 1))") s"
  else
    grep -h -E 'ERROR|Caused by|Exception' "$dir/system.log" "$dir/stdout.log" 2>/dev/null | head -20 >&2 || true
    stop "$dir" || true
    die "Cassandra did not answer CQL on port $port (logs: $dir/system.log, $dir/stdout.log)"
  fi
}

stop() {
  local dir=$1 pid
  [ -f "$dir/pid" ] || return 0
  pid=$(cat "$dir/pid")
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$dir/pid"; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$dir/pid"
}

case "${1:-}" in
  start) shift; [ $# -ge 1 ] || die "usage: $0 start DIR [PORT]"; start "$@" ;;
  stop) shift; [ $# -ge 1 ] || die "usage: $0 stop DIR"; stop "$1" ;;
  *) die "usage: $0 start DIR [PORT] | stop DIR" ;;
esac
