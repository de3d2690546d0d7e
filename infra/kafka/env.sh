# Shared settings of the infra/kafka scripts (sourced, not run).
#
#   SPECSTREAM_CACHE_DIR      where resolved brokers live (default ~/.cache/specstream); outside the repo
#   SPECSTREAM_KAFKA_STATE_DIR  default state dir (config, pid file, logs) of `npm run kafka:start`
#   SPECSTREAM_KAFKA_HEAP     broker heap (default 512m)
#   SPECSTREAM_KAFKA_START_TIMEOUT  seconds to wait for the broker to serve requests (default 120)

KAFKA_INFRA_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_REPO_DIR="$(cd "$KAFKA_INFRA_DIR/../.." && pwd)"
# The pinned version is the pom's, so the pom stays the single source of truth.
KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$KAFKA_INFRA_DIR/pom.xml")"
SPECSTREAM_CACHE_DIR="${SPECSTREAM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/specstream}"
KAFKA_HOME_DIR="$SPECSTREAM_CACHE_DIR/kafka-$KAFKA_VERSION"
KAFKA_LIBS_DIR="$KAFKA_HOME_DIR/libs"
KAFKA_DEFAULT_STATE_DIR="${SPECSTREAM_KAFKA_STATE_DIR:-$SPECSTREAM_CACHE_DIR/kafka-run}"
KAFKA_HEAP="${SPECSTREAM_KAFKA_HEAP:-512m}"
KAFKA_START_TIMEOUT="${SPECSTREAM_KAFKA_START_TIMEOUT:-120}"

kafka_log() { echo "[kafka] $*" >&2; }

# Prints the pid recorded in a state dir if that process is alive (and is a java process).
kafka_live_pid() {
  local state_dir="$1" pid
  [ -f "$state_dir/kafka.pid" ] || return 1
  pid="$(cat "$state_dir/kafka.pid")"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  # A recycled pid must not make us think the broker is up.
  grep -q 'kafka.Kafka' "/proc/$pid/cmdline" 2>/dev/null || return 1
  echo "$pid"
}

# Prints the last lines of the broker's logs (stdout/stderr and log4j file) to stderr.
kafka_log_tail() {
  local state_dir="$1" n="${2:-60}" f
  for f in "$state_dir/kafka.out" "$state_dir/logs/server.log"; do
    if [ -s "$f" ]; then
      echo "----- last $n lines of $f -----" >&2
      tail -n "$n" "$f" >&2
    fi
  done
}
