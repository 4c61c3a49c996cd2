#!/usr/bin/env bash
# Jars PySpark needs for the Spark lab (module 22) that the pyspark wheel does not ship:
#   - s3a:   hadoop-aws matching pyspark's Hadoop (hadoop-client-api-3.5.0.jar) and the lean per-service
#            AWS SDK v2 artifacts it calls (s3, s3-transfer-manager and their modules), instead of the
#            ~600 MB `software.amazon.awssdk:bundle`;
#   - JDBC:  the PostgreSQL driver;
#   - Kafka: spark-sql-kafka-0-10_2.13 with kafka-clients, commons-pool2 and spark-token-provider.
# Jars already in pyspark/jars (netty, httpclient, slf4j, scala, lz4, snappy...) are not fetched again.
#
# Everything comes from Maven Central through `mvn` with strict checksums (-C), pinned to exact versions
# and copied WITHOUT transitive resolution, so the list below is the whole set; their SHA-256 sums are
# recorded in SHA256SUMS. Idempotent: a complete cache (its .complete stamp matches this list and the
# sums still match) is left alone. Destination:
#   ${LABS_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/mlops-labs}/spark-jars/
# The lab reads the jars from there at run time and never downloads anything.
set -euo pipefail

HADOOP=3.5.0          # pyspark 4.3.0 ships hadoop-client-api/runtime 3.5.0
AWS_SDK=2.35.4        # hadoop-project 3.5.0's aws-java-sdk-v2.version
ANALYTICS=1.3.1       # hadoop-project 3.5.0's amazon-s3-analyticsaccelerator-s3.version
# Maven Central has no Spark 4.3.0 artifacts yet (4.2.0 is the newest there); the 4.2 connector
# runs on the 4.3 runtime (the lab's Kafka step exercises it).
SPARK_KAFKA=4.2.0
KAFKA_CLIENTS=3.9.2   # what spark-sql-kafka-0-10 4.2.0 depends on
POOL2=2.13.1
POSTGRES_JDBC=42.7.8

ARTIFACTS=(
  "org.apache.hadoop:hadoop-aws:$HADOOP"
  "software.amazon.s3.analyticsaccelerator:analyticsaccelerator-s3:$ANALYTICS"
  "software.amazon.eventstream:eventstream:1.0.1"
  "org.reactivestreams:reactive-streams:1.0.4"
  "org.postgresql:postgresql:$POSTGRES_JDBC"
  "org.apache.spark:spark-sql-kafka-0-10_2.13:$SPARK_KAFKA"
  "org.apache.spark:spark-token-provider-kafka-0-10_2.13:$SPARK_KAFKA"
  "org.apache.kafka:kafka-clients:$KAFKA_CLIENTS"
  "org.apache.commons:commons-pool2:$POOL2"
)
for sdk in s3 s3-transfer-manager aws-xml-protocol aws-query-protocol protocol-core arns profiles crt-core \
  http-auth identity-spi http-auth-spi http-auth-aws http-auth-aws-eventstream checksums checksums-spi \
  retries-spi retries sdk-core auth http-client-spi regions annotations utils utils-lite aws-core \
  metrics-spi json-utils third-party-jackson-core endpoints-spi apache-client netty-nio-client; do
  ARTIFACTS+=("software.amazon.awssdk:$sdk:$AWS_SDK")
done

CACHE="${LABS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/mlops-labs}"
DEST="$CACHE/spark-jars"
STAMP="$DEST/.complete"
WANT="$(printf '%s\n' "${ARTIFACTS[@]}" | sort)"

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$WANT" ]] && (cd "$DEST" && sha256sum --quiet -c SHA256SUMS); then
  echo "spark jars: already in $DEST ($(find "$DEST" -maxdepth 1 -name '*.jar' | wc -l) jars, checksums ok)"
  exit 0
fi
command -v mvn >/dev/null || { echo "mvn not found: apt-get install -y maven" >&2; exit 1; }
command -v java >/dev/null || { echo "java not found: apt-get install -y openjdk-17-jre-headless" >&2; exit 1; }

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
{
  echo '<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>'
  echo '<groupId>mlops-labs</groupId><artifactId>spark-jars</artifactId><version>1</version>'
  echo '<packaging>pom</packaging><dependencies>'
  for coord in "${ARTIFACTS[@]}"; do
    IFS=: read -r g a v <<<"$coord"
    echo "<dependency><groupId>$g</groupId><artifactId>$a</artifactId><version>$v</version>"
    echo "<exclusions><exclusion><groupId>*</groupId><artifactId>*</artifactId></exclusion></exclusions></dependency>"
  done
  echo '</dependencies></project>'
} >"$WORK/pom.xml"

echo "fetching ${#ARTIFACTS[@]} Spark connector jars from Maven Central into $DEST ..."
mkdir -p "$CACHE"
if ! mvn -B -q -C -Dstyle.color=never -f "$WORK/pom.xml" dependency:copy-dependencies \
  -DoutputDirectory="$WORK/jars" -DincludeScope=runtime >"$WORK/mvn.log" 2>&1; then
  tail -n 40 "$WORK/mvn.log" >&2
  echo "mvn could not fetch the Spark connector jars (see above)" >&2
  exit 1
fi
count=$(find "$WORK/jars" -maxdepth 1 -name '*.jar' | wc -l)
if [[ "$count" -ne "${#ARTIFACTS[@]}" ]]; then
  echo "expected ${#ARTIFACTS[@]} jars, Maven copied $count" >&2
  exit 1
fi
(cd "$WORK/jars" && sha256sum -- *.jar >SHA256SUMS)
printf '%s\n' "$WANT" >"$WORK/jars/.complete"
rm -rf "$DEST.partial" && mv "$WORK/jars" "$DEST.partial"
rm -rf "$DEST" && mv "$DEST.partial" "$DEST"
echo "spark jars: $count jars in $DEST ($(du -sh "$DEST" | cut -f1))"
