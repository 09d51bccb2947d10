#!/usr/bin/env bash
# Prints the directory of Cassandra's jars (lib/), fetching them first if needed.
# Cassandra 5.0 comes from Maven Central as org.apache.cassandra:cassandra-all with its
# runtime dependencies (the apache-cassandra bin tarball is not served for 5.0). Needs
# Maven and a JDK 17 on PATH.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

version=${NATTER_CASSANDRA_VERSION:-5.0.8}
dir="$NATTER_CACHE/cassandra-$version"
if [ ! -f "$dir/lib/cassandra-all-$version.jar" ]; then
  command -v mvn >/dev/null || die "Maven (mvn) is needed to fetch Cassandra $version; install it (Debian: apt-get install maven)"
  command -v java >/dev/null || die "a JDK 17 is needed to run Cassandra; install it (Debian: apt-get install openjdk-17-jdk-headless)"
  log "fetching Cassandra $version and its dependencies with Maven into $dir"
  rm -rf "$dir.tmp"
  mkdir -p "$dir.tmp"
  mvn -q -B -f "$NATTER_ROOT/scripts/cassandra/pom.xml" -Dcassandra.version="$version" \
    dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$dir.tmp/lib" >&2 \
    || die "mvn could not fetch org.apache.cassandra:cassandra-all:$version (see above)"
  rm -rf "$dir" && mv "$dir.tmp" "$dir"
fi
echo "$dir/lib"
