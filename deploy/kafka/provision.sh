#!/usr/bin/env bash
# Provision a real Apache Kafka broker (KRaft mode) from Maven Central jars, for tests where Docker (and so
# Redpanda through testcontainers) is not available. No Docker, no tarball: Maven resolves
# org.apache.kafka:kafka_2.13 with its runtime dependencies, plus log4j-slf4j-impl (without it the broker logs
# nothing), and copies the jars into <dir>/libs. Start the broker with strix_testkit.kafka.start_kafka.
#
# Usage: deploy/kafka/provision.sh [DIR]
#   DIR defaults to $STRIX_KAFKA_HOME, else .ci/cache/kafka under the repository root.
#   Needs mvn and a Java 17+ runtime; Maven Central must be reachable on the first run.
#   Idempotent: when <dir>/libs already holds the Kafka jars (and the marker written after a complete copy),
#   nothing is downloaded. Prints the libs directory on its last line of stdout.
#
# Measured on the shared 2-core project machine (2026-11-22): a cold provision (empty ~/.m2 as well, so Maven
# also fetches its dependency plugin) takes 23-26 s and leaves 45 jars, 43 MB, in libs; with ~/.m2 warm ~5 s;
# an already provisioned dir returns at once (~0.01 s).
set -euo pipefail

KAFKA_VERSION="4.4.0"
SCALA_VERSION="2.13"
LOG4J_SLF4J_VERSION="2.25.5"
DEPENDENCY_PLUGIN_VERSION="3.8.1"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
home="${1:-${STRIX_KAFKA_HOME:-$repo_root/.ci/cache/kafka}}"
libs="$home/libs"
marker="$libs/.provisioned-kafka_${SCALA_VERSION}-${KAFKA_VERSION}"

provisioned() { [[ -f "$marker" && -f "$libs/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ]]; }
if provisioned; then
  echo "Kafka ${KAFKA_VERSION} jars already in $libs" >&2
  echo "$libs"
  exit 0
fi

# One provision at a time per dir (parallel test workers may all find the jars missing); re-check once we hold it.
mkdir -p "$home"
exec 9>"$home/.provision.lock"
flock 9
if provisioned; then
  echo "Kafka ${KAFKA_VERSION} jars provisioned meanwhile in $libs" >&2
  echo "$libs"
  exit 0
fi

for tool in mvn java; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "provision.sh: '$tool' not found; Kafka needs Maven to fetch its jars and Java 17+ to run" >&2
    exit 1
  fi
done

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cat >"$work/pom.xml" <<EOF
<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>strix.ci</groupId>
  <artifactId>kafka-jars</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_${SCALA_VERSION}</artifactId>
      <version>${KAFKA_VERSION}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>${LOG4J_SLF4J_VERSION}</version>
    </dependency>
  </dependencies>
  <build>
    <plugins>
      <plugin>
        <groupId>org.apache.maven.plugins</groupId>
        <artifactId>maven-dependency-plugin</artifactId>
        <version>${DEPENDENCY_PLUGIN_VERSION}</version>
      </plugin>
    </plugins>
  </build>
</project>
EOF

# Copy into a staging dir first and move it into place, so an interrupted run never looks provisioned.
staging="$work/libs"
echo "Fetching org.apache.kafka:kafka_${SCALA_VERSION}:${KAFKA_VERSION} and its runtime dependencies..." >&2
started=$SECONDS
# Debian's Maven 3.8.7 prints stray colour resets even in batch mode; strip them (pipefail keeps mvn's status).
mvn -q -B -f "$work/pom.xml" dependency:copy-dependencies \
  -DincludeScope=runtime -DoutputDirectory="$staging" 2>&1 | sed 's/\x1b\[[0-9;]*m//g' >&2
if [[ ! -f "$staging/kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar" ]]; then
  echo "provision.sh: Maven finished but kafka_${SCALA_VERSION}-${KAFKA_VERSION}.jar is missing" >&2
  exit 1
fi
touch "$staging/$(basename "$marker")"

rm -rf "$libs"
mv "$staging" "$libs"
count="$(find "$libs" -maxdepth 1 -name '*.jar' | wc -l)"
size="$(du -sh "$libs" | cut -f1)"
echo "Provisioned Kafka ${KAFKA_VERSION}: ${count} jars, ${size}, in $((SECONDS - started)) s" >&2
echo "$libs"
