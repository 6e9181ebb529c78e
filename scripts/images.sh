#!/usr/bin/env bash
# tidemark's three images: producer, jobs, connect. `build` uses Docker where an engine runs
# and buildah otherwise (with local stand-ins for the upstream bases, images/standins/).
#   scripts/images.sh names | build | sizes
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
# Images and chart are versioned together: the tag is the chart's appVersion.
VERSION="$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/tidemark/Chart.yaml)"
IMAGES=(producer jobs connect)
# What Spark 3.5 already ships in /opt/spark/jars: copying a second version would clash.
SPARK_PROVIDED=hadoop-client-api,hadoop-client-runtime,scala-library,scala-reflect,slf4j-api,commons-lang3,commons-logging,lz4-java,snappy-java,xz,paranamer,jsr305,spark-tags_2.12,metrics-core

names() { for i in "${IMAGES[@]}"; do echo "tidemark/$i:$VERSION"; done; }

engine() {
  if command -v docker >/dev/null && docker info >/dev/null 2>&1; then echo docker; else echo buildah; fi
}

context() {
  "$root/.venv/bin/python" scripts/image_requirements.py --check
  local out="$root/build/images"
  rm -rf "$out" && mkdir -p "$out/connect-plugins"
  mvn -q -B -f local/maven/spark.xml dependency:copy-dependencies -DincludeScope=runtime \
    -DexcludeArtifactIds="$SPARK_PROVIDED" -DoutputDirectory="$out/spark-jars"
  mvn -q -B -f local/maven/debezium.xml dependency:copy-dependencies -DincludeScope=runtime \
    -DexcludeGroupIds=org.apache.kafka,org.slf4j -DoutputDirectory="$out/connect-plugins/debezium"
}

build() {
  context
  local tool; tool="$(engine)"
  [ "$tool" = buildah ] && images/standins/build.sh
  for i in "${IMAGES[@]}"; do
    local started=$SECONDS
    if [ "$tool" = docker ]; then
      docker build -q -f "images/$i/Dockerfile" --build-arg "VERSION=$VERSION" -t "tidemark/$i:$VERSION" . >/dev/null
    else
      buildah bud -q --isolation chroot --network host --pull=never --layers --format docker \
        -f "images/$i/Dockerfile" --build-arg "VERSION=$VERSION" -t "tidemark/$i:$VERSION" . >/dev/null
    fi
    echo "built tidemark/$i:$VERSION with $tool in $((SECONDS - started))s"
  done
  sizes
}

sizes() {
  for name in $(names); do
    if [ "$(engine)" = docker ]; then
      docker image inspect --format "{{.Size}}" "$name"
    else
      buildah inspect --type image --format '{{.FromImageID}}' "$name" >/dev/null
      buildah images --format '{{.Size}}' "$name"
    fi | sed "s|^|size $name: |"
  done
}

"$@"
