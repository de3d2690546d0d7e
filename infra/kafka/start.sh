#!/usr/bin/env bash
# Starts a single-node Apache Kafka (KRaft: broker + controller in one JVM) on 127.0.0.1.
#
# usage: start.sh [--state-dir DIR] [--owner-pid PID]
#   --state-dir  where config, pid file and logs live (default: ~/.cache/specstream/kafka-run)
#   --owner-pid  stop the broker when that process is gone (test runs that die uncleanly)
#
# Steps: 1. lock the state dir; if its broker is alive, print its address and stop here;
# 2. resolve Kafka from Maven Central (cached, see resolve.sh); 3. on a fresh state dir: pick
# free ports, make a data dir under $TMPDIR, write server.properties, format storage; a state dir
# left by `stop.sh --keep-data` restarts on the same ports and data; 4. start the JVM detached,
# logs to DIR/kafka.out and DIR/logs/server.log; 5. wait until a kafkajs admin lists topics
# (on failure: print the log tail, kill the JVM, exit 1); 6. print SPECSTREAM_KAFKA_BROKERS=host:port.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

state_dir="$KAFKA_DEFAULT_STATE_DIR"
owner_pid=""
while [ $# -gt 0 ]; do
  case "$1" in
    --state-dir) state_dir="$2"; shift 2 ;;
    --owner-pid) owner_pid="$2"; shift 2 ;;
    *) kafka_log "unknown argument: $1 (usage: start.sh [--state-dir DIR] [--owner-pid PID])"; exit 2 ;;
  esac
done
mkdir -p "$state_dir/logs"
state_dir="$(cd "$state_dir" && pwd)"
exec 9>"$state_dir/.lock"
flock 9

if pid="$(kafka_live_pid "$state_dir")"; then
  kafka_log "already running (pid $pid, state $state_dir)"
  echo "SPECSTREAM_KAFKA_BROKERS=$(cat "$state_dir/brokers")"
  exit 0
fi

bash "$KAFKA_INFRA_DIR/resolve.sh" >/dev/null
cp "$KAFKA_INFRA_DIR/log4j2.properties" "$state_dir/log4j2.properties"
java_cp="$KAFKA_LIBS_DIR/*"

if [ ! -f "$state_dir/server.properties" ]; then
  read -r port cport <<<"$(node "$KAFKA_INFRA_DIR/freeport.mjs" 2)"
  data_dir="$(mktemp -d "${TMPDIR:-/tmp}/specstream-kafka-data.XXXXXX")"
  echo "$data_dir" >"$state_dir/data_dir"
  cat >"$state_dir/server.properties" <<PROPS
# Written by infra/kafka/start.sh: single-node KRaft dev/CI broker (Kafka $KAFKA_VERSION).
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$data_dir
num.partitions=1
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
# CI has 2 cores.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
PROPS
  echo "127.0.0.1:$port" >"$state_dir/brokers"
  cluster_id="$(java -cp "$java_cp" kafka.tools.StorageTool random-uuid 2>>"$state_dir/kafka.out")"
  if ! java -cp "$java_cp" -Dlog4j2.configurationFile="$state_dir/log4j2.properties" \
        -Dkafka.logs.dir="$state_dir/logs" \
        kafka.tools.StorageTool format -t "$cluster_id" -c "$state_dir/server.properties" \
        >>"$state_dir/kafka.out" 2>&1; then
    kafka_log "formatting storage failed"
    kafka_log_tail "$state_dir"
    exit 1
  fi
  kafka_log "formatted $data_dir (cluster $cluster_id)"
fi
brokers="$(cat "$state_dir/brokers")"

# setsid + redirected stdio: the JVM outlives this script and holds none of the caller's pipes,
# nor the state dir's lock (fd 9), which a later start.sh/stop.sh must be able to take.
setsid java "-Xmx$KAFKA_HEAP" "-Xms$KAFKA_HEAP" -XX:+UseG1GC -Djava.awt.headless=true \
  -Dlog4j2.configurationFile="$state_dir/log4j2.properties" -Dkafka.logs.dir="$state_dir/logs" \
  -cp "$java_cp" kafka.Kafka "$state_dir/server.properties" \
  </dev/null >>"$state_dir/kafka.out" 2>&1 9>&- &
pid=$!
echo "$pid" >"$state_dir/kafka.pid"
kafka_log "started Kafka $KAFKA_VERSION (pid $pid) on $brokers; logs in $state_dir/logs/server.log"

if ! node "$KAFKA_INFRA_DIR/wait.mjs" "$brokers" "$pid" "$KAFKA_START_TIMEOUT"; then
  kafka_log_tail "$state_dir"
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$state_dir/kafka.pid"
  exit 1
fi

if [ -n "$owner_pid" ]; then
  # Watchdog: a test run killed with SIGKILL must not leave a 512 MB JVM behind.
  setsid bash -c '
    while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 2; done
    if kill -0 "$2" 2>/dev/null; then bash "$3/stop.sh" --state-dir "$4" >/dev/null 2>&1; fi
  ' watchdog "$owner_pid" "$pid" "$KAFKA_INFRA_DIR" "$state_dir" </dev/null >/dev/null 2>&1 9>&- &
  echo $! >"$state_dir/watchdog.pid"
fi

kafka_log "ready: $brokers"
echo "SPECSTREAM_KAFKA_BROKERS=$brokers"
