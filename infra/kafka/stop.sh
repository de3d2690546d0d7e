#!/usr/bin/env bash
# Stops the broker of a state dir: SIGTERM (controlled shutdown), SIGKILL after 30 s.
#
# usage: stop.sh [--state-dir DIR] [--keep-data] [--kill]
#   --keep-data  keep config and data so start.sh restarts the same broker (same ports, same log)
#   --kill       SIGKILL at once (a crash, for fault tests)
# Without --keep-data the data dir and config are removed: the next start is a fresh broker.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

state_dir="$KAFKA_DEFAULT_STATE_DIR"
keep_data=0
signal=TERM
while [ $# -gt 0 ]; do
  case "$1" in
    --state-dir) state_dir="$2"; shift 2 ;;
    --keep-data) keep_data=1; shift ;;
    --kill) signal=KILL; shift ;;
    *) kafka_log "unknown argument: $1 (usage: stop.sh [--state-dir DIR] [--keep-data] [--kill])"; exit 2 ;;
  esac
done
if [ ! -d "$state_dir" ]; then
  kafka_log "nothing to stop: no state dir $state_dir"
  exit 0
fi

if pid="$(kafka_live_pid "$state_dir")"; then
  kill "-$signal" "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    kafka_log "broker $pid still running after 30 s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
  fi
  kafka_log "stopped broker $pid ($signal)"
else
  kafka_log "broker of $state_dir is not running"
fi
rm -f "$state_dir/kafka.pid"

if [ "$keep_data" = 0 ]; then
  if [ -f "$state_dir/watchdog.pid" ]; then
    kill "$(cat "$state_dir/watchdog.pid")" 2>/dev/null || true
    rm -f "$state_dir/watchdog.pid"
  fi
  if [ -f "$state_dir/data_dir" ]; then
    rm -rf "$(cat "$state_dir/data_dir")"
    rm -f "$state_dir/data_dir"
  fi
  rm -f "$state_dir/server.properties" "$state_dir/brokers"
fi
