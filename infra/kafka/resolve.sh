#!/usr/bin/env bash
# Resolves Apache Kafka (version pinned in infra/kafka/pom.xml) and its runtime dependencies
# from Maven Central into $SPECSTREAM_CACHE_DIR/kafka-<version>/libs, once. Later calls reuse it.
#
# Steps: 1. take a lock (two test runs may resolve at once); 2. if libs/.complete exists, done;
# 3. `mvn dependency:copy-dependencies` into a temp folder (Maven's own ~/.m2 cache is used and
# filled from scratch if absent); 4. move it into place atomically and mark it complete.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"

mkdir -p "$SPECSTREAM_CACHE_DIR"
exec 8>"$KAFKA_HOME_DIR.lock"
flock 8

if [ -f "$KAFKA_LIBS_DIR/.complete" ]; then
  echo "$KAFKA_LIBS_DIR"
  exit 0
fi

command -v java >/dev/null || { kafka_log "java not found: Kafka $KAFKA_VERSION needs Java 17+"; exit 1; }
command -v mvn >/dev/null || { kafka_log "mvn not found: Maven resolves Kafka from Maven Central"; exit 1; }

kafka_log "resolving Apache Kafka $KAFKA_VERSION from Maven Central into $KAFKA_HOME_DIR (first run only)"
mkdir -p "$KAFKA_HOME_DIR"
tmp="$(mktemp -d "$KAFKA_HOME_DIR/libs.tmp.XXXXXX")"
mvn_log="$KAFKA_HOME_DIR/resolve.log"
if ! mvn -B -f "$KAFKA_INFRA_DIR/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$tmp" -DincludeScope=runtime >"$mvn_log" 2>&1; then
  kafka_log "Maven could not resolve Kafka $KAFKA_VERSION; last lines of $mvn_log:"
  tail -n 40 "$mvn_log" >&2
  rm -rf "$tmp"
  exit 1
fi
if ! ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1; then
  kafka_log "Maven finished but kafka_2.13-$KAFKA_VERSION.jar is missing from $tmp (see $mvn_log)"
  exit 1
fi
touch "$tmp/.complete"
rm -rf "$KAFKA_LIBS_DIR"
mv "$tmp" "$KAFKA_LIBS_DIR"
kafka_log "resolved $(ls "$KAFKA_LIBS_DIR"/*.jar | wc -l) jars ($(du -sh "$KAFKA_LIBS_DIR" | cut -f1))"
echo "$KAFKA_LIBS_DIR"
